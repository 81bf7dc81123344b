/* kletsen-window-private.h
 *
 * Copyright 2026 The Kletsen authors
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#pragma once

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
  GtkBox               *content;
  AdwWindowTitle       *conversation_title;
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
  GtkButton            *attach_button;
  GtkEntry             *message_entry;
  GtkButton            *send_button;

  /* owned */
  KletsenSession       *session;
  GSettings            *settings;
  GtkFlattenListModel  *sidebar_model;
  KletsenConversation  *conversation; /* the one shown */
  GHashTable           *secure_peers; /* folded names with the lock on */
  GtkWidget            *open_dialog;  /* the dialog on screen, if any; weak */
  GHashTable           *drafts;       /* folded peer ("" for everyone) → unsent text */
  GQueue                offers;       /* KletsenFileTransfer waiting for their dialog */
  KletsenFileTransfer  *offer_shown;  /* the offer whose dialog is on screen */
  GtkWidget            *offer_dialog; /* weak */
  AdwToast             *invite_toast; /* the game invitation on screen; weak */
  guint                 invite_tick_id;

  /* state */
  gulong                conversation_items_id;
  gboolean              connecting;
  gboolean              secure_chosen; /* the user set the switch: stop guessing from the host */
  gboolean              loading;
};

void _kletsen_window_show_conversation (KletsenWindow *self,
                                        const char    *peer);
void _kletsen_window_accept_offer      (KletsenWindow       *self,
                                        KletsenFileTransfer *transfer,
                                        GFile               *folder);

G_END_DECLS
