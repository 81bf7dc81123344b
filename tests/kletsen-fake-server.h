/* kletsen-fake-server.h
 *
 * Copyright 2026 The Kletsen authors
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#pragma once

#include <gio/gio.h>
#include <json-glib/json-glib.h>

G_BEGIN_DECLS

/* A scripted server on 127.0.0.1 for testing the client against servers
 * that lie, flood or break the protocol. Its script runs in a thread of its
 * own with blocking sockets, once per accepted connection, while the test's
 * main thread runs the client's main loop. Every wait has a deadline. */
typedef struct _KtFake     KtFake;
typedef struct _KtFakeConn KtFakeConn;

typedef void (*KtFakeScript) (KtFake     *fake,
                              KtFakeConn *conn,
                              guint       index,   /* 0 for the first connection */
                              gpointer    data);

KtFake     *kt_fake_start            (KtFakeScript  script,
                                      gpointer      data);
void        kt_fake_free             (KtFake       *fake);
guint16     kt_fake_port             (KtFake       *fake);
guint16     kt_fake_file_port        (KtFake       *fake);
guint       kt_fake_connections      (KtFake       *fake);
gboolean    kt_fake_stopping         (KtFake       *fake);
KtFakeConn *kt_fake_accept_file      (KtFake       *fake,
                                      guint         timeout_ms);

/* In the script: */
void        kt_fake_send             (KtFakeConn   *conn,
                                      const char   *format,
                                      ...) G_GNUC_PRINTF (2, 3);
void        kt_fake_send_raw         (KtFakeConn   *conn,
                                      const void   *data,
                                      gsize         len);
char       *kt_fake_read_line        (KtFakeConn   *conn,
                                      guint         timeout_ms);
gssize      kt_fake_read_bytes       (KtFakeConn   *conn,
                                      char         *buffer,
                                      gsize         len,
                                      guint         timeout_ms);
void        kt_fake_read_exactly     (KtFakeConn   *conn,
                                      char         *buffer,
                                      gsize         len,
                                      guint         timeout_ms);
JsonObject *kt_fake_expect           (KtFakeConn   *conn,
                                      const char   *header);
char       *kt_fake_login            (KtFakeConn   *conn);
void        kt_fake_serve            (KtFake       *fake,
                                      KtFakeConn   *conn);
void        kt_fake_conn_free        (KtFakeConn   *conn);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (KtFake, kt_fake_free)

G_END_DECLS
