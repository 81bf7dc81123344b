/* kletsen-window-private.h
 *
 * Copyright 2026 The Kletsen authors
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#pragma once

#include "kletsen-composer.h"
#include "kletsen-connect-page.h"
#include "kletsen-game-panel.h"
#include "kletsen-window.h"

G_BEGIN_DECLS

/* The window's insides, for the UI tests and the screenshot tool. */
struct _KletsenWindow
{
  AdwApplicationWindow  parent_instance;

  /* template widgets */
  AdwToastOverlay      *toast_overlay;
  GtkStack             *main_stack;
  KletsenConnectPage   *connect_page;
  /* the connect page's form, for the tests and the screenshots */
  AdwEntryRow          *host_row;
  AdwEntryRow          *port_row;
  AdwEntryRow          *username_row;
  GtkSwitch            *secure_switch;
  GtkLabel             *connect_error;
  GtkButton            *connect_button;
  GtkSpinner           *connect_spinner;
  AdwLeaflet           *leaflet;
  GtkBox               *sidebar;
  AdwWindowTitle       *sidebar_title;
  GtkRevealer          *offline_revealer;
  GtkLabel             *offline_label;
  GtkListBox           *sidebar_list;
  GtkSearchBar         *search_bar;
  GtkSearchEntry       *search_entry;
  GtkStack             *sidebar_stack;
  GtkListBox           *search_results;
  AdwStatusPage        *search_status;
  GtkBox               *content;
  AdwWindowTitle       *conversation_title;
  GtkRevealer          *drop_hint;
  GtkLabel             *drop_hint_label;
  GtkRevealer          *connection_banner;
  GtkLabel             *connection_banner_label;
  GtkMenuButton        *transfers_button;
  GtkStack             *transfers_stack;
  GtkListBox           *transfers_list;
  GtkButton            *fingerprint_button;
  GtkToggleButton      *secure_toggle;
  GtkRevealer          *game_revealer;
  KletsenGamePanel     *game_panel;
  GtkScrolledWindow    *message_scroller;
  GtkListView          *message_list;
  GtkButton            *jump_button;
  GtkButton            *attach_button;
  KletsenComposer      *composer;
  GtkButton            *send_button;

  /* owned */
  KletsenSession       *session;
  GSettings            *settings;
  GtkFlattenListModel  *sidebar_model;
  KletsenConversation  *conversation; /* the one shown */
  GtkWidget            *open_dialog;  /* the dialog on screen, if any; weak */
  GHashTable           *drafts;       /* folded peer ("" for everyone) → unsent text */
  GHashTable           *notifications; /* id → GNotification sent and not withdrawn (kletsen-window-notify.c) */
  GHashTable           *key_dialogs;  /* folded peer → its key-change dialog on screen (borrowed) */
  AdwToast             *invite_toast; /* the game invitation on screen; weak */
  guint                 invite_tick_id;

  /* state */
  gulong                conversation_items_id;
  guint                 load_pages_id;
  int                   scroll_target; /* the message to scroll to instead of the end, or -1 */
  gint64                found_id;      /* history id of the message a search led to, or 0 */
  gboolean              connecting;
  gboolean              connect_cancelled;
  gboolean              insecure_confirmed; /* clear text to a server once reached over TLS, asked and agreed */
  gboolean              showing_secure; /* the toggle follows the session, not the user */
};

void _kletsen_window_show_conversation (KletsenWindow *self,
                                        const char    *peer);
void _kletsen_window_accept_offer      (KletsenWindow       *self,
                                        KletsenFileTransfer *transfer,
                                        GFile               *folder);

/* Shared by the window's files. */

static inline char *
fold (const char *name)
{
  return g_ascii_strdown (name, -1);
}

const char *
_kletsen_window_current_peer (KletsenWindow *self);

void
_kletsen_window_toast (KletsenWindow *self,
                       const char    *text);

/* kletsen-window-notify.c */
void _kletsen_window_notify_unread         (KletsenWindow       *self,
                                            KletsenConversation *conversation);
void _kletsen_window_notify_offer          (KletsenWindow       *self,
                                            KletsenFileTransfer *transfer);
void _kletsen_window_notify_game           (KletsenWindow       *self,
                                            const char          *text);
void _kletsen_window_withdraw_notification (KletsenWindow       *self,
                                            const char          *id);
void _kletsen_window_switch_action         (GtkWidget           *widget,
                                            const char          *action_name,
                                            GVariant            *parameter);

void
_kletsen_window_track_dialog (KletsenWindow *self,
                              GtkWidget     *dialog);

void
_kletsen_window_scroll_to_end (KletsenWindow *self);

void _kletsen_window_cancel_connect_action (GtkWidget  *widget,
                                            const char *action_name,
                                            GVariant   *parameter);

/* kletsen-window-files.c: answering an offer (parameter: its transfer id) */
void _kletsen_window_accept_offer_action  (GtkWidget  *widget,
                                           const char *action_name,
                                           GVariant   *parameter);
void _kletsen_window_save_offer_in_action (GtkWidget  *widget,
                                           const char *action_name,
                                           GVariant   *parameter);
void _kletsen_window_decline_offer_action (GtkWidget  *widget,
                                           const char *action_name,
                                           GVariant   *parameter);

/* kletsen-window-history.c */
void _kletsen_window_history_init              (KletsenWindow  *self);
void _kletsen_window_update_jump_button        (KletsenWindow  *self);
void _kletsen_window_search_changed_cb         (KletsenWindow  *self,
                                                GtkSearchEntry *entry);
void _kletsen_window_search_activate_cb        (KletsenWindow  *self);
void _kletsen_window_search_stop_cb            (KletsenWindow  *self);
void _kletsen_window_search_result_activated_cb (KletsenWindow *self,
                                                 GtkListBoxRow *row);
void _kletsen_window_search_action             (GtkWidget      *widget,
                                                const char     *action_name,
                                                GVariant       *parameter);
void _kletsen_window_jump_to_latest_action     (GtkWidget      *widget,
                                                const char     *action_name,
                                                GVariant       *parameter);
void _kletsen_window_clear_history_action      (GtkWidget      *widget,
                                                const char     *action_name,
                                                GVariant       *parameter);

void
_kletsen_window_message_entry_changed_cb (KletsenWindow *self);

void
_kletsen_window_send_action (GtkWidget  *widget,
                             const char *action_name,
                             GVariant   *parameter);

void
_kletsen_window_message_entry_activate_cb (KletsenWindow *self);

void
_kletsen_window_files_pasted_cb (KletsenWindow *self,
                                 GListModel    *files);

GtkWidget *
_kletsen_window_create_transfer_row (gpointer item,
                                     gpointer user_data);

void
_kletsen_window_transfers_changed_cb (KletsenWindow *self);

void
_kletsen_window_file_offered_cb (KletsenWindow       *self,
                                 KletsenFileTransfer *transfer);

void
_kletsen_window_drag_hover_cb (KletsenWindow *self,
                               GParamSpec    *pspec,
                               GtkDropTarget *target);

gboolean
_kletsen_window_drop_cb (GtkDropTarget *target,
                         const GValue  *value,
                         double         x,
                         double         y,
                         KletsenWindow *self);

void
_kletsen_window_send_files_action (GtkWidget  *widget,
                                   const char *action_name,
                                   GVariant   *parameter);

void
_kletsen_window_show_fingerprints_action (GtkWidget  *widget,
                                          const char *action_name,
                                          GVariant   *parameter);

void
_kletsen_window_peer_key_changed_cb (KletsenWindow *self,
                                     const char    *peer,
                                     const char    *old_fingerprint,
                                     const char    *new_fingerprint);

void
_kletsen_window_game_phase_cb (KletsenWindow *self);

void
_kletsen_window_start_game_action (GtkWidget  *widget,
                                   const char *action_name,
                                   GVariant   *parameter);

void
_kletsen_window_join_game_action (GtkWidget  *widget,
                                  const char *action_name,
                                  GVariant   *parameter);

void
_kletsen_window_panel_guess_cb (KletsenWindow *self,
                                int            number);

void
_kletsen_window_panel_close_cb (KletsenWindow *self);

void
_kletsen_window_connect_action (GtkWidget  *widget,
                                const char *action_name,
                                GVariant   *parameter);

void
_kletsen_window_log_out_action (GtkWidget  *widget,
                                const char *action_name,
                                GVariant   *parameter);

void
_kletsen_window_back_action (GtkWidget  *widget,
                             const char *action_name,
                             GVariant   *parameter);

void
_kletsen_window_reconnect_action (GtkWidget  *widget,
                                  const char *action_name,
                                  GVariant   *parameter);

G_END_DECLS
