/* kletsen-window.h
 *
 * Copyright 2026 The Kletsen authors
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#pragma once

#include <adwaita.h>

#include "kletsen-session.h"

G_BEGIN_DECLS

#define KLETSEN_TYPE_WINDOW (kletsen_window_get_type ())

G_DECLARE_FINAL_TYPE (KletsenWindow, kletsen_window, KLETSEN, WINDOW, AdwApplicationWindow)

KletsenWindow  *kletsen_window_new         (GtkApplication *application,
                                            KletsenSession *session);
KletsenSession *kletsen_window_get_session (KletsenWindow  *self);
gboolean        kletsen_window_auto_connect (KletsenWindow *self);
void            kletsen_window_open_conversation (KletsenWindow *self,
                                                  const char    *peer);

G_END_DECLS
