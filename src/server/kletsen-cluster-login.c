/* kletsen-cluster-login.c
 *
 * Copyright 2026 The Kletsen authors
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

/* LOGIN in a cluster (docs/cluster.md): the name is claimed in Redis
 * before LOGIN_RESP, and the connection is not read meanwhile; what the
 * client sent behind its LOGIN is done once the name is settled. A holder
 * whose node's process is gone is reaped at once and the claim retried. */

#include "config.h"

#include <string.h>

#include "kletsen-cluster-private.h"

static gboolean
reply_ok (redisReply *reply)
{
  return reply != NULL && reply->type != REDIS_REPLY_ERROR;
}

KletsenClusterPending *
_kletsen_cluster_pending_new (KletsenCluster *cluster,
                              guint64         serial,
                              const char     *folded)
{
  KletsenClusterPending *pending = g_new0 (KletsenClusterPending, 1);

  pending->cluster = cluster;
  pending->serial = serial;
  pending->folded = g_strdup (folded);
  return pending;
}

void
_kletsen_cluster_pending_free (KletsenClusterPending *pending)
{
  g_free (pending->folded);
  g_free (pending);
}

KletsenConnection *
_kletsen_cluster_live_connection (KletsenCluster *self,
                                  guint64         serial)
{
  KletsenConnection *conn = g_hash_table_lookup (self->live, &serial);

  return conn != NULL && conn->state == CONN_OPEN ? conn : NULL;
}

void
_kletsen_cluster_claim_free (KletsenClaim *claim)
{
  if (claim->held != NULL)
    g_byte_array_unref (claim->held);
  g_free (claim->folded);
  g_free (claim->shown);
  g_free (claim->holder);
  g_free (claim);
}

KletsenClaim *
_kletsen_cluster_claim_of (KletsenCluster    *self,
                           KletsenConnection *conn)
{
  return conn->claiming ? g_hash_table_lookup (self->claims_by_serial, &conn->serial) : NULL;
}

/* Forgets @claim (both indexes) and frees it. */
void
_kletsen_cluster_drop_claim (KletsenCluster *self,
                             KletsenClaim   *claim)
{
  g_hash_table_remove (self->claims_by_serial, &claim->serial);
  g_hash_table_remove (self->claims, claim->folded);
}

/* ---- logins ---- */

/* Ends a claim: answers the login, then does what the client sent behind
 * it, then reads it again. */
void
_kletsen_cluster_finish_claim (KletsenCluster *self,
                               KletsenClaim   *claim,
                               int             code)
{
  KletsenConnection *conn = _kletsen_cluster_live_connection (self, claim->serial);
  g_autoptr(GByteArray) held = g_steal_pointer (&claim->held);
  g_autofree char *shown = g_strdup (claim->shown);

  _kletsen_cluster_drop_claim (self, claim);
  if (conn == NULL)
    return;
  conn->claiming = FALSE;
  _kletsen_connection_send_status (conn, "LOGIN_RESP", code);
  if (code == 0)
    _kletsen_server_add_user (self->server, conn, shown);
  for (gsize at = 0; held != NULL && at < held->len && conn->state == CONN_OPEN;)
    {
      guint32 len;

      memcpy (&len, held->data + at, sizeof len);
      _kletsen_server_handle_line (conn, (char *)held->data + at + sizeof len, len);
      at += sizeof len + len + 1;
    }
  _kletsen_connection_set_reading (conn, TRUE);
}

static void claim_step (KletsenCluster *self, KletsenClaim *claim);

static KletsenClaim *
claim_for (KletsenClusterPending *pending)
{
  KletsenClaim *claim = g_hash_table_lookup (pending->cluster->claims, pending->folded);

  return claim != NULL && claim->serial == pending->serial ? claim : NULL;
}

static void
forced_reap_cb (redisAsyncContext *ac,
                void              *r,
                void              *data)
{
  KletsenClusterPending *pending = data;
  KletsenClaim *claim = claim_for (pending);

  if (claim != NULL)
    {
      if (reply_ok (r))
        claim_step (pending->cluster, claim);
      else
        _kletsen_cluster_finish_claim (pending->cluster, claim, KLETSEN_CODE_CLUSTER_UNAVAILABLE);
    }
  _kletsen_cluster_pending_free (pending);
}

/* The fast path for a holder whose process died (docs/cluster.md 5.5):
 * Redis forgets a killed process's connections within milliseconds, so no
 * live connection with the holder's sub id means it is gone. */
static void
holder_clients_cb (redisAsyncContext *ac,
                   void              *r,
                   void              *data)
{
  KletsenClusterPending *pending = data;
  KletsenCluster *self = pending->cluster;
  KletsenClaim *claim = claim_for (pending);
  redisReply *reply = r;

  if (claim == NULL)
    {
      _kletsen_cluster_pending_free (pending);
      return;
    }
  if (reply != NULL && reply->type == REDIS_REPLY_STRING && reply->len == 0)
    {
      g_autoptr(GPtrArray) args = g_ptr_array_new ();

      g_message ("cluster: %s holds “%s” but is gone: reaping it", claim->holder, claim->shown);
      g_ptr_array_add (args, "0");
      g_ptr_array_add (args, claim->holder);
      _kletsen_cluster_call_script (self, KLETSEN_SCRIPT_REAP, args, forced_reap_cb, pending);
      return;
    }
  _kletsen_cluster_finish_claim (self, claim, reply == NULL ? KLETSEN_CODE_CLUSTER_UNAVAILABLE : KLETSEN_CODE_NAME_TAKEN);
  _kletsen_cluster_pending_free (pending);
}

static void
holder_sub_id_cb (redisAsyncContext *ac,
                  void              *r,
                  void              *data)
{
  KletsenClusterPending *pending = data;
  KletsenClaim *claim = claim_for (pending);
  redisReply *reply = r;

  if (claim == NULL)
    {
      _kletsen_cluster_pending_free (pending);
      return;
    }
  if (reply != NULL && reply->type == REDIS_REPLY_STRING)
    {
      const char *argv[] = { "CLIENT", "LIST", "ID", reply->str };

      if (_kletsen_redis_link_call (&pending->cluster->cmd, holder_clients_cb, pending, 4, argv, NULL))
        return;
    }
  _kletsen_cluster_finish_claim (pending->cluster, claim, reply == NULL ? KLETSEN_CODE_CLUSTER_UNAVAILABLE : KLETSEN_CODE_NAME_TAKEN);
  _kletsen_cluster_pending_free (pending);
}

static void
claim_cb (redisAsyncContext *ac,
          void              *r,
          void              *data)
{
  KletsenClusterPending *pending = data;
  KletsenCluster *self = pending->cluster;
  KletsenClaim *claim = claim_for (pending);
  redisReply *reply = r;
  long long result = -1;

  if (claim == NULL)
    goto out;
  if (reply != NULL && reply->type == REDIS_REPLY_ARRAY && reply->elements >= 1 &&
      reply->element[0]->type == REDIS_REPLY_INTEGER)
    result = reply->element[0]->integer;

  switch (result)
    {
    case 1: /* LOGIN_RESP goes with our own JOINED, which may be here already */
      claim->answered = TRUE;
      break;
    case 3: /* ours already, nothing published */
      _kletsen_cluster_finish_claim (self, claim, 0);
      break;
    case 0:
      if (!claim->retried && reply->elements >= 2 && reply->element[1]->type == REDIS_REPLY_STRING)
        {
          g_autofree char *key = g_strconcat ("kletsen:node:", reply->element[1]->str, NULL);
          const char *argv[] = { "HGET", key, "sub_id" };

          claim->retried = TRUE;
          g_free (claim->holder);
          claim->holder = g_strdup (reply->element[1]->str);
          if (_kletsen_redis_link_call (&self->cmd, holder_sub_id_cb, pending, 3, argv, NULL))
            return;
        }
      _kletsen_cluster_finish_claim (self, claim, KLETSEN_CODE_NAME_TAKEN);
      break;
    case 2:
      _kletsen_cluster_finish_claim (self, claim, KLETSEN_CODE_CLUSTER_UNAVAILABLE);
      _kletsen_cluster_lost (self, "this node was declared dead by the others");
      break;
    default:
      if (reply != NULL && reply->type == REDIS_REPLY_ERROR)
        g_message ("cluster: claiming a name failed: %s", reply->str);
      _kletsen_cluster_finish_claim (self, claim, KLETSEN_CODE_CLUSTER_UNAVAILABLE);
      break;
    }
out:
  _kletsen_cluster_pending_free (pending);
}

static void
claim_step (KletsenCluster *self,
            KletsenClaim   *claim)
{
  g_autoptr(GPtrArray) args = g_ptr_array_new_with_free_func (g_free);

  g_ptr_array_add (args, g_strdup (self->inc));
  g_ptr_array_add (args, g_strdup (claim->folded));
  g_ptr_array_add (args, g_strdup (claim->shown));
  g_ptr_array_add (args, g_strdup_printf ("%d", self->server->options.cluster_dead_ms));
  _kletsen_cluster_call_script (self, KLETSEN_SCRIPT_CLAIM, args, claim_cb,
                                _kletsen_cluster_pending_new (self, claim->serial, claim->folded));
}

int
_kletsen_cluster_login (KletsenCluster    *self,
                        KletsenConnection *conn,
                        const char        *name)
{
  g_autofree char *folded = kletsen_user_name_key (name);
  KletsenClaim *claim;

  /* The cluster cannot confirm names now: try again, or another server. */
  if (self->state != CLUSTER_JOINED)
    return KLETSEN_CODE_CLUSTER_UNAVAILABLE;
  if (g_hash_table_contains (self->claims, folded))
    return KLETSEN_CODE_NAME_TAKEN;

  claim = g_new0 (KletsenClaim, 1);
  claim->cluster = self;
  claim->serial = conn->serial;
  claim->folded = g_steal_pointer (&folded);
  claim->shown = g_strdup (name);
  g_hash_table_insert (self->claims, claim->folded, claim);
  g_hash_table_insert (self->claims_by_serial, &claim->serial, claim);
  conn->claiming = TRUE;
  /* Not read until the name is settled: what came with the LOGIN waits. */
  _kletsen_connection_set_reading (conn, FALSE);
  claim_step (self, claim);
  return 0;
}

void
_kletsen_cluster_hold_line (KletsenCluster    *self,
                            KletsenConnection *conn,
                            const char        *line,
                            gsize              len)
{
  KletsenClaim *claim = _kletsen_cluster_claim_of (self, conn);
  guint32 size;

  if (claim == NULL)
    return;
  size = (guint32)len;

  if (claim->held == NULL)
    claim->held = g_byte_array_new ();
  g_byte_array_append (claim->held, (const guint8 *)&size, sizeof size);
  g_byte_array_append (claim->held, (const guint8 *)line, len);
  g_byte_array_append (claim->held, (const guint8 *)"", 1);
}
