/* kletsen-stream.c
 *
 * Copyright 2026 The Kletsen authors
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

/* The two KletsenStreams: the socket itself for clear-text chat
 * connections, and GnuTLS over it (kletsen-tls.c). */

#include "config.h"

#include <errno.h>
#include <sys/socket.h>
#include <unistd.h>

#include "kletsen-server-private.h"

static gssize
socket_read (KletsenConnection *conn,
             char              *buffer,
             gsize              size)
{
  gssize n;

  do
    n = recv (conn->fd, buffer, size, MSG_DONTWAIT);
  while (n < 0 && errno == EINTR);
  return n;
}

static gssize
socket_writev (KletsenConnection *conn,
               struct iovec      *iov,
               guint              n)
{
  struct msghdr msg = { 0 };

  msg.msg_iov = iov;
  msg.msg_iovlen = n;
  return sendmsg (conn->fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
}

static void
socket_close (KletsenConnection *conn)
{
  if (conn->fd >= 0)
    close (conn->fd);
  conn->fd = -1;
}

const KletsenStream _kletsen_stream_socket = {
  .name = "socket",
  .read = socket_read,
  .writev = socket_writev,
  .close = socket_close,
  .gather = TRUE,
  .short_write_is_full = TRUE,
  .read_rounds = 1,
  .may_hold_bytes = FALSE,
};

static gssize
tls_read (KletsenConnection *conn,
          char              *buffer,
          gsize              size)
{
  return _kletsen_tls_read (conn->tls, buffer, size);
}

static gssize
tls_writev (KletsenConnection *conn,
            struct iovec      *iov,
            guint              n)
{
  return _kletsen_tls_writev (conn->tls, iov, n);
}

static void
tls_close (KletsenConnection *conn)
{
  g_clear_pointer (&conn->tls, _kletsen_tls_free);
  socket_close (conn);
}

const KletsenStream _kletsen_stream_tls = {
  .name = "tls",
  .read = tls_read,
  .writev = tls_writev,
  .close = tls_close,
  .gather = FALSE,
  .short_write_is_full = FALSE,
  .read_rounds = 16,
  .may_hold_bytes = TRUE,
};
