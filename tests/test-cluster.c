/* test-cluster.c
 *
 * Copyright 2026 The Kletsen authors
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

/* Cluster mode (docs/cluster.md) with real processes: one redis-server on a
 * Unix socket of the test's own, three kletsen-server nodes on loopback
 * ports, clients on each. Nodes run with short cluster timers (heartbeat
 * 200 ms, dead after 1 s) except in /cluster/defaults. */

#include "config.h"

#include <signal.h>
#include <string.h>

#include "kletsen-protocol.h"
#include "kletsen-test-redis.h"

#define N_NODES 3

typedef struct
{
  KtRedis  *redis;
  KtServer *node[N_NODES];
} Cluster;

static KtServer *
start_node (KtRedis    *redis,
            guint       i,
            gboolean    defaults)
{
  g_autofree char *name = g_strdup_printf ("n%u", i + 1);

  if (defaults)
    return kt_server_start ("--cluster", redis->address, "--node-name", name, NULL);
  return kt_server_start ("--cluster", redis->address, "--node-name", name,
                          "--cluster-heartbeat-ms", "200", "--cluster-dead-ms", "1000",
                          "--ping-interval-ms", "600000", "--join-window-ms", "800",
                          "--game-cooldown-ms", "0", NULL);
}

static Cluster *
cluster_start (gboolean defaults)
{
  Cluster *cluster = g_new0 (Cluster, 1);

  cluster->redis = kt_redis_start ();
  for (guint i = 0; i < N_NODES; i++)
    {
      cluster->node[i] = start_node (cluster->redis, i, defaults);
      g_assert_nonnull (cluster->node[i]->incarnation);
    }
  return cluster;
}

static void
cluster_free (Cluster *cluster)
{
  for (guint i = 0; i < N_NODES; i++)
    if (cluster->node[i] != NULL)
      {
        kill (kt_server_pid (cluster->node[i]), SIGCONT);
        kt_server_free (cluster->node[i]);
      }
  kt_redis_free (cluster->redis);
  g_free (cluster);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (Cluster, cluster_free)

static gboolean
skip_without_redis (void)
{
  if (kt_redis_available ())
    return FALSE;
  g_test_skip ("redis-server is not installed (build-aux/dev.sh installs it)");
  return TRUE;
}

static KtClient *
login_expecting (KtServer   *node,
                 const char *name,
                 int         code)
{
  KtClient *client = kt_client_connect (node);

  json_object_unref (kt_client_expect (client, "WELCOME"));
  kt_client_send (client, "LOGIN {\"username\":\"%s\"}", name);
  kt_client_expect_status (client, "LOGIN_RESP", code);
  client->name = g_strdup (name);
  return client;
}

/* The next message must be @header about user @name. */
static void
expect_user (KtClient   *client,
             const char *header,
             const char *name)
{
  g_autoptr(JsonObject) body = kt_client_expect (client, header);

  g_assert_cmpstr (json_object_get_string_member (body, "username"), ==, name);
}

static void
expect_broadcast (KtClient   *client,
                  const char *from,
                  const char *text)
{
  g_autoptr(JsonObject) body = kt_client_expect (client, "BROADCAST");

  g_assert_cmpstr (json_object_get_string_member (body, "username"), ==, from);
  g_assert_cmpstr (json_object_get_string_member (body, "message"), ==, text);
}

static char *
list_users (KtClient *client)
{
  g_autoptr(JsonObject) body = NULL;
  g_autoptr(GString) names = g_string_new (NULL);
  JsonArray *users;

  kt_client_send (client, "LIST_USERS_REQ");
  body = kt_client_expect (client, "LIST_USERS_RESP");
  users = json_object_get_array_member (body, "users");
  for (guint i = 0; i < json_array_get_length (users); i++)
    g_string_append_printf (names, "%s%s", i ? "," : "", json_array_get_string_element (users, i));
  return g_strdup (names->str);
}

/* A name is unique across nodes, case-insensitively; after BYE it is free
 * on any node; logins racing on three nodes get exactly one OK. */
static void
test_names (void)
{
  g_autoptr(Cluster) cluster = NULL;
  g_autoptr(KtClient) alice = NULL;
  g_autoptr(KtClient) other = NULL;
  g_autoptr(KtClient) again = NULL;

  if (skip_without_redis ())
    return;
  cluster = cluster_start (FALSE);
  alice = login_expecting (cluster->node[0], "alice", 0);
  other = login_expecting (cluster->node[1], "ALICE", KLETSEN_CODE_NAME_TAKEN);
  kt_client_send (alice, "BYE");
  kt_client_expect_status (alice, "BYE_RESP", 0);
  again = login_expecting (cluster->node[2], "Alice", 0);

  for (guint round = 0; round < 30; round++)
    {
      KtClient *racer[N_NODES];
      g_autofree char *name = g_strdup_printf ("race%u", round);
      guint ok = 0;

      for (guint i = 0; i < N_NODES; i++)
        {
          racer[i] = kt_client_connect (cluster->node[i]);
          json_object_unref (kt_client_expect (racer[i], "WELCOME"));
        }
      for (guint i = 0; i < N_NODES; i++)
        kt_client_send (racer[i], "LOGIN {\"username\":\"%s\"}", name);
      for (guint i = 0; i < N_NODES; i++)
        {
          g_autoptr(JsonObject) body = kt_client_expect (racer[i], "LOGIN_RESP");

          if (g_strcmp0 (json_object_get_string_member (body, "status"), "OK") == 0)
            ok++;
          else
            g_assert_cmpint (json_object_get_int_member (body, "code"), ==, KLETSEN_CODE_NAME_TAKEN);
        }
      g_assert_cmpuint (ok, ==, 1);
      for (guint i = 0; i < N_NODES; i++)
        kt_client_free (racer[i]);
    }
}

/* BYE_RESP means the name is free on every node: the same user, logging in
 * again at once on the next node, gets OK every time. Before, BYE_RESP went
 * out before the release reached Redis, and a quick login elsewhere got
 * 5000 now and then (about one run in sixty of /cluster/names, side by side). */
static void
test_bye_frees_name (void)
{
  g_autoptr(Cluster) cluster = NULL;

  if (skip_without_redis ())
    return;
  cluster = cluster_start (FALSE);
  for (guint round = 0; round < 150; round++)
    {
      KtClient *dora = login_expecting (cluster->node[round % N_NODES], round % 2 ? "Dora" : "dora", 0);

      kt_client_send (dora, "BYE");
      kt_client_expect_status (dora, "BYE_RESP", 0);
      kt_client_expect_eof (dora);
      kt_client_free (dora);
    }
}

/* Two senders on two nodes, receivers on all three: every receiver sees
 * the same sequence, and each sender a BROADCAST_RESP per message. */
static void
test_broadcast_order (void)
{
  g_autoptr(Cluster) cluster = NULL;
  KtClient *sender[2], *receiver[N_NODES];
  g_autoptr(GPtrArray) first = g_ptr_array_new_with_free_func (g_free);
  const guint n = 300;

  if (skip_without_redis ())
    return;
  cluster = cluster_start (FALSE);
  for (guint i = 0; i < N_NODES; i++)
    {
      g_autofree char *name = g_strdup_printf ("recv%u", i);

      receiver[i] = login_expecting (cluster->node[i], name, 0);
    }
  sender[0] = login_expecting (cluster->node[0], "send0", 0);
  sender[1] = login_expecting (cluster->node[1], "send1", 0);
  /* Everyone has seen every JOINED once the senders have each other's. */
  for (guint i = 0; i < N_NODES; i++)
    {
      for (guint j = i + 1; j < N_NODES; j++)
        json_object_unref (kt_client_expect (receiver[i], "JOINED"));
      kt_client_drain (receiver[i], "JOINED", 2);
    }
  expect_user (sender[0], "JOINED", "send1");

  for (guint k = 0; k < n; k++)
    for (guint s = 0; s < 2; s++)
      kt_client_send (sender[s], "BROADCAST_REQ {\"message\":\"%u-%u\"}", s, k);
  for (guint s = 0; s < 2; s++)
    {
      guint resps = 0, others = 0;

      while (resps < n || others < n)
        {
          g_autofree char *line = kt_client_read_line (sender[s]);

          g_assert_nonnull (line);
          if (g_str_has_prefix (line, "BROADCAST_RESP {\"status\":\"OK\"}"))
            resps++;
          else if (g_str_has_prefix (line, "BROADCAST "))
            {
              g_assert_null (strstr (line, s == 0 ? "\"send0\"" : "\"send1\""));
              others++;
            }
          else
            g_error ("sender %u got %s", s, line);
        }
    }
  for (guint i = 0; i < N_NODES; i++)
    for (guint k = 0; k < 2 * n; k++)
      {
        g_autoptr(JsonObject) body = kt_client_expect (receiver[i], "BROADCAST");
        const char *text = json_object_get_string_member (body, "message");

        if (i == 0)
          g_ptr_array_add (first, g_strdup (text));
        else
          g_assert_cmpstr (text, ==, g_ptr_array_index (first, k));
      }
  for (guint i = 0; i < N_NODES; i++)
    kt_client_free (receiver[i]);
  kt_client_free (sender[0]);
  kt_client_free (sender[1]);
}

/* JOINED and LEFT across nodes, and LIST_USERS on every node the union of
 * all, sorted as on one server. */
static void
test_joined_left_list (void)
{
  g_autoptr(Cluster) cluster = NULL;
  g_autoptr(KtClient) bob = NULL;
  g_autoptr(KtClient) carol = NULL;
  g_autoptr(KtClient) dave = NULL;
  KtClient *amy;

  if (skip_without_redis ())
    return;
  cluster = cluster_start (FALSE);
  carol = login_expecting (cluster->node[0], "carol", 0);
  bob = login_expecting (cluster->node[1], "Bob", 0);
  expect_user (carol, "JOINED", "Bob");
  amy = login_expecting (cluster->node[2], "amy", 0);
  expect_user (carol, "JOINED", "amy");
  expect_user (bob, "JOINED", "amy");
  dave = login_expecting (cluster->node[2], "dave", 0);
  expect_user (carol, "JOINED", "dave");
  expect_user (bob, "JOINED", "dave");
  expect_user (amy, "JOINED", "dave");
  for (guint i = 0; i < N_NODES; i++)
    {
      KtClient *asker = i == 0 ? carol : i == 1 ? bob : dave;
      g_autofree char *names = list_users (asker);

      g_assert_cmpstr (names, ==, "amy,Bob,carol,dave");
    }
  kt_client_free (amy);
  expect_user (carol, "LEFT", "amy");
  expect_user (bob, "LEFT", "amy");
  expect_user (dave, "LEFT", "amy");
  {
    g_autofree char *names = list_users (bob);

    g_assert_cmpstr (names, ==, "Bob,carol,dave");
  }
}

/* Private and secure messages to a user on another node: the same replies
 * as on one server, the name fields stamped by the sender's node, and one
 * sender's DMs and broadcasts in the order sent. */
static void
test_private (void)
{
  g_autoptr(Cluster) cluster = NULL;
  g_autoptr(KtClient) ann = NULL;
  g_autoptr(KtClient) ben = NULL;
  g_autoptr(JsonObject) body = NULL;

  if (skip_without_redis ())
    return;
  cluster = cluster_start (FALSE);
  ann = login_expecting (cluster->node[0], "ann", 0);
  ben = login_expecting (cluster->node[2], "ben", 0);
  expect_user (ann, "JOINED", "ben");

  kt_client_send (ann, "PRIVATE_MESSAGE_REQ {\"receiver\":\"BEN\",\"message\":\"psst\"}");
  kt_client_expect_status (ann, "PRIVATE_MESSAGE_RESP", 0);
  body = kt_client_expect (ben, "PRIVATE_MESSAGE");
  g_assert_cmpstr (json_object_get_string_member (body, "sender"), ==, "ann");
  g_assert_cmpstr (json_object_get_string_member (body, "message"), ==, "psst");
  g_clear_pointer (&body, json_object_unref);

  kt_client_send (ann, "PRIVATE_MESSAGE_REQ {\"receiver\":\"nobody\",\"message\":\"x\"}");
  kt_client_expect_status (ann, "PRIVATE_MESSAGE_RESP", KLETSEN_CODE_RECIPIENT_NOT_FOUND);
  kt_client_send (ann, "PRIVATE_MESSAGE_REQ {\"receiver\":\"Ann\",\"message\":\"x\"}");
  kt_client_expect_status (ann, "PRIVATE_MESSAGE_RESP", KLETSEN_CODE_MESSAGE_TO_SELF);
  kt_client_send (ann, "PRIVATE_MESSAGE_REQ {\"receiver\":\"ben\",\"message\":\"  \"}");
  kt_client_expect_status (ann, "PRIVATE_MESSAGE_RESP", KLETSEN_CODE_EMPTY_MESSAGE);

  /* The three steps of §5; a lying name field is replaced by the login. */
  kt_client_send (ann, "SECURE_MESSAGE_REQ {\"receiver\":\"ben\",\"sender\":\"ben\",\"publicKey\":\"AAAA\"}");
  body = kt_client_expect (ben, "SECURE_MESSAGE_REQ");
  g_assert_cmpstr (json_object_get_string_member (body, "sender"), ==, "ann");
  g_assert_cmpstr (json_object_get_string_member (body, "publicKey"), ==, "AAAA");
  g_clear_pointer (&body, json_object_unref);
  kt_client_send (ben, "SECURE_MESSAGE_RES {\"sender\":\"ann\",\"publicKey\":\"BBBB\"}");
  body = kt_client_expect (ann, "SECURE_MESSAGE_RES");
  g_assert_cmpstr (json_object_get_string_member (body, "receiver"), ==, "ben");
  g_assert_cmpstr (json_object_get_string_member (body, "publicKey"), ==, "BBBB");
  g_clear_pointer (&body, json_object_unref);
  kt_client_send (ann, "SECURE_MESSAGE {\"receiver\":\"ben\",\"sessionKey\":\"S\",\"message\":\"M\",\"counter\":1}");
  body = kt_client_expect (ben, "SECURE_MESSAGE");
  g_assert_cmpstr (json_object_get_string_member (body, "sender"), ==, "ann");
  g_assert_cmpstr (json_object_get_string_member (body, "message"), ==, "M");
  g_assert_cmpint (json_object_get_int_member (body, "counter"), ==, 1);
  g_clear_pointer (&body, json_object_unref);
  kt_client_send (ann, "SECURE_MESSAGE_REQ {\"receiver\":\"nobody\",\"publicKey\":\"AAAA\"}");
  kt_client_expect_status (ann, "SECURE_MESSAGE_RES", KLETSEN_CODE_RECIPIENT_NOT_FOUND);

  /* Per-sender order across a node's two channels. */
  for (guint k = 0; k < 200; k++)
    {
      if (k % 2 == 0)
        kt_client_send (ann, "PRIVATE_MESSAGE_REQ {\"receiver\":\"ben\",\"message\":\"%u\"}", k);
      else
        kt_client_send (ann, "BROADCAST_REQ {\"message\":\"%u\"}", k);
    }
  for (guint k = 0; k < 200; k++)
    {
      g_autofree char *expected = g_strdup_printf ("%u", k);

      body = kt_client_expect (ben, k % 2 == 0 ? "PRIVATE_MESSAGE" : "BROADCAST");
      g_assert_cmpstr (json_object_get_string_member (body, "message"), ==, expected);
      g_clear_pointer (&body, json_object_unref);
    }
}

/* Reads @client until a BROADCAST of @marker, counting LEFT lines per
 * name into @left. */
static void
collect_until_marker (KtClient   *client,
                      const char *marker,
                      GHashTable *left)
{
  for (;;)
    {
      g_autofree char *line = kt_client_read_line (client);
      g_autoptr(JsonNode) node = NULL;
      JsonObject *body;

      g_assert_nonnull (line);
      if (g_str_has_prefix (line, "BROADCAST_RESP") || g_str_has_prefix (line, "JOINED "))
        continue;
      node = json_from_string (strchr (line, ' ') + 1, NULL);
      g_assert_nonnull (node);
      body = json_node_get_object (node);
      if (g_str_has_prefix (line, "BROADCAST ") &&
          g_strcmp0 (json_object_get_string_member (body, "message"), marker) == 0)
        return;
      g_assert_true (g_str_has_prefix (line, "LEFT "));
      g_hash_table_insert (left, g_strdup (json_object_get_string_member (body, "username")),
                           GUINT_TO_POINTER (GPOINTER_TO_UINT (g_hash_table_lookup (left, json_object_get_string_member (body, "username"))) + 1));
    }
}

/* kill -9 of a node with 20 users: the others' users get exactly one LEFT
 * for each, within 5 s, and its names can be taken at once. */
static void
test_node_killed (void)
{
  g_autoptr(Cluster) cluster = NULL;
  g_autoptr(GPtrArray) victims = g_ptr_array_new_with_free_func ((GDestroyNotify)kt_client_free);
  g_autoptr(KtClient) one = NULL;
  g_autoptr(KtClient) three = NULL;
  g_autoptr(KtClient) back = NULL;
  g_autoptr(GHashTable) left_one = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  g_autoptr(GHashTable) left_three = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  gint64 start;

  if (skip_without_redis ())
    return;
  cluster = cluster_start (FALSE);
  one = login_expecting (cluster->node[0], "one", 0);
  three = login_expecting (cluster->node[2], "three", 0);
  expect_user (one, "JOINED", "three");
  for (guint i = 0; i < 20; i++)
    {
      g_autofree char *name = g_strdup_printf ("v%02u", i);

      g_ptr_array_add (victims, login_expecting (cluster->node[1], name, 0));
      expect_user (one, "JOINED", name);
      expect_user (three, "JOINED", name);
    }

  start = g_get_monotonic_time ();
  g_subprocess_send_signal (cluster->node[1]->process, SIGKILL);
  g_subprocess_wait (cluster->node[1]->process, NULL, NULL);
  g_clear_pointer (&cluster->node[1], kt_server_free);

  /* Its users come back elsewhere at once: the holder's process is gone. */
  back = login_expecting (cluster->node[0], "v07", 0);
  g_assert_cmpint (g_get_monotonic_time () - start, <, 2 * G_USEC_PER_SEC);

  /* A marker sent after the reaper must have run: everything before it is
   * what users saw of the death. */
  while (g_get_monotonic_time () - start < 1500 * 1000)
    g_usleep (100 * 1000);
  kt_client_send (three, "BROADCAST_REQ {\"message\":\"marker\"}");
  collect_until_marker (one, "marker", left_one);
  g_assert_cmpint (g_get_monotonic_time () - start, <, 5 * G_USEC_PER_SEC);
  kt_client_send (one, "BROADCAST_REQ {\"message\":\"marker2\"}");
  collect_until_marker (three, "marker2", left_three);
  g_assert_cmpuint (g_hash_table_size (left_one), ==, 20);
  g_assert_cmpuint (g_hash_table_size (left_three), ==, 20);
  for (guint i = 0; i < 20; i++)
    {
      g_autofree char *name = g_strdup_printf ("v%02u", i);

      g_assert_cmpuint (GPOINTER_TO_UINT (g_hash_table_lookup (left_one, name)), ==, 1);
      g_assert_cmpuint (GPOINTER_TO_UINT (g_hash_table_lookup (left_three, name)), ==, 1);
    }
  {
    g_autofree char *names = list_users (three);

    g_assert_cmpstr (names, ==, "one,three,v07");
  }
}

/* SIGTERM: the node's users get 7011 and leave everywhere else at once,
 * well before dead_ms. */
static void
test_node_stopped (void)
{
  g_autoptr(Cluster) cluster = NULL;
  g_autoptr(KtClient) stay = NULL;
  g_autoptr(KtClient) going = NULL;
  gint64 start;

  if (skip_without_redis ())
    return;
  cluster = cluster_start (FALSE);
  stay = login_expecting (cluster->node[0], "stay", 0);
  going = login_expecting (cluster->node[1], "going", 0);
  expect_user (stay, "JOINED", "going");
  start = g_get_monotonic_time ();
  kt_server_terminate (cluster->node[1]);
  kt_client_expect_dscn (going, KLETSEN_CODE_SERVER_SHUTDOWN);
  expect_user (stay, "LEFT", "going");
  g_assert_cmpint (g_get_monotonic_time () - start, <, G_USEC_PER_SEC);
  g_assert_cmpint (kt_server_stop (cluster->node[1]), ==, 0);
  g_clear_pointer (&cluster->node[1], kt_server_free);
  g_clear_pointer (&going, kt_client_free);
  going = login_expecting (cluster->node[2], "going", 0);
}

/* Sends broadcasts from @from until one reaches @to; returns how long. */
static gint64
until_cross_node (KtClient *from,
                  KtClient *to)
{
  gint64 start = g_get_monotonic_time ();

  kt_client_set_timeout (to, 1);
  for (guint k = 0; k < 100; k++)
    {
      g_autofree char *text = g_strdup_printf ("probe%u", k);
      g_autoptr(GError) error = NULL;
      char *line;

      kt_client_send (from, "BROADCAST_REQ {\"message\":\"%s\"}", text);
      kt_client_expect_status (from, "BROADCAST_RESP", 0);
      /* Read what came within a second: a probe line means it works. */
      while (g_socket_condition_timed_wait (to->socket, G_IO_IN, 300 * 1000, NULL, &error) ||
             to->buffer->len > 0)
        {
          line = kt_client_read_line (to);
          g_assert_nonnull (line);
          g_assert_false (g_str_has_prefix (line, "LEFT ") || g_str_has_prefix (line, "JOINED "));
          if (strstr (line, text) != NULL)
            {
              g_free (line);
              kt_client_set_timeout (to, 10);
              return g_get_monotonic_time () - start;
            }
          g_free (line);
        }
    }
  g_error ("cross-node delivery did not come back");
}

/* CLIENT KILL of every subscription (socket.io#4845, synapse#9351): the
 * nodes notice and resubscribe, and nobody sees anyone leave. */
static void
test_subscription_killed (void)
{
  g_autoptr(Cluster) cluster = NULL;
  g_autoptr(KtClient) a = NULL;
  g_autoptr(KtClient) b = NULL;
  g_autofree char *killed = NULL;
  g_autofree char *names = NULL;

  if (skip_without_redis ())
    return;
  cluster = cluster_start (FALSE);
  a = login_expecting (cluster->node[0], "a_one", 0);
  b = login_expecting (cluster->node[1], "b_two", 0);
  expect_user (a, "JOINED", "b_two");
  killed = kt_redis_command (cluster->redis, "CLIENT KILL TYPE pubsub");
  g_assert_cmpstr (killed, ==, ":3");
  g_assert_cmpint (until_cross_node (a, b), <, 2 * G_USEC_PER_SEC);
  names = list_users (b);
  g_assert_cmpstr (names, ==, "a_one,b_two");
}

/* Redis restarts with an empty dataset: logins meanwhile get 5003, then
 * the nodes rejoin and re-claim; cross-node chat works again within 5 s,
 * with no JOINED or LEFT for anyone, and the names are still unique. */
static void
test_redis_restart (void)
{
  g_autoptr(Cluster) cluster = NULL;
  g_autoptr(KtClient) a = NULL;
  g_autoptr(KtClient) b = NULL;
  g_autoptr(KtClient) gap = NULL;
  g_autoptr(KtClient) dup = NULL;
  g_autofree char *names = NULL;

  if (skip_without_redis ())
    return;
  cluster = cluster_start (FALSE);
  a = login_expecting (cluster->node[0], "a_one", 0);
  b = login_expecting (cluster->node[1], "b_two", 0);
  expect_user (a, "JOINED", "b_two");
  kt_redis_kill (cluster->redis);
  gap = login_expecting (cluster->node[2], "gap", KLETSEN_CODE_CLUSTER_UNAVAILABLE);
  /* Local chat goes on while degraded. */
  kt_client_send (a, "LIST_USERS_REQ");
  json_object_unref (kt_client_expect (a, "LIST_USERS_RESP"));
  kt_redis_restart (cluster->redis);
  g_assert_cmpint (until_cross_node (a, b), <, 5 * G_USEC_PER_SEC);
  names = list_users (b);
  g_assert_cmpstr (names, ==, "a_one,b_two");
  dup = login_expecting (cluster->node[2], "A_ONE", KLETSEN_CODE_NAME_TAKEN);
}

/* Split brain: n2 stops answering (SIGSTOP) past dead_ms, so the others
 * reap it and one of its names is taken on n1. When n2 comes back, that
 * user of n2 gets DSCN 7015; its other user is announced again. */
static void
test_split_brain (void)
{
  g_autoptr(Cluster) cluster = NULL;
  g_autoptr(KtClient) watcher = NULL;
  g_autoptr(KtClient) twin = NULL;
  g_autoptr(KtClient) other = NULL;
  g_autoptr(KtClient) usurper = NULL;
  GPid pid;

  if (skip_without_redis ())
    return;
  cluster = cluster_start (FALSE);
  watcher = login_expecting (cluster->node[0], "watcher", 0);
  twin = login_expecting (cluster->node[1], "twin", 0);
  other = login_expecting (cluster->node[1], "other", 0);
  expect_user (twin, "JOINED", "other");
  expect_user (watcher, "JOINED", "twin");
  expect_user (watcher, "JOINED", "other");

  pid = kt_server_pid (cluster->node[1]);
  kill (pid, SIGSTOP);
  /* Within dead_ms + a heartbeat, n2's users leave for everyone else. */
  expect_user (watcher, "LEFT", "other");
  expect_user (watcher, "LEFT", "twin");
  usurper = login_expecting (cluster->node[0], "twin", 0);
  expect_user (watcher, "JOINED", "twin");

  kill (pid, SIGCONT);
  kt_client_expect_dscn (twin, KLETSEN_CODE_NAME_TAKEN_ELSEWHERE);
  expect_user (watcher, "JOINED", "other");
  expect_user (usurper, "JOINED", "other");
  {
    g_autofree char *names = list_users (usurper);

    g_assert_cmpstr (names, ==, "other,twin,watcher");
  }
  /* On n2 its own twin left, and the other twin is announced. */
  expect_user (other, "LEFT", "twin");
  expect_user (other, "JOINED", "twin");
  kt_client_sync (other);
  {
    g_autofree char *names = list_users (other);

    g_assert_cmpstr (names, ==, "other,twin,watcher");
  }
}

/* The next message with @header; game lines of others on the way are
 * skipped. */
static JsonObject *
next_of (KtClient   *client,
         const char *header)
{
  for (;;)
    {
      g_autofree char *line = kt_client_read_line (client);
      g_autofree char *prefix = g_strconcat (header, " ", NULL);

      g_assert_nonnull (line);
      if (g_str_has_prefix (line, prefix))
        {
          JsonNode *node = json_from_string (line + strlen (prefix), NULL);
          JsonObject *body = json_node_dup_object (node);

          json_node_unref (node);
          return body;
        }
      if (!(g_str_has_prefix (line, "GAME_PROGRESS ") || g_str_has_prefix (line, "GAME_JOINED ") ||
                     g_str_has_prefix (line, "GUESS_NUMBER_RESP ")))
        g_error ("%s: expected %s, got %s", client->name, header, line);
    }
}

/* Finds the number by halving, as a player on any node. */
static void
play (KtClient *player)
{
  gint64 low = 1, high = 50;

  for (guint tries = 0; tries < 8; tries++)
    {
      gint64 guess = (low + high) / 2;
      g_autoptr(JsonObject) body = NULL;
      gint64 result;

      kt_client_send (player, "GUESS_NUMBER_REQ {\"number\":%" G_GINT64_FORMAT "}", guess);
      body = next_of (player, "GUESS_NUMBER_RESP");
      g_assert_cmpstr (json_object_get_string_member (body, "status"), ==, "OK");
      result = json_object_get_int_member (body, "result");
      if (result == 0)
        return;
      if (result < 0)
        low = guess + 1;
      else
        high = guess - 1;
    }
  g_error ("%s did not find the number", player->name);
}

static char *
results_of (KtClient *player)
{
  g_autoptr(JsonObject) body = next_of (player, "GAME_RESULTS");
  g_autoptr(GString) names = g_string_new (NULL);
  JsonArray *results;

  g_assert_cmpstr (json_object_get_string_member (body, "status"), ==, "OK");
  results = json_object_get_array_member (body, "results");
  for (guint i = 0; i < json_array_get_length (results); i++)
    g_string_append_printf (names, "%s;", json_object_get_string_member (json_array_get_object_element (results, i), "username"));
  return g_strdup (names->str);
}

/* One game for the cluster: started on n2, joined from n1 and n3, the same
 * results everywhere; a second START anywhere meanwhile is 6003. Then n2
 * dies in a game: its players elsewhere get GAME_RESULTS 9003. */
static void
test_game (void)
{
  g_autoptr(Cluster) cluster = NULL;
  KtClient *player[N_NODES];
  g_autoptr(JsonObject) body = NULL;
  g_autofree char *first = NULL;

  if (skip_without_redis ())
    return;
  cluster = cluster_start (FALSE);
  for (guint i = 0; i < N_NODES; i++)
    {
      g_autofree char *name = g_strdup_printf ("gamer%u", i + 1);

      player[i] = login_expecting (cluster->node[i], name, 0);
    }
  kt_client_drain (player[0], "JOINED", 2);
  kt_client_drain (player[1], "JOINED", 1);

  kt_client_send (player[1], "START_GAME_REQ");
  kt_client_expect_status (player[1], "START_GAME_RESP", 0);
  for (guint i = 0; i < N_NODES; i += 2)
    {
      body = kt_client_expect (player[i], "GAME_NOTIFICATION");
      g_assert_cmpstr (json_object_get_string_member (body, "initiator"), ==, "gamer2");
      g_clear_pointer (&body, json_object_unref);
    }
  kt_client_send (player[0], "START_GAME_REQ");
  kt_client_expect_status (player[0], "START_GAME_RESP", KLETSEN_CODE_GAME_IN_PROGRESS);
  kt_client_send (player[0], "JOIN_GAME_REQ");
  kt_client_expect_status (player[0], "JOIN_GAME_RESP", 0);
  kt_client_send (player[0], "JOIN_GAME_REQ");
  body = next_of (player[0], "JOIN_GAME_RESP");
  g_assert_cmpint (json_object_get_int_member (body, "code"), ==, KLETSEN_CODE_ALREADY_JOINED);
  g_clear_pointer (&body, json_object_unref);
  kt_client_send (player[2], "JOIN_GAME_REQ");
  kt_client_expect_status (player[2], "JOIN_GAME_RESP", 0);

  for (guint i = 0; i < N_NODES; i++)
    {
      JsonArray *players;

      body = next_of (player[i], "START_GAME_RESP");
      players = json_object_get_array_member (body, "players");
      g_assert_cmpuint (json_array_get_length (players), ==, 3);
      g_clear_pointer (&body, json_object_unref);
    }
  for (guint i = 0; i < N_NODES; i++)
    play (player[i]);
  first = results_of (player[0]);
  for (guint i = 1; i < N_NODES; i++)
    {
      g_autofree char *results = results_of (player[i]);

      g_assert_cmpstr (results, ==, first);
    }

  /* The next game may start on another node; its owner then dies. */
  kt_client_send (player[2], "START_GAME_REQ");
  kt_client_expect_status (player[2], "START_GAME_RESP", 0);
  body = next_of (player[0], "GAME_NOTIFICATION");
  g_clear_pointer (&body, json_object_unref);
  kt_client_send (player[0], "JOIN_GAME_REQ");
  body = next_of (player[0], "JOIN_GAME_RESP");
  g_assert_cmpstr (json_object_get_string_member (body, "status"), ==, "OK");
  g_clear_pointer (&body, json_object_unref);
  body = kt_client_expect (player[0], "GAME_JOINED");
  g_clear_pointer (&body, json_object_unref);
  g_subprocess_send_signal (cluster->node[2]->process, SIGKILL);
  g_subprocess_wait (cluster->node[2]->process, NULL, NULL);
  g_clear_pointer (&cluster->node[2], kt_server_free);
  expect_user (player[0], "LEFT", "gamer3");
  body = kt_client_expect (player[1], "GAME_NOTIFICATION");
  g_clear_pointer (&body, json_object_unref);
  expect_user (player[1], "LEFT", "gamer3");
  body = next_of (player[0], "GAME_RESULTS");
  g_assert_cmpint (json_object_get_int_member (body, "code"), ==, KLETSEN_CODE_GAME_SERVER_GONE);
  g_clear_pointer (&body, json_object_unref);
  /* And a new game can start at once. */
  kt_client_send (player[1], "START_GAME_REQ");
  body = next_of (player[1], "START_GAME_RESP");
  g_assert_cmpstr (json_object_get_string_member (body, "status"), ==, "OK");
  g_clear_pointer (&body, json_object_unref);

  for (guint i = 0; i < N_NODES; i++)
    kt_client_free (player[i]);
}

static KtClient *
side_connect (KtServer   *node,
              const char *id,
              char        role,
              const char *secret)
{
  KtClient *side = kt_client_connect_port (node->file_port);
  g_autofree char *header = g_strdup_printf ("%s%c%s", id, role, secret ? secret : "");

  kt_client_send_raw (side, header, strlen (header));
  return side;
}

/* Everything the side channel sends until EOF: its size and SHA-256. */
static char *
download_all (KtClient *side,
              gsize    *bytes)
{
  g_autoptr(GChecksum) checksum = g_checksum_new (G_CHECKSUM_SHA256);
  g_autofree char *buf = g_malloc (256 * 1024);

  *bytes = 0;
  for (;;)
    {
      gssize n = g_socket_receive (side->socket, buf, 256 * 1024, NULL, NULL);

      if (n <= 0)
        break;
      g_checksum_update (checksum, (guchar *)buf, n);
      *bytes += n;
    }
  return g_strdup (g_checksum_get_string (checksum));
}

/* 20 MiB from a user of n1 to a user of n2: the offer and the answer cross
 * nodes, each client opens its side channel on its own node, n2 forwards
 * the downloader's half to n1, and the bytes arrive unchanged. Once with
 * role secrets (extension) and once without, where n2 binds the half to
 * its user's address. */
static void
test_transfer (void)
{
  g_autoptr(Cluster) cluster = NULL;
  g_autoptr(KtClient) alice = NULL;
  g_autoptr(KtClient) bob = NULL;
  const gsize len = 20 * 1024 * 1024;
  g_autofree guint8 *data = g_malloc (len);
  g_autofree char *sha = NULL;
  g_autoptr(GRand) rand = g_rand_new_with_seed (7);

  if (skip_without_redis ())
    return;
  for (gsize i = 0; i < len; i++)
    data[i] = (guint8)g_rand_int (rand);
  sha = g_compute_checksum_for_data (G_CHECKSUM_SHA256, data, len);
  cluster = cluster_start (FALSE);
  alice = login_expecting (cluster->node[0], "alice", 0);
  bob = login_expecting (cluster->node[1], "bob", 0);
  expect_user (alice, "JOINED", "bob");

  for (guint round = 0; round < 2; round++)
    {
      const char *up_secret = round == 0 ? "0123456789abcdef0123456789abcdef" : NULL;
      const char *down_secret = round == 0 ? "fedcba9876543210fedcba9876543210" : NULL;
      g_autoptr(JsonObject) offer = NULL;
      g_autoptr(JsonObject) response = NULL;
      g_autoptr(KtClient) up = NULL;
      g_autoptr(KtClient) down = NULL;
      g_autofree char *id = NULL;
      g_autofree char *got = NULL;
      KtUpload upload;
      GThread *thread;
      gsize bytes;

      if (up_secret != NULL)
        kt_client_send (alice, "FILE_TRANSFER_REQUEST {\"receiver\":\"bob\",\"filename\":\"data.bin\",\"size\":%" G_GSIZE_FORMAT ",\"checksum\":\"%s\",\"roleSecret\":\"%s\"}",
                        len, sha, up_secret);
      else
        kt_client_send (alice, "FILE_TRANSFER_REQUEST {\"receiver\":\"bob\",\"filename\":\"data.bin\",\"size\":%" G_GSIZE_FORMAT ",\"checksum\":\"%s\"}",
                        len, sha);
      offer = kt_client_expect (bob, "FILE_TRANSFER_REQUEST");
      g_assert_cmpstr (json_object_get_string_member (offer, "sender"), ==, "alice");
      g_assert_cmpstr (json_object_get_string_member (offer, "checksum"), ==, sha);
      id = g_strdup (json_object_get_string_member (offer, "transferId"));
      if (down_secret != NULL)
        kt_client_send (bob, "FILE_TRANSFER_RESPONSE {\"transferId\":\"%s\",\"status\":\"OK\",\"roleSecret\":\"%s\"}", id, down_secret);
      else
        kt_client_send (bob, "FILE_TRANSFER_RESPONSE {\"transferId\":\"%s\",\"status\":\"OK\"}", id);
      response = kt_client_expect (alice, "FILE_TRANSFER_RESPONSE");
      g_assert_cmpstr (json_object_get_string_member (response, "status"), ==, "OK");
      g_assert_cmpstr (json_object_get_string_member (response, "transferId"), ==, id);

      /* A wrong downloader half on n2 is refused there: a bad secret, or,
       * without secrets, an uploader half at the downloader's node. */
      {
        g_autoptr(KtClient) intruder = round == 0 ? side_connect (cluster->node[1], id, 'R', "00000000000000000000000000000000")
                                                  : side_connect (cluster->node[1], id, 'S', NULL);

        kt_client_expect_eof (intruder);
      }
      down = side_connect (cluster->node[1], id, 'R', down_secret);
      up = side_connect (cluster->node[0], id, 'S', up_secret);
      upload = (KtUpload) { up, data, len };
      thread = g_thread_new ("upload", kt_upload_thread, &upload);
      got = download_all (down, &bytes);
      g_assert_true (g_thread_join (thread));
      g_assert_cmpuint (bytes, ==, len);
      g_assert_cmpstr (got, ==, sha);
    }

  /* An offer to a user of another node who leaves: the uploader hears 10004. */
  {
    g_autoptr(JsonObject) ended = NULL;

    kt_client_send (alice, "FILE_TRANSFER_REQUEST {\"receiver\":\"bob\",\"filename\":\"late.bin\",\"size\":1,\"checksum\":\"%s\"}", sha);
    json_object_unref (kt_client_expect (bob, "FILE_TRANSFER_REQUEST"));
    g_clear_pointer (&bob, kt_client_free);
    expect_user (alice, "LEFT", "bob");
    ended = kt_client_expect (alice, "FILE_TRANSFER_RESPONSE");
    g_assert_cmpint (json_object_get_int_member (ended, "code"), ==, KLETSEN_CODE_UNKNOWN_TRANSFER);
  }
}

/* At the production defaults (10 s PING, 3 s PONG timeout, 1 s heartbeat,
 * 3 s dead): two users on two nodes idle for 25 s, answering PINGs as a
 * client does; nobody leaves, nobody is dropped, and chat still works. */
static void
test_defaults (void)
{
  g_autoptr(Cluster) cluster = NULL;
  KtClient *user[2];
  gint64 until;
  guint pings = 0;

  if (skip_without_redis ())
    return;
  cluster = cluster_start (TRUE);
  user[0] = login_expecting (cluster->node[0], "idle_one", 0);
  user[1] = login_expecting (cluster->node[1], "idle_two", 0);
  expect_user (user[0], "JOINED", "idle_two");
  until = g_get_monotonic_time () + 25 * G_USEC_PER_SEC;
  while (g_get_monotonic_time () < until)
    for (guint i = 0; i < 2; i++)
      {
        g_autoptr(GError) error = NULL;

        if (g_socket_condition_timed_wait (user[i]->socket, G_IO_IN, 100 * 1000, NULL, &error) ||
            user[i]->buffer->len > 0)
          {
            g_autofree char *line = kt_client_read_line (user[i]);

            g_assert_cmpstr (line, ==, "PING");
            kt_client_send (user[i], "PONG");
            pings++;
          }
      }
  g_assert_cmpuint (pings, >=, 4);
  kt_client_send (user[1], "BROADCAST_REQ {\"message\":\"still here\"}");
  kt_client_expect_status (user[1], "BROADCAST_RESP", 0);
  expect_broadcast (user[0], "idle_two", "still here");
  kt_client_free (user[0]);
  kt_client_free (user[1]);
}

int
main (int    argc,
      char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/cluster/names", test_names);
  g_test_add_func ("/cluster/bye-frees-name", test_bye_frees_name);
  g_test_add_func ("/cluster/broadcast-order", test_broadcast_order);
  g_test_add_func ("/cluster/joined-left-list", test_joined_left_list);
  g_test_add_func ("/cluster/private", test_private);
  g_test_add_func ("/cluster/node-killed", test_node_killed);
  g_test_add_func ("/cluster/node-stopped", test_node_stopped);
  g_test_add_func ("/cluster/subscription-killed", test_subscription_killed);
  g_test_add_func ("/cluster/redis-restart", test_redis_restart);
  g_test_add_func ("/cluster/split-brain", test_split_brain);
  g_test_add_func ("/cluster/game", test_game);
  g_test_add_func ("/cluster/transfer", test_transfer);
  g_test_add_func ("/cluster/defaults", test_defaults);
  return g_test_run ();
}
