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
#include "kletsen-window-private.h"

static char *
describe_transfer (KletsenFileTransfer *transfer);

static void
update_transfer_row (GtkWidget *row);

static void
open_file_clicked_cb (GtkButton *button,
                      gpointer   user_data);

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

static char *
describe_transfer (KletsenFileTransfer *transfer)
{
  g_autofree char *size = g_format_size (kletsen_file_transfer_get_size (transfer));
  g_autofree char *done = g_format_size (kletsen_file_transfer_get_bytes_done (transfer));

  switch (kletsen_file_transfer_get_state (transfer))
    {
    case KLETSEN_TRANSFER_PREPARING:
      return g_strdup (_("Checking the file…"));
    case KLETSEN_TRANSFER_OFFERED:
      return g_strdup_printf (_("%s — waiting for an answer"), size);
    case KLETSEN_TRANSFER_CONNECTING:
      return g_strdup (_("Connecting…"));
    case KLETSEN_TRANSFER_TRANSFERRING:
      {
        g_autofree char *rate = g_format_size ((guint64)kletsen_file_transfer_get_rate (transfer));
        int eta = kletsen_file_transfer_get_eta (transfer);

        if (eta >= 0)
          return g_strdup_printf (_("%s of %s — %s/s — %d s left"), done, size, rate, eta);
        return g_strdup_printf (_("%s of %s — %s/s"), done, size, rate);
      }
    case KLETSEN_TRANSFER_DONE:
      if (!kletsen_file_transfer_get_verifiable (transfer))
        return g_strdup_printf (_("%s — done, not checked: the sender’s program gave no checksum"), size);
      return g_strdup_printf (_("%s — done"), size);
    case KLETSEN_TRANSFER_REJECTED:
      return g_strdup (_("Declined"));
    case KLETSEN_TRANSFER_CANCELLED:
      return g_strdup (_("Cancelled"));
    case KLETSEN_TRANSFER_FAILED:
    default:
      return g_strdup (kletsen_file_transfer_get_error (transfer) ? kletsen_file_transfer_get_error (transfer)
                                                                    : _("Failed"));
    }
}

static void
update_transfer_row (GtkWidget *row)
{
  KletsenFileTransfer *transfer = g_object_get_data (G_OBJECT (row), "transfer");
  KletsenTransferState state = kletsen_file_transfer_get_state (transfer);
  guint64 size = kletsen_file_transfer_get_size (transfer);
  g_autofree char *status = describe_transfer (transfer);
  gboolean done = state == KLETSEN_TRANSFER_DONE;
  gboolean received = kletsen_file_transfer_get_direction (transfer) == KLETSEN_TRANSFER_RECEIVE;

  gtk_label_set_text (g_object_get_data (G_OBJECT (row), "status"), status);
  gtk_progress_bar_set_fraction (g_object_get_data (G_OBJECT (row), "progress"),
                                 size ? (double)kletsen_file_transfer_get_bytes_done (transfer) / size : (done ? 1 : 0));
  gtk_widget_set_visible (g_object_get_data (G_OBJECT (row), "cancel"), state < KLETSEN_TRANSFER_DONE);
  gtk_widget_set_visible (g_object_get_data (G_OBJECT (row), "open"), done && received);
  gtk_widget_set_visible (g_object_get_data (G_OBJECT (row), "folder"), done && received);
  if (state == KLETSEN_TRANSFER_FAILED)
    gtk_widget_add_css_class (g_object_get_data (G_OBJECT (row), "status"), "error");
}

static void
open_file_clicked_cb (GtkButton *button,
                      gpointer   user_data)
{
  KletsenFileTransfer *transfer = user_data;
  GFile *file = kletsen_file_transfer_get_file (transfer);
  gboolean in_folder = GPOINTER_TO_INT (g_object_get_data (G_OBJECT (button), "folder"));
  g_autoptr(GFile) parent = file ? g_file_get_parent (file) : NULL;
  g_autofree char *uri = NULL;

  if (file == NULL)
    return;
  uri = g_file_get_uri (in_folder ? parent : file);
  gtk_show_uri (GTK_WINDOW (gtk_widget_get_root (GTK_WIDGET (button))), uri, GDK_CURRENT_TIME);
}

GtkWidget *
_kletsen_window_create_transfer_row (gpointer item,
                     gpointer user_data)
{
  KletsenFileTransfer *transfer = item;
  GtkWidget *row = gtk_box_new (GTK_ORIENTATION_VERTICAL, 4);
  GtkWidget *top = gtk_box_new (GTK_ORIENTATION_HORIZONTAL, 6);
  gboolean sending = kletsen_file_transfer_get_direction (transfer) == KLETSEN_TRANSFER_SEND;
  g_autofree char *title = g_strdup_printf (sending ? _("%s to %s") : _("%s from %s"),
                                            kletsen_file_transfer_get_filename (transfer),
                                            kletsen_file_transfer_get_peer (transfer));
  GtkWidget *icon = gtk_image_new_from_icon_name (sending ? "document-send-symbolic" : "folder-download-symbolic");
  GtkWidget *name = gtk_label_new (title);
  GtkWidget *cancel = gtk_button_new_from_icon_name ("process-stop-symbolic");
  GtkWidget *open = gtk_button_new_with_mnemonic (_("_Open"));
  GtkWidget *folder = gtk_button_new_from_icon_name ("folder-open-symbolic");
  GtkWidget *progress = gtk_progress_bar_new ();
  GtkWidget *status = gtk_label_new (NULL);

  gtk_widget_set_margin_start (row, 6);
  gtk_widget_set_margin_end (row, 6);
  gtk_widget_set_margin_top (row, 6);
  gtk_widget_set_margin_bottom (row, 6);
  gtk_widget_set_hexpand (name, TRUE);
  gtk_label_set_xalign (GTK_LABEL (name), 0);
  gtk_label_set_ellipsize (GTK_LABEL (name), PANGO_ELLIPSIZE_MIDDLE);
  gtk_label_set_xalign (GTK_LABEL (status), 0);
  gtk_label_set_wrap (GTK_LABEL (status), TRUE);
  gtk_widget_add_css_class (status, "caption");
  for (GtkWidget **b = (GtkWidget *[]) { cancel, open, folder, NULL }; *b; b++)
    gtk_widget_add_css_class (*b, "flat");
  gtk_widget_set_tooltip_text (cancel, _("Cancel"));
  gtk_widget_set_tooltip_text (open, _("Open"));
  gtk_widget_set_tooltip_text (folder, _("Show in Folder"));
  gtk_accessible_update_property (GTK_ACCESSIBLE (cancel), GTK_ACCESSIBLE_PROPERTY_LABEL, _("Cancel the transfer"), -1);
  gtk_accessible_update_property (GTK_ACCESSIBLE (open), GTK_ACCESSIBLE_PROPERTY_LABEL, _("Open the file"), -1);
  gtk_accessible_update_property (GTK_ACCESSIBLE (folder), GTK_ACCESSIBLE_PROPERTY_LABEL, _("Show the file in its folder"), -1);
  gtk_accessible_update_property (GTK_ACCESSIBLE (progress), GTK_ACCESSIBLE_PROPERTY_LABEL, title, -1);
  g_object_set_data (G_OBJECT (folder), "folder", GINT_TO_POINTER (TRUE));
  g_signal_connect_swapped (cancel, "clicked", G_CALLBACK (kletsen_file_transfer_cancel), transfer);
  g_signal_connect (open, "clicked", G_CALLBACK (open_file_clicked_cb), transfer);
  g_signal_connect (folder, "clicked", G_CALLBACK (open_file_clicked_cb), transfer);

  gtk_box_append (GTK_BOX (top), icon);
  gtk_box_append (GTK_BOX (top), name);
  gtk_box_append (GTK_BOX (top), open);
  gtk_box_append (GTK_BOX (top), folder);
  gtk_box_append (GTK_BOX (top), cancel);
  gtk_box_append (GTK_BOX (row), top);
  gtk_box_append (GTK_BOX (row), progress);
  gtk_box_append (GTK_BOX (row), status);

  g_object_set_data_full (G_OBJECT (row), "transfer", g_object_ref (transfer), g_object_unref);
  g_object_set_data (G_OBJECT (row), "status", status);
  g_object_set_data (G_OBJECT (row), "progress", progress);
  g_object_set_data (G_OBJECT (row), "cancel", cancel);
  g_object_set_data (G_OBJECT (row), "open", open);
  g_object_set_data (G_OBJECT (row), "folder", folder);
  g_signal_connect_object (transfer, "notify", G_CALLBACK (update_transfer_row), row, G_CONNECT_SWAPPED);
  update_transfer_row (row);
  return row;
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
