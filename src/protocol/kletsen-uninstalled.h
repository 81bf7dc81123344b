/* kletsen-uninstalled.h
 *
 * Copyright 2026 The Kletsen authors
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* A program run from its build tree finds what the build made there, with
 * no environment to set: its translations, and the settings schema. */
gboolean     kletsen_running_uninstalled (void);
const char  *kletsen_locale_dir          (void);

G_END_DECLS
