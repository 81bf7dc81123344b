/* kletsen-history.c
 *
 * Copyright 2026 The Kletsen authors
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

/* The history store: every message shown, in SQLite.
 *
 * One database per server and account, readable by its owner alone (0600,
 * in a 0700 folder). It runs in WAL mode with synchronous=NORMAL: each
 * message is its own committed transaction when it is shown, which a
 * killed process never loses (a power cut may lose the last ones). The
 * schema carries its version in PRAGMA user_version and is migrated one
 * step at a time; a database from a newer Kletsen is left untouched.
 * Search runs over an FTS5 index kept by triggers. */

#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <sqlite3.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kletsen-history.h"

struct _KletsenHistory
{
  GObject       parent_instance;

  char         *path;
  sqlite3      *db;
  sqlite3_stmt *insert;
  sqlite3_stmt *update_state;
  sqlite3_stmt *before;
  sqlite3_stmt *after;
  sqlite3_stmt *newest;
  sqlite3_stmt *count_after;
  sqlite3_stmt *get_read;
  sqlite3_stmt *set_read;
  sqlite3_stmt *search;
};

G_DEFINE_FINAL_TYPE (KletsenHistory, kletsen_history, G_TYPE_OBJECT)

G_DEFINE_QUARK (kletsen-history-error-quark, kletsen_history_error)

/* Each step takes the schema from version i to i + 1. */
static const char *const migrations[KLETSEN_HISTORY_SCHEMA_VERSION] = {
  /* 1: the messages, and where the user stopped reading */
  "CREATE TABLE messages ("
  "  id INTEGER PRIMARY KEY,"
  "  peer TEXT NOT NULL,"            /* '' is Everyone */
  "  kind INTEGER NOT NULL,"
  "  sender TEXT,"
  "  body TEXT NOT NULL,"
  "  time INTEGER NOT NULL,"         /* µs since the epoch, when it was shown */
  "  encrypted INTEGER NOT NULL,"
  "  verified INTEGER NOT NULL,"
  "  state INTEGER NOT NULL,"
  "  error_code INTEGER NOT NULL);"
  "CREATE INDEX messages_by_peer ON messages (peer, id);"
  "CREATE TABLE read_marks (peer TEXT PRIMARY KEY, last_read INTEGER NOT NULL);",
  /* 2: full-text search, built from what version 1 already holds */
  "CREATE VIRTUAL TABLE messages_fts USING fts5 (body, content='messages', content_rowid='id',"
  "  tokenize='unicode61 remove_diacritics 2');"
  "CREATE TRIGGER messages_ai AFTER INSERT ON messages BEGIN"
  "  INSERT INTO messages_fts (rowid, body) VALUES (new.id, new.body);"
  "END;"
  "CREATE TRIGGER messages_ad AFTER DELETE ON messages BEGIN"
  "  INSERT INTO messages_fts (messages_fts, rowid, body) VALUES ('delete', old.id, old.body);"
  "END;"
  "INSERT INTO messages_fts (messages_fts) VALUES ('rebuild');",
};

#define COLUMNS "id, kind, sender, body, time, encrypted, verified, state, error_code"

void
kletsen_history_hit_free (KletsenHistoryHit *hit)
{
  g_free (hit->peer);
  g_clear_object (&hit->message);
  g_free (hit);
}

static void
kletsen_history_finalize (GObject *object)
{
  KletsenHistory *self = KLETSEN_HISTORY (object);
  sqlite3_stmt **statements[] = {
    &self->insert, &self->update_state, &self->before, &self->after, &self->newest,
    &self->count_after, &self->get_read, &self->set_read, &self->search,
  };

  for (guint i = 0; i < G_N_ELEMENTS (statements); i++)
    g_clear_pointer (statements[i], sqlite3_finalize);
  g_clear_pointer (&self->db, sqlite3_close);
  g_clear_pointer (&self->path, g_free);

  G_OBJECT_CLASS (kletsen_history_parent_class)->finalize (object);
}

static void
kletsen_history_class_init (KletsenHistoryClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = kletsen_history_finalize;
}

static void
kletsen_history_init (KletsenHistory *self)
{
}

static gboolean
set_error (KletsenHistory  *self,
           GError         **error,
           const char      *doing)
{
  g_set_error (error, KLETSEN_HISTORY_ERROR, KLETSEN_HISTORY_ERROR_DATABASE, "%s: %s",
               doing, sqlite3_errmsg (self->db));
  return FALSE;
}

static gboolean
exec (KletsenHistory  *self,
      const char      *sql,
      GError         **error)
{
  if (sqlite3_exec (self->db, sql, NULL, NULL, NULL) != SQLITE_OK)
    return set_error (self, error, sql);
  return TRUE;
}

static int
user_version (KletsenHistory *self)
{
  sqlite3_stmt *stmt = NULL;
  int version = -1;

  if (sqlite3_prepare_v2 (self->db, "PRAGMA user_version", -1, &stmt, NULL) == SQLITE_OK &&
      sqlite3_step (stmt) == SQLITE_ROW)
    version = sqlite3_column_int (stmt, 0);
  sqlite3_finalize (stmt);
  return version;
}

static gboolean
migrate (KletsenHistory  *self,
         GError         **error)
{
  int version = user_version (self);

  if (version < 0)
    return set_error (self, error, "PRAGMA user_version");
  if (version > KLETSEN_HISTORY_SCHEMA_VERSION)
    {
      g_set_error (error, KLETSEN_HISTORY_ERROR, KLETSEN_HISTORY_ERROR_TOO_NEW,
                   "%s was written by a newer Kletsen (schema %d, this one knows %d)",
                   self->path, version, KLETSEN_HISTORY_SCHEMA_VERSION);
      return FALSE;
    }
  for (; version < KLETSEN_HISTORY_SCHEMA_VERSION; version++)
    {
      g_autofree char *bump = g_strdup_printf ("PRAGMA user_version = %d", version + 1);

      /* Each step and its version number commit together, or not at all. */
      if (!exec (self, "BEGIN IMMEDIATE", error))
        return FALSE;
      if (!exec (self, migrations[version], error) || !exec (self, bump, error))
        {
          sqlite3_exec (self->db, "ROLLBACK", NULL, NULL, NULL);
          return FALSE;
        }
      if (!exec (self, "COMMIT", error))
        return FALSE;
    }
  return TRUE;
}

static gboolean
prepare (KletsenHistory  *self,
         sqlite3_stmt   **stmt,
         const char      *sql,
         GError         **error)
{
  if (sqlite3_prepare_v3 (self->db, sql, -1, SQLITE_PREPARE_PERSISTENT, stmt, NULL) != SQLITE_OK)
    return set_error (self, error, sql);
  return TRUE;
}

static gboolean
prepare_all (KletsenHistory  *self,
             GError         **error)
{
  return prepare (self, &self->insert,
                  "INSERT INTO messages (peer, kind, sender, body, time, encrypted, verified, state, error_code)"
                  " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", error) &&
         prepare (self, &self->update_state, "UPDATE messages SET state = ?, error_code = ? WHERE id = ?", error) &&
         prepare (self, &self->before,
                  "SELECT " COLUMNS " FROM messages WHERE peer = ? AND id < ? ORDER BY id DESC LIMIT ?", error) &&
         prepare (self, &self->after,
                  "SELECT " COLUMNS " FROM messages WHERE peer = ? AND id > ? ORDER BY id LIMIT ?", error) &&
         prepare (self, &self->newest, "SELECT max(id) FROM messages WHERE peer = ?", error) &&
         prepare (self, &self->count_after,
                  "SELECT count(*) FROM messages WHERE peer = ? AND id > ? AND kind = 0 AND sender IS NOT ?", error) &&
         prepare (self, &self->get_read, "SELECT last_read FROM read_marks WHERE peer = ?", error) &&
         prepare (self, &self->set_read,
                  "INSERT INTO read_marks (peer, last_read) VALUES (?, ?)"
                  " ON CONFLICT (peer) DO UPDATE SET last_read = max(last_read, excluded.last_read)", error) &&
         prepare (self, &self->search,
                  "SELECT m.id, m.kind, m.sender, m.body, m.time, m.encrypted, m.verified, m.state, m.error_code, m.peer"
                  " FROM messages_fts JOIN messages m ON m.id = messages_fts.rowid"
                  " WHERE messages_fts MATCH ? ORDER BY m.id DESC LIMIT ?", error);
}

/* A file name part that is safe whatever the server or the user is called. */
static void
append_escaped (GString    *out,
                const char *part)
{
  for (const guchar *p = (const guchar *)part; *p != '\0'; p++)
    {
      if (g_ascii_isalnum (*p) || *p == '.' || *p == '-' || *p == '_')
        g_string_append_c (out, *p);
      else
        g_string_append_printf (out, "%%%02X", *p);
    }
}

/**
 * kletsen_history_path_for:
 *
 * Returns: (transfer full): where the history of @username on @host:@port
 *   lives under @data_dir
 */
char *
kletsen_history_path_for (const char *data_dir,
                          const char *host,
                          guint16     port,
                          const char *username)
{
  g_autoptr(GString) name = g_string_new (NULL);

  append_escaped (name, host);
  g_string_append_printf (name, "_%u_", port);
  append_escaped (name, username);
  /* Names made of dots only would name a folder, not a file. */
  g_string_append (name, ".sqlite");
  return g_build_filename (data_dir, "history", name->str, NULL);
}

/**
 * kletsen_history_open:
 *
 * Opens the database at @path, creating it (mode 0600) and its folder
 * (0700) if need be, and brings its schema up to date.
 *
 * Returns: (transfer full): the store, or %NULL with @error set
 */
KletsenHistory *
kletsen_history_open (const char  *path,
                      GError     **error)
{
  g_autoptr(KletsenHistory) self = g_object_new (KLETSEN_TYPE_HISTORY, NULL);
  g_autofree char *folder = g_path_get_dirname (path);
  int fd;

  self->path = g_strdup (path);
  if (g_mkdir_with_parents (folder, 0700) != 0)
    {
      int saved = errno;

      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved), "%s: %s", folder, g_strerror (saved));
      return NULL;
    }
  /* Created here so that it is never readable by others, not even for a
   * moment; SQLite gives its -wal and -shm files the same mode. */
  fd = g_open (path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0)
    {
      int saved = errno;

      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved), "%s: %s", path, g_strerror (saved));
      return NULL;
    }
  fchmod (fd, 0600);
  close (fd);

  if (sqlite3_open_v2 (path, &self->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK)
    {
      set_error (self, error, path);
      return NULL;
    }
  /* Another Kletsen on the same account (the CLI reading while the app
   * writes) waits a moment rather than failing. */
  sqlite3_busy_timeout (self->db, 2000);
  if (!exec (self, "PRAGMA journal_mode = WAL", error) ||
      !exec (self, "PRAGMA synchronous = NORMAL", error) ||
      /* Clear History overwrites what it deletes. */
      !exec (self, "PRAGMA secure_delete = ON", error) ||
      !migrate (self, error) ||
      !prepare_all (self, error))
    return NULL;
  return g_steal_pointer (&self);
}

const char *
kletsen_history_get_path (KletsenHistory *self)
{
  return self->path;
}

static gint64
unix_us (GDateTime *time)
{
  return g_date_time_to_unix (time) * G_USEC_PER_SEC + g_date_time_get_microsecond (time);
}

/**
 * kletsen_history_add:
 * @peer: (nullable): the conversation; %NULL for Everyone
 *
 * Writes @message, committed before this returns, and gives it its row id.
 */
gboolean
kletsen_history_add (KletsenHistory      *self,
                     const char          *peer,
                     KletsenChatMessage  *message,
                     GError             **error)
{
  sqlite3_stmt *s = self->insert;
  int rc;

  sqlite3_bind_text (s, 1, peer ? peer : "", -1, SQLITE_TRANSIENT);
  sqlite3_bind_int (s, 2, kletsen_chat_message_get_kind (message));
  if (kletsen_chat_message_get_sender (message) != NULL)
    sqlite3_bind_text (s, 3, kletsen_chat_message_get_sender (message), -1, SQLITE_TRANSIENT);
  else
    sqlite3_bind_null (s, 3);
  sqlite3_bind_text (s, 4, kletsen_chat_message_get_text (message), -1, SQLITE_TRANSIENT);
  sqlite3_bind_int64 (s, 5, unix_us (kletsen_chat_message_get_time (message)));
  sqlite3_bind_int (s, 6, kletsen_chat_message_get_encrypted (message));
  sqlite3_bind_int (s, 7, kletsen_chat_message_get_verified (message));
  sqlite3_bind_int (s, 8, kletsen_chat_message_get_state (message));
  sqlite3_bind_int (s, 9, kletsen_chat_message_get_error_code (message));
  rc = sqlite3_step (s);
  sqlite3_reset (s);
  sqlite3_clear_bindings (s);
  if (rc != SQLITE_DONE)
    return set_error (self, error, "INSERT");
  kletsen_chat_message_set_history_id (message, sqlite3_last_insert_rowid (self->db));
  return TRUE;
}

/* A message of mine was sent, delivered or failed. */
gboolean
kletsen_history_update_state (KletsenHistory      *self,
                              KletsenChatMessage  *message,
                              GError             **error)
{
  sqlite3_stmt *s = self->update_state;
  int rc;

  if (kletsen_chat_message_get_history_id (message) == 0)
    return TRUE;
  sqlite3_bind_int (s, 1, kletsen_chat_message_get_state (message));
  sqlite3_bind_int (s, 2, kletsen_chat_message_get_error_code (message));
  sqlite3_bind_int64 (s, 3, kletsen_chat_message_get_history_id (message));
  rc = sqlite3_step (s);
  sqlite3_reset (s);
  if (rc != SQLITE_DONE)
    return set_error (self, error, "UPDATE");
  return TRUE;
}

static KletsenChatMessage *
message_from_row (sqlite3_stmt *s)
{
  KletsenMessageKind kind = CLAMP (sqlite3_column_int (s, 1), KLETSEN_MESSAGE_KIND_TEXT, KLETSEN_MESSAGE_KIND_FILE);
  KletsenMessageState state = CLAMP (sqlite3_column_int (s, 7), KLETSEN_MESSAGE_STATE_RECEIVED,
                                     KLETSEN_MESSAGE_STATE_FAILED);
  const char *body = (const char *)sqlite3_column_text (s, 3);
  KletsenChatMessage *message;

  /* Still "sending" when the app stopped: it never heard back. */
  if (state == KLETSEN_MESSAGE_STATE_SENDING)
    state = KLETSEN_MESSAGE_STATE_FAILED;
  message = kletsen_chat_message_new_at (kind, (const char *)sqlite3_column_text (s, 2), body ? body : "",
                                         KLETSEN_MESSAGE_STATE_RECEIVED, sqlite3_column_int (s, 5),
                                         sqlite3_column_int64 (s, 4));
  kletsen_chat_message_set_state (message, state, MAX (sqlite3_column_int (s, 8), 0));
  kletsen_chat_message_set_verified (message, sqlite3_column_int (s, 6));
  kletsen_chat_message_set_history_id (message, sqlite3_column_int64 (s, 0));
  return message;
}

static GPtrArray *
collect (sqlite3_stmt *s,
         gboolean      reverse)
{
  GPtrArray *messages = g_ptr_array_new_with_free_func (g_object_unref);

  while (sqlite3_step (s) == SQLITE_ROW)
    g_ptr_array_add (messages, message_from_row (s));
  sqlite3_reset (s);
  sqlite3_clear_bindings (s);
  if (reverse)
    for (guint i = 0; i < messages->len / 2; i++)
      {
        gpointer tmp = messages->pdata[i];

        messages->pdata[i] = messages->pdata[messages->len - 1 - i];
        messages->pdata[messages->len - 1 - i] = tmp;
      }
  return messages;
}

/**
 * kletsen_history_load_before:
 * @before_id: 0 for the newest
 *
 * Returns: (transfer full) (element-type KletsenChatMessage): up to @limit
 *   messages of @peer older than @before_id, oldest first
 */
GPtrArray *
kletsen_history_load_before (KletsenHistory *self,
                             const char     *peer,
                             gint64          before_id,
                             guint           limit)
{
  sqlite3_bind_text (self->before, 1, peer ? peer : "", -1, SQLITE_TRANSIENT);
  sqlite3_bind_int64 (self->before, 2, before_id > 0 ? before_id : G_MAXINT64);
  sqlite3_bind_int (self->before, 3, (int)MIN (limit, G_MAXINT));
  return collect (self->before, TRUE);
}

/**
 * kletsen_history_load_after:
 *
 * Returns: (transfer full) (element-type KletsenChatMessage): up to @limit
 *   messages of @peer newer than @after_id, oldest first
 */
GPtrArray *
kletsen_history_load_after (KletsenHistory *self,
                            const char     *peer,
                            gint64          after_id,
                            guint           limit)
{
  sqlite3_bind_text (self->after, 1, peer ? peer : "", -1, SQLITE_TRANSIENT);
  sqlite3_bind_int64 (self->after, 2, after_id);
  sqlite3_bind_int (self->after, 3, (int)MIN (limit, G_MAXINT));
  return collect (self->after, FALSE);
}

static gint64
single_int64 (sqlite3_stmt *s)
{
  gint64 value = 0;

  if (sqlite3_step (s) == SQLITE_ROW)
    value = sqlite3_column_int64 (s, 0);
  sqlite3_reset (s);
  sqlite3_clear_bindings (s);
  return value;
}

/* The id of the newest message of @peer, 0 if there is none. */
gint64
kletsen_history_get_newest_id (KletsenHistory *self,
                               const char     *peer)
{
  sqlite3_bind_text (self->newest, 1, peer ? peer : "", -1, SQLITE_TRANSIENT);
  return single_int64 (self->newest);
}

/* How many texts of @peer newer than @after_id someone other than
 * @not_from wrote: the unread count after a restart. */
guint
kletsen_history_count_after (KletsenHistory *self,
                             const char     *peer,
                             gint64          after_id,
                             const char     *not_from)
{
  gint64 count;

  sqlite3_bind_text (self->count_after, 1, peer ? peer : "", -1, SQLITE_TRANSIENT);
  sqlite3_bind_int64 (self->count_after, 2, after_id);
  sqlite3_bind_text (self->count_after, 3, not_from ? not_from : "", -1, SQLITE_TRANSIENT);
  count = single_int64 (self->count_after); /* once: CLAMP would run it thrice */
  return (guint)CLAMP (count, 0, G_MAXUINT);
}

/**
 * kletsen_history_list_peers:
 *
 * Returns: (transfer full): the private conversations with history, the
 *   most recent first
 */
GStrv
kletsen_history_list_peers (KletsenHistory *self)
{
  g_autoptr(GStrvBuilder) builder = g_strv_builder_new ();
  sqlite3_stmt *s = NULL;

  if (sqlite3_prepare_v2 (self->db,
                          "SELECT peer FROM messages WHERE peer != '' GROUP BY peer ORDER BY max(id) DESC",
                          -1, &s, NULL) == SQLITE_OK)
    while (sqlite3_step (s) == SQLITE_ROW)
      g_strv_builder_add (builder, (const char *)sqlite3_column_text (s, 0));
  sqlite3_finalize (s);
  return g_strv_builder_end (builder);
}

/* What the user typed, as an FTS5 query that means just that: every word
 * must occur, the last one may be the start of a word, and nothing in it
 * is read as FTS5 syntax. */
static char *
fts_query (const char *text)
{
  g_auto(GStrv) words = g_strsplit_set (text, " \t\n\r", -1);
  g_autoptr(GString) query = g_string_new (NULL);
  guint n = 0;

  for (guint i = 0; words[i] != NULL; i++)
    {
      if (words[i][0] == '\0')
        continue;
      if (n++ > 0)
        g_string_append_c (query, ' ');
      g_string_append_c (query, '"');
      for (const char *p = words[i]; *p != '\0'; p++)
        {
          if (*p == '"')
            g_string_append_c (query, '"');
          g_string_append_c (query, *p);
        }
      g_string_append_c (query, '"');
    }
  if (n == 0)
    return NULL;
  g_string_append_c (query, '*');
  return g_string_free (g_steal_pointer (&query), FALSE);
}

/**
 * kletsen_history_search:
 *
 * Returns: (transfer full) (element-type KletsenHistoryHit): up to @limit
 *   messages of any conversation that contain every word of @query, the
 *   newest first
 */
GPtrArray *
kletsen_history_search (KletsenHistory *self,
                        const char     *query,
                        guint           limit)
{
  GPtrArray *hits = g_ptr_array_new_with_free_func ((GDestroyNotify)kletsen_history_hit_free);
  g_autofree char *match = g_utf8_validate (query, -1, NULL) ? fts_query (query) : NULL;
  sqlite3_stmt *s = self->search;

  if (match == NULL)
    return hits;
  sqlite3_bind_text (s, 1, match, -1, SQLITE_TRANSIENT);
  sqlite3_bind_int (s, 2, (int)MIN (limit, G_MAXINT));
  while (sqlite3_step (s) == SQLITE_ROW)
    {
      KletsenHistoryHit *hit = g_new0 (KletsenHistoryHit, 1);
      const char *peer = (const char *)sqlite3_column_text (s, 9);

      hit->peer = peer && *peer ? g_strdup (peer) : NULL;
      hit->message = message_from_row (s);
      g_ptr_array_add (hits, hit);
    }
  sqlite3_reset (s);
  sqlite3_clear_bindings (s);
  return hits;
}

/* The newest message of @peer the user has seen, 0 if none. */
gint64
kletsen_history_get_last_read (KletsenHistory *self,
                               const char     *peer)
{
  sqlite3_bind_text (self->get_read, 1, peer ? peer : "", -1, SQLITE_TRANSIENT);
  return single_int64 (self->get_read);
}

/* Moves the read mark forward; never back. */
void
kletsen_history_set_last_read (KletsenHistory *self,
                               const char     *peer,
                               gint64          id)
{
  sqlite3_bind_text (self->set_read, 1, peer ? peer : "", -1, SQLITE_TRANSIENT);
  sqlite3_bind_int64 (self->set_read, 2, id);
  if (sqlite3_step (self->set_read) != SQLITE_DONE)
    g_warning ("Cannot keep the read mark: %s", sqlite3_errmsg (self->db));
  sqlite3_reset (self->set_read);
  sqlite3_clear_bindings (self->set_read);
}

/**
 * kletsen_history_clear:
 *
 * Deletes every message and read mark, overwrites them on disk, and
 * gives the space back.
 */
gboolean
kletsen_history_clear (KletsenHistory  *self,
                       GError         **error)
{
  if (!exec (self, "BEGIN IMMEDIATE", error))
    return FALSE;
  if (!exec (self, "DELETE FROM messages; DELETE FROM read_marks;"
                   "INSERT INTO messages_fts (messages_fts) VALUES ('rebuild');", error) ||
      !exec (self, "COMMIT", error))
    {
      sqlite3_exec (self->db, "ROLLBACK", NULL, NULL, NULL);
      return FALSE;
    }
  return exec (self, "PRAGMA wal_checkpoint(TRUNCATE)", error) && exec (self, "VACUUM", error);
}
