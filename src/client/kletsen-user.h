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

/* One person online, as an item of the session's user list. */
G_DECLARE_FINAL_TYPE (KletsenUser, kletsen_user, KLETSEN, USER, GObject)

KletsenUser *kletsen_user_new      (const char  *name);
const char  *kletsen_user_get_name (KletsenUser *self);

G_END_DECLS
