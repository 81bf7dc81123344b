/* kletsen-file-transfer.c
 *
 * Copyright 2026 The Kletsen authors
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

/* One file going to or coming from a peer over the side channel
 * (protocol.md §4), streamed in chunks on the main loop: a file is never held
 * in memory. A received file is written to a hidden temporary file inside the
 * chosen folder and only gets its real name once its size and SHA-256 match;
 * otherwise it is deleted. It never replaces an existing file. */

#include "config.h"

#include <gnutls/crypto.h>

#include <errno.h>
#include <glib/gi18n-lib.h>
#include <string.h>
#include <unistd.h>

#include "kletsen-certificate.h"
#include "kletsen-file-transfer.h"
#include "kletsen-protocol.h"

/* A download whose offer gave no size may take this much, and no more. */
#define MAX_UNCHECKED_SIZE (G_GUINT64_CONSTANT (16) * 1024 * 1024 * 1024)

#define CHUNK (256 * 1024)
#define HASH_CHUNK (64 * 1024)

struct _KletsenFileTransfer
{
  GObject                   parent_instance;

  /* owned */
  char                     *peer;
  char                     *filename;
  char                     *checksum;
  char                     *id;
  char                      role_secret[KLETSEN_ROLE_SECRET_LEN + 1]; /* ours alone: proves our side-channel role */
  gboolean                  uses_role_secret; /* the server said it checks it */
  GFile                    *file;      /* sending: the source; receiving: the result, once done */
  GFile                    *folder;    /* receiving: where it goes */
  GFile                    *part;      /* receiving: the temporary file */
  char                     *error;
  GCancellable             *cancellable;
  GIOStream                *connection;
  GInputStream             *input;     /* the file (sending) or the socket (receiving) */
  GOutputStream            *output;    /* the socket (sending) or the file (receiving) */
  GChecksum                *hash;
  guchar                   *buffer;
  GTlsDatabase             *tls_database;
  char                     *tls_fingerprint; /* the chat connection's certificate */
  gboolean                  tls;

  /* state */
  KletsenTransferDirection  direction;
  KletsenTransferState      state;
  guint64                   size;
  gboolean                  size_known;   /* an offer of the original protocol may have no size */
  guint64                   bytes_done;
  int                       error_code;
  gint64                    started;   /* monotonic µs, when bytes began to move */
  gint64                    last_notify;
  gboolean                  offer_sent;
};

G_DEFINE_FINAL_TYPE (KletsenFileTransfer, kletsen_file_transfer, G_TYPE_OBJECT)

G_DEFINE_ENUM_TYPE (KletsenTransferDirection, kletsen_transfer_direction,
  G_DEFINE_ENUM_VALUE (KLETSEN_TRANSFER_SEND, "send"),
  G_DEFINE_ENUM_VALUE (KLETSEN_TRANSFER_RECEIVE, "receive"))

G_DEFINE_ENUM_TYPE (KletsenTransferState, kletsen_transfer_state,
  G_DEFINE_ENUM_VALUE (KLETSEN_TRANSFER_PREPARING, "preparing"),
  G_DEFINE_ENUM_VALUE (KLETSEN_TRANSFER_OFFERED, "offered"),
  G_DEFINE_ENUM_VALUE (KLETSEN_TRANSFER_CONNECTING, "connecting"),
  G_DEFINE_ENUM_VALUE (KLETSEN_TRANSFER_TRANSFERRING, "transferring"),
  G_DEFINE_ENUM_VALUE (KLETSEN_TRANSFER_DONE, "done"),
  G_DEFINE_ENUM_VALUE (KLETSEN_TRANSFER_REJECTED, "rejected"),
  G_DEFINE_ENUM_VALUE (KLETSEN_TRANSFER_FAILED, "failed"),
  G_DEFINE_ENUM_VALUE (KLETSEN_TRANSFER_CANCELLED, "cancelled"))

enum {
  PROP_0,
  PROP_DIRECTION,
  PROP_STATE,
  PROP_PEER,
  PROP_FILENAME,
  PROP_SIZE,
  PROP_BYTES_DONE,
  PROP_RATE,
  PROP_ETA,
  PROP_FILE,
  PROP_ERROR,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

static void
kletsen_file_transfer_dispose (GObject *object)
{
  KletsenFileTransfer *self = KLETSEN_FILE_TRANSFER (object);

  g_cancellable_cancel (self->cancellable);
  g_clear_object (&self->connection);
  g_clear_object (&self->input);
  g_clear_object (&self->output);

  G_OBJECT_CLASS (kletsen_file_transfer_parent_class)->dispose (object);
}

static void
kletsen_file_transfer_finalize (GObject *object)
{
  KletsenFileTransfer *self = KLETSEN_FILE_TRANSFER (object);

  g_free (self->peer);
  g_free (self->filename);
  g_free (self->checksum);
  g_free (self->id);
  g_free (self->error);
  g_free (self->buffer);
  g_clear_object (&self->file);
  g_clear_object (&self->folder);
  /* Never finished: nothing half-received stays behind. */
  if (self->part != NULL)
    g_file_delete (self->part, NULL, NULL);
  g_clear_object (&self->part);
  g_clear_object (&self->cancellable);
  g_clear_object (&self->tls_database);
  g_free (self->tls_fingerprint);
  g_clear_pointer (&self->hash, g_checksum_free);

  G_OBJECT_CLASS (kletsen_file_transfer_parent_class)->finalize (object);
}

static void
kletsen_file_transfer_get_property (GObject    *object,
                                    guint       prop_id,
                                    GValue     *value,
                                    GParamSpec *pspec)
{
  KletsenFileTransfer *self = KLETSEN_FILE_TRANSFER (object);

  switch (prop_id)
    {
    case PROP_DIRECTION: g_value_set_enum (value, self->direction); break;
    case PROP_STATE: g_value_set_enum (value, self->state); break;
    case PROP_PEER: g_value_set_string (value, self->peer); break;
    case PROP_FILENAME: g_value_set_string (value, self->filename); break;
    case PROP_SIZE: g_value_set_uint64 (value, self->size); break;
    case PROP_BYTES_DONE: g_value_set_uint64 (value, self->bytes_done); break;
    case PROP_RATE: g_value_set_double (value, kletsen_file_transfer_get_rate (self)); break;
    case PROP_ETA: g_value_set_int (value, kletsen_file_transfer_get_eta (self)); break;
    case PROP_FILE: g_value_set_object (value, self->file); break;
    case PROP_ERROR: g_value_set_string (value, self->error); break;
    default: G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
kletsen_file_transfer_class_init (KletsenFileTransferClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GParamFlags flags = G_PARAM_READABLE | G_PARAM_STATIC_STRINGS | G_PARAM_EXPLICIT_NOTIFY;

  object_class->dispose = kletsen_file_transfer_dispose;
  object_class->finalize = kletsen_file_transfer_finalize;
  object_class->get_property = kletsen_file_transfer_get_property;

  properties[PROP_DIRECTION] = g_param_spec_enum ("direction", NULL, NULL, KLETSEN_TYPE_TRANSFER_DIRECTION, 0, flags);
  properties[PROP_STATE] = g_param_spec_enum ("state", NULL, NULL, KLETSEN_TYPE_TRANSFER_STATE, 0, flags);
  properties[PROP_PEER] = g_param_spec_string ("peer", NULL, NULL, NULL, flags);
  properties[PROP_FILENAME] = g_param_spec_string ("filename", NULL, NULL, NULL, flags);
  properties[PROP_SIZE] = g_param_spec_uint64 ("size", NULL, NULL, 0, G_MAXUINT64, 0, flags);
  properties[PROP_BYTES_DONE] = g_param_spec_uint64 ("bytes-done", NULL, NULL, 0, G_MAXUINT64, 0, flags);
  /* Bytes per second since the data began to move. */
  properties[PROP_RATE] = g_param_spec_double ("rate", NULL, NULL, 0, G_MAXDOUBLE, 0, flags);
  /* Seconds left at the current rate; -1 when unknown. */
  properties[PROP_ETA] = g_param_spec_int ("eta", NULL, NULL, -1, G_MAXINT, -1, flags);
  properties[PROP_FILE] = g_param_spec_object ("file", NULL, NULL, G_TYPE_FILE, flags);
  properties[PROP_ERROR] = g_param_spec_string ("error", NULL, NULL, NULL, flags);
  g_object_class_install_properties (object_class, N_PROPS, properties);
}

static void
kletsen_file_transfer_init (KletsenFileTransfer *self)
{
  guchar random[KLETSEN_ROLE_SECRET_LEN / 2];

  self->cancellable = g_cancellable_new ();
  /* A secret of our own for this transfer's side channel (extension): the
   * transferId is known to both sides and to anyone who saw it; this is
   * known to us and the server only. */
  if (gnutls_rnd (GNUTLS_RND_KEY, random, sizeof random) != 0)
    g_error ("no random numbers for a transfer's secret");
  for (guint i = 0; i < sizeof random; i++)
    g_snprintf (self->role_secret + 2 * i, 3, "%02x", random[i]);
}

void
_kletsen_file_transfer_set_uses_role_secret (KletsenFileTransfer *self,
                                             gboolean             uses)
{
  self->uses_role_secret = uses;
}

gboolean
_kletsen_file_transfer_get_uses_role_secret (KletsenFileTransfer *self)
{
  return self->uses_role_secret;
}

/* The roleSecret to send with our offer or answer, and on the side channel. */
const char *
_kletsen_file_transfer_get_role_secret (KletsenFileTransfer *self)
{
  return self->role_secret;
}

/* ---- getters ---- */

KletsenTransferDirection
kletsen_file_transfer_get_direction (KletsenFileTransfer *self)
{
  return self->direction;
}

KletsenTransferState
kletsen_file_transfer_get_state (KletsenFileTransfer *self)
{
  return self->state;
}

const char *
kletsen_file_transfer_get_peer (KletsenFileTransfer *self)
{
  return self->peer;
}

const char *
kletsen_file_transfer_get_filename (KletsenFileTransfer *self)
{
  return self->filename;
}

const char *
kletsen_file_transfer_get_checksum (KletsenFileTransfer *self)
{
  return self->checksum;
}

const char *
kletsen_file_transfer_get_id (KletsenFileTransfer *self)
{
  return self->id;
}

/**
 * kletsen_file_transfer_get_verifiable:
 *
 * Returns: whether the offer gave both size and SHA-256, so that a file
 *   that is done was checked against them. An offer of the original
 *   protocol gives neither: such a file cannot be checked after download.
 */
gboolean
kletsen_file_transfer_get_verifiable (KletsenFileTransfer *self)
{
  return self->size_known && self->checksum != NULL;
}

guint64
kletsen_file_transfer_get_size (KletsenFileTransfer *self)
{
  return self->size;
}

guint64
kletsen_file_transfer_get_bytes_done (KletsenFileTransfer *self)
{
  return self->bytes_done;
}

double
kletsen_file_transfer_get_rate (KletsenFileTransfer *self)
{
  double seconds;

  if (self->started == 0)
    return 0;
  seconds = (g_get_monotonic_time () - self->started) / 1e6;
  return seconds > 0 ? self->bytes_done / seconds : 0;
}

int
kletsen_file_transfer_get_eta (KletsenFileTransfer *self)
{
  double rate = kletsen_file_transfer_get_rate (self);

  if (self->state != KLETSEN_TRANSFER_TRANSFERRING || rate <= 0 || !self->size_known)
    return -1;
  return (int)((self->size - MIN (self->bytes_done, self->size)) / rate + 0.5);
}

/**
 * kletsen_file_transfer_get_file:
 *
 * Returns: (transfer none) (nullable): the file sent, or the file received
 *   once it is complete and verified
 */
GFile *
kletsen_file_transfer_get_file (KletsenFileTransfer *self)
{
  return self->file;
}

const char *
kletsen_file_transfer_get_error (KletsenFileTransfer *self)
{
  return self->error;
}

/* The protocol's error code when the server refused, else 0. */
int
kletsen_file_transfer_get_error_code (KletsenFileTransfer *self)
{
  return self->error_code;
}

/* ---- state ---- */

static void
set_state (KletsenFileTransfer  *self,
           KletsenTransferState  state)
{
  if (self->state == state)
    return;
  self->state = state;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_STATE]);
}

static gboolean
is_over (KletsenFileTransfer *self)
{
  return self->state >= KLETSEN_TRANSFER_DONE;
}

static void
close_streams (KletsenFileTransfer *self)
{
  if (self->connection != NULL)
    g_io_stream_close (G_IO_STREAM (self->connection), NULL, NULL);
  if (self->direction == KLETSEN_TRANSFER_RECEIVE && self->output != NULL)
    g_output_stream_close (self->output, NULL, NULL);
  if (self->direction == KLETSEN_TRANSFER_SEND && self->input != NULL)
    g_input_stream_close (self->input, NULL, NULL);
  g_clear_object (&self->connection);
  g_clear_object (&self->input);
  g_clear_object (&self->output);
  g_clear_pointer (&self->buffer, g_free);
}

/**
 * _kletsen_file_transfer_fail:
 * @state: FAILED, REJECTED or CANCELLED
 * @code: the protocol's code, or 0
 * @message: (nullable): what went wrong, for people
 *
 * Ends the transfer; a partly received file is deleted.
 */
void
_kletsen_file_transfer_fail (KletsenFileTransfer  *self,
                             KletsenTransferState  state,
                             int                   code,
                             const char           *message)
{
  if (is_over (self))
    return;

  close_streams (self);
  if (self->part != NULL)
    {
      g_file_delete (self->part, NULL, NULL);
      g_clear_object (&self->part);
    }
  self->error_code = code;
  g_free (self->error);
  self->error = g_strdup (message);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_ERROR]);
  set_state (self, state);
}

static void
fail_with_error (KletsenFileTransfer *self,
                 const GError        *error)
{
  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    _kletsen_file_transfer_fail (self, KLETSEN_TRANSFER_CANCELLED, 0, _("Cancelled"));
  else
    _kletsen_file_transfer_fail (self, KLETSEN_TRANSFER_FAILED, 0, error->message);
}

/**
 * kletsen_file_transfer_cancel:
 *
 * Stops the transfer wherever it is; nothing half-received is kept.
 */
void
kletsen_file_transfer_cancel (KletsenFileTransfer *self)
{
  g_cancellable_cancel (self->cancellable);
  _kletsen_file_transfer_fail (self, KLETSEN_TRANSFER_CANCELLED, 0, _("Cancelled"));
}

static void
progress (KletsenFileTransfer *self,
          gsize                n)
{
  gint64 now = g_get_monotonic_time ();

  self->bytes_done += n;
  /* Notify at most ten times a second, and at the end. */
  if (now - self->last_notify > 100000 || self->bytes_done >= self->size)
    {
      self->last_notify = now;
      g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_BYTES_DONE]);
      g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_RATE]);
      g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_ETA]);
    }
}

/* ---- names ---- */

/* Keeps a name within @max bytes without losing its extension: the stem
 * is cut (at a character boundary), ".ext" stays when it is short. */
static void
truncate_keeping_extension (GString *name,
                            gsize    max)
{
  const char *dot = strrchr (name->str, '.');
  gsize ext_len = dot != NULL && dot != name->str ? strlen (dot) : 0;
  g_autofree char *ext = NULL;
  gsize keep;

  if (name->len <= max)
    return;
  if (ext_len > 32)
    ext_len = 0; /* not an extension, just a dot in a long name */
  ext = g_strdup (name->str + name->len - ext_len);
  keep = max - ext_len;
  /* Back to the start of a character. */
  while (keep > 0 && ((guchar)name->str[keep] & 0xC0) == 0x80)
    keep--;
  g_string_truncate (name, keep);
  g_string_append (name, ext);
}

/**
 * kletsen_file_transfer_safe_name:
 * @offered: the filename a peer offered
 *
 * Returns: (transfer full): a name that is safe as one entry of a folder and
 *   shows what it is: only the offer's base name (after the last `/` or `\`),
 *   without control or format characters (a U+202E would show
 *   "invoice\u202Etxt.exe" as "invoiceexe.txt"), slash lookalikes replaced by
 *   `_`, not hidden, no leading or trailing dots and blanks, at most 255
 *   bytes with its extension kept, valid UTF-8
 */
char *
kletsen_file_transfer_safe_name (const char *offered)
{
  g_autofree char *valid = g_utf8_make_valid (offered, -1);
  const char *base = valid;
  GString *name = g_string_new (NULL);

  for (const char *p = valid; *p; p++)
    if (*p == '/' || *p == '\\')
      base = p + 1;

  for (const char *p = base; *p; p = g_utf8_next_char (p))
    {
      gunichar c = g_utf8_get_char (p);

      if (g_unichar_iscntrl (c) || c == ':' || kletsen_unichar_is_invisible (c))
        continue;
      if (kletsen_unichar_is_slash_lookalike (c))
        c = '_';
      if (name->len == 0 && (c == '.' || g_unichar_isspace (c)))
        continue; /* no hidden files, no "..", no leading blanks */
      g_string_append_unichar (name, c);
    }
  /* A trailing dot or blank hides the real extension on some systems. */
  while (name->len > 0 && (name->str[name->len - 1] == '.' || g_ascii_isspace (name->str[name->len - 1])))
    g_string_truncate (name, name->len - 1);
  truncate_keeping_extension (name, 255);

  if (name->len == 0)
    g_string_assign (name, "file");
  return g_string_free (name, FALSE);
}

/**
 * kletsen_file_transfer_get_shown_name:
 *
 * Returns: (transfer full): the name to show: for a file we receive, the
 *   one it will be saved under, never the offered one
 */
char *
kletsen_file_transfer_get_shown_name (KletsenFileTransfer *self)
{
  if (self->direction == KLETSEN_TRANSFER_RECEIVE)
    return kletsen_file_transfer_safe_name (self->filename);
  return g_strdup (self->filename);
}

/* "name.ext" → "name (n).ext" */
static char *
numbered_name (const char *name,
               guint       n)
{
  const char *dot = strrchr (name, '.');

  if (dot == NULL || dot == name)
    return g_strdup_printf ("%s (%u)", name, n);
  return g_strdup_printf ("%.*s (%u)%s", (int)(dot - name), name, n, dot);
}

/* Gives the verified temporary file its final name without replacing
 * anything: link(2) refuses an existing name, atomically. */
static GFile *
place_file (KletsenFileTransfer  *self,
            GError              **error)
{
  g_autofree char *base = kletsen_file_transfer_safe_name (self->filename);

  for (guint n = 0; n < 1000; n++)
    {
      g_autofree char *name = n == 0 ? g_strdup (base) : numbered_name (base, n);
      g_autoptr(GFile) target = g_file_get_child (self->folder, name);
      const char *from = g_file_peek_path (self->part);
      const char *to = g_file_peek_path (target);

      if (from != NULL && to != NULL)
        {
          if (link (from, to) == 0)
            {
              g_file_delete (self->part, NULL, NULL);
              return g_steal_pointer (&target);
            }
          if (errno == EEXIST)
            continue;
        }
      /* No hard links here (or not a local folder): a move that refuses to overwrite. */
      if (g_file_move (self->part, target, G_FILE_COPY_NONE, NULL, NULL, NULL, error))
        return g_steal_pointer (&target);
      if (!g_error_matches (*error, G_IO_ERROR, G_IO_ERROR_EXISTS))
        return NULL;
      g_clear_error (error);
    }
  g_set_error (error, G_IO_ERROR, G_IO_ERROR_EXISTS, _("Too many files named “%s”"), base);
  return NULL;
}

/* ---- constructors ---- */

KletsenFileTransfer *
_kletsen_file_transfer_new_outgoing (const char *peer,
                                     GFile      *file)
{
  KletsenFileTransfer *self = g_object_new (KLETSEN_TYPE_FILE_TRANSFER, NULL);

  self->direction = KLETSEN_TRANSFER_SEND;
  self->state = KLETSEN_TRANSFER_PREPARING;
  self->peer = g_strdup (peer);
  self->file = g_object_ref (file);
  self->filename = g_file_get_basename (file);
  return self;
}

KletsenFileTransfer *
_kletsen_file_transfer_new_incoming (const char *peer,
                                     const char *filename,
                                     gint64      size,
                                     const char *checksum,
                                     const char *id)
{
  KletsenFileTransfer *self = g_object_new (KLETSEN_TYPE_FILE_TRANSFER, NULL);

  self->direction = KLETSEN_TRANSFER_RECEIVE;
  self->state = KLETSEN_TRANSFER_OFFERED;
  self->peer = g_strdup (peer);
  self->filename = g_strdup (filename);
  self->size = MAX (size, 0);
  self->size_known = size >= 0;
  self->checksum = checksum ? g_ascii_strdown (checksum, -1) : NULL;
  self->id = g_strdup (id);
  return self;
}

/* The offer is on its way. Only from PREPARING: the answer may overtake the
 * confirmation of the offer, and the transfer may be running by then. */
void
_kletsen_file_transfer_set_offered (KletsenFileTransfer *self)
{
  if (self->state == KLETSEN_TRANSFER_PREPARING)
    {
      self->offer_sent = TRUE;
      set_state (self, KLETSEN_TRANSFER_OFFERED);
    }
}

/* Whether our offer went out: a cancel before an answer must withdraw it. */
gboolean
_kletsen_file_transfer_get_offer_sent (KletsenFileTransfer *self)
{
  return self->offer_sent;
}

void
_kletsen_file_transfer_set_id (KletsenFileTransfer *self,
                               const char          *id)
{
  g_free (self->id);
  self->id = g_strdup (id);
}

/* ---- preparing: size and SHA-256, in a worker thread ---- */

typedef struct
{
  guint64  size;
  char    *checksum;
} Prepared;

static void
prepared_free (gpointer data)
{
  Prepared *p = data;

  g_free (p->checksum);
  g_free (p);
}

static const char prepare_tag;

static void
prepare_thread (GTask        *task,
                gpointer      source_object,
                gpointer      task_data,
                GCancellable *cancellable)
{
  GFile *file = task_data;
  g_autoptr(GFileInputStream) in = NULL;
  g_autoptr(GChecksum) hash = g_checksum_new (G_CHECKSUM_SHA256);
  g_autofree guchar *buf = g_malloc (HASH_CHUNK);
  GError *error = NULL;
  Prepared *p = g_new0 (Prepared, 1);
  gssize n;

  in = g_file_read (file, cancellable, &error);
  while (in != NULL && (n = g_input_stream_read (G_INPUT_STREAM (in), buf, HASH_CHUNK, cancellable, &error)) > 0)
    {
      g_checksum_update (hash, buf, n);
      p->size += n;
    }
  if (error != NULL)
    {
      prepared_free (p);
      g_task_return_error (task, error);
      return;
    }
  p->checksum = g_strdup (g_checksum_get_string (hash));
  g_task_return_pointer (task, p, prepared_free);
}

/**
 * _kletsen_file_transfer_prepare_async:
 *
 * Measures the file and computes its SHA-256, streaming, off the main thread.
 */
void
_kletsen_file_transfer_prepare_async (KletsenFileTransfer *self,
                                      GAsyncReadyCallback  callback,
                                      gpointer             user_data)
{
  g_autoptr(GTask) task = g_task_new (self, self->cancellable, callback, user_data);

  g_task_set_source_tag (task, (gpointer)&prepare_tag);
  g_task_set_task_data (task, g_object_ref (self->file), g_object_unref);
  g_task_run_in_thread (task, prepare_thread);
}

gboolean
_kletsen_file_transfer_prepare_finish (KletsenFileTransfer  *self,
                                       GAsyncResult         *result,
                                       GError              **error)
{
  Prepared *p;

  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);
  p = g_task_propagate_pointer (G_TASK (result), error);
  if (p == NULL)
    {
      fail_with_error (self, *error);
      return FALSE;
    }
  self->size = p->size;
  self->size_known = TRUE;
  self->checksum = g_steal_pointer (&p->checksum);
  prepared_free (p);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_SIZE]);
  return TRUE;
}

/* ---- moving the bytes ---- */

static void pump (KletsenFileTransfer *self);

static void
finish_receive (KletsenFileTransfer *self)
{
  g_autoptr(GError) error = NULL;
  const char *got = g_checksum_get_string (self->hash);

  g_output_stream_close (self->output, NULL, NULL);
  if (self->size_known && self->bytes_done != self->size)
    {
      g_autofree char *done = g_strdup_printf ("%" G_GUINT64_FORMAT, self->bytes_done);
      g_autofree char *size = g_strdup_printf ("%" G_GUINT64_FORMAT, self->size);
      g_autofree char *why = g_strdup_printf (_("The file arrived incomplete (%s of %s bytes) and was deleted"),
                                              done, size);
      _kletsen_file_transfer_fail (self, KLETSEN_TRANSFER_FAILED, 0, why);
      return;
    }
  if (self->checksum != NULL && g_strcmp0 (got, self->checksum) != 0)
    {
      _kletsen_file_transfer_fail (self, KLETSEN_TRANSFER_FAILED, 0,
                                   _("The file’s checksum does not match: it was damaged on the way and was deleted"));
      return;
    }

  self->file = place_file (self, &error);
  if (self->file == NULL)
    {
      _kletsen_file_transfer_fail (self, KLETSEN_TRANSFER_FAILED, 0, error->message);
      return;
    }
  g_clear_object (&self->part);
  close_streams (self);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_FILE]);
  set_state (self, KLETSEN_TRANSFER_DONE);
}

static void
wrote_cb (GObject      *object,
          GAsyncResult *result,
          gpointer      user_data)
{
  g_autoptr(KletsenFileTransfer) self = user_data;
  g_autoptr(GError) error = NULL;
  gsize written = 0;

  if (!g_output_stream_write_all_finish (G_OUTPUT_STREAM (object), result, &written, &error))
    {
      if (!is_over (self))
        fail_with_error (self, error);
      return;
    }
  if (is_over (self))
    return;
  if (self->direction == KLETSEN_TRANSFER_SEND)
    progress (self, written);
  pump (self);
}

static void
sent_all_cb (GObject      *object,
             GAsyncResult *result,
             gpointer      user_data)
{
  g_autoptr(KletsenFileTransfer) self = user_data;
  GBytes *rest = g_input_stream_read_bytes_finish (G_INPUT_STREAM (object), result, NULL);

  /* Whatever the server says now (nothing, normally), it closes. */
  g_clear_pointer (&rest, g_bytes_unref);
  if (is_over (self))
    return;
  /* The server closes our side once the downloader has every byte. */
  close_streams (self);
  set_state (self, KLETSEN_TRANSFER_DONE);
}

static void
read_cb (GObject      *object,
         GAsyncResult *result,
         gpointer      user_data)
{
  g_autoptr(KletsenFileTransfer) self = user_data;
  g_autoptr(GError) error = NULL;
  gssize n = g_input_stream_read_finish (G_INPUT_STREAM (object), result, &error);

  if (is_over (self))
    return;
  if (n < 0)
    {
      fail_with_error (self, error);
      return;
    }

  if (n == 0)
    {
      if (self->direction == KLETSEN_TRANSFER_RECEIVE)
        {
          finish_receive (self);
          return;
        }
      /* All sent: half-close so the server sees our EOF, then wait for it to
       * close. Over TLS, closing the output sends close_notify first. */
      if (G_IS_SOCKET_CONNECTION (self->connection) && !self->tls)
        g_socket_shutdown (g_socket_connection_get_socket (G_SOCKET_CONNECTION (self->connection)), FALSE, TRUE, NULL);
      else
        g_output_stream_close (g_io_stream_get_output_stream (self->connection), NULL, NULL);
      g_input_stream_read_bytes_async (g_io_stream_get_input_stream (G_IO_STREAM (self->connection)),
                                       1, G_PRIORITY_DEFAULT, self->cancellable, sent_all_cb, g_object_ref (self));
      return;
    }

  if (self->direction == KLETSEN_TRANSFER_RECEIVE)
    {
      if (!self->size_known && self->bytes_done + n > MAX_UNCHECKED_SIZE)
        {
          _kletsen_file_transfer_fail (self, KLETSEN_TRANSFER_FAILED, 0,
                                       _("The file is larger than Kletsen accepts without a size; it was deleted"));
          return;
        }
      if (self->size_known && self->bytes_done + n > self->size)
        {
          _kletsen_file_transfer_fail (self, KLETSEN_TRANSFER_FAILED, 0,
                                       _("The sender sent more than the announced size; the file was deleted"));
          return;
        }
      g_checksum_update (self->hash, self->buffer, n);
      progress (self, n);
    }
  g_output_stream_write_all_async (self->output, self->buffer, n, G_PRIORITY_DEFAULT,
                                   self->cancellable, wrote_cb, g_object_ref (self));
}

static void
pump (KletsenFileTransfer *self)
{
  g_input_stream_read_async (self->input, self->buffer, CHUNK, G_PRIORITY_DEFAULT,
                             self->cancellable, read_cb, g_object_ref (self));
}

static void
header_sent_cb (GObject      *object,
                GAsyncResult *result,
                gpointer      user_data)
{
  g_autoptr(KletsenFileTransfer) self = user_data;
  g_autoptr(GError) error = NULL;

  if (!g_output_stream_write_all_finish (G_OUTPUT_STREAM (object), result, NULL, &error))
    {
      fail_with_error (self, error);
      return;
    }
  if (is_over (self))
    return;
  self->started = g_get_monotonic_time ();
  self->buffer = g_malloc (CHUNK);
  set_state (self, KLETSEN_TRANSFER_TRANSFERRING);
  pump (self);
}

/* Opens the local end: the file to send, or a fresh temporary file inside
 * the folder for one being received. */
static gboolean
open_local (KletsenFileTransfer  *self,
            GError              **error)
{
  if (self->direction == KLETSEN_TRANSFER_SEND)
    {
      self->input = G_INPUT_STREAM (g_file_read (self->file, self->cancellable, error));
      return self->input != NULL;
    }

  for (guint attempt = 0; attempt < 16; attempt++)
    {
      g_autofree char *name = g_strdup_printf (".kletsen-%08x.part", g_random_int ());
      g_autoptr(GError) local_error = NULL;

      g_clear_object (&self->part);
      self->part = g_file_get_child (self->folder, name);
      self->output = G_OUTPUT_STREAM (g_file_create (self->part, G_FILE_CREATE_PRIVATE, self->cancellable, &local_error));
      if (self->output != NULL)
        {
          self->hash = g_checksum_new (G_CHECKSUM_SHA256);
          return TRUE;
        }
      if (!g_error_matches (local_error, G_IO_ERROR, G_IO_ERROR_EXISTS))
        {
          g_clear_object (&self->part);
          g_propagate_error (error, g_steal_pointer (&local_error));
          return FALSE;
        }
    }
  g_clear_object (&self->part);
  g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_EXISTS, _("Cannot make a temporary file"));
  return FALSE;
}

static void
connected_cb (GObject      *object,
              GAsyncResult *result,
              gpointer      user_data)
{
  g_autoptr(KletsenFileTransfer) self = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(GSocketConnection) connection = g_socket_client_connect_to_host_finish (G_SOCKET_CLIENT (object),
                                                                                   result, &error);

  if (connection == NULL)
    {
      fail_with_error (self, error);
      return;
    }
  _kletsen_file_transfer_run_on_stream (self, G_IO_STREAM (connection));
}

/**
 * _kletsen_file_transfer_run_on_stream:
 * @stream: the side channel, connected
 *
 * Sends the header and moves the bytes over @stream: the second half of
 * _kletsen_file_transfer_run(), and what the session fuzzer drives with an
 * in-memory stream.
 */
void
_kletsen_file_transfer_run_on_stream (KletsenFileTransfer *self,
                                      GIOStream           *stream)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *header = NULL;

  g_set_object (&self->connection, stream);
  if (is_over (self))
    return;
  if (!open_local (self, &error))
    {
      fail_with_error (self, error);
      return;
    }

  if (self->direction == KLETSEN_TRANSFER_SEND)
    self->output = g_object_ref (g_io_stream_get_output_stream (stream));
  else
    self->input = g_object_ref (g_io_stream_get_input_stream (stream));

  /* The header, and our role's secret right behind it where the server
   * checks one. */
  header = g_malloc (KLETSEN_SIDE_HEADER_LEN + KLETSEN_ROLE_SECRET_LEN);
  kletsen_side_header_write (header, self->id,
                             self->direction == KLETSEN_TRANSFER_SEND ? KLETSEN_SIDE_UPLOADER : KLETSEN_SIDE_DOWNLOADER);
  memcpy (header + KLETSEN_SIDE_HEADER_LEN, self->role_secret, KLETSEN_ROLE_SECRET_LEN);
  g_output_stream_write_all_async (g_io_stream_get_output_stream (stream), header,
                                   KLETSEN_SIDE_HEADER_LEN + (self->uses_role_secret ? KLETSEN_ROLE_SECRET_LEN : 0),
                                   G_PRIORITY_DEFAULT,
                                   self->cancellable, header_sent_cb, g_object_ref (self));
  /* The header lives until the write completes. */
  g_object_set_data_full (G_OBJECT (self), "kletsen-header", g_steal_pointer (&header), g_free);
}

/**
 * _kletsen_file_transfer_run:
 * @folder: (nullable): for a received file, the folder it goes into
 *
 * The offer was accepted: connect to the side channel and move the bytes.
 */
/* The side channel makes the same trust decision as the chat connection:
 * TLS when it used TLS, and a certificate GIO cannot validate only if it is
 * the very one the chat connection accepted. */
void
_kletsen_file_transfer_set_tls (KletsenFileTransfer *self,
                                gboolean             use_tls,
                                GTlsDatabase        *database,
                                const char          *fingerprint)
{
  self->tls = use_tls;
  g_set_object (&self->tls_database, database);
  g_free (self->tls_fingerprint);
  self->tls_fingerprint = g_strdup (fingerprint);
}

static gboolean
accept_certificate_cb (GTlsConnection       *connection,
                       GTlsCertificate      *certificate,
                       GTlsCertificateFlags  errors,
                       KletsenFileTransfer  *self)
{
  g_autofree char *fingerprint = kletsen_certificate_fingerprint (certificate);

  return self->tls_fingerprint != NULL && g_str_equal (fingerprint, self->tls_fingerprint);
}

static void
client_event_cb (GSocketClient       *client,
                 GSocketClientEvent   event,
                 GSocketConnectable  *connectable,
                 GIOStream           *connection,
                 KletsenFileTransfer *self)
{
  if (event != G_SOCKET_CLIENT_TLS_HANDSHAKING || !G_IS_TLS_CLIENT_CONNECTION (connection))
    return;
  if (self->tls_database != NULL)
    g_tls_connection_set_database (G_TLS_CONNECTION (connection), self->tls_database);
  /* The file's size and SHA-256 are checked at the end: a cut-off stream is caught there. */
  g_tls_connection_set_require_close_notify (G_TLS_CONNECTION (connection), FALSE);
  g_signal_connect_object (connection, "accept-certificate", G_CALLBACK (accept_certificate_cb), self, 0);
}

/* We accepted an offer into @folder; the side channel opens once the server
 * has our answer (_kletsen_file_transfer_run). */
void
_kletsen_file_transfer_accepted (KletsenFileTransfer *self,
                                 GFile               *folder)
{
  g_set_object (&self->folder, folder);
  set_state (self, KLETSEN_TRANSFER_CONNECTING);
}

void
_kletsen_file_transfer_run (KletsenFileTransfer *self,
                            const char          *host,
                            guint16              port,
                            GFile               *folder)
{
  g_autoptr(GSocketClient) client = g_socket_client_new ();

  g_return_if_fail (self->id != NULL && strlen (self->id) == 36);

  if (folder != NULL)
    g_set_object (&self->folder, folder);
  set_state (self, KLETSEN_TRANSFER_CONNECTING);
  g_socket_client_set_tls (client, self->tls);
  g_signal_connect_object (client, "event", G_CALLBACK (client_event_cb), self, 0);
  g_socket_client_connect_to_host_async (client, host, port, self->cancellable, connected_cb, g_object_ref (self));
}
