/* kletsen-game.c
 *
 * Copyright 2026 The Kletsen authors
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

/* The guessing game of protocol.md §3: one game at a time on a server.
 *
 *   idle ──START_GAME_REQ──▶ lobby ──join window, ≥ 2 players──▶ running
 *     ▲                        │ < 2 players: 6002                  │
 *     └────────────────────────┴──── results (all right, timeout, ─┘
 *                                     or nobody unfinished left)
 */

#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "kletsen-server-private.h"

#define GAME_MIN 1
#define GAME_MAX 50

typedef enum
{
  GAME_IDLE,
  GAME_LOBBY,
  GAME_RUNNING,
} GameState;

/* A player of this node (conn), or in a cluster of another node (inc),
 * whose requests this node, the game's owner, gets forwarded. */
typedef struct
{
  KletsenConnection *conn;     /* borrowed; a leaving player is removed first; NULL: remote */
  const char        *inc;      /* interned: the node of a remote player; NULL: local */
  char              *name;
  char              *key;      /* folded */
  gint64             time_ms;  /* from the start of the game; -1 until right */
  guint              finish_order;
} Player;

struct _KletsenGame
{
  KletsenServer *server;
  GameState      state;
  GArray        *players;      /* of Player, in joining order */
  guint          secret;
  gint64         started_at;   /* monotonic, µs */
  guint          finished;
  guint          timer_id;     /* the join window, then the game timeout */
  GHashTable    *last_players; /* folded names of the last game's players */
  gint64         cooldown_end; /* monotonic µs: until then they may not start one */
};

static void
player_clear (gpointer data)
{
  Player *p = data;

  g_free (p->name);
  g_free (p->key);
}

KletsenGame *
_kletsen_game_new (KletsenServer *server)
{
  KletsenGame *game = g_new0 (KletsenGame, 1);

  game->server = server;
  game->players = g_array_new (FALSE, FALSE, sizeof (Player));
  g_array_set_clear_func (game->players, player_clear);
  game->last_players = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  return game;
}

void
_kletsen_game_free (KletsenGame *game)
{
  g_clear_handle_id (&game->timer_id, g_source_remove);
  g_array_unref (game->players);
  g_hash_table_unref (game->last_players);
  g_free (game);
}

static Player *
find_player (KletsenGame *game,
             const char  *name,
             guint       *index)
{
  g_autofree char *key = kletsen_user_name_key (name);

  for (guint i = 0; i < game->players->len; i++)
    {
      Player *p = &g_array_index (game->players, Player, i);

      if (strcmp (p->key, key) == 0)
        {
          if (index != NULL)
            *index = i;
          return p;
        }
    }
  return NULL;
}

/* Who sent a request: a local connection, or a player of another node. */
typedef struct
{
  KletsenConnection *conn;
  const char        *inc;
  const char        *name;
} Requester;

static void
send_to (KletsenGame       *game,
         KletsenConnection *conn,
         const char        *inc,
         const char        *name,
         GBytes            *line)
{
  if (conn != NULL)
    _kletsen_connection_send (conn, line);
  else if (game->server->cluster != NULL)
    _kletsen_cluster_send_line (game->server->cluster, inc, name, line);
}

static void
send_to_player (KletsenGame *game,
                Player      *p,
                GBytes      *line)
{
  send_to (game, p->conn, p->inc, p->name, line);
}

static void
answer (KletsenGame     *game,
        const Requester *who,
        const char      *header,
        int              code)
{
  g_autoptr(GBytes) line = kletsen_message_build_status (header, code);

  send_to (game, who->conn, who->inc, who->name, line);
}

static void
send_to_players (KletsenGame *game,
                 GBytes      *line)
{
  for (guint i = 0; i < game->players->len; i++)
    send_to_player (game, &g_array_index (game->players, Player, i), line);
}

static JsonArray *
player_names (KletsenGame *game)
{
  JsonArray *names = json_array_new ();

  for (guint i = 0; i < game->players->len; i++)
    json_array_add_string_element (names, g_array_index (game->players, Player, i).name);
  return names;
}

/* A game ended: its players wait --game-cooldown-ms before they may start
 * the next one (anybody else may at once). Two users could otherwise hold
 * the one game for ever: start, join, never guess, start again. */
static void
start_cooldown (KletsenGame *game)
{
  g_hash_table_remove_all (game->last_players);
  for (guint i = 0; i < game->players->len; i++)
    g_hash_table_add (game->last_players, g_strdup (g_array_index (game->players, Player, i).key));
  game->cooldown_end = g_get_monotonic_time () + (gint64)game->server->options.game_cooldown_ms * 1000;
}

static gboolean
in_cooldown (KletsenGame *game,
             const char  *name)
{
  g_autofree char *key = NULL;

  if (g_get_monotonic_time () >= game->cooldown_end)
    return FALSE;
  key = kletsen_user_name_key (name);
  return g_hash_table_contains (game->last_players, key);
}

static void
reset (KletsenGame *game)
{
  if (game->state != GAME_IDLE)
    {
      start_cooldown (game);
      /* In a cluster the next game may start on any node. */
      if (game->server->cluster != NULL)
        _kletsen_cluster_game_over (game->server->cluster);
    }
  g_clear_handle_id (&game->timer_id, g_source_remove);
  g_array_set_size (game->players, 0);
  game->state = GAME_IDLE;
  game->finished = 0;
}

static int
compare_results (gconstpointer a,
                 gconstpointer b)
{
  const Player *pa = a;
  const Player *pb = b;

  /* Finishers first, by time, ties in the order they guessed; then the rest. */
  if ((pa->time_ms < 0) != (pb->time_ms < 0))
    return pa->time_ms < 0 ? 1 : -1;
  if (pa->time_ms != pb->time_ms)
    return pa->time_ms < pb->time_ms ? -1 : 1;
  return (int)pa->finish_order - (int)pb->finish_order;
}

static void
finish (KletsenGame *game)
{
  g_autoptr(JsonObject) body = json_object_new ();
  g_autoptr(GBytes) line = NULL;

  if (game->finished == 0)
    {
      json_object_set_string_member (body, "status", "ERROR");
      json_object_set_int_member (body, "code", KLETSEN_CODE_NO_RESULTS);
    }
  else
    {
      g_autoptr(GArray) sorted = g_array_copy (game->players);
      JsonArray *results = json_array_new ();

      g_array_sort (sorted, compare_results);
      for (guint i = 0; i < sorted->len; i++)
        {
          Player *p = &g_array_index (sorted, Player, i);
          JsonObject *entry = json_object_new ();

          json_object_set_string_member (entry, "username", p->name);
          if (p->time_ms >= 0)
            json_object_set_int_member (entry, "timeMs", p->time_ms);
          else
            json_object_set_null_member (entry, "timeMs");
          json_array_add_object_element (results, entry);
        }
      json_object_set_string_member (body, "status", "OK");
      json_object_set_array_member (body, "results", results);
    }

  line = kletsen_message_serialize ("GAME_RESULTS", body);
  send_to_players (game, line);
  g_info ("game over: %u of %u guessed %u", game->finished, game->players->len, game->secret);
  reset (game);
}

static gboolean
game_timeout_cb (gpointer user_data)
{
  KletsenGame *game = user_data;

  game->timer_id = 0;
  finish (game);
  return G_SOURCE_REMOVE;
}

static gboolean
join_window_closed_cb (gpointer user_data)
{
  KletsenGame *game = user_data;
  g_autoptr(JsonObject) body = json_object_new ();
  g_autoptr(GBytes) line = NULL;
  JsonArray *names;

  game->timer_id = 0;

  if (game->players->len < 2)
    {
      line = kletsen_message_build_status ("START_GAME_RESP", KLETSEN_CODE_NOT_ENOUGH_PLAYERS);
      send_to_players (game, line);
      g_info ("game cancelled: %u player(s)", game->players->len);
      reset (game);
      return G_SOURCE_REMOVE;
    }

  names = player_names (game);
  json_object_set_string_member (body, "status", "OK");
  json_object_set_array_member (body, "players", names);
  json_object_set_int_member (body, "min", GAME_MIN);
  json_object_set_int_member (body, "max", GAME_MAX);
  line = kletsen_message_serialize ("START_GAME_RESP", body);

  game->state = GAME_RUNNING;
  game->secret = g_random_int_range (GAME_MIN, GAME_MAX + 1);
  game->started_at = g_get_monotonic_time ();
  game->timer_id = g_timeout_add (game->server->options.game_timeout_ms, game_timeout_cb, game);
  g_source_set_static_name (g_main_context_find_source_by_id (NULL, game->timer_id), "kletsen-game-timeout");

  g_info ("game started with %u players", game->players->len);
  send_to_players (game, line);
  return G_SOURCE_REMOVE;
}

static void
add_player (KletsenGame     *game,
            const Requester *who)
{
  Player p = { who->conn, who->inc, g_strdup (who->name), kletsen_user_name_key (who->name), -1, 0 };

  g_array_append_val (game->players, p);
}

/**
 * _kletsen_game_start:
 *
 * START_GAME_REQ of a local user. In a cluster the game is one for all
 * nodes: this node must first take the lease on it in Redis, and then
 * opens the lobby (_kletsen_game_open_lobby()).
 */
void
_kletsen_game_start (KletsenGame       *game,
                     KletsenConnection *conn)
{
  if (game->state != GAME_IDLE)
    {
      _kletsen_connection_send_status (conn, "START_GAME_RESP", KLETSEN_CODE_GAME_IN_PROGRESS);
      return;
    }
  if (in_cooldown (game, conn->name))
    {
      _kletsen_connection_send_status (conn, "START_GAME_RESP", KLETSEN_CODE_GAME_COOLDOWN);
      return;
    }
  if (game->server->cluster != NULL && _kletsen_cluster_is_routing (game->server->cluster))
    {
      _kletsen_cluster_game_start (game->server->cluster, conn);
      return;
    }
  _kletsen_game_open_lobby (game, conn);
}

gboolean
_kletsen_game_is_idle (KletsenGame *game)
{
  return game->state == GAME_IDLE;
}

void
_kletsen_game_open_lobby (KletsenGame       *game,
                          KletsenConnection *conn)
{
  int window = game->server->options.join_window_ms;
  Requester who = { conn, NULL, conn->name };
  g_autoptr(JsonObject) body = NULL;
  g_autoptr(GBytes) line = NULL;

  if (game->state != GAME_IDLE)
    {
      _kletsen_connection_send_status (conn, "START_GAME_RESP", KLETSEN_CODE_GAME_IN_PROGRESS);
      return;
    }
  game->state = GAME_LOBBY;
  add_player (game, &who);
  game->timer_id = g_timeout_add (window, join_window_closed_cb, game);
  g_source_set_static_name (g_main_context_find_source_by_id (NULL, game->timer_id), "kletsen-join-window");

  body = json_object_new ();
  json_object_set_string_member (body, "status", "OK");
  json_object_set_string_member (body, "initiator", conn->name);
  /* Rounded up, in 64 bits: window + 999 overflows near INT_MAX. */
  json_object_set_int_member (body, "joinSeconds", ((gint64)window + 999) / 1000);
  json_object_set_int_member (body, "joinMs", window);
  line = kletsen_message_serialize ("GAME_NOTIFICATION", body);

  conn_log (conn, G_LOG_LEVEL_INFO, "started a game");
  _kletsen_connection_send_status (conn, "START_GAME_RESP", 0);
  if (game->server->cluster != NULL && _kletsen_cluster_is_routing (game->server->cluster))
    _kletsen_cluster_game_announce (game->server->cluster, conn, line);
  else
    _kletsen_server_queue_fan_out (game->server, line, conn);
}

/* Tells everybody in the lobby who is in it now (GAME_JOINED, extension). */
static void
announce_joined (KletsenGame *game,
                 const char  *name)
{
  g_autoptr(JsonObject) body = json_object_new ();
  g_autoptr(GBytes) line = NULL;

  json_object_set_string_member (body, "username", name);
  json_object_set_array_member (body, "players", player_names (game));
  line = kletsen_message_serialize ("GAME_JOINED", body);
  send_to_players (game, line);
}

static void
game_join (KletsenGame     *game,
           const Requester *who)
{
  int code = 0;

  if (game->state == GAME_IDLE)
    code = KLETSEN_CODE_NO_GAME;
  else if (game->state == GAME_RUNNING)
    code = KLETSEN_CODE_GAME_IN_PROGRESS;
  else if (find_player (game, who->name, NULL) != NULL)
    code = KLETSEN_CODE_ALREADY_JOINED;

  if (code == 0)
    add_player (game, who);
  answer (game, who, "JOIN_GAME_RESP", code);
  if (code == 0)
    announce_joined (game, who->name);
}

/* In a cluster, requests about a game another node runs go to that node. */
static gboolean
forwarded (KletsenGame       *game,
           KletsenConnection *conn,
           const char        *op,
           JsonNode          *number)
{
  return game->state == GAME_IDLE && game->server->cluster != NULL &&
         _kletsen_cluster_game_forward (game->server->cluster, conn, op, number);
}

void
_kletsen_game_join (KletsenGame       *game,
                    KletsenConnection *conn)
{
  Requester who = { conn, NULL, conn->name };

  if (!forwarded (game, conn, "GJ", NULL))
    game_join (game, &who);
}

void
_kletsen_game_join_remote (KletsenGame *game,
                           const char  *inc,
                           const char  *name)
{
  Requester who = { NULL, inc, name };

  game_join (game, &who);
}

/* A guess is a JSON integer or a string of decimal digits; anything else that
 * got past the parser (a fraction, an exponent, a sign in a string, letters)
 * is 7004. Returns FALSE for those; a huge but well-formed number comes back
 * clamped, which is out of range all the same. */
static gboolean
guess_value (JsonNode *node,
             gint64   *value)
{
  GType type = json_node_get_value_type (node);

  if (type == G_TYPE_INT64)
    {
      *value = json_node_get_int (node);
      return TRUE;
    }
  if (type == G_TYPE_STRING)
    {
      const char *s = json_node_get_string (node);
      guint64 v = 0;

      if (*s == '\0')
        return FALSE;
      for (; *s; s++)
        {
          if (!g_ascii_isdigit (*s))
            return FALSE;
          v = MIN (v * 10 + (*s - '0'), (guint64)G_MAXINT32);
        }
      *value = (gint64)v;
      return TRUE;
    }
  return FALSE;
}

static void
send_guess_result (KletsenGame     *game,
                   const Requester *who,
                   int              result)
{
  static const char *const texts[] = {
    "Your guess is too low.", "Your guess is correct!", "Your guess is too high.",
  };
  g_autoptr(JsonObject) body = json_object_new ();
  g_autoptr(GBytes) line = NULL;

  json_object_set_string_member (body, "status", "OK");
  json_object_set_int_member (body, "result", result);
  json_object_set_string_member (body, "message", texts[result + 1]);
  line = kletsen_message_serialize ("GUESS_NUMBER_RESP", body);
  send_to (game, who->conn, who->inc, who->name, line);
}

static void
send_progress (KletsenGame *game,
               Player      *winner)
{
  g_autoptr(JsonObject) body = json_object_new ();
  g_autoptr(GBytes) line = NULL;

  json_object_set_string_member (body, "username", winner->name);
  json_object_set_int_member (body, "timeMs", winner->time_ms);
  json_object_set_int_member (body, "finished", game->finished);
  json_object_set_int_member (body, "players", game->players->len);
  line = kletsen_message_serialize ("GAME_PROGRESS", body);

  for (guint i = 0; i < game->players->len; i++)
    {
      Player *p = &g_array_index (game->players, Player, i);

      if (p != winner)
        send_to_player (game, p, line);
    }
}

static void
game_guess (KletsenGame     *game,
            const Requester *who,
            JsonNode        *number)
{
  Player *player = find_player (game, who->name, NULL);
  gint64 value = 0;
  int code = 0;

  if (game->state == GAME_IDLE)
    code = KLETSEN_CODE_NO_GAME;
  else if (game->state == GAME_LOBBY)
    code = KLETSEN_CODE_GAME_IN_LOBBY;
  else if (player == NULL)
    code = KLETSEN_CODE_NOT_A_PLAYER;
  else if (player->time_ms >= 0)
    code = KLETSEN_CODE_ALREADY_GUESSED;
  else if (!guess_value (number, &value))
    code = KLETSEN_CODE_GUESS_NOT_INTEGER;
  else if (value < GAME_MIN || value > GAME_MAX)
    code = KLETSEN_CODE_GUESS_OUT_OF_RANGE;

  if (code != 0)
    {
      answer (game, who, "GUESS_NUMBER_RESP", code);
      return;
    }

  if (value != game->secret)
    {
      send_guess_result (game, who, value < game->secret ? -1 : 1);
      return;
    }

  player->time_ms = (g_get_monotonic_time () - game->started_at) / 1000;
  player->finish_order = game->finished++;
  send_guess_result (game, who, 0);
  send_progress (game, player);

  if (game->finished == game->players->len)
    finish (game);
}

void
_kletsen_game_guess (KletsenGame       *game,
                     KletsenConnection *conn,
                     JsonNode          *number)
{
  Requester who = { conn, NULL, conn->name };

  if (!forwarded (game, conn, "GG", number))
    game_guess (game, &who, number);
}

void
_kletsen_game_guess_remote (KletsenGame *game,
                            const char  *inc,
                            const char  *name,
                            JsonNode    *number)
{
  Requester who = { NULL, inc, name };

  game_guess (game, &who, number);
}

/**
 * _kletsen_game_leave:
 *
 * Takes a player who logs out or drops out of the game; they are not listed
 * in its results. A running game with no unfinished player left ends at
 * once, and so does a lobby its starter left (6002 to the others).
 */
void
_kletsen_game_leave (KletsenGame       *game,
                     KletsenConnection *conn)
{
  _kletsen_game_leave_name (game, NULL, conn->name);
}

/* A player by name: of @inc (a remote one who left, or whose node died),
 * or local when @inc is NULL. */
void
_kletsen_game_leave_name (KletsenGame *game,
                          const char  *inc,
                          const char  *name)
{
  Player *p;
  guint index;

  if (game->state == GAME_IDLE || (p = find_player (game, name, &index)) == NULL || p->inc != inc)
    return;

  if (g_array_index (game->players, Player, index).time_ms >= 0)
    game->finished--;
  g_array_remove_index (game->players, index);

  /* A lobby whose starter left (the first player), or that nobody is in,
   * ends at once: otherwise it blocked every other START_GAME_REQ (6003)
   * and took joins into an empty room until its window closed. */
  if (game->state == GAME_LOBBY && (index == 0 || game->players->len == 0))
    {
      g_autoptr(GBytes) line = kletsen_message_build_status ("START_GAME_RESP", KLETSEN_CODE_NOT_ENOUGH_PLAYERS);

      g_info ("game cancelled: its starter left the lobby");
      send_to_players (game, line);
      reset (game);
      return;
    }
  if (game->state == GAME_RUNNING && game->finished == game->players->len)
    finish (game);
}
