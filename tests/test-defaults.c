/* test-defaults.c
 *
 * Copyright 2026 The Kletsen authors
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

/* Clients at the timers people run: the server on its defaults (PING every
 * 10 s, 3 s to answer), sessions on theirs, and kletsen-cli as a user starts
 * it. Three idle users stay logged in for 35 s, through three rounds of
 * PING, with one login each; the others never see one of them leave. Every
 * other test shortens the timers, which is where the client's old 10 s I/O
 * timeout hid: it raced the server's first PING. This one waits because a
 * timer is what it tests. */

#include "config.h"

#include <signal.h>
#include <string.h>

#include "kletsen-protocol.h"
#include "kletsen-session.h"
#include "kletsen-test-util.h"

#define IDLE_SECONDS 35

typedef struct
{
  guint logins;     /* times the session came online */
  guint offline;    /* times it left the online state */
  gboolean online;
} Watch;

static void
state_cb (KletsenSession *session,
          GParamSpec     *pspec,
          Watch          *watch)
{
  gboolean online = kletsen_session_get_state (session) == KLETSEN_SESSION_ONLINE;

  if (online && !watch->online)
    watch->logins++;
  if (!online && watch->online)
    watch->offline++;
  watch->online = online;
}

static char *
cert (const char *name)
{
  return g_test_build_filename (G_TEST_DIST, "certs", name, NULL);
}

static KletsenSession *
start_session (guint16       port,
               guint16       file_port,
               const char   *name,
               const char   *dir,
               GTlsDatabase *db,
               Watch        *watch)
{
  KletsenSession *session = kletsen_session_new (dir);
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GError) error = NULL;

  /* No kletsen_session_set_heartbeat (): the defaults, as the app has them. */
  kletsen_session_set_file_port (session, file_port);
  if (db != NULL)
    kletsen_session_set_tls (session, TRUE, db);
  g_signal_connect (session, "notify::state", G_CALLBACK (state_cb), watch);
  kletsen_session_connect_async (session, "127.0.0.1", port, name, NULL, kt_store_result_cb, &result);
  KT_RUN_UNTIL (result != NULL);
  g_assert_true (kletsen_session_connect_finish (session, result, &error));
  g_assert_no_error (error);
  return session;
}

/* The room's system lines that say someone left or joined. */
static guint
count_lines (KletsenConversation *room,
             const char          *text)
{
  guint n = 0;

  for (guint i = 0; i < g_list_model_get_n_items (G_LIST_MODEL (room)); i++)
    {
      g_autoptr(KletsenChatMessage) m = g_list_model_get_item (G_LIST_MODEL (room), i);

      if (kletsen_chat_message_get_kind (m) == KLETSEN_MESSAGE_KIND_SYSTEM &&
          g_str_equal (kletsen_chat_message_get_text (m), text))
        n++;
    }
  return n;
}

static gboolean
done_cb (gpointer user_data)
{
  *(gboolean *)user_data = TRUE;
  return G_SOURCE_REMOVE;
}

static void
test_idle_at_defaults (void)
{
  g_autofree char *pem = cert ("server.pem");
  g_autofree char *key = cert ("server-key.pem");
  g_autofree char *ca = cert ("ca.pem");
  g_autoptr(KtServer) server = kt_server_start ("--tls-cert", pem, "--tls-key", key, NULL);
  g_autoptr(GError) error = NULL;
  g_autoptr(GTlsDatabase) db = g_tls_file_database_new (ca, &error);
  g_autofree char *dir_a = g_dir_make_tmp ("kletsen-defaults-XXXXXX", NULL);
  g_autofree char *dir_b = g_dir_make_tmp ("kletsen-defaults-XXXXXX", NULL);
  g_autofree char *dir_c = g_dir_make_tmp ("kletsen-defaults-XXXXXX", NULL);
  g_autofree char *dir_d = g_dir_make_tmp ("kletsen-defaults-XXXXXX", NULL);
  g_autofree char *port = g_strdup_printf ("%u", server->port);
  g_autoptr(KletsenSession) alice = NULL;
  g_autoptr(KletsenSession) bob = NULL;
  g_autoptr(GSubprocess) carol = NULL;
  g_autoptr(KletsenSession) check = NULL;
  KletsenConversation *room;
  Watch watch_alice = { 0 }, watch_bob = { 0 }, watch_check = { 0 };
  gboolean done = FALSE;

  g_assert_no_error (error);
  alice = start_session (server->port, server->file_port, "alice", dir_a, NULL, &watch_alice);
  bob = start_session (server->tls_port, server->tls_file_port, "bob", dir_b, db, &watch_bob);
  KT_RUN_UNTIL (kletsen_session_is_online (alice, "bob"));

  /* carol is kletsen-cli as a user runs it: `listen`, defaults throughout. */
  carol = g_subprocess_new (G_SUBPROCESS_FLAGS_STDOUT_SILENCE, &error, g_getenv ("KLETSEN_CLI"),
                            "--port", port, "--name", "carol", "--data-dir", dir_c, "listen", NULL);
  g_assert_no_error (error);
  KT_RUN_UNTIL (kletsen_session_is_online (alice, "carol") && kletsen_session_is_online (bob, "carol"));

  room = kletsen_session_get_everyone (alice);
  /* KLETSEN_IDLE_SECONDS makes it a longer soak, for a run by hand. */
  g_timeout_add_seconds (g_getenv ("KLETSEN_IDLE_SECONDS") ? (guint)g_ascii_strtoull (g_getenv ("KLETSEN_IDLE_SECONDS"), NULL, 10)
                                                          : IDLE_SECONDS,
                         done_cb, &done);
  while (!done)
    {
      g_main_context_iteration (NULL, TRUE);
      /* Nobody may drop, not even for a moment. */
      g_assert_true (kletsen_session_is_online (alice, "bob") && kletsen_session_is_online (alice, "carol"));
      g_assert_true (kletsen_session_is_online (bob, "alice") && kletsen_session_is_online (bob, "carol"));
    }

  g_assert_cmpuint (watch_alice.logins, ==, 1);
  g_assert_cmpuint (watch_alice.offline, ==, 0);
  g_assert_cmpuint (watch_bob.logins, ==, 1);
  g_assert_cmpuint (watch_bob.offline, ==, 0);
  g_assert_cmpuint (count_lines (room, "bob left"), ==, 0);
  g_assert_cmpuint (count_lines (room, "carol left"), ==, 0);
  g_assert_cmpuint (count_lines (room, "carol joined"), ==, 1);
  g_assert_cmpuint (count_lines (kletsen_session_get_everyone (bob), "alice left"), ==, 0);
  g_assert_cmpuint (count_lines (kletsen_session_get_everyone (bob), "carol joined"), ==, 1);
  g_assert_nonnull (g_subprocess_get_identifier (carol)); /* still running */

  /* A newcomer sees all three: the server kept them too. */
  check = start_session (server->port, server->file_port, "dave", dir_d, NULL, &watch_check);
  KT_RUN_UNTIL (kletsen_session_is_online (check, "carol"));
  g_assert_true (kletsen_session_is_online (check, "alice") && kletsen_session_is_online (check, "bob"));

  g_subprocess_send_signal (carol, SIGTERM);
  g_subprocess_wait (carol, NULL, NULL);
  kletsen_session_disconnect (check);
  kletsen_session_disconnect (alice);
  kletsen_session_disconnect (bob);
  kt_remove_tree (dir_a);
  kt_remove_tree (dir_b);
  kt_remove_tree (dir_c);
  kt_remove_tree (dir_d);
}

int
main (int    argc,
      char **argv)
{
  g_setenv ("LC_ALL", "C", TRUE);
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/defaults/idle-35s", test_idle_at_defaults);
  return g_test_run ();
}
