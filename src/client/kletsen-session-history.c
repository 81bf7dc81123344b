/* kletsen-session-history.c
 *
 * Copyright 2026 The Kletsen authors
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

/* The session's history: which database, when it opens, and the
 * conversations it brings back. */

#include "config.h"

#include "kletsen-session-private.h"

/* At most this many past private conversations come back at login. */
#define MAX_RESTORED 64

/* Every conversation shows what the history holds, or only what is in
 * memory when @history is NULL. */
static void
attach_all (KletsenSession *self)
{
  GListModel *conversations = G_LIST_MODEL (self->conversations);
  guint n = g_list_model_get_n_items (conversations);

  for (guint i = 0; i < n; i++)
    {
      g_autoptr(KletsenConversation) conversation = g_list_model_get_item (conversations, i);

      kletsen_conversation_set_history (conversation, self->history, self->username);
    }
}

/* Logged in: the server, port and name are known, so is the database. */
void
_kletsen_session_open_history (KletsenSession *self)
{
  g_autofree char *path = NULL;
  g_autoptr(GError) error = NULL;
  g_auto(GStrv) peers = NULL;

  if (!self->keep_history || self->host == NULL || self->username == NULL)
    return;
  path = kletsen_history_path_for (self->data_dir, self->host, self->port, self->username);
  if (self->history != NULL && g_str_equal (kletsen_history_get_path (self->history), path))
    return;
  g_clear_object (&self->history);
  self->history = kletsen_history_open (path, &error);
  if (self->history == NULL)
    {
      g_warning ("No history this time: %s", error->message);
      return;
    }
  /* Past conversations are listed again, the most recent first. */
  peers = kletsen_history_list_peers (self->history);
  for (guint i = 0; peers[i] != NULL && i < MAX_RESTORED; i++)
    if (kletsen_user_name_is_valid (peers[i]))
      kletsen_session_get_conversation (self, peers[i]);
  attach_all (self);
}

/**
 * kletsen_session_set_keep_history:
 *
 * Whether what is shown is kept in the history store (off by default).
 * Turned on while online, the conversations show what the store holds;
 * turned off, it is closed and the conversations keep what is in memory.
 */
void
kletsen_session_set_keep_history (KletsenSession *self,
                                  gboolean        keep)
{
  if (self->keep_history == !!keep)
    return;
  self->keep_history = !!keep;
  if (!keep)
    {
      g_clear_object (&self->history);
      attach_all (self);
    }
  else if (self->state == KLETSEN_SESSION_ONLINE)
    _kletsen_session_open_history (self);
}

gboolean
kletsen_session_get_keep_history (KletsenSession *self)
{
  return self->keep_history;
}

/**
 * kletsen_session_get_history:
 *
 * Returns: (transfer none) (nullable): the open history store, for search
 */
KletsenHistory *
kletsen_session_get_history (KletsenSession *self)
{
  return self->history;
}

/**
 * kletsen_session_clear_history:
 *
 * Deletes the whole history of this account on this server, on disk and
 * on screen.
 */
gboolean
kletsen_session_clear_history (KletsenSession  *self,
                               GError         **error)
{
  GListModel *conversations = G_LIST_MODEL (self->conversations);
  guint n = g_list_model_get_n_items (conversations);

  if (self->history != NULL && !kletsen_history_clear (self->history, error))
    return FALSE;
  for (guint i = 0; i < n; i++)
    {
      g_autoptr(KletsenConversation) conversation = g_list_model_get_item (conversations, i);

      kletsen_conversation_clear (conversation);
    }
  return TRUE;
}
