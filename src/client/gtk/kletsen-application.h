/* kletsen-application.h
 *
 * Copyright 2026 The Kletsen authors
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#pragma once

#include <adwaita.h>

G_BEGIN_DECLS

#define KLETSEN_TYPE_APPLICATION (kletsen_application_get_type ())

G_DECLARE_FINAL_TYPE (KletsenApplication, kletsen_application, KLETSEN, APPLICATION, AdwApplication)

KletsenApplication *kletsen_application_new (void);

G_END_DECLS
