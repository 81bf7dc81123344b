/* kletsen-message-row.h
 *
 * Copyright 2026 The Kletsen authors
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#pragma once

#include <gtk/gtk.h>

#include "kletsen-chat-message.h"

G_BEGIN_DECLS

/* What a message row shows at most of a text: laying out more than this in
 * a wrapping label costs more than a frame (Pango's cost grows faster than
 * the text); the rest is one click away. */
#define KLETSEN_MESSAGE_PREVIEW_CHARS 2000
#define KLETSEN_MESSAGE_PREVIEW_LINES 40
/* A run of this many characters without a place to break is wrapped
 * anywhere, not at words. */
#define KLETSEN_MESSAGE_LONG_WORD 64

#define KLETSEN_TYPE_MESSAGE_ROW (kletsen_message_row_get_type ())

/* One item of a conversation: the sender, the time, the state of a message
 * of mine (with Retry), and the text, of which a huge one shows its start
 * and a Show All button. */
G_DECLARE_FINAL_TYPE (KletsenMessageRow, kletsen_message_row, KLETSEN, MESSAGE_ROW, GtkBox)

GtkWidget          *kletsen_message_row_new         (void);
void                kletsen_message_row_bind        (KletsenMessageRow  *self,
                                                     KletsenChatMessage *message);
void                kletsen_message_row_unbind      (KletsenMessageRow  *self);
void                kletsen_message_row_set_new_line (KletsenMessageRow *self,
                                                      gboolean           shown);
void                kletsen_message_row_set_found   (KletsenMessageRow  *self,
                                                     gboolean            found);
void                kletsen_message_row_set_context (KletsenMessageRow  *self,
                                                     gboolean            show_header,
                                                     const char         *day);
char               *kletsen_message_day_label       (GDateTime          *time);
char               *kletsen_message_markup          (const char         *text);
KletsenChatMessage *kletsen_message_row_get_message (KletsenMessageRow  *self);

char               *kletsen_message_preview         (const char         *text,
                                                     gboolean           *truncated,
                                                     gboolean           *long_words);

G_END_DECLS
