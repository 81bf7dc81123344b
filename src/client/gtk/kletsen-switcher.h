/* kletsen-switcher.h
 *
 * Copyright 2026 The Kletsen authors
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#pragma once

#include <adwaita.h>

G_BEGIN_DECLS

#define KLETSEN_TYPE_SWITCHER (kletsen_switcher_get_type ())

/* The quick switcher (Ctrl+K): type part of a name, Enter opens that
 * conversation. Emits "chosen" with the person, or "" for Everyone. */
G_DECLARE_FINAL_TYPE (KletsenSwitcher, kletsen_switcher, KLETSEN, SWITCHER, AdwWindow)

KletsenSwitcher *kletsen_switcher_new        (GtkWindow       *parent,
                                              GListModel      *people,
                                              const char      *me);
void             kletsen_switcher_set_query  (KletsenSwitcher *self,
                                              const char      *query);
guint            kletsen_switcher_get_n_shown (KletsenSwitcher *self);
void             kletsen_switcher_choose_first (KletsenSwitcher *self);

G_END_DECLS
