/* kletsen-game-panel.c
 *
 * Copyright 2026 The Kletsen authors
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#include "config.h"

#include <glib/gi18n.h>

#include "kletsen-game-panel.h"
#include "kletsen-protocol.h"

struct _KletsenGamePanel
{
  GtkBox            parent_instance;

  /* template widgets */
  GtkLabel         *title_label;
  GtkLabel         *status_label;
  GtkBox           *guess_box;
  GtkSpinButton    *guess_spin;
  GtkButton        *guess_button;
  GtkLabel         *feedback_label;
  GtkButton        *join_button;
  GtkLabel         *history_label;
  GtkLabel         *results_label;

  /* owned */
  KletsenGameState *game;
  gulong            changed_id;
  guint             tick_id;
};

G_DEFINE_FINAL_TYPE (KletsenGamePanel, kletsen_game_panel, GTK_TYPE_BOX)

enum {
  GUESS,
  CLOSE,
  N_SIGNALS
};

static guint signals[N_SIGNALS];

/**
 * kletsen_game_panel_format_results:
 *
 * Returns: (transfer full): the results as lines "1. name — 13.7 s", winner
 *   first; players who did not find it last
 */
char *
kletsen_game_panel_format_results (KletsenGameState *game)
{
  const GArray *results = kletsen_game_state_get_results (game);
  GString *text = g_string_new (NULL);

  for (guint i = 0; i < results->len; i++)
    {
      const KletsenGameResult *r = &g_array_index (results, KletsenGameResult, i);

      if (i > 0)
        g_string_append_c (text, '\n');
      if (r->time_ms >= 0)
        /* Translators: a place in the results, a name and a time in seconds */
        g_string_append_printf (text, _("%u. %s — %.1f s"), i + 1, r->name, r->time_ms / 1000.0);
      else
        /* Translators: a player who did not find the number in time */
        g_string_append_printf (text, _("%u. %s — did not find it"), i + 1, r->name);
    }
  return g_string_free (text, FALSE);
}

static char *
format_history (KletsenGameState *game)
{
  const GArray *guesses = kletsen_game_state_get_guesses (game);
  GString *text = g_string_new (NULL);

  for (guint i = 0; i < guesses->len; i++)
    {
      const KletsenGuess *g = &g_array_index (guesses, KletsenGuess, i);

      g_string_append_printf (text, "%s%d %s", i ? ", " : "", g->number,
                              g->result < 0 ? "↑" : g->result > 0 ? "↓" : "✓");
    }
  if (text->len > 0)
    g_string_prepend (text, _("Your guesses: "));
  return g_string_free (text, FALSE);
}

static void
update (KletsenGamePanel *self)
{
  KletsenGameState *game = self->game;
  KletsenGamePhase phase = game ? kletsen_game_state_get_phase (game) : KLETSEN_GAME_NONE;
  g_autofree char *title = NULL;
  g_autofree char *status = NULL;
  g_autofree char *history = NULL;
  g_autofree char *results = NULL;
  int left = game ? kletsen_game_state_get_seconds_left (game) : 0;

  switch (phase)
    {
    case KLETSEN_GAME_INVITED:
      title = g_strdup_printf (_("%s started a guessing game"), kletsen_game_state_get_initiator (game));
      status = g_strdup_printf (ngettext ("%d second left to join", "%d seconds left to join", left), left);
      break;
    case KLETSEN_GAME_LOBBY:
      {
        const char * const *players = kletsen_game_state_get_players (game);
        g_autofree char *names = players && players[0] ? g_strjoinv (", ", (char **)players) : NULL;
        g_autofree char *wait = g_strdup_printf (ngettext ("Waiting for players: the game starts in %d second.",
                                                           "Waiting for players: the game starts in %d seconds.", left),
                                                 left);

        title = g_strdup (_("Guessing game"));
        /* Translators: the list of players who joined the lobby so far */
        status = names ? g_strdup_printf (_("%s In the game so far: %s"), wait, names) : g_steal_pointer (&wait);
      }
      break;
    case KLETSEN_GAME_RUNNING:
      {
        const char * const *players = kletsen_game_state_get_players (game);
        g_autofree char *names = players ? g_strjoinv (", ", (char **)players) : g_strdup ("");
        guint n = players ? g_strv_length ((char **)players) : 0;

        title = g_strdup (_("Guess the number from 1 to 50"));
        if (kletsen_game_state_get_last_finisher (game) != NULL)
          status = g_strdup_printf (_("Players: %s. %s found it (%u of %u done)."), names,
                                    kletsen_game_state_get_last_finisher (game),
                                    kletsen_game_state_get_finished (game), n);
        else
          status = g_strdup_printf (_("Players: %s"), names);
      }
      break;
    case KLETSEN_GAME_FINISHED:
      title = g_strdup (_("Game over"));
      if (kletsen_game_state_get_end_code (game) != 0)
        status = g_strdup (kletsen_code_describe (kletsen_game_state_get_end_code (game)));
      else
        results = kletsen_game_panel_format_results (game);
      break;
    case KLETSEN_GAME_NONE:
    default:
      title = g_strdup (_("Guessing game"));
      break;
    }

  if (phase != KLETSEN_GAME_RUNNING)
    {
      /* Ready for the next game. */
      gtk_label_set_text (self->feedback_label, "");
      gtk_widget_set_sensitive (GTK_WIDGET (self->guess_box), TRUE);
    }
  history = game ? format_history (game) : g_strdup ("");
  gtk_label_set_text (self->title_label, title);
  gtk_label_set_text (self->status_label, status ? status : "");
  gtk_widget_set_visible (GTK_WIDGET (self->status_label), status != NULL);
  gtk_widget_set_visible (GTK_WIDGET (self->join_button), phase == KLETSEN_GAME_INVITED);
  gtk_widget_set_visible (GTK_WIDGET (self->guess_box), phase == KLETSEN_GAME_RUNNING);
  gtk_label_set_text (self->history_label, history);
  gtk_widget_set_visible (GTK_WIDGET (self->history_label), *history != '\0');
  gtk_label_set_text (self->results_label, results ? results : "");
  gtk_widget_set_visible (GTK_WIDGET (self->results_label), results != NULL);
}

static gboolean
tick_cb (gpointer user_data)
{
  update (user_data);
  return G_SOURCE_CONTINUE;
}

static void
guess_clicked_cb (KletsenGamePanel *self)
{
  gtk_spin_button_update (self->guess_spin);
  g_signal_emit (self, signals[GUESS], 0, gtk_spin_button_get_value_as_int (self->guess_spin));
}

static void
close_clicked_cb (KletsenGamePanel *self)
{
  g_signal_emit (self, signals[CLOSE], 0);
}

static void
kletsen_game_panel_dispose (GObject *object)
{
  KletsenGamePanel *self = KLETSEN_GAME_PANEL (object);

  kletsen_game_panel_set_game (self, NULL);
  g_clear_handle_id (&self->tick_id, g_source_remove);
  gtk_widget_dispose_template (GTK_WIDGET (self), KLETSEN_TYPE_GAME_PANEL);

  G_OBJECT_CLASS (kletsen_game_panel_parent_class)->dispose (object);
}

static void
kletsen_game_panel_class_init (KletsenGamePanelClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = kletsen_game_panel_dispose;

  /**
   * KletsenGamePanel::guess:
   * @number: the number the player chose, 1 to 50
   */
  signals[GUESS] = g_signal_new ("guess", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                                 G_TYPE_NONE, 1, G_TYPE_INT);
  /**
   * KletsenGamePanel::close:
   *
   * The player wants the panel out of the way.
   */
  signals[CLOSE] = g_signal_new ("close", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                                 G_TYPE_NONE, 0);

  gtk_widget_class_set_template_from_resource (widget_class, "/nl/kletsen/Kletsen/kletsen-game-panel.ui");
  gtk_widget_class_bind_template_child (widget_class, KletsenGamePanel, title_label);
  gtk_widget_class_bind_template_child (widget_class, KletsenGamePanel, status_label);
  gtk_widget_class_bind_template_child (widget_class, KletsenGamePanel, guess_box);
  gtk_widget_class_bind_template_child (widget_class, KletsenGamePanel, guess_spin);
  gtk_widget_class_bind_template_child (widget_class, KletsenGamePanel, guess_button);
  gtk_widget_class_bind_template_child (widget_class, KletsenGamePanel, feedback_label);
  gtk_widget_class_bind_template_child (widget_class, KletsenGamePanel, join_button);
  gtk_widget_class_bind_template_child (widget_class, KletsenGamePanel, history_label);
  gtk_widget_class_bind_template_child (widget_class, KletsenGamePanel, results_label);
  gtk_widget_class_bind_template_callback (widget_class, guess_clicked_cb);
  gtk_widget_class_bind_template_callback (widget_class, close_clicked_cb);
}

static void
kletsen_game_panel_init (KletsenGamePanel *self)
{
  gtk_widget_init_template (GTK_WIDGET (self));
  /* Enter in the number field guesses (GtkSpinButton has no ::activate in GTK 4.8). */
  g_signal_connect_swapped (gtk_editable_get_delegate (GTK_EDITABLE (self->guess_spin)), "activate",
                            G_CALLBACK (guess_clicked_cb), self);
  /* The countdown is shown in whole seconds. */
  self->tick_id = g_timeout_add_seconds (1, tick_cb, self);
  update (self);
}

void
kletsen_game_panel_set_game (KletsenGamePanel *self,
                             KletsenGameState *game)
{
  if (self->game == game)
    return;
  if (self->game != NULL)
    g_clear_signal_handler (&self->changed_id, self->game);
  g_set_object (&self->game, game);
  if (game != NULL)
    self->changed_id = g_signal_connect_swapped (game, "changed", G_CALLBACK (update), self);
  update (self);
}

/* Shows the answer to the last guess: -1 too low, 1 too high, 0 right. */
void
kletsen_game_panel_set_feedback (KletsenGamePanel *self,
                                 int               result)
{
  gtk_label_set_text (self->feedback_label,
                      result < 0 ? _("Too low") : result > 0 ? _("Too high") : _("Correct!"));
  gtk_widget_set_sensitive (GTK_WIDGET (self->guess_box), result != 0);
}

GtkSpinButton *
_kletsen_game_panel_get_guess_spin (KletsenGamePanel *self)
{
  return self->guess_spin;
}

GtkButton *
_kletsen_game_panel_get_guess_button (KletsenGamePanel *self)
{
  return self->guess_button;
}
