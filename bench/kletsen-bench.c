/* kletsen-bench.c
 *
 * Copyright 2026 The Kletsen authors
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

/* Kletsen's own load generator: one thread, its own epoll loop (nothing of
 * the server's code path), talking to a kletsen-server on 127.0.0.1 only.
 *
 *   kletsen-bench --server PATH [--scenario NAME] [options]
 *
 * Scenarios:
 *   fanout   N clients log in; S of them send M broadcasts of B bytes each,
 *            at most W unacknowledged (BROADCAST_RESP) per sender; every
 *            delivery is counted and timed (the send time rides in the text)
 *   latency  fanout with one sender and one message in flight
 *   idle     N logged-in connections held (PINGs answered) for T seconds; the
 *            server's RSS before and after, per connection
 *   login    N clients connect and log in at once: time to the last LOGIN_RESP;
 *            with --silent K, one after another while K more connections that
 *            never send a byte are open (a slowloris on the TLS handshake)
 *   relay    a file through the side channel vs. one direct loopback connection
 *   list     N users online; one client asks for the list M times, one at a
 *            time: round trip and server CPU per request (clear text)
 *   all      each of the above with the defaults of docs/benchmarks.md
 *
 * One JSON line per run on stdout, then a table of every run. */

#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <gnutls/gnutls.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "kletsen-bench-common.h"

#define READ_CHUNK (256 * 1024)
#define MAX_EVENTS 512

typedef enum { C_HANDSHAKING, C_CONNECTING, C_WELCOMED, C_READY, C_DEAD } ClientState;

typedef struct
{
  int         fd;
  ClientState state;
  gboolean    want_out;
  GString    *in;        /* an unfinished line */
  GString    *out;       /* unsent bytes */
  gsize       out_off;
  guint       sent;      /* broadcasts sent (senders) */
  guint       acked;     /* BROADCAST_RESP received */
  gnutls_session_t tls;  /* NULL in clear text */
  gint64      connected_at;  /* µs, when connect() was called */
  guint32     login_us;      /* connect() to LOGIN_RESP */
  gboolean    tls_retry; /* the last record send returned EAGAIN */
  /* TLS read-ahead: one recv() for many records, where GnuTLS alone makes
   * two per record (header, then body). A load generator that decrypts
   * 1,000 clients' records on one core is otherwise what the fan-out
   * figures measure. */
  char       *ahead;
  guint       ahead_off;
  guint       ahead_len;
} Client;

#define AHEAD_SIZE (32 * 1024)

/* TLS: --tls-cert and --tls-key are passed to the server, and every
 * connection of the run speaks TLS to its TLS ports. The bench does not
 * verify the certificate: it only measures. */
static const char *tls_cert;
static const char *tls_key;
static gnutls_certificate_credentials_t tls_creds;
/* login: connections opened first that never send a byte */
static int silent;
/* list: side-channel connections opened first that never send their header */
static int silent_file;
/* --server-arg: more options for every server the bench starts */
static char **server_args;

typedef struct
{
  /* the server */
  pid_t    pid;
  int      port;
  int      file_port;
  /* the run */
  int      ep;
  Client  *clients;
  guint    n;
  guint    ready;
  guint    dead;
  /* fan-out */
  guint    senders;
  guint    messages;
  guint    bytes;
  guint    window;
  guint64  expected;
  guint64  delivered;
  guint64  nacks;
  gint64   first_send;
  gint64   last_delivery;
  GArray  *latency_us;   /* guint32 */
  char    *padding;
} Bench;

static long
proc_kib (pid_t pid, const char *key)
{
  g_autofree char *path = g_strdup_printf ("/proc/%d/status", (int)pid);
  g_autofree char *text = NULL;
  const char *p;

  if (!g_file_get_contents (path, &text, NULL, NULL) || (p = strstr (text, key)) == NULL)
    return -1;
  return strtol (p + strlen (key), NULL, 10);
}

/* CPU seconds this process (all its threads) has used so far. */
static double
self_cpu_s (void)
{
  struct rusage usage;

  getrusage (RUSAGE_SELF, &usage);
  return usage.ru_utime.tv_sec + usage.ru_stime.tv_sec +
         (usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
}

/* ---- the server ---- */

static void
server_start (Bench      *b,
              const char *binary,
              guint       max_clients)
{
  int pipefd[2];
  g_autofree char *max = g_strdup_printf ("%u", max_clients + 64);
  char buf[512];
  gsize got = 0;

  if (pipe (pipefd) != 0)
    g_error ("pipe: %s", g_strerror (errno));
  b->pid = fork ();
  if (b->pid == 0)
    {
      /* The server must not outlive a bench that is stopped. */
      prctl (PR_SET_PDEATHSIG, SIGTERM);
      dup2 (pipefd[1], STDOUT_FILENO);
      close (pipefd[0]);
      GPtrArray *argv = g_ptr_array_new ();
      const char *base[] = { binary, "--bind", "127.0.0.1", "--port", "0", "--file-port", "0",
                             "--max-clients", max, NULL };

      for (guint i = 0; base[i] != NULL; i++)
        g_ptr_array_add (argv, (char *)base[i]);
      if (tls_cert != NULL)
        {
          const char *tls[] = { "--tls-port", "0", "--tls-file-port", "0", "--tls-cert", tls_cert,
                                "--tls-key", tls_key, NULL };

          for (guint i = 0; tls[i] != NULL; i++)
            g_ptr_array_add (argv, (char *)tls[i]);
        }
      for (guint i = 0; server_args != NULL && server_args[i] != NULL; i++)
        g_ptr_array_add (argv, server_args[i]);
      g_ptr_array_add (argv, NULL);
      execv (binary, (char **)argv->pdata);
      _exit (127);
    }
  close (pipefd[1]);
  /* Lines up to "ready": the clear-text ports, then the TLS ones. */
  while (got < sizeof buf - 1 && strstr (buf, "ready\n") == NULL)
    {
      gssize n = read (pipefd[0], buf + got, sizeof buf - 1 - got);

      if (n <= 0)
        break;
      got += n;
      buf[got] = '\0';
    }
  close (pipefd[0]);
  buf[got] = '\0';
  for (char *line = buf, *nl; (nl = strchr (line, '\n')) != NULL; line = nl + 1)
    {
      *nl = '\0';
      if (g_str_has_prefix (line, "listening on ") && tls_cert == NULL)
        b->port = atoi (strrchr (line, ':') + 1);
      else if (g_str_has_prefix (line, "file transfers on ") && tls_cert == NULL)
        b->file_port = atoi (strrchr (line, ':') + 1);
      else if (g_str_has_prefix (line, "tls listening on "))
        b->port = atoi (strrchr (line, ':') + 1);
      else if (g_str_has_prefix (line, "tls file transfers on "))
        b->file_port = atoi (strrchr (line, ':') + 1);
    }
  if (b->port == 0 || b->file_port == 0)
    g_error ("the server did not start");
}

static void
server_stop (Bench *b)
{
  int status;

  if (b->pid <= 0)
    return;
  kill (b->pid, SIGTERM);
  for (int i = 0; i < 100 && waitpid (b->pid, &status, WNOHANG) == 0; i++)
    g_usleep (50000);
  kill (b->pid, SIGKILL);
  waitpid (b->pid, &status, 0);
  b->pid = 0;
}

/* ---- clients ---- */

static void
watch (Bench  *b,
       guint   i,
       gboolean out)
{
  Client *c = &b->clients[i];
  struct epoll_event ev = { .events = EPOLLIN | (out ? EPOLLOUT : 0), .data.u32 = i };

  if (c->want_out == out)
    return;
  c->want_out = out;
  epoll_ctl (b->ep, EPOLL_CTL_MOD, c->fd, &ev);
}

static void
client_kill (Bench      *b,
             guint       i,
             const char *why)
{
  Client *c = &b->clients[i];

  if (c->state == C_DEAD)
    return;
  if (b->dead++ == 0)
    g_printerr ("kletsen-bench: client %u: %s\n", i, why);
  if (c->state == C_READY)
    b->ready--;
  c->state = C_DEAD;
  epoll_ctl (b->ep, EPOLL_CTL_DEL, c->fd, NULL);
  close (c->fd);
  if (c->tls != NULL)
    gnutls_deinit (c->tls);
  c->tls = NULL;
  g_clear_pointer (&c->ahead, g_free);
  c->ahead_len = 0;
}

static ssize_t
client_pull (gnutls_transport_ptr_t  ptr,
             void                   *data,
             size_t                  size)
{
  Client *c = ptr;
  guint take;

  if (c->ahead_len == 0)
    {
      gssize n;

      if (c->ahead == NULL)
        c->ahead = g_malloc (AHEAD_SIZE);
      n = recv (c->fd, c->ahead, AHEAD_SIZE, 0);
      if (n <= 0)
        {
          gnutls_transport_set_errno (c->tls, n < 0 ? errno : 0);
          return n;
        }
      c->ahead_off = 0;
      c->ahead_len = n;
    }
  take = MIN (size, c->ahead_len);
  memcpy (data, c->ahead + c->ahead_off, take);
  c->ahead_off += take;
  c->ahead_len -= take;
  return take;
}

/* Bytes already read from the socket that no socket event will announce. */
static gboolean
client_has_buffered (Client *c)
{
  return c->tls != NULL && (c->ahead_len > 0 || gnutls_record_check_pending (c->tls) > 0);
}

/* send(2) or a TLS record, with send's results. GnuTLS wants a send that
 * returned EAGAIN repeated; NULL and 0 does that for whatever it held. */
static gssize
client_send (Client     *c,
             const char *data,
             gsize       len)
{
  gssize n;

  if (c->tls == NULL)
    return send (c->fd, data, len, MSG_NOSIGNAL);
  n = c->tls_retry ? gnutls_record_send (c->tls, NULL, 0) : gnutls_record_send (c->tls, data, MIN (len, 16384));
  c->tls_retry = n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED;
  if (c->tls_retry)
    {
      errno = EAGAIN;
      return -1;
    }
  if (n < 0)
    {
      errno = EPIPE;
      return -1;
    }
  return n;
}

static gssize
client_recv (Client *c,
             char   *buf,
             gsize   len)
{
  gssize n;

  if (c->tls == NULL)
    return recv (c->fd, buf, len, 0);
  n = gnutls_record_recv (c->tls, buf, len);
  if (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED)
    {
      errno = EAGAIN;
      return -1;
    }
  if (n == GNUTLS_E_PREMATURE_TERMINATION)
    return 0;
  if (n < 0)
    {
      errno = ECONNRESET;
      return -1;
    }
  return n;
}

static void
flush_out (Bench *b,
           guint  i)
{
  Client *c = &b->clients[i];

  while (c->out_off < c->out->len)
    {
      gssize n = client_send (c, c->out->str + c->out_off, c->out->len - c->out_off);

      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
        {
          watch (b, i, TRUE);
          return;
        }
      if (n <= 0)
        {
          client_kill (b, i, g_strerror (errno));
          return;
        }
      c->out_off += n;
    }
  g_string_truncate (c->out, 0);
  c->out_off = 0;
  watch (b, i, FALSE);
}

static void
queue (Bench      *b,
       guint       i,
       const char *data,
       gsize       len)
{
  g_string_append_len (b->clients[i].out, data, len);
}

static void
send_broadcast (Bench *b,
                guint  i)
{
  Client *c = &b->clients[i];
  char head[96];
  int n = g_snprintf (head, sizeof head, "BROADCAST_REQ {\"message\":\"%u:%" G_GINT64_FORMAT ":", i, kletsen_bench_now_us ());

  if (b->first_send == 0)
    b->first_send = kletsen_bench_now_us ();
  queue (b, i, head, n);
  queue (b, i, b->padding, b->bytes > (guint)n ? b->bytes - n : 1);
  queue (b, i, "\"}\n", 3);
  c->sent++;
}

static void
top_up (Bench *b,
        guint  i)
{
  Client *c = &b->clients[i];

  while (c->sent < b->messages && c->sent - c->acked < b->window)
    send_broadcast (b, i);
}

static void
handle_line (Bench *b,
             guint  i,
             char  *line,
             gsize  len)
{
  Client *c = &b->clients[i];

  if (len == 4 && memcmp (line, "PING", 4) == 0)
    queue (b, i, "PONG\n", 5);
  else if (strncmp (line, "BROADCAST {", 11) == 0)
    {
      const char *m = strstr (line, "\"message\":\"");
      char *end;
      gint64 sent;

      b->delivered++;
      b->last_delivery = kletsen_bench_now_us ();
      if (m != NULL && (end = strchr (m + 11, ':')) != NULL)
        {
          sent = g_ascii_strtoll (end + 1, NULL, 10);
          if (sent > 0)
            {
              guint32 us = (guint32)MIN (b->last_delivery - sent, G_MAXUINT32);

              g_array_append_val (b->latency_us, us);
            }
        }
    }
  else if (strncmp (line, "BROADCAST_RESP ", 15) == 0)
    {
      c->acked++;
      if (strstr (line, "\"OK\"") == NULL)
        b->nacks++;
      top_up (b, i);
    }
  else if (strncmp (line, "WELCOME ", 8) == 0 && c->state == C_CONNECTING)
    {
      char login[64];
      int n = g_snprintf (login, sizeof login, "LOGIN {\"username\":\"kb%05u\"}\n", i);

      c->state = C_WELCOMED;
      queue (b, i, login, n);
    }
  else if (strncmp (line, "LOGIN_RESP ", 11) == 0 && c->state == C_WELCOMED)
    {
      if (strstr (line, "\"OK\"") == NULL)
        client_kill (b, i, line);
      else
        {
          c->state = C_READY;
          c->login_us = (guint32)MIN (kletsen_bench_now_us () - c->connected_at, G_MAXUINT32);
          b->ready++;
        }
    }
  else if (strncmp (line, "DSCN ", 5) == 0)
    client_kill (b, i, line);
}

static void
read_client (Bench *b,
             guint  i,
             char  *buf)
{
  Client *c = &b->clients[i];

  /* TLS may hold decrypted bytes no socket event will announce: read on. */
  for (int round = 0; round < 4 || client_has_buffered (c); round++)
    {
      gssize n;

      if (c->state == C_DEAD)
        break;
      n = client_recv (c, buf, READ_CHUNK);
      char *p, *nl;

      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
        break;
      if (n <= 0)
        {
          client_kill (b, i, n == 0 ? "closed by the server" : g_strerror (errno));
          return;
        }
      p = buf;
      while ((nl = memchr (p, '\n', buf + n - p)) != NULL)
        {
          if (c->in->len > 0)
            {
              g_string_append_len (c->in, p, nl - p);
              handle_line (b, i, c->in->str, c->in->len);
              g_string_truncate (c->in, 0);
            }
          else
            {
              *nl = '\0';
              handle_line (b, i, p, nl - p);
            }
          p = nl + 1;
        }
      g_string_append_len (c->in, p, buf + n - p);
      if (n < READ_CHUNK && c->tls == NULL)
        break;
      /* TLS: the read-ahead took what the socket had; level-triggered
       * epoll says when more comes. */
      if (c->tls != NULL && !client_has_buffered (c))
        break;
    }
  if (c->state != C_DEAD && c->out->len > c->out_off)
    flush_out (b, i);
}

static void
poll_once (Bench *b,
           int    timeout_ms,
           char  *buf)
{
  struct epoll_event events[MAX_EVENTS];
  int n = epoll_wait (b->ep, events, MAX_EVENTS, timeout_ms);

  for (int e = 0; e < n; e++)
    {
      guint i = events[e].data.u32;
      Client *c = &b->clients[i];

      if (c->state == C_DEAD)
        continue;
      if (c->state == C_HANDSHAKING)
        {
          int ret = gnutls_handshake (c->tls);

          if (ret == GNUTLS_E_SUCCESS)
            {
              c->state = C_CONNECTING;
              watch (b, i, FALSE);
              /* The WELCOME may have come with the last handshake flight. */
              read_client (b, i, buf);
            }
          else if (gnutls_error_is_fatal (ret))
            client_kill (b, i, gnutls_strerror (ret));
          else
            watch (b, i, gnutls_record_get_direction (c->tls) == 1);
          continue;
        }
      if (events[e].events & EPOLLOUT)
        flush_out (b, i);
      if (c->state != C_DEAD && (events[e].events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
        read_client (b, i, buf);
    }
}

static int
connect_one (int port)
{
  struct sockaddr_in addr = { .sin_family = AF_INET, .sin_port = htons (port) };
  int fd = socket (AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  int one = 1;

  addr.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
  setsockopt (fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (connect (fd, (struct sockaddr *)&addr, sizeof addr) != 0 && errno != EINPROGRESS)
    g_error ("connect: %s", g_strerror (errno));
  return fd;
}

/* Connects and logs in n clients; returns the microseconds it took. */
static gint64
connect_all (Bench *b,
             guint  n,
             char  *buf,
             guint  batch)
{
  gint64 start = kletsen_bench_now_us ();
  gint64 deadline = start + 60 * G_USEC_PER_SEC;
  guint opened = 0;

  b->ep = epoll_create1 (EPOLL_CLOEXEC);
  b->clients = g_new0 (Client, n);
  b->n = n;
  while (b->ready + b->dead < n && kletsen_bench_now_us () < deadline)
    {
      /* Open in batches, so as not to overflow the listen backlog. */
      while (opened < n && opened - (b->ready + b->dead) < batch)
        {
          Client *c = &b->clients[opened];
          struct epoll_event ev = { .events = EPOLLIN, .data.u32 = opened };

          c->connected_at = kletsen_bench_now_us ();
          c->state = C_CONNECTING;
          c->fd = connect_one (b->port);
          c->in = g_string_new (NULL);
          c->out = g_string_new (NULL);
          if (tls_cert != NULL)
            {
              gnutls_init (&c->tls, GNUTLS_CLIENT | GNUTLS_NONBLOCK);
              gnutls_set_default_priority (c->tls);
              gnutls_credentials_set (c->tls, GNUTLS_CRD_CERTIFICATE, tls_creds);
              gnutls_transport_set_ptr2 (c->tls, c, GINT_TO_POINTER (c->fd));
              gnutls_transport_set_pull_function (c->tls, client_pull);
              c->state = C_HANDSHAKING;
              /* The first flight goes out once the connect completes. */
              ev.events = EPOLLIN | EPOLLOUT;
              c->want_out = TRUE;
            }
          epoll_ctl (b->ep, EPOLL_CTL_ADD, c->fd, &ev);
          opened++;
        }
      poll_once (b, 100, buf);
    }
  if (b->ready < n)
    g_error ("only %u of %u clients logged in (%u died)", b->ready, n, b->dead);
  return kletsen_bench_now_us () - start;
}

static void
disconnect_all (Bench *b)
{
  for (guint i = 0; i < b->n; i++)
    {
      if (b->clients[i].state != C_DEAD)
        close (b->clients[i].fd);
      if (b->clients[i].tls != NULL)
        gnutls_deinit (b->clients[i].tls);
      g_free (b->clients[i].ahead);
      g_string_free (b->clients[i].in, TRUE);
      g_string_free (b->clients[i].out, TRUE);
    }
  g_clear_pointer (&b->clients, g_free);
  close (b->ep);
  b->ready = b->dead = 0;
}

/* Waits until every client has read everything sent so far, answering PINGs. */
static void
settle (Bench *b,
        char  *buf,
        int    ms)
{
  gint64 end = kletsen_bench_now_us () + ms * 1000;

  while (kletsen_bench_now_us () < end)
    poll_once (b, 10, buf);
}

/* ---- results ---- */

typedef struct
{
  char   *name;
  char   *figure;
  char   *detail;
} Row;

static GPtrArray *rows;

static void
add_row (const char *name,
         char       *figure,
         char       *detail)
{
  Row *r = g_new0 (Row, 1);

  r->name = g_strdup (name);
  r->figure = figure;
  r->detail = detail;
  g_ptr_array_add (rows, r);
}

/* ---- scenarios ---- */

static void
run_fanout (const char *binary,
            const char *label,
            guint       n,
            guint       senders,
            guint       messages,
            guint       bytes,
            guint       window)
{
  Bench b = { 0 };
  g_autofree char *buf = g_malloc (READ_CHUNK + 1);
  gint64 deadline;
  double seconds, rate, cpu_before, cpu_ns;

  b.senders = senders;
  b.messages = messages;
  b.bytes = bytes;
  b.window = window;
  b.expected = (guint64)senders * messages * (n - 1);
  b.latency_us = g_array_sized_new (FALSE, FALSE, sizeof (guint32), MIN (b.expected, 4000000));
  b.padding = g_strnfill (bytes, 'x');
  server_start (&b, binary, n);
  connect_all (&b, n, buf, 256);
  settle (&b, buf, 300); /* the JOINED storm is over */

  b.delivered = 0;
  g_array_set_size (b.latency_us, 0);
  cpu_before = kletsen_bench_proc_cpu_s (b.pid);
  for (guint i = 0; i < senders; i++)
    {
      top_up (&b, i);
      flush_out (&b, i);
    }
  deadline = kletsen_bench_now_us () + 120 * G_USEC_PER_SEC;
  while (b.delivered < b.expected && kletsen_bench_now_us () < deadline && b.dead == 0)
    poll_once (&b, 100, buf);

  seconds = (b.last_delivery - b.first_send) / 1e6;
  rate = b.delivered / MAX (seconds, 1e-9);
  /* The fair figure on two cores, where the load generator can be the limit. */
  cpu_ns = (kletsen_bench_proc_cpu_s (b.pid) - cpu_before) * 1e9 / MAX (b.delivered, 1);
  g_array_sort (b.latency_us, kletsen_bench_compare_u32);
  printf ("{\"bench\":\"%s%s\",\"clients\":%u,\"senders\":%u,\"messages\":%u,\"bytes\":%u,\"window\":%u,"
          "\"expected\":%" G_GUINT64_FORMAT ",\"delivered\":%" G_GUINT64_FORMAT ",\"nacks\":%" G_GUINT64_FORMAT ","
          "\"seconds\":%.3f,\"deliveries_per_s\":%.0f,\"server_cpu_ns_per_delivery\":%.0f,"
          "\"p50_ms\":%.3f,\"p99_ms\":%.3f,\"max_ms\":%.3f,\"status\":\"%s\"}\n",
          label, tls_cert ? " tls" : "", n, senders, messages, bytes, window, b.expected, b.delivered, b.nacks, seconds, rate,
          cpu_ns,
          kletsen_bench_percentile (b.latency_us, 0.5), kletsen_bench_percentile (b.latency_us, 0.99), kletsen_bench_percentile (b.latency_us, 1.0),
          b.delivered == b.expected && b.nacks == 0 ? "ok" : "incomplete");
  fflush (stdout);
  add_row (tls_cert ? "fanout tls" : label, g_strdup_printf ("%.2f M deliveries/s", rate / 1e6),
           g_strdup_printf ("%u clients, %u×%u msgs of %u B, window %u; p50 %.2f ms, p99 %.2f ms; server %.0f ns CPU/delivery%s",
                            n, senders, messages, bytes, window, kletsen_bench_percentile (b.latency_us, 0.5),
                            kletsen_bench_percentile (b.latency_us, 0.99), cpu_ns,
                            b.delivered == b.expected ? "" : " (INCOMPLETE)"));

  disconnect_all (&b);
  server_stop (&b);
  g_array_unref (b.latency_us);
  g_free (b.padding);
}

static void
run_idle (const char *binary,
          guint       n,
          guint       hold_s)
{
  Bench b = { 0 };
  g_autofree char *buf = g_malloc (READ_CHUNK + 1);
  long before, after_login, after_hold;
  g_autofree char *label = g_strdup_printf ("idle %u", n);

  server_start (&b, binary, n);
  g_usleep (200000);
  before = proc_kib (b.pid, "VmRSS:");
  connect_all (&b, n, buf, 512);
  settle (&b, buf, 500);
  after_login = proc_kib (b.pid, "VmRSS:");
  settle (&b, buf, hold_s * 1000); /* PINGs come and are answered */
  after_hold = proc_kib (b.pid, "VmRSS:");

  printf ("{\"bench\":\"%s\",\"clients\":%u,\"hold_s\":%u,\"rss_before_kib\":%ld,\"rss_logged_in_kib\":%ld,"
          "\"rss_after_hold_kib\":%ld,\"bytes_per_connection\":%.0f,\"alive\":%u,\"status\":\"%s\"}\n",
          label, n, hold_s, before, after_login, after_hold, (MAX (after_login, after_hold) - before) * 1024.0 / n,
          b.ready, b.ready == n ? "ok" : "lost clients");
  fflush (stdout);
  add_row (label, g_strdup_printf ("%.0f B/connection", (MAX (after_login, after_hold) - before) * 1024.0 / n),
           g_strdup_printf ("RSS %ld → %ld KiB, %u of %u alive after %u s of heartbeats",
                            before, MAX (after_login, after_hold), b.ready, n, hold_s));
  disconnect_all (&b);
  server_stop (&b);
}

static void
run_login (const char *binary,
           guint       n)
{
  Bench b = { 0 };
  g_autofree char *buf = g_malloc (READ_CHUNK + 1);
  g_autofree char *label = g_strdup_printf ("login %u", n);
  gint64 us;

  g_autoptr(GArray) each = g_array_new (FALSE, FALSE, sizeof (guint32));
  g_autoptr(GArray) quiet = g_array_new (FALSE, FALSE, sizeof (int));

  if (silent > 0)
    {
      g_free (label);
      label = g_strdup_printf ("login %u, %d silent", n, silent);
    }
  server_start (&b, binary, n + silent);
  for (int i = 0; i < silent; i++)
    {
      int fd = connect_one (b.port);

      g_array_append_val (quiet, fd);
    }
  if (silent > 0)
    g_usleep (500000); /* accepted, and (for TLS) waiting for a ClientHello */
  /* Under the silent ones, logins one at a time: what each user waits,
   * rather than a storm's queue. */
  us = connect_all (&b, n, buf, silent > 0 ? 1 : 2048);
  for (guint i = 0; i < n; i++)
    g_array_append_val (each, b.clients[i].login_us);
  g_array_sort (each, kletsen_bench_compare_u32);
  printf ("{\"bench\":\"%s%s\",\"clients\":%u,\"seconds\":%.3f,\"login_p50_ms\":%.1f,\"login_p99_ms\":%.1f,"
          "\"login_max_ms\":%.1f,\"status\":\"ok\"}\n", label, tls_cert ? " tls" : "", n, us / 1e6,
          kletsen_bench_percentile (each, 0.5), kletsen_bench_percentile (each, 0.99), kletsen_bench_percentile (each, 1.0));
  fflush (stdout);
  add_row (label, g_strdup_printf ("%.2f s all", us / 1e6),
           g_strdup_printf ("%u clients at once; each from connect to LOGIN_RESP: p50 %.0f ms, p99 %.0f ms, max %.0f ms",
                            n, kletsen_bench_percentile (each, 0.5), kletsen_bench_percentile (each, 0.99), kletsen_bench_percentile (each, 1.0)));
  disconnect_all (&b);
  for (guint i = 0; i < quiet->len; i++)
    close (g_array_index (quiet, int, i));
  server_stop (&b);
}

static int
blocking_connect (int port)
{
  int fd = connect_one (port);
  struct pollfd p = { .fd = fd, .events = POLLOUT };

  /* Wait for the non-blocking connect, then block from here on. */
  poll (&p, 1, 10000);
  fcntl (fd, F_SETFL, fcntl (fd, F_GETFL) & ~O_NONBLOCK);
  return fd;
}

/* Reads one line from a blocking socket through @buf (a queue that keeps
 * what follows the line); the line is dropped, its first bytes are in @head. */
static gboolean
read_line_into (int      fd,
                GString *buf,
                char    *head,
                gsize    head_len)
{
  for (;;)
    {
      char *nl = memchr (buf->str, '\n', buf->len);
      char chunk[65536];
      gssize n;

      if (nl != NULL)
        {
          gsize len = nl - buf->str;

          memset (head, 0, head_len);
          memcpy (head, buf->str, MIN (len, head_len - 1));
          g_string_erase (buf, 0, len + 1);
          return TRUE;
        }
      n = recv (fd, chunk, sizeof chunk, 0);
      if (n <= 0)
        return FALSE;
      g_string_append_len (buf, chunk, n);
    }
}

/* One client asks for the user list K times, one at a time, while N users
 * are logged in: the round trip, and the server's CPU per request. */
static void
run_list (const char *binary,
          guint       n,
          guint       k)
{
  Bench b = { 0 };
  g_autofree char *buf = g_malloc (READ_CHUNK + 1);
  g_autofree char *label = g_strdup_printf ("list %u", n);
  g_autoptr(GArray) each = g_array_new (FALSE, FALSE, sizeof (guint32));
  g_autoptr(GString) in = g_string_new (NULL);
  g_autoptr(GArray) quiet = g_array_new (FALSE, FALSE, sizeof (int));
  const char *login = "LOGIN {\"username\":\"lister\"}\n";
  char head[64];
  double cpu_before, cpu_per;
  int fd;

  if (tls_cert != NULL)
    g_error ("the list scenario speaks clear text only");
  server_start (&b, binary, n + 1);
  connect_all (&b, n, buf, 2048);
  settle (&b, buf, 300);
  fd = blocking_connect (b.port);
  if (!read_line_into (fd, in, head, sizeof head) || !g_str_has_prefix (head, "WELCOME"))
    g_error ("no WELCOME");
  if (send (fd, login, strlen (login), MSG_NOSIGNAL) != (gssize)strlen (login) ||
      !read_line_into (fd, in, head, sizeof head) || !g_str_has_prefix (head, "LOGIN_RESP"))
    g_error ("no LOGIN_RESP");
  for (int i = 0; i < silent_file; i++)
    {
      int quiet_fd = connect_one (b.file_port);

      g_array_append_val (quiet, quiet_fd);
    }
  settle (&b, buf, silent_file > 0 ? 1000 : 200);
  cpu_before = kletsen_bench_proc_cpu_s (b.pid);
  for (guint i = 0; i < k; i++)
    {
      gint64 t = kletsen_bench_now_us ();
      guint32 us;

      if (send (fd, "LIST_USERS_REQ\n", 15, MSG_NOSIGNAL) != 15)
        g_error ("send: %s", g_strerror (errno));
      do
        if (!read_line_into (fd, in, head, sizeof head))
          g_error ("the server hung up");
      while (!g_str_has_prefix (head, "LIST_USERS_RESP"));
      if (strstr (head, "ERROR") != NULL)
        g_error ("LIST_USERS_RESP is an error (rate limited? add --server-arg=--rate-limit=0)");
      us = (guint32)(kletsen_bench_now_us () - t);
      g_array_append_val (each, us);
    }
  cpu_per = (kletsen_bench_proc_cpu_s (b.pid) - cpu_before) * 1e6 / k;
  close (fd);
  for (guint i = 0; i < quiet->len; i++)
    close (g_array_index (quiet, int, i));
  if (silent_file > 0)
    {
      g_free (label);
      label = g_strdup_printf ("list %u, %d silent side", n, silent_file);
    }
  g_array_sort (each, kletsen_bench_compare_u32);
  printf ("{\"bench\":\"%s\",\"clients\":%u,\"requests\":%u,\"rtt_p50_ms\":%.3f,\"rtt_p99_ms\":%.3f,"
          "\"server_cpu_us_per_request\":%.0f,\"status\":\"ok\"}\n", label, n, k,
          kletsen_bench_percentile (each, 0.5), kletsen_bench_percentile (each, 0.99), cpu_per);
  fflush (stdout);
  add_row (label, g_strdup_printf ("%.0f µs CPU/request", cpu_per),
           g_strdup_printf ("%u LIST_USERS_REQ one at a time with %u users online: round trip p50 %.2f ms, p99 %.2f ms",
                            k, n + 1, kletsen_bench_percentile (each, 0.5), kletsen_bench_percentile (each, 0.99)));
  disconnect_all (&b);
  server_stop (&b);
}

/* ---- the file relay ---- */

typedef struct
{
  int              fd;
  gnutls_session_t tls;
  gsize            size;
  gint64           started;
} Sender;

/* A blocking TLS session on a side-channel socket (relay under TLS). */
static gnutls_session_t
tls_blocking (int fd)
{
  gnutls_session_t session;
  int ret;

  gnutls_init (&session, GNUTLS_CLIENT);
  gnutls_set_default_priority (session);
  gnutls_credentials_set (session, GNUTLS_CRD_CERTIFICATE, tls_creds);
  gnutls_transport_set_int (session, fd);
  do
    ret = gnutls_handshake (session);
  while (ret < 0 && !gnutls_error_is_fatal (ret));
  if (ret < 0)
    g_error ("TLS handshake: %s", gnutls_strerror (ret));
  return session;
}

static void
send_all_tls (int               fd,
              gnutls_session_t  tls,
              const void       *data,
              gsize             len)
{
  while (len > 0)
    {
      gssize n = tls ? gnutls_record_send (tls, data, MIN (len, 16384)) : send (fd, data, len, MSG_NOSIGNAL);

      if (n <= 0)
        g_error ("send: %s", tls ? gnutls_strerror ((int)n) : g_strerror (errno));
      data = (const char *)data + n;
      len -= n;
    }
}

static void *
sender_thread (void *data)
{
  Sender *s = data;
  g_autofree char *block = g_malloc (1 << 20);
  gsize left = s->size;

  memset (block, 0xa5, 1 << 20);
  s->started = kletsen_bench_now_us ();
  while (left > 0)
    {
      gsize n = MIN (left, (gsize)1 << 20);

      send_all_tls (s->fd, s->tls, block, n);
      left -= n;
    }
  if (s->tls != NULL)
    gnutls_bye (s->tls, GNUTLS_SHUT_WR);
  else
    shutdown (s->fd, SHUT_WR);
  return NULL;
}

static double
receive_all (int               fd,
             gnutls_session_t  tls,
             gsize             expected,
             Sender           *s)
{
  g_autofree char *buf = g_malloc (1 << 20);
  gsize got = 0;
  gssize n;

  while ((n = tls ? gnutls_record_recv (tls, buf, 1 << 20) : recv (fd, buf, 1 << 20, 0)) > 0)
    got += n;
  if (got != expected)
    g_error ("relay: %zu of %zu bytes", got, expected);
  return (kletsen_bench_now_us () - s->started) / 1e6;
}


static char *
read_line_blocking (int              fd,
                    gnutls_session_t tls)
{
  GString *line = g_string_new (NULL);
  char ch;

  while ((tls ? gnutls_record_recv (tls, &ch, 1) : recv (fd, &ch, 1, 0)) == 1 && ch != '\n')
    g_string_append_c (line, ch);
  return g_string_free (line, FALSE);
}

static char *
expect_prefix (int               fd,
               gnutls_session_t  tls,
               const char       *prefix)
{
  for (;;)
    {
      char *line = read_line_blocking (fd, tls);

      if (g_str_has_prefix (line, prefix))
        return line;
      if (*line == '\0')
        g_error ("relay: connection closed waiting for %s", prefix);
      g_free (line);
    }
}

static double
relay_once (Bench            *b,
            int               alice,
            gnutls_session_t  chat_tls,
            int               bob,
            gnutls_session_t  chat_tls_bob,
            gsize             size)
{
  g_autofree char *offer = g_strdup_printf ("FILE_TRANSFER_REQUEST {\"receiver\":\"kbbob\",\"filename\":\"bench.bin\",\"size\":%zu,"
                                            "\"checksum\":\"%064d\"}\n", size, 0);
  g_autofree char *request = NULL;
  g_autofree char *answer = NULL;
  g_autofree char *reply = NULL;
  g_autofree char *up = NULL;
  g_autofree char *down = NULL;
  const char *id;
  Sender s = { 0 };
  pthread_t thread;
  double seconds;
  gnutls_session_t rtls;
  int rfd;

  send_all_tls (alice, chat_tls, offer, strlen (offer));
  request = expect_prefix (bob, chat_tls_bob, "FILE_TRANSFER_REQUEST");
  id = strstr (request, "\"transferId\":\"") + 14;
  answer = g_strdup_printf ("FILE_TRANSFER_RESPONSE {\"transferId\":\"%.36s\",\"status\":\"OK\"}\n", id);
  send_all_tls (bob, chat_tls_bob, answer, strlen (answer));
  reply = expect_prefix (alice, chat_tls, "FILE_TRANSFER_RESPONSE");
  up = g_strdup_printf ("%.36sS", id);
  down = g_strdup_printf ("%.36sR", id);

  rfd = blocking_connect (b->file_port);
  rtls = tls_cert ? tls_blocking (rfd) : NULL;
  send_all_tls (rfd, rtls, down, 37);
  s.fd = blocking_connect (b->file_port);
  s.tls = tls_cert ? tls_blocking (s.fd) : NULL;
  s.size = size;
  send_all_tls (s.fd, s.tls, up, 37);
  pthread_create (&thread, NULL, sender_thread, &s);
  seconds = receive_all (rfd, rtls, size, &s);
  pthread_join (thread, NULL);
  if (rtls != NULL)
    gnutls_deinit (rtls);
  if (s.tls != NULL)
    gnutls_deinit (s.tls);
  close (rfd);
  close (s.fd);
  return seconds;
}

static double
direct_once (gsize size)
{
  struct sockaddr_in addr = { .sin_family = AF_INET };
  socklen_t len = sizeof addr;
  int listener = socket (AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  Sender s = { 0 };
  pthread_t thread;
  double seconds;
  int down;

  addr.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
  bind (listener, (struct sockaddr *)&addr, sizeof addr);
  listen (listener, 1);
  getsockname (listener, (struct sockaddr *)&addr, &len);
  s.fd = blocking_connect (ntohs (addr.sin_port));
  s.size = size;
  down = accept (listener, NULL, NULL);
  pthread_create (&thread, NULL, sender_thread, &s);
  seconds = receive_all (down, NULL, size, &s);
  pthread_join (thread, NULL);
  close (down);
  close (s.fd);
  close (listener);
  return seconds;
}

static int
compare_double (const void *a,
                const void *b)
{
  double x = *(const double *)a, y = *(const double *)b;

  return (x > y) - (x < y);
}

static void
run_relay (const char *binary,
           guint       size_mib,
           guint       runs)
{
  Bench b = { 0 };
  gsize size = (gsize)size_mib << 20;
  g_autofree double *direct = g_new (double, runs);
  g_autofree double *relay = g_new (double, runs);
  g_autofree double *ratio = g_new (double, runs);
  g_autoptr(GString) ratios = NULL;
  long before, peak;
  int alice, bob;
  gnutls_session_t alice_tls, bob_tls;
  double cpu_direct = 0, cpu_ends = 0, cpu_server = 0, gib;
  char *line;

  server_start (&b, binary, 8);
  before = proc_kib (b.pid, "VmRSS:");
  alice = blocking_connect (b.port);
  bob = blocking_connect (b.port);
  alice_tls = tls_cert ? tls_blocking (alice) : NULL;
  bob_tls = tls_cert ? tls_blocking (bob) : NULL;
  g_free (expect_prefix (alice, alice_tls, "WELCOME"));
  g_free (expect_prefix (bob, bob_tls, "WELCOME"));
  send_all_tls (alice, alice_tls, "LOGIN {\"username\":\"kbalice\"}\n", 29);
  g_free (expect_prefix (alice, alice_tls, "LOGIN_RESP"));
  send_all_tls (bob, bob_tls, "LOGIN {\"username\":\"kbbob\"}\n", 27);
  line = expect_prefix (bob, bob_tls, "LOGIN_RESP");
  g_free (line);

  /* Where the CPU goes: the two ends (this process) with and without the
   * server between them, and the server. On a machine with few cores the
   * relay's rate is bounded by their sum. */
  for (guint i = 0; i < runs; i++)
    {
      double t0 = self_cpu_s (), t1, s1;

      direct[i] = size_mib / direct_once (size);
      t1 = self_cpu_s ();
      s1 = kletsen_bench_proc_cpu_s (b.pid);
      relay[i] = size_mib / relay_once (&b, alice, alice_tls, bob, bob_tls, size);
      cpu_direct += t1 - t0;
      cpu_ends += self_cpu_s () - t1;
      cpu_server += kletsen_bench_proc_cpu_s (b.pid) - s1;
    }
  gib = runs * size_mib / 1024.0;
  peak = proc_kib (b.pid, "VmHWM:");
  if (alice_tls != NULL)
    gnutls_deinit (alice_tls);
  if (bob_tls != NULL)
    gnutls_deinit (bob_tls);
  close (alice);
  close (bob);
  server_stop (&b);

  /* The median of paired ratios, as vs-inspircd.sh reports: each relay run
   * against the direct run just before it, so that a slow or fast spell of
   * the machine weighs on both sides of a pair. */
  ratios = g_string_new (NULL);
  for (guint i = 0; i < runs; i++)
    {
      ratio[i] = relay[i] / direct[i];
      g_string_append_printf (ratios, "%s%.3f", i > 0 ? "," : "", ratio[i]);
    }
  qsort (direct, runs, sizeof (double), compare_double);
  qsort (relay, runs, sizeof (double), compare_double);
  qsort (ratio, runs, sizeof (double), compare_double);
  printf ("{\"bench\":\"relay%s\",\"size_mib\":%u,\"runs\":%u,\"direct_mib_s\":%.0f,\"relay_mib_s\":%.0f,\"ratio\":%.3f,\"ratios\":[%s],"
          "\"rss_before_kib\":%ld,\"rss_peak_kib\":%ld,\"cpu_s_per_gib\":{\"direct\":%.2f,\"relay_ends\":%.2f,"
          "\"relay_server\":%.2f},\"status\":\"ok\"}\n",
          tls_cert ? " tls" : "", size_mib, runs, direct[runs / 2], relay[runs / 2], ratio[runs / 2],
          ratios->str, before, peak, cpu_direct / gib, cpu_ends / gib, cpu_server / gib);
  fflush (stdout);
  add_row (tls_cert ? "relay tls" : "relay", g_strdup_printf ("%.0f%% of direct", 100 * ratio[runs / 2]),
           g_strdup_printf ("%.0f vs %.0f MiB/s (median of %u × %u MiB); RSS %ld → %ld KiB; "
                            "CPU s per GiB: direct %.2f, relay %.2f ends + %.2f server",
                            relay[runs / 2], direct[runs / 2], runs, size_mib, before, peak,
                            cpu_direct / gib, cpu_ends / gib, cpu_server / gib));
}

/* ---- main ---- */

int
main (int    argc,
      char **argv)
{
  g_autofree char *binary = g_strdup (g_getenv ("KLETSEN_SERVER"));
  g_autofree char *scenario = g_strdup ("all");
  int n = 0, senders = 10, messages = 200, bytes = 200, window = 16, hold = 12, size_mib = 1024, runs = 3;
  GOptionEntry entries[] = {
    { "server", 0, 0, G_OPTION_ARG_FILENAME, &binary, "The kletsen-server binary", "PATH" },
    { "scenario", 0, 0, G_OPTION_ARG_STRING, &scenario, "fanout, latency, idle, login, relay or all", "NAME" },
    { "clients", 'n', 0, G_OPTION_ARG_INT, &n, "Clients", "N" },
    { "senders", 's', 0, G_OPTION_ARG_INT, &senders, "Senders (fanout)", "S" },
    { "messages", 'm', 0, G_OPTION_ARG_INT, &messages, "Messages per sender (fanout)", "M" },
    { "bytes", 0, 0, G_OPTION_ARG_INT, &bytes, "Bytes per message (fanout)", "B" },
    { "window", 0, 0, G_OPTION_ARG_INT, &window, "Messages in flight per sender (fanout)", "W" },
    { "hold", 0, 0, G_OPTION_ARG_INT, &hold, "Seconds to hold idle connections (idle)", "T" },
    { "size-mib", 0, 0, G_OPTION_ARG_INT, &size_mib, "File size (relay)", "MIB" },
    { "runs", 0, 0, G_OPTION_ARG_INT, &runs, "Runs, median reported (relay)", "N" },
    { "server-arg", 0, 0, G_OPTION_ARG_STRING_ARRAY, &server_args, "One more option for the server (repeatable)", "ARG" },
    { "silent-file", 0, 0, G_OPTION_ARG_INT, &silent_file, "Side-channel connections that never send their header, open during the requests (list)", "K" },
    { "silent", 0, 0, G_OPTION_ARG_INT, &silent, "Connections that never send a byte, open during the logins (login)", "K" },
    { "tls-cert", 0, 0, G_OPTION_ARG_FILENAME, &tls_cert, "Run the server with TLS and speak TLS to it", "FILE" },
    { "tls-key", 0, 0, G_OPTION_ARG_FILENAME, &tls_key, "The key of --tls-cert", "FILE" },
    { NULL }
  };
  g_autoptr(GOptionContext) context = g_option_context_new (NULL);
  g_autoptr(GError) error = NULL;
  struct rlimit limit;

  g_option_context_set_summary (context, "Kletsen's load generator (127.0.0.1 only).");
  g_option_context_add_main_entries (context, entries, NULL);
  if (!g_option_context_parse (context, &argc, &argv, &error) || binary == NULL)
    {
      g_printerr ("%s\n", error ? error->message : "kletsen-bench: --server PATH (or KLETSEN_SERVER) is needed");
      return 2;
    }
  signal (SIGPIPE, SIG_IGN);
  if (tls_cert != NULL)
    {
      if (tls_key == NULL)
        {
          g_printerr ("kletsen-bench: --tls-cert needs --tls-key\n");
          return 2;
        }
      gnutls_global_init ();
      gnutls_certificate_allocate_credentials (&tls_creds);
    }
  if (getrlimit (RLIMIT_NOFILE, &limit) == 0)
    {
      limit.rlim_cur = limit.rlim_max;
      setrlimit (RLIMIT_NOFILE, &limit);
    }
  rows = g_ptr_array_new ();

  if (g_str_equal (scenario, "fanout"))
    run_fanout (binary, "fanout", n ? n : 1000, senders, messages, bytes, window);
  else if (g_str_equal (scenario, "latency"))
    run_fanout (binary, "latency", n ? n : 100, 1, messages == 200 ? 2000 : messages, bytes, 1);
  else if (g_str_equal (scenario, "idle"))
    run_idle (binary, n ? n : 5000, hold);
  else if (g_str_equal (scenario, "login"))
    run_login (binary, n ? n : 10000);
  else if (g_str_equal (scenario, "relay"))
    run_relay (binary, size_mib, runs);
  else if (g_str_equal (scenario, "list"))
    run_list (binary, n ? n : 9000, messages == 200 ? 200 : messages);
  else if (g_str_equal (scenario, "all"))
    {
      run_fanout (binary, "fanout 1000", 1000, 10, 200, 200, 16);
      run_fanout (binary, "fanout 100", 100, 10, 1000, 200, 16);
      run_fanout (binary, "latency 100", 100, 1, 2000, 200, 1);
      run_idle (binary, 5000, hold);
      run_idle (binary, 10000, hold);
      run_login (binary, 10000);
      run_relay (binary, size_mib, runs);
    }
  else
    {
      g_printerr ("kletsen-bench: unknown scenario %s\n", scenario);
      return 2;
    }

  printf ("\n%-14s %-22s %s\n", "scenario", "result", "details");
  for (guint i = 0; i < rows->len; i++)
    {
      Row *r = g_ptr_array_index (rows, i);

      printf ("%-14s %-22s %s\n", r->name, r->figure, r->detail);
    }
  return 0;
}
