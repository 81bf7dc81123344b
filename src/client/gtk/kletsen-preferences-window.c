/* kletsen-preferences-window.c
 *
 * Copyright 2026 The Kletsen authors
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#include "config.h"

#include <glib/gi18n.h>

#include "kletsen-preferences-window.h"

struct _KletsenPreferencesWindow
{
  AdwPreferencesWindow  parent_instance;

  /* template widgets */
  GtkSwitch            *history_switch;
  GtkSwitch            *mute_everyone_switch;
  GtkSwitch            *notifications_switch;
  GtkSwitch            *remember_switch;
  AdwActionRow         *folder_row;
  AdwEntryRow          *other_servers_row;

  /* owned */
  GSettings            *settings;
};

G_DEFINE_FINAL_TYPE (KletsenPreferencesWindow, kletsen_preferences_window, ADW_TYPE_PREFERENCES_WINDOW)

static void
show_folder (KletsenPreferencesWindow *self)
{
  g_autofree char *path = g_settings_get_string (self->settings, "download-folder");
  const char *downloads = g_get_user_special_dir (G_USER_DIRECTORY_DOWNLOAD);

  adw_action_row_set_subtitle (self->folder_row, *path ? path : downloads ? downloads : g_get_home_dir ());
}

static void
folder_chosen_cb (GtkNativeDialog          *dialog,
                  int                       response,
                  KletsenPreferencesWindow *self)
{
  if (response == GTK_RESPONSE_ACCEPT)
    {
      g_autoptr(GFile) folder = gtk_file_chooser_get_file (GTK_FILE_CHOOSER (dialog));
      g_autofree char *path = g_file_get_path (folder);

      if (path != NULL)
        g_settings_set_string (self->settings, "download-folder", path);
    }
  g_object_unref (dialog);
}

static void
choose_folder_cb (KletsenPreferencesWindow *self)
{
  GtkFileChooserNative *chooser = gtk_file_chooser_native_new (_("Download Folder"), GTK_WINDOW (self),
                                                               GTK_FILE_CHOOSER_ACTION_SELECT_FOLDER,
                                                               _("_Select"), _("_Cancel"));

  g_signal_connect (chooser, "response", G_CALLBACK (folder_chosen_cb), self);
  gtk_native_dialog_show (GTK_NATIVE_DIALOG (chooser));
}

static void
clear_response_cb (AdwMessageDialog         *dialog,
                   const char               *response,
                   KletsenPreferencesWindow *self)
{
  GtkWindow *parent = gtk_window_get_transient_for (GTK_WINDOW (self));

  if (g_strcmp0 (response, "clear") != 0 || parent == NULL)
    return;
  /* The window that shows the session clears it, and says so. */
  gtk_widget_activate_action (GTK_WIDGET (parent), "win.clear-history", NULL);
  adw_preferences_window_add_toast (ADW_PREFERENCES_WINDOW (self), adw_toast_new (_("History cleared")));
}

static void
clear_history_cb (KletsenPreferencesWindow *self)
{
  GtkWidget *dialog = adw_message_dialog_new (GTK_WINDOW (self), _("Clear History?"),
                                              _("Every message kept on this computer for the account you are "
                                                "logged in with is deleted, also from the disk. This cannot be undone."));

  adw_message_dialog_add_responses (ADW_MESSAGE_DIALOG (dialog),
                                    "cancel", _("_Cancel"),
                                    "clear", _("_Clear History"),
                                    NULL);
  adw_message_dialog_set_response_appearance (ADW_MESSAGE_DIALOG (dialog), "clear", ADW_RESPONSE_DESTRUCTIVE);
  adw_message_dialog_set_default_response (ADW_MESSAGE_DIALOG (dialog), "cancel");
  adw_message_dialog_set_close_response (ADW_MESSAGE_DIALOG (dialog), "cancel");
  g_signal_connect_object (dialog, "response", G_CALLBACK (clear_response_cb), self, 0);
  gtk_window_present (GTK_WINDOW (dialog));
}

static void
kletsen_preferences_window_dispose (GObject *object)
{
  KletsenPreferencesWindow *self = KLETSEN_PREFERENCES_WINDOW (object);

  g_clear_object (&self->settings);
  gtk_widget_dispose_template (GTK_WIDGET (self), KLETSEN_TYPE_PREFERENCES_WINDOW);

  G_OBJECT_CLASS (kletsen_preferences_window_parent_class)->dispose (object);
}

/* other-servers, a list, is one line of text in the row: "a:1337, b". */
static gboolean
servers_to_text (GValue   *value,
                 GVariant *variant,
                 gpointer  user_data)
{
  g_autofree const char **servers = g_variant_get_strv (variant, NULL);

  g_value_take_string (value, g_strjoinv (", ", (char **)servers));
  return TRUE;
}

static GVariant *
text_to_servers (const GValue       *value,
                 const GVariantType *type,
                 gpointer            user_data)
{
  g_auto(GStrv) parts = g_regex_split_simple ("[,\\s]+", g_value_get_string (value), 0, 0);
  g_autoptr(GPtrArray) servers = g_ptr_array_new ();

  for (guint i = 0; parts[i] != NULL; i++)
    if (*parts[i] != '\0')
      g_ptr_array_add (servers, parts[i]);
  return g_variant_new_strv ((const char * const *)servers->pdata, servers->len);
}

static void
kletsen_preferences_window_class_init (KletsenPreferencesWindowClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = kletsen_preferences_window_dispose;

  gtk_widget_class_set_template_from_resource (widget_class, "/nl/kletsen/Kletsen/kletsen-preferences-window.ui");
  gtk_widget_class_bind_template_child (widget_class, KletsenPreferencesWindow, notifications_switch);
  gtk_widget_class_bind_template_child (widget_class, KletsenPreferencesWindow, remember_switch);
  gtk_widget_class_bind_template_child (widget_class, KletsenPreferencesWindow, folder_row);
  gtk_widget_class_bind_template_child (widget_class, KletsenPreferencesWindow, history_switch);
  gtk_widget_class_bind_template_child (widget_class, KletsenPreferencesWindow, mute_everyone_switch);
  gtk_widget_class_bind_template_child (widget_class, KletsenPreferencesWindow, other_servers_row);
  gtk_widget_class_bind_template_callback (widget_class, clear_history_cb);
  gtk_widget_class_bind_template_callback (widget_class, choose_folder_cb);
}

static void
kletsen_preferences_window_init (KletsenPreferencesWindow *self)
{
  gtk_widget_init_template (GTK_WIDGET (self));
  self->settings = g_settings_new (APP_ID);
  g_settings_bind (self->settings, "notifications", self->notifications_switch, "active", G_SETTINGS_BIND_DEFAULT);
  g_settings_bind (self->settings, "remember-me", self->remember_switch, "active", G_SETTINGS_BIND_DEFAULT);
  g_settings_bind (self->settings, "keep-history", self->history_switch, "active", G_SETTINGS_BIND_DEFAULT);
  g_settings_bind (self->settings, "mute-everyone", self->mute_everyone_switch, "active", G_SETTINGS_BIND_DEFAULT);
  g_settings_bind_with_mapping (self->settings, "other-servers", self->other_servers_row, "text",
                                G_SETTINGS_BIND_DEFAULT, servers_to_text, text_to_servers, NULL, NULL);
  g_signal_connect_object (self->settings, "changed::download-folder", G_CALLBACK (show_folder), self,
                           G_CONNECT_SWAPPED);
  show_folder (self);
}

GtkWidget *
kletsen_preferences_window_new (GtkWindow *parent)
{
  return g_object_new (KLETSEN_TYPE_PREFERENCES_WINDOW, "transient-for", parent, "modal", TRUE, NULL);
}
