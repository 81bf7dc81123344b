/* kletsen-filename.h
 *
 * Copyright 2026 The Kletsen authors
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Characters that make a filename look like something it is not: Unicode
 * format characters (category Cf: bidirectional overrides such as U+202E,
 * zero-width spaces and joiners, the BOM), and the characters that look
 * like a slash or a backslash (U+2215, U+FF0F, …). The server refuses
 * offers that hold one (10003); the client drops or replaces them. */
gboolean kletsen_unichar_is_invisible      (gunichar c);
gboolean kletsen_unichar_is_slash_lookalike (gunichar c);

G_END_DECLS
