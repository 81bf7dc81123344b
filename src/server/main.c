/* main.c
 *
 * Copyright 2026 The Kletsen authors
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#include "config.h"

#include <glib-unix.h>
#include <glib/gi18n.h>
#include <locale.h>
#include <errno.h>
#include <signal.h>
#include <sys/resource.h>
#include <stdio.h>
#include <stdlib.h>

#include "kletsen-protocol.h"
#include "kletsen-server.h"

typedef struct
{
  GMainLoop     *loop;
  KletsenServer *server;
  int            exit_status;
} App;

static void
shutdown_done_cb (gpointer user_data)
{
  App *app = user_data;

  g_main_loop_quit (app->loop);
}

static gboolean
on_hangup_cb (gpointer user_data)
{
  App *app = user_data;
  g_autoptr(GError) error = NULL;

  if (kletsen_server_reload_certificate (app->server, &error))
    g_message ("reloaded the TLS certificate");
  else
    g_message ("kept the old TLS certificate: %s", error->message);
  return G_SOURCE_CONTINUE;
}

static gboolean
on_signal_cb (gpointer user_data)
{
  App *app = user_data;

  g_message ("shutting down");
  kletsen_server_shutdown (app->server, G_CALLBACK (shutdown_done_cb), app);
  return G_SOURCE_CONTINUE;
}

static gboolean
check_options (const KletsenServerOptions  *o,
               GError                     **error)
{
  const char *bad = NULL;

  if (o->port < 0 || o->port > 65535)
    bad = "--port must be 0 to 65535";
  else if (o->max_line < KLETSEN_MIN_LINE)
    bad = "--max-line must be at least 1024";
  else if (o->ping_interval_ms <= 0 || o->pong_timeout_ms <= 0 ||
           o->join_window_ms <= 0 || o->game_timeout_ms <= 0 || o->linger_ms <= 0)
    bad = "times must be positive";
  else if (o->max_clients <= 0)
    bad = "--max-clients must be positive";
  else if (o->max_queue_bytes < o->max_line || o->max_total_queue_bytes < o->max_queue_bytes / 64)
    bad = "--max-queue-bytes must be at least --max-line, and --max-total-queue-bytes not tiny beside it";
  else if (o->file_port < 0 || o->file_port > 65535)
    bad = "--file-port must be 0 to 65535";
  else if (o->offer_timeout_ms <= 0 || o->header_timeout_ms <= 0 || o->login_timeout_ms <= 0)
    bad = "times must be positive";
  else if (o->max_file_size < 0 || o->max_offers <= 0)
    bad = "--max-file-size and --max-offers must be positive";
  else if (o->tls_port < 0 || o->tls_port > 65535 || o->tls_file_port < 0 || o->tls_file_port > 65535)
    bad = "--tls-port and --tls-file-port must be 0 to 65535";
  else if (o->handshake_timeout_ms <= 0)
    bad = "--handshake-timeout-ms must be positive";
  else if (o->game_cooldown_ms < 0)
    bad = "--game-cooldown-ms must be 0 or more";
  else if (o->rate_bytes_per_token < 1024)
    bad = "--rate-bytes-per-token must be 1024 or more";
  else if (o->max_handshakes < 0 || o->max_handshakes_per_address < 0)
    bad = "--max-handshakes and --max-handshakes-per-address must be 0 (no cap) or more";
  else if (o->rate_limit < 0)
    bad = "--rate-limit must be 0 (none) or more";
  else if (o->relay_window < 4096 || o->relay_window > 64 * 1024 * 1024)
    bad = "--relay-window must be 4096 to 67108864 bytes";
  else if (o->max_transfers <= 0 || o->max_relays <= 0 || o->relay_idle_timeout_ms <= 0 || o->max_side_channels <= 0)
    bad = "--max-transfers, --max-relays, --relay-idle-timeout-ms and --max-side-channels must be positive";
  else if (o->max_file_connections_per_address < 0)
    bad = "--max-file-connections-per-address must be 0 (no cap) or more";

  else if (o->cluster_heartbeat_ms < 50)
    bad = "--cluster-heartbeat-ms must be 50 or more";
  else if (o->cluster_dead_ms <= o->cluster_heartbeat_ms * 2)
    bad = "--cluster-dead-ms must be more than twice --cluster-heartbeat-ms";
#ifndef HAVE_CLUSTER
  else if (o->cluster != NULL)
    bad = "this kletsen-server was built without cluster mode (-Dcluster=false)";
#endif

  if (bad != NULL)
    g_set_error_literal (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE, bad);
  return bad == NULL;
}

/* Each client is one descriptor and each transfer up to four: take all the
 * kernel allows this process, and say so when that is fewer than needed. */
static void
raise_descriptor_limit (int max_clients)
{
  struct rlimit limit;
  rlim_t wanted = (rlim_t)max_clients + 64;

  if (getrlimit (RLIMIT_NOFILE, &limit) != 0)
    return;
  if (limit.rlim_cur < limit.rlim_max)
    {
      limit.rlim_cur = limit.rlim_max;
      if (setrlimit (RLIMIT_NOFILE, &limit) != 0)
        g_message ("cannot raise the descriptor limit: %s", g_strerror (errno));
      getrlimit (RLIMIT_NOFILE, &limit);
    }
  if (limit.rlim_cur < wanted)
    g_message ("the descriptor limit is %lu, so fewer than the %d clients of --max-clients can connect; "
               "raise it (ulimit -n, or LimitNOFILE= in the service)", (unsigned long)limit.rlim_cur, max_clients);
}

static char *
describe_address (GSocketAddress *address)
{
  GInetSocketAddress *inet = G_INET_SOCKET_ADDRESS (address);
  g_autofree char *host = g_inet_address_to_string (g_inet_socket_address_get_address (inet));

  if (g_socket_address_get_family (address) == G_SOCKET_FAMILY_IPV6)
    return g_strdup_printf ("[%s]:%u", host, g_inet_socket_address_get_port (inet));
  return g_strdup_printf ("%s:%u", host, g_inet_socket_address_get_port (inet));
}

static void
print_address (const char     *what,
               GSocketAddress *address)
{
  g_autofree char *where = NULL;

  if (address == NULL)
    return;
  where = describe_address (address);
  printf ("%s %s\n", what, where);
  g_object_unref (address);
}

/* A node is ready once it is in the cluster: it cannot log anyone in
 * before. Redis that does not answer within the bound is an error to
 * report, so that the service manager retries. */
#define CLUSTER_JOIN_TIMEOUT_US (15 * G_USEC_PER_SEC)

static gboolean
wait_for_cluster (KletsenServer  *server,
                  gboolean        cluster,
                  GError        **error)
{
  gint64 until = g_get_monotonic_time () + CLUSTER_JOIN_TIMEOUT_US;

  if (!cluster)
    return TRUE;
  while (kletsen_server_get_cluster_incarnation (server) == NULL)
    {
      if (g_get_monotonic_time () > until)
        {
          g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT,
                               "could not join the cluster: Redis does not answer");
          return FALSE;
        }
      g_main_context_iteration (NULL, TRUE);
    }
  return TRUE;
}

int
main (int    argc,
      char **argv)
{
  KletsenServerOptions options;
  gboolean verbose = FALSE;
  gboolean version = FALSE;
  g_autoptr(GOptionContext) context = NULL;
  g_autoptr(GError) error = NULL;
  App app = { 0 };

  kletsen_server_options_init (&options);
  {
    GOptionEntry entries[] = {
      { "bind", 'b', 0, G_OPTION_ARG_STRING, &options.bind,
        "Address to listen on (default: all)", "ADDRESS" },
      { "port", 'p', 0, G_OPTION_ARG_INT, &options.port,
        "Chat port (default 1337; 0 picks a free one)", "PORT" },
      { "ping-interval-ms", 0, 0, G_OPTION_ARG_INT, &options.ping_interval_ms,
        "Time from login to the first PING, and between PINGs (default 10000)", "MS" },
      { "pong-timeout-ms", 0, 0, G_OPTION_ARG_INT, &options.pong_timeout_ms,
        "Time a client has to answer a PING (default 3000)", "MS" },
      { "game-cooldown-ms", 0, 0, G_OPTION_ARG_INT, &options.game_cooldown_ms,
        "After a game, its players may not start the next one for this long (default 10000, 0: no wait)", "MS" },
      { "join-window-ms", 0, 0, G_OPTION_ARG_INT, &options.join_window_ms,
        "Time players have to join a guessing game (default 10000)", "MS" },
      { "game-timeout-ms", 0, 0, G_OPTION_ARG_INT, &options.game_timeout_ms,
        "Longest a guessing game runs (default 120000)", "MS" },
      { "max-line", 0, 0, G_OPTION_ARG_INT, &options.max_line,
        "Longest line accepted, in bytes (default 65536, at least 1024)", "BYTES" },
      { "max-clients", 0, 0, G_OPTION_ARG_INT, &options.max_clients,
        "Most connections at once (default 10000)", "N" },
      { "max-queue-bytes", 0, 0, G_OPTION_ARG_INT64, &options.max_queue_bytes,
        "Unsent output a client may have before it is dropped with 7010 (default 8 MiB)", "BYTES" },
      { "max-total-queue-bytes", 0, 0, G_OPTION_ARG_INT64, &options.max_total_queue_bytes,
        "Unsent output of all clients together before the slowest are dropped with 7010 (default 256 MiB)", "BYTES" },
      { "linger-ms", 0, 0, G_OPTION_ARG_INT, &options.linger_ms,
        "Time a closing connection gets to take its last bytes (default 2000)", "MS" },
      { "file-port", 0, 0, G_OPTION_ARG_INT, &options.file_port,
        "File-transfer side channel port (default 1338; 0 picks a free one)", "PORT" },
      { "offer-timeout-ms", 0, 0, G_OPTION_ARG_INT, &options.offer_timeout_ms,
        "Time a file offer waits for an answer, and an accepted one for its side channel (default 60000)", "MS" },
      { "header-timeout-ms", 0, 0, G_OPTION_ARG_INT, &options.header_timeout_ms,
        "Time a side-channel connection has to send its 37-byte header (default 10000)", "MS" },
      { "max-file-size", 0, 0, G_OPTION_ARG_INT64, &options.max_file_size,
        "Largest file offer accepted, in bytes (default 16 GiB)", "BYTES" },
      { "max-offers", 0, 0, G_OPTION_ARG_INT, &options.max_offers,
        "File offers one user may have waiting for an answer (default 16)", "N" },
      { "relay-window", 0, 0, G_OPTION_ARG_INT, &options.relay_window,
        "Bytes of one transfer the relay holds at most (default 262144)", "BYTES" },
      { "rate-bytes-per-token", 0, 0, G_OPTION_ARG_INT, &options.rate_bytes_per_token,
        "A request costs one token more per this many bytes of its reply (default 16384)", "BYTES" },
      { "max-transfers", 0, 0, G_OPTION_ARG_INT, &options.max_transfers,
        "Accepted, unfinished transfers per user, either side (default 16; more is 10005)", "N" },
      { "max-relays", 0, 0, G_OPTION_ARG_INT, &options.max_relays,
        "Accepted, unfinished transfers in all (default 4096; more is 10005)", "N" },
      { "relay-idle-timeout-ms", 0, 0, G_OPTION_ARG_INT, &options.relay_idle_timeout_ms,
        "A relay that moves no byte for this long ends (default 60000)", "MS" },
      { "max-side-channels", 0, 0, G_OPTION_ARG_INT, &options.max_side_channels,
        "Side-channel connections still owing their header, in all (default 1024)", "N" },
      { "max-file-connections-per-address", 0, 0, G_OPTION_ARG_INT, &options.max_file_connections_per_address,
        "Side-channel connections from one address (default 64, 0: no cap)", "N" },
      { "login-timeout-ms", 0, 0, G_OPTION_ARG_INT, &options.login_timeout_ms,
        "Time a connection has to log in before it is closed with 7013 (default 30000)", "MS" },
      { "rate-limit", 0, 0, G_OPTION_ARG_INT, &options.rate_limit,
        "Requests per second one connection may make, in bursts of twice that; more get 7014 (default 1000, 0 for none)", "N" },
      { "tls-cert", 0, 0, G_OPTION_ARG_FILENAME, &options.tls_cert,
        "PEM certificate (chain): turns on TLS on --tls-port and --tls-file-port", "FILE" },
      { "tls-key", 0, 0, G_OPTION_ARG_FILENAME, &options.tls_key, "PEM private key of --tls-cert", "FILE" },
      { "tls-port", 0, 0, G_OPTION_ARG_INT, &options.tls_port, "Chat port over TLS (default 1339)", "PORT" },
      { "tls-file-port", 0, 0, G_OPTION_ARG_INT, &options.tls_file_port,
        "File side channel over TLS (default 1340)", "PORT" },
      { "tls-only", 0, 0, G_OPTION_ARG_NONE, &options.tls_only, "Open no clear-text ports", NULL },
      { "handshake-timeout-ms", 0, 0, G_OPTION_ARG_INT, &options.handshake_timeout_ms,
        "Time a TLS handshake may take (default 10000)", "MS" },
      { "max-handshakes", 0, 0, G_OPTION_ARG_INT, &options.max_handshakes,
        "TLS handshakes unfinished at once, in all; more are closed (default 1024, 0: no cap)", "N" },
      { "max-handshakes-per-address", 0, 0, G_OPTION_ARG_INT, &options.max_handshakes_per_address,
        "TLS handshakes unfinished at once from one address (default 32, 0: no cap)", "N" },
      { "cluster", 0, 0, G_OPTION_ARG_STRING, &options.cluster,
        "Be a node of the cluster on this Redis (docs/cluster.md)", "redis://HOST:PORT|unix:PATH" },
      { "node-name", 0, 0, G_OPTION_ARG_STRING, &options.node_name,
        "This node's name in the cluster (default: HOST:PORT of the chat port)", "NAME" },
      { "advertise", 0, 0, G_OPTION_ARG_STRING, &options.advertise,
        "The numeric address other nodes reach this node's file port at (default: the one it is bound to)", "ADDRESS" },
      { "cluster-heartbeat-ms", 0, 0, G_OPTION_ARG_INT, &options.cluster_heartbeat_ms,
        "How often a node tells the cluster it lives (default 1000)", "MS" },
      { "cluster-dead-ms", 0, 0, G_OPTION_ARG_INT, &options.cluster_dead_ms,
        "A node silent this long is dead, and its users leave (default 3000)", "MS" },
      { "verbose", 'v', 0, G_OPTION_ARG_NONE, &verbose,
        "Log every connection, login and disconnect", NULL },
      { "version", 0, 0, G_OPTION_ARG_NONE, &version, "Print the version and exit", NULL },
      { NULL }
    };

    setlocale (LC_ALL, "");
    bindtextdomain (GETTEXT_PACKAGE, kletsen_locale_dir ());
    bind_textdomain_codeset (GETTEXT_PACKAGE, "UTF-8");

    context = g_option_context_new (NULL);
    g_option_context_set_summary (context, "The Kletsen chat server.");
    g_option_context_add_main_entries (context, entries, NULL);
    if (!g_option_context_parse (context, &argc, &argv, &error) || !check_options (&options, &error))
      {
        g_printerr ("%s: %s\n", g_get_prgname (), error->message);
        return EXIT_FAILURE;
      }
  }

  if (version)
    {
      g_print ("kletsen-server %s\n", PACKAGE_VERSION);
      return EXIT_SUCCESS;
    }
  /* Logs go to stderr: stdout carries only the "listening on" lines, and a
   * reader that stops reading it after "ready" must not block the server
   * (GLib writes INFO and DEBUG to stdout by default). */
  g_log_writer_default_set_use_stderr (TRUE);

  /* Per-connection events are logged at INFO level, which GLib's default
   * writer shows only for the domains named in G_MESSAGES_DEBUG. */
  if (verbose)
    g_setenv ("G_MESSAGES_DEBUG", "Kletsen-Server Kletsen-Protocol", TRUE);

  raise_descriptor_limit (options.max_clients);
  app.loop = g_main_loop_new (NULL, FALSE);
  app.server = kletsen_server_new (&options);
  g_free (options.bind);
  g_free (options.tls_cert);
  g_free (options.tls_key);
  g_free (options.cluster);
  g_free (options.node_name);
  g_free (options.advertise);

  if (!kletsen_server_start (app.server, &error) || !wait_for_cluster (app.server, options.cluster != NULL, &error))
    {
      g_printerr ("%s: cannot start: %s\n", g_get_prgname (), error->message);
      g_clear_object (&app.server);
      g_main_loop_unref (app.loop);
      return EXIT_FAILURE;
    }

  /* A peer that went away is EPIPE on the write that meets it, never a
   * signal that ends the server (every send also says MSG_NOSIGNAL, and
   * GnuTLS sessions GNUTLS_NO_SIGNAL: this is for anything that does not). */
  signal (SIGPIPE, SIG_IGN);
  g_unix_signal_add (SIGINT, on_signal_cb, &app);
  g_unix_signal_add (SIGTERM, on_signal_cb, &app);
  g_unix_signal_add (SIGHUP, on_hangup_cb, &app);

  /* Tests and scripts read these lines to learn the ports; "ready" ends them. */
  print_address ("listening on", kletsen_server_get_address (app.server));
  print_address ("file transfers on", kletsen_server_get_file_address (app.server));
  print_address ("tls listening on", kletsen_server_get_tls_address (app.server));
  print_address ("tls file transfers on", kletsen_server_get_tls_file_address (app.server));
  if (kletsen_server_get_cluster_incarnation (app.server) != NULL)
    printf ("cluster joined as %s\n", kletsen_server_get_cluster_incarnation (app.server));
  printf ("ready\n");
  fflush (stdout);

  g_main_loop_run (app.loop);

  g_clear_object (&app.server);
  g_main_loop_unref (app.loop);
  return EXIT_SUCCESS;
}
