/* kletsen-relay.c
 *
 * Copyright 2026 The Kletsen authors
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

/* The file side channel (protocol.md §4): each side connects, sends the
 * 36-character transferId and `S` (uploader) or `R` (downloader), and once
 * both halves of an accepted transfer are there the uploader's bytes go to
 * the downloader unchanged until the uploader's EOF.
 *
 * On Linux the bytes move with splice(2) through a pipe of the window's size:
 * they never enter user space, and the pipe is the only buffer. The relay only
 * reads from the uploader while the pipe has room and only writes while it
 * holds data, so a slow downloader slows the uploader down through TCP flow
 * control, and memory does not grow with the file. Elsewhere (or if splice is
 * refused) a buffer of the window's size does the same job with read/write.
 * The connections before their header are kletsen-side-peer.c's. */

#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "kletsen-server-private.h"

/* Rounds of read-and-write per wake-up, so that one fast transfer cannot keep
 * the loop from the chat connections. */
#define PUMP_ROUNDS 16

struct _KletsenRelay
{
  GSource          base;
  KletsenServer   *server;
  KletsenTransfer *transfer;
  int              up_fd;        /* -1 until the uploader is there */
  int              down_fd;
  KletsenTls      *up_tls;       /* set when that half came over TLS */
  KletsenTls      *down_tls;
  gpointer         up_tag;
  gpointer         down_tag;
  char            *up_peer;
  char            *down_peer;
  char            *up_address;   /* counted in server->file_peers_by_address */
  char            *down_address;
  KletsenDeadline  idle_due;     /* no byte moved for --relay-idle-timeout-ms */
  gboolean         attached;
  /* the window: a pipe for splice, else a buffer */
  int              pipe_r;
  int              pipe_w;
  char            *buffer;
  gsize            window;
  gsize            held;         /* bytes in the pipe or buffer */
  gsize            buffer_off;
  gboolean         up_eof;
  gboolean         down_eof;
  guint64          bytes;
  gint64           started;
};

static void
close_fd (int *fd)
{
  if (*fd >= 0)
    close (*fd);
  *fd = -1;
}

/* ---- the relay ---- */

void
_kletsen_relay_free (KletsenRelay *relay)
{
  GSource *source = (GSource *)relay;

  g_clear_pointer (&relay->up_tls, _kletsen_tls_free);
  g_clear_pointer (&relay->down_tls, _kletsen_tls_free);
  close_fd (&relay->up_fd);
  close_fd (&relay->down_fd);
  close_fd (&relay->pipe_r);
  close_fd (&relay->pipe_w);
  g_clear_pointer (&relay->buffer, g_free);
  g_clear_pointer (&relay->up_peer, g_free);
  g_clear_pointer (&relay->down_peer, g_free);
  _kletsen_file_peer_leave (relay->server, &relay->up_address);
  _kletsen_file_peer_leave (relay->server, &relay->down_address);
  _kletsen_file_clock_cancel (relay->server, KLETSEN_FILE_DUE_IDLE_RELAY, &relay->idle_due);
  g_source_destroy (source);
  g_source_unref (source);
}

static void
relay_end (KletsenRelay *relay,
           const char   *why)
{
  KletsenTransfer *transfer = relay->transfer;
  double seconds = MAX ((g_get_monotonic_time () - relay->started) / 1e6, 1e-6);

  g_info ("transfer %s (%s → %s): %s after %" G_GUINT64_FORMAT " of %" G_GINT64_FORMAT " bytes, %.1f MiB/s",
          transfer->tag, transfer->uploader_name, transfer->downloader_name, why,
          relay->bytes, transfer->size, relay->bytes / seconds / (1024 * 1024));
  _kletsen_server_end_transfer (relay->server, transfer);
}

/* The file clock: no byte moved for --relay-idle-timeout-ms. */
void
_kletsen_relay_idle (KletsenRelay *relay)
{
  relay_end (relay, "idle");
}

static void
relay_watch (KletsenRelay *relay)
{
  GSource *source = (GSource *)relay;
  GIOCondition up = G_IO_ERR;
  GIOCondition down = G_IO_ERR;

  if (relay->transfer->state == TRANSFER_RELAYING)
    {
      if (!relay->up_eof && relay->held < relay->window)
        up |= G_IO_IN | G_IO_HUP;
      if (relay->held > 0)
        down |= G_IO_OUT;
      if (!relay->down_eof)
        down |= G_IO_IN;
    }
  else
    {
      /* Waiting for the other half: notice a peer that goes away, but leave
       * what the uploader already sends in its socket. */
      up |= G_IO_HUP;
      down |= G_IO_HUP;
    }

  if (relay->up_tag != NULL)
    g_source_modify_unix_fd (source, relay->up_tag, up);
  if (relay->down_tag != NULL)
    g_source_modify_unix_fd (source, relay->down_tag, down);
}

typedef enum { IO_PROGRESS, IO_AGAIN, IO_EOF, IO_ERROR } IoResult;

static IoResult
io_result (gssize n)
{
  if (n > 0)
    return IO_PROGRESS;
  if (n == 0)
    return IO_EOF;
  if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
    return IO_AGAIN;
  return IO_ERROR;
}

/* Uploader → window. */
static IoResult
fill (KletsenRelay *relay)
{
  gsize room = relay->window - relay->held;
  gssize n;

#ifdef __linux__
  if (relay->pipe_w >= 0)
    n = splice (relay->up_fd, NULL, relay->pipe_w, NULL, room, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
  else
#endif
    {
      /* The buffer is used as a queue that empties before it refills. */
      if (relay->held == 0)
        relay->buffer_off = 0;
      room = relay->window - relay->buffer_off - relay->held;
      if (room == 0)
        return IO_AGAIN;
      if (relay->up_tls != NULL)
        n = _kletsen_tls_read (relay->up_tls, relay->buffer + relay->buffer_off + relay->held, room);
      else
        n = recv (relay->up_fd, relay->buffer + relay->buffer_off + relay->held, room, MSG_DONTWAIT);
    }
  if (n > 0)
    relay->held += n;
  return io_result (n);
}

/* Window → downloader. */
static IoResult
drain (KletsenRelay *relay)
{
  gssize n;

#ifdef __linux__
  if (relay->pipe_r >= 0)
    n = splice (relay->pipe_r, NULL, relay->down_fd, NULL, relay->held, SPLICE_F_MOVE | SPLICE_F_NONBLOCK | (relay->up_eof ? 0 : SPLICE_F_MORE));
  else
#endif
    if (relay->down_tls != NULL)
      {
        struct iovec iov = { relay->buffer + relay->buffer_off, relay->held };

        n = _kletsen_tls_writev (relay->down_tls, &iov, 1);
      }
    else
      n = send (relay->down_fd, relay->buffer + relay->buffer_off, relay->held, MSG_NOSIGNAL | MSG_DONTWAIT);
  if (n > 0)
    {
      relay->held -= n;
      relay->bytes += n;
      if (relay->buffer != NULL)
        relay->buffer_off += n;
    }
  return n == 0 ? IO_AGAIN : io_result (n);
}

/* Reads and drops whatever the downloader sends; it has nothing to say. */
static gboolean
check_downloader (KletsenRelay *relay)
{
  char scratch[512];
  gssize n;

  if (relay->down_tls != NULL)
    n = _kletsen_tls_read (relay->down_tls, scratch, sizeof scratch);
  else
    n = recv (relay->down_fd, scratch, sizeof scratch, MSG_DONTWAIT);

  if (n == 0)
    relay->down_eof = TRUE; /* a half-close; it may still read */
  return io_result (n) != IO_ERROR;
}

static gboolean
relay_dispatch (GSource     *source,
                GSourceFunc  callback,
                gpointer     user_data)
{
  KletsenRelay *relay = (KletsenRelay *)source;
  GIOCondition up = relay->up_tag ? g_source_query_unix_fd (source, relay->up_tag) : 0;
  GIOCondition down = relay->down_tag ? g_source_query_unix_fd (source, relay->down_tag) : 0;

  /* A kick: TLS may hold decrypted bytes that no socket event announces. */
  g_source_set_ready_time (source, -1);

  if (relay->transfer->state != TRANSFER_RELAYING)
    {
      /* A waiting half went away: its role is free again. */
      if (up & (G_IO_HUP | G_IO_ERR))
        {
          g_info ("transfer %s: uploader %s left before the downloader came", relay->transfer->tag, relay->up_peer);
          g_source_remove_unix_fd (source, relay->up_tag);
          relay->up_tag = NULL;
          close_fd (&relay->up_fd);
        }
      if (down & (G_IO_HUP | G_IO_ERR))
        {
          g_info ("transfer %s: downloader %s left before the uploader came", relay->transfer->tag, relay->down_peer);
          g_source_remove_unix_fd (source, relay->down_tag);
          relay->down_tag = NULL;
          close_fd (&relay->down_fd);
        }
      return G_SOURCE_CONTINUE;
    }

  /* HUP means both directions are closed: the downloader can take no more.
   * A downloader that only shuts down its sending side is fine. */
  if ((down & (G_IO_HUP | G_IO_ERR)) ||
      ((down & G_IO_IN) && !relay->down_eof && !check_downloader (relay)))
    {
      relay_end (relay, "the downloader went away");
      return G_SOURCE_CONTINUE;
    }

  for (guint round = 0; round < PUMP_ROUNDS; round++)
    {
      gboolean progress = FALSE;

      if (round == 1)
        _kletsen_file_clock_set (relay->server, KLETSEN_FILE_DUE_IDLE_RELAY, &relay->idle_due,
                                 relay->server->options.relay_idle_timeout_ms);

      if (!relay->up_eof && relay->held < relay->window)
        {
          switch (fill (relay))
            {
            case IO_PROGRESS: progress = TRUE; break;
            case IO_EOF:
              /* Nothing more to read: stop watching, or a closed uploader's
               * HUP would wake us for nothing until the window is drained. */
              relay->up_eof = TRUE;
              g_source_remove_unix_fd (source, relay->up_tag);
              relay->up_tag = NULL;
              break;
            case IO_ERROR:
              relay_end (relay, "the uploader failed");
              return G_SOURCE_CONTINUE;
            case IO_AGAIN: break;
            default: g_assert_not_reached ();
            }
        }
      if (relay->held > 0)
        {
          switch (drain (relay))
            {
            case IO_PROGRESS: progress = TRUE; break;
            case IO_ERROR:
              relay_end (relay, "the downloader went away");
              return G_SOURCE_CONTINUE;
            case IO_EOF:
            case IO_AGAIN: break;
            default: g_assert_not_reached ();
            }
        }
      if (relay->up_eof && relay->held == 0)
        {
          if (relay->down_tls != NULL)
            _kletsen_tls_close_notify (relay->down_tls);
          shutdown (relay->down_fd, SHUT_WR);
          relay_end (relay, "done");
          return G_SOURCE_CONTINUE;
        }
      if (!progress)
        break;
    }

  /* Stopped by the round limit with TLS bytes perhaps still inside: come back. */
  if (relay->up_tls != NULL && !relay->up_eof && relay->held < relay->window)
    g_source_set_ready_time (source, 0);
  relay_watch (relay);
  return G_SOURCE_CONTINUE;
}

static GSourceFuncs relay_funcs = {
  .dispatch = relay_dispatch,
};

static KletsenRelay *
relay_new (KletsenServer   *server,
           KletsenTransfer *transfer)
{
  KletsenRelay *relay = (KletsenRelay *)g_source_new (&relay_funcs, sizeof (KletsenRelay));

  g_source_set_static_name ((GSource *)relay, "kletsen-relay");
  /* As for connections: dispatching a non-recursive source wakes the loop. */
  g_source_set_can_recurse ((GSource *)relay, TRUE);
  relay->server = server;
  relay->transfer = transfer;
  relay->up_fd = relay->down_fd = -1;
  relay->pipe_r = relay->pipe_w = -1;
  relay->window = server->options.relay_window;
  relay->idle_due.link.data = relay;
  return relay;
}

/* Sets up the window once both halves are there. */
static void
relay_start (KletsenRelay *relay)
{
  KletsenTransfer *transfer = relay->transfer;

#ifdef __linux__
  int fds[2];

  /* splice() moves bytes between sockets, which TLS records are not. */
  if (relay->up_tls == NULL && relay->down_tls == NULL &&
      g_getenv ("KLETSEN_RELAY_COPY") == NULL && pipe2 (fds, O_NONBLOCK | O_CLOEXEC) == 0)
    {
      int size;

      relay->pipe_r = fds[0];
      relay->pipe_w = fds[1];
      /* The pipe is the window: never hold more than it takes. */
      fcntl (relay->pipe_w, F_SETPIPE_SZ, (int)relay->window);
      size = fcntl (relay->pipe_w, F_GETPIPE_SZ);
      if (size > 0)
        relay->window = MIN (relay->window, (gsize)size);
    }
#endif
  if (relay->pipe_w < 0)
    relay->buffer = g_malloc (relay->window);
  if (relay->up_tls != NULL)
    _kletsen_tls_set_read_ahead (relay->up_tls, 64 * 1024);

  transfer->state = TRANSFER_RELAYING;
  /* From here on the chat connections no longer matter. */
  transfer->uploader = transfer->downloader = NULL;
  _kletsen_file_clock_cancel (relay->server, KLETSEN_FILE_DUE_TRANSFER, &transfer->expiry);
  _kletsen_file_clock_set (relay->server, KLETSEN_FILE_DUE_IDLE_RELAY, &relay->idle_due,
                           relay->server->options.relay_idle_timeout_ms);
  relay->started = g_get_monotonic_time ();
  g_source_set_ready_time ((GSource *)relay, 0);
  g_info ("transfer %s (%s → %s, %" G_GINT64_FORMAT " bytes): relaying %s → %s",
          transfer->tag, transfer->uploader_name, transfer->downloader_name, transfer->size,
          relay->up_peer, relay->down_peer);
}

/* ---- taking a side-channel connection ---- */

/**
 * _kletsen_relay_take_half:
 * @fd: the socket, which the relay owns from now on if this succeeds
 * @tls: (transfer full) (nullable): its TLS session
 * @peer: for logs
 * @address: (transfer full): its counted address (kletsen-side-peer.c)
 * @why: (out): when it fails, why
 *
 * Gives @transfer's relay its uploader or downloader half; the relay starts
 * once both are there.
 *
 * Returns: %FALSE when that role is taken already (nothing is taken then)
 */
gboolean
_kletsen_relay_take_half (KletsenServer    *server,
                          KletsenTransfer  *transfer,
                          KletsenSideRole   role,
                          int               fd,
                          KletsenTls       *tls,
                          const char       *peer,
                          char             *address,
                          const char      **why)
{
  gboolean up = role == KLETSEN_SIDE_UPLOADER;
  KletsenRelay *relay;

  if (transfer->relay == NULL)
    transfer->relay = relay_new (server, transfer);
  relay = transfer->relay;
  if ((up ? relay->up_fd : relay->down_fd) >= 0)
    {
      *why = up ? "uploader already connected" : "downloader already connected";
      return FALSE;
    }
  if (up)
    {
      relay->up_fd = fd;
      relay->up_tls = tls;
      relay->up_address = address;
      relay->up_peer = g_strdup (peer);
      relay->up_tag = g_source_add_unix_fd ((GSource *)relay, fd, G_IO_HUP | G_IO_ERR);
    }
  else
    {
      relay->down_fd = fd;
      relay->down_tls = tls;
      relay->down_address = address;
      relay->down_peer = g_strdup (peer);
      relay->down_tag = g_source_add_unix_fd ((GSource *)relay, fd, G_IO_HUP | G_IO_ERR);
    }
  if (!relay->attached)
    {
      g_source_attach ((GSource *)relay, NULL);
      relay->attached = TRUE;
    }
  g_info ("%s: side channel for %s as %s", peer, transfer->tag, up ? "uploader" : "downloader");
  if (relay->up_fd >= 0 && relay->down_fd >= 0)
    relay_start (relay);
  relay_watch (relay);
  return TRUE;
}

/**
 * _kletsen_relay_listen:
 * @listener: (out): the bound socket
 * @source: (out): its accept source
 * @tls: whether side-channel peers there speak TLS
 *
 * Opens a file port on the address the chat port is bound to.
 */
gboolean
_kletsen_relay_listen (KletsenServer  *self,
                       GSocket       **listener,
                       GSource       **source,
                       int             port,
                       gboolean        tls,
                       GError        **error)
{
  GSocket *chat = tls ? self->tls_listener : self->listener;
  g_autoptr(GSocketAddress) chat_address = g_socket_get_local_address (chat, error);
  g_autoptr(GSocketAddress) address = NULL;
  GInetAddress *inet;

  if (chat_address == NULL)
    return FALSE;
  inet = g_inet_socket_address_get_address (G_INET_SOCKET_ADDRESS (chat_address));
  address = g_inet_socket_address_new (inet, port);

  *listener = g_socket_new (g_inet_address_get_family (inet), G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP, error);
  if (*listener == NULL)
    return FALSE;
  g_socket_set_listen_backlog (*listener, 1024);
  if (!g_socket_bind (*listener, address, TRUE, error) || !g_socket_listen (*listener, error))
    return FALSE;
  g_socket_set_blocking (*listener, FALSE);

  _kletsen_side_peers_start (self);
  *source = g_socket_create_source (*listener, G_IO_IN, NULL);
  g_source_set_callback (*source, tls ? G_SOURCE_FUNC (_kletsen_side_peers_accept_tls_cb) : G_SOURCE_FUNC (_kletsen_side_peers_accept_cb), self, NULL);
  g_source_set_static_name (*source, tls ? "kletsen-tls-file-listen" : "kletsen-file-listen");
  g_source_attach (*source, NULL);
  return TRUE;
}

/**
 * _kletsen_relay_stop:
 *
 * Closes the file port, every side-channel peer and every transfer.
 */
void
_kletsen_relay_stop (KletsenServer *self)
{
  if (self->file_listen_source != NULL)
    {
      g_source_destroy (self->file_listen_source);
      g_clear_pointer (&self->file_listen_source, g_source_unref);
    }
  if (self->tls_file_listen_source != NULL)
    {
      g_source_destroy (self->tls_file_listen_source);
      g_clear_pointer (&self->tls_file_listen_source, g_source_unref);
    }
  if (self->file_listener != NULL)
    g_socket_close (self->file_listener, NULL);
  if (self->tls_file_listener != NULL)
    g_socket_close (self->tls_file_listener, NULL);
  _kletsen_side_peers_stop (self);
  g_hash_table_remove_all (self->transfers);
}
