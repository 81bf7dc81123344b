/* kletsen-test-util.h
 *
 * Copyright 2026 The Kletsen authors
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#pragma once

#include <gio/gio.h>
#include <json-glib/json-glib.h>

G_BEGIN_DECLS

/* A real kletsen-server (the binary named by $KLETSEN_SERVER) on 127.0.0.1,
 * on a port of its own choosing. */
typedef struct
{
  GSubprocess *process;
  guint16      port;          /* 0 when the server has no clear-text ports */
  guint16      file_port;
  guint16      tls_port;      /* 0 without TLS */
  guint16      tls_file_port;
  char        *incarnation;   /* cluster mode: "cluster joined as INC" */
} KtServer;

/* One blocking client socket with a read timeout: every wait in a test is for
 * a message, and a message that does not come fails the test. */
typedef struct
{
  GSocket *socket;
  GString *buffer;
  char    *name;
} KtClient;

KtServer   *kt_server_start          (const char *first_arg,
                                      ...);  /* NULL-terminated; NULL alone for none */
int         kt_server_stop           (KtServer   *server);
void        kt_server_terminate      (KtServer   *server);
void        kt_server_free           (KtServer   *server);
GPid        kt_server_pid            (KtServer   *server);
gint64      kt_server_rss_kib        (KtServer   *server);

KtClient   *kt_client_connect        (KtServer   *server);
KtClient   *kt_client_connect_port   (guint16     port);
KtClient   *kt_client_login          (KtServer   *server,
                                      const char *name);
void        kt_client_free           (KtClient   *client);
void        kt_client_send           (KtClient   *client,
                                      const char *format,
                                      ...) G_GNUC_PRINTF (2, 3);
void        kt_client_send_raw       (KtClient   *client,
                                      const void *data,
                                      gsize       len);
char       *kt_client_read_line      (KtClient   *client);
JsonObject *kt_client_expect         (KtClient   *client,
                                      const char *header);
void        kt_client_expect_status  (KtClient   *client,
                                      const char *header,
                                      int         code);
void        kt_client_expect_bare    (KtClient   *client,
                                      const char *header);
void        kt_client_expect_eof     (KtClient   *client);
void        kt_client_skip_to_end    (KtClient   *client);
void        kt_client_expect_dscn    (KtClient   *client,
                                      int         reason);
void        kt_client_sync           (KtClient   *client);
void        kt_client_drain          (KtClient   *client,
                                      const char *header,
                                      guint       n);
void        kt_client_set_timeout    (KtClient   *client,
                                      guint       seconds);

/* Runs the main loop until @cond holds; 20 s without it fails the test. */
#define KT_RUN_UNTIL(cond)                                                        \
  G_STMT_START {                                                                  \
    guint _kt_timeout = g_timeout_add_seconds (20, kt_timed_out_cb, (gpointer)#cond); \
    while (!(cond))                                                               \
      g_main_context_iteration (NULL, TRUE);                                      \
    g_source_remove (_kt_timeout);                                                \
  } G_STMT_END

gboolean    kt_timed_out_cb          (gpointer      what);
void        kt_store_result_cb       (GObject      *object,
                                      GAsyncResult *result,
                                      gpointer      slot);
void        kt_store_object_cb       (gpointer      emitter,
                                      GObject      *object,
                                      gpointer      slot);
void        kt_remove_tree           (const char   *path);
/* A side channel's upload for a thread of its own (kt_upload_thread):
 * @len bytes of @data, then a shutdown of the sending side. */
typedef struct
{
  KtClient     *side;
  const guint8 *data;
  gsize         len;
} KtUpload;

/* GThreadFunc; returns GINT_TO_POINTER (TRUE) when everything was sent. */
gpointer    kt_upload_thread         (gpointer      upload);

/* A port of 127.0.0.1 that refuses connections while @holder (bound,
 * never listening) lives. */
guint16     kt_refused_port          (GSocket     **holder);
/* A GSubprocessLauncher child setup: the child dies with the test. */
void        kt_die_with_parent       (gpointer      user_data);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (KtServer, kt_server_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (KtClient, kt_client_free)

G_END_DECLS
