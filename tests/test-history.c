/* test-history.c
 *
 * Copyright 2026 The Kletsen authors
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

/* The history store and the conversation window onto it: what is written
 * survives a kill, old schemas are migrated and newer ones left alone,
 * search means what the user typed, the model stays small however long
 * the history; then the same through real sessions on the real server,
 * and through kletsen-cli. */

#include "config.h"

#include <glib/gstdio.h>
#include <signal.h>
#include <sqlite3.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kletsen-history.h"
#include "kletsen-protocol.h"
#include "kletsen-session.h"
#include "kletsen-test-util.h"

typedef struct
{
  char *dir;
  char *path;
} Fixture;

static void
fixture_setup (Fixture       *f,
               gconstpointer  data)
{
  f->dir = g_dir_make_tmp ("kletsen-history-XXXXXX", NULL);
  g_assert_nonnull (f->dir);
  f->path = kletsen_history_path_for (f->dir, "127.0.0.1", 1337, "alice");
}

static void
fixture_teardown (Fixture       *f,
                  gconstpointer  data)
{
  kt_remove_tree (f->dir);
  g_free (f->dir);
  g_free (f->path);
}

static KletsenHistory *
open_store (Fixture *f)
{
  g_autoptr(GError) error = NULL;
  KletsenHistory *history = kletsen_history_open (f->path, &error);

  g_assert_no_error (error);
  g_assert_nonnull (history);
  return history;
}

static KletsenChatMessage *
add (KletsenHistory     *history,
     const char         *peer,
     const char         *sender,
     const char         *text,
     KletsenMessageState state)
{
  g_autoptr(GError) error = NULL;
  KletsenChatMessage *m = kletsen_chat_message_new (KLETSEN_MESSAGE_KIND_TEXT, sender, text, state, FALSE);

  g_assert_true (kletsen_history_add (history, peer, m, &error));
  g_assert_no_error (error);
  g_assert_cmpint (kletsen_chat_message_get_history_id (m), >, 0);
  return m;
}

static void
add_many (KletsenHistory *history,
          const char     *peer,
          guint           n)
{
  for (guint i = 0; i < n; i++)
    {
      g_autofree char *text = g_strdup_printf ("message %u", i);
      g_autoptr(KletsenChatMessage) m = add (history, peer, "bob", text, KLETSEN_MESSAGE_STATE_RECEIVED);
    }
}

static const char *
text_at (GListModel *model,
         guint       i)
{
  g_autoptr(KletsenChatMessage) m = g_list_model_get_item (model, i);

  g_assert_nonnull (m);
  return kletsen_chat_message_get_text (m); /* the model keeps it alive */
}

static guint
n_hits (KletsenHistory *history,
        const char     *query)
{
  g_autoptr(GPtrArray) hits = kletsen_history_search (history, query, 100);

  return hits->len;
}

static guint
n_stored (KletsenHistory *history,
          const char     *peer)
{
  g_autoptr(GPtrArray) page = kletsen_history_load_before (history, peer, 0, 100);

  return page->len;
}

static gboolean
has_text (GListModel *model,
          const char *text)
{
  for (guint i = 0; i < g_list_model_get_n_items (model); i++)
    {
      g_autoptr(KletsenChatMessage) m = g_list_model_get_item (model, i);

      if (g_str_equal (kletsen_chat_message_get_text (m), text))
        return TRUE;
    }
  return FALSE;
}

/* ---- the store ---- */

static void
test_file_modes (Fixture       *f,
                 gconstpointer  data)
{
  g_autoptr(KletsenHistory) history = open_store (f);
  g_autoptr(KletsenChatMessage) m = add (history, NULL, "bob", "hello", KLETSEN_MESSAGE_STATE_RECEIVED);
  g_autofree char *folder = g_path_get_dirname (f->path);
  g_autofree char *wal = g_strconcat (f->path, "-wal", NULL);
  GStatBuf st;

  /* One file per server and account, named so that any name is safe. */
  g_assert_true (g_str_has_suffix (f->path, "/history/127.0.0.1_1337_alice.sqlite"));
  {
    g_autofree char *odd = kletsen_history_path_for ("/d", "../x", 1, "a/b");

    g_assert_cmpstr (odd, ==, "/d/history/..%2Fx_1_a%2Fb.sqlite");
  }
  g_assert_cmpint (g_stat (f->path, &st), ==, 0);
  g_assert_cmpint (st.st_mode & 0777, ==, 0600);
  g_assert_cmpint (g_stat (folder, &st), ==, 0);
  g_assert_cmpint (st.st_mode & 0777, ==, 0700);
  /* WAL mode: the write is in the log, which is no more readable than the database. */
  g_assert_cmpint (g_stat (wal, &st), ==, 0);
  g_assert_cmpint (st.st_mode & 0777, ==, 0600);
}

static void
test_pages (Fixture       *f,
            gconstpointer  data)
{
  g_autoptr(KletsenHistory) history = open_store (f);
  g_autoptr(GPtrArray) newest = NULL;
  g_autoptr(GPtrArray) older = NULL;
  g_autoptr(GPtrArray) after = NULL;
  g_autoptr(KletsenChatMessage) other = add (history, "carol", "carol", "not bob's", KLETSEN_MESSAGE_STATE_RECEIVED);

  add_many (history, "bob", 25);
  newest = kletsen_history_load_before (history, "bob", 0, 10);
  g_assert_cmpuint (newest->len, ==, 10);
  /* Oldest first within a page. */
  g_assert_cmpstr (kletsen_chat_message_get_text (newest->pdata[0]), ==, "message 15");
  g_assert_cmpstr (kletsen_chat_message_get_text (newest->pdata[9]), ==, "message 24");
  older = kletsen_history_load_before (history, "bob", kletsen_chat_message_get_history_id (newest->pdata[0]), 100);
  g_assert_cmpuint (older->len, ==, 15);
  g_assert_cmpstr (kletsen_chat_message_get_text (older->pdata[0]), ==, "message 0");
  after = kletsen_history_load_after (history, "bob", kletsen_chat_message_get_history_id (older->pdata[14]), 3);
  g_assert_cmpuint (after->len, ==, 3);
  g_assert_cmpstr (kletsen_chat_message_get_text (after->pdata[0]), ==, "message 15");
  /* Conversations stay apart; Everyone is its own. */
  g_assert_cmpuint (n_stored (history, NULL), ==, 0);
  {
    g_auto(GStrv) peers = kletsen_history_list_peers (history);

    g_assert_cmpuint (g_strv_length (peers), ==, 2);
    g_assert_cmpstr (peers[0], ==, "bob"); /* the most recent first */
    g_assert_cmpstr (peers[1], ==, "carol");
  }
}

static void
test_states (Fixture       *f,
             gconstpointer  data)
{
  g_autoptr(KletsenHistory) history = open_store (f);
  g_autoptr(KletsenChatMessage) sent = add (history, "bob", "alice", "will be delivered", KLETSEN_MESSAGE_STATE_SENDING);
  g_autoptr(KletsenChatMessage) refused = add (history, "bob", "alice", "will fail", KLETSEN_MESSAGE_STATE_SENDING);
  g_autoptr(KletsenChatMessage) pending = add (history, "bob", "alice", "never answered", KLETSEN_MESSAGE_STATE_SENDING);
  g_autoptr(KletsenChatMessage) secret = kletsen_chat_message_new (KLETSEN_MESSAGE_KIND_TEXT, "bob", "psst",
                                                                  KLETSEN_MESSAGE_STATE_RECEIVED, TRUE);
  g_autoptr(GPtrArray) page = NULL;
  g_autoptr(GError) error = NULL;

  kletsen_chat_message_set_verified (secret, TRUE);
  g_assert_true (kletsen_history_add (history, "bob", secret, &error));
  kletsen_chat_message_set_state (sent, KLETSEN_MESSAGE_STATE_DELIVERED, 0);
  g_assert_true (kletsen_history_update_state (history, sent, &error));
  kletsen_chat_message_set_state (refused, KLETSEN_MESSAGE_STATE_FAILED, KLETSEN_CODE_RECIPIENT_NOT_FOUND);
  g_assert_true (kletsen_history_update_state (history, refused, &error));
  g_assert_no_error (error);

  page = kletsen_history_load_before (history, "bob", 0, 10);
  g_assert_cmpuint (page->len, ==, 4);
  g_assert_cmpint (kletsen_chat_message_get_state (page->pdata[0]), ==, KLETSEN_MESSAGE_STATE_DELIVERED);
  g_assert_cmpint (kletsen_chat_message_get_state (page->pdata[1]), ==, KLETSEN_MESSAGE_STATE_FAILED);
  g_assert_cmpint (kletsen_chat_message_get_error_code (page->pdata[1]), ==, KLETSEN_CODE_RECIPIENT_NOT_FOUND);
  /* Still "sending" when the app stopped: never shown as sent. */
  g_assert_cmpint (kletsen_chat_message_get_state (page->pdata[2]), ==, KLETSEN_MESSAGE_STATE_FAILED);
  /* The readable text, with how it was verified. */
  g_assert_cmpstr (kletsen_chat_message_get_text (page->pdata[3]), ==, "psst");
  g_assert_true (kletsen_chat_message_get_encrypted (page->pdata[3]));
  g_assert_true (kletsen_chat_message_get_verified (page->pdata[3]));
  g_assert_false (kletsen_chat_message_get_verified (page->pdata[0]));
  /* The time comes back to the microsecond. */
  g_assert_cmpint (g_date_time_compare (kletsen_chat_message_get_time (page->pdata[3]),
                                        kletsen_chat_message_get_time (secret)), ==, 0);
}


static void
test_search (Fixture       *f,
             gconstpointer  data)
{
  g_autoptr(KletsenHistory) history = open_store (f);
  g_autoptr(KletsenChatMessage) a = add (history, NULL, "bob", "Shall we meet at the café tomorrow?", KLETSEN_MESSAGE_STATE_RECEIVED);
  g_autoptr(KletsenChatMessage) b = add (history, "bob", "bob", "the café is closed", KLETSEN_MESSAGE_STATE_RECEIVED);
  g_autoptr(KletsenChatMessage) c = add (history, "carol", "carol", "say \"NEAR\" AND OR NOT * ^ ( )", KLETSEN_MESSAGE_STATE_RECEIVED);
  g_autoptr(GPtrArray) hits = kletsen_history_search (history, "cafe", 10);

  /* Every conversation, the newest first, accents or not. */
  g_assert_cmpuint (hits->len, ==, 2);
  g_assert_cmpstr (((KletsenHistoryHit *)hits->pdata[0])->peer, ==, "bob");
  g_assert_null (((KletsenHistoryHit *)hits->pdata[1])->peer);
  g_assert_cmpint (kletsen_chat_message_get_history_id (((KletsenHistoryHit *)hits->pdata[1])->message), ==,
                   kletsen_chat_message_get_history_id (a));
  /* Every word must be there; the last one may be the start of a word. */
  g_assert_cmpuint (n_hits (history, "café closed"), ==, 1);
  g_assert_cmpuint (n_hits (history, "tomor"), ==, 1);
  g_assert_cmpuint (n_hits (history, "SHALL"), ==, 1);
  g_assert_cmpuint (n_hits (history, "nothing like it"), ==, 0);
  /* What would be FTS5 syntax is searched for as words, never an error. */
  g_assert_cmpuint (n_hits (history, "NEAR"), ==, 1);
  g_assert_cmpuint (n_hits (history, "AND OR"), ==, 1);
  g_assert_cmpuint (n_hits (history, "\"unbalanced"), ==, 0);
  g_assert_cmpuint (n_hits (history, "* ( ) ^ :"), ==, 0);
  g_assert_cmpuint (n_hits (history, "body:cafe"), ==, 0);
  g_assert_cmpuint (n_hits (history, "   "), ==, 0);
  g_assert_cmpuint (n_hits (history, "\xff\xfe"), ==, 0);
}

/* A database as version 1 left it: no search index yet. */
static void
write_version_1 (const char *path)
{
  sqlite3 *db = NULL;
  g_autofree char *folder = g_path_get_dirname (path);

  g_assert_cmpint (g_mkdir_with_parents (folder, 0700), ==, 0);
  g_assert_cmpint (sqlite3_open (path, &db), ==, SQLITE_OK);
  g_assert_cmpint (sqlite3_exec (db,
    "CREATE TABLE messages (id INTEGER PRIMARY KEY, peer TEXT NOT NULL, kind INTEGER NOT NULL, sender TEXT,"
    " body TEXT NOT NULL, time INTEGER NOT NULL, encrypted INTEGER NOT NULL, verified INTEGER NOT NULL,"
    " state INTEGER NOT NULL, error_code INTEGER NOT NULL);"
    "CREATE INDEX messages_by_peer ON messages (peer, id);"
    "CREATE TABLE read_marks (peer TEXT PRIMARY KEY, last_read INTEGER NOT NULL);"
    "INSERT INTO messages VALUES (1, 'bob', 0, 'bob', 'written before search existed', 1700000000000000, 0, 0, 0, 0);"
    "PRAGMA user_version = 1;", NULL, NULL, NULL), ==, SQLITE_OK);
  sqlite3_close (db);
}

static int
version_of (const char *path)
{
  sqlite3 *db = NULL;
  sqlite3_stmt *s = NULL;
  int version = -1;

  g_assert_cmpint (sqlite3_open (path, &db), ==, SQLITE_OK);
  g_assert_cmpint (sqlite3_prepare_v2 (db, "PRAGMA user_version", -1, &s, NULL), ==, SQLITE_OK);
  if (sqlite3_step (s) == SQLITE_ROW)
    version = sqlite3_column_int (s, 0);
  sqlite3_finalize (s);
  sqlite3_close (db);
  return version;
}

static void
test_migration (Fixture       *f,
                gconstpointer  data)
{
  g_autoptr(KletsenHistory) history = NULL;
  g_autoptr(GPtrArray) page = NULL;

  write_version_1 (f->path);
  history = open_store (f);
  g_assert_cmpint (version_of (f->path), ==, KLETSEN_HISTORY_SCHEMA_VERSION);
  /* The old rows are there, and the new index covers them. */
  page = kletsen_history_load_before (history, "bob", 0, 10);
  g_assert_cmpuint (page->len, ==, 1);
  g_assert_cmpuint (n_hits (history, "before search"), ==, 1);
  /* And what is added now, too. */
  g_clear_object (&history);
  history = open_store (f);
  {
    g_autoptr(KletsenChatMessage) m = add (history, "bob", "bob", "after the upgrade", KLETSEN_MESSAGE_STATE_RECEIVED);
  }
  g_assert_cmpuint (n_hits (history, "upgrade"), ==, 1);
}

static void
test_too_new (Fixture       *f,
              gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(KletsenHistory) history = NULL;
  sqlite3 *db = NULL;
  g_autofree char *folder = g_path_get_dirname (f->path);

  g_assert_cmpint (g_mkdir_with_parents (folder, 0700), ==, 0);
  g_assert_cmpint (sqlite3_open (f->path, &db), ==, SQLITE_OK);
  g_assert_cmpint (sqlite3_exec (db, "CREATE TABLE future (x); PRAGMA user_version = 99;", NULL, NULL, NULL), ==, SQLITE_OK);
  sqlite3_close (db);

  history = kletsen_history_open (f->path, &error);
  g_assert_null (history);
  g_assert_error (error, KLETSEN_HISTORY_ERROR, KLETSEN_HISTORY_ERROR_TOO_NEW);
  /* Left exactly as the newer version wrote it. */
  g_assert_cmpint (version_of (f->path), ==, 99);
}

/* The app is killed while it writes: every message it had shown is there,
 * and the database is whole. */
static void
test_killed_mid_write (Fixture       *f,
                       gconstpointer  data)
{
  int fds[2];
  pid_t pid;
  guint shown = 0;
  char c;
  int status;
  g_autoptr(KletsenHistory) history = NULL;
  g_autoptr(GPtrArray) all = NULL;

  g_assert_cmpint (pipe (fds), ==, 0);
  pid = fork ();
  g_assert_cmpint (pid, >=, 0);
  if (pid == 0)
    {
      KletsenHistory *writer;

      close (fds[0]);
      writer = kletsen_history_open (f->path, NULL);
      if (writer == NULL)
        _exit (1);
      /* Writes for as long as it lives; says "shown" after each. */
      for (guint i = 0; i < 1000000; i++)
        {
          g_autofree char *text = g_strdup_printf ("shown %u", i);
          KletsenChatMessage *m = kletsen_chat_message_new (KLETSEN_MESSAGE_KIND_TEXT, "bob", text,
                                                            KLETSEN_MESSAGE_STATE_RECEIVED, FALSE);

          if (!kletsen_history_add (writer, "bob", m, NULL) || write (fds[1], "x", 1) != 1)
            _exit (1);
          g_object_unref (m);
        }
      _exit (0);
    }
  close (fds[1]);
  while (shown < 300 && read (fds[0], &c, 1) == 1)
    shown++;
  g_assert_cmpuint (shown, ==, 300);
  kill (pid, SIGKILL);
  g_assert_cmpint (waitpid (pid, &status, 0), ==, pid);
  g_assert_true (WIFSIGNALED (status));
  /* What it said after it was killed counts too. */
  while (read (fds[0], &c, 1) == 1)
    shown++;
  close (fds[0]);

  history = open_store (f);
  all = kletsen_history_load_after (history, "bob", 0, 2000000);
  g_assert_cmpuint (all->len, >=, shown);
  for (guint i = 0; i < shown; i++)
    {
      g_autofree char *expected = g_strdup_printf ("shown %u", i);

      g_assert_cmpstr (kletsen_chat_message_get_text (all->pdata[i]), ==, expected);
    }
  {
    sqlite3 *db = NULL;
    sqlite3_stmt *s = NULL;

    g_assert_cmpint (sqlite3_open (f->path, &db), ==, SQLITE_OK);
    g_assert_cmpint (sqlite3_prepare_v2 (db, "PRAGMA integrity_check", -1, &s, NULL), ==, SQLITE_OK);
    g_assert_cmpint (sqlite3_step (s), ==, SQLITE_ROW);
    g_assert_cmpstr ((const char *)sqlite3_column_text (s, 0), ==, "ok");
    sqlite3_finalize (s);
    sqlite3_close (db);
  }
}

static gboolean
file_contains (const char *path,
               const char *needle)
{
  g_autofree char *contents = NULL;
  gsize length = 0;

  if (!g_file_get_contents (path, &contents, &length, NULL))
    return FALSE;
  return memmem (contents, length, needle, strlen (needle)) != NULL;
}

static void
test_clear (Fixture       *f,
            gconstpointer  data)
{
  g_autoptr(KletsenHistory) history = open_store (f);
  g_autoptr(GError) error = NULL;
  g_autofree char *wal = g_strconcat (f->path, "-wal", NULL);

  for (guint i = 0; i < 50; i++)
    {
      g_autoptr(KletsenChatMessage) m = add (history, "bob", "bob", "the secret word is xylophonist", KLETSEN_MESSAGE_STATE_RECEIVED);
    }
  kletsen_history_set_last_read (history, "bob", 10);
  g_assert_true (kletsen_history_clear (history, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (n_stored (history, "bob"), ==, 0);
  g_assert_cmpuint (n_hits (history, "xylophonist"), ==, 0);
  g_assert_cmpint (kletsen_history_get_last_read (history, "bob"), ==, 0);
  /* Gone from the disk, not only from the tables. */
  g_assert_false (file_contains (f->path, "xylophonist"));
  g_assert_false (file_contains (wal, "xylophonist"));
}

/* ---- the conversation as a window onto it ---- */

static void
test_window (Fixture       *f,
             gconstpointer  data)
{
  g_autoptr(KletsenHistory) history = open_store (f);
  g_autoptr(KletsenConversation) conversation = kletsen_conversation_new ("bob");
  GListModel *model = G_LIST_MODEL (conversation);
  guint loaded = 0;
  int position;
  gint64 id_of_500;

  add_many (history, "bob", 10000);
  kletsen_conversation_set_history (conversation, history, "alice");
  g_assert_cmpuint (kletsen_conversation_get_unread (conversation), ==, 10000);
  kletsen_conversation_mark_read (conversation);
  /* The newest page at once, not 10,000 messages. */
  g_assert_cmpuint (g_list_model_get_n_items (model), >, 0);
  g_assert_cmpuint (g_list_model_get_n_items (model), <=, 100);
  g_assert_cmpstr (text_at (model, g_list_model_get_n_items (model) - 1), ==, "message 9999");
  g_assert_true (kletsen_conversation_get_has_older (conversation));
  g_assert_true (kletsen_conversation_get_at_latest (conversation));

  /* Scrolling up: older pages in front, and the window stays bounded. */
  for (guint i = 0; i < 20; i++)
    loaded += kletsen_conversation_load_older (conversation);
  g_assert_cmpuint (loaded, >, 300);
  g_assert_cmpuint (g_list_model_get_n_items (model), <=, 300);
  g_assert_false (kletsen_conversation_get_at_latest (conversation));

  /* A message that comes now waits in the history, and counts as unread. */
  {
    g_autoptr(KletsenChatMessage) m = kletsen_chat_message_new (KLETSEN_MESSAGE_KIND_TEXT, "bob", "new while away",
                                                               KLETSEN_MESSAGE_STATE_RECEIVED, FALSE);
    guint before = g_list_model_get_n_items (model);

    kletsen_conversation_append (conversation, m, TRUE);
    g_assert_cmpuint (g_list_model_get_n_items (model), ==, before);
    g_assert_cmpuint (kletsen_conversation_get_unread (conversation), ==, 1);
  }
  kletsen_conversation_jump_to_latest (conversation);
  g_assert_true (kletsen_conversation_get_at_latest (conversation));
  g_assert_cmpstr (text_at (model, g_list_model_get_n_items (model) - 1), ==, "new while away");

  /* Scrolling down again from far up reaches the newest. */
  {
    g_autoptr(GPtrArray) page = kletsen_history_load_after (history, "bob", 500, 1);

    id_of_500 = kletsen_chat_message_get_history_id (page->pdata[0]);
  }
  position = kletsen_conversation_show_message (conversation, id_of_500);
  g_assert_cmpint (position, >=, 0);
  {
    g_autoptr(KletsenChatMessage) m = g_list_model_get_item (model, position);

    g_assert_cmpint (kletsen_chat_message_get_history_id (m), ==, id_of_500);
  }
  g_assert_false (kletsen_conversation_get_at_latest (conversation));
  for (guint i = 0; i < 500 && !kletsen_conversation_get_at_latest (conversation); i++)
    {
      kletsen_conversation_load_newer (conversation);
      g_assert_cmpuint (g_list_model_get_n_items (model), <=, 300);
    }
  g_assert_true (kletsen_conversation_get_at_latest (conversation));
  g_assert_cmpstr (text_at (model, g_list_model_get_n_items (model) - 1), ==, "new while away");
  /* Not in this conversation: -1, and nothing changes. */
  g_assert_cmpint (kletsen_conversation_show_message (conversation, 987654321), ==, -1);
}

static void
test_where_you_left_off (Fixture       *f,
                         gconstpointer  data)
{
  g_autoptr(KletsenHistory) history = open_store (f);
  g_autoptr(KletsenConversation) before = kletsen_conversation_new ("bob");
  g_autoptr(KletsenConversation) after = NULL;
  KletsenChatMessage *first;

  add_many (history, "bob", 5);
  kletsen_conversation_set_history (before, history, "alice");
  g_assert_cmpuint (kletsen_conversation_get_unread (before), ==, 5);
  kletsen_conversation_mark_read (before);
  {
    g_autoptr(KletsenChatMessage) mine = add (history, "bob", "alice", "my own is never unread", KLETSEN_MESSAGE_STATE_SENT);
  }
  add_many (history, "bob", 3);
  g_clear_object (&before);

  /* The app starts again: three unread, and the line above the first. */
  after = kletsen_conversation_new ("bob");
  kletsen_conversation_set_history (after, history, "alice");
  g_assert_cmpuint (kletsen_conversation_get_unread (after), ==, 3);
  first = kletsen_conversation_get_first_unread (after);
  g_assert_nonnull (first);
  g_assert_cmpstr (kletsen_chat_message_get_text (first), ==, "message 0");
  g_assert_cmpstr (kletsen_chat_message_get_sender (first), ==, "bob");
  kletsen_conversation_mark_read (after);
  g_assert_cmpuint (kletsen_conversation_get_unread (after), ==, 0);
  /* Read: the line stays until the user moves on. */
  g_assert_nonnull (kletsen_conversation_get_first_unread (after));
  kletsen_conversation_forget_first_unread (after);
  g_assert_null (kletsen_conversation_get_first_unread (after));
}

/* A room message that named the user stands out again after a restart. */
static void
test_mentions_restored (Fixture       *f,
                        gconstpointer  data)
{
  g_autoptr(KletsenHistory) history = open_store (f);
  g_autoptr(KletsenConversation) everyone = kletsen_conversation_new (NULL);
  g_autoptr(KletsenChatMessage) named = add (history, NULL, "bob", "Alice, kom je?", KLETSEN_MESSAGE_STATE_RECEIVED);
  g_autoptr(KletsenChatMessage) other = add (history, NULL, "bob", "aliceblue is een kleur", KLETSEN_MESSAGE_STATE_RECEIVED);
  g_autoptr(KletsenChatMessage) mine = add (history, NULL, "alice", "ik, alice", KLETSEN_MESSAGE_STATE_SENT);
  g_autoptr(KletsenChatMessage) first = NULL;
  g_autoptr(KletsenChatMessage) second = NULL;
  g_autoptr(KletsenChatMessage) third = NULL;

  kletsen_conversation_set_history (everyone, history, "alice");
  g_assert_cmpuint (g_list_model_get_n_items (G_LIST_MODEL (everyone)), ==, 3);
  first = g_list_model_get_item (G_LIST_MODEL (everyone), 0);
  second = g_list_model_get_item (G_LIST_MODEL (everyone), 1);
  third = g_list_model_get_item (G_LIST_MODEL (everyone), 2);
  g_assert_true (kletsen_chat_message_get_mentions_me (first));
  g_assert_false (kletsen_chat_message_get_mentions_me (second));
  g_assert_false (kletsen_chat_message_get_mentions_me (third));
}

/* ---- through sessions on the real server ---- */

static KletsenSession *
login (KtServer   *server,
       const char *dir,
       const char *name)
{
  KletsenSession *session = kletsen_session_new (dir);
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GError) error = NULL;

  kletsen_session_set_keep_history (session, TRUE);
  kletsen_session_set_heartbeat (session, 500, 500);
  kletsen_session_connect_async (session, "127.0.0.1", server->port, name, NULL, kt_store_result_cb, &result);
  KT_RUN_UNTIL (result != NULL);
  g_assert_true (kletsen_session_connect_finish (session, result, &error));
  g_assert_no_error (error);
  return session;
}

static void
test_session (Fixture       *f,
              gconstpointer  data)
{
  g_autoptr(KtServer) server = kt_server_start ("--ping-interval-ms", "500", "--pong-timeout-ms", "500", NULL);
  g_autofree char *dir_b = g_build_filename (f->dir, "bob", NULL);
  g_autoptr(KletsenSession) alice = login (server, f->dir, "alice");
  g_autoptr(KletsenSession) bob = login (server, dir_b, "bob");
  g_autoptr(GAsyncResult) result = NULL;
  KletsenConversation *with_bob;

  kletsen_session_send_private_async (alice, "bob", "remember this", kt_store_result_cb, &result);
  KT_RUN_UNTIL (result != NULL);
  g_assert_true (kletsen_session_request_finish (alice, result, NULL));
  g_clear_object (&result);
  kletsen_session_broadcast_async (bob, "hello room", kt_store_result_cb, &result);
  KT_RUN_UNTIL (result != NULL);
  g_clear_object (&result);
  KT_RUN_UNTIL (has_text (G_LIST_MODEL (kletsen_session_get_everyone (alice)), "hello room"));
  kletsen_session_disconnect (alice);
  g_clear_object (&alice);

  /* alice starts again: the conversation with bob is back, and what she sent, as sent. */
  alice = login (server, f->dir, "alice");
  with_bob = kletsen_session_lookup_conversation (alice, "bob");
  g_assert_nonnull (with_bob);
  g_assert_cmpuint (g_list_model_get_n_items (G_LIST_MODEL (with_bob)), ==, 1);
  {
    g_autoptr(KletsenChatMessage) m = g_list_model_get_item (G_LIST_MODEL (with_bob), 0);

    g_assert_cmpstr (kletsen_chat_message_get_text (m), ==, "remember this");
    g_assert_cmpint (kletsen_chat_message_get_state (m), ==, KLETSEN_MESSAGE_STATE_SENT);
  }
  {
    GListModel *everyone = G_LIST_MODEL (kletsen_session_get_everyone (alice));
    gboolean found = FALSE;

    for (guint i = 0; i < g_list_model_get_n_items (everyone); i++)
      {
        g_autoptr(KletsenChatMessage) m = g_list_model_get_item (everyone, i);

        /* Join and leave lines are not history; what bob said is. */
        g_assert_cmpint (kletsen_chat_message_get_kind (m), !=, KLETSEN_MESSAGE_KIND_SYSTEM);
        found |= g_str_equal (kletsen_chat_message_get_text (m), "hello room");
      }
    g_assert_true (found);
  }

  /* Clear History: gone from the store and from the screen. */
  g_assert_true (kletsen_session_clear_history (alice, NULL));
  g_assert_cmpuint (g_list_model_get_n_items (G_LIST_MODEL (with_bob)), ==, 0);
  g_assert_cmpuint (n_hits (kletsen_session_get_history (alice), "remember"), ==, 0);

  /* History off: nothing more is written. */
  kletsen_session_set_keep_history (alice, FALSE);
  g_assert_null (kletsen_session_get_history (alice));
  kletsen_session_send_private_async (alice, "bob", "not kept", kt_store_result_cb, &result);
  KT_RUN_UNTIL (result != NULL);
  g_clear_object (&result);
  {
    g_autoptr(KletsenHistory) store = open_store (f);

    g_assert_cmpuint (n_hits (store, "kept"), ==, 0);
  }
  kletsen_session_disconnect (alice);
  kletsen_session_disconnect (bob);
}

static char *
run_cli (const char *const *argv,
         int                expected_status)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GSubprocess) cli = g_subprocess_newv (argv, G_SUBPROCESS_FLAGS_STDOUT_PIPE, &error);
  char *out = NULL;

  g_assert_no_error (error);
  g_assert_true (g_subprocess_communicate_utf8 (cli, NULL, NULL, &out, NULL, &error));
  g_assert_no_error (error);
  g_assert_cmpint (g_subprocess_get_exit_status (cli), ==, expected_status);
  return out;
}

static void
test_cli (Fixture       *f,
          gconstpointer  data)
{
  g_autoptr(KtServer) server = kt_server_start (NULL);
  g_autofree char *port = g_strdup_printf ("%u", server->port);
  g_autofree char *dir_b = g_build_filename (f->dir, "bob", NULL);
  g_autoptr(KletsenSession) bob = login (server, dir_b, "bob");
  g_autoptr(GError) error = NULL;
  g_autoptr(GSubprocess) listen = NULL;
  g_autoptr(GAsyncResult) result = NULL;
  const char *cli = g_getenv ("KLETSEN_CLI");
  g_autofree char *out = NULL;

  /* carol listens (and keeps history), then is killed. */
  listen = g_subprocess_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE, &error, cli, "--port", port, "--name", "carol",
                             "--data-dir", f->dir, "listen", NULL);
  g_assert_no_error (error);
  KT_RUN_UNTIL (kletsen_session_is_online (bob, "carol"));
  kletsen_session_send_private_async (bob, "carol", "a line\nwith \x1b[31mescapes", kt_store_result_cb, &result);
  KT_RUN_UNTIL (result != NULL);
  g_assert_true (kletsen_session_request_finish (bob, result, NULL));
  g_clear_object (&result);
  {
    g_autoptr(GDataInputStream) lines = g_data_input_stream_new (g_subprocess_get_stdout_pipe (listen));
    g_autofree char *line = g_data_input_stream_read_line_utf8 (lines, NULL, NULL, &error);

    g_assert_no_error (error);
    g_test_message ("listen printed: %s", line);
    g_assert_nonnull (strstr (line, "bob: a line\\nwith \\x1b[31mescapes"));
  }
  g_subprocess_force_exit (listen);
  g_assert_false (g_subprocess_wait_check (listen, NULL, NULL));

  {
    const char *argv[] = { cli, "--port", port, "--name", "carol", "--data-dir", f->dir, "history", "bob", NULL };

    out = run_cli (argv, 0);
    /* One line per message, escaped as when it came. */
    g_assert_nonnull (strstr (out, " bob: a line\\nwith \\x1b[31mescapes\n"));
    g_assert_cmpstr (strchr (out, '\n') + 1, ==, "");
    g_clear_pointer (&out, g_free);
  }
  {
    const char *argv[] = { cli, "--port", port, "--name", "carol", "--data-dir", f->dir, "search", "line", "wi", NULL };

    out = run_cli (argv, 0);
    g_assert_nonnull (strstr (out, "[bob] bob: a line"));
    g_clear_pointer (&out, g_free);
  }
  {
    /* Another server, or a name never used there: an empty history. */
    const char *argv[] = { cli, "--port", "1", "--name", "carol", "--data-dir", f->dir, "history", NULL };

    out = run_cli (argv, 0);
    g_assert_cmpstr (out, ==, "");
    g_clear_pointer (&out, g_free);
  }
  kletsen_session_disconnect (bob);
}

int
main (int    argc,
      char **argv)
{
  g_test_init (&argc, &argv, NULL);

#define ADD(path, func) g_test_add (path, Fixture, NULL, fixture_setup, func, fixture_teardown)
  ADD ("/history/file-modes", test_file_modes);
  ADD ("/history/pages", test_pages);
  ADD ("/history/states", test_states);
  ADD ("/history/search", test_search);
  ADD ("/history/migration", test_migration);
  ADD ("/history/too-new", test_too_new);
  ADD ("/history/killed-mid-write", test_killed_mid_write);
  ADD ("/history/clear", test_clear);
  ADD ("/history/window", test_window);
  ADD ("/history/where-you-left-off", test_where_you_left_off);
  ADD ("/history/mentions-restored", test_mentions_restored);
  ADD ("/history/session", test_session);
  ADD ("/history/cli", test_cli);
#undef ADD

  return g_test_run ();
}
