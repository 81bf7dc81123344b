/* kletsen-people.h
 *
 * Copyright 2026 The Kletsen authors
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#pragma once

#include <gio/gio.h>

#include "kletsen-user.h"

G_BEGIN_DECLS

/* Who is online, and who the sidebar lists: the people online, and those
 * who left but with whom there is a conversation to read. Both lists are
 * sorted by name and share their KletsenUser items, so that a person who
 * leaves and comes back is one row that goes dim and bright again. Names
 * are looked up by their folded key, so a flood of JOINED or LEFT costs
 * O(log n) or O(n) per line, never a scan per name per line. */
typedef struct _KletsenPeople KletsenPeople;

/* Whether @name should stay listed while offline (has a conversation). */
typedef gboolean (*KletsenPeopleKeepFunc) (const char *name,
                                           gpointer    user_data);

KletsenPeople *kletsen_people_new          (KletsenPeopleKeepFunc  keep,
                                            gpointer               user_data);
void           kletsen_people_free         (KletsenPeople         *self);
GListModel    *kletsen_people_get_online   (KletsenPeople         *self);
GListModel    *kletsen_people_get_listed   (KletsenPeople         *self);
gboolean       kletsen_people_is_online    (KletsenPeople         *self,
                                            const char            *name);
guint          kletsen_people_count_online (KletsenPeople         *self);
void           kletsen_people_joined       (KletsenPeople         *self,
                                            const char            *name);
void           kletsen_people_left         (KletsenPeople         *self,
                                            const char            *name);
void           kletsen_people_set_online   (KletsenPeople         *self,
                                            const char * const    *names,
                                            guint                  n_names);
void           kletsen_people_all_offline  (KletsenPeople         *self);
void           kletsen_people_remember     (KletsenPeople         *self,
                                            const char            *name);
void           kletsen_people_forget       (KletsenPeople         *self,
                                            const char            *name);

G_END_DECLS
