/* kletsen-cluster-users.c
 *
 * Copyright 2026 The Kletsen authors
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

/* What users do, across nodes (docs/cluster.md): broadcasts delivered on
 * their echo so that every receiver on every node sees one order, the
 * replica of all users that LIST_USERS and private messages are answered
 * from, JOINED and LEFT, and what each envelope does when it arrives. The
 * claim behind a login is kletsen-cluster-login.c. */

#include "config.h"

#include <string.h>

#include "kletsen-cluster-private.h"

/* One of our broadcasts on its way to Redis and back. */
typedef struct
{
  guint64  serial;
  GBytes  *line;
} PendingBroadcast;

static void
pending_broadcast_free (PendingBroadcast *pending)
{
  g_bytes_unref (pending->line);
  g_free (pending);
}

static void
replica_user_free (KletsenReplicaUser *user)
{
  g_free (user->shown);
  g_free (user);
}

void
_kletsen_cluster_users_init (KletsenCluster *self)
{
  self->replica = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                         (GDestroyNotify)replica_user_free);
  self->live = g_hash_table_new (g_int64_hash, g_int64_equal);
  self->claims = g_hash_table_new_full (g_str_hash, g_str_equal, NULL, (GDestroyNotify)_kletsen_cluster_claim_free);
  self->claims_by_serial = g_hash_table_new (g_int64_hash, g_int64_equal);
  self->limbo = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  self->game_players = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  self->seen_all = g_hash_table_new (NULL, NULL);
  self->seen_node = g_hash_table_new (NULL, NULL);
}

void
_kletsen_cluster_users_fini (KletsenCluster *self)
{
  g_clear_pointer (&self->claims_by_serial, g_hash_table_unref);
  g_clear_pointer (&self->claims, g_hash_table_unref);
  g_clear_pointer (&self->replica, g_hash_table_unref);
  g_clear_pointer (&self->limbo, g_hash_table_unref);
  g_clear_pointer (&self->game_players, g_hash_table_unref);
  g_clear_pointer (&self->live, g_hash_table_unref);
  g_clear_pointer (&self->user_list_line, g_bytes_unref);
  g_clear_pointer (&self->seen_all, g_hash_table_unref);
  g_clear_pointer (&self->seen_node, g_hash_table_unref);
  g_queue_clear_full (&self->pending_broadcasts, (GDestroyNotify)pending_broadcast_free);
}

void
_kletsen_cluster_connection_new (KletsenCluster    *self,
                                 KletsenConnection *conn)
{
  g_hash_table_insert (self->live, &conn->serial, conn);
}

void
_kletsen_cluster_connection_free (KletsenCluster    *self,
                                  KletsenConnection *conn)
{
  KletsenClaim *claim = _kletsen_cluster_claim_of (self, conn);

  /* If its claim succeeds after all, our own JOINED finds nobody and
   * releases the name (see apply_joined). */
  if (claim != NULL)
    _kletsen_cluster_drop_claim (self, claim);
  g_hash_table_remove (self->live, &conn->serial);
}

/* ---- what local users see ---- */

static GBytes *
username_line (const char *header,
               const char *name)
{
  g_autoptr(JsonObject) body = json_object_new ();

  json_object_set_string_member (body, "username", name);
  return kletsen_message_serialize (header, body);
}

static void
fan_out_username (KletsenCluster    *self,
                  const char        *header,
                  const char        *name,
                  KletsenConnection *except)
{
  g_autoptr(GBytes) line = username_line (header, name);

  _kletsen_server_queue_fan_out (self->server, line, except);
}

static void
replica_changed (KletsenCluster *self)
{
  g_clear_pointer (&self->user_list_line, g_bytes_unref);
}

GBytes *
_kletsen_cluster_user_list_line (KletsenCluster *self)
{
  g_autoptr(GPtrArray) names = NULL;
  GHashTableIter iter;
  KletsenReplicaUser *user;

  if (self->user_list_line != NULL)
    return self->user_list_line;
  names = g_ptr_array_sized_new (g_hash_table_size (self->replica));
  g_hash_table_iter_init (&iter, self->replica);
  while (g_hash_table_iter_next (&iter, NULL, (gpointer *)&user))
    g_ptr_array_add (names, user->shown);
  self->user_list_line = _kletsen_server_serialize_user_list (names);
  return self->user_list_line;
}

/* ---- users leaving ---- */

/* Takes @folded off the replica if @inc has it there; TRUE when it did. */
static gboolean
replica_remove (KletsenCluster *self,
                const char     *folded,
                const char     *inc,
                char          **shown)
{
  KletsenReplicaUser *user = g_hash_table_lookup (self->replica, folded);

  if (user == NULL || user->inc != inc)
    return FALSE;
  g_hash_table_remove (self->limbo, folded);
  if (shown != NULL)
    *shown = g_strdup (user->shown);
  g_hash_table_remove (self->replica, folded);
  replica_changed (self);
  return TRUE;
}

static void
replica_set (KletsenCluster *self,
             const char     *folded,
             const char     *shown,
             const char     *inc)
{
  KletsenReplicaUser *user = g_new0 (KletsenReplicaUser, 1);

  user->shown = g_strdup (shown);
  user->inc = inc;
  g_hash_table_insert (self->replica, g_strdup (folded), user);
  replica_changed (self);
}

/* The name of a user who said BYE is free in Redis (or Redis is gone, and
 * the name with it once this node rejoins): now BYE_RESP, as one server
 * sends it. Before, BYE_RESP went out before the release had reached
 * Redis, and the same user logging in at once on another node could still
 * get 5000 (/cluster/names: 8 of 500 runs, two at a time). */
static void
released_for_bye_cb (redisAsyncContext *ac,
                     void              *reply,
                     void              *data)
{
  KletsenClusterPending *pending = data;
  KletsenConnection *conn = _kletsen_cluster_live_connection (pending->cluster, pending->serial);

  if (conn != NULL)
    {
      _kletsen_connection_send_status (conn, "BYE_RESP", 0);
      _kletsen_connection_close (conn, 0);
      /* A closing connection reads on, to see the peer's end. */
      _kletsen_connection_set_reading (conn, TRUE);
    }
  _kletsen_cluster_pending_free (pending);
}

/**
 * _kletsen_cluster_bye:
 *
 * Takes @conn out of the chat now and answers its BYE when Redis has
 * released its name, so that BYE_RESP means the name is free on every
 * node. Nothing more is read from @conn meanwhile.
 *
 * Returns: %FALSE when the cluster cannot release it now: answer at once
 */
gboolean
_kletsen_cluster_bye (KletsenCluster    *self,
                      KletsenConnection *conn)
{
  if (self->state != CLUSTER_JOINED || conn->name_lost)
    return FALSE;
  conn->leaving = TRUE;
  _kletsen_connection_set_reading (conn, FALSE);
  _kletsen_server_remove_user (self->server, conn);
  return TRUE;
}

void
_kletsen_cluster_user_gone (KletsenCluster    *self,
                            KletsenConnection *conn)
{
  g_autofree char *folded = kletsen_user_name_key (conn->name);

  if (self->state == CLUSTER_LEAVING || self->state == CLUSTER_LEFT)
    return; /* the LEAVE script takes every name at once */
  if (conn->name_lost)
    return; /* another node has the name now; the others saw LEFT already */
  if (self->state == CLUSTER_JOINED)
    {
      g_autoptr(GPtrArray) args = g_ptr_array_new ();

      /* LEFT reaches everyone, here too, with its echo. */
      g_ptr_array_add (args, self->inc);
      g_ptr_array_add (args, folded);
      g_ptr_array_add (args, conn->name);
      if (conn->leaving)
        _kletsen_cluster_call_script (self, KLETSEN_SCRIPT_RELEASE, args, released_for_bye_cb,
                                      _kletsen_cluster_pending_new (self, conn->serial, folded));
      else
        _kletsen_cluster_call_script (self, KLETSEN_SCRIPT_RELEASE, args, NULL, NULL);
      return;
    }
  /* Degraded: the claim is dropped when the node rejoins (resync). */
  if (replica_remove (self, folded, self->inc_interned, NULL))
    fan_out_username (self, "LEFT", conn->name, conn);
}

/* ---- broadcasts ---- */

gboolean
_kletsen_cluster_broadcast (KletsenCluster    *self,
                            KletsenConnection *conn,
                            GBytes            *line)
{
  g_autoptr(GBytes) envelope = NULL;
  PendingBroadcast *pending;

  if (self->state != CLUSTER_JOINED)
    return FALSE;
  envelope = _kletsen_envelope_build (self->inc, _kletsen_cluster_next_seq (self, NULL), "B", NULL, line);
  pending = g_new (PendingBroadcast, 1);
  pending->serial = conn->serial;
  pending->line = g_bytes_ref (line);
  g_queue_push_tail (&self->pending_broadcasts, pending);
  _kletsen_cluster_publish (self, NULL, envelope, NULL, NULL);
  return TRUE;
}

/* Our own broadcast is back: everyone here gets it in Redis's order, and
 * then its sender the confirmation. */
static void
apply_broadcast (KletsenCluster        *self,
                 gboolean               ours,
                 const KletsenEnvelope *envelope)
{
  g_autoptr(GBytes) wire = g_bytes_new (envelope->wire, envelope->wire_len);
  KletsenConnection *sender = NULL;

  if (ours)
    {
      PendingBroadcast *pending = g_queue_pop_head (&self->pending_broadcasts);

      if (pending != NULL)
        {
          sender = _kletsen_cluster_live_connection (self, pending->serial);
          pending_broadcast_free (pending);
        }
    }
  _kletsen_server_queue_fan_out (self->server, wire, sender);
  if (sender != NULL && sender->logged_in)
    _kletsen_connection_send_status (sender, "BROADCAST_RESP", 0);
}

/* ---- private and secure messages ---- */

int
_kletsen_cluster_check_peer (KletsenCluster    *self,
                             KletsenConnection *conn,
                             const char        *name)
{
  g_autofree char *folded = kletsen_user_name_key (name);
  g_autofree char *own = kletsen_user_name_key (conn->name);

  if (g_strcmp0 (folded, own) == 0)
    return KLETSEN_CODE_MESSAGE_TO_SELF;
  if (!g_hash_table_contains (self->replica, folded))
    return KLETSEN_CODE_RECIPIENT_NOT_FOUND;
  return 0;
}

static void
routed_cb (redisAsyncContext *ac,
           void              *r,
           void              *data)
{
  KletsenClusterPending *pending = data;
  KletsenConnection *conn = _kletsen_cluster_live_connection (pending->cluster, pending->serial);
  redisReply *reply = r;

  if (conn != NULL && conn->logged_in)
    {
      /* Redis counts the nodes that took it: none means that node is gone. */
      if (reply == NULL || reply->type != REDIS_REPLY_INTEGER || reply->integer < 1)
        _kletsen_connection_send_status (conn, pending->fail_header, KLETSEN_CODE_RECIPIENT_NOT_FOUND);
      else if (pending->ok_header != NULL)
        _kletsen_connection_send_status (conn, pending->ok_header, 0);
    }
  _kletsen_cluster_pending_free (pending);
}

/* Also when the receiver is here: one sender's messages and broadcasts then
 * leave by one connection and arrive by one subscription, in order. */
void
_kletsen_cluster_send_to_user (KletsenCluster    *self,
                               KletsenConnection *conn,
                               const char        *name,
                               GBytes            *line,
                               const char        *ok_header,
                               const char        *fail_header,
                               gboolean           key_request)
{
  g_autofree char *folded = kletsen_user_name_key (name);
  KletsenReplicaUser *user = g_hash_table_lookup (self->replica, folded);
  g_autoptr(GBytes) envelope = NULL;
  KletsenClusterPending *pending;

  if (user == NULL)
    {
      _kletsen_connection_send_status (conn, fail_header, KLETSEN_CODE_RECIPIENT_NOT_FOUND);
      return;
    }
  envelope = _kletsen_envelope_build (self->inc, _kletsen_cluster_next_seq (self, user->inc),
                                      key_request ? "UK" : "U", user->shown, line);
  pending = _kletsen_cluster_pending_new (self, conn->serial, NULL);
  pending->ok_header = ok_header;
  pending->fail_header = fail_header;
  _kletsen_cluster_publish (self, user->inc, envelope, routed_cb, pending);
}

/* Answers to key requests a connection may give without paying for them
 * (kletsen-server-handlers.c). */
#define MAX_OWED_KEY_ANSWERS 64

static void
apply_to_user (KletsenCluster        *self,
               const KletsenEnvelope *envelope)
{
  g_autofree char *name = g_strndup (envelope->arg, envelope->arg_len);
  KletsenConnection *receiver = _kletsen_server_find_user (self->server, name);
  g_autoptr(GBytes) wire = NULL;

  /* Gone in between: as on one server, the sender was told OK already. */
  if (receiver == NULL || envelope->wire == NULL || !_kletsen_connection_is_open (receiver))
    return;
  wire = g_bytes_new (envelope->wire, envelope->wire_len);
  _kletsen_connection_send (receiver, wire);
  _kletsen_cluster_game_saw_line (self, receiver, envelope->wire, envelope->wire_len);
  if (envelope->op[1] == 'K' && receiver->owed_key_answers < MAX_OWED_KEY_ANSWERS)
    receiver->owed_key_answers++;
}

/* ---- JOINED, LEFT, node gone ---- */

static void
release_orphan (KletsenCluster *self,
                const char     *folded,
                const char     *shown)
{
  g_autoptr(GPtrArray) args = g_ptr_array_new ();

  g_ptr_array_add (args, self->inc);
  g_ptr_array_add (args, (char *)folded);
  g_ptr_array_add (args, (char *)shown);
  _kletsen_cluster_call_script (self, KLETSEN_SCRIPT_RELEASE, args, NULL, NULL);
}

static void
apply_joined (KletsenCluster *self,
              const char     *inc,
              const char     *shown)
{
  g_autofree char *folded = kletsen_user_name_key (shown);
  KletsenReplicaUser *user = g_hash_table_lookup (self->replica, folded);
  KletsenClaim *claim = NULL;
  KletsenConnection *conn = NULL;

  /* Its node re-claimed it after a restart of Redis: nothing changed. */
  g_hash_table_remove (self->limbo, folded);
  if (inc == self->inc_interned)
    {
      claim = g_hash_table_lookup (self->claims, folded);
      conn = claim ? _kletsen_cluster_live_connection (self, claim->serial) : NULL;
    }
  if (user == NULL || user->inc != inc || strcmp (user->shown, shown) != 0)
    {
      replica_set (self, folded, shown, inc);
      fan_out_username (self, "JOINED", shown, conn);
    }
  if (claim != NULL)
    _kletsen_cluster_finish_claim (self, claim, 0);
  else if (inc == self->inc_interned && _kletsen_server_find_user (self->server, shown) == NULL)
    /* Claimed for a connection that went away meanwhile. */
    release_orphan (self, folded, shown);
}

static void
apply_left (KletsenCluster *self,
            const char     *inc,
            const char     *shown)
{
  g_autofree char *folded = kletsen_user_name_key (shown);
  g_autofree char *was = NULL;

  if (replica_remove (self, folded, inc, &was))
    {
      fan_out_username (self, "LEFT", was, NULL);
      /* A player of our game, or the receiver of an offer, on another node left. */
      _kletsen_game_leave_name (self->server->game, inc, was);
      _kletsen_server_drop_remote_transfers (self->server, inc, was);
    }
}

static int
compare_names (gconstpointer a,
               gconstpointer b)
{
  return g_ascii_strcasecmp (*(const char * const *)a, *(const char * const *)b);
}

/* One envelope for all of a dead node's users: each gets one LEFT here, in
 * name order. */
static void
apply_node_gone (KletsenCluster *self,
                 const char     *inc)
{
  g_autoptr(GPtrArray) gone = g_ptr_array_new_with_free_func (g_free);
  GHashTableIter iter;
  KletsenReplicaUser *user;
  const char *folded;

  if (inc == self->inc_interned)
    {
      _kletsen_cluster_lost (self, "this node was declared dead by the others");
      return;
    }
  g_hash_table_iter_init (&iter, self->replica);
  while (g_hash_table_iter_next (&iter, (gpointer *)&folded, (gpointer *)&user))
    if (user->inc == inc)
      {
        g_hash_table_remove (self->limbo, folded);
        g_ptr_array_add (gone, g_steal_pointer (&user->shown));
        g_hash_table_iter_remove (&iter);
      }
  g_ptr_array_sort (gone, compare_names);
  for (guint i = 0; i < gone->len; i++)
    {
      fan_out_username (self, "LEFT", g_ptr_array_index (gone, i), NULL);
      _kletsen_game_leave_name (self->server->game, inc, g_ptr_array_index (gone, i));
      _kletsen_server_drop_remote_transfers (self->server, inc, g_ptr_array_index (gone, i));
    }
  _kletsen_cluster_game_node_gone (self, inc);
  if (gone->len > 0)
    {
      replica_changed (self);
      g_message ("cluster: node %s is gone with %u user(s)", inc, gone->len);
    }
  g_hash_table_remove (self->seen_all, inc);
  g_hash_table_remove (self->seen_node, inc);
}

/* Sequence numbers per origin and channel: a gap is what Redis dropped. */
static void
count_sequence (KletsenCluster *self,
                gboolean        on_all,
                const char     *inc,
                gint64          seq)
{
  GHashTable *seen = on_all ? self->seen_all : self->seen_node;
  gpointer value;

  if (seq < 0)
    return;
  if (g_hash_table_lookup_extended (seen, inc, NULL, &value) &&
      seq > (gint64)GPOINTER_TO_SIZE (value) + 1)
    {
      gint64 missed = seq - (gint64)GPOINTER_TO_SIZE (value) - 1;

      self->gaps += missed;
      g_message ("cluster: %" G_GINT64_FORMAT " message(s) from %s never arrived (%" G_GUINT64_FORMAT " in all)",
                 missed, inc, self->gaps);
    }
  g_hash_table_insert (seen, (gpointer)inc, GSIZE_TO_POINTER ((gsize)seq));
}

/* The interned name of an envelope's node. Every envelope has one, so the
 * last is kept: interning takes GLib's global lock, and a burst comes from
 * few nodes. */
static const char *
origin_of (KletsenCluster        *self,
           const KletsenEnvelope *envelope)
{
  g_autofree char *origin = NULL;

  if (self->last_origin != NULL && strlen (self->last_origin) == envelope->inc_len &&
      memcmp (self->last_origin, envelope->inc, envelope->inc_len) == 0)
    return self->last_origin;
  origin = g_strndup (envelope->inc, envelope->inc_len);
  self->last_origin = g_intern_string (origin);
  return self->last_origin;
}

/* J and L name a user: only a valid name is taken. */
static char *
user_arg (const KletsenEnvelope *envelope)
{
  char *name = g_strndup (envelope->arg, envelope->arg_len);

  if (!kletsen_user_name_is_valid (name))
    g_clear_pointer (&name, g_free);
  return name;
}

void
_kletsen_cluster_apply (KletsenCluster *self,
                        const char     *channel,
                        const char     *data,
                        gsize           len)
{
  KletsenEnvelope envelope;
  g_autofree char *arg = NULL;
  const char *inc;
  gboolean on_all = strcmp (channel, "kletsen:all") == 0;
  gboolean ours;

  if (!_kletsen_envelope_parse (data, len, (gsize)self->server->options.max_line, &envelope))
    {
      if (self->malformed++ % 1000 == 0)
        g_message ("cluster: dropped a malformed message on %s (%" G_GUINT64_FORMAT " in all)",
                   channel, self->malformed);
      return;
    }
  inc = origin_of (self, &envelope);
  ours = inc == self->inc_interned;
  count_sequence (self, on_all, inc, envelope.seq);

  if (strcmp (envelope.op, "B") == 0 && on_all && envelope.wire != NULL)
    apply_broadcast (self, ours, &envelope);
  else if (strcmp (envelope.op, "J") == 0 && on_all && (arg = user_arg (&envelope)) != NULL)
    apply_joined (self, inc, arg);
  else if (strcmp (envelope.op, "L") == 0 && on_all && (arg = user_arg (&envelope)) != NULL)
    apply_left (self, inc, arg);
  else if (strcmp (envelope.op, "N") == 0 && on_all)
    apply_node_gone (self, inc);
  else if ((strcmp (envelope.op, "U") == 0 || strcmp (envelope.op, "UK") == 0) && !on_all)
    apply_to_user (self, &envelope);
  else if (strcmp (envelope.op, "P") == 0 && ours)
    self->probe_sent = 0;
  else if (!_kletsen_cluster_game_apply (self, inc, on_all, &envelope) &&
           !_kletsen_cluster_files_apply (self, inc, on_all, &envelope))
    self->malformed++;
}

/* ---- joining and rejoining ---- */

/* The users of the cluster from HGETALL, then what came meanwhile. Local
 * users hear only what really changed while we were away. */
void
_kletsen_cluster_take_snapshot (KletsenCluster *self,
                                redisReply     *users)
{
  g_autoptr(GHashTable) old = g_steal_pointer (&self->replica);
  g_autoptr(GPtrArray) early = g_steal_pointer (&self->early);
  GHashTableIter iter;
  const char *folded;
  KletsenReplicaUser *user;

  self->early = g_ptr_array_new_with_free_func ((GDestroyNotify)g_byte_array_unref);
  self->replica = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                         (GDestroyNotify)replica_user_free);
  replica_changed (self);
  for (gsize i = 0; i + 1 < users->elements; i += 2)
    {
      redisReply *key = users->element[i];
      redisReply *value = users->element[i + 1];
      const char *space;
      g_autofree char *inc = NULL;

      if (key->type != REDIS_REPLY_STRING || value->type != REDIS_REPLY_STRING ||
          (space = strchr (value->str, ' ')) == NULL || !kletsen_user_name_is_valid (space + 1))
        continue;
      inc = g_strndup (value->str, space - value->str);
      replica_set (self, key->str, space + 1, g_intern_string (inc));
    }

  /* A user of another node missing from the snapshot may only be waiting
   * for its node to rejoin too (after a restart of Redis, every node
   * re-claims): kept for dead_ms, and gone then unless re-claimed. */
  g_hash_table_remove_all (self->limbo);
  g_hash_table_iter_init (&iter, old);
  while (g_hash_table_iter_next (&iter, (gpointer *)&folded, (gpointer *)&user))
    {
      KletsenReplicaUser *now = g_hash_table_lookup (self->replica, folded);

      if (now == NULL && user->inc != self->inc_interned)
        {
          replica_set (self, folded, user->shown, user->inc);
          g_hash_table_insert (self->limbo, g_strdup (folded),
                               GSIZE_TO_POINTER ((gsize)(g_get_monotonic_time () / 1000 +
                                                         self->server->options.cluster_dead_ms)));
        }
      else if (now == NULL || now->inc != user->inc)
        fan_out_username (self, "LEFT", user->shown, NULL);
    }
  g_hash_table_iter_init (&iter, self->replica);
  while (g_hash_table_iter_next (&iter, (gpointer *)&folded, (gpointer *)&user))
    {
      KletsenReplicaUser *was = g_hash_table_lookup (old, folded);

      if (was == NULL || was->inc != user->inc)
        fan_out_username (self, "JOINED", user->shown, NULL);
    }

  for (guint i = 0; i < early->len; i++)
    {
      GByteArray *copy = g_ptr_array_index (early, i);
      const char *channel = (const char *)copy->data;
      gsize channel_len = strlen (channel) + 1;

      _kletsen_cluster_apply (self, channel, (const char *)copy->data + channel_len, copy->len - channel_len);
    }
}

static void
resync_cb (redisAsyncContext *ac,
           void              *r,
           void              *data)
{
  KletsenCluster *self = data;
  redisReply *reply = r;

  if (reply == NULL || reply->type != REDIS_REPLY_ARRAY)
    return;
  /* Taken elsewhere while we were cut off: that user goes, with 7015. */
  for (gsize i = 0; i < reply->elements; i++)
    {
      KletsenConnection *conn;

      if (reply->element[i]->type != REDIS_REPLY_STRING)
        continue;
      conn = g_hash_table_lookup (self->server->users_by_key, reply->element[i]->str);
      if (conn == NULL)
        continue;
      g_message ("cluster: “%s” was taken on another node while this one was cut off", conn->name);
      conn->name_lost = TRUE;
      _kletsen_connection_close (conn, KLETSEN_CODE_NAME_TAKEN_ELSEWHERE);
    }
}

/* Our claims become exactly our users now (rejoin, docs/cluster.md 5.12). */
void
_kletsen_cluster_resync (KletsenCluster *self)
{
  g_autoptr(GPtrArray) args = g_ptr_array_new_with_free_func (g_free);
  KletsenServer *server = self->server;

  g_ptr_array_add (args, g_strdup (self->inc));
  g_ptr_array_add (args, g_strdup_printf ("%d", server->options.cluster_dead_ms));
  for (guint i = 0; i < server->users->len; i++)
    {
      KletsenConnection *conn = g_ptr_array_index (server->users, i);

      g_ptr_array_add (args, kletsen_user_name_key (conn->name));
      g_ptr_array_add (args, g_strdup (conn->name));
    }
  _kletsen_cluster_call_script (self, KLETSEN_SCRIPT_RESYNC, args, resync_cb, self);
}

/* Redis is gone: what waited for an echo is done here, now. */
void
_kletsen_cluster_degrade_users (KletsenCluster *self)
{
  g_autoptr(GPtrArray) claims = g_ptr_array_new ();
  GHashTableIter iter;
  KletsenClaim *claim;
  PendingBroadcast *pending;

  /* Broadcasts whose echo did not come: local users get them now; remote
   * ones may have had them or not (docs/cluster.md, what is lost). */
  while ((pending = g_queue_pop_head (&self->pending_broadcasts)) != NULL)
    {
      KletsenConnection *sender = _kletsen_cluster_live_connection (self, pending->serial);

      _kletsen_server_queue_fan_out (self->server, pending->line, sender);
      if (sender != NULL && sender->logged_in)
        _kletsen_connection_send_status (sender, "BROADCAST_RESP", 0);
      pending_broadcast_free (pending);
    }
  g_hash_table_iter_init (&iter, self->claims);
  while (g_hash_table_iter_next (&iter, NULL, (gpointer *)&claim))
    g_ptr_array_add (claims, claim);
  for (guint i = 0; i < claims->len; i++)
    _kletsen_cluster_finish_claim (self, g_ptr_array_index (claims, i), KLETSEN_CODE_CLUSTER_UNAVAILABLE);
}

/* Users kept after a snapshot that their node did not re-claim in time. */
void
_kletsen_cluster_expire_limbo (KletsenCluster *self)
{
  gsize now = (gsize)(g_get_monotonic_time () / 1000);
  g_autoptr(GPtrArray) gone = g_ptr_array_new_with_free_func (g_free);
  GHashTableIter iter;
  const char *folded;
  gpointer deadline;

  g_hash_table_iter_init (&iter, self->limbo);
  while (g_hash_table_iter_next (&iter, (gpointer *)&folded, &deadline))
    if (GPOINTER_TO_SIZE (deadline) <= now)
      {
        KletsenReplicaUser *user = g_hash_table_lookup (self->replica, folded);

        if (user != NULL)
          {
            g_ptr_array_add (gone, g_strdup (user->shown));
            g_hash_table_remove (self->replica, folded);
          }
        g_hash_table_iter_remove (&iter);
      }
  g_ptr_array_sort (gone, compare_names);
  for (guint i = 0; i < gone->len; i++)
    fan_out_username (self, "LEFT", g_ptr_array_index (gone, i), NULL);
  if (gone->len > 0)
    replica_changed (self);
}
