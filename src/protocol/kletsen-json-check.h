/* kletsen-json-check.h
 *
 * Copyright 2026 The Kletsen authors
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* The deepest nesting of objects and arrays a message body may have. */
#define KLETSEN_JSON_MAX_DEPTH 32

gboolean kletsen_json_check_object (const char *text,
                                    gsize       len,
                                    guint       max_depth);

G_END_DECLS
