/* kletsen-composer.h
 *
 * Copyright 2026 The Kletsen authors
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#pragma once

#include <gtk/gtk.h>

G_BEGIN_DECLS

#define KLETSEN_TYPE_COMPOSER (kletsen_composer_get_type ())

/* Where a message is written: several lines (Enter sends, Shift+Enter
 * starts a new line), an emoji button, and files or images pasted from
 * the clipboard. Signals: "send" (Enter), "changed" (the text),
 * "files-pasted" (a GListModel of GFile). */
G_DECLARE_FINAL_TYPE (KletsenComposer, kletsen_composer, KLETSEN, COMPOSER, GtkWidget)

char        *kletsen_composer_get_text  (KletsenComposer *self);
void         kletsen_composer_set_text  (KletsenComposer *self,
                                         const char      *text);
gboolean     kletsen_composer_is_blank  (KletsenComposer *self);
GtkTextView *kletsen_composer_get_view  (KletsenComposer *self);
gboolean     kletsen_composer_key_sends (guint           keyval,
                                         GdkModifierType state);

G_END_DECLS
