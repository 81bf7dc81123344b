/* kletsen-cluster-game.c
 *
 * Copyright 2026 The Kletsen authors
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

/* The one guessing game of a cluster (docs/cluster.md): the node where it
 * is started takes a lease on it in Redis and runs kletsen-game.c as on
 * one server; other nodes learn the owner from its GAME_NOTIFICATION and
 * forward their users' JOIN_GAME_REQ and GUESS_NUMBER_REQ to it. The owner
 * answers each player on the player's node. When the owner dies, its
 * players elsewhere get GAME_RESULTS with 9003. */

#include "config.h"

#include <string.h>

#include "kletsen-cluster-private.h"

#define GAME_KEY "kletsen:game"

typedef struct
{
  KletsenCluster *cluster;
  guint64         serial;
} StartRequest;

static KletsenConnection *
open_connection (KletsenCluster *self,
                 guint64         serial)
{
  KletsenConnection *conn = g_hash_table_lookup (self->live, &serial);

  return conn != NULL && conn->state == CONN_OPEN && conn->logged_in ? conn : NULL;
}

static void
lease_cb (redisAsyncContext *ac,
          void              *r,
          void              *data)
{
  StartRequest *request = data;
  KletsenCluster *self = request->cluster;
  KletsenConnection *conn = open_connection (self, request->serial);
  redisReply *reply = r;
  gboolean got = reply != NULL && reply->type == REDIS_REPLY_STATUS;

  g_free (request);
  if (conn == NULL)
    {
      /* Asked for by someone who left meanwhile: give it back. */
      if (got)
        _kletsen_cluster_game_over (self);
      return;
    }
  if (reply == NULL || reply->type == REDIS_REPLY_ERROR)
    {
      _kletsen_connection_send_status (conn, "START_GAME_RESP", KLETSEN_CODE_CLUSTER_UNAVAILABLE);
      return;
    }
  if (!got)
    {
      _kletsen_connection_send_status (conn, "START_GAME_RESP", KLETSEN_CODE_GAME_IN_PROGRESS);
      return;
    }
  self->game_owner = self->inc_interned;
  _kletsen_game_open_lobby (self->server->game, conn);
  /* Lost it to a game of our own that was already under way. */
  if (_kletsen_game_is_idle (self->server->game))
    _kletsen_cluster_game_over (self);
}

/* START_GAME_REQ: one game in the cluster, so first the lease on it. */
void
_kletsen_cluster_game_start (KletsenCluster    *self,
                             KletsenConnection *conn)
{
  const KletsenServerOptions *options = &self->server->options;
  g_autofree char *lease = g_strdup_printf ("%" G_GINT64_FORMAT,
                                            (gint64)options->join_window_ms + options->game_timeout_ms + 10000);
  const char *argv[] = { "SET", GAME_KEY, self->inc, "NX", "PX", lease };
  StartRequest *request;

  if (self->game_owner != NULL && self->game_owner != self->inc_interned)
    {
      _kletsen_connection_send_status (conn, "START_GAME_RESP", KLETSEN_CODE_GAME_IN_PROGRESS);
      return;
    }
  request = g_new0 (StartRequest, 1);
  request->cluster = self;
  request->serial = conn->serial;
  if (!_kletsen_redis_link_call (&self->cmd, lease_cb, request, G_N_ELEMENTS (argv), argv, NULL))
    lease_cb (NULL, NULL, request);
}

/* GAME_NOTIFICATION reaches every node; it also names the owner. */
void
_kletsen_cluster_game_announce (KletsenCluster    *self,
                                KletsenConnection *conn,
                                GBytes            *line)
{
  g_autoptr(GBytes) envelope = _kletsen_envelope_build (self->inc, _kletsen_cluster_next_seq (self, NULL),
                                                        "GN", conn->name, line);

  /* Not delivered on echo: the initiator's own node has its answer, and
   * the others' users need only know that a game is open. */
  _kletsen_server_queue_fan_out (self->server, line, conn);
  _kletsen_cluster_publish (self, NULL, envelope, NULL, NULL);
}

/* The game of this node ended (or never opened): the lease goes, and the
 * other nodes forget the owner. */
void
_kletsen_cluster_game_over (KletsenCluster *self)
{
  static const char script[] =
    "if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end\n"
    "return 1\n";
  const char *argv[] = { "EVAL", script, "1", GAME_KEY, self->inc };
  g_autoptr(GBytes) envelope = NULL;

  if (self->game_owner == self->inc_interned)
    self->game_owner = NULL;
  if (self->state != CLUSTER_JOINED)
    return;
  _kletsen_redis_link_call (&self->cmd, NULL, NULL, G_N_ELEMENTS (argv), argv, NULL);
  envelope = _kletsen_envelope_build (self->inc, _kletsen_cluster_next_seq (self, NULL), "GE", NULL, NULL);
  _kletsen_cluster_publish (self, NULL, envelope, NULL, NULL);
}

/**
 * _kletsen_cluster_game_forward:
 * @op: "GJ" (join) or "GG" (guess, with @number)
 *
 * Returns: %TRUE when another node runs the game and the request went to it
 */
gboolean
_kletsen_cluster_game_forward (KletsenCluster    *self,
                               KletsenConnection *conn,
                               const char        *op,
                               JsonNode          *number)
{
  g_autoptr(GBytes) envelope = NULL;
  g_autoptr(GBytes) wire = NULL;

  if (self->state != CLUSTER_JOINED || self->game_owner == NULL || self->game_owner == self->inc_interned)
    return FALSE;
  if (number != NULL)
    {
      g_autoptr(JsonGenerator) generator = json_generator_new ();
      g_autofree char *text = NULL;

      json_generator_set_root (generator, number);
      text = json_generator_to_data (generator, NULL);
      wire = g_bytes_new_take (g_strconcat ("{\"number\":", text, "}\n", NULL), strlen (text) + 12);
    }
  envelope = _kletsen_envelope_build (self->inc, _kletsen_cluster_next_seq (self, self->game_owner),
                                      op, conn->name, wire);
  _kletsen_cluster_publish (self, self->game_owner, envelope, NULL, NULL);
  return TRUE;
}

/* A line for one player of another node (the game's answers and events). */
void
_kletsen_cluster_send_line (KletsenCluster *self,
                            const char     *inc,
                            const char     *name,
                            GBytes         *line)
{
  g_autoptr(GBytes) envelope = NULL;

  if (self->state != CLUSTER_JOINED || inc == NULL)
    return;
  envelope = _kletsen_envelope_build (self->inc, _kletsen_cluster_next_seq (self, inc), "U", name, line);
  _kletsen_cluster_publish (self, inc, envelope, NULL, NULL);
}

/* What the game's envelopes do here. TRUE: it was one. */
gboolean
_kletsen_cluster_game_apply (KletsenCluster        *self,
                             const char            *inc,
                             gboolean               on_all,
                             const KletsenEnvelope *envelope)
{
  g_autofree char *name = g_strndup (envelope->arg, envelope->arg_len);

  if (strcmp (envelope->op, "GN") == 0 && on_all)
    {
      g_autoptr(GBytes) wire = NULL;

      self->game_owner = inc;
      g_hash_table_remove_all (self->game_players);
      if (inc == self->inc_interned || envelope->wire == NULL)
        return TRUE;
      wire = g_bytes_new (envelope->wire, envelope->wire_len);
      _kletsen_server_queue_fan_out (self->server, wire, _kletsen_server_find_user (self->server, name));
      return TRUE;
    }
  if (strcmp (envelope->op, "GE") == 0 && on_all)
    {
      if (self->game_owner == inc)
        self->game_owner = NULL;
      g_hash_table_remove_all (self->game_players);
      return TRUE;
    }
  if (strcmp (envelope->op, "GJ") == 0 && !on_all && kletsen_user_name_is_valid (name))
    {
      _kletsen_game_join_remote (self->server->game, inc, name);
      return TRUE;
    }
  if (strcmp (envelope->op, "GG") == 0 && !on_all && kletsen_user_name_is_valid (name) && envelope->wire != NULL)
    {
      g_autoptr(JsonObject) body = NULL;
      g_autofree char *text = g_strndup (envelope->wire, envelope->wire_len - 1);
      const KletsenMessageInfo *info = kletsen_message_info (KLETSEN_MSG_GUESS_NUMBER_REQ);

      if (kletsen_message_parse_body (info, text, strlen (text), &body) == KLETSEN_PARSE_OK)
        _kletsen_game_guess_remote (self->server->game, inc, name, json_object_get_member (body, "number"));
      return TRUE;
    }
  return FALSE;
}

/* A line for a local user came from the game's owner: remember who plays
 * there, for the abort if that node dies. */
void
_kletsen_cluster_game_saw_line (KletsenCluster    *self,
                                KletsenConnection *receiver,
                                const char        *wire,
                                gsize              len)
{
  static const char joined[] = "JOIN_GAME_RESP {\"status\":\"OK\"";

  if (len > sizeof joined - 1 && memcmp (wire, joined, sizeof joined - 1) == 0)
    g_hash_table_add (self->game_players, kletsen_user_name_key (receiver->name));
}

/* The node that ran the game is gone: its players here hear so. */
void
_kletsen_cluster_game_node_gone (KletsenCluster *self,
                                 const char     *inc)
{
  g_autoptr(JsonObject) body = NULL;
  g_autoptr(GBytes) line = NULL;
  GHashTableIter iter;
  const char *key;

  /* Remote players of our own game leave it like anyone who logs out. */
  if (self->game_owner != inc)
    return;
  self->game_owner = NULL;
  body = json_object_new ();
  json_object_set_string_member (body, "status", "ERROR");
  json_object_set_int_member (body, "code", KLETSEN_CODE_GAME_SERVER_GONE);
  line = kletsen_message_serialize ("GAME_RESULTS", body);
  g_hash_table_iter_init (&iter, self->game_players);
  while (g_hash_table_iter_next (&iter, (gpointer *)&key, NULL))
    {
      KletsenConnection *conn = g_hash_table_lookup (self->server->users_by_key, key);

      if (conn != NULL && _kletsen_connection_is_open (conn))
        _kletsen_connection_send (conn, line);
    }
  g_hash_table_remove_all (self->game_players);
}
