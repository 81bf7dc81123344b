/* kletsen-poller-epoll.c
 *
 * Copyright 2026 The Kletsen authors
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#include "config.h"

#include <errno.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "kletsen-server-private.h"

/* On Linux one epoll set holds every chat connection, and GLib polls only
 * its descriptor. With a GSource per socket, every main loop iteration
 * walked all sockets twice in user space and handed all of them to poll():
 * at 10,000 idle users that is the cost of each wake-up. This source also
 * writes what its reads queued before it returns, so a message goes out in
 * the iteration that read it instead of after one more poll(). */

#define POLL_EVENTS 256
#define POLL_ROUNDS 16

static gboolean
poll_prepare (GSource *source,
              int     *timeout)
{
  KletsenServer *self = ((ServerSource *)source)->server;

  *timeout = -1;
  return self->tls_pending->len > 0;
}

static gboolean
poll_check (GSource *source)
{
  KletsenServer *self = ((ServerSource *)source)->server;

  return self->tls_pending->len > 0 ||
         g_source_query_unix_fd (source, ((ServerSource *)source)->tag) != 0;
}

static GIOCondition
condition_from_epoll (guint32 events)
{
  return ((events & EPOLLIN) ? G_IO_IN : 0) |
         ((events & EPOLLOUT) ? G_IO_OUT : 0) |
         ((events & EPOLLHUP) ? G_IO_HUP : 0) |
         ((events & EPOLLERR) ? G_IO_ERR : 0);
}

static gboolean
poll_dispatch (GSource     *source,
               GSourceFunc  callback,
               gpointer     user_data)
{
  KletsenServer *self = ((ServerSource *)source)->server;
  struct epoll_event events[POLL_EVENTS];
  int n;

  /* Connections are only freed by the flush at the end, so every pointer
   * here stays valid until then. */
  if (self->tls_pending->len > 0)
    {
      g_autoptr(GPtrArray) again = g_steal_pointer (&self->tls_pending);

      self->tls_pending = g_ptr_array_new ();
      for (guint i = 0; i < again->len; i++)
        _kletsen_connection_dispatch (g_ptr_array_index (again, i), 0);
    }

  /* Everything ready is read before the flush, so that many messages (or
   * logins) share each receiver's write; a bounded number of rounds keeps
   * output from waiting behind a flood. */
  for (guint round = 0; round < POLL_ROUNDS; round++)
    {
      do
        n = epoll_wait (self->epoll_fd, events, POLL_EVENTS, 0);
      while (n < 0 && errno == EINTR);
      for (int i = 0; i < n; i++)
        {
          /* Connections are aligned; a set low bit marks a KletsenFdWatch. */
          if (G_UNLIKELY ((guintptr)events[i].data.ptr & KLETSEN_FD_WATCH_TAG))
            _kletsen_fd_watch_dispatch (events[i].data.ptr, events[i].events);
          else
            _kletsen_connection_dispatch (events[i].data.ptr, condition_from_epoll (events[i].events));
        }
      if (n < POLL_EVENTS)
        break;
    }

  _kletsen_server_flush_all (self);
  return G_SOURCE_CONTINUE;
}

void
_kletsen_fd_watch_dispatch (gpointer tagged,
                            guint32  epoll_events)
{
  KletsenFdWatch *watch = (KletsenFdWatch *)((guintptr)tagged & ~KLETSEN_FD_WATCH_TAG);

  watch->ready (watch, condition_from_epoll (epoll_events));
}

static GSourceFuncs poll_funcs = {
  .prepare = poll_prepare,
  .check = poll_check,
  .dispatch = poll_dispatch,
};

static void
epoll_update (KletsenConnection *conn,
              int                op)
{
  struct epoll_event ev = {
    .events = (conn->read_paused ? 0 : EPOLLIN) | (conn->want_out ? EPOLLOUT : 0),
    .data.ptr = conn,
  };

  if (epoll_ctl (conn->server->epoll_fd, op, conn->fd, &ev) != 0)
    _kletsen_connection_abort (conn, g_strerror (errno));
}

static gboolean
epoll_start (KletsenServer *self)
{
  self->epoll_fd = epoll_create1 (EPOLL_CLOEXEC);
  if (self->epoll_fd < 0)
    return FALSE;
  self->tls_pending = g_ptr_array_new ();
  self->poll_source = _kletsen_server_source_new (self, &poll_funcs, "kletsen-poll");
  ((ServerSource *)self->poll_source)->tag = g_source_add_unix_fd (self->poll_source, self->epoll_fd, G_IO_IN);
  g_source_set_can_recurse (self->poll_source, TRUE);
  g_source_attach (self->poll_source, NULL);
  return TRUE;
}

static void
epoll_stop (KletsenServer *self)
{
  if (self->poll_source != NULL)
    g_source_destroy (self->poll_source);
  g_clear_pointer (&self->poll_source, g_source_unref);
  if (self->epoll_fd >= 0)
    close (self->epoll_fd);
  self->epoll_fd = -1;
  g_clear_pointer (&self->tls_pending, g_ptr_array_unref);
}

static void
epoll_watch (KletsenConnection *conn)
{
  if (conn->in_epoll)
    return;
  conn->in_epoll = TRUE;
  epoll_update (conn, EPOLL_CTL_ADD);
}

static void
epoll_set_output (KletsenConnection *conn)
{
  if (conn->in_epoll)
    epoll_update (conn, EPOLL_CTL_MOD);
}

static void
epoll_unwatch (KletsenConnection *conn)
{
  if (conn->in_epoll)
    {
      epoll_ctl (conn->server->epoll_fd, EPOLL_CTL_DEL, conn->fd, NULL);
      conn->in_epoll = FALSE;
    }
  if (conn->tls_more)
    g_ptr_array_remove_fast (conn->server->tls_pending, conn);
}

static void
epoll_wake (KletsenConnection *conn)
{
  g_ptr_array_add (conn->server->tls_pending, conn);
}

const KletsenPoller _kletsen_poller_epoll = {
  .name = "epoll",
  .start = epoll_start,
  .stop = epoll_stop,
  .watch = epoll_watch,
  .set_output = epoll_set_output,
  .unwatch = epoll_unwatch,
  .wake = epoll_wake,
};
