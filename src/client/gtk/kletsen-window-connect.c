/* kletsen-window-connect.c
 *
 * Copyright 2026 The Kletsen authors
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

/* The connect screen: the form, TLS and the certificate nobody vouches for,
 * what is remembered per server, and the errors shown under the form. */

#include "config.h"

#include <glib/gi18n.h>
#include <stdlib.h>

#include "kletsen-message-row.h"
#include "kletsen-protocol.h"
#include "kletsen-sidebar-row.h"
#include "kletsen-window-private.h"

static void
set_connecting (KletsenWindow *self,
                gboolean       connecting);

static void
show_connect_error (KletsenWindow *self,
                    const char    *text);

static void
trust_response_cb (AdwMessageDialog *dialog,
                   const char       *response,
                   KletsenWindow    *self);

static void
ask_to_trust (KletsenWindow *self);

static void
connected_cb (GObject      *object,
              GAsyncResult *result,
              gpointer      user_data);

static gboolean
is_loopback (const char *host);

static gboolean
secure_default (KletsenWindow *self,
                const char    *host);

static void
remember_secure (KletsenWindow *self);

/* ---- connecting ---- */

static void
set_connecting (KletsenWindow *self,
                gboolean       connecting)
{
  self->connecting = connecting;
  gtk_widget_set_visible (GTK_WIDGET (self->connect_spinner), connecting);
  gtk_spinner_set_spinning (self->connect_spinner, connecting);
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "win.connect", !connecting);
}

static void
show_connect_error (KletsenWindow *self,
                    const char    *text)
{
  gtk_label_set_text (self->connect_error, text ? text : "");
  gtk_widget_set_visible (GTK_WIDGET (self->connect_error), text != NULL);
}

static void
trust_response_cb (AdwMessageDialog *dialog,
                   const char       *response,
                   KletsenWindow    *self)
{
  if (!g_str_equal (response, "trust"))
    return;
  kletsen_session_trust_certificate (self->session);
  _kletsen_window_connect_action (GTK_WIDGET (self), "win.connect", NULL);
}

/* The server's certificate is one nobody vouches for: show its fingerprint
 * and let the user trust it for this server (pinned), or not. */
static void
ask_to_trust (KletsenWindow *self)
{
  g_autofree char *body = g_strdup_printf (_("Nobody vouches for the certificate of %s, so Kletsen cannot tell "
                                             "whether you are talking to the real server.\n\n"
                                             "Its fingerprint is:\n%s\n\n"
                                             "Compare it with the fingerprint the server’s administrator gives you. "
                                             "If they match, trust it: Kletsen will remember it for this server and "
                                             "refuse to connect if it ever changes."),
                                           gtk_editable_get_text (GTK_EDITABLE (self->host_row)),
                                           kletsen_session_get_certificate_fingerprint (self->session));
  GtkWidget *dialog = adw_message_dialog_new (GTK_WINDOW (self), _("Unknown Certificate"), body);

  adw_message_dialog_add_responses (ADW_MESSAGE_DIALOG (dialog),
                                    "cancel", _("_Cancel"),
                                    "trust", _("_Trust and Connect"),
                                    NULL);
  adw_message_dialog_set_default_response (ADW_MESSAGE_DIALOG (dialog), "cancel");
  adw_message_dialog_set_close_response (ADW_MESSAGE_DIALOG (dialog), "cancel");
  g_signal_connect_object (dialog, "response", G_CALLBACK (trust_response_cb), self, 0);
  _kletsen_window_track_dialog (self, dialog);
  gtk_window_present (GTK_WINDOW (dialog));
}

static void
connected_cb (GObject      *object,
              GAsyncResult *result,
              gpointer      user_data)
{
  g_autoptr(KletsenWindow) self = user_data;
  g_autoptr(GError) error = NULL;

  set_connecting (self, FALSE);
  if (!kletsen_session_connect_finish (KLETSEN_SESSION (object), result, &error))
    {
      if (g_error_matches (error, KLETSEN_SESSION_ERROR, KLETSEN_SESSION_ERROR_UNTRUSTED_CERTIFICATE))
        ask_to_trust (self);
      else if (g_error_matches (error, KLETSEN_SESSION_ERROR, KLETSEN_SESSION_ERROR_CERTIFICATE_CHANGED))
        show_connect_error (self, error->message);
      else if (g_error_matches (error, KLETSEN_PROTOCOL_ERROR, KLETSEN_CODE_NAME_TAKEN))
        show_connect_error (self, _("That name is taken on this server. Choose another one."));
      else if (g_error_matches (error, KLETSEN_PROTOCOL_ERROR, KLETSEN_CODE_NAME_INVALID))
        show_connect_error (self, _("A user name has 3 to 14 letters, digits or underscores."));
      else
        {
          g_autofree char *text = g_strdup_printf (_("Cannot reach the server: %s"), error->message);

          show_connect_error (self, text);
        }
      return;
    }

  show_connect_error (self, NULL);
  if (g_settings_get_boolean (self->settings, "remember-me"))
    {
      g_settings_set_string (self->settings, "host", gtk_editable_get_text (GTK_EDITABLE (self->host_row)));
      g_settings_set_uint (self->settings, "port", atoi (gtk_editable_get_text (GTK_EDITABLE (self->port_row))));
      g_settings_set_string (self->settings, "username", kletsen_session_get_username (self->session));
      remember_secure (self);
    }
  adw_window_title_set_subtitle (self->sidebar_title, kletsen_session_get_username (self->session));
  gtk_stack_set_visible_child_name (self->main_stack, "chat");
  _kletsen_window_show_conversation (self, NULL);
}

void
_kletsen_window_connect_action (GtkWidget  *widget,
                const char *action_name,
                GVariant   *parameter)
{
  KletsenWindow *self = KLETSEN_WINDOW (widget);
  const char *host = gtk_editable_get_text (GTK_EDITABLE (self->host_row));
  const char *port_text = gtk_editable_get_text (GTK_EDITABLE (self->port_row));
  const char *name = gtk_editable_get_text (GTK_EDITABLE (self->username_row));
  guint64 port = 0;

  if (*host == '\0')
    {
      show_connect_error (self, _("Enter the server’s name or address."));
      return;
    }
  if (!g_ascii_string_to_unsigned (port_text, 10, 1, 65535, &port, NULL))
    {
      show_connect_error (self, _("The port is a number from 1 to 65535."));
      return;
    }
  if (!kletsen_user_name_is_valid (name))
    {
      show_connect_error (self, _("A user name has 3 to 14 letters, digits or underscores."));
      return;
    }

  show_connect_error (self, NULL);
  set_connecting (self, TRUE);
  kletsen_session_set_tls (self->session, gtk_switch_get_active (self->secure_switch), NULL);
  kletsen_session_set_file_port (self->session,
                                 g_settings_get_uint (self->settings,
                                                      gtk_switch_get_active (self->secure_switch) ? "tls-file-port" : "file-port"));
  kletsen_session_connect_async (self->session, host, (guint16)port, name, NULL, connected_cb, g_object_ref (self));
}

static gboolean
is_loopback (const char *host)
{
  g_autoptr(GInetAddress) address = g_inet_address_new_from_string (host);

  if (address != NULL)
    return g_inet_address_get_is_loopback (address);
  return g_ascii_strcasecmp (host, "localhost") == 0;
}

/* What was chosen for @host the last time, or secure for any server but this
 * machine. */
static gboolean
secure_default (KletsenWindow *self,
                const char    *host)
{
  g_autoptr(GVariant) servers = g_settings_get_value (self->settings, "secure-servers");
  gboolean secure;

  if (g_variant_lookup (servers, host, "b", &secure))
    return secure;
  return !is_loopback (host);
}

/* The switch follows the server typed, until the user sets it. */
void
_kletsen_window_host_changed_cb (KletsenWindow *self)
{
  const char *host = gtk_editable_get_text (GTK_EDITABLE (self->host_row));

  if (self->secure_chosen || self->loading || *host == '\0' || self->settings == NULL)
    return;
  self->loading = TRUE;
  gtk_switch_set_active (self->secure_switch, secure_default (self, host));
  self->loading = FALSE;
}

/* Remembers, per server, whether it was reached over TLS. */
static void
remember_secure (KletsenWindow *self)
{
  g_autoptr(GVariant) old = g_settings_get_value (self->settings, "secure-servers");
  const char *host = gtk_editable_get_text (GTK_EDITABLE (self->host_row));
  GVariantBuilder builder;
  GVariantIter iter;
  const char *key;
  gboolean value;

  g_variant_builder_init (&builder, G_VARIANT_TYPE ("a{sb}"));
  g_variant_iter_init (&iter, old);
  while (g_variant_iter_next (&iter, "{&sb}", &key, &value))
    if (!g_str_equal (key, host))
      g_variant_builder_add (&builder, "{sb}", key, value);
  g_variant_builder_add (&builder, "{sb}", host, gtk_switch_get_active (self->secure_switch));
  g_settings_set_value (self->settings, "secure-servers", g_variant_builder_end (&builder));
}

/* The port follows the switch while it is one of the two defaults. */
void
_kletsen_window_secure_switch_cb (KletsenWindow *self)
{
  const char *port = gtk_editable_get_text (GTK_EDITABLE (self->port_row));
  gboolean secure = gtk_switch_get_active (self->secure_switch);

  if (!self->loading)
    self->secure_chosen = TRUE;
  if (secure && g_str_equal (port, "1337"))
    gtk_editable_set_text (GTK_EDITABLE (self->port_row), "1339");
  else if (!secure && g_str_equal (port, "1339"))
    gtk_editable_set_text (GTK_EDITABLE (self->port_row), "1337");
}

/* An error about what was typed goes away once it is being corrected. */
void
_kletsen_window_form_changed_cb (KletsenWindow *self)
{
  show_connect_error (self, NULL);
}

void
_kletsen_window_connect_activated_cb (KletsenWindow *self)
{
  gtk_widget_activate_action (GTK_WIDGET (self), "win.connect", NULL);
}

/* Fills the connect screen from the settings. */
void
_kletsen_window_load_settings (KletsenWindow *self)
{
  g_autofree char *host = g_settings_get_string (self->settings, "host");
  g_autofree char *port = g_strdup_printf ("%u", g_settings_get_uint (self->settings, "port"));
  g_autofree char *name = g_settings_get_string (self->settings, "username");

  self->loading = TRUE;
  gtk_editable_set_text (GTK_EDITABLE (self->host_row), host);
  gtk_switch_set_active (self->secure_switch, secure_default (self, host));
  gtk_editable_set_text (GTK_EDITABLE (self->port_row), port);
  self->loading = FALSE;
  gtk_editable_set_text (GTK_EDITABLE (self->username_row), name);
  gtk_window_set_default_size (GTK_WINDOW (self), g_settings_get_int (self->settings, "window-width"),
                               g_settings_get_int (self->settings, "window-height"));
}
