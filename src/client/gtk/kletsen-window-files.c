/* kletsen-window-files.c
 *
 * Copyright 2026 The Kletsen authors
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

/* Files in the window: answering offers (items in their conversation,
 * never a dialog); the transfers popover; and files dropped or chosen to
 * send. */

#include "config.h"

#include <glib/gi18n.h>

#include "kletsen-message-row.h"
#include "kletsen-protocol.h"
#include "kletsen-sidebar-row.h"
#include "kletsen-transfer-row.h"
#include "kletsen-window-private.h"

static GFile *
download_folder (KletsenWindow *self);

static void
choose_folder_cb (GtkNativeDialog *dialog,
                  int              response,
                  gpointer         user_data);

static void
send_files (KletsenWindow *self,
            GListModel    *files);

static void
files_chosen_cb (GtkNativeDialog *dialog,
                 int              response,
                 KletsenWindow   *self);

/* ---- files ---- */

GtkWidget *
_kletsen_window_create_transfer_row (gpointer item,
                                     gpointer user_data)
{
  return kletsen_transfer_row_new (item);
}

void
_kletsen_window_transfers_changed_cb (KletsenWindow *self)
{
  guint n = g_list_model_get_n_items (kletsen_session_get_transfers (self->session));

  gtk_stack_set_visible_child_name (self->transfers_stack, n > 0 ? "list" : "empty");
}

static GFile *
download_folder (KletsenWindow *self)
{
  g_autofree char *path = g_settings_get_string (self->settings, "download-folder");
  const char *fallback = g_get_user_special_dir (G_USER_DIRECTORY_DOWNLOAD);

  if (*path != '\0')
    return g_file_new_for_path (path);
  return g_file_new_for_path (fallback ? fallback : g_get_home_dir ());
}

void
_kletsen_window_accept_offer (KletsenWindow       *self,
                              KletsenFileTransfer *transfer,
                              GFile               *folder)
{
  kletsen_session_accept_file (self->session, transfer, folder);
  gtk_menu_button_popup (self->transfers_button);
}

static void
choose_folder_cb (GtkNativeDialog *dialog,
                  int              response,
                  gpointer         user_data)
{
  KletsenFileTransfer *transfer = user_data;
  KletsenWindow *self = g_object_get_data (G_OBJECT (dialog), "window");

  if (response == GTK_RESPONSE_ACCEPT)
    {
      g_autoptr(GFile) folder = gtk_file_chooser_get_file (GTK_FILE_CHOOSER (dialog));

      if (kletsen_file_transfer_get_state (transfer) == KLETSEN_TRANSFER_OFFERED)
        _kletsen_window_accept_offer (self, transfer, folder);
    }
  /* Cancelled: the offer stays in the conversation, still to be answered. */
  g_object_unref (transfer);
  g_object_unref (dialog);
}

/* The offer with @id that is still open, or NULL. */
static KletsenFileTransfer *
find_offer (KletsenWindow *self,
            GVariant      *id)
{
  GListModel *transfers = kletsen_session_get_transfers (self->session);
  const char *wanted = g_variant_get_string (id, NULL);

  for (guint i = 0; i < g_list_model_get_n_items (transfers); i++)
    {
      g_autoptr(KletsenFileTransfer) t = g_list_model_get_item (transfers, i);

      if (kletsen_file_transfer_get_direction (t) == KLETSEN_TRANSFER_RECEIVE &&
          kletsen_file_transfer_get_state (t) == KLETSEN_TRANSFER_OFFERED &&
          g_strcmp0 (kletsen_file_transfer_get_id (t), wanted) == 0)
        return t; /* the session keeps it */
    }
  return NULL;
}

void
_kletsen_window_accept_offer_action (GtkWidget  *widget,
                                     const char *action_name,
                                     GVariant   *parameter)
{
  KletsenWindow *self = KLETSEN_WINDOW (widget);
  KletsenFileTransfer *transfer = find_offer (self, parameter);
  g_autoptr(GFile) folder = NULL;

  if (transfer == NULL)
    return;
  folder = download_folder (self);
  _kletsen_window_accept_offer (self, transfer, folder);
}

void
_kletsen_window_save_offer_in_action (GtkWidget  *widget,
                                      const char *action_name,
                                      GVariant   *parameter)
{
  KletsenWindow *self = KLETSEN_WINDOW (widget);
  KletsenFileTransfer *transfer = find_offer (self, parameter);
  GtkFileChooserNative *chooser;

  if (transfer == NULL)
    return;
  chooser = gtk_file_chooser_native_new (_("Save Into Folder"), GTK_WINDOW (self),
                                         GTK_FILE_CHOOSER_ACTION_SELECT_FOLDER, _("_Save Here"), _("_Cancel"));
  g_object_set_data (G_OBJECT (chooser), "window", self);
  g_signal_connect (chooser, "response", G_CALLBACK (choose_folder_cb), g_object_ref (transfer));
  gtk_native_dialog_show (GTK_NATIVE_DIALOG (chooser));
}

void
_kletsen_window_decline_offer_action (GtkWidget  *widget,
                                      const char *action_name,
                                      GVariant   *parameter)
{
  KletsenWindow *self = KLETSEN_WINDOW (widget);
  KletsenFileTransfer *transfer = find_offer (self, parameter);

  if (transfer != NULL)
    kletsen_session_reject_file (self->session, transfer);
}

/* The offer is an item in its conversation (the session put it there);
 * while the window is in the background, a notification says so too. */
void
_kletsen_window_file_offered_cb (KletsenWindow       *self,
                                 KletsenFileTransfer *transfer)
{
  _kletsen_window_notify_offer (self, transfer);
}

static void
send_files (KletsenWindow *self,
            GListModel    *files)
{
  const char *peer = _kletsen_window_current_peer (self);

  if (peer == NULL)
    {
      _kletsen_window_toast (self, _("Files go to one person, not to everyone: open a conversation with them first"));
      return;
    }
  for (guint i = 0; i < g_list_model_get_n_items (files); i++)
    {
      g_autoptr(GFile) file = g_list_model_get_item (files, i);

      kletsen_session_send_file (self->session, peer, file);
    }
  gtk_menu_button_popup (self->transfers_button);
}

/* Pasted into the composer: files and images are sent, to the person shown. */
void
_kletsen_window_files_pasted_cb (KletsenWindow *self,
                                 GListModel    *files)
{
  send_files (self, files);
}

/* Where dragged files will go, said before they are dropped. */
void
_kletsen_window_drag_hover_cb (KletsenWindow *self,
                               GParamSpec    *pspec,
                               GtkDropTarget *target)
{
  gboolean hovering = gtk_drop_target_get_current_drop (target) != NULL;
  const char *peer = _kletsen_window_current_peer (self);
  g_autofree char *text = NULL;

  if (hovering)
    {
      if (peer != NULL)
        text = g_strdup_printf (_("Drop to send to %s"), peer);
      else
        text = g_strdup (_("Files go to one person, not to everyone: open a conversation with them first"));
      gtk_label_set_text (self->drop_hint_label, text);
    }
  gtk_revealer_set_reveal_child (self->drop_hint, hovering &&
                                 g_strcmp0 (gtk_stack_get_visible_child_name (self->main_stack), "chat") == 0);
}

gboolean
_kletsen_window_drop_cb (GtkDropTarget *target,
                         const GValue  *value,
                         double         x,
                         double         y,
                         KletsenWindow *self)
{
  GSList *list = g_value_get_boxed (value);
  g_autoptr(GListStore) files = g_list_store_new (G_TYPE_FILE);

  gtk_revealer_set_reveal_child (self->drop_hint, FALSE);
  if (g_strcmp0 (gtk_stack_get_visible_child_name (self->main_stack), "chat") != 0)
    return FALSE;
  for (GSList *l = list; l != NULL; l = l->next)
    g_list_store_append (files, l->data);
  send_files (self, G_LIST_MODEL (files));
  return TRUE;
}

static void
files_chosen_cb (GtkNativeDialog *dialog,
                 int              response,
                 KletsenWindow   *self)
{
  if (response == GTK_RESPONSE_ACCEPT)
    {
      g_autoptr(GListModel) files = gtk_file_chooser_get_files (GTK_FILE_CHOOSER (dialog));

      send_files (self, files);
    }
  g_object_unref (dialog);
}

void
_kletsen_window_send_files_action (GtkWidget  *widget,
                                   const char *action_name,
                                   GVariant   *parameter)
{
  KletsenWindow *self = KLETSEN_WINDOW (widget);
  GtkFileChooserNative *chooser = gtk_file_chooser_native_new (_("Send Files"), GTK_WINDOW (self),
                                                               GTK_FILE_CHOOSER_ACTION_OPEN,
                                                               _("_Send"), _("_Cancel"));

  gtk_file_chooser_set_select_multiple (GTK_FILE_CHOOSER (chooser), TRUE);
  g_signal_connect (chooser, "response", G_CALLBACK (files_chosen_cb), self);
  gtk_native_dialog_show (GTK_NATIVE_DIALOG (chooser));
}
