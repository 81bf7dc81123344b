/* test-users.c
 *
 * Copyright 2026 The Kletsen authors
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

/* Level 2 of protocol.md (§3): the user list and private messages, against
 * the real kletsen-server over real sockets. */

#include "config.h"

#include "kletsen-test-util.h"

static void
drain_joined (KtClient *client,
              guint     n)
{
  kt_client_drain (client, "JOINED", n);
}

/* All logged-in users, the requester included, sorted case-insensitively;
 * connections that have not logged in are not users. */
static void
test_list_users (void)
{
  g_autoptr(KtServer) server = kt_server_start (NULL);
  g_autoptr(KtClient) z = kt_client_login (server, "zed"); /* listed, never used */
  g_autoptr(KtClient) b = kt_client_login (server, "Bob");
  g_autoptr(KtClient) a = kt_client_login (server, "alice");
  g_autoptr(KtClient) c = kt_client_login (server, "CAROL");
  g_autoptr(KtClient) anon = kt_client_connect (server);
  g_autoptr(JsonObject) list = NULL;
  JsonArray *users;
  const char *expected[] = { "alice", "Bob", "CAROL", "zed" };

  g_assert_nonnull (z);

  drain_joined (b, 2);
  kt_client_send (b, "LIST_USERS_REQ");
  list = kt_client_expect (b, "LIST_USERS_RESP");
  g_assert_cmpstr (json_object_get_string_member (list, "status"), ==, "OK");
  users = json_object_get_array_member (list, "users");
  g_assert_cmpuint (json_array_get_length (users), ==, G_N_ELEMENTS (expected));
  for (guint i = 0; i < G_N_ELEMENTS (expected); i++)
    g_assert_cmpstr (json_array_get_string_element (users, i), ==, expected[i]);

  /* After one leaves, the list follows. */
  kt_client_send (c, "BYE");
  kt_client_expect_status (c, "BYE_RESP", 0);
  kt_client_expect_eof (c);
  drain_joined (a, 1);
  kt_client_drain (a, "LEFT", 1);
  kt_client_send (a, "LIST_USERS_REQ {}");
  g_clear_pointer (&list, json_object_unref);
  list = kt_client_expect (a, "LIST_USERS_RESP");
  g_assert_cmpuint (json_array_get_length (json_object_get_array_member (list, "users")), ==, 3);

  g_clear_pointer (&list, json_object_unref);
  list = kt_client_expect (anon, "WELCOME");
  kt_client_send (anon, "LIST_USERS_REQ");
  kt_client_expect_status (anon, "LIST_USERS_RESP", 6000);
}

static void
test_private_message (void)
{
  g_autoptr(KtServer) server = kt_server_start (NULL);
  g_autoptr(KtClient) a = kt_client_login (server, "alice");
  g_autoptr(KtClient) b = kt_client_login (server, "Bob");
  g_autoptr(KtClient) c = kt_client_login (server, "carol");
  g_autoptr(JsonObject) msg = NULL;

  drain_joined (a, 2);
  drain_joined (b, 1);

  /* The receiver is found whatever the case of its name. */
  kt_client_send (a, "PRIVATE_MESSAGE_REQ {\"receiver\":\"BOB\",\"message\":\"psst \\u00e9\"}");
  kt_client_expect_status (a, "PRIVATE_MESSAGE_RESP", 0);
  msg = kt_client_expect (b, "PRIVATE_MESSAGE");
  g_assert_cmpstr (json_object_get_string_member (msg, "sender"), ==, "alice");
  g_assert_cmpstr (json_object_get_string_member (msg, "message"), ==, "psst \xc3\xa9");

  /* Only bob got it. */
  kt_client_sync (c);
  kt_client_sync (a);

  /* Errors, none of them delivered anywhere. */
  kt_client_send (a, "PRIVATE_MESSAGE_REQ {\"receiver\":\"nobody\",\"message\":\"x\"}");
  kt_client_expect_status (a, "PRIVATE_MESSAGE_RESP", 6001);
  kt_client_send (a, "PRIVATE_MESSAGE_REQ {\"receiver\":\"ALICE\",\"message\":\"x\"}");
  kt_client_expect_status (a, "PRIVATE_MESSAGE_RESP", 6007);
  kt_client_send (a, "PRIVATE_MESSAGE_REQ {\"receiver\":\"bob\",\"message\":\"  \"}");
  kt_client_expect_status (a, "PRIVATE_MESSAGE_RESP", 6008);
  kt_client_send (a, "PRIVATE_MESSAGE_REQ {\"receiver\":\"bob\",\"message\":\"\"}");
  kt_client_expect_status (a, "PRIVATE_MESSAGE_RESP", 6008);
  kt_client_send (a, "PRIVATE_MESSAGE_REQ {\"receiver\":\"bob\",\"message\":7}");
  kt_client_expect_bare (a, "PARSE_ERROR");
  kt_client_sync (b);

  /* A user who left is not found. */
  kt_client_send (c, "BYE");
  kt_client_expect_status (c, "BYE_RESP", 0);
  g_clear_pointer (&msg, json_object_unref);
  msg = kt_client_expect (a, "LEFT");
  kt_client_send (a, "PRIVATE_MESSAGE_REQ {\"receiver\":\"carol\",\"message\":\"x\"}");
  kt_client_expect_status (a, "PRIVATE_MESSAGE_RESP", 6001);
}

static void
test_private_message_not_logged_in (void)
{
  g_autoptr(KtServer) server = kt_server_start (NULL);
  g_autoptr(KtClient) b = kt_client_login (server, "bob");
  g_autoptr(KtClient) anon = kt_client_connect (server);

  kt_client_drain (anon, "WELCOME", 1);
  kt_client_send (anon, "PRIVATE_MESSAGE_REQ {\"receiver\":\"bob\",\"message\":\"x\"}");
  kt_client_expect_status (anon, "PRIVATE_MESSAGE_RESP", 6000);
  kt_client_sync (b);
}

int
main (int    argc,
      char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/users/list", test_list_users);
  g_test_add_func ("/users/private-message", test_private_message);
  g_test_add_func ("/users/private-message-not-logged-in", test_private_message_not_logged_in);

  return g_test_run ();
}
