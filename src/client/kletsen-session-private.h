/* kletsen-session-private.h
 *
 * Copyright 2026 The Kletsen authors
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#pragma once

/* What the files of KletsenSession share, as GNOME Text Editor's
 * editor-window-private.h does for its window: the instance struct, the
 * bounds, and the functions one part calls in another.
 *
 *   kletsen-session.c             the GObject, the models, chat and game requests
 *   kletsen-session-connection.c  connecting, TLS and pinning, reading, writing,
 *                                 the watchdog, reconnecting
 *   kletsen-session-replies.c     pending requests, matching replies, the barrier,
 *                                 and the reading of each line
 *   kletsen-session-events.c      what the server says without being asked
 *   kletsen-session-keys.c        peer keys, pins, encrypted messages
 *   kletsen-session-files.c       offers, answers and side channels
 */

#include <glib/gi18n-lib.h>

#include "kletsen-crypto.h"
#include "kletsen-people.h"
#include "kletsen-protocol.h"
#include "kletsen-session.h"

G_BEGIN_DECLS

/* Hooks for tests and fuzzers: a session over any stream, with no network. */

typedef void (*KletsenSideChannelFunc) (KletsenSession      *session,
                                        KletsenFileTransfer *transfer,
                                        gpointer             user_data);

gboolean _kletsen_session_connect_stream        (KletsenSession          *self,
                                                 const char              *username,
                                                 GIOStream               *stream,
                                                 GError                 **error);
void     _kletsen_session_set_side_channel_func (KletsenSession          *self,
                                                 KletsenSideChannelFunc   func,
                                                 gpointer                 user_data);

/* ---- internals ---- */

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
extern const char _kletsen_session_tags[8];
#define TAG_CONNECT ((gpointer)&_kletsen_session_tags[0])
#define TAG_BROADCAST ((gpointer)&_kletsen_session_tags[1])
#define TAG_PRIVATE ((gpointer)&_kletsen_session_tags[2])
#define TAG_SECURE ((gpointer)&_kletsen_session_tags[3])
#define TAG_LIST_USERS ((gpointer)&_kletsen_session_tags[4])
#define TAG_START_GAME ((gpointer)&_kletsen_session_tags[5])
#define TAG_JOIN_GAME ((gpointer)&_kletsen_session_tags[6])
#define TAG_GUESS ((gpointer)&_kletsen_session_tags[7])

typedef enum
{
  PENDING_PLAIN,    /* completes with its reply */
  PENDING_SILENT,   /* replies only on error; the next barrier completes it */
  PENDING_BARRIER,  /* our LIST_USERS_REQ after silent requests */
} PendingKind;

/* Returns a request's result from the body of its OK reply; NULL for a
 * request whose result is only that it succeeded. */
typedef void (*KletsenReplyFunc) (GTask      *task,
                                  JsonObject *body);

typedef struct
{
  KletsenReplyFunc     on_reply;
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
  GPtrArray           *servers;      /* GNetworkAddress: where to connect, in the order tried; empty: host */
  guint                server_index; /* the one tried now */
  guint                servers_tried;/* in this round, before giving up */
  char                *current_host; /* the host connected to (the side channel goes there too) */
  guint16              current_port;
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
  KletsenHistory      *history;      /* NULL while not kept (kletsen-session-history.c) */
  GHashTable          *known_skeletons; /* skeleton → names known; NULL until asked after a change */
  gboolean             keep_history;

  /* end-to-end keys */
  KletsenIdentity     *identity;
  char                *fingerprint;
  GHashTable          *peer_keys;    /* folded name → base64 key, for this session */
  GHashTable          *changed_keys; /* folded name → the new key, not yet trusted */
  GHashTable          *secure_queue; /* folded name → GPtrArray of SecureSend */
  GHashTable          *key_timeouts; /* folded name → source id */
  GHashTable          *key_answers;  /* folded name → gint64 when we last sent it our key */
  GKeyFile            *pins;         /* "peers HOST:PORT": folded name → fingerprint;
                                      * "verified HOST:PORT": the fingerprint the user compared */
  char                *pins_path;
  GKeyFile            *counters;     /* §5.1 counters, "[receipts ]sent/received HOST:PORT": name → "FINGERPRINT|N" */
  char                *counters_path;
  gboolean             counters_dirty; /* changed since last written (kletsen-session-keys.c) */
  GQueue               awaiting_receipts; /* AwaitingReceipt, oldest first */
};

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
  SECURE_CHANGED,
  PEER_TRUST_CHANGED,
  N_SIGNALS
};

extern GParamSpec *_kletsen_session_properties[N_PROPS];
extern guint _kletsen_session_signals[N_SIGNALS];

/* A name from the server, before it becomes a key, a row or a prefix. */
static inline gboolean
is_user_name (const char *name)
{
  return name != NULL && kletsen_user_name_is_valid (name);
}

static inline char *
fold (const char *name)
{
  return kletsen_user_name_key (name);
}

void
_kletsen_session_pending_free (Pending *p);

void
_kletsen_session_set_state (KletsenSession      *self,
                            KletsenSessionState  state);

void
_kletsen_session_set_last_error (KletsenSession *self,
                                 const char     *error);

/* The look-alike table is out of date (people or pins changed). */
void
_kletsen_session_forget_skeletons (KletsenSession *self);

/* kletsen-session-history.c */
void
_kletsen_session_open_history (KletsenSession *self);

void
_kletsen_session_add_system_line (KletsenSession *self,
                                  const char     *text);

void
_kletsen_session_send_line (KletsenSession *self,
                            const char     *header,
                            JsonObject     *body);

Pending *
_kletsen_session_send_request (KletsenSession *self,
                               const char     *header,
                               JsonObject     *body,
                               PendingKind     kind,
                               GTask          *task);

gboolean
_kletsen_session_check_online (KletsenSession *self,
                               GTask          *task);

gboolean
_kletsen_session_check_online_to_send (KletsenSession     *self,
                                       KletsenChatMessage *message,
                                       GTask              *task);

int
_kletsen_session_reply_code (JsonObject *body);

void
_kletsen_session_user_joined (KletsenSession *self,
                              const char     *name);

void
_kletsen_session_user_left (KletsenSession *self,
                            const char     *name);

void
_kletsen_session_users_listed (KletsenSession *self,
                               JsonArray      *names);

Pending *
_kletsen_session_seal_and_send (KletsenSession  *self,
                                const char      *peer,
                                const char      *public_key,
                                const char      *label,
                                const char      *text,
                                GTask           *task,
                                gint64          *counter,
                                char           **signature,
                                GError         **error);

/* kletsen-session-receipts.c */
void
_kletsen_session_await_receipt (KletsenSession     *self,
                                const char         *peer,
                                gint64              counter,
                                const char         *signature,
                                KletsenChatMessage *message);

void
_kletsen_session_send_receipt (KletsenSession *self,
                               const char     *peer,
                               const char     *peer_key,
                               gint64          counter,
                               const char     *signature);

void
_kletsen_session_receipt_arrived (KletsenSession *self,
                                  const char     *peer,
                                  const char     *text);

void
_kletsen_session_clear_receipts (KletsenSession *self);

void
_kletsen_session_fail_secure_queue (KletsenSession *self,
                                    const char     *key,
                                    GError         *error);

void
_kletsen_session_peer_key_arrived (KletsenSession *self,
                                   const char     *peer,
                                   const char     *public_key);

void
_kletsen_session_handle_secure_message (KletsenSession *self,
                                        JsonObject     *body);

void
_kletsen_session_run_side_channel (KletsenSession      *self,
                                   KletsenFileTransfer *transfer);

void
_kletsen_session_handle_offer_outcome (KletsenSession *self,
                                       JsonObject     *body);

void
_kletsen_session_handle_offer (KletsenSession *self,
                               JsonObject     *body);

void
_kletsen_session_handle_offer_ended (KletsenSession *self,
                                     JsonObject     *body);

void
_kletsen_session_handle_unsolicited (KletsenSession           *self,
                                     const KletsenMessageInfo *info,
                                     JsonObject               *body);

gboolean
_kletsen_session_line_cb (char     *line,
                          gsize     len,
                          gpointer  user_data);

void
_kletsen_session_connection_lost (KletsenSession *self,
                                  const char     *why);

void
_kletsen_session_send_secure (KletsenSession     *self,
                              const char         *peer,
                              KletsenChatMessage *message,
                              GTask              *task);

KletsenChatMessage *
_kletsen_session_append_mine (KletsenSession      *self,
                              KletsenConversation *conversation,
                              const char          *text,
                              gboolean             encrypted);

G_END_DECLS
