/* kletsen-transfer-row.c
 *
 * Copyright 2026 The Kletsen authors
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#include "config.h"

#include <glib/gi18n.h>

#include "kletsen-transfer-row.h"

struct _KletsenTransferRow
{
  GtkBox               parent_instance;

  /* template widgets */
  GtkImage            *icon;
  GtkLabel            *name_label;
  GtkButton           *open_button;
  GtkButton           *folder_button;
  GtkButton           *cancel_button;
  GtkPicture          *thumbnail;
  GtkProgressBar      *progress_bar;
  GtkLabel            *status_label;
  GtkBox              *offer_box;
  GtkButton           *decline_button;
  GtkButton           *save_as_button;
  GtkButton           *accept_button;

  /* owned */
  KletsenFileTransfer *transfer;
  GCancellable        *thumbnail_cancellable;
  gboolean             thumbnail_tried;
};

G_DEFINE_FINAL_TYPE (KletsenTransferRow, kletsen_transfer_row, GTK_TYPE_BOX)

/**
 * kletsen_transfer_row_describe:
 *
 * Returns: (transfer full): what is happening with @transfer, in words
 */
char *
kletsen_transfer_row_describe (KletsenFileTransfer *transfer)
{
  g_autofree char *size = g_format_size (kletsen_file_transfer_get_size (transfer));
  g_autofree char *done = g_format_size (kletsen_file_transfer_get_bytes_done (transfer));

  switch (kletsen_file_transfer_get_state (transfer))
    {
    case KLETSEN_TRANSFER_PREPARING:
      return g_strdup (_("Checking the file…"));
    case KLETSEN_TRANSFER_OFFERED:
      if (kletsen_file_transfer_get_direction (transfer) == KLETSEN_TRANSFER_RECEIVE)
        return kletsen_file_transfer_get_verifiable (transfer)
          ? g_strdup_printf (_("%s — offered to you"), size)
          : g_strdup (_("Size not given — it cannot be checked after download"));
      return g_strdup_printf (_("%s — waiting for an answer"), size);
    case KLETSEN_TRANSFER_CONNECTING:
      return g_strdup (_("Connecting…"));
    case KLETSEN_TRANSFER_TRANSFERRING:
      {
        g_autofree char *rate = g_format_size ((guint64)kletsen_file_transfer_get_rate (transfer));
        int eta = kletsen_file_transfer_get_eta (transfer);

        if (eta >= 0)
          return g_strdup_printf (_("%s of %s — %s/s — %d s left"), done, size, rate, eta);
        return g_strdup_printf (_("%s of %s — %s/s"), done, size, rate);
      }
    case KLETSEN_TRANSFER_DONE:
      if (!kletsen_file_transfer_get_verifiable (transfer))
        return g_strdup_printf (_("%s — done, not checked: the sender’s program gave no checksum"), size);
      return g_strdup_printf (_("%s — done"), size);
    case KLETSEN_TRANSFER_REJECTED:
      return g_strdup (_("Declined"));
    case KLETSEN_TRANSFER_CANCELLED:
      return g_strdup (_("Cancelled"));
    case KLETSEN_TRANSFER_FAILED:
    default:
      return g_strdup (kletsen_file_transfer_get_error (transfer) ? kletsen_file_transfer_get_error (transfer)
                                                                    : _("Failed"));
    }
}

/* Thumbnails: only small image files, scaled while they are read, off the
 * main loop; a huge or broken image is simply not previewed. */
#define MAX_THUMBNAIL_SOURCE (32 * 1024 * 1024)

static void
thumbnail_loaded_cb (GObject      *object,
                     GAsyncResult *result,
                     gpointer      user_data)
{
  g_autoptr(KletsenTransferRow) self = user_data;
  g_autoptr(GdkPixbuf) pixbuf = gdk_pixbuf_new_from_stream_finish (result, NULL);

  if (pixbuf == NULL || g_cancellable_is_cancelled (self->thumbnail_cancellable))
    return;
  {
    g_autoptr(GdkTexture) texture = gdk_texture_new_for_pixbuf (pixbuf);

    gtk_picture_set_paintable (self->thumbnail, GDK_PAINTABLE (texture));
    gtk_widget_set_visible (GTK_WIDGET (self->thumbnail), TRUE);
  }
}

static void
thumbnail_opened_cb (GObject      *object,
                     GAsyncResult *result,
                     gpointer      user_data)
{
  g_autoptr(KletsenTransferRow) self = user_data;
  g_autoptr(GFileInputStream) stream = g_file_read_finish (G_FILE (object), result, NULL);

  if (stream == NULL || g_cancellable_is_cancelled (self->thumbnail_cancellable))
    return;
  gdk_pixbuf_new_from_stream_at_scale_async (G_INPUT_STREAM (stream), 320, 160, TRUE, self->thumbnail_cancellable,
                                             thumbnail_loaded_cb, g_object_ref (self));
}

static void
load_thumbnail (KletsenTransferRow *self)
{
  GFile *file = kletsen_file_transfer_get_file (self->transfer);
  g_autofree char *type = NULL;

  if (self->thumbnail_tried || file == NULL || kletsen_file_transfer_get_size (self->transfer) > MAX_THUMBNAIL_SOURCE)
    return;
  self->thumbnail_tried = TRUE;
  {
    g_autofree char *shown = kletsen_file_transfer_get_shown_name (self->transfer);

    type = g_content_type_guess (shown, NULL, 0, NULL);
  }
  if (!g_content_type_is_mime_type (type, "image/*") || g_content_type_is_a (type, "image/svg+xml"))
    return;
  self->thumbnail_cancellable = g_cancellable_new ();
  g_file_read_async (file, G_PRIORITY_LOW, self->thumbnail_cancellable, thumbnail_opened_cb, g_object_ref (self));
}

static void
update (KletsenTransferRow *self)
{
  KletsenFileTransfer *transfer = self->transfer;
  KletsenTransferState state = kletsen_file_transfer_get_state (transfer);
  guint64 size = kletsen_file_transfer_get_size (transfer);
  g_autofree char *status = kletsen_transfer_row_describe (transfer);
  gboolean done = state == KLETSEN_TRANSFER_DONE;
  gboolean received = kletsen_file_transfer_get_direction (transfer) == KLETSEN_TRANSFER_RECEIVE;

  gtk_label_set_text (self->status_label, status);
  gtk_progress_bar_set_fraction (self->progress_bar,
                                 size ? (double)kletsen_file_transfer_get_bytes_done (transfer) / size : (done ? 1 : 0));
  gtk_widget_set_visible (GTK_WIDGET (self->open_button), done && received);
  gtk_widget_set_visible (GTK_WIDGET (self->folder_button), done && received);
  gtk_widget_set_visible (GTK_WIDGET (self->progress_bar),
                          state == KLETSEN_TRANSFER_CONNECTING || state == KLETSEN_TRANSFER_TRANSFERRING);
  /* An offer to us is answered here; nothing is accepted by default. */
  gtk_widget_set_visible (GTK_WIDGET (self->offer_box), received && state == KLETSEN_TRANSFER_OFFERED);
  gtk_widget_set_visible (GTK_WIDGET (self->cancel_button), state < KLETSEN_TRANSFER_DONE &&
                                                            !(received && state == KLETSEN_TRANSFER_OFFERED));
  /* What we send is our own file; what we receive, once it is checked. */
  if (done || !received)
    load_thumbnail (self);
  if (state == KLETSEN_TRANSFER_FAILED)
    gtk_widget_add_css_class (GTK_WIDGET (self->status_label), "error");
}

static void
show (KletsenTransferRow *self,
      gboolean            in_folder)
{
  GFile *file = kletsen_file_transfer_get_file (self->transfer);
  g_autoptr(GFile) parent = file ? g_file_get_parent (file) : NULL;
  g_autofree char *uri = NULL;

  if (file == NULL)
    return;
  uri = g_file_get_uri (in_folder ? parent : file);
  gtk_show_uri (GTK_WINDOW (gtk_widget_get_root (GTK_WIDGET (self))), uri, GDK_CURRENT_TIME);
}

static void
open_clicked_cb (KletsenTransferRow *self)
{
  show (self, FALSE);
}

static void
folder_clicked_cb (KletsenTransferRow *self)
{
  show (self, TRUE);
}

static void
cancel_clicked_cb (KletsenTransferRow *self)
{
  kletsen_file_transfer_cancel (self->transfer);
}

static void
kletsen_transfer_row_dispose (GObject *object)
{
  KletsenTransferRow *self = KLETSEN_TRANSFER_ROW (object);

  if (self->transfer != NULL)
    g_signal_handlers_disconnect_by_data (self->transfer, self);
  g_clear_object (&self->transfer);
  g_cancellable_cancel (self->thumbnail_cancellable);
  g_clear_object (&self->thumbnail_cancellable);
  gtk_widget_dispose_template (GTK_WIDGET (object), KLETSEN_TYPE_TRANSFER_ROW);
  G_OBJECT_CLASS (kletsen_transfer_row_parent_class)->dispose (object);
}

static void
kletsen_transfer_row_class_init (KletsenTransferRowClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = kletsen_transfer_row_dispose;
  gtk_widget_class_set_template_from_resource (widget_class, "/nl/kletsen/Kletsen/kletsen-transfer-row.ui");
  gtk_widget_class_bind_template_child (widget_class, KletsenTransferRow, icon);
  gtk_widget_class_bind_template_child (widget_class, KletsenTransferRow, name_label);
  gtk_widget_class_bind_template_child (widget_class, KletsenTransferRow, open_button);
  gtk_widget_class_bind_template_child (widget_class, KletsenTransferRow, folder_button);
  gtk_widget_class_bind_template_child (widget_class, KletsenTransferRow, cancel_button);
  gtk_widget_class_bind_template_child (widget_class, KletsenTransferRow, thumbnail);
  gtk_widget_class_bind_template_child (widget_class, KletsenTransferRow, progress_bar);
  gtk_widget_class_bind_template_child (widget_class, KletsenTransferRow, offer_box);
  gtk_widget_class_bind_template_child (widget_class, KletsenTransferRow, decline_button);
  gtk_widget_class_bind_template_child (widget_class, KletsenTransferRow, save_as_button);
  gtk_widget_class_bind_template_child (widget_class, KletsenTransferRow, accept_button);
  gtk_widget_class_bind_template_child (widget_class, KletsenTransferRow, status_label);
  gtk_widget_class_bind_template_callback (widget_class, open_clicked_cb);
  gtk_widget_class_bind_template_callback (widget_class, folder_clicked_cb);
  gtk_widget_class_bind_template_callback (widget_class, cancel_clicked_cb);
}

static void
kletsen_transfer_row_init (KletsenTransferRow *self)
{
  gtk_widget_init_template (GTK_WIDGET (self));
}

GtkWidget *
kletsen_transfer_row_new (KletsenFileTransfer *transfer)
{
  KletsenTransferRow *self = g_object_new (KLETSEN_TYPE_TRANSFER_ROW, NULL);
  gboolean sending = kletsen_file_transfer_get_direction (transfer) == KLETSEN_TRANSFER_SEND;
  /* The name it is saved under, never the offered one. */
  g_autofree char *shown = kletsen_file_transfer_get_shown_name (transfer);
  g_autofree char *title = g_strdup_printf (sending ? _("%s to %s") : _("%s from %s"), shown,
                                            kletsen_file_transfer_get_peer (transfer));

  self->transfer = g_object_ref (transfer);
  if (!sending && kletsen_file_transfer_get_id (transfer) != NULL)
    {
      GtkButton *buttons[] = { self->decline_button, self->save_as_button, self->accept_button };
      const char *actions[] = { "win.decline-offer", "win.save-offer-in", "win.accept-offer" };

      /* The window's actions, told which offer by its id. */
      for (guint i = 0; i < G_N_ELEMENTS (buttons); i++)
        gtk_actionable_set_action_target (GTK_ACTIONABLE (buttons[i]), "s", kletsen_file_transfer_get_id (transfer));
      for (guint i = 0; i < G_N_ELEMENTS (buttons); i++)
        gtk_actionable_set_action_name (GTK_ACTIONABLE (buttons[i]), actions[i]);
    }
  gtk_image_set_from_icon_name (self->icon, sending ? "document-send-symbolic" : "folder-download-symbolic");
  gtk_label_set_text (self->name_label, title);
  gtk_accessible_update_property (GTK_ACCESSIBLE (self->progress_bar), GTK_ACCESSIBLE_PROPERTY_LABEL, title, -1);
  g_signal_connect_object (transfer, "notify", G_CALLBACK (update), self, G_CONNECT_SWAPPED);
  update (self);
  return GTK_WIDGET (self);
}
