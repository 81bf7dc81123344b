/* kletsen-chat-message.h
 *
 * Copyright 2026 The Kletsen authors
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#pragma once

#include <glib-object.h>

#include "kletsen-file-transfer.h"

G_BEGIN_DECLS

typedef enum
{
  KLETSEN_MESSAGE_KIND_TEXT,   /* something a person wrote */
  KLETSEN_MESSAGE_KIND_SYSTEM, /* a join, a leave, a game event */
  KLETSEN_MESSAGE_KIND_ERROR,  /* something that went wrong, such as a message that did not decrypt */
  KLETSEN_MESSAGE_KIND_FILE,   /* a file offered or sent; its text is the file name */
} KletsenMessageKind;

typedef enum
{
  KLETSEN_MESSAGE_STATE_RECEIVED,
  KLETSEN_MESSAGE_STATE_SENDING,
  KLETSEN_MESSAGE_STATE_SENT,
  KLETSEN_MESSAGE_STATE_DELIVERED, /* the peer's signed receipt came (encrypted messages only) */
  KLETSEN_MESSAGE_STATE_FAILED,
} KletsenMessageState;

GType kletsen_message_kind_get_type (void) G_GNUC_CONST;
GType kletsen_message_state_get_type (void) G_GNUC_CONST;
#define KLETSEN_TYPE_MESSAGE_KIND (kletsen_message_kind_get_type ())
#define KLETSEN_TYPE_MESSAGE_STATE (kletsen_message_state_get_type ())

#define KLETSEN_TYPE_CHAT_MESSAGE (kletsen_chat_message_get_type ())

G_DECLARE_FINAL_TYPE (KletsenChatMessage, kletsen_chat_message, KLETSEN, CHAT_MESSAGE, GObject)

KletsenChatMessage  *kletsen_chat_message_new            (KletsenMessageKind   kind,
                                                          const char          *sender,
                                                          const char          *text,
                                                          KletsenMessageState  state,
                                                          gboolean             encrypted);
KletsenChatMessage  *kletsen_chat_message_new_at         (KletsenMessageKind   kind,
                                                          const char          *sender,
                                                          const char          *text,
                                                          KletsenMessageState  state,
                                                          gboolean             encrypted,
                                                          gint64               unix_us);
KletsenChatMessage  *kletsen_chat_message_new_file       (const char          *sender,
                                                          KletsenFileTransfer *transfer);
KletsenFileTransfer *kletsen_chat_message_get_transfer   (KletsenChatMessage  *self);
KletsenMessageKind   kletsen_chat_message_get_kind       (KletsenChatMessage  *self);
const char          *kletsen_chat_message_get_sender     (KletsenChatMessage  *self);
const char          *kletsen_chat_message_get_text       (KletsenChatMessage  *self);
GDateTime           *kletsen_chat_message_get_time       (KletsenChatMessage  *self);
gboolean             kletsen_chat_message_get_encrypted  (KletsenChatMessage  *self);
KletsenMessageState  kletsen_chat_message_get_state      (KletsenChatMessage  *self);
int                  kletsen_chat_message_get_error_code (KletsenChatMessage  *self);
void                 kletsen_chat_message_set_state      (KletsenChatMessage  *self,
                                                          KletsenMessageState  state,
                                                          int                  error_code);

gboolean             kletsen_chat_message_get_verified   (KletsenChatMessage  *self);
void                 kletsen_chat_message_set_verified   (KletsenChatMessage  *self,
                                                          gboolean             verified);
gint64               kletsen_chat_message_get_history_id (KletsenChatMessage  *self);
void                 kletsen_chat_message_set_history_id (KletsenChatMessage  *self,
                                                          gint64               id);

gboolean             kletsen_chat_message_get_mentions_me (KletsenChatMessage *self);
void                 kletsen_chat_message_set_mentions_me (KletsenChatMessage *self,
                                                           gboolean            mentions);
gboolean             kletsen_text_mentions               (const char          *text,
                                                          const char          *name);

G_END_DECLS
