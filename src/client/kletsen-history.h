/* kletsen-history.h
 *
 * Copyright 2026 The Kletsen authors
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#pragma once

#include <gio/gio.h>

#include "kletsen-chat-message.h"

G_BEGIN_DECLS

#define KLETSEN_HISTORY_ERROR (kletsen_history_error_quark ())

typedef enum
{
  KLETSEN_HISTORY_ERROR_DATABASE, /* SQLite said no; the message says why */
  KLETSEN_HISTORY_ERROR_TOO_NEW,  /* written by a newer Kletsen; left as it is */
} KletsenHistoryError;

GQuark kletsen_history_error_quark (void);

/* One search result: which conversation (NULL for Everyone) and the message. */
typedef struct
{
  char               *peer;
  KletsenChatMessage *message;
} KletsenHistoryHit;

void kletsen_history_hit_free (KletsenHistoryHit *hit);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (KletsenHistoryHit, kletsen_history_hit_free)

#define KLETSEN_TYPE_HISTORY (kletsen_history_get_type ())

/* The messages of one account on one server, in an SQLite database of
 * its own. A conversation is named by its peer; Everyone is NULL. */
G_DECLARE_FINAL_TYPE (KletsenHistory, kletsen_history, KLETSEN, HISTORY, GObject)

#define KLETSEN_HISTORY_SCHEMA_VERSION 2

char           *kletsen_history_path_for      (const char          *data_dir,
                                               const char          *host,
                                               guint16              port,
                                               const char          *username);
KletsenHistory *kletsen_history_open          (const char          *path,
                                               GError             **error);
const char     *kletsen_history_get_path      (KletsenHistory      *self);
gboolean        kletsen_history_add           (KletsenHistory      *self,
                                               const char          *peer,
                                               KletsenChatMessage  *message,
                                               GError             **error);
gboolean        kletsen_history_update_state  (KletsenHistory      *self,
                                               KletsenChatMessage  *message,
                                               GError             **error);
GPtrArray      *kletsen_history_load_before   (KletsenHistory      *self,
                                               const char          *peer,
                                               gint64               before_id,
                                               guint                limit);
GPtrArray      *kletsen_history_load_after    (KletsenHistory      *self,
                                               const char          *peer,
                                               gint64               after_id,
                                               guint                limit);
gint64          kletsen_history_get_newest_id (KletsenHistory      *self,
                                               const char          *peer);
guint           kletsen_history_count_after   (KletsenHistory      *self,
                                               const char          *peer,
                                               gint64               after_id,
                                               const char          *not_from);
GStrv           kletsen_history_list_peers    (KletsenHistory      *self);
GPtrArray      *kletsen_history_search        (KletsenHistory      *self,
                                               const char          *query,
                                               guint                limit);
gint64          kletsen_history_get_last_read (KletsenHistory      *self,
                                               const char          *peer);
void            kletsen_history_set_last_read (KletsenHistory      *self,
                                               const char          *peer,
                                               gint64               id);
gboolean        kletsen_history_clear         (KletsenHistory      *self,
                                               GError             **error);

G_END_DECLS
