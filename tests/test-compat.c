/* test-compat.c
 *
 * Copyright 2026 The Kletsen authors
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

/* Other implementations of the original protocol, replayed. The fixtures
 * are the lines those programs were seen to send and to expect in the
 * interop review of 2026-12-01 (written down by us from what was observed,
 * not taken from their code): the specification's authors' Java server and
 * console client ("seed"), and two Java implementations of the same course
 * ("viktor", "georgi"). Their clients' lines go to our server; their
 * servers' behaviour is played by a scripted server against our client.
 * Every leniency in docs/protocol.md ("accepted for compatibility") has a
 * test here. */

#include "config.h"

#include <glib/gstdio.h>
#include <string.h>

#include "kletsen-fake-server.h"
#include "kletsen-protocol.h"
#include "kletsen-session.h"
#include "kletsen-test-util.h"

#define RUN_UNTIL(cond) KT_RUN_UNTIL (cond)
#define SHA_OF_NOTHING "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

/* ---- their clients against our server ---- */

/* viktor's client glues every body to its header. */
static void
test_glued_header (void)
{
  g_autoptr(KtServer) server = kt_server_start (NULL);
  g_autoptr(KtClient) vik = kt_client_connect (server);
  g_autoptr(KtClient) bob = kt_client_login (server, "bob");
  g_autoptr(JsonObject) welcome = kt_client_expect (vik, "WELCOME");
  g_autoptr(JsonObject) heard = NULL;

  kt_client_send (vik, "LOGIN{\"username\":\"vik\"}");
  kt_client_expect_status (vik, "LOGIN_RESP", 0);
  kt_client_drain (bob, "JOINED", 1);
  kt_client_send (vik, "BROADCAST_REQ{\"message\":\"hello from the viktor client\"}");
  kt_client_expect_status (vik, "BROADCAST_RESP", 0);
  heard = kt_client_expect (bob, "BROADCAST");
  g_assert_cmpstr (json_object_get_string_member (heard, "username"), ==, "vik");
  g_assert_cmpstr (json_object_get_string_member (heard, "message"), ==, "hello from the viktor client");
  /* Every check still holds behind the glue. */
  kt_client_send (vik, "BROADCAST_REQ{\"message\":5}");
  kt_client_expect_bare (vik, "PARSE_ERROR");
  kt_client_send (vik, "broadcast_req{\"message\":\"x\"}");
  kt_client_expect_bare (vik, "UNKNOWN_COMMAND");
  kt_client_send (vik, "PONG{}");
  kt_client_expect (vik, "PONG_ERROR");
}

/* The seed client's offer has no size and no checksum; its answer carries an
 * id of its own; its side-channel header puts the role first. */
static void
test_seed_file_transfer (void)
{
  g_autoptr(KtServer) server = kt_server_start (NULL);
  g_autoptr(KtClient) alice = kt_client_login (server, "alice");
  g_autoptr(KtClient) bob = kt_client_login (server, "bob");
  g_autoptr(KtClient) up = NULL;
  g_autoptr(KtClient) down = NULL;
  g_autoptr(JsonObject) offer = NULL;
  g_autoptr(JsonObject) outcome = NULL;
  g_autofree char *header = NULL;
  g_autofree char *id = NULL;
  char got[16] = { 0 };
  gsize n = 0;

  kt_client_drain (alice, "JOINED", 1);
  kt_client_send (alice, "FILE_TRANSFER_REQUEST {\"receiver\":\"bob\",\"filename\":\"file.txt\"}");
  offer = kt_client_expect (bob, "FILE_TRANSFER_REQUEST");
  g_assert_cmpstr (json_object_get_string_member (offer, "sender"), ==, "alice");
  g_assert_cmpstr (json_object_get_string_member (offer, "filename"), ==, "file.txt");
  g_assert_false (json_object_has_member (offer, "size"));
  g_assert_false (json_object_has_member (offer, "checksum"));
  id = g_strdup (json_object_get_string_member (offer, "transferId"));

  /* Their downloader makes up an id: that answer cannot be matched. */
  kt_client_send (bob, "FILE_TRANSFER_RESPONSE {\"code\":0,\"status\":\"OK\",\"sender\":\"alice\","
                  "\"transferId\":\"f18d55f6-1d5e-4c8e-9a55-7a0f4d0c2e11\"}");
  kt_client_expect_status (bob, "FILE_TRANSFER_RESPONSE", 10004);
  kt_client_send (bob, "FILE_TRANSFER_RESPONSE {\"transferId\":\"%s\",\"status\":\"OK\"}", id);
  outcome = kt_client_expect (alice, "FILE_TRANSFER_RESPONSE");
  g_assert_cmpstr (json_object_get_string_member (outcome, "status"), ==, "OK");
  g_assert_false (json_object_has_member (outcome, "size"));

  /* Both halves with the role byte first. */
  up = kt_client_connect_port (server->file_port);
  down = kt_client_connect_port (server->file_port);
  header = g_strdup_printf ("R%s", id);
  kt_client_send_raw (down, header, strlen (header));
  g_free (header);
  header = g_strdup_printf ("S%s", id);
  kt_client_send_raw (up, header, strlen (header));
  kt_client_send_raw (up, "seed bytes", 10);
  g_socket_shutdown (up->socket, FALSE, TRUE, NULL);
  while (n < 10)
    {
      gssize r = g_socket_receive (down->socket, got + n, sizeof got - 1 - n, NULL, NULL);

      g_assert_cmpint (r, >, 0);
      n += r;
    }
  g_assert_cmpstr (got, ==, "seed bytes");
}

/* The seed client names the sealed text encryptedMessage: forwarded under
 * that name, so two such clients can talk through us. */
static void
test_seed_encrypted_message (void)
{
  g_autoptr(KtServer) server = kt_server_start (NULL);
  g_autoptr(KtClient) alice = kt_client_login (server, "alice");
  g_autoptr(KtClient) bob = kt_client_login (server, "bob");
  g_autoptr(JsonObject) got = NULL;

  kt_client_drain (alice, "JOINED", 1);
  kt_client_send (alice, "SECURE_MESSAGE {\"receiver\":\"bob\",\"sessionKey\":\"ftHwz6Ce\",\"encryptedMessage\":\"mPWBdMBX\","
                  "\"sender\":\"alice\"}");
  got = kt_client_expect (bob, "SECURE_MESSAGE");
  g_assert_cmpstr (json_object_get_string_member (got, "sender"), ==, "alice");
  g_assert_cmpstr (json_object_get_string_member (got, "sessionKey"), ==, "ftHwz6Ce");
  g_assert_cmpstr (json_object_get_string_member (got, "encryptedMessage"), ==, "mPWBdMBX");
  g_assert_false (json_object_has_member (got, "message"));

  /* Exactly one of the two names. */
  kt_client_send (alice, "SECURE_MESSAGE {\"receiver\":\"bob\",\"sessionKey\":\"k\",\"encryptedMessage\":\"a\",\"message\":\"b\"}");
  kt_client_expect_bare (alice, "PARSE_ERROR");
  kt_client_send (alice, "SECURE_MESSAGE {\"receiver\":\"bob\",\"sessionKey\":\"k\"}");
  kt_client_expect_bare (alice, "PARSE_ERROR");
  kt_client_send (alice, "SECURE_MESSAGE {\"receiver\":\"bob\",\"sessionKey\":\"k\",\"encryptedMessage\":7}");
  kt_client_expect_bare (alice, "PARSE_ERROR");
  kt_client_sync (alice);
}

/* A lobby whose starter left ends at once: it no longer blocks the next
 * START_GAME_REQ (6003) nor takes joins into an empty room. */
static void
test_lobby_ends_with_its_starter (void)
{
  g_autoptr(KtServer) server = kt_server_start ("--join-window-ms", "30000", NULL);
  KtClient *alice = kt_client_login (server, "alice");
  g_autoptr(KtClient) bob = kt_client_login (server, "bob");
  g_autoptr(KtClient) carol = kt_client_login (server, "carol");

  kt_client_drain (alice, "JOINED", 2);
  kt_client_drain (bob, "JOINED", 1);
  kt_client_send (alice, "START_GAME_REQ");
  kt_client_expect_status (alice, "START_GAME_RESP", 0);
  json_object_unref (kt_client_expect (bob, "GAME_NOTIFICATION"));
  json_object_unref (kt_client_expect (carol, "GAME_NOTIFICATION"));
  kt_client_send (carol, "JOIN_GAME_REQ");
  kt_client_expect_status (carol, "JOIN_GAME_RESP", 0);
  json_object_unref (kt_client_expect (carol, "GAME_JOINED"));

  /* alice goes: carol hears at once that there is no game, bob may start one. */
  kt_client_free (alice);
  kt_client_expect_status (carol, "START_GAME_RESP", KLETSEN_CODE_NOT_ENOUGH_PLAYERS);
  kt_client_drain (bob, "LEFT", 1);
  kt_client_send (bob, "START_GAME_REQ");
  kt_client_expect_status (bob, "START_GAME_RESP", 0);
}

/* ---- their servers against our client ---- */

typedef struct
{
  const char *welcome;  /* the WELCOME line their server sends */
} LoginCase;

static void
foreign_login_script (KtFake     *fake,
                      KtFakeConn *conn,
                      guint       index,
                      gpointer    data)
{
  const LoginCase *c = data;
  g_autoptr(JsonObject) login = NULL;

  kt_fake_send (conn, "%s", c->welcome);
  login = kt_fake_expect (conn, "LOGIN");
  /* The seed server adds fields the profile does not have. */
  kt_fake_send (conn, "LOGIN_RESP {\"code\":0,\"status\":\"OK\"}");
  g_clear_pointer (&login, json_object_unref);
  login = kt_fake_expect (conn, "LIST_USERS_REQ");
  kt_fake_send (conn, "LIST_USERS_RESP {\"code\":0,\"status\":\"OK\",\"message\":null,\"userListMessage\":null,"
                "\"users\":[\"alice\",\"carol\",\"dave\"]}");
  kt_fake_serve (fake, conn);
}

static void
test_any_welcome (gconstpointer data)
{
  g_autoptr(KtFake) fake = kt_fake_start (foreign_login_script, (gpointer)data);
  g_autofree char *dir = g_dir_make_tmp ("kletsen-compat-XXXXXX", NULL);
  g_autoptr(KletsenSession) session = kletsen_session_new (dir);
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GError) error = NULL;

  kletsen_session_connect_async (session, "127.0.0.1", kt_fake_port (fake), "dave", NULL, kt_store_result_cb, &result);
  RUN_UNTIL (result != NULL);
  g_assert_true (kletsen_session_connect_finish (session, result, &error));
  g_assert_no_error (error);
  RUN_UNTIL (kletsen_session_is_online (session, "carol"));
  kletsen_session_disconnect (session);
  kt_remove_tree (dir);
}

static const LoginCase seed_welcome = { "WELCOME {\"message\":\"Welcome to the server 1.5\",\"status\":null,\"code\":0}" };
static const LoginCase viktor_welcome = { "WELCOME" };
static const LoginCase odd_welcome = { "WELCOME \"hello\"" };

/* viktor's and georgi's servers answer the requests they do not have with
 * UNKNOWN_COMMAND, or PARSE_ERROR: the request fails, it does not hang. */
static void
partial_server_script (KtFake     *fake,
                       KtFakeConn *conn,
                       guint       index,
                       gpointer    data)
{
  g_autoptr(JsonObject) login = NULL;

  kt_fake_send (conn, "WELCOME");
  login = kt_fake_expect (conn, "LOGIN");
  kt_fake_send (conn, "LOGIN_RESP {\"status\":\"OK\"}");
  while (!kt_fake_stopping (fake))
    {
      g_autofree char *line = kt_fake_read_line (conn, 100);

      if (line == NULL)
        continue;
      if (g_str_has_prefix (line, "LIST_USERS_REQ") || g_str_has_prefix (line, "START_GAME_REQ"))
        kt_fake_send (conn, "UNKNOWN_COMMAND");
      else if (g_str_has_prefix (line, "PRIVATE_MESSAGE_REQ"))
        kt_fake_send (conn, "PARSE_ERROR");
      else if (g_str_has_prefix (line, "BROADCAST_REQ"))
        kt_fake_send (conn, "BROADCAST_RESP {\"status\":\"OK\"}");
    }
}

static void
test_unsupported_requests (void)
{
  g_autoptr(KtFake) fake = kt_fake_start (partial_server_script, NULL);
  g_autofree char *dir = g_dir_make_tmp ("kletsen-compat-XXXXXX", NULL);
  g_autoptr(KletsenSession) session = kletsen_session_new (dir);
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GAsyncResult) listed = NULL;
  g_autoptr(GAsyncResult) started = NULL;
  g_autoptr(GAsyncResult) told = NULL;
  g_autoptr(GAsyncResult) said = NULL;
  g_autoptr(GError) error = NULL;
  g_auto(GStrv) users = NULL;

  kletsen_session_connect_async (session, "127.0.0.1", kt_fake_port (fake), "dave", NULL, kt_store_result_cb, &result);
  RUN_UNTIL (result != NULL);
  g_assert_true (kletsen_session_connect_finish (session, result, NULL));

  kletsen_session_list_users_async (session, kt_store_result_cb, &listed);
  kletsen_session_start_game_async (session, kt_store_result_cb, &started);
  kletsen_session_send_private_async (session, "carol", "hoi", kt_store_result_cb, &told);
  kletsen_session_broadcast_async (session, "everyone", kt_store_result_cb, &said);
  RUN_UNTIL (listed && started && told && said);
  users = kletsen_session_list_users_finish (session, listed, &error);
  g_assert_error (error, KLETSEN_SESSION_ERROR, KLETSEN_SESSION_ERROR_NOT_SUPPORTED);
  g_clear_error (&error);
  g_assert_false (kletsen_session_request_finish (session, started, &error));
  g_assert_error (error, KLETSEN_SESSION_ERROR, KLETSEN_SESSION_ERROR_NOT_SUPPORTED);
  g_clear_error (&error);
  g_assert_false (kletsen_session_request_finish (session, told, &error));
  g_assert_error (error, KLETSEN_SESSION_ERROR, KLETSEN_SESSION_ERROR_NOT_SUPPORTED);
  g_clear_error (&error);
  /* What it does support still works, in order. */
  g_assert_true (kletsen_session_request_finish (session, said, NULL));
  g_assert_cmpint (kletsen_session_get_state (session), ==, KLETSEN_SESSION_ONLINE);
  kletsen_session_disconnect (session);
  kt_remove_tree (dir);
}

/* kletsen-cli list against such a server ends within seconds, non-zero. */
static void
test_cli_list_not_supported (void)
{
  g_autoptr(KtFake) fake = kt_fake_start (partial_server_script, NULL);
  g_autofree char *dir = g_dir_make_tmp ("kletsen-compat-XXXXXX", NULL);
  g_autofree char *port = g_strdup_printf ("%u", kt_fake_port (fake));
  g_autoptr(GError) error = NULL;
  g_autoptr(GSubprocess) cli = g_subprocess_new (G_SUBPROCESS_FLAGS_STDERR_PIPE | G_SUBPROCESS_FLAGS_STDOUT_SILENCE, &error,
                                                 g_getenv ("KLETSEN_CLI"), "--port", port, "--name", "dave",
                                                 "--data-dir", dir, "list", NULL);
  g_autofree char *err = NULL;
  gint64 start = g_get_monotonic_time ();

  g_assert_no_error (error);
  g_assert_true (g_subprocess_communicate_utf8 (cli, NULL, NULL, NULL, &err, &error));
  g_assert_no_error (error);
  g_assert_cmpint (g_subprocess_get_exit_status (cli), !=, 0);
  g_assert_nonnull (strstr (err, "The server does not support this"));
  g_assert_cmpint (g_get_monotonic_time () - start, <, 10 * G_USEC_PER_SEC);
  kt_remove_tree (dir);
}

/* A seed client's encrypted message reaches us as encryptedMessage; its
 * offer without size or checksum, as an offer we cannot check. */
static void
seed_peer_script (KtFake     *fake,
                  KtFakeConn *conn,
                  guint       index,
                  gpointer    data)
{
  g_autoptr(JsonObject) answer = NULL;
  KtFakeConn *side;
  char header[KLETSEN_SIDE_HEADER_LEN];

  g_free (kt_fake_login (conn));
  kt_fake_send (conn, "SECURE_MESSAGE {\"sender\":\"alice\",\"sessionKey\":\"ftHwz6Ce\",\"encryptedMessage\":\"mPWBdMBX\"}");
  kt_fake_send (conn, "FILE_TRANSFER_REQUEST {\"sender\":\"alice\",\"filename\":\"file.txt\","
                "\"transferId\":\"0b9a4a34-3f5e-4a8e-9a55-7a0f4d0c2e11\"}");
  answer = kt_fake_expect (conn, "FILE_TRANSFER_RESPONSE");
  json_object_unref (kt_fake_expect (conn, "LIST_USERS_REQ"));
  kt_fake_send (conn, "LIST_USERS_RESP {\"status\":\"OK\",\"users\":[\"dave\",\"alice\"]}");
  side = kt_fake_accept_file (fake, 20000);
  g_assert_nonnull (side);
  kt_fake_read_exactly (side, header, sizeof header, 20000);
  kt_fake_send_raw (side, "no size, no checksum", 20);
  kt_fake_conn_free (side);
  kt_fake_serve (fake, conn);
}

static void
test_seed_peer (void)
{
  g_autoptr(KtFake) fake = kt_fake_start (seed_peer_script, NULL);
  g_autofree char *dir = g_dir_make_tmp ("kletsen-compat-XXXXXX", NULL);
  g_autofree char *downloads = g_build_filename (dir, "downloads", NULL);
  g_autofree char *arrived = g_build_filename (downloads, "file.txt", NULL);
  g_autofree char *contents = NULL;
  g_autoptr(GFile) folder = g_file_new_for_path (downloads);
  g_autoptr(KletsenSession) session = kletsen_session_new (dir);
  g_autoptr(KletsenFileTransfer) transfer = NULL;
  g_autoptr(KletsenChatMessage) message = NULL;
  g_autoptr(GAsyncResult) result = NULL;
  KletsenConversation *with_alice;

  g_assert_cmpint (g_mkdir_with_parents (downloads, 0700), ==, 0);
  g_signal_connect (session, "file-offered", G_CALLBACK (kt_store_object_cb), &transfer);
  kletsen_session_set_file_port (session, kt_fake_file_port (fake));
  kletsen_session_connect_async (session, "127.0.0.1", kt_fake_port (fake), "dave", NULL, kt_store_result_cb, &result);
  RUN_UNTIL (result != NULL);
  g_assert_true (kletsen_session_connect_finish (session, result, NULL));

  /* Never garbage under a lock: an error item that says why. */
  RUN_UNTIL ((with_alice = kletsen_session_lookup_conversation (session, "alice")) != NULL &&
             g_list_model_get_n_items (G_LIST_MODEL (with_alice)) >= 1);
  message = g_list_model_get_item (G_LIST_MODEL (with_alice), 0);
  g_assert_cmpint (kletsen_chat_message_get_kind (message), ==, KLETSEN_MESSAGE_KIND_ERROR);
  /* Then alice's file offer, as an item of its own. */
  RUN_UNTIL (g_list_model_get_n_items (G_LIST_MODEL (with_alice)) == 2);
  {
    g_autoptr(KletsenChatMessage) offer = g_list_model_get_item (G_LIST_MODEL (with_alice), 1);

    g_assert_cmpint (kletsen_chat_message_get_kind (offer), ==, KLETSEN_MESSAGE_KIND_FILE);
    g_assert_cmpstr (kletsen_chat_message_get_text (offer), ==, "file.txt");
  }
  g_assert_cmpstr (kletsen_chat_message_get_text (message), ==,
                   "alice sent a message encrypted in a format Kletsen cannot read");

  RUN_UNTIL (transfer != NULL);
  g_assert_false (kletsen_file_transfer_get_verifiable (transfer));
  kletsen_session_accept_file (session, transfer, folder);
  RUN_UNTIL (kletsen_file_transfer_get_state (transfer) >= KLETSEN_TRANSFER_DONE);
  g_assert_cmpstr (kletsen_file_transfer_get_error (transfer), ==, NULL);
  g_assert_cmpint (kletsen_file_transfer_get_state (transfer), ==, KLETSEN_TRANSFER_DONE);
  g_assert_false (kletsen_file_transfer_get_verifiable (transfer));
  g_assert_true (g_file_get_contents (arrived, &contents, NULL, NULL));
  g_assert_cmpstr (contents, ==, "no size, no checksum");
  kletsen_session_disconnect (session);
  kt_remove_tree (dir);
}

int
main (int    argc,
      char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/compat/server/glued-header", test_glued_header);
  g_test_add_func ("/compat/server/seed-file-transfer", test_seed_file_transfer);
  g_test_add_func ("/compat/server/seed-encrypted-message", test_seed_encrypted_message);
  g_test_add_func ("/compat/server/lobby-ends-with-its-starter", test_lobby_ends_with_its_starter);
  g_test_add_data_func ("/compat/client/welcome-seed", &seed_welcome, test_any_welcome);
  g_test_add_data_func ("/compat/client/welcome-bare", &viktor_welcome, test_any_welcome);
  g_test_add_data_func ("/compat/client/welcome-not-an-object", &odd_welcome, test_any_welcome);
  g_test_add_func ("/compat/client/unsupported-requests", test_unsupported_requests);
  g_test_add_func ("/compat/client/cli-list-not-supported", test_cli_list_not_supported);
  g_test_add_func ("/compat/client/seed-peer", test_seed_peer);
  return g_test_run ();
}
