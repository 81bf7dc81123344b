/* kletsen-preferences-window.h
 *
 * Copyright 2026 The Kletsen authors
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#pragma once

#include <adwaita.h>

G_BEGIN_DECLS

#define KLETSEN_TYPE_PREFERENCES_WINDOW (kletsen_preferences_window_get_type ())

G_DECLARE_FINAL_TYPE (KletsenPreferencesWindow, kletsen_preferences_window, KLETSEN, PREFERENCES_WINDOW, AdwPreferencesWindow)

GtkWidget *kletsen_preferences_window_new (GtkWindow *parent);

G_END_DECLS
