/* kletsen-backpressure.c
 *
 * Copyright 2026 The Kletsen authors
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

/* Backpressure for messages to one receiver (private and secure messages).
 * A receiver whose queue passes a quarter of --max-queue-bytes makes the
 * server stop reading from whoever sends it such a message, until the
 * queue is down to an eighth: the sender's own socket fills and it slows
 * down, instead of the receiver being dropped (7010) because someone else
 * writes fast. One sender at 20 % of its rate got a receiver reading
 * 2 MB/s disconnected within 2.3 s. A receiver that stops reading
 * altogether is still dropped: by the PONG it does not send, or by the cap
 * when broadcasts fill its queue. */

#include "config.h"

#include "kletsen-server-private.h"

static gsize
soft_limit (KletsenServer *server)
{
  return (gsize)(server->options.max_queue_bytes / 4);
}

/**
 * _kletsen_connection_set_reading:
 * @reading: %FALSE: @conn's bytes wait in its socket until it is %TRUE again
 *
 * For whatever holds a connection's input back: a receiver that is behind
 * (below), or a login whose name the cluster is still claiming.
 */
void
_kletsen_connection_set_reading (KletsenConnection *conn,
                                 gboolean           reading)
{
  conn->read_paused = !reading;
  if (conn->state == CONN_DEAD)
    return;
  conn->server->poller->set_output (conn);
  /* TLS may hold decrypted bytes that no socket event will announce. */
  if (reading && conn->stream->may_hold_bytes)
    {
      conn->tls_more = TRUE;
      conn->server->poller->wake (conn);
    }
}

static void
pause_reading (KletsenConnection *sender,
               KletsenConnection *receiver)
{
  sender->paused_since = g_get_monotonic_time ();
  sender->paused_on = receiver;
  sender->pause_link.data = sender;
  g_queue_push_tail_link (&receiver->paused_senders, &sender->pause_link);
  _kletsen_connection_set_reading (sender, FALSE);
  conn_log (sender, G_LOG_LEVEL_DEBUG, "not read until %s catches up", receiver->name);
}

static void
resume_reading (KletsenConnection *sender)
{
  g_queue_unlink (&sender->paused_on->paused_senders, &sender->pause_link);
  sender->paused_on = NULL;
  _kletsen_connection_set_reading (sender, TRUE);
}

/**
 * _kletsen_connection_send_to_peer:
 * @sender: who wrote @line
 * @receiver: the one it is for
 *
 * Queues @line for @receiver, and stops reading from @sender while
 * @receiver is behind.
 */
void
_kletsen_connection_send_to_peer (KletsenConnection *sender,
                                  KletsenConnection *receiver,
                                  GBytes            *line)
{
  _kletsen_connection_send (receiver, line);
  if (sender != receiver && !sender->read_paused && receiver->state == CONN_OPEN &&
      receiver->q_bytes > soft_limit (sender->server))
    pause_reading (sender, receiver);
}

/* @receiver's queue shrank (or it is gone): read its senders again once it
 * is down to half the soft limit. */
void
_kletsen_backpressure_release (KletsenConnection *receiver,
                               gboolean           gone)
{
  GList *link;

  if (receiver->paused_senders.length == 0)
    return;
  if (!gone && receiver->q_bytes > soft_limit (receiver->server) / 2)
    return;
  while ((link = receiver->paused_senders.head) != NULL)
    resume_reading (link->data);
}

/* @sender goes away while paused. */
void
_kletsen_backpressure_forget (KletsenConnection *sender)
{
  if (sender->paused_on != NULL)
    resume_reading (sender);
}
