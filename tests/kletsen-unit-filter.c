/* kletsen-unit-filter.c
 *
 * Copyright 2026 The Kletsen authors
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

/* Runs a program under the system call filter of a systemd unit, the way
 * systemd would, but stricter: every call the filter does not allow kills
 * the process (whatever SystemCallErrorNumber= says), so a test that runs
 * the server this way fails at the first call the unit would deny.
 *
 *   kletsen-unit-filter UNIT-FILE PROGRAM [ARG…]
 *
 * The unit's SystemCallFilter= lines are read as systemd reads them: when
 * the first is an allow list, only what the allow lines name (and @default)
 * is allowed, minus what the "~" lines name; when the first is a deny list,
 * everything is allowed but that. Groups are resolved with
 * `systemd-analyze syscall-filter`, the same tables systemd uses. */

#include "config.h"

#include <errno.h>
#include <seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <glib.h>

/* group name ("@basic-io") → GPtrArray of its entries (names and groups) */
static GHashTable *
load_groups (void)
{
  const char *argv[] = { "systemd-analyze", "syscall-filter", NULL };
  g_autofree char *out = NULL;
  g_autoptr(GError) error = NULL;
  g_auto(GStrv) lines = NULL;
  GHashTable *groups = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, (GDestroyNotify)g_ptr_array_unref);
  GPtrArray *current = NULL;
  int status;

  if (!g_spawn_sync (NULL, (char **)argv, NULL, G_SPAWN_SEARCH_PATH | G_SPAWN_STDERR_TO_DEV_NULL, NULL, NULL,
                     &out, NULL, &status, &error) ||
      !g_spawn_check_wait_status (status, &error))
    {
      g_printerr ("kletsen-unit-filter: cannot run systemd-analyze: %s\n", error->message);
      exit (125);
    }
  lines = g_strsplit (out, "\n", -1);
  for (guint i = 0; lines[i] != NULL; i++)
    {
      const char *line = lines[i];
      g_autofree char *entry = g_strstrip (g_strdup (line));

      if (line[0] == '@')
        {
          current = g_ptr_array_new_with_free_func (g_free);
          g_hash_table_insert (groups, g_strdup (entry), current);
        }
      else if (line[0] == ' ' && current != NULL && *entry != '\0' && *entry != '#')
        g_ptr_array_add (current, g_steal_pointer (&entry));
      else if (line[0] != ' ')
        current = NULL; /* the list of ungrouped calls, and blank lines */
    }
  return groups;
}

static void
expand (GHashTable *groups,
        const char *item,
        GHashTable *into,
        gboolean    add,
        guint       depth)
{
  GPtrArray *members;

  if (item[0] != '@')
    {
      if (add)
        g_hash_table_add (into, g_strdup (item));
      else
        g_hash_table_remove (into, item);
      return;
    }
  members = g_hash_table_lookup (groups, item);
  if (members == NULL || depth > 8)
    {
      g_printerr ("kletsen-unit-filter: unknown group %s\n", item);
      exit (125);
    }
  for (guint i = 0; i < members->len; i++)
    expand (groups, g_ptr_array_index (members, i), into, add, depth + 1);
}

int
main (int    argc,
      char **argv)
{
  g_autofree char *unit = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GHashTable) groups = NULL;
  g_autoptr(GHashTable) listed = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  g_auto(GStrv) lines = NULL;
  int first_is_allow = -1;
  scmp_filter_ctx ctx;
  GHashTableIter iter;
  gpointer name;
  guint rules = 0;

  if (argc < 3)
    {
      g_printerr ("usage: kletsen-unit-filter UNIT-FILE PROGRAM [ARG…]\n");
      return 125;
    }
  if (!g_file_get_contents (argv[1], &unit, NULL, &error))
    {
      g_printerr ("kletsen-unit-filter: %s\n", error->message);
      return 125;
    }
  groups = load_groups ();
  lines = g_strsplit (unit, "\n", -1);
  for (guint i = 0; lines[i] != NULL; i++)
    {
      g_auto(GStrv) items = NULL;
      const char *value;
      gboolean deny;

      if (!g_str_has_prefix (lines[i], "SystemCallFilter="))
        continue;
      value = lines[i] + strlen ("SystemCallFilter=");
      deny = value[0] == '~';
      if (deny)
        value++;
      if (first_is_allow < 0)
        {
          first_is_allow = !deny;
          /* systemd adds @default to an allow list. */
          if (first_is_allow)
            expand (groups, "@default", listed, TRUE, 0);
        }
      items = g_strsplit_set (value, " \t", -1);
      for (guint j = 0; items[j] != NULL; j++)
        if (*items[j] != '\0')
          /* In allow mode, "listed" is what is allowed; in deny mode, what is denied. */
          expand (groups, items[j], listed, first_is_allow ? !deny : deny, 0);
    }
  if (first_is_allow < 0)
    {
      g_printerr ("kletsen-unit-filter: %s has no SystemCallFilter=\n", argv[1]);
      return 125;
    }

  ctx = seccomp_init (first_is_allow ? SCMP_ACT_KILL_PROCESS : SCMP_ACT_ALLOW);
  if (ctx == NULL)
    {
      g_printerr ("kletsen-unit-filter: seccomp_init failed\n");
      return 125;
    }
  g_hash_table_iter_init (&iter, listed);
  while (g_hash_table_iter_next (&iter, &name, NULL))
    {
      int nr = seccomp_syscall_resolve_name (name);

      /* Names of other architectures do not resolve here. */
      if (nr == __NR_SCMP_ERROR || nr < 0)
        continue;
      if (seccomp_rule_add (ctx, first_is_allow ? SCMP_ACT_ALLOW : SCMP_ACT_KILL_PROCESS, nr, 0) == 0)
        rules++;
    }
  if (seccomp_load (ctx) != 0)
    {
      g_printerr ("kletsen-unit-filter: seccomp_load failed\n");
      return 125;
    }
  seccomp_release (ctx);
  g_printerr ("kletsen-unit-filter: %u system calls %s; any other %s\n", rules,
              first_is_allow ? "allowed" : "denied", first_is_allow ? "kills" : "is allowed");
  execvp (argv[2], argv + 2);
  g_printerr ("kletsen-unit-filter: cannot run %s: %s\n", argv[2], g_strerror (errno));
  return 127;
}
