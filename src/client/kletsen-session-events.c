/* kletsen-session-events.c
 *
 * Copyright 2026 The Kletsen authors
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

/* What the server says without being asked: people coming and going, room
 * and private messages, the game, offers and key requests. */

#include "config.h"

#include <string.h>

#include "kletsen-session-private.h"

static const char *
person_field (const KletsenMessageInfo *info);

/* The field of @info that names a person, if it has one. */
static const char *
person_field (const KletsenMessageInfo *info)
{
  switch (info->type)
    {
    case KLETSEN_MSG_JOINED:
    case KLETSEN_MSG_LEFT:
    case KLETSEN_MSG_BROADCAST:
    case KLETSEN_MSG_GAME_JOINED:
    case KLETSEN_MSG_GAME_PROGRESS:
      return "username";
    case KLETSEN_MSG_PRIVATE_MESSAGE:
    case KLETSEN_MSG_FILE_TRANSFER_OFFER:
    case KLETSEN_MSG_FILE_TRANSFER_ENDED:
    case KLETSEN_MSG_SECURE_MESSAGE_REQ_IN:
    case KLETSEN_MSG_SECURE_MESSAGE_IN:
      return "sender";
    default:
      return NULL;
    }
}

/* One handler per message the server sends unasked; the table below says
 * which is which. A message to add gets a row there and a function here. */

static void
on_ping (KletsenSession *self,
         JsonObject     *body)
{
  _kletsen_session_send_line (self, "PONG", NULL);
}

static void
on_dscn (KletsenSession *self,
         JsonObject     *body)
{
  self->disconnect_reason = (int)CLAMP (json_object_get_int_member (body, "reason"), 0, G_MAXINT);
  g_object_notify_by_pspec (G_OBJECT (self), _kletsen_session_properties[PROP_DISCONNECT_REASON]);
  _kletsen_session_set_last_error (self, kletsen_code_describe (self->disconnect_reason));
}

static void
on_joined (KletsenSession *self,
           JsonObject     *body)
{
  const char *name = json_object_get_string_member (body, "username");
  g_autofree char *line = g_strdup_printf (_("%s joined"), name);
  g_autofree char *key = fold (name);

  /* Someone new under that name: its key request is answered at once. */
  g_hash_table_remove (self->key_answers, key);
  _kletsen_session_user_joined (self, name);
  _kletsen_session_add_system_line (self, line);
}

static void
on_left (KletsenSession *self,
         JsonObject     *body)
{
  const char *name = json_object_get_string_member (body, "username");
  g_autofree char *line = g_strdup_printf (_("%s left"), name);

  _kletsen_session_user_left (self, name);
  _kletsen_session_add_system_line (self, line);
}

static void
on_broadcast (KletsenSession *self,
              JsonObject     *body)
{
  g_autoptr(KletsenChatMessage) m = kletsen_chat_message_new (KLETSEN_MESSAGE_KIND_TEXT,
                                                              json_object_get_string_member (body, "username"),
                                                              json_object_get_string_member (body, "message"),
                                                              KLETSEN_MESSAGE_STATE_RECEIVED, FALSE);

  kletsen_chat_message_set_mentions_me (m, g_strcmp0 (kletsen_chat_message_get_sender (m), self->username) != 0 &&
                                           kletsen_text_mentions (kletsen_chat_message_get_text (m), self->username));
  kletsen_conversation_append (self->everyone, m, TRUE);
}

static void
on_private_message (KletsenSession *self,
                    JsonObject     *body)
{
  const char *sender = json_object_get_string_member (body, "sender");
  g_autoptr(KletsenChatMessage) m = kletsen_chat_message_new (KLETSEN_MESSAGE_KIND_TEXT, sender,
                                                              json_object_get_string_member (body, "message"),
                                                              KLETSEN_MESSAGE_STATE_RECEIVED, FALSE);

  kletsen_conversation_append (kletsen_session_get_conversation (self, sender), m, TRUE);
}

static void
on_game_notification (KletsenSession *self,
                      JsonObject     *body)
{
  const char *initiator = kletsen_body_get_string (body, "initiator");
  gint64 join_s = CLAMP (kletsen_body_get_int_or (body, "joinSeconds", 10), 0, MAX_JOIN_MS / 1000);
  gint64 join_ms = CLAMP (kletsen_body_get_int_or (body, "joinMs", join_s * 1000), 0, MAX_JOIN_MS);
  g_autofree char *line = NULL;

  if (!is_user_name (initiator))
    initiator = "?";
  _kletsen_game_state_invited (self->game, initiator, join_ms);
  line = g_strdup_printf (_("%s started a guessing game"), initiator);
  _kletsen_session_add_system_line (self, line);
}

/* The start of the game, or its cancellation. */
static void
on_start_game_resp (KletsenSession *self,
                    JsonObject     *body)
{
  if (kletsen_body_get_array (body, "players") != NULL)
    _kletsen_game_state_begin (self->game, kletsen_body_get_array (body, "players"));
  else
    _kletsen_game_state_cancelled (self->game, _kletsen_session_reply_code (body));
}

static void
on_game_joined (KletsenSession *self,
                JsonObject     *body)
{
  _kletsen_game_state_lobby_players (self->game, kletsen_body_get_array (body, "players"));
}

static void
on_game_progress (KletsenSession *self,
                  JsonObject     *body)
{
  _kletsen_game_state_progress (self->game, json_object_get_string_member (body, "username"),
                                (int)CLAMP (json_object_get_int_member (body, "finished"), 0, MAX_USERS));
}

static void
on_game_results (KletsenSession *self,
                 JsonObject     *body)
{
  _kletsen_game_state_results (self->game, body);
}

/* A peer asks for our key: it goes out, answered by the server only on
 * failure. At most once a second per peer: each answer costs two of our own
 * requests (the answer and its barrier), and a flood of questions made our
 * own messages fail with 7014. A real peer asks once per session. */
static void
on_secure_message_req (KletsenSession *self,
                       JsonObject     *body)
{
  g_autoptr(JsonObject) out = json_object_new ();
  const char *sender = json_object_get_string_member (body, "sender");
  g_autofree char *key = fold (sender);
  gint64 now = g_get_monotonic_time ();
  gpointer last = g_hash_table_lookup (self->key_answers, key);

  if (last != NULL && now - *(gint64 *)last < G_USEC_PER_SEC)
    {
      g_debug ("not answering %s's key request again so soon", sender);
      return;
    }
  /* Bounded: a server that invents names forgets nothing that matters. */
  if (g_hash_table_size (self->key_answers) >= 1024)
    g_hash_table_remove_all (self->key_answers);
  g_hash_table_insert (self->key_answers, g_steal_pointer (&key), g_memdup2 (&now, sizeof now));

  json_object_set_string_member (out, "sender", sender);
  json_object_set_string_member (out, "publicKey", kletsen_identity_get_public_key (self->identity));
  _kletsen_session_send_request (self, "SECURE_MESSAGE_RES", out, PENDING_SILENT, NULL);
}

/* The key we asked for. */
static void
on_secure_message_res (KletsenSession *self,
                       JsonObject     *body)
{
  const char *receiver = kletsen_body_get_string (body, "receiver");
  const char *key = kletsen_body_get_string (body, "publicKey");

  if (key != NULL && is_user_name (receiver))
    _kletsen_session_peer_key_arrived (self, receiver, key);
}

typedef void (*EventHandler) (KletsenSession *self,
                              JsonObject     *body);

static const EventHandler handlers[KLETSEN_N_MESSAGES] = {
  [KLETSEN_MSG_PING] = on_ping,
  [KLETSEN_MSG_DSCN] = on_dscn,
  [KLETSEN_MSG_JOINED] = on_joined,
  [KLETSEN_MSG_LEFT] = on_left,
  [KLETSEN_MSG_BROADCAST] = on_broadcast,
  [KLETSEN_MSG_PRIVATE_MESSAGE] = on_private_message,
  [KLETSEN_MSG_GAME_NOTIFICATION] = on_game_notification,
  [KLETSEN_MSG_START_GAME_RESP] = on_start_game_resp,
  [KLETSEN_MSG_GAME_JOINED] = on_game_joined,
  [KLETSEN_MSG_GAME_PROGRESS] = on_game_progress,
  [KLETSEN_MSG_GAME_RESULTS] = on_game_results,
  [KLETSEN_MSG_FILE_TRANSFER_OFFER] = _kletsen_session_handle_offer,
  [KLETSEN_MSG_FILE_TRANSFER_RESPONSE] = _kletsen_session_handle_offer_outcome, /* the outcome of our offer */
  [KLETSEN_MSG_FILE_TRANSFER_ENDED] = _kletsen_session_handle_offer_ended,      /* an offer to us that is gone */
  [KLETSEN_MSG_SECURE_MESSAGE_REQ_IN] = on_secure_message_req,
  [KLETSEN_MSG_SECURE_MESSAGE_RES_IN] = on_secure_message_res,
  [KLETSEN_MSG_SECURE_MESSAGE_IN] = _kletsen_session_handle_secure_message,
};

void
_kletsen_session_handle_unsolicited (KletsenSession           *self,
                                     const KletsenMessageInfo *info,
                                     JsonObject               *body)
{
  const char *person = person_field (info);

  /* A name becomes a key, a row and a prefix: one that no server may give
   * a user is a lie, and the line goes. */
  if (person != NULL && !is_user_name (kletsen_body_get_string (body, person)))
    {
      g_debug ("ignoring a %s for a name that is not one", info->header);
      return;
    }
  if (handlers[info->type] != NULL)
    handlers[info->type] (self, body);
  g_signal_emit (self, _kletsen_session_signals[MESSAGE], 0, info->header, body);
}
