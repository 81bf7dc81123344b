/* kletsen-test-redis.h
 *
 * Copyright 2026 The Kletsen authors
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#pragma once

#include "kletsen-test-util.h"

G_BEGIN_DECLS

/* A redis-server of the test's own: no TCP port, a Unix socket in a fresh
 * directory, no persistence, gone with the test. */
typedef struct
{
  GSubprocess *process;
  char        *dir;
  char        *socket_path;
  char        *address;     /* "unix:PATH", for --cluster */
} KtRedis;

gboolean  kt_redis_available (void);
KtRedis  *kt_redis_start     (void);
/* Starts it again on the same socket, with an empty dataset. */
void      kt_redis_restart   (KtRedis    *redis);
void      kt_redis_kill      (KtRedis    *redis);
void      kt_redis_free      (KtRedis    *redis);
/* One inline command; returns the reply's first line. */
char     *kt_redis_command   (KtRedis    *redis,
                              const char *command);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (KtRedis, kt_redis_free)

G_END_DECLS
