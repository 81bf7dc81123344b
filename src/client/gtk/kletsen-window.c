/* kletsen-window.c
 *
 * Copyright 2026 The Kletsen authors
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

/* The main window: the connect screen, then the people and the conversation
 * with them. Everything it shows comes from the session's models; it never
 * speaks the protocol itself. This file is the window, its sidebar and its
 * message list; kletsen-window-actions.c has what the user does,
 * kletsen-window-files.c file offers, transfers and drops, and
 * kletsen-window-connect.c the connect screen. */

#include "config.h"

#include <glib/gi18n.h>
#include <stdlib.h>

#include "kletsen-message-row.h"
#include "kletsen-protocol.h"
#include "kletsen-sidebar-row.h"
#include "kletsen-window-private.h"

G_DEFINE_FINAL_TYPE (KletsenWindow, kletsen_window, ADW_TYPE_APPLICATION_WINDOW)

static void
untrack_dialog (KletsenWindow *self);

static gboolean
scroll_to_end_tick_cb (GtkWidget     *widget,
                       GdkFrameClock *clock,
                       gpointer       user_data);

static gboolean
scroll_to_end_idle (gpointer user_data);

static void
conversation_items_changed_cb (KletsenWindow *self,
                               guint          position,
                               guint          removed,
                               guint          added);

static void
retry_cb (KletsenMessageRow  *row,
          KletsenChatMessage *message,
          KletsenWindow      *self);

static void
message_setup_cb (GtkSignalListItemFactory *factory,
                  GtkListItem              *item,
                  KletsenWindow            *self);

static void
message_bind_cb (GtkSignalListItemFactory *factory,
                 GtkListItem              *item,
                 gpointer                  user_data);

static void
message_unbind_cb (GtkSignalListItemFactory *factory,
                   GtkListItem              *item,
                   gpointer                  user_data);

static GtkWidget *
create_sidebar_row (gpointer item,
                    gpointer user_data);

static void
update_conversation_header (KletsenWindow *self);

static char *
draft_key (const char *peer);

static void
keep_draft (KletsenWindow *self);

static void
sidebar_row_activated_cb (KletsenWindow *self,
                          GtkListBoxRow *row);

static void
secure_toggled_cb (KletsenWindow   *self,
                   GtkToggleButton *toggle);

static void
session_state_cb (KletsenWindow *self);

static void
conversation_unread_cb (KletsenWindow       *self,
                        GParamSpec          *pspec,
                        KletsenConversation *conversation);

static void
people_changed_cb (KletsenWindow *self);

static gboolean
refresh_conversation_cb (gpointer user_data);

static void
conversations_changed_cb (KletsenWindow *self,
                          guint          position,
                          guint          removed,
                          guint          added,
                          GListModel    *model);

static gboolean
close_request_cb (KletsenWindow *self);

static void
window_active_cb (KletsenWindow *self);

static void
kletsen_window_dispose (GObject *object);

static void
kletsen_window_class_init (KletsenWindowClass *klass);

static void
kletsen_window_init (KletsenWindow *self);

const char *
_kletsen_window_current_peer (KletsenWindow *self)
{
  return self->conversation ? kletsen_conversation_get_peer (self->conversation) : NULL;
}

void
_kletsen_window_toast (KletsenWindow *self,
                       const char    *text)
{
  adw_toast_overlay_add_toast (self->toast_overlay, adw_toast_new (text));
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

static gboolean
untrack_on_close (KletsenWindow *self)
{
  untrack_dialog (self);
  return FALSE; /* and let it close */
}

/* Remembers the dialog on screen until it is answered (for the UI tests). */
void
_kletsen_window_track_dialog (KletsenWindow *self,
                              GtkWidget     *dialog)
{
  untrack_dialog (self);
  self->open_dialog = dialog;
  g_object_add_weak_pointer (G_OBJECT (dialog), (gpointer *)&self->open_dialog);
  /* A message dialog is done when answered; any other window when closed. */
  if (g_signal_lookup ("response", G_OBJECT_TYPE (dialog)) != 0)
    g_signal_connect_object (dialog, "response", G_CALLBACK (untrack_dialog), self, G_CONNECT_SWAPPED);
  else
    g_signal_connect_object (dialog, "close-request", G_CALLBACK (untrack_on_close), self, G_CONNECT_SWAPPED);
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
void
_kletsen_window_scroll_to_end (KletsenWindow *self)
{
  guint n = self->conversation ? g_list_model_get_n_items (G_LIST_MODEL (self->conversation)) : 0;

  if (self->scroll_target >= 0 && (guint)self->scroll_target < n)
    {
      /* A search result, not the end. */
      gtk_widget_activate_action (GTK_WIDGET (self->message_list), "list.scroll-to-item", "u", self->scroll_target);
      self->scroll_target = -1;
      return;
    }
  self->scroll_target = -1;
  if (n > 0)
    gtk_widget_activate_action (GTK_WIDGET (self->message_list), "list.scroll-to-item", "u", n - 1);
  gtk_widget_add_tick_callback (GTK_WIDGET (self->message_scroller), scroll_to_end_tick_cb, NULL, NULL);
}

static gboolean
scroll_to_end_idle (gpointer user_data)
{
  _kletsen_window_scroll_to_end (user_data);
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

  /* Follow new messages only when the user is reading the latest ones;
   * not older pages put in front, nor newer pages on the way down. */
  if (at_end && added > 0 && position + added == g_list_model_get_n_items (G_LIST_MODEL (self->conversation)) &&
      kletsen_conversation_get_at_latest (self->conversation))
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
  if (kletsen_chat_message_get_encrypted (message) && _kletsen_window_current_peer (self) != NULL &&
      kletsen_session_is_peer_blocked (self->session, _kletsen_window_current_peer (self)))
    {
      _kletsen_window_toast (self, _("This person’s key changed. Compare fingerprints and trust the new key first."));
      return;
    }
  kletsen_session_resend_async (self->session, self->conversation, message, NULL, NULL);
}

static void
update_row_context (KletsenWindow *self,
                    GtkListItem   *item);

static void
item_position_cb (GtkListItem   *item,
                  GParamSpec    *pspec,
                  KletsenWindow *self)
{
  update_row_context (self, item);
}

static void
message_setup_cb (GtkSignalListItemFactory *factory,
                  GtkListItem              *item,
                  KletsenWindow            *self)
{
  GtkWidget *row = kletsen_message_row_new ();

  g_signal_connect_object (row, "retry", G_CALLBACK (retry_cb), self, 0);
  gtk_list_item_set_child (item, row);
  /* Older pages put in front change who is above. */
  g_signal_connect_object (item, "notify::position", G_CALLBACK (item_position_cb), self, 0);
  gtk_list_item_set_activatable (item, FALSE);
}

/* Name and time once per run of one person's messages, as Fractal and
 * Telegram do, and a day separator where the day changes. */
#define RUN_GAP (5 * G_TIME_SPAN_MINUTE)

static gboolean
same_day (GDateTime *a,
          GDateTime *b)
{
  return g_date_time_get_year (a) == g_date_time_get_year (b) &&
         g_date_time_get_day_of_year (a) == g_date_time_get_day_of_year (b);
}

/* The list shows self->conversation, so the message above is its item
 * before this one. */
static void
update_row_context (KletsenWindow *self,
                    GtkListItem   *item)
{
  KletsenMessageRow *row = KLETSEN_MESSAGE_ROW (gtk_list_item_get_child (item));
  KletsenChatMessage *message = gtk_list_item_get_item (item);
  guint position = gtk_list_item_get_position (item);
  GListModel *model = row && self->conversation ? G_LIST_MODEL (self->conversation) : NULL;
  g_autoptr(KletsenChatMessage) before = NULL;
  g_autofree char *day = NULL;
  GDateTime *time;
  gboolean continued = FALSE;

  if (message == NULL || model == NULL || position == GTK_INVALID_LIST_POSITION)
    return;
  time = kletsen_chat_message_get_time (message);
  if (position > 0)
    before = g_list_model_get_item (model, position - 1);
  if (before == NULL || !same_day (kletsen_chat_message_get_time (before), time))
    day = kletsen_message_day_label (time);
  else if (kletsen_chat_message_get_kind (message) != KLETSEN_MESSAGE_KIND_SYSTEM &&
           kletsen_chat_message_get_kind (before) != KLETSEN_MESSAGE_KIND_SYSTEM &&
           g_strcmp0 (kletsen_chat_message_get_sender (before), kletsen_chat_message_get_sender (message)) == 0 &&
           g_date_time_difference (time, kletsen_chat_message_get_time (before)) < RUN_GAP)
    continued = TRUE;
  kletsen_message_row_set_context (row, !continued, day);
}

static void
message_bind_cb (GtkSignalListItemFactory *factory,
                 GtkListItem              *item,
                 gpointer                  user_data)
{
  KletsenWindow *self = user_data;
  KletsenMessageRow *row = KLETSEN_MESSAGE_ROW (gtk_list_item_get_child (item));
  KletsenChatMessage *message = gtk_list_item_get_item (item);

  kletsen_message_row_bind (row, message);
  kletsen_message_row_set_new_line (row, self->conversation != NULL &&
                                         kletsen_conversation_get_first_unread (self->conversation) == message);
  kletsen_message_row_set_found (row, self->found_id != 0 && kletsen_chat_message_get_history_id (message) == self->found_id);
  update_row_context (self, item);
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
  {
    gboolean me = kletsen_session_get_username (self->session) != NULL &&
                  g_ascii_strcasecmp (peer, kletsen_session_get_username (self->session)) == 0;
    GtkWidget *row = kletsen_sidebar_row_new_person (item, kletsen_session_get_conversation (self->session, peer), me);
    g_autofree char *lookalike = me ? NULL : kletsen_session_find_lookalike (self->session, peer);

    kletsen_sidebar_row_set_lookalike (KLETSEN_SIDEBAR_ROW (row), lookalike);
    return row;
  }
}

static void
update_conversation_header (KletsenWindow *self)
{
  const char *peer = _kletsen_window_current_peer (self);
  gboolean secure = peer != NULL && kletsen_session_get_secure (self->session, peer);
  gboolean verified = peer != NULL && kletsen_session_is_peer_verified (self->session, peer);
  gboolean online = kletsen_session_get_state (self->session) == KLETSEN_SESSION_ONLINE;

  adw_window_title_set_title (self->conversation_title, peer ? peer : _("Everyone"));
  adw_window_title_set_subtitle (self->conversation_title,
                                 !online ? _("Not connected") :
                                 peer == NULL ? _("Everybody online") :
                                 !kletsen_session_is_online (self->session, peer) ? _("Offline") :
                                 secure && verified ? _("Encrypted end to end, key verified") :
                                 secure ? _("Encrypted end to end") :
                                 verified ? _("Private, key verified") : _("Private"));
  gtk_widget_set_visible (GTK_WIDGET (self->secure_toggle), peer != NULL);
  gtk_widget_set_visible (GTK_WIDGET (self->fingerprint_button), peer != NULL);
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "win.send-files", peer != NULL);
  self->showing_secure = TRUE;
  gtk_toggle_button_set_active (self->secure_toggle, secure);
  self->showing_secure = FALSE;
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
  g_autofree char *text = kletsen_composer_get_text (self->composer);
  char *key = draft_key (_kletsen_window_current_peer (self));

  if (*text != '\0')
    g_hash_table_replace (self->drafts, key, g_steal_pointer (&text));
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
      /* Read: its "new messages" line is gone next time. */
      if (self->conversation != conversation)
        kletsen_conversation_forget_first_unread (self->conversation);
    }
  g_set_object (&self->conversation, conversation);
  self->found_id = 0;
  {
    g_autofree char *key = draft_key (peer);
    const char *draft = g_hash_table_lookup (self->drafts, key);

    kletsen_composer_set_text (self->composer, draft);
  }
  self->conversation_items_id = g_signal_connect_swapped (conversation, "items-changed",
                                                          G_CALLBACK (conversation_items_changed_cb), self);
  selection = gtk_no_selection_new (g_object_ref (G_LIST_MODEL (conversation)));
  gtk_list_view_set_model (self->message_list, GTK_SELECTION_MODEL (selection));
  kletsen_conversation_mark_read (conversation);
  update_conversation_header (self);
  adw_leaflet_navigate (self->leaflet, ADW_NAVIGATION_DIRECTION_FORWARD);
  g_idle_add_full (G_PRIORITY_LOW, scroll_to_end_idle, g_object_ref (self), g_object_unref);
  gtk_widget_grab_focus (GTK_WIDGET (self->composer));
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
  const char *peer = _kletsen_window_current_peer (self);

  if (peer == NULL || self->showing_secure)
    return;
  kletsen_session_set_secure (self->session, peer, gtk_toggle_button_get_active (toggle));
  update_conversation_header (self);
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
  _kletsen_window_message_entry_changed_cb (self);
  if (self->conversation != NULL)
    update_conversation_header (self);
}

/* ---- private messages notify ---- */

static void
conversation_unread_cb (KletsenWindow       *self,
                        GParamSpec          *pspec,
                        KletsenConversation *conversation)
{
  _kletsen_window_notify_unread (self, conversation);
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
  const char *peer = _kletsen_window_current_peer (self);

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
  if (removed > 0 && _kletsen_window_current_peer (self) != NULL)
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
  g_clear_handle_id (&self->load_pages_id, g_source_remove);
  g_clear_object (&self->conversation);
  g_clear_object (&self->sidebar_model);
  g_clear_object (&self->session);
  g_clear_object (&self->settings);
  g_clear_pointer (&self->drafts, g_hash_table_unref);
  g_clear_pointer (&self->notifications, g_hash_table_unref);
  g_clear_pointer (&self->key_dialogs, g_hash_table_unref);
  g_clear_handle_id (&self->invite_tick_id, g_source_remove);
  g_clear_weak_pointer (&self->invite_toast);
  gtk_widget_dispose_template (GTK_WIDGET (self), KLETSEN_TYPE_WINDOW);

  G_OBJECT_CLASS (kletsen_window_parent_class)->dispose (object);
}

static void
kletsen_window_class_init (KletsenWindowClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = kletsen_window_dispose;

  g_type_ensure (KLETSEN_TYPE_CONNECT_PAGE);
  g_type_ensure (KLETSEN_TYPE_GAME_PANEL);
  gtk_widget_class_set_template_from_resource (widget_class, "/nl/kletsen/Kletsen/kletsen-window.ui");
#define BIND(name) gtk_widget_class_bind_template_child (widget_class, KletsenWindow, name)
  BIND (toast_overlay);
  BIND (main_stack);
  BIND (connect_page);
  BIND (leaflet);
  BIND (sidebar);
  BIND (sidebar_title);
  BIND (offline_revealer);
  BIND (offline_label);
  BIND (sidebar_list);
  BIND (content);
  BIND (conversation_title);
  BIND (drop_hint);
  BIND (drop_hint_label);
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
  BIND (jump_button);
  BIND (search_bar);
  BIND (search_entry);
  BIND (sidebar_stack);
  BIND (search_results);
  BIND (search_status);
  BIND (attach_button);
  BIND (composer);
  BIND (send_button);
#undef BIND
  gtk_widget_class_bind_template_callback (widget_class, sidebar_row_activated_cb);
  gtk_widget_class_bind_template_callback (widget_class, _kletsen_window_search_changed_cb);
  gtk_widget_class_bind_template_callback (widget_class, _kletsen_window_search_activate_cb);
  gtk_widget_class_bind_template_callback (widget_class, _kletsen_window_search_stop_cb);
  gtk_widget_class_bind_template_callback (widget_class, _kletsen_window_search_result_activated_cb);
  gtk_widget_class_bind_template_callback_full (widget_class, "composer_send_cb", G_CALLBACK (_kletsen_window_message_entry_activate_cb));
  gtk_widget_class_bind_template_callback_full (widget_class, "composer_changed_cb", G_CALLBACK (_kletsen_window_message_entry_changed_cb));
  gtk_widget_class_bind_template_callback_full (widget_class, "composer_files_pasted_cb", G_CALLBACK (_kletsen_window_files_pasted_cb));

  gtk_widget_class_install_action (widget_class, "win.connect", NULL, _kletsen_window_connect_action);
  gtk_widget_class_install_action (widget_class, "win.log-out", NULL, _kletsen_window_log_out_action);
  gtk_widget_class_install_action (widget_class, "win.send", NULL, _kletsen_window_send_action);
  gtk_widget_class_install_action (widget_class, "win.send-files", NULL, _kletsen_window_send_files_action);
  gtk_widget_class_install_action (widget_class, "win.start-game", NULL, _kletsen_window_start_game_action);
  gtk_widget_class_install_action (widget_class, "win.join-game", NULL, _kletsen_window_join_game_action);
  gtk_widget_class_install_action (widget_class, "win.show-fingerprints", NULL, _kletsen_window_show_fingerprints_action);
  gtk_widget_class_install_action (widget_class, "win.back", NULL, _kletsen_window_back_action);
  gtk_widget_class_install_action (widget_class, "win.reconnect", NULL, _kletsen_window_reconnect_action);
  gtk_widget_class_install_action (widget_class, "win.search", NULL, _kletsen_window_search_action);
  gtk_widget_class_install_action (widget_class, "win.cancel-connect", NULL, _kletsen_window_cancel_connect_action);
  gtk_widget_class_install_action (widget_class, "win.switch-conversation", NULL, _kletsen_window_switch_action);
  gtk_widget_class_install_action (widget_class, "win.accept-offer", "s", _kletsen_window_accept_offer_action);
  gtk_widget_class_install_action (widget_class, "win.save-offer-in", "s", _kletsen_window_save_offer_in_action);
  gtk_widget_class_install_action (widget_class, "win.decline-offer", "s", _kletsen_window_decline_offer_action);
  gtk_widget_class_install_action (widget_class, "win.jump-to-latest", NULL, _kletsen_window_jump_to_latest_action);
  gtk_widget_class_install_action (widget_class, "win.clear-history", NULL, _kletsen_window_clear_history_action);

  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_o, GDK_CONTROL_MASK, "win.send-files", NULL);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_g, GDK_CONTROL_MASK, "win.start-game", NULL);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_j, GDK_CONTROL_MASK, "win.join-game", NULL);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_i, GDK_CONTROL_MASK, "win.show-fingerprints", NULL);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_f, GDK_CONTROL_MASK, "win.search", NULL);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_k, GDK_CONTROL_MASK, "win.switch-conversation", NULL);
}

static void
kletsen_window_init (KletsenWindow *self)
{
  g_autoptr(GtkListItemFactory) factory = gtk_signal_list_item_factory_new ();
  GtkDropTarget *drop;

  g_type_ensure (KLETSEN_TYPE_COMPOSER);
  gtk_widget_init_template (GTK_WIDGET (self));
  self->host_row = kletsen_connect_page_get_host_row (self->connect_page);
  self->port_row = kletsen_connect_page_get_port_row (self->connect_page);
  self->username_row = kletsen_connect_page_get_username_row (self->connect_page);
  self->secure_switch = kletsen_connect_page_get_secure_switch (self->connect_page);
  self->connect_error = kletsen_connect_page_get_error_label (self->connect_page);
  self->connect_button = kletsen_connect_page_get_connect_button (self->connect_page);
  self->connect_spinner = kletsen_connect_page_get_spinner (self->connect_page);
  /* The app's own icons, also when the window lives outside the application
   * (the UI tests). */
  gtk_icon_theme_add_resource_path (gtk_icon_theme_get_for_display (gtk_widget_get_display (GTK_WIDGET (self))),
                                    "/nl/kletsen/Kletsen/icons");
  self->drafts = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  self->notifications = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_object_unref);
  self->key_dialogs = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  self->scroll_target = -1;

  g_signal_connect (factory, "setup", G_CALLBACK (message_setup_cb), self);
  g_signal_connect (factory, "bind", G_CALLBACK (message_bind_cb), self);
  g_signal_connect (factory, "unbind", G_CALLBACK (message_unbind_cb), self);
  gtk_list_view_set_factory (self->message_list, factory);

  /* Files dropped anywhere on the window go to the person shown; while
   * they are dragged over it, the conversation says where they will go. */
  drop = gtk_drop_target_new (GDK_TYPE_FILE_LIST, GDK_ACTION_COPY);
  g_signal_connect (drop, "drop", G_CALLBACK (_kletsen_window_drop_cb), self);
  g_signal_connect_swapped (drop, "notify::current-drop", G_CALLBACK (_kletsen_window_drag_hover_cb), self);
  gtk_widget_add_controller (GTK_WIDGET (self), GTK_EVENT_CONTROLLER (drop));

  g_signal_connect_swapped (self->secure_toggle, "toggled", G_CALLBACK (secure_toggled_cb), self);
  g_signal_connect_swapped (self->game_panel, "guess", G_CALLBACK (_kletsen_window_panel_guess_cb), self);
  g_signal_connect_swapped (self->game_panel, "close", G_CALLBACK (_kletsen_window_panel_close_cb), self);
  g_signal_connect (self, "notify::is-active", G_CALLBACK (window_active_cb), NULL);
  g_signal_connect (self, "close-request", G_CALLBACK (close_request_cb), NULL);
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "win.send", FALSE);
  /* Nothing to log out of before the login. */
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "win.log-out", FALSE);
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
  kletsen_connect_page_load (self->connect_page);
  gtk_window_set_default_size (GTK_WINDOW (self), g_settings_get_int (self->settings, "window-width"),
                               g_settings_get_int (self->settings, "window-height"));

  /* The sidebar: "Everyone", then the people online and those offline
   * with a conversation. */
  g_list_store_append (everyone, kletsen_session_get_everyone (session));
  g_list_store_append (parts, everyone);
  g_list_store_append (parts, kletsen_session_get_people (session));
  g_object_unref (everyone);
  self->sidebar_model = gtk_flatten_list_model_new (G_LIST_MODEL (parts));
  gtk_list_box_bind_model (self->sidebar_list, G_LIST_MODEL (self->sidebar_model), create_sidebar_row, self, NULL);
  gtk_list_box_bind_model (self->transfers_list, kletsen_session_get_transfers (session), _kletsen_window_create_transfer_row, self, NULL);
  g_signal_connect_object (kletsen_session_get_transfers (session), "items-changed",
                           G_CALLBACK (_kletsen_window_transfers_changed_cb), self, G_CONNECT_SWAPPED);
  _kletsen_window_transfers_changed_cb (self);

  kletsen_game_panel_set_game (self->game_panel, kletsen_session_get_game (session));
  g_signal_connect_object (kletsen_session_get_game (session), "notify::phase", G_CALLBACK (_kletsen_window_game_phase_cb), self,
                           G_CONNECT_SWAPPED);
  g_signal_connect_object (session, "notify::state", G_CALLBACK (session_state_cb), self, G_CONNECT_SWAPPED);
  g_signal_connect_object (session, "notify::disconnect-reason", G_CALLBACK (session_state_cb), self, G_CONNECT_SWAPPED);
  g_signal_connect_object (session, "secure-changed", G_CALLBACK (people_changed_cb), self, G_CONNECT_SWAPPED);
  g_signal_connect_object (session, "peer-trust-changed", G_CALLBACK (people_changed_cb), self, G_CONNECT_SWAPPED);
  g_signal_connect_object (session, "notify::last-error", G_CALLBACK (session_state_cb), self, G_CONNECT_SWAPPED);
  /* Whoever comes or goes may be the person shown. */
  g_signal_connect_object (kletsen_session_get_users (session), "items-changed",
                           G_CALLBACK (people_changed_cb), self, G_CONNECT_SWAPPED);
  g_signal_connect_object (session, "file-offered", G_CALLBACK (_kletsen_window_file_offered_cb), self, G_CONNECT_SWAPPED);
  g_signal_connect_object (session, "peer-key-changed", G_CALLBACK (_kletsen_window_peer_key_changed_cb), self, G_CONNECT_SWAPPED);
  g_signal_connect_object (kletsen_session_get_conversations (session), "items-changed",
                           G_CALLBACK (conversations_changed_cb), self, G_CONNECT_SWAPPED);
  conversations_changed_cb (self, 0, 0, g_list_model_get_n_items (kletsen_session_get_conversations (session)),
                            kletsen_session_get_conversations (session));
  _kletsen_window_history_init (self);
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
