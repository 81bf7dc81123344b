/* kletsen-relay-bench.c
 *
 * Copyright 2026 The Kletsen authors
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

/* Relays a large file through kletsen-server's side channel on 127.0.0.1 and
 * prints the rate and the server's memory, next to the same bytes sent over
 * one direct loopback TCP connection (the ceiling on this machine).
 *
 *   kletsen-relay-bench [--server PATH] [--size-mib N] [--runs N]
 *
 * Prints a human table, then one JSON line. Only ever connects to 127.0.0.1. */

#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <gio/gio.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define CHUNK (1024 * 1024)

static int
connect_local (int port)
{
  struct sockaddr_in addr = { .sin_family = AF_INET, .sin_port = htons (port) };
  int fd = socket (AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

  addr.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
  if (fd < 0 || connect (fd, (struct sockaddr *)&addr, sizeof addr) != 0)
    g_error ("cannot connect to 127.0.0.1:%d: %s", port, g_strerror (errno));
  return fd;
}

static void
send_all (int         fd,
          const void *data,
          gsize       len)
{
  while (len > 0)
    {
      gssize n = send (fd, data, len, MSG_NOSIGNAL);

      if (n <= 0)
        g_error ("send: %s", g_strerror (errno));
      data = (const char *)data + n;
      len -= n;
    }
}

/* Reads one line from a blocking chat socket (byte by byte: only a handful of
 * short lines are read here, outside the measured part). */
static char *
read_line (int fd)
{
  GString *line = g_string_new (NULL);
  char c;

  while (recv (fd, &c, 1, 0) == 1 && c != '\n')
    g_string_append_c (line, c);
  return g_string_free (line, FALSE);
}

static char *
expect_line (int         fd,
             const char *prefix)
{
  for (;;)
    {
      char *line = read_line (fd);

      if (g_str_has_prefix (line, prefix))
        return line;
      if (*line == '\0')
        g_error ("connection closed while waiting for %s", prefix);
      if (g_str_equal (line, "PING"))
        send_all (fd, "PONG\n", 5);
      g_free (line);
    }
}

static gint64
proc_kib (GPid        pid,
          const char *field)
{
  g_autofree char *path = g_strdup_printf ("/proc/%d/status", pid);
  g_autofree char *status = NULL;
  const char *p;

  if (!g_file_get_contents (path, &status, NULL, NULL) || (p = strstr (status, field)) == NULL)
    return -1;
  return g_ascii_strtoll (p + strlen (field), NULL, 10);
}

typedef struct
{
  int    fd;
  gsize  size;
  gint64 started;
} Sender;

static gpointer
sender_thread (gpointer user_data)
{
  Sender *s = user_data;
  g_autofree char *block = g_malloc (CHUNK);
  gsize left = s->size;

  memset (block, 0xa5, CHUNK);
  s->started = g_get_monotonic_time ();
  while (left > 0)
    {
      gsize n = MIN (left, CHUNK);

      send_all (s->fd, block, n);
      left -= n;
    }
  shutdown (s->fd, SHUT_WR);
  return NULL;
}

/* Reads to EOF; returns the seconds from the sender's start to the last byte. */
static double
receive_all (int     fd,
             gsize   expected,
             Sender *sender)
{
  g_autofree char *buf = g_malloc (CHUNK);
  gsize got = 0;
  gssize n;

  while ((n = recv (fd, buf, CHUNK, 0)) > 0)
    got += n;
  if (got != expected)
    g_error ("received %zu bytes, expected %zu", got, expected);
  return (g_get_monotonic_time () - sender->started) / 1e6;
}

static double
run_direct (gsize size)
{
  int listener = socket (AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_in addr = { .sin_family = AF_INET };
  socklen_t len = sizeof addr;
  Sender sender = { 0 };
  GThread *thread;
  double seconds;
  int down;

  addr.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
  if (bind (listener, (struct sockaddr *)&addr, sizeof addr) != 0 || listen (listener, 1) != 0 ||
      getsockname (listener, (struct sockaddr *)&addr, &len) != 0)
    g_error ("direct: %s", g_strerror (errno));
  sender.fd = connect_local (ntohs (addr.sin_port));
  sender.size = size;
  down = accept (listener, NULL, NULL);
  thread = g_thread_new ("direct-sender", sender_thread, &sender);
  seconds = receive_all (down, size, &sender);
  g_thread_join (thread);
  close (down);
  close (sender.fd);
  close (listener);
  return seconds;
}

typedef struct
{
  GSubprocess *process;
  GPid         pid;
  int          port;
  int          file_port;
  int          alice;
  int          bob;
} Server;

static void
server_start (Server     *server,
              const char *binary)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GDataInputStream) out = NULL;
  g_autofree char *chat = NULL;
  g_autofree char *file = NULL;

  server->process = g_subprocess_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE, &error, binary,
                                      "--bind", "127.0.0.1", "--port", "0", "--file-port", "0", NULL);
  if (server->process == NULL)
    g_error ("cannot start %s: %s", binary, error->message);
  server->pid = (GPid)g_ascii_strtoll (g_subprocess_get_identifier (server->process), NULL, 10);
  out = g_data_input_stream_new (g_subprocess_get_stdout_pipe (server->process));
  chat = g_data_input_stream_read_line (out, NULL, NULL, NULL);
  file = g_data_input_stream_read_line (out, NULL, NULL, NULL);
  if (chat == NULL || file == NULL)
    g_error ("the server did not say where it listens");
  server->port = atoi (strrchr (chat, ':') + 1);
  server->file_port = atoi (strrchr (file, ':') + 1);

  server->alice = connect_local (server->port);
  server->bob = connect_local (server->port);
  g_free (expect_line (server->alice, "WELCOME"));
  g_free (expect_line (server->bob, "WELCOME"));
  send_all (server->alice, "LOGIN {\"username\":\"alice\"}\n", 27);
  g_free (expect_line (server->alice, "LOGIN_RESP {\"status\":\"OK\"}"));
  send_all (server->bob, "LOGIN {\"username\":\"bob\"}\n", 25);
  g_free (expect_line (server->bob, "LOGIN_RESP {\"status\":\"OK\"}"));
}

static void
server_stop (Server *server)
{
  close (server->alice);
  close (server->bob);
  g_subprocess_send_signal (server->process, SIGTERM);
  g_subprocess_wait (server->process, NULL, NULL);
  g_clear_object (&server->process);
}

/* Negotiates one transfer and returns its id. */
static char *
negotiate (Server *server,
           gsize   size)
{
  g_autofree char *offer = g_strdup_printf ("FILE_TRANSFER_REQUEST {\"receiver\":\"bob\",\"filename\":\"bench.bin\","
                                            "\"size\":%zu,\"checksum\":\"%064d\"}\n", size, 0);
  g_autofree char *request = NULL;
  g_autofree char *accept_line = NULL;
  g_autofree char *reply = NULL;
  const char *id;

  send_all (server->alice, offer, strlen (offer));
  request = expect_line (server->bob, "FILE_TRANSFER_REQUEST");
  id = strstr (request, "\"transferId\":\"");
  if (id == NULL)
    g_error ("no transferId in %s", request);
  id += strlen ("\"transferId\":\"");
  accept_line = g_strdup_printf ("FILE_TRANSFER_RESPONSE {\"transferId\":\"%.36s\",\"status\":\"OK\"}\n", id);
  send_all (server->bob, accept_line, strlen (accept_line));
  reply = expect_line (server->alice, "FILE_TRANSFER_RESPONSE");
  return g_strndup (id, 36);
}

typedef struct
{
  double seconds;
  gint64 rss_before;
  gint64 rss_peak;
} RelayResult;

static void
run_relay (Server      *server,
           gsize        size,
           RelayResult *result)
{
  g_autofree char *id = negotiate (server, size);
  g_autofree char *up_header = g_strdup_printf ("%sS", id);
  g_autofree char *down_header = g_strdup_printf ("%sR", id);
  Sender sender = { 0 };
  GThread *thread;
  int down;

  result->rss_before = proc_kib (server->pid, "VmRSS:");
  down = connect_local (server->file_port);
  send_all (down, down_header, 37);
  sender.fd = connect_local (server->file_port);
  sender.size = size;
  send_all (sender.fd, up_header, 37);
  thread = g_thread_new ("relay-sender", sender_thread, &sender);
  result->seconds = receive_all (down, size, &sender);
  g_thread_join (thread);
  /* VmHWM is the peak since the server started, before any transfer. */
  result->rss_peak = proc_kib (server->pid, "VmHWM:");
  close (down);
  close (sender.fd);
}

static int
compare_doubles (const void *a,
                 const void *b)
{
  double x = *(const double *)a, y = *(const double *)b;

  return (x > y) - (x < y);
}

int
main (int    argc,
      char **argv)
{
  const char *binary = g_getenv ("KLETSEN_SERVER");
  int size_mib = 1024;
  int runs = 3;
  GOptionEntry entries[] = {
    { "server", 0, 0, G_OPTION_ARG_FILENAME, &binary, "The kletsen-server binary", "PATH" },
    { "size-mib", 0, 0, G_OPTION_ARG_INT, &size_mib, "Bytes per run, in MiB (default 1024)", "N" },
    { "runs", 0, 0, G_OPTION_ARG_INT, &runs, "Runs of each; the median is reported (default 3)", "N" },
    { NULL }
  };
  g_autoptr(GOptionContext) context = g_option_context_new (NULL);
  g_autoptr(GError) error = NULL;
  g_autofree double *direct = NULL;
  g_autofree double *relay = NULL;
  gint64 rss_before = 0, rss_peak = 0;
  double direct_rate, relay_rate, mib;
  gsize size;
  Server server = { 0 };

  g_option_context_set_summary (context, "Relays a file through kletsen-server on 127.0.0.1 and compares it with direct loopback TCP.");
  g_option_context_add_main_entries (context, entries, NULL);
  if (!g_option_context_parse (context, &argc, &argv, &error) || binary == NULL || size_mib <= 0 || runs <= 0)
    {
      g_printerr ("%s\n", error ? error->message : "usage: kletsen-relay-bench --server PATH [--size-mib N] [--runs N]");
      return 2;
    }

  size = (gsize)size_mib * 1024 * 1024;
  mib = size / (1024.0 * 1024.0);
  direct = g_new (double, runs);
  relay = g_new (double, runs);

  server_start (&server, binary);
  for (int i = 0; i < runs; i++)
    {
      RelayResult r;

      direct[i] = mib / run_direct (size);
      run_relay (&server, size, &r);
      relay[i] = mib / r.seconds;
      if (i == 0)
        rss_before = r.rss_before;
      rss_peak = MAX (rss_peak, r.rss_peak);
      g_printerr ("run %d: direct %.0f MiB/s, relay %.0f MiB/s\n", i + 1, direct[i], relay[i]);
    }
  server_stop (&server);

  qsort (direct, runs, sizeof (double), compare_doubles);
  qsort (relay, runs, sizeof (double), compare_doubles);
  direct_rate = direct[runs / 2];
  relay_rate = relay[runs / 2];

  printf ("%-28s %12s\n", "file relay, 127.0.0.1", "median");
  printf ("%-28s %9.0f MiB/s\n", "direct loopback TCP", direct_rate);
  printf ("%-28s %9.0f MiB/s\n", "through kletsen-server", relay_rate);
  printf ("%-28s %11.1f %%\n", "relay / direct", 100.0 * relay_rate / direct_rate);
  printf ("%-28s %9" G_GINT64_FORMAT " KiB\n", "server RSS before", rss_before);
  printf ("%-28s %9" G_GINT64_FORMAT " KiB\n", "server peak RSS (VmHWM)", rss_peak);
  printf ("{\"bench\":\"relay\",\"size_mib\":%d,\"runs\":%d,\"direct_mib_s\":%.1f,\"relay_mib_s\":%.1f,"
          "\"ratio\":%.3f,\"rss_before_kib\":%" G_GINT64_FORMAT ",\"rss_peak_kib\":%" G_GINT64_FORMAT "}\n",
          size_mib, runs, direct_rate, relay_rate, relay_rate / direct_rate, rss_before, rss_peak);
  return 0;
}
