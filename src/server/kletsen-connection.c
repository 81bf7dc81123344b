/* kletsen-connection.c
 *
 * Copyright 2026 The Kletsen authors
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

/* One client socket: reading lines into the handlers, a bounded queue of
 * outgoing lines, and the ways a connection ends.
 *
 * The socket is used through its file descriptor rather than a GSocket: on a
 * non-blocking socket GSocket reports every EAGAIN as a freshly allocated
 * GError, and a server under load meets EAGAIN on nearly every write and
 * read. On Linux the server's epoll set watches the descriptor (see
 * kletsen-server.c); elsewhere one GSource per socket does. G_IO_OUT is only
 * watched while the kernel refuses more output. */

#include "config.h"

#include <errno.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <string.h>
#include <unistd.h>

#include "kletsen-server-private.h"

/* How many lines one sendmsg() hands the kernel at most: Linux's limit. With
 * 64, a busy receiver's flush took several calls, and every extra call costs
 * the reader a wake-up, a recv() and an ACK too. */
#define MAX_IOV 1024

/* Lines up to this size are gathered into one buffer of GATHER_BYTES (a
 * loopback segment) before the call; see build_iov(). */
#define GATHER_LINE_MAX 2048

gboolean
_kletsen_connection_is_open (KletsenConnection *conn)
{
  return conn->state == CONN_OPEN;
}


static void
backlog_leave (KletsenConnection *conn)
{
  if (_kletsen_queue_has (&conn->server->backlogged, &conn->backlog_link))
    g_queue_unlink (&conn->server->backlogged, &conn->backlog_link);
}

/* Starts reading: at once for clear text, after the handshake for TLS. */
static void
watch_start (KletsenConnection *conn)
{
  conn->server->poller->watch (conn);
}

static void
watch_output (KletsenConnection *conn,
              gboolean           want)
{
  if (conn->want_out == want)
    return;
  conn->want_out = want;
  /* The server keeps the connections the kernel refuses output to. */
  if (want)
    g_queue_push_tail_link (&conn->server->backlogged, &conn->backlog_link);
  else
    backlog_leave (conn);
  conn->server->poller->set_output (conn);
}

static void
watch_stop (KletsenConnection *conn)
{
  backlog_leave (conn);
  conn->server->poller->unwatch (conn);
}

/* A TLS connection holds decrypted bytes no socket event will announce. */
static void
watch_tls_pending (KletsenConnection *conn)
{
  conn->tls_more = TRUE;
  conn->server->poller->wake (conn);
}

static void
handshake_done_cb (GObject      *object,
                   GAsyncResult *result,
                   gpointer      user_data)
{
  KletsenConnection *conn = user_data;
  g_autoptr(GError) error = NULL;
  gboolean ok = g_tls_connection_handshake_finish (G_TLS_CONNECTION (object), result, &error);

  /* A connection torn down meanwhile cancelled us first. */
  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;
  if (conn->handshake_timeout != NULL)
    {
      g_source_destroy (conn->handshake_timeout);
      g_clear_pointer (&conn->handshake_timeout, g_source_unref);
    }
  if (!ok)
    {
      g_autofree char *why = g_strdup_printf ("TLS handshake failed: %s", error->message);

      _kletsen_connection_abort (conn, why);
      return;
    }
  if (conn->state != CONN_OPEN)
    return;
  watch_start (conn);
  _kletsen_server_send_welcome (conn->server, conn);
}

static gboolean
handshake_timeout_cb (gpointer user_data)
{
  KletsenConnection *conn = user_data;

  g_clear_pointer (&conn->handshake_timeout, g_source_unref);
  _kletsen_connection_abort (conn, "TLS handshake did not finish in time");
  return G_SOURCE_REMOVE;
}

/* A TLS connection speaks only once its handshake is done; a handshake that
 * stalls or fails costs its own slot and nothing else. */
gboolean
_kletsen_connection_start_tls (KletsenConnection *conn)
{
  g_autoptr(GError) error = NULL;

  conn->tls = _kletsen_tls_wrap (conn->server, conn->fd, &error);
  if (conn->tls != NULL)
    conn->stream = &_kletsen_stream_tls;
  if (conn->tls == NULL)
    {
      conn->fd = -1;
      conn_log (conn, G_LOG_LEVEL_INFO, "TLS failed: %s", error->message);
      return FALSE;
    }
  conn->handshake_timeout = g_timeout_source_new (conn->server->options.handshake_timeout_ms);
  g_source_set_callback (conn->handshake_timeout, handshake_timeout_cb, conn, NULL);
  g_source_set_static_name (conn->handshake_timeout, "kletsen-handshake-timeout");
  g_source_attach (conn->handshake_timeout, NULL);
  conn->handshake = g_cancellable_new ();
  g_tls_connection_handshake_async (conn->tls, G_PRIORITY_DEFAULT, conn->handshake, handshake_done_cb, conn);
  return TRUE;
}

KletsenConnection *
_kletsen_connection_new (KletsenServer *server,
                         int            fd,
                         const char    *peer,
                         gboolean       tls)
{
  KletsenConnection *conn = g_new0 (KletsenConnection, 1);

  conn->server = server;
  conn->fd = fd;
  conn->stream = &_kletsen_stream_socket;
  conn->peer = g_strdup (peer);
  conn->framer = kletsen_framer_new (server->options.max_line);
  conn->ping_link.data = conn;
  conn->pong_link.data = conn;
  conn->dirty_link.data = conn;
  conn->all_link.data = conn;
  conn->login_link.data = conn;
  conn->backlog_link.data = conn;
  conn->tokens = server->options.rate_limit * 2;
  conn->rate_stamp = g_get_monotonic_time ();

  /* Reading starts at once for clear text, after the handshake for TLS. */
  if (!tls)
    watch_start (conn);
  return conn;
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

static void
queue_clear (KletsenConnection *conn)
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

void
_kletsen_connection_free (KletsenConnection *conn)
{
  if (conn->handshake != NULL)
    {
      g_cancellable_cancel (conn->handshake);
      g_clear_object (&conn->handshake);
    }
  if (conn->handshake_timeout != NULL)
    {
      g_source_destroy (conn->handshake_timeout);
      g_clear_pointer (&conn->handshake_timeout, g_source_unref);
    }
  watch_stop (conn);
  if (conn->linger_source != NULL)
    {
      g_source_destroy (conn->linger_source);
      g_clear_pointer (&conn->linger_source, g_source_unref);
    }
  if (conn->reset)
    {
      /* A peer that does not read would otherwise keep the kernel sending
       * what its buffers hold, for minutes, after we close. */
      struct linger hard = { 1, 0 };

      setsockopt (conn->fd, SOL_SOCKET, SO_LINGER, &hard, sizeof hard);
    }
  conn->stream->close (conn);
  queue_clear (conn);
  kletsen_framer_free (conn->framer);
  g_free (conn->peer);
  g_free (conn->name);
  g_free (conn);
}

static GBytes *
dscn_line (int reason)
{
  g_autoptr(JsonObject) body = json_object_new ();

  json_object_set_int_member (body, "reason", reason);
  return kletsen_message_serialize ("DSCN", body);
}

/* Takes a new reference to @line. */
static inline void
queue_push (KletsenConnection *conn,
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

  queue_push (conn, line);
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

  queue_push (conn, line);
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
  g_autoptr(GBytes) dscn = dscn_line (KLETSEN_CODE_QUEUE_OVERFLOW);

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

static gboolean
linger_timeout_cb (gpointer user_data)
{
  KletsenConnection *conn = user_data;

  /* A peer that is not reading would keep the kernel busy for minutes after a
   * plain close. At shutdown a plain close is better: the process is going
   * anyway, and a reset could destroy the DSCN the peer has not read yet. */
  conn->reset = !conn->server->shutting_down;
  _kletsen_connection_abort (conn, "did not finish closing in time");
  return G_SOURCE_REMOVE;
}

static void
start_linger_timer (KletsenConnection *conn)
{
  if (conn->linger_source != NULL)
    return;
  conn->linger_source = g_timeout_source_new (conn->server->options.linger_ms);
  g_source_set_callback (conn->linger_source, linger_timeout_cb, conn, NULL);
  g_source_set_static_name (conn->linger_source, "kletsen-linger");
  g_source_attach (conn->linger_source, NULL);
}

/* Called when the queue of a draining connection is empty: half-close, then
 * wait for the peer to close its side, so that bytes it is still sending do not
 * make our kernel answer with a reset that could destroy the last reply. */
static void
drained (KletsenConnection *conn)
{
  conn->state = CONN_LINGERING;
  shutdown (conn->fd, SHUT_WR);
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
          queue_clear (conn);
          _kletsen_connection_abort (conn, g_strerror (errno));
          return;
        }

      conn->q_bytes -= sent;
      conn->server->queued_total -= sent;
      dequeue (conn, sent);

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

  if (conn->state == CONN_DRAINING)
    drained (conn);
}

/**
 * _kletsen_connection_close:
 * @conn: the connection
 * @reason: a DSCN reason, or 0 after BYE_RESP
 *
 * Ends a connection politely: the user leaves at once (others see LEFT), the
 * DSCN (if any) is queued after what is already there, and the socket closes
 * once all of it is written or the linger time runs out.
 */
void
_kletsen_connection_close (KletsenConnection *conn,
                           int                reason)
{
  if (conn->state != CONN_OPEN)
    return;

  _kletsen_server_catch_up (conn->server, conn);
  if (reason != 0)
    {
      g_autoptr(GBytes) dscn = dscn_line (reason);
      KletsenChunk *line = _kletsen_chunk_new (dscn);

      queue_push (conn, line);
      _kletsen_chunk_unref (line);
      conn_log (conn, G_LOG_LEVEL_INFO, "disconnecting: %d %s", reason, kletsen_code_describe (reason));
    }

  conn->state = CONN_DRAINING;
  _kletsen_server_remove_user (conn->server, conn);
  start_linger_timer (conn);
  _kletsen_server_mark_dirty (conn->server, conn);
}

/**
 * _kletsen_connection_abort:
 * @conn: the connection
 * @why: (nullable): a reason for the log
 *
 * Ends a connection now, dropping what was not written. The teardown itself
 * waits for the next flush, so a fan-out loop may abort a receiver safely.
 */
void
_kletsen_connection_abort (KletsenConnection *conn,
                           const char        *why)
{
  if (conn->state == CONN_DEAD)
    return;
  if (why != NULL)
    conn_log (conn, G_LOG_LEVEL_INFO, "closed: %s", why);
  conn->state = CONN_DEAD;
  /* Nothing more will be written: its output no longer counts. */
  queue_clear (conn);
  backlog_leave (conn);
  _kletsen_server_mark_doomed (conn->server, conn);
}

static gboolean
line_cb (char     *line,
         gsize     len,
         gpointer  user_data)
{
  KletsenConnection *conn = user_data;

  return _kletsen_server_handle_line (conn, line, len) && conn->state == CONN_OPEN;
}

/* Reads once from the connection's stream (the socket, or TLS over it). */
static gssize
read_some (KletsenConnection *conn,
           char              *buffer,
           gsize              size)
{
  return conn->stream->read (conn, buffer, size);
}

static void connection_read_once (KletsenConnection *conn);

/* GnuTLS decrypts whole records, so after a read the TLS connection may hold
 * bytes that no longer make the socket readable: read until it says EAGAIN
 * (a few rounds now, the rest on the next iteration). */
static void
connection_read (KletsenConnection *conn)
{
  guint rounds = conn->stream->read_rounds;

  conn->tls_more = FALSE;
  for (guint i = 0; i < rounds && conn->state != CONN_DEAD; i++)
    {
      conn->read_filled = FALSE;
      connection_read_once (conn);
      if (!conn->read_filled)
        return;
    }
  if (conn->stream->may_hold_bytes && conn->read_filled && conn->state != CONN_DEAD)
    {
      watch_tls_pending (conn);
    }
}

static void
connection_read_once (KletsenConnection *conn)
{
  KletsenServer *server = conn->server;
  gssize n = read_some (conn, server->read_buffer, server->read_buffer_size);

  if (n < 0)
    {
      if (errno != EAGAIN && errno != EWOULDBLOCK)
        _kletsen_connection_abort (conn, g_strerror (errno));
      return;
    }
  if (n == 0)
    {
      /* The peer will send no more. Answer what it asked, then close. */
      if (conn->state == CONN_OPEN)
        {
          conn_log (conn, G_LOG_LEVEL_INFO, "connection closed by peer");
          _kletsen_connection_close (conn, 0);
        }
      else
        _kletsen_connection_abort (conn, NULL);
      return;
    }
  conn->read_filled = TRUE;
  if (conn->state != CONN_OPEN)
    return; /* a closing connection discards what still arrives */

  if (kletsen_framer_feed (conn->framer, server->read_buffer, n, line_cb, conn) == KLETSEN_FRAMER_OVER_LIMIT)
    _kletsen_connection_close (conn, KLETSEN_CODE_LINE_TOO_LONG);
}

/**
 * _kletsen_connection_dispatch:
 * @conn: the connection
 * @events: what its socket reported
 *
 * Reads and writes as @events allow.
 */
void
_kletsen_connection_dispatch (KletsenConnection *conn,
                              GIOCondition       events)
{
  if (conn->state == CONN_DEAD)
    return;
  if (conn->tls_more)
    events |= G_IO_IN;

  if (events & G_IO_OUT)
    _kletsen_connection_flush (conn);
  if (conn->state != CONN_DEAD && (events & (G_IO_IN | G_IO_HUP | G_IO_ERR)))
    connection_read (conn);
}

