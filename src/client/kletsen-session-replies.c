/* kletsen-session-replies.c
 *
 * Copyright 2026 The Kletsen authors
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

/* Requests and their replies: what waits, in order; how a reply (or an
 * UNKNOWN_COMMAND, or a line that cannot be read) completes the request it
 * belongs to; the barrier after requests that are answered only on failure;
 * and the first look at each line the server sends. */

#include "config.h"

#include <string.h>

#include "kletsen-session-private.h"

static GError *
reply_error (int code);

static void
complete (KletsenSession *self,
          Pending        *p,
          int             code,
          JsonObject     *body);

static void
handle_reply (KletsenSession *self,
              const char     *header,
              JsonObject     *body);

static gboolean
is_reply_header (const char *header);

static gboolean
is_announcement (const KletsenMessageInfo *info,
                 JsonObject               *body);

static void
handle_login_reply (KletsenSession *self,
                    JsonObject     *body);

static void
refused_by_server (KletsenSession *self);

/* Sends a request and remembers what waits for its reply. */
Pending *
_kletsen_session_send_request (KletsenSession *self,
                               const char     *header,
                               JsonObject     *body,
                               PendingKind     kind,
                               GTask          *task)
{
  const char *body_text = NULL;
  gsize body_len = 0;
  const KletsenMessageInfo *info = kletsen_message_lookup (header, strlen (header), KLETSEN_TO_SERVER,
                                                           &body_text, &body_len);
  Pending *p = g_new0 (Pending, 1);

  g_assert (info != NULL && info->response != NULL);
  p->response = info->response;
  p->kind = kind;
  p->task = task ? g_object_ref (task) : NULL;
  g_queue_push_tail (&self->pending, p);
  _kletsen_session_send_line (self, header, body);

  if (kind == PENDING_SILENT)
    {
      Pending *barrier = g_new0 (Pending, 1);

      barrier->response = "LIST_USERS_RESP";
      barrier->kind = PENDING_BARRIER;
      g_queue_push_tail (&self->pending, barrier);
      _kletsen_session_send_line (self, "LIST_USERS_REQ", NULL);
    }
  return p;
}

/* A request made while offline fails at once. */
gboolean
_kletsen_session_check_online (KletsenSession *self,
                               GTask          *task)
{
  if (self->state == KLETSEN_SESSION_ONLINE)
    return TRUE;
  g_task_return_new_error (task, KLETSEN_SESSION_ERROR, KLETSEN_SESSION_ERROR_OFFLINE,
                           _("Not connected to the server"));
  return FALSE;
}

/* The same for a message of mine: offline, its row says it failed too. */
gboolean
_kletsen_session_check_online_to_send (KletsenSession     *self,
                                       KletsenChatMessage *message,
                                       GTask              *task)
{
  if (_kletsen_session_check_online (self, task))
    return TRUE;
  kletsen_chat_message_set_state (message, KLETSEN_MESSAGE_STATE_FAILED, 0);
  return FALSE;
}

/* ---- completing requests ---- */

/* The error for a failed reply: its protocol code, -1 for a reply that did
 * not say (or that could not be read), or CODE_NOT_SUPPORTED for a request
 * the server answered with UNKNOWN_COMMAND or PARSE_ERROR. */
static GError *
reply_error (int code)
{
  if (code > 0)
    return kletsen_protocol_error_new (code);
  if (code == CODE_NOT_SUPPORTED)
    return g_error_new_literal (KLETSEN_SESSION_ERROR, KLETSEN_SESSION_ERROR_NOT_SUPPORTED,
                                _("The server does not support this"));
  return g_error_new_literal (KLETSEN_SESSION_ERROR, KLETSEN_SESSION_ERROR_SERVER,
                              _("The server sent a reply that Kletsen cannot read"));
}

/* Tells a request's waiters how it ended: code 0 is success. */
static void
complete (KletsenSession *self,
          Pending        *p,
          int             code,
          JsonObject     *body)
{
  if (p->message != NULL)
    kletsen_chat_message_set_state (p->message, code == 0 ? KLETSEN_MESSAGE_STATE_SENT : KLETSEN_MESSAGE_STATE_FAILED,
                                    MAX (code, 0));

  if (p->transfer != NULL && code != 0)
    {
      g_autoptr(GError) error = reply_error (code);

      _kletsen_file_transfer_fail (p->transfer, KLETSEN_TRANSFER_FAILED, MAX (code, 0), error->message);
    }
  else if (p->transfer != NULL && kletsen_file_transfer_get_direction (p->transfer) == KLETSEN_TRANSFER_SEND)
    _kletsen_file_transfer_set_offered (p->transfer);
  else if (p->transfer != NULL && kletsen_file_transfer_get_state (p->transfer) == KLETSEN_TRANSFER_CONNECTING)
    {
      /* Our acceptance is confirmed: only now may the side channel open, or
       * the server could see our half before our answer and refuse it. */
      _kletsen_session_run_side_channel (self, p->transfer);
    }

  if (p->task == NULL)
    return;
  if (code != 0)
    g_task_return_error (p->task, reply_error (code));
  else if (p->on_reply != NULL)
    p->on_reply (p->task, body);
  else
    g_task_return_boolean (p->task, TRUE);
}

int
_kletsen_session_reply_code (JsonObject *body)
{
  gint64 code;

  if (g_strcmp0 (kletsen_body_get_string (body, "status"), "OK") == 0)
    return 0;
  /* A failure must not read as success: no code, 0 or a wild one is -1. */
  if (!kletsen_body_get_int (body, "code", &code) || code <= 0 || code > G_MAXINT)
    return -1;
  return (int)code;
}

/* A reply arrived: it belongs to the oldest request waiting for its header. */
static void
handle_reply (KletsenSession *self,
              const char     *header,
              JsonObject     *body)
{
  int code = _kletsen_session_reply_code (body);

  for (GList *l = self->pending.head; l != NULL; l = l->next)
    {
      Pending *p = l->data;

      if (!g_str_equal (p->response, header))
        continue;

      /* Every silent request before our barrier has succeeded: a failure
       * would have been answered before the barrier's reply. */
      if (p->kind == PENDING_BARRIER)
        {
          GList *link = self->pending.head;

          while (link != l)
            {
              GList *next = link->next;
              Pending *done = link->data;

              if (done->kind == PENDING_SILENT)
                {
                  g_queue_delete_link (&self->pending, link);
                  complete (self, done, 0, NULL);
                  _kletsen_session_pending_free (done);
                }
              link = next;
            }
          g_queue_delete_link (&self->pending, l);
          _kletsen_session_pending_free (p);
          return;
        }

      g_queue_remove (&self->pending, p);
      if (p->peer != NULL && code != 0)
        {
          g_autofree char *key = fold (p->peer);

          _kletsen_session_fail_secure_queue (self, key, reply_error (code));
        }
      complete (self, p, code, body);
      _kletsen_session_pending_free (p);
      return;
    }
  g_debug ("a %s that answers no request", header);
}

/* Whether @header is the reply header of some request. */
static gboolean
is_reply_header (const char *header)
{
  gsize n;
  const KletsenMessageInfo *table = kletsen_message_table (&n);

  for (gsize i = 0; i < n; i++)
    if (table[i].direction == KLETSEN_TO_SERVER && g_strcmp0 (table[i].response, header) == 0)
      return TRUE;
  return FALSE;
}

/* Replies that double as announcements (protocol.md §3, §4, §5). */
static gboolean
is_announcement (const KletsenMessageInfo *info,
                 JsonObject               *body)
{
  switch (info->type)
    {
    case KLETSEN_MSG_START_GAME_RESP:
      return kletsen_body_get_array (body, "players") != NULL || _kletsen_session_reply_code (body) == KLETSEN_CODE_NOT_ENOUGH_PLAYERS;
    case KLETSEN_MSG_FILE_TRANSFER_RESPONSE:
      return kletsen_body_get_string (body, "transferId") != NULL;
    case KLETSEN_MSG_SECURE_MESSAGE_RES_IN:
      return kletsen_body_get_string (body, "publicKey") != NULL;
    default:
      return FALSE;
    }
}

static void
handle_login_reply (KletsenSession *self,
                    JsonObject     *body)
{
  int code = _kletsen_session_reply_code (body);
  GTask *task = g_steal_pointer (&self->connect_task);

  if (code != 0)
    {
      _kletsen_session_set_last_error (self, kletsen_code_describe (code));
      if (task != NULL)
        {
          /* A first login that the server refuses is final. */
          self->want_online = FALSE;
          g_task_return_error (task, reply_error (code));
          g_object_unref (task);
        }
      _kletsen_session_connection_lost (self, NULL);
      return;
    }

  g_clear_handle_id (&self->login_timeout_id, g_source_remove);
  self->online_since = g_get_monotonic_time ();
  self->was_online = TRUE;
  _kletsen_session_set_last_error (self, NULL);
  if (self->disconnect_reason != 0)
    {
      /* The last DSCN belongs to the connection before this one. */
      self->disconnect_reason = 0;
      g_object_notify_by_pspec (G_OBJECT (self), _kletsen_session_properties[PROP_DISCONNECT_REASON]);
    }
  _kletsen_session_open_history (self);
  _kletsen_session_set_state (self, KLETSEN_SESSION_ONLINE);
  _kletsen_session_send_request (self, "LIST_USERS_REQ", NULL, PENDING_PLAIN, NULL);
  if (task != NULL)
    {
      g_task_return_boolean (task, TRUE);
      g_object_unref (task);
    }
}

/* UNKNOWN_COMMAND or PARSE_ERROR: the server did not take the oldest
 * request still waiting (it speaks another version of the protocol, or
 * lacks that part). That request fails with "not supported" instead of
 * waiting forever. */
static void
refused_by_server (KletsenSession *self)
{
  Pending *p;

  if (self->state == KLETSEN_SESSION_LOGGING_IN && self->login_sent)
    {
      GTask *task = g_steal_pointer (&self->connect_task);
      g_autoptr(GError) error = g_error_new_literal (KLETSEN_SESSION_ERROR, KLETSEN_SESSION_ERROR_NOT_SUPPORTED,
                                                     _("The server does not understand this client’s login; "
                                                       "it may speak another version of the protocol"));

      _kletsen_session_set_last_error (self, error->message);
      self->want_online = FALSE;
      if (task != NULL)
        {
          g_task_return_error (task, g_steal_pointer (&error));
          g_object_unref (task);
        }
      _kletsen_session_connection_lost (self, NULL);
      return;
    }
  if (self->state != KLETSEN_SESSION_ONLINE)
    return;

  p = g_queue_pop_head (&self->pending);
  if (p == NULL)
    {
      g_debug ("UNKNOWN_COMMAND or PARSE_ERROR for no request");
      return;
    }
  if (p->kind != PENDING_BARRIER)
    {
      if (p->peer != NULL)
        {
          g_autofree char *key = fold (p->peer);

          _kletsen_session_fail_secure_queue (self, key, reply_error (CODE_NOT_SUPPORTED));
        }
      complete (self, p, CODE_NOT_SUPPORTED, NULL);
    }
  _kletsen_session_pending_free (p);
}

gboolean
_kletsen_session_line_cb (char     *line,
                          gsize     len,
                          gpointer  user_data)
{
  KletsenSession *self = user_data;
  const KletsenMessageInfo *info;
  g_autoptr(JsonObject) body = NULL;
  KletsenParseStatus status;

  status = kletsen_message_parse (line, len, KLETSEN_TO_CLIENT, &info, &body);

  /* Any WELCOME will do, whatever its body: it only says the server is
   * ready (accepted for compatibility). */
  if (info != NULL && info->type == KLETSEN_MSG_WELCOME && self->state == KLETSEN_SESSION_LOGGING_IN)
    {
      g_autoptr(JsonObject) login = NULL;

      if (self->login_sent)
        return TRUE;
      login = json_object_new ();
      json_object_set_string_member (login, "username", self->username);
      _kletsen_session_send_line (self, "LOGIN", login);
      self->login_sent = TRUE;
      return TRUE;
    }
  if (info != NULL && (info->type == KLETSEN_MSG_UNKNOWN_COMMAND || info->type == KLETSEN_MSG_PARSE_ERROR))
    {
      refused_by_server (self);
      return self->connection != NULL;
    }

  if (status != KLETSEN_PARSE_OK)
    {
      /* A reply that cannot be read still answers its request, as a
       * failure: otherwise every later reply would be taken for the one
       * before it. Anything else unreadable is dropped. */
      if (info != NULL && self->state == KLETSEN_SESSION_ONLINE && is_reply_header (info->header))
        {
          g_autoptr(JsonObject) failed = json_object_new ();

          json_object_set_string_member (failed, "status", "ERROR");
          handle_reply (self, info->header, failed);
        }
      else if (info != NULL && info->type == KLETSEN_MSG_LOGIN_RESP && self->state == KLETSEN_SESSION_LOGGING_IN)
        {
          g_autoptr(JsonObject) failed = json_object_new ();

          json_object_set_string_member (failed, "status", "ERROR");
          handle_login_reply (self, failed);
        }
      else
        g_debug ("ignoring a line the protocol does not know: %.80s", line);
      return self->connection != NULL;
    }

  if (self->state == KLETSEN_SESSION_LOGGING_IN)
    {
      if (info->type == KLETSEN_MSG_LOGIN_RESP)
        {
          handle_login_reply (self, body);
          return self->connection != NULL;
        }
    }

  if (info->type == KLETSEN_MSG_LIST_USERS_RESP && _kletsen_session_reply_code (body) == 0)
    _kletsen_session_users_listed (self, kletsen_body_get_array (body, "users"));

  if (is_reply_header (info->header) && !is_announcement (info, body))
    handle_reply (self, info->header, body);
  else
    _kletsen_session_handle_unsolicited (self, info, body);

  return self->connection != NULL;
}
