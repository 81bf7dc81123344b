/* kletsen-cluster-none.c
 *
 * Copyright 2026 The Kletsen authors
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

/* A server built without hiredis (-Dcluster=false): --cluster is refused
 * by main.c, so server->cluster is always NULL and none of these is called. */

#include "config.h"

#include "kletsen-server-private.h"

KletsenCluster *
_kletsen_cluster_new (KletsenServer  *server,
                      GError        **error)
{
  g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED,
                       "built without cluster mode (-Dcluster=false)");
  return NULL;
}

void _kletsen_cluster_free (KletsenCluster *cluster) { g_assert (cluster == NULL); }
const char *_kletsen_cluster_get_incarnation (KletsenCluster *cluster) { g_return_val_if_reached (NULL); }
gboolean _kletsen_cluster_is_routing (KletsenCluster *cluster) { g_return_val_if_reached (FALSE); }
void _kletsen_cluster_connection_new (KletsenCluster *cluster, KletsenConnection *conn) { g_return_if_reached (); }
void _kletsen_cluster_connection_free (KletsenCluster *cluster, KletsenConnection *conn) { g_return_if_reached (); }
int _kletsen_cluster_login (KletsenCluster *cluster, KletsenConnection *conn, const char *name) { g_return_val_if_reached (KLETSEN_CODE_CLUSTER_UNAVAILABLE); }
void _kletsen_cluster_hold_line (KletsenCluster *cluster, KletsenConnection *conn, const char *line, gsize len) { g_return_if_reached (); }
void _kletsen_cluster_user_gone (KletsenCluster *cluster, KletsenConnection *conn) { g_return_if_reached (); }
gboolean _kletsen_cluster_broadcast (KletsenCluster *cluster, KletsenConnection *conn, GBytes *line) { g_return_val_if_reached (FALSE); }
int _kletsen_cluster_check_peer (KletsenCluster *cluster, KletsenConnection *conn, const char *name) { g_return_val_if_reached (KLETSEN_CODE_RECIPIENT_NOT_FOUND); }
void _kletsen_cluster_send_to_user (KletsenCluster *cluster, KletsenConnection *conn, const char *name, GBytes *line,
                                    const char *ok_header, const char *fail_header, gboolean key_request) { g_return_if_reached (); }
GBytes *_kletsen_cluster_user_list_line (KletsenCluster *cluster) { g_return_val_if_reached (NULL); }
void _kletsen_cluster_leave (KletsenCluster *cluster) { g_return_if_reached (); }
gboolean _kletsen_cluster_is_leaving (KletsenCluster *cluster) { g_return_val_if_reached (FALSE); }
gboolean _kletsen_cluster_bye (KletsenCluster *cluster, KletsenConnection *conn) { g_return_val_if_reached (FALSE); }
void _kletsen_cluster_game_start (KletsenCluster *cluster, KletsenConnection *conn) { g_return_if_reached (); }
void _kletsen_cluster_game_announce (KletsenCluster *cluster, KletsenConnection *conn, GBytes *line) { g_return_if_reached (); }
void _kletsen_cluster_game_over (KletsenCluster *cluster) { g_return_if_reached (); }
gboolean _kletsen_cluster_game_forward (KletsenCluster *cluster, KletsenConnection *conn, const char *op, JsonNode *number) { g_return_val_if_reached (FALSE); }
void _kletsen_cluster_send_line (KletsenCluster *cluster, const char *inc, const char *name, GBytes *line) { g_return_if_reached (); }
const char *_kletsen_cluster_find_remote (KletsenCluster *cluster, const char *name, const char **shown) { g_return_val_if_reached (NULL); }
void _kletsen_cluster_send_offer (KletsenCluster *cluster, const char *inc, const char *name, GBytes *line) { g_return_if_reached (); }
gboolean _kletsen_cluster_forward_answer (KletsenCluster *cluster, KletsenConnection *conn, JsonObject *body) { g_return_val_if_reached (FALSE); }
gboolean _kletsen_relay_forward_half (KletsenServer *server, KletsenTransfer *transfer, int fd, KletsenTls *tls,
                                      const char *peer, char *address, const char *header, gsize header_len) { g_return_val_if_reached (FALSE); }
