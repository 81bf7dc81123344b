/* fuzz-message.c
 *
 * Copyright 2026 The Kletsen authors
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

/* The message parser and validator on arbitrary lines, in both directions:
 * it never crashes or stalls, whatever the strict checker accepts json-glib
 * parses, and an accepted message survives serializing and parsing again. */

#include "config.h"

#include <string.h>

#include "kletsen-protocol.h"

int LLVMFuzzerTestOneInput (const guint8 *data, size_t size);

static void
roundtrip (const char       *line,
           gsize             len,
           KletsenDirection  direction)
{
  const KletsenMessageInfo *info = NULL;
  g_autoptr(JsonObject) body = NULL;

  if (kletsen_message_parse (line, len, direction, &info, &body) != KLETSEN_PARSE_OK)
    return;
  {
    g_autoptr(GBytes) again = kletsen_message_serialize (info->header, body);
    gsize again_len;
    const char *text = g_bytes_get_data (again, &again_len);
    const KletsenMessageInfo *info2 = NULL;
    g_autoptr(JsonObject) body2 = NULL;

    g_assert (text[again_len - 1] == '\n');
    g_assert (memchr (text, '\n', again_len - 1) == NULL);
    g_assert (kletsen_message_parse (text, again_len - 1, direction, &info2, &body2) == KLETSEN_PARSE_OK);
    g_assert (info2 == info);
  }
}

int
LLVMFuzzerTestOneInput (const guint8 *data,
                        size_t        size)
{
  g_autofree char *line = g_malloc (size + 1);

  memcpy (line, data, size);
  line[size] = '\0';

  roundtrip (line, size, KLETSEN_TO_SERVER);
  roundtrip (line, size, KLETSEN_TO_CLIENT);

  /* The checker is never more lenient than json-glib. */
  if (kletsen_json_check_object (line, size, KLETSEN_JSON_MAX_DEPTH))
    {
      g_autoptr(JsonParser) parser = json_parser_new_immutable ();

      g_assert (json_parser_load_from_data (parser, line, size, NULL));
      g_assert (JSON_NODE_HOLDS_OBJECT (json_parser_get_root (parser)));
    }
  return 0;
}
