/* test-server.c
 *
 * Copyright 2026 The Kletsen authors
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

/* Level 1 of protocol.md (§1, §2) and the disconnect reasons (§6), against
 * the real kletsen-server over real sockets. */

#include "config.h"

#include <string.h>
#include <sys/socket.h>

#include "kletsen-protocol.h"
#include "kletsen-test-util.h"

static void
test_welcome (void)
{
  g_autoptr(KtServer) server = kt_server_start (NULL);
  g_autoptr(KtClient) c = kt_client_connect (server);
  g_autoptr(JsonObject) welcome = kt_client_expect (c, "WELCOME");

  g_assert_true (g_str_has_prefix (json_object_get_string_member (welcome, "msg"), "Welcome to the server "));
}

/* JOINED goes to every other logged-in user; never to the new user, never to
 * a connection that has not logged in. LOGIN_REQ is an alias of LOGIN. */
static void
test_login_joined (void)
{
  g_autoptr(KtServer) server = kt_server_start (NULL);
  g_autoptr(KtClient) alice = kt_client_login (server, "alice");
  g_autoptr(KtClient) lurker = kt_client_connect (server);
  g_autoptr(KtClient) bob = NULL;
  g_autoptr(JsonObject) joined = NULL;
  g_autoptr(JsonObject) welcome = kt_client_expect (lurker, "WELCOME");

  bob = kt_client_connect (server);
  g_clear_pointer (&welcome, json_object_unref);
  welcome = kt_client_expect (bob, "WELCOME");
  kt_client_send (bob, "LOGIN_REQ {\"username\":\"Bob_2\"}");
  kt_client_expect_status (bob, "LOGIN_RESP", 0);

  joined = kt_client_expect (alice, "JOINED");
  g_assert_cmpstr (json_object_get_string_member (joined, "username"), ==, "Bob_2");
  kt_client_sync (bob);    /* bob did not see his own JOINED */
  kt_client_sync (lurker); /* nor did the connection that never logged in */
}

typedef struct
{
  const char *body;
  int         code;  /* -1: PARSE_ERROR */
} LoginCase;

static void
test_login_errors (void)
{
  static const LoginCase cases[] = {
    { "{\"username\":\"ab\"}", 5001 },
    { "{\"username\":\"abcdefghijklmno\"}", 5001 },
    { "{\"username\":\"\"}", 5001 },
    { "{\"username\":\"bad name\"}", 5001 },
    { "{\"username\":\"bad-name\"}", 5001 },
    { "{\"username\":\"caf\xc3\xa9\"}", 5001 },
    { "{\"username\":\"ALICE\"}", 5000 },
    { "{\"username\":\"alice\"}", 5000 },
    { "{\"username\":5}", -1 },
    { "{\"user\":\"carol\"}", -1 },
    { "{\"username\":\"carol\"", -1 },
    { "", -1 },
  };
  g_autoptr(KtServer) server = kt_server_start (NULL);
  g_autoptr(KtClient) alice = kt_client_login (server, "Alice");
  g_autoptr(KtClient) c = kt_client_connect (server);
  g_autoptr(JsonObject) welcome = kt_client_expect (c, "WELCOME");
  g_autoptr(JsonObject) list = NULL;

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      kt_client_send (c, "LOGIN %s", cases[i].body);
      if (cases[i].code < 0)
        kt_client_expect_bare (c, "PARSE_ERROR");
      else
        kt_client_expect_status (c, "LOGIN_RESP", cases[i].code);
    }

  /* The shortest and longest names are fine; a second login is 5002. */
  kt_client_send (c, "LOGIN {\"username\":\"abcdefghijklmn\"}");
  kt_client_expect_status (c, "LOGIN_RESP", 0);
  kt_client_send (c, "LOGIN {\"username\":\"abc\"}");
  kt_client_expect_status (c, "LOGIN_RESP", 5002);
  kt_client_send (c, "LOGIN {\"username\":\"abcdefghijklmn\"}");
  kt_client_expect_status (c, "LOGIN_RESP", 5002);

  /* The name keeps the case it was registered with. */
  kt_client_send (c, "LIST_USERS_REQ");
  list = kt_client_expect (c, "LIST_USERS_RESP");
  g_assert_cmpstr (json_array_get_string_element (json_object_get_array_member (list, "users"), 1), ==, "Alice");

  /* Nobody saw a failed login as a JOINED. */
  g_clear_pointer (&welcome, json_object_unref);
  welcome = kt_client_expect (alice, "JOINED");
  g_assert_cmpstr (json_object_get_string_member (welcome, "username"), ==, "abcdefghijklmn");
  kt_client_sync (alice);
}

/* A broadcast reaches every other logged-in user in the order sent, and the
 * sender only gets its BROADCAST_RESP. */
static void
test_broadcast (void)
{
  g_autoptr(KtServer) server = kt_server_start (NULL);
  g_autoptr(KtClient) a = kt_client_login (server, "alice");
  g_autoptr(KtClient) b = kt_client_login (server, "bob");
  g_autoptr(KtClient) c = kt_client_login (server, "carol");
  g_autoptr(KtClient) lurker = kt_client_connect (server);
  g_autoptr(JsonObject) msg = NULL;
  KtClient *receivers[] = { b, c };

  msg = kt_client_expect (a, "JOINED");
  g_clear_pointer (&msg, json_object_unref);
  msg = kt_client_expect (a, "JOINED");
  g_clear_pointer (&msg, json_object_unref);
  msg = kt_client_expect (b, "JOINED");
  g_clear_pointer (&msg, json_object_unref);
  msg = kt_client_expect (lurker, "WELCOME");
  g_clear_pointer (&msg, json_object_unref);

  for (guint i = 0; i < 100; i++)
    kt_client_send (a, "BROADCAST_REQ {\"message\":\"message %u\\nwith a newline\"}", i);
  for (guint i = 0; i < 100; i++)
    kt_client_expect_status (a, "BROADCAST_RESP", 0);

  for (guint r = 0; r < G_N_ELEMENTS (receivers); r++)
    for (guint i = 0; i < 100; i++)
      {
        g_autofree char *expected = g_strdup_printf ("message %u\nwith a newline", i);

        msg = kt_client_expect (receivers[r], "BROADCAST");
        g_assert_cmpstr (json_object_get_string_member (msg, "username"), ==, "alice");
        g_assert_cmpstr (json_object_get_string_member (msg, "message"), ==, expected);
        g_clear_pointer (&msg, json_object_unref);
      }

  kt_client_sync (a);
  kt_client_sync (lurker);

  /* Empty or white-space text is 6008 and goes nowhere. */
  kt_client_send (a, "BROADCAST_REQ {\"message\":\"\"}");
  kt_client_expect_status (a, "BROADCAST_RESP", 6008);
  kt_client_send (a, "BROADCAST_REQ {\"message\":\" \\t\\n \"}");
  kt_client_expect_status (a, "BROADCAST_RESP", 6008);
  kt_client_sync (b);
}

/* Before login every known request but LOGIN, BYE and PONG gets its reply
 * header with 6000, whatever its body. */
/* The server writes a burst of broadcasts to each receiver as one block at
 * the end of its loop iteration; a line meant for one receiver alone must
 * still come between the broadcasts it was sent between. */
static void
test_order_across_fan_out (void)
{
  g_autoptr(KtServer) server = kt_server_start (NULL);
  g_autoptr(KtClient) a = kt_client_login (server, "alice");
  g_autoptr(KtClient) b = kt_client_login (server, "bob");
  g_autoptr(KtClient) c = kt_client_login (server, "carol");
  g_autoptr(GString) burst = g_string_new (NULL);

  kt_client_drain (a, "JOINED", 2);
  kt_client_drain (b, "JOINED", 1);

  /* One segment, so that the server reads it all in one go. */
  for (guint i = 0; i < 10; i++)
    {
      g_string_append_printf (burst, "BROADCAST_REQ {\"message\":\"b%u\"}\n", i);
      if (i % 3 == 0)
        g_string_append_printf (burst, "PRIVATE_MESSAGE_REQ {\"receiver\":\"bob\",\"message\":\"p%u\"}\n", i);
    }
  kt_client_send_raw (a, burst->str, burst->len);

  for (guint i = 0; i < 10; i++)
    {
      g_autofree char *text = g_strdup_printf ("b%u", i);
      g_autoptr(JsonObject) to_b = kt_client_expect (b, "BROADCAST");
      g_autoptr(JsonObject) to_c = kt_client_expect (c, "BROADCAST");

      g_assert_cmpstr (json_object_get_string_member (to_b, "message"), ==, text);
      g_assert_cmpstr (json_object_get_string_member (to_c, "message"), ==, text);
      kt_client_expect_status (a, "BROADCAST_RESP", 0);
      if (i % 3 == 0)
        {
          g_autofree char *private = g_strdup_printf ("p%u", i);
          g_autoptr(JsonObject) msg = kt_client_expect (b, "PRIVATE_MESSAGE");

          g_assert_cmpstr (json_object_get_string_member (msg, "sender"), ==, "alice");
          g_assert_cmpstr (json_object_get_string_member (msg, "message"), ==, private);
          kt_client_expect_status (a, "PRIVATE_MESSAGE_RESP", 0);
        }
    }
  /* Nothing else came: the sender got no copy of its own lines. */
  kt_client_sync (a);
  kt_client_sync (b);
  kt_client_sync (c);
}

static void
test_not_logged_in (void)
{
  g_autoptr(KtServer) server = kt_server_start (NULL);
  g_autoptr(KtClient) c = kt_client_connect (server);
  const char *bodies[] = { "", " {}", " garbage", " [1,2]" };
  const KletsenMessageInfo *table;
  gsize n;

  kt_client_drain (c, "WELCOME", 1);
  table = kletsen_message_table (&n);
  for (gsize i = 0; i < n; i++)
    {
      const KletsenMessageInfo *m = &table[i];

      if (m->direction != KLETSEN_TO_SERVER || m->type == KLETSEN_MSG_LOGIN ||
          m->type == KLETSEN_MSG_LOGIN_REQ || m->type == KLETSEN_MSG_BYE || m->type == KLETSEN_MSG_PONG)
        continue;
      for (guint b = 0; b < G_N_ELEMENTS (bodies); b++)
        {
          kt_client_send (c, "%s%s", m->header, bodies[b]);
          kt_client_expect_status (c, m->response, 6000);
        }
    }

  /* A PONG before login: no PING is outstanding. */
  kt_client_sync (c);
}

static void
test_unknown_command (void)
{
  static const char *const lines[] = {
    "MSG This is an invalid message", "login {\"username\":\"alice\"}", "login{\"username\":\"alice\"}",
    "WELCOME {\"msg\":\"hi\"}", "PING", "BROADCAST", "X",
  };
  g_autoptr(KtServer) server = kt_server_start (NULL);
  g_autoptr(KtClient) c = kt_client_login (server, "alice");

  for (guint i = 0; i < G_N_ELEMENTS (lines); i++)
    {
      kt_client_send (c, "%s", lines[i]);
      kt_client_expect_bare (c, "UNKNOWN_COMMAND");
    }
  /* Raw bytes that are no header at all. */
  kt_client_send_raw (c, "\0\0\xff\xfe\n", 5);
  kt_client_expect_bare (c, "UNKNOWN_COMMAND");
  kt_client_sync (c);
}

static void
test_parse_error (void)
{
  static const char *const lines[] = {
    "BROADCAST_REQ {\"aaaa\"}",
    "BROADCAST_REQ [\"message\"]",
    "BROADCAST_REQ {\"message\":\"x\"} trailing",
    "BROADCAST_REQ {\"message\":\"x\"}{}",
    "BROADCAST_REQ {\"message\":NaN}",
    "BROADCAST_REQ {\"message\":\"\xff\xfe\"}",
    "BROADCAST_REQ {\"message\":\"x\\u0000\"}",
    "BROADCAST_REQ {\"message\":5}",
    "BROADCAST_REQ {}",
    "BROADCAST_REQ",
    "PRIVATE_MESSAGE_REQ {\"receiver\":\"bob\"}",
    "GUESS_NUMBER_REQ {\"number\":true}",
    "PONG [1]",
  };
  g_autoptr(KtServer) server = kt_server_start (NULL);
  g_autoptr(KtClient) c = kt_client_login (server, "alice");
  g_autoptr(GString) deep = g_string_new ("BROADCAST_REQ {\"message\":\"x\",\"a\":");

  for (guint i = 0; i < G_N_ELEMENTS (lines); i++)
    {
      kt_client_send (c, "%s", lines[i]);
      kt_client_expect_bare (c, "PARSE_ERROR");
    }

  /* A NUL byte inside the body. */
  {
    static const char nul_line[] = "BROADCAST_REQ {\"message\":\"a\0b\"}\n";

    kt_client_send_raw (c, nul_line, sizeof nul_line - 1);
  }
  kt_client_expect_bare (c, "PARSE_ERROR");

  /* Nesting as deep as the line limit allows neither crashes nor stalls. */
  for (guint i = 0; i < 30000; i++)
    g_string_append_c (deep, '[');
  for (guint i = 0; i < 30000; i++)
    g_string_append_c (deep, ']');
  g_string_append (deep, "}\n");
  kt_client_send_raw (c, deep->str, deep->len);
  kt_client_expect_bare (c, "PARSE_ERROR");

  kt_client_sync (c);
}

/* Pipelined requests in one segment, CRLF, empty lines, and a request cut
 * into single bytes: replies come in the order of the requests. */
static void
test_framing (void)
{
  g_autoptr(KtServer) server = kt_server_start (NULL);
  g_autoptr(KtClient) c = kt_client_connect (server);
  g_autoptr(JsonObject) msg = kt_client_expect (c, "WELCOME");
  const char *pipelined = "\n\r\nLOGIN {\"username\":\"alice\"}\r\n\nLIST_USERS_REQ\nNOPE\nBROADCAST_REQ {\"message\":\"\"}\r\n";
  const char *split = "BROADCAST_REQ {\"message\":\"\"}\n";

  kt_client_send_raw (c, pipelined, strlen (pipelined));
  kt_client_expect_status (c, "LOGIN_RESP", 0);
  g_clear_pointer (&msg, json_object_unref);
  msg = kt_client_expect (c, "LIST_USERS_RESP");
  kt_client_expect_bare (c, "UNKNOWN_COMMAND");
  kt_client_expect_status (c, "BROADCAST_RESP", 6008);

  for (gsize i = 0; split[i]; i++)
    kt_client_send_raw (c, split + i, 1);
  kt_client_expect_status (c, "BROADCAST_RESP", 6008);
}

/* The limit counts bytes before the \n: max-line bytes pass, one more is 7001. */
static void
test_line_limit (void)
{
  g_autoptr(KtServer) server = kt_server_start ("--max-line", "1024", NULL);
  g_autoptr(KtClient) a = kt_client_login (server, "alice");
  g_autoptr(KtClient) b = kt_client_login (server, "bob");
  g_autoptr(JsonObject) msg = kt_client_expect (a, "JOINED");
  const char *prefix = "BROADCAST_REQ {\"message\":\"";
  g_autoptr(GString) line = g_string_new (prefix);

  while (line->len < 1024 - 2)
    g_string_append_c (line, 'x');
  g_string_append (line, "\"}");
  g_assert_cmpuint (line->len, ==, 1024);
  g_string_append_c (line, '\n');
  kt_client_send_raw (a, line->str, line->len);
  kt_client_expect_status (a, "BROADCAST_RESP", 0);
  g_clear_pointer (&msg, json_object_unref);
  msg = kt_client_expect (b, "BROADCAST");

  /* One byte more, and no newline at all. */
  g_string_truncate (line, 1024);
  g_string_append_c (line, 'y');
  kt_client_send_raw (a, line->str, line->len);
  kt_client_expect_dscn (a, 7001);

  g_clear_pointer (&msg, json_object_unref);
  msg = kt_client_expect (b, "LEFT");
  g_assert_cmpstr (json_object_get_string_member (msg, "username"), ==, "alice");
}

/* BYE: BYE_RESP, then the server closes; others see LEFT. Before login there
 * is nobody to leave. */
static void
test_bye (void)
{
  g_autoptr(KtServer) server = kt_server_start (NULL);
  g_autoptr(KtClient) a = kt_client_login (server, "alice");
  g_autoptr(KtClient) b = kt_client_login (server, "bob");
  g_autoptr(KtClient) anon = kt_client_connect (server);
  g_autoptr(JsonObject) msg = kt_client_expect (a, "JOINED");

  g_clear_pointer (&msg, json_object_unref);
  msg = kt_client_expect (anon, "WELCOME");
  kt_client_send (anon, "BYE");
  kt_client_expect_status (anon, "BYE_RESP", 0);
  kt_client_expect_eof (anon);

  kt_client_send (b, "BYE {}");
  kt_client_expect_status (b, "BYE_RESP", 0);
  kt_client_expect_eof (b);

  g_clear_pointer (&msg, json_object_unref);
  msg = kt_client_expect (a, "LEFT");
  g_assert_cmpstr (json_object_get_string_member (msg, "username"), ==, "bob");
  kt_client_sync (a);

  /* The name is free again. */
  g_clear_pointer (&b, kt_client_free);
  b = kt_client_login (server, "BOB");
}

/* LEFT for a peer that closes its socket, or resets it in the middle of a line. */
static void
test_left_on_close_and_reset (void)
{
  g_autoptr(KtServer) server = kt_server_start (NULL);
  g_autoptr(KtClient) a = kt_client_login (server, "alice");
  KtClient *b = kt_client_login (server, "bob");
  KtClient *c = kt_client_login (server, "carol");
  g_autoptr(JsonObject) msg = NULL;
  struct linger hard = { 1, 0 };

  for (guint i = 0; i < 2; i++)
    {
      msg = kt_client_expect (a, "JOINED");
      g_clear_pointer (&msg, json_object_unref);
    }

  kt_client_free (b);
  msg = kt_client_expect (a, "LEFT");
  g_assert_cmpstr (json_object_get_string_member (msg, "username"), ==, "bob");
  g_clear_pointer (&msg, json_object_unref);

  kt_client_send_raw (c, "BROADCAST_REQ {\"mess", 20);
  kt_client_sync (a); /* the half line has arrived before the reset */
  setsockopt (g_socket_get_fd (c->socket), SOL_SOCKET, SO_LINGER, &hard, sizeof hard);
  kt_client_free (c);
  msg = kt_client_expect (a, "LEFT");
  g_assert_cmpstr (json_object_get_string_member (msg, "username"), ==, "carol");

  kt_client_sync (a);
}

/* The first PING comes one interval after login, then one every interval; a
 * PONG keeps the connection, a missing one ends it with 7000 and LEFT. There
 * is no PING before login. The timers are what is tested here, so this test
 * shortens them and measures them. */
static void
test_heartbeat (void)
{
  const gint64 interval_ms = 400;
  g_autoptr(KtServer) server = kt_server_start ("--ping-interval-ms", "400", "--pong-timeout-ms", "300", NULL);
  g_autoptr(KtClient) watcher = NULL;
  g_autoptr(KtClient) anon = kt_client_connect (server);
  g_autoptr(KtClient) c = NULL;
  g_autoptr(JsonObject) msg_joined = NULL;
  gint64 login_at, first_ping, second_ping;

  kt_client_drain (anon, "WELCOME", 1);
  c = kt_client_login (server, "pinged");
  login_at = g_get_monotonic_time ();

  kt_client_expect_bare (c, "PING");
  first_ping = g_get_monotonic_time ();
  g_assert_cmpint (first_ping - login_at, >=, (interval_ms - 50) * 1000);
  g_assert_cmpint (first_ping - login_at, <, (interval_ms + 1000) * 1000);
  kt_client_send (c, "PONG");

  kt_client_expect_bare (c, "PING");
  second_ping = g_get_monotonic_time ();
  g_assert_cmpint (second_ping - first_ping, >=, (interval_ms - 100) * 1000);
  g_assert_cmpint (second_ping - first_ping, <, (interval_ms + 1000) * 1000);

  /* A blocking test client cannot answer two sockets' PINGs at once, so the
   * witness of the LEFT logs in now: its own first PING comes after the
   * pinged client's PONG deadline. */
  watcher = kt_client_login (server, "watcher");

  /* No answer this time. */
  msg_joined = kt_client_expect (c, "JOINED");
  kt_client_expect_dscn (c, 7000);
  g_assert_cmpint (g_get_monotonic_time () - second_ping, >=, 200 * 1000);

  /* The watcher answers its own PINGs and sees the LEFT. */
  for (;;)
    {
      g_autofree char *line = kt_client_read_line (watcher);

      g_assert_nonnull (line);
      if (g_str_equal (line, "PING"))
        {
          kt_client_send (watcher, "PONG");
          continue;
        }
      g_assert_cmpstr (line, ==, "LEFT {\"username\":\"pinged\"}");
      break;
    }

  /* The connection that never logged in got no PING in all that time. */
  kt_client_sync (anon);
}

static void
test_pong_error (void)
{
  g_autoptr(KtServer) server = kt_server_start (NULL);
  g_autoptr(KtClient) c = kt_client_login (server, "alice");
  g_autoptr(JsonObject) msg = NULL;

  kt_client_send (c, "PONG");
  msg = kt_client_expect (c, "PONG_ERROR");
  g_assert_cmpint (json_object_get_int_member (msg, "code"), ==, 8000);
  /* The connection stays. */
  kt_client_send (c, "PONG {}");
  g_clear_pointer (&msg, json_object_unref);
  msg = kt_client_expect (c, "PONG_ERROR");
  kt_client_send (c, "LIST_USERS_REQ");
  g_clear_pointer (&msg, json_object_unref);
  msg = kt_client_expect (c, "LIST_USERS_RESP");
}

/* A client that never reads while others broadcast to it: 7010 once its
 * unsent output passes the cap, LEFT for the others, and the others are not
 * held up. */
static void
test_slow_reader (void)
{
  g_autoptr(KtServer) server = kt_server_start ("--max-line", "4096", "--max-queue-bytes", "65536", NULL);
  g_autoptr(KtClient) slow = kt_client_connect (server);
  g_autoptr(KtClient) a = NULL;
  g_autoptr(KtClient) b = NULL;
  g_autoptr(GString) text = g_string_new (NULL);
  g_autoptr(JsonObject) msg = NULL;
  int small = 4096;
  gboolean left = FALSE;
  gboolean bob_saw_left = FALSE;
  guint sent = 0;

  /* Keep the kernel from absorbing megabytes on the slow side. */
  setsockopt (g_socket_get_fd (slow->socket), SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
  msg = kt_client_expect (slow, "WELCOME");
  kt_client_send (slow, "LOGIN {\"username\":\"slow\"}");
  kt_client_expect_status (slow, "LOGIN_RESP", 0);

  a = kt_client_login (server, "alice");
  b = kt_client_login (server, "bob");
  g_clear_pointer (&msg, json_object_unref);
  msg = kt_client_expect (a, "JOINED");

  for (guint i = 0; i < 3000; i++)
    g_string_append_c (text, 'z');

  /* Up to 64 MiB in all: far more than any kernel buffers on the way. */
  while (!left && sent < 20000)
    {
      kt_client_send (a, "BROADCAST_REQ {\"message\":\"%s\"}", text->str);
      sent++;
      for (;;)
        {
          g_autofree char *line = kt_client_read_line (a);

          g_assert_nonnull (line);
          if (g_str_equal (line, "BROADCAST_RESP {\"status\":\"OK\"}"))
            break;
          g_assert_cmpstr (line, ==, "LEFT {\"username\":\"slow\"}");
          left = TRUE;
        }
      /* bob keeps reading and receives every message, and the LEFT. */
      for (;;)
        {
          g_autofree char *line = kt_client_read_line (b);

          g_assert_nonnull (line);
          if (g_str_has_prefix (line, "BROADCAST "))
            break;
          g_assert_cmpstr (line, ==, "LEFT {\"username\":\"slow\"}");
          bob_saw_left = TRUE;
        }
    }
  g_assert_true (left);
  if (!bob_saw_left)
    {
      g_clear_pointer (&msg, json_object_unref);
      msg = kt_client_expect (b, "LEFT");
    }
  kt_client_sync (b);

  /* What the slow client still gets ends with the close. */
  for (;;)
    {
      char buf[65536];
      g_autoptr(GError) error = NULL;
      gssize n = g_socket_receive (slow->socket, buf, sizeof buf, NULL, &error);

      if (n <= 0)
        break;
    }
}

/* SIGTERM: every connection, logged in or not, gets DSCN 7011 and the server
 * exits with status 0. */
static void
test_shutdown (void)
{
  g_autoptr(KtServer) server = kt_server_start (NULL);
  g_autoptr(KtClient) a = kt_client_login (server, "alice");
  g_autoptr(KtClient) b = kt_client_login (server, "bob");
  g_autoptr(KtClient) anon = kt_client_connect (server);
  g_autoptr(JsonObject) msg = kt_client_expect (a, "JOINED");

  g_clear_pointer (&msg, json_object_unref);
  msg = kt_client_expect (anon, "WELCOME");
  kt_client_sync (anon);

  g_assert_cmpint (kt_server_stop (server), ==, 0);
  kt_client_expect_dscn (a, 7011);
  kt_client_expect_dscn (b, 7011);
  kt_client_expect_dscn (anon, 7011);
}

/* Connections past --max-clients are refused with DSCN 7012 (an extension);
 * the users already there chat on. */
static void
test_max_clients (void)
{
  g_autoptr(KtServer) server = kt_server_start ("--max-clients", "2", NULL);
  g_autoptr(KtClient) a = kt_client_login (server, "alice");
  g_autoptr(KtClient) b = kt_client_login (server, "bob");
  g_autoptr(KtClient) extra = kt_client_connect (server);
  g_autoptr(JsonObject) msg = NULL;

  kt_client_expect_dscn (extra, 7012);

  kt_client_send (b, "BROADCAST_REQ {\"message\":\"still here\"}");
  kt_client_expect_status (b, "BROADCAST_RESP", 0);
  msg = kt_client_expect (a, "JOINED");
  g_clear_pointer (&msg, json_object_unref);
  msg = kt_client_expect (a, "BROADCAST");
  g_assert_cmpstr (json_object_get_string_member (msg, "message"), ==, "still here");

  /* A slot that frees up can be taken again. */
  kt_client_send (b, "BYE");
  kt_client_expect_status (b, "BYE_RESP", 0);
  kt_client_expect_eof (b);
  g_clear_pointer (&msg, json_object_unref);
  msg = kt_client_expect (a, "LEFT");
  g_clear_pointer (&b, kt_client_free);

  /* The slot is free once the server has read bob's close, which no message
   * announces: try a bounded number of times, each a full round trip. */
  for (guint attempt = 0; attempt < 200; attempt++)
    {
      g_autoptr(KtClient) c = kt_client_connect (server);
      g_autofree char *line = kt_client_read_line (c);

      g_assert_nonnull (line);
      if (g_str_has_prefix (line, "WELCOME "))
        {
          kt_client_send (c, "LOGIN {\"username\":\"carol\"}");
          kt_client_expect_status (c, "LOGIN_RESP", 0);
          return;
        }
      g_assert_cmpstr (line, ==, "DSCN {\"reason\":7012}");
    }
  g_assert_not_reached ();
}

/* A connection that connects and never speaks, and one that trickles half a
 * line, cost only their own slots. */
static void
test_silent_peers (void)
{
  g_autoptr(KtServer) server = kt_server_start (NULL);
  g_autoptr(KtClient) silent = kt_client_connect (server);
  g_autoptr(KtClient) trickle = kt_client_connect (server);
  g_autoptr(KtClient) a = kt_client_login (server, "alice");
  g_autoptr(KtClient) b = kt_client_login (server, "bob");
  g_autoptr(JsonObject) msg = NULL;

  msg = kt_client_expect (a, "JOINED");
  g_clear_pointer (&msg, json_object_unref);
  g_assert_nonnull (silent); /* connected, never speaks */
  kt_client_send_raw (trickle, "BROAD", 5);
  kt_client_send (a, "PRIVATE_MESSAGE_REQ {\"receiver\":\"bob\",\"message\":\"hi\"}");
  kt_client_expect_status (a, "PRIVATE_MESSAGE_RESP", 0);
  msg = kt_client_expect (b, "PRIVATE_MESSAGE");
  g_assert_cmpstr (json_object_get_string_member (msg, "message"), ==, "hi");
}

int
main (int    argc,
      char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/server/welcome", test_welcome);
  g_test_add_func ("/server/login/joined", test_login_joined);
  g_test_add_func ("/server/login/errors", test_login_errors);
  g_test_add_func ("/server/broadcast", test_broadcast);
  g_test_add_func ("/server/order-across-fan-out", test_order_across_fan_out);
  g_test_add_func ("/server/not-logged-in", test_not_logged_in);
  g_test_add_func ("/server/unknown-command", test_unknown_command);
  g_test_add_func ("/server/parse-error", test_parse_error);
  g_test_add_func ("/server/framing", test_framing);
  g_test_add_func ("/server/line-limit", test_line_limit);
  g_test_add_func ("/server/bye", test_bye);
  g_test_add_func ("/server/left-on-close-and-reset", test_left_on_close_and_reset);
  g_test_add_func ("/server/heartbeat", test_heartbeat);
  g_test_add_func ("/server/pong-error", test_pong_error);
  g_test_add_func ("/server/slow-reader", test_slow_reader);
  g_test_add_func ("/server/shutdown", test_shutdown);
  g_test_add_func ("/server/max-clients", test_max_clients);
  g_test_add_func ("/server/silent-peers", test_silent_peers);

  return g_test_run ();
}
