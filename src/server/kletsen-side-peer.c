/* kletsen-side-peer.c
 *
 * Copyright 2026 The Kletsen authors
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

/* Side-channel connections until their 37-byte header is in (and, on the
 * TLS file port, their handshake is done): the caps on how many there are,
 * in all and per address, and the one watch over all of them. On Linux
 * that watch is an epoll set of its own behind one GSource, so a thousand
 * of them cost a main loop iteration nothing; elsewhere (and with
 * KLETSEN_POLL=glib) it is one GSource holding every descriptor. A GSource
 * each made GLib walk them all on every iteration: with 12,000, other
 * users' round trips were 35 times slower. Then the socket goes to its
 * transfer's relay (kletsen-relay.c). */

#include "config.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#ifdef HAVE_EPOLL
#include <sys/epoll.h>
#endif

#include "kletsen-server-private.h"

#define HEADER_LEN KLETSEN_SIDE_HEADER_LEN
#define WATCH_EVENTS 256

typedef struct
{
  KletsenServer  *server;
  int             fd;
  gpointer        tag;       /* in the watch, without epoll */
  GList           link;      /* in server->side_peers */
  KletsenDeadline header_due;
  char           *address;   /* counted in server->file_peers_by_address */
  char           *peer;
  KletsenTls     *tls;       /* on the TLS file port */
  gboolean        ready;     /* clear text, or the handshake is done */
  gboolean        watched;   /* in the watch */
  gboolean        gone;      /* freed once the watch's dispatch is over */
  guint           got;
  guint           want;      /* HEADER_LEN, or with the role's secret behind it */
  char            header[HEADER_LEN + KLETSEN_ROLE_SECRET_LEN + 1];
} SidePeer;

typedef struct
{
  GSource        base;
  KletsenServer *server;
  int            epoll_fd;   /* -1: every descriptor is in this source */
  gpointer       epoll_tag;
  gboolean       dispatching;
  GPtrArray     *gone;       /* freed at the end of the dispatch */
} SideWatch;

/* ---- side-channel sockets per source address ---- */

/* Counts a new side-channel socket of its address; NULL (and nothing
 * counted) when that address has its share already. */
static char *
file_peer_enter (KletsenServer *server,
                 int            fd)
{
  g_autofree char *address = _kletsen_describe_address (fd);

  if (!_kletsen_address_take (server->file_peers_by_address, address,
                              (guint)server->options.max_file_connections_per_address, NULL))
    return NULL;
  return g_steal_pointer (&address);
}

/* A socket counted by file_peer_enter() is closed; clears *@address. */
void
_kletsen_file_peer_leave (KletsenServer  *server,
                          char          **address)
{
  if (*address == NULL)
    return;
  _kletsen_address_give_back (server->file_peers_by_address, *address);
  g_clear_pointer (address, g_free);
}

/* ---- the watch ---- */

static void side_peer_ready (SidePeer *peer);

static SideWatch *
watch_of (KletsenServer *server)
{
  return (SideWatch *)server->side_watch;
}

static void
watch_add (SidePeer *peer)
{
  SideWatch *watch = watch_of (peer->server);

  peer->watched = TRUE;
#ifdef HAVE_EPOLL
  if (watch->epoll_fd >= 0)
    {
      struct epoll_event ev = { .events = EPOLLIN, .data.ptr = peer };

      /* Should it fail, the header timeout ends the connection. */
      epoll_ctl (watch->epoll_fd, EPOLL_CTL_ADD, peer->fd, &ev);
      return;
    }
#endif
  peer->tag = g_source_add_unix_fd ((GSource *)watch, peer->fd, G_IO_IN | G_IO_HUP | G_IO_ERR);
}

/* A handshake that waits to write watches G_IO_OUT too. */
static void
watch_set_output (SidePeer *peer,
                  gboolean  out)
{
  SideWatch *watch = watch_of (peer->server);

#ifdef HAVE_EPOLL
  if (watch->epoll_fd >= 0)
    {
      struct epoll_event ev = { .events = EPOLLIN | (out ? EPOLLOUT : 0), .data.ptr = peer };

      epoll_ctl (watch->epoll_fd, EPOLL_CTL_MOD, peer->fd, &ev);
      return;
    }
#endif
  g_source_modify_unix_fd ((GSource *)watch, peer->tag, G_IO_IN | G_IO_HUP | G_IO_ERR | (out ? G_IO_OUT : 0));
}

static void
watch_remove (SidePeer *peer)
{
  SideWatch *watch = watch_of (peer->server);

  if (!peer->watched)
    return;
  peer->watched = FALSE;
#ifdef HAVE_EPOLL
  if (watch->epoll_fd >= 0)
    {
      epoll_ctl (watch->epoll_fd, EPOLL_CTL_DEL, peer->fd, NULL);
      return;
    }
#endif
  g_source_remove_unix_fd ((GSource *)watch, peer->tag);
  peer->tag = NULL;
}

static void
side_peer_destroy (SidePeer *peer)
{
  g_free (peer->address);
  g_free (peer->peer);
  g_free (peer);
}

static gboolean
watch_dispatch (GSource     *source,
                GSourceFunc  callback,
                gpointer     user_data)
{
  SideWatch *watch = (SideWatch *)source;
  KletsenServer *server = watch->server;

  /* A peer freed here stays allocated (gone) until the end, so that a
   * later event of the same batch never points at freed memory. */
  watch->dispatching = TRUE;
#ifdef HAVE_EPOLL
  if (watch->epoll_fd >= 0)
    {
      struct epoll_event events[WATCH_EVENTS];
      int n;

      do
        n = epoll_wait (watch->epoll_fd, events, WATCH_EVENTS, 0);
      while (n < 0 && errno == EINTR);
      for (int i = 0; i < n; i++)
        {
          SidePeer *peer = events[i].data.ptr;

          if (!peer->gone)
            side_peer_ready (peer);
        }
    }
  else
#endif
    {
      GList *link = server->side_peers.head;

      while (link != NULL)
        {
          SidePeer *peer = link->data;

          link = link->next;
          if (g_source_query_unix_fd (source, peer->tag) != 0)
            side_peer_ready (peer);
        }
    }
  watch->dispatching = FALSE;
  g_ptr_array_set_size (watch->gone, 0);
  return G_SOURCE_CONTINUE;
}

static void
watch_finalize (GSource *source)
{
  SideWatch *watch = (SideWatch *)source;

  if (watch->epoll_fd >= 0)
    close (watch->epoll_fd);
  g_ptr_array_unref (watch->gone);
}

static GSourceFuncs watch_funcs = {
  .dispatch = watch_dispatch,
  .finalize = watch_finalize,
};

/* Sets up the watch, when the first file port opens. */
void
_kletsen_side_peers_start (KletsenServer *server)
{
  SideWatch *watch;

  if (server->side_watch != NULL)
    return;
  watch = (SideWatch *)g_source_new (&watch_funcs, sizeof (SideWatch));
  g_source_set_static_name ((GSource *)watch, "kletsen-side-peers");
  /* Nothing here runs a nested loop; see kletsen-poller-glib.c. */
  g_source_set_can_recurse ((GSource *)watch, TRUE);
  watch->server = server;
  watch->epoll_fd = -1;
  watch->gone = g_ptr_array_new_with_free_func ((GDestroyNotify)side_peer_destroy);
#ifdef HAVE_EPOLL
  /* With the chat sockets' poller (not under KLETSEN_POLL=glib). */
  if (server->epoll_fd >= 0)
    watch->epoll_fd = epoll_create1 (EPOLL_CLOEXEC);
  if (watch->epoll_fd >= 0)
    watch->epoll_tag = g_source_add_unix_fd ((GSource *)watch, watch->epoll_fd, G_IO_IN);
#endif
  server->side_watch = (GSource *)watch;
  g_source_attach (server->side_watch, NULL);
}

/* ---- one side-channel connection ---- */

/* Forgets @peer; closes its socket unless it went to a relay. */
static void
side_peer_free (SidePeer *peer,
                gboolean  close_socket)
{
  KletsenServer *server = peer->server;
  SideWatch *watch = watch_of (server);

  watch_remove (peer);
  g_queue_unlink (&server->side_peers, &peer->link);
  _kletsen_file_clock_cancel (server, KLETSEN_FILE_DUE_HEADER, &peer->header_due);
  g_clear_pointer (&peer->tls, _kletsen_tls_free);
  if (close_socket)
    {
      close (peer->fd);
      _kletsen_file_peer_leave (server, &peer->address);
    }
  peer->gone = TRUE;
  if (watch->dispatching)
    g_ptr_array_add (watch->gone, peer);
  else
    side_peer_destroy (peer);
}

static void
side_peer_reject (SidePeer   *peer,
                  const char *why)
{
  g_info ("%s: side channel closed: %s", peer->peer, why);
  side_peer_free (peer, TRUE);
}

/* The file clock: no complete header in time. */
void
_kletsen_side_peer_expired (gpointer peer)
{
  side_peer_reject (peer, "no complete header in time");
}

/* The transfer and role the 37 bytes name, if any. */
static KletsenTransfer *
header_transfer (SidePeer        *peer,
                 KletsenSideRole *role)
{
  char id[KLETSEN_TRANSFER_ID_LEN + 1];

  if (!kletsen_side_header_parse (peer->header, HEADER_LEN, id, role))
    return NULL;
  return g_hash_table_lookup (peer->server->transfers, id);
}

/* Compares without telling, by its timing, how much of a guess was right. */
static gboolean
secret_matches (const char *given,
                const char *expected)
{
  guchar diff = 0;

  for (guint i = 0; i < KLETSEN_ROLE_SECRET_LEN; i++)
    diff |= (guchar)given[i] ^ (guchar)expected[i];
  return diff == 0;
}

/* Whoever presents a transferId is not yet its user: a role with a secret
 * wants it right behind the header; one without (a client of the original
 * protocol) must come from its user's chat address. */
static const char *
check_role (SidePeer        *peer,
            KletsenTransfer *transfer,
            KletsenSideRole  role)
{
  gboolean up = role == KLETSEN_SIDE_UPLOADER;
  const char *secret = up ? transfer->up_secret : transfer->down_secret;
  const char *address = up ? transfer->up_address : transfer->down_address;

  if (secret != NULL)
    return secret_matches (peer->header + HEADER_LEN, secret) ? NULL : "wrong role secret";
  if (address != NULL && g_strcmp0 (address, peer->address) != 0)
    return "not from its user's address";
  return NULL;
}

/* The header is in: hand the socket to its transfer's relay. */
static void
side_peer_place (SidePeer *peer)
{
  KletsenServer *server = peer->server;
  char id[KLETSEN_TRANSFER_ID_LEN + 1];
  KletsenSideRole role;
  KletsenTransfer *transfer;
  const char *why = NULL;

  if (!kletsen_side_header_parse (peer->header, HEADER_LEN, id, &role))
    {
      side_peer_reject (peer, "malformed header");
      return;
    }
  transfer = g_hash_table_lookup (server->transfers, id);
  if (transfer == NULL)
    {
      side_peer_reject (peer, "unknown transfer");
      return;
    }
  if (transfer->state == TRANSFER_OFFERED)
    {
      side_peer_reject (peer, "transfer not accepted");
      return;
    }
  if ((why = check_role (peer, transfer, role)) != NULL)
    {
      side_peer_reject (peer, why);
      return;
    }
  /* Out of this watch first: the relay watches the socket from now on. */
  watch_remove (peer);
  /* The downloader's half of a transfer another node owns goes there. */
  if (transfer->forward_to != NULL)
    {
      if (!_kletsen_relay_forward_half (server, transfer, peer->fd, peer->tls, peer->peer, peer->address,
                                        peer->header, peer->got))
        {
          side_peer_reject (peer, "cannot reach the node that owns the transfer");
          return;
        }
      peer->fd = -1;
      peer->tls = NULL;
      peer->address = NULL;
      side_peer_free (peer, FALSE);
      return;
    }
  if (!_kletsen_relay_take_half (server, transfer, role, peer->fd, peer->tls, peer->peer, peer->address, &why))
    {
      side_peer_reject (peer, why);
      return;
    }
  peer->tls = NULL;
  peer->address = NULL;
  side_peer_free (peer, FALSE);
}

/* One step of a TLS side channel's handshake; TRUE once it is done. */
static gboolean
side_peer_handshake (SidePeer *peer)
{
  g_autofree char *why = NULL;

  switch (_kletsen_tls_handshake (peer->tls, &why))
    {
    case KLETSEN_TLS_AGAIN:
      watch_set_output (peer, _kletsen_tls_wants_write (peer->tls));
      return FALSE;
    case KLETSEN_TLS_FAILED:
      {
        g_autofree char *message = g_strdup_printf ("TLS handshake failed: %s", why);

        side_peer_reject (peer, message);
        return FALSE;
      }
    case KLETSEN_TLS_DONE:
    default:
      watch_set_output (peer, FALSE);
      peer->ready = TRUE;
      return TRUE;
    }
}

/* The socket is ready: the handshake, then exactly the header. What follows
 * is file data and stays in the socket (or in the TLS session, which the
 * relay reads next); TLS may return the header in pieces. */
static void
side_peer_ready (SidePeer *peer)
{
  if (!peer->ready && !side_peer_handshake (peer))
    return;

  if (peer->want == 0)
    peer->want = HEADER_LEN;
  while (peer->got < peer->want)
    {
      gssize n;

      if (peer->tls != NULL)
        n = _kletsen_tls_read (peer->tls, peer->header + peer->got, peer->want - peer->got);
      else
        n = recv (peer->fd, peer->header + peer->got, peer->want - peer->got, MSG_DONTWAIT);
      if (n > 0)
        {
          KletsenSideRole role;
          KletsenTransfer *transfer;

          peer->got += n;
          /* A role with a secret: read that too, and not a byte more. */
          if (peer->got == HEADER_LEN && peer->want == HEADER_LEN &&
              (transfer = header_transfer (peer, &role)) != NULL &&
              (role == KLETSEN_SIDE_UPLOADER ? transfer->up_secret : transfer->down_secret) != NULL)
            peer->want = HEADER_LEN + KLETSEN_ROLE_SECRET_LEN;
          continue;
        }
      if (n == 0)
        side_peer_reject (peer, "incomplete header");
      else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
        side_peer_reject (peer, g_strerror (errno));
      return;
    }
  side_peer_place (peer);
}

/* ---- accepting ---- */

static void
accept_side_peers (KletsenServer *server,
                   GSocket       *listener,
                   gboolean       tls)
{
  for (guint i = 0; i < 64; i++)
    {
      int fd = _kletsen_server_accept (server, g_socket_get_fd (listener), FALSE);
      char *address = NULL;
      SidePeer *peer;

      if (fd == -1)
        break;
      if (fd < 0)
        continue;

      /* Caps: connections still owing their header, in all, and every
       * side-channel socket from one address (headers and relays). */
      if (server->side_peers.length >= (guint)server->options.max_side_channels ||
          (address = file_peer_enter (server, fd)) == NULL)
        {
          g_autofree char *who = _kletsen_describe_peer (fd, tls ? "tls-file:" : "file:");

          g_info ("%s: side channel refused: %s", who,
                  server->side_peers.length >= (guint)server->options.max_side_channels
                    ? "too many waiting for their header" : "too many from this address");
          close (fd);
          continue;
        }

      peer = g_new0 (SidePeer, 1);
      peer->server = server;
      peer->fd = fd;
      peer->address = address;
      peer->peer = _kletsen_describe_peer (fd, tls ? "tls-file:" : "file:");
      /* The header timeout covers the TLS handshake too. */
      peer->header_due.link.data = peer;
      _kletsen_file_clock_set (server, KLETSEN_FILE_DUE_HEADER, &peer->header_due, server->options.header_timeout_ms);
      peer->link.data = peer;
      g_queue_push_tail_link (&server->side_peers, &peer->link);
      /* The handshake runs in steps on this loop (kletsen-tls.h). */
      if (tls)
        peer->tls = _kletsen_tls_new (server->tls_context, &server->tls_limits, fd);
      else
        peer->ready = TRUE;
      watch_add (peer);
    }
}

gboolean
_kletsen_side_peers_accept_cb (GSocket      *socket,
                               GIOCondition  condition,
                               gpointer      user_data)
{
  accept_side_peers (user_data, socket, FALSE);
  return G_SOURCE_CONTINUE;
}

gboolean
_kletsen_side_peers_accept_tls_cb (GSocket      *socket,
                                   GIOCondition  condition,
                                   gpointer      user_data)
{
  accept_side_peers (user_data, socket, TRUE);
  return G_SOURCE_CONTINUE;
}

/* Closes every side-channel connection still owing its header. */
void
_kletsen_side_peers_stop (KletsenServer *server)
{
  while (server->side_peers.head != NULL)
    side_peer_free (server->side_peers.head->data, TRUE);
  if (server->side_watch != NULL)
    {
      g_source_destroy (server->side_watch);
      g_clear_pointer (&server->side_watch, g_source_unref);
    }
}
