/* kletsen-server-accept.c
 *
 * Copyright 2026 The Kletsen authors
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

/* Listening and accepting: the listen sockets and their sources, taking
 * connections from the backlog in batches, refusing when full or out of
 * descriptors, and the WELCOME. */

#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include "kletsen-server-private.h"

/* Connections taken from the backlog per wake-up. Each iteration also writes
 * to every logged-in user who got a JOINED line, so when many log in at once
 * the number of logins per iteration sets the batch size: with 64, a storm of
 * 10,000 logins took 160 iterations of ~5,000 small writes each. */
#define ACCEPTS_PER_DISPATCH 1024

/* ---- accepting ---- */

/**
 * _kletsen_describe_peer:
 * @fd: a connected socket
 * @prefix: put before the address, for logs ("file:" for the side channel)
 *
 * Returns: (transfer full): "prefix" plus "address:port", or "[v6]:port"
 */
char *
_kletsen_describe_peer (int         fd,
                        const char *prefix)
{
  struct sockaddr_storage native;
  socklen_t len = sizeof native;
  g_autoptr(GSocketAddress) address = NULL;
  g_autofree char *host = NULL;

  if (getpeername (fd, (struct sockaddr *)&native, &len) != 0)
    return g_strdup ("unknown");
  address = g_socket_address_new_from_native (&native, len);
  if (!G_IS_INET_SOCKET_ADDRESS (address))
    return g_strdup ("unknown");
  host = g_inet_address_to_string (g_inet_socket_address_get_address (G_INET_SOCKET_ADDRESS (address)));
  if (g_socket_address_get_family (address) == G_SOCKET_FAMILY_IPV6)
    return g_strdup_printf ("%s[%s]:%u", prefix, host, g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (address)));
  return g_strdup_printf ("%s%s:%u", prefix, host, g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (address)));
}

/**
 * _kletsen_describe_address:
 * @fd: a connected socket
 *
 * Returns: (transfer full): the peer's address without its port, what one
 *   source is for the per-address caps ("unknown" when there is none)
 */
char *
_kletsen_describe_address (int fd)
{
  struct sockaddr_storage native;
  socklen_t len = sizeof native;
  g_autoptr(GSocketAddress) address = NULL;

  if (getpeername (fd, (struct sockaddr *)&native, &len) != 0)
    return g_strdup ("unknown");
  address = g_socket_address_new_from_native (&native, len);
  if (!G_IS_INET_SOCKET_ADDRESS (address))
    return g_strdup ("unknown");
  return g_inet_address_to_string (g_inet_socket_address_get_address (G_INET_SOCKET_ADDRESS (address)));
}

/**
 * _kletsen_address_take:
 * @counts: address → how many it holds (entries only while above zero)
 * @max: what one address may hold; 0 for no cap
 * @held: (out) (optional): what @address held before
 *
 * Counts one more of something @address holds (a handshake, a side-channel
 * socket), unless it holds @max already.
 *
 * Returns: %TRUE when counted
 */
gboolean
_kletsen_address_take (GHashTable *counts,
                       const char *address,
                       guint       max,
                       guint      *held)
{
  guint n = GPOINTER_TO_UINT (g_hash_table_lookup (counts, address));

  if (held != NULL)
    *held = n;
  if (max > 0 && n >= max)
    return FALSE;
  g_hash_table_insert (counts, g_strdup (address), GUINT_TO_POINTER (n + 1));
  return TRUE;
}

/* Gives back one of what _kletsen_address_take() counted. */
void
_kletsen_address_give_back (GHashTable *counts,
                            const char *address)
{
  guint n = GPOINTER_TO_UINT (g_hash_table_lookup (counts, address));

  if (n <= 1)
    g_hash_table_remove (counts, address);
  else
    g_hash_table_insert (counts, g_strdup (address), GUINT_TO_POINTER (n - 1));
}

static GBytes *
welcome_line (void)
{
  g_autoptr(JsonObject) body = json_object_new ();

  json_object_set_string_member (body, "msg", "Welcome to the server " PACKAGE_VERSION);
  return kletsen_message_serialize ("WELCOME", body);
}

static void
refuse (int fd)
{
  g_autoptr(JsonObject) body = json_object_new ();
  g_autoptr(GBytes) line = NULL;
  gsize len;
  const char *data;

  json_object_set_int_member (body, "reason", KLETSEN_CODE_SERVER_FULL);
  line = kletsen_message_serialize ("DSCN", body);
  data = g_bytes_get_data (line, &len);
  /* A fresh socket's send buffer is empty: this either goes out whole or not at all. */
  if (send (fd, data, len, MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
    g_debug ("could not tell a refused client why: %s", g_strerror (errno));
  close (fd);
}

void
_kletsen_server_send_welcome (KletsenServer     *self,
                              KletsenConnection *conn)
{
  g_autoptr(GBytes) welcome = welcome_line ();

  _kletsen_connection_send (conn, welcome);
}

static void
accept_one (KletsenServer *self,
            int            fd,
            gboolean       tls)
{
  KletsenConnection *conn;
  g_autofree char *peer = _kletsen_describe_peer (fd, tls ? "tls:" : "");
  int one = 1;

  if (self->shutting_down ||
      (int)(self->connections.length + self->doomed.length) >= self->options.max_clients)
    {
      g_info ("%s: refused, %u connections are the most this server takes", peer,
              self->options.max_clients);
      refuse (fd);
      return;
    }

  /* Our own write coalescing decides when bytes leave; Nagle would only add delay. */
  setsockopt (fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);

  conn = _kletsen_connection_new (self, fd, peer, tls);
  g_queue_push_tail_link (&self->connections, &conn->all_link);
  conn->login_deadline = g_get_monotonic_time () + (gint64)self->options.login_timeout_ms * 1000;
  g_queue_push_tail_link (&self->login_queue, &conn->login_link);
  _kletsen_server_heartbeat_rearm (self);
  conn_log (conn, G_LOG_LEVEL_INFO, "connected");

  if (!tls)
    _kletsen_server_send_welcome (self, conn);
  else
    _kletsen_connection_start_tls (conn);
}

/**
 * _kletsen_server_accept:
 * @listen_fd: a listening socket
 * @chat: whether it is a chat port (a refused client gets DSCN 7012)
 *
 * accept4(), for a process that may run out of descriptors. Then the pending
 * connection would stay in the backlog and keep the listener readable, and
 * the loop would spin on EMFILE; instead it is taken with a spare descriptor
 * kept for the purpose, refused and closed.
 *
 * Returns: a new non-blocking socket; -1 when there is nothing (more) to
 *   accept; -2 when a connection was refused for want of descriptors
 */
int
_kletsen_server_accept (KletsenServer *self,
                        int            listen_fd,
                        gboolean       chat)
{
  for (;;)
    {
      int fd = accept4 (listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

      if (fd >= 0)
        return fd;
      if (errno == EINTR || errno == ECONNABORTED)
        continue;
      if ((errno == EMFILE || errno == ENFILE) && self->spare_fd >= 0)
        {
          gint64 now = g_get_monotonic_time ();

          close (self->spare_fd);
          fd = accept4 (listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
          if (fd >= 0)
            {
              if (chat)
                refuse (fd);
              else
                close (fd);
            }
          self->spare_fd = open ("/dev/null", O_RDONLY | O_CLOEXEC);
          self->refused_for_fds++;
          /* Once per ten seconds at most: a flood must not fill the journal. */
          if (now - self->refused_logged_at >= 10 * G_USEC_PER_SEC)
            {
              g_message ("out of descriptors: refusing connections, %u since the last such message "
                         "(raise ulimit -n, or LimitNOFILE= in the service)", self->refused_for_fds);
              self->refused_logged_at = now;
              self->refused_for_fds = 0;
            }
          return fd >= 0 ? -2 : -1;
        }
      if (errno != EAGAIN && errno != EWOULDBLOCK)
        g_message ("accept failed: %s", g_strerror (errno));
      return -1;
    }
}

static gboolean
listen_dispatch (GSource     *source,
                 GSourceFunc  callback,
                 gpointer     user_data)
{
  KletsenServer *self = ((ServerSource *)source)->server;
  int listen_fd = g_socket_get_fd (((ServerSource *)source)->listener);
  gboolean tls = ((ServerSource *)source)->tls;

  for (int i = 0; i < ACCEPTS_PER_DISPATCH; i++)
    {
      int fd = _kletsen_server_accept (self, listen_fd, TRUE);

      if (fd == -1)
        break;
      if (fd >= 0)
        accept_one (self, fd, tls);
    }

  return G_SOURCE_CONTINUE;
}

static GSourceFuncs listen_funcs = {
  .dispatch = listen_dispatch,
};

static GSocket *
listen_on (const char  *bind,
           int          port,
           GError     **error)
{
  g_autoptr(GInetAddress) address = NULL;
  g_autoptr(GSocketAddress) socket_address = NULL;
  g_autoptr(GSocket) socket = NULL;

  address = bind ? g_inet_address_new_from_string (bind)
                 : g_inet_address_new_any (G_SOCKET_FAMILY_IPV6);
  if (address == NULL)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                   "“%s” is not an IP address", bind);
      return NULL;
    }

  socket = g_socket_new (g_inet_address_get_family (address), G_SOCKET_TYPE_STREAM,
                         G_SOCKET_PROTOCOL_TCP, error);
  if (socket == NULL)
    return NULL;
  socket_address = g_inet_socket_address_new (address, port);
  g_socket_set_listen_backlog (socket, 4096);
  if (!g_socket_bind (socket, socket_address, TRUE, error) || !g_socket_listen (socket, error))
    return NULL;
  g_socket_set_blocking (socket, FALSE);
  return g_steal_pointer (&socket);
}

/**
 * kletsen_server_start:
 *
 * Binds the chat port and starts accepting. Without a bind address the server
 * listens on every address, IPv6 and IPv4 alike, or IPv4 only where the
 * system has no IPv6.
 */
GSource *
_kletsen_server_listen_source_new (KletsenServer *self,
                                   GSocket       *listener,
                                   gboolean       tls)
{
  GSource *source = _kletsen_server_source_new (self, &listen_funcs, tls ? "kletsen-tls-listen" : "kletsen-listen");

  ((ServerSource *)source)->listener = listener;
  ((ServerSource *)source)->tls = tls;
  g_source_add_unix_fd (source, g_socket_get_fd (listener), G_IO_IN);
  g_source_attach (source, NULL);
  return source;
}

/* Binds the clear-text chat port, or the TLS one, on the configured address:
 * without one, on every address, IPv6 and IPv4 alike, or IPv4 only where
 * the system has no IPv6. */
GSocket *
_kletsen_server_listen_chat (KletsenServer  *self,
                             int             port,
                             GError        **error)
{
  g_autoptr(GError) v6_error = NULL;
  GSocket *listener = listen_on (self->options.bind, port, self->options.bind ? error : &v6_error);

  if (listener == NULL && self->options.bind == NULL)
    listener = listen_on ("0.0.0.0", port, error);
  return listener;
}
