/* kletsen-server-output.c
 *
 * Copyright 2026 The Kletsen authors
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

/* The writing half of the server, in one place: every connection's output
 * ring, this iteration's fan-out batch and how it becomes one slice per
 * receiver, the list of connections with output to flush and of those the
 * kernel refuses, the cap on all queues together, and the flush itself
 * (sendmsg of up to 1,024 lines, short ones gathered into one segment).
 * The reading half, and what a connection's state means, stay in
 * kletsen-connection.c; the users and the loop in kletsen-server.c. */

#include "config.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "kletsen-server-private.h"

static gsize
build_iov (KletsenConnection *conn,
           struct iovec      *iov,
           guint             *n_iov,
           char              *gather);

static void
dequeue (KletsenConnection *conn,
         gsize              sent);

static gboolean
flush_check (GSource *source);

static gboolean
flush_dispatch (GSource     *source,
                GSourceFunc  callback,
                gpointer     user_data);

static void
ring_free (KletsenConnection *conn);

static void
watch_output (KletsenConnection *conn,
              gboolean           want);

static void
send_now (KletsenConnection *conn,
          GBytes            *bytes);

static gboolean
flush_pending (KletsenServer *self);

static gboolean
flush_prepare (GSource *source,
               int     *timeout);

/* How many lines one sendmsg() hands the kernel at most: Linux's limit. With
 * 64, a busy receiver's flush took several calls, and every extra call costs
 * the reader a wake-up, a recv() and an ACK too. */
#define MAX_IOV 1024

/* Lines up to this size are gathered into one buffer of GATHER_BYTES (a
 * loopback segment) before the call; see build_iov(). */
#define GATHER_LINE_MAX 2048
void
_kletsen_output_backlog_leave (KletsenConnection *conn)
{
  if (_kletsen_queue_has (&conn->server->backlogged, &conn->backlog_link))
    g_queue_unlink (&conn->server->backlogged, &conn->backlog_link);
}
static void
watch_output (KletsenConnection *conn,
              gboolean           want)
{
  want = want != FALSE; /* want_out is one bit */
  if (conn->want_out == (guint)want)
    return;
  conn->want_out = want;
  /* The server keeps the connections the kernel refuses output to. */
  if (want)
    g_queue_push_tail_link (&conn->server->backlogged, &conn->backlog_link);
  else
    _kletsen_output_backlog_leave (conn);
  conn->server->poller->set_output (conn);
}
/**
 * _kletsen_chunk_new:
 * @bytes: one serialized line
 *
 * Returns: (transfer full): a line holding a reference to @bytes
 */
KletsenChunk *
_kletsen_chunk_new (GBytes *bytes)
{
  return _kletsen_chunk_new_slice (bytes, 0, g_bytes_get_size (bytes));
}
/**
 * _kletsen_chunk_new_slice:
 * @bytes: lines one after the other
 * @offset: where the slice starts
 * @size: its length
 *
 * Returns: (transfer full): a line covering part of @bytes
 */
KletsenChunk *
_kletsen_chunk_new_slice (GBytes *bytes,
                          gsize   offset,
                          gsize   size)
{
  KletsenChunk *line = g_new (KletsenChunk, 1);

  line->refs = 1;
  line->bytes = g_bytes_ref (bytes);
  line->data = (const char *)g_bytes_get_data (bytes, NULL) + offset;
  line->size = size;
  return line;
}
void
_kletsen_chunk_unref (KletsenChunk *line)
{
  if (--line->refs > 0)
    return;
  g_bytes_unref (line->bytes);
  g_free (line);
}
#define RING(conn, i) ((conn)->queue[((conn)->q_head + (i)) & ((conn)->q_cap - 1)])
static void
ring_free (KletsenConnection *conn)
{
  g_clear_pointer (&conn->queue, g_free);
  conn->q_head = conn->q_cap = 0;
}
void
_kletsen_output_queue_clear (KletsenConnection *conn)
{
  while (conn->q_len > 0)
    {
      _kletsen_chunk_unref (RING (conn, 0));
      conn->q_head = (conn->q_head + 1) & (conn->q_cap - 1);
      conn->q_len--;
    }
  ring_free (conn);
  conn->server->queued_total -= conn->q_bytes;
  conn->q_offset = conn->q_bytes = 0;
}
/* A slice of a fan-out block for one receiver. A queue is charged what it
 * holds, so a slice much smaller than its block is copied out: otherwise a
 * sender that never reads, and gets only other people's small lines of
 * each iteration, kept every block alive (283 MiB past a 256 MiB cap while
 * its queue was charged 3 MB). Only senders and latecomers get slices, so
 * the copies are few and small. */
static KletsenChunk *
slice_of (GBytes *block,
          gsize   block_len,
          gsize   offset,
          gsize   size)
{
  g_autoptr(GBytes) copy = NULL;

  if (size * 4 >= block_len)
    return _kletsen_chunk_new_slice (block, offset, size);
  copy = g_bytes_new ((const char *)g_bytes_get_data (block, NULL) + offset, size);
  return _kletsen_chunk_new (copy);
}

/* Takes a new reference to @line. */
void
_kletsen_output_queue_push (KletsenConnection *conn,
                            KletsenChunk       *line)
{
  if (G_UNLIKELY (conn->q_len == conn->q_cap))
    {
      guint cap = MAX (conn->q_cap * 2, 8);
      KletsenChunk **ring = g_new (KletsenChunk *, cap);

      /* Unroll the ring into the new array. */
      for (guint i = 0; i < conn->q_len; i++)
        ring[i] = RING (conn, i);
      g_free (conn->queue);
      conn->queue = ring;
      conn->q_cap = cap;
      conn->q_head = 0;
    }

  line->refs++;
  RING (conn, conn->q_len) = line;
  conn->q_len++;
  conn->q_bytes += line->size;
  conn->server->queued_total += line->size;
}
/* Queues @bytes and flushes what the kernel takes. */
static void
send_now (KletsenConnection *conn,
          GBytes            *bytes)
{
  KletsenChunk *line = _kletsen_chunk_new (bytes);

  _kletsen_output_queue_push (conn, line);
  _kletsen_chunk_unref (line);
  _kletsen_connection_flush (conn);
}
/**
 * _kletsen_connection_send_line:
 * @conn: the receiver
 * @line: the queue takes a reference, so a line meant for many receivers is
 *   serialized once
 *
 * Queues @line for @conn and asks for a flush at the end of this main loop
 * iteration, so everything queued meanwhile leaves in one system call.
 * A receiver whose unsent output passes the cap is disconnected with 7010.
 */
void
_kletsen_connection_send_line (KletsenConnection *conn,
                               KletsenChunk       *line)
{
  KletsenServer *server = conn->server;

  if (conn->state != CONN_OPEN)
    return;

  _kletsen_output_queue_push (conn, line);
  _kletsen_server_mark_dirty (server, conn);

  /* Past its own cap. The cap on all clients together is checked after the
   * flush (see _kletsen_server_flush_all()): within one iteration a fan-out
   * may queue far more than it, for a moment, to readers that keep up. */
  if (G_UNLIKELY ((gint64)conn->q_bytes > server->options.max_queue_bytes))
    _kletsen_connection_overflow (conn);
}
/**
 * _kletsen_connection_overflow:
 * @conn: a connection whose unsent output is past a cap
 *
 * Disconnects @conn with 7010 and frees its queue at once.
 */
void
_kletsen_connection_overflow (KletsenConnection *conn)
{
  /* The DSCN is queued and offered to the kernel once, but a reader that is
   * not reading gets no more time. This may run inside a fan-out loop, so the
   * user leaves (and others see LEFT) only at the teardown. */
  g_autoptr(GBytes) dscn = _kletsen_connection_dscn_line (KLETSEN_CODE_QUEUE_OVERFLOW);

  conn_log (conn, G_LOG_LEVEL_INFO, "%zu bytes of output unread, disconnecting (7010)",
            conn->q_bytes);
  send_now (conn, dscn);
  conn->reset = TRUE;
  _kletsen_connection_abort (conn, NULL);
}
/**
 * _kletsen_connection_send:
 * @conn: the receiver
 * @bytes: one serialized line for @conn alone
 *
 * As _kletsen_connection_send_line().
 */
void
_kletsen_connection_send (KletsenConnection *conn,
                          GBytes            *bytes)
{
  KletsenChunk *line;

  if (conn->state != CONN_OPEN)
    return;
  /* What was fanned out before this line comes before it. */
  _kletsen_server_catch_up (conn->server, conn);
  line = _kletsen_chunk_new (bytes);
  _kletsen_connection_send_line (conn, line);
  _kletsen_chunk_unref (line);
}
void
_kletsen_connection_send_status (KletsenConnection *conn,
                                 const char        *header,
                                 int                code)
{
  g_autoptr(GBytes) line = kletsen_message_build_status (header, code);

  _kletsen_connection_send (conn, line);
}
/* Drops the first @sent bytes of the queue. */
static void
dequeue (KletsenConnection *conn,
         gsize              sent)
{
  while (sent > 0)
    {
      gsize left = RING (conn, 0)->size - conn->q_offset;

      if (sent < left)
        {
          conn->q_offset += sent;
          return;
        }
      sent -= left;
      _kletsen_chunk_unref (RING (conn, 0));
      conn->q_head = (conn->q_head + 1) & (conn->q_cap - 1);
      conn->q_len--;
      conn->q_offset = 0;
    }
}
/* Points @iov at the head of the queue; returns the bytes it covers. Short
 * lines are copied into @gather, one after the other: the kernel copies each
 * iovec on its own, and with lines of 30 bytes (a JOINED) that per-piece cost
 * was a quarter of the server's time in a login storm. Long lines are handed
 * over where they are. */
static gsize
build_iov (KletsenConnection *conn,
           struct iovec      *iov,
           guint             *n_iov,
           char              *gather)
{
  gsize used = 0, total = 0;
  guint n = 0;

  for (guint i = 0; i < conn->q_len && n < MAX_IOV; i++)
    {
      KletsenChunk *line = RING (conn, i);
      const char *data = line->data;
      gsize size = line->size;

      if (i == 0)
        {
          data += conn->q_offset;
          size -= conn->q_offset;
        }
      if (gather != NULL && size <= GATHER_LINE_MAX)
        {
          if (used + size > GATHER_BYTES)
            break;
          memcpy (gather + used, data, size);
          if (n > 0 && (char *)iov[n - 1].iov_base + iov[n - 1].iov_len == gather + used)
            iov[n - 1].iov_len += size;
          else
            iov[n++] = (struct iovec) { gather + used, size };
          used += size;
        }
      else
        iov[n++] = (struct iovec) { (char *)data, size };
      total += size;
    }
  *n_iov = n;
  return total;
}
/**
 * _kletsen_connection_flush:
 *
 * Writes as much of the queue as the kernel takes, many lines per call.
 */
void
_kletsen_connection_flush (KletsenConnection *conn)
{
  while (conn->q_len > 0)
    {
      struct iovec iov[MAX_IOV];
      guint n;
      gsize total;
      gssize sent;

      total = build_iov (conn, iov, &n, conn->stream->gather ? conn->server->write_buffer : NULL);
      sent = conn->stream->writev (conn, iov, n);
      if (sent < 0)
        {
          if (errno == EINTR)
            continue;
          if (errno == EAGAIN || errno == EWOULDBLOCK)
            {
              watch_output (conn, TRUE);
              return;
            }
          _kletsen_output_queue_clear (conn);
          _kletsen_connection_abort (conn, g_strerror (errno));
          return;
        }

      conn->q_bytes -= sent;
      conn->server->queued_total -= sent;
      dequeue (conn, sent);
      _kletsen_backpressure_release (conn, FALSE);

      /* A short write means the socket is full: wait for room rather than
       * ask again only to hear EAGAIN. TLS may have taken less by design. */
      if ((gsize)sent < total && conn->stream->short_write_is_full)
        {
          watch_output (conn, TRUE);
          return;
        }
    }

  /* An idle connection keeps no queue memory. */
  ring_free (conn);
  watch_output (conn, FALSE);
  _kletsen_backpressure_release (conn, FALSE);

  if (conn->state == CONN_DRAINING)
    _kletsen_connection_drained (conn);
}

/* Output queued, a fan-out batch or a dead connection waits for a flush. */
static gboolean
flush_pending (KletsenServer *self)
{
  return self->dirty.length > 0 || self->doomed.length > 0 || self->batch->len > 0;
}
static gboolean
flush_prepare (GSource *source,
               int     *timeout)
{
  KletsenServer *self = ((ServerSource *)source)->server;

  *timeout = -1;
  return flush_pending (self);
}
static gboolean
flush_check (GSource *source)
{
  return flush_pending (((ServerSource *)source)->server);
}
/**
 * _kletsen_server_flush_all:
 *
 * Tears down dead connections and writes every queue filled since the last
 * flush.
 */
void
_kletsen_server_flush_all (KletsenServer *self)
{
  GList *link;

  while ((link = self->doomed.head) != NULL)
    _kletsen_server_teardown (self, link->data);

  _kletsen_output_materialize_batch (self);

  while ((link = g_queue_pop_head_link (&self->dirty)) != NULL)
    {
      KletsenConnection *conn = link->data;

      link->prev = link->next = NULL;
      if (conn->state != CONN_DEAD)
        _kletsen_connection_flush (conn);
    }

  /* What is still queued now is what readers have not taken. Past the cap on
   * all of it, the furthest behind go first, one by one, until the rest fits:
   * readers that keep up are never the ones dropped. */
  while (self->queued_total > self->options.max_total_queue_bytes)
    {
      KletsenConnection *worst = NULL;

      for (link = self->backlogged.head; link != NULL; link = link->next)
        {
          KletsenConnection *conn = link->data;

          if (worst == NULL || conn->q_bytes > worst->q_bytes)
            worst = conn;
        }
      if (worst == NULL)
        break;
      _kletsen_connection_overflow (worst);
    }

  _kletsen_server_maybe_finish_shutdown (self);
}
static gboolean
flush_dispatch (GSource     *source,
                GSourceFunc  callback,
                gpointer     user_data)
{
  KletsenServer *self = ((ServerSource *)source)->server;

  g_source_set_ready_time (source, -1);
  _kletsen_server_flush_all (self);
  return G_SOURCE_CONTINUE;
}
GSourceFuncs _kletsen_server_flush_funcs = {
  .prepare = flush_prepare,
  .check = flush_check,
  .dispatch = flush_dispatch,
};
void
_kletsen_server_mark_dirty (KletsenServer     *self,
                            KletsenConnection *conn)
{
  if (!_kletsen_queue_has (&self->dirty, &conn->dirty_link))
    g_queue_push_tail_link (&self->dirty, &conn->dirty_link);
}
/**
 * _kletsen_server_queue_fan_out:
 * @line: serialized once
 * @except: (nullable): the one logged-in user who does not get it
 *
 * Sends @line to every logged-in user but @except.
 *
 * The line joins this iteration's batch rather than every receiver's queue:
 * at the end of the iteration each receiver gets the whole batch as one slice
 * of one buffer (see _kletsen_output_materialize_batch()), so a burst of N lines to M users
 * costs about M queue entries instead of N × M. A line sent to one user alone
 * first queues what that user has not had of the batch (see
 * _kletsen_server_catch_up()), so every user still sees lines in the order
 * they were sent.
 */
void
_kletsen_server_queue_fan_out (KletsenServer     *self,
                               GBytes            *line,
                               KletsenConnection *except)
{
  BatchEntry entry = { _kletsen_chunk_new (line), except, self->batch_block->len };

  g_byte_array_append (self->batch_block, (const guint8 *)entry.line->data, entry.line->size);
  g_array_append_val (self->batch, entry);
}
/**
 * _kletsen_server_catch_up:
 *
 * Queues for @conn the lines of this iteration's batch it has not had yet.
 */
void
_kletsen_server_catch_up (KletsenServer     *self,
                          KletsenConnection *conn)
{
  if (!conn->logged_in)
    return;
  for (guint i = conn->batch_cursor; i < self->batch->len; i++)
    {
      BatchEntry *entry = &g_array_index (self->batch, BatchEntry, i);

      if (entry->except != conn)
        _kletsen_connection_send_line (conn, entry->line);
    }
  conn->batch_cursor = self->batch->len;
}
/* Queues the rest of the batch for every logged-in user, then empties it. */
void
_kletsen_output_materialize_batch (KletsenServer *self)
{
  g_autoptr(GHashTable) excepted = NULL;
  g_autoptr(GPtrArray) senders = g_ptr_array_new ();
  g_autoptr(GBytes) block = NULL;
  KletsenChunk *all;
  gsize block_len;
  guint n = self->batch->len;

  if (n == 0)
    return;

  /* The receivers' queues share the buffer; a new one collects the next batch. */
  block_len = self->batch_block->len;
  block = g_byte_array_free_to_bytes (g_steal_pointer (&self->batch_block));
  self->batch_block = g_byte_array_new ();
  all = _kletsen_chunk_new_slice (block, 0, block_len);
  excepted = g_hash_table_new (NULL, NULL);
  for (guint i = 0; i < n; i++)
    {
      BatchEntry *entry = &g_array_index (self->batch, BatchEntry, i);

      if (entry->except != NULL)
        g_hash_table_add (excepted, entry->except);
    }

  for (guint u = 0; u < self->users->len; u++)
    {
      KletsenConnection *conn = g_ptr_array_index (self->users, u);
      guint start = conn->batch_cursor;
      gboolean sender = g_hash_table_contains (excepted, conn);

      conn->batch_cursor = 0;
      if (start == 0 && !sender)
        {
          _kletsen_connection_send_line (conn, all);
          continue;
        }
      if (sender)
        g_ptr_array_add (senders, conn);
      /* Joined during the iteration, caught up already, or the sender of
       * some of it: the runs of lines it gets, each as one slice. */
      while (start < n)
        {
          BatchEntry *first = &g_array_index (self->batch, BatchEntry, start);
          guint end = start;
          KletsenChunk *slice;
          gsize stop;

          if (first->except == conn)
            {
              start++;
              continue;
            }
          while (end < n && g_array_index (self->batch, BatchEntry, end).except != conn)
            end++;
          stop = end < n ? g_array_index (self->batch, BatchEntry, end).offset : block_len;
          slice = slice_of (block, block_len, first->offset, stop - first->offset);
          _kletsen_connection_send_line (conn, slice);
          _kletsen_chunk_unref (slice);
          start = end;
        }
    }
  _kletsen_chunk_unref (all);

  /* The senders of this batch are written to last, so that what confirms a
   * broadcast (BROADCAST_RESP) leaves after the broadcast itself: a sender
   * waiting for it then sends its next line once the server is done with
   * this one, not while it is still writing to hundreds of others. */
  for (guint i = 0; i < senders->len; i++)
    {
      KletsenConnection *conn = g_ptr_array_index (senders, i);

      if (_kletsen_queue_has (&self->dirty, &conn->dirty_link))
        {
          g_queue_unlink (&self->dirty, &conn->dirty_link);
          g_queue_push_tail_link (&self->dirty, &conn->dirty_link);
        }
    }

  for (guint i = 0; i < n; i++)
    _kletsen_chunk_unref (g_array_index (self->batch, BatchEntry, i).line);
  g_array_set_size (self->batch, 0);
}

/* ---- the owner's life ---- */

void
_kletsen_output_init (KletsenServer *self)
{
  self->batch = g_array_new (FALSE, FALSE, sizeof (BatchEntry));
  self->batch_block = g_byte_array_new ();
  self->write_buffer = g_malloc (GATHER_BYTES);
}

void
_kletsen_output_fini (KletsenServer *self)
{
  for (guint i = 0; self->batch != NULL && i < self->batch->len; i++)
    _kletsen_chunk_unref (g_array_index (self->batch, BatchEntry, i).line);
  g_clear_pointer (&self->batch, g_array_unref);
  g_clear_pointer (&self->batch_block, g_byte_array_unref);
  g_clear_pointer (&self->write_buffer, g_free);
}

/* @conn is about to be freed: it has nothing to flush any more. */
void
_kletsen_output_forget (KletsenServer     *self,
                        KletsenConnection *conn)
{
  if (_kletsen_queue_has (&self->dirty, &conn->dirty_link))
    g_queue_unlink (&self->dirty, &conn->dirty_link);
}

/* A user who logs in now gets only what is fanned out from now on. */
void
_kletsen_output_skip_batch (KletsenServer     *self,
                            KletsenConnection *conn)
{
  conn->batch_cursor = self->batch->len;
}
