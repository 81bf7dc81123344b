/* kletsen-session-private.h
 *
 * Copyright 2026 The Kletsen authors
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#pragma once

#include "kletsen-session.h"

G_BEGIN_DECLS

/* Hooks for tests and fuzzers: a session over any stream, with no network. */

typedef void (*KletsenSideChannelFunc) (KletsenSession      *session,
                                        KletsenFileTransfer *transfer,
                                        gpointer             user_data);

gboolean _kletsen_session_connect_stream        (KletsenSession          *self,
                                                 const char              *username,
                                                 GIOStream               *stream,
                                                 GError                 **error);
void     _kletsen_session_set_side_channel_func (KletsenSession          *self,
                                                 KletsenSideChannelFunc   func,
                                                 gpointer                 user_data);

G_END_DECLS
