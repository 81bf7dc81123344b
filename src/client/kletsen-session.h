/* kletsen-session.h
 *
 * Copyright 2026 The Kletsen authors
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#pragma once

#include <gio/gio.h>

#include "kletsen-chat-message.h"
#include "kletsen-conversation.h"
#include "kletsen-file-transfer.h"
#include "kletsen-game-state.h"
#include "kletsen-user.h"

G_BEGIN_DECLS

typedef enum
{
  KLETSEN_SESSION_DISCONNECTED,
  KLETSEN_SESSION_CONNECTING,
  KLETSEN_SESSION_LOGGING_IN,
  KLETSEN_SESSION_ONLINE,
} KletsenSessionState;

GType kletsen_session_state_get_type (void) G_GNUC_CONST;
#define KLETSEN_TYPE_SESSION_STATE (kletsen_session_state_get_type ())

#define KLETSEN_SESSION_ERROR (kletsen_session_error_quark ())

typedef enum
{
  KLETSEN_SESSION_ERROR_OFFLINE,     /* not logged in; the request was not sent */
  KLETSEN_SESSION_ERROR_LOST,        /* the connection ended before the reply */
  KLETSEN_SESSION_ERROR_KEY_CHANGED, /* the peer's key changed; trust it first */
  KLETSEN_SESSION_ERROR_NO_KEY,      /* the peer did not send a key in time */
  KLETSEN_SESSION_ERROR_SERVER,      /* the server broke the protocol */
  KLETSEN_SESSION_ERROR_UNTRUSTED_CERTIFICATE, /* nobody vouches for it; see the fingerprint */
  KLETSEN_SESSION_ERROR_CERTIFICATE_CHANGED,   /* not the certificate trusted before */
  KLETSEN_SESSION_ERROR_NOT_SUPPORTED, /* the server answered UNKNOWN_COMMAND or PARSE_ERROR */
} KletsenSessionError;

GQuark kletsen_session_error_quark (void);

#define KLETSEN_TYPE_SESSION (kletsen_session_get_type ())

G_DECLARE_FINAL_TYPE (KletsenSession, kletsen_session, KLETSEN, SESSION, GObject)

KletsenSession      *kletsen_session_new                  (const char           *data_dir);

/* connection */
void                 kletsen_session_connect_async        (KletsenSession       *self,
                                                           const char           *host,
                                                           guint16               port,
                                                           const char           *username,
                                                           GCancellable         *cancellable,
                                                           GAsyncReadyCallback   callback,
                                                           gpointer              user_data);
gboolean             kletsen_session_connect_finish       (KletsenSession       *self,
                                                           GAsyncResult         *result,
                                                           GError              **error);
void                 kletsen_session_disconnect           (KletsenSession       *self);
void                 kletsen_session_reconnect_now        (KletsenSession       *self);
KletsenSessionState  kletsen_session_get_state            (KletsenSession       *self);
const char          *kletsen_session_get_username         (KletsenSession       *self);
const char          *kletsen_session_get_last_error       (KletsenSession       *self);
int                  kletsen_session_get_disconnect_reason (KletsenSession      *self);
void                 kletsen_session_set_file_port        (KletsenSession       *self,
                                                           guint16               port);
void                 kletsen_session_set_servers          (KletsenSession       *self,
                                                           const char * const   *servers);
char                *kletsen_session_get_server_address   (KletsenSession       *self);
void                 kletsen_session_set_tls              (KletsenSession       *self,
                                                           gboolean              use_tls,
                                                           GTlsDatabase         *database);
gboolean             kletsen_session_get_tls              (KletsenSession       *self);
const char          *kletsen_session_get_certificate_fingerprint (KletsenSession *self);
void                 kletsen_session_trust_certificate    (KletsenSession       *self);
void                 kletsen_session_set_heartbeat        (KletsenSession       *self,
                                                           guint                 ping_interval_ms,
                                                           guint                 pong_timeout_ms);
void                 kletsen_session_set_login_timeout    (KletsenSession       *self,
                                                           guint                 timeout_ms);

/* models */
GListModel          *kletsen_session_get_users            (KletsenSession       *self);
GListModel          *kletsen_session_get_people           (KletsenSession       *self);
gboolean             kletsen_session_is_online            (KletsenSession       *self,
                                                           const char           *name);
char                *kletsen_session_find_lookalike       (KletsenSession       *self,
                                                           const char           *name);
GListModel          *kletsen_session_get_conversations    (KletsenSession       *self);
KletsenConversation *kletsen_session_get_everyone         (KletsenSession       *self);
KletsenConversation *kletsen_session_get_conversation     (KletsenSession       *self,
                                                           const char           *peer);
KletsenConversation *kletsen_session_lookup_conversation  (KletsenSession       *self,
                                                           const char           *peer);
KletsenGameState    *kletsen_session_get_game             (KletsenSession       *self);
GListModel          *kletsen_session_get_transfers        (KletsenSession       *self);

/* requests: each completes with the server's answer, or its exact error code
 * in KLETSEN_PROTOCOL_ERROR */
void                 kletsen_session_broadcast_async      (KletsenSession       *self,
                                                           const char           *text,
                                                           GAsyncReadyCallback   callback,
                                                           gpointer              user_data);
void                 kletsen_session_send_private_async   (KletsenSession       *self,
                                                           const char           *peer,
                                                           const char           *text,
                                                           GAsyncReadyCallback   callback,
                                                           gpointer              user_data);
void                 kletsen_session_send_secure_async    (KletsenSession       *self,
                                                           const char           *peer,
                                                           const char           *text,
                                                           GAsyncReadyCallback   callback,
                                                           gpointer              user_data);
void                 kletsen_session_resend_async         (KletsenSession       *self,
                                                           KletsenConversation  *conversation,
                                                           KletsenChatMessage   *message,
                                                           GAsyncReadyCallback   callback,
                                                           gpointer              user_data);
void                 kletsen_session_list_users_async     (KletsenSession       *self,
                                                           GAsyncReadyCallback   callback,
                                                           gpointer              user_data);
GStrv                kletsen_session_list_users_finish    (KletsenSession       *self,
                                                           GAsyncResult         *result,
                                                           GError              **error);
void                 kletsen_session_start_game_async     (KletsenSession       *self,
                                                           GAsyncReadyCallback   callback,
                                                           gpointer              user_data);
void                 kletsen_session_join_game_async      (KletsenSession       *self,
                                                           GAsyncReadyCallback   callback,
                                                           gpointer              user_data);
void                 kletsen_session_guess_async          (KletsenSession       *self,
                                                           int                   number,
                                                           GAsyncReadyCallback   callback,
                                                           gpointer              user_data);
int                  kletsen_session_guess_finish         (KletsenSession       *self,
                                                           GAsyncResult         *result,
                                                           GError              **error);
gboolean             kletsen_session_request_finish       (KletsenSession       *self,
                                                           GAsyncResult         *result,
                                                           GError              **error);

/* files */
KletsenFileTransfer *kletsen_session_send_file            (KletsenSession       *self,
                                                           const char           *peer,
                                                           GFile                *file);
void                 kletsen_session_accept_file          (KletsenSession       *self,
                                                           KletsenFileTransfer  *transfer,
                                                           GFile                *folder);
void                 kletsen_session_reject_file          (KletsenSession       *self,
                                                           KletsenFileTransfer  *transfer);

/* history */
void                 kletsen_session_set_keep_history     (KletsenSession       *self,
                                                           gboolean              keep);
gboolean             kletsen_session_get_keep_history     (KletsenSession       *self);
KletsenHistory      *kletsen_session_get_history          (KletsenSession       *self);
gboolean             kletsen_session_clear_history        (KletsenSession       *self,
                                                           GError              **error);

/* keys */
void                 kletsen_session_fetch_peer_key_async (KletsenSession       *self,
                                                           const char           *peer,
                                                           GAsyncReadyCallback   callback,
                                                           gpointer              user_data);
const char          *kletsen_session_get_fingerprint      (KletsenSession       *self);
char                *kletsen_session_get_peer_fingerprint (KletsenSession       *self,
                                                           const char           *peer);
gboolean             kletsen_session_is_peer_blocked      (KletsenSession       *self,
                                                           const char           *peer);
char                *kletsen_session_get_pending_fingerprint (KletsenSession    *self,
                                                              const char        *peer);
gboolean             kletsen_session_trust_peer_key       (KletsenSession       *self,
                                                           const char           *peer,
                                                           const char           *fingerprint);
void                 kletsen_session_forget_peer_key      (KletsenSession       *self,
                                                           const char           *peer);
gboolean             kletsen_session_verify_peer          (KletsenSession       *self,
                                                           const char           *peer,
                                                           const char           *fingerprint);
void                 kletsen_session_unverify_peer        (KletsenSession       *self,
                                                           const char           *peer);
gboolean             kletsen_session_is_peer_verified     (KletsenSession       *self,
                                                           const char           *peer);
gboolean             kletsen_session_get_secure           (KletsenSession       *self,
                                                           const char           *peer);
void                 kletsen_session_set_secure           (KletsenSession       *self,
                                                           const char           *peer,
                                                           gboolean              secure);

G_END_DECLS
