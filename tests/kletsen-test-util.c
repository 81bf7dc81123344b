/* kletsen-test-util.c
 *
 * Copyright 2026 The Kletsen authors
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#include "config.h"

#include <glib/gstdio.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>

#include "kletsen-protocol.h"
#include "kletsen-test-util.h"

#define READ_TIMEOUT_S 10

/* A test that fails aborts; its server must not outlive it and keep the test
 * runner waiting on the pipes it inherited. */
void
kt_die_with_parent (gpointer user_data)
{
  prctl (PR_SET_PDEATHSIG, SIGKILL);
}

/**
 * kt_server_start:
 * @first_arg: the first extra command-line argument, or %NULL
 *
 * Starts the server on 127.0.0.1 port 0 and waits for its
 * "listening on ADDRESS:PORT" line.
 */
KtServer *
kt_server_start (const char *first_arg,
                 ...)
{
  const char *binary = g_getenv ("KLETSEN_SERVER");
  g_autoptr(GPtrArray) argv = g_ptr_array_new ();
  g_autoptr(GError) error = NULL;
  g_autoptr(GDataInputStream) out = NULL;
  g_autoptr(GSubprocessLauncher) launcher = NULL;
  g_auto(GStrv) wrapper = NULL;
  g_autofree char *line = NULL;
  KtServer *server;
  va_list args;

  g_assert_nonnull (binary);
  /* KLETSEN_SERVER_WRAPPER runs the server under a tool, such as valgrind. */
  if (g_getenv ("KLETSEN_SERVER_WRAPPER") != NULL)
    {
      wrapper = g_strsplit (g_getenv ("KLETSEN_SERVER_WRAPPER"), " ", -1);
      for (guint i = 0; wrapper[i] != NULL; i++)
        if (*wrapper[i] != '\0')
          g_ptr_array_add (argv, wrapper[i]);
    }
  g_ptr_array_add (argv, (char *)binary);
  g_ptr_array_add (argv, "--bind");
  g_ptr_array_add (argv, "127.0.0.1");
  g_ptr_array_add (argv, "--port");
  g_ptr_array_add (argv, "0");
  g_ptr_array_add (argv, "--file-port");
  g_ptr_array_add (argv, "0");
  g_ptr_array_add (argv, "--tls-port");
  g_ptr_array_add (argv, "0");
  g_ptr_array_add (argv, "--tls-file-port");
  g_ptr_array_add (argv, "0");
  /* KLETSEN_TEST_SERVER_VERBOSE=1: the server logs every connection to stderr. */
  if (g_getenv ("KLETSEN_TEST_SERVER_VERBOSE") != NULL)
    g_ptr_array_add (argv, "--verbose");
  va_start (args, first_arg);
  for (const char *arg = first_arg; arg != NULL; arg = va_arg (args, const char *))
    g_ptr_array_add (argv, (char *)arg);
  va_end (args);
  g_ptr_array_add (argv, NULL);

  server = g_new0 (KtServer, 1);
  launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE);
  g_subprocess_launcher_set_child_setup (launcher, kt_die_with_parent, NULL, NULL);
  /* KLETSEN_TEST_SERVER_STDERR=PATH: what the server logs goes to that file. */
  if (g_getenv ("KLETSEN_TEST_SERVER_STDERR") != NULL)
    g_subprocess_launcher_set_stderr_file_path (launcher, g_getenv ("KLETSEN_TEST_SERVER_STDERR"));
  server->process = g_subprocess_launcher_spawnv (launcher, (const char * const *)argv->pdata, &error);
  g_assert_no_error (error);

  out = g_data_input_stream_new (g_subprocess_get_stdout_pipe (server->process));
  /* "listening on", "file transfers on", "tls listening on", "tls file
   * transfers on" (each only when that port is open), then "ready". */
  for (;;)
    {
      guint16 *slot = NULL;
      const char *colon;

      g_free (line);
      line = g_data_input_stream_read_line (out, NULL, NULL, &error);
      g_assert_no_error (error);
      g_assert_nonnull (line);
      if (g_str_equal (line, "ready"))
        break;
      if (g_str_has_prefix (line, "cluster joined as "))
        {
          server->incarnation = g_strdup (line + strlen ("cluster joined as "));
          continue;
        }
      if (g_str_has_prefix (line, "listening on "))
        slot = &server->port;
      else if (g_str_has_prefix (line, "file transfers on "))
        slot = &server->file_port;
      else if (g_str_has_prefix (line, "tls listening on "))
        slot = &server->tls_port;
      else if (g_str_has_prefix (line, "tls file transfers on "))
        slot = &server->tls_file_port;
      g_assert_nonnull (slot);
      colon = strrchr (line, ':');
      g_assert_nonnull (colon);
      *slot = (guint16)g_ascii_strtoull (colon + 1, NULL, 10);
      g_assert_cmpuint (*slot, >, 0);
    }
  return server;
}

/**
 * kt_server_stop:
 *
 * Sends SIGTERM and waits for the server to exit.
 *
 * Returns: its exit status, or -1 when a signal ended it
 */
/* Sends SIGTERM without waiting, for tests that keep their main loop running. */
void
kt_server_terminate (KtServer *server)
{
  g_subprocess_send_signal (server->process, SIGTERM);
}

int
kt_server_stop (KtServer *server)
{
  g_autoptr(GError) error = NULL;

  if (server->process == NULL)
    return -1;
  g_subprocess_send_signal (server->process, SIGTERM);
  g_subprocess_wait (server->process, NULL, &error);
  g_assert_no_error (error);
  if (!g_subprocess_get_if_exited (server->process))
    return -1;
  return g_subprocess_get_exit_status (server->process);
}

GPid
kt_server_pid (KtServer *server)
{
  return (GPid)g_ascii_strtoll (g_subprocess_get_identifier (server->process), NULL, 10);
}

/* The server's resident memory now, from /proc (Linux). */
gint64
kt_server_rss_kib (KtServer *server)
{
  g_autofree char *path = g_strdup_printf ("/proc/%d/status", kt_server_pid (server));
  g_autofree char *status = NULL;
  const char *rss;

  g_assert_true (g_file_get_contents (path, &status, NULL, NULL));
  rss = strstr (status, "VmRSS:");
  g_assert_nonnull (rss);
  return g_ascii_strtoll (rss + 6, NULL, 10);
}

void
kt_server_free (KtServer *server)
{
  if (server->process != NULL && g_subprocess_get_identifier (server->process) != NULL)
    {
      /* GSubprocess reaps the child from GLib's worker thread, so the
       * identifier goes NULL without this thread's main loop. */
      g_subprocess_send_signal (server->process, SIGTERM);
      for (guint i = 0; i < 400 && g_subprocess_get_identifier (server->process) != NULL; i++)
        g_usleep (50 * 1000);
      if (g_subprocess_get_identifier (server->process) != NULL)
        g_subprocess_force_exit (server->process);
      g_subprocess_wait (server->process, NULL, NULL);
    }
  if (server->process != NULL && g_subprocess_get_if_exited (server->process) &&
      g_subprocess_get_exit_status (server->process) != 0)
    g_error ("kletsen-server exited with status %d (see its report above)",
             g_subprocess_get_exit_status (server->process));
  g_clear_object (&server->process);
  g_free (server->incarnation);
  g_free (server);
}

KtClient *
kt_client_connect (KtServer *server)
{
  return kt_client_connect_port (server->port);
}

/* Connects to any port on 127.0.0.1, such as the file side channel. */
KtClient *
kt_client_connect_port (guint16 port)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GInetAddress) loopback = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autoptr(GSocketAddress) address = g_inet_socket_address_new (loopback, port);
  KtClient *client = g_new0 (KtClient, 1);

  client->socket = g_socket_new (G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM,
                                 G_SOCKET_PROTOCOL_TCP, &error);
  g_assert_no_error (error);
  g_socket_set_timeout (client->socket, READ_TIMEOUT_S);
  g_socket_connect (client->socket, address, NULL, &error);
  g_assert_no_error (error);
  client->buffer = g_string_new (NULL);
  return client;
}

/**
 * kt_client_login:
 *
 * Connects, takes the WELCOME and logs in as @name.
 */
KtClient *
kt_client_login (KtServer   *server,
                 const char *name)
{
  KtClient *client = kt_client_connect (server);
  g_autoptr(JsonObject) welcome = kt_client_expect (client, "WELCOME");

  g_assert_true (g_str_has_prefix (json_object_get_string_member (welcome, "msg"), "Welcome to the server "));
  kt_client_send (client, "LOGIN {\"username\":\"%s\"}", name);
  kt_client_expect_status (client, "LOGIN_RESP", 0);
  client->name = g_strdup (name);
  return client;
}

void
kt_client_free (KtClient *client)
{
  g_socket_close (client->socket, NULL);
  g_object_unref (client->socket);
  g_string_free (client->buffer, TRUE);
  g_free (client->name);
  g_free (client);
}

void
kt_client_set_timeout (KtClient *client,
                       guint     seconds)
{
  g_socket_set_timeout (client->socket, seconds);
}

void
kt_client_send_raw (KtClient   *client,
                    const void *data,
                    gsize       len)
{
  g_autoptr(GError) error = NULL;
  gsize done = 0;

  while (done < len)
    {
      gssize n = g_socket_send (client->socket, (const char *)data + done, len - done, NULL, &error);

      g_assert_no_error (error);
      done += n;
    }
}

/* Sends one line; the format is the line without its newline. */
void
kt_client_send (KtClient   *client,
                const char *format,
                ...)
{
  g_autofree char *line = NULL;
  g_autofree char *with_nl = NULL;
  va_list args;

  va_start (args, format);
  line = g_strdup_vprintf (format, args);
  va_end (args);
  with_nl = g_strconcat (line, "\n", NULL);
  kt_client_send_raw (client, with_nl, strlen (with_nl));
}

/* Reads more bytes into the buffer; FALSE at EOF. Fails the test on timeout. */
static gboolean
fill (KtClient *client)
{
  char chunk[65536];
  g_autoptr(GError) error = NULL;
  gssize n = g_socket_receive (client->socket, chunk, sizeof chunk, NULL, &error);

  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CONNECTION_CLOSED) ||
      g_error_matches (error, G_IO_ERROR, G_IO_ERROR_BROKEN_PIPE))
    return FALSE;
  g_assert_no_error (error);
  if (n == 0)
    return FALSE;
  g_string_append_len (client->buffer, chunk, n);
  return TRUE;
}

/**
 * kt_client_read_line:
 *
 * Returns: (transfer full) (nullable): the next line without its newline,
 *   or %NULL at EOF
 */
char *
kt_client_read_line (KtClient *client)
{
  for (;;)
    {
      char *nl = memchr (client->buffer->str, '\n', client->buffer->len);

      if (nl != NULL)
        {
          gsize len = nl - client->buffer->str;
          char *line = g_strndup (client->buffer->str, len);

          g_string_erase (client->buffer, 0, len + 1);
          return line;
        }
      if (!fill (client))
        {
          g_assert_cmpuint (client->buffer->len, ==, 0);
          return NULL;
        }
    }
}

/**
 * kt_client_expect:
 * @header: the header the next message must have
 *
 * Reads the next message, checks it against the protocol table (every line
 * the server sends must be one the table allows) and checks its header.
 *
 * Returns: (transfer full): its body
 */
JsonObject *
kt_client_expect (KtClient   *client,
                  const char *header)
{
  g_autofree char *line = kt_client_read_line (client);
  const KletsenMessageInfo *info;
  JsonObject *body = NULL;

  if (line == NULL)
    g_error ("%s: expected %s, got end of stream", client->name ? client->name : "client", header);
  if (kletsen_message_parse (line, strlen (line), KLETSEN_TO_CLIENT, &info, &body) != KLETSEN_PARSE_OK)
    g_error ("server sent a line that breaks the protocol: %s", line);
  if (g_strcmp0 (info->header, header) != 0)
    g_error ("%s: expected %s, got: %s", client->name ? client->name : "client", header, line);
  return body;
}

/* Expects `HEADER {"status":"OK"}` for @code 0, else the error @code. */
void
kt_client_expect_status (KtClient   *client,
                         const char *header,
                         int         code)
{
  g_autoptr(JsonObject) body = kt_client_expect (client, header);

  if (code == 0)
    {
      g_assert_cmpstr (json_object_get_string_member (body, "status"), ==, "OK");
      g_assert_false (json_object_has_member (body, "code"));
    }
  else
    {
      g_assert_cmpstr (json_object_get_string_member (body, "status"), ==, "ERROR");
      g_assert_cmpint (json_object_get_int_member (body, "code"), ==, code);
    }
}

/* Expects a message that has no body at all, such as PARSE_ERROR. */
void
kt_client_expect_bare (KtClient   *client,
                       const char *header)
{
  g_autofree char *line = kt_client_read_line (client);

  g_assert_cmpstr (line, ==, header);
}

void
kt_client_expect_eof (KtClient *client)
{
  g_autofree char *line = kt_client_read_line (client);

  g_assert_null (line);
}

/* Reads until the server's end of the connection and forgets whatever
 * came before it; a read that waits past the client's timeout fails the
 * test. */
void
kt_client_skip_to_end (KtClient *client)
{
  do
    g_string_truncate (client->buffer, 0);
  while (fill (client));
}

void
kt_client_expect_dscn (KtClient *client,
                       int       reason)
{
  g_autoptr(JsonObject) body = kt_client_expect (client, "DSCN");

  g_assert_cmpint (json_object_get_int_member (body, "reason"), ==, reason);
  kt_client_expect_eof (client);
}

/**
 * kt_client_sync:
 *
 * A round trip: PONG with no PING outstanding is answered with PONG_ERROR in
 * every state. When the answer is the next message, nothing else was queued
 * for @client before it.
 */
void
kt_client_sync (KtClient *client)
{
  g_autoptr(JsonObject) body = NULL;

  kt_client_send (client, "PONG");
  body = kt_client_expect (client, "PONG_ERROR");
  g_assert_cmpint (json_object_get_int_member (body, "code"), ==, 8000);
}

/* Expects @n messages with @header in a row, and forgets them. */
void
kt_client_drain (KtClient   *client,
                 const char *header,
                 guint       n)
{
  for (guint i = 0; i < n; i++)
    json_object_unref (kt_client_expect (client, header));
}

gboolean
kt_timed_out_cb (gpointer what)
{
  g_error ("timed out waiting for: %s", (const char *)what);
  return G_SOURCE_REMOVE;
}

/* A GAsyncReadyCallback that keeps the result in *@slot for the test. */
void
kt_store_result_cb (GObject      *object,
                    GAsyncResult *result,
                    gpointer      slot)
{
  *(GAsyncResult **)slot = g_object_ref (result);
}

/* A handler for a signal with one object (say ::file-offered): keeps the
 * latest in *@slot, a GObject pointer the test owns. */
void
kt_store_object_cb (gpointer  emitter,
                    GObject  *object,
                    gpointer  slot)
{
  g_set_object ((GObject **)slot, object);
}

/* Removes a temporary directory and everything in it. */
void
kt_remove_tree (const char *path)
{
  g_autoptr(GDir) dir = g_dir_open (path, 0, NULL);
  const char *name;

  while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *child = g_build_filename (path, name, NULL);

      if (g_file_test (child, G_FILE_TEST_IS_DIR))
        kt_remove_tree (child);
      else
        g_unlink (child);
    }
  g_rmdir (path);
}

guint16
kt_refused_port (GSocket **holder)
{
  g_autoptr(GInetAddress) loopback = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autoptr(GSocketAddress) any = g_inet_socket_address_new (loopback, 0);
  g_autoptr(GSocketAddress) bound = NULL;

  *holder = g_socket_new (G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM, 0, NULL);
  g_assert_true (g_socket_bind (*holder, any, FALSE, NULL));
  bound = g_socket_get_local_address (*holder, NULL);
  return g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (bound));
}

gpointer
kt_upload_thread (gpointer user_data)
{
  KtUpload *up = user_data;
  gsize done = 0;

  while (done < up->len)
    {
      g_autoptr(GError) error = NULL;
      gssize n = g_socket_send (up->side->socket, (const char *)up->data + done,
                                MIN (up->len - done, 1024 * 1024), NULL, &error);

      if (n <= 0)
        return GINT_TO_POINTER (FALSE);
      done += n;
    }
  g_socket_shutdown (up->side->socket, FALSE, TRUE, NULL);
  return GINT_TO_POINTER (TRUE);
}
