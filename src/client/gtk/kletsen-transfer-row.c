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
  GtkProgressBar      *progress_bar;
  GtkLabel            *status_label;

  /* owned */
  KletsenFileTransfer *transfer;
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
  gtk_widget_set_visible (GTK_WIDGET (self->cancel_button), state < KLETSEN_TRANSFER_DONE);
  gtk_widget_set_visible (GTK_WIDGET (self->open_button), done && received);
  gtk_widget_set_visible (GTK_WIDGET (self->folder_button), done && received);
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
  gtk_widget_class_bind_template_child (widget_class, KletsenTransferRow, progress_bar);
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
  g_autofree char *title = g_strdup_printf (sending ? _("%s to %s") : _("%s from %s"),
                                            kletsen_file_transfer_get_filename (transfer),
                                            kletsen_file_transfer_get_peer (transfer));

  self->transfer = g_object_ref (transfer);
  gtk_image_set_from_icon_name (self->icon, sending ? "document-send-symbolic" : "folder-download-symbolic");
  gtk_label_set_text (self->name_label, title);
  gtk_accessible_update_property (GTK_ACCESSIBLE (self->progress_bar), GTK_ACCESSIBLE_PROPERTY_LABEL, title, -1);
  g_signal_connect_object (transfer, "notify", G_CALLBACK (update), self, G_CONNECT_SWAPPED);
  update (self);
  return GTK_WIDGET (self);
}
