/* main.c
 *
 * Copyright 2026 The Kletsen authors
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#include "config.h"

#include <glib/gi18n.h>
#include <locale.h>

#include "kletsen-application.h"

int
main (int    argc,
      char **argv)
{
  g_autoptr(KletsenApplication) app = NULL;

  setlocale (LC_ALL, "");
  /* KLETSEN_LOCALEDIR points at the catalogues of a tree that is not
     * installed where it was configured for (tests, relocated installs). */
    bindtextdomain (GETTEXT_PACKAGE, g_getenv ("KLETSEN_LOCALEDIR") ? g_getenv ("KLETSEN_LOCALEDIR") : LOCALEDIR);
  bind_textdomain_codeset (GETTEXT_PACKAGE, "UTF-8");
  textdomain (GETTEXT_PACKAGE);

  app = kletsen_application_new ();
  return g_application_run (G_APPLICATION (app), argc, argv);
}
