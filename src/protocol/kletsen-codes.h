/* kletsen-codes.h
 *
 * Copyright 2026 The Kletsen authors
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#pragma once

#include <glib.h>

G_BEGIN_DECLS

/**
 * KletsenCode:
 *
 * Every error code and disconnect reason of the protocol (protocol.md §2–§6).
 * Codes marked "extension" are this project's additions.
 */
typedef enum
{
  KLETSEN_CODE_NAME_TAKEN            = 5000,
  KLETSEN_CODE_NAME_INVALID          = 5001,
  KLETSEN_CODE_ALREADY_LOGGED_IN     = 5002,
  KLETSEN_CODE_CLUSTER_UNAVAILABLE   = 5003, /* extension */

  KLETSEN_CODE_NOT_LOGGED_IN         = 6000,
  KLETSEN_CODE_RECIPIENT_NOT_FOUND   = 6001,
  KLETSEN_CODE_NOT_ENOUGH_PLAYERS    = 6002,
  KLETSEN_CODE_GAME_IN_PROGRESS      = 6003,
  KLETSEN_CODE_ALREADY_JOINED        = 6004,
  KLETSEN_CODE_NO_GAME               = 6005,
  KLETSEN_CODE_MESSAGE_TO_SELF       = 6007,
  KLETSEN_CODE_EMPTY_MESSAGE         = 6008,
  KLETSEN_CODE_GAME_COOLDOWN         = 6009, /* extension */

  KLETSEN_CODE_PONG_TIMEOUT          = 7000,
  KLETSEN_CODE_LINE_TOO_LONG         = 7001,
  KLETSEN_CODE_GAME_IN_LOBBY         = 7003,
  KLETSEN_CODE_GUESS_NOT_INTEGER     = 7004,
  KLETSEN_CODE_GUESS_OUT_OF_RANGE    = 7007,
  KLETSEN_CODE_ALREADY_GUESSED       = 7008, /* extension */
  KLETSEN_CODE_QUEUE_OVERFLOW        = 7010, /* extension */
  KLETSEN_CODE_SERVER_SHUTDOWN       = 7011, /* extension */
  KLETSEN_CODE_SERVER_FULL           = 7012, /* extension */
  KLETSEN_CODE_LOGIN_TIMEOUT         = 7013, /* extension */
  KLETSEN_CODE_TOO_MANY_REQUESTS     = 7014, /* extension */
  KLETSEN_CODE_NAME_TAKEN_ELSEWHERE  = 7015, /* extension */

  KLETSEN_CODE_PONG_WITHOUT_PING     = 8000,
  KLETSEN_CODE_NOT_A_PLAYER          = 8001,

  KLETSEN_CODE_NO_RESULTS            = 9002,
  KLETSEN_CODE_GAME_SERVER_GONE      = 9003, /* extension */

  KLETSEN_CODE_FILE_TOO_LARGE        = 10000,
  KLETSEN_CODE_BAD_CHECKSUM          = 10001,
  KLETSEN_CODE_FILE_REJECTED         = 10002,
  KLETSEN_CODE_BAD_FILENAME          = 10003, /* extension */
  KLETSEN_CODE_UNKNOWN_TRANSFER      = 10004, /* extension */
  KLETSEN_CODE_TOO_MANY_OFFERS       = 10005, /* extension */
  KLETSEN_CODE_OFFER_WITHDRAWN       = 10006, /* extension */
} KletsenCode;

typedef struct
{
  int         code;
  const char *text;       /* untranslated; use kletsen_code_describe() for display */
  gboolean    extension;  /* TRUE when this project added the code */
  gboolean    disconnect; /* TRUE for DSCN reasons */
} KletsenCodeInfo;

/* GErrors carrying a protocol code: the error code is the protocol's. */
#define KLETSEN_PROTOCOL_ERROR (kletsen_protocol_error_quark ())
GQuark                 kletsen_protocol_error_quark (void);
GError                *kletsen_protocol_error_new   (int    code);

const KletsenCodeInfo *kletsen_code_table       (gsize *n_codes);
const KletsenCodeInfo *kletsen_code_lookup      (int    code);
const char            *kletsen_code_describe    (int    code);

G_END_DECLS
