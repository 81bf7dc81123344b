/* kletsen-switcher.c
 *
 * Copyright 2026 The Kletsen authors
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#include "config.h"

#include <glib/gi18n.h>
#include <string.h>

#include "kletsen-switcher.h"
#include "kletsen-user.h"

struct _KletsenSwitcher
{
  AdwWindow       parent_instance;

  /* template widgets */
  GtkSearchEntry *entry;
  GtkListBox     *list;

  /* owned */
  GStrv           names; /* "" (Everyone) first, then the people */
  char           *query; /* casefolded */
};

G_DEFINE_FINAL_TYPE (KletsenSwitcher, kletsen_switcher, ADW_TYPE_WINDOW)

enum {
  CHOSEN,
  N_SIGNALS
};

static guint signals[N_SIGNALS];

static const char *
shown_name (const char *name)
{
  return *name ? name : _("Everyone");
}

static gboolean
matches (KletsenSwitcher *self,
         const char      *name)
{
  g_autofree char *folded = NULL;

  if (self->query == NULL || *self->query == '\0')
    return TRUE;
  folded = g_utf8_casefold (shown_name (name), -1);
  return strstr (folded, self->query) != NULL;
}

static void
refill (KletsenSwitcher *self)
{
  GtkListBoxRow *row;
  gboolean first = TRUE;

  while ((row = gtk_list_box_get_row_at_index (self->list, 0)) != NULL)
    gtk_list_box_remove (self->list, GTK_WIDGET (row));
  for (guint i = 0; self->names[i] != NULL; i++)
    {
      GtkWidget *label;
      GtkWidget *item;

      if (!matches (self, self->names[i]))
        continue;
      label = gtk_label_new (shown_name (self->names[i]));
      gtk_label_set_xalign (GTK_LABEL (label), 0);
      item = gtk_list_box_row_new ();
      gtk_list_box_row_set_child (GTK_LIST_BOX_ROW (item), label);
      g_object_set_data_full (G_OBJECT (item), "peer", g_strdup (self->names[i]), g_free);
      gtk_list_box_append (self->list, item);
      if (first)
        gtk_list_box_select_row (self->list, GTK_LIST_BOX_ROW (item));
      first = FALSE;
    }
}

static void
query_changed_cb (KletsenSwitcher *self)
{
  g_free (self->query);
  self->query = g_utf8_casefold (gtk_editable_get_text (GTK_EDITABLE (self->entry)), -1);
  refill (self);
}

static void
row_activated_cb (KletsenSwitcher *self,
                  GtkListBoxRow   *row)
{
  g_autofree char *peer = g_strdup (g_object_get_data (G_OBJECT (row), "peer"));

  g_signal_emit (self, signals[CHOSEN], 0, peer);
  gtk_window_close (GTK_WINDOW (self));
}

/* Enter: the selected row, or the first one shown. */
void
kletsen_switcher_choose_first (KletsenSwitcher *self)
{
  GtkListBoxRow *row = gtk_list_box_get_selected_row (self->list);

  if (row == NULL)
    row = gtk_list_box_get_row_at_index (self->list, 0);
  if (row != NULL)
    row_activated_cb (self, row);
}

static void
kletsen_switcher_finalize (GObject *object)
{
  KletsenSwitcher *self = KLETSEN_SWITCHER (object);

  g_strfreev (self->names);
  g_free (self->query);
  G_OBJECT_CLASS (kletsen_switcher_parent_class)->finalize (object);
}

static void
kletsen_switcher_class_init (KletsenSwitcherClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->finalize = kletsen_switcher_finalize;
  signals[CHOSEN] = g_signal_new ("chosen", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                                  G_TYPE_NONE, 1, G_TYPE_STRING);
  gtk_widget_class_set_template_from_resource (widget_class, "/nl/kletsen/Kletsen/kletsen-switcher.ui");
  gtk_widget_class_bind_template_child (widget_class, KletsenSwitcher, entry);
  gtk_widget_class_bind_template_child (widget_class, KletsenSwitcher, list);
  gtk_widget_class_bind_template_callback (widget_class, query_changed_cb);
  gtk_widget_class_bind_template_callback (widget_class, row_activated_cb);
  gtk_widget_class_bind_template_callback (widget_class, kletsen_switcher_choose_first);
  gtk_widget_class_bind_template_callback (widget_class, gtk_window_close);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_Escape, 0, "window.close", NULL);
}

static void
kletsen_switcher_init (KletsenSwitcher *self)
{
  gtk_widget_init_template (GTK_WIDGET (self));
}

/**
 * kletsen_switcher_new:
 * @people: (element-type KletsenUser): the people listed in the sidebar
 * @me: (nullable): the user, who is not a conversation
 */
KletsenSwitcher *
kletsen_switcher_new (GtkWindow  *parent,
                      GListModel *people,
                      const char *me)
{
  KletsenSwitcher *self = g_object_new (KLETSEN_TYPE_SWITCHER, "transient-for", parent, NULL);
  g_autoptr(GStrvBuilder) names = g_strv_builder_new ();

  g_strv_builder_add (names, "");
  for (guint i = 0; i < g_list_model_get_n_items (people); i++)
    {
      g_autoptr(KletsenUser) user = g_list_model_get_item (people, i);

      if (me == NULL || g_ascii_strcasecmp (kletsen_user_get_name (user), me) != 0)
        g_strv_builder_add (names, kletsen_user_get_name (user));
    }
  self->names = g_strv_builder_end (names);
  refill (self);
  return self;
}

void
kletsen_switcher_set_query (KletsenSwitcher *self,
                            const char      *query)
{
  gtk_editable_set_text (GTK_EDITABLE (self->entry), query);
  query_changed_cb (self);
}

guint
kletsen_switcher_get_n_shown (KletsenSwitcher *self)
{
  guint n = 0;

  while (gtk_list_box_get_row_at_index (self->list, n) != NULL)
    n++;
  return n;
}
