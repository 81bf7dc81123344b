/* kletsen-conversation.h
 *
 * Copyright 2026 The Kletsen authors
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#pragma once

#include <gio/gio.h>

#include "kletsen-chat-message.h"

G_BEGIN_DECLS

#define KLETSEN_TYPE_CONVERSATION (kletsen_conversation_get_type ())

/* A list of KletsenChatMessage: "Everyone" (peer NULL), or the private
 * conversation with one peer. It is itself the GListModel of its messages. */
G_DECLARE_FINAL_TYPE (KletsenConversation, kletsen_conversation, KLETSEN, CONVERSATION, GObject)

KletsenConversation *kletsen_conversation_new        (const char          *peer);
const char          *kletsen_conversation_get_peer   (KletsenConversation *self);
guint                kletsen_conversation_get_unread (KletsenConversation *self);
void                 kletsen_conversation_mark_read  (KletsenConversation *self);
gint64               kletsen_conversation_get_last_active (KletsenConversation *self);
void                 kletsen_conversation_append     (KletsenConversation *self,
                                                      KletsenChatMessage  *message,
                                                      gboolean             unread);

G_END_DECLS
