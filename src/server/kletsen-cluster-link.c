/* kletsen-cluster-link.c
 *
 * Copyright 2026 The Kletsen authors
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

/* One hiredis connection whose descriptor is in the server's poll set
 * (kletsen-poller.h). hiredis reads at most 16 KiB per call, so a wake-up
 * reads until the kernel holds nothing more (FIONREAD), at most 64 times:
 * with one read per wake-up a busy node fell behind its own subscription and
 * Redis dropped it at its 32 MiB output limit (design, cluster-probe). */

#include "config.h"

#include <errno.h>
#include <sys/ioctl.h>

#include "kletsen-cluster-private.h"

#define MAX_READS_PER_WAKE 64

typedef struct
{
  GList             link;  /* first */
  KletsenRedisLink *owner;
  redisCallbackFn  *fn;
  gpointer          data;
  gint64            sent_at;
} LinkCall;

gboolean
_kletsen_redis_address_parse (const char           *text,
                              KletsenRedisAddress  *address,
                              GError              **error)
{
  memset (address, 0, sizeof *address);
  if (g_str_has_prefix (text, "unix:") && text[5] != '\0')
    {
      address->path = g_strdup (text + 5);
      return TRUE;
    }
  if (g_str_has_prefix (text, "redis://"))
    {
      const char *hostport = text + strlen ("redis://");
      const char *colon = strrchr (hostport, ':');
      guint64 port = 6379;

      if (colon != NULL &&
          (!g_ascii_string_to_unsigned (colon + 1, 10, 1, 65535, &port, NULL)))
        colon = NULL, port = 0;
      if (port != 0 && hostport[0] != '\0' && hostport[0] != ':')
        {
          address->host = colon ? g_strndup (hostport, colon - hostport) : g_strdup (hostport);
          address->port = (int)port;
          /* A trailing /DB or [::1] brackets are not taken: say so. */
          if (strchr (address->host, '/') == NULL && address->host[0] != '\0')
            return TRUE;
          g_clear_pointer (&address->host, g_free);
        }
    }
  g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
               "--cluster wants redis://HOST:PORT or unix:PATH, not “%s”", text);
  return FALSE;
}

void
_kletsen_redis_address_clear (KletsenRedisAddress *address)
{
  g_clear_pointer (&address->host, g_free);
  g_clear_pointer (&address->path, g_free);
}

/* ---- hiredis's event hooks ---- */

static void
hook_add_read (void *data)
{
  KletsenRedisLink *link = data;

  if (!link->watch.want_in)
    {
      link->watch.want_in = TRUE;
      _kletsen_fd_watch_update (link->server, &link->watch);
    }
}

static void
hook_del_read (void *data)
{
  KletsenRedisLink *link = data;

  if (link->watch.want_in)
    {
      link->watch.want_in = FALSE;
      _kletsen_fd_watch_update (link->server, &link->watch);
    }
}

static void
hook_add_write (void *data)
{
  KletsenRedisLink *link = data;

  if (!link->watch.want_out)
    {
      link->watch.want_out = TRUE;
      _kletsen_fd_watch_update (link->server, &link->watch);
    }
}

static void
hook_del_write (void *data)
{
  KletsenRedisLink *link = data;

  if (link->watch.want_out)
    {
      link->watch.want_out = FALSE;
      _kletsen_fd_watch_update (link->server, &link->watch);
    }
}

/* hiredis frees the context: after an error, at EOF, or on our close. */
static void
hook_cleanup (void *data)
{
  KletsenRedisLink *link = data;

  _kletsen_fd_watch_remove (link->server, &link->watch);
  link->watch.want_in = link->watch.want_out = FALSE;
  link->ac = NULL;
}

static void
link_ready (KletsenFdWatch *watch,
            GIOCondition    events)
{
  KletsenRedisLink *link = (KletsenRedisLink *)watch;

  if (link->ac != NULL && (events & G_IO_OUT))
    redisAsyncHandleWrite (link->ac);
  if (events & (G_IO_IN | G_IO_HUP | G_IO_ERR))
    {
      for (guint i = 0; i < MAX_READS_PER_WAKE && link->ac != NULL; i++)
        {
          int fd = link->ac->c.fd;
          int waiting = 0;

          redisAsyncHandleRead (link->ac);
          if (link->ac == NULL || ioctl (fd, FIONREAD, &waiting) != 0 || waiting == 0)
            break;
        }
    }
}

static void
on_connect (const redisAsyncContext *ac,
            int                      status)
{
  KletsenRedisLink *link = ac->ev.data;

  if (status == REDIS_OK)
    link->connected = TRUE;
  /* A connect that fails never reaches on_disconnect in hiredis 0.14:
   * the loss is reported from here. */
  else if (link->lost != NULL)
    link->lost (link, ac->errstr, link->lost_data);
}

static void
on_disconnect (const redisAsyncContext *ac,
               int                      status)
{
  KletsenRedisLink *link = ac->ev.data;

  link->connected = FALSE;
  if (link->lost != NULL)
    link->lost (link, status == REDIS_OK ? "closed" : ac->errstr, link->lost_data);
}

gboolean
_kletsen_redis_link_open (KletsenRedisLink          *link,
                          const KletsenRedisAddress *address,
                          GError                   **error)
{
  redisAsyncContext *ac;

  g_return_val_if_fail (link->ac == NULL, FALSE);

  ac = address->path != NULL ? redisAsyncConnectUnix (address->path)
                             : redisAsyncConnect (address->host, address->port);
  if (ac == NULL || ac->err)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "cannot reach Redis: %s",
                   ac ? ac->errstr : "out of memory");
      if (ac != NULL)
        redisAsyncFree (ac);
      return FALSE;
    }
  link->ac = ac;
  link->connected = FALSE;
  link->watch.ready = link_ready;
  link->watch.fd = ac->c.fd;
  link->watch.want_in = link->watch.want_out = FALSE;
  ac->ev.data = link;
  ac->ev.addRead = hook_add_read;
  ac->ev.delRead = hook_del_read;
  ac->ev.addWrite = hook_add_write;
  ac->ev.delWrite = hook_del_write;
  ac->ev.cleanup = hook_cleanup;
  redisAsyncSetConnectCallback (ac, on_connect);
  redisAsyncSetDisconnectCallback (ac, on_disconnect);
  /* The first event tells a non-blocking connect's end. */
  hook_add_write (link);
  return TRUE;
}

void
_kletsen_redis_link_close (KletsenRedisLink *link)
{
  KletsenRedisLinkLost lost = link->lost;

  if (link->ac == NULL)
    return;
  /* Closing on purpose is not a loss to report. */
  link->lost = NULL;
  redisAsyncFree (link->ac);
  link->ac = NULL;
  link->lost = lost;
  _kletsen_fd_watch_remove (link->server, &link->watch);
}

static void
call_done (redisAsyncContext *ac,
           void              *reply,
           void              *data)
{
  LinkCall *call = data;

  g_queue_unlink (&call->owner->calls, &call->link);
  if (call->fn != NULL)
    call->fn (ac, reply, call->data);
  g_free (call);
}

gboolean
_kletsen_redis_link_call (KletsenRedisLink  *link,
                          redisCallbackFn   *fn,
                          gpointer           data,
                          int                argc,
                          const char       **argv,
                          const gsize       *argvlen)
{
  LinkCall *call;

  if (link->ac == NULL)
    return FALSE;
  call = g_new0 (LinkCall, 1);
  call->link.data = call;
  call->owner = link;
  call->fn = fn;
  call->data = data;
  call->sent_at = g_get_monotonic_time ();
  if (redisAsyncCommandArgv (link->ac, call_done, call, argc, argv, argvlen) != REDIS_OK)
    {
      g_free (call);
      return FALSE;
    }
  g_queue_push_tail_link (&link->calls, &call->link);
  return TRUE;
}

gboolean
_kletsen_redis_link_subscribe (KletsenRedisLink  *link,
                               redisCallbackFn   *fn,
                               gpointer           data,
                               int                argc,
                               const char       **argv)
{
  if (link->ac == NULL)
    return FALSE;
  return redisAsyncCommandArgv (link->ac, fn, data, argc, argv, NULL) == REDIS_OK;
}

gint64
_kletsen_redis_link_oldest (KletsenRedisLink *link)
{
  GList *head = link->calls.head;

  return head != NULL ? ((LinkCall *)head->data)->sent_at : 0;
}
