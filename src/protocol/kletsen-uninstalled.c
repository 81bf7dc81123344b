/* kletsen-uninstalled.c
 *
 * Copyright 2026 The Kletsen authors
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#include "config.h"

#include "kletsen-uninstalled.h"

/* Whether this program is the one in the build tree it was built in. */
gboolean
kletsen_running_uninstalled (void)
{
  static gsize done;
  static gboolean uninstalled;

  if (g_once_init_enter (&done))
    {
      g_autofree char *exe = g_file_read_link ("/proc/self/exe", NULL);

      uninstalled = exe != NULL && g_str_has_prefix (exe, BUILD_ROOT "/");
      g_once_init_leave (&done, 1);
    }
  return uninstalled;
}

/**
 * kletsen_locale_dir:
 *
 * Returns: where the catalogues are: $KLETSEN_LOCALEDIR (a relocated
 *   install), the build tree's po/ when run from it, or the installed ones
 */
const char *
kletsen_locale_dir (void)
{
  const char *dir = g_getenv ("KLETSEN_LOCALEDIR");

  if (dir != NULL && *dir != '\0')
    return dir;
  if (kletsen_running_uninstalled ())
    return BUILD_ROOT "/po";
  return LOCALEDIR;
}
