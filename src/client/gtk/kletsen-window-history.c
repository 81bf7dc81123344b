/* kletsen-window-history.c
 *
 * Copyright 2026 The Kletsen authors
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

/* The window and the history: older pages as the timeline scrolls up,
 * the jump to the newest message, search over every conversation
 * (Ctrl+F), and Clear History. */

#include "config.h"

#include <adwaita.h>
#include <glib/gi18n.h>

#include "kletsen-message-row.h"
#include "kletsen-window-private.h"

#define MAX_RESULTS 50

/* ---- the timeline as a window onto the history ---- */

static gboolean
near_end (GtkAdjustment *adj)
{
  return gtk_adjustment_get_value (adj) + gtk_adjustment_get_page_size (adj) >=
         gtk_adjustment_get_upper (adj) - gtk_adjustment_get_page_size (adj) / 2;
}

void
_kletsen_window_update_jump_button (KletsenWindow *self)
{
  GtkAdjustment *adj = gtk_scrolled_window_get_vadjustment (self->message_scroller);
  gboolean away = self->conversation != NULL &&
                  (!kletsen_conversation_get_at_latest (self->conversation) || !near_end (adj));

  gtk_widget_set_visible (GTK_WIDGET (self->jump_button), away);
}

/* Pages are loaded outside of the scroll handler: the list view is in the
 * middle of its own layout there. */
static gboolean
load_pages_idle (gpointer user_data)
{
  KletsenWindow *self = user_data;
  GtkAdjustment *adj = gtk_scrolled_window_get_vadjustment (self->message_scroller);
  double page = gtk_adjustment_get_page_size (adj);

  self->load_pages_id = 0;
  if (self->conversation == NULL || page <= 0)
    return G_SOURCE_REMOVE;
  if (gtk_adjustment_get_value (adj) < page && kletsen_conversation_get_has_older (self->conversation))
    kletsen_conversation_load_older (self->conversation);
  else if (gtk_adjustment_get_value (adj) + 2 * page > gtk_adjustment_get_upper (adj))
    kletsen_conversation_load_newer (self->conversation);
  _kletsen_window_update_jump_button (self);
  return G_SOURCE_REMOVE;
}

static void
scrolled_cb (KletsenWindow *self)
{
  _kletsen_window_update_jump_button (self);
  if (self->load_pages_id == 0)
    self->load_pages_id = g_idle_add_full (G_PRIORITY_DEFAULT_IDLE, load_pages_idle, self, NULL);
}

void
_kletsen_window_jump_to_latest_action (GtkWidget  *widget,
                                       const char *action_name,
                                       GVariant   *parameter)
{
  KletsenWindow *self = KLETSEN_WINDOW (widget);

  if (self->conversation == NULL)
    return;
  kletsen_conversation_jump_to_latest (self->conversation);
  _kletsen_window_scroll_to_end (self);
}

/* ---- search ---- */

static GtkWidget *
result_row_new (KletsenHistoryHit *hit)
{
  KletsenChatMessage *m = hit->message;
  g_autofree char *when = g_date_time_format (kletsen_chat_message_get_time (m), "%x %H:%M");
  gboolean truncated, long_words;
  g_autofree char *preview = kletsen_message_preview (kletsen_chat_message_get_text (m), &truncated, &long_words);
  g_autofree char *title = NULL;
  g_autofree char *text = NULL;
  GtkWidget *row = adw_action_row_new ();

  /* TRANSLATORS: a search result's title: "conversation · when" */
  title = g_strdup_printf (_("%s · %s"), hit->peer ? hit->peer : _("Everyone"), when);
  /* TRANSLATORS: a search result's text: "who wrote it: what they wrote" */
  text = g_strdup_printf (_("%s: %s"), kletsen_chat_message_get_sender (m) ? kletsen_chat_message_get_sender (m) : "",
                          preview);
  /* What people wrote is never markup. */
  adw_preferences_row_set_use_markup (ADW_PREFERENCES_ROW (row), FALSE);
  adw_preferences_row_set_title (ADW_PREFERENCES_ROW (row), title);
  adw_action_row_set_subtitle (ADW_ACTION_ROW (row), text);
  adw_action_row_set_subtitle_lines (ADW_ACTION_ROW (row), 2);
  gtk_list_box_row_set_activatable (GTK_LIST_BOX_ROW (row), TRUE);
  g_object_set_data_full (G_OBJECT (row), "peer", g_strdup (hit->peer), g_free);
  g_object_set_data (G_OBJECT (row), "history-id", GSIZE_TO_POINTER ((gsize)kletsen_chat_message_get_history_id (m)));
  return row;
}

static void
clear_results (KletsenWindow *self)
{
  GtkListBoxRow *row;

  while ((row = gtk_list_box_get_row_at_index (self->search_results, 0)) != NULL)
    gtk_list_box_remove (self->search_results, GTK_WIDGET (row));
}

void
_kletsen_window_search_changed_cb (KletsenWindow  *self,
                                   GtkSearchEntry *entry)
{
  const char *query = gtk_editable_get_text (GTK_EDITABLE (entry));
  KletsenHistory *history = kletsen_session_get_history (self->session);
  g_autoptr(GPtrArray) hits = NULL;

  clear_results (self);
  if (*query == '\0')
    {
      gtk_stack_set_visible_child_name (self->sidebar_stack, "conversations");
      return;
    }
  gtk_stack_set_visible_child_name (self->sidebar_stack, "results");
  if (history == NULL)
    {
      adw_status_page_set_description (self->search_status,
                                       _("History is off: only what is kept can be searched. Turn it on in Preferences."));
      return;
    }
  adw_status_page_set_description (self->search_status, NULL);
  hits = kletsen_history_search (history, query, MAX_RESULTS);
  for (guint i = 0; i < hits->len; i++)
    gtk_list_box_append (self->search_results, result_row_new (hits->pdata[i]));
}

/* Enter: the newest result. */
void
_kletsen_window_search_activate_cb (KletsenWindow *self)
{
  GtkListBoxRow *first = gtk_list_box_get_row_at_index (self->search_results, 0);

  if (first != NULL)
    _kletsen_window_search_result_activated_cb (self, first);
}

void
_kletsen_window_search_stop_cb (KletsenWindow *self)
{
  gtk_search_bar_set_search_mode (self->search_bar, FALSE);
  gtk_editable_set_text (GTK_EDITABLE (self->search_entry), "");
}

/* Marks the row of the message found if it is bound already (a message
 * that was in the model before the search); rows bound later are marked
 * by the factory. */
static void
mark_bound_row (GtkWidget *widget,
                gint64     id)
{
  if (KLETSEN_IS_MESSAGE_ROW (widget))
    {
      KletsenChatMessage *message = kletsen_message_row_get_message (KLETSEN_MESSAGE_ROW (widget));

      kletsen_message_row_set_found (KLETSEN_MESSAGE_ROW (widget),
                                     message != NULL && kletsen_chat_message_get_history_id (message) == id);
      return;
    }
  for (GtkWidget *child = gtk_widget_get_first_child (widget); child; child = gtk_widget_get_next_sibling (child))
    mark_bound_row (child, id);
}

/* Opens the conversation at the message found. */
void
_kletsen_window_search_result_activated_cb (KletsenWindow *self,
                                            GtkListBoxRow *row)
{
  const char *peer = g_object_get_data (G_OBJECT (row), "peer");
  gint64 id = (gint64)GPOINTER_TO_SIZE (g_object_get_data (G_OBJECT (row), "history-id"));
  int position;

  if (id == 0)
    return;
  _kletsen_window_show_conversation (self, peer);
  /* Marked, so the eye finds it: before the page is loaded, whose rows
   * may be bound at once. */
  self->found_id = id;
  position = kletsen_conversation_show_message (self->conversation, id);
  /* Instead of the end, where showing a conversation scrolls to. */
  if (position >= 0)
    self->scroll_target = position;
  else
    self->found_id = 0;
  mark_bound_row (GTK_WIDGET (self->message_list), self->found_id);
}

void
_kletsen_window_search_action (GtkWidget  *widget,
                               const char *action_name,
                               GVariant   *parameter)
{
  KletsenWindow *self = KLETSEN_WINDOW (widget);

  adw_leaflet_navigate (self->leaflet, ADW_NAVIGATION_DIRECTION_BACK);
  gtk_search_bar_set_search_mode (self->search_bar, TRUE);
  gtk_widget_grab_focus (GTK_WIDGET (self->search_entry));
}

/* ---- keeping and clearing ---- */

/* Preferences asked the user first. */
void
_kletsen_window_clear_history_action (GtkWidget  *widget,
                                      const char *action_name,
                                      GVariant   *parameter)
{
  KletsenWindow *self = KLETSEN_WINDOW (widget);
  g_autoptr(GError) error = NULL;

  if (!kletsen_session_clear_history (self->session, &error))
    {
      g_autofree char *text = g_strdup_printf (_("The history could not be cleared: %s"), error->message);

      _kletsen_window_toast (self, text);
      return;
    }
  clear_results (self);
  _kletsen_window_toast (self, _("History cleared"));
}

static void
keep_history_changed_cb (KletsenWindow *self)
{
  kletsen_session_set_keep_history (self->session, g_settings_get_boolean (self->settings, "keep-history"));
}

/* Once the window has its session and settings. */
void
_kletsen_window_history_init (KletsenWindow *self)
{
  g_signal_connect_object (gtk_scrolled_window_get_vadjustment (self->message_scroller), "value-changed",
                           G_CALLBACK (scrolled_cb), self, G_CONNECT_SWAPPED);
  g_signal_connect_object (gtk_scrolled_window_get_vadjustment (self->message_scroller), "changed",
                           G_CALLBACK (_kletsen_window_update_jump_button), self, G_CONNECT_SWAPPED);
  g_signal_connect_object (self->settings, "changed::keep-history", G_CALLBACK (keep_history_changed_cb), self,
                           G_CONNECT_SWAPPED);
  keep_history_changed_cb (self);
  gtk_search_bar_set_key_capture_widget (self->search_bar, NULL);
  gtk_search_bar_connect_entry (self->search_bar, GTK_EDITABLE (self->search_entry));
}
