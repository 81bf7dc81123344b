/* kletsen-cluster-private.h
 *
 * Copyright 2026 The Kletsen authors
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#pragma once

#include <hiredis/async.h>

#include "kletsen-cluster.h"
#include "kletsen-server-private.h"

G_BEGIN_DECLS

/* ---- kletsen-cluster-link.c: one Redis connection in the poll set ---- */

typedef struct _KletsenRedisLink KletsenRedisLink;

/* Called once when the link is lost (EOF, error, or closed by us). Never
 * free the link from inside: it runs inside hiredis. */
typedef void (*KletsenRedisLinkLost) (KletsenRedisLink *link,
                                      const char       *why,
                                      gpointer          user_data);

struct _KletsenRedisLink
{
  KletsenFdWatch        watch;     /* first: the poll set hands us this */
  KletsenServer        *server;
  const char           *role;      /* "cmd" or "sub", for logs */
  redisAsyncContext    *ac;        /* NULL once lost */
  GQueue                calls;     /* commands waiting for their reply, oldest first */
  KletsenRedisLinkLost  lost;
  gpointer              lost_data;
  gboolean              connected;
};

/* Where Redis is: redis://HOST:PORT or unix:PATH. */
typedef struct
{
  char *host;   /* NULL for a Unix socket */
  int   port;
  char *path;
} KletsenRedisAddress;

gboolean _kletsen_redis_address_parse (const char           *text,
                                       KletsenRedisAddress  *address,
                                       GError              **error);
void     _kletsen_redis_address_clear (KletsenRedisAddress  *address);

gboolean _kletsen_redis_link_open     (KletsenRedisLink          *link,
                                       const KletsenRedisAddress *address,
                                       GError                   **error);
/* Drops the connection now; waiting commands get a NULL reply. */
void     _kletsen_redis_link_close    (KletsenRedisLink          *link);
/* One command; @fn gets the reply, or NULL when the link was lost first. */
gboolean _kletsen_redis_link_call     (KletsenRedisLink          *link,
                                       redisCallbackFn           *fn,
                                       gpointer                   data,
                                       int                        argc,
                                       const char               **argv,
                                       const gsize               *argvlen);
/* For SUBSCRIBE: @fn is called for every message, never wrapped. */
gboolean _kletsen_redis_link_subscribe (KletsenRedisLink         *link,
                                        redisCallbackFn          *fn,
                                        gpointer                  data,
                                        int                       argc,
                                        const char              **argv);
/* Monotonic µs at which the oldest unanswered command was sent; 0: none. */
gint64   _kletsen_redis_link_oldest   (KletsenRedisLink          *link);

/* ---- kletsen-cluster-envelope.c: what one PUBLISH carries ---- */

/* K1 <INC> <seq|-> <op> [arg]\n[wire line]
 * One header line plus at most one line exactly as local clients get it. */
typedef struct
{
  const char *inc;
  gsize       inc_len;
  gint64      seq;      /* -1: "-", published by a script */
  char        op[3];
  const char *arg;      /* may be empty */
  gsize       arg_len;
  const char *wire;     /* with its \n; NULL when none */
  gsize       wire_len;
} KletsenEnvelope;

gboolean _kletsen_envelope_parse (const char      *data,
                                  gsize            len,
                                  gsize            max_wire,
                                  KletsenEnvelope *envelope);
GBytes  *_kletsen_envelope_build (const char      *inc,
                                  gint64           seq,
                                  const char      *op,
                                  const char      *arg,
                                  GBytes          *wire);
gboolean _kletsen_node_name_is_valid (const char  *name);

/* ---- kletsen-cluster-scripts.c: the atomic steps, in Lua ---- */

typedef enum
{
  KLETSEN_SCRIPT_REGISTER, /* INC name chat sub_id → 1 */
  KLETSEN_SCRIPT_CLAIM,    /* INC folded shown dead_ms → {1} J published, {3} already ours,
                            * {0, holder} held by a live node, {2} this node was reaped */
  KLETSEN_SCRIPT_RELEASE,  /* INC folded shown → 1 released, 0 not ours */
  KLETSEN_SCRIPT_HEARTBEAT,/* INC → 1, or 0 when reaped */
  KLETSEN_SCRIPT_REAP,     /* dead_ms forced-INC|"" → number reaped */
  KLETSEN_SCRIPT_RESYNC,   /* INC dead_ms (folded shown)… → conflicting folded names */
  KLETSEN_SCRIPT_LEAVE,    /* INC → 1 */
  KLETSEN_N_SCRIPTS
} KletsenScript;

const char *_kletsen_cluster_script (KletsenScript script);

/* ---- kletsen-cluster.c / kletsen-cluster-users.c ---- */

typedef enum
{
  CLUSTER_CONNECTING, /* links opening, subscribing, registering, taking the snapshot */
  CLUSTER_JOINED,     /* routing through Redis */
  CLUSTER_DEGRADED,   /* links lost: local chat only, reconnecting */
  CLUSTER_LEAVING,    /* graceful stop under way */
  CLUSTER_LEFT,
} KletsenClusterState;

/* One user of the cluster, as this node knows it. */
typedef struct
{
  char       *shown;    /* the name as typed at login */
  const char *inc;      /* interned: the node that has it */
} KletsenReplicaUser;

typedef struct _KletsenClaim KletsenClaim;

/* A login whose name is being claimed. Its connection is not read, and
 * what it had already sent waits in @held. */
struct _KletsenClaim
{
  KletsenCluster *cluster;
  guint64         serial;   /* the connection's */
  char           *folded;
  char           *shown;
  GByteArray     *held;     /* lines: a guint32 length, the bytes, a NUL */
  gboolean        retried;  /* the holder's node was found dead and reaped once */
  gboolean        answered; /* the script said 1: waiting for our own JOINED */
  char           *holder;
};

struct _KletsenCluster
{
  KletsenServer        *server;
  KletsenRedisAddress   address;
  char                 *node_name;
  char                 *inc;          /* NAME/<64 random bits hex> */
  const char           *inc_interned;
  char                 *chat_address; /* host:port of this node's chat port */
  KletsenClusterState   state;
  gboolean              ever_joined;

  KletsenRedisLink      cmd;          /* every command, script and PUBLISH */
  KletsenRedisLink      sub;          /* SUBSCRIBEd to kletsen:all and our channel */
  char                 *sub_id;       /* CLIENT ID of sub */
  guint                 subscribed;   /* confirmations seen */
  gboolean              snapshot_asked;
  GPtrArray            *early;        /* envelopes that came before the snapshot */

  GHashTable           *replica;      /* folded name → KletsenReplicaUser */
  GHashTable           *limbo;        /* folded name → deadline: not in the last snapshot, kept a while */
  GBytes               *user_list_line;
  GHashTable           *live;         /* connection serial → KletsenConnection */
  GHashTable           *claims;       /* folded name → KletsenClaim (owns them) */
  GHashTable           *claims_by_serial; /* the same, by their connection's serial */
  GQueue                pending_broadcasts; /* serials of our B publishes, echo order */
  GHashTable           *remote_offers; /* transferId → offers of other nodes to our users */
  char                 *file_address; /* host:port other nodes forward side channels to */
  const char           *game_owner;   /* interned INC of the node running the game, or NULL */
  GHashTable           *game_players; /* folded names of our users in another node's game */

  gint64                seq_all;      /* what we published to kletsen:all */
  GHashTable           *seq_to_node;  /* interned INC → what we published to its channel */
  GHashTable           *seen_all;     /* interned INC → last seq seen on kletsen:all */
  GHashTable           *seen_node;    /* interned INC → last seq seen on our channel */
  const char           *last_origin;  /* interned INC of the last envelope */
  guint64               gaps;
  guint64               malformed;
  guint64               lost_publishes;

  gint64                join_started; /* monotonic µs of this attempt */
  gint64                probe_sent;   /* monotonic µs; 0: none outstanding */
  guint                 tick_source;
  guint                 reconnect_source;
  guint                 backoff_ms;
  gboolean              rejoin_wanted;
};

/* kletsen-cluster.c */
void     _kletsen_cluster_publish       (KletsenCluster   *cluster,
                                         const char       *channel_inc, /* NULL: kletsen:all */
                                         GBytes           *payload,
                                         redisCallbackFn  *fn,
                                         gpointer          data);
void     _kletsen_cluster_call_script   (KletsenCluster   *cluster,
                                         KletsenScript     script,
                                         GPtrArray        *args,
                                         redisCallbackFn  *fn,
                                         gpointer          data);
gint64   _kletsen_cluster_next_seq      (KletsenCluster   *cluster,
                                         const char       *channel_inc);
void     _kletsen_cluster_lost          (KletsenCluster   *cluster,
                                         const char       *why);

/* What a reply to one of our commands is for: looked up again on the
 * reply, as the connection or claim may be gone by then. */
typedef struct
{
  KletsenCluster *cluster;
  guint64         serial;
  char           *folded;
  const char     *ok_header;
  const char     *fail_header;
} KletsenClusterPending;

/* kletsen-cluster-login.c */
KletsenClusterPending *_kletsen_cluster_pending_new (KletsenCluster *cluster,
                                                     guint64         serial,
                                                     const char     *folded);
void     _kletsen_cluster_pending_free  (KletsenClusterPending *pending);
/* The connection with @serial if it is still open. */
KletsenConnection *_kletsen_cluster_live_connection (KletsenCluster *cluster,
                                                     guint64         serial);
KletsenClaim *_kletsen_cluster_claim_of (KletsenCluster    *cluster,
                                         KletsenConnection *conn);
void     _kletsen_cluster_claim_free    (KletsenClaim      *claim);
void     _kletsen_cluster_drop_claim    (KletsenCluster    *cluster,
                                         KletsenClaim      *claim);
/* Answers the login (@code), then does what came behind it. */
void     _kletsen_cluster_finish_claim  (KletsenCluster    *cluster,
                                         KletsenClaim      *claim,
                                         int                code);

/* kletsen-cluster-users.c */
void     _kletsen_cluster_users_init    (KletsenCluster   *cluster);
void     _kletsen_cluster_users_fini    (KletsenCluster   *cluster);
void     _kletsen_cluster_apply         (KletsenCluster   *cluster,
                                         const char       *channel,
                                         const char       *data,
                                         gsize             len);
void     _kletsen_cluster_take_snapshot (KletsenCluster   *cluster,
                                         redisReply       *users);
void     _kletsen_cluster_resync        (KletsenCluster   *cluster);
void     _kletsen_cluster_degrade_users (KletsenCluster   *cluster);
void     _kletsen_cluster_expire_limbo  (KletsenCluster   *cluster);

/* kletsen-cluster-files.c */
gboolean _kletsen_cluster_files_apply   (KletsenCluster        *cluster,
                                         const char            *inc,
                                         gboolean               on_all,
                                         const KletsenEnvelope *envelope);
void     _kletsen_cluster_files_fini    (KletsenCluster        *cluster);

/* kletsen-cluster-game.c */
gboolean _kletsen_cluster_game_apply    (KletsenCluster        *cluster,
                                         const char            *inc,
                                         gboolean               on_all,
                                         const KletsenEnvelope *envelope);
void     _kletsen_cluster_game_saw_line (KletsenCluster        *cluster,
                                         KletsenConnection     *receiver,
                                         const char            *wire,
                                         gsize                  len);
void     _kletsen_cluster_game_node_gone (KletsenCluster       *cluster,
                                          const char           *inc);

G_END_DECLS
