/* kletsen-bench-common.c
 *
 * Copyright 2026 The Kletsen authors
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#include "config.h"

#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "kletsen-bench-common.h"

gint64
kletsen_bench_now_us (void)
{
  struct timespec ts;

  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (gint64)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

double
kletsen_bench_proc_cpu_s (pid_t pid)
{
  g_autofree char *path = g_strdup_printf ("/proc/%d/stat", (int)pid);
  g_autofree char *text = NULL;
  unsigned long utime, stime;
  const char *p;

  /* Fields 14 and 15, counted after the command name in parentheses. */
  if (pid <= 0 || !g_file_get_contents (path, &text, NULL, NULL) || (p = strrchr (text, ')')) == NULL ||
      sscanf (p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &utime, &stime) != 2)
    return 0;
  return (double)(utime + stime) / sysconf (_SC_CLK_TCK);
}

int
kletsen_bench_compare_u32 (gconstpointer a,
                           gconstpointer b)
{
  guint32 x = *(const guint32 *)a, y = *(const guint32 *)b;

  return (x > y) - (x < y);
}

double
kletsen_bench_percentile (GArray *sorted,
                          double  p)
{
  if (sorted->len == 0)
    return 0;
  return g_array_index (sorted, guint32, MIN ((guint)(p * sorted->len), sorted->len - 1)) / 1000.0;
}
