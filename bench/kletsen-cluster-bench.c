/* kletsen-cluster-bench.c
 *
 * Copyright 2026 The Kletsen authors
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

/* What cluster mode costs and how fast it heals (docs/cluster.md), on
 * 127.0.0.1 only: its own redis-server on a Unix socket, kletsen-server
 * nodes on loopback ports, one thread of clients on its own epoll loop.
 *
 *   kletsen-cluster-bench --server PATH [--scenario fanout|latency|failover|all]
 *
 * fanout    the same broadcast load: one server without --cluster, one
 *           node of a cluster, three nodes with the clients spread
 *           round-robin, one server with a third of the clients (what each
 *           of the three nodes delivers), and three servers apart at once,
 *           each with a third of the clients and ten senders of its own
 *           (the three nodes' work and crowding, without the cluster).
 *           Server CPU per delivery (all nodes), Redis CPU per broadcast,
 *           latency of same-node and cross-node pairs. --window sets the
 *           broadcasts each sender keeps in flight (16).
 * latency   one sender, one message in flight, 99 clients: single server
 *           against three nodes, where the sender's own node is one hop
 *           through Redis away too (deliver on echo).
 * failover  three nodes with idle users; node 2 gets SIGKILL. Time until
 *           every other user has one LEFT per user of node 2, and until
 *           node 2's users are logged in again on the other nodes; then
 *           again with users that do not come back (the reaper's path).
 *
 * One JSON line per run on stdout. Two cores cannot show three nodes
 * beating one: see docs/benchmarks.md for what these figures project. */

#include "config.h"

#include <errno.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "kletsen-bench-common.h"

#define MAX_NODES 3
#define READ_CHUNK (256 * 1024)

typedef enum { C_CONNECTING, C_WELCOMED, C_READY, C_DEAD } ClientState;

typedef struct
{
  int         fd;
  guint       node;
  ClientState state;
  GString    *in;
  GString    *out;
  gboolean    want_out;
  guint       sent;
  guint       acked;
  guint       lefts;
  gboolean    relogin;   /* failover: log in again once the node is gone */
} Client;

typedef struct
{
  pid_t    redis;
  char    *dir;
  char    *socket_path;
  pid_t    node[MAX_NODES];
  int      port[MAX_NODES];
  guint    n_nodes;

  int      ep;
  Client  *clients;
  guint    n;
  guint    ready;
  guint    dead;

  guint    senders;
  guint    messages;
  guint    bytes;
  guint    window;
  char    *padding;
  guint64  delivered;
  gint64   first_send;
  gint64   last_delivery;
  GArray  *same_us;
  GArray  *cross_us;

  guint    victim;       /* failover: the node killed */
  guint    lefts_wanted;
  guint    lefts_done;   /* clients that have all their LEFTs */
  guint    relogged;
  gint64   all_left_at;
  gint64   all_back_at;
} Run;

static const char *server_binary;

static double
nodes_cpu_s (Run *r)
{
  double sum = 0;

  for (guint i = 0; i < r->n_nodes; i++)
    sum += kletsen_bench_proc_cpu_s (r->node[i]);
  return sum;
}

/* ---- processes ---- */

static void
redis_start (Run *r)
{
  g_autoptr(GError) error = NULL;

  r->dir = g_dir_make_tmp ("kletsen-cluster-bench-XXXXXX", &error);
  g_assert_no_error (error);
  r->socket_path = g_build_filename (r->dir, "redis.sock", NULL);
  r->redis = fork ();
  if (r->redis == 0)
    {
      prctl (PR_SET_PDEATHSIG, SIGTERM);
      execlp ("redis-server", "redis-server", "--port", "0", "--unixsocket", r->socket_path,
              "--unixsocketperm", "700", "--save", "", "--appendonly", "no", "--dir", r->dir,
              "--loglevel", "warning", NULL);
      _exit (127);
    }
  for (guint i = 0; i < 200 && !g_file_test (r->socket_path, G_FILE_TEST_EXISTS); i++)
    g_usleep (20000);
  g_usleep (50000);
}

static void
node_start (Run      *r,
            guint     i,
            gboolean  cluster)
{
  int pipefd[2];
  char buf[512] = "";
  gsize got = 0;
  g_autofree char *address = g_strconcat ("unix:", r->socket_path ? r->socket_path : "", NULL);
  g_autofree char *name = g_strdup_printf ("n%u", i + 1);

  if (pipe (pipefd) != 0)
    g_error ("pipe: %s", g_strerror (errno));
  r->node[i] = fork ();
  if (r->node[i] == 0)
    {
      prctl (PR_SET_PDEATHSIG, SIGTERM);
      dup2 (pipefd[1], STDOUT_FILENO);
      close (pipefd[0]);
      if (cluster)
        execl (server_binary, server_binary, "--bind", "127.0.0.1", "--port", "0", "--file-port", "0",
               "--max-clients", "10000", "--cluster", address, "--node-name", name, NULL);
      else
        execl (server_binary, server_binary, "--bind", "127.0.0.1", "--port", "0", "--file-port", "0",
               "--max-clients", "10000", NULL);
      _exit (127);
    }
  close (pipefd[1]);
  while (got < sizeof buf - 1 && strstr (buf, "ready\n") == NULL)
    {
      gssize n = read (pipefd[0], buf + got, sizeof buf - 1 - got);

      if (n <= 0)
        break;
      got += n;
      buf[got] = '\0';
    }
  close (pipefd[0]);
  if (strstr (buf, "listening on ") == NULL)
    g_error ("node %u did not start", i + 1);
  *strchr (strstr (buf, "listening on "), '\n') = '\0';
  r->port[i] = atoi (strrchr (strstr (buf, "listening on "), ':') + 1);
}

static void
stop_pid (pid_t *pid)
{
  int status;

  if (*pid <= 0)
    return;
  kill (*pid, SIGTERM);
  for (int i = 0; i < 100 && waitpid (*pid, &status, WNOHANG) == 0; i++)
    g_usleep (20000);
  kill (*pid, SIGKILL);
  waitpid (*pid, &status, 0);
  *pid = 0;
}

static void
stop_all (Run *r)
{
  for (guint i = 0; i < r->n_nodes; i++)
    stop_pid (&r->node[i]);
  stop_pid (&r->redis);
  if (r->dir != NULL)
    {
      g_unlink (r->socket_path);
      g_rmdir (r->dir);
    }
  g_clear_pointer (&r->dir, g_free);
  g_clear_pointer (&r->socket_path, g_free);
}

/* ---- clients ---- */

static void
watch (Run   *r,
       guint  i,
       gboolean out)
{
  Client *c = &r->clients[i];
  struct epoll_event ev = { .events = EPOLLIN | (out ? EPOLLOUT : 0), .data.u32 = i };

  if (c->want_out == out)
    return;
  c->want_out = out;
  epoll_ctl (r->ep, EPOLL_CTL_MOD, c->fd, &ev);
}

static void
open_client (Run   *r,
             guint  i,
             guint  node)
{
  Client *c = &r->clients[i];
  struct sockaddr_in addr = { .sin_family = AF_INET, .sin_port = htons (r->port[node]) };
  struct epoll_event ev = { .events = EPOLLIN, .data.u32 = i };
  int one = 1;

  addr.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
  c->fd = socket (AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  setsockopt (c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (connect (c->fd, (struct sockaddr *)&addr, sizeof addr) != 0 && errno != EINPROGRESS)
    g_error ("connect: %s", g_strerror (errno));
  c->node = node;
  c->state = C_CONNECTING;
  c->want_out = FALSE;
  if (c->in == NULL)
    {
      c->in = g_string_new (NULL);
      c->out = g_string_new (NULL);
    }
  g_string_truncate (c->in, 0);
  g_string_truncate (c->out, 0);
  epoll_ctl (r->ep, EPOLL_CTL_ADD, c->fd, &ev);
}

static void
client_gone (Run   *r,
             guint  i)
{
  Client *c = &r->clients[i];

  if (c->state == C_READY)
    r->ready--;
  c->state = C_DEAD;
  epoll_ctl (r->ep, EPOLL_CTL_DEL, c->fd, NULL);
  close (c->fd);
  /* Failover: a client of the dead node logs in again on another at once. */
  if (c->relogin)
    open_client (r, i, c->node == 0 ? 2 : 0);
  else
    r->dead++;
}

static void
flush_out (Run   *r,
           guint  i)
{
  Client *c = &r->clients[i];

  while (c->out->len > 0)
    {
      gssize n = send (c->fd, c->out->str, c->out->len, MSG_NOSIGNAL);

      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0 && errno == EAGAIN)
        {
          watch (r, i, TRUE);
          return;
        }
      if (n <= 0)
        {
          client_gone (r, i);
          return;
        }
      g_string_erase (c->out, 0, n);
    }
  watch (r, i, FALSE);
}

static void
send_broadcast (Run   *r,
                guint  i)
{
  Client *c = &r->clients[i];
  char head[96];
  int n = g_snprintf (head, sizeof head, "BROADCAST_REQ {\"message\":\"%u:%" G_GINT64_FORMAT ":", c->node, kletsen_bench_now_us ());

  if (r->first_send == 0)
    r->first_send = kletsen_bench_now_us ();
  g_string_append_len (c->out, head, n);
  g_string_append_len (c->out, r->padding, r->bytes > (guint)n ? r->bytes - n : 1);
  g_string_append (c->out, "\"}\n");
  c->sent++;
}

static void
top_up (Run   *r,
        guint  i)
{
  Client *c = &r->clients[i];

  while (c->sent < r->messages && c->sent - c->acked < r->window)
    send_broadcast (r, i);
}

static void
handle_line (Run   *r,
             guint  i,
             char  *line)
{
  Client *c = &r->clients[i];

  if (strcmp (line, "PING") == 0)
    g_string_append (c->out, "PONG\n");
  else if (g_str_has_prefix (line, "BROADCAST {"))
    {
      const char *m = strstr (line, "\"message\":\"");
      char *end;

      r->delivered++;
      r->last_delivery = kletsen_bench_now_us ();
      if (m != NULL)
        {
          guint from = (guint)g_ascii_strtoull (m + 11, &end, 10);
          gint64 sent = *end == ':' ? g_ascii_strtoll (end + 1, NULL, 10) : 0;
          guint32 us = (guint32)MIN (r->last_delivery - sent, G_MAXUINT32);

          if (sent > 0)
            g_array_append_val (from == c->node ? r->same_us : r->cross_us, us);
        }
    }
  else if (g_str_has_prefix (line, "BROADCAST_RESP "))
    {
      c->acked++;
      top_up (r, i);
    }
  else if (g_str_has_prefix (line, "LEFT ") && r->lefts_wanted > 0)
    {
      if (++c->lefts == r->lefts_wanted && ++r->lefts_done == r->n - r->n / r->n_nodes)
        r->all_left_at = kletsen_bench_now_us ();
    }
  else if (g_str_has_prefix (line, "WELCOME ") && c->state == C_CONNECTING)
    {
      g_string_append_printf (c->out, "LOGIN {\"username\":\"kc%05u\"}\n", i);
      c->state = C_WELCOMED;
    }
  else if (g_str_has_prefix (line, "LOGIN_RESP ") && c->state == C_WELCOMED)
    {
      if (strstr (line, "\"OK\"") == NULL)
        g_error ("client %u: %s", i, line);
      c->state = C_READY;
      r->ready++;
      if (c->relogin)
        {
          c->relogin = FALSE;
          if (++r->relogged == r->n / r->n_nodes)
            r->all_back_at = kletsen_bench_now_us ();
        }
    }
}

static void
read_client (Run   *r,
             guint  i,
             char  *buf)
{
  Client *c = &r->clients[i];

  for (;;)
    {
      gssize n = recv (c->fd, buf, READ_CHUNK, 0);
      char *p = buf, *nl;

      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0 && errno == EAGAIN)
        break;
      if (n <= 0)
        {
          client_gone (r, i);
          return;
        }
      while ((nl = memchr (p, '\n', buf + n - p)) != NULL)
        {
          g_string_append_len (c->in, p, nl - p);
          handle_line (r, i, c->in->str);
          g_string_truncate (c->in, 0);
          p = nl + 1;
        }
      g_string_append_len (c->in, p, buf + n - p);
      if (n < READ_CHUNK)
        break;
    }
  if (c->out->len > 0)
    flush_out (r, i);
}

static void
poll_once (Run  *r,
           int   timeout_ms,
           char *buf)
{
  struct epoll_event events[512];
  int n = epoll_wait (r->ep, events, G_N_ELEMENTS (events), timeout_ms);

  for (int e = 0; e < n; e++)
    {
      guint i = events[e].data.u32;

      if (r->clients[i].state == C_DEAD)
        continue;
      if (events[e].events & EPOLLOUT)
        flush_out (r, i);
      if (r->clients[i].state != C_DEAD && (events[e].events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
        read_client (r, i, buf);
    }
}

static void
connect_all (Run  *r,
             char *buf)
{
  gint64 deadline = kletsen_bench_now_us () + 60 * G_USEC_PER_SEC;
  guint opened = 0;

  r->ep = epoll_create1 (EPOLL_CLOEXEC);
  r->clients = g_new0 (Client, r->n);
  while (r->ready < r->n && kletsen_bench_now_us () < deadline)
    {
      while (opened < r->n && opened - r->ready < 256)
        {
          open_client (r, opened, opened % r->n_nodes);
          opened++;
        }
      poll_once (r, 50, buf);
    }
  if (r->ready < r->n)
    g_error ("only %u of %u clients logged in", r->ready, r->n);
}

static void
settle (Run  *r,
        char *buf,
        int   ms)
{
  gint64 end = kletsen_bench_now_us () + ms * 1000;

  while (kletsen_bench_now_us () < end)
    poll_once (r, 10, buf);
}

static void
disconnect_all (Run *r)
{
  for (guint i = 0; i < r->n; i++)
    {
      if (r->clients[i].state != C_DEAD)
        close (r->clients[i].fd);
      if (r->clients[i].in != NULL)
        {
          g_string_free (r->clients[i].in, TRUE);
          g_string_free (r->clients[i].out, TRUE);
        }
    }
  g_clear_pointer (&r->clients, g_free);
  close (r->ep);
}

/* ---- scenarios ---- */

static void
run_fanout (const char *mode,
            guint       n_nodes,
            gboolean    cluster,
            guint       n,
            guint       senders,
            guint       messages,
            guint       window)
{
  Run r = { .n_nodes = n_nodes, .n = n, .senders = senders, .messages = messages, .bytes = 200, .window = window };
  g_autofree char *buf = g_malloc (READ_CHUNK + 1);
  guint64 expected = 0;
  gint64 deadline;
  double cpu0, redis0, cpu_ns, redis_us, seconds;
  double load[3] = { 0 };

  /* Clients and senders go round-robin; a server apart serves only its own. */
  if (cluster || n_nodes == 1)
    expected = (guint64)senders * messages * (n - 1);
  else
    for (guint node = 0; node < n_nodes; node++)
      {
        guint here = 0, senders_here = 0;

        for (guint i = node; i < n; i += n_nodes)
          {
            here++;
            senders_here += i < senders;
          }
        expected += (guint64)senders_here * messages * (here - 1);
      }
  if (cluster)
    redis_start (&r);
  for (guint i = 0; i < n_nodes; i++)
    node_start (&r, i, cluster);
  r.padding = g_strnfill (r.bytes, 'x');
  r.same_us = g_array_new (FALSE, FALSE, sizeof (guint32));
  r.cross_us = g_array_new (FALSE, FALSE, sizeof (guint32));
  connect_all (&r, buf);
  settle (&r, buf, 500);

  r.delivered = 0;
  g_array_set_size (r.same_us, 0);
  g_array_set_size (r.cross_us, 0);
  cpu0 = nodes_cpu_s (&r);
  redis0 = kletsen_bench_proc_cpu_s (r.redis);
  for (guint i = 0; i < senders; i++)
    {
      top_up (&r, i);
      flush_out (&r, i);
    }
  deadline = kletsen_bench_now_us () + 120 * G_USEC_PER_SEC;
  while (r.delivered < expected && kletsen_bench_now_us () < deadline)
    poll_once (&r, 100, buf);
  seconds = (r.last_delivery - r.first_send) / 1e6;
  cpu_ns = (nodes_cpu_s (&r) - cpu0) * 1e9 / MAX (r.delivered, 1);
  redis_us = (kletsen_bench_proc_cpu_s (r.redis) - redis0) * 1e6 / MAX ((guint64)senders * messages, 1);
  g_array_sort (r.same_us, kletsen_bench_compare_u32);
  g_array_sort (r.cross_us, kletsen_bench_compare_u32);
  getloadavg (load, 3);
  printf ("{\"bench\":\"cluster-%s\",\"mode\":\"%s\",\"nodes\":%u,\"clients\":%u,\"senders\":%u,\"messages\":%u,"
          "\"expected\":%" G_GUINT64_FORMAT ",\"delivered\":%" G_GUINT64_FORMAT ",\"deliveries_per_s\":%.0f,"
          "\"server_cpu_ns_per_delivery\":%.0f,\"redis_cpu_us_per_broadcast\":%.2f,"
          "\"same_node_p50_ms\":%.3f,\"same_node_p99_ms\":%.3f,\"cross_node_p50_ms\":%.3f,\"cross_node_p99_ms\":%.3f,"
          "\"loadavg\":%.2f}\n",
          window == 1 ? "latency" : "fanout", mode, n_nodes, n, senders, messages, expected, r.delivered, r.delivered / MAX (seconds, 1e-9),
          cpu_ns, redis_us, kletsen_bench_percentile (r.same_us, 0.5), kletsen_bench_percentile (r.same_us, 0.99),
          kletsen_bench_percentile (r.cross_us, 0.5), kletsen_bench_percentile (r.cross_us, 0.99), load[0]);
  fflush (stdout);
  disconnect_all (&r);
  stop_all (&r);
  g_array_unref (r.same_us);
  g_array_unref (r.cross_us);
  g_free (r.padding);
}

static void
run_failover (guint    n,
              gboolean come_back)
{
  Run r = { .n_nodes = 3, .n = n, .victim = 1 };
  g_autofree char *buf = g_malloc (READ_CHUNK + 1);
  gint64 killed, deadline;

  redis_start (&r);
  for (guint i = 0; i < r.n_nodes; i++)
    node_start (&r, i, TRUE);
  connect_all (&r, buf);
  settle (&r, buf, 1000);

  for (guint i = 0; i < n; i++)
    {
      r.clients[i].lefts = 0;
      r.clients[i].relogin = come_back && r.clients[i].node == r.victim;
    }
  r.lefts_wanted = n / r.n_nodes;
  killed = kletsen_bench_now_us ();
  kill (r.node[r.victim], SIGKILL);
  waitpid (r.node[r.victim], NULL, 0);
  r.node[r.victim] = 0;
  deadline = killed + 30 * G_USEC_PER_SEC;
  while ((r.all_left_at == 0 || (come_back && r.all_back_at == 0)) && kletsen_bench_now_us () < deadline)
    poll_once (&r, 50, buf);
  printf ("{\"bench\":\"cluster-failover\",\"users_come_back\":%s,\"users\":%u,\"users_of_dead_node\":%u,"
          "\"all_left_everywhere_ms\":%.1f,\"all_back_elsewhere_ms\":%.1f,\"status\":\"%s\"}\n",
          come_back ? "true" : "false", n, n / r.n_nodes,
          r.all_left_at ? (r.all_left_at - killed) / 1000.0 : -1,
          r.all_back_at ? (r.all_back_at - killed) / 1000.0 : -1,
          r.all_left_at && (r.all_back_at || !come_back) ? "ok" : "incomplete");
  fflush (stdout);
  disconnect_all (&r);
  stop_all (&r);
}

int
main (int    argc,
      char **argv)
{
  g_autofree char *scenario = g_strdup ("all");
  int clients = 999, senders = 10, messages = 200, users = 3000, window = 16;
  GOptionEntry entries[] = {
    { "server", 0, 0, G_OPTION_ARG_FILENAME, &server_binary, "The kletsen-server binary", "PATH" },
    { "scenario", 0, 0, G_OPTION_ARG_STRING, &scenario, "fanout, latency, failover or all", "NAME" },
    { "clients", 'n', 0, G_OPTION_ARG_INT, &clients, "Clients (fanout)", "N" },
    { "senders", 's', 0, G_OPTION_ARG_INT, &senders, "Senders (fanout)", "S" },
    { "messages", 'm', 0, G_OPTION_ARG_INT, &messages, "Messages per sender (fanout)", "M" },
    { "users", 'u', 0, G_OPTION_ARG_INT, &users, "Users (failover)", "N" },
    { "window", 'w', 0, G_OPTION_ARG_INT, &window, "Broadcasts in flight per sender (fanout)", "W" },
    { NULL }
  };
  g_autoptr(GOptionContext) context = g_option_context_new (NULL);
  g_autoptr(GError) error = NULL;

  g_option_context_set_summary (context, "Cluster mode's costs on 127.0.0.1.");
  g_option_context_add_main_entries (context, entries, NULL);
  if (!g_option_context_parse (context, &argc, &argv, &error) || server_binary == NULL)
    {
      g_printerr ("%s\n", error ? error->message : "--server is required");
      return 2;
    }
  if (window < 1 || clients < 3 * senders)
    {
      g_printerr ("--window must be 1 or more, and --clients at least three times --senders\n");
      return 2;
    }
  signal (SIGPIPE, SIG_IGN);
  /* Clients spread round-robin; a multiple of three keeps the nodes even. */
  if (g_str_equal (scenario, "fanout") || g_str_equal (scenario, "all"))
    {
      run_fanout ("single", 1, FALSE, (guint)clients, (guint)senders, (guint)messages, (guint)window);
      run_fanout ("cluster-1-node", 1, TRUE, (guint)clients, (guint)senders, (guint)messages, (guint)window);
      run_fanout ("cluster-3-nodes", 3, TRUE, (guint)clients, (guint)senders, (guint)messages, (guint)window);
      /* What one of those three nodes does, on one server alone: every
       * broadcast to a third of the clients. */
      run_fanout ("single-third", 1, FALSE, (guint)clients / 3, (guint)senders, (guint)messages, (guint)window);
      /* The same, three times at once on the same two cores: three servers
       * without --cluster, each with a third of the clients and as many
       * senders as the cluster has in all. Each delivers what one of the
       * three nodes does, under the same crowding, without Redis. */
      run_fanout ("three-apart", 3, FALSE, (guint)clients, 3 * (guint)senders, (guint)messages, (guint)window);
    }
  /* What one Redis hop adds: one message in flight, 99 clients. */
  if (g_str_equal (scenario, "latency") || g_str_equal (scenario, "all"))
    {
      run_fanout ("single", 1, FALSE, 99, 1, 3000, 1);
      run_fanout ("cluster-3-nodes", 3, TRUE, 99, 1, 3000, 1);
    }
  if (g_str_equal (scenario, "failover") || g_str_equal (scenario, "all"))
    {
      /* Users who reconnect at once (the holder's process is gone: fast
       * path), and users who do not (the reaper, after --cluster-dead-ms). */
      run_failover ((guint)users, TRUE);
      run_failover ((guint)users, FALSE);
    }
  return 0;
}
