/* kletsen-message.h
 *
 * Copyright 2026 The Kletsen authors
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#pragma once

#include <json-glib/json-glib.h>

G_BEGIN_DECLS

typedef enum
{
  KLETSEN_TO_SERVER, /* C→S */
  KLETSEN_TO_CLIENT, /* S→C */
} KletsenDirection;

typedef enum
{
  KLETSEN_FIELD_STRING,
  KLETSEN_FIELD_INTEGER,          /* a JSON number without fraction or exponent */
  KLETSEN_FIELD_NUMBER_OR_STRING, /* any JSON number, or a string */
  KLETSEN_FIELD_ARRAY,
} KletsenFieldType;

typedef struct
{
  const char       *name;
  KletsenFieldType  type;
} KletsenField;

/* One value per message of protocol.md; a header used in both directions
 * has one per direction. Keep in the order of the table in kletsen-message.c. */
typedef enum
{
  /* C→S */
  KLETSEN_MSG_LOGIN,
  KLETSEN_MSG_LOGIN_REQ,
  KLETSEN_MSG_BROADCAST_REQ,
  KLETSEN_MSG_PONG,
  KLETSEN_MSG_BYE,
  KLETSEN_MSG_LIST_USERS_REQ,
  KLETSEN_MSG_PRIVATE_MESSAGE_REQ,
  KLETSEN_MSG_START_GAME_REQ,
  KLETSEN_MSG_JOIN_GAME_REQ,
  KLETSEN_MSG_GUESS_NUMBER_REQ,
  KLETSEN_MSG_FILE_TRANSFER_REQUEST,
  KLETSEN_MSG_FILE_TRANSFER_ANSWER,
  KLETSEN_MSG_SECURE_MESSAGE_REQ,
  KLETSEN_MSG_SECURE_MESSAGE_RES,
  KLETSEN_MSG_SECURE_MESSAGE,
  KLETSEN_MSG_FILE_TRANSFER_CANCEL,
  /* S→C */
  KLETSEN_MSG_WELCOME,
  KLETSEN_MSG_LOGIN_RESP,
  KLETSEN_MSG_JOINED,
  KLETSEN_MSG_LEFT,
  KLETSEN_MSG_BROADCAST_RESP,
  KLETSEN_MSG_BROADCAST,
  KLETSEN_MSG_PING,
  KLETSEN_MSG_PONG_ERROR,
  KLETSEN_MSG_DSCN,
  KLETSEN_MSG_BYE_RESP,
  KLETSEN_MSG_UNKNOWN_COMMAND,
  KLETSEN_MSG_PARSE_ERROR,
  KLETSEN_MSG_LIST_USERS_RESP,
  KLETSEN_MSG_PRIVATE_MESSAGE_RESP,
  KLETSEN_MSG_PRIVATE_MESSAGE,
  KLETSEN_MSG_START_GAME_RESP,
  KLETSEN_MSG_GAME_NOTIFICATION,
  KLETSEN_MSG_JOIN_GAME_RESP,
  KLETSEN_MSG_GAME_JOINED,
  KLETSEN_MSG_GUESS_NUMBER_RESP,
  KLETSEN_MSG_GAME_PROGRESS,
  KLETSEN_MSG_GAME_RESULTS,
  KLETSEN_MSG_FILE_TRANSFER_OFFER,
  KLETSEN_MSG_FILE_TRANSFER_RESPONSE,
  KLETSEN_MSG_SECURE_MESSAGE_REQ_IN,
  KLETSEN_MSG_SECURE_MESSAGE_RES_IN,
  KLETSEN_MSG_SECURE_MESSAGE_IN,
  KLETSEN_MSG_FILE_TRANSFER_ENDED,
  KLETSEN_N_MESSAGES
} KletsenMessageType;

#define KLETSEN_MAX_FIELDS 5
#define KLETSEN_MAX_OPTIONAL 6

typedef struct
{
  KletsenMessageType  type;
  const char         *header;
  KletsenDirection    direction;
  /* For a request: the header of its reply; NULL when it has none. */
  const char         *response;
  /* Fields that must be present with this JSON type; unknown ones are ignored. */
  KletsenField        fields[KLETSEN_MAX_FIELDS];
  /* protocol.md section, and whether this project added the message. */
  const char         *section;
  gboolean            extension;
  /* Fields that may be absent (or JSON null), but that must have this type
   * when present. Only given for messages to the client: the client checks
   * what a server sends as strictly as the server checks clients. */
  KletsenField        optional[KLETSEN_MAX_OPTIONAL];
} KletsenMessageInfo;

typedef enum
{
  KLETSEN_PARSE_OK,
  KLETSEN_PARSE_UNKNOWN_HEADER, /* answer UNKNOWN_COMMAND */
  KLETSEN_PARSE_ERROR,          /* answer PARSE_ERROR */
} KletsenParseStatus;

const KletsenMessageInfo *kletsen_message_table        (gsize                     *n_messages);
const KletsenMessageInfo *kletsen_message_info         (KletsenMessageType         type);
const KletsenMessageInfo *kletsen_message_lookup       (const char                *line,
                                                        gsize                      len,
                                                        KletsenDirection           direction,
                                                        const char               **body,
                                                        gsize                     *body_len);
KletsenParseStatus        kletsen_message_parse_body   (const KletsenMessageInfo  *info,
                                                        const char                *body,
                                                        gsize                      body_len,
                                                        JsonObject               **object);
KletsenParseStatus        kletsen_message_parse        (const char                *line,
                                                        gsize                      len,
                                                        KletsenDirection           direction,
                                                        const KletsenMessageInfo **info,
                                                        JsonObject               **object);

GBytes                   *kletsen_message_serialize    (const char                *header,
                                                        JsonObject                *body);
GBytes                   *kletsen_message_build_status (const char                *header,
                                                        int                        code);

gboolean                  kletsen_text_is_blank        (const char                *text);
gboolean                  kletsen_user_name_is_valid   (const char                *name);
char                     *kletsen_user_name_skeleton   (const char                *name);
char                     *kletsen_user_name_key        (const char                *name);

G_END_DECLS
