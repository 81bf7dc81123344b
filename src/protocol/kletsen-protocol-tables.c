/* kletsen-protocol-tables.c
 *
 * Copyright 2026 The Kletsen authors
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

/* Prints the message table and the code table of the protocol library as
 * Markdown, for docs/protocol.md. */

#include "config.h"

#include <stdio.h>

#include "kletsen-protocol.h"

static const char *
type_name (KletsenFieldType type)
{
  switch (type)
    {
    case KLETSEN_FIELD_STRING:           return "string";
    case KLETSEN_FIELD_INTEGER:          return "integer";
    case KLETSEN_FIELD_NUMBER_OR_STRING: return "number or string";
    case KLETSEN_FIELD_ARRAY:            return "array";
    default:                             g_assert_not_reached ();
    }
}

static void
print_messages (void)
{
  gsize n;
  const KletsenMessageInfo *table = kletsen_message_table (&n);

  printf ("| header | direction | reply | required fields | optional fields, typed when present | § |\n");
  printf ("|---|---|---|---|---|---|\n");
  for (gsize i = 0; i < n; i++)
    {
      const KletsenMessageInfo *m = &table[i];
      g_autoptr(GString) fields = g_string_new (NULL);
      g_autoptr(GString) optional = g_string_new (NULL);

      for (guint f = 0; f < KLETSEN_MAX_FIELDS && m->fields[f].name; f++)
        g_string_append_printf (fields, "%s`%s` (%s)", f ? ", " : "",
                                m->fields[f].name, type_name (m->fields[f].type));
      for (guint f = 0; f < KLETSEN_MAX_OPTIONAL && m->optional[f].name; f++)
        g_string_append_printf (optional, "%s`%s` (%s)", f ? ", " : "",
                                m->optional[f].name, type_name (m->optional[f].type));
      printf ("| `%s`%s | %s | %s%s%s | %s | %s | %s |\n",
              m->header, m->extension ? " (extension)" : "",
              m->direction == KLETSEN_TO_SERVER ? "C→S" : "S→C",
              m->response ? "`" : "", m->response ? m->response : "—", m->response ? "`" : "",
              fields->len ? fields->str : "—", optional->len ? optional->str : "—", m->section);
    }
}

static void
print_codes (void)
{
  gsize n;
  const KletsenCodeInfo *table = kletsen_code_table (&n);

  printf ("| code | meaning | kind |\n");
  printf ("|---|---|---|\n");
  for (gsize i = 0; i < n; i++)
    printf ("| %d | %s | %s%s |\n", table[i].code, table[i].text,
            table[i].disconnect ? "DSCN reason" : "error",
            table[i].extension ? " (extension)" : "");
}

int
main (int    argc,
      char **argv)
{
  print_messages ();
  printf ("\n");
  print_codes ();
  return 0;
}
