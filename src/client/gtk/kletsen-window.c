/* kletsen-window.c
 *
 * Copyright 2026 The Kletsen authors
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

/* The main window: the connect screen, then the people online and the
 * conversation with them. Everything it shows comes from the session's
 * models; it never speaks the protocol itself. */

#include "config.h"

#include <glib/gi18n.h>
#include <stdlib.h>

#include "kletsen-message-row.h"
#include "kletsen-protocol.h"
#include "kletsen-sidebar-row.h"
#include "kletsen-window-private.h"

G_DEFINE_FINAL_TYPE (KletsenWindow, kletsen_window, ADW_TYPE_APPLICATION_WINDOW)

static char *
fold (const char *name)
{
  return g_ascii_strdown (name, -1);
}

static const char *
current_peer (KletsenWindow *self)
{
  return self->conversation ? kletsen_conversation_get_peer (self->conversation) : NULL;
}

static void
toast (KletsenWindow *self,
       const char    *text)
{
  adw_toast_overlay_add_toast (self->toast_overlay, adw_toast_new (text));
}

/* A desktop notification, only while the window is not what the user looks at. */
static void
notify (KletsenWindow *self,
        const char    *id,
        const char    *title,
        const char    *body)
{
  GApplication *app = G_APPLICATION (gtk_window_get_application (GTK_WINDOW (self)));
  g_autoptr(GNotification) notification = NULL;

  if (app == NULL || gtk_window_is_active (GTK_WINDOW (self)) || !g_settings_get_boolean (self->settings, "notifications"))
    return;
  notification = g_notification_new (title);
  g_notification_set_body (notification, body);
  g_notification_set_default_action (notification, "app.activate");
  g_application_send_notification (app, id, notification);
}

/* ---- dialogs ---- */

static void
untrack_dialog (KletsenWindow *self)
{
  if (self->open_dialog == NULL)
    return;
  g_object_remove_weak_pointer (G_OBJECT (self->open_dialog), (gpointer *)&self->open_dialog);
  self->open_dialog = NULL;
}

/* Remembers the dialog on screen until it is answered (for the UI tests). */
static void
track_dialog (KletsenWindow *self,
              GtkWidget     *dialog)
{
  untrack_dialog (self);
  self->open_dialog = dialog;
  g_object_add_weak_pointer (G_OBJECT (dialog), (gpointer *)&self->open_dialog);
  g_signal_connect_object (dialog, "response", G_CALLBACK (untrack_dialog), self, G_CONNECT_SWAPPED);
}

/* ---- messages ---- */

static gboolean
scroll_to_end_tick_cb (GtkWidget     *widget,
                       GdkFrameClock *clock,
                       gpointer       user_data)
{
  GtkAdjustment *adj = gtk_scrolled_window_get_vadjustment (GTK_SCROLLED_WINDOW (widget));

  gtk_adjustment_set_value (adj, gtk_adjustment_get_upper (adj));
  return G_SOURCE_REMOVE;
}

/* To the newest message: the list view brings the last item into view, and
 * once that frame is laid out (rows have their real heights then), to the
 * very bottom of it. Setting the adjustment at once used the old height and
 * left a new message below the fold. */
static void
scroll_to_end (KletsenWindow *self)
{
  guint n = self->conversation ? g_list_model_get_n_items (G_LIST_MODEL (self->conversation)) : 0;

  if (n > 0)
    gtk_widget_activate_action (GTK_WIDGET (self->message_list), "list.scroll-to-item", "u", n - 1);
  gtk_widget_add_tick_callback (GTK_WIDGET (self->message_scroller), scroll_to_end_tick_cb, NULL, NULL);
}

static gboolean
scroll_to_end_idle (gpointer user_data)
{
  scroll_to_end (user_data);
  return G_SOURCE_REMOVE;
}

static void
conversation_items_changed_cb (KletsenWindow *self,
                               guint          position,
                               guint          removed,
                               guint          added)
{
  GtkAdjustment *adj = gtk_scrolled_window_get_vadjustment (self->message_scroller);
  gboolean at_end = gtk_adjustment_get_value (adj) + gtk_adjustment_get_page_size (adj) >= gtk_adjustment_get_upper (adj) - 60;

  /* Follow new messages only when the user is reading the latest ones. */
  if (at_end && added > 0)
    g_idle_add_full (G_PRIORITY_LOW, scroll_to_end_idle, g_object_ref (self), g_object_unref);
  if (gtk_window_is_active (GTK_WINDOW (self)))
    kletsen_conversation_mark_read (self->conversation);
}

/* The same row goes back to "Sending…": no second copy. */
static void
retry_cb (KletsenMessageRow  *row,
          KletsenChatMessage *message,
          KletsenWindow      *self)
{
  if (kletsen_chat_message_get_encrypted (message) && current_peer (self) != NULL &&
      kletsen_session_is_peer_blocked (self->session, current_peer (self)))
    {
      toast (self, _("This person’s key changed. Compare fingerprints and trust the new key first."));
      return;
    }
  kletsen_session_resend_async (self->session, self->conversation, message, NULL, NULL);
}

static void
message_setup_cb (GtkSignalListItemFactory *factory,
                  GtkListItem              *item,
                  KletsenWindow            *self)
{
  GtkWidget *row = kletsen_message_row_new ();

  g_signal_connect_object (row, "retry", G_CALLBACK (retry_cb), self, 0);
  gtk_list_item_set_child (item, row);
  gtk_list_item_set_activatable (item, FALSE);
}

static void
message_bind_cb (GtkSignalListItemFactory *factory,
                 GtkListItem              *item,
                 gpointer                  user_data)
{
  kletsen_message_row_bind (KLETSEN_MESSAGE_ROW (gtk_list_item_get_child (item)), gtk_list_item_get_item (item));
}

static void
message_unbind_cb (GtkSignalListItemFactory *factory,
                   GtkListItem              *item,
                   gpointer                  user_data)
{
  kletsen_message_row_unbind (KLETSEN_MESSAGE_ROW (gtk_list_item_get_child (item)));
}

/* ---- the sidebar ---- */

static GtkWidget *
create_sidebar_row (gpointer item,
                    gpointer user_data)
{
  KletsenWindow *self = user_data;
  const char *peer;

  if (KLETSEN_IS_CONVERSATION (item))
    return kletsen_sidebar_row_new_everyone (item);
  peer = kletsen_user_get_name (item);
  return kletsen_sidebar_row_new_person (item, kletsen_session_get_conversation (self->session, peer),
                                         g_ascii_strcasecmp (peer, kletsen_session_get_username (self->session)) == 0);
}

static void
update_conversation_header (KletsenWindow *self)
{
  const char *peer = current_peer (self);
  g_autofree char *key = peer ? fold (peer) : NULL;
  gboolean secure = key && g_hash_table_contains (self->secure_peers, key);

  gboolean online = kletsen_session_get_state (self->session) == KLETSEN_SESSION_ONLINE;

  adw_window_title_set_title (self->conversation_title, peer ? peer : _("Everyone"));
  adw_window_title_set_subtitle (self->conversation_title,
                                 !online ? _("Not connected") :
                                 peer == NULL ? _("Everybody online") :
                                 !kletsen_session_is_online (self->session, peer) ? _("Offline") :
                                 secure ? _("Encrypted end to end") : _("Private"));
  gtk_widget_set_visible (GTK_WIDGET (self->secure_toggle), peer != NULL);
  gtk_widget_set_visible (GTK_WIDGET (self->fingerprint_button), peer != NULL);
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "win.send-files", peer != NULL);
  gtk_toggle_button_set_active (self->secure_toggle, secure);
}

/* Drafts are kept per conversation: text typed for bob never follows you
 * into Everyone. */
static char *
draft_key (const char *peer)
{
  return peer ? fold (peer) : g_strdup ("");
}

static void
keep_draft (KletsenWindow *self)
{
  const char *text = gtk_editable_get_text (GTK_EDITABLE (self->message_entry));
  char *key = draft_key (current_peer (self));

  if (*text != '\0')
    g_hash_table_replace (self->drafts, key, g_strdup (text));
  else
    {
      g_hash_table_remove (self->drafts, key);
      g_free (key);
    }
}

/**
 * _kletsen_window_show_conversation:
 * @peer: (nullable): the person, or %NULL for everyone
 */
void
_kletsen_window_show_conversation (KletsenWindow *self,
                                   const char    *peer)
{
  KletsenConversation *conversation = peer ? kletsen_session_get_conversation (self->session, peer)
                                           : kletsen_session_get_everyone (self->session);
  g_autoptr(GtkNoSelection) selection = NULL;

  if (self->conversation != NULL)
    {
      g_clear_signal_handler (&self->conversation_items_id, self->conversation);
      keep_draft (self);
    }
  g_set_object (&self->conversation, conversation);
  {
    g_autofree char *key = draft_key (peer);
    const char *draft = g_hash_table_lookup (self->drafts, key);

    gtk_editable_set_text (GTK_EDITABLE (self->message_entry), draft ? draft : "");
    gtk_editable_set_position (GTK_EDITABLE (self->message_entry), -1);
  }
  self->conversation_items_id = g_signal_connect_swapped (conversation, "items-changed",
                                                          G_CALLBACK (conversation_items_changed_cb), self);
  selection = gtk_no_selection_new (g_object_ref (G_LIST_MODEL (conversation)));
  gtk_list_view_set_model (self->message_list, GTK_SELECTION_MODEL (selection));
  kletsen_conversation_mark_read (conversation);
  update_conversation_header (self);
  adw_leaflet_navigate (self->leaflet, ADW_NAVIGATION_DIRECTION_FORWARD);
  g_idle_add_full (G_PRIORITY_LOW, scroll_to_end_idle, g_object_ref (self), g_object_unref);
  gtk_widget_grab_focus (GTK_WIDGET (self->message_entry));
}

static void
sidebar_row_activated_cb (KletsenWindow *self,
                          GtkListBoxRow *row)
{
  _kletsen_window_show_conversation (self, kletsen_sidebar_row_get_peer (KLETSEN_SIDEBAR_ROW (row)));
}

static void
secure_toggled_cb (KletsenWindow   *self,
                   GtkToggleButton *toggle)
{
  const char *peer = current_peer (self);
  g_autofree char *key = NULL;

  if (peer == NULL)
    return;
  key = fold (peer);
  if (gtk_toggle_button_get_active (toggle))
    g_hash_table_add (self->secure_peers, g_steal_pointer (&key));
  else
    g_hash_table_remove (self->secure_peers, key);
  update_conversation_header (self);
}

/* ---- sending ---- */

/* Sending needs text that is not blank, and a connection. What was typed
 * stays in the entry while the connection is being restored. */
static void
message_entry_changed_cb (KletsenWindow *self)
{
  const char *text = gtk_editable_get_text (GTK_EDITABLE (self->message_entry));
  gboolean online = self->session && kletsen_session_get_state (self->session) == KLETSEN_SESSION_ONLINE;

  gtk_widget_action_set_enabled (GTK_WIDGET (self), "win.send", online && !kletsen_text_is_blank (text));
}

static void
send_action (GtkWidget  *widget,
             const char *action_name,
             GVariant   *parameter)
{
  KletsenWindow *self = KLETSEN_WINDOW (widget);
  const char *peer = current_peer (self);
  g_autofree char *text = g_strdup (gtk_editable_get_text (GTK_EDITABLE (self->message_entry)));
  g_autofree char *key = peer ? fold (peer) : NULL;

  if (kletsen_text_is_blank (text))
    return;
  if (peer == NULL)
    kletsen_session_broadcast_async (self->session, text, NULL, NULL);
  else if (g_hash_table_contains (self->secure_peers, key))
    {
      if (kletsen_session_is_peer_blocked (self->session, peer))
        {
          toast (self, _("This person’s key changed. Compare fingerprints and trust the new key first."));
          return;
        }
      kletsen_session_send_secure_async (self->session, peer, text, NULL, NULL);
    }
  else
    kletsen_session_send_private_async (self->session, peer, text, NULL, NULL);
  gtk_editable_set_text (GTK_EDITABLE (self->message_entry), "");
  scroll_to_end (self);
}

static void
message_entry_activate_cb (KletsenWindow *self)
{
  if (kletsen_session_get_state (self->session) != KLETSEN_SESSION_ONLINE &&
      !kletsen_text_is_blank (gtk_editable_get_text (GTK_EDITABLE (self->message_entry))))
    {
      /* Never a silent Enter: the text stays, and the banner says why. */
      toast (self, _("Not connected. Your message is kept; send it once the connection is back."));
      return;
    }
  gtk_widget_activate_action (GTK_WIDGET (self), "win.send", NULL);
}

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

static GtkWidget *
create_transfer_row (gpointer item,
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

static void
transfers_changed_cb (KletsenWindow *self)
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

static void show_next_offer (KletsenWindow *self);

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
  toast (self, text);
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
  track_dialog (self, dialog);
  gtk_window_present (GTK_WINDOW (dialog));
}

static void
file_offered_cb (KletsenWindow       *self,
                 KletsenFileTransfer *transfer)
{
  g_autofree char *size = g_format_size (kletsen_file_transfer_get_size (transfer));
  g_autofree char *body = g_strdup_printf (_("%s wants to send you “%s” (%s)."),
                                           kletsen_file_transfer_get_peer (transfer),
                                           kletsen_file_transfer_get_filename (transfer), size);

  g_queue_push_tail (&self->offers, g_object_ref (transfer));
  show_next_offer (self);
  notify (self, "file-offer", _("Incoming file"), body);
}

static void
send_files (KletsenWindow *self,
            GListModel    *files)
{
  const char *peer = current_peer (self);

  if (peer == NULL)
    {
      toast (self, _("Choose a person to send files to"));
      return;
    }
  for (guint i = 0; i < g_list_model_get_n_items (files); i++)
    {
      g_autoptr(GFile) file = g_list_model_get_item (files, i);

      kletsen_session_send_file (self->session, peer, file);
    }
  gtk_menu_button_popup (self->transfers_button);
}

static gboolean
drop_cb (GtkDropTarget *target,
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

static void
send_files_action (GtkWidget  *widget,
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

/* ---- secure messages ---- */

static void
show_fingerprints_action (GtkWidget  *widget,
                          const char *action_name,
                          GVariant   *parameter)
{
  KletsenWindow *self = KLETSEN_WINDOW (widget);
  const char *peer = current_peer (self);
  g_autofree char *theirs = peer ? kletsen_session_get_peer_fingerprint (self->session, peer) : NULL;
  g_autofree char *body = NULL;
  GtkWidget *dialog;

  if (peer == NULL)
    return;
  body = g_strdup_printf (_("Your fingerprint:\n%s\n\n%s’s fingerprint:\n%s\n\n"
                            "Read them to each other in person or on the phone. If they match, nobody "
                            "can read your encrypted messages but the two of you."),
                          kletsen_session_get_fingerprint (self->session),
                          peer, theirs ? theirs : _("not known yet: send an encrypted message first"));
  dialog = adw_message_dialog_new (GTK_WINDOW (self), _("Compare Fingerprints"), body);
  adw_message_dialog_add_response (ADW_MESSAGE_DIALOG (dialog), "close", _("_Close"));
  track_dialog (self, dialog);
  gtk_window_present (GTK_WINDOW (dialog));
}

static void
key_change_response_cb (AdwMessageDialog *dialog,
                        const char       *response,
                        KletsenWindow    *self)
{
  if (g_str_equal (response, "trust"))
    {
      kletsen_session_trust_peer_key (self->session, g_object_get_data (G_OBJECT (dialog), "peer"));
      toast (self, _("The new key is trusted"));
    }
}

static void
peer_key_changed_cb (KletsenWindow *self,
                     const char    *peer,
                     const char    *old_fingerprint,
                     const char    *new_fingerprint)
{
  g_autofree char *title = g_strdup_printf (_("%s’s Key Has Changed"), peer);
  g_autofree char *body = g_strdup_printf (_("The key the server relayed for %s is not the one you trusted before. "
                                             "They may have reinstalled Kletsen, or someone may be trying to read "
                                             "your messages.\n\nBefore:\n%s\n\nNow:\n%s\n\n"
                                             "Compare the new fingerprint with %s before you trust it. "
                                             "Until then nothing encrypted is sent to them."),
                                           peer, old_fingerprint, new_fingerprint, peer);
  GtkWidget *dialog = adw_message_dialog_new (GTK_WINDOW (self), title, body);

  adw_message_dialog_add_responses (ADW_MESSAGE_DIALOG (dialog),
                                    "cancel", _("_Keep Blocked"),
                                    "trust", _("_Trust New Key"),
                                    NULL);
  adw_message_dialog_set_response_appearance (ADW_MESSAGE_DIALOG (dialog), "trust", ADW_RESPONSE_DESTRUCTIVE);
  adw_message_dialog_set_default_response (ADW_MESSAGE_DIALOG (dialog), "cancel");
  adw_message_dialog_set_close_response (ADW_MESSAGE_DIALOG (dialog), "cancel");
  g_object_set_data_full (G_OBJECT (dialog), "peer", g_strdup (peer), g_free);
  g_signal_connect_object (dialog, "response", G_CALLBACK (key_change_response_cb), self, 0);
  track_dialog (self, dialog);
  gtk_window_present (GTK_WINDOW (dialog));
}

/* ---- the game ---- */

static char *
invitation_text (KletsenGameState *game)
{
  int left = kletsen_game_state_get_seconds_left (game);

  return g_strdup_printf (ngettext ("%s started a guessing game: %d second to join",
                                    "%s started a guessing game: %d seconds to join", left),
                          kletsen_game_state_get_initiator (game), left);
}

/* The invitation counts down with the panel, and goes once it is over. */
static gboolean
invite_tick_cb (gpointer user_data)
{
  KletsenWindow *self = user_data;
  g_autofree char *text = NULL;

  if (self->invite_toast == NULL)
    {
      self->invite_tick_id = 0;
      return G_SOURCE_REMOVE;
    }
  text = invitation_text (kletsen_session_get_game (self->session));
  adw_toast_set_title (self->invite_toast, text);
  return G_SOURCE_CONTINUE;
}

static void
dismiss_invitation (KletsenWindow *self)
{
  g_clear_handle_id (&self->invite_tick_id, g_source_remove);
  if (self->invite_toast != NULL)
    {
      AdwToast *invite = self->invite_toast;

      g_clear_weak_pointer (&self->invite_toast);
      adw_toast_dismiss (invite);
    }
}

static void
game_phase_cb (KletsenWindow *self)
{
  KletsenGameState *game = kletsen_session_get_game (self->session);
  KletsenGamePhase phase = kletsen_game_state_get_phase (game);
  gboolean chatting = g_strcmp0 (gtk_stack_get_visible_child_name (self->main_stack), "chat") == 0;

  /* An invitation is only ever about the game that is inviting now. */
  dismiss_invitation (self);
  if (phase == KLETSEN_GAME_INVITED && chatting)
    {
      g_autofree char *text = invitation_text (game);
      AdwToast *invite = adw_toast_new (text);

      adw_toast_set_button_label (invite, _("_Join"));
      adw_toast_set_action_name (invite, "win.join-game");
      adw_toast_set_timeout (invite, MAX (kletsen_game_state_get_seconds_left (game), 1));
      g_set_weak_pointer (&self->invite_toast, invite);
      self->invite_tick_id = g_timeout_add_seconds (1, invite_tick_cb, self);
      adw_toast_overlay_add_toast (self->toast_overlay, invite);
      notify (self, "game", _("Guessing game"), text);
    }
  gtk_revealer_set_reveal_child (self->game_revealer, phase != KLETSEN_GAME_NONE && chatting);
}

static void
game_entered_cb (GObject      *object,
                 GAsyncResult *result,
                 gpointer      user_data)
{
  g_autoptr(KletsenWindow) self = user_data;
  g_autoptr(GError) error = NULL;

  if (!kletsen_session_request_finish (KLETSEN_SESSION (object), result, &error))
    toast (self, error->message);
}

static void
start_game_action (GtkWidget  *widget,
                   const char *action_name,
                   GVariant   *parameter)
{
  KletsenWindow *self = KLETSEN_WINDOW (widget);

  kletsen_session_start_game_async (self->session, game_entered_cb, g_object_ref (self));
}

static void
join_game_action (GtkWidget  *widget,
                  const char *action_name,
                  GVariant   *parameter)
{
  KletsenWindow *self = KLETSEN_WINDOW (widget);

  kletsen_session_join_game_async (self->session, game_entered_cb, g_object_ref (self));
}

static void
guessed_cb (GObject      *object,
            GAsyncResult *result,
            gpointer      user_data)
{
  g_autoptr(KletsenWindow) self = user_data;
  g_autoptr(GError) error = NULL;
  int answer = kletsen_session_guess_finish (KLETSEN_SESSION (object), result, &error);

  if (error != NULL)
    toast (self, error->message);
  else
    kletsen_game_panel_set_feedback (self->game_panel, answer);
}

static void
panel_guess_cb (KletsenWindow *self,
                int            number)
{
  kletsen_session_guess_async (self->session, number, guessed_cb, g_object_ref (self));
}

static void
panel_close_cb (KletsenWindow *self)
{
  gtk_revealer_set_reveal_child (self->game_revealer, FALSE);
}

/* ---- connecting ---- */

static void
set_connecting (KletsenWindow *self,
                gboolean       connecting)
{
  self->connecting = connecting;
  gtk_widget_set_visible (GTK_WIDGET (self->connect_spinner), connecting);
  gtk_spinner_set_spinning (self->connect_spinner, connecting);
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "win.connect", !connecting);
}

static void
show_connect_error (KletsenWindow *self,
                    const char    *text)
{
  gtk_label_set_text (self->connect_error, text ? text : "");
  gtk_widget_set_visible (GTK_WIDGET (self->connect_error), text != NULL);
}

static void connect_action (GtkWidget *widget, const char *action_name, GVariant *parameter);
static void remember_secure (KletsenWindow *self);

static void
trust_response_cb (AdwMessageDialog *dialog,
                   const char       *response,
                   KletsenWindow    *self)
{
  if (!g_str_equal (response, "trust"))
    return;
  kletsen_session_trust_certificate (self->session);
  connect_action (GTK_WIDGET (self), "win.connect", NULL);
}

/* The server's certificate is one nobody vouches for: show its fingerprint
 * and let the user trust it for this server (pinned), or not. */
static void
ask_to_trust (KletsenWindow *self)
{
  g_autofree char *body = g_strdup_printf (_("Nobody vouches for the certificate of %s, so Kletsen cannot tell "
                                             "whether you are talking to the real server.\n\n"
                                             "Its fingerprint is:\n%s\n\n"
                                             "Compare it with the fingerprint the server’s administrator gives you. "
                                             "If they match, trust it: Kletsen will remember it for this server and "
                                             "refuse to connect if it ever changes."),
                                           gtk_editable_get_text (GTK_EDITABLE (self->host_row)),
                                           kletsen_session_get_certificate_fingerprint (self->session));
  GtkWidget *dialog = adw_message_dialog_new (GTK_WINDOW (self), _("Unknown Certificate"), body);

  adw_message_dialog_add_responses (ADW_MESSAGE_DIALOG (dialog),
                                    "cancel", _("_Cancel"),
                                    "trust", _("_Trust and Connect"),
                                    NULL);
  adw_message_dialog_set_default_response (ADW_MESSAGE_DIALOG (dialog), "cancel");
  adw_message_dialog_set_close_response (ADW_MESSAGE_DIALOG (dialog), "cancel");
  g_signal_connect_object (dialog, "response", G_CALLBACK (trust_response_cb), self, 0);
  track_dialog (self, dialog);
  gtk_window_present (GTK_WINDOW (dialog));
}

static void
connected_cb (GObject      *object,
              GAsyncResult *result,
              gpointer      user_data)
{
  g_autoptr(KletsenWindow) self = user_data;
  g_autoptr(GError) error = NULL;

  set_connecting (self, FALSE);
  if (!kletsen_session_connect_finish (KLETSEN_SESSION (object), result, &error))
    {
      if (g_error_matches (error, KLETSEN_SESSION_ERROR, KLETSEN_SESSION_ERROR_UNTRUSTED_CERTIFICATE))
        ask_to_trust (self);
      else if (g_error_matches (error, KLETSEN_SESSION_ERROR, KLETSEN_SESSION_ERROR_CERTIFICATE_CHANGED))
        show_connect_error (self, error->message);
      else if (g_error_matches (error, KLETSEN_PROTOCOL_ERROR, KLETSEN_CODE_NAME_TAKEN))
        show_connect_error (self, _("That name is taken on this server. Choose another one."));
      else if (g_error_matches (error, KLETSEN_PROTOCOL_ERROR, KLETSEN_CODE_NAME_INVALID))
        show_connect_error (self, _("A user name has 3 to 14 letters, digits or underscores."));
      else
        {
          g_autofree char *text = g_strdup_printf (_("Cannot reach the server: %s"), error->message);

          show_connect_error (self, text);
        }
      return;
    }

  show_connect_error (self, NULL);
  if (g_settings_get_boolean (self->settings, "remember-me"))
    {
      g_settings_set_string (self->settings, "host", gtk_editable_get_text (GTK_EDITABLE (self->host_row)));
      g_settings_set_uint (self->settings, "port", atoi (gtk_editable_get_text (GTK_EDITABLE (self->port_row))));
      g_settings_set_string (self->settings, "username", kletsen_session_get_username (self->session));
      remember_secure (self);
    }
  adw_window_title_set_subtitle (self->sidebar_title, kletsen_session_get_username (self->session));
  gtk_stack_set_visible_child_name (self->main_stack, "chat");
  _kletsen_window_show_conversation (self, NULL);
}

static void
connect_action (GtkWidget  *widget,
                const char *action_name,
                GVariant   *parameter)
{
  KletsenWindow *self = KLETSEN_WINDOW (widget);
  const char *host = gtk_editable_get_text (GTK_EDITABLE (self->host_row));
  const char *port_text = gtk_editable_get_text (GTK_EDITABLE (self->port_row));
  const char *name = gtk_editable_get_text (GTK_EDITABLE (self->username_row));
  guint64 port = 0;

  if (*host == '\0')
    {
      show_connect_error (self, _("Enter the server’s name or address."));
      return;
    }
  if (!g_ascii_string_to_unsigned (port_text, 10, 1, 65535, &port, NULL))
    {
      show_connect_error (self, _("The port is a number from 1 to 65535."));
      return;
    }
  if (!kletsen_user_name_is_valid (name))
    {
      show_connect_error (self, _("A user name has 3 to 14 letters, digits or underscores."));
      return;
    }

  show_connect_error (self, NULL);
  set_connecting (self, TRUE);
  kletsen_session_set_tls (self->session, gtk_switch_get_active (self->secure_switch), NULL);
  kletsen_session_set_file_port (self->session,
                                 g_settings_get_uint (self->settings,
                                                      gtk_switch_get_active (self->secure_switch) ? "tls-file-port" : "file-port"));
  kletsen_session_connect_async (self->session, host, (guint16)port, name, NULL, connected_cb, g_object_ref (self));
}

static gboolean
is_loopback (const char *host)
{
  g_autoptr(GInetAddress) address = g_inet_address_new_from_string (host);

  if (address != NULL)
    return g_inet_address_get_is_loopback (address);
  return g_ascii_strcasecmp (host, "localhost") == 0;
}

/* What was chosen for @host the last time, or secure for any server but this
 * machine. */
static gboolean
secure_default (KletsenWindow *self,
                const char    *host)
{
  g_autoptr(GVariant) servers = g_settings_get_value (self->settings, "secure-servers");
  gboolean secure;

  if (g_variant_lookup (servers, host, "b", &secure))
    return secure;
  return !is_loopback (host);
}

/* The switch follows the server typed, until the user sets it. */
static void
host_changed_cb (KletsenWindow *self)
{
  const char *host = gtk_editable_get_text (GTK_EDITABLE (self->host_row));

  if (self->secure_chosen || self->loading || *host == '\0' || self->settings == NULL)
    return;
  self->loading = TRUE;
  gtk_switch_set_active (self->secure_switch, secure_default (self, host));
  self->loading = FALSE;
}

/* Remembers, per server, whether it was reached over TLS. */
static void
remember_secure (KletsenWindow *self)
{
  g_autoptr(GVariant) old = g_settings_get_value (self->settings, "secure-servers");
  const char *host = gtk_editable_get_text (GTK_EDITABLE (self->host_row));
  GVariantBuilder builder;
  GVariantIter iter;
  const char *key;
  gboolean value;

  g_variant_builder_init (&builder, G_VARIANT_TYPE ("a{sb}"));
  g_variant_iter_init (&iter, old);
  while (g_variant_iter_next (&iter, "{&sb}", &key, &value))
    if (!g_str_equal (key, host))
      g_variant_builder_add (&builder, "{sb}", key, value);
  g_variant_builder_add (&builder, "{sb}", host, gtk_switch_get_active (self->secure_switch));
  g_settings_set_value (self->settings, "secure-servers", g_variant_builder_end (&builder));
}

/* The port follows the switch while it is one of the two defaults. */
static void
secure_switch_cb (KletsenWindow *self)
{
  const char *port = gtk_editable_get_text (GTK_EDITABLE (self->port_row));
  gboolean secure = gtk_switch_get_active (self->secure_switch);

  if (!self->loading)
    self->secure_chosen = TRUE;
  if (secure && g_str_equal (port, "1337"))
    gtk_editable_set_text (GTK_EDITABLE (self->port_row), "1339");
  else if (!secure && g_str_equal (port, "1339"))
    gtk_editable_set_text (GTK_EDITABLE (self->port_row), "1337");
}

/* An error about what was typed goes away once it is being corrected. */
static void
form_changed_cb (KletsenWindow *self)
{
  show_connect_error (self, NULL);
}

static void
connect_activated_cb (KletsenWindow *self)
{
  gtk_widget_activate_action (GTK_WIDGET (self), "win.connect", NULL);
}

static void
log_out_action (GtkWidget  *widget,
                const char *action_name,
                GVariant   *parameter)
{
  KletsenWindow *self = KLETSEN_WINDOW (widget);

  kletsen_session_disconnect (self->session);
  gtk_stack_set_visible_child_name (self->main_stack, "connect");
  dismiss_invitation (self);
}

static void
back_action (GtkWidget  *widget,
             const char *action_name,
             GVariant   *parameter)
{
  adw_leaflet_navigate (KLETSEN_WINDOW (widget)->leaflet, ADW_NAVIGATION_DIRECTION_BACK);
}

/* While the connection is lost the window stays as it is, says so, and keeps
 * what was typed; the session reconnects by itself. */
static void
session_state_cb (KletsenWindow *self)
{
  KletsenSessionState state = kletsen_session_get_state (self->session);
  gboolean online = state == KLETSEN_SESSION_ONLINE;
  int reason = kletsen_session_get_disconnect_reason (self->session);
  const char *detail = kletsen_session_get_last_error (self->session);

  if (!online && !self->connecting)
    {
      /* In words a person understands: the server's own reason when it gave
       * one (shutting down, too slow…), else what happens now. GIO's text
       * goes into the tooltip, for whoever needs it. */
      g_autofree char *text = NULL;

      if (reason != 0)
        text = g_strdup_printf (_("%s. Reconnecting…"), kletsen_code_describe (reason));
      else if (state == KLETSEN_SESSION_DISCONNECTED)
        text = g_strdup (_("No connection to the server. Trying again soon…"));
      else
        text = g_strdup (_("No connection to the server. Reconnecting…"));
      gtk_label_set_text (self->offline_label, text);
      gtk_label_set_text (self->connection_banner_label, text);
      gtk_widget_set_tooltip_text (GTK_WIDGET (self->connection_banner_label), detail);
      gtk_widget_set_tooltip_text (GTK_WIDGET (self->offline_label), detail);
    }
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "win.reconnect", state == KLETSEN_SESSION_DISCONNECTED);
  gtk_revealer_set_reveal_child (self->offline_revealer, !online);
  gtk_revealer_set_reveal_child (self->connection_banner, !online);
  message_entry_changed_cb (self);
  if (self->conversation != NULL)
    update_conversation_header (self);
}

static void
reconnect_action (GtkWidget  *widget,
                  const char *action_name,
                  GVariant   *parameter)
{
  kletsen_session_reconnect_now (KLETSEN_WINDOW (widget)->session);
}

/* ---- private messages notify ---- */

static void
conversation_unread_cb (KletsenWindow       *self,
                        GParamSpec          *pspec,
                        KletsenConversation *conversation)
{
  const char *peer = kletsen_conversation_get_peer (conversation);
  guint n = g_list_model_get_n_items (G_LIST_MODEL (conversation));
  g_autoptr(KletsenChatMessage) last = NULL;
  g_autofree char *title = NULL;

  if (peer == NULL || n == 0 || kletsen_conversation_get_unread (conversation) == 0)
    return;
  last = g_list_model_get_item (G_LIST_MODEL (conversation), n - 1);
  title = g_strdup_printf (_("Message from %s"), peer);
  notify (self, "private-message", title,
          kletsen_chat_message_get_encrypted (last) ? _("An encrypted message") : kletsen_chat_message_get_text (last));
}

static void
people_changed_cb (KletsenWindow *self)
{
  if (self->conversation != NULL)
    update_conversation_header (self);
}

/* The session let go of the conversation shown (its peer left, and nothing
 * was said): show the one it has for that peer now. */
static gboolean
refresh_conversation_cb (gpointer user_data)
{
  KletsenWindow *self = user_data;
  const char *peer = current_peer (self);

  if (peer != NULL && kletsen_session_lookup_conversation (self->session, peer) != self->conversation)
    {
      g_autofree char *name = g_strdup (peer);
      gboolean was_shown = adw_leaflet_get_visible_child (self->leaflet) == GTK_WIDGET (self->content);

      _kletsen_window_show_conversation (self, name);
      if (!was_shown)
        adw_leaflet_navigate (self->leaflet, ADW_NAVIGATION_DIRECTION_BACK);
    }
  return G_SOURCE_REMOVE;
}

static void
conversations_changed_cb (KletsenWindow *self,
                          guint          position,
                          guint          removed,
                          guint          added,
                          GListModel    *model)
{
  if (removed > 0 && current_peer (self) != NULL)
    g_idle_add_full (G_PRIORITY_DEFAULT, refresh_conversation_cb, g_object_ref (self), g_object_unref);
  for (guint i = position; i < position + added; i++)
    {
      g_autoptr(KletsenConversation) conversation = g_list_model_get_item (model, i);

      g_signal_connect_object (conversation, "notify::unread", G_CALLBACK (conversation_unread_cb), self,
                               G_CONNECT_SWAPPED);
    }
}

static gboolean
close_request_cb (KletsenWindow *self)
{
  int width, height;

  gtk_window_get_default_size (GTK_WINDOW (self), &width, &height);
  g_settings_set_int (self->settings, "window-width", width);
  g_settings_set_int (self->settings, "window-height", height);
  return FALSE;
}

static void
window_active_cb (KletsenWindow *self)
{
  if (gtk_window_is_active (GTK_WINDOW (self)) && self->conversation != NULL)
    kletsen_conversation_mark_read (self->conversation);
}

/* ---- GObject ---- */

static void
kletsen_window_dispose (GObject *object)
{
  KletsenWindow *self = KLETSEN_WINDOW (object);

  if (self->session != NULL)
    {
      g_signal_handlers_disconnect_by_data (self->session, self);
      g_signal_handlers_disconnect_by_data (kletsen_session_get_game (self->session), self);
    }
  if (self->conversation != NULL)
    g_clear_signal_handler (&self->conversation_items_id, self->conversation);
  untrack_dialog (self);
  g_clear_object (&self->conversation);
  g_clear_object (&self->sidebar_model);
  g_clear_object (&self->session);
  g_clear_object (&self->settings);
  g_clear_pointer (&self->secure_peers, g_hash_table_unref);
  g_clear_pointer (&self->drafts, g_hash_table_unref);
  g_queue_clear_full (&self->offers, g_object_unref);
  g_clear_object (&self->offer_shown);
  g_clear_handle_id (&self->invite_tick_id, g_source_remove);
  g_clear_weak_pointer (&self->invite_toast);
  g_clear_weak_pointer (&self->offer_dialog);
  gtk_widget_dispose_template (GTK_WIDGET (self), KLETSEN_TYPE_WINDOW);

  G_OBJECT_CLASS (kletsen_window_parent_class)->dispose (object);
}

static void
kletsen_window_class_init (KletsenWindowClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = kletsen_window_dispose;

  g_type_ensure (KLETSEN_TYPE_GAME_PANEL);
  gtk_widget_class_set_template_from_resource (widget_class, "/nl/kletsen/Kletsen/kletsen-window.ui");
#define BIND(name) gtk_widget_class_bind_template_child (widget_class, KletsenWindow, name)
  BIND (toast_overlay);
  BIND (main_stack);
  BIND (host_row);
  BIND (port_row);
  BIND (username_row);
  BIND (secure_switch);
  BIND (connect_error);
  BIND (connect_button);
  BIND (connect_spinner);
  BIND (leaflet);
  BIND (sidebar);
  BIND (sidebar_title);
  BIND (offline_revealer);
  BIND (offline_label);
  BIND (sidebar_list);
  BIND (content);
  BIND (conversation_title);
  BIND (connection_banner);
  BIND (connection_banner_label);
  BIND (transfers_button);
  BIND (transfers_stack);
  BIND (transfers_list);
  BIND (fingerprint_button);
  BIND (secure_toggle);
  BIND (game_revealer);
  BIND (game_panel);
  BIND (message_scroller);
  BIND (message_list);
  BIND (attach_button);
  BIND (message_entry);
  BIND (send_button);
#undef BIND
  gtk_widget_class_bind_template_callback (widget_class, connect_activated_cb);
  gtk_widget_class_bind_template_callback (widget_class, host_changed_cb);
  gtk_widget_class_bind_template_callback (widget_class, form_changed_cb);
  gtk_widget_class_bind_template_callback (widget_class, secure_switch_cb);
  gtk_widget_class_bind_template_callback (widget_class, sidebar_row_activated_cb);
  gtk_widget_class_bind_template_callback (widget_class, message_entry_activate_cb);
  gtk_widget_class_bind_template_callback (widget_class, message_entry_changed_cb);

  gtk_widget_class_install_action (widget_class, "win.connect", NULL, connect_action);
  gtk_widget_class_install_action (widget_class, "win.log-out", NULL, log_out_action);
  gtk_widget_class_install_action (widget_class, "win.send", NULL, send_action);
  gtk_widget_class_install_action (widget_class, "win.send-files", NULL, send_files_action);
  gtk_widget_class_install_action (widget_class, "win.start-game", NULL, start_game_action);
  gtk_widget_class_install_action (widget_class, "win.join-game", NULL, join_game_action);
  gtk_widget_class_install_action (widget_class, "win.show-fingerprints", NULL, show_fingerprints_action);
  gtk_widget_class_install_action (widget_class, "win.back", NULL, back_action);
  gtk_widget_class_install_action (widget_class, "win.reconnect", NULL, reconnect_action);

  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_o, GDK_CONTROL_MASK, "win.send-files", NULL);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_g, GDK_CONTROL_MASK, "win.start-game", NULL);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_j, GDK_CONTROL_MASK, "win.join-game", NULL);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_i, GDK_CONTROL_MASK, "win.show-fingerprints", NULL);
}

static void
kletsen_window_init (KletsenWindow *self)
{
  g_autoptr(GtkListItemFactory) factory = gtk_signal_list_item_factory_new ();
  GtkDropTarget *drop;

  gtk_widget_init_template (GTK_WIDGET (self));
  /* The app's own icons, also when the window lives outside the application
   * (the UI tests). */
  gtk_icon_theme_add_resource_path (gtk_icon_theme_get_for_display (gtk_widget_get_display (GTK_WIDGET (self))),
                                    "/nl/kletsen/Kletsen/icons");
  self->secure_peers = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  self->drafts = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  g_queue_init (&self->offers);

  g_signal_connect (factory, "setup", G_CALLBACK (message_setup_cb), self);
  g_signal_connect (factory, "bind", G_CALLBACK (message_bind_cb), self);
  g_signal_connect (factory, "unbind", G_CALLBACK (message_unbind_cb), self);
  gtk_list_view_set_factory (self->message_list, factory);

  drop = gtk_drop_target_new (GDK_TYPE_FILE_LIST, GDK_ACTION_COPY);
  g_signal_connect (drop, "drop", G_CALLBACK (drop_cb), self);
  gtk_widget_add_controller (GTK_WIDGET (self->content), GTK_EVENT_CONTROLLER (drop));

  g_signal_connect_swapped (self->secure_toggle, "toggled", G_CALLBACK (secure_toggled_cb), self);
  g_signal_connect_swapped (self->game_panel, "guess", G_CALLBACK (panel_guess_cb), self);
  g_signal_connect_swapped (self->game_panel, "close", G_CALLBACK (panel_close_cb), self);
  g_signal_connect (self, "notify::is-active", G_CALLBACK (window_active_cb), NULL);
  g_signal_connect (self, "close-request", G_CALLBACK (close_request_cb), NULL);
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "win.send", FALSE);
}

/* Fills the connect screen from the settings. */
static void
load_settings (KletsenWindow *self)
{
  g_autofree char *host = g_settings_get_string (self->settings, "host");
  g_autofree char *port = g_strdup_printf ("%u", g_settings_get_uint (self->settings, "port"));
  g_autofree char *name = g_settings_get_string (self->settings, "username");

  self->loading = TRUE;
  gtk_editable_set_text (GTK_EDITABLE (self->host_row), host);
  gtk_switch_set_active (self->secure_switch, secure_default (self, host));
  gtk_editable_set_text (GTK_EDITABLE (self->port_row), port);
  self->loading = FALSE;
  gtk_editable_set_text (GTK_EDITABLE (self->username_row), name);
  gtk_window_set_default_size (GTK_WINDOW (self), g_settings_get_int (self->settings, "window-width"),
                               g_settings_get_int (self->settings, "window-height"));
}

/**
 * kletsen_window_new:
 * @application: (nullable): the application
 * @session: the session this window shows
 */
KletsenWindow *
kletsen_window_new (GtkApplication *application,
                    KletsenSession *session)
{
  KletsenWindow *self = g_object_new (KLETSEN_TYPE_WINDOW, "application", application, NULL);
  GListStore *parts = g_list_store_new (G_TYPE_LIST_MODEL);
  GListStore *everyone = g_list_store_new (G_TYPE_OBJECT);

  self->session = g_object_ref (session);
  self->settings = g_settings_new (APP_ID);
  load_settings (self);

  /* The sidebar: "Everyone", then the people online and those offline
   * with a conversation. */
  g_list_store_append (everyone, kletsen_session_get_everyone (session));
  g_list_store_append (parts, everyone);
  g_list_store_append (parts, kletsen_session_get_people (session));
  g_object_unref (everyone);
  self->sidebar_model = gtk_flatten_list_model_new (G_LIST_MODEL (parts));
  gtk_list_box_bind_model (self->sidebar_list, G_LIST_MODEL (self->sidebar_model), create_sidebar_row, self, NULL);
  gtk_list_box_bind_model (self->transfers_list, kletsen_session_get_transfers (session), create_transfer_row, self, NULL);
  g_signal_connect_object (kletsen_session_get_transfers (session), "items-changed",
                           G_CALLBACK (transfers_changed_cb), self, G_CONNECT_SWAPPED);
  transfers_changed_cb (self);

  kletsen_game_panel_set_game (self->game_panel, kletsen_session_get_game (session));
  g_signal_connect_object (kletsen_session_get_game (session), "notify::phase", G_CALLBACK (game_phase_cb), self,
                           G_CONNECT_SWAPPED);
  g_signal_connect_object (session, "notify::state", G_CALLBACK (session_state_cb), self, G_CONNECT_SWAPPED);
  g_signal_connect_object (session, "notify::disconnect-reason", G_CALLBACK (session_state_cb), self, G_CONNECT_SWAPPED);
  g_signal_connect_object (session, "notify::last-error", G_CALLBACK (session_state_cb), self, G_CONNECT_SWAPPED);
  /* Whoever comes or goes may be the person shown. */
  g_signal_connect_object (kletsen_session_get_users (session), "items-changed",
                           G_CALLBACK (people_changed_cb), self, G_CONNECT_SWAPPED);
  g_signal_connect_object (session, "file-offered", G_CALLBACK (file_offered_cb), self, G_CONNECT_SWAPPED);
  g_signal_connect_object (session, "peer-key-changed", G_CALLBACK (peer_key_changed_cb), self, G_CONNECT_SWAPPED);
  g_signal_connect_object (kletsen_session_get_conversations (session), "items-changed",
                           G_CALLBACK (conversations_changed_cb), self, G_CONNECT_SWAPPED);
  conversations_changed_cb (self, 0, 0, g_list_model_get_n_items (kletsen_session_get_conversations (session)),
                            kletsen_session_get_conversations (session));
  return self;
}

/**
 * kletsen_window_get_session:
 *
 * Returns: (transfer none): the session this window shows
 */
KletsenSession *
kletsen_window_get_session (KletsenWindow *self)
{
  return self->session;
}
