/* test-tls.c
 *
 * Copyright 2026 The Kletsen authors
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

/* TLS on the chat and file ports, between the real server and the client
 * core, with the committed test certificates (tests/certs/create-certs.sh). */

#include "config.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <gnutls/gnutls.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <unistd.h>

#include "kletsen-protocol.h"
#include "kletsen-session.h"
#include "kletsen-test-util.h"

#define RUN_UNTIL(cond) KT_RUN_UNTIL (cond)

static char *
cert (const char *name)
{
  return g_test_build_filename (G_TEST_DIST, "certs", name, NULL);
}

static KtServer *
tls_server (const char *name,
            const char *extra,
            const char *extra_value)
{
  g_autofree char *pem = g_strdup_printf ("%s.pem", name);
  g_autofree char *key = g_strdup_printf ("%s-key.pem", name);
  g_autofree char *cert_path = cert (pem);
  g_autofree char *key_path = cert (key);

  return kt_server_start ("--tls-cert", cert_path, "--tls-key", key_path, extra, extra_value, NULL);
}

static GTlsDatabase *
test_ca (void)
{
  g_autofree char *path = cert ("ca.pem");
  g_autoptr(GError) error = NULL;
  GTlsDatabase *db = g_tls_file_database_new (path, &error);

  g_assert_no_error (error);
  return db;
}

/* Connects over TLS; returns the session, and the error (or NULL) in @error. */
static KletsenSession *
tls_connect (guint16       port,
             guint16       file_port,
             const char   *name,
             const char   *data_dir,
             GTlsDatabase *db,
             GError      **error)
{
  KletsenSession *session = kletsen_session_new (data_dir);
  g_autoptr(GAsyncResult) result = NULL;

  kletsen_session_set_tls (session, TRUE, db);
  kletsen_session_set_file_port (session, file_port);
  kletsen_session_connect_async (session, "127.0.0.1", port, name, NULL, kt_store_result_cb, &result);
  RUN_UNTIL (result != NULL);
  kletsen_session_connect_finish (session, result, error);
  return session;
}

static char *
temp_dir (void)
{
  return g_dir_make_tmp ("kletsen-tls-XXXXXX", NULL);
}

/* Login, chat, an encrypted message and a file, all over TLS. */
static void
test_tls_session (void)
{
  g_autoptr(KtServer) server = tls_server ("server", NULL, NULL);
  g_autoptr(GTlsDatabase) db = test_ca ();
  g_autofree char *dir_a = temp_dir ();
  g_autofree char *dir_b = temp_dir ();
  g_autofree char *downloads = temp_dir ();
  g_autoptr(GError) error = NULL;
  g_autoptr(KletsenSession) alice = tls_connect (server->tls_port, server->tls_file_port, "alice", dir_a, db, &error);
  g_autoptr(KletsenSession) bob = NULL;
  g_autoptr(KletsenFileTransfer) incoming = NULL;
  g_autoptr(GFile) file = NULL;
  g_autoptr(GFile) folder = g_file_new_for_path (downloads);
  g_autofree char *path = g_build_filename (dir_a, "data.bin", NULL);
  g_autofree char *arrived = g_build_filename (downloads, "data.bin", NULL);
  g_autofree char *data = g_malloc (3 * 1024 * 1024);
  g_autofree char *got = NULL;
  gsize got_len;
  KletsenFileTransfer *outgoing;

  g_assert_no_error (error);
  bob = tls_connect (server->tls_port, server->tls_file_port, "bob", dir_b, db, &error);
  g_assert_no_error (error);
  g_assert_nonnull (kletsen_session_get_certificate_fingerprint (bob));

  RUN_UNTIL (g_list_model_get_n_items (kletsen_session_get_users (alice)) == 2);
  kletsen_session_broadcast_async (alice, "over TLS", NULL, NULL);
  RUN_UNTIL (g_list_model_get_n_items (G_LIST_MODEL (kletsen_session_get_everyone (bob))) >= 1);
  kletsen_session_send_secure_async (alice, "bob", "doubly wrapped", NULL, NULL);
  RUN_UNTIL (g_list_model_get_n_items (G_LIST_MODEL (kletsen_session_get_conversation (bob, "alice"))) == 1);

  for (gsize i = 0; i < 3 * 1024 * 1024; i++)
    data[i] = (char)(i * 31 + (i >> 12));
  g_assert_true (g_file_set_contents (path, data, 3 * 1024 * 1024, NULL));
  file = g_file_new_for_path (path);
  g_signal_connect (bob, "file-offered", G_CALLBACK (kt_store_object_cb), &incoming);
  outgoing = kletsen_session_send_file (alice, "bob", file);
  RUN_UNTIL (incoming != NULL);
  kletsen_session_accept_file (bob, incoming, folder);
  RUN_UNTIL (kletsen_file_transfer_get_state (incoming) >= KLETSEN_TRANSFER_DONE &&
             kletsen_file_transfer_get_state (outgoing) >= KLETSEN_TRANSFER_DONE);
  g_assert_cmpstr (kletsen_file_transfer_get_error (incoming), ==, NULL);
  g_assert_true (g_file_get_contents (arrived, &got, &got_len, NULL));
  g_assert_cmpmem (got, got_len, data, 3 * 1024 * 1024);

  kletsen_session_disconnect (alice);
  kletsen_session_disconnect (bob);
  kt_remove_tree (dir_a);
  kt_remove_tree (dir_b);
  kt_remove_tree (downloads);
}

/* With --tls-only there is no clear-text port, and a clear-text client on
 * the TLS port is refused cleanly; a stalled or garbage handshake costs only
 * its own slot. */
static void
test_tls_only_and_handshakes (void)
{
  g_autoptr(KtServer) server = tls_server ("server", "--handshake-timeout-ms", "300");
  g_autoptr(KtServer) only = NULL;
  g_autoptr(GTlsDatabase) db = test_ca ();
  g_autofree char *dir = temp_dir ();
  g_autofree char *cert_path = cert ("server.pem");
  g_autofree char *key_path = cert ("server-key.pem");
  g_autoptr(GError) error = NULL;
  g_autoptr(KletsenSession) carol = NULL;
  gint64 start;

  only = kt_server_start ("--tls-cert", cert_path, "--tls-key", key_path, "--tls-only", NULL);
  g_assert_cmpuint (only->port, ==, 0);
  g_assert_cmpuint (only->file_port, ==, 0);
  g_assert_cmpuint (only->tls_port, >, 0);
  {
    g_autoptr(KtClient) plain = kt_client_connect_port (only->tls_port);
    g_autofree char *line = NULL;

    kt_client_send (plain, "LOGIN {\"username\":\"plain\"}");
    line = kt_client_read_line (plain);
    /* No WELCOME, no reply: the handshake failed and the server hung up. */
    g_assert_null (line);
  }

  {
    g_autoptr(KtClient) silent = kt_client_connect_port (server->tls_port);
    g_autoptr(KtClient) garbage = kt_client_connect_port (server->tls_port);
    g_autoptr(KtClient) silent_file = kt_client_connect_port (server->tls_file_port);

    kt_client_send_raw (garbage, "\x16\x03\x01\xff\xff garbage garbage", 22);
    carol = tls_connect (server->tls_port, server->tls_file_port, "carol", dir, db, &error);
    g_assert_no_error (error);
    start = g_get_monotonic_time ();
    kt_client_expect_eof (silent);
    g_assert_cmpint (g_get_monotonic_time () - start, <, 5 * G_USEC_PER_SEC);
    kt_client_expect_eof (garbage);
    kt_client_expect_eof (silent_file);
  }
  /* carol never noticed. */
  {
    g_autoptr(GAsyncResult) result = NULL;

    kletsen_session_broadcast_async (carol, "still here", kt_store_result_cb, &result);
    RUN_UNTIL (result != NULL);
    g_assert_true (kletsen_session_request_finish (carol, result, NULL));
  }
  kletsen_session_disconnect (carol);
  kt_remove_tree (dir);
}

/* ---- handshakes under attack ---- */

static ssize_t
capture_push (gnutls_transport_ptr_t  ptr,
              const void             *data,
              size_t                  len)
{
  g_byte_array_append (ptr, data, len);
  return len;
}

static ssize_t
nothing_pull (gnutls_transport_ptr_t  ptr,
              void                   *data,
              size_t                  len)
{
  errno = EAGAIN;
  return -1;
}

/* A real client's first flight, for sockets that then stall. */
static GBytes *
client_hello (void)
{
  gnutls_certificate_credentials_t credentials;
  gnutls_session_t session;
  GByteArray *out = g_byte_array_new ();

  gnutls_certificate_allocate_credentials (&credentials);
  gnutls_init (&session, GNUTLS_CLIENT | GNUTLS_NONBLOCK);
  gnutls_set_default_priority (session);
  gnutls_credentials_set (session, GNUTLS_CRD_CERTIFICATE, credentials);
  gnutls_transport_set_ptr (session, out);
  gnutls_transport_set_push_function (session, capture_push);
  gnutls_transport_set_pull_function (session, nothing_pull);
  g_assert_cmpint (gnutls_handshake (session), ==, GNUTLS_E_AGAIN);
  gnutls_deinit (session);
  gnutls_certificate_free_credentials (credentials);
  g_assert_cmpuint (out->len, >, 5);
  return g_byte_array_free_to_bytes (out);
}

/* Sends a ClientHello and reads the server's first answer: its handshake
 * has started (and counts), and then it stalls. */
static KtClient *
stalled_handshake (guint16  port,
                   GBytes  *hello)
{
  KtClient *client = kt_client_connect_port (port);
  char answer[5];

  kt_client_send_raw (client, g_bytes_get_data (hello, NULL), g_bytes_get_size (hello));
  g_assert_cmpint (g_socket_receive (client->socket, answer, sizeof answer, NULL, NULL), ==, sizeof answer);
  g_assert_cmpint (answer[0], ==, 0x16); /* a handshake record: the ServerHello */
  return client;
}

/* Reads what the server still sent until it hangs up. */
static void
expect_hang_up (KtClient *client)
{
  char buffer[4096];
  g_autoptr(GError) error = NULL;
  gssize n;

  do
    n = g_socket_receive (client->socket, buffer, sizeof buffer, NULL, &error);
  while (n > 0);
  /* 0 is its close; an error may be a reset (a close with data unread),
   * never the read timeout. */
  g_assert_false (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT));
}

/* The caps on unfinished handshakes, per source address and in all: past
 * them a handshake is closed at its first byte, and others that finish are
 * unaffected; a slot is free again once its handshake ends. */
static void
test_tls_handshake_caps (void)
{
  const char *caps[][4] = {
    { "--max-handshakes-per-address", "2", "--max-handshakes", "0" },
    { "--max-handshakes", "2", "--max-handshakes-per-address", "0" },
  };
  g_autoptr(GBytes) hello = client_hello ();
  g_autoptr(GTlsDatabase) db = test_ca ();
  g_autofree char *cert_path = cert ("server.pem");
  g_autofree char *key_path = cert ("server-key.pem");

  for (guint i = 0; i < G_N_ELEMENTS (caps); i++)
    {
      g_autoptr(KtServer) server = kt_server_start ("--tls-cert", cert_path, "--tls-key", key_path,
                                                    "--handshake-timeout-ms", "1500",
                                                    caps[i][0], caps[i][1], caps[i][2], caps[i][3], NULL);
      g_autoptr(KtClient) a = stalled_handshake (server->tls_port, hello);
      g_autoptr(KtClient) b = stalled_handshake (server->tls_port, hello);
      g_autoptr(KtClient) c = kt_client_connect_port (server->tls_port);
      g_autofree char *dir = temp_dir ();
      g_autoptr(GError) error = NULL;
      g_autoptr(KletsenSession) refused = NULL;
      g_autoptr(KletsenSession) dave = NULL;
      gint64 start = g_get_monotonic_time ();

      g_test_message ("%s %s", caps[i][0], caps[i][1]);
      /* The third is closed at once, long before its handshake timeout. */
      kt_client_send_raw (c, g_bytes_get_data (hello, NULL), g_bytes_get_size (hello));
      kt_client_expect_eof (c);
      g_assert_cmpint (g_get_monotonic_time () - start, <, 1000 * 1000);
      refused = tls_connect (server->tls_port, server->tls_file_port, "dave", dir, db, &error);
      g_assert_nonnull (error);
      g_clear_error (&error);
      kletsen_session_disconnect (refused);

      /* The stalled ones time out; their slots are free. */
      expect_hang_up (a);
      expect_hang_up (b);
      dave = tls_connect (server->tls_port, server->tls_file_port, "dave", dir, db, &error);
      g_assert_no_error (error);
      kletsen_session_disconnect (dave);
      kt_remove_tree (dir);
    }
}

/* One line from a GnuTLS session, read through @buffer; NULL at the end. */
static char *
tls_read_line (gnutls_session_t  session,
               GString          *buffer)
{
  char *nl;

  while ((nl = memchr (buffer->str, '\n', buffer->len)) == NULL)
    {
      char chunk[16384];
      ssize_t n;

      /* The socket blocks, with a timeout: AGAIN is that timeout. */
      do
        n = gnutls_record_recv (session, chunk, sizeof chunk);
      while (n == GNUTLS_E_INTERRUPTED);
      if (n == 0)
        return NULL;
      if (n < 0)
        g_error ("TLS read: %s (%s)", gnutls_strerror ((int)n), g_strerror (errno));
      g_string_append_len (buffer, chunk, n);
    }
  {
    char *line = g_strndup (buffer->str, nl - buffer->str);

    g_string_erase (buffer, 0, nl - buffer->str + 1);
    return line;
  }
}

static void
tls_write_line (gnutls_session_t  session,
                const char       *line)
{
  g_autofree char *wire = g_strconcat (line, "\n", NULL);

  g_assert_cmpint (gnutls_record_send (session, wire, strlen (wire)), ==, strlen (wire));
}

/* A reader that falls far behind over TLS: the server seals several records
 * per system call and holds what the socket refuses. Everything must come,
 * whole and in order, and the records must decrypt (a held record sent out
 * of turn fails its MAC). The reader's small receive buffer makes the
 * server's socket refuse part of nearly every batch. */
static void
test_tls_backlog_in_order (void)
{
  const guint count = 1500;
  g_autoptr(KtServer) server = tls_server ("server", "--rate-limit", "0");
  g_autoptr(KtClient) fast = kt_client_login (server, "fast");
  g_autoptr(GString) buffer = g_string_new (NULL);
  g_autoptr(GString) padding = g_string_new (NULL);
  gnutls_certificate_credentials_t credentials;
  gnutls_session_t session;
  struct sockaddr_in address = { .sin_family = AF_INET, .sin_port = htons (server->tls_port),
                                  .sin_addr.s_addr = htonl (INADDR_LOOPBACK) };
  int fd = socket (AF_INET, SOCK_STREAM, 0);
  int small = 4096, ret;
  guint acked = 0, next = 0;
  g_autofree char *welcome = NULL;
  g_autofree char *login = NULL;

  struct timeval timeout = { .tv_sec = 10 };

  g_assert_cmpint (setsockopt (fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small), ==, 0);
  g_assert_cmpint (setsockopt (fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout), ==, 0);
  g_assert_cmpint (setsockopt (fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout), ==, 0);
  /* Set before connect(): shrunk later, the window already offered stays. */
  g_assert_cmpint (connect (fd, (struct sockaddr *)&address, sizeof address), ==, 0);
  gnutls_certificate_allocate_credentials (&credentials);
  gnutls_init (&session, GNUTLS_CLIENT);
  gnutls_set_default_priority (session);
  gnutls_credentials_set (session, GNUTLS_CRD_CERTIFICATE, credentials);
  gnutls_transport_set_int (session, fd);
  do
    ret = gnutls_handshake (session);
  while (ret == GNUTLS_E_INTERRUPTED);
  g_assert_cmpint (ret, ==, 0);
  welcome = tls_read_line (session, buffer);
  g_assert_true (g_str_has_prefix (welcome, "WELCOME "));
  tls_write_line (session, "LOGIN {\"username\":\"slow\"}");
  login = tls_read_line (session, buffer);
  g_assert_cmpstr (login, ==, "LOGIN_RESP {\"status\":\"OK\"}");

  /* 400 lines of 4 KB, about 100 records, while slow reads nothing. */
  for (guint i = 0; i < 4000; i++)
    g_string_append_c (padding, 'a' + i % 26);
  for (guint i = 0; i < count; i++)
    kt_client_send (fast, "BROADCAST_REQ {\"message\":\"%u:%s\"}", i, padding->str);
  while (acked < count)
    {
      g_autofree char *line = kt_client_read_line (fast);

      g_assert_nonnull (line);
      if (g_str_has_prefix (line, "BROADCAST_RESP "))
        {
          g_assert_nonnull (strstr (line, "\"OK\""));
          acked++;
        }
    }

  while (next < count)
    {
      g_autofree char *line = tls_read_line (session, buffer);
      g_autoptr(JsonObject) body = NULL;
      const KletsenMessageInfo *info;
      g_autofree char *expected = NULL;

      g_assert_nonnull (line);
      g_assert_cmpint (kletsen_message_parse (line, strlen (line), KLETSEN_TO_CLIENT, &info, &body), ==, KLETSEN_PARSE_OK);
      if (!g_str_equal (info->header, "BROADCAST"))
        continue;
      expected = g_strdup_printf ("%u:%s", next, padding->str);
      g_assert_cmpstr (json_object_get_string_member (body, "message"), ==, expected);
      next++;
    }

  gnutls_deinit (session);
  gnutls_certificate_free_credentials (credentials);
  close (fd);
}

/* A slowloris on the TLS port: hundreds of sockets that never send a byte
 * hold no thread and no handshake slot, so a login still completes within
 * a 3 s login timeout (glib-networking's pool made it wait 8-10 s). */
static void
test_tls_slowloris (void)
{
  g_autoptr(KtServer) server = tls_server ("server", NULL, NULL);
  g_autoptr(GTlsDatabase) db = test_ca ();
  g_autoptr(GPtrArray) silent = g_ptr_array_new_with_free_func ((GDestroyNotify)kt_client_free);
  g_autofree char *dir = temp_dir ();
  g_autoptr(GError) error = NULL;
  g_autoptr(KletsenSession) erin = kletsen_session_new (dir);
  g_autoptr(GAsyncResult) result = NULL;

  for (guint i = 0; i < 300; i++)
    g_ptr_array_add (silent, kt_client_connect_port (server->tls_port));
  kletsen_session_set_tls (erin, TRUE, db);
  kletsen_session_set_login_timeout (erin, 3000);
  kletsen_session_connect_async (erin, "127.0.0.1", server->tls_port, "erin", NULL, kt_store_result_cb, &result);
  RUN_UNTIL (result != NULL);
  kletsen_session_connect_finish (erin, result, &error);
  g_assert_no_error (error);
  kletsen_session_disconnect (erin);
  kt_remove_tree (dir);
}

/* The client core refuses a wrong host name, an expired certificate and
 * one nobody vouches for, and says which fingerprint it saw. */
static void
test_tls_rejects (void)
{
  static const char *const names[] = { "wrong-host", "expired", "self-signed" };
  g_autoptr(GTlsDatabase) db = test_ca ();

  for (guint i = 0; i < G_N_ELEMENTS (names); i++)
    {
      g_autoptr(KtServer) server = tls_server (names[i], NULL, NULL);
      g_autofree char *dir = temp_dir ();
      g_autoptr(GError) error = NULL;
      g_autoptr(KletsenSession) s = tls_connect (server->tls_port, server->tls_file_port, "dave", dir, db, &error);

      g_assert_error (error, KLETSEN_SESSION_ERROR, KLETSEN_SESSION_ERROR_UNTRUSTED_CERTIFICATE);
      g_assert_nonnull (kletsen_session_get_certificate_fingerprint (s));
      g_assert_cmpint (kletsen_session_get_state (s), ==, KLETSEN_SESSION_DISCONNECTED);
      kt_remove_tree (dir);
    }
}

/* A self-signed certificate the user trusts is pinned; when the server
 * comes back with another one, the client refuses loudly. */
static void
test_tls_pinning (void)
{
  g_autoptr(KtServer) server = tls_server ("self-signed", NULL, NULL);
  g_autofree char *dir = temp_dir ();
  g_autofree char *port = g_strdup_printf ("%u", server->tls_port);
  g_autofree char *file_port = g_strdup_printf ("%u", server->tls_file_port);
  g_autofree char *cert_path = cert ("self-signed-2.pem");
  g_autofree char *key_path = cert ("self-signed-2-key.pem");
  g_autoptr(GError) error = NULL;
  g_autoptr(KletsenSession) first = tls_connect (server->tls_port, server->tls_file_port, "erin", dir, NULL, &error);
  g_autoptr(KletsenSession) second = NULL;
  g_autoptr(KletsenSession) third = NULL;

  g_assert_error (error, KLETSEN_SESSION_ERROR, KLETSEN_SESSION_ERROR_UNTRUSTED_CERTIFICATE);
  g_clear_error (&error);
  kletsen_session_trust_certificate (first);
  /* Kept for this user alone (issue 20: it was 0644). */
  {
    g_autofree char *trusted = g_build_filename (dir, "trusted-servers.ini", NULL);
    GStatBuf st;

    g_assert_cmpint (g_stat (trusted, &st), ==, 0);
    g_assert_cmpint (st.st_mode & 0777, ==, 0600);
  }

  second = tls_connect (server->tls_port, server->tls_file_port, "erin", dir, NULL, &error);
  g_assert_no_error (error);
  kletsen_session_disconnect (second);

  kt_server_free (g_steal_pointer (&server));
  server = kt_server_start ("--tls-cert", cert_path, "--tls-key", key_path, "--tls-port", port,
                            "--tls-file-port", file_port, NULL);
  third = tls_connect (server->tls_port, server->tls_file_port, "erin", dir, NULL, &error);
  g_assert_error (error, KLETSEN_SESSION_ERROR, KLETSEN_SESSION_ERROR_CERTIFICATE_CHANGED);
  kt_remove_tree (dir);
}

static int
run_server_expecting_failure (const char *cert_path,
                              const char *key_path,
                              char      **err)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GSubprocess) process = g_subprocess_new (G_SUBPROCESS_FLAGS_STDOUT_SILENCE | G_SUBPROCESS_FLAGS_STDERR_PIPE,
                                                     &error, g_getenv ("KLETSEN_SERVER"), "--bind", "127.0.0.1",
                                                     "--port", "0", "--file-port", "0", "--tls-port", "0",
                                                     "--tls-file-port", "0", "--tls-cert", cert_path,
                                                     "--tls-key", key_path, NULL);

  g_assert_no_error (error);
  g_subprocess_communicate_utf8 (process, NULL, NULL, NULL, err, &error);
  g_assert_no_error (error);
  /* Exited on its own (no crash, no sanitizer abort), with a status. */
  g_assert_true (g_subprocess_get_if_exited (process));
  return g_subprocess_get_exit_status (process);
}

/* A missing, unreadable or mismatched key or certificate fails at start. */
static void
test_tls_bad_config (void)
{
  g_autofree char *server_pem = cert ("server.pem");
  g_autofree char *server_key = cert ("server-key.pem");
  g_autofree char *other_key = cert ("server-2-key.pem");
  g_autofree char *err = NULL;

  g_assert_cmpint (run_server_expecting_failure ("/nonexistent/cert.pem", server_key, &err), ==, 1);
  g_assert_nonnull (strstr (err, "cert.pem"));
  g_clear_pointer (&err, g_free);
  g_assert_cmpint (run_server_expecting_failure (server_pem, server_pem, &err), ==, 1);
  g_assert_nonnull (strstr (err, "private key"));
  g_clear_pointer (&err, g_free);
  g_assert_cmpint (run_server_expecting_failure (server_pem, other_key, &err), ==, 1);
  g_assert_nonnull (strstr (err, "does not belong"));
}

/* SIGHUP reloads the certificate: new connections get the new one, the
 * connections already up go on. */
static void
test_tls_reload (void)
{
  g_autofree char *dir = temp_dir ();
  g_autofree char *data = temp_dir ();
  g_autofree char *pem = g_build_filename (dir, "cert.pem", NULL);
  g_autofree char *key = g_build_filename (dir, "key.pem", NULL);
  g_autofree char *src_pem = cert ("server.pem");
  g_autofree char *src_key = cert ("server-key.pem");
  g_autofree char *new_pem = cert ("server-2.pem");
  g_autofree char *new_key = cert ("server-2-key.pem");
  g_autofree char *contents = NULL;
  g_autoptr(GTlsDatabase) db = test_ca ();
  g_autoptr(KtServer) server = NULL;
  g_autoptr(KletsenSession) before = NULL;
  g_autoptr(KletsenSession) after = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *first = NULL;

#define COPY(from, to) \
  g_assert_true (g_file_get_contents (from, &contents, NULL, NULL)); \
  g_assert_true (g_file_set_contents (to, contents, -1, NULL)); \
  g_clear_pointer (&contents, g_free)

  COPY (src_pem, pem);
  COPY (src_key, key);
  server = kt_server_start ("--tls-cert", pem, "--tls-key", key, NULL);
  before = tls_connect (server->tls_port, server->tls_file_port, "frank", data, db, &error);
  g_assert_no_error (error);
  first = g_strdup (kletsen_session_get_certificate_fingerprint (before));

  COPY (new_pem, pem);
  COPY (new_key, key);
  g_subprocess_send_signal (server->process, SIGHUP);
  /* The reload is done once a new handshake shows the new certificate. */
  for (guint attempt = 0; attempt < 50; attempt++)
    {
      g_clear_object (&after);
      after = tls_connect (server->tls_port, server->tls_file_port, "grace", data, db, &error);
      g_assert_no_error (error);
      if (g_strcmp0 (kletsen_session_get_certificate_fingerprint (after), first) != 0)
        break;
      kletsen_session_disconnect (after);
      g_usleep (20 * 1000);
    }
  g_assert_cmpstr (kletsen_session_get_certificate_fingerprint (after), !=, first);

  {
    g_autoptr(GAsyncResult) result = NULL;

    kletsen_session_broadcast_async (before, "survived the reload", kt_store_result_cb, &result);
    RUN_UNTIL (result != NULL);
    g_assert_true (kletsen_session_request_finish (before, result, NULL));
  }
  kletsen_session_disconnect (before);
  kletsen_session_disconnect (after);
  kt_remove_tree (dir);
  kt_remove_tree (data);
#undef COPY
}

typedef struct
{
  gboolean  done;
  int       status;
  char     *out;
  char     *err;
} CliRun;

static void
cli_done_cb (GObject      *object,
             GAsyncResult *result,
             gpointer      user_data)
{
  CliRun *run = user_data;

  g_assert_true (g_subprocess_communicate_utf8_finish (G_SUBPROCESS (object), result, &run->out, &run->err, NULL));
  run->status = g_subprocess_get_exit_status (G_SUBPROCESS (object));
  run->done = TRUE;
}

/* Runs kletsen-cli with no terminal on stdin, while this loop goes on (a
 * session of the test's may have to answer it). */
static void
run_cli (CliRun             *run,
         const char * const *args)
{
  g_autoptr(GPtrArray) argv = g_ptr_array_new ();
  g_autoptr(GError) error = NULL;
  g_autoptr(GSubprocess) cli = NULL;

  g_ptr_array_add (argv, (char *)g_getenv ("KLETSEN_CLI"));
  for (guint i = 0; args[i] != NULL; i++)
    g_ptr_array_add (argv, (char *)args[i]);
  g_ptr_array_add (argv, NULL);
  g_clear_pointer (&run->out, g_free);
  g_clear_pointer (&run->err, g_free);
  run->done = FALSE;
  cli = g_subprocess_newv ((const char * const *)argv->pdata,
                           G_SUBPROCESS_FLAGS_STDIN_PIPE | G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_PIPE,
                           &error);
  g_assert_no_error (error);
  g_subprocess_communicate_utf8_async (cli, "", NULL, cli_done_cb, run);
  RUN_UNTIL (run->done);
}

/* issue 20: kletsen-cli speaks TLS with the app's pinning; an unknown
 * certificate is trusted only by its fingerprint, never by default. */
static void
test_tls_cli (void)
{
  g_autoptr(KtServer) server = tls_server ("self-signed", NULL, NULL);
  g_autofree char *dir = temp_dir ();
  g_autofree char *port = g_strdup_printf ("%u", server->tls_port);
  g_autofree char *file_port = g_strdup_printf ("%u", server->tls_file_port);
  CliRun run = { 0 };
  g_autofree char *fingerprint = NULL;
  const char *mark = "certificate fingerprint is ";

  {
    const char *args[] = { "--tls", "--port", port, "--file-port", file_port, "--name", "ivy", "--data-dir", dir, "list", NULL };
    const char *at;

    run_cli (&run, args);
    g_assert_cmpint (run.status, ==, 3);
    at = strstr (run.err, mark);
    g_assert_nonnull (at);
    at += strlen (mark);
    fingerprint = g_strndup (at, strcspn (at, "\n"));
    g_assert_cmpuint (strlen (fingerprint), >, 20);
    g_assert_nonnull (strstr (run.err, "--trust-fingerprint"));
  }
  {
    const char *args[] = { "--tls", "--port", port, "--file-port", file_port, "--name", "ivy", "--data-dir", dir,
                           "--trust-fingerprint", "00:11:22", "list", NULL };

    run_cli (&run, args);
    g_assert_cmpint (run.status, ==, 3);
  }
  {
    const char *args[] = { "--tls", "--port", port, "--file-port", file_port, "--name", "ivy", "--data-dir", dir,
                           "--trust-fingerprint", fingerprint, "list", NULL };

    run_cli (&run, args);
    g_assert_cmpint (run.status, ==, 0);
    g_assert_cmpstr (run.out, ==, "ivy\n");
  }
  {
    /* Pinned now: no flag needed. */
    const char *args[] = { "--tls", "--port", port, "--file-port", file_port, "--name", "ivy", "--data-dir", dir, "list", NULL };

    run_cli (&run, args);
    g_assert_cmpint (run.status, ==, 0);
  }
  g_free (run.out);
  g_free (run.err);
  kt_remove_tree (dir);
}

static KletsenSession *
plain_login (KtServer   *server,
             const char *name,
             const char *dir)
{
  KletsenSession *session = kletsen_session_new (dir);
  g_autoptr(GAsyncResult) result = NULL;

  kletsen_session_connect_async (session, "127.0.0.1", server->port, name, NULL, kt_store_result_cb, &result);
  RUN_UNTIL (result != NULL);
  g_assert_true (kletsen_session_connect_finish (session, result, NULL));
  return session;
}

/* issue 20: fingerprints and trust from kletsen-cli, without editing
 * pinned-keys.ini: its own, a peer's, verifying it, a changed key trusted. */
static void
test_cli_fingerprints (void)
{
  g_autoptr(KtServer) server = kt_server_start (NULL);
  g_autofree char *dir = temp_dir ();
  g_autofree char *bob_dir = temp_dir ();
  g_autofree char *bob_dir2 = temp_dir ();
  g_autofree char *port = g_strdup_printf ("%u", server->port);
  g_autoptr(KletsenSession) bob = plain_login (server, "bob", bob_dir);
  g_autofree char *expected = g_strdup_printf ("bob: %s\n", kletsen_session_get_fingerprint (bob));
  CliRun run = { 0 };

  {
    const char *args[] = { "--port", port, "--name", "amy", "--data-dir", dir, "fingerprint", NULL };

    run_cli (&run, args);
    g_assert_cmpint (run.status, ==, 0);
    g_assert_cmpuint (strlen (run.out), >, 20);
  }
  {
    const char *args[] = { "--port", port, "--name", "amy", "--data-dir", dir, "fingerprint", "bob", NULL };

    run_cli (&run, args);
    g_assert_cmpint (run.status, ==, 0);
    g_assert_cmpstr (run.out, ==, expected);
  }
  {
    const char *args[] = { "--port", port, "--name", "amy", "--data-dir", dir, "trust", "bob",
                           kletsen_session_get_fingerprint (bob), NULL };

    run_cli (&run, args);
    g_assert_cmpint (run.status, ==, 0);
    g_assert_nonnull (strstr (run.out, "marked as verified"));
  }
  /* bob comes back with another key. */
  kletsen_session_disconnect (bob);
  g_clear_object (&bob);
  bob = plain_login (server, "bob", bob_dir2);
  {
    const char *args[] = { "--port", port, "--name", "amy", "--data-dir", dir, "fingerprint", "bob", NULL };

    run_cli (&run, args);
    g_assert_cmpint (run.status, ==, 3);
    g_assert_nonnull (strstr (run.out, "key changed"));
    g_assert_nonnull (strstr (run.out, kletsen_session_get_fingerprint (bob)));
  }
  {
    const char *args[] = { "--port", port, "--name", "amy", "--data-dir", dir, "trust", "bob", "0000", NULL };

    run_cli (&run, args);
    g_assert_cmpint (run.status, ==, 1);
  }
  {
    const char *args[] = { "--port", port, "--name", "amy", "--data-dir", dir, "trust", "bob",
                           kletsen_session_get_fingerprint (bob), NULL };

    run_cli (&run, args);
    g_assert_cmpint (run.status, ==, 0);
    g_assert_nonnull (strstr (run.out, "is trusted"));
  }
  {
    g_autofree char *now = g_strdup_printf ("bob: %s\n", kletsen_session_get_fingerprint (bob));
    const char *args[] = { "--port", port, "--name", "amy", "--data-dir", dir, "fingerprint", "bob", NULL };

    run_cli (&run, args);
    g_assert_cmpint (run.status, ==, 0);
    g_assert_cmpstr (run.out, ==, now);
  }
  kletsen_session_disconnect (bob);
  g_free (run.out);
  g_free (run.err);
  kt_remove_tree (dir);
  kt_remove_tree (bob_dir);
  kt_remove_tree (bob_dir2);
}

int
main (int    argc,
      char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/tls/session", test_tls_session);
  g_test_add_func ("/tls/only-and-handshakes", test_tls_only_and_handshakes);
  g_test_add_func ("/tls/handshake-caps", test_tls_handshake_caps);
  g_test_add_func ("/tls/slowloris", test_tls_slowloris);
  g_test_add_func ("/tls/backlog-in-order", test_tls_backlog_in_order);
  g_test_add_func ("/tls/rejects", test_tls_rejects);
  g_test_add_func ("/tls/pinning", test_tls_pinning);
  g_test_add_func ("/tls/bad-config", test_tls_bad_config);
  g_test_add_func ("/tls/reload", test_tls_reload);
  g_test_add_func ("/tls/cli", test_tls_cli);
  g_test_add_func ("/tls/cli-fingerprints", test_cli_fingerprints);

  return g_test_run ();
}
