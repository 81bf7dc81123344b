/* kletsen-window-notify.c
 *
 * Copyright 2026 The Kletsen authors
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

/* Getting to a conversation from elsewhere: the quick switcher (Ctrl+K),
 * and desktop notifications: sent while the window is in the background, each
 * with the next step as its actions (Reply, Accept or Decline a file, Join
 * a game), a click opening the conversation, and withdrawn once they are
 * no longer news: the conversation read, the offer answered or gone, the
 * game's join window over. The actions are the application's (app.*),
 * since a notification outlives any window. */

#include "config.h"

#include <glib/gi18n.h>

#include "kletsen-protocol.h"
#include "kletsen-switcher.h"
#include "kletsen-window-private.h"

/* One notification per conversation ("" is Everyone), offer and game. */
static char *
conversation_id (const char *peer)
{
  g_autofree char *folded = peer ? fold (peer) : g_strdup ("");

  return g_strconcat ("conversation-", folded, NULL);
}

static void
send (KletsenWindow *self,
      const char    *id,
      GNotification *notification)
{
  GtkApplication *app = gtk_window_get_application (GTK_WINDOW (self));

  if (gtk_window_is_active (GTK_WINDOW (self)) || !g_settings_get_boolean (self->settings, "notifications"))
    return;
  g_hash_table_replace (self->notifications, g_strdup (id), g_object_ref (notification));
  if (app != NULL)
    g_application_send_notification (G_APPLICATION (app), id, notification);
}

void
_kletsen_window_withdraw_notification (KletsenWindow *self,
                                       const char    *id)
{
  GtkApplication *app = gtk_window_get_application (GTK_WINDOW (self));

  if (!g_hash_table_remove (self->notifications, id))
    return;
  if (app != NULL)
    g_application_withdraw_notification (G_APPLICATION (app), id);
}

/* Something new in @conversation, or it was read (unread 0). */
void
_kletsen_window_notify_unread (KletsenWindow       *self,
                               KletsenConversation *conversation)
{
  const char *peer = kletsen_conversation_get_peer (conversation);
  guint n = g_list_model_get_n_items (G_LIST_MODEL (conversation));
  g_autofree char *id = conversation_id (peer);
  g_autoptr(KletsenChatMessage) last = NULL;
  g_autoptr(GNotification) notification = NULL;
  g_autofree char *title = NULL;
  const char *body;

  if (kletsen_conversation_get_unread (conversation) == 0)
    {
      _kletsen_window_withdraw_notification (self, id);
      return;
    }
  if (n == 0)
    return;
  last = g_list_model_get_item (G_LIST_MODEL (conversation), n - 1);
  /* A file offer notifies on its own; a muted room only when someone
   * names you, and then always. */
  if (kletsen_chat_message_get_kind (last) != KLETSEN_MESSAGE_KIND_TEXT ||
      kletsen_chat_message_get_state (last) != KLETSEN_MESSAGE_STATE_RECEIVED ||
      (peer == NULL && !kletsen_chat_message_get_mentions_me (last) &&
       g_settings_get_boolean (self->settings, "mute-everyone")))
    return;
  if (peer == NULL && kletsen_chat_message_get_mentions_me (last))
    title = g_strdup_printf (_("%s mentioned you"), kletsen_chat_message_get_sender (last));
  else if (peer == NULL)
    /* TRANSLATORS: a notification's title for a message in the room */
    title = g_strdup_printf (_("%s in Everyone"), kletsen_chat_message_get_sender (last));
  else
    {
      g_autofree char *lookalike = kletsen_session_find_lookalike (self->session, peer);

      /* TRANSLATORS: a notification's title, when the sender's name only looks like someone the user knows */
      title = lookalike ? g_strdup_printf (_("Message from %s (not %s)"), peer, lookalike)
                        : g_strdup_printf (_("Message from %s"), peer);
    }
  body = kletsen_chat_message_get_encrypted (last) ? _("An encrypted message") : kletsen_chat_message_get_text (last);
  notification = g_notification_new (title);
  g_notification_set_body (notification, body);
  g_notification_set_default_action_and_target (notification, "app.open-conversation", "s", peer ? peer : "");
  g_notification_add_button_with_target (notification, _("Reply"), "app.open-conversation", "s", peer ? peer : "");
  send (self, id, notification);
}

static char *
offer_id (KletsenFileTransfer *transfer)
{
  return g_strconcat ("offer-", kletsen_file_transfer_get_id (transfer), NULL);
}

/* Answered here or in the conversation, withdrawn, expired: no longer news. */
static void
offer_state_cb (KletsenWindow       *self,
                GParamSpec          *pspec,
                KletsenFileTransfer *transfer)
{
  g_autofree char *id = NULL;

  if (kletsen_file_transfer_get_state (transfer) == KLETSEN_TRANSFER_OFFERED)
    return;
  id = offer_id (transfer);
  _kletsen_window_withdraw_notification (self, id);
  g_signal_handlers_disconnect_by_data (transfer, self);
}

void
_kletsen_window_notify_offer (KletsenWindow       *self,
                              KletsenFileTransfer *transfer)
{
  g_autofree char *size = g_format_size (kletsen_file_transfer_get_size (transfer));
  g_autofree char *shown = kletsen_file_transfer_get_shown_name (transfer);
  g_autofree char *body = g_strdup_printf (_("%s wants to send you “%s” (%s)."),
                                           kletsen_file_transfer_get_peer (transfer), shown, size);
  g_autoptr(GNotification) notification = g_notification_new (_("Incoming file"));
  g_autofree char *id = offer_id (transfer);
  const char *transfer_id = kletsen_file_transfer_get_id (transfer);

  g_notification_set_body (notification, body);
  g_notification_set_default_action_and_target (notification, "app.open-conversation", "s",
                                                kletsen_file_transfer_get_peer (transfer));
  g_notification_add_button_with_target (notification, _("Decline"), "app.decline-offer", "s", transfer_id);
  g_notification_add_button_with_target (notification, _("Accept"), "app.accept-offer", "s", transfer_id);
  send (self, id, notification);
  g_signal_connect_object (transfer, "notify::state", G_CALLBACK (offer_state_cb), self, G_CONNECT_SWAPPED);
}

/* An invitation: Join, until its join window ends. */
void
_kletsen_window_notify_game (KletsenWindow *self,
                             const char    *text)
{
  g_autoptr(GNotification) notification = g_notification_new (_("Guessing game"));

  g_notification_set_body (notification, text);
  g_notification_set_default_action_and_target (notification, "app.open-conversation", "s", "");
  g_notification_add_button (notification, _("Join"), "app.join-game");
  send (self, "game", notification);
}

/**
 * kletsen_window_open_conversation:
 * @peer: (nullable): the person, or %NULL for Everyone
 *
 * What a click on a notification does: the conversation, ready to reply.
 */
void
kletsen_window_open_conversation (KletsenWindow *self,
                                  const char    *peer)
{
  if (g_strcmp0 (gtk_stack_get_visible_child_name (self->main_stack), "chat") != 0)
    return;
  if (peer != NULL && !kletsen_user_name_is_valid (peer))
    return;
  _kletsen_window_show_conversation (self, peer);
  gtk_widget_grab_focus (GTK_WIDGET (self->composer));
}

static void
switcher_chosen_cb (KletsenWindow *self,
                    const char    *peer)
{
  kletsen_window_open_conversation (self, *peer ? peer : NULL);
}

/* Ctrl+K: to any conversation by typing part of its name. */
void
_kletsen_window_switch_action (GtkWidget  *widget,
                               const char *action_name,
                               GVariant   *parameter)
{
  KletsenWindow *self = KLETSEN_WINDOW (widget);
  KletsenSwitcher *switcher;

  if (g_strcmp0 (gtk_stack_get_visible_child_name (self->main_stack), "chat") != 0)
    return;
  switcher = kletsen_switcher_new (GTK_WINDOW (self), kletsen_session_get_people (self->session),
                                   kletsen_session_get_username (self->session));
  g_signal_connect_object (switcher, "chosen", G_CALLBACK (switcher_chosen_cb), self, G_CONNECT_SWAPPED);
  _kletsen_window_track_dialog (self, GTK_WIDGET (switcher));
  gtk_window_present (GTK_WINDOW (switcher));
}
