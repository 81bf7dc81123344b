/* kletsen-conversation.h
 *
 * Copyright 2026 The Kletsen authors
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#pragma once

#include <gio/gio.h>

#include "kletsen-chat-message.h"
#include "kletsen-history.h"

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

/* history: the model as a window onto it */
void                 kletsen_conversation_set_history (KletsenConversation *self,
                                                       KletsenHistory      *history,
                                                       const char          *me);
KletsenHistory      *kletsen_conversation_get_history (KletsenConversation *self);
gboolean             kletsen_conversation_get_has_older (KletsenConversation *self);
gboolean             kletsen_conversation_get_at_latest (KletsenConversation *self);
guint                kletsen_conversation_load_older  (KletsenConversation *self);
guint                kletsen_conversation_load_newer  (KletsenConversation *self);
void                 kletsen_conversation_jump_to_latest (KletsenConversation *self);
int                  kletsen_conversation_show_message (KletsenConversation *self,
                                                        gint64               id);
void                 kletsen_conversation_clear       (KletsenConversation *self);
KletsenChatMessage  *kletsen_conversation_get_first_unread (KletsenConversation *self);
void                 kletsen_conversation_forget_first_unread (KletsenConversation *self);

G_END_DECLS
