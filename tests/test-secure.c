/* test-secure.c
 *
 * Copyright 2026 The Kletsen authors
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

/* Level 4 of protocol.md (§5): the server routes the secure-message handshake
 * and stamps the name fields itself. */

#include "config.h"

#include "kletsen-test-util.h"

static void
drain (KtClient   *client,
       const char *header,
       guint       n)
{
  kt_client_drain (client, header, n);
}

/* Every forwarded message names the real sender, whatever the client wrote,
 * and carries only the fields of the profile. */
static void
test_routing_stamps_names (void)
{
  g_autoptr(KtServer) server = kt_server_start (NULL);
  g_autoptr(KtClient) a = kt_client_login (server, "alice");
  g_autoptr(KtClient) b = kt_client_login (server, "bob");
  g_autoptr(KtClient) c = kt_client_login (server, "carol");
  g_autoptr(JsonObject) msg = NULL;

  drain (a, "JOINED", 2);
  drain (b, "JOINED", 1);

  kt_client_send (a, "SECURE_MESSAGE_REQ {\"receiver\":\"BOB\",\"sender\":\"carol\",\"extra\":1}");
  msg = kt_client_expect (b, "SECURE_MESSAGE_REQ");
  g_assert_cmpstr (json_object_get_string_member (msg, "sender"), ==, "alice");
  g_assert_cmpuint (json_object_get_size (msg), ==, 1);

  kt_client_send (b, "SECURE_MESSAGE_RES {\"sender\":\"alice\",\"receiver\":\"carol\",\"publicKey\":\"UEs=\"}");
  g_clear_pointer (&msg, json_object_unref);
  msg = kt_client_expect (a, "SECURE_MESSAGE_RES");
  g_assert_cmpstr (json_object_get_string_member (msg, "receiver"), ==, "bob");
  g_assert_cmpstr (json_object_get_string_member (msg, "publicKey"), ==, "UEs=");
  g_assert_cmpuint (json_object_get_size (msg), ==, 2);

  kt_client_send (a, "SECURE_MESSAGE {\"receiver\":\"bob\",\"sender\":\"carol\",\"sessionKey\":\"U0s=\",\"message\":\"TQ==\"}");
  g_clear_pointer (&msg, json_object_unref);
  msg = kt_client_expect (b, "SECURE_MESSAGE");
  g_assert_cmpstr (json_object_get_string_member (msg, "sender"), ==, "alice");
  g_assert_cmpstr (json_object_get_string_member (msg, "sessionKey"), ==, "U0s=");
  g_assert_cmpstr (json_object_get_string_member (msg, "message"), ==, "TQ==");
  g_assert_cmpuint (json_object_get_size (msg), ==, 3);

  /* A successful step has no reply, and nobody else saw anything. */
  kt_client_sync (a);
  kt_client_sync (b);
  kt_client_sync (c);
}

static void
test_routing_errors (void)
{
  static const char *const parse_errors[] = {
    "SECURE_MESSAGE_REQ {}",
    "SECURE_MESSAGE_REQ {\"receiver\":5}",
    "SECURE_MESSAGE_RES {\"sender\":\"bob\"}",
    "SECURE_MESSAGE_RES {\"sender\":\"bob\",\"publicKey\":[1]}",
    "SECURE_MESSAGE {\"receiver\":\"bob\",\"message\":\"x\"}",
    "SECURE_MESSAGE {\"receiver\":\"bob\",\"sessionKey\":\"x\",\"message\":null}",
  };
  g_autoptr(KtServer) server = kt_server_start (NULL);
  g_autoptr(KtClient) a = kt_client_login (server, "alice");
  g_autoptr(KtClient) b = kt_client_login (server, "bob");
  g_autoptr(KtClient) anon = kt_client_connect (server);

  drain (a, "JOINED", 1);
  drain (anon, "WELCOME", 1);

  kt_client_send (a, "SECURE_MESSAGE_REQ {\"receiver\":\"nobody\"}");
  kt_client_expect_status (a, "SECURE_MESSAGE_RES", 6001);
  kt_client_send (a, "SECURE_MESSAGE_REQ {\"receiver\":\"Alice\"}");
  kt_client_expect_status (a, "SECURE_MESSAGE_RES", 6007);
  kt_client_send (a, "SECURE_MESSAGE_RES {\"sender\":\"nobody\",\"publicKey\":\"x\"}");
  kt_client_expect_status (a, "SECURE_MESSAGE_RES", 6001);
  kt_client_send (a, "SECURE_MESSAGE {\"receiver\":\"nobody\",\"sessionKey\":\"x\",\"message\":\"y\"}");
  kt_client_expect_status (a, "SECURE_MESSAGE_RES", 6001);
  kt_client_send (a, "SECURE_MESSAGE {\"receiver\":\"alice\",\"sessionKey\":\"x\",\"message\":\"y\"}");
  kt_client_expect_status (a, "SECURE_MESSAGE_RES", 6007);
  for (guint i = 0; i < G_N_ELEMENTS (parse_errors); i++)
    {
      kt_client_send (a, "%s", parse_errors[i]);
      kt_client_expect_bare (a, "PARSE_ERROR");
    }

  kt_client_send (anon, "SECURE_MESSAGE {\"receiver\":\"bob\",\"sessionKey\":\"x\",\"message\":\"y\"}");
  kt_client_expect_status (anon, "SECURE_MESSAGE_RES", 6000);
  kt_client_send (anon, "SECURE_MESSAGE_REQ {\"receiver\":\"bob\"}");
  kt_client_expect_status (anon, "SECURE_MESSAGE_RES", 6000);

  /* bob never heard of any of it. */
  kt_client_sync (b);

  /* A peer that has left is not found. */
  kt_client_send (b, "BYE");
  kt_client_expect_status (b, "BYE_RESP", 0);
  drain (a, "LEFT", 1);
  kt_client_send (a, "SECURE_MESSAGE {\"receiver\":\"bob\",\"sessionKey\":\"x\",\"message\":\"y\"}");
  kt_client_expect_status (a, "SECURE_MESSAGE_RES", 6001);
}

/* Key requests do not spend the rate of the one asked: its answers to
 * requests the server routed to it are free (the asker pays), so its own
 * messages still go through. Before, 30 requests left it 9 tokens of 40. */
static void
test_key_requests_cost_the_asker (void)
{
  g_autoptr(KtServer) server = kt_server_start ("--rate-limit", "20", NULL);
  g_autoptr(KtClient) asker = kt_client_login (server, "asker");
  g_autoptr(KtClient) victim = kt_client_login (server, "victim");
  guint ok = 0;

  drain (asker, "JOINED", 1);
  for (guint i = 0; i < 30; i++)
    kt_client_send (asker, "SECURE_MESSAGE_REQ {\"receiver\":\"victim\"}");
  for (guint i = 0; i < 30; i++)
    {
      g_autoptr(JsonObject) req = kt_client_expect (victim, "SECURE_MESSAGE_REQ");

      g_assert_cmpstr (json_object_get_string_member (req, "sender"), ==, "asker");
      kt_client_send (victim, "SECURE_MESSAGE_RES {\"sender\":\"asker\",\"publicKey\":\"AAAA\"}");
    }
  for (guint i = 0; i < 30; i++)
    json_object_unref (kt_client_expect (asker, "SECURE_MESSAGE_RES"));
  /* An answer nobody asked for is paid for as usual. */
  for (guint i = 0; i < 20; i++)
    kt_client_send (victim, "BROADCAST_REQ {\"message\":\"mine %u\"}", i);
  for (guint i = 0; i < 20; i++)
    {
      g_autoptr(JsonObject) reply = kt_client_expect (victim, "BROADCAST_RESP");

      if (g_strcmp0 (json_object_get_string_member (reply, "status"), "OK") == 0)
        ok++;
    }
  g_test_message ("%u of the victim's 20 broadcasts went out", ok);
  g_assert_cmpuint (ok, ==, 20);
}

int
main (int    argc,
      char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/secure/routing-stamps-names", test_routing_stamps_names);
  g_test_add_func ("/secure/routing-errors", test_routing_errors);
  g_test_add_func ("/secure/key-requests-cost-the-asker", test_key_requests_cost_the_asker);

  return g_test_run ();
}
