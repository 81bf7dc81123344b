/* kletsen-tls.c
 *
 * Copyright 2026 The Kletsen authors
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

/* TLS for the chat and file ports, with GnuTLS driven from the server's one
 * main loop (kletsen-tls.h). No thread is involved: glib-networking ran
 * each handshake as a blocking call in a pool thread, so 400 sockets that
 * never sent a ClientHello held the pool and every TLS login waited 8-10 s,
 * and the pool's first thread was what the systemd unit's filter killed. */

#include "config.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <gio/gio.h>

#include "kletsen-server-private.h"

/* Records as large as TLS allows: the lines of a fan-out burst are small,
 * and each record costs a seal and a header. */
#define RECORD_MAX 16384
/* On the wire a record is at most 2^14 + 2048 bytes and its 5-byte header
 * (RFC 8446 §5.2, RFC 5246 §6.2.3). */
#define SEALED_RECORD_MAX (RECORD_MAX + 2048 + 5)
/* Records sealed for one sendmsg(): up to 64 KiB, what the clear-text
 * socket gathers into one call (GATHER_BYTES). With one record per call a
 * fan-out burst to a reader that keeps up (66 lines, 16.5 KB) took two
 * calls where clear text took one: half again the system calls. */
#define BATCH_RECORDS 4

struct _KletsenTlsContext
{
  guint                            refs;
  gnutls_certificate_credentials_t credentials;
  gnutls_priority_t                priority;
};

struct _KletsenTls
{
  KletsenTlsContext *context;
  KletsenTlsLimits  *limits;
  gnutls_session_t   session;   /* made at the first byte */
  char              *address;   /* set while counted in limits */
  int                fd;
  gboolean           done;      /* handshaken */
  /* Records go to the socket through our push: while @collecting, sealed
   * records are gathered into one buffer and sent by _kletsen_tls_writev()
   * in one call; otherwise (handshake, alerts) straight to the socket. */
  gboolean           collecting;
  gboolean           gnutls_holds; /* GnuTLS kept bytes the socket refused */
  /* Sealed bytes the socket has not taken yet, and the plaintext they
   * carry; charged to *charge while held. */
  char              *held;
  gsize              held_off;
  gsize              held_len;
  gsize              in_flight;
  gint64            *charge;
  /* Read-ahead for bulk streams (the relay): one recv() for several
   * records, where GnuTLS alone makes two per record (header, body). */
  char              *ahead;
  gsize              ahead_size;
  gsize              ahead_off;
  gsize              ahead_len;
};
/* Says which file is wrong when the key does not belong to the
 * certificate, rather than GnuTLS's bare "key mismatch". */
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
 * _kletsen_tls_context_new:
 *
 * Reads a PEM certificate (chain) and its key, and checks they belong
 * together.
 *
 * Returns: (transfer full) (nullable): the context, with one reference
 */
KletsenTlsContext *
_kletsen_tls_context_new (const char  *cert_file,
                          const char  *key_file,
                          GError     **error)
{
  KletsenTlsContext *self;
  int ret;

  if (!key_matches (cert_file, key_file, error))
    return NULL;
  self = g_new0 (KletsenTlsContext, 1);
  self->refs = 1;
  gnutls_certificate_allocate_credentials (&self->credentials);
  ret = gnutls_certificate_set_x509_key_file2 (self->credentials, cert_file, key_file, GNUTLS_X509_FMT_PEM, NULL, 0);
  if (ret < 0)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "%s: %s", cert_file, gnutls_strerror (ret));
      _kletsen_tls_context_unref (self);
      return NULL;
    }
  /* The system's priorities (GnuTLS's defaults, or /etc/gnutls/config). */
  ret = gnutls_priority_init (&self->priority, NULL, NULL);
  if (ret < 0)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "TLS priorities: %s", gnutls_strerror (ret));
      _kletsen_tls_context_unref (self);
      return NULL;
    }
  return self;
}

KletsenTlsContext *
_kletsen_tls_context_ref (KletsenTlsContext *self)
{
  self->refs++;
  return self;
}

void
_kletsen_tls_context_unref (KletsenTlsContext *self)
{
  if (self == NULL || --self->refs > 0)
    return;
  if (self->priority != NULL)
    gnutls_priority_deinit (self->priority);
  gnutls_certificate_free_credentials (self->credentials);
  g_free (self);
}

void
_kletsen_tls_limits_init (KletsenTlsLimits *limits,
                          guint             max,
                          guint             max_per_address)
{
  limits->max = max;
  limits->max_per_address = max_per_address;
  limits->active = 0;
  limits->per_address = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
}

void
_kletsen_tls_limits_clear (KletsenTlsLimits *limits)
{
  g_clear_pointer (&limits->per_address, g_hash_table_unref);
}

/* Counts the handshake that starts now; FALSE when a cap is reached. */
static gboolean
limits_enter (KletsenTls  *self,
              char       **why)
{
  KletsenTlsLimits *limits = self->limits;
  g_autofree char *address = _kletsen_describe_address (self->fd);
  guint here = 0;

  if (limits->max > 0 && limits->active >= limits->max)
    {
      *why = g_strdup_printf ("too many TLS handshakes at once (%u)", limits->active);
      return FALSE;
    }
  if (!_kletsen_address_take (limits->per_address, address, limits->max_per_address, &here))
    {
      *why = g_strdup_printf ("too many TLS handshakes at once from %s (%u)", address, here);
      return FALSE;
    }
  limits->active++;
  self->address = g_steal_pointer (&address);
  return TRUE;
}

static void
limits_leave (KletsenTls *self)
{
  if (self->address == NULL)
    return;
  _kletsen_address_give_back (self->limits->per_address, self->address);
  self->limits->active--;
  g_clear_pointer (&self->address, g_free);
}

/* The sealed batch of the current _kletsen_tls_writev(): one buffer for
 * every session, as the server's loop is its one thread. */
static char sealed[BATCH_RECORDS * SEALED_RECORD_MAX];
static gsize sealed_len;

static gboolean send_held (KletsenTls *self);

static void
release_held (KletsenTls *self)
{
  if (self->charge != NULL)
    *self->charge -= (gint64)(self->held_len - self->held_off);
  g_clear_pointer (&self->held, g_free);
  self->held_off = self->held_len = 0;
}

/* GnuTLS's push. While collecting, it takes every record into the batch,
 * so GnuTLS never keeps one back; otherwise it writes to the socket as
 * GnuTLS's own push would, and GnuTLS keeps what the socket refused. */
static ssize_t
sealed_push (gnutls_transport_ptr_t  ptr,
             const giovec_t         *iov,
             int                     n)
{
  KletsenTls *self = ptr;
  struct msghdr msg = { 0 };
  gsize total = 0;
  gssize sent;

  for (int i = 0; i < n; i++)
    total += iov[i].iov_len;
  if (self->collecting)
    {
      if (total > sizeof sealed - sealed_len)
        {
          /* Cannot happen: the batch has room for BATCH_RECORDS records. */
          gnutls_transport_set_errno (self->session, EIO);
          return -1;
        }
      for (int i = 0; i < n; i++)
        {
          memcpy (sealed + sealed_len, iov[i].iov_base, iov[i].iov_len);
          sealed_len += iov[i].iov_len;
        }
      return total;
    }

  /* Nothing may overtake sealed records the socket has not taken. */
  if (self->held != NULL && !send_held (self))
    {
      gnutls_transport_set_errno (self->session, errno);
      self->gnutls_holds = TRUE;
      return -1;
    }
  msg.msg_iov = (struct iovec *)iov;
  msg.msg_iovlen = n;
  sent = sendmsg (self->fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
  if (sent < 0)
    gnutls_transport_set_errno (self->session, errno);
  self->gnutls_holds = sent < (gssize)total;
  return sent;
}

/**
 * _kletsen_tls_new:
 * @fd: a non-blocking socket; it stays the caller's to close
 *
 * Returns: (transfer full): a session, not handshaken yet. Nothing of
 *   GnuTLS's is made until the peer sends its first byte.
 */
KletsenTls *
_kletsen_tls_new (KletsenTlsContext *context,
                  KletsenTlsLimits  *limits,
                  int                fd)
{
  KletsenTls *self = g_new0 (KletsenTls, 1);

  self->context = _kletsen_tls_context_ref (context);
  self->limits = limits;
  self->fd = fd;
  return self;
}

void
_kletsen_tls_free (KletsenTls *self)
{
  if (self == NULL)
    return;
  limits_leave (self);
  /* No close_notify: the socket is non-blocking and about to close, and
   * clients take its end as the end (the protocol's DSCN or BYE_RESP says
   * more than an alert would). */
  if (self->session != NULL)
    gnutls_deinit (self->session);
  _kletsen_tls_context_unref (self->context);
  g_free (self->ahead);
  release_held (self);
  g_free (self);
}

static gboolean
session_start (KletsenTls  *self,
               char       **why)
{
  int ret;

  if (!limits_enter (self, why))
    return FALSE;
  /* GNUTLS_NO_SIGNAL: a peer gone away is EPIPE, never SIGPIPE. */
  ret = gnutls_init (&self->session, GNUTLS_SERVER | GNUTLS_NONBLOCK | GNUTLS_NO_SIGNAL);
  if (ret >= 0)
    ret = gnutls_priority_set (self->session, self->context->priority);
  if (ret >= 0)
    ret = gnutls_credentials_set (self->session, GNUTLS_CRD_CERTIFICATE, self->context->credentials);
  if (ret < 0)
    {
      *why = g_strdup (gnutls_strerror (ret));
      return FALSE;
    }
  /* No client certificates are asked for. */
  gnutls_certificate_server_set_request (self->session, GNUTLS_CERT_IGNORE);
  gnutls_transport_set_ptr2 (self->session, GINT_TO_POINTER (self->fd), self);
  gnutls_transport_set_vec_push_function (self->session, sealed_push);
  return TRUE;
}

/**
 * _kletsen_tls_handshake:
 * @why: (out) (transfer full): on %KLETSEN_TLS_FAILED, why
 *
 * Runs the handshake as far as the socket allows. Call it again when the
 * socket is readable, or writable if _kletsen_tls_wants_write().
 */
KletsenTlsStep
_kletsen_tls_handshake (KletsenTls  *self,
                        char       **why)
{
  int ret;

  if (self->done)
    return KLETSEN_TLS_DONE;
  if (self->session == NULL && !session_start (self, why))
    return KLETSEN_TLS_FAILED;
  do
    ret = gnutls_handshake (self->session);
  while (ret < 0 && ret != GNUTLS_E_AGAIN && !gnutls_error_is_fatal (ret));
  if (ret == GNUTLS_E_AGAIN)
    return KLETSEN_TLS_AGAIN;
  if (ret < 0)
    {
      *why = g_strdup (gnutls_strerror (ret));
      limits_leave (self);
      return KLETSEN_TLS_FAILED;
    }
  self->done = TRUE;
  limits_leave (self);
  return KLETSEN_TLS_DONE;
}

/* The handshake waits to write (the kernel refused part of a flight). */
gboolean
_kletsen_tls_wants_write (KletsenTls *self)
{
  return self->session != NULL && gnutls_record_get_direction (self->session) == 1;
}

static ssize_t
read_ahead_pull (gnutls_transport_ptr_t  ptr,
                 void                   *data,
                 size_t                  size)
{
  KletsenTls *self = ptr;
  gsize take;

  if (self->ahead_len == 0)
    {
      gssize n;

      do
        n = recv (self->fd, self->ahead, self->ahead_size, MSG_DONTWAIT);
      while (n < 0 && errno == EINTR);
      if (n <= 0)
        {
          gnutls_transport_set_errno (self->session, n < 0 ? errno : 0);
          return n;
        }
      self->ahead_off = 0;
      self->ahead_len = n;
    }
  take = MIN (size, self->ahead_len);
  memcpy (data, self->ahead + self->ahead_off, take);
  self->ahead_off += take;
  self->ahead_len -= take;
  return take;
}

/**
 * _kletsen_tls_set_read_ahead:
 * @size: bytes to read from the socket at once
 *
 * For a bulk stream that is handshaken and read from the front: bytes may
 * then wait in the read-ahead, where no socket event announces them (the
 * relay comes back on its own while it has room).
 */
void
_kletsen_tls_set_read_ahead (KletsenTls *self,
                             gsize       size)
{
  if (self->session == NULL || self->ahead != NULL)
    return;
  self->ahead = g_malloc (size);
  self->ahead_size = size;
  gnutls_transport_set_ptr2 (self->session, self, self);
  gnutls_transport_set_pull_function (self->session, read_ahead_pull);
}

/* Says the end of the data with a close_notify alert, if the socket takes
 * it now (a best effort: the socket's own end follows). */
void
_kletsen_tls_close_notify (KletsenTls *self)
{
  if (self->session != NULL && self->done)
    gnutls_bye (self->session, GNUTLS_SHUT_WR);
}

/* A GnuTLS error as recv(2) and sendmsg(2) would report it. */
static gssize
failure (gssize ret)
{
  if (ret == GNUTLS_E_AGAIN || ret == GNUTLS_E_INTERRUPTED || !gnutls_error_is_fatal ((int)ret))
    errno = EAGAIN;
  else if (ret == GNUTLS_E_PUSH_ERROR)
    errno = EPIPE;
  else
    errno = ECONNRESET;
  return -1;
}

/**
 * _kletsen_tls_read:
 * Returns: bytes read, 0 at the end, or -1 with errno set (EAGAIN: no
 *   data now), as recv(2)
 */
gssize
_kletsen_tls_read (KletsenTls *self,
                   void       *buffer,
                   gsize       size)
{
  gssize n = gnutls_record_recv (self->session, buffer, size);

  if (n >= 0)
    return n;
  /* A peer that closes without close_notify has ended all the same. */
  if (n == GNUTLS_E_PREMATURE_TERMINATION)
    return 0;
  return failure (n);
}

/**
 * _kletsen_tls_charge_to:
 * @charge: a byte count to add held sealed bytes to, or %NULL
 *
 * Sealed records the socket did not take are a copy of plaintext that is
 * still queued: the server counts them in its cap on all queues.
 */
void
_kletsen_tls_charge_to (KletsenTls *self,
                        gint64     *charge)
{
  g_return_if_fail (self->held == NULL);
  self->charge = charge;
}

/* Sends the sealed bytes held back; TRUE once none are left. */
static gboolean
send_held (KletsenTls *self)
{
  gssize sent;

  do
    sent = send (self->fd, self->held + self->held_off, self->held_len - self->held_off,
                 MSG_NOSIGNAL | MSG_DONTWAIT);
  while (sent < 0 && errno == EINTR);
  if (sent < 0)
    return FALSE;
  self->held_off += sent;
  if (self->charge != NULL)
    *self->charge -= sent;
  if (self->held_off < self->held_len)
    {
      errno = EAGAIN;
      return FALSE;
    }
  release_held (self);
  return TRUE;
}

/* Seals the front of @iov into at most BATCH_RECORDS records, in the order
 * given, into `sealed` (the caller sets @collecting around it); returns the
 * plaintext bytes sealed, or a GnuTLS error if none. */
static gssize
seal_batch (KletsenTls   *self,
            struct iovec *iov,
            guint         n)
{
  static char record[RECORD_MAX];
  gsize plain = 0, offset = 0;
  guint i = 0;

  sealed_len = 0;
  /* What GnuTLS kept from a write of its own (an alert, a key update)
   * goes first; GnuTLS then returns the size of an earlier call. */
  if (self->gnutls_holds)
    {
      gssize ret = gnutls_record_send (self->session, NULL, 0);

      self->gnutls_holds = FALSE;
      if (ret < 0)
        return ret;
    }
  for (guint r = 0; r < BATCH_RECORDS && i < n; r++)
    {
      const char *data;
      gsize len;
      gssize ret;

      /* A long line is sealed where it is; short ones are copied together. */
      if (iov[i].iov_len - offset >= RECORD_MAX || i + 1 == n)
        {
          data = (const char *)iov[i].iov_base + offset;
          len = MIN (iov[i].iov_len - offset, RECORD_MAX);
        }
      else
        {
          gsize skip = offset;

          len = 0;
          for (guint j = i; j < n && len < RECORD_MAX; j++)
            {
              gsize take = MIN (iov[j].iov_len - skip, RECORD_MAX - len);

              memcpy (record + len, (const char *)iov[j].iov_base + skip, take);
              len += take;
              skip = 0;
            }
          data = record;
        }
      ret = gnutls_record_send (self->session, data, len);
      if (ret < 0)
        return plain > 0 ? (gssize)plain : ret;
      /* The peer may have asked for smaller records: advance by what went. */
      plain += ret;
      for (gsize left = ret; left > 0 && i < n;)
        {
          gsize here = MIN (left, iov[i].iov_len - offset);

          left -= here;
          offset += here;
          if (offset == iov[i].iov_len)
            {
              i++;
              offset = 0;
            }
        }
    }
  return plain;
}

/**
 * _kletsen_tls_writev:
 *
 * Seals the front of @iov (up to BATCH_RECORDS records) and sends them in
 * one call. When the kernel takes only part, the rest is held: this returns
 * -1 with EAGAIN, and a later call sends what was held and returns the
 * plaintext length it carried, whatever it is given then (the caller offers
 * the same front again, maybe with more behind it).
 *
 * Returns: bytes written, or -1 with errno set (EAGAIN: try later), as
 *   sendmsg(2)
 */
gssize
_kletsen_tls_writev (KletsenTls   *self,
                     struct iovec *iov,
                     guint         n)
{
  gssize plain, sent;

  if (self->held != NULL && !send_held (self))
    return -1;
  if (self->in_flight > 0)
    {
      plain = self->in_flight;
      self->in_flight = 0;
      return plain;
    }

  self->collecting = TRUE;
  plain = seal_batch (self, iov, n);
  self->collecting = FALSE;
  if (plain < 0)
    return failure (plain);
  do
    sent = send (self->fd, sealed, sealed_len, MSG_NOSIGNAL | MSG_DONTWAIT);
  while (sent < 0 && errno == EINTR);
  if (sent == (gssize)sealed_len)
    return plain;
  if (sent < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
    return -1;

  /* The records are sealed and numbered: what the socket refused is held
   * and goes first when it has room. */
  sent = MAX (sent, 0);
  self->held_len = sealed_len - sent;
  self->held = g_memdup2 (sealed + sent, self->held_len);
  self->held_off = 0;
  self->in_flight = plain;
  if (self->charge != NULL)
    *self->charge += (gint64)self->held_len;
  errno = EAGAIN;
  return -1;
}
