/* kletsen-test-redis.c
 *
 * Copyright 2026 The Kletsen authors
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#include "config.h"

#include <gio/gunixsocketaddress.h>
#include <glib/gstdio.h>
#include <signal.h>
#include <string.h>

#include "kletsen-test-redis.h"

gboolean
kt_redis_available (void)
{
  g_autofree char *path = g_find_program_in_path ("redis-server");

  return path != NULL;
}

static GSocket *
connect_socket (const char *path,
                GError    **error)
{
  g_autoptr(GSocketAddress) address = g_unix_socket_address_new (path);
  g_autoptr(GSocket) socket = g_socket_new (G_SOCKET_FAMILY_UNIX, G_SOCKET_TYPE_STREAM, 0, error);

  if (socket == NULL || !g_socket_connect (socket, address, NULL, error))
    return NULL;
  g_socket_set_timeout (socket, 10);
  return g_steal_pointer (&socket);
}

char *
kt_redis_command (KtRedis    *redis,
                  const char *command)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GSocket) socket = connect_socket (redis->socket_path, &error);
  g_autofree char *line = g_strconcat (command, "\r\n", NULL);
  GString *reply = g_string_new (NULL);
  char buffer[4096];

  g_assert_no_error (error);
  g_assert_cmpint (g_socket_send (socket, line, strlen (line), NULL, &error), ==, (gssize)strlen (line));
  while (strstr (reply->str, "\r\n") == NULL)
    {
      gssize n = g_socket_receive (socket, buffer, sizeof buffer, NULL, &error);

      g_assert_no_error (error);
      g_assert_cmpint (n, >, 0);
      g_string_append_len (reply, buffer, n);
    }
  g_string_truncate (reply, strstr (reply->str, "\r\n") - reply->str);
  return g_string_free (reply, FALSE);
}

static void
spawn (KtRedis *redis)
{
  g_autoptr(GSubprocessLauncher) launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDOUT_SILENCE);
  g_autoptr(GError) error = NULL;

  g_subprocess_launcher_set_child_setup (launcher, kt_die_with_parent, NULL, NULL);
  redis->process = g_subprocess_launcher_spawn (launcher, &error, "redis-server",
                                                "--port", "0",
                                                "--unixsocket", redis->socket_path,
                                                "--unixsocketperm", "700",
                                                "--save", "",
                                                "--appendonly", "no",
                                                "--dir", redis->dir,
                                                NULL);
  g_assert_no_error (error);
  /* Ready when it answers on its socket. */
  for (guint i = 0; i < 200; i++)
    {
      g_autoptr(GSocket) socket = connect_socket (redis->socket_path, NULL);

      if (socket != NULL)
        return;
      g_usleep (20 * 1000);
    }
  g_error ("redis-server did not start");
}

KtRedis *
kt_redis_start (void)
{
  g_autoptr(GError) error = NULL;
  KtRedis *redis = g_new0 (KtRedis, 1);

  redis->dir = g_dir_make_tmp ("kletsen-redis-XXXXXX", &error);
  g_assert_no_error (error);
  redis->socket_path = g_build_filename (redis->dir, "redis.sock", NULL);
  redis->address = g_strconcat ("unix:", redis->socket_path, NULL);
  spawn (redis);
  return redis;
}

void
kt_redis_kill (KtRedis *redis)
{
  if (redis->process == NULL)
    return;
  g_subprocess_send_signal (redis->process, SIGKILL);
  g_subprocess_wait (redis->process, NULL, NULL);
  g_clear_object (&redis->process);
  g_unlink (redis->socket_path);
}

void
kt_redis_restart (KtRedis *redis)
{
  kt_redis_kill (redis);
  spawn (redis);
}

void
kt_redis_free (KtRedis *redis)
{
  kt_redis_kill (redis);
  kt_remove_tree (redis->dir);
  g_free (redis->dir);
  g_free (redis->socket_path);
  g_free (redis->address);
  g_free (redis);
}
