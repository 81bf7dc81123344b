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

static void materialize_batch (KletsenServer *self);

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
    .linger_ms = 2000,
    .login_timeout_ms = 30000,
    .rate_limit = 1000,
    .file_port = KLETSEN_DEFAULT_FILE_PORT,
    .offer_timeout_ms = 60000,
    .header_timeout_ms = 10000,
    .max_file_size = G_GINT64_CONSTANT (16) * 1024 * 1024 * 1024,
    .max_offers = 16,
    .relay_window = 256 * 1024,
    .tls_port = 1339,
    .tls_file_port = 1340,
    .handshake_timeout_ms = 10000,
  };
}

/* ---- the flush source ---- */

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

static void
teardown (KletsenServer     *self,
          KletsenConnection *conn)
{
  g_queue_unlink (&self->doomed, &conn->all_link);
  if (_kletsen_queue_has (&self->dirty, &conn->dirty_link))
    g_queue_unlink (&self->dirty, &conn->dirty_link);
  _kletsen_server_remove_user (self, conn);
  _kletsen_connection_free (conn);
}

static void
maybe_finish_shutdown (KletsenServer *self)
{
  GCallback done;

  if (!self->shutting_down || self->connections.length > 0 || self->doomed.length > 0)
    return;
  done = self->shutdown_done;
  self->shutdown_done = NULL;
  if (done != NULL)
    ((void (*) (gpointer))done) (self->shutdown_data);
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
    teardown (self, link->data);

  materialize_batch (self);

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

  maybe_finish_shutdown (self);
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

static GSourceFuncs flush_funcs = {
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
  conn->tokens = (int)MIN (refill, (gint64)rate * 2) - 1;
  conn->rate_stamp = now;
  return TRUE;
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
  conn->batch_cursor = self->batch->len;
  conn->users_index = self->users->len;
  g_ptr_array_add (self->users, conn);
  g_hash_table_insert (self->users_by_key, kletsen_user_name_key (name), conn);

  _kletsen_server_schedule_ping (self, conn, g_get_monotonic_time () + (gint64)self->options.ping_interval_ms * 1000);
  _kletsen_server_heartbeat_rearm (self);

  if (_kletsen_queue_has (&self->login_queue, &conn->login_link))
    g_queue_unlink (&self->login_queue, &conn->login_link);
  conn_log (conn, G_LOG_LEVEL_INFO, "logged in");
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
  if (!self->shutting_down)
    {
      g_autoptr(GBytes) left = username_line ("LEFT", conn->name);

      _kletsen_server_queue_fan_out (self, left, conn);
    }
}

/* One line of this iteration's fan-out. */
typedef struct
{
  KletsenChunk       *line;
  KletsenConnection *except; /* compared, never followed: it may be gone */
  gsize              offset; /* in batch_block */
} BatchEntry;

/**
 * _kletsen_server_queue_fan_out:
 * @line: serialized once
 * @except: (nullable): the one logged-in user who does not get it
 *
 * Sends @line to every logged-in user but @except.
 *
 * The line joins this iteration's batch rather than every receiver's queue:
 * at the end of the iteration each receiver gets the whole batch as one slice
 * of one buffer (see materialize_batch()), so a burst of N lines to M users
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
static void
materialize_batch (KletsenServer *self)
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
          slice = _kletsen_chunk_new_slice (block, first->offset, stop - first->offset);
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
    teardown (self, link->data);

  g_clear_pointer (&self->game, _kletsen_game_free);
  _kletsen_relay_stop (self);
  g_clear_pointer (&self->transfers, g_hash_table_unref);
  g_clear_pointer (&self->file_listen_source, g_source_unref);
  g_clear_object (&self->file_listener);
  if (self->tls_listen_source)
    g_source_destroy (self->tls_listen_source);
  g_clear_pointer (&self->tls_listen_source, g_source_unref);
  g_clear_pointer (&self->tls_file_listen_source, g_source_unref);
  g_clear_object (&self->tls_listener);
  g_clear_object (&self->tls_file_listener);
  g_clear_object (&self->certificate);
  g_clear_pointer (&self->options.tls_cert, g_free);
  g_clear_pointer (&self->options.tls_key, g_free);
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
  g_clear_pointer (&self->users, g_ptr_array_unref);
  for (guint i = 0; i < self->batch->len; i++)
    _kletsen_chunk_unref (g_array_index (self->batch, BatchEntry, i).line);
  g_clear_pointer (&self->batch, g_array_unref);
  g_clear_pointer (&self->batch_block, g_byte_array_unref);
  g_clear_pointer (&self->ping_line, g_bytes_unref);
  g_clear_pointer (&self->read_buffer, g_free);
  g_clear_pointer (&self->write_buffer, g_free);
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
  self->batch = g_array_new (FALSE, FALSE, sizeof (BatchEntry));
  self->batch_block = g_byte_array_new ();
  self->ping_line = kletsen_message_serialize ("PING", NULL);
  self->read_buffer_size = READ_BUFFER_SIZE;
  self->read_buffer = g_malloc (READ_BUFFER_SIZE + 1);
  self->write_buffer = g_malloc (GATHER_BYTES);

  /* Attached first, so that it runs first in every iteration. */
  self->flush_source = _kletsen_server_source_new (self, &flush_funcs, "kletsen-flush");
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
      self->certificate = _kletsen_tls_load (self->options.tls_cert, self->options.tls_key, error);
      if (self->certificate == NULL)
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
  if (self->certificate != NULL)
    {
      self->tls_listener = _kletsen_server_listen_chat (self, self->options.tls_port, error);
      if (self->tls_listener == NULL ||
          !_kletsen_relay_listen (self, &self->tls_file_listener, &self->tls_file_listen_source,
                                  self->options.tls_file_port, TRUE, error))
        return FALSE;
      self->tls_listen_source = _kletsen_server_listen_source_new (self, self->tls_listener, TRUE);
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
  GTlsCertificate *fresh;

  if (self->certificate == NULL)
    return TRUE;
  fresh = _kletsen_tls_load (self->options.tls_cert, self->options.tls_key, error);
  if (fresh == NULL)
    return FALSE;
  g_object_unref (self->certificate);
  self->certificate = fresh;
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

  for (link = self->connections.head; link != NULL; link = link->next)
    _kletsen_connection_close (link->data, KLETSEN_CODE_SERVER_SHUTDOWN);

  /* With nobody connected there is nothing to wait for. */
  g_source_set_ready_time (self->flush_source, 0);
}
