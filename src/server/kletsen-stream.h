/* kletsen-stream.h
 *
 * Copyright 2026 The Kletsen authors
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#pragma once

#include <glib.h>
#include <sys/uio.h>

G_BEGIN_DECLS

typedef struct _KletsenConnection KletsenConnection;

/* The bytes of one chat connection: the socket itself, or TLS over it
 * (kletsen-tls.c). The connection reads, writes and closes through this and
 * never asks which it has, the way Redis's connection.h hides TLS behind
 * its connection type. read and writev return what recv(2) and sendmsg(2)
 * would, with errno set on -1 (EAGAIN: not now). */
typedef struct
{
  const char *name;
  gssize    (*read)     (KletsenConnection  *conn,
                         char               *buffer,
                         gsize               size);
  gssize    (*writev)   (KletsenConnection  *conn,
                         struct iovec       *iov,
                         guint               n);
  void      (*close)    (KletsenConnection  *conn);
  /* Short lines may be gathered into one buffer before writev: the socket
   * wants one segment; TLS gathers into one record itself. */
  gboolean    gather;
  /* A write that takes less than offered means the socket is full. TLS may
   * take less by design (one record at a time). */
  gboolean    short_write_is_full;
  /* How many reads in a row one readiness allows, and whether bytes may
   * remain that no socket event will announce (TLS decrypts whole
   * records). */
  guint       read_rounds;
  gboolean    may_hold_bytes;
} KletsenStream;

extern const KletsenStream _kletsen_stream_socket;
extern const KletsenStream _kletsen_stream_tls;

G_END_DECLS
