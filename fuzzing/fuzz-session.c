/* fuzz-session.c
 *
 * Copyright 2026 The Kletsen authors
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

/* libFuzzer target: a real KletsenSession logged in over an in-memory
 * stream that plays the server. The input is what the server says; after a
 * line "=SIDE=", the rest is what the side channel of an accepted file
 * offer sends. Every offer is accepted into a folder of the fuzzer's own,
 * so the download path sees the bytes too. The run ends when the session
 * has read everything; nothing touches the network. */

#include "config.h"

#include <glib/gstdio.h>
#include <string.h>

#include "kletsen-session.h"
#include "kletsen-session-private.h"

#define SIDE_MARK "\n=SIDE=\n"
/* A run that has not ended by then is a stall: the session waits for
 * something the input can no longer give. */
#define STALL_SECONDS 10

static char *data_dir;
static GFile *downloads;

typedef struct
{
  GBytes *side;
} Run;

static void
remove_downloads (void)
{
  g_autoptr(GDir) dir = g_dir_open (g_file_peek_path (downloads), 0, NULL);
  const char *name;

  while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *path = g_build_filename (g_file_peek_path (downloads), name, NULL);

      g_unlink (path);
    }
}

static int
initialize (void)
{
  g_autofree char *folder = NULL;

  /* One identity for every run: making an RSA key per input would be all
   * the fuzzer did. */
  data_dir = g_dir_make_tmp ("kletsen-fuzz-session-XXXXXX", NULL);
  g_assert_nonnull (data_dir);
  folder = g_build_filename (data_dir, "downloads", NULL);
  g_assert_cmpint (g_mkdir (folder, 0700), ==, 0);
  downloads = g_file_new_for_path (folder);
  return 0;
}

static void
offered_cb (KletsenSession      *session,
            KletsenFileTransfer *transfer,
            Run                 *run)
{
  if (kletsen_file_transfer_get_state (transfer) == KLETSEN_TRANSFER_OFFERED)
    kletsen_session_accept_file (session, transfer, downloads);
}

static void
side_channel (KletsenSession      *session,
              KletsenFileTransfer *transfer,
              gpointer             user_data)
{
  Run *run = user_data;
  g_autoptr(GInputStream) in = g_memory_input_stream_new_from_bytes (run->side);
  g_autoptr(GOutputStream) out = g_memory_output_stream_new_resizable ();
  g_autoptr(GIOStream) stream = g_simple_io_stream_new (in, out);

  _kletsen_file_transfer_run_on_stream (transfer, stream);
}

static gboolean
transfers_over (KletsenSession *session)
{
  GListModel *transfers = kletsen_session_get_transfers (session);

  for (guint i = 0; i < g_list_model_get_n_items (transfers); i++)
    {
      g_autoptr(KletsenFileTransfer) t = g_list_model_get_item (transfers, i);
      KletsenTransferState state = kletsen_file_transfer_get_state (t);

      if (state == KLETSEN_TRANSFER_CONNECTING || state == KLETSEN_TRANSFER_TRANSFERRING)
        return FALSE;
    }
  return TRUE;
}

static gboolean
stalled_cb (gpointer user_data)
{
  g_error ("the session did not finish with its input within %d s", STALL_SECONDS);
}

int LLVMFuzzerTestOneInput (const guint8 *data, size_t size);

int
LLVMFuzzerTestOneInput (const guint8 *data,
                        size_t        size)
{
  static int initialized = -1;
  const guint8 *mark = size >= strlen (SIDE_MARK) ? memmem (data, size, SIDE_MARK, strlen (SIDE_MARK)) : NULL;
  gsize lines_len = mark ? (gsize)(mark - data) + 1 : size;
  g_autoptr(GBytes) lines = g_bytes_new (data, lines_len);
  g_autoptr(GInputStream) in = g_memory_input_stream_new_from_bytes (lines);
  g_autoptr(GOutputStream) out = g_memory_output_stream_new_resizable ();
  g_autoptr(GIOStream) stream = g_simple_io_stream_new (in, out);
  g_autoptr(KletsenSession) session = NULL;
  g_autoptr(GError) error = NULL;
  Run run = { 0 };
  guint stall_id;

  if (initialized < 0)
    initialized = initialize ();

  run.side = mark ? g_bytes_new (mark + strlen (SIDE_MARK), size - lines_len - strlen (SIDE_MARK) + 1)
                  : g_bytes_new_static ("", 0);
  session = kletsen_session_new (data_dir);
  _kletsen_session_set_side_channel_func (session, side_channel, &run);
  g_signal_connect (session, "file-offered", G_CALLBACK (offered_cb), &run);
  if (!_kletsen_session_connect_stream (session, "fuzzer", stream, &error))
    g_error ("%s", error->message);

  /* The session reads until the stream ends, then it is disconnected. */
  stall_id = g_timeout_add_seconds (STALL_SECONDS, stalled_cb, NULL);
  while (kletsen_session_get_state (session) != KLETSEN_SESSION_DISCONNECTED || !transfers_over (session))
    g_main_context_iteration (NULL, TRUE);
  g_source_remove (stall_id);

  kletsen_session_disconnect (session);
  g_clear_object (&session);
  while (g_main_context_iteration (NULL, FALSE))
    ;
  remove_downloads ();
  /* Keys pinned in one run must not steer the next. */
  {
    g_autofree char *pins = g_build_filename (data_dir, "pinned-keys.ini", NULL);

    g_unlink (pins);
  }
  g_bytes_unref (run.side);
  return 0;
}
