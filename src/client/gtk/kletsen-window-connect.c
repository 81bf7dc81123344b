/* kletsen-window-connect.c
 *
 * Copyright 2026 The Kletsen authors
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

/* Connecting from the connect screen (KletsenConnectPage holds its form):
 * the login, the certificate nobody vouches for, and the errors the form
 * shows. */

#include "config.h"

#include <glib/gi18n.h>
#include <string.h>

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
clear_text_response_cb (AdwMessageDialog *dialog,
                        const char       *response,
                        KletsenWindow    *self)
{
  if (g_str_equal (response, "clear-text"))
    {
      self->insecure_confirmed = TRUE;
      _kletsen_window_connect_action (GTK_WIDGET (self), "win.connect", NULL);
    }
  else
    gtk_switch_set_active (self->secure_switch, TRUE);
}

static void
ask_about_clear_text (KletsenWindow *self,
                      const char    *host)
{
  g_autofree char *body = g_strdup_printf (_("You reached %s over a secure connection before. Without it, the server "
                                             "and anyone on the network can read your messages and change them.\n\n"
                                             "If the secure connection fails now, someone may be blocking it to make "
                                             "you do exactly this."), host);
  GtkWidget *dialog = adw_message_dialog_new (GTK_WINDOW (self), _("Connect Without Encryption?"), body);

  adw_message_dialog_add_responses (ADW_MESSAGE_DIALOG (dialog),
                                    "secure", _("_Use the Secure Connection"),
                                    "clear-text", _("Connect _Without Encryption"),
                                    NULL);
  adw_message_dialog_set_response_appearance (ADW_MESSAGE_DIALOG (dialog), "clear-text", ADW_RESPONSE_DESTRUCTIVE);
  adw_message_dialog_set_default_response (ADW_MESSAGE_DIALOG (dialog), "secure");
  adw_message_dialog_set_close_response (ADW_MESSAGE_DIALOG (dialog), "secure");
  g_signal_connect_object (dialog, "response", G_CALLBACK (clear_text_response_cb), self, 0);
  _kletsen_window_track_dialog (self, dialog);
  gtk_window_present (GTK_WINDOW (dialog));
}

static void
connected_cb (GObject      *object,
              GAsyncResult *result,
              gpointer      user_data);

/* ---- connecting ---- */

static void
set_connecting (KletsenWindow *self,
                gboolean       connecting)
{
  self->connecting = connecting;
  kletsen_connect_page_set_connecting (self->connect_page, connecting);
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "win.connect", !connecting);
}

static void
show_connect_error (KletsenWindow *self,
                    const char    *text)
{
  kletsen_connect_page_show_error (self->connect_page, text);
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
      if (self->connect_cancelled)
        show_connect_error (self, NULL); /* the user's own doing: nothing to explain */
      else if (g_error_matches (error, KLETSEN_SESSION_ERROR, KLETSEN_SESSION_ERROR_UNTRUSTED_CERTIFICATE))
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
  kletsen_connect_page_remember (self->connect_page, kletsen_session_get_username (self->session));
  adw_window_title_set_subtitle (self->sidebar_title, kletsen_session_get_username (self->session));
  gtk_stack_set_visible_child_name (self->main_stack, "chat");
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "win.log-out", TRUE);
  _kletsen_window_show_conversation (self, NULL);
}

/* Cancel while connecting: the attempt ends, the form stays as it was. */
void
_kletsen_window_cancel_connect_action (GtkWidget  *widget,
                                       const char *action_name,
                                       GVariant   *parameter)
{
  KletsenWindow *self = KLETSEN_WINDOW (widget);

  if (!self->connecting)
    return;
  self->connect_cancelled = TRUE;
  kletsen_session_disconnect (self->session);
}

/**
 * kletsen_window_auto_connect:
 *
 * Signs in at once with the saved server and name, when "remember me" is
 * on and there is a name: what the settings promise.
 *
 * Returns: whether it started connecting
 */
gboolean
kletsen_window_auto_connect (KletsenWindow *self)
{
  g_autofree char *name = g_settings_get_string (self->settings, "username");

  if (!g_settings_get_boolean (self->settings, "remember-me") || *name == '\0' || self->connecting ||
      kletsen_session_get_state (self->session) != KLETSEN_SESSION_DISCONNECTED)
    return FALSE;
  _kletsen_window_connect_action (GTK_WIDGET (self), "win.connect", NULL);
  return self->connecting;
}

/* The server of the form and the other servers of the same chat (a
 * cluster's nodes, preferences): the session tries them in turn. */
static void
set_servers (KletsenWindow *self,
             const char    *host,
             guint16        port)
{
  g_auto(GStrv) others = g_settings_get_strv (self->settings, "other-servers");
  g_autoptr(GPtrArray) servers = NULL;
  g_autofree char *first = NULL;

  if (others[0] == NULL)
    {
      kletsen_session_set_servers (self->session, NULL);
      return;
    }
  first = strchr (host, ':') != NULL ? g_strdup_printf ("[%s]:%u", host, port) : g_strdup_printf ("%s:%u", host, port);
  servers = g_ptr_array_new ();
  g_ptr_array_add (servers, first);
  for (guint i = 0; others[i] != NULL; i++)
    g_ptr_array_add (servers, others[i]);
  g_ptr_array_add (servers, NULL);
  kletsen_session_set_servers (self->session, (const char * const *)servers->pdata);
}

void
_kletsen_window_connect_action (GtkWidget  *widget,
                                const char *action_name,
                                GVariant   *parameter)
{
  KletsenWindow *self = KLETSEN_WINDOW (widget);
  const char *host, *name;
  gboolean secure = kletsen_connect_page_get_secure (self->connect_page);
  guint16 port;

  if (!kletsen_connect_page_check (self->connect_page, &host, &port, &name))
    return;
  /* Once over TLS, clear text to the same server is a choice, never a
   * switch flipped in passing: whoever blocks the TLS port wants just that. */
  if (!secure && !self->insecure_confirmed && kletsen_connect_page_was_secure (self->connect_page, host))
    {
      ask_about_clear_text (self, host);
      return;
    }
  self->insecure_confirmed = FALSE;
  self->connect_cancelled = FALSE;
  set_connecting (self, TRUE);
  kletsen_session_set_tls (self->session, secure, NULL);
  kletsen_session_set_file_port (self->session, g_settings_get_uint (self->settings, secure ? "tls-file-port" : "file-port"));
  set_servers (self, host, port);
  kletsen_session_connect_async (self->session, host, port, name, NULL, connected_cb, g_object_ref (self));
}
