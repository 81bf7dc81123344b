/* kletsen-cluster.h
 *
 * Copyright 2026 The Kletsen authors
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>

#include "kletsen-poller.h"

G_BEGIN_DECLS

/* Cluster mode (docs/cluster.md): several nodes serve one chat through one
 * Redis. What the rest of the server asks of it; every call is made only
 * when server->cluster is set, so the single server never pays for it. */
typedef struct _KletsenCluster KletsenCluster;

KletsenCluster *_kletsen_cluster_new             (KletsenServer     *server,
                                                  GError           **error);
void            _kletsen_cluster_free            (KletsenCluster    *cluster);
/* The node's incarnation once it first joined, else NULL. */
const char     *_kletsen_cluster_get_incarnation (KletsenCluster    *cluster);
/* Joined and connected: users, messages and names go through Redis. FALSE
 * while degraded: local chat goes on directly. */
gboolean        _kletsen_cluster_is_routing      (KletsenCluster    *cluster);

void            _kletsen_cluster_connection_new  (KletsenCluster    *cluster,
                                                  KletsenConnection *conn);
void            _kletsen_cluster_connection_free (KletsenCluster    *cluster,
                                                  KletsenConnection *conn);

/* Claims @name across the cluster. 0: under way, LOGIN_RESP follows; else
 * the code to answer now. */
int             _kletsen_cluster_login           (KletsenCluster    *cluster,
                                                  KletsenConnection *conn,
                                                  const char        *name);
/* A line that came while @conn's login is being claimed: done after it. */
void            _kletsen_cluster_hold_line       (KletsenCluster    *cluster,
                                                  KletsenConnection *conn,
                                                  const char        *line,
                                                  gsize              len);
/* A logged-in user leaves: its claim goes, and LEFT reaches everyone. */
void            _kletsen_cluster_user_gone       (KletsenCluster    *cluster,
                                                  KletsenConnection *conn);
/* Publishes @line (a BROADCAST) for every node; BROADCAST_RESP follows its
 * echo. FALSE: not routing, deliver it locally. */
gboolean        _kletsen_cluster_broadcast       (KletsenCluster    *cluster,
                                                  KletsenConnection *conn,
                                                  GBytes            *line);
/* 0, 6007 or 6001 for a message from @conn to @name. */
int             _kletsen_cluster_check_peer      (KletsenCluster    *cluster,
                                                  KletsenConnection *conn,
                                                  const char        *name);
/* Routes @line to user @name on whichever node has it. @ok_header (if any)
 * answers @conn once Redis took it; @fail_header answers 6001 when that
 * node is gone. */
void            _kletsen_cluster_send_to_user    (KletsenCluster    *cluster,
                                                  KletsenConnection *conn,
                                                  const char        *name,
                                                  GBytes            *line,
                                                  const char        *ok_header,
                                                  const char        *fail_header,
                                                  gboolean           key_request);
/* LIST_USERS_RESP of every user of the cluster, serialized once per change. */
GBytes         *_kletsen_cluster_user_list_line  (KletsenCluster    *cluster);
/* The one game of the cluster (kletsen-cluster-game.c). */
void            _kletsen_cluster_game_start      (KletsenCluster    *cluster,
                                                  KletsenConnection *conn);
void            _kletsen_cluster_game_announce   (KletsenCluster    *cluster,
                                                  KletsenConnection *conn,
                                                  GBytes            *line);
void            _kletsen_cluster_game_over       (KletsenCluster    *cluster);
gboolean        _kletsen_cluster_game_forward    (KletsenCluster    *cluster,
                                                  KletsenConnection *conn,
                                                  const char        *op,
                                                  JsonNode          *number);
void            _kletsen_cluster_send_line       (KletsenCluster    *cluster,
                                                  const char        *inc,
                                                  const char        *name,
                                                  GBytes            *line);
/* File transfers whose two sides are on two nodes (kletsen-cluster-files.c). */
const char     *_kletsen_cluster_find_remote     (KletsenCluster    *cluster,
                                                  const char        *name,
                                                  const char       **shown);
void            _kletsen_cluster_send_offer      (KletsenCluster    *cluster,
                                                  const char        *inc,
                                                  const char        *name,
                                                  GBytes            *line);
gboolean        _kletsen_cluster_forward_answer  (KletsenCluster    *cluster,
                                                  KletsenConnection *conn,
                                                  JsonObject        *body);
/* TRUE when the cluster answers @conn's BYE itself, once its name is free. */
gboolean        _kletsen_cluster_bye             (KletsenCluster    *cluster,
                                                  KletsenConnection *conn);
/* Graceful stop: the node's users leave the cluster at once. */
void            _kletsen_cluster_leave           (KletsenCluster    *cluster);
gboolean        _kletsen_cluster_is_leaving      (KletsenCluster    *cluster);

G_END_DECLS
