/* kletsen-codes.c
 *
 * Copyright 2026 The Kletsen authors
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#include "config.h"

#include <glib/gi18n-lib.h>

#include "kletsen-codes.h"

static const KletsenCodeInfo codes[] = {
  { 5000,  N_("The user name is already taken"), FALSE, FALSE },
  { 5001,  N_("A user name has 3 to 14 letters, digits or underscores"), FALSE, FALSE },
  { 5002,  N_("This connection is already logged in"), FALSE, FALSE },
  { 5003,  N_("The server cannot confirm names right now; try again or another server"), TRUE, FALSE },
  { 6000,  N_("User is not logged in"), FALSE, FALSE },
  { 6001,  N_("Recipient not found"), FALSE, FALSE },
  { 6002,  N_("Not enough players joined the game"), FALSE, FALSE },
  { 6003,  N_("A game is already in progress"), FALSE, FALSE },
  { 6004,  N_("You already joined the game"), FALSE, FALSE },
  { 6005,  N_("There is no game"), FALSE, FALSE },
  { 6007,  N_("You cannot send a message to yourself"), FALSE, FALSE },
  { 6008,  N_("The message is empty"), FALSE, FALSE },
  { 6009,  N_("You played the last game; let someone else start the next one"), TRUE, FALSE },
  { 7000,  N_("The connection timed out (no reply to a heartbeat)"), FALSE, TRUE },
  { 7001,  N_("A message was longer than the server accepts"), FALSE, TRUE },
  { 7003,  N_("The game has not started yet"), FALSE, FALSE },
  { 7004,  N_("A guess must be a whole number"), FALSE, FALSE },
  { 7007,  N_("The guess is outside the allowed range"), FALSE, FALSE },
  { 7008,  N_("You already guessed the number"), TRUE, FALSE },
  { 7010,  N_("The connection was too slow to keep up"), TRUE, TRUE },
  { 7011,  N_("The server is shutting down"), TRUE, TRUE },
  { 7012,  N_("The server is full"), TRUE, TRUE },
  { 7013,  N_("The connection did not log in in time"), TRUE, TRUE },
  { 7014,  N_("Too many requests; slow down"), TRUE, FALSE },
  { 7015,  N_("Your name was taken on another server while this one was cut off"), TRUE, TRUE },
  { 8000,  N_("Heartbeat reply without a heartbeat"), FALSE, FALSE },
  { 8001,  N_("You are not playing in this game"), FALSE, FALSE },
  { 9002,  N_("Nobody guessed the number"), FALSE, FALSE },
  { 9003,  N_("The server running the game went away"), TRUE, FALSE },
  { 10000, N_("The file is larger than the server allows"), FALSE, FALSE },
  { 10001, N_("The file checksum is not valid"), FALSE, FALSE },
  { 10002, N_("The receiver declined the file"), FALSE, FALSE },
  { 10003, N_("The file name is not allowed"), TRUE, FALSE },
  { 10004, N_("The file transfer is unknown or has expired"), TRUE, FALSE },
  { 10005, N_("Too many file offers are waiting, or too many transfers are under way"), TRUE, FALSE },
  { 10006, N_("The sender withdrew the file offer"), TRUE, FALSE },
};

/**
 * kletsen_code_table:
 * @n_codes: (out): the number of entries
 *
 * Returns: (transfer none): every code the protocol knows, ascending.
 */
const KletsenCodeInfo *
kletsen_code_table (gsize *n_codes)
{
  *n_codes = G_N_ELEMENTS (codes);
  return codes;
}

const KletsenCodeInfo *
kletsen_code_lookup (int code)
{
  for (gsize i = 0; i < G_N_ELEMENTS (codes); i++)
    if (codes[i].code == code)
      return &codes[i];
  return NULL;
}

/**
 * kletsen_code_describe:
 * @code: an error code or disconnect reason
 *
 * Returns: (transfer none): the translated text for @code, or a generic text
 *   for a code this version does not know.
 */
const char *
kletsen_code_describe (int code)
{
  const KletsenCodeInfo *info = kletsen_code_lookup (code);

  if (info == NULL)
    return _("Unknown error");
  return g_dgettext (GETTEXT_PACKAGE, info->text);
}

G_DEFINE_QUARK (kletsen-protocol-error-quark, kletsen_protocol_error)

/**
 * kletsen_protocol_error_new:
 * @code: a protocol error code
 *
 * Returns: (transfer full): a #GError in %KLETSEN_PROTOCOL_ERROR with @code
 *   and its translated text
 */
GError *
kletsen_protocol_error_new (int code)
{
  return g_error_new_literal (KLETSEN_PROTOCOL_ERROR, code, kletsen_code_describe (code));
}
