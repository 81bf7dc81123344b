/* kletsen-poller.h
 *
 * Copyright 2026 The Kletsen authors
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct _KletsenServer     KletsenServer;
typedef struct _KletsenConnection KletsenConnection;

/* How the server watches its chat sockets, chosen once when it starts, the
 * way Redis's ae.c picks ae_epoll.c or another backend: one epoll set for
 * every connection (kletsen-poller-epoll.c, Linux), or a GSource per socket
 * (kletsen-poller-glib.c: elsewhere, and with KLETSEN_POLL=glib). Either one
 * calls _kletsen_connection_dispatch() with what a socket reported; the
 * connection never knows which it has. */
typedef struct
{
  const char *name;
  /* Sets the backend up for @server; FALSE when this system lacks it. */
  gboolean  (*start)      (KletsenServer     *server);
  void      (*stop)       (KletsenServer     *server);
  /* Starts reading @conn's socket, and writing when conn->want_out. */
  void      (*watch)      (KletsenConnection *conn);
  /* conn->want_out changed: watch for room to write, or stop. */
  void      (*set_output) (KletsenConnection *conn);
  void      (*unwatch)    (KletsenConnection *conn);
  /* The TLS layer holds decrypted bytes no socket event will announce:
   * dispatch @conn again soon. */
  void      (*wake)       (KletsenConnection *conn);
} KletsenPoller;

extern const KletsenPoller _kletsen_poller_glib;
extern const KletsenPoller _kletsen_poller_epoll;

const KletsenPoller *_kletsen_poller_choose (KletsenServer *server);

G_END_DECLS
