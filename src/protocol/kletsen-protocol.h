/* kletsen-protocol.h
 *
 * Copyright 2026 The Kletsen authors
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#pragma once

#include "kletsen-body.h"
#include "kletsen-codes.h"
#include "kletsen-filename.h"
#include "kletsen-framer.h"
#include "kletsen-json-check.h"
#include "kletsen-message.h"
#include "kletsen-side-channel.h"
#include "kletsen-uninstalled.h"

/* The default ports of protocol.md §1. */
#define KLETSEN_DEFAULT_PORT      1337
#define KLETSEN_DEFAULT_FILE_PORT 1338
/* The TLS ports (extension). */
#define KLETSEN_DEFAULT_TLS_PORT      1339
#define KLETSEN_DEFAULT_TLS_FILE_PORT 1340

/* The least line limit a server may be configured with, and the default. */
#define KLETSEN_MIN_LINE          1024
#define KLETSEN_DEFAULT_MAX_LINE  (64 * 1024)
