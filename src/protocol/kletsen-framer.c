/* kletsen-framer.c
 *
 * Copyright 2026 The Kletsen authors
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#include "config.h"

#include <string.h>

#include "kletsen-framer.h"

struct _KletsenFramer
{
  gsize  max_line;
  /* The unfinished line carried between chunks; NULL while there is none. */
  char  *partial;
  gsize  partial_len;
  gsize  partial_cap;
};

KletsenFramer *
kletsen_framer_new (gsize max_line)
{
  KletsenFramer *self = g_new0 (KletsenFramer, 1);

  self->max_line = max_line;
  return self;
}

void
kletsen_framer_free (KletsenFramer *self)
{
  if (self == NULL)
    return;
  g_free (self->partial);
  g_free (self);
}

gsize
kletsen_framer_pending (KletsenFramer *self)
{
  return self->partial_len;
}

gsize
kletsen_framer_max_line (KletsenFramer *self)
{
  return self->max_line;
}

static void
drop_partial (KletsenFramer *self)
{
  g_clear_pointer (&self->partial, g_free);
  self->partial_len = 0;
  self->partial_cap = 0;
}

static gboolean
append_partial (KletsenFramer *self,
                const char    *data,
                gsize          len)
{
  gsize need = self->partial_len + len;

  /* The line limit counts the bytes before the \n; one byte more than that
   * without a newline can never become a valid line. */
  if (need > self->max_line)
    return FALSE;

  if (need + 1 > self->partial_cap)
    {
      gsize cap = MAX (self->partial_cap * 2, 256);

      while (cap < need + 1)
        cap *= 2;
      cap = MIN (cap, self->max_line + 1);
      self->partial = g_realloc (self->partial, cap);
      self->partial_cap = cap;
    }

  memcpy (self->partial + self->partial_len, data, len);
  self->partial_len = need;
  return TRUE;
}

/* Hands one complete line (without its \n) to @func. */
static gboolean
emit_line (char            *line,
           gsize            len,
           KletsenLineFunc  func,
           gpointer         user_data)
{
  if (len > 0 && line[len - 1] == '\r')
    len--;
  if (len == 0)
    return TRUE;

  line[len] = '\0';
  return func (line, len, user_data);
}

/**
 * kletsen_framer_feed:
 * @self: a #KletsenFramer
 * @data: (array length=len): bytes just read; the framer writes into this
 *   buffer (it puts a NUL where each newline was), so it must be writable
 * @len: the number of bytes in @data
 * @func: called for every complete, non-empty line
 * @user_data: passed to @func
 *
 * Returns: %KLETSEN_FRAMER_OVER_LIMIT as soon as a line grows past the limit,
 *   without keeping more than the limit in memory.
 */
KletsenFramerStatus
kletsen_framer_feed (KletsenFramer   *self,
                     char            *data,
                     gsize            len,
                     KletsenLineFunc  func,
                     gpointer         user_data)
{
  char *p = data;
  char *end = data + len;

  while (p < end)
    {
      char *nl = memchr (p, '\n', end - p);

      if (nl == NULL)
        {
          if (!append_partial (self, p, end - p))
            {
              drop_partial (self);
              return KLETSEN_FRAMER_OVER_LIMIT;
            }
          return KLETSEN_FRAMER_OK;
        }

      if (self->partial != NULL)
        {
          gboolean go_on;

          if (!append_partial (self, p, nl - p))
            {
              drop_partial (self);
              return KLETSEN_FRAMER_OVER_LIMIT;
            }
          go_on = emit_line (self->partial, self->partial_len, func, user_data);
          drop_partial (self);
          if (!go_on)
            return KLETSEN_FRAMER_STOPPED;
        }
      else
        {
          if ((gsize)(nl - p) > self->max_line)
            return KLETSEN_FRAMER_OVER_LIMIT;
          if (!emit_line (p, nl - p, func, user_data))
            return KLETSEN_FRAMER_STOPPED;
        }

      p = nl + 1;
    }

  return KLETSEN_FRAMER_OK;
}
