/* main.c
 *
 * Copyright 2026 The Kletsen authors
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#include "config.h"

#include <glib/gi18n.h>
#include <locale.h>

#include "kletsen-uninstalled.h"

#include "kletsen-application.h"

int
main (int    argc,
      char **argv)
{
  g_autoptr(KletsenApplication) app = NULL;

  setlocale (LC_ALL, "");
  bindtextdomain (GETTEXT_PACKAGE, kletsen_locale_dir ());
  /* From the build tree, the schema the build compiled; installed, the system's. */
  if (kletsen_running_uninstalled ())
    g_setenv ("GSETTINGS_SCHEMA_DIR", BUILD_ROOT "/data", FALSE);
  bind_textdomain_codeset (GETTEXT_PACKAGE, "UTF-8");
  textdomain (GETTEXT_PACKAGE);

  app = kletsen_application_new ();
  return g_application_run (G_APPLICATION (app), argc, argv);
}
