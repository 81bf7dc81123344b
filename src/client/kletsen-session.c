/* kletsen-session.c
 *
 * Copyright 2026 The Kletsen authors
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

/* One connection to a Kletsen server, and the models the desktop app shows.
 *
 * Replies: the server answers one connection's requests in order, so a reply
 * belongs to the oldest request still waiting for that reply header. Some
 * requests (a file offer or answer, the secure-message steps) get a reply
 * only when they fail; each of those is followed by a LIST_USERS_REQ, whose
 * reply proves that every such request before it succeeded. That works with
 * any server that follows the protocol. */

#include "config.h"

#include <glib/gi18n-lib.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>

#include "kletsen-crypto.h"
#include "kletsen-people.h"
#include "kletsen-protocol.h"
#include "kletsen-session.h"
#include "kletsen-session-private.h"
#include <glib/gstdio.h>

#define READ_CHUNK (64 * 1024)
#define MAX_LINE (4 * 1024 * 1024)
#define KEY_TIMEOUT_MS 15000
/* Connecting, the TLS handshake and the login must be done within this;
 * afterwards only the watchdog judges whether the server is alive. */
#define LOGIN_TIMEOUT_MS 10000
/* Reconnecting: exponential from MIN to MAX, with jitter. The backoff is
 * forgotten only after a connection has stayed up this long, so a server
 * that lets us in and drops us at once cannot drive a tight loop. */
#define BACKOFF_MIN_MS 500
#define BACKOFF_MAX_MS 30000
#define STABLE_MS 30000
/* Lines the server does not read: past this, it is not reading at all. */
#define MAX_UNSENT_BYTES (8 * 1024 * 1024)
/* What a server can make this client hold, bounded (protocol.md has no limits
 * of its own for these). */
#define MAX_USERS 100000
#define MAX_CONVERSATIONS 1000
#define MAX_TRANSFERS 200
#define MAX_UNANSWERED_OFFERS 32
/* Not a protocol code: how complete() hears that the server refused a
 * request with UNKNOWN_COMMAND or PARSE_ERROR. */
#define CODE_NOT_SUPPORTED (-2)
#define MAX_JOIN_MS (10 * 60 * 1000)

/* Source tags for GTask: addresses of these bytes (ISO C does not allow
 * function pointers where GLib takes a gpointer). */
static const char tags[8];
#define TAG_CONNECT ((gpointer)&tags[0])
#define TAG_BROADCAST ((gpointer)&tags[1])
#define TAG_PRIVATE ((gpointer)&tags[2])
#define TAG_SECURE ((gpointer)&tags[3])
#define TAG_LIST_USERS ((gpointer)&tags[4])
#define TAG_START_GAME ((gpointer)&tags[5])
#define TAG_JOIN_GAME ((gpointer)&tags[6])
#define TAG_GUESS ((gpointer)&tags[7])

typedef enum
{
  PENDING_PLAIN,    /* completes with its reply */
  PENDING_SILENT,   /* replies only on error; the next barrier completes it */
  PENDING_BARRIER,  /* our LIST_USERS_REQ after silent requests */
} PendingKind;

typedef struct
{
  const char          *response;
  PendingKind          kind;
  GTask               *task;     /* nullable: internal requests */
  KletsenChatMessage  *message;  /* nullable: a message of mine waiting for its fate */
  KletsenFileTransfer *transfer; /* nullable: an offer or answer */
  char                *peer;     /* secure steps: whose handshake */
  int                  number;   /* a guess */
} Pending;

typedef struct
{
  char               *text;
  KletsenChatMessage *message;
  GTask              *task;
} SecureSend;

struct _KletsenSession
{
  GObject              parent_instance;

  /* settings */
  char                *data_dir;
  char                *host;
  char                *username;
  guint16              port;
  guint16              file_port;
  guint                ping_interval_ms;
  guint                pong_timeout_ms;
  gboolean             tls;
  GTlsDatabase        *tls_database; /* NULL: the system's */

  /* the server's certificate */
  GKeyFile            *trusted_servers; /* "host:port" → fingerprint the user trusted */
  char                *trusted_path;
  char                *certificate_fingerprint; /* the current or the last refused one */
  int                  certificate_problem;     /* a KletsenSessionError, or -1 */

  /* the connection */
  GIOStream           *connection;   /* a GSocketConnection, or a test's stream */
  GCancellable        *cancellable;  /* this connection's; cancelled when it ends */
  KletsenFramer       *framer;
  guchar              *read_buffer;
  GQueue               out;          /* GBytes waiting to be written */
  gboolean             writing;
  GQueue               pending;      /* Pending */
  GTask               *connect_task;
  KletsenSessionState  state;
  char                *last_error;
  int                  disconnect_reason;
  gboolean             want_online;  /* reconnect when the connection is lost */
  gboolean             login_sent;   /* LOGIN went out on this connection */
  gboolean             was_online;
  gint64               last_heard;
  KletsenSideChannelFunc side_channel_func; /* tests: no network */
  gpointer             side_channel_data;
  guint                watchdog_id;
  guint                login_timeout_id;
  guint                login_timeout_ms;
  guint                reconnect_id;
  guint                backoff_ms;
  gint64               online_since;  /* monotonic µs, 0 while not online */
  gsize                unsent_bytes;
  guint                overflow_id;

  /* models */
  KletsenPeople       *people;
  GListStore          *conversations;
  GHashTable          *conversation_by_key;
  KletsenConversation *everyone;
  KletsenGameState    *game;
  GListStore          *transfers;

  /* end-to-end keys */
  KletsenIdentity     *identity;
  char                *fingerprint;
  GHashTable          *peer_keys;    /* folded name → base64 key, for this session */
  GHashTable          *changed_keys; /* folded name → the new key, not yet trusted */
  GHashTable          *secure_queue; /* folded name → GPtrArray of SecureSend */
  GHashTable          *key_timeouts; /* folded name → source id */
  GKeyFile            *pins;
  char                *pins_path;
};

G_DEFINE_FINAL_TYPE (KletsenSession, kletsen_session, G_TYPE_OBJECT)

G_DEFINE_ENUM_TYPE (KletsenSessionState, kletsen_session_state,
  G_DEFINE_ENUM_VALUE (KLETSEN_SESSION_DISCONNECTED, "disconnected"),
  G_DEFINE_ENUM_VALUE (KLETSEN_SESSION_CONNECTING, "connecting"),
  G_DEFINE_ENUM_VALUE (KLETSEN_SESSION_LOGGING_IN, "logging-in"),
  G_DEFINE_ENUM_VALUE (KLETSEN_SESSION_ONLINE, "online"))

G_DEFINE_QUARK (kletsen-session-error-quark, kletsen_session_error)

enum {
  PROP_0,
  PROP_STATE,
  PROP_LAST_ERROR,
  PROP_DISCONNECT_REASON,
  N_PROPS
};

enum {
  MESSAGE,
  FILE_OFFERED,
  PEER_KEY_CHANGED,
  N_SIGNALS
};

static GParamSpec *properties[N_PROPS];
static guint signals[N_SIGNALS];

static void connection_lost (KletsenSession *self, const char *why);
static void start_connecting (KletsenSession *self);
static void read_more (KletsenSession *self);
static void begin_login (KletsenSession *self);
static void run_side_channel (KletsenSession *self, KletsenFileTransfer *transfer);
static void drop_conversation (KletsenSession *self, const char *key);

/* ---- small helpers ---- */

/* A name from the server, before it becomes a key, a row or a prefix. */
static gboolean
is_user_name (const char *name)
{
  return name != NULL && kletsen_user_name_is_valid (name);
}

static char *
fold (const char *name)
{
  return kletsen_user_name_key (name);
}

static void
pending_free (Pending *p)
{
  g_clear_object (&p->task);
  g_clear_object (&p->message);
  g_clear_object (&p->transfer);
  g_free (p->peer);
  g_free (p);
}

static void
secure_send_free (gpointer data)
{
  SecureSend *s = data;

  g_free (s->text);
  g_clear_object (&s->message);
  g_clear_object (&s->task);
  g_free (s);
}

static void
set_state (KletsenSession      *self,
           KletsenSessionState  state)
{
  if (self->state == state)
    return;
  self->state = state;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_STATE]);
}

static void
set_last_error (KletsenSession *self,
                const char     *error)
{
  if (g_strcmp0 (self->last_error, error) == 0)
    return;
  g_free (self->last_error);
  self->last_error = g_strdup (error);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_LAST_ERROR]);
}

static void
add_system_line (KletsenSession *self,
                 const char     *text)
{
  g_autoptr(KletsenChatMessage) line = kletsen_chat_message_new (KLETSEN_MESSAGE_KIND_SYSTEM, NULL, text,
                                                                 KLETSEN_MESSAGE_STATE_RECEIVED, FALSE);

  kletsen_conversation_append (self->everyone, line, FALSE);
}

/* ---- writing ---- */

static void write_next (KletsenSession *self);

static void
write_cb (GObject      *object,
          GAsyncResult *result,
          gpointer      user_data)
{
  KletsenSession *self = user_data;
  g_autoptr(GError) error = NULL;
  GBytes *line;

  if (!g_output_stream_write_all_finish (G_OUTPUT_STREAM (object), result, NULL, &error))
    {
      if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        {
          self->writing = FALSE;
          connection_lost (self, error->message);
        }
      g_object_unref (self);
      return;
    }
  line = g_queue_pop_head (&self->out);
  self->unsent_bytes -= g_bytes_get_size (line);
  g_bytes_unref (line);
  self->writing = FALSE;
  write_next (self);
  g_object_unref (self);
}

static void
write_next (KletsenSession *self)
{
  GBytes *line;

  if (self->writing || self->connection == NULL || (line = g_queue_peek_head (&self->out)) == NULL)
    return;
  self->writing = TRUE;
  g_output_stream_write_all_async (g_io_stream_get_output_stream (G_IO_STREAM (self->connection)),
                                   g_bytes_get_data (line, NULL), g_bytes_get_size (line),
                                   G_PRIORITY_DEFAULT, self->cancellable, write_cb, g_object_ref (self));
}

static gboolean
overflow_cb (gpointer user_data)
{
  KletsenSession *self = user_data;

  self->overflow_id = 0;
  connection_lost (self, _("The server stopped reading what this client sends"));
  return G_SOURCE_REMOVE;
}

static void
send_line (KletsenSession *self,
           const char     *header,
           JsonObject     *body)
{
  GBytes *line = kletsen_message_serialize (header, body);

  if (self->connection == NULL)
    {
      g_bytes_unref (line);
      return;
    }
  self->unsent_bytes += g_bytes_get_size (line);
  g_queue_push_tail (&self->out, line);
  /* Dropped from an idle callback: callers still hold what they queued. */
  if (self->unsent_bytes > MAX_UNSENT_BYTES && self->overflow_id == 0)
    self->overflow_id = g_idle_add (overflow_cb, self);
  write_next (self);
}

/* Sends a request and remembers what waits for its reply. */
static Pending *
send_request (KletsenSession *self,
              const char     *header,
              JsonObject     *body,
              PendingKind     kind,
              GTask          *task)
{
  const char *body_text = NULL;
  gsize body_len = 0;
  const KletsenMessageInfo *info = kletsen_message_lookup (header, strlen (header), KLETSEN_TO_SERVER,
                                                           &body_text, &body_len);
  Pending *p = g_new0 (Pending, 1);

  g_assert (info != NULL && info->response != NULL);
  p->response = info->response;
  p->kind = kind;
  p->task = task ? g_object_ref (task) : NULL;
  g_queue_push_tail (&self->pending, p);
  send_line (self, header, body);

  if (kind == PENDING_SILENT)
    {
      Pending *barrier = g_new0 (Pending, 1);

      barrier->response = "LIST_USERS_RESP";
      barrier->kind = PENDING_BARRIER;
      g_queue_push_tail (&self->pending, barrier);
      send_line (self, "LIST_USERS_REQ", NULL);
    }
  return p;
}

/* A request made while offline fails at once. */
static gboolean
check_online (KletsenSession *self,
              GTask          *task)
{
  if (self->state == KLETSEN_SESSION_ONLINE)
    return TRUE;
  g_task_return_new_error (task, KLETSEN_SESSION_ERROR, KLETSEN_SESSION_ERROR_OFFLINE,
                           _("Not connected to the server"));
  return FALSE;
}

/* ---- completing requests ---- */

/* The error for a failed reply: its protocol code, -1 for a reply that did
 * not say (or that could not be read), or CODE_NOT_SUPPORTED for a request
 * the server answered with UNKNOWN_COMMAND or PARSE_ERROR. */
static GError *
reply_error (int code)
{
  if (code > 0)
    return kletsen_protocol_error_new (code);
  if (code == CODE_NOT_SUPPORTED)
    return g_error_new_literal (KLETSEN_SESSION_ERROR, KLETSEN_SESSION_ERROR_NOT_SUPPORTED,
                                _("The server does not support this"));
  return g_error_new_literal (KLETSEN_SESSION_ERROR, KLETSEN_SESSION_ERROR_SERVER,
                              _("The server sent a reply that Kletsen cannot read"));
}

/* Tells a request's waiters how it ended: code 0 is success. */
static void
complete (KletsenSession *self,
          Pending        *p,
          int             code,
          JsonObject     *body)
{
  if (p->message != NULL)
    kletsen_chat_message_set_state (p->message, code == 0 ? KLETSEN_MESSAGE_STATE_SENT : KLETSEN_MESSAGE_STATE_FAILED,
                                    MAX (code, 0));

  if (p->transfer != NULL && code != 0)
    {
      g_autoptr(GError) error = reply_error (code);

      _kletsen_file_transfer_fail (p->transfer, KLETSEN_TRANSFER_FAILED, MAX (code, 0), error->message);
    }
  else if (p->transfer != NULL && kletsen_file_transfer_get_direction (p->transfer) == KLETSEN_TRANSFER_SEND)
    _kletsen_file_transfer_set_offered (p->transfer);
  else if (p->transfer != NULL && kletsen_file_transfer_get_state (p->transfer) == KLETSEN_TRANSFER_CONNECTING)
    {
      /* Our acceptance is confirmed: only now may the side channel open, or
       * the server could see our half before our answer and refuse it. */
      run_side_channel (self, p->transfer);
    }

  if (p->task == NULL)
    return;
  if (code != 0)
    g_task_return_error (p->task, reply_error (code));
  else if (g_task_get_source_tag (p->task) == TAG_GUESS)
    g_task_return_int (p->task, CLAMP (kletsen_body_get_int_or (body, "result", 0), -1, 1));
  else if (g_task_get_source_tag (p->task) == TAG_LIST_USERS)
    {
      JsonArray *users = kletsen_body_get_array (body, "users");
      GStrvBuilder *builder = g_strv_builder_new ();
      guint n = users ? MIN (json_array_get_length (users), MAX_USERS) : 0;

      for (guint i = 0; i < n; i++)
        if (is_user_name (kletsen_array_get_string (users, i)))
          g_strv_builder_add (builder, kletsen_array_get_string (users, i));
      g_task_return_pointer (p->task, g_strv_builder_end (builder), (GDestroyNotify)g_strfreev);
      g_strv_builder_unref (builder);
    }
  else
    g_task_return_boolean (p->task, TRUE);
}

static int
reply_code (JsonObject *body)
{
  gint64 code;

  if (g_strcmp0 (kletsen_body_get_string (body, "status"), "OK") == 0)
    return 0;
  /* A failure must not read as success: no code, 0 or a wild one is -1. */
  if (!kletsen_body_get_int (body, "code", &code) || code <= 0 || code > G_MAXINT)
    return -1;
  return (int)code;
}

static void
fail_secure_queue (KletsenSession *self,
                   const char     *key,
                   GError         *error);

/* A reply arrived: it belongs to the oldest request waiting for its header. */
static void
handle_reply (KletsenSession *self,
              const char     *header,
              JsonObject     *body)
{
  int code = reply_code (body);

  for (GList *l = self->pending.head; l != NULL; l = l->next)
    {
      Pending *p = l->data;

      if (!g_str_equal (p->response, header))
        continue;

      /* Every silent request before our barrier has succeeded: a failure
       * would have been answered before the barrier's reply. */
      if (p->kind == PENDING_BARRIER)
        {
          GList *link = self->pending.head;

          while (link != l)
            {
              GList *next = link->next;
              Pending *done = link->data;

              if (done->kind == PENDING_SILENT)
                {
                  g_queue_delete_link (&self->pending, link);
                  complete (self, done, 0, NULL);
                  pending_free (done);
                }
              link = next;
            }
          g_queue_delete_link (&self->pending, l);
          pending_free (p);
          return;
        }

      g_queue_remove (&self->pending, p);
      if (p->peer != NULL && code != 0)
        {
          g_autofree char *key = fold (p->peer);

          fail_secure_queue (self, key, reply_error (code));
        }
      complete (self, p, code, body);
      pending_free (p);
      return;
    }
  g_debug ("a %s that answers no request", header);
}

/* ---- the users model ---- */

static void
user_joined (KletsenSession *self,
             const char     *name)
{
  kletsen_people_joined (self->people, name);
}

static void
user_left (KletsenSession *self,
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

static void
users_listed (KletsenSession *self,
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
      g_list_store_append (self->conversations, conversation);
    }
  return conversation;
}

/* ---- keys ---- */

static char *
pinned_fingerprint (KletsenSession *self,
                    const char     *peer)
{
  g_autofree char *key = fold (peer);

  return g_key_file_get_string (self->pins, "peers", key, NULL);
}

static void
pin (KletsenSession *self,
     const char     *peer,
     const char     *fingerprint)
{
  g_autofree char *key = fold (peer);
  g_autoptr(GError) error = NULL;

  g_key_file_set_string (self->pins, "peers", key, fingerprint);
  if (!g_key_file_save_to_file (self->pins, self->pins_path, &error))
    g_warning ("Cannot save the pinned keys: %s", error->message);
}

static void
fail_secure_queue (KletsenSession *self,
                   const char     *key,
                   GError         *error)
{
  GPtrArray *queue = g_hash_table_lookup (self->secure_queue, key);
  guint id = GPOINTER_TO_UINT (g_hash_table_lookup (self->key_timeouts, key));

  if (id != 0)
    g_source_remove (id);
  g_hash_table_remove (self->key_timeouts, key);
  for (guint i = 0; queue != NULL && i < queue->len; i++)
    {
      SecureSend *s = g_ptr_array_index (queue, i);
      int code = error->domain == KLETSEN_PROTOCOL_ERROR ? error->code : 0;

      kletsen_chat_message_set_state (s->message, KLETSEN_MESSAGE_STATE_FAILED, code);
      if (s->task != NULL)
        g_task_return_error (s->task, g_error_copy (error));
    }
  g_hash_table_remove (self->secure_queue, key);
  g_error_free (error);
}

static void
encrypt_and_send (KletsenSession *self,
                  const char     *peer,
                  const char     *public_key,
                  SecureSend     *s)
{
  g_autofree char *session_key = NULL;
  g_autofree char *message = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonObject) body = NULL;
  Pending *p;

  if (!kletsen_crypto_encrypt (public_key, s->text, &session_key, &message, &error))
    {
      kletsen_chat_message_set_state (s->message, KLETSEN_MESSAGE_STATE_FAILED, 0);
      if (s->task != NULL)
        g_task_return_error (s->task, g_steal_pointer (&error));
      return;
    }
  body = json_object_new ();
  json_object_set_string_member (body, "receiver", peer);
  json_object_set_string_member (body, "sessionKey", session_key);
  json_object_set_string_member (body, "message", message);
  p = send_request (self, "SECURE_MESSAGE", body, PENDING_SILENT, s->task);
  p->message = g_object_ref (s->message);
  p->peer = g_strdup (peer);
}

/* The peer's key came: check it against the pin, then send what waited. */
static void
peer_key_arrived (KletsenSession *self,
                  const char     *peer,
                  const char     *public_key)
{
  g_autofree char *key = fold (peer);
  g_autofree char *fingerprint = kletsen_crypto_fingerprint (public_key);
  g_autofree char *pinned = pinned_fingerprint (self, peer);
  GPtrArray *queue;
  guint id;

  if (fingerprint == NULL)
    {
      fail_secure_queue (self, key, g_error_new_literal (KLETSEN_CRYPTO_ERROR, KLETSEN_CRYPTO_ERROR_BAD_KEY,
                                                         _("The other side sent an unusable key")));
      return;
    }

  if (pinned != NULL && !g_str_equal (pinned, fingerprint))
    {
      g_hash_table_insert (self->changed_keys, g_strdup (key), g_strdup (public_key));
      g_signal_emit (self, signals[PEER_KEY_CHANGED], 0, peer, pinned, fingerprint);
      fail_secure_queue (self, key, g_error_new (KLETSEN_SESSION_ERROR, KLETSEN_SESSION_ERROR_KEY_CHANGED,
                                                 _("%s’s key has changed; compare fingerprints before trusting it"), peer));
      return;
    }
  if (pinned == NULL)
    pin (self, peer, fingerprint); /* trust on first use */

  g_hash_table_insert (self->peer_keys, g_strdup (key), g_strdup (public_key));
  id = GPOINTER_TO_UINT (g_hash_table_lookup (self->key_timeouts, key));
  if (id != 0)
    g_source_remove (id);
  g_hash_table_remove (self->key_timeouts, key);

  {
    g_autofree char *stolen_key = NULL;

    if (!g_hash_table_steal_extended (self->secure_queue, key, (gpointer *)&stolen_key, (gpointer *)&queue))
      return;
  }
  for (guint i = 0; i < queue->len; i++)
    encrypt_and_send (self, peer, public_key, g_ptr_array_index (queue, i));
  g_ptr_array_unref (queue);
}

typedef struct
{
  KletsenSession *self;
  char           *key;
} KeyTimeout;

static void
key_timeout_free (gpointer data)
{
  KeyTimeout *t = data;

  g_free (t->key);
  g_free (t);
}

static gboolean
key_timeout_cb (gpointer user_data)
{
  KeyTimeout *t = user_data;

  g_hash_table_remove (t->self->key_timeouts, t->key);
  fail_secure_queue (t->self, t->key, g_error_new_literal (KLETSEN_SESSION_ERROR, KLETSEN_SESSION_ERROR_NO_KEY,
                                                           _("The other side did not send its key")));
  return G_SOURCE_REMOVE;
}

static void
handle_secure_message (KletsenSession *self,
                       JsonObject     *body)
{
  const char *sender = json_object_get_string_member (body, "sender");
  const char *sealed = kletsen_body_get_string (body, "message");
  g_autoptr(GError) error = NULL;
  g_autofree char *text = NULL;
  g_autoptr(KletsenChatMessage) message = NULL;

  if (sealed == NULL)
    {
      /* encryptedMessage: the original authors' client, whose cipher is not
       * ours. Say so; never show its bytes. */
      g_autofree char *why = g_strdup_printf (_("%s sent a message encrypted in a format Kletsen cannot read"), sender);

      message = kletsen_chat_message_new (KLETSEN_MESSAGE_KIND_ERROR, sender, why, KLETSEN_MESSAGE_STATE_RECEIVED, TRUE);
      kletsen_conversation_append (kletsen_session_get_conversation (self, sender), message, TRUE);
      return;
    }
  text = kletsen_identity_decrypt (self->identity, json_object_get_string_member (body, "sessionKey"), sealed, &error);
  if (text == NULL)
    {
      g_autofree char *why = g_strdup_printf (_("An encrypted message from %s could not be read: %s"),
                                              sender, error->message);

      message = kletsen_chat_message_new (KLETSEN_MESSAGE_KIND_ERROR, sender, why, KLETSEN_MESSAGE_STATE_RECEIVED, TRUE);
    }
  else
    message = kletsen_chat_message_new (KLETSEN_MESSAGE_KIND_TEXT, sender, text, KLETSEN_MESSAGE_STATE_RECEIVED, TRUE);
  kletsen_conversation_append (kletsen_session_get_conversation (self, sender), message, TRUE);
}

/* ---- unsolicited messages ---- */

/* An accepted transfer opens its side channel with the same trust as the
 * chat connection. */
static void
run_side_channel (KletsenSession      *self,
                  KletsenFileTransfer *transfer)
{
  if (self->side_channel_func != NULL)
    {
      self->side_channel_func (self, transfer, self->side_channel_data);
      return;
    }
  _kletsen_file_transfer_set_tls (transfer, self->tls, self->tls_database, self->certificate_fingerprint);
  _kletsen_file_transfer_run (transfer, self->host, self->file_port, NULL);
}

static KletsenFileTransfer *
find_offer (KletsenSession *self,
            JsonObject     *body)
{
  const char *receiver = kletsen_body_get_string (body, "receiver");
  const char *filename = kletsen_body_get_string (body, "filename");
  const char *id = kletsen_body_get_string (body, "transferId");
  guint n = g_list_model_get_n_items (G_LIST_MODEL (self->transfers));

  for (guint i = 0; i < n; i++)
    {
      g_autoptr(KletsenFileTransfer) t = g_list_model_get_item (G_LIST_MODEL (self->transfers), i);

      if (kletsen_file_transfer_get_direction (t) != KLETSEN_TRANSFER_SEND)
        continue;
      if (id != NULL && g_strcmp0 (kletsen_file_transfer_get_id (t), id) == 0)
        return t;
      /* Our server echoes the filename; without it, the oldest offer to that receiver. */
      if (kletsen_file_transfer_get_state (t) == KLETSEN_TRANSFER_OFFERED &&
          kletsen_file_transfer_get_id (t) == NULL &&
          receiver != NULL && g_ascii_strcasecmp (kletsen_file_transfer_get_peer (t), receiver) == 0 &&
          (filename == NULL || g_str_equal (filename, kletsen_file_transfer_get_filename (t))))
        return t;
    }
  return NULL;
}

static void
handle_offer_outcome (KletsenSession *self,
                      JsonObject     *body)
{
  KletsenFileTransfer *transfer = find_offer (self, body);
  int code = reply_code (body);

  if (transfer == NULL)
    return;
  if (kletsen_file_transfer_get_id (transfer) == NULL)
    {
      const char *id = kletsen_body_get_string (body, "transferId");

      /* It goes into the side channel's header. */
      if (!kletsen_transfer_id_is_valid (id))
        {
          _kletsen_file_transfer_fail (transfer, KLETSEN_TRANSFER_FAILED, 0,
                                       _("The server answered the offer with an id that is not one"));
          return;
        }
      _kletsen_file_transfer_set_id (transfer, id);
    }
  if (code == KLETSEN_CODE_FILE_REJECTED)
    _kletsen_file_transfer_fail (transfer, KLETSEN_TRANSFER_REJECTED, code, kletsen_code_describe (code));
  else if (code != 0)
    _kletsen_file_transfer_fail (transfer, KLETSEN_TRANSFER_FAILED, code, kletsen_code_describe (code));
  else
    {
      run_side_channel (self, transfer);
    }
}

/* The transfers list keeps what is under way and the newest that ended. */
static void
add_transfer (KletsenSession      *self,
              KletsenFileTransfer *transfer)
{
  guint n = g_list_model_get_n_items (G_LIST_MODEL (self->transfers));

  for (guint i = 0; i < n && n >= MAX_TRANSFERS; )
    {
      g_autoptr(KletsenFileTransfer) old = g_list_model_get_item (G_LIST_MODEL (self->transfers), i);

      if (kletsen_file_transfer_get_state (old) >= KLETSEN_TRANSFER_DONE)
        {
          g_list_store_remove (self->transfers, i);
          n--;
        }
      else
        i++;
    }
  g_list_store_append (self->transfers, transfer);
}

static guint
count_unanswered_offers (KletsenSession *self)
{
  guint n = g_list_model_get_n_items (G_LIST_MODEL (self->transfers));
  guint count = 0;

  for (guint i = 0; i < n; i++)
    {
      g_autoptr(KletsenFileTransfer) t = g_list_model_get_item (G_LIST_MODEL (self->transfers), i);

      if (kletsen_file_transfer_get_direction (t) == KLETSEN_TRANSFER_RECEIVE &&
          kletsen_file_transfer_get_state (t) == KLETSEN_TRANSFER_OFFERED)
        count++;
    }
  return count;
}

static KletsenFileTransfer *
find_incoming (KletsenSession *self,
               const char     *id)
{
  guint n = g_list_model_get_n_items (G_LIST_MODEL (self->transfers));

  for (guint i = 0; i < n; i++)
    {
      g_autoptr(KletsenFileTransfer) t = g_list_model_get_item (G_LIST_MODEL (self->transfers), i);

      if (kletsen_file_transfer_get_direction (t) == KLETSEN_TRANSFER_RECEIVE &&
          g_strcmp0 (kletsen_file_transfer_get_id (t), id) == 0)
        return t;
    }
  return NULL;
}

static void
handle_offer (KletsenSession *self,
              JsonObject     *body)
{
  const char *sender = json_object_get_string_member (body, "sender");
  const char *filename = json_object_get_string_member (body, "filename");
  /* An offer of the original protocol has neither; its file cannot be
   * checked after download, and is never shown as checked. */
  const char *checksum = kletsen_body_get_string (body, "checksum");
  const char *id = json_object_get_string_member (body, "transferId");
  gint64 size = kletsen_body_get_int_or (body, "size", -1);
  g_autoptr(KletsenFileTransfer) t = NULL;

  /* The id goes into the side channel's header, the name into a path. */
  if (!is_user_name (sender) || (json_object_has_member (body, "size") && size < 0) ||
      (checksum != NULL && strlen (checksum) != 64) || *filename == '\0' || strlen (filename) > 1024 ||
      !kletsen_transfer_id_is_valid (id) || find_incoming (self, id) != NULL)
    {
      g_debug ("ignoring a file offer the protocol does not allow");
      return;
    }
  t = _kletsen_file_transfer_new_incoming (sender, filename, size, checksum, id);
  add_transfer (self, t);
  if (count_unanswered_offers (self) > MAX_UNANSWERED_OFFERS)
    {
      /* Nobody answers that many at once: decline, and say so. */
      g_autofree char *why = g_strdup_printf (_("%s offered “%s”; it was declined because too many offers are waiting"),
                                              sender, filename);
      g_autoptr(KletsenChatMessage) line = kletsen_chat_message_new (KLETSEN_MESSAGE_KIND_ERROR, sender, why,
                                                                     KLETSEN_MESSAGE_STATE_RECEIVED, FALSE);

      kletsen_conversation_append (kletsen_session_get_conversation (self, sender), line, FALSE);
      kletsen_session_reject_file (self, t);
      return;
    }
  g_signal_emit (self, signals[FILE_OFFERED], 0, t);
}

static void
handle_offer_ended (KletsenSession *self,
                    JsonObject     *body)
{
  KletsenFileTransfer *t = find_incoming (self, json_object_get_string_member (body, "transferId"));
  int code = (int)CLAMP (json_object_get_int_member (body, "code"), 0, G_MAXINT);

  if (t == NULL || kletsen_file_transfer_get_state (t) != KLETSEN_TRANSFER_OFFERED ||
      g_ascii_strcasecmp (kletsen_file_transfer_get_peer (t), json_object_get_string_member (body, "sender")) != 0)
    return;
  _kletsen_file_transfer_fail (t, code == KLETSEN_CODE_OFFER_WITHDRAWN ? KLETSEN_TRANSFER_CANCELLED
                                                                       : KLETSEN_TRANSFER_FAILED,
                               code, kletsen_code_describe (code));
}

/* The field of @info that names a person, if it has one. */
static const char *
person_field (const KletsenMessageInfo *info)
{
  switch (info->type)
    {
    case KLETSEN_MSG_JOINED:
    case KLETSEN_MSG_LEFT:
    case KLETSEN_MSG_BROADCAST:
    case KLETSEN_MSG_GAME_JOINED:
    case KLETSEN_MSG_GAME_PROGRESS:
      return "username";
    case KLETSEN_MSG_PRIVATE_MESSAGE:
    case KLETSEN_MSG_FILE_TRANSFER_OFFER:
    case KLETSEN_MSG_FILE_TRANSFER_ENDED:
    case KLETSEN_MSG_SECURE_MESSAGE_REQ_IN:
    case KLETSEN_MSG_SECURE_MESSAGE_IN:
      return "sender";
    default:
      return NULL;
    }
}

static void
handle_unsolicited (KletsenSession           *self,
                    const KletsenMessageInfo *info,
                    JsonObject               *body)
{
  g_autofree char *line = NULL;
  const char *person = person_field (info);

  /* A name becomes a key, a row and a prefix: one that no server may give
   * a user is a lie, and the line goes. */
  if (person != NULL && !is_user_name (kletsen_body_get_string (body, person)))
    {
      g_debug ("ignoring a %s for a name that is not one", info->header);
      return;
    }

  switch (info->type)
    {
    case KLETSEN_MSG_PING:
      send_line (self, "PONG", NULL);
      break;

    case KLETSEN_MSG_DSCN:
      self->disconnect_reason = (int)CLAMP (json_object_get_int_member (body, "reason"), 0, G_MAXINT);
      g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_DISCONNECT_REASON]);
      set_last_error (self, kletsen_code_describe (self->disconnect_reason));
      break;

    case KLETSEN_MSG_JOINED:
      user_joined (self, json_object_get_string_member (body, "username"));
      line = g_strdup_printf (_("%s joined"), json_object_get_string_member (body, "username"));
      add_system_line (self, line);
      break;

    case KLETSEN_MSG_LEFT:
      user_left (self, json_object_get_string_member (body, "username"));
      line = g_strdup_printf (_("%s left"), json_object_get_string_member (body, "username"));
      add_system_line (self, line);
      break;

    case KLETSEN_MSG_BROADCAST:
      {
        g_autoptr(KletsenChatMessage) m = kletsen_chat_message_new (KLETSEN_MESSAGE_KIND_TEXT,
                                                                    json_object_get_string_member (body, "username"),
                                                                    json_object_get_string_member (body, "message"),
                                                                    KLETSEN_MESSAGE_STATE_RECEIVED, FALSE);
        kletsen_conversation_append (self->everyone, m, TRUE);
      }
      break;

    case KLETSEN_MSG_PRIVATE_MESSAGE:
      {
        const char *sender = json_object_get_string_member (body, "sender");
        g_autoptr(KletsenChatMessage) m = kletsen_chat_message_new (KLETSEN_MESSAGE_KIND_TEXT, sender,
                                                                    json_object_get_string_member (body, "message"),
                                                                    KLETSEN_MESSAGE_STATE_RECEIVED, FALSE);
        kletsen_conversation_append (kletsen_session_get_conversation (self, sender), m, TRUE);
      }
      break;

    case KLETSEN_MSG_GAME_NOTIFICATION:
      {
        const char *initiator = kletsen_body_get_string (body, "initiator");
        gint64 join_s = CLAMP (kletsen_body_get_int_or (body, "joinSeconds", 10), 0, MAX_JOIN_MS / 1000);
        gint64 join_ms = CLAMP (kletsen_body_get_int_or (body, "joinMs", join_s * 1000), 0, MAX_JOIN_MS);

        if (!is_user_name (initiator))
          initiator = "?";

        _kletsen_game_state_invited (self->game, initiator, join_ms);
        line = g_strdup_printf (_("%s started a guessing game"), initiator);
        add_system_line (self, line);
      }
      break;

    case KLETSEN_MSG_START_GAME_RESP: /* the start or the cancellation */
      if (kletsen_body_get_array (body, "players") != NULL)
        _kletsen_game_state_begin (self->game, kletsen_body_get_array (body, "players"));
      else
        _kletsen_game_state_cancelled (self->game, reply_code (body));
      break;

    case KLETSEN_MSG_GAME_JOINED:
      _kletsen_game_state_lobby_players (self->game, kletsen_body_get_array (body, "players"));
      break;

    case KLETSEN_MSG_GAME_PROGRESS:
      _kletsen_game_state_progress (self->game, json_object_get_string_member (body, "username"),
                                    (int)CLAMP (json_object_get_int_member (body, "finished"), 0, MAX_USERS));
      break;

    case KLETSEN_MSG_GAME_RESULTS:
      _kletsen_game_state_results (self->game, body);
      break;

    case KLETSEN_MSG_FILE_TRANSFER_OFFER:
      {
        handle_offer (self, body);
      }
      break;

    case KLETSEN_MSG_FILE_TRANSFER_RESPONSE: /* the outcome of our offer */
      handle_offer_outcome (self, body);
      break;

    case KLETSEN_MSG_FILE_TRANSFER_ENDED: /* an offer to us that is gone */
      handle_offer_ended (self, body);
      break;

    case KLETSEN_MSG_SECURE_MESSAGE_REQ_IN:
      {
        g_autoptr(JsonObject) out = json_object_new ();
        Pending *p;

        json_object_set_string_member (out, "sender", json_object_get_string_member (body, "sender"));
        json_object_set_string_member (out, "publicKey", kletsen_identity_get_public_key (self->identity));
        p = send_request (self, "SECURE_MESSAGE_RES", out, PENDING_SILENT, NULL);
        (void)p;
      }
      break;

    case KLETSEN_MSG_SECURE_MESSAGE_RES_IN: /* the key we asked for */
      if (kletsen_body_get_string (body, "publicKey") != NULL && is_user_name (kletsen_body_get_string (body, "receiver")))
        peer_key_arrived (self, kletsen_body_get_string (body, "receiver"), kletsen_body_get_string (body, "publicKey"));
      break;

    case KLETSEN_MSG_SECURE_MESSAGE_IN:
      handle_secure_message (self, body);
      break;

    default:
      break;
    }

  g_signal_emit (self, signals[MESSAGE], 0, info->header, body);
}

/* Whether @header is the reply header of some request. */
static gboolean
is_reply_header (const char *header)
{
  gsize n;
  const KletsenMessageInfo *table = kletsen_message_table (&n);

  for (gsize i = 0; i < n; i++)
    if (table[i].direction == KLETSEN_TO_SERVER && g_strcmp0 (table[i].response, header) == 0)
      return TRUE;
  return FALSE;
}

/* Replies that double as announcements (protocol.md §3, §4, §5). */
static gboolean
is_announcement (const KletsenMessageInfo *info,
                 JsonObject               *body)
{
  switch (info->type)
    {
    case KLETSEN_MSG_START_GAME_RESP:
      return kletsen_body_get_array (body, "players") != NULL || reply_code (body) == KLETSEN_CODE_NOT_ENOUGH_PLAYERS;
    case KLETSEN_MSG_FILE_TRANSFER_RESPONSE:
      return kletsen_body_get_string (body, "transferId") != NULL;
    case KLETSEN_MSG_SECURE_MESSAGE_RES_IN:
      return kletsen_body_get_string (body, "publicKey") != NULL;
    default:
      return FALSE;
    }
}

static void
handle_login_reply (KletsenSession *self,
                    JsonObject     *body)
{
  int code = reply_code (body);
  GTask *task = g_steal_pointer (&self->connect_task);

  if (code != 0)
    {
      set_last_error (self, kletsen_code_describe (code));
      if (task != NULL)
        {
          /* A first login that the server refuses is final. */
          self->want_online = FALSE;
          g_task_return_error (task, reply_error (code));
          g_object_unref (task);
        }
      connection_lost (self, NULL);
      return;
    }

  g_clear_handle_id (&self->login_timeout_id, g_source_remove);
  self->online_since = g_get_monotonic_time ();
  self->was_online = TRUE;
  set_last_error (self, NULL);
  if (self->disconnect_reason != 0)
    {
      /* The last DSCN belongs to the connection before this one. */
      self->disconnect_reason = 0;
      g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_DISCONNECT_REASON]);
    }
  set_state (self, KLETSEN_SESSION_ONLINE);
  send_request (self, "LIST_USERS_REQ", NULL, PENDING_PLAIN, NULL);
  if (task != NULL)
    {
      g_task_return_boolean (task, TRUE);
      g_object_unref (task);
    }
}

/* UNKNOWN_COMMAND or PARSE_ERROR: the server did not take the oldest
 * request still waiting (it speaks another version of the protocol, or
 * lacks that part). That request fails with "not supported" instead of
 * waiting forever. */
static void
refused_by_server (KletsenSession *self)
{
  Pending *p;

  if (self->state == KLETSEN_SESSION_LOGGING_IN && self->login_sent)
    {
      GTask *task = g_steal_pointer (&self->connect_task);
      g_autoptr(GError) error = g_error_new_literal (KLETSEN_SESSION_ERROR, KLETSEN_SESSION_ERROR_NOT_SUPPORTED,
                                                     _("The server does not understand this client’s login; "
                                                       "it may speak another version of the protocol"));

      set_last_error (self, error->message);
      self->want_online = FALSE;
      if (task != NULL)
        {
          g_task_return_error (task, g_steal_pointer (&error));
          g_object_unref (task);
        }
      connection_lost (self, NULL);
      return;
    }
  if (self->state != KLETSEN_SESSION_ONLINE)
    return;

  p = g_queue_pop_head (&self->pending);
  if (p == NULL)
    {
      g_debug ("UNKNOWN_COMMAND or PARSE_ERROR for no request");
      return;
    }
  if (p->kind != PENDING_BARRIER)
    {
      if (p->peer != NULL)
        {
          g_autofree char *key = fold (p->peer);

          fail_secure_queue (self, key, reply_error (CODE_NOT_SUPPORTED));
        }
      complete (self, p, CODE_NOT_SUPPORTED, NULL);
    }
  pending_free (p);
}

static gboolean
line_cb (char     *line,
         gsize     len,
         gpointer  user_data)
{
  KletsenSession *self = user_data;
  const KletsenMessageInfo *info;
  g_autoptr(JsonObject) body = NULL;
  KletsenParseStatus status;

  status = kletsen_message_parse (line, len, KLETSEN_TO_CLIENT, &info, &body);

  /* Any WELCOME will do, whatever its body: it only says the server is
   * ready (accepted for compatibility). */
  if (info != NULL && info->type == KLETSEN_MSG_WELCOME && self->state == KLETSEN_SESSION_LOGGING_IN)
    {
      g_autoptr(JsonObject) login = NULL;

      if (self->login_sent)
        return TRUE;
      login = json_object_new ();
      json_object_set_string_member (login, "username", self->username);
      send_line (self, "LOGIN", login);
      self->login_sent = TRUE;
      return TRUE;
    }
  if (info != NULL && (info->type == KLETSEN_MSG_UNKNOWN_COMMAND || info->type == KLETSEN_MSG_PARSE_ERROR))
    {
      refused_by_server (self);
      return self->connection != NULL;
    }

  if (status != KLETSEN_PARSE_OK)
    {
      /* A reply that cannot be read still answers its request, as a
       * failure: otherwise every later reply would be taken for the one
       * before it. Anything else unreadable is dropped. */
      if (info != NULL && self->state == KLETSEN_SESSION_ONLINE && is_reply_header (info->header))
        {
          g_autoptr(JsonObject) failed = json_object_new ();

          json_object_set_string_member (failed, "status", "ERROR");
          handle_reply (self, info->header, failed);
        }
      else if (info != NULL && info->type == KLETSEN_MSG_LOGIN_RESP && self->state == KLETSEN_SESSION_LOGGING_IN)
        {
          g_autoptr(JsonObject) failed = json_object_new ();

          json_object_set_string_member (failed, "status", "ERROR");
          handle_login_reply (self, failed);
        }
      else
        g_debug ("ignoring a line the protocol does not know: %.80s", line);
      return self->connection != NULL;
    }

  if (self->state == KLETSEN_SESSION_LOGGING_IN)
    {
      if (info->type == KLETSEN_MSG_LOGIN_RESP)
        {
          handle_login_reply (self, body);
          return self->connection != NULL;
        }
    }

  if (info->type == KLETSEN_MSG_LIST_USERS_RESP && reply_code (body) == 0)
    users_listed (self, kletsen_body_get_array (body, "users"));

  if (is_reply_header (info->header) && !is_announcement (info, body))
    handle_reply (self, info->header, body);
  else
    handle_unsolicited (self, info, body);

  return self->connection != NULL;
}

/* ---- reading ---- */

static void
read_cb (GObject      *object,
         GAsyncResult *result,
         gpointer      user_data)
{
  KletsenSession *self = user_data;
  g_autoptr(GError) error = NULL;
  gssize n = g_input_stream_read_finish (G_INPUT_STREAM (object), result, &error);

  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    {
      g_object_unref (self);
      return;
    }
  if (n <= 0)
    {
      connection_lost (self, n < 0 ? error->message : NULL);
      g_object_unref (self);
      return;
    }

  self->last_heard = g_get_monotonic_time ();
  if (kletsen_framer_feed (self->framer, (char *)self->read_buffer, n, line_cb, self) == KLETSEN_FRAMER_OVER_LIMIT)
    connection_lost (self, _("The server sent a line that is too long"));
  else if (self->connection != NULL)
    read_more (self);
  g_object_unref (self);
}

static void
read_more (KletsenSession *self)
{
  g_input_stream_read_async (g_io_stream_get_input_stream (G_IO_STREAM (self->connection)),
                             self->read_buffer, READ_CHUNK, G_PRIORITY_DEFAULT, self->cancellable,
                             read_cb, g_object_ref (self));
}

/* ---- the server's certificate ---- */

/**
 * _kletsen_certificate_fingerprint:
 *
 * Returns: (transfer full): SHA-256 of the DER certificate, 16 groups of 4
 *   hex digits, as the app shows it
 */
char *
_kletsen_certificate_fingerprint (GTlsCertificate *certificate)
{
  g_autoptr(GByteArray) der = NULL;
  g_autofree char *hex = NULL;
  GString *out = g_string_new (NULL);

  g_object_get (certificate, "certificate", &der, NULL);
  hex = g_compute_checksum_for_data (G_CHECKSUM_SHA256, der->data, der->len);
  for (guint i = 0; hex[i]; i++)
    {
      if (i > 0 && i % 4 == 0)
        g_string_append_c (out, ' ');
      g_string_append_c (out, g_ascii_toupper (hex[i]));
    }
  return g_string_free (out, FALSE);
}

static char *
server_key (KletsenSession *self)
{
  return g_strdup_printf ("%s:%u", self->host, self->port);
}

/* Called when GIO could not validate the certificate (unknown CA, self-signed,
 * wrong name, expired…): it is accepted only if it is exactly the one the
 * user trusted for this server. */
static gboolean
accept_certificate_cb (GTlsConnection       *connection,
                       GTlsCertificate      *certificate,
                       GTlsCertificateFlags  errors,
                       KletsenSession       *self)
{
  g_autofree char *key = server_key (self);
  g_autofree char *pinned = g_key_file_get_string (self->trusted_servers, "servers", key, NULL);
  g_autofree char *fingerprint = _kletsen_certificate_fingerprint (certificate);

  g_free (self->certificate_fingerprint);
  self->certificate_fingerprint = g_strdup (fingerprint);
  if (pinned != NULL && g_str_equal (pinned, fingerprint))
    return TRUE;
  self->certificate_problem = pinned != NULL ? KLETSEN_SESSION_ERROR_CERTIFICATE_CHANGED
                                             : KLETSEN_SESSION_ERROR_UNTRUSTED_CERTIFICATE;
  return FALSE;
}

static void
client_event_cb (GSocketClient      *client,
                 GSocketClientEvent  event,
                 GSocketConnectable *connectable,
                 GIOStream          *connection,
                 KletsenSession     *self)
{
  if (event != G_SOCKET_CLIENT_TLS_HANDSHAKING || !G_IS_TLS_CLIENT_CONNECTION (connection))
    return;
  if (self->tls_database != NULL)
    g_tls_connection_set_database (G_TLS_CONNECTION (connection), self->tls_database);
  /* Lines end with newlines, so a cut-off stream cannot fake a message. */
  g_tls_connection_set_require_close_notify (G_TLS_CONNECTION (connection), FALSE);
  g_signal_connect (connection, "accept-certificate", G_CALLBACK (accept_certificate_cb), self);
}

/* After a handshake that GIO validated: a server the user pinned must still
 * show the pinned certificate, even if a CA vouches for the new one. */
static gboolean
check_pinned (KletsenSession *self)
{
  GTlsCertificate *certificate;
  g_autofree char *key = server_key (self);
  g_autofree char *pinned = g_key_file_get_string (self->trusted_servers, "servers", key, NULL);
  GIOStream *tls = G_IS_TCP_WRAPPER_CONNECTION (self->connection)
                     ? g_tcp_wrapper_connection_get_base_io_stream (G_TCP_WRAPPER_CONNECTION (self->connection))
                     : NULL;

  if (!G_IS_TLS_CONNECTION (tls))
    return TRUE;
  certificate = g_tls_connection_get_peer_certificate (G_TLS_CONNECTION (tls));
  g_free (self->certificate_fingerprint);
  self->certificate_fingerprint = certificate ? _kletsen_certificate_fingerprint (certificate) : NULL;
  if (pinned == NULL || self->certificate_fingerprint == NULL || g_str_equal (pinned, self->certificate_fingerprint))
    return TRUE;
  self->certificate_problem = KLETSEN_SESSION_ERROR_CERTIFICATE_CHANGED;
  return FALSE;
}

static GError *
certificate_error (KletsenSession *self)
{
  if (self->certificate_problem == KLETSEN_SESSION_ERROR_CERTIFICATE_CHANGED)
    return g_error_new (KLETSEN_SESSION_ERROR, KLETSEN_SESSION_ERROR_CERTIFICATE_CHANGED,
                        _("The server’s certificate is not the one you trusted before (now %s). "
                          "Someone may be intercepting the connection."), self->certificate_fingerprint);
  return g_error_new (KLETSEN_SESSION_ERROR, KLETSEN_SESSION_ERROR_UNTRUSTED_CERTIFICATE,
                      _("Nobody vouches for the server’s certificate (fingerprint %s)."),
                      self->certificate_fingerprint ? self->certificate_fingerprint : "?");
}

/* A certificate problem ends the attempt for good: retrying cannot fix it. */
static void
refuse_certificate (KletsenSession *self)
{
  g_autoptr(GError) error = certificate_error (self);
  GTask *task = g_steal_pointer (&self->connect_task);

  self->want_online = FALSE;
  set_last_error (self, error->message);
  if (task != NULL)
    {
      g_task_return_error (task, g_error_copy (error));
      g_object_unref (task);
    }
  connection_lost (self, NULL);
}

/* ---- connecting, losing the connection, reconnecting ---- */

static gboolean
watchdog_cb (gpointer user_data)
{
  KletsenSession *self = user_data;
  gint64 silence_ms = (g_get_monotonic_time () - self->last_heard) / 1000;

  /* The server pings every interval; after interval + timeout of silence it is gone. */
  if (self->state == KLETSEN_SESSION_ONLINE && silence_ms > self->ping_interval_ms + self->pong_timeout_ms)
    connection_lost (self, _("The server stopped answering"));
  return G_SOURCE_CONTINUE;
}

static gboolean
login_timeout_cb (gpointer user_data)
{
  KletsenSession *self = user_data;

  self->login_timeout_id = 0;
  if (self->state != KLETSEN_SESSION_ONLINE)
    connection_lost (self, _("The server did not answer in time"));
  return G_SOURCE_REMOVE;
}

static gboolean
reconnect_cb (gpointer user_data)
{
  KletsenSession *self = user_data;

  self->reconnect_id = 0;
  start_connecting (self);
  return G_SOURCE_REMOVE;
}

static void
schedule_reconnect (KletsenSession *self)
{
  if (!self->want_online || self->reconnect_id != 0)
    return;
  self->backoff_ms = self->backoff_ms == 0 ? BACKOFF_MIN_MS : MIN (self->backoff_ms * 2, BACKOFF_MAX_MS);
  /* ±25 % jitter, so that a restarted server is not hit by everyone at once. */
  self->reconnect_id = g_timeout_add (self->backoff_ms * 3 / 4 + g_random_int_range (0, self->backoff_ms / 2 + 1),
                                      reconnect_cb, self);
}

/* The connection ended (or never came up): fail what waited, and try again
 * unless the user asked to go offline. */
static void
connection_lost (KletsenSession *self,
                 const char     *why)
{
  g_autoptr(GError) lost = g_error_new_literal (KLETSEN_SESSION_ERROR, KLETSEN_SESSION_ERROR_LOST,
                                                why ? why : _("The connection to the server was lost"));
  GTask *task = g_steal_pointer (&self->connect_task);
  Pending *p;

  if (why != NULL)
    set_last_error (self, why);

  g_cancellable_cancel (self->cancellable);
  g_clear_object (&self->cancellable);
  if (self->connection != NULL)
    g_io_stream_close (G_IO_STREAM (self->connection), NULL, NULL);
  g_clear_object (&self->connection);
  g_queue_clear_full (&self->out, (GDestroyNotify)g_bytes_unref);
  self->unsent_bytes = 0;
  self->writing = FALSE;
  g_clear_handle_id (&self->watchdog_id, g_source_remove);
  g_clear_handle_id (&self->login_timeout_id, g_source_remove);
  g_clear_handle_id (&self->overflow_id, g_source_remove);
  if (self->online_since != 0 && g_get_monotonic_time () - self->online_since >= (gint64)STABLE_MS * 1000)
    self->backoff_ms = 0;
  self->online_since = 0;
  _kletsen_game_state_reset (self->game);

  while ((p = g_queue_pop_head (&self->pending)) != NULL)
    {
      if (p->message != NULL)
        kletsen_chat_message_set_state (p->message, KLETSEN_MESSAGE_STATE_FAILED, 0);
      if (p->transfer != NULL)
        _kletsen_file_transfer_fail (p->transfer, KLETSEN_TRANSFER_FAILED, 0, lost->message);
      if (p->task != NULL)
        g_task_return_error (p->task, g_error_copy (lost));
      pending_free (p);
    }
  {
    GHashTableIter iter;
    gpointer key;
    g_autoptr(GPtrArray) keys = g_ptr_array_new_with_free_func (g_free);

    g_hash_table_iter_init (&iter, self->secure_queue);
    while (g_hash_table_iter_next (&iter, &key, NULL))
      g_ptr_array_add (keys, g_strdup (key));
    for (guint i = 0; i < keys->len; i++)
      fail_secure_queue (self, g_ptr_array_index (keys, i), g_error_copy (lost));
  }
  g_hash_table_remove_all (self->peer_keys);
  kletsen_people_all_offline (self->people);

  set_state (self, KLETSEN_SESSION_DISCONNECTED);

  if (task != NULL && self->want_online && !self->was_online)
    {
      /* The very first attempt failed: tell the caller, do not retry behind its back. */
      self->want_online = FALSE;
      g_task_return_error (task, g_error_copy (lost));
      g_object_unref (task);
      return;
    }
  if (task != NULL)
    {
      g_task_return_error (task, g_error_copy (lost));
      g_object_unref (task);
    }
  schedule_reconnect (self);
}

static void
connected_cb (GObject      *object,
              GAsyncResult *result,
              gpointer      user_data)
{
  KletsenSession *self = user_data;
  g_autoptr(GError) error = NULL;
  GSocketConnection *connection = g_socket_client_connect_to_host_finish (G_SOCKET_CLIENT (object), result, &error);

  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    {
      g_object_unref (self);
      return;
    }
  if (connection == NULL && self->certificate_problem >= 0)
    {
      refuse_certificate (self);
      g_object_unref (self);
      return;
    }
  if (connection == NULL)
    {
      connection_lost (self, error->message);
      g_object_unref (self);
      return;
    }

  self->connection = G_IO_STREAM (connection);
  if (!check_pinned (self))
    {
      refuse_certificate (self);
      g_object_unref (self);
      return;
    }
  g_socket_set_option (g_socket_connection_get_socket (connection), IPPROTO_TCP, TCP_NODELAY, 1, NULL);
  begin_login (self);
  g_object_unref (self);
}

/* The connection is up: wait for the WELCOME, and watch the silence. */
static void
begin_login (KletsenSession *self)
{
  kletsen_framer_free (self->framer);
  self->framer = kletsen_framer_new (MAX_LINE);
  self->last_heard = g_get_monotonic_time ();
  self->watchdog_id = g_timeout_add (MAX (self->ping_interval_ms / 4, 50), watchdog_cb, self);
  self->login_sent = FALSE;
  set_state (self, KLETSEN_SESSION_LOGGING_IN);
  read_more (self);
}

static void
start_connecting (KletsenSession *self)
{
  g_autoptr(GSocketClient) client = g_socket_client_new ();

  g_clear_object (&self->cancellable);
  self->cancellable = g_cancellable_new ();
  /* No I/O timeout on the socket: it would hold for the connection's whole
   * life and race the server's PING. The login timer bounds the way in. */
  g_socket_client_set_tls (client, self->tls);
  g_clear_handle_id (&self->login_timeout_id, g_source_remove);
  self->login_timeout_id = g_timeout_add (self->login_timeout_ms, login_timeout_cb, self);
  self->certificate_problem = -1;
  g_signal_connect (client, "event", G_CALLBACK (client_event_cb), self);
  set_state (self, KLETSEN_SESSION_CONNECTING);
  g_socket_client_connect_to_host_async (client, self->host, self->port, self->cancellable,
                                         connected_cb, g_object_ref (self));
}

/* ---- GObject ---- */

static void
kletsen_session_dispose (GObject *object)
{
  KletsenSession *self = KLETSEN_SESSION (object);

  self->want_online = FALSE;
  g_clear_handle_id (&self->reconnect_id, g_source_remove);
  if (self->connection != NULL || self->cancellable != NULL)
    connection_lost (self, NULL);

  G_OBJECT_CLASS (kletsen_session_parent_class)->dispose (object);
}

static void
kletsen_session_finalize (GObject *object)
{
  KletsenSession *self = KLETSEN_SESSION (object);

  g_free (self->data_dir);
  g_free (self->host);
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
  g_clear_pointer (&self->identity, kletsen_identity_free);
  g_free (self->fingerprint);
  g_clear_pointer (&self->peer_keys, g_hash_table_unref);
  g_clear_pointer (&self->changed_keys, g_hash_table_unref);
  g_clear_pointer (&self->secure_queue, g_hash_table_unref);
  g_clear_pointer (&self->key_timeouts, g_hash_table_unref);
  g_clear_pointer (&self->pins, g_key_file_unref);
  g_free (self->pins_path);
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

  properties[PROP_STATE] = g_param_spec_enum ("state", NULL, NULL, KLETSEN_TYPE_SESSION_STATE,
                                              KLETSEN_SESSION_DISCONNECTED, flags);
  /* Why the last connection or login failed, for people; NULL while all is well. */
  properties[PROP_LAST_ERROR] = g_param_spec_string ("last-error", NULL, NULL, NULL, flags);
  /* The reason of the last DSCN from the server (7000, 7001, …), or 0. */
  properties[PROP_DISCONNECT_REASON] = g_param_spec_int ("disconnect-reason", NULL, NULL, 0, G_MAXINT, 0, flags);
  g_object_class_install_properties (object_class, N_PROPS, properties);

  /**
   * KletsenSession::message:
   * @header: the message header
   * @body: the fields
   *
   * Every message from the server that is not a reply to one of our requests.
   */
  signals[MESSAGE] = g_signal_new ("message", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                                   G_TYPE_NONE, 2, G_TYPE_STRING, JSON_TYPE_OBJECT);
  /**
   * KletsenSession::file-offered:
   * @transfer: the offer; accept or reject it
   */
  signals[FILE_OFFERED] = g_signal_new ("file-offered", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL,
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
  signals[PEER_KEY_CHANGED] = g_signal_new ("peer-key-changed", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0,
                                            NULL, NULL, NULL, G_TYPE_NONE, 3,
                                            G_TYPE_STRING, G_TYPE_STRING, G_TYPE_STRING);
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
  self->conversations = g_list_store_new (KLETSEN_TYPE_CONVERSATION);
  self->conversation_by_key = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_object_unref);
  self->everyone = kletsen_conversation_new (NULL);
  g_list_store_append (self->conversations, self->everyone);
  self->game = kletsen_game_state_new ();
  self->transfers = g_list_store_new (KLETSEN_TYPE_FILE_TRANSFER);
  self->peer_keys = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  self->changed_keys = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  self->secure_queue = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, (GDestroyNotify)g_ptr_array_unref);
  self->key_timeouts = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  self->pins = g_key_file_new ();
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
  self->trusted_path = g_build_filename (self->data_dir, "trusted-servers.ini", NULL);
  g_key_file_load_from_file (self->trusted_servers, self->trusted_path, G_KEY_FILE_NONE, NULL);
  return self;
}

/* ---- public API: connection ---- */

static gboolean
ensure_identity (KletsenSession  *self,
                 GError         **error)
{
  g_autofree char *path = NULL;

  if (self->identity != NULL)
    return TRUE;
  path = g_build_filename (self->data_dir, "identity.pem", NULL);
  self->identity = kletsen_identity_load_or_create (path, error);
  if (self->identity == NULL)
    return FALSE;
  self->fingerprint = kletsen_crypto_fingerprint (kletsen_identity_get_public_key (self->identity));
  return TRUE;
}

/**
 * _kletsen_session_connect_stream:
 * @stream: a stream that plays the server, already connected
 *
 * Logs in as @username over @stream instead of a socket, and does not
 * reconnect when it ends. For tests and the session fuzzer, which need no
 * network.
 */
gboolean
_kletsen_session_connect_stream (KletsenSession  *self,
                                 const char      *username,
                                 GIOStream       *stream,
                                 GError         **error)
{
  g_return_val_if_fail (self->state == KLETSEN_SESSION_DISCONNECTED, FALSE);

  if (!ensure_identity (self, error))
    return FALSE;
  g_free (self->host);
  self->host = g_strdup ("stream");
  g_free (self->username);
  self->username = g_strdup (username);
  self->want_online = FALSE;
  self->was_online = FALSE;
  g_clear_object (&self->cancellable);
  self->cancellable = g_cancellable_new ();
  self->connection = g_object_ref (stream);
  begin_login (self);
  return TRUE;
}

/**
 * _kletsen_session_set_side_channel_func:
 * @func: (nullable): opens the side channel of an accepted transfer, instead
 *   of a connection to the server's file port
 */
void
_kletsen_session_set_side_channel_func (KletsenSession         *self,
                                        KletsenSideChannelFunc  func,
                                        gpointer                user_data)
{
  self->side_channel_func = func;
  self->side_channel_data = user_data;
}

/**
 * kletsen_session_connect_async:
 *
 * Connects and logs in. The result comes when the session is online, or
 * with the login's error code. Once online, a lost connection is restored in
 * the background (with backoff) until kletsen_session_disconnect().
 */
void
kletsen_session_connect_async (KletsenSession      *self,
                               const char          *host,
                               guint16              port,
                               const char          *username,
                               GCancellable        *cancellable,
                               GAsyncReadyCallback  callback,
                               gpointer             user_data)
{
  g_autoptr(GTask) task = g_task_new (self, cancellable, callback, user_data);
  g_autoptr(GError) error = NULL;

  g_task_set_source_tag (task, TAG_CONNECT);
  if (self->state != KLETSEN_SESSION_DISCONNECTED || self->connect_task != NULL)
    {
      g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_PENDING, "Already connected or connecting");
      return;
    }
  if (!kletsen_user_name_is_valid (username))
    {
      g_task_return_error (task, kletsen_protocol_error_new (KLETSEN_CODE_NAME_INVALID));
      return;
    }
  if (!ensure_identity (self, &error))
    {
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }

  g_free (self->host);
  self->host = g_strdup (host);
  g_free (self->username);
  self->username = g_strdup (username);
  self->port = port;
  self->want_online = TRUE;
  self->was_online = FALSE;
  self->backoff_ms = 0;
  self->disconnect_reason = 0;
  self->connect_task = g_steal_pointer (&task);
  start_connecting (self);
}

gboolean
kletsen_session_connect_finish (KletsenSession  *self,
                                GAsyncResult    *result,
                                GError         **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);
  return g_task_propagate_boolean (G_TASK (result), error);
}

/**
 * kletsen_session_reconnect_now:
 *
 * While a lost connection waits for its next attempt: makes it now.
 */
void
kletsen_session_reconnect_now (KletsenSession *self)
{
  if (!self->want_online || self->reconnect_id == 0)
    return;
  g_clear_handle_id (&self->reconnect_id, g_source_remove);
  start_connecting (self);
}

/**
 * kletsen_session_disconnect:
 *
 * Says BYE (when online) and stays offline.
 */
void
kletsen_session_disconnect (KletsenSession *self)
{
  GOutputStream *out;

  self->want_online = FALSE;
  g_clear_handle_id (&self->reconnect_id, g_source_remove);
  if (self->connection != NULL && self->state == KLETSEN_SESSION_ONLINE)
    {
      /* Written synchronously: it is one short line, and nothing may follow it. */
      out = g_io_stream_get_output_stream (G_IO_STREAM (self->connection));
      if (!self->writing)
        g_output_stream_write_all (out, "BYE\n", 4, NULL, NULL, NULL);
    }
  if (self->connection != NULL || self->cancellable != NULL)
    connection_lost (self, NULL);
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

/**
 * kletsen_session_set_tls:
 * @use_tls: speak TLS to the server (its TLS port, default 1339)
 * @database: (nullable): the certificates to trust; %NULL for the system's
 *
 * The file side channel follows: it uses TLS too, and trusts exactly the
 * certificate the chat connection trusted.
 */
void
kletsen_session_set_tls (KletsenSession *self,
                         gboolean        use_tls,
                         GTlsDatabase   *database)
{
  self->tls = use_tls;
  g_set_object (&self->tls_database, database);
}

gboolean
kletsen_session_get_tls (KletsenSession *self)
{
  return self->tls;
}

/**
 * kletsen_session_get_certificate_fingerprint:
 *
 * Returns: (nullable): the fingerprint of the server's certificate: the one
 *   in use, or the one just refused (to show the user before trusting it)
 */
const char *
kletsen_session_get_certificate_fingerprint (KletsenSession *self)
{
  return self->certificate_fingerprint;
}

/**
 * kletsen_session_trust_certificate:
 *
 * Trusts the certificate last refused as untrusted for this host and port
 * (after the user compared its fingerprint), pinned in the data directory.
 */
void
kletsen_session_trust_certificate (KletsenSession *self)
{
  g_autofree char *key = NULL;
  g_autoptr(GError) error = NULL;

  if (self->certificate_fingerprint == NULL || self->host == NULL)
    return;
  key = server_key (self);
  g_key_file_set_string (self->trusted_servers, "servers", key, self->certificate_fingerprint);
  g_mkdir_with_parents (self->data_dir, 0700);
  if (!g_key_file_save_to_file (self->trusted_servers, self->trusted_path, &error))
    g_warning ("Cannot save the trusted servers: %s", error->message);
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

/**
 * kletsen_session_broadcast_async:
 *
 * Sends @text to everyone. The message shows in "Everyone" at once as
 * sending, then as sent or failed when the server answers.
 */
/* Sends my @message (already in its conversation) to everyone. */
static void
send_broadcast (KletsenSession     *self,
                KletsenChatMessage *message,
                GTask              *task)
{
  g_autoptr(JsonObject) body = json_object_new ();

  if (!check_online (self, task))
    {
      kletsen_chat_message_set_state (message, KLETSEN_MESSAGE_STATE_FAILED, 0);
      return;
    }
  json_object_set_string_member (body, "message", kletsen_chat_message_get_text (message));
  send_request (self, "BROADCAST_REQ", body, PENDING_PLAIN, task)->message = g_object_ref (message);
}

static void
send_private (KletsenSession     *self,
              const char         *peer,
              KletsenChatMessage *message,
              GTask              *task)
{
  g_autoptr(JsonObject) body = json_object_new ();

  if (!check_online (self, task))
    {
      kletsen_chat_message_set_state (message, KLETSEN_MESSAGE_STATE_FAILED, 0);
      return;
    }
  json_object_set_string_member (body, "receiver", peer);
  json_object_set_string_member (body, "message", kletsen_chat_message_get_text (message));
  send_request (self, "PRIVATE_MESSAGE_REQ", body, PENDING_PLAIN, task)->message = g_object_ref (message);
}

static void
send_secure (KletsenSession     *self,
             const char         *peer,
             KletsenChatMessage *message,
             GTask              *task)
{
  g_autofree char *key = fold (peer);
  SecureSend *s;
  GPtrArray *queue;
  const char *public_key;

  if (!check_online (self, task))
    {
      kletsen_chat_message_set_state (message, KLETSEN_MESSAGE_STATE_FAILED, 0);
      return;
    }
  if (g_hash_table_contains (self->changed_keys, key))
    {
      kletsen_chat_message_set_state (message, KLETSEN_MESSAGE_STATE_FAILED, 0);
      g_task_return_new_error (task, KLETSEN_SESSION_ERROR, KLETSEN_SESSION_ERROR_KEY_CHANGED,
                               _("%s’s key has changed; compare fingerprints before trusting it"), peer);
      return;
    }

  s = g_new0 (SecureSend, 1);
  s->text = g_strdup (kletsen_chat_message_get_text (message));
  s->message = g_object_ref (message);
  s->task = g_object_ref (task);

  public_key = g_hash_table_lookup (self->peer_keys, key);
  if (public_key != NULL)
    {
      encrypt_and_send (self, peer, public_key, s);
      secure_send_free (s);
      return;
    }

  queue = g_hash_table_lookup (self->secure_queue, key);
  if (queue == NULL)
    {
      g_autoptr(JsonObject) body = json_object_new ();
      KeyTimeout *t = g_new0 (KeyTimeout, 1);
      Pending *p;

      queue = g_ptr_array_new_with_free_func (secure_send_free);
      g_hash_table_insert (self->secure_queue, g_strdup (key), queue);
      json_object_set_string_member (body, "receiver", peer);
      p = send_request (self, "SECURE_MESSAGE_REQ", body, PENDING_SILENT, NULL);
      p->peer = g_strdup (peer);
      t->self = self;
      t->key = g_strdup (key);
      g_hash_table_insert (self->key_timeouts, g_strdup (key),
                           GUINT_TO_POINTER (g_timeout_add_full (G_PRIORITY_DEFAULT, KEY_TIMEOUT_MS, key_timeout_cb,
                                                                 t, key_timeout_free)));
    }
  g_ptr_array_add (queue, s);
}

static KletsenChatMessage *
append_mine (KletsenSession      *self,
             KletsenConversation *conversation,
             const char          *text,
             gboolean             encrypted)
{
  KletsenChatMessage *message = kletsen_chat_message_new (KLETSEN_MESSAGE_KIND_TEXT, self->username, text,
                                                          KLETSEN_MESSAGE_STATE_SENDING, encrypted);

  kletsen_conversation_append (conversation, message, FALSE);
  return message;
}

void
kletsen_session_broadcast_async (KletsenSession      *self,
                                 const char          *text,
                                 GAsyncReadyCallback  callback,
                                 gpointer             user_data)
{
  g_autoptr(GTask) task = g_task_new (self, NULL, callback, user_data);
  g_autoptr(KletsenChatMessage) message = NULL;

  g_task_set_source_tag (task, TAG_BROADCAST);
  message = append_mine (self, self->everyone, text, FALSE);
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
  message = append_mine (self, kletsen_session_get_conversation (self, peer), text, FALSE);
  send_private (self, peer, message, task);
}

/**
 * kletsen_session_send_secure_async:
 *
 * Sends @text to @peer end-to-end encrypted: the peer's key is fetched once
 * per session and checked against its pinned fingerprint.
 */
void
kletsen_session_send_secure_async (KletsenSession      *self,
                                   const char          *peer,
                                   const char          *text,
                                   GAsyncReadyCallback  callback,
                                   gpointer             user_data)
{
  g_autoptr(GTask) task = g_task_new (self, NULL, callback, user_data);
  g_autoptr(KletsenChatMessage) message = NULL;

  g_task_set_source_tag (task, TAG_SECURE);
  message = append_mine (self, kletsen_session_get_conversation (self, peer), text, TRUE);
  send_secure (self, peer, message, task);
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
    send_secure (self, peer, message, task);
  else
    send_private (self, peer, message, task);
}

void
kletsen_session_list_users_async (KletsenSession      *self,
                                  GAsyncReadyCallback  callback,
                                  gpointer             user_data)
{
  g_autoptr(GTask) task = g_task_new (self, NULL, callback, user_data);

  g_task_set_source_tag (task, TAG_LIST_USERS);
  if (check_online (self, task))
    send_request (self, "LIST_USERS_REQ", NULL, PENDING_PLAIN, task);
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
  if (check_online (self, task))
    send_request (self, header, NULL, PENDING_PLAIN, task);
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
  if (!check_online (self, task))
    return;
  json_object_set_int_member (body, "number", number);
  send_request (self, "GUESS_NUMBER_REQ", body, PENDING_PLAIN, task);
}

int
kletsen_session_guess_finish (KletsenSession  *self,
                              GAsyncResult    *result,
                              GError         **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), 0);
  return (int)g_task_propagate_int (G_TASK (result), error);
}

/* ---- public API: files ---- */

static void
prepared_cb (GObject      *object,
             GAsyncResult *result,
             gpointer      user_data)
{
  g_autoptr(KletsenSession) self = user_data;
  KletsenFileTransfer *transfer = KLETSEN_FILE_TRANSFER (object);
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonObject) body = NULL;
  Pending *p;

  if (!_kletsen_file_transfer_prepare_finish (transfer, result, &error))
    return;
  if (self->state != KLETSEN_SESSION_ONLINE)
    {
      _kletsen_file_transfer_fail (transfer, KLETSEN_TRANSFER_FAILED, 0, _("Not connected to the server"));
      return;
    }
  body = json_object_new ();
  json_object_set_string_member (body, "receiver", kletsen_file_transfer_get_peer (transfer));
  json_object_set_string_member (body, "filename", kletsen_file_transfer_get_filename (transfer));
  json_object_set_int_member (body, "size", (gint64)kletsen_file_transfer_get_size (transfer));
  json_object_set_string_member (body, "checksum", kletsen_file_transfer_get_checksum (transfer));
  p = send_request (self, "FILE_TRANSFER_REQUEST", body, PENDING_SILENT, NULL);
  p->transfer = g_object_ref (transfer);
  /* Offered from now on, not only once the barrier confirms it: the peer's
   * answer can reach us before that confirmation (our barrier request may
   * still be waiting to be written when the peer answers), and it must find
   * this transfer. A refusal of the offer still fails it when it comes. */
  _kletsen_file_transfer_set_offered (transfer);
}

/* Cancelled before the peer answered: take the offer back, so that the
 * peer is not left to accept a file that will never come. */
static void
outgoing_state_cb (KletsenFileTransfer *transfer,
                   GParamSpec          *pspec,
                   KletsenSession      *self)
{
  g_autoptr(JsonObject) body = NULL;

  if (kletsen_file_transfer_get_state (transfer) != KLETSEN_TRANSFER_CANCELLED ||
      !_kletsen_file_transfer_get_offer_sent (transfer) || kletsen_file_transfer_get_id (transfer) != NULL ||
      self->state != KLETSEN_SESSION_ONLINE)
    return;
  body = json_object_new ();
  json_object_set_string_member (body, "receiver", kletsen_file_transfer_get_peer (transfer));
  json_object_set_string_member (body, "filename", kletsen_file_transfer_get_filename (transfer));
  json_object_set_string_member (body, "checksum", kletsen_file_transfer_get_checksum (transfer));
  send_request (self, "FILE_TRANSFER_CANCEL", body, PENDING_SILENT, NULL);
}

/**
 * kletsen_session_send_file:
 *
 * Offers @file to @peer: it is measured and hashed first (in a worker
 * thread), then offered; when the peer accepts, it is streamed.
 *
 * Returns: (transfer none): the transfer, also in the transfers model
 */
KletsenFileTransfer *
kletsen_session_send_file (KletsenSession *self,
                           const char     *peer,
                           GFile          *file)
{
  g_autoptr(KletsenFileTransfer) transfer = _kletsen_file_transfer_new_outgoing (peer, file);

  add_transfer (self, transfer);
  g_signal_connect_object (transfer, "notify::state", G_CALLBACK (outgoing_state_cb), self, 0);
  _kletsen_file_transfer_prepare_async (transfer, prepared_cb, g_object_ref (self));
  return transfer;
}

static void
answer_offer (KletsenSession      *self,
              KletsenFileTransfer *transfer,
              gboolean             accept)
{
  g_autoptr(JsonObject) body = json_object_new ();
  Pending *p;

  json_object_set_string_member (body, "transferId", kletsen_file_transfer_get_id (transfer));
  json_object_set_string_member (body, "status", accept ? "OK" : "REJECTED");
  p = send_request (self, "FILE_TRANSFER_RESPONSE", body, PENDING_SILENT, NULL);
  p->transfer = g_object_ref (transfer);
}

/**
 * kletsen_session_accept_file:
 * @folder: where the file goes; only its base name is used, and no existing
 *   file is replaced
 */
void
kletsen_session_accept_file (KletsenSession      *self,
                             KletsenFileTransfer *transfer,
                             GFile               *folder)
{
  g_return_if_fail (kletsen_file_transfer_get_state (transfer) == KLETSEN_TRANSFER_OFFERED);

  if (self->state != KLETSEN_SESSION_ONLINE)
    {
      _kletsen_file_transfer_fail (transfer, KLETSEN_TRANSFER_FAILED, 0, _("Not connected to the server"));
      return;
    }
  _kletsen_file_transfer_accepted (transfer, folder);
  answer_offer (self, transfer, TRUE);
}

void
kletsen_session_reject_file (KletsenSession      *self,
                             KletsenFileTransfer *transfer)
{
  g_return_if_fail (kletsen_file_transfer_get_state (transfer) == KLETSEN_TRANSFER_OFFERED);

  if (self->state == KLETSEN_SESSION_ONLINE)
    answer_offer (self, transfer, FALSE);
  _kletsen_file_transfer_fail (transfer, KLETSEN_TRANSFER_REJECTED, 0, NULL);
}

/* ---- public API: keys ---- */

/**
 * kletsen_session_get_fingerprint:
 *
 * Returns: (nullable): this client's key fingerprint, once connected
 */
const char *
kletsen_session_get_fingerprint (KletsenSession *self)
{
  return self->fingerprint;
}

/**
 * kletsen_session_get_peer_fingerprint:
 *
 * Returns: (transfer full) (nullable): the fingerprint pinned for @peer
 */
char *
kletsen_session_get_peer_fingerprint (KletsenSession *self,
                                      const char     *peer)
{
  return pinned_fingerprint (self, peer);
}

gboolean
kletsen_session_is_peer_blocked (KletsenSession *self,
                                 const char     *peer)
{
  g_autofree char *key = fold (peer);

  return g_hash_table_contains (self->changed_keys, key);
}

/**
 * kletsen_session_trust_peer_key:
 *
 * Accepts @peer's changed key (after the user compared fingerprints): it is
 * pinned and sending is unblocked.
 */
void
kletsen_session_trust_peer_key (KletsenSession *self,
                                const char     *peer)
{
  g_autofree char *key = fold (peer);
  const char *public_key = g_hash_table_lookup (self->changed_keys, key);
  g_autofree char *fingerprint = NULL;

  if (public_key == NULL)
    return;
  fingerprint = kletsen_crypto_fingerprint (public_key);
  pin (self, peer, fingerprint);
  g_hash_table_insert (self->peer_keys, g_strdup (key), g_strdup (public_key));
  g_hash_table_remove (self->changed_keys, key);
}
