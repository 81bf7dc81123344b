/* kletsen-window-files.c
 *
 * Copyright 2026 The Kletsen authors
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

/* Files in the window: offers to us, one dialog at a time; the transfers
 * popover; and files dropped or chosen to send. */

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
offer_response_cb (AdwMessageDialog    *dialog,
                   const char          *response,
                   KletsenFileTransfer *transfer);

static void
shown_offer_state_cb (KletsenWindow       *self,
                      GParamSpec          *pspec,
                      KletsenFileTransfer *transfer);

static void
show_next_offer (KletsenWindow *self);

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

      _kletsen_window_accept_offer (self, transfer, folder);
    }
  else
    kletsen_session_reject_file (self->session, transfer);
  g_object_unref (transfer);
  g_object_unref (dialog);
}

static void
offer_response_cb (AdwMessageDialog    *dialog,
                   const char          *response,
                   KletsenFileTransfer *transfer)
{
  KletsenWindow *self = KLETSEN_WINDOW (gtk_window_get_transient_for (GTK_WINDOW (dialog)));

  if (kletsen_file_transfer_get_state (transfer) == KLETSEN_TRANSFER_OFFERED)
    {
      if (g_str_equal (response, "accept"))
        {
          g_autoptr(GFile) folder = download_folder (self);

          _kletsen_window_accept_offer (self, transfer, folder);
        }
      else if (g_str_equal (response, "choose"))
        {
          GtkFileChooserNative *chooser = gtk_file_chooser_native_new (_("Save Into Folder"), GTK_WINDOW (self),
                                                                       GTK_FILE_CHOOSER_ACTION_SELECT_FOLDER,
                                                                       _("_Save Here"), _("_Cancel"));

          g_object_set_data (G_OBJECT (chooser), "window", self);
          g_signal_connect (chooser, "response", G_CALLBACK (choose_folder_cb), g_object_ref (transfer));
          gtk_native_dialog_show (GTK_NATIVE_DIALOG (chooser));
        }
      else
        kletsen_session_reject_file (self->session, transfer);
    }
  g_signal_handlers_disconnect_by_data (transfer, self);
  g_clear_object (&self->offer_shown);
  show_next_offer (self);
}

/* The offer on screen ended without us: withdrawn, expired, or the peer
 * left. Its dialog goes, and a toast says what happened. */
static void
shown_offer_state_cb (KletsenWindow       *self,
                      GParamSpec          *pspec,
                      KletsenFileTransfer *transfer)
{
  g_autofree char *text = NULL;

  if (kletsen_file_transfer_get_state (transfer) == KLETSEN_TRANSFER_OFFERED || transfer != self->offer_shown)
    return;
  text = g_strdup_printf (_("The offer of “%s” from %s has ended: %s"), kletsen_file_transfer_get_filename (transfer),
                          kletsen_file_transfer_get_peer (transfer),
                          kletsen_file_transfer_get_error (transfer) ? kletsen_file_transfer_get_error (transfer)
                                                                     : _("it is no longer there"));
  _kletsen_window_toast (self, text);
  if (self->offer_dialog != NULL)
    adw_message_dialog_response (ADW_MESSAGE_DIALOG (self->offer_dialog), "gone");
}

/* One offer dialog at a time: a peer who sends a hundred offers gets them
 * asked one after the other, and the dialog always shows one that is still
 * open. */
static void
show_next_offer (KletsenWindow *self)
{
  KletsenFileTransfer *transfer;
  g_autofree char *size = NULL;
  g_autofree char *body = NULL;
  GtkWidget *dialog;

  if (self->offer_shown != NULL)
    return;
  while ((transfer = g_queue_pop_head (&self->offers)) != NULL &&
         kletsen_file_transfer_get_state (transfer) != KLETSEN_TRANSFER_OFFERED)
    g_object_unref (transfer);
  if (transfer == NULL)
    return;

  self->offer_shown = transfer;
  size = g_format_size (kletsen_file_transfer_get_size (transfer));
  if (kletsen_file_transfer_get_verifiable (transfer))
    body = g_strdup_printf (_("%s wants to send you “%s” (%s)."), kletsen_file_transfer_get_peer (transfer),
                            kletsen_file_transfer_get_filename (transfer), size);
  else
    body = g_strdup_printf (_("%s wants to send you “%s”. Their program gives no size or checksum, so the file "
                              "cannot be checked after download."),
                            kletsen_file_transfer_get_peer (transfer), kletsen_file_transfer_get_filename (transfer));
  dialog = adw_message_dialog_new (GTK_WINDOW (self), _("Incoming File"), body);
  adw_message_dialog_add_responses (ADW_MESSAGE_DIALOG (dialog),
                                    "reject", _("_Decline"),
                                    "choose", _("Save _As…"),
                                    "accept", _("_Accept"),
                                    NULL);
  adw_message_dialog_set_response_appearance (ADW_MESSAGE_DIALOG (dialog), "accept", ADW_RESPONSE_SUGGESTED);
  adw_message_dialog_set_default_response (ADW_MESSAGE_DIALOG (dialog), "accept");
  adw_message_dialog_set_close_response (ADW_MESSAGE_DIALOG (dialog), "reject");
  g_signal_connect_object (dialog, "response", G_CALLBACK (offer_response_cb), transfer, 0);
  g_signal_connect_object (transfer, "notify::state", G_CALLBACK (shown_offer_state_cb), self, G_CONNECT_SWAPPED);
  g_object_set_data_full (G_OBJECT (dialog), "transfer", g_object_ref (transfer), g_object_unref);
  g_set_weak_pointer (&self->offer_dialog, dialog);
  _kletsen_window_track_dialog (self, dialog);
  gtk_window_present (GTK_WINDOW (dialog));
}

void
_kletsen_window_file_offered_cb (KletsenWindow       *self,
                                 KletsenFileTransfer *transfer)
{
  g_autofree char *size = g_format_size (kletsen_file_transfer_get_size (transfer));
  g_autofree char *body = g_strdup_printf (_("%s wants to send you “%s” (%s)."),
                                           kletsen_file_transfer_get_peer (transfer),
                                           kletsen_file_transfer_get_filename (transfer), size);

  g_queue_push_tail (&self->offers, g_object_ref (transfer));
  show_next_offer (self);
  _kletsen_window_notify (self, "file-offer", _("Incoming file"), body);
}

static void
send_files (KletsenWindow *self,
            GListModel    *files)
{
  const char *peer = _kletsen_window_current_peer (self);

  if (peer == NULL)
    {
      _kletsen_window_toast (self, _("Choose a person to send files to"));
      return;
    }
  for (guint i = 0; i < g_list_model_get_n_items (files); i++)
    {
      g_autoptr(GFile) file = g_list_model_get_item (files, i);

      kletsen_session_send_file (self->session, peer, file);
    }
  gtk_menu_button_popup (self->transfers_button);
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
