/* kletsen-connect-page.h
 *
 * Copyright 2026 The Kletsen authors
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#pragma once

#include <adwaita.h>

G_BEGIN_DECLS

#define KLETSEN_TYPE_CONNECT_PAGE (kletsen_connect_page_get_type ())

/* The connect screen's form: server, port, TLS and user name, filled from
 * the settings, with the TLS switch following the server typed (what was
 * chosen for it before, else on for any server but this machine), the
 * errors under the form, and the spinner while connecting. Its Connect
 * button and the Enter key activate win.connect. */
G_DECLARE_FINAL_TYPE (KletsenConnectPage, kletsen_connect_page, KLETSEN, CONNECT_PAGE, AdwBin)

void          kletsen_connect_page_load             (KletsenConnectPage *self);
gboolean      kletsen_connect_page_check            (KletsenConnectPage *self,
                                                     const char        **host,
                                                     guint16            *port,
                                                     const char        **username);
gboolean            kletsen_connect_page_was_secure (KletsenConnectPage *self,
                                                     const char         *host);
gboolean      kletsen_connect_page_get_secure       (KletsenConnectPage *self);
void          kletsen_connect_page_remember         (KletsenConnectPage *self,
                                                     const char         *username);
void          kletsen_connect_page_set_connecting   (KletsenConnectPage *self,
                                                     gboolean            connecting);
void          kletsen_connect_page_show_error       (KletsenConnectPage *self,
                                                     const char         *text);

/* The form's widgets, for the window's tests and screenshots. */
AdwEntryRow  *kletsen_connect_page_get_host_row     (KletsenConnectPage *self);
AdwEntryRow  *kletsen_connect_page_get_port_row     (KletsenConnectPage *self);
AdwEntryRow  *kletsen_connect_page_get_username_row (KletsenConnectPage *self);
GtkSwitch    *kletsen_connect_page_get_secure_switch (KletsenConnectPage *self);
GtkLabel     *kletsen_connect_page_get_error_label  (KletsenConnectPage *self);
GtkButton    *kletsen_connect_page_get_connect_button (KletsenConnectPage *self);
GtkSpinner   *kletsen_connect_page_get_spinner      (KletsenConnectPage *self);

G_END_DECLS
