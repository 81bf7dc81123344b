/* kletsen-cluster-envelope.c
 *
 * Copyright 2026 The Kletsen authors
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

/* The bytes of one PUBLISH: a header line read without JSON, then at most
 * one line serialized once on the node it came from, exactly as clients get
 * it (docs/cluster.md). What arrives is checked as if a client had sent it:
 * Redis is shared, and a malformed envelope is counted and dropped. */

#include "config.h"

#include <string.h>

#include "kletsen-cluster-private.h"

#define MAX_HEADER 256

/* Node names go into keys, channels and headers: printable ASCII without
 * spaces or slashes, 1 to 64 bytes. */
gboolean
_kletsen_node_name_is_valid (const char *name)
{
  gsize len = name ? strlen (name) : 0;

  if (len == 0 || len > 64)
    return FALSE;
  for (gsize i = 0; i < len; i++)
    if (name[i] <= ' ' || name[i] > '~' || name[i] == '/')
      return FALSE;
  return TRUE;
}

static const char *
next_field (const char  *p,
            const char  *end,
            gsize       *len)
{
  const char *space = memchr (p, ' ', end - p);

  *len = (space ? space : end) - p;
  return space ? space + 1 : end;
}

gboolean
_kletsen_envelope_parse (const char      *data,
                         gsize            len,
                         gsize            max_wire,
                         KletsenEnvelope *envelope)
{
  const char *nl = memchr (data, '\n', MIN (len, (gsize)MAX_HEADER));
  const char *p, *end, *seq, *op;
  gsize seq_len, op_len;

  memset (envelope, 0, sizeof *envelope);
  if (nl == NULL || len < 3 || memcmp (data, "K1 ", 3) != 0 || memchr (data, '\0', nl - data) != NULL)
    return FALSE;
  end = nl;
  p = data + 3;
  envelope->inc = p;
  p = next_field (p, end, &envelope->inc_len);
  seq = p;
  p = next_field (p, end, &seq_len);
  op = p;
  p = next_field (p, end, &op_len);
  envelope->arg = p;
  envelope->arg_len = end - p;
  if (envelope->inc_len == 0 || envelope->inc_len > 96 || op_len == 0 || op_len > 2 ||
      memchr (envelope->arg, ' ', envelope->arg_len) != NULL)
    return FALSE;
  memcpy (envelope->op, op, op_len);
  envelope->op[op_len] = '\0';

  if (seq_len == 1 && seq[0] == '-')
    envelope->seq = -1;
  else
    {
      char digits[24];
      guint64 value;

      if (seq_len == 0 || seq_len >= sizeof digits)
        return FALSE;
      memcpy (digits, seq, seq_len);
      digits[seq_len] = '\0';
      if (!g_ascii_string_to_unsigned (digits, 10, 0, G_MAXINT64, &value, NULL))
        return FALSE;
      envelope->seq = (gint64)value;
    }

  /* The rest is one line with its \n, or nothing. */
  envelope->wire = nl + 1;
  envelope->wire_len = data + len - envelope->wire;
  if (envelope->wire_len == 0)
    {
      envelope->wire = NULL;
      return TRUE;
    }
  if (envelope->wire_len > max_wire + 1 ||
      envelope->wire[envelope->wire_len - 1] != '\n' ||
      memchr (envelope->wire, '\n', envelope->wire_len - 1) != NULL ||
      memchr (envelope->wire, '\0', envelope->wire_len) != NULL)
    return FALSE;
  return TRUE;
}

GBytes *
_kletsen_envelope_build (const char *inc,
                         gint64      seq,
                         const char *op,
                         const char *arg,
                         GBytes     *wire)
{
  GByteArray *out = g_byte_array_sized_new (64 + (wire ? g_bytes_get_size (wire) : 0));
  char header[MAX_HEADER];
  int n;

  if (seq >= 0)
    n = g_snprintf (header, sizeof header, "K1 %s %" G_GINT64_FORMAT " %s%s%s\n",
                    inc, seq, op, arg ? " " : "", arg ? arg : "");
  else
    n = g_snprintf (header, sizeof header, "K1 %s - %s%s%s\n",
                    inc, op, arg ? " " : "", arg ? arg : "");
  g_byte_array_append (out, (const guint8 *)header, MIN ((gsize)n, sizeof header - 1));
  if (wire != NULL)
    g_byte_array_append (out, g_bytes_get_data (wire, NULL), g_bytes_get_size (wire));
  return g_byte_array_free_to_bytes (out);
}
