/* kletsen-session-connection.c
 *
 * Copyright 2026 The Kletsen authors
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

/* The session's connection: connecting under a login timer, TLS and the
 * pinned certificate, writing lines in order with a cap on what waits,
 * reading and framing, the watchdog, and reconnecting with backoff. */

#include "config.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <sys/stat.h>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>

#include "kletsen-certificate.h"
#include "kletsen-session-private.h"

static void
write_cb (GObject      *object,
          GAsyncResult *result,
          gpointer      user_data);

static void
write_next (KletsenSession *self);

static gboolean
overflow_cb (gpointer user_data);

static void
read_cb (GObject      *object,
         GAsyncResult *result,
         gpointer      user_data);

static void
read_more (KletsenSession *self);

static char *
server_key (KletsenSession *self);

static gboolean
accept_certificate_cb (GTlsConnection       *connection,
                       GTlsCertificate      *certificate,
                       GTlsCertificateFlags  errors,
                       KletsenSession       *self);

static void
client_event_cb (GSocketClient      *client,
                 GSocketClientEvent  event,
                 GSocketConnectable *connectable,
                 GIOStream          *connection,
                 KletsenSession     *self);

static gboolean
check_pinned (KletsenSession *self);

static GError *
certificate_error (KletsenSession *self);

static void
refuse_certificate (KletsenSession *self);

static gboolean
watchdog_cb (gpointer user_data);

static gboolean
login_timeout_cb (gpointer user_data);

static gboolean
reconnect_cb (gpointer user_data);

static void
schedule_reconnect (KletsenSession *self);

static void
connected_cb (GObject      *object,
              GAsyncResult *result,
              gpointer      user_data);

static void
begin_login (KletsenSession *self);

static void
start_connecting (KletsenSession *self);

static gboolean
ensure_identity (KletsenSession  *self,
                 GError         **error);

/* ---- writing ---- */

static void
write_cb (GObject      *object,
          GAsyncResult *result,
          gpointer      user_data)
{
  KletsenSession *self = user_data;
  g_autoptr(GError) error = NULL;
  GBytes *line;

  if (!g_output_stream_write_all_finish (G_OUTPUT_STREAM (object), result, NULL, &error))
    {
      if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        {
          self->writing = FALSE;
          _kletsen_session_connection_lost (self, error->message);
        }
      g_object_unref (self);
      return;
    }
  line = g_queue_pop_head (&self->out);
  self->unsent_bytes -= g_bytes_get_size (line);
  g_bytes_unref (line);
  self->writing = FALSE;
  write_next (self);
  g_object_unref (self);
}

static void
write_next (KletsenSession *self)
{
  GBytes *line;

  if (self->writing || self->connection == NULL || (line = g_queue_peek_head (&self->out)) == NULL)
    return;
  self->writing = TRUE;
  g_output_stream_write_all_async (g_io_stream_get_output_stream (G_IO_STREAM (self->connection)),
                                   g_bytes_get_data (line, NULL), g_bytes_get_size (line),
                                   G_PRIORITY_DEFAULT, self->cancellable, write_cb, g_object_ref (self));
}

static gboolean
overflow_cb (gpointer user_data)
{
  KletsenSession *self = user_data;

  self->overflow_id = 0;
  _kletsen_session_connection_lost (self, _("The server stopped reading what this client sends"));
  return G_SOURCE_REMOVE;
}

void
_kletsen_session_send_line (KletsenSession *self,
                            const char     *header,
                            JsonObject     *body)
{
  GBytes *line = kletsen_message_serialize (header, body);

  if (self->connection == NULL)
    {
      g_bytes_unref (line);
      return;
    }
  self->unsent_bytes += g_bytes_get_size (line);
  g_queue_push_tail (&self->out, line);
  /* Dropped from an idle callback: callers still hold what they queued. */
  if (self->unsent_bytes > MAX_UNSENT_BYTES && self->overflow_id == 0)
    self->overflow_id = g_idle_add (overflow_cb, self);
  write_next (self);
}

/* ---- reading ---- */

static void
read_cb (GObject      *object,
         GAsyncResult *result,
         gpointer      user_data)
{
  KletsenSession *self = user_data;
  g_autoptr(GError) error = NULL;
  gssize n = g_input_stream_read_finish (G_INPUT_STREAM (object), result, &error);

  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    {
      g_object_unref (self);
      return;
    }
  if (n <= 0)
    {
      _kletsen_session_connection_lost (self, n < 0 ? error->message : NULL);
      g_object_unref (self);
      return;
    }

  self->last_heard = g_get_monotonic_time ();
  if (kletsen_framer_feed (self->framer, (char *)self->read_buffer, n, _kletsen_session_line_cb, self) == KLETSEN_FRAMER_OVER_LIMIT)
    _kletsen_session_connection_lost (self, _("The server sent a line that is too long"));
  else if (self->connection != NULL)
    read_more (self);
  g_object_unref (self);
}

static void
read_more (KletsenSession *self)
{
  g_input_stream_read_async (g_io_stream_get_input_stream (G_IO_STREAM (self->connection)),
                             self->read_buffer, READ_CHUNK, G_PRIORITY_DEFAULT, self->cancellable,
                             read_cb, g_object_ref (self));
}

/* ---- the server's certificate ---- */

static char *
server_key (KletsenSession *self)
{
  return g_strdup_printf ("%s:%u", self->host, self->port);
}

/* Called when GIO could not validate the certificate (unknown CA, self-signed,
 * wrong name, expired…): it is accepted only if it is exactly the one the
 * user trusted for this server. */
static gboolean
accept_certificate_cb (GTlsConnection       *connection,
                       GTlsCertificate      *certificate,
                       GTlsCertificateFlags  errors,
                       KletsenSession       *self)
{
  g_autofree char *key = server_key (self);
  g_autofree char *pinned = g_key_file_get_string (self->trusted_servers, "servers", key, NULL);
  g_autofree char *fingerprint = kletsen_certificate_fingerprint (certificate);

  g_free (self->certificate_fingerprint);
  self->certificate_fingerprint = g_strdup (fingerprint);
  if (pinned != NULL && g_str_equal (pinned, fingerprint))
    return TRUE;
  self->certificate_problem = pinned != NULL ? KLETSEN_SESSION_ERROR_CERTIFICATE_CHANGED
                                             : KLETSEN_SESSION_ERROR_UNTRUSTED_CERTIFICATE;
  return FALSE;
}

static void
client_event_cb (GSocketClient      *client,
                 GSocketClientEvent  event,
                 GSocketConnectable *connectable,
                 GIOStream          *connection,
                 KletsenSession     *self)
{
  if (event != G_SOCKET_CLIENT_TLS_HANDSHAKING || !G_IS_TLS_CLIENT_CONNECTION (connection))
    return;
  if (self->tls_database != NULL)
    g_tls_connection_set_database (G_TLS_CONNECTION (connection), self->tls_database);
  /* Lines end with newlines, so a cut-off stream cannot fake a message. */
  g_tls_connection_set_require_close_notify (G_TLS_CONNECTION (connection), FALSE);
  g_signal_connect (connection, "accept-certificate", G_CALLBACK (accept_certificate_cb), self);
}

/* After a handshake that GIO validated: a server the user pinned must still
 * show the pinned certificate, even if a CA vouches for the new one. */
static gboolean
check_pinned (KletsenSession *self)
{
  GTlsCertificate *certificate;
  g_autofree char *key = server_key (self);
  g_autofree char *pinned = g_key_file_get_string (self->trusted_servers, "servers", key, NULL);
  GIOStream *tls = G_IS_TCP_WRAPPER_CONNECTION (self->connection)
                     ? g_tcp_wrapper_connection_get_base_io_stream (G_TCP_WRAPPER_CONNECTION (self->connection))
                     : NULL;

  if (!G_IS_TLS_CONNECTION (tls))
    return TRUE;
  certificate = g_tls_connection_get_peer_certificate (G_TLS_CONNECTION (tls));
  g_free (self->certificate_fingerprint);
  self->certificate_fingerprint = certificate ? kletsen_certificate_fingerprint (certificate) : NULL;
  if (pinned == NULL || self->certificate_fingerprint == NULL || g_str_equal (pinned, self->certificate_fingerprint))
    return TRUE;
  self->certificate_problem = KLETSEN_SESSION_ERROR_CERTIFICATE_CHANGED;
  return FALSE;
}

static GError *
certificate_error (KletsenSession *self)
{
  if (self->certificate_problem == KLETSEN_SESSION_ERROR_CERTIFICATE_CHANGED)
    return g_error_new (KLETSEN_SESSION_ERROR, KLETSEN_SESSION_ERROR_CERTIFICATE_CHANGED,
                        _("The server’s certificate is not the one you trusted before (now %s). "
                          "Someone may be intercepting the connection."), self->certificate_fingerprint);
  return g_error_new (KLETSEN_SESSION_ERROR, KLETSEN_SESSION_ERROR_UNTRUSTED_CERTIFICATE,
                      _("Nobody vouches for the server’s certificate (fingerprint %s)."),
                      self->certificate_fingerprint ? self->certificate_fingerprint : "?");
}

/* A certificate problem ends the attempt for good: retrying cannot fix it. */
static void
refuse_certificate (KletsenSession *self)
{
  g_autoptr(GError) error = certificate_error (self);
  GTask *task = g_steal_pointer (&self->connect_task);

  self->want_online = FALSE;
  _kletsen_session_set_last_error (self, error->message);
  if (task != NULL)
    {
      g_task_return_error (task, g_error_copy (error));
      g_object_unref (task);
    }
  _kletsen_session_connection_lost (self, NULL);
}

/* ---- connecting, losing the connection, reconnecting ---- */

static gboolean
watchdog_cb (gpointer user_data)
{
  KletsenSession *self = user_data;
  gint64 silence_ms = (g_get_monotonic_time () - self->last_heard) / 1000;

  /* The server pings every interval; after interval + timeout of silence it is gone. */
  if (self->state == KLETSEN_SESSION_ONLINE && silence_ms > self->ping_interval_ms + self->pong_timeout_ms)
    _kletsen_session_connection_lost (self, _("The server stopped answering"));
  return G_SOURCE_CONTINUE;
}

static gboolean
login_timeout_cb (gpointer user_data)
{
  KletsenSession *self = user_data;

  self->login_timeout_id = 0;
  if (self->state != KLETSEN_SESSION_ONLINE)
    _kletsen_session_connection_lost (self, _("The server did not answer in time"));
  return G_SOURCE_REMOVE;
}

static gboolean
reconnect_cb (gpointer user_data)
{
  KletsenSession *self = user_data;

  self->reconnect_id = 0;
  start_connecting (self);
  return G_SOURCE_REMOVE;
}

static void
schedule_reconnect (KletsenSession *self)
{
  if (!self->want_online || self->reconnect_id != 0)
    return;
  self->backoff_ms = self->backoff_ms == 0 ? BACKOFF_MIN_MS : MIN (self->backoff_ms * 2, BACKOFF_MAX_MS);
  /* ±25 % jitter, so that a restarted server is not hit by everyone at once. */
  self->reconnect_id = g_timeout_add (self->backoff_ms * 3 / 4 + g_random_int_range (0, self->backoff_ms / 2 + 1),
                                      reconnect_cb, self);
}

/* The connection ended (or never came up): fail what waited, and try again
 * unless the user asked to go offline. */
void
_kletsen_session_connection_lost (KletsenSession *self,
                                  const char     *why)
{
  g_autoptr(GError) lost = g_error_new_literal (KLETSEN_SESSION_ERROR, KLETSEN_SESSION_ERROR_LOST,
                                                why ? why : _("The connection to the server was lost"));
  GTask *task = g_steal_pointer (&self->connect_task);
  Pending *p;

  if (why != NULL)
    _kletsen_session_set_last_error (self, why);

  g_cancellable_cancel (self->cancellable);
  g_clear_object (&self->cancellable);
  if (self->connection != NULL)
    g_io_stream_close (G_IO_STREAM (self->connection), NULL, NULL);
  g_clear_object (&self->connection);
  g_queue_clear_full (&self->out, (GDestroyNotify)g_bytes_unref);
  self->unsent_bytes = 0;
  self->writing = FALSE;
  g_clear_handle_id (&self->watchdog_id, g_source_remove);
  g_clear_handle_id (&self->login_timeout_id, g_source_remove);
  g_clear_handle_id (&self->overflow_id, g_source_remove);
  if (self->online_since != 0 && g_get_monotonic_time () - self->online_since >= (gint64)STABLE_MS * 1000)
    self->backoff_ms = 0;
  self->online_since = 0;
  _kletsen_game_state_reset (self->game);

  while ((p = g_queue_pop_head (&self->pending)) != NULL)
    {
      if (p->message != NULL)
        kletsen_chat_message_set_state (p->message, KLETSEN_MESSAGE_STATE_FAILED, 0);
      if (p->transfer != NULL)
        _kletsen_file_transfer_fail (p->transfer, KLETSEN_TRANSFER_FAILED, 0, lost->message);
      if (p->task != NULL)
        g_task_return_error (p->task, g_error_copy (lost));
      _kletsen_session_pending_free (p);
    }
  {
    GHashTableIter iter;
    gpointer key;
    g_autoptr(GPtrArray) keys = g_ptr_array_new_with_free_func (g_free);

    g_hash_table_iter_init (&iter, self->secure_queue);
    while (g_hash_table_iter_next (&iter, &key, NULL))
      g_ptr_array_add (keys, g_strdup (key));
    for (guint i = 0; i < keys->len; i++)
      _kletsen_session_fail_secure_queue (self, g_ptr_array_index (keys, i), g_error_copy (lost));
  }
  g_hash_table_remove_all (self->peer_keys);
  kletsen_people_all_offline (self->people);

  _kletsen_session_set_state (self, KLETSEN_SESSION_DISCONNECTED);
  /* With a list of servers (the nodes of a cluster), the next try goes to
   * the next one: the node we had may be the one that died. */
  if (self->servers->len > 1)
    self->server_index = (self->server_index + 1) % self->servers->len;

  if (task != NULL && self->want_online && !self->was_online)
    {
      /* The very first attempt failed: tell the caller, do not retry behind its back. */
      self->want_online = FALSE;
      g_task_return_error (task, g_error_copy (lost));
      g_object_unref (task);
      return;
    }
  if (task != NULL)
    {
      g_task_return_error (task, g_error_copy (lost));
      g_object_unref (task);
    }
  schedule_reconnect (self);
}

static void
connected_cb (GObject      *object,
              GAsyncResult *result,
              gpointer      user_data)
{
  KletsenSession *self = user_data;
  g_autoptr(GError) error = NULL;
  GSocketConnection *connection = g_socket_client_connect_to_host_finish (G_SOCKET_CLIENT (object), result, &error);

  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    {
      g_object_unref (self);
      return;
    }
  if (connection == NULL && self->certificate_problem >= 0)
    {
      refuse_certificate (self);
      g_object_unref (self);
      return;
    }
  if (connection == NULL && self->servers->len > 1 && ++self->servers_tried < self->servers->len)
    {
      /* A server of the list that cannot be reached: the next one, now. */
      self->server_index = (self->server_index + 1) % self->servers->len;
      start_connecting (self);
      g_object_unref (self);
      return;
    }
  if (connection == NULL)
    {
      self->servers_tried = 0;
      _kletsen_session_connection_lost (self, error->message);
      g_object_unref (self);
      return;
    }

  self->servers_tried = 0;
  self->connection = G_IO_STREAM (connection);
  if (!check_pinned (self))
    {
      refuse_certificate (self);
      g_object_unref (self);
      return;
    }
  g_socket_set_option (g_socket_connection_get_socket (connection), IPPROTO_TCP, TCP_NODELAY, 1, NULL);
  begin_login (self);
  g_object_unref (self);
}

/* The connection is up: wait for the WELCOME, and watch the silence. */
static void
begin_login (KletsenSession *self)
{
  kletsen_framer_free (self->framer);
  self->framer = kletsen_framer_new (MAX_LINE);
  self->last_heard = g_get_monotonic_time ();
  self->watchdog_id = g_timeout_add (MAX (self->ping_interval_ms / 4, 50), watchdog_cb, self);
  self->login_sent = FALSE;
  _kletsen_session_set_state (self, KLETSEN_SESSION_LOGGING_IN);
  read_more (self);
}

static void
start_connecting (KletsenSession *self)
{
  g_autoptr(GSocketClient) client = g_socket_client_new ();

  g_clear_object (&self->cancellable);
  self->cancellable = g_cancellable_new ();
  /* No I/O timeout on the socket: it would hold for the connection's whole
   * life and race the server's PING. The login timer bounds the way in. */
  g_socket_client_set_tls (client, self->tls);
  g_clear_handle_id (&self->login_timeout_id, g_source_remove);
  self->login_timeout_id = g_timeout_add (self->login_timeout_ms, login_timeout_cb, self);
  self->certificate_problem = -1;
  g_signal_connect (client, "event", G_CALLBACK (client_event_cb), self);
  _kletsen_session_set_state (self, KLETSEN_SESSION_CONNECTING);
  g_free (self->current_host);
  if (self->servers->len > 0)
    {
      GNetworkAddress *server = g_ptr_array_index (self->servers, self->server_index % self->servers->len);
      guint16 port = g_network_address_get_port (server);

      self->current_host = g_strdup (g_network_address_get_hostname (server));
      self->current_port = port ? port : self->port;
      g_socket_client_connect_to_host_async (client, self->current_host, self->current_port,
                                             self->cancellable, connected_cb, g_object_ref (self));
      return;
    }
  self->current_host = g_strdup (self->host);
  self->current_port = self->port;
  g_socket_client_connect_to_host_async (client, self->host, self->port, self->cancellable,
                                         connected_cb, g_object_ref (self));
}

/* ---- public API: connection ---- */

/* The data folder holds the key pair, the pinned keys and the history:
 * one that is readable by others (made by an older Kletsen, or by hand)
 * is closed to its owner, and so is every file in it. */
static void
secure_data_dir (KletsenSession *self)
{
  g_autoptr(GDir) dir = NULL;
  GStatBuf st;
  const char *name;

  if (g_stat (self->data_dir, &st) != 0)
    return;
  if ((st.st_mode & 077) != 0 && g_chmod (self->data_dir, 0700) != 0)
    g_warning ("Cannot close %s to others: %s", self->data_dir, g_strerror (errno));
  dir = g_dir_open (self->data_dir, 0, NULL);
  while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *path = g_build_filename (self->data_dir, name, NULL);

      if (g_lstat (path, &st) == 0 && S_ISREG (st.st_mode) && (st.st_mode & 077) != 0)
        g_chmod (path, 0600);
    }
}

static gboolean
ensure_identity (KletsenSession  *self,
                 GError         **error)
{
  g_autofree char *path = NULL;

  if (self->identity != NULL)
    return TRUE;
  secure_data_dir (self);
  path = g_build_filename (self->data_dir, "identity.pem", NULL);
  self->identity = kletsen_identity_load_or_create (path, error);
  if (self->identity == NULL)
    return FALSE;
  self->fingerprint = kletsen_crypto_fingerprint (kletsen_identity_get_public_key (self->identity));
  return TRUE;
}

/**
 * _kletsen_session_connect_stream:
 * @stream: a stream that plays the server, already connected
 *
 * Logs in as @username over @stream instead of a socket, and does not
 * reconnect when it ends. For tests and the session fuzzer, which need no
 * network.
 */
gboolean
_kletsen_session_connect_stream (KletsenSession  *self,
                                 const char      *username,
                                 GIOStream       *stream,
                                 GError         **error)
{
  g_return_val_if_fail (self->state == KLETSEN_SESSION_DISCONNECTED, FALSE);

  if (!ensure_identity (self, error))
    return FALSE;
  g_free (self->host);
  self->host = g_strdup ("stream");
  g_free (self->username);
  self->username = g_strdup (username);
  self->want_online = FALSE;
  self->was_online = FALSE;
  g_clear_object (&self->cancellable);
  self->cancellable = g_cancellable_new ();
  self->connection = g_object_ref (stream);
  begin_login (self);
  return TRUE;
}

/**
 * _kletsen_session_set_side_channel_func:
 * @func: (nullable): opens the side channel of an accepted transfer, instead
 *   of a connection to the server's file port
 */
void
_kletsen_session_set_side_channel_func (KletsenSession         *self,
                                        KletsenSideChannelFunc  func,
                                        gpointer                user_data)
{
  self->side_channel_func = func;
  self->side_channel_data = user_data;
}

/**
 * kletsen_session_connect_async:
 *
 * Connects and logs in. The result comes when the session is online, or
 * with the login's error code. Once online, a lost connection is restored in
 * the background (with backoff) until kletsen_session_disconnect().
 */
void
kletsen_session_connect_async (KletsenSession      *self,
                               const char          *host,
                               guint16              port,
                               const char          *username,
                               GCancellable        *cancellable,
                               GAsyncReadyCallback  callback,
                               gpointer             user_data)
{
  g_autoptr(GTask) task = g_task_new (self, cancellable, callback, user_data);
  g_autoptr(GError) error = NULL;

  g_task_set_source_tag (task, TAG_CONNECT);
  if (self->state != KLETSEN_SESSION_DISCONNECTED || self->connect_task != NULL)
    {
      g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_PENDING, "Already connected or connecting");
      return;
    }
  if (!kletsen_user_name_is_valid (username))
    {
      g_task_return_error (task, kletsen_protocol_error_new (KLETSEN_CODE_NAME_INVALID));
      return;
    }
  if (!ensure_identity (self, &error))
    {
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }

  g_free (self->host);
  self->host = g_strdup (host);
  g_free (self->username);
  self->username = g_strdup (username);
  self->port = port;
  _kletsen_session_forget_skeletons (self); /* another server: other pins */
  self->want_online = TRUE;
  self->was_online = FALSE;
  self->backoff_ms = 0;
  self->disconnect_reason = 0;
  self->connect_task = g_steal_pointer (&task);
  start_connecting (self);
}

/**
 * kletsen_session_set_servers:
 * @servers: (array zero-terminated=1) (nullable): "HOST" or "HOST:PORT"
 *   each, such as the nodes of a cluster; NULL for none
 *
 * Where to connect instead of the host given to
 * kletsen_session_connect_async(), which still names the server for pinned
 * keys and the history. The list is shuffled once; a server that cannot be
 * reached is skipped at once, and after a lost connection the next one is
 * tried first. A server without a port uses the one given to connect.
 */
void
kletsen_session_set_servers (KletsenSession     *self,
                             const char * const *servers)
{
  g_ptr_array_set_size (self->servers, 0);
  for (guint i = 0; servers != NULL && servers[i] != NULL; i++)
    {
      g_autoptr(GError) error = NULL;
      GSocketConnectable *address = g_network_address_parse (servers[i], 0, &error);

      if (address == NULL)
        g_warning ("not a server address: %s (%s)", servers[i], error->message);
      else
        g_ptr_array_add (self->servers, address);
    }
  /* Shuffled once, so that a cluster's users spread over its nodes. */
  for (guint i = self->servers->len; i > 1; i--)
    {
      guint j = g_random_int_range (0, i);
      gpointer swap = self->servers->pdata[i - 1];

      self->servers->pdata[i - 1] = self->servers->pdata[j];
      self->servers->pdata[j] = swap;
    }
  self->server_index = 0;
  self->servers_tried = 0;
}

/**
 * kletsen_session_get_server_address:
 *
 * Returns: (transfer full) (nullable): "HOST:PORT" of the server connected
 *   to, or tried last; with a list of servers, which one of them
 */
char *
kletsen_session_get_server_address (KletsenSession *self)
{
  if (self->current_host == NULL)
    return NULL;
  return g_strdup_printf ("%s:%u", self->current_host, self->current_port);
}

gboolean
kletsen_session_connect_finish (KletsenSession  *self,
                                GAsyncResult    *result,
                                GError         **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);
  return g_task_propagate_boolean (G_TASK (result), error);
}

/**
 * kletsen_session_reconnect_now:
 *
 * While a lost connection waits for its next attempt: makes it now.
 */
void
kletsen_session_reconnect_now (KletsenSession *self)
{
  if (!self->want_online || self->reconnect_id == 0)
    return;
  g_clear_handle_id (&self->reconnect_id, g_source_remove);
  start_connecting (self);
}

/**
 * kletsen_session_disconnect:
 *
 * Says BYE (when online) and stays offline.
 */
void
kletsen_session_disconnect (KletsenSession *self)
{
  GOutputStream *out;

  self->want_online = FALSE;
  g_clear_handle_id (&self->reconnect_id, g_source_remove);
  if (self->connection != NULL && self->state == KLETSEN_SESSION_ONLINE)
    {
      /* Written synchronously: it is one short line, and nothing may follow it. */
      out = g_io_stream_get_output_stream (G_IO_STREAM (self->connection));
      if (!self->writing)
        g_output_stream_write_all (out, "BYE\n", 4, NULL, NULL, NULL);
    }
  if (self->connection != NULL || self->cancellable != NULL)
    _kletsen_session_connection_lost (self, NULL);
}

/**
 * kletsen_session_set_tls:
 * @use_tls: speak TLS to the server (its TLS port, default 1339)
 * @database: (nullable): the certificates to trust; %NULL for the system's
 *
 * The file side channel follows: it uses TLS too, and trusts exactly the
 * certificate the chat connection trusted.
 */
void
kletsen_session_set_tls (KletsenSession *self,
                         gboolean        use_tls,
                         GTlsDatabase   *database)
{
  self->tls = use_tls;
  g_set_object (&self->tls_database, database);
}

gboolean
kletsen_session_get_tls (KletsenSession *self)
{
  return self->tls;
}

/**
 * kletsen_session_get_certificate_fingerprint:
 *
 * Returns: (nullable): the fingerprint of the server's certificate: the one
 *   in use, or the one just refused (to show the user before trusting it)
 */
const char *
kletsen_session_get_certificate_fingerprint (KletsenSession *self)
{
  return self->certificate_fingerprint;
}

/**
 * kletsen_session_trust_certificate:
 *
 * Trusts the certificate last refused as untrusted for this host and port
 * (after the user compared its fingerprint), pinned in the data directory.
 */
void
kletsen_session_trust_certificate (KletsenSession *self)
{
  g_autofree char *key = NULL;
  g_autoptr(GError) error = NULL;

  if (self->certificate_fingerprint == NULL || self->host == NULL)
    return;
  key = server_key (self);
  g_key_file_set_string (self->trusted_servers, "servers", key, self->certificate_fingerprint);
  g_mkdir_with_parents (self->data_dir, 0700);
  {
    gsize len;
    g_autofree char *data = g_key_file_to_data (self->trusted_servers, &len, NULL);

    /* Readable by this user only, like the pinned keys. */
    if (!g_file_set_contents_full (self->trusted_path, data, len, G_FILE_SET_CONTENTS_CONSISTENT, 0600, &error))
      g_warning ("Cannot save the trusted servers: %s", error->message);
  }
}
