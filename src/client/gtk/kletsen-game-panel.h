/* kletsen-game-panel.h
 *
 * Copyright 2026 The Kletsen authors
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#pragma once

#include <gtk/gtk.h>

#include "kletsen-game-state.h"

G_BEGIN_DECLS

#define KLETSEN_TYPE_GAME_PANEL (kletsen_game_panel_get_type ())

/* Shows a KletsenGameState: the invitation and its countdown, the lobby, the
 * guess field with feedback and history, other players' progress, and the
 * results. It asks for guesses through ::guess; joining is win.join-game. */
G_DECLARE_FINAL_TYPE (KletsenGamePanel, kletsen_game_panel, KLETSEN, GAME_PANEL, GtkBox)

void kletsen_game_panel_set_game        (KletsenGamePanel *self,
                                         KletsenGameState *game);
void kletsen_game_panel_set_feedback    (KletsenGamePanel *self,
                                         int               result);
char *kletsen_game_panel_format_results (KletsenGameState *game);

/* For the UI tests. */
GtkSpinButton *_kletsen_game_panel_get_guess_spin   (KletsenGamePanel *self);
GtkButton     *_kletsen_game_panel_get_guess_button (KletsenGamePanel *self);

G_END_DECLS
