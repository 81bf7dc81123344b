/* fuzz-side-header.c
 *
 * Copyright 2026 The Kletsen authors
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

/* The side channel's header reader: whatever comes in, an accepted header
 * has a well-formed id and a known role, and nothing else is accepted. */

#include "config.h"

#include <string.h>

#include "kletsen-protocol.h"

int LLVMFuzzerTestOneInput (const guint8 *data, size_t size);

int
LLVMFuzzerTestOneInput (const guint8 *data,
                        size_t        size)
{
  char id[KLETSEN_TRANSFER_ID_LEN + 1];
  KletsenSideRole role;

  if (kletsen_side_header_parse ((const char *)data, size, id, &role))
    {
      g_assert (size == KLETSEN_SIDE_HEADER_LEN);
      g_assert (role == KLETSEN_SIDE_UPLOADER || role == KLETSEN_SIDE_DOWNLOADER);
      g_assert (kletsen_transfer_id_is_valid (id));
      g_assert (memcmp (id, data, KLETSEN_TRANSFER_ID_LEN) == 0);
    }
  return 0;
}
