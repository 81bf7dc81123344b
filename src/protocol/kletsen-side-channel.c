/* kletsen-side-channel.c
 *
 * Copyright 2026 The Kletsen authors
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#include "config.h"

#include <string.h>

#include "kletsen-side-channel.h"

/**
 * kletsen_transfer_id_is_valid:
 *
 * Returns: %TRUE when @id has the form of a UUID: 36 characters, hex digits
 *   with dashes at 8, 13, 18 and 23
 */
gboolean
kletsen_transfer_id_is_valid (const char *id)
{
  for (guint i = 0; i < KLETSEN_TRANSFER_ID_LEN; i++)
    {
      gboolean dash = i == 8 || i == 13 || i == 18 || i == 23;

      if (id[i] == '\0' || (dash ? id[i] != '-' : !g_ascii_isxdigit (id[i])))
        return FALSE;
    }
  return id[KLETSEN_TRANSFER_ID_LEN] == '\0';
}

/**
 * kletsen_side_header_parse:
 * @header: the bytes a side-channel peer sent first
 * @len: how many; anything but exactly 37 is refused
 * @id: (out caller-allocates): the transferId, NUL-terminated
 * @role: (out): uploader or downloader
 *
 * Returns: %TRUE for a well-formed header
 */
gboolean
kletsen_side_header_parse (const char      *header,
                           gsize            len,
                           char             id[KLETSEN_TRANSFER_ID_LEN + 1],
                           KletsenSideRole *role)
{
  char r;

  if (len != KLETSEN_SIDE_HEADER_LEN)
    return FALSE;
  memcpy (id, header, KLETSEN_TRANSFER_ID_LEN);
  id[KLETSEN_TRANSFER_ID_LEN] = '\0';
  r = header[KLETSEN_TRANSFER_ID_LEN];
  if ((r != KLETSEN_SIDE_UPLOADER && r != KLETSEN_SIDE_DOWNLOADER) || !kletsen_transfer_id_is_valid (id))
    return FALSE;
  *role = (KletsenSideRole)r;
  return TRUE;
}
