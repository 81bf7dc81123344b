/* kletsen-poller-glib.c
 *
 * Copyright 2026 The Kletsen authors
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

/* A GSource per chat socket: portable, and what the server uses where there
 * is no epoll. G_IO_OUT is only watched while the kernel refuses output. */

#include "config.h"

#include "kletsen-server-private.h"

#define READ_EVENTS (G_IO_IN | G_IO_HUP | G_IO_ERR)

typedef struct
{
  GSource            base;
  KletsenConnection *conn;
} ConnectionSource;

static gboolean
connection_source_dispatch (GSource     *source,
                            GSourceFunc  callback,
                            gpointer     user_data)
{
  KletsenConnection *conn = ((ConnectionSource *)source)->conn;

  if (conn->tls_more)
    g_source_set_ready_time (source, -1);
  _kletsen_connection_dispatch (conn, g_source_query_unix_fd (source, conn->fd_tag));
  return G_SOURCE_CONTINUE;
}

static GSourceFuncs connection_source_funcs = {
  .dispatch = connection_source_dispatch,
};

static gboolean
glib_start (KletsenServer *server)
{
  return TRUE;
}

static void
glib_stop (KletsenServer *server)
{
}

static void
glib_watch (KletsenConnection *conn)
{
  ConnectionSource *source;

  if (conn->source != NULL)
    return;
  source = (ConnectionSource *)g_source_new (&connection_source_funcs, sizeof (ConnectionSource));
  source->conn = conn;
  g_source_set_static_name ((GSource *)source, "kletsen-connection");
  /* GLib takes a source's descriptors out of the poll set while it dispatches
   * a source that cannot recurse, and puts them back afterwards; each change
   * wakes the loop through its eventfd, so every dispatch cost two write()s,
   * a read() and an extra poll() over every socket. Nothing here runs a
   * nested loop, so the guard buys nothing. */
  g_source_set_can_recurse ((GSource *)source, TRUE);
  conn->fd_tag = g_source_add_unix_fd ((GSource *)source, conn->fd, (conn->read_paused ? (G_IO_HUP | G_IO_ERR) : READ_EVENTS) | (conn->want_out ? G_IO_OUT : 0));
  conn->source = (GSource *)source;
  g_source_attach (conn->source, NULL);
}

static void
glib_set_output (KletsenConnection *conn)
{
  if (conn->source != NULL)
    g_source_modify_unix_fd (conn->source, conn->fd_tag, (conn->read_paused ? (G_IO_HUP | G_IO_ERR) : READ_EVENTS) | (conn->want_out ? G_IO_OUT : 0));
}

static void
glib_unwatch (KletsenConnection *conn)
{
  if (conn->source == NULL)
    return;
  g_source_destroy (conn->source);
  g_clear_pointer (&conn->source, g_source_unref);
}

static void
glib_wake (KletsenConnection *conn)
{
  if (conn->source != NULL)
    g_source_set_ready_time (conn->source, 0);
}

const KletsenPoller _kletsen_poller_glib = {
  .name = "glib",
  .start = glib_start,
  .stop = glib_stop,
  .watch = glib_watch,
  .set_output = glib_set_output,
  .unwatch = glib_unwatch,
  .wake = glib_wake,
};
