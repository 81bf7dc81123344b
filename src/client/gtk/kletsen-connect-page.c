/* kletsen-connect-page.c
 *
 * Copyright 2026 The Kletsen authors
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#include "config.h"

#include <glib/gi18n.h>

#include "kletsen-connect-page.h"
#include "kletsen-protocol.h"

struct _KletsenConnectPage
{
  AdwBin       parent_instance;

  /* template widgets */
  AdwEntryRow *host_row;
  AdwEntryRow *port_row;
  GtkSwitch   *secure_switch;
  AdwEntryRow *username_row;
  GtkLabel    *connect_error;
  GtkButton   *connect_button;
  GtkSpinner  *connect_spinner;
  GtkButton   *cancel_button;

  /* owned */
  GSettings   *settings;

  /* state */
  gboolean     secure_chosen; /* the user set the switch: stop guessing from the host */
  gboolean     loading;
};

G_DEFINE_FINAL_TYPE (KletsenConnectPage, kletsen_connect_page, ADW_TYPE_BIN)

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
secure_default (KletsenConnectPage *self,
                const char         *host)
{
  g_autoptr(GVariant) servers = g_settings_get_value (self->settings, "secure-servers");
  gboolean secure;

  if (g_variant_lookup (servers, host, "b", &secure))
    return secure;
  return !is_loopback (host);
}

/* The switch follows the server typed, until the user sets it. */
static void
host_changed_cb (KletsenConnectPage *self)
{
  const char *host = gtk_editable_get_text (GTK_EDITABLE (self->host_row));

  if (self->secure_chosen || self->loading || *host == '\0' || self->settings == NULL)
    return;
  self->loading = TRUE;
  gtk_switch_set_active (self->secure_switch, secure_default (self, host));
  self->loading = FALSE;
}

/* The port follows the switch while it is one of the two defaults. */
static void
secure_switch_cb (KletsenConnectPage *self)
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
static void
form_changed_cb (KletsenConnectPage *self)
{
  kletsen_connect_page_show_error (self, NULL);
}

static void
connect_activated_cb (KletsenConnectPage *self)
{
  gtk_widget_activate_action (GTK_WIDGET (self), "win.connect", NULL);
}

static void
kletsen_connect_page_dispose (GObject *object)
{
  KletsenConnectPage *self = KLETSEN_CONNECT_PAGE (object);

  g_clear_object (&self->settings);
  gtk_widget_dispose_template (GTK_WIDGET (object), KLETSEN_TYPE_CONNECT_PAGE);
  G_OBJECT_CLASS (kletsen_connect_page_parent_class)->dispose (object);
}

static void
kletsen_connect_page_class_init (KletsenConnectPageClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = kletsen_connect_page_dispose;
  gtk_widget_class_set_template_from_resource (widget_class, "/nl/kletsen/Kletsen/kletsen-connect-page.ui");
  gtk_widget_class_bind_template_child (widget_class, KletsenConnectPage, host_row);
  gtk_widget_class_bind_template_child (widget_class, KletsenConnectPage, port_row);
  gtk_widget_class_bind_template_child (widget_class, KletsenConnectPage, secure_switch);
  gtk_widget_class_bind_template_child (widget_class, KletsenConnectPage, username_row);
  gtk_widget_class_bind_template_child (widget_class, KletsenConnectPage, connect_error);
  gtk_widget_class_bind_template_child (widget_class, KletsenConnectPage, connect_button);
  gtk_widget_class_bind_template_child (widget_class, KletsenConnectPage, connect_spinner);
  gtk_widget_class_bind_template_child (widget_class, KletsenConnectPage, cancel_button);
  gtk_widget_class_bind_template_callback (widget_class, host_changed_cb);
  gtk_widget_class_bind_template_callback (widget_class, secure_switch_cb);
  gtk_widget_class_bind_template_callback (widget_class, form_changed_cb);
  gtk_widget_class_bind_template_callback (widget_class, connect_activated_cb);
}

static void
kletsen_connect_page_init (KletsenConnectPage *self)
{
  gtk_widget_init_template (GTK_WIDGET (self));
  self->settings = g_settings_new (APP_ID);
}

/* Fills the form from the settings. */
void
kletsen_connect_page_load (KletsenConnectPage *self)
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
}

/**
 * kletsen_connect_page_check:
 * @host: (out): the server
 * @port: (out): its port
 * @username: (out): the name to log in with
 *
 * Checks what was typed, and says what is wrong under the form.
 *
 * Returns: %TRUE when the form can be used to connect
 */
gboolean
kletsen_connect_page_check (KletsenConnectPage  *self,
                            const char         **host,
                            guint16             *port,
                            const char         **username)
{
  const char *port_text = gtk_editable_get_text (GTK_EDITABLE (self->port_row));
  guint64 number = 0;

  *host = gtk_editable_get_text (GTK_EDITABLE (self->host_row));
  *username = gtk_editable_get_text (GTK_EDITABLE (self->username_row));
  if (**host == '\0')
    {
      kletsen_connect_page_show_error (self, _("Enter the server’s name or address."));
      return FALSE;
    }
  if (!g_ascii_string_to_unsigned (port_text, 10, 1, 65535, &number, NULL))
    {
      kletsen_connect_page_show_error (self, _("The port is a number from 1 to 65535."));
      return FALSE;
    }
  if (!kletsen_user_name_is_valid (*username))
    {
      kletsen_connect_page_show_error (self, _("A user name has 3 to 14 letters, digits or underscores."));
      return FALSE;
    }
  *port = (guint16)number;
  kletsen_connect_page_show_error (self, NULL);
  return TRUE;
}

/* Whether @host was last reached over TLS (the remembered choice). */
gboolean
kletsen_connect_page_was_secure (KletsenConnectPage *self,
                                 const char         *host)
{
  g_autoptr(GVariant) servers = g_settings_get_value (self->settings, "secure-servers");
  gboolean secure = FALSE;

  return g_variant_lookup (servers, host, "b", &secure) && secure;
}

gboolean
kletsen_connect_page_get_secure (KletsenConnectPage *self)
{
  return gtk_switch_get_active (self->secure_switch);
}

/* After a login, with "remember me" on: the server, the port, the name,
 * and, per server, whether it was reached over TLS. */
void
kletsen_connect_page_remember (KletsenConnectPage *self,
                               const char         *username)
{
  g_autoptr(GVariant) old = NULL;
  const char *host = gtk_editable_get_text (GTK_EDITABLE (self->host_row));
  guint64 port = 0;
  GVariantBuilder builder;
  GVariantIter iter;
  const char *key;
  gboolean value;

  if (!g_settings_get_boolean (self->settings, "remember-me"))
    return;
  g_ascii_string_to_unsigned (gtk_editable_get_text (GTK_EDITABLE (self->port_row)), 10, 1, 65535, &port, NULL);
  g_settings_set_string (self->settings, "host", host);
  g_settings_set_uint (self->settings, "port", (guint)port);
  g_settings_set_string (self->settings, "username", username);

  old = g_settings_get_value (self->settings, "secure-servers");
  g_variant_builder_init (&builder, G_VARIANT_TYPE ("a{sb}"));
  g_variant_iter_init (&iter, old);
  while (g_variant_iter_next (&iter, "{&sb}", &key, &value))
    if (!g_str_equal (key, host))
      g_variant_builder_add (&builder, "{sb}", key, value);
  g_variant_builder_add (&builder, "{sb}", host, gtk_switch_get_active (self->secure_switch));
  g_settings_set_value (self->settings, "secure-servers", g_variant_builder_end (&builder));
}

void
kletsen_connect_page_set_connecting (KletsenConnectPage *self,
                                     gboolean            connecting)
{
  gtk_widget_set_visible (GTK_WIDGET (self->connect_spinner), connecting);
  gtk_spinner_set_spinning (self->connect_spinner, connecting);
  gtk_widget_set_visible (GTK_WIDGET (self->cancel_button), connecting);
}

void
kletsen_connect_page_show_error (KletsenConnectPage *self,
                                 const char         *text)
{
  gtk_label_set_text (self->connect_error, text ? text : "");
  gtk_widget_set_visible (GTK_WIDGET (self->connect_error), text != NULL);
}

AdwEntryRow *
kletsen_connect_page_get_host_row (KletsenConnectPage *self)
{
  return self->host_row;
}

AdwEntryRow *
kletsen_connect_page_get_port_row (KletsenConnectPage *self)
{
  return self->port_row;
}

AdwEntryRow *
kletsen_connect_page_get_username_row (KletsenConnectPage *self)
{
  return self->username_row;
}

GtkSwitch *
kletsen_connect_page_get_secure_switch (KletsenConnectPage *self)
{
  return self->secure_switch;
}

GtkLabel *
kletsen_connect_page_get_error_label (KletsenConnectPage *self)
{
  return self->connect_error;
}

GtkButton *
kletsen_connect_page_get_connect_button (KletsenConnectPage *self)
{
  return self->connect_button;
}

GtkSpinner *
kletsen_connect_page_get_spinner (KletsenConnectPage *self)
{
  return self->connect_spinner;
}
