/* kletsen-framer.h
 *
 * Copyright 2026 The Kletsen authors
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#pragma once

#include <glib.h>

G_BEGIN_DECLS

/**
 * KletsenFramer:
 *
 * Cuts a byte stream into lines (protocol.md §1). Complete lines inside one
 * chunk are handed out in place, without copying; only the unfinished tail of
 * a chunk is kept, so an idle connection holds no buffer at all. A `\r` right
 * before the `\n` is dropped and empty lines are skipped.
 */
typedef struct _KletsenFramer KletsenFramer;

typedef enum
{
  KLETSEN_FRAMER_OK,         /* all input consumed; an unfinished line may be held */
  KLETSEN_FRAMER_STOPPED,    /* the line callback asked to stop; the rest was dropped */
  KLETSEN_FRAMER_OVER_LIMIT, /* more than max_line bytes arrived without a newline */
} KletsenFramerStatus;

/**
 * KletsenLineFunc:
 * @line: the line, without its terminator; NUL-terminated for convenience
 *   (the terminator is not counted in @len, and @line may hold other NULs)
 * @len: the length of @line in bytes
 * @user_data: closure data
 *
 * Returns: %TRUE to go on with the next line, %FALSE to stop.
 */
typedef gboolean (*KletsenLineFunc) (char     *line,
                                     gsize     len,
                                     gpointer  user_data);

KletsenFramer       *kletsen_framer_new      (gsize            max_line);
void                 kletsen_framer_free     (KletsenFramer   *self);
KletsenFramerStatus  kletsen_framer_feed     (KletsenFramer   *self,
                                              char            *data,
                                              gsize            len,
                                              KletsenLineFunc  func,
                                              gpointer         user_data);
gsize                kletsen_framer_pending  (KletsenFramer   *self);
gsize                kletsen_framer_max_line (KletsenFramer   *self);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (KletsenFramer, kletsen_framer_free)

G_END_DECLS
