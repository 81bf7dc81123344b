/* kletsen-fake-server.c
 *
 * Copyright 2026 The Kletsen authors
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#include "config.h"

#include <string.h>

#include "kletsen-fake-server.h"

#define EXPECT_TIMEOUT_MS 20000

struct _KtFake
{
  GSocket      *listener;
  GSocket      *file_listener;
  guint16       port;
  guint16       file_port;
  GThread      *thread;
  KtFakeScript  script;
  gpointer      data;
  gint          connections;
  gint          stop;
};

struct _KtFakeConn
{
  GSocket *socket;
  GString *buffer;
};

static GSocket *
listen_on_loopback (guint16 *port)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GInetAddress) loopback = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autoptr(GSocketAddress) any_port = g_inet_socket_address_new (loopback, 0);
  g_autoptr(GSocketAddress) bound = NULL;
  GSocket *socket = g_socket_new (G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP, &error);

  g_assert_no_error (error);
  g_socket_bind (socket, any_port, TRUE, &error);
  g_assert_no_error (error);
  g_socket_listen (socket, &error);
  g_assert_no_error (error);
  bound = g_socket_get_local_address (socket, &error);
  g_assert_no_error (error);
  *port = g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (bound));
  return socket;
}

static KtFakeConn *
accept_one (GSocket *listener,
            KtFake  *fake,
            guint    timeout_ms)
{
  gint64 deadline = g_get_monotonic_time () + (gint64)timeout_ms * 1000;
  KtFakeConn *conn;
  GSocket *socket;

  while (!kt_fake_stopping (fake) && g_get_monotonic_time () < deadline)
    {
      if (!g_socket_condition_timed_wait (listener, G_IO_IN, 50 * 1000, NULL, NULL))
        continue;
      socket = g_socket_accept (listener, NULL, NULL);
      if (socket == NULL)
        continue;
      g_socket_set_blocking (socket, TRUE);
      conn = g_new0 (KtFakeConn, 1);
      conn->socket = socket;
      conn->buffer = g_string_new (NULL);
      return conn;
    }
  return NULL;
}

static gpointer
fake_thread (gpointer user_data)
{
  KtFake *fake = user_data;

  while (!kt_fake_stopping (fake))
    {
      KtFakeConn *conn = accept_one (fake->listener, fake, 100);
      guint index;

      if (conn == NULL)
        continue;
      index = (guint)g_atomic_int_add (&fake->connections, 1);
      fake->script (fake, conn, index, fake->data);
      kt_fake_conn_free (conn);
    }
  return NULL;
}

/**
 * kt_fake_start:
 * @script: what to do with each connection; the connection closes when it
 *   returns
 *
 * Starts a fake server with a chat port and a file port on 127.0.0.1.
 */
KtFake *
kt_fake_start (KtFakeScript script,
               gpointer     data)
{
  KtFake *fake = g_new0 (KtFake, 1);

  fake->script = script;
  fake->data = data;
  fake->listener = listen_on_loopback (&fake->port);
  fake->file_listener = listen_on_loopback (&fake->file_port);
  fake->thread = g_thread_new ("kt-fake-server", fake_thread, fake);
  return fake;
}

/* Stops the script (which sees kt_fake_stopping ()) and waits for it. */
void
kt_fake_free (KtFake *fake)
{
  g_atomic_int_set (&fake->stop, 1);
  g_thread_join (fake->thread);
  g_socket_close (fake->listener, NULL);
  g_socket_close (fake->file_listener, NULL);
  g_object_unref (fake->listener);
  g_object_unref (fake->file_listener);
  g_free (fake);
}

guint16
kt_fake_port (KtFake *fake)
{
  return fake->port;
}

guint16
kt_fake_file_port (KtFake *fake)
{
  return fake->file_port;
}

guint
kt_fake_connections (KtFake *fake)
{
  return (guint)g_atomic_int_get (&fake->connections);
}

gboolean
kt_fake_stopping (KtFake *fake)
{
  return g_atomic_int_get (&fake->stop) != 0;
}

/**
 * kt_fake_accept_file:
 *
 * Returns: (nullable): the next connection to the file port, or %NULL when
 *   none came within @timeout_ms
 */
KtFakeConn *
kt_fake_accept_file (KtFake *fake,
                     guint   timeout_ms)
{
  return accept_one (fake->file_listener, fake, timeout_ms);
}

void
kt_fake_conn_free (KtFakeConn *conn)
{
  g_socket_close (conn->socket, NULL);
  g_object_unref (conn->socket);
  g_string_free (conn->buffer, TRUE);
  g_free (conn);
}

/* The client may have closed: a failed send is what a hostile server sees
 * too, and is not the test's failure. */
void
kt_fake_send_raw (KtFakeConn *conn,
                  const void *data,
                  gsize       len)
{
  gsize done = 0;

  while (done < len)
    {
      gssize n = g_socket_send (conn->socket, (const char *)data + done, len - done, NULL, NULL);

      if (n <= 0)
        return;
      done += n;
    }
}

void
kt_fake_send (KtFakeConn *conn,
              const char *format,
              ...)
{
  g_autofree char *line = NULL;
  va_list args;

  va_start (args, format);
  line = g_strdup_vprintf (format, args);
  va_end (args);
  kt_fake_send_raw (conn, line, strlen (line));
  kt_fake_send_raw (conn, "\n", 1);
}

static gboolean
fill (KtFakeConn *conn,
      guint       timeout_ms)
{
  char chunk[16384];
  gssize n;

  if (!g_socket_condition_timed_wait (conn->socket, G_IO_IN, (gint64)timeout_ms * 1000, NULL, NULL))
    return FALSE;
  n = g_socket_receive (conn->socket, chunk, sizeof chunk, NULL, NULL);
  if (n <= 0)
    return FALSE;
  g_string_append_len (conn->buffer, chunk, n);
  return TRUE;
}

/**
 * kt_fake_read_line:
 *
 * Returns: (nullable): the next line from the client, or %NULL at EOF or
 *   when none came within @timeout_ms
 */
char *
kt_fake_read_line (KtFakeConn *conn,
                   guint       timeout_ms)
{
  for (;;)
    {
      char *nl = memchr (conn->buffer->str, '\n', conn->buffer->len);

      if (nl != NULL)
        {
          gsize len = nl - conn->buffer->str;
          char *line = g_strndup (conn->buffer->str, len);

          g_string_erase (conn->buffer, 0, len + 1);
          return line;
        }
      if (!fill (conn, timeout_ms))
        return NULL;
    }
}

/* Raw bytes, after whatever lines were read: the side channel. */
gssize
kt_fake_read_bytes (KtFakeConn *conn,
                    char       *buffer,
                    gsize       len,
                    guint       timeout_ms)
{
  gsize n;

  if (conn->buffer->len == 0 && !fill (conn, timeout_ms))
    return -1;
  n = MIN (len, conn->buffer->len);
  memcpy (buffer, conn->buffer->str, n);
  g_string_erase (conn->buffer, 0, n);
  return n;
}

/* Reads exactly @len bytes, and fails the test when they do not come. */
void
kt_fake_read_exactly (KtFakeConn *conn,
                      char       *buffer,
                      gsize       len,
                      guint       timeout_ms)
{
  for (gsize got = 0; got < len;)
    {
      gssize n = kt_fake_read_bytes (conn, buffer + got, len - got, timeout_ms);

      g_assert_cmpint (n, >, 0);
      got += n;
    }
}

/**
 * kt_fake_expect:
 *
 * Reads lines until one with @header (PONG and others are skipped), and
 * fails the test when none comes in time.
 *
 * Returns: (transfer full): its body, an empty object when it had none
 */
JsonObject *
kt_fake_expect (KtFakeConn *conn,
                const char *header)
{
  gint64 deadline = g_get_monotonic_time () + EXPECT_TIMEOUT_MS * 1000;
  gsize header_len = strlen (header);

  while (g_get_monotonic_time () < deadline)
    {
      g_autofree char *line = kt_fake_read_line (conn, 200);
      g_autoptr(JsonParser) parser = NULL;

      if (line == NULL)
        continue;
      if (strncmp (line, header, header_len) != 0 || (line[header_len] != '\0' && line[header_len] != ' '))
        continue;
      if (line[header_len] == '\0')
        return json_object_new ();
      parser = json_parser_new ();
      g_assert_true (json_parser_load_from_data (parser, line + header_len + 1, -1, NULL));
      return json_object_ref (json_node_get_object (json_parser_get_root (parser)));
    }
  g_error ("fake server: the client sent no %s", header);
}

/**
 * kt_fake_login:
 *
 * Plays an honest server's part of a login: WELCOME, the LOGIN_RESP, and the
 * user list the client asks for next.
 *
 * Returns: (transfer full): the name the client logged in with
 */
char *
kt_fake_login (KtFakeConn *conn)
{
  g_autoptr(JsonObject) login = NULL;
  char *name;

  kt_fake_send (conn, "WELCOME {\"msg\":\"Welcome to the fake server\"}");
  login = kt_fake_expect (conn, "LOGIN");
  name = g_strdup (json_object_get_string_member (login, "username"));
  kt_fake_send (conn, "LOGIN_RESP {\"status\":\"OK\"}");
  g_clear_pointer (&login, json_object_unref);
  login = kt_fake_expect (conn, "LIST_USERS_REQ");
  kt_fake_send (conn, "LIST_USERS_RESP {\"status\":\"OK\",\"users\":[\"%s\",\"zoe\"]}", name);
  return name;
}

/**
 * kt_fake_serve:
 *
 * Until the test stops the fake or the client leaves: answers PING-less
 * idling, user lists and barriers honestly, and drops everything else.
 */
void
kt_fake_serve (KtFake     *fake,
               KtFakeConn *conn)
{
  while (!kt_fake_stopping (fake))
    {
      g_autofree char *line = kt_fake_read_line (conn, 100);

      if (line == NULL)
        {
          /* A timeout goes on; EOF ends. */
          if (g_socket_condition_check (conn->socket, G_IO_IN | G_IO_HUP) != 0 &&
              !fill (conn, 0))
            return;
          continue;
        }
      if (g_str_has_prefix (line, "LIST_USERS_REQ"))
        kt_fake_send (conn, "LIST_USERS_RESP {\"status\":\"OK\",\"users\":[\"zoe\"]}");
    }
}
