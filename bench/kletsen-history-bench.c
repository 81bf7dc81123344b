/* kletsen-history-bench.c
 *
 * Copyright 2026 The Kletsen authors
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

/* What history costs: writing it, opening a 100,000-message history (the
 * time to the first page and to a search result), and the app with a
 * 10,000-message conversation open under a display: start to first frame,
 * RSS, and frame times while scrolling through all of it. Prints figures;
 * asserts nothing.
 *
 *   GSETTINGS_SCHEMA_DIR=build/data GSETTINGS_BACKEND=memory GSK_RENDERER=cairo \
 *     xvfb-run -a -s '-screen 0 1280x800x24' build/bench/kletsen-history-bench
 */

#include "config.h"

#include <adwaita.h>
#include <glib/gstdio.h>
#include <stdlib.h>
#include <string.h>

#include "kletsen-history.h"
#include "kletsen-session.h"
#include "kletsen-window-private.h"

static gint64 started_us;

static long
rss_kib (void)
{
  g_autofree char *status = NULL;
  const char *line;

  if (!g_file_get_contents ("/proc/self/status", &status, NULL, NULL) ||
      (line = strstr (status, "VmRSS:")) == NULL)
    return -1;
  return strtol (line + 6, NULL, 10);
}

static double
ms_since (gint64 start)
{
  return (g_get_monotonic_time () - start) / 1000.0;
}

static void
fill (KletsenHistory *history,
      const char     *peer,
      guint           n)
{
  gint64 start = g_get_monotonic_time ();

  for (guint i = 0; i < n; i++)
    {
      g_autofree char *text = i == n / 3 ? g_strdup ("a rare word: zeppelin")
                                         : g_strdup_printf ("Message %u about the usual things, said in passing", i);
      g_autoptr(KletsenChatMessage) m = kletsen_chat_message_new (KLETSEN_MESSAGE_KIND_TEXT, i % 2 ? "bob" : "alice",
                                                                 text, KLETSEN_MESSAGE_STATE_RECEIVED, FALSE);

      kletsen_history_add (history, peer, m, NULL);
    }
  g_print ("write:   %u messages, one transaction each, in %.0f ms (%.0f messages/s)\n", n, ms_since (start),
           n / (ms_since (start) / 1000.0));
}

static void
store_figures (const char *dir)
{
  g_autofree char *path = g_build_filename (dir, "store.sqlite", NULL);
  g_autoptr(KletsenHistory) history = kletsen_history_open (path, NULL);
  g_autoptr(KletsenConversation) conversation = NULL;
  g_autoptr(GPtrArray) hits = NULL;
  gint64 start;
  GStatBuf st;

  fill (history, "bob", 100000);
  g_clear_object (&history);
  g_stat (path, &st);
  g_print ("size:    %.1f MiB on disk for 100,000 messages, with the search index\n", st.st_size / 1048576.0);

  /* As the app starts: open, then the newest page of the conversation. */
  start = g_get_monotonic_time ();
  history = kletsen_history_open (path, NULL);
  conversation = kletsen_conversation_new ("bob");
  kletsen_conversation_set_history (conversation, history, "alice");
  g_print ("open:    100,000 messages: database open and the first page (%u messages) in %.2f ms\n",
           g_list_model_get_n_items (G_LIST_MODEL (conversation)), ms_since (start));

  start = g_get_monotonic_time ();
  hits = kletsen_history_search (history, "zeppelin", 50);
  g_print ("search:  one rare word: %u result in %.2f ms\n", hits->len, ms_since (start));
  g_clear_pointer (&hits, g_ptr_array_unref);
  start = g_get_monotonic_time ();
  hits = kletsen_history_search (history, "usual things", 50);
  g_print ("search:  two words in every message: the newest %u results in %.2f ms\n", hits->len, ms_since (start));
  g_clear_pointer (&hits, g_ptr_array_unref);
  start = g_get_monotonic_time ();
  hits = kletsen_history_search (history, "pass", 50);
  g_print ("search:  a prefix in every message: the newest %u results in %.2f ms\n", hits->len, ms_since (start));
}

typedef struct
{
  gint64  first_paint;
  gint64  last;
  GArray *intervals; /* double, ms between painted frames */
} Frames;

static void
after_paint_cb (GdkFrameClock *clock,
                Frames        *frames)
{
  gint64 now = g_get_monotonic_time ();

  if (frames->first_paint == 0)
    frames->first_paint = now;
  if (frames->intervals != NULL && frames->last != 0)
    {
      double ms = (now - frames->last) / 1000.0;

      g_array_append_val (frames->intervals, ms);
    }
  frames->last = now;
}

static int
compare_doubles (gconstpointer a,
                 gconstpointer b)
{
  double x = *(const double *)a, y = *(const double *)b;

  return x < y ? -1 : x > y;
}

/* The window as after login, on Everyone: the time to its first frame. */
static KletsenWindow *
first_frame (KletsenSession *session,
             Frames         *frames)
{
  KletsenWindow *window = kletsen_window_new (NULL, session);

  gtk_window_set_default_size (GTK_WINDOW (window), 900, 640);
  gtk_stack_set_visible_child_name (window->main_stack, "chat");
  _kletsen_window_show_conversation (window, NULL);
  gtk_window_present (GTK_WINDOW (window));
  g_signal_connect (gtk_widget_get_frame_clock (GTK_WIDGET (window)), "after-paint", G_CALLBACK (after_paint_cb), frames);
  while (frames->first_paint == 0)
    g_main_context_iteration (NULL, TRUE);
  g_print ("start:   process start to the window's first frame: %.0f ms\n", (frames->first_paint - started_us) / 1000.0);
  for (gint64 until = g_get_monotonic_time () + G_USEC_PER_SEC; g_get_monotonic_time () < until;)
    g_main_context_iteration (NULL, FALSE);
  return window;
}

static void
app_figures (const char     *dir,
             KletsenSession *session,
             KletsenWindow  *window,
             Frames         *f,
             long            rss_window)
{
  g_autofree char *path = g_build_filename (dir, "app.sqlite", NULL);
  g_autoptr(KletsenHistory) history = kletsen_history_open (path, NULL);
  GdkFrameClock *clock = gtk_widget_get_frame_clock (GTK_WIDGET (window));
  KletsenConversation *conversation;
  GtkAdjustment *adj;
  Frames frames = *f;
  long rss_open, rss_scrolled, rss_max = 0;
  gint64 start;
  guint seen = 0, most_in_memory = 0;

  fill (history, "bob", 10000);
  g_signal_handlers_disconnect_by_data (clock, f);
  g_signal_connect (clock, "after-paint", G_CALLBACK (after_paint_cb), &frames);

  /* The 10,000-message conversation opens. */
  conversation = kletsen_session_get_conversation (session, "bob");
  kletsen_conversation_set_history (conversation, history, "alice");
  start = g_get_monotonic_time ();
  _kletsen_window_show_conversation (window, "bob");
  frames.last = 0;
  for (guint paints = 0; paints < 3;)
    {
      gint64 before = frames.last;

      g_main_context_iteration (NULL, TRUE);
      if (frames.last != before)
        paints++;
    }
  g_print ("open:    a 10,000-message conversation shown (3 frames) in %.0f ms\n", ms_since (start));
  rss_open = rss_kib ();

  /* Scrolling up through all of it, half a page a frame, as a scroll wheel held down. */
  adj = gtk_scrolled_window_get_vadjustment (window->message_scroller);
  frames.intervals = g_array_new (FALSE, FALSE, sizeof (double));
  start = g_get_monotonic_time ();
  while (kletsen_conversation_get_has_older (conversation) || gtk_adjustment_get_value (adj) > 0)
    {
      gint64 before = frames.last;

      gtk_adjustment_set_value (adj, MAX (0, gtk_adjustment_get_value (adj) - gtk_adjustment_get_page_size (adj) / 2));
      gdk_frame_clock_request_phase (clock, GDK_FRAME_CLOCK_PHASE_PAINT);
      while (frames.last == before)
        g_main_context_iteration (NULL, TRUE);
      most_in_memory = MAX (most_in_memory, g_list_model_get_n_items (G_LIST_MODEL (conversation)));
      rss_max = MAX (rss_max, rss_kib ());
      if (ms_since (start) > 600000)
        break;
    }
  {
    g_autoptr(KletsenChatMessage) first = g_list_model_get_item (G_LIST_MODEL (conversation), 0);

    seen = first ? 10000 - (guint)kletsen_chat_message_get_history_id (first) + 1 : 0;
  }
  rss_scrolled = rss_kib ();
  g_array_sort (frames.intervals, compare_doubles);
  if (frames.intervals->len > 0)
    {
      double *v = (double *)(void *)frames.intervals->data;
      guint n = frames.intervals->len;

      g_print ("scroll:  to the first of %u messages in %.1f s, %u frames: frame time p50 %.1f ms, p95 %.1f ms, "
               "p99 %.1f ms, max %.1f ms; at most %u messages in memory\n",
               seen, ms_since (start) / 1000.0, n, v[n / 2], v[n * 95 / 100], v[n * 99 / 100], v[n - 1], most_in_memory);
    }
  g_print ("rss:     window shown %ld KiB; 10,000-message conversation open %ld KiB; "
           "while scrolling through it at most %ld KiB; at the top %ld KiB\n",
           rss_window, rss_open, rss_max, rss_scrolled);
  g_array_unref (frames.intervals);
  g_signal_handlers_disconnect_by_data (clock, &frames);
}

int
main (int    argc,
      char **argv)
{
  g_autofree char *dir = NULL;
  g_autoptr(KletsenSession) session = NULL;
  g_autoptr(GDir) listing = NULL;
  KletsenWindow *window;
  Frames frames = { 0 };
  long rss_window;
  const char *name;

  started_us = g_get_monotonic_time ();
  adw_init ();
  dir = g_dir_make_tmp ("kletsen-history-bench-XXXXXX", NULL);
  session = kletsen_session_new (dir);
  window = first_frame (session, &frames);
  rss_window = rss_kib ();
  store_figures (dir);
  app_figures (dir, session, window, &frames, rss_window);
  gtk_window_destroy (GTK_WINDOW (window));

  listing = g_dir_open (dir, 0, NULL);
  while (listing != NULL && (name = g_dir_read_name (listing)) != NULL)
    {
      g_autofree char *path = g_build_filename (dir, name, NULL);

      g_remove (path);
    }
  g_rmdir (dir);
  return 0;
}
