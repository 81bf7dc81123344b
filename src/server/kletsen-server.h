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
  int       max_line;         /* bytes before the \n */
  int       max_clients;
  gint64    max_queue_bytes;  /* per client, unsent output */
  int       linger_ms;        /* how long a closing connection may take to drain */
} KletsenServerOptions;

void kletsen_server_options_init (KletsenServerOptions *options);

#define KLETSEN_TYPE_SERVER (kletsen_server_get_type ())

G_DECLARE_FINAL_TYPE (KletsenServer, kletsen_server, KLETSEN, SERVER, GObject)

KletsenServer *kletsen_server_new              (const KletsenServerOptions  *options);
gboolean       kletsen_server_start            (KletsenServer               *self,
                                                GError                     **error);
GSocketAddress *kletsen_server_get_address     (KletsenServer               *self);
void           kletsen_server_shutdown         (KletsenServer               *self,
                                                GCallback                    done,
                                                gpointer                     user_data);
guint          kletsen_server_get_n_connections (KletsenServer              *self);

G_END_DECLS
