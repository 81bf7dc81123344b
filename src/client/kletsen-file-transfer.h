/* kletsen-file-transfer.h
 *
 * Copyright 2026 The Kletsen authors
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

typedef enum
{
  KLETSEN_TRANSFER_SEND,
  KLETSEN_TRANSFER_RECEIVE,
} KletsenTransferDirection;

typedef enum
{
  KLETSEN_TRANSFER_PREPARING,    /* measuring the file and computing its SHA-256 */
  KLETSEN_TRANSFER_OFFERED,      /* waiting for an answer (ours or the peer's) */
  KLETSEN_TRANSFER_CONNECTING,   /* accepted; opening the side channel */
  KLETSEN_TRANSFER_TRANSFERRING,
  KLETSEN_TRANSFER_DONE,
  KLETSEN_TRANSFER_REJECTED,
  KLETSEN_TRANSFER_FAILED,       /* see :error */
  KLETSEN_TRANSFER_CANCELLED,
} KletsenTransferState;

GType kletsen_transfer_direction_get_type (void) G_GNUC_CONST;
GType kletsen_transfer_state_get_type (void) G_GNUC_CONST;
#define KLETSEN_TYPE_TRANSFER_DIRECTION (kletsen_transfer_direction_get_type ())
#define KLETSEN_TYPE_TRANSFER_STATE (kletsen_transfer_state_get_type ())

#define KLETSEN_TYPE_FILE_TRANSFER (kletsen_file_transfer_get_type ())

G_DECLARE_FINAL_TYPE (KletsenFileTransfer, kletsen_file_transfer, KLETSEN, FILE_TRANSFER, GObject)

KletsenTransferDirection kletsen_file_transfer_get_direction   (KletsenFileTransfer *self);
KletsenTransferState     kletsen_file_transfer_get_state       (KletsenFileTransfer *self);
const char              *kletsen_file_transfer_get_peer        (KletsenFileTransfer *self);
const char              *kletsen_file_transfer_get_filename    (KletsenFileTransfer *self);
const char              *kletsen_file_transfer_get_checksum    (KletsenFileTransfer *self);
const char              *kletsen_file_transfer_get_id          (KletsenFileTransfer *self);
guint64                  kletsen_file_transfer_get_size        (KletsenFileTransfer *self);
gboolean                 kletsen_file_transfer_get_verifiable  (KletsenFileTransfer *self);
guint64                  kletsen_file_transfer_get_bytes_done  (KletsenFileTransfer *self);
double                   kletsen_file_transfer_get_rate        (KletsenFileTransfer *self);
int                      kletsen_file_transfer_get_eta         (KletsenFileTransfer *self);
GFile                   *kletsen_file_transfer_get_file        (KletsenFileTransfer *self);
const char              *kletsen_file_transfer_get_error       (KletsenFileTransfer *self);
int                      kletsen_file_transfer_get_error_code  (KletsenFileTransfer *self);
void                     kletsen_file_transfer_cancel          (KletsenFileTransfer *self);

char                    *kletsen_file_transfer_get_shown_name  (KletsenFileTransfer *self);
char                    *kletsen_file_transfer_safe_name       (const char          *offered);

/* Driven by KletsenSession. */
KletsenFileTransfer     *_kletsen_file_transfer_new_outgoing   (const char          *peer,
                                                                GFile               *file);
const char              *_kletsen_file_transfer_get_role_secret (KletsenFileTransfer *self);
void                     _kletsen_file_transfer_set_uses_role_secret (KletsenFileTransfer *self,
                                                                      gboolean             uses);
gboolean                 _kletsen_file_transfer_get_uses_role_secret (KletsenFileTransfer *self);
KletsenFileTransfer     *_kletsen_file_transfer_new_incoming   (const char          *peer,
                                                                const char          *filename,
                                                                gint64               size,
                                                                const char          *checksum,
                                                                const char          *id);
void                     _kletsen_file_transfer_prepare_async  (KletsenFileTransfer *self,
                                                                GAsyncReadyCallback  callback,
                                                                gpointer             user_data);
gboolean                 _kletsen_file_transfer_prepare_finish (KletsenFileTransfer *self,
                                                                GAsyncResult        *result,
                                                                GError             **error);
void                     _kletsen_file_transfer_set_offered    (KletsenFileTransfer *self);
gboolean                 _kletsen_file_transfer_get_offer_sent (KletsenFileTransfer *self);
void                     _kletsen_file_transfer_set_id         (KletsenFileTransfer *self,
                                                                const char          *id);
void                     _kletsen_file_transfer_fail           (KletsenFileTransfer *self,
                                                                KletsenTransferState state,
                                                                int                  code,
                                                                const char          *message);
void                     _kletsen_file_transfer_set_tls        (KletsenFileTransfer *self,
                                                                gboolean             use_tls,
                                                                GTlsDatabase        *database,
                                                                const char          *fingerprint);
void                     _kletsen_file_transfer_accepted       (KletsenFileTransfer *self,
                                                                GFile               *folder);
void                     _kletsen_file_transfer_run            (KletsenFileTransfer *self,
                                                                const char          *host,
                                                                guint16              port,
                                                                GFile               *folder);
void                     _kletsen_file_transfer_run_on_stream  (KletsenFileTransfer *self,
                                                                GIOStream           *stream);

G_END_DECLS
