/* test-e2e.c
 *
 * Copyright 2026 The Kletsen authors
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

/* protocol.md §5.1 with the server as the adversary: a scripted server that
 * forges, replays, re-attributes, drops and reorders encrypted messages, and
 * passes on keys nobody asked for. Only a message signed by the key pinned
 * for its sender, with a new counter, is shown as that sender's; everything
 * else is an error item that says why. Plus the test vector of
 * docs/protocol.md. */

#include "config.h"

#include <glib/gstdio.h>
#include <signal.h>
#include <string.h>

#include "kletsen-crypto.h"
#include "kletsen-fake-server.h"
#include "kletsen-protocol.h"
#include "kletsen-session.h"
#include "kletsen-test-proxy.h"
#include "kletsen-test-util.h"

#define RUN_UNTIL(cond) KT_RUN_UNTIL (cond)

static char *
vector_path (const char *name)
{
  return g_test_build_filename (G_TEST_DIST, "e2e-vector", name, NULL);
}

static KletsenIdentity *
fixture_identity (const char *name)
{
  g_autofree char *path = vector_path (name);
  g_autofree char *dir = g_dir_make_tmp ("kletsen-e2e-XXXXXX", NULL);
  g_autofree char *copy = g_build_filename (dir, "identity.pem", NULL);
  g_autofree char *pem = NULL;
  g_autoptr(GError) error = NULL;
  KletsenIdentity *identity;

  /* Loaded from a copy: git does not keep the file's mode. */
  g_assert_true (g_file_get_contents (path, &pem, NULL, &error));
  g_assert_true (g_file_set_contents_full (copy, pem, -1, G_FILE_SET_CONTENTS_NONE, 0600, &error));
  identity = kletsen_identity_load_or_create (copy, &error);
  g_assert_no_error (error);
  kt_remove_tree (dir);
  return identity;
}

/* ---- the test vector of docs/protocol.md ---- */

static void
test_vector (void)
{
  g_autofree char *path = vector_path ("message.ini");
  g_autoptr(GKeyFile) vector = g_key_file_new ();
  g_autoptr(GError) error = NULL;
  g_autoptr(KletsenIdentity) bob = fixture_identity ("bob-identity.pem");
  g_autofree char *sender = NULL, *receiver = NULL, *sender_key = NULL, *receiver_key = NULL;
  g_autofree char *session_key = NULL, *message = NULL, *signature = NULL, *text = NULL, *opened = NULL;
  g_autofree char *aad_hash = NULL, *signed_hash = NULL;
  g_autofree char *expected_aad = NULL, *expected_signed = NULL;
  g_autoptr(GBytes) aad = NULL;
  g_autoptr(GBytes) all = NULL;
  KletsenSealHeader header;

  g_assert_true (g_key_file_load_from_file (vector, path, G_KEY_FILE_NONE, &error));
  sender = g_key_file_get_string (vector, "vector", "sender", NULL);
  receiver = g_key_file_get_string (vector, "vector", "receiver", NULL);
  sender_key = g_key_file_get_string (vector, "vector", "senderKey", NULL);
  receiver_key = g_key_file_get_string (vector, "vector", "receiverKey", NULL);
  session_key = g_key_file_get_string (vector, "vector", "sessionKey", NULL);
  message = g_key_file_get_string (vector, "vector", "message", NULL);
  signature = g_key_file_get_string (vector, "vector", "signature", NULL);
  text = g_key_file_get_string (vector, "vector", "text", NULL);
  header = (KletsenSealHeader) { sender, receiver, sender_key, receiver_key,
                                 g_key_file_get_int64 (vector, "vector", "counter", NULL) };

  /* The bytes, as docs/protocol.md writes them down. */
  aad = kletsen_crypto_seal_header (&header, session_key, NULL);
  all = kletsen_crypto_seal_header (&header, session_key, message);
  aad_hash = g_compute_checksum_for_bytes (G_CHECKSUM_SHA256, aad);
  signed_hash = g_compute_checksum_for_bytes (G_CHECKSUM_SHA256, all);
  expected_aad = g_key_file_get_string (vector, "vector", "aad-sha256", NULL);
  expected_signed = g_key_file_get_string (vector, "vector", "signed-sha256", NULL);
  g_assert_cmpstr (aad_hash, ==, expected_aad);
  g_assert_cmpint (g_bytes_get_size (aad), ==, g_key_file_get_integer (vector, "vector", "aad-length", NULL));
  g_assert_cmpstr (signed_hash, ==, expected_signed);
  g_assert_cmpmem (g_bytes_get_data (aad, NULL), 17, "\0\0\0\x0d" KLETSEN_SEAL_LABEL, 17);
  g_assert_cmpmem ((const char *)g_bytes_get_data (aad, NULL) + 17, 9, "\0\0\0\x05" "alice", 9);

  g_assert_true (kletsen_crypto_verify (&header, session_key, message, signature));
  opened = kletsen_identity_open (bob, &header, session_key, message, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (opened, ==, text);

  /* Any field changed, and it is not the sender's any more. */
  header.counter = 2;
  g_assert_false (kletsen_crypto_verify (&header, session_key, message, signature));
  header.counter = 1;
  header.sender = "carol";
  g_assert_false (kletsen_crypto_verify (&header, session_key, message, signature));
  header.sender = sender;
  header.receiver = "dave";
  g_assert_false (kletsen_crypto_verify (&header, session_key, message, signature));
  header.receiver = receiver;
  g_assert_false (kletsen_crypto_verify (&header, message, session_key, signature));
  g_assert_true (kletsen_crypto_verify (&header, session_key, message, signature));
}

/* ---- the server as the adversary ---- */

typedef struct
{
  KletsenIdentity *alice;   /* the real alice */
  KletsenIdentity *forger;  /* the server's own key */
} Actors;

static char *
sealed_line_as (KletsenIdentity *signer,
                const char      *label,
                const char      *claimed_sender,
                const char      *sender_key,
                const char      *receiver_key,
                gint64           counter,
                const char      *text)
{
  KletsenSealHeader header = { claimed_sender, "mee", sender_key, receiver_key, counter, label };
  g_autofree char *session_key = NULL, *message = NULL, *signature = NULL;
  g_autoptr(GError) error = NULL;

  /* A signer other than the key named signs what it likes: the header still
   * names sender_key. */
  header.sender_key = kletsen_identity_get_public_key (signer);
  g_assert_true (kletsen_identity_seal (signer, &header, text, &session_key, &message, &signature, &error));
  return g_strdup_printf ("SECURE_MESSAGE {\"sender\":\"%s\",\"sessionKey\":\"%s\",\"message\":\"%s\","
                          "\"senderKey\":\"%s\",\"counter\":%" G_GINT64_FORMAT ",\"signature\":\"%s\"}",
                          claimed_sender, session_key, message, sender_key, counter, signature);
}

static char *
sealed_line (KletsenIdentity *signer,
             const char      *claimed_sender,
             const char      *sender_key,
             const char      *receiver_key,
             gint64           counter,
             const char      *text)
{
  return sealed_line_as (signer, NULL, claimed_sender, sender_key, receiver_key, counter, text);
}

static void
adversary_script (KtFake     *fake,
                  KtFakeConn *conn,
                  guint       index,
                  gpointer    data)
{
  Actors *actors = data;
  const char *alice = kletsen_identity_get_public_key (actors->alice);
  const char *forger = kletsen_identity_get_public_key (actors->forger);
  g_autoptr(JsonObject) res = NULL;
  g_autofree char *mine = NULL;
  g_autofree char *first = NULL;
  g_autofree char *reattributed = NULL;
  char *line;

  g_free (kt_fake_login (conn));
  /* The client hands its key to whoever asks. */
  kt_fake_send (conn, "SECURE_MESSAGE_REQ {\"sender\":\"alice\"}");
  res = kt_fake_expect (conn, "SECURE_MESSAGE_RES");
  mine = g_strdup (json_object_get_string_member (res, "publicKey"));

  first = sealed_line (actors->alice, "alice", alice, mine, 1, "eins");
  kt_fake_send (conn, "%s", first);                                      /* real */
  kt_fake_send (conn, "%s", first);                                      /* replayed */
  reattributed = g_strdup (first);
  memcpy (strstr (reattributed, "\"alice\""), "\"carol\"", 7);
  kt_fake_send (conn, "%s", reattributed);                               /* re-attributed */
  line = sealed_line (actors->forger, "alice", alice, mine, 2, "forged"); /* alice's key, the server's signature */
  kt_fake_send (conn, "%s", line);
  g_free (line);
  line = sealed_line (actors->forger, "alice", forger, mine, 1, "impostor"); /* a key of its own under alice's name */
  kt_fake_send (conn, "%s", line);
  g_free (line);
  line = sealed_line (actors->alice, "alice", alice, mine, 3, "drei");   /* 2 dropped */
  kt_fake_send (conn, "%s", line);
  g_free (line);
  line = sealed_line (actors->alice, "alice", alice, mine, 2, "zwei");   /* 2, late: reordered */
  kt_fake_send (conn, "%s", line);
  g_free (line);
  /* The new fields missing or of the wrong type. */
  kt_fake_send (conn, "SECURE_MESSAGE {\"sender\":\"alice\",\"sessionKey\":\"AAAA\",\"message\":\"AAAA\"}");
  kt_fake_send (conn, "SECURE_MESSAGE {\"sender\":\"alice\",\"sessionKey\":\"AAAA\",\"message\":\"AAAA\",\"senderKey\":\"%s\","
                "\"counter\":\"4\",\"signature\":\"AAAA\"}", alice);
  kt_fake_send (conn, "SECURE_MESSAGE {\"sender\":\"alice\",\"sessionKey\":\"AAAA\",\"message\":\"AAAA\",\"senderKey\":7,"
                "\"counter\":4,\"signature\":[]}");
  /* A key nobody asked for. */
  kt_fake_send (conn, "SECURE_MESSAGE_RES {\"receiver\":\"zed\",\"publicKey\":\"%s\"}", forger);
  kt_fake_send (conn, "BROADCAST {\"username\":\"zoe\",\"message\":\"the end\"}");
  kt_fake_serve (fake, conn);
}

static void
quiet_script (KtFake     *fake,
              KtFakeConn *conn,
              guint       index,
              gpointer    data)
{
  g_free (kt_fake_login (conn));
  kt_fake_serve (fake, conn);
}

static gboolean
room_has (KletsenSession *session,
          const char     *text)
{
  GListModel *room = G_LIST_MODEL (kletsen_session_get_everyone (session));

  for (guint i = 0; i < g_list_model_get_n_items (room); i++)
    {
      g_autoptr(KletsenChatMessage) m = g_list_model_get_item (room, i);

      if (g_str_equal (kletsen_chat_message_get_text (m), text))
        return TRUE;
    }
  return FALSE;
}

static guint
count_kind (KletsenConversation *conversation,
            KletsenMessageKind   kind,
            const char          *containing)
{
  guint n = 0;

  for (guint i = 0; i < g_list_model_get_n_items (G_LIST_MODEL (conversation)); i++)
    {
      g_autoptr(KletsenChatMessage) m = g_list_model_get_item (G_LIST_MODEL (conversation), i);

      if (kletsen_chat_message_get_kind (m) == kind && strstr (kletsen_chat_message_get_text (m), containing))
        n++;
    }
  return n;
}

/* The state of my message in @conversation that contains @containing. */
static KletsenMessageState
state_of (KletsenConversation *conversation,
          const char          *containing)
{
  for (guint i = 0; i < g_list_model_get_n_items (G_LIST_MODEL (conversation)); i++)
    {
      g_autoptr(KletsenChatMessage) m = g_list_model_get_item (G_LIST_MODEL (conversation), i);

      if (strstr (kletsen_chat_message_get_text (m), containing))
        return kletsen_chat_message_get_state (m);
    }
  g_assert_not_reached ();
}

static KletsenSession *
login_real (guint16     port,
            const char *name,
            const char *dir)
{
  KletsenSession *session = kletsen_session_new (dir);
  g_autoptr(GAsyncResult) result = NULL;

  kletsen_session_connect_async (session, "127.0.0.1", port, name, NULL, kt_store_result_cb, &result);
  RUN_UNTIL (result != NULL);
  g_assert_true (kletsen_session_connect_finish (session, result, NULL));
  return session;
}

/* Logs in to a scripted server as "mee". */
static KletsenSession *
login_to (KtFake     *fake,
          const char *dir)
{
  return login_real (kt_fake_port (fake), "mee", dir);
}

static void
test_server_as_adversary (void)
{
  Actors actors = { fixture_identity ("alice-identity.pem"), fixture_identity ("bob-identity.pem") };
  g_autoptr(KtFake) fake = kt_fake_start (adversary_script, &actors);
  g_autoptr(KtFake) other = NULL;
  g_autofree char *dir = g_dir_make_tmp ("kletsen-e2e-XXXXXX", NULL);
  g_autoptr(KletsenSession) session = login_to (fake, dir);
  g_autoptr(KletsenSession) elsewhere = NULL;
  g_autofree char *alice_fp = kletsen_crypto_fingerprint (kletsen_identity_get_public_key (actors.alice));
  g_autofree char *pinned = NULL;
  g_autofree char *zed = NULL;
  KletsenConversation *with_alice;
  KletsenConversation *with_carol;
  guint texts = 0, errors = 0;

  RUN_UNTIL (room_has (session, "the end"));
  with_alice = kletsen_session_lookup_conversation (session, "alice");
  with_carol = kletsen_session_lookup_conversation (session, "carol");
  g_assert_nonnull (with_alice);
  for (guint i = 0; i < g_list_model_get_n_items (G_LIST_MODEL (with_alice)); i++)
    {
      g_autoptr(KletsenChatMessage) m = g_list_model_get_item (G_LIST_MODEL (with_alice), i);
      const char *text = kletsen_chat_message_get_text (m);

      g_test_message ("alice: %s %s", kletsen_chat_message_get_kind (m) == KLETSEN_MESSAGE_KIND_ERROR ? "error" : "text", text);
      if (kletsen_chat_message_get_kind (m) == KLETSEN_MESSAGE_KIND_TEXT)
        {
          /* Only alice's own, new messages are shown as hers. */
          g_assert_true (g_str_equal (text, "eins") || g_str_equal (text, "drei"));
          g_assert_true (kletsen_chat_message_get_encrypted (m));
          texts++;
        }
      else
        {
          g_assert_cmpint (kletsen_chat_message_get_kind (m), ==, KLETSEN_MESSAGE_KIND_ERROR);
          g_assert_false (kletsen_chat_message_get_encrypted (m));
          errors++;
        }
    }
  g_assert_cmpuint (texts, ==, 2);
  /* replayed, forged, impostor, 1 missing, reordered, three not signed */
  g_assert_cmpuint (errors, ==, 8);

  /* The re-attributed copy is no message of carol's. */
  g_assert_nonnull (with_carol);
  g_assert_cmpuint (g_list_model_get_n_items (G_LIST_MODEL (with_carol)), ==, 1);
  {
    g_autoptr(KletsenChatMessage) m = g_list_model_get_item (G_LIST_MODEL (with_carol), 0);

    g_assert_cmpint (kletsen_chat_message_get_kind (m), ==, KLETSEN_MESSAGE_KIND_ERROR);
    g_assert_nonnull (strstr (kletsen_chat_message_get_text (m), "could not be verified as carol’s"));
  }

  /* alice's key stays pinned; the impostor's is held back, blocked. */
  pinned = kletsen_session_get_peer_fingerprint (session, "alice");
  g_assert_cmpstr (pinned, ==, alice_fp);
  g_assert_true (kletsen_session_is_peer_blocked (session, "alice"));
  /* The key nobody asked for pinned nothing. */
  zed = kletsen_session_get_peer_fingerprint (session, "zed");
  g_assert_null (zed);
  kletsen_session_disconnect (session);

  /* The same data directory on another server: alice there is somebody else. */
  other = kt_fake_start (quiet_script, NULL);
  elsewhere = login_to (other, dir);
  g_clear_pointer (&pinned, g_free);
  pinned = kletsen_session_get_peer_fingerprint (elsewhere, "alice");
  g_assert_null (pinned);
  kletsen_session_disconnect (elsewhere);

  kt_remove_tree (dir);
  kletsen_identity_free (actors.alice);
  kletsen_identity_free (actors.forger);
}

/* Delivery receipts with the server as the adversary: only alice's signed
 * receipt, naming my message, makes it "delivered"; a forged one, one that
 * names another message, and a replayed one change nothing. */
static void
receipt_script (KtFake     *fake,
                KtFakeConn *conn,
                guint       index,
                gpointer    data)
{
  Actors *actors = data;
  const char *alice = kletsen_identity_get_public_key (actors->alice);
  const char *forger = kletsen_identity_get_public_key (actors->forger);
  g_autoptr(JsonObject) sent = NULL;
  g_autofree char *mine = NULL;
  g_autofree char *ack = NULL;
  g_autofree char *other = NULL;
  g_autofree char *good = NULL;
  char *line;

  g_free (kt_fake_login (conn));
  json_object_unref (kt_fake_expect (conn, "SECURE_MESSAGE_REQ"));
  kt_fake_send (conn, "SECURE_MESSAGE_RES {\"receiver\":\"alice\",\"publicKey\":\"%s\"}", alice);
  sent = kt_fake_expect (conn, "SECURE_MESSAGE");
  mine = g_strdup (json_object_get_string_member (sent, "senderKey"));
  ack = kletsen_crypto_receipt_text (json_object_get_int_member (sent, "counter"),
                                     json_object_get_string_member (sent, "signature"));
  other = kletsen_crypto_receipt_text (99, json_object_get_string_member (sent, "signature"));
  /* The two barriers: the key request and the message are through. */
  kt_fake_send (conn, "LIST_USERS_RESP {\"status\":\"OK\",\"users\":[\"alice\"]}");
  kt_fake_send (conn, "LIST_USERS_RESP {\"status\":\"OK\",\"users\":[\"alice\"]}");

  line = sealed_line_as (actors->forger, KLETSEN_RECEIPT_LABEL, "alice", alice, mine, 1, ack); /* forged */
  kt_fake_send (conn, "%s", line);
  g_free (line);
  line = sealed_line_as (actors->forger, KLETSEN_RECEIPT_LABEL, "alice", forger, mine, 1, ack); /* another key */
  kt_fake_send (conn, "%s", line);
  g_free (line);
  line = sealed_line_as (actors->alice, KLETSEN_RECEIPT_LABEL, "alice", alice, mine, 1, other); /* another message */
  kt_fake_send (conn, "%s", line);
  g_free (line);
  kt_fake_send (conn, "BROADCAST {\"username\":\"zoe\",\"message\":\"phase one\"}");

  json_object_unref (kt_fake_expect (conn, "BROADCAST_REQ"));
  good = sealed_line_as (actors->alice, KLETSEN_RECEIPT_LABEL, "alice", alice, mine, 2, ack);
  kt_fake_send (conn, "%s", good);
  kt_fake_send (conn, "%s", good); /* replayed */
  /* Receipts count apart from messages: alice's first message is 1. */
  line = sealed_line (actors->alice, "alice", alice, mine, 1, "yes, got it");
  kt_fake_send (conn, "%s", line);
  g_free (line);
  kt_fake_send (conn, "BROADCAST {\"username\":\"zoe\",\"message\":\"the end\"}");
  kt_fake_serve (fake, conn);
}

static void
test_receipt_forged (void)
{
  Actors actors = { fixture_identity ("alice-identity.pem"), fixture_identity ("bob-identity.pem") };
  g_autoptr(KtFake) fake = kt_fake_start (receipt_script, &actors);
  g_autofree char *dir = g_dir_make_tmp ("kletsen-e2e-XXXXXX", NULL);
  g_autoptr(KletsenSession) session = login_to (fake, dir);
  g_autoptr(KletsenChatMessage) mine = NULL;
  KletsenConversation *with_alice;
  KletsenMessageKind text = KLETSEN_MESSAGE_KIND_TEXT, error = KLETSEN_MESSAGE_KIND_ERROR;

  kletsen_session_send_secure_async (session, "alice", "did you get this?", NULL, NULL);
  with_alice = kletsen_session_lookup_conversation (session, "alice");
  g_assert_nonnull (with_alice);
  mine = g_list_model_get_item (G_LIST_MODEL (with_alice), 0);
  RUN_UNTIL (room_has (session, "phase one"));
  g_assert_cmpint (kletsen_chat_message_get_state (mine), ==, KLETSEN_MESSAGE_STATE_SENT);
  g_assert_cmpuint (count_kind (with_alice, error, "could not be verified as alice’s"), ==, 1);
  g_assert_cmpuint (count_kind (with_alice, error, "a key you have not trusted"), ==, 1);

  kletsen_session_broadcast_async (session, "go", NULL, NULL);
  RUN_UNTIL (room_has (session, "the end"));
  g_assert_cmpint (kletsen_chat_message_get_state (mine), ==, KLETSEN_MESSAGE_STATE_DELIVERED);
  g_assert_cmpuint (count_kind (with_alice, error, "replayed"), ==, 1);
  /* A receipt is never shown as a message, and is no gap in the messages. */
  g_assert_cmpuint (count_kind (with_alice, text, "yes, got it"), ==, 1);
  g_assert_cmpuint (count_kind (with_alice, text, ""), ==, 2);
  g_assert_cmpuint (count_kind (with_alice, error, ""), ==, 3);

  kletsen_session_disconnect (session);
  kt_remove_tree (dir);
  kletsen_identity_free (actors.alice);
  kletsen_identity_free (actors.forger);
}

/* A flood of key requests from one peer is answered once, not once each:
 * every answer costs the client two requests of its own rate. */
static void
key_flood_script (KtFake     *fake,
                  KtFakeConn *conn,
                  guint       index,
                  gpointer    data)
{
  guint *answers = data;

  g_free (kt_fake_login (conn));
  for (guint i = 0; i < 50; i++)
    kt_fake_send (conn, "SECURE_MESSAGE_REQ {\"sender\":\"zed\"}");
  kt_fake_send (conn, "BROADCAST {\"username\":\"zoe\",\"message\":\"marker\"}");
  for (;;)
    {
      g_autofree char *line = kt_fake_read_line (conn, 5000);

      g_assert_nonnull (line);
      if (g_str_has_prefix (line, "SECURE_MESSAGE_RES "))
        g_atomic_int_inc (answers);
      else if (g_str_has_prefix (line, "LIST_USERS_REQ"))
        kt_fake_send (conn, "LIST_USERS_RESP {\"status\":\"OK\",\"users\":[\"zed\"]}");
      else if (g_str_has_prefix (line, "BROADCAST_REQ"))
        break;
    }
  kt_fake_send (conn, "BROADCAST {\"username\":\"zoe\",\"message\":\"the end\"}");
  kt_fake_serve (fake, conn);
}

static void
test_key_request_flood (void)
{
  guint answers = 0;
  g_autoptr(KtFake) fake = kt_fake_start (key_flood_script, &answers);
  g_autofree char *dir = g_dir_make_tmp ("kletsen-e2e-XXXXXX", NULL);
  g_autoptr(KletsenSession) session = login_to (fake, dir);

  RUN_UNTIL (room_has (session, "marker"));
  kletsen_session_broadcast_async (session, "done", NULL, NULL);
  RUN_UNTIL (room_has (session, "the end"));
  g_assert_cmpuint (g_atomic_int_get (&answers), ==, 1);
  kletsen_session_disconnect (session);
  kt_remove_tree (dir);
}

/* Counters and pins survive a restart: a message replayed to a new session
 * on the same data directory is still a replay. */
static void
replay_after_restart_script (KtFake     *fake,
                             KtFakeConn *conn,
                             guint       index,
                             gpointer    data)
{
  Actors *actors = data;
  const char *alice = kletsen_identity_get_public_key (actors->alice);
  g_autoptr(JsonObject) res = NULL;
  static char *first;

  g_free (kt_fake_login (conn));
  kt_fake_send (conn, "SECURE_MESSAGE_REQ {\"sender\":\"alice\"}");
  res = kt_fake_expect (conn, "SECURE_MESSAGE_RES");
  if (first == NULL)
    first = sealed_line (actors->alice, "alice", alice, json_object_get_string_member (res, "publicKey"), 1, "eins");
  kt_fake_send (conn, "%s", first);
  kt_fake_send (conn, "BROADCAST {\"username\":\"zoe\",\"message\":\"the end\"}");
  kt_fake_serve (fake, conn);
}

static void
test_replay_after_restart (void)
{
  Actors actors = { fixture_identity ("alice-identity.pem"), NULL };
  g_autoptr(KtFake) fake = kt_fake_start (replay_after_restart_script, &actors);
  g_autofree char *dir = g_dir_make_tmp ("kletsen-e2e-XXXXXX", NULL);
  KletsenSession *session = login_to (fake, dir);
  KletsenConversation *with_alice;
  g_autoptr(KletsenChatMessage) m = NULL;

  RUN_UNTIL (room_has (session, "the end"));
  with_alice = kletsen_session_lookup_conversation (session, "alice");
  m = g_list_model_get_item (G_LIST_MODEL (with_alice), 0);
  g_assert_cmpstr (kletsen_chat_message_get_text (m), ==, "eins");
  g_clear_object (&m);
  kletsen_session_disconnect (session);
  g_object_unref (session);

  session = login_to (fake, dir);
  RUN_UNTIL (room_has (session, "the end"));
  with_alice = kletsen_session_lookup_conversation (session, "alice");
  g_assert_cmpuint (g_list_model_get_n_items (G_LIST_MODEL (with_alice)), ==, 1);
  m = g_list_model_get_item (G_LIST_MODEL (with_alice), 0);
  g_assert_cmpint (kletsen_chat_message_get_kind (m), ==, KLETSEN_MESSAGE_KIND_ERROR);
  g_assert_nonnull (strstr (kletsen_chat_message_get_text (m), "replayed"));
  kletsen_session_disconnect (session);
  g_object_unref (session);

  /* Pins and counters are this user's alone. */
  {
    g_autofree char *pins = g_build_filename (dir, "pinned-keys.ini", NULL);
    g_autofree char *counters = g_build_filename (dir, "message-counters.ini", NULL);
    GStatBuf st;

    g_assert_cmpint (g_stat (pins, &st), ==, 0);
    g_assert_cmpint (st.st_mode & 0777, ==, 0600);
    g_assert_cmpint (g_stat (counters, &st), ==, 0);
    g_assert_cmpint (st.st_mode & 0777, ==, 0600);
  }
  kt_remove_tree (dir);
  kletsen_identity_free (actors.alice);
}

/* A verified encrypted message turns the conversation's secure mode on, so
 * the reply goes out encrypted too; the mode survives a restart. */
static void
test_reply_stays_encrypted (void)
{
  g_autoptr(KtServer) server = kt_server_start (NULL);
  g_autofree char *alice_dir = g_dir_make_tmp ("kletsen-e2e-XXXXXX", NULL);
  g_autofree char *bob_dir = g_dir_make_tmp ("kletsen-e2e-XXXXXX", NULL);
  g_autoptr(KletsenSession) alice = kletsen_session_new (alice_dir);
  g_autoptr(KletsenSession) bob = kletsen_session_new (bob_dir);
  g_autoptr(KletsenSession) bob_again = NULL;
  g_autoptr(GAsyncResult) a = NULL;
  g_autoptr(GAsyncResult) b = NULL;
  g_autoptr(GAsyncResult) sent = NULL;
  KletsenConversation *with_alice;

  kletsen_session_connect_async (alice, "127.0.0.1", server->port, "alice", NULL, kt_store_result_cb, &a);
  kletsen_session_connect_async (bob, "127.0.0.1", server->port, "bob", NULL, kt_store_result_cb, &b);
  RUN_UNTIL (a != NULL && b != NULL);
  g_assert_true (kletsen_session_connect_finish (alice, a, NULL) && kletsen_session_connect_finish (bob, b, NULL));
  RUN_UNTIL (kletsen_session_is_online (alice, "bob"));
  g_assert_false (kletsen_session_get_secure (bob, "alice"));

  kletsen_session_send_secure_async (alice, "bob", "psst", kt_store_result_cb, &sent);
  RUN_UNTIL (sent != NULL);
  g_assert_true (kletsen_session_request_finish (alice, sent, NULL));
  RUN_UNTIL ((with_alice = kletsen_session_lookup_conversation (bob, "alice")) != NULL &&
             g_list_model_get_n_items (G_LIST_MODEL (with_alice)) == 1);
  g_assert_true (kletsen_session_get_secure (bob, "alice"));

  /* A verified mark takes the fingerprint compared, and only the pinned one. */
  g_assert_false (kletsen_session_is_peer_verified (bob, "alice"));
  g_assert_false (kletsen_session_verify_peer (bob, "alice", kletsen_session_get_fingerprint (bob)));
  g_assert_false (kletsen_session_verify_peer (bob, "carol", kletsen_session_get_fingerprint (alice)));
  g_assert_true (kletsen_session_verify_peer (bob, "alice", kletsen_session_get_fingerprint (alice)));
  g_assert_true (kletsen_session_is_peer_verified (bob, "alice"));
  kletsen_session_disconnect (bob);

  bob_again = kletsen_session_new (bob_dir);
  g_clear_object (&b);
  kletsen_session_connect_async (bob_again, "127.0.0.1", server->port, "bob", NULL, kt_store_result_cb, &b);
  RUN_UNTIL (b != NULL);
  g_assert_true (kletsen_session_connect_finish (bob_again, b, NULL));
  g_assert_true (kletsen_session_get_secure (bob_again, "alice"));
  /* Remembered across restarts, until the user takes it back. */
  g_assert_true (kletsen_session_is_peer_verified (bob_again, "alice"));
  kletsen_session_unverify_peer (bob_again, "alice");
  g_assert_false (kletsen_session_is_peer_verified (bob_again, "alice"));
  kletsen_session_disconnect (bob_again);
  kletsen_session_disconnect (alice);
  kt_remove_tree (alice_dir);
  kt_remove_tree (bob_dir);
}

/* kletsen-cli before the same server: only alice's own, new messages carry
 * the verified prefix; everything else is an error line. */
static void
test_cli_prefix_only_when_verified (void)
{
  Actors actors = { fixture_identity ("alice-identity.pem"), fixture_identity ("bob-identity.pem") };
  g_autoptr(KtFake) fake = kt_fake_start (adversary_script, &actors);
  g_autofree char *dir = g_dir_make_tmp ("kletsen-e2e-XXXXXX", NULL);
  g_autofree char *port = g_strdup_printf ("%u", kt_fake_port (fake));
  g_autoptr(GError) error = NULL;
  g_autoptr(GSubprocess) cli = g_subprocess_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE, &error, g_getenv ("KLETSEN_CLI"),
                                                 "--port", port, "--name", "mee", "--data-dir", dir, "listen", NULL);
  g_autoptr(GDataInputStream) out = NULL;
  g_autoptr(GPtrArray) verified = g_ptr_array_new_with_free_func (g_free);
  guint errors = 0;

  g_assert_no_error (error);
  out = g_data_input_stream_new (g_subprocess_get_stdout_pipe (cli));
  for (;;)
    {
      g_autofree char *line = g_data_input_stream_read_line (out, NULL, NULL, &error);

      g_assert_no_error (error);
      g_assert_nonnull (line);
      g_test_message ("cli: %s", line);
      if (g_str_has_prefix (line, "[private] [encrypted] "))
        g_ptr_array_add (verified, g_strdup (line));
      else if (g_str_has_prefix (line, "[private] ") && strstr (line, " (error): ") != NULL)
        errors++;
      g_assert_false (g_str_has_prefix (line, "[encrypted]"));
      if (g_str_equal (line, "zoe: the end"))
        break;
    }
  g_subprocess_send_signal (cli, SIGTERM);
  g_subprocess_wait (cli, NULL, NULL);

  g_assert_cmpuint (verified->len, ==, 2);
  g_assert_cmpstr (g_ptr_array_index (verified, 0), ==, "[private] [encrypted] alice: eins");
  g_assert_cmpstr (g_ptr_array_index (verified, 1), ==, "[private] [encrypted] alice: drei");
  /* alice's eight and carol's one, as in the session test */
  g_assert_cmpuint (errors, ==, 9);
  kt_remove_tree (dir);
  kletsen_identity_free (actors.alice);
  kletsen_identity_free (actors.forger);
}

/* ---- a hostile proxy in front of the real server ---- */

/* What the proxy in front of bob does to the server's encrypted messages,
 * as the review's server did; every other line passes. Only bob's
 * connection goes through it, so one state is enough. */
typedef struct
{
  guint  index;
  char  *held;
} Meddling;

static void
meddle (GSocket    *to,
        const char *line,
        gpointer    user_data)
{
  Meddling *m = user_data;

  if (!g_str_has_prefix (line, "SECURE_MESSAGE {"))
    {
      kt_proxy_send_line (to, line);
      return;
    }
  switch (++m->index)
    {
    case 1: /* delivered, replayed twice, and handed over as carol's */
      {
        g_autofree char *as_carol = g_strdup (line);
        char *at = strstr (as_carol, "\"sender\":\"alice\"");

        g_assert_nonnull (at);
        memcpy (at, "\"sender\":\"carol\"", 16);
        kt_proxy_send_line (to, line);
        kt_proxy_send_line (to, line);
        kt_proxy_send_line (to, line);
        kt_proxy_send_line (to, as_carol);
      }
      break;
    case 2: /* held back, to come after the next */
      m->held = g_strdup (line);
      break;
    case 3:
      kt_proxy_send_line (to, line);
      kt_proxy_send_line (to, m->held);
      g_clear_pointer (&m->held, g_free);
      break;
    case 4: /* dropped */
      break;
    default:
      kt_proxy_send_line (to, line);
    }
}

static void
send_secure (KletsenSession *from,
             const char     *to,
             const char     *text)
{
  g_autoptr(GAsyncResult) sent = NULL;

  kletsen_session_send_secure_async (from, to, text, kt_store_result_cb, &sent);
  RUN_UNTIL (sent != NULL);
  g_assert_true (kletsen_session_request_finish (from, sent, NULL));
}

/* The real server, real senders, and a proxy that lies to bob; then a user
 * who takes the departed alice's name with a key of her own. */
static void
test_hostile_proxy (void)
{
  g_autoptr(KtServer) server = kt_server_start (NULL);
  Meddling meddling = { 0, NULL };
  g_autoptr(KtProxy) meddler = kt_proxy_start (server->port, meddle, &meddling);
  g_autofree char *alice_dir = g_dir_make_tmp ("kletsen-e2e-XXXXXX", NULL);
  g_autofree char *bob_dir = g_dir_make_tmp ("kletsen-e2e-XXXXXX", NULL);
  g_autofree char *mallory_dir = g_dir_make_tmp ("kletsen-e2e-XXXXXX", NULL);
  g_autoptr(KletsenSession) alice = login_real (server->port, "alice", alice_dir);
  g_autoptr(KletsenSession) bob = login_real (kt_proxy_port (meddler), "bob", bob_dir);
  g_autoptr(KletsenSession) mallory = NULL;
  g_autofree char *alice_fp = NULL;
  g_autofree char *pinned = NULL;
  KletsenConversation *with_alice = NULL;
  KletsenConversation *with_carol = NULL;
  KletsenMessageKind text = KLETSEN_MESSAGE_KIND_TEXT, error = KLETSEN_MESSAGE_KIND_ERROR;

  RUN_UNTIL (kletsen_session_is_online (alice, "bob"));
  alice_fp = g_strdup (kletsen_session_get_fingerprint (alice));
  send_secure (alice, "bob", "transfer 100 EUR to carol, once");
  send_secure (alice, "bob", "1: here is the contract");
  send_secure (alice, "bob", "2: read it first");
  send_secure (alice, "bob", "3: wait, do not sign");
  send_secure (alice, "bob", "4: call me");
  RUN_UNTIL ((with_alice = kletsen_session_lookup_conversation (bob, "alice")) != NULL &&
             count_kind (with_alice, text, "4: call me") == 1);
  with_carol = kletsen_session_lookup_conversation (bob, "carol");
  {
    KletsenConversation *with_bob = kletsen_session_lookup_conversation (alice, "bob");

    /* bob's receipts say what he got: the server's silence is not "delivered". */
    RUN_UNTIL (state_of (with_bob, "4: call me") == KLETSEN_MESSAGE_STATE_DELIVERED);
    g_assert_cmpint (state_of (with_bob, "transfer 100 EUR"), ==, KLETSEN_MESSAGE_STATE_DELIVERED);
    g_assert_cmpint (state_of (with_bob, "2: read it first"), ==, KLETSEN_MESSAGE_STATE_DELIVERED);
    g_assert_cmpint (state_of (with_bob, "1: here is"), ==, KLETSEN_MESSAGE_STATE_SENT);
    g_assert_cmpint (state_of (with_bob, "3: wait"), ==, KLETSEN_MESSAGE_STATE_SENT);
    g_assert_cmpuint (count_kind (with_bob, KLETSEN_MESSAGE_KIND_ERROR, ""), ==, 0);
  }

  for (guint i = 0; i < g_list_model_get_n_items (G_LIST_MODEL (with_alice)); i++)
    {
      g_autoptr(KletsenChatMessage) m = g_list_model_get_item (G_LIST_MODEL (with_alice), i);
      g_test_message ("bob sees: %s", kletsen_chat_message_get_text (m));
    }
  /* Each of alice's messages is shown once, as hers; the dropped one is not
   * there, and the held-back one arrived too late to be shown. */
  g_assert_cmpuint (count_kind (with_alice, text, "transfer 100 EUR"), ==, 1);
  g_assert_cmpuint (count_kind (with_alice, text, "2: read it first"), ==, 1);
  g_assert_cmpuint (count_kind (with_alice, text, "1: here is"), ==, 0);
  g_assert_cmpuint (count_kind (with_alice, text, "3: wait"), ==, 0);
  g_assert_cmpuint (count_kind (with_alice, text, ""), ==, 3);
  /* two replays and the late one; a gap before "2: …" and one before "4: …" */
  g_assert_cmpuint (count_kind (with_alice, error, "replayed"), ==, 3);
  g_assert_cmpuint (count_kind (with_alice, error, "1 message from alice is missing"), ==, 2);
  /* The copy handed over as carol's is nobody's message. */
  g_assert_nonnull (with_carol);
  g_assert_cmpuint (count_kind (with_carol, text, ""), ==, 0);
  g_assert_cmpuint (count_kind (with_carol, error, "could not be verified as carol’s"), ==, 1);

  /* alice leaves; mallory logs in as "alice" with a key of her own. */
  kletsen_session_disconnect (alice);
  RUN_UNTIL (!kletsen_session_is_online (bob, "alice"));
  mallory = login_real (server->port, "alice", mallory_dir);
  RUN_UNTIL (kletsen_session_is_online (bob, "alice"));
  {
    g_autoptr(GAsyncResult) sent = NULL;

    /* Her client pins bob's key and sends; bob's refuses to show it as alice's. */
    kletsen_session_send_secure_async (mallory, "bob", "It is me, alice. Send the money to mallory.",
                                       kt_store_result_cb, &sent);
    RUN_UNTIL (sent != NULL);
  }
  RUN_UNTIL (count_kind (with_alice, error, "a key you have not trusted") == 1);
  g_assert_cmpuint (count_kind (with_alice, text, "mallory"), ==, 0);
  pinned = kletsen_session_get_peer_fingerprint (bob, "alice");
  g_assert_cmpstr (pinned, ==, alice_fp);
  g_assert_true (kletsen_session_is_peer_blocked (bob, "alice"));

  kletsen_session_disconnect (mallory);
  kletsen_session_disconnect (bob);
  kt_remove_tree (alice_dir);
  kt_remove_tree (bob_dir);
  kt_remove_tree (mallory_dir);
}

int
main (int    argc,
      char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/e2e/vector", test_vector);
  g_test_add_func ("/e2e/server-as-adversary", test_server_as_adversary);
  g_test_add_func ("/e2e/receipt-forged", test_receipt_forged);
  g_test_add_func ("/e2e/key-request-flood", test_key_request_flood);
  g_test_add_func ("/e2e/replay-after-restart", test_replay_after_restart);
  g_test_add_func ("/e2e/reply-stays-encrypted", test_reply_stays_encrypted);
  g_test_add_func ("/e2e/cli-prefix-only-when-verified", test_cli_prefix_only_when_verified);
  g_test_add_func ("/e2e/hostile-proxy", test_hostile_proxy);
  return g_test_run ();
}
