/* kletsen-certificate.h
 *
 * Copyright 2026 The Kletsen authors
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

char *kletsen_certificate_fingerprint (GTlsCertificate *certificate);

G_END_DECLS
