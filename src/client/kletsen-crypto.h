/* kletsen-crypto.h
 *
 * Copyright 2026 The Kletsen authors
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define KLETSEN_CRYPTO_ERROR (kletsen_crypto_error_quark ())

typedef enum
{
  KLETSEN_CRYPTO_ERROR_BAD_KEY,     /* a public key that is not base64 DER of an RSA key */
  KLETSEN_CRYPTO_ERROR_BAD_MESSAGE, /* not base64, too short, or wrong session key */
  KLETSEN_CRYPTO_ERROR_FAILED,      /* does not authenticate, or GnuTLS failed */
} KletsenCryptoError;

GQuark kletsen_crypto_error_quark (void);

/* This client's RSA-2048 key pair (protocol.md §5). */
typedef struct _KletsenIdentity KletsenIdentity;

KletsenIdentity *kletsen_identity_load_or_create (const char       *path,
                                                  GError          **error);
void             kletsen_identity_free           (KletsenIdentity  *self);
const char      *kletsen_identity_get_public_key (KletsenIdentity  *self);

char            *kletsen_crypto_fingerprint      (const char       *public_key);

/* protocol.md §5.1: what a sender signs and the receiver checks before it
 * decrypts anything. The exact bytes are in docs/protocol.md. */
typedef struct
{
  const char *sender;        /* the names; lower-cased in the bytes */
  const char *receiver;
  const char *sender_key;    /* base64 DER SubjectPublicKeyInfo */
  const char *receiver_key;
  gint64      counter;       /* 1 for the first message to this receiver under this key */
  const char *label;         /* NULL for a message (KLETSEN_SEAL_LABEL), or KLETSEN_RECEIPT_LABEL */
} KletsenSealHeader;

#define KLETSEN_SEAL_LABEL "KLETSEN-E2E-1"
/* A delivery receipt: sealed and signed like a message, under its own label
 * so that no receipt can pass for a message nor a message for a receipt. */
#define KLETSEN_RECEIPT_LABEL "KLETSEN-RECEIPT-1"

GBytes          *kletsen_crypto_seal_header      (const KletsenSealHeader *header,
                                                  const char              *session_key,
                                                  const char              *message);
gboolean         kletsen_identity_seal           (KletsenIdentity         *self,
                                                  const KletsenSealHeader *header,
                                                  const char              *plaintext,
                                                  char                   **session_key,
                                                  char                   **message,
                                                  char                   **signature,
                                                  GError                 **error);
gboolean         kletsen_crypto_verify           (const KletsenSealHeader *header,
                                                  const char              *session_key,
                                                  const char              *message,
                                                  const char              *signature);
char            *kletsen_identity_open           (KletsenIdentity         *self,
                                                  const KletsenSealHeader *header,
                                                  const char              *session_key,
                                                  const char              *message,
                                                  GError                 **error);

char            *kletsen_crypto_receipt_text     (gint64                   counter,
                                                  const char              *signature);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (KletsenIdentity, kletsen_identity_free)

G_END_DECLS
