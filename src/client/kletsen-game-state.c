/* kletsen-game-state.c
 *
 * Copyright 2026 The Kletsen authors
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#include "config.h"

#include "kletsen-game-state.h"
#include "kletsen-protocol.h"

/* What a server can make us keep of one game. */
#define MAX_PLAYERS 1000
/* How long a lobby may wait past its window for the start or the
 * cancellation before it is taken as gone. */
#define LOBBY_GRACE_MS 10000

struct _KletsenGameState
{
  GObject           parent_instance;

  KletsenGamePhase  phase;
  char             *initiator;
  gint64            join_deadline; /* monotonic µs */
  GStrv             players;
  GArray           *guesses;       /* of KletsenGuess */
  GArray           *results;       /* of KletsenGameResult */
  int               end_code;      /* 6002 or 9002 when it ended without results */
  guint             finished;
  char             *last_finisher;
  guint             expiry_id;     /* ends an invitation or lobby the server forgot */
};

G_DEFINE_FINAL_TYPE (KletsenGameState, kletsen_game_state, G_TYPE_OBJECT)

G_DEFINE_ENUM_TYPE (KletsenGamePhase, kletsen_game_phase,
  G_DEFINE_ENUM_VALUE (KLETSEN_GAME_NONE, "none"),
  G_DEFINE_ENUM_VALUE (KLETSEN_GAME_INVITED, "invited"),
  G_DEFINE_ENUM_VALUE (KLETSEN_GAME_LOBBY, "lobby"),
  G_DEFINE_ENUM_VALUE (KLETSEN_GAME_RUNNING, "running"),
  G_DEFINE_ENUM_VALUE (KLETSEN_GAME_FINISHED, "finished"))

enum {
  PROP_0,
  PROP_PHASE,
  N_PROPS
};

enum {
  CHANGED,
  N_SIGNALS
};

static GParamSpec *properties[N_PROPS];
static guint signals[N_SIGNALS];

static void
clear_result (gpointer data)
{
  g_free (((KletsenGameResult *)data)->name);
}

static void
kletsen_game_state_finalize (GObject *object)
{
  KletsenGameState *self = KLETSEN_GAME_STATE (object);

  g_clear_handle_id (&self->expiry_id, g_source_remove);
  g_clear_pointer (&self->initiator, g_free);
  g_clear_pointer (&self->players, g_strfreev);
  g_clear_pointer (&self->guesses, g_array_unref);
  g_clear_pointer (&self->results, g_array_unref);
  g_clear_pointer (&self->last_finisher, g_free);

  G_OBJECT_CLASS (kletsen_game_state_parent_class)->finalize (object);
}

static void
kletsen_game_state_get_property (GObject    *object,
                                 guint       prop_id,
                                 GValue     *value,
                                 GParamSpec *pspec)
{
  switch (prop_id)
    {
    case PROP_PHASE: g_value_set_enum (value, KLETSEN_GAME_STATE (object)->phase); break;
    default: G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
kletsen_game_state_class_init (KletsenGameStateClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->finalize = kletsen_game_state_finalize;
  object_class->get_property = kletsen_game_state_get_property;

  properties[PROP_PHASE] = g_param_spec_enum ("phase", NULL, NULL, KLETSEN_TYPE_GAME_PHASE, KLETSEN_GAME_NONE,
                                              G_PARAM_READABLE | G_PARAM_STATIC_STRINGS | G_PARAM_EXPLICIT_NOTIFY);
  g_object_class_install_properties (object_class, N_PROPS, properties);

  /**
   * KletsenGameState::changed:
   *
   * Anything about the game changed: phase, players, a guess, progress, results.
   */
  signals[CHANGED] = g_signal_new ("changed", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                                   0, NULL, NULL, NULL, G_TYPE_NONE, 0);
}

static void
kletsen_game_state_init (KletsenGameState *self)
{
  self->guesses = g_array_new (FALSE, FALSE, sizeof (KletsenGuess));
  self->results = g_array_new (FALSE, FALSE, sizeof (KletsenGameResult));
  g_array_set_clear_func (self->results, clear_result);
}

KletsenGameState *
kletsen_game_state_new (void)
{
  return g_object_new (KLETSEN_TYPE_GAME_STATE, NULL);
}

static void
set_phase (KletsenGameState *self,
           KletsenGamePhase  phase)
{
  if (phase != KLETSEN_GAME_INVITED && phase != KLETSEN_GAME_LOBBY)
    g_clear_handle_id (&self->expiry_id, g_source_remove);
  if (self->phase != phase)
    {
      self->phase = phase;
      g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_PHASE]);
    }
  g_signal_emit (self, signals[CHANGED], 0);
}

/* A new game: forget everything about the last one. */
static void
fresh (KletsenGameState *self,
       const char       *initiator,
       gint64            join_ms)
{
  g_free (self->initiator);
  self->initiator = g_strdup (initiator);
  self->join_deadline = g_get_monotonic_time () + join_ms * 1000;
  g_clear_pointer (&self->players, g_strfreev);
  g_clear_pointer (&self->last_finisher, g_free);
  g_array_set_size (self->guesses, 0);
  g_array_set_size (self->results, 0);
  self->end_code = 0;
  self->finished = 0;
}

KletsenGamePhase
kletsen_game_state_get_phase (KletsenGameState *self)
{
  return self->phase;
}

const char *
kletsen_game_state_get_initiator (KletsenGameState *self)
{
  return self->initiator;
}

/* Seconds until the join window closes, rounded up; 0 outside the lobby. */
int
kletsen_game_state_get_seconds_left (KletsenGameState *self)
{
  gint64 left;

  if (self->phase != KLETSEN_GAME_INVITED && self->phase != KLETSEN_GAME_LOBBY)
    return 0;
  left = self->join_deadline - g_get_monotonic_time ();
  return left <= 0 ? 0 : (int)((left + 999999) / 1000000);
}

const char * const *
kletsen_game_state_get_players (KletsenGameState *self)
{
  return (const char * const *)self->players;
}

const GArray *
kletsen_game_state_get_guesses (KletsenGameState *self)
{
  return self->guesses;
}

const GArray *
kletsen_game_state_get_results (KletsenGameState *self)
{
  return self->results;
}

int
kletsen_game_state_get_end_code (KletsenGameState *self)
{
  return self->end_code;
}

guint
kletsen_game_state_get_finished (KletsenGameState *self)
{
  return self->finished;
}

const char *
kletsen_game_state_get_last_finisher (KletsenGameState *self)
{
  return self->last_finisher;
}

static gboolean
expired_cb (gpointer user_data)
{
  KletsenGameState *self = user_data;

  self->expiry_id = 0;
  if (self->phase == KLETSEN_GAME_INVITED)
    set_phase (self, KLETSEN_GAME_NONE); /* the window closed without us */
  else if (self->phase == KLETSEN_GAME_LOBBY)
    _kletsen_game_state_cancelled (self, KLETSEN_CODE_NOT_ENOUGH_PLAYERS);
  return G_SOURCE_REMOVE;
}

/* An invitation ends with its window; a lobby a little after it, if the
 * server never said how it ended. */
static void
watch_deadline (KletsenGameState *self,
                gint64            extra_ms)
{
  gint64 left_ms = MAX (self->join_deadline - g_get_monotonic_time (), 0) / 1000 + extra_ms;

  g_clear_handle_id (&self->expiry_id, g_source_remove);
  self->expiry_id = g_timeout_add ((guint)left_ms, expired_cb, self);
}

void
_kletsen_game_state_invited (KletsenGameState *self,
                             const char       *initiator,
                             gint64            join_ms)
{
  fresh (self, initiator, join_ms);
  set_phase (self, KLETSEN_GAME_INVITED);
  watch_deadline (self, 0);
}

/**
 * _kletsen_game_state_reset:
 *
 * The connection was lost: whatever game there was goes on without us, or
 * has ended; show none.
 */
void
_kletsen_game_state_reset (KletsenGameState *self)
{
  if (self->phase == KLETSEN_GAME_NONE)
    return;
  fresh (self, NULL, 0);
  set_phase (self, KLETSEN_GAME_NONE);
}

/* We started the game, or joined one we were invited to. */
void
_kletsen_game_state_joined (KletsenGameState *self,
                            const char       *initiator,
                            gint64            join_ms)
{
  /* An invitation said when its window closes; our own start did not, so
   * only a lobby we were invited to is watched. */
  gboolean deadline_known = self->phase == KLETSEN_GAME_INVITED;

  if (!deadline_known)
    fresh (self, initiator, join_ms);
  set_phase (self, KLETSEN_GAME_LOBBY);
  if (deadline_known)
    watch_deadline (self, LOBBY_GRACE_MS);
}

static void
set_players (KletsenGameState *self,
             JsonArray        *players)
{
  guint n = players ? MIN (json_array_get_length (players), MAX_PLAYERS) : 0;

  g_clear_pointer (&self->players, g_strfreev);
  self->players = g_new0 (char *, n + 1);
  for (guint i = 0, j = 0; i < n; i++)
    {
      const char *name = kletsen_array_get_string (players, i);

      if (name != NULL && kletsen_user_name_is_valid (name))
        self->players[j++] = g_strdup (name);
    }
}

/* Who is in the lobby so far (GAME_JOINED, an extension of our server). */
void
_kletsen_game_state_lobby_players (KletsenGameState *self,
                                   JsonArray        *players)
{
  set_players (self, players);
  g_signal_emit (self, signals[CHANGED], 0);
}

void
_kletsen_game_state_begin (KletsenGameState *self,
                           JsonArray        *players)
{
  set_players (self, players);
  set_phase (self, KLETSEN_GAME_RUNNING);
}

void
_kletsen_game_state_guessed (KletsenGameState *self,
                             int               number,
                             int               result)
{
  KletsenGuess guess = { number, result };

  g_array_append_val (self->guesses, guess);
  g_signal_emit (self, signals[CHANGED], 0);
}

void
_kletsen_game_state_progress (KletsenGameState *self,
                              const char       *name,
                              guint             finished)
{
  g_free (self->last_finisher);
  self->last_finisher = g_strdup (name);
  self->finished = finished;
  g_signal_emit (self, signals[CHANGED], 0);
}

void
_kletsen_game_state_results (KletsenGameState *self,
                             JsonObject       *body)
{
  JsonArray *list;

  g_array_set_size (self->results, 0);
  if (g_strcmp0 (kletsen_body_get_string (body, "status"), "OK") != 0)
    {
      self->end_code = (int)CLAMP (kletsen_body_get_int_or (body, "code", KLETSEN_CODE_NO_RESULTS), 1, G_MAXINT);
      set_phase (self, KLETSEN_GAME_FINISHED);
      return;
    }

  list = kletsen_body_get_array (body, "results");
  for (guint i = 0; list != NULL && i < MIN (json_array_get_length (list), MAX_PLAYERS); i++)
    {
      JsonObject *entry = kletsen_array_get_object (list, i);
      const char *name = kletsen_body_get_string (entry, "username");
      KletsenGameResult result;

      if (name == NULL || !kletsen_user_name_is_valid (name))
        continue;
      result.name = g_strdup (name);
      result.time_ms = MAX (kletsen_body_get_int_or (entry, "timeMs", -1), -1);
      g_array_append_val (self->results, result);
    }
  self->end_code = 0;
  set_phase (self, KLETSEN_GAME_FINISHED);
}

void
_kletsen_game_state_cancelled (KletsenGameState *self,
                               int               code)
{
  self->end_code = code;
  set_phase (self, KLETSEN_GAME_FINISHED);
}
