/* kletsen-test-proxy.h
 *
 * Copyright 2026 The Kletsen authors
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

/* A TCP proxy on 127.0.0.1 in front of a real server. It records every byte
 * either way, and can rewrite, hold back or drop the server's lines to the
 * clients: a server that lies, with real clients and a real server. */
typedef struct _KtProxy KtProxy;

/* Called on the proxy's thread for each line (without its newline) the
 * server sends to a client; what the client gets is what it writes to
 * @to_client with kt_proxy_send_line(). */
typedef void (*KtProxyLineFunc) (GSocket    *to_client,
                                 const char *line,
                                 gpointer    user_data);

KtProxy  *kt_proxy_start     (guint16          upstream,
                              KtProxyLineFunc  to_client,
                              gpointer         user_data);
guint16   kt_proxy_port      (KtProxy         *proxy);
gboolean  kt_proxy_saw       (KtProxy         *proxy,
                              const char      *text);
void      kt_proxy_send_line (GSocket         *to_client,
                              const char      *line);
void      kt_proxy_free      (KtProxy         *proxy);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (KtProxy, kt_proxy_free)

G_END_DECLS
