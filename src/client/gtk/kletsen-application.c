/* kletsen-application.c
 *
 * Copyright 2026 The Kletsen authors
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#include "config.h"

#include <glib/gi18n.h>

#include "kletsen-application.h"
#include "kletsen-preferences-window.h"
#include "kletsen-window.h"

struct _KletsenApplication
{
  AdwApplication  parent_instance;

  KletsenSession *session;
};

G_DEFINE_FINAL_TYPE (KletsenApplication, kletsen_application, ADW_TYPE_APPLICATION)

static void
kletsen_application_activate (GApplication *app)
{
  KletsenApplication *self = KLETSEN_APPLICATION (app);
  GtkWindow *window = gtk_application_get_active_window (GTK_APPLICATION (self));

  if (window != NULL)
    {
      gtk_window_present (window);
      return;
    }
  window = GTK_WINDOW (kletsen_window_new (GTK_APPLICATION (self), self->session));
  gtk_window_present (window);
  /* "Remember me": straight in, with the saved server and name. */
  kletsen_window_auto_connect (KLETSEN_WINDOW (window));
}

static void
quit_action (GSimpleAction *action,
             GVariant      *parameter,
             gpointer       user_data)
{
  KletsenApplication *self = user_data;

  kletsen_session_disconnect (self->session);
  g_application_quit (G_APPLICATION (self));
}

static void
about_action (GSimpleAction *action,
              GVariant      *parameter,
              gpointer       user_data)
{
  static const char *developers[] = { "The Kletsen authors", NULL };
  GtkWidget *about = adw_about_window_new ();

  g_object_set (about,
                "transient-for", gtk_application_get_active_window (GTK_APPLICATION (user_data)),
                "application-name", _("Kletsen"),
                "application-icon", APP_ID,
                "developer-name", _("The Kletsen authors"),
                "developers", developers,
                "version", PACKAGE_VERSION,
                "comments", _("Chat in a room and in private, play a number-guessing game, send files "
                              "and exchange end-to-end encrypted messages."),
                "license-type", GTK_LICENSE_GPL_3_0,
                /* Translators: your names, one per line */
                "translator-credits", _("translator-credits"),
                NULL);
  gtk_window_present (GTK_WINDOW (about));
}

static void
preferences_action (GSimpleAction *action,
                    GVariant      *parameter,
                    gpointer       user_data)
{
  GtkWidget *window = kletsen_preferences_window_new (gtk_application_get_active_window (GTK_APPLICATION (user_data)));

  gtk_window_present (GTK_WINDOW (window));
}

/* The window that notifications act on: the one there is, shown. */
static GtkWidget *
present_window (KletsenApplication *self)
{
  g_application_activate (G_APPLICATION (self));
  return GTK_WIDGET (gtk_application_get_active_window (GTK_APPLICATION (self)));
}

static void
open_conversation_action (GSimpleAction *action,
                          GVariant      *parameter,
                          gpointer       user_data)
{
  const char *peer = g_variant_get_string (parameter, NULL);
  GtkWidget *window = present_window (user_data);

  if (KLETSEN_IS_WINDOW (window))
    kletsen_window_open_conversation (KLETSEN_WINDOW (window), *peer ? peer : NULL);
}

/* Accept, Decline, Join: the window's own actions, from a notification. */
static void
window_action (GSimpleAction *action,
               GVariant      *parameter,
               gpointer       user_data)
{
  GtkWidget *window = present_window (user_data);
  g_autofree char *name = g_strconcat ("win.", g_action_get_name (G_ACTION (action)), NULL);

  if (window != NULL)
    gtk_widget_activate_action_variant (window, name, parameter);
}

static void
activate_action (GSimpleAction *action,
                 GVariant      *parameter,
                 gpointer       user_data)
{
  g_application_activate (G_APPLICATION (user_data));
}

static const GActionEntry app_actions[] = {
  { "about", about_action },
  { "activate", activate_action },
  { "open-conversation", open_conversation_action, "s" },
  { "accept-offer", window_action, "s" },
  { "decline-offer", window_action, "s" },
  { "join-game", window_action },
  { "preferences", preferences_action },
  { "quit", quit_action },
};

static void
kletsen_application_startup (GApplication *app)
{
  KletsenApplication *self = KLETSEN_APPLICATION (app);
  static const char *quit_accels[] = { "<Primary>q", NULL };
  static const char *preferences_accels[] = { "<Primary>comma", NULL };
  static const char *send_accels[] = { "<Primary>Return", NULL };
  static const char *logout_accels[] = { "<Primary><Shift>l", NULL };

  G_APPLICATION_CLASS (kletsen_application_parent_class)->startup (app);

  g_action_map_add_action_entries (G_ACTION_MAP (self), app_actions, G_N_ELEMENTS (app_actions), self);
  gtk_application_set_accels_for_action (GTK_APPLICATION (self), "app.quit", quit_accels);
  gtk_application_set_accels_for_action (GTK_APPLICATION (self), "app.preferences", preferences_accels);
  gtk_application_set_accels_for_action (GTK_APPLICATION (self), "win.send", send_accels);
  gtk_application_set_accels_for_action (GTK_APPLICATION (self), "win.log-out", logout_accels);
}

static void
kletsen_application_shutdown (GApplication *app)
{
  KletsenApplication *self = KLETSEN_APPLICATION (app);

  /* Say BYE rather than vanish. */
  kletsen_session_disconnect (self->session);
  G_APPLICATION_CLASS (kletsen_application_parent_class)->shutdown (app);
}

static void
kletsen_application_finalize (GObject *object)
{
  g_clear_object (&KLETSEN_APPLICATION (object)->session);
  G_OBJECT_CLASS (kletsen_application_parent_class)->finalize (object);
}

static void
kletsen_application_class_init (KletsenApplicationClass *klass)
{
  GApplicationClass *app_class = G_APPLICATION_CLASS (klass);

  G_OBJECT_CLASS (klass)->finalize = kletsen_application_finalize;
  app_class->activate = kletsen_application_activate;
  app_class->startup = kletsen_application_startup;
  app_class->shutdown = kletsen_application_shutdown;
}

static void
kletsen_application_init (KletsenApplication *self)
{
  self->session = kletsen_session_new (NULL);
}

KletsenApplication *
kletsen_application_new (void)
{
  return g_object_new (KLETSEN_TYPE_APPLICATION,
                       "application-id", APP_ID,
                       "flags", G_APPLICATION_DEFAULT_FLAGS,
                       "resource-base-path", "/nl/kletsen/Kletsen",
                       NULL);
}
