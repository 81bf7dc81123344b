/* kletsen-server-heartbeat.c
 *
 * Copyright 2026 The Kletsen authors
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

/* The heartbeat: one GSource for every connection, over two queues ordered
 * by deadline (the next PING to send, the PONG awaited), so that it wakes
 * only for the earliest and 10,000 clients cost one timer, not 10,000. */

#include "config.h"

#include "kletsen-server-private.h"

/* How many heartbeats a sender paused for a slow receiver may go without
 * its PONG: 130 s at the defaults. */
#define PAUSE_GRACE_BEATS 10

/* ---- the heartbeat ---- */

void
_kletsen_server_heartbeat_rearm (KletsenServer *self)
{
  gint64 ready = -1;
  KletsenConnection *conn;

  if (self->ping_queue.head != NULL)
    {
      conn = self->ping_queue.head->data;
      ready = conn->ping_deadline;
    }
  if (self->pong_queue.head != NULL)
    {
      conn = self->pong_queue.head->data;
      if (ready < 0 || conn->pong_deadline < ready)
        ready = conn->pong_deadline;
    }
  if (self->login_queue.head != NULL)
    {
      conn = self->login_queue.head->data;
      if (ready < 0 || conn->login_deadline < ready)
        ready = conn->login_deadline;
    }
  g_source_set_ready_time (self->heartbeat_source, ready);
}

/* Deadlines only grow along the queue: a new one never goes before the tail. */
void
_kletsen_server_schedule_ping (KletsenServer     *self,
                               KletsenConnection *conn,
                               gint64             deadline)
{
  if (self->ping_queue.tail != NULL)
    deadline = MAX (deadline, ((KletsenConnection *)self->ping_queue.tail->data)->ping_deadline);
  conn->ping_deadline = deadline;
  g_queue_push_tail_link (&self->ping_queue, &conn->ping_link);
}

static void
send_ping (KletsenServer     *self,
           KletsenConnection *conn,
           gint64             now)
{
  /* With a PONG timeout longer than the interval a PING may still wait for
   * its answer; that one's deadline stands. */
  if (conn->ping_outstanding)
    return;

  conn->ping_outstanding = TRUE;
  conn->pong_deadline = now + (gint64)self->options.pong_timeout_ms * 1000;
  g_queue_push_tail_link (&self->pong_queue, &conn->pong_link);
  _kletsen_connection_send (conn, self->ping_line);
}

static gboolean
heartbeat_dispatch (GSource     *source,
                    GSourceFunc  callback,
                    gpointer     user_data)
{
  KletsenServer *self = ((ServerSource *)source)->server;
  gint64 now = g_source_get_time (source);
  gint64 interval = (gint64)self->options.ping_interval_ms * 1000;
  GList *link;

  while ((link = self->pong_queue.head) != NULL &&
         ((KletsenConnection *)link->data)->pong_deadline <= now)
    {
      KletsenConnection *conn = link->data;

      g_queue_unlink (&self->pong_queue, link);
      /* Not read while a receiver catches up: its PONG may be waiting in
       * its socket. It is given the time again (the receiver, if it does
       * not read at all, meets its own PONG timeout), but not for ever:
       * two clients that write to each other and read nothing would hold
       * each other paused. */
      if (conn->read_paused &&
          now - conn->paused_since < PAUSE_GRACE_BEATS * (interval + (gint64)self->options.pong_timeout_ms * 1000))
        {
          conn->pong_deadline = now + (gint64)self->options.pong_timeout_ms * 1000;
          g_queue_push_tail_link (&self->pong_queue, &conn->pong_link);
          continue;
        }
      conn->ping_outstanding = FALSE;
      _kletsen_connection_close (conn, KLETSEN_CODE_PONG_TIMEOUT);
    }

  /* The login deadline is the same for all, so this queue is in order too. */
  while ((link = self->login_queue.head) != NULL &&
         ((KletsenConnection *)link->data)->login_deadline <= now)
    {
      KletsenConnection *conn = link->data;

      g_queue_unlink (&self->login_queue, link);
      _kletsen_connection_close (conn, KLETSEN_CODE_LOGIN_TIMEOUT);
    }

  while ((link = self->ping_queue.head) != NULL &&
         ((KletsenConnection *)link->data)->ping_deadline <= now)
    {
      KletsenConnection *conn = link->data;
      gint64 due = conn->ping_deadline;

      g_queue_unlink (&self->ping_queue, link);
      send_ping (self, conn, now);
      if (conn->state == CONN_OPEN)
        _kletsen_server_schedule_ping (self, conn, due + interval);
    }

  _kletsen_server_heartbeat_rearm (self);
  return G_SOURCE_CONTINUE;
}

GSourceFuncs _kletsen_server_heartbeat_funcs = {
  .dispatch = heartbeat_dispatch,
};

void
_kletsen_server_got_pong (KletsenServer     *self,
                          KletsenConnection *conn)
{
  if (!conn->ping_outstanding)
    {
      g_autoptr(JsonObject) body = json_object_new ();
      g_autoptr(GBytes) line = NULL;

      json_object_set_int_member (body, "code", KLETSEN_CODE_PONG_WITHOUT_PING);
      line = kletsen_message_serialize ("PONG_ERROR", body);
      _kletsen_connection_send (conn, line);
      return;
    }

  conn->ping_outstanding = FALSE;
  g_queue_unlink (&self->pong_queue, &conn->pong_link);
  _kletsen_server_heartbeat_rearm (self);
}
