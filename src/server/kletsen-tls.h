/* kletsen-tls.h
 *
 * Copyright 2026 The Kletsen authors
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#pragma once

#include <glib.h>
#include <sys/uio.h>

G_BEGIN_DECLS

/* TLS on the server's own loop, with GnuTLS on the non-blocking
 * descriptors, the way InspIRCd's GnuTLS module does it: one certificate
 * credential and one priority cache shared by every session, handshakes as
 * steps of a state machine run when the socket is ready (no threads), and
 * records sealed per flush. */

/* The certificate and the priorities, shared by the sessions made while it
 * is current; a reload (SIGHUP) makes a new one, and the sessions already
 * up keep theirs. */
typedef struct _KletsenTlsContext KletsenTlsContext;

/* How many handshakes may be unfinished at once: in all, and from one
 * source address. A handshake counts from its first byte, so a silent
 * socket holds only its descriptor (and meets the handshake timeout). */
typedef struct
{
  guint       max;
  guint       max_per_address;
  guint       active;
  GHashTable *per_address;  /* address → count, while above zero */
} KletsenTlsLimits;

/* One server-side session on a socket it does not own. */
typedef struct _KletsenTls KletsenTls;

typedef enum
{
  KLETSEN_TLS_DONE,    /* the handshake is over: read and write */
  KLETSEN_TLS_AGAIN,   /* wait for the socket (see _kletsen_tls_wants_write) */
  KLETSEN_TLS_FAILED,  /* give up: *why says why */
} KletsenTlsStep;

KletsenTlsContext *_kletsen_tls_context_new   (const char        *cert_file,
                                               const char        *key_file,
                                               GError           **error);
KletsenTlsContext *_kletsen_tls_context_ref   (KletsenTlsContext *context);
void               _kletsen_tls_context_unref (KletsenTlsContext *context);

void               _kletsen_tls_limits_init   (KletsenTlsLimits  *limits,
                                               guint              max,
                                               guint              max_per_address);
void               _kletsen_tls_limits_clear  (KletsenTlsLimits  *limits);

KletsenTls        *_kletsen_tls_new           (KletsenTlsContext *context,
                                               KletsenTlsLimits  *limits,
                                               int                fd);
void               _kletsen_tls_free          (KletsenTls        *tls);
KletsenTlsStep     _kletsen_tls_handshake     (KletsenTls        *tls,
                                               char             **why);
gboolean           _kletsen_tls_wants_write   (KletsenTls        *tls);
void               _kletsen_tls_close_notify  (KletsenTls        *tls);
void               _kletsen_tls_set_read_ahead (KletsenTls       *tls,
                                                gsize             size);
/* As recv(2) and sendmsg(2): -1 with errno set (EAGAIN: not now). */
gssize             _kletsen_tls_read          (KletsenTls        *tls,
                                               void              *buffer,
                                               gsize              size);
void               _kletsen_tls_charge_to     (KletsenTls        *tls,
                                               gint64            *charge);
gssize             _kletsen_tls_writev        (KletsenTls        *tls,
                                               struct iovec      *iov,
                                               guint              n);

G_END_DECLS
