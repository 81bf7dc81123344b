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

void
_kletsen_session_handle_unsolicited (KletsenSession           *self,
                                     const KletsenMessageInfo *info,
                                     JsonObject               *body)
{
  g_autofree char *line = NULL;
  const char *person = person_field (info);

  /* A name becomes a key, a row and a prefix: one that no server may give
   * a user is a lie, and the line goes. */
  if (person != NULL && !is_user_name (kletsen_body_get_string (body, person)))
    {
      g_debug ("ignoring a %s for a name that is not one", info->header);
      return;
    }

  switch (info->type)
    {
    case KLETSEN_MSG_PING:
      _kletsen_session_send_line (self, "PONG", NULL);
      break;

    case KLETSEN_MSG_DSCN:
      self->disconnect_reason = (int)CLAMP (json_object_get_int_member (body, "reason"), 0, G_MAXINT);
      g_object_notify_by_pspec (G_OBJECT (self), _kletsen_session_properties[PROP_DISCONNECT_REASON]);
      _kletsen_session_set_last_error (self, kletsen_code_describe (self->disconnect_reason));
      break;

    case KLETSEN_MSG_JOINED:
      _kletsen_session_user_joined (self, json_object_get_string_member (body, "username"));
      line = g_strdup_printf (_("%s joined"), json_object_get_string_member (body, "username"));
      _kletsen_session_add_system_line (self, line);
      break;

    case KLETSEN_MSG_LEFT:
      _kletsen_session_user_left (self, json_object_get_string_member (body, "username"));
      line = g_strdup_printf (_("%s left"), json_object_get_string_member (body, "username"));
      _kletsen_session_add_system_line (self, line);
      break;

    case KLETSEN_MSG_BROADCAST:
      {
        g_autoptr(KletsenChatMessage) m = kletsen_chat_message_new (KLETSEN_MESSAGE_KIND_TEXT,
                                                                    json_object_get_string_member (body, "username"),
                                                                    json_object_get_string_member (body, "message"),
                                                                    KLETSEN_MESSAGE_STATE_RECEIVED, FALSE);
        kletsen_conversation_append (self->everyone, m, TRUE);
      }
      break;

    case KLETSEN_MSG_PRIVATE_MESSAGE:
      {
        const char *sender = json_object_get_string_member (body, "sender");
        g_autoptr(KletsenChatMessage) m = kletsen_chat_message_new (KLETSEN_MESSAGE_KIND_TEXT, sender,
                                                                    json_object_get_string_member (body, "message"),
                                                                    KLETSEN_MESSAGE_STATE_RECEIVED, FALSE);
        kletsen_conversation_append (kletsen_session_get_conversation (self, sender), m, TRUE);
      }
      break;

    case KLETSEN_MSG_GAME_NOTIFICATION:
      {
        const char *initiator = kletsen_body_get_string (body, "initiator");
        gint64 join_s = CLAMP (kletsen_body_get_int_or (body, "joinSeconds", 10), 0, MAX_JOIN_MS / 1000);
        gint64 join_ms = CLAMP (kletsen_body_get_int_or (body, "joinMs", join_s * 1000), 0, MAX_JOIN_MS);

        if (!is_user_name (initiator))
          initiator = "?";

        _kletsen_game_state_invited (self->game, initiator, join_ms);
        line = g_strdup_printf (_("%s started a guessing game"), initiator);
        _kletsen_session_add_system_line (self, line);
      }
      break;

    case KLETSEN_MSG_START_GAME_RESP: /* the start or the cancellation */
      if (kletsen_body_get_array (body, "players") != NULL)
        _kletsen_game_state_begin (self->game, kletsen_body_get_array (body, "players"));
      else
        _kletsen_game_state_cancelled (self->game, _kletsen_session_reply_code (body));
      break;

    case KLETSEN_MSG_GAME_JOINED:
      _kletsen_game_state_lobby_players (self->game, kletsen_body_get_array (body, "players"));
      break;

    case KLETSEN_MSG_GAME_PROGRESS:
      _kletsen_game_state_progress (self->game, json_object_get_string_member (body, "username"),
                                    (int)CLAMP (json_object_get_int_member (body, "finished"), 0, MAX_USERS));
      break;

    case KLETSEN_MSG_GAME_RESULTS:
      _kletsen_game_state_results (self->game, body);
      break;

    case KLETSEN_MSG_FILE_TRANSFER_OFFER:
      {
        _kletsen_session_handle_offer (self, body);
      }
      break;

    case KLETSEN_MSG_FILE_TRANSFER_RESPONSE: /* the outcome of our offer */
      _kletsen_session_handle_offer_outcome (self, body);
      break;

    case KLETSEN_MSG_FILE_TRANSFER_ENDED: /* an offer to us that is gone */
      _kletsen_session_handle_offer_ended (self, body);
      break;

    case KLETSEN_MSG_SECURE_MESSAGE_REQ_IN:
      {
        g_autoptr(JsonObject) out = json_object_new ();
        Pending *p;

        json_object_set_string_member (out, "sender", json_object_get_string_member (body, "sender"));
        json_object_set_string_member (out, "publicKey", kletsen_identity_get_public_key (self->identity));
        p = _kletsen_session_send_request (self, "SECURE_MESSAGE_RES", out, PENDING_SILENT, NULL);
        (void)p;
      }
      break;

    case KLETSEN_MSG_SECURE_MESSAGE_RES_IN: /* the key we asked for */
      if (kletsen_body_get_string (body, "publicKey") != NULL && is_user_name (kletsen_body_get_string (body, "receiver")))
        _kletsen_session_peer_key_arrived (self, kletsen_body_get_string (body, "receiver"), kletsen_body_get_string (body, "publicKey"));
      break;

    case KLETSEN_MSG_SECURE_MESSAGE_IN:
      _kletsen_session_handle_secure_message (self, body);
      break;

    default:
      break;
    }

  g_signal_emit (self, _kletsen_session_signals[MESSAGE], 0, info->header, body);
}
