/* kletsen-server.h
 *
 * Copyright 2026 The Kletsen authors
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

/* Everything main.c's options can set; kletsen_server_options_init() fills in
 * the defaults of protocol.md. */
typedef struct
{
  char     *bind;             /* address to listen on; NULL for all */
  int       port;             /* 0 picks a free port */
  int       ping_interval_ms;
  int       pong_timeout_ms;
  int       join_window_ms;
  int       game_timeout_ms;
  int       game_cooldown_ms; /* after a game, its players may not start the next one for this long */
  int       max_line;         /* bytes before the \n */
  int       max_clients;
  gint64    max_queue_bytes;  /* per client, unsent output */
  gint64    max_total_queue_bytes; /* all clients together */
  int       linger_ms;        /* how long a closing connection may take to drain */
  int       login_timeout_ms; /* a connection that has not logged in by then is closed (7013) */
  int       rate_limit;       /* requests per second per connection, bursts of twice that; 0: none */
  int       rate_bytes_per_token; /* a request costs one token more per this many bytes of reply */

  /* Level 3: file transfer */
  int       file_port;        /* the side channel; 0 picks a free port */
  int       offer_timeout_ms; /* an offer unanswered, or accepted but never connected */
  int       header_timeout_ms;/* time a side-channel peer has to send its 37 bytes */
  gint64    max_file_size;    /* bytes; larger offers get 10000 */
  int       max_offers;       /* offers one user may have waiting at once */
  int       relay_window;     /* bytes of one transfer the relay holds at most */
  int       max_transfers;    /* accepted, unfinished transfers per user (either side) */
  int       max_relays;       /* accepted, unfinished transfers in all */
  int       relay_idle_timeout_ms; /* a relay that moves no byte for this long ends */
  int       max_side_channels; /* side-channel connections still owing their header */
  int       max_file_connections_per_address; /* on the file ports, from one address */

  /* TLS */
  char     *tls_cert;         /* PEM files; NULL: no TLS */
  char     *tls_key;
  int       tls_port;         /* chat over TLS; 0 picks a free port */
  int       tls_file_port;    /* the side channel over TLS */
  gboolean  tls_only;         /* no clear-text ports at all */
  int       handshake_timeout_ms;
  int       max_handshakes;   /* unfinished at once, in all; 0: no cap */
  int       max_handshakes_per_address; /* from one source address; 0: no cap */

  /* Cluster mode (docs/cluster.md) */
  char     *cluster;          /* redis://HOST:PORT or unix:PATH; NULL: a single server */
  char     *node_name;        /* NULL: host:port of the chat port */
  int       cluster_heartbeat_ms;
  int       cluster_dead_ms;  /* a node silent this long is reaped */
  char     *advertise;        /* numeric address other nodes reach our file port at; NULL: the bound one */
} KletsenServerOptions;

void kletsen_server_options_init (KletsenServerOptions *options);

#define KLETSEN_TYPE_SERVER (kletsen_server_get_type ())

G_DECLARE_FINAL_TYPE (KletsenServer, kletsen_server, KLETSEN, SERVER, GObject)

KletsenServer *kletsen_server_new              (const KletsenServerOptions  *options);
gboolean       kletsen_server_start            (KletsenServer               *self,
                                                GError                     **error);
GSocketAddress *kletsen_server_get_address     (KletsenServer               *self);
GSocketAddress *kletsen_server_get_file_address (KletsenServer              *self);
GSocketAddress *kletsen_server_get_tls_address (KletsenServer               *self);
GSocketAddress *kletsen_server_get_tls_file_address (KletsenServer          *self);
gboolean       kletsen_server_reload_certificate (KletsenServer             *self,
                                                GError                     **error);
void           kletsen_server_shutdown         (KletsenServer               *self,
                                                GCallback                    done,
                                                gpointer                     user_data);
guint          kletsen_server_get_n_connections (KletsenServer              *self);
const char    *kletsen_server_get_cluster_incarnation (KletsenServer        *self);

G_END_DECLS
