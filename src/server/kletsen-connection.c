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

gboolean
_kletsen_connection_is_open (KletsenConnection *conn)
{
  return conn->state == CONN_OPEN;
}

/* Starts reading: at once for clear text, after the handshake for TLS. */
static void
watch_start (KletsenConnection *conn)
{
  conn->server->poller->watch (conn);
}

static void
watch_stop (KletsenConnection *conn)
{
  _kletsen_output_backlog_leave (conn);
  conn->server->poller->unwatch (conn);
}

/* A TLS connection holds decrypted bytes no socket event will announce. */
static void
watch_tls_pending (KletsenConnection *conn)
{
  conn->tls_more = TRUE;
  conn->server->poller->wake (conn);
}

static gboolean
handshake_timeout_cb (gpointer user_data)
{
  KletsenConnection *conn = user_data;

  g_clear_pointer (&conn->handshake_timeout, g_source_unref);
  _kletsen_connection_abort (conn, "TLS handshake did not finish in time");
  return G_SOURCE_REMOVE;
}

/* While handshaking, G_IO_OUT is watched only when GnuTLS waits to write;
 * the output queue is empty until the WELCOME. */
static void
handshake_watch_output (KletsenConnection *conn,
                        gboolean           want)
{
  want = want != FALSE; /* want_out is one bit */
  if (conn->want_out == (guint)want)
    return;
  conn->want_out = want;
  conn->server->poller->set_output (conn);
}

/* One step of the handshake, when the socket is ready. */
static void
handshake_step (KletsenConnection *conn)
{
  g_autofree char *why = NULL;

  switch (_kletsen_tls_handshake (conn->tls, &why))
    {
    case KLETSEN_TLS_AGAIN:
      handshake_watch_output (conn, _kletsen_tls_wants_write (conn->tls));
      return;
    case KLETSEN_TLS_FAILED:
      {
        g_autofree char *message = g_strdup_printf ("TLS handshake failed: %s", why);

        _kletsen_connection_abort (conn, message);
        return;
      }
    case KLETSEN_TLS_DONE:
    default:
      break;
    }
  conn->handshaking = FALSE;
  if (conn->handshake_timeout != NULL)
    {
      g_source_destroy (conn->handshake_timeout);
      g_clear_pointer (&conn->handshake_timeout, g_source_unref);
    }
  handshake_watch_output (conn, FALSE);
  if (conn->state == CONN_OPEN)
    _kletsen_server_send_welcome (conn->server, conn);
}

/* A TLS connection speaks only once its handshake is done; a handshake that
 * stalls or fails costs its own slot and nothing else. The handshake runs
 * in steps on this loop as the socket allows (kletsen-tls.h). */
void
_kletsen_connection_start_tls (KletsenConnection *conn)
{
  conn->tls = _kletsen_tls_new (conn->server->tls_context, &conn->server->tls_limits, conn->fd);
  _kletsen_tls_charge_to (conn->tls, &conn->server->queued_total);
  conn->stream = &_kletsen_stream_tls;
  conn->handshaking = TRUE;
  conn->handshake_timeout = g_timeout_source_new (conn->server->options.handshake_timeout_ms);
  g_source_set_callback (conn->handshake_timeout, handshake_timeout_cb, conn, NULL);
  g_source_set_static_name (conn->handshake_timeout, "kletsen-handshake-timeout");
  g_source_attach (conn->handshake_timeout, NULL);
  watch_start (conn);
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
  conn->serial = ++server->conn_serial;
  if (server->cluster != NULL)
    _kletsen_cluster_connection_new (server->cluster, conn);

  /* Reading starts at once for clear text, after the handshake for TLS. */
  if (!tls)
    watch_start (conn);
  return conn;
}

void
_kletsen_connection_free (KletsenConnection *conn)
{
  if (conn->server->cluster != NULL)
    _kletsen_cluster_connection_free (conn->server->cluster, conn);
  _kletsen_backpressure_forget (conn);
  _kletsen_backpressure_release (conn, TRUE);
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
  _kletsen_output_queue_clear (conn);
  kletsen_framer_free (conn->framer);
  g_free (conn->peer);
  g_free (conn->name);
  g_free (conn);
}

GBytes *
_kletsen_connection_dscn_line (int reason)
{
  g_autoptr(JsonObject) body = json_object_new ();

  json_object_set_int_member (body, "reason", reason);
  return kletsen_message_serialize ("DSCN", body);
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
void
_kletsen_connection_drained (KletsenConnection *conn)
{
  conn->state = CONN_LINGERING;
  shutdown (conn->fd, SHUT_WR);
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
      g_autoptr(GBytes) dscn = _kletsen_connection_dscn_line (reason);
      KletsenChunk *line = _kletsen_chunk_new (dscn);

      _kletsen_output_queue_push (conn, line);
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
  _kletsen_output_queue_clear (conn);
  _kletsen_output_backlog_leave (conn);
  _kletsen_server_mark_doomed (conn->server, conn);
}

static gboolean
line_cb (char     *line,
         gsize     len,
         gpointer  user_data)
{
  KletsenConnection *conn = user_data;

  /* Behind a LOGIN whose name the cluster is still claiming. */
  if (G_UNLIKELY (conn->claiming))
    {
      _kletsen_cluster_hold_line (conn->server->cluster, conn, line, len);
      return TRUE;
    }
  /* Nothing after a BYE is read, in a cluster as on one server. */
  return _kletsen_server_handle_line (conn, line, len) && conn->state == CONN_OPEN && !conn->leaving;
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
  if (conn->handshaking)
    {
      handshake_step (conn);
      /* A client may send its LOGIN right behind the handshake. */
      if (conn->handshaking || conn->state != CONN_OPEN)
        return;
      events |= G_IO_IN;
    }
  if (conn->tls_more)
    events |= G_IO_IN;

  if (events & G_IO_OUT)
    _kletsen_connection_flush (conn);
  /* Paused for a receiver that is behind: its bytes wait in its socket. */
  if (conn->read_paused)
    return;
  if (conn->state != CONN_DEAD && (events & (G_IO_IN | G_IO_HUP | G_IO_ERR)))
    connection_read (conn);
}

