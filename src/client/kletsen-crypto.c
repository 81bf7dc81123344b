/* kletsen-crypto.c
 *
 * Copyright 2026 The Kletsen authors
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

/* End-to-end encryption of private messages (protocol.md §5), with GnuTLS:
 *
 *   sessionKey = base64 (RSA-PKCS#1-v1.5-encrypt (peer's public key, 32 random bytes))
 *   message    = base64 (12-byte nonce ‖ AES-256-GCM ciphertext ‖ 16-byte tag)
 *   signature  = base64 (RSA-PSS-SHA256-sign (sender's key, header ‖ message))
 *
 * Public keys travel as base64 DER SubjectPublicKeyInfo. The private key is
 * kept as PEM in a file only its owner can read, and never leaves it.
 *
 * §5.1 adds sender authentication: the header below is the AES-GCM
 * associated data, and the header with the ciphertext is signed with
 * RSA-PSS (SHA-256) by the sender. The receiver checks the signature before
 * any RSA operation, and unwraps the key in constant time. */

#include "config.h"

#include <errno.h>
#include <glib/gi18n-lib.h>
#include <glib/gstdio.h>
#include <gnutls/abstract.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <string.h>

#include "kletsen-crypto.h"

#define KEY_BITS 2048
#define SESSION_KEY_LEN 32
#define NONCE_LEN 12
#define TAG_LEN 16

struct _KletsenIdentity
{
  gnutls_privkey_t private_key;
  char            *public_key; /* base64 DER SubjectPublicKeyInfo */
};

G_DEFINE_QUARK (kletsen-crypto-error-quark, kletsen_crypto_error)

static gboolean
gnutls_failed (int          ret,
               const char  *what,
               GError     **error)
{
  if (ret >= 0)
    return FALSE;
  g_set_error (error, KLETSEN_CRYPTO_ERROR, KLETSEN_CRYPTO_ERROR_FAILED, "%s: %s", what, gnutls_strerror (ret));
  return TRUE;
}

void
kletsen_identity_free (KletsenIdentity *self)
{
  if (self == NULL)
    return;
  if (self->private_key != NULL)
    gnutls_privkey_deinit (self->private_key);
  g_free (self->public_key);
  g_free (self);
}

/* Makes a new key pair and writes it, readable by its owner only. */
static gboolean
create_key (const char  *path,
            GError     **error)
{
  gnutls_x509_privkey_t key = NULL;
  gnutls_datum_t pem = { NULL, 0 };
  g_autofree char *dir = g_path_get_dirname (path);
  gboolean ok = FALSE;

  if (g_mkdir_with_parents (dir, 0700) != 0)
    {
      g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (errno), _("Cannot create %s: %s"), dir, g_strerror (errno));
      return FALSE;
    }
  if (gnutls_failed (gnutls_x509_privkey_init (&key), "key", error))
    return FALSE;
  if (!gnutls_failed (gnutls_x509_privkey_generate (key, GNUTLS_PK_RSA, KEY_BITS, 0), "generating a key", error) &&
      !gnutls_failed (gnutls_x509_privkey_export2 (key, GNUTLS_X509_FMT_PEM, &pem), "exporting the key", error))
    ok = g_file_set_contents_full (path, (const char *)pem.data, pem.size,
                                   G_FILE_SET_CONTENTS_CONSISTENT, 0600, error);
  if (pem.data != NULL)
    {
      gnutls_memset (pem.data, 0, pem.size);
      gnutls_free (pem.data);
    }
  gnutls_x509_privkey_deinit (key);
  return ok;
}

static char *
export_public_key (gnutls_privkey_t   private_key,
                   GError           **error)
{
  gnutls_pubkey_t pub = NULL;
  gnutls_datum_t der = { NULL, 0 };
  char *b64 = NULL;

  if (gnutls_failed (gnutls_pubkey_init (&pub), "public key", error))
    return NULL;
  if (!gnutls_failed (gnutls_pubkey_import_privkey (pub, private_key, 0, 0), "public key", error) &&
      !gnutls_failed (gnutls_pubkey_export2 (pub, GNUTLS_X509_FMT_DER, &der), "exporting the public key", error))
    b64 = g_base64_encode (der.data, der.size);
  gnutls_free (der.data);
  gnutls_pubkey_deinit (pub);
  return b64;
}

/**
 * kletsen_identity_load_or_create:
 * @path: the PEM file of the private key; made (mode 0600) when missing
 *
 * Returns: (transfer full) (nullable): the key pair
 */
KletsenIdentity *
kletsen_identity_load_or_create (const char  *path,
                                 GError     **error)
{
  g_autoptr(KletsenIdentity) self = g_new0 (KletsenIdentity, 1);
  g_autofree char *pem = NULL;
  gsize len;
  gnutls_datum_t datum;

  if (!g_file_test (path, G_FILE_TEST_EXISTS) && !create_key (path, error))
    return NULL;
  if (!g_file_get_contents (path, &pem, &len, error))
    return NULL;

  datum.data = (unsigned char *)pem;
  datum.size = len;
  if (gnutls_failed (gnutls_privkey_init (&self->private_key), "key", error) ||
      gnutls_failed (gnutls_privkey_import_x509_raw (self->private_key, &datum, GNUTLS_X509_FMT_PEM, NULL, 0),
                     "reading the private key", error))
    return NULL;
  memset (pem, 0, len);

  self->public_key = export_public_key (self->private_key, error);
  if (self->public_key == NULL)
    return NULL;
  return g_steal_pointer (&self);
}

const char *
kletsen_identity_get_public_key (KletsenIdentity *self)
{
  return self->public_key;
}

static gboolean
decode (const char  *b64,
        GBytes     **out)
{
  gsize len = 0;
  guchar *data;

  /* g_base64_decode does not report malformed input; check the alphabet. */
  for (const char *p = b64; *p; p++)
    if (!g_ascii_isalnum (*p) && *p != '+' && *p != '/' && *p != '=')
      return FALSE;
  data = g_base64_decode (b64, &len);
  *out = g_bytes_new_take (data, len);
  return len > 0;
}

static gnutls_pubkey_t
import_public_key (const char  *public_key,
                   GError     **error)
{
  g_autoptr(GBytes) der = NULL;
  gnutls_pubkey_t pub = NULL;
  gnutls_datum_t datum;
  gsize len;

  if (!decode (public_key, &der))
    goto bad;
  datum.data = (unsigned char *)g_bytes_get_data (der, &len);
  datum.size = len;
  if (gnutls_pubkey_init (&pub) < 0)
    goto bad;
  if (gnutls_pubkey_import (pub, &datum, GNUTLS_X509_FMT_DER) < 0 ||
      gnutls_pubkey_get_pk_algorithm (pub, NULL) != GNUTLS_PK_RSA)
    {
      gnutls_pubkey_deinit (pub);
      goto bad;
    }
  return pub;

bad:
  g_set_error_literal (error, KLETSEN_CRYPTO_ERROR, KLETSEN_CRYPTO_ERROR_BAD_KEY,
                       _("The public key is not an RSA key"));
  return NULL;
}

/**
 * kletsen_crypto_fingerprint:
 * @public_key: base64 DER SubjectPublicKeyInfo
 *
 * Returns: (transfer full) (nullable): SHA-256 of the DER key as 16 groups of
 *   4 hex digits, for two people to read to each other; %NULL for a key that
 *   does not decode
 */
char *
kletsen_crypto_fingerprint (const char *public_key)
{
  g_autoptr(GBytes) der = NULL;
  g_autofree char *hex = NULL;
  GString *out;

  if (!decode (public_key, &der))
    return NULL;
  hex = g_compute_checksum_for_bytes (G_CHECKSUM_SHA256, der);
  out = g_string_new (NULL);
  for (guint i = 0; hex[i]; i++)
    {
      if (i > 0 && i % 4 == 0)
        g_string_append_c (out, ' ');
      g_string_append_c (out, g_ascii_toupper (hex[i]));
    }
  return g_string_free (out, FALSE);
}

static void
put_field (GByteArray *out,
           const char *text)
{
  gsize len = strlen (text);
  guint8 size[4] = { (len >> 24) & 0xff, (len >> 16) & 0xff, (len >> 8) & 0xff, len & 0xff };

  g_byte_array_append (out, size, 4);
  g_byte_array_append (out, (const guint8 *)text, len);
}

/**
 * kletsen_crypto_seal_header:
 * @message: (nullable): the ciphertext, or %NULL for the associated data
 *
 * The bytes §5.1 names: each field as a 4-byte big-endian length and its
 * bytes, in this order: the label, the sender's and the receiver's names in
 * ASCII lower case, both keys' fingerprints (as shown to people), the
 * counter in decimal, sessionKey, and (in what is signed) message.
 *
 * Returns: (transfer full): the bytes, or %NULL when a key is unusable
 */
GBytes *
kletsen_crypto_seal_header (const KletsenSealHeader *header,
                            const char              *session_key,
                            const char              *message)
{
  g_autofree char *sender = g_ascii_strdown (header->sender, -1);
  g_autofree char *receiver = g_ascii_strdown (header->receiver, -1);
  g_autofree char *sender_fp = kletsen_crypto_fingerprint (header->sender_key);
  g_autofree char *receiver_fp = kletsen_crypto_fingerprint (header->receiver_key);
  g_autofree char *counter = g_strdup_printf ("%" G_GINT64_FORMAT, header->counter);
  GByteArray *out;

  if (sender_fp == NULL || receiver_fp == NULL)
    return NULL;
  out = g_byte_array_new ();
  put_field (out, header->label != NULL ? header->label : KLETSEN_SEAL_LABEL);
  put_field (out, sender);
  put_field (out, receiver);
  put_field (out, sender_fp);
  put_field (out, receiver_fp);
  put_field (out, counter);
  put_field (out, session_key);
  if (message != NULL)
    put_field (out, message);
  return g_byte_array_free_to_bytes (out);
}

static gnutls_datum_t
datum_of (GBytes *bytes)
{
  gsize len;
  gnutls_datum_t d;

  d.data = (unsigned char *)g_bytes_get_data (bytes, &len);
  d.size = len;
  return d;
}

/**
 * kletsen_identity_seal:
 * @signature: (out): base64 RSA-PSS signature over the header and @message
 *
 * Encrypts @plaintext for @header's receiver, bound to @header, and signs it
 * with this identity (which must be @header's sender key).
 */
gboolean
kletsen_identity_seal (KletsenIdentity          *self,
                       const KletsenSealHeader  *header,
                       const char               *plaintext,
                       char                    **session_key,
                       char                    **message,
                       char                    **signature,
                       GError                  **error)
{
  gnutls_pubkey_t pub = import_public_key (header->receiver_key, error);
  guchar key[SESSION_KEY_LEN];
  gnutls_datum_t key_datum = { key, SESSION_KEY_LEN };
  gnutls_datum_t wrapped = { NULL, 0 };
  gnutls_datum_t sig = { NULL, 0 };
  gnutls_aead_cipher_hd_t aead = NULL;
  gsize text_len = strlen (plaintext);
  g_autofree guchar *out = g_malloc (NONCE_LEN + text_len + TAG_LEN);
  gsize ct_len = text_len + TAG_LEN;
  g_autofree char *wrapped_b64 = NULL;
  g_autofree char *sealed_b64 = NULL;
  g_autoptr(GBytes) aad = NULL;
  g_autoptr(GBytes) signed_bytes = NULL;
  gboolean ok = FALSE;

  if (pub == NULL)
    return FALSE;
  if (gnutls_failed (gnutls_rnd (GNUTLS_RND_KEY, key, sizeof key), "random key", error) ||
      gnutls_failed (gnutls_rnd (GNUTLS_RND_NONCE, out, NONCE_LEN), "random nonce", error) ||
      gnutls_failed (gnutls_pubkey_encrypt_data (pub, 0, &key_datum, &wrapped), "wrapping the key", error))
    goto out;
  wrapped_b64 = g_base64_encode (wrapped.data, wrapped.size);
  aad = kletsen_crypto_seal_header (header, wrapped_b64, NULL);
  if (aad == NULL)
    {
      g_set_error_literal (error, KLETSEN_CRYPTO_ERROR, KLETSEN_CRYPTO_ERROR_BAD_KEY, _("The public key is not an RSA key"));
      goto out;
    }
  if (gnutls_failed (gnutls_aead_cipher_init (&aead, GNUTLS_CIPHER_AES_256_GCM, &key_datum), "cipher", error) ||
      gnutls_failed (gnutls_aead_cipher_encrypt (aead, out, NONCE_LEN, g_bytes_get_data (aad, NULL), g_bytes_get_size (aad),
                                                 TAG_LEN, plaintext, text_len, out + NONCE_LEN, &ct_len),
                     "encrypting", error))
    goto out;
  sealed_b64 = g_base64_encode (out, NONCE_LEN + ct_len);
  signed_bytes = kletsen_crypto_seal_header (header, wrapped_b64, sealed_b64);
  {
    gnutls_datum_t data = datum_of (signed_bytes);

    if (gnutls_failed (gnutls_privkey_sign_data2 (self->private_key, GNUTLS_SIGN_RSA_PSS_SHA256, 0, &data, &sig),
                       "signing", error))
      goto out;
  }
  *session_key = g_steal_pointer (&wrapped_b64);
  *message = g_steal_pointer (&sealed_b64);
  *signature = g_base64_encode (sig.data, sig.size);
  ok = TRUE;

out:
  gnutls_memset (key, 0, sizeof key);
  if (aead != NULL)
    gnutls_aead_cipher_deinit (aead);
  gnutls_free (wrapped.data);
  gnutls_free (sig.data);
  gnutls_pubkey_deinit (pub);
  return ok;
}

/**
 * kletsen_crypto_verify:
 *
 * Returns: %TRUE when @signature is @header's sender key's RSA-PSS
 *   signature over the header, @session_key and @message
 */
gboolean
kletsen_crypto_verify (const KletsenSealHeader *header,
                       const char              *session_key,
                       const char              *message,
                       const char              *signature)
{
  gnutls_pubkey_t pub = import_public_key (header->sender_key, NULL);
  g_autoptr(GBytes) signed_bytes = NULL;
  g_autoptr(GBytes) sig = NULL;
  gnutls_datum_t data, sig_datum;
  gboolean ok;

  if (pub == NULL)
    return FALSE;
  signed_bytes = kletsen_crypto_seal_header (header, session_key, message);
  if (signed_bytes == NULL || !decode (signature, &sig))
    {
      gnutls_pubkey_deinit (pub);
      return FALSE;
    }
  data = datum_of (signed_bytes);
  sig_datum = datum_of (sig);
  ok = gnutls_pubkey_verify_data2 (pub, GNUTLS_SIGN_RSA_PSS_SHA256, 0, &data, &sig_datum) >= 0;
  gnutls_pubkey_deinit (pub);
  return ok;
}

/**
 * kletsen_identity_open:
 *
 * Decrypts a message whose signature the caller has already verified with
 * kletsen_crypto_verify() (which needs no private key: a forgery costs no
 * RSA operation), checking that it is bound to @header. The session key is
 * unwrapped in constant time.
 *
 * Returns: (transfer full) (nullable): the text
 */
char *
kletsen_identity_open (KletsenIdentity          *self,
                       const KletsenSealHeader  *header,
                       const char               *session_key,
                       const char               *message,
                       GError                  **error)
{
  g_autoptr(GBytes) wrapped = NULL;
  g_autoptr(GBytes) sealed = NULL;
  g_autoptr(GBytes) aad = kletsen_crypto_seal_header (header, session_key, NULL);
  guchar key[SESSION_KEY_LEN];
  gnutls_datum_t in, key_datum = { key, SESSION_KEY_LEN };
  gnutls_aead_cipher_hd_t aead = NULL;
  const guchar *data;
  gsize len, text_len = 0;
  char *text = NULL;

  if (aad == NULL || !decode (session_key, &wrapped) || !decode (message, &sealed) ||
      g_bytes_get_size (sealed) < NONCE_LEN + TAG_LEN)
    {
      g_set_error_literal (error, KLETSEN_CRYPTO_ERROR, KLETSEN_CRYPTO_ERROR_BAD_MESSAGE,
                           _("The encrypted message is malformed"));
      return NULL;
    }
  in = datum_of (wrapped);
  if (gnutls_privkey_decrypt_data2 (self->private_key, 0, &in, key, sizeof key) < 0)
    {
      g_set_error_literal (error, KLETSEN_CRYPTO_ERROR, KLETSEN_CRYPTO_ERROR_BAD_MESSAGE,
                           _("The message was not encrypted for this key"));
      goto out;
    }
  data = g_bytes_get_data (sealed, &len);
  text_len = len - NONCE_LEN - TAG_LEN;
  text = g_malloc (text_len + 1);
  if (gnutls_aead_cipher_init (&aead, GNUTLS_CIPHER_AES_256_GCM, &key_datum) < 0 ||
      gnutls_aead_cipher_decrypt (aead, data, NONCE_LEN, g_bytes_get_data (aad, NULL), g_bytes_get_size (aad), TAG_LEN,
                                  data + NONCE_LEN, len - NONCE_LEN, text, &text_len) < 0)
    {
      g_set_error_literal (error, KLETSEN_CRYPTO_ERROR, KLETSEN_CRYPTO_ERROR_FAILED,
                           _("The message did not authenticate"));
      g_clear_pointer (&text, g_free);
      goto out;
    }
  text[text_len] = '\0';
  if (!g_utf8_validate_len (text, text_len, NULL))
    {
      g_set_error_literal (error, KLETSEN_CRYPTO_ERROR, KLETSEN_CRYPTO_ERROR_BAD_MESSAGE,
                           _("The message is not text"));
      g_clear_pointer (&text, g_free);
    }

out:
  gnutls_memset (key, 0, sizeof key);
  if (aead != NULL)
    gnutls_aead_cipher_deinit (aead);
  return text;
}

/**
 * kletsen_crypto_receipt_text:
 * @counter: the counter of the message received
 * @signature: its signature, as sent (base64)
 *
 * What a receipt says, sealed under %KLETSEN_RECEIPT_LABEL: "ack", the
 * counter and the SHA-256 of the signature, so that it names one message
 * even if a counter were ever used twice.
 *
 * Returns: (transfer full): the text
 */
char *
kletsen_crypto_receipt_text (gint64      counter,
                             const char *signature)
{
  g_autofree char *digest = g_compute_checksum_for_string (G_CHECKSUM_SHA256, signature, -1);

  return g_strdup_printf ("ack %" G_GINT64_FORMAT " %s", counter, digest);
}
