/* kletsen-test-proxy.c
 *
 * Copyright 2026 The Kletsen authors
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#include "config.h"

#include <string.h>

#include "kletsen-test-proxy.h"

/* One copying thread per direction and connection; kt_proxy_free() ends
 * and joins them all, so nothing runs once it returns. */
struct _KtProxy
{
  GSocketService  *service;
  guint16          port;
  guint16          upstream;
  KtProxyLineFunc  to_client;
  gpointer         user_data;
  GMutex           lock;
  GByteArray      *seen;     /* under lock */
  GPtrArray       *copies;   /* of Copy, under lock */
};

/* One direction of one connection; it owns a reference to both
 * connections, and so to their sockets. */
typedef struct
{
  KtProxy           *proxy;
  GSocketConnection *from;
  GSocketConnection *to;
  gboolean           by_line;
  GThread           *thread;
} Copy;

static void
copy_free (gpointer data)
{
  Copy *copy = data;

  g_object_unref (copy->from);
  g_object_unref (copy->to);
  g_free (copy);
}

static void
record (KtProxy    *proxy,
        const char *buf,
        gsize       len)
{
  g_mutex_lock (&proxy->lock);
  g_byte_array_append (proxy->seen, (const guint8 *)buf, len);
  g_mutex_unlock (&proxy->lock);
}

void
kt_proxy_send_line (GSocket    *to_client,
                    const char *line)
{
  g_autofree char *with_nl = g_strconcat (line, "\n", NULL);

  g_socket_send (to_client, with_nl, strlen (with_nl), NULL, NULL);
}

/* Hands each whole line in @pending to the filter; keeps the rest. */
static void
pass_lines (Copy    *copy,
            GString *pending)
{
  GSocket *to = g_socket_connection_get_socket (copy->to);
  char *nl;

  while ((nl = memchr (pending->str, '\n', pending->len)) != NULL)
    {
      g_autofree char *line = g_strndup (pending->str, nl - pending->str);

      g_string_erase (pending, 0, nl - pending->str + 1);
      copy->proxy->to_client (to, line, copy->proxy->user_data);
    }
}

static gpointer
copy_thread (gpointer data)
{
  Copy *copy = data;
  GSocket *from = g_socket_connection_get_socket (copy->from);
  GSocket *to = g_socket_connection_get_socket (copy->to);
  g_autoptr(GString) pending = g_string_new (NULL);
  char buf[65536];
  gssize n;

  while ((n = g_socket_receive (from, buf, sizeof buf, NULL, NULL)) > 0)
    {
      record (copy->proxy, buf, n);
      if (copy->by_line)
        {
          g_string_append_len (pending, buf, n);
          pass_lines (copy, pending);
        }
      else if (g_socket_send (to, buf, n, NULL, NULL) != n)
        break;
    }
  g_socket_shutdown (to, FALSE, TRUE, NULL);
  return NULL;
}

static void
start_copy (KtProxy           *proxy,
            GSocketConnection *from,
            GSocketConnection *to,
            gboolean           by_line)
{
  Copy *copy = g_new0 (Copy, 1);

  *copy = (Copy) { proxy, g_object_ref (from), g_object_ref (to), by_line, NULL };
  g_mutex_lock (&proxy->lock);
  copy->thread = g_thread_new ("kt-proxy", copy_thread, copy);
  g_ptr_array_add (proxy->copies, copy);
  g_mutex_unlock (&proxy->lock);
}

static gboolean
incoming_cb (GSocketService    *service,
             GSocketConnection *client,
             GObject           *source,
             KtProxy           *proxy)
{
  g_autoptr(GSocketClient) connector = g_socket_client_new ();
  g_autoptr(GSocketConnection) server = g_socket_client_connect_to_host (connector, "127.0.0.1", proxy->upstream,
                                                                         NULL, NULL);

  g_assert_nonnull (server);
  g_socket_set_blocking (g_socket_connection_get_socket (client), TRUE);
  g_socket_set_blocking (g_socket_connection_get_socket (server), TRUE);
  start_copy (proxy, client, server, FALSE);
  start_copy (proxy, server, client, proxy->to_client != NULL);
  return TRUE;
}

/**
 * kt_proxy_start:
 * @upstream: the real server's port on 127.0.0.1
 * @to_client: (nullable): what becomes of the server's lines; %NULL copies
 *   them unchanged
 */
KtProxy *
kt_proxy_start (guint16         upstream,
                KtProxyLineFunc to_client,
                gpointer        user_data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GInetAddress) loopback = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autoptr(GSocketAddress) any = g_inet_socket_address_new (loopback, 0);
  g_autoptr(GSocketAddress) bound = NULL;
  KtProxy *proxy = g_new0 (KtProxy, 1);

  g_mutex_init (&proxy->lock);
  proxy->seen = g_byte_array_new ();
  proxy->copies = g_ptr_array_new_with_free_func (copy_free);
  proxy->upstream = upstream;
  proxy->to_client = to_client;
  proxy->user_data = user_data;
  proxy->service = g_socket_service_new ();
  g_socket_listener_add_address (G_SOCKET_LISTENER (proxy->service), any, G_SOCKET_TYPE_STREAM,
                                 G_SOCKET_PROTOCOL_TCP, NULL, &bound, &error);
  g_assert_no_error (error);
  proxy->port = g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (bound));
  g_signal_connect (proxy->service, "incoming", G_CALLBACK (incoming_cb), proxy);
  g_socket_service_start (proxy->service);
  return proxy;
}

guint16
kt_proxy_port (KtProxy *proxy)
{
  return proxy->port;
}

/* Whether @text crossed the proxy, either way. */
gboolean
kt_proxy_saw (KtProxy    *proxy,
              const char *text)
{
  gboolean found;

  g_mutex_lock (&proxy->lock);
  found = memmem (proxy->seen->data, proxy->seen->len, text, strlen (text)) != NULL;
  g_mutex_unlock (&proxy->lock);
  return found;
}

/* Stops listening, cuts every connection and waits for the copies. */
void
kt_proxy_free (KtProxy *proxy)
{
  g_socket_service_stop (proxy->service);
  g_socket_listener_close (G_SOCKET_LISTENER (proxy->service));
  g_clear_object (&proxy->service);
  /* No new copy can start now: incoming_cb runs on this thread. */
  for (guint i = 0; i < proxy->copies->len; i++)
    {
      Copy *copy = g_ptr_array_index (proxy->copies, i);

      g_socket_shutdown (g_socket_connection_get_socket (copy->from), TRUE, TRUE, NULL);
      g_thread_join (copy->thread);
    }
  g_ptr_array_unref (proxy->copies);
  g_byte_array_unref (proxy->seen);
  g_mutex_clear (&proxy->lock);
  g_free (proxy);
}
