/* kletsen-composer.c
 *
 * Copyright 2026 The Kletsen authors
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#include "config.h"

#include <glib/gi18n.h>
#include <glib/gstdio.h>

#include "kletsen-composer.h"
#include "kletsen-protocol.h"

struct _KletsenComposer
{
  GtkWidget          parent_instance;

  /* template widgets */
  GtkScrolledWindow *scroller;
  GtkTextView       *view;
  GtkButton         *emoji_button;
  GtkLabel          *placeholder;
};

G_DEFINE_FINAL_TYPE (KletsenComposer, kletsen_composer, GTK_TYPE_WIDGET)

enum {
  SEND,
  CHANGED,
  FILES_PASTED,
  N_SIGNALS
};

static guint signals[N_SIGNALS];

/**
 * kletsen_composer_key_sends:
 *
 * Enter sends; Shift+Enter (or Ctrl or Alt with it) makes a new line.
 *
 * Returns: whether the key sends the message
 */
gboolean
kletsen_composer_key_sends (guint           keyval,
                            GdkModifierType state)
{
  if (keyval != GDK_KEY_Return && keyval != GDK_KEY_KP_Enter && keyval != GDK_KEY_ISO_Enter)
    return FALSE;
  return (state & (GDK_SHIFT_MASK | GDK_CONTROL_MASK | GDK_ALT_MASK)) == 0;
}

static gboolean
key_pressed_cb (GtkEventControllerKey *controller,
                guint                  keyval,
                guint                  keycode,
                GdkModifierType        state,
                KletsenComposer       *self)
{
  if (!kletsen_composer_key_sends (keyval, state))
    return FALSE;
  g_signal_emit (self, signals[SEND], 0);
  return TRUE;
}

static void
emoji_clicked_cb (KletsenComposer *self)
{
  gtk_widget_grab_focus (GTK_WIDGET (self->view));
  g_signal_emit_by_name (self->view, "insert-emoji");
}

static void
buffer_changed_cb (KletsenComposer *self)
{
  gtk_widget_set_visible (GTK_WIDGET (self->placeholder),
                          gtk_text_buffer_get_char_count (gtk_text_view_get_buffer (self->view)) == 0);
  g_signal_emit (self, signals[CHANGED], 0);
}

/* A pasted image becomes a PNG file of its own, in the cache, to send. */
static GFile *
save_pasted_texture (GdkTexture  *texture,
                     GError     **error)
{
  g_autofree char *folder = g_build_filename (g_get_user_cache_dir (), "kletsen", "pasted", NULL);
  g_autoptr(GDateTime) now = g_date_time_new_now_local ();
  g_autofree char *stamp = g_date_time_format (now, "%Y-%m-%d %H.%M.%S");
  /* TRANSLATORS: the name of an image pasted from the clipboard, sent as a file; %s is the date and time */
  g_autofree char *name = g_strdup_printf (_("Pasted image %s.png"), stamp);
  g_autofree char *path = NULL;
  g_autoptr(GBytes) png = NULL;

  if (g_mkdir_with_parents (folder, 0700) != 0)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "%s: %s", folder, g_strerror (errno));
      return NULL;
    }
  path = g_build_filename (folder, name, NULL);
  png = gdk_texture_save_to_png_bytes (texture);
  if (!g_file_set_contents_full (path, g_bytes_get_data (png, NULL), g_bytes_get_size (png),
                                 G_FILE_SET_CONTENTS_CONSISTENT, 0600, error))
    return NULL;
  return g_file_new_for_path (path);
}

static void
texture_read_cb (GObject      *object,
                 GAsyncResult *result,
                 gpointer      user_data)
{
  g_autoptr(KletsenComposer) self = user_data;
  g_autoptr(GdkTexture) texture = gdk_clipboard_read_texture_finish (GDK_CLIPBOARD (object), result, NULL);
  g_autoptr(GFile) file = NULL;
  g_autoptr(GListStore) files = NULL;
  g_autoptr(GError) error = NULL;

  if (texture == NULL)
    return;
  file = save_pasted_texture (texture, &error);
  if (file == NULL)
    {
      g_warning ("Cannot keep the pasted image: %s", error->message);
      return;
    }
  files = g_list_store_new (G_TYPE_FILE);
  g_list_store_append (files, file);
  g_signal_emit (self, signals[FILES_PASTED], 0, files);
}

static void
files_read_cb (GObject      *object,
               GAsyncResult *result,
               gpointer      user_data)
{
  g_autoptr(KletsenComposer) self = user_data;
  const GValue *value = gdk_clipboard_read_value_finish (GDK_CLIPBOARD (object), result, NULL);
  g_autoptr(GListStore) files = g_list_store_new (G_TYPE_FILE);

  if (value == NULL)
    return;
  for (GSList *l = g_value_get_boxed (value); l != NULL; l = l->next)
    g_list_store_append (files, l->data);
  if (g_list_model_get_n_items (G_LIST_MODEL (files)) > 0)
    g_signal_emit (self, signals[FILES_PASTED], 0, files);
}

/* Files and images are sent, not pasted as text. */
static void
paste_cb (KletsenComposer *self)
{
  GdkClipboard *clipboard = gtk_widget_get_clipboard (GTK_WIDGET (self));
  GdkContentFormats *formats = gdk_clipboard_get_formats (clipboard);

  if (gdk_content_formats_contain_gtype (formats, GDK_TYPE_FILE_LIST))
    {
      g_signal_stop_emission_by_name (self->view, "paste-clipboard");
      gdk_clipboard_read_value_async (clipboard, GDK_TYPE_FILE_LIST, G_PRIORITY_DEFAULT, NULL, files_read_cb,
                                      g_object_ref (self));
    }
  else if (gdk_content_formats_contain_gtype (formats, GDK_TYPE_TEXTURE) &&
           !gdk_content_formats_contain_gtype (formats, G_TYPE_STRING))
    {
      g_signal_stop_emission_by_name (self->view, "paste-clipboard");
      gdk_clipboard_read_texture_async (clipboard, NULL, texture_read_cb, g_object_ref (self));
    }
}

static gboolean
grab_focus (GtkWidget *widget)
{
  return gtk_widget_grab_focus (GTK_WIDGET (KLETSEN_COMPOSER (widget)->view));
}

static void
kletsen_composer_dispose (GObject *object)
{
  GtkWidget *child;

  gtk_widget_dispose_template (GTK_WIDGET (object), KLETSEN_TYPE_COMPOSER);
  while ((child = gtk_widget_get_first_child (GTK_WIDGET (object))) != NULL)
    gtk_widget_unparent (child);
  G_OBJECT_CLASS (kletsen_composer_parent_class)->dispose (object);
}

static void
kletsen_composer_class_init (KletsenComposerClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = kletsen_composer_dispose;
  widget_class->grab_focus = grab_focus;

  signals[SEND] = g_signal_new ("send", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                                G_TYPE_NONE, 0);
  signals[CHANGED] = g_signal_new ("changed", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                                   G_TYPE_NONE, 0);
  signals[FILES_PASTED] = g_signal_new ("files-pasted", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL,
                                        NULL, G_TYPE_NONE, 1, G_TYPE_LIST_MODEL);

  gtk_widget_class_set_template_from_resource (widget_class, "/nl/kletsen/Kletsen/kletsen-composer.ui");
  gtk_widget_class_bind_template_child (widget_class, KletsenComposer, scroller);
  gtk_widget_class_bind_template_child (widget_class, KletsenComposer, view);
  gtk_widget_class_bind_template_child (widget_class, KletsenComposer, emoji_button);
  gtk_widget_class_bind_template_child (widget_class, KletsenComposer, placeholder);
  gtk_widget_class_bind_template_callback (widget_class, emoji_clicked_cb);
  gtk_widget_class_bind_template_callback (widget_class, paste_cb);
  gtk_widget_class_set_layout_manager_type (widget_class, GTK_TYPE_BIN_LAYOUT);
}

static void
kletsen_composer_init (KletsenComposer *self)
{
  GtkEventController *keys = gtk_event_controller_key_new ();

  gtk_widget_init_template (GTK_WIDGET (self));
  gtk_event_controller_set_propagation_phase (keys, GTK_PHASE_CAPTURE);
  g_signal_connect (keys, "key-pressed", G_CALLBACK (key_pressed_cb), self);
  gtk_widget_add_controller (GTK_WIDGET (self->view), keys);
  g_signal_connect_object (gtk_text_view_get_buffer (self->view), "changed", G_CALLBACK (buffer_changed_cb), self,
                           G_CONNECT_SWAPPED);
}

/**
 * kletsen_composer_get_text:
 *
 * Returns: (transfer full): what is written
 */
char *
kletsen_composer_get_text (KletsenComposer *self)
{
  GtkTextBuffer *buffer = gtk_text_view_get_buffer (self->view);
  GtkTextIter start, end;

  gtk_text_buffer_get_bounds (buffer, &start, &end);
  return gtk_text_buffer_get_text (buffer, &start, &end, FALSE);
}

/* Replaces what is written; the cursor goes to its end. */
void
kletsen_composer_set_text (KletsenComposer *self,
                           const char      *text)
{
  GtkTextBuffer *buffer = gtk_text_view_get_buffer (self->view);
  GtkTextIter end;

  gtk_text_buffer_set_text (buffer, text ? text : "", -1);
  gtk_text_buffer_get_end_iter (buffer, &end);
  gtk_text_buffer_place_cursor (buffer, &end);
}

gboolean
kletsen_composer_is_blank (KletsenComposer *self)
{
  g_autofree char *text = kletsen_composer_get_text (self);

  return kletsen_text_is_blank (text);
}

GtkTextView *
kletsen_composer_get_view (KletsenComposer *self)
{
  return self->view;
}
