/* kletsen-json-check.c
 *
 * Copyright 2026 The Kletsen authors
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

/* json-glib builds the tree we work with, but it is lenient where protocol.md
 * is strict: it accepts comments, single quotes, leading zeros, two objects in
 * a row and `\u0000`, and it recurses without a depth bound, so a body of a
 * million `[` would exhaust the stack. This checker runs first, without
 * recursion or allocation, and accepts exactly one RFC 8259 object with
 * bounded nesting, no NUL (raw or escaped) and no lone surrogate. Only what it
 * accepts is handed to json-glib.
 */

#include "config.h"

#include <string.h>

#include "kletsen-json-check.h"

typedef struct
{
  const guchar *p;
  const guchar *end;
} Cursor;

static void
skip_ws (Cursor *c)
{
  while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r'))
    c->p++;
}

static gboolean
literal (Cursor     *c,
         const char *word)
{
  for (; *word; word++, c->p++)
    if (c->p >= c->end || *c->p != (guchar)*word)
      return FALSE;
  return TRUE;
}

static int
hex4 (Cursor *c)
{
  int v = 0;

  if (c->end - c->p < 4)
    return -1;
  for (int i = 0; i < 4; i++, c->p++)
    {
      int d = g_ascii_xdigit_value (*c->p);
      if (d < 0)
        return -1;
      v = v * 16 + d;
    }
  return v;
}

static gboolean
string (Cursor *c)
{
  c->p++; /* opening quote */
  while (c->p < c->end)
    {
      guchar ch = *c->p;

      if (ch == '"')
        {
          c->p++;
          return TRUE;
        }
      if (ch < 0x20)
        return FALSE;
      if (ch != '\\')
        {
          c->p++;
          continue;
        }

      c->p++;
      if (c->p >= c->end)
        return FALSE;
      ch = *c->p++;
      if (ch == 'u')
        {
          int v = hex4 (c);

          if (v <= 0) /* malformed, or an escaped NUL */
            return FALSE;
          if (v >= 0xDC00 && v <= 0xDFFF)
            return FALSE;
          if (v >= 0xD800 && v <= 0xDBFF)
            {
              if (!literal (c, "\\u"))
                return FALSE;
              v = hex4 (c);
              if (v < 0xDC00 || v > 0xDFFF)
                return FALSE;
            }
        }
      else if (!strchr ("\"\\/bfnrt", ch) || ch == '\0')
        return FALSE;
    }
  return FALSE;
}

static gboolean
digits (Cursor *c)
{
  const guchar *start = c->p;

  while (c->p < c->end && g_ascii_isdigit (*c->p))
    c->p++;
  return c->p > start;
}

static gboolean
number (Cursor *c)
{
  if (*c->p == '-')
    c->p++;
  if (c->p < c->end && *c->p == '0')
    c->p++;
  else if (!digits (c))
    return FALSE;
  if (c->p < c->end && *c->p == '.')
    {
      c->p++;
      if (!digits (c))
        return FALSE;
    }
  if (c->p < c->end && (*c->p == 'e' || *c->p == 'E'))
    {
      c->p++;
      if (c->p < c->end && (*c->p == '+' || *c->p == '-'))
        c->p++;
      if (!digits (c))
        return FALSE;
    }
  return TRUE;
}

static gboolean
scalar (Cursor *c)
{
  switch (*c->p)
    {
    case '"': return string (c);
    case 't': return literal (c, "true");
    case 'f': return literal (c, "false");
    case 'n': return literal (c, "null");
    default:  return number (c);
    }
}

/**
 * kletsen_json_check_object:
 * @text: the bytes of a message body (need not be NUL-terminated)
 * @len: their length
 * @max_depth: the deepest nesting of objects and arrays allowed
 *
 * Returns: %TRUE when @text is exactly one JSON object (surrounding white
 *   space allowed), valid UTF-8 without NUL, nested at most @max_depth deep.
 */
gboolean
kletsen_json_check_object (const char *text,
                           gsize       len,
                           guint       max_depth)
{
  /* One bit per open container: set for an object, clear for an array. */
  guint64 kinds = 0;
  guint depth = 0;
  Cursor c = { (const guchar *)text, (const guchar *)text + len };

  g_return_val_if_fail (max_depth <= 64, FALSE);

  if (!g_utf8_validate_len (text, len, NULL))
    return FALSE;

  skip_ws (&c);
  if (c.p >= c.end || *c.p != '{')
    return FALSE;

  /* An iterative parser: at each step we are either at the start of a value
   * (expect_value) or right after one (inside a container). */
  for (;;)
    {
      gboolean in_object;

      /* Open a container at c.p ('{' or '['). */
      if (depth == max_depth)
        return FALSE;
      in_object = *c.p == '{';
      kinds = (kinds << 1) | (in_object ? 1 : 0);
      depth++;
      c.p++;
      skip_ws (&c);

      /* Empty container? */
      if (c.p < c.end && *c.p == (in_object ? '}' : ']'))
        {
          c.p++;
          kinds >>= 1;
          depth--;
          goto value_done;
        }

    next_member:
      if (in_object)
        {
          if (c.p >= c.end || *c.p != '"' || !string (&c))
            return FALSE;
          skip_ws (&c);
          if (c.p >= c.end || *c.p != ':')
            return FALSE;
          c.p++;
          skip_ws (&c);
        }

      if (c.p >= c.end)
        return FALSE;
      if (*c.p == '{' || *c.p == '[')
        continue; /* descend */
      if (!scalar (&c))
        return FALSE;

    value_done:
      for (;;)
        {
          if (depth == 0)
            {
              skip_ws (&c);
              return c.p == c.end;
            }

          in_object = kinds & 1;
          skip_ws (&c);
          if (c.p >= c.end)
            return FALSE;
          if (*c.p == ',')
            {
              c.p++;
              skip_ws (&c);
              goto next_member;
            }
          if (*c.p != (in_object ? '}' : ']'))
            return FALSE;
          c.p++;
          kinds >>= 1;
          depth--;
        }
    }
}
