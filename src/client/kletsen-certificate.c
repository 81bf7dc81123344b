/* kletsen-certificate.c
 *
 * Copyright 2026 The Kletsen authors
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

/* A server certificate as the app shows it and pins it; shared by the chat
 * connection and the side channel, so that neither depends on the other. */

#include "config.h"

#include "kletsen-certificate.h"

/**
 * kletsen_certificate_fingerprint:
 *
 * Returns: (transfer full): SHA-256 of the DER certificate, 16 groups of 4
 *   hex digits, as the app shows it
 */
char *
kletsen_certificate_fingerprint (GTlsCertificate *certificate)
{
  g_autoptr(GByteArray) der = NULL;
  g_autofree char *hex = NULL;
  GString *out = g_string_new (NULL);

  g_object_get (certificate, "certificate", &der, NULL);
  hex = g_compute_checksum_for_data (G_CHECKSUM_SHA256, der->data, der->len);
  for (guint i = 0; hex[i]; i++)
    {
      if (i > 0 && i % 4 == 0)
        g_string_append_c (out, ' ');
      g_string_append_c (out, g_ascii_toupper (hex[i]));
    }
  return g_string_free (out, FALSE);
}
