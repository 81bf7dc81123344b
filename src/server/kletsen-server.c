/* kletsen-server.c
 *
 * Copyright 2026 The Kletsen authors
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

/* The server: the listener, the table of logged-in users, fan-out, the
 * heartbeat and the orderly end of connections. Everything runs on one
 * GMainContext; nothing blocks.
 *
 * A few GSources serve all connections at once:
 * - on Linux the poll source watches every chat socket through one epoll
 *   set, reads what is ready and then flushes (below) before it returns;
 *   elsewhere each socket has its own GSource (kletsen-connection.c);
 * - the flush source does the same flush for output queued outside the poll
 *   source (timers, handshakes, the relay): it tears down dead connections,
 *   hands each receiver this iteration's fan-out as one slice, and writes
 *   every queue filled since the last flush, so a burst of messages to one
 *   client leaves in one system call;
 * - the heartbeat source keeps two queues ordered by deadline (the next PING,
 *   the PONG awaited) and wakes only for the earliest, so 10,000 clients cost
 *   one timer rather than 10,000;
 * - the listen sources accept. */

#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include "kletsen-server-private.h"

#define READ_BUFFER_SIZE (64 * 1024)

G_DEFINE_FINAL_TYPE (KletsenServer, kletsen_server, G_TYPE_OBJECT)

void
kletsen_server_options_init (KletsenServerOptions *options)
{
  *options = (KletsenServerOptions) {
    .bind = NULL,
    .port = KLETSEN_DEFAULT_PORT,
    .ping_interval_ms = 10000,
    .pong_timeout_ms = 3000,
    .join_window_ms = 10000,
    .game_timeout_ms = 120000,
    .max_line = KLETSEN_DEFAULT_MAX_LINE,
    .max_clients = 10000,
    .max_queue_bytes = 8 * 1024 * 1024,
    .max_total_queue_bytes = 256 * 1024 * 1024,
    .game_cooldown_ms = 10000,
    .linger_ms = 2000,
    .login_timeout_ms = 30000,
    .rate_limit = 1000,
    .rate_bytes_per_token = 16384,
    .file_port = KLETSEN_DEFAULT_FILE_PORT,
    .offer_timeout_ms = 60000,
    .header_timeout_ms = 10000,
    .max_file_size = G_GINT64_CONSTANT (16) * 1024 * 1024 * 1024,
    .max_offers = 16,
    .relay_window = 256 * 1024,
    .max_transfers = 16,
    .max_relays = 4096,
    .relay_idle_timeout_ms = 60000,
    .max_side_channels = 1024,
    .max_file_connections_per_address = 64,
    .tls_port = 1339,
    .tls_file_port = 1340,
    .handshake_timeout_ms = 10000,
    .max_handshakes = 1024,
    .max_handshakes_per_address = 32,
    .cluster_heartbeat_ms = 1000,
    .cluster_dead_ms = 3000,
  };
}

/* ---- the flush source ---- */

void
_kletsen_server_teardown (KletsenServer     *self,
                          KletsenConnection *conn)
{
  g_queue_unlink (&self->doomed, &conn->all_link);
  _kletsen_output_forget (self, conn);
  _kletsen_server_remove_user (self, conn);
  _kletsen_connection_free (conn);
}

void
_kletsen_server_maybe_finish_shutdown (KletsenServer *self)
{
  GCallback done;

  if (!self->shutting_down || self->connections.length > 0 || self->doomed.length > 0)
    return;
  /* The others hear that our users left before we go. */
  if (self->cluster != NULL && _kletsen_cluster_is_leaving (self->cluster))
    return;
  done = self->shutdown_done;
  self->shutdown_done = NULL;
  if (done != NULL)
    ((void (*) (gpointer))done) (self->shutdown_data);
}

void
_kletsen_server_mark_doomed (KletsenServer     *self,
                             KletsenConnection *conn)
{
  g_queue_unlink (&self->connections, &conn->all_link);
  g_queue_push_tail_link (&self->doomed, &conn->all_link);
  if (self->heartbeat_source != NULL)
    {
      if (_kletsen_queue_has (&self->ping_queue, &conn->ping_link))
        g_queue_unlink (&self->ping_queue, &conn->ping_link);
      if (_kletsen_queue_has (&self->pong_queue, &conn->pong_link))
        g_queue_unlink (&self->pong_queue, &conn->pong_link);
      if (_kletsen_queue_has (&self->login_queue, &conn->login_link))
        g_queue_unlink (&self->login_queue, &conn->login_link);
    }
}

/**
 * _kletsen_server_take_token:
 *
 * The per-connection rate limit: a token bucket that refills at
 * --rate-limit requests per second and holds twice that.
 *
 * Returns: %TRUE when @conn may make one more request now
 */
gboolean
_kletsen_server_take_token (KletsenServer     *self,
                            KletsenConnection *conn)
{
  int rate = self->options.rate_limit;
  gint64 now, refill;

  if (rate <= 0)
    return TRUE;
  if (conn->tokens > 0)
    {
      conn->tokens--;
      return TRUE;
    }
  now = g_get_monotonic_time ();
  refill = (now - conn->rate_stamp) * rate / G_USEC_PER_SEC;
  if (refill <= 0)
    return FALSE;
  /* A debt from costly requests (below zero) is paid back first. */
  conn->tokens = (int)MIN (conn->tokens + refill, (gint64)rate * 2);
  conn->rate_stamp = now;
  if (conn->tokens <= 0)
    return FALSE;
  conn->tokens--;
  return TRUE;
}

/**
 * _kletsen_server_charge_bytes:
 * @bytes: the size of the reply a request made
 *
 * Requests cost by what they make, not one each: one more token per
 * --rate-bytes-per-token (16 KiB) of reply, so a large user list counts as
 * what it costs to send (at 9,000 users, 7 more). The debt is bounded by
 * one burst.
 */
void
_kletsen_server_charge_bytes (KletsenServer     *self,
                              KletsenConnection *conn,
                              gsize              bytes)
{
  int rate = self->options.rate_limit;
  gsize extra = bytes / (gsize)MAX (self->options.rate_bytes_per_token, 1);

  if (rate <= 0 || extra == 0)
    return;
  conn->tokens = (int)MAX ((gint64)conn->tokens - (gint64)MIN (extra, (gsize)G_MAXINT), -(gint64)rate * 2);
}

/* ---- users ---- */

KletsenConnection *
_kletsen_server_find_user (KletsenServer *self,
                           const char    *name)
{
  g_autofree char *key = kletsen_user_name_key (name);

  return g_hash_table_lookup (self->users_by_key, key);
}

static GBytes *
username_line (const char *header,
               const char *name)
{
  g_autoptr(JsonObject) body = json_object_new ();

  json_object_set_string_member (body, "username", name);
  return kletsen_message_serialize (header, body);
}

void
_kletsen_server_add_user (KletsenServer     *self,
                          KletsenConnection *conn,
                          const char        *name)
{
  g_autoptr(GBytes) joined = username_line ("JOINED", name);

  g_assert (!conn->logged_in);

  conn->name = g_strdup (name);
  conn->logged_in = TRUE;
  /* Only what is fanned out from now on is for this user. */
  _kletsen_output_skip_batch (self, conn);
  conn->users_index = self->users->len;
  g_ptr_array_add (self->users, conn);
  g_clear_pointer (&self->user_list_line, g_bytes_unref);
  g_hash_table_insert (self->users_by_key, kletsen_user_name_key (name), conn);

  _kletsen_server_schedule_ping (self, conn, g_get_monotonic_time () + (gint64)self->options.ping_interval_ms * 1000);
  _kletsen_server_heartbeat_rearm (self);

  if (_kletsen_queue_has (&self->login_queue, &conn->login_link))
    g_queue_unlink (&self->login_queue, &conn->login_link);
  conn_log (conn, G_LOG_LEVEL_INFO, "logged in");
  /* In a cluster JOINED came with the claim's echo, before this. */
  if (self->cluster == NULL)
    _kletsen_server_queue_fan_out (self, joined, conn);
}

/**
 * _kletsen_server_remove_user:
 *
 * Takes a logged-in user off every list, ends its part in a game and tells
 * the others (LEFT). Safe to call for a connection that never logged in.
 * Never call it inside a fan-out loop: it changes self->users.
 */
void
_kletsen_server_remove_user (KletsenServer     *self,
                             KletsenConnection *conn)
{
  KletsenConnection *last;
  g_autofree char *key = NULL;

  if (!conn->logged_in)
    return;

  /* What was fanned out while it was here still reaches it. */
  _kletsen_server_catch_up (self, conn);
  conn->logged_in = FALSE;
  key = kletsen_user_name_key (conn->name);
  g_hash_table_remove (self->users_by_key, key);

  last = g_ptr_array_index (self->users, self->users->len - 1);
  self->users->pdata[conn->users_index] = last;
  last->users_index = conn->users_index;
  g_ptr_array_set_size (self->users, self->users->len - 1);
  g_clear_pointer (&self->user_list_line, g_bytes_unref);

  if (_kletsen_queue_has (&self->ping_queue, &conn->ping_link))
    g_queue_unlink (&self->ping_queue, &conn->ping_link);
  if (_kletsen_queue_has (&self->pong_queue, &conn->pong_link))
    g_queue_unlink (&self->pong_queue, &conn->pong_link);
  conn->ping_outstanding = FALSE;
  _kletsen_server_heartbeat_rearm (self);

  _kletsen_game_leave (self->game, conn);
  _kletsen_server_drop_transfers (self, conn);

  conn_log (conn, G_LOG_LEVEL_INFO, "left");
  /* At shutdown everybody gets DSCN 7011 instead. */
  if (self->cluster != NULL)
    _kletsen_cluster_user_gone (self->cluster, conn);
  else if (!self->shutting_down)
    {
      g_autoptr(GBytes) left = username_line ("LEFT", conn->name);

      _kletsen_server_queue_fan_out (self, left, conn);
    }
}

GSource *
_kletsen_server_source_new (KletsenServer *self,
                            GSourceFuncs  *funcs,
                            const char    *name)
{
  GSource *source = g_source_new (funcs, sizeof (ServerSource));

  ((ServerSource *)source)->server = self;
  g_source_set_static_name (source, name);
  return source;
}

/* ---- GObject ---- */

static void
kletsen_server_finalize (GObject *object)
{
  KletsenServer *self = KLETSEN_SERVER (object);
  GList *link;

  while ((link = self->connections.head) != NULL)
    _kletsen_connection_abort (link->data, NULL);
  while ((link = self->doomed.head) != NULL)
    _kletsen_server_teardown (self, link->data);

  g_clear_pointer (&self->cluster, _kletsen_cluster_free);
  g_clear_pointer (&self->game, _kletsen_game_free);
  _kletsen_relay_stop (self);
  g_clear_pointer (&self->transfers, g_hash_table_unref);
  g_clear_pointer (&self->transfers_by_user, g_hash_table_unref);
  g_clear_pointer (&self->file_peers_by_address, g_hash_table_unref);
  _kletsen_file_clock_stop (self);
  g_clear_pointer (&self->file_listen_source, g_source_unref);
  g_clear_object (&self->file_listener);
  if (self->tls_listen_source)
    g_source_destroy (self->tls_listen_source);
  g_clear_pointer (&self->tls_listen_source, g_source_unref);
  g_clear_pointer (&self->tls_file_listen_source, g_source_unref);
  g_clear_object (&self->tls_listener);
  g_clear_object (&self->tls_file_listener);
  g_clear_pointer (&self->tls_context, _kletsen_tls_context_unref);
  _kletsen_tls_limits_clear (&self->tls_limits);
  g_clear_pointer (&self->options.tls_cert, g_free);
  g_clear_pointer (&self->options.tls_key, g_free);
  g_clear_pointer (&self->options.cluster, g_free);
  g_clear_pointer (&self->options.node_name, g_free);
  g_clear_pointer (&self->options.advertise, g_free);
  if (self->listen_source)
    g_source_destroy (self->listen_source);
  g_clear_pointer (&self->listen_source, g_source_unref);
  g_source_destroy (self->flush_source);
  g_clear_pointer (&self->flush_source, g_source_unref);
  if (self->poller != NULL)
    self->poller->stop (self);
  if (self->spare_fd >= 0)
    close (self->spare_fd);
  g_source_destroy (self->heartbeat_source);
  g_clear_pointer (&self->heartbeat_source, g_source_unref);
  g_clear_pointer (&self->shutdown_timeout, g_source_unref);
  g_clear_object (&self->listener);
  g_clear_pointer (&self->users_by_key, g_hash_table_unref);
  g_clear_pointer (&self->user_list_line, g_bytes_unref);
  g_clear_pointer (&self->users, g_ptr_array_unref);
  _kletsen_output_fini (self);
  g_clear_pointer (&self->ping_line, g_bytes_unref);
  g_clear_pointer (&self->read_buffer, g_free);
  g_clear_pointer (&self->options.bind, g_free);

  G_OBJECT_CLASS (kletsen_server_parent_class)->finalize (object);
}

static void
kletsen_server_class_init (KletsenServerClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->finalize = kletsen_server_finalize;
}

static void
kletsen_server_init (KletsenServer *self)
{
  kletsen_server_options_init (&self->options);
  self->users_by_key = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  self->users = g_ptr_array_new ();
  _kletsen_output_init (self);
  self->ping_line = kletsen_message_serialize ("PING", NULL);
  self->read_buffer_size = READ_BUFFER_SIZE;
  self->read_buffer = g_malloc (READ_BUFFER_SIZE + 1);

  /* Attached first, so that it runs first in every iteration. */
  self->flush_source = _kletsen_server_source_new (self, &_kletsen_server_flush_funcs, "kletsen-flush");
  g_source_attach (self->flush_source, NULL);

  self->epoll_fd = -1;
  self->spare_fd = open ("/dev/null", O_RDONLY | O_CLOEXEC);
  self->poller = _kletsen_poller_choose (self);
  self->heartbeat_source = _kletsen_server_source_new (self, &_kletsen_server_heartbeat_funcs, "kletsen-heartbeat");
  g_source_attach (self->heartbeat_source, NULL);
  self->game = _kletsen_game_new (self);
  /* Keys are the transfers' own ids. */
  self->transfers = g_hash_table_new_full (g_str_hash, g_str_equal, NULL,
                                           (GDestroyNotify)_kletsen_transfer_free);
  self->transfers_by_user = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  self->file_peers_by_address = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  _kletsen_file_clock_start (self);
}

/* ---- public API ---- */

KletsenServer *
kletsen_server_new (const KletsenServerOptions *options)
{
  KletsenServer *self = g_object_new (KLETSEN_TYPE_SERVER, NULL);

  self->options = *options;
  self->options.bind = g_strdup (options->bind);
  self->options.tls_cert = g_strdup (options->tls_cert);
  self->options.tls_key = g_strdup (options->tls_key);
  self->options.cluster = g_strdup (options->cluster);
  self->options.node_name = g_strdup (options->node_name);
  self->options.advertise = g_strdup (options->advertise);
  _kletsen_tls_limits_init (&self->tls_limits, MAX (options->max_handshakes, 0),
                            MAX (options->max_handshakes_per_address, 0));
  return self;
}

/**
 * kletsen_server_start:
 *
 * Loads the TLS certificate (if any) and binds every port: chat and file in
 * clear text (unless --tls-only), and both again over TLS when a
 * certificate is given.
 */
gboolean
kletsen_server_start (KletsenServer  *self,
                      GError        **error)
{
  if (self->options.tls_cert != NULL || self->options.tls_key != NULL)
    {
      if (self->options.tls_cert == NULL || self->options.tls_key == NULL)
        {
          g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                               "--tls-cert and --tls-key go together");
          return FALSE;
        }
      self->tls_context = _kletsen_tls_context_new (self->options.tls_cert, self->options.tls_key, error);
      if (self->tls_context == NULL)
        return FALSE;
    }
  else if (self->options.tls_only)
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                           "--tls-only needs --tls-cert and --tls-key");
      return FALSE;
    }

  if (!self->options.tls_only)
    {
      self->listener = _kletsen_server_listen_chat (self, self->options.port, error);
      if (self->listener == NULL ||
          !_kletsen_relay_listen (self, &self->file_listener, &self->file_listen_source,
                                  self->options.file_port, FALSE, error))
        return FALSE;
      self->listen_source = _kletsen_server_listen_source_new (self, self->listener, FALSE);
    }
  if (self->tls_context != NULL)
    {
      self->tls_listener = _kletsen_server_listen_chat (self, self->options.tls_port, error);
      if (self->tls_listener == NULL ||
          !_kletsen_relay_listen (self, &self->tls_file_listener, &self->tls_file_listen_source,
                                  self->options.tls_file_port, TRUE, error))
        return FALSE;
      self->tls_listen_source = _kletsen_server_listen_source_new (self, self->tls_listener, TRUE);
    }
  /* Joins in the background; see kletsen_server_get_cluster_incarnation(). */
  if (self->options.cluster != NULL)
    {
      self->cluster = _kletsen_cluster_new (self, error);
      if (self->cluster == NULL)
        return FALSE;
    }
  return TRUE;
}

/**
 * kletsen_server_reload_certificate:
 *
 * Reads the certificate and key files again (SIGHUP). New connections get
 * the new certificate; connections already up keep theirs.
 */
gboolean
kletsen_server_reload_certificate (KletsenServer  *self,
                                   GError        **error)
{
  KletsenTlsContext *fresh;

  if (self->tls_context == NULL)
    return TRUE;
  fresh = _kletsen_tls_context_new (self->options.tls_cert, self->options.tls_key, error);
  if (fresh == NULL)
    return FALSE;
  _kletsen_tls_context_unref (self->tls_context);
  self->tls_context = fresh;
  return TRUE;
}

/**
 * kletsen_server_get_address:
 *
 * Returns: (transfer full): the address the chat port is bound to.
 */
GSocketAddress *
kletsen_server_get_address (KletsenServer *self)
{
  return self->listener ? g_socket_get_local_address (self->listener, NULL) : NULL;
}

/**
 * kletsen_server_get_tls_address:
 *
 * Returns: (transfer full) (nullable): the TLS chat port's address, if TLS is on
 */
GSocketAddress *
kletsen_server_get_tls_address (KletsenServer *self)
{
  return self->tls_listener ? g_socket_get_local_address (self->tls_listener, NULL) : NULL;
}

/**
 * kletsen_server_get_tls_file_address:
 *
 * Returns: (transfer full) (nullable): the TLS file port's address, if TLS is on
 */
GSocketAddress *
kletsen_server_get_tls_file_address (KletsenServer *self)
{
  return self->tls_file_listener ? g_socket_get_local_address (self->tls_file_listener, NULL) : NULL;
}

/**
 * kletsen_server_get_file_address:
 *
 * Returns: (transfer full): the address the file side channel is bound to.
 */
GSocketAddress *
kletsen_server_get_file_address (KletsenServer *self)
{
  return self->file_listener ? g_socket_get_local_address (self->file_listener, NULL) : NULL;
}

guint
kletsen_server_get_n_connections (KletsenServer *self)
{
  return self->connections.length;
}

/**
 * kletsen_server_get_cluster_incarnation:
 *
 * Returns: (nullable): in cluster mode, once the node first joined, the
 *   name of this run of it in the cluster (NAME/random); else NULL
 */
const char *
kletsen_server_get_cluster_incarnation (KletsenServer *self)
{
  return self->cluster != NULL ? _kletsen_cluster_get_incarnation (self->cluster) : NULL;
}

/**
 * kletsen_server_shutdown:
 * @done: (scope async): called once every connection is closed
 *
 * Stops accepting and ends every connection with DSCN 7011. Connections that
 * do not take their last bytes are dropped after the linger time.
 */
void
kletsen_server_shutdown (KletsenServer *self,
                         GCallback      done,
                         gpointer       user_data)
{
  GList *link;

  if (self->shutting_down)
    return;
  self->shutting_down = TRUE;
  self->shutdown_done = done;
  self->shutdown_data = user_data;

  if (self->listen_source != NULL)
    {
      g_source_destroy (self->listen_source);
      g_clear_pointer (&self->listen_source, g_source_unref);
    }
  if (self->tls_listen_source != NULL)
    {
      g_source_destroy (self->tls_listen_source);
      g_clear_pointer (&self->tls_listen_source, g_source_unref);
    }
  if (self->listener != NULL)
    g_socket_close (self->listener, NULL);
  if (self->tls_listener != NULL)
    g_socket_close (self->tls_listener, NULL);
  _kletsen_relay_stop (self);
  if (self->cluster != NULL)
    _kletsen_cluster_leave (self->cluster);

  for (link = self->connections.head; link != NULL; link = link->next)
    _kletsen_connection_close (link->data, KLETSEN_CODE_SERVER_SHUTDOWN);

  /* With nobody connected there is nothing to wait for. */
  g_source_set_ready_time (self->flush_source, 0);
}
