/* kletsen-sidebar-row.c
 *
 * Copyright 2026 The Kletsen authors
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#include "config.h"

#include <glib/gi18n.h>

#include "kletsen-sidebar-row.h"

struct _KletsenSidebarRow
{
  GtkListBoxRow        parent_instance;

  /* template widgets */
  GtkImage            *icon;
  GtkLabel            *name_label;
  GtkLabel            *status_label;
  GtkLabel            *unread_label;
  GtkLabel            *lookalike_label;

  /* owned */
  char                *peer;         /* NULL for Everyone */
  KletsenUser         *person;
  KletsenConversation *conversation;
};

G_DEFINE_FINAL_TYPE (KletsenSidebarRow, kletsen_sidebar_row, GTK_TYPE_LIST_BOX_ROW)

/* The name a screen reader hears says all the row shows. */
static void
update (KletsenSidebarRow *self)
{
  guint unread = kletsen_conversation_get_unread (self->conversation);
  gboolean offline = self->person != NULL && !kletsen_user_get_online (self->person);
  g_autofree char *count = g_strdup_printf ("%u", unread);
  g_autofree char *name = NULL;
  GString *description = g_string_new (gtk_label_get_text (self->name_label));

  gtk_label_set_text (self->unread_label, count);
  gtk_widget_set_visible (GTK_WIDGET (self->unread_label), unread > 0);
  gtk_widget_set_visible (GTK_WIDGET (self->status_label), offline);
  if (offline)
    gtk_widget_add_css_class (GTK_WIDGET (self->name_label), "dim-label");
  else
    gtk_widget_remove_css_class (GTK_WIDGET (self->name_label), "dim-label");

  if (offline)
    g_string_append_printf (description, ", %s", _("offline"));
  if (gtk_widget_get_visible (GTK_WIDGET (self->lookalike_label)))
    g_string_append_printf (description, ", %s", gtk_label_get_text (self->lookalike_label));
  if (unread > 0)
    g_string_append_printf (description, ", %s",
                            name = g_strdup_printf (ngettext ("%u unread message", "%u unread messages", unread), unread));
  gtk_accessible_update_property (GTK_ACCESSIBLE (self), GTK_ACCESSIBLE_PROPERTY_LABEL, description->str, -1);
  g_string_free (description, TRUE);
}

static void
kletsen_sidebar_row_dispose (GObject *object)
{
  KletsenSidebarRow *self = KLETSEN_SIDEBAR_ROW (object);

  if (self->conversation != NULL)
    g_signal_handlers_disconnect_by_data (self->conversation, self);
  if (self->person != NULL)
    g_signal_handlers_disconnect_by_data (self->person, self);
  g_clear_object (&self->conversation);
  g_clear_object (&self->person);
  g_clear_pointer (&self->peer, g_free);
  gtk_widget_dispose_template (GTK_WIDGET (object), KLETSEN_TYPE_SIDEBAR_ROW);
  G_OBJECT_CLASS (kletsen_sidebar_row_parent_class)->dispose (object);
}

static void
kletsen_sidebar_row_class_init (KletsenSidebarRowClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = kletsen_sidebar_row_dispose;
  gtk_widget_class_set_template_from_resource (widget_class, "/nl/kletsen/Kletsen/kletsen-sidebar-row.ui");
  gtk_widget_class_bind_template_child (widget_class, KletsenSidebarRow, icon);
  gtk_widget_class_bind_template_child (widget_class, KletsenSidebarRow, name_label);
  gtk_widget_class_bind_template_child (widget_class, KletsenSidebarRow, status_label);
  gtk_widget_class_bind_template_child (widget_class, KletsenSidebarRow, unread_label);
  gtk_widget_class_bind_template_child (widget_class, KletsenSidebarRow, lookalike_label);
}

static void
kletsen_sidebar_row_init (KletsenSidebarRow *self)
{
  gtk_widget_init_template (GTK_WIDGET (self));
}

static void
follow (KletsenSidebarRow   *self,
        KletsenConversation *conversation)
{
  self->conversation = g_object_ref (conversation);
  g_signal_connect_object (conversation, "notify::unread", G_CALLBACK (update), self, G_CONNECT_SWAPPED);
}

GtkWidget *
kletsen_sidebar_row_new_everyone (KletsenConversation *room)
{
  KletsenSidebarRow *self = g_object_new (KLETSEN_TYPE_SIDEBAR_ROW, NULL);

  gtk_image_set_from_icon_name (self->icon, "system-users-symbolic");
  gtk_label_set_text (self->name_label, _("Everyone"));
  follow (self, room);
  update (self);
  return GTK_WIDGET (self);
}

GtkWidget *
kletsen_sidebar_row_new_person (KletsenUser         *person,
                                KletsenConversation *conversation,
                                gboolean             is_me)
{
  KletsenSidebarRow *self = g_object_new (KLETSEN_TYPE_SIDEBAR_ROW, NULL);

  self->peer = g_strdup (kletsen_user_get_name (person));
  self->person = g_object_ref (person);
  if (is_me)
    {
      g_autofree char *me = g_strdup_printf (_("%s (you)"), self->peer);

      gtk_label_set_text (self->name_label, me);
      gtk_widget_set_sensitive (GTK_WIDGET (self), FALSE);
    }
  else
    gtk_label_set_text (self->name_label, self->peer);
  g_signal_connect_object (person, "notify::online", G_CALLBACK (update), self, G_CONNECT_SWAPPED);
  follow (self, conversation);
  update (self);
  return GTK_WIDGET (self);
}

/**
 * kletsen_sidebar_row_set_lookalike:
 * @other: (nullable): the person the user knows whose name this one looks like
 *
 * A hint under the name: "AIice" is not "alice".
 */
void
kletsen_sidebar_row_set_lookalike (KletsenSidebarRow *self,
                                   const char        *other)
{
  if (other != NULL)
    {
      /* TRANSLATORS: under a name that looks like another one the user knows */
      g_autofree char *text = g_strdup_printf (_("Not %s: the name only looks alike"), other);

      gtk_label_set_text (self->lookalike_label, text);
    }
  gtk_widget_set_visible (GTK_WIDGET (self->lookalike_label), other != NULL);
  update (self);
}

/**
 * kletsen_sidebar_row_get_peer:
 *
 * Returns: (nullable): the person, or %NULL for Everyone
 */
const char *
kletsen_sidebar_row_get_peer (KletsenSidebarRow *self)
{
  return self->peer;
}
