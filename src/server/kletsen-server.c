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
#ifdef HAVE_EPOLL
#include <sys/epoll.h>
#endif
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include "kletsen-server-private.h"

#define READ_BUFFER_SIZE (64 * 1024)
/* Connections taken from the backlog per wake-up. Each iteration also writes
 * to every logged-in user who got a JOINED line, so when many log in at once
 * the number of logins per iteration sets the batch size: with 64, a storm of
 * 10,000 logins took 160 iterations of ~5,000 small writes each. */
#define ACCEPTS_PER_DISPATCH 1024

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

typedef struct
{
  GSource        base;
  KletsenServer *server;
  GSocket       *listener; /* for listen sources */
  gboolean       tls;
  gpointer       tag;      /* the poll source's epoll descriptor */
} ServerSource;

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

/* ---- the poll source ---- */

#ifdef HAVE_EPOLL
/* On Linux one epoll set holds every chat connection, and GLib polls only
 * its descriptor. With a GSource per socket, every main loop iteration
 * walked all sockets twice in user space and handed all of them to poll():
 * at 10,000 idle users that is the cost of each wake-up. This source also
 * writes what its reads queued before it returns, so a message goes out in
 * the iteration that read it instead of after one more poll(). */

#define POLL_EVENTS 256
#define POLL_ROUNDS 16

static gboolean
poll_prepare (GSource *source,
              int     *timeout)
{
  KletsenServer *self = ((ServerSource *)source)->server;

  *timeout = -1;
  return self->read_again->len > 0;
}

static gboolean
poll_check (GSource *source)
{
  KletsenServer *self = ((ServerSource *)source)->server;

  return self->read_again->len > 0 ||
         g_source_query_unix_fd (source, ((ServerSource *)source)->tag) != 0;
}

static GIOCondition
condition_from_epoll (guint32 events)
{
  return ((events & EPOLLIN) ? G_IO_IN : 0) |
         ((events & EPOLLOUT) ? G_IO_OUT : 0) |
         ((events & EPOLLHUP) ? G_IO_HUP : 0) |
         ((events & EPOLLERR) ? G_IO_ERR : 0);
}

static gboolean
poll_dispatch (GSource     *source,
               GSourceFunc  callback,
               gpointer     user_data)
{
  KletsenServer *self = ((ServerSource *)source)->server;
  struct epoll_event events[POLL_EVENTS];
  int n;

  /* Connections are only freed by the flush at the end, so every pointer
   * here stays valid until then. */
  if (self->read_again->len > 0)
    {
      g_autoptr(GPtrArray) again = g_steal_pointer (&self->read_again);

      self->read_again = g_ptr_array_new ();
      for (guint i = 0; i < again->len; i++)
        _kletsen_connection_dispatch (g_ptr_array_index (again, i), 0);
    }

  /* Everything ready is read before the flush, so that many messages (or
   * logins) share each receiver's write; a bounded number of rounds keeps
   * output from waiting behind a flood. */
  for (guint round = 0; round < POLL_ROUNDS; round++)
    {
      do
        n = epoll_wait (self->epoll_fd, events, POLL_EVENTS, 0);
      while (n < 0 && errno == EINTR);
      for (int i = 0; i < n; i++)
        _kletsen_connection_dispatch (events[i].data.ptr, condition_from_epoll (events[i].events));
      if (n < POLL_EVENTS)
        break;
    }

  _kletsen_server_flush_all (self);
  return G_SOURCE_CONTINUE;
}

static GSourceFuncs poll_funcs = {
  .prepare = poll_prepare,
  .check = poll_check,
  .dispatch = poll_dispatch,
};
#endif

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

/* ---- the heartbeat ---- */

static void
heartbeat_rearm (KletsenServer *self)
{
  gint64 ready = -1;
  KletsenConnection *conn;

  if (self->ping_queue.head != NULL)
    {
      conn = self->ping_queue.head->data;
      ready = conn->ping_deadline;
    }
  if (self->pong_queue.head != NULL)
    {
      conn = self->pong_queue.head->data;
      if (ready < 0 || conn->pong_deadline < ready)
        ready = conn->pong_deadline;
    }
  if (self->login_queue.head != NULL)
    {
      conn = self->login_queue.head->data;
      if (ready < 0 || conn->login_deadline < ready)
        ready = conn->login_deadline;
    }
  g_source_set_ready_time (self->heartbeat_source, ready);
}

/* Deadlines only grow along the queue: a new one never goes before the tail. */
static void
schedule_ping (KletsenServer     *self,
               KletsenConnection *conn,
               gint64             deadline)
{
  if (self->ping_queue.tail != NULL)
    deadline = MAX (deadline, ((KletsenConnection *)self->ping_queue.tail->data)->ping_deadline);
  conn->ping_deadline = deadline;
  g_queue_push_tail_link (&self->ping_queue, &conn->ping_link);
}

static void
send_ping (KletsenServer     *self,
           KletsenConnection *conn,
           gint64             now)
{
  /* With a PONG timeout longer than the interval a PING may still wait for
   * its answer; that one's deadline stands. */
  if (conn->ping_outstanding)
    return;

  conn->ping_outstanding = TRUE;
  conn->pong_deadline = now + (gint64)self->options.pong_timeout_ms * 1000;
  g_queue_push_tail_link (&self->pong_queue, &conn->pong_link);
  _kletsen_connection_send (conn, self->ping_line);
}

static gboolean
heartbeat_dispatch (GSource     *source,
                    GSourceFunc  callback,
                    gpointer     user_data)
{
  KletsenServer *self = ((ServerSource *)source)->server;
  gint64 now = g_source_get_time (source);
  gint64 interval = (gint64)self->options.ping_interval_ms * 1000;
  GList *link;

  while ((link = self->pong_queue.head) != NULL &&
         ((KletsenConnection *)link->data)->pong_deadline <= now)
    {
      KletsenConnection *conn = link->data;

      g_queue_unlink (&self->pong_queue, link);
      conn->ping_outstanding = FALSE;
      _kletsen_connection_close (conn, KLETSEN_CODE_PONG_TIMEOUT);
    }

  /* The login deadline is the same for all, so this queue is in order too. */
  while ((link = self->login_queue.head) != NULL &&
         ((KletsenConnection *)link->data)->login_deadline <= now)
    {
      KletsenConnection *conn = link->data;

      g_queue_unlink (&self->login_queue, link);
      _kletsen_connection_close (conn, KLETSEN_CODE_LOGIN_TIMEOUT);
    }

  while ((link = self->ping_queue.head) != NULL &&
         ((KletsenConnection *)link->data)->ping_deadline <= now)
    {
      KletsenConnection *conn = link->data;
      gint64 due = conn->ping_deadline;

      g_queue_unlink (&self->ping_queue, link);
      send_ping (self, conn, now);
      if (conn->state == CONN_OPEN)
        schedule_ping (self, conn, due + interval);
    }

  heartbeat_rearm (self);
  return G_SOURCE_CONTINUE;
}

static GSourceFuncs heartbeat_funcs = {
  .dispatch = heartbeat_dispatch,
};

void
_kletsen_server_got_pong (KletsenServer     *self,
                          KletsenConnection *conn)
{
  if (!conn->ping_outstanding)
    {
      g_autoptr(JsonObject) body = json_object_new ();
      g_autoptr(GBytes) line = NULL;

      json_object_set_int_member (body, "code", KLETSEN_CODE_PONG_WITHOUT_PING);
      line = kletsen_message_serialize ("PONG_ERROR", body);
      _kletsen_connection_send (conn, line);
      return;
    }

  conn->ping_outstanding = FALSE;
  g_queue_unlink (&self->pong_queue, &conn->pong_link);
  heartbeat_rearm (self);
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

  schedule_ping (self, conn, g_get_monotonic_time () + (gint64)self->options.ping_interval_ms * 1000);
  heartbeat_rearm (self);

  if (_kletsen_queue_has (&self->login_queue, &conn->login_link))
    g_queue_unlink (&self->login_queue, &conn->login_link);
  conn_log (conn, G_LOG_LEVEL_INFO, "logged in");
  _kletsen_server_fan_out (self, joined, conn);
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
  heartbeat_rearm (self);

  _kletsen_game_leave (self->game, conn);
  _kletsen_server_drop_transfers (self, conn);

  conn_log (conn, G_LOG_LEVEL_INFO, "left");
  /* At shutdown everybody gets DSCN 7011 instead. */
  if (!self->shutting_down)
    {
      g_autoptr(GBytes) left = username_line ("LEFT", conn->name);

      _kletsen_server_fan_out (self, left, conn);
    }
}

/* One line of this iteration's fan-out. */
typedef struct
{
  KletsenLine       *line;
  KletsenConnection *except; /* compared, never followed: it may be gone */
  gsize              offset; /* in batch_block */
} BatchEntry;

/**
 * _kletsen_server_fan_out:
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
_kletsen_server_fan_out (KletsenServer     *self,
                         GBytes            *line,
                         KletsenConnection *except)
{
  BatchEntry entry = { _kletsen_line_new (line), except, self->batch_block->len };

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
  KletsenLine *all;
  gsize block_len;
  guint n = self->batch->len;

  if (n == 0)
    return;

  /* The receivers' queues share the buffer; a new one collects the next batch. */
  block_len = self->batch_block->len;
  block = g_byte_array_free_to_bytes (g_steal_pointer (&self->batch_block));
  self->batch_block = g_byte_array_new ();
  all = _kletsen_line_new_slice (block, 0, block_len);
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
          KletsenLine *slice;
          gsize stop;

          if (first->except == conn)
            {
              start++;
              continue;
            }
          while (end < n && g_array_index (self->batch, BatchEntry, end).except != conn)
            end++;
          stop = end < n ? g_array_index (self->batch, BatchEntry, end).offset : block_len;
          slice = _kletsen_line_new_slice (block, first->offset, stop - first->offset);
          _kletsen_connection_send_line (conn, slice);
          _kletsen_line_unref (slice);
          start = end;
        }
    }
  _kletsen_line_unref (all);

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
    _kletsen_line_unref (g_array_index (self->batch, BatchEntry, i).line);
  g_array_set_size (self->batch, 0);
}

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
  heartbeat_rearm (self);
  conn_log (conn, G_LOG_LEVEL_INFO, "connected");

  if (!tls)
    _kletsen_server_send_welcome (self, conn);
  else if (!_kletsen_connection_start_tls (conn))
    _kletsen_connection_abort (conn, NULL);
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

static GSource *
server_source_new (KletsenServer *self,
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
  if (self->poll_source != NULL)
    g_source_destroy (self->poll_source);
  g_clear_pointer (&self->poll_source, g_source_unref);
  if (self->epoll_fd >= 0)
    close (self->epoll_fd);
  if (self->spare_fd >= 0)
    close (self->spare_fd);
  g_clear_pointer (&self->read_again, g_ptr_array_unref);
  g_source_destroy (self->heartbeat_source);
  g_clear_pointer (&self->heartbeat_source, g_source_unref);
  g_clear_pointer (&self->shutdown_timeout, g_source_unref);
  g_clear_object (&self->listener);
  g_clear_pointer (&self->users_by_key, g_hash_table_unref);
  g_clear_pointer (&self->users, g_ptr_array_unref);
  for (guint i = 0; i < self->batch->len; i++)
    _kletsen_line_unref (g_array_index (self->batch, BatchEntry, i).line);
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
  self->flush_source = server_source_new (self, &flush_funcs, "kletsen-flush");
  g_source_attach (self->flush_source, NULL);

  self->read_again = g_ptr_array_new ();
  self->epoll_fd = -1;
  self->spare_fd = open ("/dev/null", O_RDONLY | O_CLOEXEC);
#ifdef HAVE_EPOLL
  /* KLETSEN_POLL=glib keeps a GSource per socket, the way other platforms
   * run; the tests use it to cover that path. */
  if (g_strcmp0 (g_getenv ("KLETSEN_POLL"), "glib") != 0)
    self->epoll_fd = epoll_create1 (EPOLL_CLOEXEC);
  if (self->epoll_fd >= 0)
    {
      self->poll_source = server_source_new (self, &poll_funcs, "kletsen-poll");
      ((ServerSource *)self->poll_source)->tag = g_source_add_unix_fd (self->poll_source, self->epoll_fd, G_IO_IN);
      g_source_set_can_recurse (self->poll_source, TRUE);
      g_source_attach (self->poll_source, NULL);
    }
#endif
  self->heartbeat_source = server_source_new (self, &heartbeat_funcs, "kletsen-heartbeat");
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
static GSource *
listen_source_new (KletsenServer *self,
                   GSocket       *listener,
                   gboolean       tls)
{
  GSource *source = server_source_new (self, &listen_funcs, tls ? "kletsen-tls-listen" : "kletsen-listen");

  ((ServerSource *)source)->listener = listener;
  ((ServerSource *)source)->tls = tls;
  g_source_add_unix_fd (source, g_socket_get_fd (listener), G_IO_IN);
  g_source_attach (source, NULL);
  return source;
}

/* Binds the clear-text chat port, or the TLS one, on the configured address:
 * without one, on every address, IPv6 and IPv4 alike, or IPv4 only where
 * the system has no IPv6. */
static GSocket *
listen_chat (KletsenServer  *self,
             int             port,
             GError        **error)
{
  g_autoptr(GError) v6_error = NULL;
  GSocket *listener = listen_on (self->options.bind, port, self->options.bind ? error : &v6_error);

  if (listener == NULL && self->options.bind == NULL)
    listener = listen_on ("0.0.0.0", port, error);
  return listener;
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
      self->listener = listen_chat (self, self->options.port, error);
      if (self->listener == NULL ||
          !_kletsen_relay_listen (self, &self->file_listener, &self->file_listen_source,
                                  self->options.file_port, FALSE, error))
        return FALSE;
      self->listen_source = listen_source_new (self, self->listener, FALSE);
    }
  if (self->certificate != NULL)
    {
      self->tls_listener = listen_chat (self, self->options.tls_port, error);
      if (self->tls_listener == NULL ||
          !_kletsen_relay_listen (self, &self->tls_file_listener, &self->tls_file_listen_source,
                                  self->options.tls_file_port, TRUE, error))
        return FALSE;
      self->tls_listen_source = listen_source_new (self, self->tls_listener, TRUE);
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
