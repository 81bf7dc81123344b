/* kletsen-poller.c
 *
 * Copyright 2026 The Kletsen authors
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#include "config.h"

#include <errno.h>
#include <glib-unix.h>
#ifdef HAVE_EPOLL
#include <sys/epoll.h>
#endif

#include "kletsen-server-private.h"

/**
 * _kletsen_poller_choose:
 *
 * Starts the best backend this system has for @server: epoll on Linux,
 * unless KLETSEN_POLL=glib asks for a GSource per socket (the path of other
 * platforms, which the tests run too).
 *
 * Returns: the backend, already started
 */
const KletsenPoller *
_kletsen_poller_choose (KletsenServer *server)
{
#ifdef HAVE_EPOLL
  if (g_strcmp0 (g_getenv ("KLETSEN_POLL"), "glib") != 0 && _kletsen_poller_epoll.start (server))
    return &_kletsen_poller_epoll;
#endif
  _kletsen_poller_glib.start (server);
  return &_kletsen_poller_glib;
}

static gboolean
watch_source_cb (int          fd,
                 GIOCondition condition,
                 gpointer     user_data)
{
  KletsenFdWatch *watch = user_data;

  watch->ready (watch, condition);
  return G_SOURCE_CONTINUE;
}

static GIOCondition
watch_condition (KletsenFdWatch *watch)
{
  return (watch->want_in ? G_IO_IN : 0) | (watch->want_out ? G_IO_OUT : 0);
}

void
_kletsen_fd_watch_update (KletsenServer  *server,
                          KletsenFdWatch *watch)
{
#ifdef HAVE_EPOLL
  if (server->epoll_fd >= 0)
    {
      struct epoll_event ev = {
        .events = (watch->want_in ? EPOLLIN : 0) | (watch->want_out ? EPOLLOUT : 0),
        .data.ptr = (gpointer)((guintptr)watch | KLETSEN_FD_WATCH_TAG),
      };

      if (epoll_ctl (server->epoll_fd, watch->added ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, watch->fd, &ev) != 0)
        g_warning ("cannot watch descriptor %d: %s", watch->fd, g_strerror (errno));
      else
        watch->added = TRUE;
      return;
    }
#endif
  if (watch->source == NULL)
    {
      watch->source = g_unix_fd_source_new (watch->fd, watch_condition (watch));
      g_source_set_callback (watch->source, G_SOURCE_FUNC (watch_source_cb), watch, NULL);
      g_source_set_static_name (watch->source, "kletsen-fd-watch");
      g_source_attach (watch->source, NULL);
      watch->added = TRUE;
      return;
    }
  /* A GUnixFDSource cannot change its condition: start a new one. */
  g_source_destroy (watch->source);
  g_clear_pointer (&watch->source, g_source_unref);
  watch->added = FALSE;
  _kletsen_fd_watch_update (server, watch);
}

void
_kletsen_fd_watch_remove (KletsenServer  *server,
                          KletsenFdWatch *watch)
{
  if (!watch->added)
    return;
#ifdef HAVE_EPOLL
  if (server->epoll_fd >= 0)
    epoll_ctl (server->epoll_fd, EPOLL_CTL_DEL, watch->fd, NULL);
#endif
  if (watch->source != NULL)
    {
      g_source_destroy (watch->source);
      g_clear_pointer (&watch->source, g_source_unref);
    }
  watch->added = FALSE;
}
