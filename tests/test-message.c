/* test-message.c
 *
 * Copyright 2026 The Kletsen authors
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#include "config.h"

#include <string.h>

#include "kletsen-protocol.h"

typedef struct
{
  const char         *line;
  gsize               len;    /* 0: strlen (line) */
  KletsenDirection    direction;
  KletsenParseStatus  expected;
  KletsenMessageType  type;   /* when expected is OK */
} ParseCase;

#define NUL_LINE "BROADCAST_REQ {\"message\":\"a\0b\"}"
/* A NUL inside a header that starts like a known one, longer than it: found
 * by fuzz-message reading past the table's header (regression test). */
#define NUL_HEADER "SECURE_MESSAGE_RES\0paddingpaddingpadding"
#define C2S KLETSEN_TO_SERVER
#define S2C KLETSEN_TO_CLIENT
#define OK KLETSEN_PARSE_OK
#define UNKNOWN KLETSEN_PARSE_UNKNOWN_HEADER
#define BAD KLETSEN_PARSE_ERROR

static const ParseCase parse_cases[] = {
  /* Every client request with a valid body. */
  { "LOGIN {\"username\":\"alice\"}", 0, C2S, OK, KLETSEN_MSG_LOGIN },
  { "LOGIN_REQ {\"username\":\"alice\"}", 0, C2S, OK, KLETSEN_MSG_LOGIN_REQ },
  { "BROADCAST_REQ {\"message\":\"hi\"}", 0, C2S, OK, KLETSEN_MSG_BROADCAST_REQ },
  { "PONG", 0, C2S, OK, KLETSEN_MSG_PONG },
  { "PONG {}", 0, C2S, OK, KLETSEN_MSG_PONG },
  { "PONG ", 0, C2S, OK, KLETSEN_MSG_PONG },
  { "BYE", 0, C2S, OK, KLETSEN_MSG_BYE },
  { "BYE {}", 0, C2S, OK, KLETSEN_MSG_BYE },
  { "LIST_USERS_REQ", 0, C2S, OK, KLETSEN_MSG_LIST_USERS_REQ },
  { "LIST_USERS_REQ {\"extra\":[1,{\"x\":null}]}", 0, C2S, OK, KLETSEN_MSG_LIST_USERS_REQ },
  { "PRIVATE_MESSAGE_REQ {\"receiver\":\"bob\",\"message\":\"hi\"}", 0, C2S, OK, KLETSEN_MSG_PRIVATE_MESSAGE_REQ },
  { "START_GAME_REQ", 0, C2S, OK, KLETSEN_MSG_START_GAME_REQ },
  { "JOIN_GAME_REQ {}", 0, C2S, OK, KLETSEN_MSG_JOIN_GAME_REQ },
  { "GUESS_NUMBER_REQ {\"number\":17}", 0, C2S, OK, KLETSEN_MSG_GUESS_NUMBER_REQ },
  { "GUESS_NUMBER_REQ {\"number\":\"17\"}", 0, C2S, OK, KLETSEN_MSG_GUESS_NUMBER_REQ },
  { "GUESS_NUMBER_REQ {\"number\":1.5}", 0, C2S, OK, KLETSEN_MSG_GUESS_NUMBER_REQ },
  { "FILE_TRANSFER_REQUEST {\"receiver\":\"bob\",\"filename\":\"a.pdf\",\"size\":12,\"checksum\":\"ab\"}", 0, C2S, OK,
    KLETSEN_MSG_FILE_TRANSFER_REQUEST },
  { "FILE_TRANSFER_RESPONSE {\"transferId\":\"x\",\"status\":\"OK\"}", 0, C2S, OK, KLETSEN_MSG_FILE_TRANSFER_ANSWER },
  { "SECURE_MESSAGE_REQ {\"receiver\":\"bob\"}", 0, C2S, OK, KLETSEN_MSG_SECURE_MESSAGE_REQ },
  { "SECURE_MESSAGE_RES {\"sender\":\"alice\",\"publicKey\":\"AAAA\"}", 0, C2S, OK, KLETSEN_MSG_SECURE_MESSAGE_RES },
  { "SECURE_MESSAGE {\"receiver\":\"bob\",\"sessionKey\":\"a\",\"message\":\"b\"}", 0, C2S, OK, KLETSEN_MSG_SECURE_MESSAGE },
  /* White space around the object, unicode escapes, surrogate pairs. */
  { "BROADCAST_REQ  \t{ \"message\" : \"caf\\u00e9 \\ud83d\\ude00\" }  ", 0, C2S, OK, KLETSEN_MSG_BROADCAST_REQ },
  { "BROADCAST_REQ {\"message\":\"h\xc3\xa9\"}", 0, C2S, OK, KLETSEN_MSG_BROADCAST_REQ },

  /* A header glued to its body: accepted for compatibility, every check kept. */
  { "LOGIN{\"username\":\"alice\"}", 0, C2S, OK, KLETSEN_MSG_LOGIN },
  { "BROADCAST_REQ{\"message\":\"a b\"}", 0, C2S, OK, KLETSEN_MSG_BROADCAST_REQ },
  { "BROADCAST_REQ{\"message\":1}", 0, C2S, BAD },
  { "LOGIN{", 0, C2S, BAD },

  /* Unknown headers, in either direction. */
  { "MSG This is an invalid message", 0, C2S, UNKNOWN },
  { "login {\"username\":\"alice\"}", 0, C2S, UNKNOWN },
  { "login{\"username\":\"alice\"}", 0, C2S, UNKNOWN },
  { "LOGINX{\"username\":\"alice\"}", 0, C2S, UNKNOWN },
  { "LOG IN{\"username\":\"alice\"}", 0, C2S, UNKNOWN },
  { "WELCOME {\"msg\":\"x\"}", 0, C2S, UNKNOWN },
  { "LOGIN {\"username\":\"alice\"}", 0, S2C, UNKNOWN },
  { "LOGI", 0, C2S, UNKNOWN },
  { "LOGINX", 0, C2S, UNKNOWN },

  /* Bodies that are not one valid JSON object. */
  { "BROADCAST_REQ {\"aaaa\"}", 0, C2S, BAD },
  { "BROADCAST_REQ [\"message\"]", 0, C2S, BAD },
  { "BROADCAST_REQ \"message\"", 0, C2S, BAD },
  { "BROADCAST_REQ {\"message\":\"x\"} trailing", 0, C2S, BAD },
  { "BROADCAST_REQ {\"message\":\"x\"}{}", 0, C2S, BAD },
  { "BROADCAST_REQ {\"message\":\"x\",}", 0, C2S, BAD },
  { "BROADCAST_REQ {'message':'x'}", 0, C2S, BAD },
  { "BROADCAST_REQ /* c */ {\"message\":\"x\"}", 0, C2S, BAD },
  { "BROADCAST_REQ {\"message\":\"x\",\"n\":NaN}", 0, C2S, BAD },
  { "BROADCAST_REQ {\"message\":\"x\",\"n\":01}", 0, C2S, BAD },
  { "BROADCAST_REQ {\"message\":\"x\",\"n\":1.}", 0, C2S, BAD },
  { "BROADCAST_REQ {\"message\":\"x\",\"n\":-}", 0, C2S, BAD },
  { "BROADCAST_REQ {\"message\":\"x\\u0000y\"}", 0, C2S, BAD },
  { "BROADCAST_REQ {\"message\":\"\\ud800\"}", 0, C2S, BAD },
  { "BROADCAST_REQ {\"message\":\"\\udc00\"}", 0, C2S, BAD },
  { "BROADCAST_REQ {\"message\":\"\\x\"}", 0, C2S, BAD },
  { "BROADCAST_REQ {\"message\":\"tab\there\"}", 0, C2S, BAD },
  { "BROADCAST_REQ {\"message\":\"\xff\"}", 0, C2S, BAD },
  { "BROADCAST_REQ {\"message\":\"\xc3\"}", 0, C2S, BAD },
  { NUL_LINE, sizeof (NUL_LINE) - 1, C2S, BAD },
  { NUL_HEADER, sizeof (NUL_HEADER) - 1, C2S, UNKNOWN },
  { NUL_HEADER, sizeof (NUL_HEADER) - 1, S2C, UNKNOWN },
  { "BROADCAST_REQ {\"message\":\"x\"", 0, C2S, BAD },
  { "BROADCAST_REQ {", 0, C2S, BAD },
  { "BROADCAST_REQ }", 0, C2S, BAD },
  /* Missing fields and wrong JSON types. */
  { "BROADCAST_REQ", 0, C2S, BAD },
  { "BROADCAST_REQ {}", 0, C2S, BAD },
  { "BROADCAST_REQ {\"Message\":\"x\"}", 0, C2S, BAD },
  { "BROADCAST_REQ {\"message\":5}", 0, C2S, BAD },
  { "BROADCAST_REQ {\"message\":null}", 0, C2S, BAD },
  { "LOGIN {\"username\":5}", 0, C2S, BAD },
  { "LOGIN {\"username\":[\"alice\"]}", 0, C2S, BAD },
  { "PRIVATE_MESSAGE_REQ {\"receiver\":\"bob\"}", 0, C2S, BAD },
  { "GUESS_NUMBER_REQ {\"number\":true}", 0, C2S, BAD },
  { "GUESS_NUMBER_REQ {\"number\":null}", 0, C2S, BAD },
  { "GUESS_NUMBER_REQ {\"number\":[17]}", 0, C2S, BAD },
  { "FILE_TRANSFER_REQUEST {\"receiver\":\"bob\",\"filename\":\"a\",\"size\":1.5,\"checksum\":\"ab\"}", 0, C2S, BAD },
  { "PONG [1]", 0, C2S, BAD },
  { "PONG x", 0, C2S, BAD },

  /* What the server sends. */
  { "WELCOME {\"msg\":\"Welcome to the server 1\"}", 0, S2C, OK, KLETSEN_MSG_WELCOME },
  { "BROADCAST {\"username\":\"a\",\"message\":\"b\"}", 0, S2C, OK, KLETSEN_MSG_BROADCAST },
  { "PING", 0, S2C, OK, KLETSEN_MSG_PING },
  { "DSCN {\"reason\":7000}", 0, S2C, OK, KLETSEN_MSG_DSCN },
  { "PONG_ERROR {\"code\":8000}", 0, S2C, OK, KLETSEN_MSG_PONG_ERROR },
  { "GAME_RESULTS {\"status\":\"OK\",\"results\":[{\"username\":\"a\",\"timeMs\":null}]}", 0, S2C, OK,
    KLETSEN_MSG_GAME_RESULTS },
  { "FILE_TRANSFER_REQUEST {\"sender\":\"a\",\"filename\":\"f\",\"size\":1,\"checksum\":\"c\",\"transferId\":\"t\"}", 0,
    S2C, OK, KLETSEN_MSG_FILE_TRANSFER_OFFER },
  { "SECURE_MESSAGE_REQ {\"sender\":\"a\"}", 0, S2C, OK, KLETSEN_MSG_SECURE_MESSAGE_REQ_IN },
  { "DSCN {\"reason\":\"7000\"}", 0, S2C, BAD },
  { "BROADCAST {\"username\":\"a\"}", 0, S2C, BAD },
};

static void
test_parse_case (gconstpointer data)
{
  const ParseCase *pc = data;
  gsize len = pc->len ? pc->len : strlen (pc->line);
  const KletsenMessageInfo *info = NULL;
  g_autoptr(JsonObject) body = NULL;
  KletsenParseStatus status;

  status = kletsen_message_parse (pc->line, len, pc->direction, &info, &body);
  g_assert_cmpint (status, ==, pc->expected);
  if (status == KLETSEN_PARSE_OK)
    {
      g_assert_nonnull (info);
      g_assert_cmpint (info->type, ==, pc->type);
      g_assert_nonnull (body);
    }
}

/* json-glib recurses; the checker must refuse deep nesting before it gets
 * there, quickly and without recursion of its own. */
static void
test_parse_deep_nesting (void)
{
  const gsize depth = 1000000;
  g_autoptr(GString) line = g_string_new ("BROADCAST_REQ {\"message\":\"x\",\"a\":");
  const KletsenMessageInfo *info;
  g_autoptr(JsonObject) body = NULL;

  for (gsize i = 0; i < depth; i++)
    g_string_append_c (line, '[');
  for (gsize i = 0; i < depth; i++)
    g_string_append_c (line, ']');
  g_string_append_c (line, '}');
  g_assert_cmpint (kletsen_message_parse (line->str, line->len, C2S, &info, &body), ==, BAD);
}

static void
test_parse_depth_limit (void)
{
  /* The body object is level 1; 31 more levels of arrays are allowed. */
  for (guint depth = KLETSEN_JSON_MAX_DEPTH - 1; depth <= KLETSEN_JSON_MAX_DEPTH; depth++)
    {
      g_autoptr(GString) line = g_string_new ("BROADCAST_REQ {\"message\":\"x\",\"a\":");
      const KletsenMessageInfo *info;
      g_autoptr(JsonObject) body = NULL;

      for (guint i = 0; i < depth; i++)
        g_string_append (line, i % 2 ? "{\"k\":" : "[");
      for (guint i = depth; i > 0; i--)
        g_string_append (line, (i - 1) % 2 ? "}" : "]");
      g_string_append_c (line, '}');
      g_assert_cmpint (kletsen_message_parse (line->str, line->len, C2S, &info, &body), ==,
                       depth < KLETSEN_JSON_MAX_DEPTH ? OK : BAD);
    }
}

/* The builder writes exactly one line, and what it writes parses back. */
static void
test_serialize_roundtrip (void)
{
  g_autoptr(JsonObject) out = json_object_new ();
  g_autoptr(GBytes) line = NULL;
  g_autoptr(JsonObject) body = NULL;
  const KletsenMessageInfo *info;
  const char *data;
  gsize len;

  json_object_set_string_member (out, "username", "alice");
  json_object_set_string_member (out, "message", "two\nlines\r\tand \"quotes\" \\ caf\xc3\xa9");
  line = kletsen_message_serialize ("BROADCAST", out);
  data = g_bytes_get_data (line, &len);
  g_assert_cmpint (data[len - 1], ==, '\n');
  g_assert_null (memchr (data, '\n', len - 1));
  g_assert_null (memchr (data, '\r', len - 1));

  g_assert_cmpint (kletsen_message_parse (data, len - 1, S2C, &info, &body), ==, OK);
  g_assert_cmpint (info->type, ==, KLETSEN_MSG_BROADCAST);
  g_assert_cmpstr (json_object_get_string_member (body, "message"), ==,
                   "two\nlines\r\tand \"quotes\" \\ caf\xc3\xa9");
}

static void
test_serialize_status (void)
{
  g_autoptr(GBytes) ok = kletsen_message_build_status ("LOGIN_RESP", 0);
  g_autoptr(GBytes) err = kletsen_message_build_status ("LOGIN_RESP", 5001);
  g_autoptr(GBytes) bare = kletsen_message_serialize ("PING", NULL);

  g_assert_cmpmem (g_bytes_get_data (ok, NULL), g_bytes_get_size (ok),
                   "LOGIN_RESP {\"status\":\"OK\"}\n", 27);
  g_assert_cmpmem (g_bytes_get_data (err, NULL), g_bytes_get_size (err),
                   "LOGIN_RESP {\"status\":\"ERROR\",\"code\":5001}\n", 42);
  g_assert_cmpmem (g_bytes_get_data (bare, NULL), g_bytes_get_size (bare), "PING\n", 5);
}

static void
test_table_consistent (void)
{
  gsize n;
  const KletsenMessageInfo *table = kletsen_message_table (&n);

  g_assert_cmpuint (n, ==, KLETSEN_N_MESSAGES);
  for (gsize i = 0; i < n; i++)
    {
      const KletsenMessageInfo *m = &table[i];

      g_assert_cmpint (m->type, ==, i);
      g_assert_true (kletsen_message_info (m->type) == m);
      /* A header is [A-Z_]+, unique per direction. */
      for (const char *p = m->header; *p; p++)
        g_assert_true (g_ascii_isupper (*p) || *p == '_');
      for (gsize j = 0; j < i; j++)
        g_assert_false (table[j].direction == m->direction && g_str_equal (table[j].header, m->header));
      /* Every request names its reply, and the reply exists. */
      if (m->direction == KLETSEN_TO_SERVER && m->type != KLETSEN_MSG_PONG)
        {
          const char *body;
          gsize body_len;

          g_assert_nonnull (m->response);
          g_assert_nonnull (kletsen_message_lookup (m->response, strlen (m->response), KLETSEN_TO_CLIENT,
                                                    &body, &body_len));
        }
    }
}

static void
test_codes (void)
{
  gsize n;
  const KletsenCodeInfo *table = kletsen_code_table (&n);

  for (gsize i = 0; i < n; i++)
    {
      g_assert_true (kletsen_code_lookup (table[i].code) == &table[i]);
      g_assert_cmpstr (kletsen_code_describe (table[i].code), !=, "");
      if (i > 0)
        g_assert_cmpint (table[i - 1].code, <, table[i].code);
    }
  g_assert_true (kletsen_code_lookup (7000)->disconnect);
  g_assert_true (kletsen_code_lookup (7011)->extension);
  g_assert_null (kletsen_code_lookup (1234));
  g_assert_cmpstr (kletsen_code_describe (1234), ==, "Unknown error");
}

typedef struct
{
  const char *name;
  gboolean    valid;
} NameCase;

static void
test_user_names (void)
{
  static const NameCase cases[] = {
    { "abc", TRUE }, { "abcdefghijklmn", TRUE }, { "A_1", TRUE }, { "___", TRUE },
    { "ab", FALSE }, { "abcdefghijklmno", FALSE }, { "", FALSE }, { "bad name", FALSE },
    { "bad-name", FALSE }, { "caf\xc3\xa9", FALSE }, { "abc\n", FALSE }, { "a.b", FALSE },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    g_assert_cmpint (kletsen_user_name_is_valid (cases[i].name), ==, cases[i].valid);

  {
    g_autofree char *a = kletsen_user_name_key ("Alice");
    g_autofree char *b = kletsen_user_name_key ("aLICE");

    g_assert_cmpstr (a, ==, b);
  }
}

/* issue 20: names that only look alike have one skeleton; different
 * names do not. */
static void
test_lookalike_names (void)
{
  const char *alike[] = { "alice", "AIice", "a1ice", "alice_", "ALICE", "al1ce", "a_l_i_c_e" };
  const char *other[] = { "alicia", "bob", "alice2", "malice" };
  g_autofree char *base = kletsen_user_name_skeleton ("alice");

  for (guint i = 0; i < G_N_ELEMENTS (alike); i++)
    {
      g_autofree char *skeleton = kletsen_user_name_skeleton (alike[i]);

      g_assert_cmpstr (skeleton, ==, base);
    }
  for (guint i = 0; i < G_N_ELEMENTS (other); i++)
    {
      g_autofree char *skeleton = kletsen_user_name_skeleton (other[i]);

      g_assert_cmpstr (skeleton, !=, base);
    }
  {
    g_autofree char *m = kletsen_user_name_skeleton ("marco");
    g_autofree char *rn = kletsen_user_name_skeleton ("rnarco");
    g_autofree char *b0b = kletsen_user_name_skeleton ("B0b");
    g_autofree char *bob = kletsen_user_name_skeleton ("bob");

    g_assert_cmpstr (m, ==, rn);
    g_assert_cmpstr (b0b, ==, bob);
  }
}

static void
test_blank_text (void)
{
  g_assert_true (kletsen_text_is_blank (""));
  g_assert_true (kletsen_text_is_blank (" \t\n\r"));
  g_assert_true (kletsen_text_is_blank ("\xc2\xa0\xe2\x80\x83")); /* NBSP, em space */
  g_assert_false (kletsen_text_is_blank (" x "));
  g_assert_false (kletsen_text_is_blank ("\xc3\xa9"));
}

int
main (int    argc,
      char **argv)
{
  g_test_init (&argc, &argv, NULL);

  for (guint i = 0; i < G_N_ELEMENTS (parse_cases); i++)
    {
      g_autofree char *path = g_strdup_printf ("/message/parse/%02u", i);

      g_test_add_data_func (path, &parse_cases[i], test_parse_case);
    }
  g_test_add_func ("/message/parse/deep-nesting", test_parse_deep_nesting);
  g_test_add_func ("/message/parse/depth-limit", test_parse_depth_limit);
  g_test_add_func ("/message/serialize/roundtrip", test_serialize_roundtrip);
  g_test_add_func ("/message/serialize/status", test_serialize_status);
  g_test_add_func ("/message/table", test_table_consistent);
  g_test_add_func ("/message/codes", test_codes);
  g_test_add_func ("/message/user-names", test_user_names);
  g_test_add_func ("/message/blank-text", test_blank_text);
  g_test_add_func ("/message/lookalike-names", test_lookalike_names);

  return g_test_run ();
}
