/* kletsen-transfer-row.h
 *
 * Copyright 2026 The Kletsen authors
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#pragma once

#include <gtk/gtk.h>

#include "kletsen-file-transfer.h"

G_BEGIN_DECLS

#define KLETSEN_TYPE_TRANSFER_ROW (kletsen_transfer_row_get_type ())

/* One file transfer in the transfers popover: its name and peer, progress,
 * what is happening in words, and Cancel, Open and Show in Folder. */
G_DECLARE_FINAL_TYPE (KletsenTransferRow, kletsen_transfer_row, KLETSEN, TRANSFER_ROW, GtkBox)

GtkWidget *kletsen_transfer_row_new      (KletsenFileTransfer *transfer);
char      *kletsen_transfer_row_describe (KletsenFileTransfer *transfer);

G_END_DECLS
