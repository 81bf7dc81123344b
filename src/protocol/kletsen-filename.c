/* kletsen-filename.c
 *
 * Copyright 2026 The Kletsen authors
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#include "config.h"

#include "kletsen-filename.h"

gboolean
kletsen_unichar_is_invisible (gunichar c)
{
  return g_unichar_type (c) == G_UNICODE_FORMAT;
}

gboolean
kletsen_unichar_is_slash_lookalike (gunichar c)
{
  switch (c)
    {
    case 0x2044: /* FRACTION SLASH */
    case 0x2215: /* DIVISION SLASH */
    case 0x2216: /* SET MINUS */
    case 0x27CB: /* MATHEMATICAL RISING DIAGONAL */
    case 0x27CD: /* MATHEMATICAL FALLING DIAGONAL */
    case 0x29F5: /* REVERSE SOLIDUS OPERATOR */
    case 0x29F8: /* BIG SOLIDUS */
    case 0x29F9: /* BIG REVERSE SOLIDUS */
    case 0x3033: /* VERTICAL KANA REPEAT MARK UPPER HALF */
    case 0xFE68: /* SMALL REVERSE SOLIDUS */
    case 0xFF0F: /* FULLWIDTH SOLIDUS */
    case 0xFF3C: /* FULLWIDTH REVERSE SOLIDUS */
    case 0x1735: /* PHILIPPINE SINGLE PUNCTUATION */
    case 0x2571: /* BOX DRAWINGS LIGHT DIAGONAL UPPER RIGHT TO LOWER LEFT */
    case 0x2572: /* BOX DRAWINGS LIGHT DIAGONAL UPPER LEFT TO LOWER RIGHT */
      return TRUE;
    default:
      return FALSE;
    }
}
