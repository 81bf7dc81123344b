/* kletsen-session.c
 *
 * Copyright 2026 The Kletsen authors
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

/* One connection to a Kletsen server, and the models the desktop app shows.
 * This file is the GObject and its models (people, conversations, game,
 * transfers) with the chat and game requests; the other parts are listed in
 * kletsen-session-private.h.
 *
 * Replies: the server answers one connection's requests in order, so a reply
 * belongs to the oldest request still waiting for that reply header. Some
 * requests (a file offer or answer, the secure-message steps) get a reply
 * only when they fail; each of those is followed by a LIST_USERS_REQ, whose
 * reply proves that every such request before it succeeded. That works with
 * any server that follows the protocol. */

#include "config.h"

#include <string.h>

#include "kletsen-session-private.h"

G_DEFINE_FINAL_TYPE (KletsenSession, kletsen_session, G_TYPE_OBJECT)

G_DEFINE_ENUM_TYPE (KletsenSessionState, kletsen_session_state,
  G_DEFINE_ENUM_VALUE (KLETSEN_SESSION_DISCONNECTED, "disconnected"),
  G_DEFINE_ENUM_VALUE (KLETSEN_SESSION_CONNECTING, "connecting"),
  G_DEFINE_ENUM_VALUE (KLETSEN_SESSION_LOGGING_IN, "logging-in"),
  G_DEFINE_ENUM_VALUE (KLETSEN_SESSION_ONLINE, "online"))

G_DEFINE_QUARK (kletsen-session-error-quark, kletsen_session_error)

const char _kletsen_session_tags[8];
GParamSpec *_kletsen_session_properties[N_PROPS];
guint _kletsen_session_signals[N_SIGNALS];

static gboolean
keep_person (const char *name,
             gpointer    user_data);

static void
drop_conversation (KletsenSession *self,
                   const char     *key);

static void
evict_conversation (KletsenSession *self);

static void
conversation_items_cb (KletsenConversation *conversation,
                       guint                position,
                       guint                removed,
                       guint                added,
                       KletsenSession      *self);

static void
kletsen_session_dispose (GObject *object);

static void
kletsen_session_finalize (GObject *object);

static void
kletsen_session_get_property (GObject    *object,
                              guint       prop_id,
                              GValue     *value,
                              GParamSpec *pspec);

static void
kletsen_session_class_init (KletsenSessionClass *klass);

static void
kletsen_session_init (KletsenSession *self);

static void
send_broadcast (KletsenSession     *self,
                KletsenChatMessage *message,
                GTask              *task);

static void
send_private (KletsenSession     *self,
              const char         *peer,
              KletsenChatMessage *message,
              GTask              *task);

static void
game_request (KletsenSession      *self,
              const char          *header,
              gpointer             tag,
              GAsyncReadyCallback  callback,
              gpointer             user_data);

static void
game_entered_cb (GObject      *object,
                 GAsyncResult *result,
                 gpointer      user_data);

static void
guessed_cb (GObject      *object,
            GAsyncResult *result,
            gpointer      user_data);

void
_kletsen_session_pending_free (Pending *p)
{
  g_clear_object (&p->task);
  g_clear_object (&p->message);
  g_clear_object (&p->transfer);
  g_free (p->peer);
  g_free (p);
}

void
_kletsen_session_set_state (KletsenSession      *self,
                            KletsenSessionState  state)
{
  if (self->state == state)
    return;
  self->state = state;
  g_object_notify_by_pspec (G_OBJECT (self), _kletsen_session_properties[PROP_STATE]);
}

void
_kletsen_session_set_last_error (KletsenSession *self,
                                 const char     *error)
{
  if (g_strcmp0 (self->last_error, error) == 0)
    return;
  g_free (self->last_error);
  self->last_error = g_strdup (error);
  g_object_notify_by_pspec (G_OBJECT (self), _kletsen_session_properties[PROP_LAST_ERROR]);
}

void
_kletsen_session_add_system_line (KletsenSession *self,
                                  const char     *text)
{
  g_autoptr(KletsenChatMessage) line = kletsen_chat_message_new (KLETSEN_MESSAGE_KIND_SYSTEM, NULL, text,
                                                                 KLETSEN_MESSAGE_STATE_RECEIVED, FALSE);

  kletsen_conversation_append (self->everyone, line, FALSE);
}

/* ---- the users model ---- */

void
_kletsen_session_user_joined (KletsenSession *self,
                              const char     *name)
{
  kletsen_people_joined (self->people, name);
}

void
_kletsen_session_user_left (KletsenSession *self,
                            const char     *name)
{
  g_autofree char *key = fold (name);
  KletsenConversation *conversation = g_hash_table_lookup (self->conversation_by_key, key);

  kletsen_people_left (self->people, name);
  /* A new connection may bring a new key. */
  g_hash_table_remove (self->peer_keys, key);
  /* Nothing to read: forget the empty conversation too. */
  if (conversation != NULL && g_list_model_get_n_items (G_LIST_MODEL (conversation)) == 0)
    drop_conversation (self, key);
}

void
_kletsen_session_users_listed (KletsenSession *self,
                               JsonArray      *names)
{
  g_autoptr(GPtrArray) valid = g_ptr_array_new ();
  guint n = names ? MIN (json_array_get_length (names), MAX_USERS) : 0;

  for (guint i = 0; i < n; i++)
    {
      const char *name = kletsen_array_get_string (names, i);

      if (is_user_name (name))
        g_ptr_array_add (valid, (gpointer)name);
    }
  kletsen_people_set_online (self->people, (const char * const *)valid->pdata, valid->len);
}

/* ---- conversations ---- */

/* Whether the sidebar keeps @name while they are offline. */
static gboolean
keep_person (const char *name,
             gpointer    user_data)
{
  KletsenSession *self = user_data;
  g_autofree char *key = fold (name);
  KletsenConversation *conversation = g_hash_table_lookup (self->conversation_by_key, key);

  return conversation != NULL && g_list_model_get_n_items (G_LIST_MODEL (conversation)) > 0;
}

static void
drop_conversation (KletsenSession *self,
                   const char     *key)
{
  KletsenConversation *conversation = g_hash_table_lookup (self->conversation_by_key, key);
  guint position;

  if (conversation == NULL)
    return;
  g_signal_handlers_disconnect_by_data (conversation, self);
  if (g_list_store_find (self->conversations, conversation, &position))
    g_list_store_remove (self->conversations, position);
  kletsen_people_forget (self->people, kletsen_conversation_get_peer (conversation));
  g_hash_table_remove (self->conversation_by_key, key);
}

/* Past MAX_CONVERSATIONS, the one idle longest (offline peers first) goes
 * from memory, so that messages from ever new names cannot grow the client
 * without bound. */
static void
evict_conversation (KletsenSession *self)
{
  GHashTableIter iter;
  gpointer key, value;
  const char *oldest = NULL;
  gboolean oldest_online = TRUE;
  gint64 oldest_time = G_MAXINT64;

  g_hash_table_iter_init (&iter, self->conversation_by_key);
  while (g_hash_table_iter_next (&iter, &key, &value))
    {
      gboolean online = kletsen_people_is_online (self->people, kletsen_conversation_get_peer (value));
      gint64 time = kletsen_conversation_get_last_active (value);

      if ((oldest_online && !online) || (online == oldest_online && time < oldest_time))
        {
          oldest = key;
          oldest_online = online;
          oldest_time = time;
        }
    }
  if (oldest != NULL)
    {
      g_autofree char *victim = g_strdup (oldest);

      g_debug ("keeping at most %d conversations: %s's goes", MAX_CONVERSATIONS, victim);
      drop_conversation (self, victim);
    }
}

static void
conversation_items_cb (KletsenConversation *conversation,
                       guint                position,
                       guint                removed,
                       guint                added,
                       KletsenSession      *self)
{
  if (added > 0)
    kletsen_people_remember (self->people, kletsen_conversation_get_peer (conversation));
}

/**
 * kletsen_session_lookup_conversation:
 *
 * Returns: (transfer none) (nullable): the private conversation with @peer,
 *   if there is one
 */
KletsenConversation *
kletsen_session_lookup_conversation (KletsenSession *self,
                                     const char     *peer)
{
  g_autofree char *key = fold (peer);

  return g_hash_table_lookup (self->conversation_by_key, key);
}

static void
add_skeleton (GHashTable *table,
              const char *name)
{
  char *skeleton = kletsen_user_name_skeleton (name);
  GPtrArray *names = g_hash_table_lookup (table, skeleton);

  if (names == NULL)
    {
      names = g_ptr_array_new_with_free_func (g_free);
      g_hash_table_insert (table, skeleton, names);
    }
  else
    g_free (skeleton);
  g_ptr_array_add (names, g_strdup (name));
}

/* Skeleton → the names the user knows with it: built once after a change of
 * the people listed or of the pins, not once per row (each sidebar row and
 * notification asks; at login that was every listed person times every
 * other one). */
static GHashTable *
known_skeletons (KletsenSession *self)
{
  GListModel *people;
  g_autofree char *group = NULL;
  g_auto(GStrv) pinned = NULL;

  if (self->known_skeletons != NULL)
    return self->known_skeletons;
  self->known_skeletons = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, (GDestroyNotify)g_ptr_array_unref);
  people = kletsen_people_get_listed (self->people);
  for (guint i = 0; i < g_list_model_get_n_items (people); i++)
    {
      g_autoptr(KletsenUser) user = g_list_model_get_item (people, i);

      add_skeleton (self->known_skeletons, kletsen_user_get_name (user));
    }
  group = g_strdup_printf ("peers %s:%u", self->host ? self->host : "", self->port);
  pinned = g_key_file_get_keys (self->pins, group, NULL, NULL);
  for (guint i = 0; pinned != NULL && pinned[i] != NULL; i++)
    add_skeleton (self->known_skeletons, pinned[i]);
  return self->known_skeletons;
}

void
_kletsen_session_forget_skeletons (KletsenSession *self)
{
  g_clear_pointer (&self->known_skeletons, g_hash_table_unref);
}

/**
 * kletsen_session_find_lookalike:
 *
 * Names without accounts can only be told apart by how they look: a
 * newcomer "AIice" (capital i) next to the "alice" the user knows.
 *
 * Returns: (transfer full) (nullable): a person the user knows (listed in
 *   the sidebar, or with a pinned key on this server) whose name looks like
 *   @name without being it
 */
char *
kletsen_session_find_lookalike (KletsenSession *self,
                                const char     *name)
{
  g_autofree char *skeleton = kletsen_user_name_skeleton (name);
  GPtrArray *names = g_hash_table_lookup (known_skeletons (self), skeleton);

  for (guint i = 0; names != NULL && i < names->len; i++)
    if (g_ascii_strcasecmp (names->pdata[i], name) != 0)
      return g_strdup (names->pdata[i]);
  return NULL;
}

/**
 * kletsen_session_get_conversation:
 * @peer: the other person
 *
 * Returns: (transfer none): the private conversation with @peer, made when
 *   there is none yet
 */
KletsenConversation *
kletsen_session_get_conversation (KletsenSession *self,
                                  const char     *peer)
{
  g_autofree char *key = fold (peer);
  KletsenConversation *conversation = g_hash_table_lookup (self->conversation_by_key, key);

  if (conversation == NULL)
    {
      if (g_hash_table_size (self->conversation_by_key) >= MAX_CONVERSATIONS)
        evict_conversation (self);
      conversation = kletsen_conversation_new (peer);
      g_signal_connect (conversation, "items-changed", G_CALLBACK (conversation_items_cb), self);
      g_hash_table_insert (self->conversation_by_key, g_steal_pointer (&key), conversation);
      /* Its past first: whoever watches the list sees only what is new. */
      kletsen_conversation_set_history (conversation, self->history, self->username);
      g_list_store_append (self->conversations, conversation);
    }
  return conversation;
}

/* ---- GObject ---- */

static void
kletsen_session_dispose (GObject *object)
{
  KletsenSession *self = KLETSEN_SESSION (object);

  self->want_online = FALSE;
  g_clear_handle_id (&self->reconnect_id, g_source_remove);
  if (self->connection != NULL || self->cancellable != NULL)
    _kletsen_session_connection_lost (self, NULL);

  G_OBJECT_CLASS (kletsen_session_parent_class)->dispose (object);
}

static void
kletsen_session_finalize (GObject *object)
{
  KletsenSession *self = KLETSEN_SESSION (object);

  g_free (self->data_dir);
  g_free (self->host);
  g_free (self->current_host);
  g_clear_pointer (&self->servers, g_ptr_array_unref);
  g_free (self->username);
  g_free (self->last_error);
  g_free (self->read_buffer);
  kletsen_framer_free (self->framer);
  if (self->conversation_by_key != NULL)
    {
      GHashTableIter iter;
      gpointer conversation;

      g_hash_table_iter_init (&iter, self->conversation_by_key);
      while (g_hash_table_iter_next (&iter, NULL, &conversation))
        g_signal_handlers_disconnect_by_data (conversation, self);
    }
  g_clear_pointer (&self->people, kletsen_people_free);
  g_clear_object (&self->conversations);
  g_clear_pointer (&self->conversation_by_key, g_hash_table_unref);
  g_clear_object (&self->everyone);
  g_clear_object (&self->game);
  g_clear_object (&self->transfers);
  g_clear_object (&self->history);
  g_clear_pointer (&self->known_skeletons, g_hash_table_unref);
  g_clear_pointer (&self->identity, kletsen_identity_free);
  g_free (self->fingerprint);
  g_clear_pointer (&self->peer_keys, g_hash_table_unref);
  g_clear_pointer (&self->changed_keys, g_hash_table_unref);
  _kletsen_session_clear_receipts (self);
  g_clear_pointer (&self->secure_queue, g_hash_table_unref);
  g_clear_pointer (&self->key_timeouts, g_hash_table_unref);
  g_clear_pointer (&self->key_answers, g_hash_table_unref);
  g_clear_pointer (&self->pins, g_key_file_unref);
  g_free (self->pins_path);
  g_clear_pointer (&self->counters, g_key_file_unref);
  g_free (self->counters_path);
  g_clear_object (&self->tls_database);
  g_clear_pointer (&self->trusted_servers, g_key_file_unref);
  g_free (self->trusted_path);
  g_free (self->certificate_fingerprint);

  G_OBJECT_CLASS (kletsen_session_parent_class)->finalize (object);
}

static void
kletsen_session_get_property (GObject    *object,
                              guint       prop_id,
                              GValue     *value,
                              GParamSpec *pspec)
{
  KletsenSession *self = KLETSEN_SESSION (object);

  switch (prop_id)
    {
    case PROP_STATE: g_value_set_enum (value, self->state); break;
    case PROP_LAST_ERROR: g_value_set_string (value, self->last_error); break;
    case PROP_DISCONNECT_REASON: g_value_set_int (value, self->disconnect_reason); break;
    default: G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
kletsen_session_class_init (KletsenSessionClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GParamFlags flags = G_PARAM_READABLE | G_PARAM_STATIC_STRINGS | G_PARAM_EXPLICIT_NOTIFY;

  object_class->dispose = kletsen_session_dispose;
  object_class->finalize = kletsen_session_finalize;
  object_class->get_property = kletsen_session_get_property;

  _kletsen_session_properties[PROP_STATE] = g_param_spec_enum ("state", NULL, NULL, KLETSEN_TYPE_SESSION_STATE,
                                              KLETSEN_SESSION_DISCONNECTED, flags);
  /* Why the last connection or login failed, for people; NULL while all is well. */
  _kletsen_session_properties[PROP_LAST_ERROR] = g_param_spec_string ("last-error", NULL, NULL, NULL, flags);
  /* The reason of the last DSCN from the server (7000, 7001, …), or 0. */
  _kletsen_session_properties[PROP_DISCONNECT_REASON] = g_param_spec_int ("disconnect-reason", NULL, NULL, 0, G_MAXINT, 0, flags);
  g_object_class_install_properties (object_class, N_PROPS, _kletsen_session_properties);

  /**
   * KletsenSession::message:
   * @header: the message header
   * @body: the fields
   *
   * Every message from the server that is not a reply to one of our requests.
   */
  _kletsen_session_signals[MESSAGE] = g_signal_new ("message", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                                   G_TYPE_NONE, 2, G_TYPE_STRING, JSON_TYPE_OBJECT);
  /**
   * KletsenSession::file-offered:
   * @transfer: the offer; accept or reject it
   */
  _kletsen_session_signals[FILE_OFFERED] = g_signal_new ("file-offered", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL,
                                        NULL, G_TYPE_NONE, 1, KLETSEN_TYPE_FILE_TRANSFER);
  /**
   * KletsenSession::peer-key-changed:
   * @peer: who
   * @old_fingerprint: the pinned one
   * @new_fingerprint: the one the server relayed now
   *
   * A known peer's key is not the one pinned. Sending to them is blocked
   * until kletsen_session_trust_peer_key().
   */
  _kletsen_session_signals[PEER_KEY_CHANGED] = g_signal_new ("peer-key-changed", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0,
                                            NULL, NULL, NULL, G_TYPE_NONE, 3,
                                            G_TYPE_STRING, G_TYPE_STRING, G_TYPE_STRING);
  /**
   * KletsenSession::secure-changed:
   * @peer: whose conversation went in or out of secure mode
   */
  _kletsen_session_signals[SECURE_CHANGED] = g_signal_new ("secure-changed", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                                                           0, NULL, NULL, NULL, G_TYPE_NONE, 1, G_TYPE_STRING);
  /**
   * KletsenSession::peer-trust-changed:
   * @peer: whose key was trusted anew, or marked or unmarked as verified
   */
  _kletsen_session_signals[PEER_TRUST_CHANGED] = g_signal_new ("peer-trust-changed", G_TYPE_FROM_CLASS (klass),
                                                               G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                                                               G_TYPE_NONE, 1, G_TYPE_STRING);
}

static void
kletsen_session_init (KletsenSession *self)
{
  self->file_port = KLETSEN_DEFAULT_FILE_PORT;
  self->ping_interval_ms = 10000;
  self->pong_timeout_ms = 3000;
  self->login_timeout_ms = LOGIN_TIMEOUT_MS;
  self->read_buffer = g_malloc (READ_CHUNK);
  self->people = kletsen_people_new (keep_person, self);
  g_signal_connect_swapped (kletsen_people_get_listed (self->people), "items-changed",
                            G_CALLBACK (_kletsen_session_forget_skeletons), self);
  self->conversations = g_list_store_new (KLETSEN_TYPE_CONVERSATION);
  self->conversation_by_key = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_object_unref);
  self->everyone = kletsen_conversation_new (NULL);
  g_list_store_append (self->conversations, self->everyone);
  self->game = kletsen_game_state_new ();
  self->transfers = g_list_store_new (KLETSEN_TYPE_FILE_TRANSFER);
  self->peer_keys = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  self->servers = g_ptr_array_new_with_free_func (g_object_unref);
  self->changed_keys = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  self->key_answers = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  self->secure_queue = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, (GDestroyNotify)g_ptr_array_unref);
  self->key_timeouts = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  self->pins = g_key_file_new ();
  self->counters = g_key_file_new ();
  self->trusted_servers = g_key_file_new ();
  self->certificate_problem = -1;
}

/**
 * kletsen_session_new:
 * @data_dir: (nullable): where this user's key pair and pinned peer keys
 *   live; %NULL for `$XDG_DATA_HOME/kletsen`
 *
 * Returns: (transfer full): a session, not connected yet
 */
KletsenSession *
kletsen_session_new (const char *data_dir)
{
  KletsenSession *self = g_object_new (KLETSEN_TYPE_SESSION, NULL);

  self->data_dir = data_dir ? g_strdup (data_dir) : g_build_filename (g_get_user_data_dir (), "kletsen", NULL);
  self->pins_path = g_build_filename (self->data_dir, "pinned-keys.ini", NULL);
  g_key_file_load_from_file (self->pins, self->pins_path, G_KEY_FILE_NONE, NULL);
  self->counters_path = g_build_filename (self->data_dir, "message-counters.ini", NULL);
  g_key_file_load_from_file (self->counters, self->counters_path, G_KEY_FILE_NONE, NULL);
  self->trusted_path = g_build_filename (self->data_dir, "trusted-servers.ini", NULL);
  g_key_file_load_from_file (self->trusted_servers, self->trusted_path, G_KEY_FILE_NONE, NULL);
  return self;
}

KletsenSessionState
kletsen_session_get_state (KletsenSession *self)
{
  return self->state;
}

const char *
kletsen_session_get_username (KletsenSession *self)
{
  return self->username;
}

const char *
kletsen_session_get_last_error (KletsenSession *self)
{
  return self->last_error;
}

int
kletsen_session_get_disconnect_reason (KletsenSession *self)
{
  return self->disconnect_reason;
}

/* The file side channel's port on the same host (default 1338). */
void
kletsen_session_set_file_port (KletsenSession *self,
                               guint16         port)
{
  self->file_port = port;
}

/* The server's heartbeat, for noticing a dead server (defaults 10 s and 3 s). */
void
kletsen_session_set_heartbeat (KletsenSession *self,
                               guint           ping_interval_ms,
                               guint           pong_timeout_ms)
{
  self->ping_interval_ms = ping_interval_ms;
  self->pong_timeout_ms = pong_timeout_ms;
}

/**
 * kletsen_session_set_login_timeout:
 * @timeout_ms: how long connecting, the TLS handshake and the login may take
 *   together (default 10 s)
 */
void
kletsen_session_set_login_timeout (KletsenSession *self,
                                   guint           timeout_ms)
{
  self->login_timeout_ms = MAX (timeout_ms, 1);
}

/* ---- public API: models ---- */

/**
 * kletsen_session_get_users:
 *
 * Returns: (transfer none): the people online, as #KletsenUser, sorted
 */
GListModel *
kletsen_session_get_users (KletsenSession *self)
{
  return kletsen_people_get_online (self->people);
}

/**
 * kletsen_session_get_people:
 *
 * Returns: (transfer none): the people online and those offline with a
 *   conversation, as #KletsenUser (see #KletsenUser:online), sorted
 */
GListModel *
kletsen_session_get_people (KletsenSession *self)
{
  return kletsen_people_get_listed (self->people);
}

/**
 * kletsen_session_is_online:
 * @name: a person
 *
 * Returns: whether @name is logged in, as far as this session knows
 */
gboolean
kletsen_session_is_online (KletsenSession *self,
                           const char     *name)
{
  return kletsen_people_is_online (self->people, name);
}

/**
 * kletsen_session_get_conversations:
 *
 * Returns: (transfer none): "Everyone" first, then one #KletsenConversation per peer
 */
GListModel *
kletsen_session_get_conversations (KletsenSession *self)
{
  return G_LIST_MODEL (self->conversations);
}

/**
 * kletsen_session_get_everyone:
 *
 * Returns: (transfer none): the room everybody is in
 */
KletsenConversation *
kletsen_session_get_everyone (KletsenSession *self)
{
  return self->everyone;
}

/**
 * kletsen_session_get_game:
 *
 * Returns: (transfer none): the guessing game
 */
KletsenGameState *
kletsen_session_get_game (KletsenSession *self)
{
  return self->game;
}

/**
 * kletsen_session_get_transfers:
 *
 * Returns: (transfer none): every #KletsenFileTransfer of this session
 */
GListModel *
kletsen_session_get_transfers (KletsenSession *self)
{
  return G_LIST_MODEL (self->transfers);
}

/* ---- public API: requests ---- */

gboolean
kletsen_session_request_finish (KletsenSession  *self,
                                GAsyncResult    *result,
                                GError         **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);
  return g_task_propagate_boolean (G_TASK (result), error);
}

/* Sends my @message (already in its conversation) to everyone. */
static void
send_broadcast (KletsenSession     *self,
                KletsenChatMessage *message,
                GTask              *task)
{
  g_autoptr(JsonObject) body = json_object_new ();

  if (!_kletsen_session_check_online_to_send (self, message, task))
    return;
  json_object_set_string_member (body, "message", kletsen_chat_message_get_text (message));
  _kletsen_session_send_request (self, "BROADCAST_REQ", body, PENDING_PLAIN, task)->message = g_object_ref (message);
}

static void
send_private (KletsenSession     *self,
              const char         *peer,
              KletsenChatMessage *message,
              GTask              *task)
{
  g_autoptr(JsonObject) body = json_object_new ();

  if (!_kletsen_session_check_online_to_send (self, message, task))
    return;
  json_object_set_string_member (body, "receiver", peer);
  json_object_set_string_member (body, "message", kletsen_chat_message_get_text (message));
  _kletsen_session_send_request (self, "PRIVATE_MESSAGE_REQ", body, PENDING_PLAIN, task)->message = g_object_ref (message);
}

KletsenChatMessage *
_kletsen_session_append_mine (KletsenSession      *self,
                              KletsenConversation *conversation,
                              const char          *text,
                              gboolean             encrypted)
{
  KletsenChatMessage *message = kletsen_chat_message_new (KLETSEN_MESSAGE_KIND_TEXT, self->username, text,
                                                          KLETSEN_MESSAGE_STATE_SENDING, encrypted);

  if (encrypted)
    kletsen_chat_message_set_verified (message,
                                       kletsen_session_is_peer_verified (self, kletsen_conversation_get_peer (conversation)));
  kletsen_conversation_append (conversation, message, FALSE);
  return message;
}

/**
 * kletsen_session_broadcast_async:
 *
 * Sends @text to everyone. The message shows in "Everyone" at once as
 * sending, then as sent or failed when the server answers.
 */
void
kletsen_session_broadcast_async (KletsenSession      *self,
                                 const char          *text,
                                 GAsyncReadyCallback  callback,
                                 gpointer             user_data)
{
  g_autoptr(GTask) task = g_task_new (self, NULL, callback, user_data);
  g_autoptr(KletsenChatMessage) message = NULL;

  g_task_set_source_tag (task, TAG_BROADCAST);
  message = _kletsen_session_append_mine (self, self->everyone, text, FALSE);
  send_broadcast (self, message, task);
}

void
kletsen_session_send_private_async (KletsenSession      *self,
                                    const char          *peer,
                                    const char          *text,
                                    GAsyncReadyCallback  callback,
                                    gpointer             user_data)
{
  g_autoptr(GTask) task = g_task_new (self, NULL, callback, user_data);
  g_autoptr(KletsenChatMessage) message = NULL;

  g_task_set_source_tag (task, TAG_PRIVATE);
  message = _kletsen_session_append_mine (self, kletsen_session_get_conversation (self, peer), text, FALSE);
  send_private (self, peer, message, task);
}

/**
 * kletsen_session_resend_async:
 * @conversation: where @message is
 * @message: one of my messages that was not sent
 *
 * Sends @message again, the same way as the first time (to everyone, in
 * private, or encrypted), and in the same row: no copy is added.
 */
void
kletsen_session_resend_async (KletsenSession      *self,
                              KletsenConversation *conversation,
                              KletsenChatMessage  *message,
                              GAsyncReadyCallback  callback,
                              gpointer             user_data)
{
  g_autoptr(GTask) task = g_task_new (self, NULL, callback, user_data);
  const char *peer = kletsen_conversation_get_peer (conversation);

  g_task_set_source_tag (task, kletsen_chat_message_get_encrypted (message) ? TAG_SECURE
                               : peer != NULL ? TAG_PRIVATE : TAG_BROADCAST);
  if (kletsen_chat_message_get_state (message) != KLETSEN_MESSAGE_STATE_FAILED)
    {
      g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_PENDING, "Only a message that was not sent is sent again");
      return;
    }
  kletsen_chat_message_set_state (message, KLETSEN_MESSAGE_STATE_SENDING, 0);
  if (peer == NULL)
    send_broadcast (self, message, task);
  else if (kletsen_chat_message_get_encrypted (message))
    _kletsen_session_send_secure (self, peer, message, task);
  else
    send_private (self, peer, message, task);
}

/* The names in a LIST_USERS_RESP, valid ones only, as the result. */
static void
users_listed_reply (GTask      *task,
                    JsonObject *body)
{
  JsonArray *users = kletsen_body_get_array (body, "users");
  GStrvBuilder *builder = g_strv_builder_new ();
  guint n = users ? MIN (json_array_get_length (users), MAX_USERS) : 0;

  for (guint i = 0; i < n; i++)
    if (is_user_name (kletsen_array_get_string (users, i)))
      g_strv_builder_add (builder, kletsen_array_get_string (users, i));
  g_task_return_pointer (task, g_strv_builder_end (builder), (GDestroyNotify)g_strfreev);
  g_strv_builder_unref (builder);
}

/* A guess's result: -1 too low, 1 too high, 0 right. */
static void
guessed_reply (GTask      *task,
               JsonObject *body)
{
  g_task_return_int (task, CLAMP (kletsen_body_get_int_or (body, "result", 0), -1, 1));
}

void
kletsen_session_list_users_async (KletsenSession      *self,
                                  GAsyncReadyCallback  callback,
                                  gpointer             user_data)
{
  g_autoptr(GTask) task = g_task_new (self, NULL, callback, user_data);

  g_task_set_source_tag (task, TAG_LIST_USERS);
  if (_kletsen_session_check_online (self, task))
    _kletsen_session_send_request (self, "LIST_USERS_REQ", NULL, PENDING_PLAIN, task)->on_reply = users_listed_reply;
}

/**
 * kletsen_session_list_users_finish:
 *
 * Returns: (transfer full): the names, sorted as the server sorts them
 */
GStrv
kletsen_session_list_users_finish (KletsenSession  *self,
                                   GAsyncResult    *result,
                                   GError         **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);
  return g_task_propagate_pointer (G_TASK (result), error);
}

static void
game_request (KletsenSession      *self,
              const char          *header,
              gpointer             tag,
              GAsyncReadyCallback  callback,
              gpointer             user_data)
{
  g_autoptr(GTask) task = g_task_new (self, NULL, callback, user_data);

  g_task_set_source_tag (task, tag);
  if (_kletsen_session_check_online (self, task))
    _kletsen_session_send_request (self, header, NULL, PENDING_PLAIN, task);
}

static void
game_entered_cb (GObject      *object,
                 GAsyncResult *result,
                 gpointer      user_data)
{
  g_autoptr(GTask) outer = user_data;
  KletsenSession *self = KLETSEN_SESSION (object);
  GError *error = NULL;

  if (!g_task_propagate_boolean (G_TASK (result), &error))
    {
      g_task_return_error (outer, error);
      return;
    }
  _kletsen_game_state_joined (self->game,
                              g_task_get_source_tag (outer) == TAG_START_GAME
                                ? self->username : kletsen_game_state_get_initiator (self->game),
                              10000);
  g_task_return_boolean (outer, TRUE);
}

void
kletsen_session_start_game_async (KletsenSession      *self,
                                  GAsyncReadyCallback  callback,
                                  gpointer             user_data)
{
  GTask *outer = g_task_new (self, NULL, callback, user_data);

  g_task_set_source_tag (outer, TAG_START_GAME);
  game_request (self, "START_GAME_REQ", TAG_START_GAME, game_entered_cb, outer);
}

void
kletsen_session_join_game_async (KletsenSession      *self,
                                 GAsyncReadyCallback  callback,
                                 gpointer             user_data)
{
  GTask *outer = g_task_new (self, NULL, callback, user_data);

  g_task_set_source_tag (outer, TAG_JOIN_GAME);
  game_request (self, "JOIN_GAME_REQ", TAG_JOIN_GAME, game_entered_cb, outer);
}

static void
guessed_cb (GObject      *object,
            GAsyncResult *result,
            gpointer      user_data)
{
  g_autoptr(GTask) outer = user_data;
  KletsenSession *self = KLETSEN_SESSION (object);
  GError *error = NULL;
  gssize answer = g_task_propagate_int (G_TASK (result), &error);

  if (error != NULL)
    {
      g_task_return_error (outer, error);
      return;
    }
  _kletsen_game_state_guessed (self->game, GPOINTER_TO_INT (g_task_get_task_data (outer)), (int)answer);
  g_task_return_int (outer, answer);
}

/**
 * kletsen_session_guess_async:
 *
 * Guesses @number; the result is -1 (too low), 1 (too high) or 0 (right).
 */
void
kletsen_session_guess_async (KletsenSession      *self,
                             int                  number,
                             GAsyncReadyCallback  callback,
                             gpointer             user_data)
{
  GTask *outer = g_task_new (self, NULL, callback, user_data);
  g_autoptr(GTask) task = g_task_new (self, NULL, guessed_cb, outer);
  g_autoptr(JsonObject) body = json_object_new ();

  g_task_set_source_tag (outer, TAG_GUESS);
  g_task_set_task_data (outer, GINT_TO_POINTER (number), NULL);
  g_task_set_source_tag (task, TAG_GUESS);
  if (!_kletsen_session_check_online (self, task))
    return;
  json_object_set_int_member (body, "number", number);
  _kletsen_session_send_request (self, "GUESS_NUMBER_REQ", body, PENDING_PLAIN, task)->on_reply = guessed_reply;
}

int
kletsen_session_guess_finish (KletsenSession  *self,
                              GAsyncResult    *result,
                              GError         **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), 0);
  return (int)g_task_propagate_int (G_TASK (result), error);
}
