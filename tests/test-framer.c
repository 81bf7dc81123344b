/* test-framer.c
 *
 * Copyright 2026 The Kletsen authors
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#include "config.h"

#include <string.h>

#include "kletsen-protocol.h"

typedef struct
{
  GPtrArray *lines;
  guint      stop_after; /* 0: never */
} Collected;

static gboolean
collect_cb (char     *line,
            gsize     len,
            gpointer  user_data)
{
  Collected *c = user_data;

  g_assert_cmpuint (strlen (line), <=, len); /* NUL-terminated at len */
  g_assert_cmpint (line[len], ==, '\0');
  g_ptr_array_add (c->lines, g_strndup (line, len));
  return c->stop_after == 0 || c->lines->len < c->stop_after;
}

static void
collected_init (Collected *c)
{
  c->lines = g_ptr_array_new_with_free_func (g_free);
  c->stop_after = 0;
}

/* Feeds @input in pieces cut at @cuts (ascending offsets). */
static KletsenFramerStatus
feed_cut (KletsenFramer *framer,
          const char    *input,
          gsize          len,
          const gsize   *cuts,
          guint          n_cuts,
          Collected     *c)
{
  gsize start = 0;
  KletsenFramerStatus status = KLETSEN_FRAMER_OK;

  for (guint i = 0; i <= n_cuts && status == KLETSEN_FRAMER_OK; i++)
    {
      gsize end = i < n_cuts ? cuts[i] : len;
      g_autofree char *piece = g_memdup2 (input + start, end - start + 1);

      status = kletsen_framer_feed (framer, piece, end - start, collect_cb, c);
      start = end;
    }
  return status;
}

static void
test_framer_every_split (void)
{
  const char *input = "LOGIN {\"username\":\"alice\"}\r\n\nBROADCAST_REQ {\"message\":\"hoi\"}\nPONG\r\n";
  const char *expected[] = { "LOGIN {\"username\":\"alice\"}", "BROADCAST_REQ {\"message\":\"hoi\"}", "PONG" };
  gsize len = strlen (input);

  /* Every single cut, and every pair of cuts. */
  for (gsize a = 0; a <= len; a++)
    for (gsize b = a; b <= len; b++)
      {
        g_autoptr(KletsenFramer) framer = kletsen_framer_new (1024);
        gsize cuts[] = { a, b };
        Collected c;

        collected_init (&c);
        g_assert_cmpint (feed_cut (framer, input, len, cuts, 2, &c), ==, KLETSEN_FRAMER_OK);
        g_assert_cmpuint (c.lines->len, ==, G_N_ELEMENTS (expected));
        for (guint i = 0; i < G_N_ELEMENTS (expected); i++)
          g_assert_cmpstr (g_ptr_array_index (c.lines, i), ==, expected[i]);
        g_assert_cmpuint (kletsen_framer_pending (framer), ==, 0);
        g_ptr_array_unref (c.lines);
      }
}

static void
test_framer_byte_at_a_time (void)
{
  const char *input = "A\nBB\r\nCCC\n";
  g_autoptr(KletsenFramer) framer = kletsen_framer_new (1024);
  Collected c;

  collected_init (&c);
  for (gsize i = 0; input[i]; i++)
    {
      char byte = input[i];

      g_assert_cmpint (kletsen_framer_feed (framer, &byte, 1, collect_cb, &c), ==, KLETSEN_FRAMER_OK);
    }
  g_assert_cmpuint (c.lines->len, ==, 3);
  g_assert_cmpstr (g_ptr_array_index (c.lines, 2), ==, "CCC");
  g_ptr_array_unref (c.lines);
}

static void
test_framer_many_lines (void)
{
  g_autoptr(GString) input = g_string_new (NULL);
  g_autoptr(KletsenFramer) framer = kletsen_framer_new (1024);
  Collected c;

  for (guint i = 0; i < 1000; i++)
    g_string_append_printf (input, "LINE %u\n", i);
  collected_init (&c);
  g_assert_cmpint (kletsen_framer_feed (framer, input->str, input->len, collect_cb, &c), ==, KLETSEN_FRAMER_OK);
  g_assert_cmpuint (c.lines->len, ==, 1000);
  g_assert_cmpstr (g_ptr_array_index (c.lines, 999), ==, "LINE 999");
  g_ptr_array_unref (c.lines);
}

/* The limit counts the bytes before the \n: exactly max_line is fine, in one
 * chunk or across many, and one more byte without a newline is over. */
static void
test_framer_limit (void)
{
  const gsize max = 1024;
  g_autofree char *exact = g_malloc (max + 2);
  g_autofree char *over = g_malloc (max + 2);

  memset (exact, 'x', max);
  exact[max] = '\n';
  memset (over, 'x', max + 1);

  for (gsize cut = 0; cut <= max + 1; cut += 97)
    {
      g_autoptr(KletsenFramer) framer = kletsen_framer_new (max);
      Collected c;

      collected_init (&c);
      g_assert_cmpint (feed_cut (framer, exact, max + 1, &cut, 1, &c), ==, KLETSEN_FRAMER_OK);
      g_assert_cmpuint (c.lines->len, ==, 1);
      g_assert_cmpuint (strlen (g_ptr_array_index (c.lines, 0)), ==, max);
      g_ptr_array_unref (c.lines);
    }

  for (gsize cut = 1; cut <= max + 1; cut += 101)
    {
      g_autoptr(KletsenFramer) framer = kletsen_framer_new (max);
      Collected c;

      collected_init (&c);
      g_assert_cmpint (feed_cut (framer, over, max + 1, &cut, 1, &c), ==, KLETSEN_FRAMER_OVER_LIMIT);
      g_assert_cmpuint (c.lines->len, ==, 0);
      /* Nothing past the limit was kept. */
      g_assert_cmpuint (kletsen_framer_pending (framer), ==, 0);
      g_ptr_array_unref (c.lines);
    }
}

/* A complete over-long line in one chunk is over the limit too, and the lines
 * before it are still delivered. */
static void
test_framer_limit_complete_line (void)
{
  g_autoptr(KletsenFramer) framer = kletsen_framer_new (1024);
  g_autoptr(GString) input = g_string_new ("OK\n");
  Collected c;

  for (guint i = 0; i < 1025; i++)
    g_string_append_c (input, 'y');
  g_string_append_c (input, '\n');
  collected_init (&c);
  g_assert_cmpint (kletsen_framer_feed (framer, input->str, input->len, collect_cb, &c), ==,
                   KLETSEN_FRAMER_OVER_LIMIT);
  g_assert_cmpuint (c.lines->len, ==, 1);
  g_ptr_array_unref (c.lines);
}

static void
test_framer_stop (void)
{
  char input[] = "ONE\nTWO\nTHREE\n";
  g_autoptr(KletsenFramer) framer = kletsen_framer_new (1024);
  Collected c;

  collected_init (&c);
  c.stop_after = 2;
  g_assert_cmpint (kletsen_framer_feed (framer, input, strlen (input), collect_cb, &c), ==,
                   KLETSEN_FRAMER_STOPPED);
  g_assert_cmpuint (c.lines->len, ==, 2);
  g_ptr_array_unref (c.lines);
}

/* NUL bytes are data to the framer; the parser decides what they mean. */
static void
test_framer_nul (void)
{
  char input[] = "A\0B\n";
  g_autoptr(KletsenFramer) framer = kletsen_framer_new (1024);
  Collected c;

  collected_init (&c);
  g_assert_cmpint (kletsen_framer_feed (framer, input, 4, collect_cb, &c), ==, KLETSEN_FRAMER_OK);
  g_assert_cmpuint (c.lines->len, ==, 1);
  g_ptr_array_unref (c.lines);
}

int
main (int    argc,
      char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/framer/every-split", test_framer_every_split);
  g_test_add_func ("/framer/byte-at-a-time", test_framer_byte_at_a_time);
  g_test_add_func ("/framer/many-lines", test_framer_many_lines);
  g_test_add_func ("/framer/limit", test_framer_limit);
  g_test_add_func ("/framer/limit-complete-line", test_framer_limit_complete_line);
  g_test_add_func ("/framer/stop", test_framer_stop);
  g_test_add_func ("/framer/nul", test_framer_nul);

  return g_test_run ();
}
