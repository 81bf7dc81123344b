/* kletsen-poller.c
 *
 * Copyright 2026 The Kletsen authors
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#include "config.h"

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
