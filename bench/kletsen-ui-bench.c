/* kletsen-ui-bench.c
 *
 * Copyright 2026 The Kletsen authors
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

/* How long the app takes to show one message that arrives, measured in the
 * real window under a display (Xvfb in CI): from the append to the model
 * until the frame that holds it has been painted, and until the frame after
 * the conversation scrolled to it. Prints figures; asserts nothing.
 *
 *   GSETTINGS_SCHEMA_DIR=build/data GSETTINGS_BACKEND=memory \
 *     xvfb-run -a -s '-screen 0 1280x800x24' build/bench/kletsen-ui-bench
 */

#include "config.h"

#include <adwaita.h>
#include <glib/gstdio.h>
#include <string.h>

#include "kletsen-session.h"
#include "kletsen-window-private.h"

#define ROUNDS 5

typedef struct
{
  guint paints;
} Clock;

static void
after_paint_cb (GdkFrameClock *clock,
                Clock         *counter)
{
  counter->paints++;
}

static char *
make_text (const char *kind,
           gsize       size)
{
  GString *text = g_string_sized_new (size);

  for (gsize i = 0; text->len < size; i++)
    {
      if (g_str_equal (kind, "words"))
        g_string_append (text, i % 7 == 6 ? " " : "w");
      else if (g_str_equal (kind, "lines"))
        g_string_append (text, i % 40 == 39 ? "\n" : "l");
      else
        g_string_append_c (text, 'W');
    }
  return g_string_free (text, FALSE);
}

static void
run_until_paints (Clock *counter,
                  guint  target)
{
  gint64 deadline = g_get_monotonic_time () + 600 * G_USEC_PER_SEC;

  while (counter->paints < target && g_get_monotonic_time () < deadline)
    g_main_context_iteration (NULL, TRUE);
}

static void
measure (KletsenWindow       *window,
         KletsenConversation *room,
         GdkFrameClock       *frame_clock,
         Clock               *counter,
         const char          *kind,
         gsize                size)
{
  g_autofree char *text = make_text (kind, size);
  double shown[ROUNDS], scrolled[ROUNDS];

  for (guint r = 0; r < ROUNDS; r++)
    {
      g_autoptr(KletsenChatMessage) message = kletsen_chat_message_new (KLETSEN_MESSAGE_KIND_TEXT, "zoe", text,
                                                                        KLETSEN_MESSAGE_STATE_RECEIVED, FALSE);
      gint64 start;
      guint base;

      /* Settle first: nothing pending from the last round. */
      while (g_main_context_iteration (NULL, FALSE))
        ;
      base = counter->paints;
      start = g_get_monotonic_time ();
      kletsen_conversation_append (room, message, TRUE);
      gdk_frame_clock_request_phase (frame_clock, GDK_FRAME_CLOCK_PHASE_PAINT);
      run_until_paints (counter, base + 1);
      shown[r] = (g_get_monotonic_time () - start) / 1000.0;
      gdk_frame_clock_request_phase (frame_clock, GDK_FRAME_CLOCK_PHASE_PAINT);
      run_until_paints (counter, base + 3);
      scrolled[r] = (g_get_monotonic_time () - start) / 1000.0;
    }

  {
    double best = shown[0], worst = shown[0], best_s = scrolled[0], worst_s = scrolled[0];

    for (guint r = 1; r < ROUNDS; r++)
      {
        best = MIN (best, shown[r]);
        worst = MAX (worst, shown[r]);
        best_s = MIN (best_s, scrolled[r]);
        worst_s = MAX (worst_s, scrolled[r]);
      }
    g_print ("%-9s %6zu bytes: painted after %7.1f–%7.1f ms, scrolled to and painted after %7.1f–%7.1f ms (%d rounds)\n",
             kind, size, best, worst, best_s, worst_s, ROUNDS);
  }
}

int
main (int    argc,
      char **argv)
{
  g_autoptr(KletsenSession) session = NULL;
  g_autofree char *dir = g_dir_make_tmp ("kletsen-ui-bench-XXXXXX", NULL);
  const char *kinds[] = { "unbroken", "words", "lines" };
  gsize sizes[] = { 1024, 5000, 20000, 65536 };
  KletsenWindow *window;
  GdkFrameClock *frame_clock;
  Clock counter = { 0 };

  adw_init ();
  session = kletsen_session_new (dir);
  window = kletsen_window_new (NULL, session);
  gtk_window_set_default_size (GTK_WINDOW (window), 900, 640);
  gtk_stack_set_visible_child_name (window->main_stack, "chat");
  _kletsen_window_show_conversation (window, NULL);
  gtk_window_present (GTK_WINDOW (window));
  while (!gtk_widget_get_mapped (GTK_WIDGET (window)))
    g_main_context_iteration (NULL, TRUE);
  frame_clock = gtk_widget_get_frame_clock (GTK_WIDGET (window));
  g_signal_connect (frame_clock, "after-paint", G_CALLBACK (after_paint_cb), &counter);

  for (guint k = 0; k < G_N_ELEMENTS (kinds); k++)
    for (guint s = 0; s < G_N_ELEMENTS (sizes); s++)
      measure (window, kletsen_session_get_everyone (session), frame_clock, &counter, kinds[k], sizes[s]);

  gtk_window_destroy (GTK_WINDOW (window));
  g_rmdir (dir);
  return 0;
}
