/* kletsen-message.c
 *
 * Copyright 2026 The Kletsen authors
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#include "config.h"

#include <string.h>

#include "kletsen-json-check.h"
#include "kletsen-message.h"

#define S KLETSEN_FIELD_STRING
#define I KLETSEN_FIELD_INTEGER
#define NS KLETSEN_FIELD_NUMBER_OR_STRING
#define A KLETSEN_FIELD_ARRAY
#define C2S KLETSEN_TO_SERVER
#define S2C KLETSEN_TO_CLIENT

/* Every message of protocol.md. The server's parser, its error replies, the
 * client's parser and the message table in docs/protocol.md all come from
 * here (see tests/test-docs.c). Reply bodies only require "status": "code"
 * and the payload fields depend on it. */
static const KletsenMessageInfo messages[KLETSEN_N_MESSAGES] = {
  { KLETSEN_MSG_LOGIN, "LOGIN", C2S, "LOGIN_RESP", { { "username", S } }, "2", FALSE },
  { KLETSEN_MSG_LOGIN_REQ, "LOGIN_REQ", C2S, "LOGIN_RESP", { { "username", S } }, "2", FALSE },
  { KLETSEN_MSG_BROADCAST_REQ, "BROADCAST_REQ", C2S, "BROADCAST_RESP", { { "message", S } }, "2", FALSE },
  { KLETSEN_MSG_PONG, "PONG", C2S, NULL, { { NULL } }, "2", FALSE },
  { KLETSEN_MSG_BYE, "BYE", C2S, "BYE_RESP", { { NULL } }, "2", FALSE },
  { KLETSEN_MSG_LIST_USERS_REQ, "LIST_USERS_REQ", C2S, "LIST_USERS_RESP", { { NULL } }, "3", FALSE },
  { KLETSEN_MSG_PRIVATE_MESSAGE_REQ, "PRIVATE_MESSAGE_REQ", C2S, "PRIVATE_MESSAGE_RESP",
    { { "receiver", S }, { "message", S } }, "3", FALSE },
  { KLETSEN_MSG_START_GAME_REQ, "START_GAME_REQ", C2S, "START_GAME_RESP", { { NULL } }, "3", FALSE },
  { KLETSEN_MSG_JOIN_GAME_REQ, "JOIN_GAME_REQ", C2S, "JOIN_GAME_RESP", { { NULL } }, "3", FALSE },
  { KLETSEN_MSG_GUESS_NUMBER_REQ, "GUESS_NUMBER_REQ", C2S, "GUESS_NUMBER_RESP", { { "number", NS } }, "3", FALSE },
  /* size and checksum may be left out, as the original protocol's offer does
   * (accepted for compatibility); when present they are checked. */
  { KLETSEN_MSG_FILE_TRANSFER_REQUEST, "FILE_TRANSFER_REQUEST", C2S, "FILE_TRANSFER_RESPONSE",
    { { "receiver", S }, { "filename", S } }, "4", FALSE, { { "size", I }, { "checksum", S }, { "roleSecret", S } } },
  /* roleSecret (extension): the secret each side chose for its half of the
   * side channel. */
  { KLETSEN_MSG_FILE_TRANSFER_ANSWER, "FILE_TRANSFER_RESPONSE", C2S, "FILE_TRANSFER_RESPONSE",
    { { "transferId", S }, { "status", S } }, "4", FALSE, { { "roleSecret", S } } },
  { KLETSEN_MSG_SECURE_MESSAGE_REQ, "SECURE_MESSAGE_REQ", C2S, "SECURE_MESSAGE_RES", { { "receiver", S } }, "5", FALSE },
  { KLETSEN_MSG_SECURE_MESSAGE_RES, "SECURE_MESSAGE_RES", C2S, "SECURE_MESSAGE_RES",
    { { "sender", S }, { "publicKey", S } }, "5", FALSE },
  /* message, or encryptedMessage as the original authors' client names it
   * (accepted for compatibility): exactly one of the two. */
  { KLETSEN_MSG_SECURE_MESSAGE, "SECURE_MESSAGE", C2S, "SECURE_MESSAGE_RES",
    { { "receiver", S }, { "sessionKey", S } }, "5", FALSE,
    { { "message", S }, { "encryptedMessage", S }, { "senderKey", S }, { "counter", I }, { "signature", S } } },
  { KLETSEN_MSG_FILE_TRANSFER_CANCEL, "FILE_TRANSFER_CANCEL", C2S, "FILE_TRANSFER_RESPONSE",
    { { "receiver", S }, { "filename", S } }, "4", TRUE, { { "checksum", S } } },

  /* Any WELCOME will do: other servers send {"message":…} or none (accepted
   * for compatibility); it only says the server is ready. */
  { KLETSEN_MSG_WELCOME, "WELCOME", S2C, NULL, { { NULL } }, "2", FALSE },
  { KLETSEN_MSG_LOGIN_RESP, "LOGIN_RESP", S2C, NULL, { { "status", S } }, "2", FALSE,
    { { "code", I } } },
  { KLETSEN_MSG_JOINED, "JOINED", S2C, NULL, { { "username", S } }, "2", FALSE },
  { KLETSEN_MSG_LEFT, "LEFT", S2C, NULL, { { "username", S } }, "2", FALSE },
  { KLETSEN_MSG_BROADCAST_RESP, "BROADCAST_RESP", S2C, NULL, { { "status", S } }, "2", FALSE,
    { { "code", I } } },
  { KLETSEN_MSG_BROADCAST, "BROADCAST", S2C, NULL, { { "username", S }, { "message", S } }, "2", FALSE },
  { KLETSEN_MSG_PING, "PING", S2C, NULL, { { NULL } }, "2", FALSE },
  { KLETSEN_MSG_PONG_ERROR, "PONG_ERROR", S2C, NULL, { { "code", I } }, "2", FALSE },
  { KLETSEN_MSG_DSCN, "DSCN", S2C, NULL, { { "reason", I } }, "6", FALSE },
  { KLETSEN_MSG_BYE_RESP, "BYE_RESP", S2C, NULL, { { "status", S } }, "2", FALSE,
    { { "code", I } } },
  { KLETSEN_MSG_UNKNOWN_COMMAND, "UNKNOWN_COMMAND", S2C, NULL, { { NULL } }, "2", FALSE },
  { KLETSEN_MSG_PARSE_ERROR, "PARSE_ERROR", S2C, NULL, { { NULL } }, "2", FALSE },
  { KLETSEN_MSG_LIST_USERS_RESP, "LIST_USERS_RESP", S2C, NULL, { { "status", S } }, "3", FALSE,
    { { "code", I }, { "users", A } } },
  { KLETSEN_MSG_PRIVATE_MESSAGE_RESP, "PRIVATE_MESSAGE_RESP", S2C, NULL, { { "status", S } }, "3", FALSE,
    { { "code", I } } },
  { KLETSEN_MSG_PRIVATE_MESSAGE, "PRIVATE_MESSAGE", S2C, NULL, { { "sender", S }, { "message", S } }, "3", FALSE },
  { KLETSEN_MSG_START_GAME_RESP, "START_GAME_RESP", S2C, NULL, { { "status", S } }, "3", FALSE,
    { { "code", I }, { "players", A }, { "min", I }, { "max", I } } },
  { KLETSEN_MSG_GAME_NOTIFICATION, "GAME_NOTIFICATION", S2C, NULL, { { "status", S } }, "3", FALSE,
    { { "initiator", S }, { "joinSeconds", I }, { "joinMs", I } } },
  { KLETSEN_MSG_JOIN_GAME_RESP, "JOIN_GAME_RESP", S2C, NULL, { { "status", S } }, "3", FALSE,
    { { "code", I } } },
  { KLETSEN_MSG_GAME_JOINED, "GAME_JOINED", S2C, NULL, { { "username", S }, { "players", A } }, "3", TRUE },
  { KLETSEN_MSG_GUESS_NUMBER_RESP, "GUESS_NUMBER_RESP", S2C, NULL, { { "status", S } }, "3", FALSE,
    { { "code", I }, { "result", I } } },
  { KLETSEN_MSG_GAME_PROGRESS, "GAME_PROGRESS", S2C, NULL,
    { { "username", S }, { "timeMs", I }, { "finished", I }, { "players", I } }, "3", TRUE },
  { KLETSEN_MSG_GAME_RESULTS, "GAME_RESULTS", S2C, NULL, { { "status", S } }, "3", FALSE,
    { { "code", I }, { "results", A } } },
  { KLETSEN_MSG_FILE_TRANSFER_OFFER, "FILE_TRANSFER_REQUEST", S2C, NULL,
    { { "sender", S }, { "filename", S }, { "transferId", S } }, "4", FALSE,
    { { "size", I }, { "checksum", S }, { "roleSecret", S } } },
  { KLETSEN_MSG_FILE_TRANSFER_RESPONSE, "FILE_TRANSFER_RESPONSE", S2C, NULL, { { "status", S } }, "4", FALSE,
    { { "code", I }, { "transferId", S }, { "receiver", S }, { "filename", S }, { "roleSecret", S } } },
  { KLETSEN_MSG_SECURE_MESSAGE_REQ_IN, "SECURE_MESSAGE_REQ", S2C, NULL, { { "sender", S } }, "5", FALSE },
  { KLETSEN_MSG_SECURE_MESSAGE_RES_IN, "SECURE_MESSAGE_RES", S2C, NULL, { { NULL } }, "5", FALSE,
    { { "code", I }, { "receiver", S }, { "publicKey", S } } },
  { KLETSEN_MSG_SECURE_MESSAGE_IN, "SECURE_MESSAGE", S2C, NULL,
    { { "sender", S }, { "sessionKey", S } }, "5", FALSE,
    /* §5.1's senderKey, counter and signature are judged by the client's
     * handler, so that a wrong one is an error item, not a dropped line. */
    { { "message", S }, { "encryptedMessage", S } } },
  { KLETSEN_MSG_FILE_TRANSFER_ENDED, "FILE_TRANSFER_ENDED", S2C, NULL,
    { { "transferId", S }, { "sender", S }, { "code", I } }, "4", TRUE },
};

#undef S
#undef I
#undef NS
#undef A
#undef C2S
#undef S2C

const KletsenMessageInfo *
kletsen_message_table (gsize *n_messages)
{
  *n_messages = G_N_ELEMENTS (messages);
  return messages;
}

const KletsenMessageInfo *
kletsen_message_info (KletsenMessageType type)
{
  g_return_val_if_fail (type < KLETSEN_N_MESSAGES, NULL);
  g_assert (messages[type].type == type);
  return &messages[type];
}

static gboolean
is_header_text (const char *text,
                gsize       len)
{
  for (gsize i = 0; i < len; i++)
    if (!g_ascii_isupper (text[i]) && text[i] != '_')
      return FALSE;
  return TRUE;
}

/**
 * kletsen_message_lookup:
 * @line: one line, without its terminator
 * @len: its length
 * @direction: who sent it
 * @body: (out): where the body starts (past the first space), or %NULL
 * @body_len: (out): the body's length
 *
 * Splits @line at its first space (or at a `{` glued to the header) and
 * finds the header in the table.
 *
 * Returns: (nullable): the message, or %NULL for a header this side does not
 *   accept (answer `UNKNOWN_COMMAND`)
 */
const KletsenMessageInfo *
kletsen_message_lookup (const char        *line,
                        gsize              len,
                        KletsenDirection   direction,
                        const char       **body,
                        gsize             *body_len)
{
  const char *space = memchr (line, ' ', len);
  gsize header_len = space ? (gsize)(space - line) : len;
  const char *brace = memchr (line, '{', header_len);

  *body = space ? space + 1 : NULL;
  *body_len = space ? len - header_len - 1 : 0;

  /* A header glued to its body (`LOGIN{"username":"vik"}`), as one of the
   * original protocol's clients writes it: headers are [A-Z_]+, so the
   * first `{` before any space is where the body starts (accepted for
   * compatibility). */
  if (brace != NULL && brace > line && is_header_text (line, brace - line))
    {
      header_len = brace - line;
      *body = brace;
      *body_len = len - header_len;
    }

  for (gsize i = 0; i < G_N_ELEMENTS (messages); i++)
    {
      const KletsenMessageInfo *info = &messages[i];

      /* Lengths first: the line may hold a NUL, which strncmp() would
       * take for the end of the header (found by fuzz-message). */
      if (info->direction == direction &&
          strlen (info->header) == header_len &&
          memcmp (info->header, line, header_len) == 0)
        return info;
    }

  return NULL;
}

static gboolean
is_blank_body (const char *body,
               gsize       len)
{
  for (gsize i = 0; i < len; i++)
    if (!g_ascii_isspace (body[i]))
      return FALSE;
  return TRUE;
}

static gboolean
field_has_type (JsonNode         *node,
                KletsenFieldType  type)
{
  GType value_type;

  if (type == KLETSEN_FIELD_ARRAY)
    return JSON_NODE_HOLDS_ARRAY (node);
  if (!JSON_NODE_HOLDS_VALUE (node))
    return FALSE;

  value_type = json_node_get_value_type (node);
  switch (type)
    {
    case KLETSEN_FIELD_STRING:
      return value_type == G_TYPE_STRING;
    case KLETSEN_FIELD_INTEGER:
      return value_type == G_TYPE_INT64;
    case KLETSEN_FIELD_NUMBER_OR_STRING:
      return value_type == G_TYPE_STRING || value_type == G_TYPE_INT64 || value_type == G_TYPE_DOUBLE;
    case KLETSEN_FIELD_ARRAY:
    default:
      return FALSE;
    }
}

/**
 * kletsen_message_parse_body:
 * @info: the message that @body belongs to
 * @body: (nullable): the body text, or %NULL when the line had none
 * @body_len: its length
 * @object: (out) (transfer full) (optional): the body as a JSON object; an
 *   empty object when there was no body
 *
 * Checks that @body is one strict JSON object holding every field @info
 * requires with the right JSON type, and that each optional field it names
 * is either absent, null, or of its type.
 *
 * Returns: %KLETSEN_PARSE_OK or %KLETSEN_PARSE_ERROR
 */
KletsenParseStatus
kletsen_message_parse_body (const KletsenMessageInfo  *info,
                            const char                *body,
                            gsize                      body_len,
                            JsonObject               **object)
{
  g_autoptr(JsonParser) parser = NULL;
  g_autoptr(JsonObject) obj = NULL;
  JsonNode *root;

  if (body == NULL || is_blank_body (body, body_len))
    {
      if (info->fields[0].name != NULL)
        return KLETSEN_PARSE_ERROR;
      if (object != NULL)
        *object = json_object_new ();
      return KLETSEN_PARSE_OK;
    }

  if (!kletsen_json_check_object (body, body_len, KLETSEN_JSON_MAX_DEPTH))
    return KLETSEN_PARSE_ERROR;

  parser = json_parser_new_immutable ();
  if (!json_parser_load_from_data (parser, body, body_len, NULL))
    return KLETSEN_PARSE_ERROR;
  root = json_parser_get_root (parser);
  if (root == NULL || !JSON_NODE_HOLDS_OBJECT (root))
    return KLETSEN_PARSE_ERROR;
  obj = json_object_ref (json_node_get_object (root));

  for (guint i = 0; i < KLETSEN_MAX_FIELDS && info->fields[i].name != NULL; i++)
    {
      JsonNode *node = json_object_get_member (obj, info->fields[i].name);

      if (node == NULL || !field_has_type (node, info->fields[i].type))
        return KLETSEN_PARSE_ERROR;
    }
  for (guint i = 0; i < KLETSEN_MAX_OPTIONAL && info->optional[i].name != NULL; i++)
    {
      JsonNode *node = json_object_get_member (obj, info->optional[i].name);

      if (node != NULL && !JSON_NODE_HOLDS_NULL (node) && !field_has_type (node, info->optional[i].type))
        return KLETSEN_PARSE_ERROR;
    }

  if (object != NULL)
    *object = g_steal_pointer (&obj);
  return KLETSEN_PARSE_OK;
}

/**
 * kletsen_message_parse:
 *
 * Looks up the header of @line and parses its body in one step.
 */
KletsenParseStatus
kletsen_message_parse (const char                *line,
                       gsize                      len,
                       KletsenDirection           direction,
                       const KletsenMessageInfo **info,
                       JsonObject               **object)
{
  const char *body;
  gsize body_len;

  *info = kletsen_message_lookup (line, len, direction, &body, &body_len);
  if (*info == NULL)
    return KLETSEN_PARSE_UNKNOWN_HEADER;
  return kletsen_message_parse_body (*info, body, body_len, object);
}

/**
 * kletsen_message_serialize:
 * @header: the message header
 * @body: (nullable): the fields, or %NULL for a message without a body
 *
 * Returns: (transfer full): the message as exactly one line, `\n` included.
 *   json-glib escapes newlines and other control characters inside strings,
 *   so the line cannot be split by what it carries.
 */
GBytes *
kletsen_message_serialize (const char *header,
                           JsonObject *body)
{
  g_autoptr(JsonGenerator) generator = NULL;
  g_autoptr(JsonNode) root = NULL;
  g_autofree char *json = NULL;
  gsize header_len = strlen (header);
  gsize json_len = 0;
  char *line;
  gsize len;

  if (body == NULL)
    {
      line = g_malloc (header_len + 1);
      memcpy (line, header, header_len);
      line[header_len] = '\n';
      return g_bytes_new_take (line, header_len + 1);
    }

  root = json_node_init_object (json_node_alloc (), body);
  generator = json_generator_new ();
  json_generator_set_root (generator, root);
  json = json_generator_to_data (generator, &json_len);

  len = header_len + 1 + json_len + 1;
  line = g_malloc (len);
  memcpy (line, header, header_len);
  line[header_len] = ' ';
  memcpy (line + header_len + 1, json, json_len);
  line[len - 1] = '\n';
  return g_bytes_new_take (line, len);
}

/**
 * kletsen_message_build_status:
 * @header: a response header
 * @code: 0 for `{"status":"OK"}`, else an error code
 *
 * Returns: (transfer full): `HEADER {"status":"OK"}` or
 *   `HEADER {"status":"ERROR","code":N}`
 */
GBytes *
kletsen_message_build_status (const char *header,
                              int         code)
{
  g_autoptr(JsonObject) body = json_object_new ();

  if (code == 0)
    {
      json_object_set_string_member (body, "status", "OK");
    }
  else
    {
      json_object_set_string_member (body, "status", "ERROR");
      json_object_set_int_member (body, "code", code);
    }
  return kletsen_message_serialize (header, body);
}

/**
 * kletsen_text_is_blank:
 *
 * Returns: %TRUE when @text is empty or holds only white space (6008).
 */
gboolean
kletsen_text_is_blank (const char *text)
{
  for (const char *p = text; *p; p = g_utf8_next_char (p))
    if (!g_unichar_isspace (g_utf8_get_char (p)))
      return FALSE;
  return TRUE;
}

/**
 * kletsen_user_name_is_valid:
 *
 * Returns: %TRUE when @name matches `^[A-Za-z0-9_]{3,14}$`.
 */
gboolean
kletsen_user_name_is_valid (const char *name)
{
  gsize len = 0;

  for (const char *p = name; *p; p++, len++)
    if (!g_ascii_isalnum (*p) && *p != '_')
      return FALSE;
  return len >= 3 && len <= 14;
}

/**
 * kletsen_user_name_skeleton:
 *
 * What a name looks like, for telling look-alikes apart: lower case,
 * underscores dropped, and the characters that pass for one another in
 * common fonts made one ("AIice", "a1ice", "alice_" and "alice" all give
 * "allce"; "rn" passes for "m", "0" for "o", "5" for "s", "vv" for "w").
 *
 * Returns: (transfer full): the skeleton of @name
 */
char *
kletsen_user_name_skeleton (const char *name)
{
  g_autofree char *lower = g_ascii_strdown (name, -1);
  GString *out = g_string_new (NULL);

  for (const char *p = lower; *p; p++)
    {
      char c = *p;

      if (c == '_')
        continue;
      if (c == 'r' && p[1] == 'n')
        {
          g_string_append_c (out, 'm');
          p++;
          continue;
        }
      if (c == 'v' && p[1] == 'v')
        {
          g_string_append_c (out, 'w');
          p++;
          continue;
        }
      switch (c)
        {
        case 'i': case '1': case '|': c = 'l'; break;
        case '0': c = 'o'; break;
        case '5': c = 's'; break;
        case '8': c = 'b'; break;
        default: break;
        }
      g_string_append_c (out, c);
    }
  return g_string_free (out, FALSE);
}

/**
 * kletsen_user_name_key:
 *
 * Returns: (transfer full): the key under which @name is unique; names differ
 *   only in ASCII case, so folding ASCII case is enough.
 */
char *
kletsen_user_name_key (const char *name)
{
  return g_ascii_strdown (name, -1);
}
