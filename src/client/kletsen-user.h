/* kletsen-user.h
 *
 * Copyright 2026 The Kletsen authors
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#pragma once

#include <glib-object.h>

G_BEGIN_DECLS

#define KLETSEN_TYPE_USER (kletsen_user_get_type ())

/* One person, as an item of the session's list of people online, or of the
 * people the sidebar shows (online, or offline with a conversation). */
G_DECLARE_FINAL_TYPE (KletsenUser, kletsen_user, KLETSEN, USER, GObject)

KletsenUser *kletsen_user_new      (const char  *name);
const char  *kletsen_user_get_name (KletsenUser *self);
gboolean     kletsen_user_get_online (KletsenUser *self);
void         _kletsen_user_set_online (KletsenUser *self,
                                       gboolean     online);

G_END_DECLS
