/* test-cluster-client.c
 *
 * Copyright 2026 The Kletsen authors
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

/* The client side of a cluster: a session given the nodes as a list of
 * servers skips one that cannot be reached, and when its node dies it logs
 * in again on another one, under the same name. */

#include "config.h"

#include <signal.h>
#include <string.h>

#include "kletsen-protocol.h"
#include "kletsen-session.h"
#include "kletsen-test-redis.h"

static char *
server_address (guint16 port)
{
  return g_strdup_printf ("127.0.0.1:%u", port);
}

static KtServer *
start_node (KtRedis    *redis,
            const char *name)
{
  return kt_server_start ("--cluster", redis->address, "--node-name", name,
                          "--cluster-heartbeat-ms", "200", "--cluster-dead-ms", "1000",
                          "--ping-interval-ms", "500", "--pong-timeout-ms", "500", NULL);
}

static void
test_failover (void)
{
  g_autoptr(KtRedis) redis = NULL;
  g_autoptr(KtServer) n1 = NULL;
  g_autoptr(KtServer) n2 = NULL;
  g_autoptr(KletsenSession) session = NULL;
  g_autoptr(KtClient) watcher = NULL;
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *dir = g_dir_make_tmp ("kletsen-cluster-client-XXXXXX", NULL);
  g_autoptr(GSocket) holder = NULL;
  g_autofree char *dead = server_address (kt_refused_port (&holder));
  g_autofree char *a1 = NULL;
  g_autofree char *a2 = NULL;
  g_autoptr(KtServer) victim = NULL;
  g_autofree char *here = NULL;
  g_autofree char *there = NULL;
  gboolean on_n1;

  if (!kt_redis_available ())
    {
      g_test_skip ("redis-server is not installed (build-aux/dev.sh installs it)");
      return;
    }
  redis = kt_redis_start ();
  n1 = start_node (redis, "n1");
  n2 = start_node (redis, "n2");
  a1 = server_address (n1->port);
  a2 = server_address (n2->port);

  session = kletsen_session_new (dir);
  kletsen_session_set_heartbeat (session, 500, 500);
  kletsen_session_set_servers (session, (const char *[]) { dead, a1, a2, NULL });
  kletsen_session_connect_async (session, "cluster.example", 1337, "roamer", NULL, kt_store_result_cb, &result);
  KT_RUN_UNTIL (result != NULL);
  g_assert_true (kletsen_session_connect_finish (session, result, &error));
  g_assert_no_error (error);
  g_clear_object (&result);

  /* The dead address was skipped. Watch from the other node, and kill
   * the session's own. */
  here = kletsen_session_get_server_address (session);
  g_assert_true (g_strcmp0 (here, a1) == 0 || g_strcmp0 (here, a2) == 0);
  on_n1 = g_strcmp0 (here, a1) == 0;
  watcher = kt_client_login (on_n1 ? n2 : n1, "watcher");
  victim = on_n1 ? g_steal_pointer (&n1) : g_steal_pointer (&n2);
  kill (kt_server_pid (victim), SIGKILL);
  g_subprocess_wait (victim->process, NULL, NULL);
  g_clear_pointer (&victim, kt_server_free);

  /* Offline, then online again on the survivor, as roamer. */
  KT_RUN_UNTIL (kletsen_session_get_state (session) != KLETSEN_SESSION_ONLINE);
  KT_RUN_UNTIL (kletsen_session_get_state (session) == KLETSEN_SESSION_ONLINE);
  g_assert_cmpstr (kletsen_session_get_username (session), ==, "roamer");
  there = kletsen_session_get_server_address (session);
  g_assert_cmpstr (there, ==, on_n1 ? a2 : a1);
  for (;;)
    {
      g_autofree char *line = kt_client_read_line (watcher);

      g_assert_nonnull (line);
      if (g_str_has_prefix (line, "JOINED ") && strstr (line, "\"roamer\"") != NULL)
        break;
    }
  kletsen_session_disconnect (session);
  kt_remove_tree (dir);
}

int
main (int    argc,
      char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/cluster-client/failover", test_failover);
  return g_test_run ();
}
