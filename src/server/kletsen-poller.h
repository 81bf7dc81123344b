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

/* A descriptor that is not a chat connection (the cluster's Redis links)
 * in the same poll set: read in the same iteration as the clients, so what
 * it brings joins the same fan-out batch. With epoll it is an entry of the
 * set (tagged, so the poll source tells it from a connection); elsewhere it
 * has a GSource of its own. */
typedef struct _KletsenFdWatch KletsenFdWatch;
struct _KletsenFdWatch
{
  void       (*ready) (KletsenFdWatch *watch,
                       GIOCondition    events);
  int          fd;
  gboolean     want_in;
  gboolean     want_out;
  gboolean     added;
  GSource     *source; /* without epoll */
  gpointer     tag;
};

/* Starts watching @watch->fd, or applies a change of want_in/want_out. */
void _kletsen_fd_watch_update (KletsenServer  *server,
                               KletsenFdWatch *watch);
void _kletsen_fd_watch_remove (KletsenServer  *server,
                               KletsenFdWatch *watch);
/* What the epoll source calls for a tagged entry. */
void _kletsen_fd_watch_dispatch (gpointer        tagged,
                                 guint32         epoll_events);

#define KLETSEN_FD_WATCH_TAG ((guintptr)1)

extern const KletsenPoller _kletsen_poller_glib;
extern const KletsenPoller _kletsen_poller_epoll;

const KletsenPoller *_kletsen_poller_choose (KletsenServer *server);

G_END_DECLS
