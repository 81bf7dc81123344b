/* fuzz-framer.c
 *
 * Copyright 2026 The Kletsen authors
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

/* The line framer under arbitrary chunkings: the lines out of one big feed
 * and out of the same bytes cut into pieces (the cuts chosen by the input)
 * must be the same, none may hold a newline or pass the limit, and the
 * framer never holds more than the limit. */

#include "config.h"

#include <string.h>

#include "kletsen-protocol.h"

typedef struct
{
  GPtrArray *lines;
  gsize      max_line;
} Seen;

static gboolean
line_cb (char     *line,
         gsize     len,
         gpointer  user_data)
{
  Seen *seen = user_data;

  g_assert (len > 0 && len <= seen->max_line);
  g_assert (memchr (line, '\n', len) == NULL);
  g_assert (line[len] == '\0');
  g_ptr_array_add (seen->lines, g_bytes_new (line, len));
  return TRUE;
}

static KletsenFramerStatus
run (const guint8 *data,
     gsize         len,
     gsize         max_line,
     const guint8 *cuts,
     gsize         n_cuts,
     Seen         *seen)
{
  g_autoptr(KletsenFramer) framer = kletsen_framer_new (max_line);
  KletsenFramerStatus status = KLETSEN_FRAMER_OK;
  gsize offset = 0;

  seen->lines = g_ptr_array_new_with_free_func ((GDestroyNotify)g_bytes_unref);
  seen->max_line = max_line;
  for (gsize i = 0; status == KLETSEN_FRAMER_OK && offset < len; i++)
    {
      gsize piece = n_cuts ? 1 + cuts[i % n_cuts] : len;
      g_autofree char *buf = NULL;

      piece = MIN (piece, len - offset);
      buf = g_malloc (piece + 1);
      memcpy (buf, data + offset, piece);
      status = kletsen_framer_feed (framer, buf, piece, line_cb, seen);
      g_assert (kletsen_framer_pending (framer) <= max_line);
      offset += piece;
    }
  return status;
}

int LLVMFuzzerTestOneInput (const guint8 *data, size_t size);

int
LLVMFuzzerTestOneInput (const guint8 *data,
                        size_t        size)
{
  gsize max_line, n_cuts;
  Seen whole, pieces;
  KletsenFramerStatus a, b;

  if (size < 2)
    return 0;
  /* First byte: the limit (small, so that it is often hit); second: how many
   * of the following bytes are cut sizes. */
  max_line = 16 + data[0] * 4;
  n_cuts = MIN ((gsize)data[1], size - 2);
  a = run (data + 2 + n_cuts, size - 2 - n_cuts, max_line, NULL, 0, &whole);
  b = run (data + 2 + n_cuts, size - 2 - n_cuts, max_line, data + 2, n_cuts, &pieces);

  g_assert (a == b);
  /* Over the limit, the chunked feed may stop at a different line, but
   * every line both delivered is the same. */
  if (a == KLETSEN_FRAMER_OK)
    g_assert (whole.lines->len == pieces.lines->len);
  for (guint i = 0; i < MIN (whole.lines->len, pieces.lines->len); i++)
    g_assert (g_bytes_equal (g_ptr_array_index (whole.lines, i), g_ptr_array_index (pieces.lines, i)));

  g_ptr_array_unref (whole.lines);
  g_ptr_array_unref (pieces.lines);
  return 0;
}
