/* kletsen-body.h
 *
 * Copyright 2026 The Kletsen authors
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#pragma once

#include <json-glib/json-glib.h>

G_BEGIN_DECLS

/* Typed reads of a message body that another program wrote. Each returns
 * the value only when it has the expected JSON type, and otherwise NULL or
 * the fallback: never a critical, whatever the body holds. json-glib's own
 * getters warn (or return NULL where a string was promised) on a wrong
 * type, which a hostile peer would turn into a crash. */

const char *kletsen_body_get_string       (JsonObject *body,
                                           const char *name);
gboolean    kletsen_body_get_int          (JsonObject *body,
                                           const char *name,
                                           gint64     *value);
gint64      kletsen_body_get_int_or       (JsonObject *body,
                                           const char *name,
                                           gint64      fallback);
JsonArray  *kletsen_body_get_array        (JsonObject *body,
                                           const char *name);
const char *kletsen_array_get_string      (JsonArray  *array,
                                           guint       index);
JsonObject *kletsen_array_get_object      (JsonArray  *array,
                                           guint       index);

G_END_DECLS
