/* kletsen-cli.c
 *
 * Copyright 2026 The Kletsen authors
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

/* A small command-line client on the session core, for scripts and headless
 * machines:
 *
 *   kletsen-cli [OPTION…] list
 *   kletsen-cli [OPTION…] say TEXT              (to everyone)
 *   kletsen-cli [OPTION…] tell PEER TEXT        (private; --secure to encrypt)
 *   kletsen-cli [OPTION…] send-file PEER FILE
 *   kletsen-cli [OPTION…] listen [FOLDER]       (print what arrives; accept files into FOLDER)
 *   kletsen-cli [OPTION…] history [PEER]        (what the history holds: Everyone, or with PEER)
 *   kletsen-cli [OPTION…] search WORDS…         (messages of any conversation with every word)
 *   kletsen-cli [OPTION…] fingerprint [PEER]    (mine, or PEER's key as the server hands it now)
 *   kletsen-cli [OPTION…] trust PEER FINGERPRINT (PEER's changed key, or mark the pinned one verified)
 *
 * --tls speaks TLS with the app's certificate pinning: a certificate nobody
 * vouches for is trusted with --trust-fingerprint, or at a prompt.
 *
 * What is shown or sent is kept in the history unless --no-history is
 * given; history and search read it without connecting.
 */

#include "config.h"

#include <glib-unix.h>
#include <glib/gi18n.h>
#include <locale.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "kletsen-protocol.h"
#include "kletsen-session.h"

/* Text from other people, made safe for a terminal: control characters
 * (C0, DEL, C1: escape sequences, carriage returns, newlines that would
 * start a fake line), bidirectional overrides and invalid UTF-8 are shown
 * as escapes, never passed to the terminal. */
static char *
escaped (const char *text)
{
  GString *out = g_string_new (NULL);
  const char *p = text ? text : "";

  while (*p != '\0')
    {
      gunichar c = g_utf8_get_char_validated (p, -1);

      if (c == (gunichar)-1 || c == (gunichar)-2)
        {
          g_string_append_printf (out, "\\x%02x", (guchar)*p);
          p++;
          continue;
        }
      if (c == '\n')
        g_string_append (out, "\\n");
      else if (c == '\t')
        g_string_append (out, "\\t");
      else if (c == '\\')
        g_string_append (out, "\\\\");
      else if (c < 0x20 || c == 0x7f || (c >= 0x80 && c < 0xa0))
        g_string_append_printf (out, "\\x%02x", c);
      else if ((c >= 0x202a && c <= 0x202e) || (c >= 0x2066 && c <= 0x2069) || c == 0x200e || c == 0x200f ||
               c == 0x061c)
        g_string_append_printf (out, "\\u%04x", c);
      else
        g_string_append_unichar (out, c);
      p = g_utf8_next_char (p);
    }
  return g_string_free (out, FALSE);
}

static void
print_stored (const char         *peer,
              KletsenChatMessage *m)
{
  g_autofree char *when = g_date_time_format (kletsen_chat_message_get_time (m), "%Y-%m-%d %H:%M:%S");
  g_autofree char *sender = escaped (kletsen_chat_message_get_sender (m) ? kletsen_chat_message_get_sender (m) : "*");
  g_autofree char *text = escaped (kletsen_chat_message_get_text (m));
  g_autofree char *where = peer ? escaped (peer) : NULL;
  const char *state = "";

  switch (kletsen_chat_message_get_state (m))
    {
    case KLETSEN_MESSAGE_STATE_SENT: state = " (sent)"; break;
    case KLETSEN_MESSAGE_STATE_DELIVERED: state = " (delivered)"; break;
    case KLETSEN_MESSAGE_STATE_FAILED: state = " (not sent)"; break;
    case KLETSEN_MESSAGE_STATE_RECEIVED:
    case KLETSEN_MESSAGE_STATE_SENDING:
    default: break;
    }
  printf ("%s %s%s%s%s%s%s: %s%s\n", when,
          where ? "[" : "", where ? where : "", where ? "] " : "",
          kletsen_chat_message_get_encrypted (m)
            ? (kletsen_chat_message_get_verified (m) ? "[encrypted, verified] " : "[encrypted] ")
            : "",
          sender,
          kletsen_chat_message_get_kind (m) == KLETSEN_MESSAGE_KIND_ERROR ? " (error)" :
          kletsen_chat_message_get_kind (m) == KLETSEN_MESSAGE_KIND_FILE ? " (file)" : "",
          text, state);
}

/* history [PEER] and search WORDS: read the store, never the network. */
static int
read_history (const char  *data_dir,
              const char  *host,
              guint16      port,
              const char  *name,
              const char  *command,
              const char  *argument)
{
  g_autofree char *dir = data_dir ? g_strdup (data_dir) : g_build_filename (g_get_user_data_dir (), "kletsen", NULL);
  g_autofree char *path = kletsen_history_path_for (dir, host, port, name);
  g_autoptr(KletsenHistory) history = NULL;
  g_autoptr(GError) error = NULL;

  if (!g_file_test (path, G_FILE_TEST_EXISTS))
    return EXIT_SUCCESS; /* nothing was kept yet: an empty history */
  history = kletsen_history_open (path, &error);
  if (history == NULL)
    {
      g_printerr ("%s\n", error->message);
      return EXIT_FAILURE;
    }
  if (g_str_equal (command, "search"))
    {
      g_autoptr(GPtrArray) hits = kletsen_history_search (history, argument, 1000);

      for (guint i = hits->len; i > 0; i--)
        {
          KletsenHistoryHit *hit = hits->pdata[i - 1];

          print_stored (hit->peer ? hit->peer : _("Everyone"), hit->message);
        }
      return EXIT_SUCCESS;
    }
  for (gint64 after = 0;;)
    {
      g_autoptr(GPtrArray) page = kletsen_history_load_after (history, argument, after, 500);

      for (guint i = 0; i < page->len; i++)
        print_stored (NULL, page->pdata[i]);
      if (page->len < 500)
        break;
      after = kletsen_chat_message_get_history_id (page->pdata[page->len - 1]);
    }
  return EXIT_SUCCESS;
}

/* listen FOLDER accepts at most this many files at once; the other offers
 * wait their turn (or end unanswered). */
#define MAX_CONCURRENT_DOWNLOADS 4

typedef struct
{
  GMainLoop      *loop;
  KletsenSession *session;
  GFile          *folder;
  int             status;
  guint           downloading;
  GQueue          waiting;   /* KletsenFileTransfer offers not accepted yet */
  GError         *certificate_problem; /* the login stopped at the server's certificate */
  const char     *peer;      /* fingerprint PEER, trust PEER FINGERPRINT */
  const char     *fingerprint;
} Cli;

static void accept_waiting (Cli *cli);

static void
done_cb (GObject      *object,
         GAsyncResult *result,
         gpointer      user_data)
{
  Cli *cli = user_data;
  g_autoptr(GError) error = NULL;

  if (!kletsen_session_request_finish (KLETSEN_SESSION (object), result, &error))
    {
      g_printerr ("%s\n", error->message);
      cli->status = EXIT_FAILURE;
    }
  g_main_loop_quit (cli->loop);
}

static void
listed_cb (GObject      *object,
           GAsyncResult *result,
           gpointer      user_data)
{
  Cli *cli = user_data;
  g_autoptr(GError) error = NULL;
  g_auto(GStrv) users = kletsen_session_list_users_finish (KLETSEN_SESSION (object), result, &error);

  if (users == NULL)
    {
      g_printerr ("%s\n", error->message);
      cli->status = EXIT_FAILURE;
    }
  for (guint i = 0; users != NULL && users[i]; i++)
    {
      g_autofree char *name = escaped (users[i]);

      printf ("%s\n", name);
    }
  g_main_loop_quit (cli->loop);
}

static void
transfer_state_cb (KletsenFileTransfer *transfer,
                   GParamSpec          *pspec,
                   Cli                 *cli)
{
  KletsenTransferState state = kletsen_file_transfer_get_state (transfer);
  g_autofree char *peer = NULL;
  g_autofree char *filename = NULL;

  if (state < KLETSEN_TRANSFER_DONE)
    return;
  peer = escaped (kletsen_file_transfer_get_peer (transfer));
  filename = escaped (kletsen_file_transfer_get_filename (transfer));
  if (state == KLETSEN_TRANSFER_DONE)
    {
      GFile *file = kletsen_file_transfer_get_file (transfer);
      g_autofree char *path = file ? g_file_get_path (file) : NULL;
      g_autofree char *shown = escaped (path);

      printf ("file %s %s: done%s%s%s\n", peer, filename, path ? " → " : "", path ? shown : "",
              kletsen_file_transfer_get_verifiable (transfer) ? "" : " (not checked: the offer had no size or checksum)");
    }
  else
    {
      g_autofree char *why = escaped (kletsen_file_transfer_get_error (transfer) ? kletsen_file_transfer_get_error (transfer)
                                                                                  : "ended");

      printf ("file %s %s: %s\n", peer, filename, why);
      cli->status = EXIT_FAILURE;
    }
  fflush (stdout);
  if (kletsen_file_transfer_get_direction (transfer) == KLETSEN_TRANSFER_SEND)
    g_main_loop_quit (cli->loop);
  else if (g_object_get_data (G_OBJECT (transfer), "kletsen-cli-accepted") != NULL)
    {
      g_object_set_data (G_OBJECT (transfer), "kletsen-cli-accepted", NULL);
      cli->downloading--;
      accept_waiting (cli);
    }
}

/* Starts the next waiting offers that are still open, up to the cap. */
static void
accept_waiting (Cli *cli)
{
  KletsenFileTransfer *transfer;

  while (cli->downloading < MAX_CONCURRENT_DOWNLOADS && (transfer = g_queue_pop_head (&cli->waiting)) != NULL)
    {
      if (kletsen_file_transfer_get_state (transfer) == KLETSEN_TRANSFER_OFFERED)
        {
          cli->downloading++;
          g_object_set_data (G_OBJECT (transfer), "kletsen-cli-accepted", GINT_TO_POINTER (1));
          kletsen_session_accept_file (cli->session, transfer, cli->folder);
        }
      g_object_unref (transfer);
    }
}

/* A fingerprint as given on a command line: lower case, without the colons
 * and blanks people write between its pairs. */
static char *
plain_fingerprint (const char *fingerprint)
{
  GString *out = g_string_new (NULL);

  for (const char *p = fingerprint; *p; p++)
    if (*p != ':' && *p != ' ')
      g_string_append_c (out, g_ascii_tolower (*p));
  return g_string_free (out, FALSE);
}

/* The certificate nobody vouches for, or not the one trusted before: trusted
 * only when the user names its fingerprint (--trust-fingerprint) or says
 * yes at the prompt, never by default. */
static gboolean
accept_certificate (Cli        *cli,
                    const char *wanted)
{
  const char *fingerprint = kletsen_session_get_certificate_fingerprint (cli->session);
  char answer[16] = "";

  g_printerr ("%s\nThe server's certificate fingerprint is %s\n", cli->certificate_problem->message,
              fingerprint ? fingerprint : "unknown");
  if (fingerprint == NULL)
    return FALSE;
  if (wanted != NULL)
    {
      /* Compared as written, ignoring case, colons and blanks. */
      g_autofree char *a = plain_fingerprint (fingerprint);
      g_autofree char *b = plain_fingerprint (wanted);
      gboolean same = g_str_equal (a, b);

      if (!same)
        g_printerr ("That is not the fingerprint given with --trust-fingerprint; not connecting.\n");
      return same;
    }
  if (!isatty (STDIN_FILENO))
    {
      g_printerr ("Compare it with the one the server's administrator gives you, then run again with "
                  "--trust-fingerprint FINGERPRINT.\n");
      return FALSE;
    }
  g_printerr ("Trust it for this server from now on? [y/N] ");
  if (fgets (answer, sizeof answer, stdin) == NULL)
    return FALSE;
  return answer[0] == 'y' || answer[0] == 'Y';
}

static void
key_fetched_cb (GObject      *object,
                GAsyncResult *result,
                gpointer      user_data)
{
  Cli *cli = user_data;
  KletsenSession *session = KLETSEN_SESSION (object);
  g_autoptr(GError) error = NULL;
  g_autofree char *peer = escaped (cli->peer);
  g_autofree char *pinned = NULL;
  g_autofree char *pending = NULL;

  if (!kletsen_session_request_finish (session, result, &error) &&
      !g_error_matches (error, KLETSEN_SESSION_ERROR, KLETSEN_SESSION_ERROR_KEY_CHANGED))
    {
      g_printerr ("%s\n", error->message);
      cli->status = EXIT_FAILURE;
      g_main_loop_quit (cli->loop);
      return;
    }
  pinned = kletsen_session_get_peer_fingerprint (session, cli->peer);
  pending = kletsen_session_get_pending_fingerprint (session, cli->peer);
  if (cli->fingerprint == NULL)
    {
      /* fingerprint PEER */
      if (pending != NULL)
        {
          printf ("%s: key changed: pinned %s, now %s\n", peer, pinned, pending);
          cli->status = 3;
        }
      else
        printf ("%s: %s%s\n", peer, pinned, kletsen_session_is_peer_verified (session, cli->peer) ? " (verified)" : "");
    }
  else if (pending != NULL && kletsen_session_trust_peer_key (session, cli->peer, cli->fingerprint))
    printf ("%s: the new key %s is trusted\n", peer, cli->fingerprint);
  else if (pending == NULL && kletsen_session_verify_peer (session, cli->peer, cli->fingerprint))
    printf ("%s: %s is marked as verified\n", peer, cli->fingerprint);
  else
    {
      g_printerr ("%s's key is %s, not %s: nothing trusted\n", peer, pending ? pending : pinned, cli->fingerprint);
      cli->status = EXIT_FAILURE;
    }
  g_main_loop_quit (cli->loop);
}

/* SIGINT, SIGTERM, SIGHUP: stop as after the last line, so that nothing
 * half-received is left behind in the folder. */
static gboolean
stop_cb (gpointer user_data)
{
  Cli *cli = user_data;

  cli->status = 128 + SIGTERM;
  g_main_loop_quit (cli->loop);
  return G_SOURCE_CONTINUE;
}

/* Every transfer not over is cancelled: its partial file is deleted. */
static void
cancel_unfinished (KletsenSession *session)
{
  GListModel *transfers = kletsen_session_get_transfers (session);

  for (guint i = 0; i < g_list_model_get_n_items (transfers); i++)
    {
      g_autoptr(KletsenFileTransfer) t = g_list_model_get_item (transfers, i);

      if (kletsen_file_transfer_get_state (t) < KLETSEN_TRANSFER_DONE)
        kletsen_file_transfer_cancel (t);
    }
}

static void
file_offered_cb (KletsenSession      *session,
                 KletsenFileTransfer *transfer,
                 Cli                 *cli)
{
  g_autofree char *peer = escaped (kletsen_file_transfer_get_peer (transfer));
  g_autofree char *filename = escaped (kletsen_file_transfer_get_filename (transfer));
  g_autofree char *shown_raw = kletsen_file_transfer_get_shown_name (transfer);
  g_autofree char *shown = escaped (shown_raw);
  /* The name it will be saved under; the offered one too when it differs. */
  g_autofree char *as = g_strcmp0 (shown_raw, kletsen_file_transfer_get_filename (transfer)) != 0
                          ? g_strdup_printf (" [offered as %s]", filename) : g_strdup ("");

  if (kletsen_file_transfer_get_verifiable (transfer))
    printf ("file offer from %s: %s (%" G_GUINT64_FORMAT " bytes)%s\n", peer, shown,
            kletsen_file_transfer_get_size (transfer), as);
  else
    printf ("file offer from %s: %s (size unknown; cannot be checked after download)%s\n", peer, shown, as);
  fflush (stdout);
  g_signal_connect (transfer, "notify::state", G_CALLBACK (transfer_state_cb), cli);
  if (cli->folder != NULL)
    {
      g_queue_push_tail (&cli->waiting, g_object_ref (transfer));
      accept_waiting (cli);
    }
  else
    kletsen_session_reject_file (session, transfer);
}

static void
message_added_cb (GListModel *model,
                  guint       position,
                  guint       removed,
                  guint       added,
                  gpointer    user_data)
{
  KletsenConversation *conversation = KLETSEN_CONVERSATION (model);
  Cli *cli = user_data;

  /* What the history brings back at login is not news. */
  if (kletsen_session_get_state (cli->session) != KLETSEN_SESSION_ONLINE)
    return;
  for (guint i = position; i < position + added; i++)
    {
      g_autoptr(KletsenChatMessage) m = g_list_model_get_item (model, i);
      g_autofree char *sender = NULL;
      g_autofree char *text = NULL;

      /* Files have lines of their own (file_offered_cb). */
      if (kletsen_chat_message_get_state (m) != KLETSEN_MESSAGE_STATE_RECEIVED ||
          kletsen_chat_message_get_kind (m) == KLETSEN_MESSAGE_KIND_FILE)
        continue;
      sender = escaped (kletsen_chat_message_get_sender (m) ? kletsen_chat_message_get_sender (m) : "*");
      text = escaped (kletsen_chat_message_get_text (m));
      printf ("%s%s%s%s: %s\n",
              kletsen_conversation_get_peer (conversation) ? "[private] " : "",
              kletsen_chat_message_get_encrypted (m) ? "[encrypted] " : "",
              sender,
              kletsen_chat_message_get_kind (m) == KLETSEN_MESSAGE_KIND_ERROR ? " (error)" : "",
              text);
    }
  fflush (stdout);
}

static void
conversation_added_cb (GListModel *model,
                       guint       position,
                       guint       removed,
                       guint       added,
                       gpointer    user_data)
{
  for (guint i = position; i < position + added; i++)
    {
      g_autoptr(GObject) conversation = g_list_model_get_item (model, i);

      g_signal_connect (conversation, "items-changed", G_CALLBACK (message_added_cb), user_data);
    }
}

static void
connected_cb (GObject      *object,
              GAsyncResult *result,
              gpointer      user_data)
{
  Cli *cli = user_data;
  g_autoptr(GError) error = NULL;

  if (!kletsen_session_connect_finish (KLETSEN_SESSION (object), result, &error))
    {
      if (g_error_matches (error, KLETSEN_SESSION_ERROR, KLETSEN_SESSION_ERROR_UNTRUSTED_CERTIFICATE) ||
          g_error_matches (error, KLETSEN_SESSION_ERROR, KLETSEN_SESSION_ERROR_CERTIFICATE_CHANGED))
        {
          cli->certificate_problem = g_steal_pointer (&error);
          g_main_loop_quit (cli->loop);
          return;
        }
      g_printerr ("Cannot log in: %s\n", error->message);
      cli->status = EXIT_FAILURE;
      g_main_loop_quit (cli->loop);
      return;
    }
  g_object_set_data (G_OBJECT (cli->session), "online", GINT_TO_POINTER (1));
  g_main_loop_quit (cli->loop);
}

int
main (int    argc,
      char **argv)
{
  g_auto(GStrv) hosts = NULL;
  const char *host = "127.0.0.1";
  g_autofree char *name = NULL;
  g_autofree char *data_dir = NULL;
  int port = 0;
  int file_port = 0;
  gboolean secure = FALSE;
  gboolean no_history = FALSE;
  gboolean tls = FALSE;
  g_autofree char *trust_fingerprint = NULL;
  GOptionEntry entries[] = {
    { "host", 'H', 0, G_OPTION_ARG_STRING_ARRAY, &hosts,
      "Server host (default 127.0.0.1); more than once for the nodes of a cluster, each HOST or HOST:PORT, "
      "the first naming the server for keys and history", "HOST" },
    { "port", 'p', 0, G_OPTION_ARG_INT, &port, "Chat port (default 1337)", "PORT" },
    { "file-port", 0, 0, G_OPTION_ARG_INT, &file_port, "File side channel port (default 1338)", "PORT" },
    { "name", 'n', 0, G_OPTION_ARG_STRING, &name, "User name to log in with", "NAME" },
    { "data-dir", 0, 0, G_OPTION_ARG_FILENAME, &data_dir, "Where the key pair and pinned keys live", "DIR" },
    { "secure", 's', 0, G_OPTION_ARG_NONE, &secure, "Encrypt private messages end to end", NULL },
    { "no-history", 0, 0, G_OPTION_ARG_NONE, &no_history, "Do not keep what is shown or sent in the history", NULL },
    { "tls", 0, 0, G_OPTION_ARG_NONE, &tls, "Speak TLS (ports 1339 and 1340 unless given)", NULL },
    { "trust-fingerprint", 0, 0, G_OPTION_ARG_STRING, &trust_fingerprint,
      "Trust the server's certificate if it has this SHA-256 fingerprint", "FINGERPRINT" },
    { NULL }
  };
  g_autoptr(GOptionContext) context = g_option_context_new ("list | say TEXT | tell PEER TEXT | send-file PEER FILE | listen [FOLDER] | history [PEER] | search WORDS… | fingerprint [PEER] | trust PEER FINGERPRINT");
  g_autoptr(GError) error = NULL;
  g_autoptr(KletsenSession) session = NULL;
  g_autoptr(GMainLoop) loop = NULL;
  g_autoptr(GFile) folder = NULL;
  const char *command;
  Cli cli = { 0 };

  setlocale (LC_ALL, "");
  bindtextdomain (GETTEXT_PACKAGE, kletsen_locale_dir ());
  bind_textdomain_codeset (GETTEXT_PACKAGE, "UTF-8");

  g_option_context_add_main_entries (context, entries, NULL);
  if (!g_option_context_parse (context, &argc, &argv, &error))
    {
      g_printerr ("%s\n", error->message);
      return 2;
    }
  command = argc > 1 ? argv[1] : NULL;
  if (name == NULL || command == NULL)
    {
      g_printerr ("usage: kletsen-cli --name NAME COMMAND … (see --help)\n");
      return 2;
    }

  if (hosts != NULL && hosts[0] != NULL)
    host = hosts[0];
  if (port == 0)
    port = tls ? KLETSEN_DEFAULT_TLS_PORT : KLETSEN_DEFAULT_PORT;
  if (file_port == 0)
    file_port = tls ? KLETSEN_DEFAULT_TLS_FILE_PORT : KLETSEN_DEFAULT_FILE_PORT;
  if (port <= 0 || port > G_MAXUINT16 || file_port <= 0 || file_port > G_MAXUINT16)
    {
      g_printerr ("A port is a number from 1 to 65535\n");
      return 2;
    }
  if (g_str_equal (command, "history") && argc <= 3)
    return read_history (data_dir, host, port, name, command, argc == 3 ? argv[2] : NULL);
  if (g_str_equal (command, "search") && argc >= 3)
    {
      g_autofree char *words = g_strjoinv (" ", argv + 2);

      return read_history (data_dir, host, port, name, command, words);
    }

  cli.loop = loop = g_main_loop_new (NULL, FALSE);
  cli.session = session = kletsen_session_new (data_dir);
  kletsen_session_set_keep_history (session, !no_history);
  kletsen_session_set_file_port (session, file_port);
  /* --host more than once: the nodes of a cluster, tried in turn. */
  if (hosts != NULL && g_strv_length (hosts) > 1)
    kletsen_session_set_servers (session, (const char * const *)hosts);
  if (g_str_equal (command, "listen") && argc <= 3)
    {
      /* Before logging in: what comes in the same read as the login's
       * answer is handled before connect_async's callback runs. */
      if (argc == 3)
        cli.folder = folder = g_file_new_for_commandline_arg (argv[2]);
      g_signal_connect (session, "file-offered", G_CALLBACK (file_offered_cb), &cli);
      g_signal_connect (kletsen_session_get_conversations (session), "items-changed",
                        G_CALLBACK (conversation_added_cb), &cli);
      conversation_added_cb (kletsen_session_get_conversations (session), 0, 0,
                             g_list_model_get_n_items (kletsen_session_get_conversations (session)), &cli);
    }
  kletsen_session_set_tls (session, tls, NULL);
  kletsen_session_connect_async (session, host, port, name, NULL, connected_cb, &cli);
  g_main_loop_run (cli.loop);
  if (cli.certificate_problem != NULL)
    {
      gboolean trusted = accept_certificate (&cli, trust_fingerprint);

      g_clear_error (&cli.certificate_problem);
      if (!trusted)
        return 3;
      kletsen_session_trust_certificate (session);
      kletsen_session_connect_async (session, host, port, name, NULL, connected_cb, &cli);
      g_main_loop_run (cli.loop);
      if (cli.certificate_problem != NULL)
        {
          g_printerr ("%s\n", cli.certificate_problem->message);
          g_clear_error (&cli.certificate_problem);
          return 3;
        }
    }
  if (cli.status != 0)
    return cli.status;

  if (g_str_equal (command, "list"))
    kletsen_session_list_users_async (session, listed_cb, &cli);
  else if (g_str_equal (command, "say") && argc == 3)
    kletsen_session_broadcast_async (session, argv[2], done_cb, &cli);
  else if (g_str_equal (command, "tell") && argc == 4 && secure)
    kletsen_session_send_secure_async (session, argv[2], argv[3], done_cb, &cli);
  else if (g_str_equal (command, "tell") && argc == 4)
    kletsen_session_send_private_async (session, argv[2], argv[3], done_cb, &cli);
  else if (g_str_equal (command, "send-file") && argc == 4)
    {
      g_autoptr(GFile) file = g_file_new_for_commandline_arg (argv[3]);
      KletsenFileTransfer *transfer = kletsen_session_send_file (session, argv[2], file);

      g_signal_connect (transfer, "notify::state", G_CALLBACK (transfer_state_cb), &cli);
    }
  else if (g_str_equal (command, "listen") && argc <= 3)
    ; /* set up before the login */
  else if (g_str_equal (command, "fingerprint") && argc == 2)
    {
      printf ("%s\n", kletsen_session_get_fingerprint (session));
      kletsen_session_disconnect (session);
      return EXIT_SUCCESS;
    }
  else if ((g_str_equal (command, "fingerprint") && argc == 3) || (g_str_equal (command, "trust") && argc == 4))
    {
      cli.peer = argv[2];
      cli.fingerprint = argc == 4 ? argv[3] : NULL;
      kletsen_session_fetch_peer_key_async (session, cli.peer, key_fetched_cb, &cli);
    }
  else
    {
      g_printerr ("usage: kletsen-cli --name NAME COMMAND … (see --help)\n");
      return 2;
    }

  g_unix_signal_add (SIGINT, stop_cb, &cli);
  g_unix_signal_add (SIGTERM, stop_cb, &cli);
  g_unix_signal_add (SIGHUP, stop_cb, &cli);
  g_main_loop_run (cli.loop);
  cancel_unfinished (session);
  g_queue_clear_full (&cli.waiting, g_object_unref);
  kletsen_session_disconnect (session);
  return cli.status;
}
