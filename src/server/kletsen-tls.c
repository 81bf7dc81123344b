/* kletsen-tls.c
 *
 * Copyright 2026 The Kletsen authors
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

/* TLS for the chat and file ports, through GIO's GTlsServerConnection
 * (glib-networking's GnuTLS backend). A TLS connection still lives on the
 * server's one main loop: after the handshake its bytes are read and written
 * with the pollable streams' non-blocking calls, as errno-style results, so
 * the connection and relay code treat it like a socket. */

#include "config.h"

#include <errno.h>
#include <string.h>
#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#include "kletsen-server-private.h"

/* GIO does not check that the key belongs to the certificate; a mismatch
 * would only show as failed handshakes later. Compare the public keys. */
static gboolean
key_matches (const char  *cert_file,
             const char  *key_file,
             GError     **error)
{
  g_autofree char *cert_pem = NULL;
  g_autofree char *key_pem = NULL;
  gsize cert_len, key_len;
  gnutls_x509_crt_t crt = NULL;
  gnutls_x509_privkey_t key = NULL;
  unsigned char crt_id[64], key_id[64];
  size_t crt_id_len = sizeof crt_id, key_id_len = sizeof key_id;
  gnutls_datum_t datum;
  gboolean ok = FALSE;

  if (!g_file_get_contents (cert_file, &cert_pem, &cert_len, error) ||
      !g_file_get_contents (key_file, &key_pem, &key_len, error))
    return FALSE;

  gnutls_x509_crt_init (&crt);
  gnutls_x509_privkey_init (&key);
  datum = (gnutls_datum_t) { (unsigned char *)cert_pem, cert_len };
  if (gnutls_x509_crt_import (crt, &datum, GNUTLS_X509_FMT_PEM) < 0)
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "%s holds no PEM certificate", cert_file);
  else if ((datum = (gnutls_datum_t) { (unsigned char *)key_pem, key_len },
            gnutls_x509_privkey_import (key, &datum, GNUTLS_X509_FMT_PEM)) < 0)
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "%s holds no PEM private key", key_file);
  else if (gnutls_x509_crt_get_key_id (crt, 0, crt_id, &crt_id_len) < 0 ||
           gnutls_x509_privkey_get_key_id (key, 0, key_id, &key_id_len) < 0 ||
           crt_id_len != key_id_len || memcmp (crt_id, key_id, crt_id_len) != 0)
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "the key in %s does not belong to the certificate in %s",
                 key_file, cert_file);
  else
    ok = TRUE;

  gnutls_x509_crt_deinit (crt);
  gnutls_x509_privkey_deinit (key);
  return ok;
}

/**
 * _kletsen_tls_load:
 *
 * Reads a PEM certificate (chain) and its key, and checks they belong together.
 *
 * Returns: (transfer full) (nullable): the certificate for GTlsServerConnection
 */
GTlsCertificate *
_kletsen_tls_load (const char  *cert_file,
                   const char  *key_file,
                   GError     **error)
{
  if (g_tls_backend_get_default () == NULL || !g_tls_backend_supports_tls (g_tls_backend_get_default ()))
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED,
                           "GIO has no TLS backend (install glib-networking)");
      return NULL;
    }
  if (!key_matches (cert_file, key_file, error))
    return NULL;
  return g_tls_certificate_new_from_files (cert_file, key_file, error);
}

/**
 * _kletsen_tls_wrap:
 * @fd: an accepted socket; from now on the TLS connection owns it
 *
 * Returns: (transfer full) (nullable): a server connection, not handshaken yet
 */
GTlsConnection *
_kletsen_tls_wrap (KletsenServer  *server,
                   int             fd,
                   GError        **error)
{
  g_autoptr(GSocket) socket = g_socket_new_from_fd (fd, error);
  g_autoptr(GSocketConnection) base = NULL;
  GIOStream *tls;

  if (socket == NULL)
    {
      close (fd);
      return NULL;
    }
  base = g_socket_connection_factory_create_connection (socket);
  /* g_tls_server_connection_new(), but with no CA database: the server asks
   * no client for a certificate, and glib-networking would otherwise load the
   * whole system trust store (about 20 MiB of RSS) at the first TLS client.
   * Clients may leave without close_notify; that is their end of file. */
  tls = g_initable_new (g_tls_backend_get_server_connection_type (g_tls_backend_get_default ()),
                        NULL, error,
                        "base-io-stream", base,
                        "certificate", server->certificate,
                        "database", NULL,
                        "require-close-notify", FALSE,
                        NULL);
  if (tls == NULL)
    return NULL;
  return G_TLS_CONNECTION (tls);
}

static gssize
result_from_error (GError *error,
                   int    *error_number)
{
  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK))
    *error_number = EAGAIN;
  else if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_BROKEN_PIPE) ||
           g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CONNECTION_CLOSED))
    *error_number = EPIPE;
  else
    *error_number = ECONNRESET;
  return -1;
}

/**
 * _kletsen_tls_read:
 * @error_number: (out): errno-style, when -1 is returned (EAGAIN: no data now)
 *
 * Returns: bytes read, 0 at the end, or -1
 */
gssize
_kletsen_tls_read (GTlsConnection *tls,
                   void           *buffer,
                   gsize           size,
                   int            *error_number)
{
  g_autoptr(GError) error = NULL;
  GInputStream *in = g_io_stream_get_input_stream (G_IO_STREAM (tls));
  gssize n = g_pollable_input_stream_read_nonblocking (G_POLLABLE_INPUT_STREAM (in), buffer, size, NULL, &error);

  return n >= 0 ? n : result_from_error (error, error_number);
}

/**
 * _kletsen_tls_writev:
 *
 * Returns: bytes written, or -1 with @error_number set (EAGAIN: try later)
 */
gssize
_kletsen_tls_writev (GTlsConnection *tls,
                     struct iovec   *iov,
                     guint           n,
                     int            *error_number)
{
  /* One TLS record of up to 16 KiB rather than one per line: the lines of a
   * fan-out burst are small, and each record costs a seal and a header. */
  static char record[16384];
  g_autoptr(GError) error = NULL;
  GOutputStream *out = g_io_stream_get_output_stream (G_IO_STREAM (tls));
  gsize len = 0;
  gssize written;

  for (guint i = 0; i < n && len < sizeof record; i++)
    {
      gsize take = MIN (iov[i].iov_len, sizeof record - len);

      memcpy (record + len, iov[i].iov_base, take);
      len += take;
    }
  written = g_pollable_output_stream_write_nonblocking (G_POLLABLE_OUTPUT_STREAM (out), record, len, NULL, &error);
  return written >= 0 ? written : result_from_error (error, error_number);
}

static gssize
tls_stream_read (KletsenConnection *conn,
                 char              *buffer,
                 gsize              size)
{
  int error_number = 0;
  gssize n = _kletsen_tls_read (conn->tls, buffer, size, &error_number);

  errno = error_number;
  return n;
}

static gssize
tls_stream_writev (KletsenConnection *conn,
                   struct iovec      *iov,
                   guint              n)
{
  int error_number = 0;
  gssize sent = _kletsen_tls_writev (conn->tls, iov, n, &error_number);

  errno = error_number;
  return sent;
}

/* The TLS connection owns the socket and closes it. */
static void
tls_stream_close (KletsenConnection *conn)
{
  g_clear_object (&conn->tls);
  conn->fd = -1;
}

const KletsenStream _kletsen_stream_tls = {
  .name = "tls",
  .read = tls_stream_read,
  .writev = tls_stream_writev,
  .close = tls_stream_close,
  .gather = FALSE,
  .short_write_is_full = FALSE,
  .read_rounds = 16,
  .may_hold_bytes = TRUE,
};
