/* kletsen-server-handlers.c
 *
 * Copyright 2026 The Kletsen authors
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

/* What the server does with each request of protocol.md: one handler per
 * message, reached through the message table of the protocol library. */

#include "config.h"

#include "kletsen-server-private.h"

static void
send_bare (KletsenConnection *conn,
           const char        *header)
{
  g_autoptr(GBytes) line = kletsen_message_serialize (header, NULL);

  _kletsen_connection_send (conn, line);
}

static void
handle_login (KletsenConnection *conn,
              JsonObject        *body)
{
  KletsenServer *server = conn->server;
  const char *name = json_object_get_string_member (body, "username");
  int code = 0;

  if (conn->logged_in)
    code = KLETSEN_CODE_ALREADY_LOGGED_IN;
  else if (!kletsen_user_name_is_valid (name))
    code = KLETSEN_CODE_NAME_INVALID;
  else if (_kletsen_server_find_user (server, name) != NULL)
    code = KLETSEN_CODE_NAME_TAKEN;
  /* In a cluster the name must be free on every node: LOGIN_RESP comes
   * once Redis said so. */
  else if (server->cluster != NULL && (code = _kletsen_cluster_login (server->cluster, conn, name)) == 0)
    return;

  _kletsen_connection_send_status (conn, "LOGIN_RESP", code);
  if (code == 0)
    _kletsen_server_add_user (server, conn, name);
}

static void
handle_broadcast (KletsenConnection *conn,
                  JsonObject        *body)
{
  const char *text = json_object_get_string_member (body, "message");
  g_autoptr(JsonObject) out = NULL;
  g_autoptr(GBytes) line = NULL;

  if (kletsen_text_is_blank (text))
    {
      _kletsen_connection_send_status (conn, "BROADCAST_RESP", KLETSEN_CODE_EMPTY_MESSAGE);
      return;
    }

  out = json_object_new ();
  json_object_set_string_member (out, "username", conn->name);
  json_object_set_string_member (out, "message", text);
  line = kletsen_message_serialize ("BROADCAST", out);

  /* Delivered everywhere, and confirmed, when it comes back from Redis. */
  if (conn->server->cluster != NULL && _kletsen_cluster_broadcast (conn->server->cluster, conn, line))
    return;
  _kletsen_server_queue_fan_out (conn->server, line, conn);
  _kletsen_connection_send_status (conn, "BROADCAST_RESP", 0);
}

static void
handle_bye (KletsenConnection *conn)
{
  /* In a cluster the name is free on every node once BYE_RESP comes: the
   * cluster answers when Redis has released it. */
  if (conn->server->cluster != NULL && conn->logged_in && _kletsen_cluster_bye (conn->server->cluster, conn))
    return;
  _kletsen_connection_send_status (conn, "BYE_RESP", 0);
  _kletsen_connection_close (conn, 0);
}

static int
compare_names (gconstpointer a,
               gconstpointer b)
{
  return g_ascii_strcasecmp (*(const char * const *)a, *(const char * const *)b);
}

/**
 * _kletsen_server_serialize_user_list:
 * @names: (element-type utf8): the users' names, in any order; sorted here
 *
 * Returns: (transfer full): LIST_USERS_RESP with @names as one server lists
 *   them (case-insensitive order)
 */
GBytes *
_kletsen_server_serialize_user_list (GPtrArray *names)
{
  g_autoptr(JsonObject) out = json_object_new ();
  JsonArray *users = json_array_sized_new (names->len);

  g_ptr_array_sort (names, compare_names);
  for (guint i = 0; i < names->len; i++)
    json_array_add_string_element (users, g_ptr_array_index (names, i));
  json_object_set_string_member (out, "status", "OK");
  json_object_set_array_member (out, "users", users);
  return kletsen_message_serialize ("LIST_USERS_RESP", out);
}

/* The list is serialized once per change of membership and shared by every
 * reply until the next: at 9,000 users a fresh sort and JSON cost 3 ms of
 * the one thread, so a third of one client's allowed rate filled it. */
static GBytes *
user_list_line (KletsenServer *server)
{
  g_autoptr(GPtrArray) names = NULL;

  if (server->cluster != NULL)
    return _kletsen_cluster_user_list_line (server->cluster);
  if (server->user_list_line != NULL)
    return server->user_list_line;
  names = g_ptr_array_sized_new (server->users->len);
  for (guint i = 0; i < server->users->len; i++)
    g_ptr_array_add (names, ((KletsenConnection *)g_ptr_array_index (server->users, i))->name);
  server->user_list_line = _kletsen_server_serialize_user_list (names);
  return server->user_list_line;
}

static void
handle_list_users (KletsenConnection *conn)
{
  GBytes *line = user_list_line (conn->server);

  _kletsen_connection_send (conn, line);
  /* Weighed by what it makes: one more token per --rate-bytes-per-token of reply. */
  _kletsen_server_charge_bytes (conn->server, conn, g_bytes_get_size (line));
}

/* Finds the peer a message names: 6007 for oneself, 6001 for nobody online. */
static KletsenConnection *
find_peer (KletsenConnection *conn,
           const char        *name,
           int               *code)
{
  KletsenConnection *peer = _kletsen_server_find_user (conn->server, name);

  if (peer == conn)
    *code = KLETSEN_CODE_MESSAGE_TO_SELF;
  else if (peer == NULL || !_kletsen_connection_is_open (peer))
    *code = KLETSEN_CODE_RECIPIENT_NOT_FOUND;
  else
    *code = 0;
  return *code == 0 ? peer : NULL;
}

static gboolean
routes_through_cluster (KletsenConnection *conn)
{
  return conn->server->cluster != NULL && _kletsen_cluster_is_routing (conn->server->cluster);
}

static GBytes *
private_message_line (KletsenConnection *conn,
                      const char        *text)
{
  g_autoptr(JsonObject) out = json_object_new ();

  json_object_set_string_member (out, "sender", conn->name);
  json_object_set_string_member (out, "message", text);
  return kletsen_message_serialize ("PRIVATE_MESSAGE", out);
}

/* The same checks in the same order, for a receiver on any node; the
 * reply comes once Redis has taken it. */
static void
cluster_private_message (KletsenConnection *conn,
                         const char        *receiver,
                         const char        *text)
{
  int code = _kletsen_cluster_check_peer (conn->server->cluster, conn, receiver);
  g_autoptr(GBytes) line = NULL;

  if (code == 0 && kletsen_text_is_blank (text))
    code = KLETSEN_CODE_EMPTY_MESSAGE;
  if (code != 0)
    {
      _kletsen_connection_send_status (conn, "PRIVATE_MESSAGE_RESP", code);
      return;
    }
  line = private_message_line (conn, text);
  _kletsen_cluster_send_to_user (conn->server->cluster, conn, receiver, line,
                                 "PRIVATE_MESSAGE_RESP", "PRIVATE_MESSAGE_RESP", FALSE);
}

static void
handle_private_message (KletsenConnection *conn,
                        JsonObject        *body)
{
  const char *text = json_object_get_string_member (body, "message");
  KletsenConnection *peer;
  g_autoptr(GBytes) line = NULL;
  int code;

  if (routes_through_cluster (conn))
    {
      cluster_private_message (conn, json_object_get_string_member (body, "receiver"), text);
      return;
    }
  peer = find_peer (conn, json_object_get_string_member (body, "receiver"), &code);
  if (peer != NULL && kletsen_text_is_blank (text))
    code = KLETSEN_CODE_EMPTY_MESSAGE;
  _kletsen_connection_send_status (conn, "PRIVATE_MESSAGE_RESP", code);
  if (code != 0)
    return;

  line = private_message_line (conn, text);
  _kletsen_connection_send_to_peer (conn, peer, line);
}

/* Routes one step of the secure-message handshake (protocol.md §5). The name
 * field of what is forwarded is always the sender's own login; the server
 * copies the opaque fields unread. */
/* Answers to key requests a connection may give without paying for them. */
#define MAX_OWED_KEY_ANSWERS 64

static void
handle_secure (KletsenConnection        *conn,
               const KletsenMessageInfo *info,
               JsonObject               *body)
{
  /* encryptedMessage is the original authors' name for message: forwarded
   * under the name the sender used, so two such clients understand each
   * other (accepted for compatibility). */
  static const char *const opaque[] = { "publicKey", "sessionKey", "message", "encryptedMessage", "senderKey", "signature" };
  const char *to_field = info->type == KLETSEN_MSG_SECURE_MESSAGE_RES ? "sender" : "receiver";
  const char *from_field = info->type == KLETSEN_MSG_SECURE_MESSAGE_RES ? "receiver" : "sender";
  KletsenConnection *peer;
  g_autoptr(JsonObject) out = NULL;
  g_autoptr(GBytes) line = NULL;
  gint64 counter;
  int code;

  if (info->type == KLETSEN_MSG_SECURE_MESSAGE &&
      (kletsen_body_get_string (body, "message") != NULL) == (kletsen_body_get_string (body, "encryptedMessage") != NULL))
    {
      send_bare (conn, "PARSE_ERROR");
      return;
    }

  if (routes_through_cluster (conn))
    {
      peer = NULL;
      code = _kletsen_cluster_check_peer (conn->server->cluster, conn, json_object_get_string_member (body, to_field));
    }
  else
    peer = find_peer (conn, json_object_get_string_member (body, to_field), &code);
  if (code != 0)
    {
      _kletsen_connection_send_status (conn, "SECURE_MESSAGE_RES", code);
      return;
    }

  out = json_object_new ();
  json_object_set_string_member (out, from_field, conn->name);
  for (guint i = 0; i < G_N_ELEMENTS (opaque); i++)
    if (kletsen_body_get_string (body, opaque[i]) != NULL)
      json_object_set_string_member (out, opaque[i], kletsen_body_get_string (body, opaque[i]));
  /* §5.1's counter, unchanged: the receiver judges it. */
  if (kletsen_body_get_int (body, "counter", &counter))
    json_object_set_int_member (out, "counter", counter);
  line = kletsen_message_serialize (info->header, out);
  if (peer == NULL)
    {
      _kletsen_cluster_send_to_user (conn->server->cluster, conn, json_object_get_string_member (body, to_field),
                                     line, NULL, "SECURE_MESSAGE_RES",
                                     info->type == KLETSEN_MSG_SECURE_MESSAGE_REQ);
      return;
    }
  _kletsen_connection_send_to_peer (conn, peer, line);
  if (info->type == KLETSEN_MSG_SECURE_MESSAGE_REQ && peer->owed_key_answers < MAX_OWED_KEY_ANSWERS)
    peer->owed_key_answers++;
}

static gboolean
may_use_before_login (const KletsenMessageInfo *info)
{
  return info->type == KLETSEN_MSG_LOGIN ||
         info->type == KLETSEN_MSG_LOGIN_REQ ||
         info->type == KLETSEN_MSG_BYE ||
         info->type == KLETSEN_MSG_PONG;
}

/**
 * _kletsen_server_handle_line:
 * @conn: the connection the line came from
 * @line: one line without its terminator
 * @len: its length
 *
 * Answers one request. Before login every known request but LOGIN, BYE and
 * PONG gets its reply header with 6000, whatever its body.
 *
 * Returns: %TRUE to go on reading lines from @conn
 */
gboolean
_kletsen_server_handle_line (KletsenConnection *conn,
                             char              *line,
                             gsize              len)
{
  const KletsenMessageInfo *info;
  g_autoptr(JsonObject) body = NULL;
  const char *text;
  gsize text_len;

  info = kletsen_message_lookup (line, len, KLETSEN_TO_SERVER, &text, &text_len);
  if (info == NULL)
    {
      send_bare (conn, "UNKNOWN_COMMAND");
      return TRUE;
    }

  /* A flood is answered, not followed: over the rate, a request gets its
   * reply header with 7014 and is not carried out. PONGs always count, and
   * so does the answer to a key request the server routed here: otherwise
   * others' SECURE_MESSAGE_REQs spend the victim's rate (its own messages
   * got 7014). The asker pays for its request. */
  if (info->type == KLETSEN_MSG_SECURE_MESSAGE_RES && conn->owed_key_answers > 0)
    conn->owed_key_answers--;
  else if (info->type != KLETSEN_MSG_PONG && !_kletsen_server_take_token (conn->server, conn))
    {
      if (info->response != NULL)
        _kletsen_connection_send_status (conn, info->response, KLETSEN_CODE_TOO_MANY_REQUESTS);
      return TRUE;
    }

  if (!conn->logged_in && !may_use_before_login (info))
    {
      _kletsen_connection_send_status (conn, info->response, KLETSEN_CODE_NOT_LOGGED_IN);
      return TRUE;
    }

  if (kletsen_message_parse_body (info, text, text_len, &body) != KLETSEN_PARSE_OK)
    {
      send_bare (conn, "PARSE_ERROR");
      return TRUE;
    }

  switch (info->type)
    {
    case KLETSEN_MSG_LOGIN:
    case KLETSEN_MSG_LOGIN_REQ:
      handle_login (conn, body);
      break;
    case KLETSEN_MSG_BROADCAST_REQ:
      handle_broadcast (conn, body);
      break;
    case KLETSEN_MSG_PONG:
      _kletsen_server_got_pong (conn->server, conn);
      break;
    case KLETSEN_MSG_BYE:
      handle_bye (conn);
      break;
    case KLETSEN_MSG_LIST_USERS_REQ:
      handle_list_users (conn);
      break;
    case KLETSEN_MSG_PRIVATE_MESSAGE_REQ:
      handle_private_message (conn, body);
      break;
    case KLETSEN_MSG_START_GAME_REQ:
      _kletsen_game_start (conn->server->game, conn);
      break;
    case KLETSEN_MSG_JOIN_GAME_REQ:
      _kletsen_game_join (conn->server->game, conn);
      break;
    case KLETSEN_MSG_GUESS_NUMBER_REQ:
      _kletsen_game_guess (conn->server->game, conn, json_object_get_member (body, "number"));
      break;
    case KLETSEN_MSG_FILE_TRANSFER_REQUEST:
    case KLETSEN_MSG_FILE_TRANSFER_ANSWER:
    case KLETSEN_MSG_FILE_TRANSFER_CANCEL:
      _kletsen_server_handle_transfer (conn, info, body);
      break;
    case KLETSEN_MSG_SECURE_MESSAGE_REQ:
    case KLETSEN_MSG_SECURE_MESSAGE_RES:
    case KLETSEN_MSG_SECURE_MESSAGE:
      handle_secure (conn, info, body);
      break;
    default:
      g_assert_not_reached ();
    }

  return conn->state == CONN_OPEN;
}
