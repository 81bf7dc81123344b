/* kletsen-side-channel.h
 *
 * Copyright 2026 The Kletsen authors
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* The file side channel's header (protocol.md §4): 36 characters of
 * transferId, then `S` (uploader) or `R` (downloader); the role first is
 * accepted too. */
#define KLETSEN_SIDE_HEADER_LEN 37
#define KLETSEN_TRANSFER_ID_LEN 36
/* A roleSecret (extension): 32 lowercase hex digits a client chooses for its
 * side of one transfer, sent in its offer or answer and then right behind
 * its header on the side channel. */
#define KLETSEN_ROLE_SECRET_LEN 32

typedef enum
{
  KLETSEN_SIDE_UPLOADER   = 'S',
  KLETSEN_SIDE_DOWNLOADER = 'R',
} KletsenSideRole;

gboolean kletsen_side_header_parse      (const char      *header,
                                         gsize            len,
                                         char             id[KLETSEN_TRANSFER_ID_LEN + 1],
                                         KletsenSideRole *role);
gboolean kletsen_transfer_id_is_valid   (const char      *id);
void     kletsen_side_header_write      (char             header[KLETSEN_SIDE_HEADER_LEN],
                                         const char      *id,
                                         KletsenSideRole  role);

G_END_DECLS
