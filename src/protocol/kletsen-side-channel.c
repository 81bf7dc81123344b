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
 * The header is the 36-character transferId and the role byte, in either
 * order: this project's clients send the id first, the original authors'
 * clients the role first. A UUID starts with a hex digit, never with `S` or
 * `R`, so the two cannot be confused (accepted for compatibility).
 *
 * Returns: %TRUE for a well-formed header
 */
gboolean
kletsen_side_header_parse (const char      *header,
                           gsize            len,
                           char             id[KLETSEN_TRANSFER_ID_LEN + 1],
                           KletsenSideRole *role)
{
  gboolean role_first;
  char r;

  if (len != KLETSEN_SIDE_HEADER_LEN)
    return FALSE;
  role_first = header[0] == KLETSEN_SIDE_UPLOADER || header[0] == KLETSEN_SIDE_DOWNLOADER;
  memcpy (id, header + (role_first ? 1 : 0), KLETSEN_TRANSFER_ID_LEN);
  id[KLETSEN_TRANSFER_ID_LEN] = '\0';
  r = role_first ? header[0] : header[KLETSEN_TRANSFER_ID_LEN];
  if ((r != KLETSEN_SIDE_UPLOADER && r != KLETSEN_SIDE_DOWNLOADER) || !kletsen_transfer_id_is_valid (id))
    return FALSE;
  *role = (KletsenSideRole)r;
  return TRUE;
}

/**
 * kletsen_side_header_write:
 * @header: (out caller-allocates): %KLETSEN_SIDE_HEADER_LEN bytes, not
 *   NUL-terminated
 *
 * Writes the header this project sends: the transferId, then the role.
 */
void
kletsen_side_header_write (char            header[KLETSEN_SIDE_HEADER_LEN],
                           const char     *id,
                           KletsenSideRole role)
{
  g_return_if_fail (kletsen_transfer_id_is_valid (id));

  memcpy (header, id, KLETSEN_TRANSFER_ID_LEN);
  header[KLETSEN_TRANSFER_ID_LEN] = (char)role;
}
