/* kletsen-server-private.h
 *
 * Copyright 2026 The Kletsen authors
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#pragma once

#include <sys/uio.h>

#include "kletsen-poller.h"
#include "kletsen-cluster.h"
#include "kletsen-stream.h"
#include "kletsen-tls.h"
#include "kletsen-protocol.h"
#include "kletsen-server.h"

G_BEGIN_DECLS

#define GATHER_BYTES (64 * 1024)

typedef struct _KletsenConnection KletsenConnection;
typedef struct _KletsenGame KletsenGame;
typedef struct _KletsenRelay KletsenRelay;
typedef struct _KletsenTransfer KletsenTransfer;

/* An entry of the output queues: one serialized line, or a slice of a fan-out
 * batch (several lines one after the other), shared by the receivers that get
 * it. @data and @size point into @bytes, so a slice needs no copy; the count
 * is plain, as one thread owns all queues; a flush reads size and data
 * without a call. */
typedef struct
{
  guint       refs;
  gsize       size;
  const char *data;
  GBytes     *bytes;
} KletsenChunk;

/* One line of this iteration's fan-out. */
typedef struct
{
  KletsenChunk       *line;
  KletsenConnection *except; /* compared, never followed: it may be gone */
  gsize              offset; /* in batch_block */
} BatchEntry;

typedef enum
{
  TRANSFER_OFFERED,  /* waiting for the receiver's answer */
  TRANSFER_ACCEPTED, /* waiting for both side-channel halves */
  TRANSFER_RELAYING, /* bytes are moving; the chat connections no longer matter */
} KletsenTransferPhase;

/* A deadline of the file port's clock (kletsen-file-clock.c), embedded in
 * what it times; link.data points at that. */
typedef struct
{
  GList  link;  /* first: the queues' links are the deadlines */
  gint64 at;    /* monotonic µs */
} KletsenDeadline;

typedef enum
{
  KLETSEN_FILE_DUE_HEADER,     /* a side-channel connection owes its header */
  KLETSEN_FILE_DUE_TRANSFER,   /* an offer unanswered, or halves not connected */
  KLETSEN_FILE_DUE_IDLE_RELAY, /* a relay that moved nothing for a while */
  KLETSEN_FILE_DUE_KINDS
} KletsenFileDue;

/* One file offer, from FILE_TRANSFER_REQUEST until the relay closes. */
struct _KletsenTransfer
{
  KletsenServer        *server;
  char                 *id;        /* the transferId, a v4 UUID: a credential, never logged */
  char                  tag[9];    /* what logs say instead: 8 hex digits of its SHA-256 */
  char                 *up_secret; /* the roleSecret each side chose (extension), or NULL */
  char                 *down_secret;
  char                 *up_address;   /* the chat connections' addresses at accept: a role */
  char                 *down_address; /* without a secret is bound to its user's address */
  KletsenConnection    *uploader;  /* borrowed; NULL once relaying */
  KletsenConnection    *downloader;
  char                 *uploader_name;
  char                 *downloader_name;
  char                 *filename;
  char                 *checksum;
  gint64                size;
  KletsenTransferPhase  state;
  guint64               serial;    /* order of the offers, oldest first */
  KletsenDeadline       expiry;    /* offer answered, or halves connected, in time */
  gboolean              counted;   /* in both users' unfinished transfers */
  KletsenRelay         *relay;     /* the side channel, once a half has connected */
  /* cluster mode */
  const char           *downloader_inc; /* the downloader's node when not this one (interned) */
  char                 *forward_to; /* on the downloader's node: the owner's file port, host:port */
};

typedef enum
{
  CONN_OPEN,      /* reading and writing */
  CONN_DRAINING,  /* input ignored; closes once its output is written */
  CONN_LINGERING, /* output written and shut down; waits for the peer's EOF */
  CONN_DEAD,      /* waiting to be torn down at the next flush */
} KletsenConnectionState;

/* One client of the chat port. A plain struct rather than a GObject: the
 * server may hold tens of thousands of them, and each byte here is paid per
 * idle connection. The server owns every connection; nobody else keeps one. */
struct _KletsenConnection
{
  /* borrowed */
  KletsenServer          *server;

  /* owned */
  GSource                *source;     /* the I/O source of this socket; NULL with epoll */
  KletsenFramer          *framer;
  char                   *peer;       /* "address:port", for logs */
  char                   *name;       /* the login; NULL before LOGIN */
  KletsenChunk           **queue;      /* ring of unsent lines, shared by reference */
  GSource                *linger_source;
  const KletsenStream    *stream;     /* the socket, or TLS over it */
  KletsenTls             *tls;        /* the TLS stream's session; NULL for clear text */
  GSource                *handshake_timeout;

  /* state; the flags are bits, as every byte counts per idle connection */
  int                     fd;
  gpointer                fd_tag;
  KletsenConnectionState  state;
  guint                   q_head;
  guint                   q_len;
  guint                   q_cap;      /* 0 or a power of two */
  gsize                   q_offset;   /* bytes of the head line already sent */
  gsize                   q_bytes;    /* unsent bytes in the ring */
  guint                   users_index;/* position in server->users while logged in */
  guint                   want_out : 1;   /* G_IO_OUT is being watched */
  guint                   in_epoll : 1;   /* registered with server->epoll_fd */
  guint                   logged_in : 1;  /* listed in server->users and users_by_key */
  guint                   reset : 1;      /* close with RST, dropping what the kernel holds */
  guint                   read_filled : 1; /* the last read returned data: read on */
  guint                   tls_more : 1;   /* the TLS connection may hold decrypted bytes */
  guint                   handshaking : 1; /* TLS, before the WELCOME */
  guint                   read_paused : 1; /* not read until paused_on catches up (kletsen-backpressure.c) */
  guint                   ping_outstanding : 1;
  guint                   claiming : 1;   /* cluster: its name is being claimed; not read meanwhile */
  guint                   name_lost : 1;  /* cluster: taken elsewhere while this node was cut off */
  guint                   leaving : 1;    /* cluster: said BYE; BYE_RESP once Redis freed its name */
  KletsenConnection      *paused_on;
  gint64                  paused_since; /* monotonic µs */
  GList                   pause_link; /* in paused_on->paused_senders */
  GQueue                  paused_senders; /* not read until this one's queue shrinks */
  gint64                  ping_deadline;
  gint64                  pong_deadline;
  GList                   ping_link;  /* in server->ping_queue while logged in */
  GList                   pong_link;  /* in server->pong_queue while a PING waits */
  GList                   dirty_link; /* in server->dirty while output waits to be flushed */
  GList                   all_link;   /* in server->connections, or in server->doomed */
  GList                   login_link; /* in server->login_queue until LOGIN */
  GList                   backlog_link; /* in server->backlogged while want_out */
  gint64                  login_deadline;
  gint64                  rate_stamp; /* monotonic µs of the last token refill */
  int                     tokens;     /* requests it may still make at once */
  guint                   n_offers;   /* its offers waiting for an answer */
  guint                   owed_key_answers; /* key requests routed to it, not answered yet */
  guint                   batch_cursor; /* the first fan-out line of this iteration not yet queued for it */
  guint64                 serial;     /* unique for the server's life: what replies find it by */
};

struct _KletsenServer
{
  GObject               parent_instance;

  KletsenServerOptions  options;

  /* owned */
  GSocket              *listener;
  GSource              *listen_source;
  GSource              *flush_source;
  const KletsenPoller  *poller;       /* how chat sockets are watched */
  GSource              *poll_source;  /* the epoll poller's source, or NULL */
  int                   epoll_fd;     /* -1 without epoll */
  int                   spare_fd;     /* held for refusing clients when out of descriptors */
  guint                 refused_for_fds;
  gint64                refused_logged_at;
  GPtrArray            *tls_pending;  /* TLS connections holding decrypted bytes */
  GSource              *heartbeat_source;
  GHashTable           *users_by_key; /* folded name → KletsenConnection */
  GPtrArray            *users;        /* logged-in connections, for fan-out */
  GBytes               *user_list_line; /* LIST_USERS_RESP until membership changes; NULL: to make */
  KletsenGame          *game;
  GHashTable           *transfers;    /* transferId → KletsenTransfer */
  guint64               transfer_serial;
  GSocket              *file_listener;
  GSource              *file_listen_source;
  KletsenTlsContext    *tls_context;  /* NULL: no TLS */
  KletsenTlsLimits      tls_limits;
  GSocket              *tls_listener;
  GSource              *tls_listen_source;
  GSocket              *tls_file_listener;
  GSource              *tls_file_listen_source;
  GQueue                side_peers;   /* side-channel connections still sending their header */
  GHashTable           *file_peers_by_address; /* address → side-channel sockets from it (headers and relays) */
  GHashTable           *transfers_by_user; /* folded name → its accepted, unfinished transfers */
  guint                 n_relays;     /* accepted, unfinished transfers */
  GSource              *file_clock;
  GSource              *side_watch;   /* the side_peers' sockets (kletsen-side-peer.c) */
  GQueue                file_due[KLETSEN_FILE_DUE_KINDS];
  GBytes               *ping_line;
  char                 *read_buffer;
  char                 *write_buffer; /* GATHER_BYTES, where a flush gathers short lines */
  gsize                 read_buffer_size;

  /* state */
  GQueue                connections;  /* all open connections */
  GQueue                doomed;       /* dead, to be torn down */
  GQueue                dirty;        /* with output to flush */
  GQueue                backlogged;   /* output the kernel refused, waiting for G_IO_OUT */
  GQueue                ping_queue;   /* by ping deadline */
  GQueue                pong_queue;   /* by pong deadline */
  GQueue                login_queue;  /* by login deadline */
  gint64                queued_total; /* unsent output of all connections */
  GArray               *batch;        /* this iteration's fan-out lines (BatchEntry) */
  GByteArray           *batch_block;  /* the same lines, one after the other */
  gboolean              shutting_down;
  GCallback             shutdown_done;
  gpointer              shutdown_data;
  GSource              *shutdown_timeout;
  guint64               conn_serial;
  KletsenCluster       *cluster;      /* NULL: a single server */
};

/* kletsen-connection.c */
KletsenConnection *_kletsen_connection_new        (KletsenServer     *server,
                                                   int                fd,
                                                   const char        *peer,
                                                   gboolean           tls);
void               _kletsen_connection_free       (KletsenConnection *conn);
void               _kletsen_connection_start_tls  (KletsenConnection *conn);
void               _kletsen_connection_send       (KletsenConnection *conn,
                                                   GBytes            *line);
void               _kletsen_connection_send_line  (KletsenConnection *conn,
                                                   KletsenChunk       *line);
KletsenChunk       *_kletsen_chunk_new              (GBytes            *bytes);
KletsenChunk       *_kletsen_chunk_new_slice        (GBytes            *bytes,
                                                   gsize              offset,
                                                   gsize              size);
void               _kletsen_chunk_unref            (KletsenChunk       *line);
void               _kletsen_connection_send_status (KletsenConnection *conn,
                                                   const char        *header,
                                                   int                code);
void               _kletsen_connection_flush      (KletsenConnection *conn);
void               _kletsen_connection_overflow   (KletsenConnection *conn);
void               _kletsen_connection_close      (KletsenConnection *conn,
                                                   int                reason);
void               _kletsen_connection_abort      (KletsenConnection *conn,
                                                   const char        *why);
gboolean           _kletsen_connection_is_open    (KletsenConnection *conn);
void               _kletsen_connection_dispatch   (KletsenConnection *conn,
                                                   GIOCondition       events);

/* Whether @link, which belongs in @queue only, is in it now. */
static inline gboolean
_kletsen_queue_has (GQueue *queue,
                    GList  *link)
{
  return link->prev != NULL || queue->head == link;
}

/* kletsen-server.c */
char              *_kletsen_describe_peer         (int                fd,
                                                   const char        *prefix);
char              *_kletsen_describe_address      (int                fd);
gboolean           _kletsen_address_take          (GHashTable        *counts,
                                                   const char        *address,
                                                   guint              max,
                                                   guint             *held);
void               _kletsen_address_give_back     (GHashTable        *counts,
                                                   const char        *address);
void               _kletsen_server_connection_gone (KletsenServer     *self,
                                                   KletsenConnection *conn);
void               _kletsen_server_send_welcome   (KletsenServer     *self,
                                                   KletsenConnection *conn);
void               _kletsen_server_mark_dirty     (KletsenServer     *self,
                                                   KletsenConnection *conn);
void               _kletsen_server_mark_doomed    (KletsenServer     *self,
                                                   KletsenConnection *conn);
void               _kletsen_server_flush_all      (KletsenServer     *self);
int                _kletsen_server_accept         (KletsenServer     *self,
                                                   int                listen_fd,
                                                   gboolean           chat);
void               _kletsen_server_catch_up       (KletsenServer     *self,
                                                   KletsenConnection *conn);
void               _kletsen_server_queue_fan_out        (KletsenServer     *self,
                                                   GBytes            *line,
                                                   KletsenConnection *except);
KletsenConnection *_kletsen_server_find_user      (KletsenServer     *self,
                                                   const char        *name);
void               _kletsen_server_add_user       (KletsenServer     *self,
                                                   KletsenConnection *conn,
                                                   const char        *name);
void               _kletsen_server_remove_user    (KletsenServer     *self,
                                                   KletsenConnection *conn);
void               _kletsen_server_got_pong       (KletsenServer     *self,
                                                   KletsenConnection *conn);
void               _kletsen_server_charge_bytes   (KletsenServer     *self,
                                                   KletsenConnection *conn,
                                                   gsize              bytes);
gboolean           _kletsen_server_take_token     (KletsenServer     *self,
                                                   KletsenConnection *conn);

/* kletsen-server-handlers.c */
gboolean           _kletsen_server_handle_line    (KletsenConnection *conn,
                                                   char              *line,
                                                   gsize              len);
GBytes            *_kletsen_server_serialize_user_list (GPtrArray    *names);

/* kletsen-transfer.c */
void               _kletsen_server_handle_transfer (KletsenConnection        *conn,
                                                    const KletsenMessageInfo *info,
                                                    JsonObject               *body);
void               _kletsen_server_drop_transfers (KletsenServer     *self,
                                                   KletsenConnection *conn);
void               _kletsen_server_end_transfer   (KletsenServer     *self,
                                                   KletsenTransfer   *transfer);
void               _kletsen_transfer_free         (KletsenTransfer   *transfer);
/* cluster mode (kletsen-cluster-files.c) */
void               _kletsen_server_remote_answer  (KletsenServer     *self,
                                                   const char        *inc,
                                                   const char        *name,
                                                   JsonObject        *body,
                                                   const char        *down_address);
void               _kletsen_server_drop_remote_transfers (KletsenServer *self,
                                                   const char        *inc,
                                                   const char        *name);
void               _kletsen_server_add_forwarding (KletsenServer     *self,
                                                   const char        *id,
                                                   const char        *uploader_name,
                                                   KletsenConnection *downloader,
                                                   const char        *secret,
                                                   const char        *forward_to);
gboolean           _kletsen_relay_forward_half    (KletsenServer     *server,
                                                   KletsenTransfer   *transfer,
                                                   int                fd,
                                                   KletsenTls        *tls,
                                                   const char        *peer,
                                                   char              *address,
                                                   const char        *header,
                                                   gsize              header_len);

/* kletsen-backpressure.c */
void               _kletsen_connection_send_to_peer (KletsenConnection *sender,
                                                     KletsenConnection *receiver,
                                                     GBytes            *line);
void               _kletsen_backpressure_release  (KletsenConnection *receiver,
                                                   gboolean           gone);
void               _kletsen_backpressure_forget   (KletsenConnection *sender);
void               _kletsen_connection_set_reading (KletsenConnection *conn,
                                                    gboolean           reading);

/* kletsen-file-clock.c */
void               _kletsen_file_clock_start      (KletsenServer     *server);
void               _kletsen_file_clock_stop       (KletsenServer     *server);
void               _kletsen_file_clock_set        (KletsenServer     *server,
                                                   KletsenFileDue     kind,
                                                   KletsenDeadline   *due,
                                                   int                timeout_ms);
void               _kletsen_file_clock_cancel     (KletsenServer     *server,
                                                   KletsenFileDue     kind,
                                                   KletsenDeadline   *due);
/* what it calls when a deadline passes */
void               _kletsen_side_peer_expired     (gpointer           peer);
void               _kletsen_transfer_expired      (KletsenTransfer   *transfer);
void               _kletsen_relay_idle            (KletsenRelay      *relay);

/* kletsen-side-peer.c */
void               _kletsen_file_peer_leave       (KletsenServer     *server,
                                                   char             **address);
gboolean           _kletsen_side_peers_accept_cb  (GSocket           *socket,
                                                   GIOCondition       condition,
                                                   gpointer           user_data);
gboolean           _kletsen_side_peers_accept_tls_cb (GSocket        *socket,
                                                      GIOCondition    condition,
                                                      gpointer        user_data);
void               _kletsen_side_peers_start      (KletsenServer     *server);
void               _kletsen_side_peers_stop       (KletsenServer     *server);

/* kletsen-relay.c */
gboolean           _kletsen_relay_take_half       (KletsenServer     *server,
                                                   KletsenTransfer   *transfer,
                                                   KletsenSideRole    role,
                                                   int                fd,
                                                   KletsenTls        *tls,
                                                   const char        *peer,
                                                   char              *address,
                                                   const char       **why);
gboolean           _kletsen_relay_listen          (KletsenServer     *self,
                                                   GSocket          **listener,
                                                   GSource          **source,
                                                   int                port,
                                                   gboolean           tls,
                                                   GError           **error);
void               _kletsen_relay_stop            (KletsenServer     *self);
void               _kletsen_relay_free            (KletsenRelay      *relay);

/* kletsen-game.c */
KletsenGame       *_kletsen_game_new              (KletsenServer     *server);
void               _kletsen_game_free             (KletsenGame       *game);
void               _kletsen_game_start            (KletsenGame       *game,
                                                   KletsenConnection *conn);
void               _kletsen_game_join             (KletsenGame       *game,
                                                   KletsenConnection *conn);
void               _kletsen_game_guess            (KletsenGame       *game,
                                                   KletsenConnection *conn,
                                                   JsonNode          *number);
void               _kletsen_game_leave            (KletsenGame       *game,
                                                   KletsenConnection *conn);
/* cluster mode: the game of this node, for players of other nodes */
gboolean           _kletsen_game_is_idle          (KletsenGame       *game);
void               _kletsen_game_open_lobby       (KletsenGame       *game,
                                                   KletsenConnection *conn);
void               _kletsen_game_join_remote      (KletsenGame       *game,
                                                   const char        *inc,
                                                   const char        *name);
void               _kletsen_game_guess_remote     (KletsenGame       *game,
                                                   const char        *inc,
                                                   const char        *name,
                                                   JsonNode          *number);
void               _kletsen_game_leave_name       (KletsenGame       *game,
                                                   const char        *inc,
                                                   const char        *name);

/* Logs through g_log_structured with the peer as a field of its own. */
#define conn_log(conn, level, ...)                                            \
  G_STMT_START {                                                              \
    g_autofree char *_msg = g_strdup_printf (__VA_ARGS__);                    \
    g_log_structured (G_LOG_DOMAIN, level,                                    \
                      "KLETSEN_PEER", (conn)->peer,                           \
                      "KLETSEN_USER", (conn)->name ? (conn)->name : "",       \
                      "MESSAGE", "%s%s%s: %s",                                \
                      (conn)->name ? (conn)->name : "",                       \
                      (conn)->name ? "@" : "", (conn)->peer, _msg);           \
  } G_STMT_END

/* The server's own GSources (kletsen-server.c, -heartbeat.c, -accept.c). */
typedef struct
{
  GSource        base;
  KletsenServer *server;
  GSocket       *listener; /* for listen sources */
  gboolean       tls;
  gpointer       tag;      /* the poll source's epoll descriptor */
} ServerSource;

extern GSourceFuncs _kletsen_server_heartbeat_funcs;
extern GSourceFuncs _kletsen_server_flush_funcs;

GSource *
_kletsen_server_source_new (KletsenServer *self,
                            GSourceFuncs  *funcs,
                            const char    *name);

void
_kletsen_server_heartbeat_rearm (KletsenServer *self);

void
_kletsen_server_schedule_ping (KletsenServer     *self,
                               KletsenConnection *conn,
                               gint64             deadline);

GSocket *
_kletsen_server_listen_chat (KletsenServer  *self,
                             int             port,
                             GError        **error);

GSource *
_kletsen_server_listen_source_new (KletsenServer *self,
                                   GSocket       *listener,
                                   gboolean       tls);

/* Shared across the server's files since the output bookkeeping has one owner. */

void
_kletsen_output_queue_clear (KletsenConnection *conn);

void
_kletsen_output_queue_push (KletsenConnection *conn,
                            KletsenChunk       *line);

void
_kletsen_output_backlog_leave (KletsenConnection *conn);

void
_kletsen_output_materialize_batch (KletsenServer *self);

GBytes *
_kletsen_connection_dscn_line (int reason);

void
_kletsen_connection_drained (KletsenConnection *conn);

void
_kletsen_server_teardown (KletsenServer     *self,
                          KletsenConnection *conn);

void
_kletsen_server_maybe_finish_shutdown (KletsenServer *self);

void               _kletsen_output_init           (KletsenServer     *self);
void               _kletsen_output_fini           (KletsenServer     *self);
void               _kletsen_output_forget         (KletsenServer     *self,
                                                   KletsenConnection *conn);
void               _kletsen_output_skip_batch     (KletsenServer     *self,
                                                   KletsenConnection *conn);

G_END_DECLS
