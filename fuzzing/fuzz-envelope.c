/* fuzz-envelope.c
 *
 * Copyright 2026 The Kletsen authors
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

/* What a cluster node reads from Redis: whatever comes in, an accepted
 * envelope has its fields inside the input, at most one wire line ending
 * in its only newline, and building it again gives the same fields. */

#include "config.h"

#include <string.h>

#include "kletsen-cluster-private.h"

int LLVMFuzzerTestOneInput (const guint8 *data, size_t size);

int
LLVMFuzzerTestOneInput (const guint8 *data,
                        size_t        size)
{
  const char *text = (const char *)data;
  KletsenEnvelope envelope, again;
  g_autofree char *inc = NULL;
  g_autofree char *arg = NULL;
  g_autoptr(GBytes) wire = NULL;
  g_autoptr(GBytes) built = NULL;
  gsize built_len;
  const char *built_data;

  if (!_kletsen_envelope_parse (text, size, 1024, &envelope))
    return 0;
  g_assert (envelope.inc >= text && envelope.inc + envelope.inc_len <= text + size);
  g_assert (envelope.arg >= text && envelope.arg + envelope.arg_len <= text + size);
  g_assert (memchr (envelope.inc, ' ', envelope.inc_len) == NULL);
  g_assert (memchr (envelope.arg, ' ', envelope.arg_len) == NULL);
  if (envelope.wire != NULL)
    {
      g_assert (envelope.wire_len >= 1 && envelope.wire_len <= 1025);
      g_assert (envelope.wire[envelope.wire_len - 1] == '\n');
      g_assert (memchr (envelope.wire, '\n', envelope.wire_len - 1) == NULL);
      wire = g_bytes_new (envelope.wire, envelope.wire_len);
    }
  /* No NUL in the header: names and nodes are C strings from here on. */
  g_assert (memchr (envelope.inc, '\0', envelope.inc_len) == NULL);
  g_assert (memchr (envelope.arg, '\0', envelope.arg_len) == NULL);
  if (envelope.inc_len + envelope.arg_len > 200)
    return 0;
  inc = g_strndup (envelope.inc, envelope.inc_len);
  arg = g_strndup (envelope.arg, envelope.arg_len);
  built = _kletsen_envelope_build (inc, envelope.seq, envelope.op, envelope.arg_len ? arg : NULL, wire);
  built_data = g_bytes_get_data (built, &built_len);
  g_assert (_kletsen_envelope_parse (built_data, built_len, 1024, &again));
  g_assert (again.seq == envelope.seq);
  g_assert (strcmp (again.op, envelope.op) == 0);
  g_assert (again.inc_len == envelope.inc_len && memcmp (again.inc, envelope.inc, envelope.inc_len) == 0);
  g_assert (again.arg_len == envelope.arg_len && memcmp (again.arg, envelope.arg, envelope.arg_len) == 0);
  g_assert (again.wire_len == envelope.wire_len);
  return 0;
}
