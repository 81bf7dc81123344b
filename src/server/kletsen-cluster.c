/* kletsen-cluster.c
 *
 * Copyright 2026 The Kletsen authors
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

/* A node's life in the cluster (docs/cluster.md): two Redis connections
 * (cmd for every command and PUBLISH, so all of a node's effects are in one
 * order; sub for what it receives), joining, the heartbeat with its probe of
 * our own subscription, the reaper of dead nodes, and the degraded mode a
 * lost Redis puts the node in until it rejoins. What users do goes through
 * kletsen-cluster-users.c. */

#include "config.h"

#include <string.h>

#include "kletsen-cluster-private.h"

#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 2000
/* A command without its reply for this long means Redis is gone for us. */
#define COMMAND_DEADLINE_US (2 * G_USEC_PER_SEC)
#define JOIN_DEADLINE_US    (5 * G_USEC_PER_SEC)

static void connect_links (KletsenCluster *self);

/* ---- commands ---- */

static char *
node_channel (const char *inc)
{
  return g_strconcat ("kletsen:node:", inc, NULL);
}

/* @channel_inc is interned (every INC the cluster code holds is). */
gint64
_kletsen_cluster_next_seq (KletsenCluster *self,
                           const char     *channel_inc)
{
  gpointer value;

  if (channel_inc == NULL)
    return ++self->seq_all;
  value = g_hash_table_lookup (self->seq_to_node, channel_inc);
  value = GSIZE_TO_POINTER (GPOINTER_TO_SIZE (value) + 1);
  g_hash_table_insert (self->seq_to_node, (gpointer)channel_inc, value);
  return (gint64)GPOINTER_TO_SIZE (value);
}

/**
 * _kletsen_cluster_publish:
 * @channel_inc: (nullable): the node whose channel it goes to; NULL for
 *   kletsen:all
 * @fn: (nullable): gets the reply (the number of receiving nodes), or NULL
 *   when Redis could not take it, which it counts
 *
 * One PUBLISH on cmd, after everything this node published before.
 */
void
_kletsen_cluster_publish (KletsenCluster  *self,
                          const char      *channel_inc,
                          GBytes          *payload,
                          redisCallbackFn *fn,
                          gpointer         data)
{
  g_autofree char *owned = channel_inc ? node_channel (channel_inc) : NULL;
  const char *channel = owned ? owned : "kletsen:all";
  gsize size;
  const char *argv[] = { "PUBLISH", channel, g_bytes_get_data (payload, &size) };
  const gsize argvlen[] = { 7, strlen (channel), size };

  if (!_kletsen_redis_link_call (&self->cmd, fn, data, 3, argv, argvlen))
    {
      self->lost_publishes++;
      if (fn != NULL)
        fn (NULL, NULL, data);
    }
}

/**
 * _kletsen_cluster_call_script:
 * @args: (element-type utf8) (nullable): ARGV of the script
 *
 * EVAL of one script of kletsen-cluster-scripts.c on cmd. When Redis cannot
 * take it, @fn is called at once with a NULL reply.
 */
void
_kletsen_cluster_call_script (KletsenCluster  *self,
                              KletsenScript    script,
                              GPtrArray       *args,
                              redisCallbackFn *fn,
                              gpointer         data)
{
  guint n = args ? args->len : 0;
  g_autofree const char **argv = g_new (const char *, n + 3);
  g_autofree gsize *argvlen = g_new (gsize, n + 3);

  argv[0] = "EVAL";
  argv[1] = _kletsen_cluster_script (script);
  argv[2] = "0";
  for (guint i = 0; i < n; i++)
    argv[i + 3] = g_ptr_array_index (args, i);
  for (guint i = 0; i < n + 3; i++)
    argvlen[i] = strlen (argv[i]);
  if (!_kletsen_redis_link_call (&self->cmd, fn, data, (int)n + 3, argv, argvlen) && fn != NULL)
    fn (NULL, NULL, data);
}

static gboolean
reply_is_error (redisReply *reply)
{
  return reply == NULL || reply->type == REDIS_REPLY_ERROR;
}

/* ---- losing Redis, and coming back ---- */

static gboolean
reconnect_cb (gpointer user_data)
{
  KletsenCluster *self = user_data;

  self->reconnect_source = 0;
  connect_links (self);
  return G_SOURCE_REMOVE;
}

static void
schedule_reconnect (KletsenCluster *self,
                    guint           delay_ms)
{
  if (self->reconnect_source == 0)
    self->reconnect_source = g_timeout_add (delay_ms, reconnect_cb, self);
}

static gboolean
teardown_cb (gpointer user_data)
{
  KletsenCluster *self = user_data;
  guint jitter;

  self->reconnect_source = 0;
  _kletsen_redis_link_close (&self->sub);
  _kletsen_redis_link_close (&self->cmd);
  if (self->state == CLUSTER_LEAVING || self->state == CLUSTER_LEFT)
    return G_SOURCE_REMOVE;
  jitter = g_random_int_range (0, self->backoff_ms / 4 + 1);
  schedule_reconnect (self, self->backoff_ms + jitter);
  self->backoff_ms = MIN (self->backoff_ms * 2, BACKOFF_MAX_MS);
  return G_SOURCE_REMOVE;
}

/**
 * _kletsen_cluster_lost:
 *
 * A link failed, a command or our probe did not come back in time, or the
 * node was reaped: go degraded (local chat only, new logins 5003), then
 * reconnect and rejoin. Safe inside a hiredis callback: the links are closed
 * from the main loop.
 */
void
_kletsen_cluster_lost (KletsenCluster *self,
                       const char     *why)
{
  if (self->state == CLUSTER_LEAVING || self->state == CLUSTER_LEFT)
    {
      self->state = CLUSTER_LEFT;
      _kletsen_server_maybe_finish_shutdown (self->server);
      return;
    }
  if (self->state != CLUSTER_DEGRADED)
    {
      g_message ("cluster: %s; degraded (local chat only) until Redis is back", why);
      self->state = CLUSTER_DEGRADED;
      _kletsen_cluster_degrade_users (self);
    }
  if (self->reconnect_source == 0)
    self->reconnect_source = g_timeout_add (0, teardown_cb, self);
}

static void
link_lost_cb (KletsenRedisLink *link,
              const char       *why,
              gpointer          user_data)
{
  KletsenCluster *self = user_data;
  g_autofree char *message = g_strdup_printf ("Redis %s connection lost (%s)", link->role, why ? why : "?");

  _kletsen_cluster_lost (self, message);
}

/* ---- joining: subscribe, register, re-claim, snapshot ---- */

static void
snapshot_cb (redisAsyncContext *ac,
             void              *reply,
             void              *data)
{
  KletsenCluster *self = data;

  if (self->state != CLUSTER_CONNECTING)
    return;
  if (reply_is_error (reply) || ((redisReply *)reply)->type != REDIS_REPLY_ARRAY)
    {
      _kletsen_cluster_lost (self, "the user snapshot failed");
      return;
    }
  self->state = CLUSTER_JOINED;
  self->backoff_ms = BACKOFF_MIN_MS;
  self->probe_sent = 0;
  _kletsen_cluster_take_snapshot (self, reply);
  if (!self->ever_joined)
    g_message ("cluster: joined as %s", self->inc);
  else
    g_message ("cluster: rejoined as %s", self->inc);
  self->ever_joined = TRUE;
}

static void
register_cb (redisAsyncContext *ac,
             void              *reply,
             void              *data)
{
  KletsenCluster *self = data;

  if (reply_is_error (reply) && self->state == CLUSTER_CONNECTING)
    {
      if (reply != NULL)
        g_message ("cluster: registering failed: %s", ((redisReply *)reply)->str);
      _kletsen_cluster_lost (self, "registering failed");
    }
}

/* Both subscriptions confirmed (synapse#7427: not before), so nothing
 * published from now on is missed: register, re-claim our users, then read
 * the users of the cluster. The three go out together on cmd, in order. */
static void
subscribed (KletsenCluster *self)
{
  const char *hgetall[] = { "HGETALL", "kletsen:users" };
  g_autoptr(GPtrArray) args = g_ptr_array_new ();

  g_ptr_array_add (args, self->inc);
  g_ptr_array_add (args, self->node_name);
  g_ptr_array_add (args, self->chat_address);
  g_ptr_array_add (args, self->sub_id);
  _kletsen_cluster_call_script (self, KLETSEN_SCRIPT_REGISTER, args, register_cb, self);
  _kletsen_cluster_resync (self);
  self->snapshot_asked = TRUE;
  if (!_kletsen_redis_link_call (&self->cmd, snapshot_cb, self, 2, hgetall, NULL))
    _kletsen_cluster_lost (self, "cannot ask for the users");
}

static void
message_cb (redisAsyncContext *ac,
            void              *r,
            void              *data)
{
  KletsenCluster *self = data;
  redisReply *reply = r;
  redisReply *kind, *channel, *payload;

  if (reply == NULL || reply->type != REDIS_REPLY_ARRAY || reply->elements < 3)
    return;
  kind = reply->element[0];
  channel = reply->element[1];
  payload = reply->element[2];
  if (kind->type != REDIS_REPLY_STRING || channel->type != REDIS_REPLY_STRING)
    return;

  if (strcmp (kind->str, "subscribe") == 0)
    {
      if (++self->subscribed == 2 && self->state == CLUSTER_CONNECTING)
        subscribed (self);
      return;
    }
  if (strcmp (kind->str, "message") != 0 || payload->type != REDIS_REPLY_STRING)
    return;

  switch (self->state)
    {
    case CLUSTER_JOINED:
      _kletsen_cluster_apply (self, channel->str, payload->str, payload->len);
      break;
    case CLUSTER_CONNECTING:
      /* Re-applied after the snapshot: idempotent. */
      if (self->snapshot_asked)
        {
          GByteArray *copy = g_byte_array_sized_new (channel->len + 1 + payload->len);

          g_byte_array_append (copy, (const guint8 *)channel->str, channel->len + 1);
          g_byte_array_append (copy, (const guint8 *)payload->str, payload->len);
          g_ptr_array_add (self->early, copy);
        }
      break;
    default:
      break; /* degraded: what still trickles in is dropped with the link */
    }
}

static void
client_id_cb (redisAsyncContext *ac,
              void              *r,
              void              *data)
{
  KletsenCluster *self = data;
  redisReply *reply = r;
  g_autofree char *own = NULL;
  const char *argv[3] = { "SUBSCRIBE", "kletsen:all", NULL };

  if (reply == NULL || reply->type != REDIS_REPLY_INTEGER)
    {
      if (reply != NULL)
        _kletsen_cluster_lost (self, "CLIENT ID failed");
      return;
    }
  g_free (self->sub_id);
  self->sub_id = g_strdup_printf ("%lld", reply->integer);
  own = node_channel (self->inc);
  argv[2] = own;
  if (!_kletsen_redis_link_subscribe (&self->sub, message_cb, self, 3, argv))
    _kletsen_cluster_lost (self, "cannot subscribe");
}

static void
connect_links (KletsenCluster *self)
{
  g_autoptr(GError) error = NULL;
  const char *client_id[] = { "CLIENT", "ID" };

  if (self->state == CLUSTER_LEAVING || self->state == CLUSTER_LEFT)
    return;
  self->subscribed = 0;
  self->snapshot_asked = FALSE;
  g_ptr_array_set_size (self->early, 0);
  g_clear_pointer (&self->sub_id, g_free);
  if (!_kletsen_redis_link_open (&self->cmd, &self->address, &error) ||
      !_kletsen_redis_link_open (&self->sub, &self->address, &error))
    {
      if (self->state != CLUSTER_DEGRADED && self->state != CLUSTER_CONNECTING)
        g_message ("cluster: %s", error->message);
      self->state = self->ever_joined ? CLUSTER_DEGRADED : CLUSTER_CONNECTING;
      _kletsen_redis_link_close (&self->cmd);
      schedule_reconnect (self, self->backoff_ms);
      self->backoff_ms = MIN (self->backoff_ms * 2, BACKOFF_MAX_MS);
      return;
    }
  /* Not routing until the snapshot is in: logins still get 5003. */
  self->state = CLUSTER_CONNECTING;
  self->join_started = g_get_monotonic_time ();
  _kletsen_redis_link_call (&self->sub, client_id_cb, self, 2, client_id, NULL);
}

/* ---- heartbeat, probe, reaper ---- */

static void
heartbeat_cb (redisAsyncContext *ac,
              void              *r,
              void              *data)
{
  KletsenCluster *self = data;
  redisReply *reply = r;

  if (reply != NULL && reply->type == REDIS_REPLY_INTEGER && reply->integer == 0 &&
      self->state == CLUSTER_JOINED)
    _kletsen_cluster_lost (self, "this node was declared dead by the others");
}

static void
reap_cb (redisAsyncContext *ac,
         void              *r,
         void              *data)
{
  redisReply *reply = r;

  if (reply != NULL && reply->type == REDIS_REPLY_INTEGER && reply->integer > 0)
    g_message ("cluster: reaped %lld dead node(s)", reply->integer);
}

static gboolean
tick_cb (gpointer user_data)
{
  KletsenCluster *self = user_data;
  gint64 now = g_get_monotonic_time ();
  gint64 oldest = _kletsen_redis_link_oldest (&self->cmd);
  g_autoptr(GPtrArray) args = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(GBytes) probe = NULL;

  if (self->state == CLUSTER_CONNECTING && self->cmd.ac != NULL &&
      now - self->join_started > JOIN_DEADLINE_US)
    {
      _kletsen_cluster_lost (self, "joining took too long");
      return G_SOURCE_CONTINUE;
    }
  if (self->state != CLUSTER_JOINED && self->state != CLUSTER_LEAVING)
    return G_SOURCE_CONTINUE;
  if (oldest != 0 && now - oldest > COMMAND_DEADLINE_US)
    {
      _kletsen_cluster_lost (self, "Redis does not answer");
      return G_SOURCE_CONTINUE;
    }
  if (self->state == CLUSTER_LEAVING)
    return G_SOURCE_CONTINUE;
  _kletsen_cluster_expire_limbo (self);
  /* centrifugo#1189: a subscription can die while everything else works. */
  if (self->probe_sent != 0)
    {
      _kletsen_cluster_lost (self, "our own probe did not come back");
      return G_SOURCE_CONTINUE;
    }

  g_ptr_array_add (args, g_strdup (self->inc));
  _kletsen_cluster_call_script (self, KLETSEN_SCRIPT_HEARTBEAT, args, heartbeat_cb, self);
  probe = _kletsen_envelope_build (self->inc, _kletsen_cluster_next_seq (self, self->inc_interned), "P", NULL, NULL);
  self->probe_sent = now;
  _kletsen_cluster_publish (self, self->inc, probe, NULL, NULL);

  g_ptr_array_set_size (args, 0);
  g_ptr_array_add (args, g_strdup_printf ("%d", self->server->options.cluster_dead_ms));
  g_ptr_array_add (args, g_strdup (""));
  _kletsen_cluster_call_script (self, KLETSEN_SCRIPT_REAP, args, reap_cb, self);
  return G_SOURCE_CONTINUE;
}

/* ---- the node ---- */

static char *
describe_chat_address (KletsenServer *server)
{
  g_autoptr(GSocketAddress) address = kletsen_server_get_address (server);
  g_autofree char *host = NULL;

  if (address == NULL)
    address = kletsen_server_get_tls_address (server);
  if (!G_IS_INET_SOCKET_ADDRESS (address))
    return g_strdup ("unknown");
  host = g_inet_address_to_string (g_inet_socket_address_get_address (G_INET_SOCKET_ADDRESS (address)));
  return g_strdup_printf ("%s:%u", host, g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (address)));
}

/* Where other nodes forward side channels: --advertise, else the address
 * the file port is bound to, else loopback (one machine). */
static char *
describe_file_address (KletsenServer *server)
{
  g_autoptr(GSocketAddress) address = kletsen_server_get_file_address (server);
  g_autofree char *host = NULL;
  GInetAddress *bound;

  if (!G_IS_INET_SOCKET_ADDRESS (address))
    return g_strdup ("127.0.0.1:0");
  bound = g_inet_socket_address_get_address (G_INET_SOCKET_ADDRESS (address));
  if (server->options.advertise != NULL)
    host = g_strdup (server->options.advertise);
  else if (g_inet_address_get_is_any (bound))
    host = g_strdup ("127.0.0.1");
  else
    host = g_inet_address_to_string (bound);
  if (strchr (host, ':') != NULL)
    return g_strdup_printf ("[%s]:%u", host, g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (address)));
  return g_strdup_printf ("%s:%u", host, g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (address)));
}

KletsenCluster *
_kletsen_cluster_new (KletsenServer  *server,
                      GError        **error)
{
  KletsenCluster *self = g_new0 (KletsenCluster, 1);
  const KletsenServerOptions *options = &server->options;

  self->server = server;
  if (!_kletsen_redis_address_parse (options->cluster, &self->address, error))
    {
      g_free (self);
      return NULL;
    }
  self->chat_address = describe_chat_address (server);
  self->file_address = describe_file_address (server);
  self->node_name = g_strdup (options->node_name ? options->node_name : self->chat_address);
  if (!_kletsen_node_name_is_valid (self->node_name))
    {
      g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                   "--node-name: 1 to 64 printable characters without spaces or slashes");
      _kletsen_cluster_free (self);
      return NULL;
    }
  self->inc = g_strdup_printf ("%s/%08x%08x", self->node_name, g_random_int (), g_random_int ());
  self->inc_interned = g_intern_string (self->inc);
  self->cmd.server = self->sub.server = server;
  self->cmd.role = "cmd";
  self->sub.role = "sub";
  self->cmd.lost = self->sub.lost = link_lost_cb;
  self->cmd.lost_data = self->sub.lost_data = self;
  self->early = g_ptr_array_new_with_free_func ((GDestroyNotify)g_byte_array_unref);
  self->seq_to_node = g_hash_table_new (NULL, NULL);
  self->backoff_ms = BACKOFF_MIN_MS;
  _kletsen_cluster_users_init (self);

  self->state = CLUSTER_CONNECTING;
  connect_links (self);
  self->tick_source = g_timeout_add (MAX (options->cluster_heartbeat_ms, 50), tick_cb, self);
  return self;
}

void
_kletsen_cluster_free (KletsenCluster *self)
{
  if (self == NULL)
    return;
  self->state = CLUSTER_LEFT;
  _kletsen_redis_link_close (&self->sub);
  _kletsen_redis_link_close (&self->cmd);
  g_clear_handle_id (&self->tick_source, g_source_remove);
  g_clear_handle_id (&self->reconnect_source, g_source_remove);
  _kletsen_cluster_users_fini (self);
  _kletsen_cluster_files_fini (self);
  g_free (self->file_address);
  g_clear_pointer (&self->early, g_ptr_array_unref);
  g_clear_pointer (&self->seq_to_node, g_hash_table_unref);
  _kletsen_redis_address_clear (&self->address);
  g_free (self->sub_id);
  g_free (self->chat_address);
  g_free (self->node_name);
  g_free (self->inc);
  g_free (self);
}

const char *
_kletsen_cluster_get_incarnation (KletsenCluster *self)
{
  return self->ever_joined ? self->inc : NULL;
}

gboolean
_kletsen_cluster_is_routing (KletsenCluster *self)
{
  return self->state == CLUSTER_JOINED;
}

static void
leave_cb (redisAsyncContext *ac,
          void              *r,
          void              *data)
{
  KletsenCluster *self = data;

  self->state = CLUSTER_LEFT;
  g_message ("cluster: left");
  _kletsen_server_maybe_finish_shutdown (self->server);
}

/* SIGTERM: the others see our users leave now, not after dead_ms
 * (Synapse's CLEAR_USER_SYNC, Phoenix's permdown_on_shutdown). */
void
_kletsen_cluster_leave (KletsenCluster *self)
{
  g_autoptr(GPtrArray) args = g_ptr_array_new ();
  gboolean joined = self->state == CLUSTER_JOINED;

  if (self->state == CLUSTER_LEAVING || self->state == CLUSTER_LEFT)
    return;
  self->state = joined ? CLUSTER_LEAVING : CLUSTER_LEFT;
  if (!joined)
    return;
  g_ptr_array_add (args, self->inc);
  _kletsen_cluster_call_script (self, KLETSEN_SCRIPT_LEAVE, args, leave_cb, self);
}

gboolean
_kletsen_cluster_is_leaving (KletsenCluster *self)
{
  return self->state == CLUSTER_LEAVING;
}
