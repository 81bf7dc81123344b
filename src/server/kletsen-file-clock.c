/* kletsen-file-clock.c
 *
 * Copyright 2026 The Kletsen authors
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

/* The file port's deadlines under one timer, like the heartbeat's for the
 * chat connections: side-channel connections that owe their header,
 * transfers waiting for an answer or for their halves, and relays that
 * have moved no byte for a while. Each kind has one timeout, so each queue
 * is in deadline order by construction (the relays' by last activity), and
 * arming, cancelling and expiring are O(1). A GSource timer each made
 * every main loop iteration walk them all: 12,000 side-channel sockets made
 * other users' round trips 35 times slower. */

#include "config.h"

#include "kletsen-server-private.h"

static GQueue *
queue_of (KletsenServer  *server,
          KletsenFileDue  kind)
{
  return &server->file_due[kind];
}

static void
rearm (KletsenServer *server)
{
  gint64 ready = -1;

  for (guint kind = 0; kind < KLETSEN_FILE_DUE_KINDS; kind++)
    {
      GList *head = server->file_due[kind].head;

      if (head != NULL)
        {
          KletsenDeadline *due = (KletsenDeadline *)head;

          if (ready < 0 || due->at < ready)
            ready = due->at;
        }
    }
  g_source_set_ready_time (server->file_clock, ready);
}

/**
 * _kletsen_file_clock_set:
 * @due: embedded in its owner; link.data is the owner
 * @timeout_ms: from now
 *
 * (Re)arms @due at the tail of its queue.
 */
void
_kletsen_file_clock_set (KletsenServer   *server,
                         KletsenFileDue   kind,
                         KletsenDeadline *due,
                         int              timeout_ms)
{
  GQueue *queue = queue_of (server, kind);
  gint64 at = g_get_monotonic_time () + (gint64)timeout_ms * 1000;

  if (_kletsen_queue_has (queue, &due->link))
    g_queue_unlink (queue, &due->link);
  /* One timeout per kind: a deadline never goes before the tail's. */
  if (queue->tail != NULL)
    at = MAX (at, ((KletsenDeadline *)queue->tail)->at);
  due->at = at;
  g_queue_push_tail_link (queue, &due->link);
  if (queue->head == &due->link)
    rearm (server);
}

void
_kletsen_file_clock_cancel (KletsenServer   *server,
                            KletsenFileDue   kind,
                            KletsenDeadline *due)
{
  GQueue *queue = queue_of (server, kind);

  /* A ready time left too early only wakes the clock once for nothing. */
  if (_kletsen_queue_has (queue, &due->link))
    g_queue_unlink (queue, &due->link);
}

static gboolean
clock_dispatch (GSource     *source,
                GSourceFunc  callback,
                gpointer     user_data)
{
  KletsenServer *server = ((ServerSource *)source)->server;
  gint64 now = g_get_monotonic_time ();

  for (guint kind = 0; kind < KLETSEN_FILE_DUE_KINDS; kind++)
    {
      GQueue *queue = &server->file_due[kind];
      GList *head;

      while ((head = queue->head) != NULL && ((KletsenDeadline *)head)->at <= now)
        {
          g_queue_unlink (queue, head);
          switch (kind)
            {
            case KLETSEN_FILE_DUE_HEADER:
              _kletsen_side_peer_expired (head->data);
              break;
            case KLETSEN_FILE_DUE_TRANSFER:
              _kletsen_transfer_expired (head->data);
              break;
            case KLETSEN_FILE_DUE_IDLE_RELAY:
            default:
              _kletsen_relay_idle (head->data);
              break;
            }
        }
    }
  rearm (server);
  return G_SOURCE_CONTINUE;
}

static GSourceFuncs clock_funcs = {
  .dispatch = clock_dispatch,
};

void
_kletsen_file_clock_start (KletsenServer *server)
{
  server->file_clock = _kletsen_server_source_new (server, &clock_funcs, "kletsen-file-clock");
  g_source_attach (server->file_clock, NULL);
}

void
_kletsen_file_clock_stop (KletsenServer *server)
{
  if (server->file_clock == NULL)
    return;
  g_source_destroy (server->file_clock);
  g_clear_pointer (&server->file_clock, g_source_unref);
}
