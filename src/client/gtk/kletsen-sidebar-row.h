/* kletsen-sidebar-row.h
 *
 * Copyright 2026 The Kletsen authors
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#pragma once

#include <gtk/gtk.h>

#include "kletsen-conversation.h"
#include "kletsen-user.h"

G_BEGIN_DECLS

#define KLETSEN_TYPE_SIDEBAR_ROW (kletsen_sidebar_row_get_type ())

/* One row of the sidebar: "Everyone", or a person with their unread count,
 * dimmed and marked "Offline" while they are not logged in. */
G_DECLARE_FINAL_TYPE (KletsenSidebarRow, kletsen_sidebar_row, KLETSEN, SIDEBAR_ROW, GtkListBoxRow)

GtkWidget  *kletsen_sidebar_row_new_everyone (KletsenConversation *room);
GtkWidget  *kletsen_sidebar_row_new_person   (KletsenUser         *person,
                                              KletsenConversation *conversation,
                                              gboolean             is_me);
void        kletsen_sidebar_row_set_lookalike (KletsenSidebarRow *self,
                                               const char        *other);
const char *kletsen_sidebar_row_get_peer     (KletsenSidebarRow   *self);

G_END_DECLS
