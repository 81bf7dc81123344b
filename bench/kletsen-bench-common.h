/* kletsen-bench-common.h
 *
 * Copyright 2026 The Kletsen authors
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#pragma once

#include <glib.h>
#include <sys/types.h>

G_BEGIN_DECLS

/* What every load generator here measures with. */
gint64 kletsen_bench_now_us      (void);
/* CPU seconds (user and system) process @pid has used so far; 0 if gone. */
double kletsen_bench_proc_cpu_s  (pid_t         pid);
/* For g_array_sort() of guint32 microseconds. */
int    kletsen_bench_compare_u32 (gconstpointer a,
                                  gconstpointer b);
/* The @p quantile of @sorted (guint32 µs), in milliseconds. */
double kletsen_bench_percentile  (GArray       *sorted,
                                  double        p);

G_END_DECLS
