/* kletsen-game-state.h
 *
 * Copyright 2026 The Kletsen authors
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#pragma once

#include <json-glib/json-glib.h>

G_BEGIN_DECLS

typedef enum
{
  KLETSEN_GAME_NONE,     /* no game this client knows of */
  KLETSEN_GAME_INVITED,  /* somebody started one; the join window is open */
  KLETSEN_GAME_LOBBY,    /* we are a player; waiting for the window to close */
  KLETSEN_GAME_RUNNING,  /* guessing */
  KLETSEN_GAME_FINISHED, /* results (or the reason there are none) are in */
} KletsenGamePhase;

GType kletsen_game_phase_get_type (void) G_GNUC_CONST;
#define KLETSEN_TYPE_GAME_PHASE (kletsen_game_phase_get_type ())

typedef struct
{
  int number;
  int result; /* -1 too low, 1 too high, 0 right */
} KletsenGuess;

typedef struct
{
  char   *name;
  gint64  time_ms; /* -1: did not find it */
} KletsenGameResult;

#define KLETSEN_TYPE_GAME_STATE (kletsen_game_state_get_type ())

/* The guessing game as this client sees it. Every change emits ::changed;
 * the phase is also a property. */
G_DECLARE_FINAL_TYPE (KletsenGameState, kletsen_game_state, KLETSEN, GAME_STATE, GObject)

KletsenGameState   *kletsen_game_state_new                (void);
KletsenGamePhase    kletsen_game_state_get_phase          (KletsenGameState *self);
const char         *kletsen_game_state_get_initiator      (KletsenGameState *self);
int                 kletsen_game_state_get_seconds_left   (KletsenGameState *self);
const char * const *kletsen_game_state_get_players        (KletsenGameState *self);
const GArray       *kletsen_game_state_get_guesses        (KletsenGameState *self);
const GArray       *kletsen_game_state_get_results        (KletsenGameState *self);
int                 kletsen_game_state_get_end_code       (KletsenGameState *self);
guint               kletsen_game_state_get_finished       (KletsenGameState *self);
const char         *kletsen_game_state_get_last_finisher  (KletsenGameState *self);

/* Called by the session as messages arrive. */
void                _kletsen_game_state_reset             (KletsenGameState *self);
void                _kletsen_game_state_invited           (KletsenGameState *self,
                                                           const char       *initiator,
                                                           gint64            join_ms);
void                _kletsen_game_state_joined            (KletsenGameState *self,
                                                           const char       *initiator,
                                                           gint64            join_ms);
void                _kletsen_game_state_lobby_players     (KletsenGameState *self,
                                                           JsonArray        *players);
void                _kletsen_game_state_begin             (KletsenGameState *self,
                                                           JsonArray        *players);
void                _kletsen_game_state_guessed           (KletsenGameState *self,
                                                           int               number,
                                                           int               result);
void                _kletsen_game_state_progress          (KletsenGameState *self,
                                                           const char       *name,
                                                           guint             finished);
void                _kletsen_game_state_results           (KletsenGameState *self,
                                                           JsonObject       *body);
void                _kletsen_game_state_cancelled         (KletsenGameState *self,
                                                           int               code);

G_END_DECLS
