/* test-transfer.c
 *
 * Copyright 2026 The Kletsen authors
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

/* Level 3 of protocol.md (§4): file-transfer negotiation and the relay side
 * channel, against the real kletsen-server over real sockets. */

#include "config.h"

#include <glib/gstdio.h>
#include <string.h>
#include <sys/socket.h>

#include "kletsen-test-util.h"

#define SHA_OF_NOTHING "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

static void
drain (KtClient   *client,
       const char *header,
       guint       n)
{
  kt_client_drain (client, header, n);
}

/* Sends an offer from @from to @to and returns the transferId @to sees. */
static char *
offer (KtClient   *from,
       KtClient   *to,
       const char *filename,
       gint64      size,
       const char *checksum)
{
  g_autoptr(JsonObject) msg = NULL;
  const char *id;

  kt_client_send (from, "FILE_TRANSFER_REQUEST {\"receiver\":\"%s\",\"filename\":\"%s\",\"size\":%" G_GINT64_FORMAT ",\"checksum\":\"%s\"}",
                  to->name, filename, size, checksum);
  msg = kt_client_expect (to, "FILE_TRANSFER_REQUEST");
  g_assert_cmpstr (json_object_get_string_member (msg, "sender"), ==, from->name);
  g_assert_cmpstr (json_object_get_string_member (msg, "filename"), ==, filename);
  g_assert_cmpint (json_object_get_int_member (msg, "size"), ==, size);
  g_assert_cmpstr (json_object_get_string_member (msg, "checksum"), ==, checksum);
  id = json_object_get_string_member (msg, "transferId");
  /* A random version-4 UUID. */
  g_assert_true (g_uuid_string_is_valid (id));
  g_assert_cmpint (id[14], ==, '4');
  return g_strdup (id);
}

/* Answers @id and checks what the uploader hears. */
static void
answer (KtClient   *downloader,
        KtClient   *uploader,
        const char *id,
        gboolean    accept)
{
  g_autoptr(JsonObject) msg = NULL;

  kt_client_send (downloader, "FILE_TRANSFER_RESPONSE {\"transferId\":\"%s\",\"status\":\"%s\"}",
                  id, accept ? "OK" : "REJECTED");
  msg = kt_client_expect (uploader, "FILE_TRANSFER_RESPONSE");
  g_assert_cmpstr (json_object_get_string_member (msg, "receiver"), ==, downloader->name);
  g_assert_cmpstr (json_object_get_string_member (msg, "transferId"), ==, id);
  if (accept)
    {
      g_assert_cmpstr (json_object_get_string_member (msg, "status"), ==, "OK");
    }
  else
    {
      g_assert_cmpstr (json_object_get_string_member (msg, "status"), ==, "ERROR");
      g_assert_cmpint (json_object_get_int_member (msg, "code"), ==, 10002);
    }
}

static void
expect_uploader_error (KtClient   *uploader,
                       const char *id,
                       int         code)
{
  g_autoptr(JsonObject) msg = kt_client_expect (uploader, "FILE_TRANSFER_RESPONSE");

  g_assert_cmpstr (json_object_get_string_member (msg, "status"), ==, "ERROR");
  g_assert_cmpint (json_object_get_int_member (msg, "code"), ==, code);
  g_assert_cmpstr (json_object_get_string_member (msg, "transferId"), ==, id);
}

/* The downloader hears that an offer it did not answer is gone (extension). */
static void
expect_offer_ended (KtClient   *downloader,
                    KtClient   *uploader,
                    const char *id,
                    int         code)
{
  g_autoptr(JsonObject) msg = kt_client_expect (downloader, "FILE_TRANSFER_ENDED");

  g_assert_cmpstr (json_object_get_string_member (msg, "transferId"), ==, id);
  g_assert_cmpstr (json_object_get_string_member (msg, "sender"), ==, uploader->name);
  g_assert_cmpint (json_object_get_int_member (msg, "code"), ==, code);
}

typedef struct
{
  const char *body;
  int         code; /* -1: PARSE_ERROR */
} OfferCase;

static void
test_offer_errors (void)
{
  g_autofree char *long_name = g_strnfill (256, 'n');
  g_autofree char *longest_name = g_strnfill (255, 'n');
  const OfferCase cases[] = {
    { "{\"receiver\":\"nobody\",\"filename\":\"a\",\"size\":1,\"checksum\":\"" SHA_OF_NOTHING "\"}", 6001 },
    { "{\"receiver\":\"ALICE\",\"filename\":\"a\",\"size\":1,\"checksum\":\"" SHA_OF_NOTHING "\"}", 6007 },
    { "{\"receiver\":\"bob\",\"filename\":\"a\",\"size\":1000001,\"checksum\":\"" SHA_OF_NOTHING "\"}", 10000 },
    { "{\"receiver\":\"bob\",\"filename\":\"a\",\"size\":-1,\"checksum\":\"" SHA_OF_NOTHING "\"}", 10000 },
    { "{\"receiver\":\"bob\",\"filename\":\"a\",\"size\":1,\"checksum\":\"abc\"}", 10001 },
    { "{\"receiver\":\"bob\",\"filename\":\"a\",\"size\":1,\"checksum\":\"" SHA_OF_NOTHING "0\"}", 10001 },
    { "{\"receiver\":\"bob\",\"filename\":\"a\",\"size\":1,\"checksum\":\"g3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\"}", 10001 },
    { "{\"receiver\":\"bob\",\"filename\":\"\",\"size\":1,\"checksum\":\"" SHA_OF_NOTHING "\"}", 10003 },
    { "{\"receiver\":\"bob\",\"filename\":\"../../x\",\"size\":1,\"checksum\":\"" SHA_OF_NOTHING "\"}", 10003 },
    { "{\"receiver\":\"bob\",\"filename\":\"a\\\\b\",\"size\":1,\"checksum\":\"" SHA_OF_NOTHING "\"}", 10003 },
    { "{\"receiver\":\"bob\",\"filename\":\"a\\nb\",\"size\":1,\"checksum\":\"" SHA_OF_NOTHING "\"}", 10003 },
    { "{\"receiver\":\"bob\",\"filename\":\"..\",\"size\":1,\"checksum\":\"" SHA_OF_NOTHING "\"}", 10003 },
    /* issue 20: names that look like other names (JSON escapes, so the
     * server decodes them). */
    { "{\"receiver\":\"bob\",\"filename\":\"invoice\\u202Etxt.exe\",\"size\":1,\"checksum\":\"" SHA_OF_NOTHING "\"}", 10003 },
    { "{\"receiver\":\"bob\",\"filename\":\"..\\u2215etc\\u2215passwd\",\"size\":1,\"checksum\":\"" SHA_OF_NOTHING "\"}", 10003 },
    { "{\"receiver\":\"bob\",\"filename\":\"report\\uFF0Fpdf\",\"size\":1,\"checksum\":\"" SHA_OF_NOTHING "\"}", 10003 },
    { "{\"receiver\":\"bob\",\"filename\":\"a\\u200Bb\",\"size\":1,\"checksum\":\"" SHA_OF_NOTHING "\"}", 10003 },
    { "{\"receiver\":\"bob\",\"filename\":\"notes.txt.\",\"size\":1,\"checksum\":\"" SHA_OF_NOTHING "\"}", 10003 },
    { "{\"receiver\":\"bob\",\"filename\":\"a\",\"size\":1.5,\"checksum\":\"" SHA_OF_NOTHING "\"}", -1 },
    { "{\"receiver\":\"bob\",\"filename\":\"a\",\"size\":\"1\",\"checksum\":\"" SHA_OF_NOTHING "\"}", -1 },
    { "{\"receiver\":\"bob\",\"filename\":\"a\",\"size\":true,\"checksum\":\"" SHA_OF_NOTHING "\"}", -1 },
    { "{\"receiver\":\"bob\",\"filename\":\"a\",\"size\":1,\"checksum\":7}", -1 },
    /* Without size and checksum (the original protocol's offer) the other
     * checks still hold; a checksum that is there must be one. */
    { "{\"receiver\":\"bob\",\"filename\":\"..\"}", 10003 },
    { "{\"receiver\":\"bob\",\"filename\":\"a\",\"checksum\":\"abc\"}", 10001 },
    { "{\"receiver\":\"bob\",\"filename\":\"a\",\"size\":-5}", 10000 },
  };
  g_autoptr(KtServer) server = kt_server_start ("--max-file-size", "1000000", "--max-offers", "2", NULL);
  g_autoptr(KtClient) a = kt_client_login (server, "alice");
  g_autoptr(KtClient) b = kt_client_login (server, "bob");
  g_autoptr(KtClient) anon = kt_client_connect (server);
  g_autofree char *id1 = NULL;
  g_autofree char *id2 = NULL;
  g_autofree char *id3 = NULL;

  drain (a, "JOINED", 1);
  drain (anon, "WELCOME", 1);

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      kt_client_send (a, "FILE_TRANSFER_REQUEST %s", cases[i].body);
      if (cases[i].code < 0)
        kt_client_expect_bare (a, "PARSE_ERROR");
      else
        kt_client_expect_status (a, "FILE_TRANSFER_RESPONSE", cases[i].code);
    }
  /* The longest name, the largest size, and an upper-case checksum pass. */
  kt_client_send (a, "FILE_TRANSFER_REQUEST {\"receiver\":\"bob\",\"filename\":\"%s\",\"size\":1000000,\"checksum\":\"%s\"}",
                  longest_name, "E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855");
  {
    g_autoptr(JsonObject) msg = kt_client_expect (b, "FILE_TRANSFER_REQUEST");

    g_assert_cmpstr (json_object_get_string_member (msg, "checksum"), ==, SHA_OF_NOTHING);
    id1 = g_strdup (json_object_get_string_member (msg, "transferId"));
  }
  kt_client_send (a, "FILE_TRANSFER_REQUEST {\"receiver\":\"bob\",\"filename\":\"%s\",\"size\":1,\"checksum\":\"%s\"}",
                  long_name, SHA_OF_NOTHING);
  kt_client_expect_status (a, "FILE_TRANSFER_RESPONSE", 10003);

  /* Two offers may wait at once; the third is refused until one is answered. */
  id2 = offer (a, b, "two.txt", 0, SHA_OF_NOTHING);
  g_assert_cmpstr (id1, !=, id2);
  kt_client_send (a, "FILE_TRANSFER_REQUEST {\"receiver\":\"bob\",\"filename\":\"c\",\"size\":1,\"checksum\":\"%s\"}", SHA_OF_NOTHING);
  kt_client_expect_status (a, "FILE_TRANSFER_RESPONSE", 10005);
  answer (b, a, id1, FALSE);
  id3 = offer (a, b, "three.txt", 0, SHA_OF_NOTHING);

  kt_client_send (anon, "FILE_TRANSFER_REQUEST {\"receiver\":\"bob\",\"filename\":\"a\",\"size\":1,\"checksum\":\"%s\"}", SHA_OF_NOTHING);
  kt_client_expect_status (anon, "FILE_TRANSFER_RESPONSE", 6000);
  kt_client_send (anon, "FILE_TRANSFER_RESPONSE {\"transferId\":\"%s\",\"status\":\"OK\"}", id3);
  kt_client_expect_status (anon, "FILE_TRANSFER_RESPONSE", 6000);
  kt_client_sync (b);
}

static void
test_answers (void)
{
  g_autoptr(KtServer) server = kt_server_start (NULL);
  g_autoptr(KtClient) a = kt_client_login (server, "alice");
  g_autoptr(KtClient) b = kt_client_login (server, "bob");
  g_autoptr(KtClient) c = kt_client_login (server, "carol");
  g_autofree char *id = NULL;
  g_autofree char *other = NULL;

  drain (a, "JOINED", 2);
  drain (b, "JOINED", 1);

  /* Accepted: the uploader learns the id; it cannot be answered twice. */
  id = offer (a, b, "report.pdf", 123456, SHA_OF_NOTHING);
  answer (b, a, id, TRUE);
  kt_client_send (b, "FILE_TRANSFER_RESPONSE {\"transferId\":\"%s\",\"status\":\"REJECTED\"}", id);
  kt_client_expect_status (b, "FILE_TRANSFER_RESPONSE", 10004);

  /* Rejected. */
  g_clear_pointer (&id, g_free);
  id = offer (a, b, "report.pdf", 123456, SHA_OF_NOTHING);
  answer (b, a, id, FALSE);
  kt_client_send (b, "FILE_TRANSFER_RESPONSE {\"transferId\":\"%s\",\"status\":\"OK\"}", id);
  kt_client_expect_status (b, "FILE_TRANSFER_RESPONSE", 10004);

  /* Not offered to carol, and ids nobody made. */
  other = offer (a, b, "x.bin", 1, SHA_OF_NOTHING);
  kt_client_send (c, "FILE_TRANSFER_RESPONSE {\"transferId\":\"%s\",\"status\":\"OK\"}", other);
  kt_client_expect_status (c, "FILE_TRANSFER_RESPONSE", 10004);
  kt_client_send (a, "FILE_TRANSFER_RESPONSE {\"transferId\":\"%s\",\"status\":\"OK\"}", other);
  kt_client_expect_status (a, "FILE_TRANSFER_RESPONSE", 10004);
  kt_client_send (b, "FILE_TRANSFER_RESPONSE {\"transferId\":\"00000000-0000-4000-8000-000000000000\",\"status\":\"OK\"}");
  kt_client_expect_status (b, "FILE_TRANSFER_RESPONSE", 10004);
  kt_client_send (b, "FILE_TRANSFER_RESPONSE {\"transferId\":\"\",\"status\":\"OK\"}");
  kt_client_expect_status (b, "FILE_TRANSFER_RESPONSE", 10004);
  kt_client_send (b, "FILE_TRANSFER_RESPONSE {\"status\":\"OK\"}");
  kt_client_expect_bare (b, "PARSE_ERROR");

  /* bob can still take the offer carol could not. */
  answer (b, a, other, TRUE);
}

/* Unanswered offers expire (with a shortened timer); an uploader hears 10004. */
static void
test_expiry (void)
{
  g_autoptr(KtServer) server = kt_server_start ("--offer-timeout-ms", "300", NULL);
  g_autoptr(KtClient) a = kt_client_login (server, "alice");
  g_autoptr(KtClient) b = kt_client_login (server, "bob");
  g_autofree char *id = NULL;

  drain (a, "JOINED", 1);
  id = offer (a, b, "late.txt", 10, SHA_OF_NOTHING);
  expect_uploader_error (a, id, 10004);
  expect_offer_ended (b, a, id, 10004);
  kt_client_send (b, "FILE_TRANSFER_RESPONSE {\"transferId\":\"%s\",\"status\":\"OK\"}", id);
  kt_client_expect_status (b, "FILE_TRANSFER_RESPONSE", 10004);

  /* Accepted but nobody connects to the side channel: it expires too. */
  g_clear_pointer (&id, g_free);
  id = offer (a, b, "late.txt", 10, SHA_OF_NOTHING);
  answer (b, a, id, TRUE);
  expect_uploader_error (a, id, 10004);
}

/* An offer ends when either side leaves. */
static void
test_offer_ends_when_a_side_leaves (void)
{
  g_autoptr(KtServer) server = kt_server_start (NULL);
  g_autoptr(KtClient) a = kt_client_login (server, "alice");
  KtClient *b = kt_client_login (server, "bob");
  g_autoptr(KtClient) c = NULL;
  g_autofree char *id = NULL;

  drain (a, "JOINED", 1);
  id = offer (a, b, "f", 1, SHA_OF_NOTHING);
  kt_client_free (b);
  /* The uploader hears the offer is gone, then the LEFT. */
  expect_uploader_error (a, id, 10004);
  drain (a, "LEFT", 1);

  c = kt_client_login (server, "carol");
  drain (a, "JOINED", 1);
  g_clear_pointer (&id, g_free);
  id = offer (c, a, "g", 1, SHA_OF_NOTHING);
  kt_client_send (c, "BYE");
  kt_client_expect_status (c, "BYE_RESP", 0);
  expect_offer_ended (a, c, id, 10006);
  drain (a, "LEFT", 1);
  kt_client_send (a, "FILE_TRANSFER_RESPONSE {\"transferId\":\"%s\",\"status\":\"OK\"}", id);
  kt_client_expect_status (a, "FILE_TRANSFER_RESPONSE", 10004);
}

/* The uploader takes back an offer before it is answered (extension): the
 * downloader hears it at once, and both sides see the same end. */
static void
test_withdraw (void)
{
  g_autoptr(KtServer) server = kt_server_start (NULL);
  g_autoptr(KtClient) a = kt_client_login (server, "alice");
  g_autoptr(KtClient) b = kt_client_login (server, "bob");
  g_autofree char *first = NULL;
  g_autofree char *second = NULL;

  drain (a, "JOINED", 1);
  first = offer (a, b, "same.txt", 1, SHA_OF_NOTHING);
  second = offer (a, b, "same.txt", 1, SHA_OF_NOTHING);

  /* Named as the server echoes it; the oldest such offer goes first. */
  kt_client_send (a, "FILE_TRANSFER_CANCEL {\"receiver\":\"BOB\",\"filename\":\"same.txt\",\"checksum\":\"%s\"}",
                  SHA_OF_NOTHING);
  expect_offer_ended (b, a, first, 10006);
  kt_client_send (b, "FILE_TRANSFER_RESPONSE {\"transferId\":\"%s\",\"status\":\"OK\"}", first);
  kt_client_expect_status (b, "FILE_TRANSFER_RESPONSE", 10004);

  /* No such offer: another name, another checksum, another receiver. */
  kt_client_send (a, "FILE_TRANSFER_CANCEL {\"receiver\":\"bob\",\"filename\":\"other.txt\"}");
  kt_client_expect_status (a, "FILE_TRANSFER_RESPONSE", 10004);
  kt_client_send (a, "FILE_TRANSFER_CANCEL {\"receiver\":\"bob\",\"filename\":\"same.txt\",\"checksum\":\"%064d\"}", 0);
  kt_client_expect_status (a, "FILE_TRANSFER_RESPONSE", 10004);
  kt_client_send (b, "FILE_TRANSFER_CANCEL {\"receiver\":\"alice\",\"filename\":\"same.txt\"}");
  kt_client_expect_status (b, "FILE_TRANSFER_RESPONSE", 10004);
  kt_client_send (a, "FILE_TRANSFER_CANCEL {\"receiver\":\"bob\"}");
  kt_client_expect_bare (a, "PARSE_ERROR");

  /* The second offer is still there, and without a checksum it goes too. */
  kt_client_send (a, "FILE_TRANSFER_CANCEL {\"receiver\":\"bob\",\"filename\":\"same.txt\"}");
  expect_offer_ended (b, a, second, 10006);
  kt_client_send (a, "FILE_TRANSFER_CANCEL {\"receiver\":\"bob\",\"filename\":\"same.txt\"}");
  kt_client_expect_status (a, "FILE_TRANSFER_RESPONSE", 10004);

  /* An answered offer cannot be withdrawn: the transfer is under way. */
  g_clear_pointer (&first, g_free);
  first = offer (a, b, "same.txt", 1, SHA_OF_NOTHING);
  answer (b, a, first, TRUE);
  kt_client_send (a, "FILE_TRANSFER_CANCEL {\"receiver\":\"bob\",\"filename\":\"same.txt\"}");
  kt_client_expect_status (a, "FILE_TRANSFER_RESPONSE", 10004);
}

/* ---- the relay ---- */

static guint8 *
random_bytes (gsize len,
              guint32 seed)
{
  g_autoptr(GRand) rand = g_rand_new_with_seed (seed);
  guint32 *words = g_malloc (len);

  for (gsize i = 0; i < len / 4; i++)
    words[i] = g_rand_int (rand);
  return (guint8 *)words;
}

static char *
sha256 (const guint8 *data,
        gsize         len)
{
  return g_compute_checksum_for_data (G_CHECKSUM_SHA256, data, len);
}

static KtClient *
side_connect (KtServer   *server,
              const char *id,
              char        role)
{
  KtClient *side = kt_client_connect_port (server->file_port);
  g_autofree char *header = g_strdup_printf ("%s%c", id, role);

  g_assert_cmpuint (strlen (header), ==, 37);
  kt_client_send_raw (side, header, 37);
  return side;
}

typedef struct
{
  gsize     bytes;
  char     *sha;
  gboolean  reset;
} Download;

/* Reads until EOF; @pause_us between reads makes a slow downloader, and
 * @server, when set, has its RSS sampled meanwhile. */
static void
download (KtClient *side,
          guint     pause_us,
          gsize     chunk,
          Download *result,
          KtServer *server,
          gint64   *max_rss_kib)
{
  g_autoptr(GChecksum) checksum = g_checksum_new (G_CHECKSUM_SHA256);
  g_autofree char *buf = g_malloc (chunk);
  guint reads = 0;

  result->bytes = 0;
  result->reset = FALSE;
  for (;;)
    {
      g_autoptr(GError) error = NULL;
      gssize n = g_socket_receive (side->socket, buf, chunk, NULL, &error);

      if (n < 0)
        {
          result->reset = TRUE;
          break;
        }
      if (n == 0)
        break;
      g_checksum_update (checksum, (guchar *)buf, n);
      result->bytes += n;
      if (pause_us)
        g_usleep (pause_us);
      if (server != NULL && ++reads % 16 == 0)
        *max_rss_kib = MAX (*max_rss_kib, kt_server_rss_kib (server));
    }
  result->sha = g_strdup (g_checksum_get_string (checksum));
}

typedef struct
{
  KtServer *server;
  KtClient *a;
  KtClient *b;
  guint8   *data;
  gsize     len;
  char     *sha;
  char     *id;
} Relay;

static void
relay_setup (Relay      *r,
             gsize       len,
             const char *option,
             const char *value)
{
  r->server = kt_server_start (option, value, NULL);
  r->a = kt_client_login (r->server, "alice");
  r->b = kt_client_login (r->server, "bob");
  drain (r->a, "JOINED", 1);
  r->len = len;
  r->data = random_bytes (len, 42);
  r->sha = sha256 (r->data, len);
  r->id = offer (r->a, r->b, "data.bin", len, r->sha);
  answer (r->b, r->a, r->id, TRUE);
}

static void
relay_teardown (Relay *r)
{
  kt_client_free (r->a);
  kt_client_free (r->b);
  kt_server_free (r->server);
  g_free (r->data);
  g_free (r->sha);
  g_free (r->id);
}

/* 64 MiB of random bytes arrive unchanged: the downloader's SHA-256 matches. */
static void
test_relay_64mib (void)
{
  Relay r;
  g_autoptr(KtClient) up = NULL;
  g_autoptr(KtClient) down = NULL;
  KtUpload upload;
  Download result;
  GThread *thread;

  relay_setup (&r, 64 * 1024 * 1024, NULL, NULL);
  up = side_connect (r.server, r.id, 'S');
  down = side_connect (r.server, r.id, 'R');
  upload = (KtUpload) { up, r.data, r.len };
  thread = g_thread_new ("upload", kt_upload_thread, &upload);
  download (down, 0, 256 * 1024, &result, NULL, NULL);
  g_assert_true (g_thread_join (thread));

  g_assert_false (result.reset);
  g_assert_cmpuint (result.bytes, ==, r.len);
  g_assert_cmpstr (result.sha, ==, r.sha);
  g_free (result.sha);

  /* The chat goes on meanwhile and after. */
  kt_client_sync (r.a);
  relay_teardown (&r);
}

/* The downloader may come first; the uploader may send its data right
 * behind the header, in the same segment. */
static void
test_relay_downloader_first (void)
{
  Relay r;
  g_autoptr(KtClient) up = NULL;
  g_autoptr(KtClient) down = NULL;
  g_autoptr(GByteArray) all = g_byte_array_new ();
  g_autofree char *header = NULL;
  Download result;

  relay_setup (&r, 100000, NULL, NULL);
  down = side_connect (r.server, r.id, 'R');
  kt_client_sync (r.b); /* the downloader's header has had time to arrive */
  up = kt_client_connect_port (r.server->file_port);
  header = g_strdup_printf ("%sS", r.id);
  g_byte_array_append (all, (guint8 *)header, 37);
  g_byte_array_append (all, r.data, r.len);
  kt_client_send_raw (up, all->data, all->len);
  g_socket_shutdown (up->socket, FALSE, TRUE, NULL);

  download (down, 0, 65536, &result, NULL, NULL);
  g_assert_cmpuint (result.bytes, ==, r.len);
  g_assert_cmpstr (result.sha, ==, r.sha);
  g_free (result.sha);
  /* The uploader's side is closed too. */
  kt_client_expect_eof (up);
  relay_teardown (&r);
}

/* A downloader that reads slowly throttles the uploader; the server's memory
 * stays flat instead of buffering the file. The pauses between reads are what
 * makes this downloader slow, not a wait for something to happen. */
static void
test_relay_slow_downloader (void)
{
  Relay r;
  g_autoptr(KtClient) up = NULL;
  g_autoptr(KtClient) down = NULL;
  KtUpload upload;
  Download result;
  GThread *thread;
  gint64 rss_before, rss_max = 0;
  int small = 16384;

  relay_setup (&r, 24 * 1024 * 1024, NULL, NULL);
  rss_before = kt_server_rss_kib (r.server);

  up = side_connect (r.server, r.id, 'S');
  down = kt_client_connect_port (r.server->file_port);
  setsockopt (g_socket_get_fd (down->socket), SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
  {
    g_autofree char *header = g_strdup_printf ("%sR", r.id);

    kt_client_send_raw (down, header, 37);
  }
  upload = (KtUpload) { up, r.data, r.len };
  thread = g_thread_new ("upload", kt_upload_thread, &upload);
  download (down, 1000, 16384, &result, r.server, &rss_max);
  g_assert_true (g_thread_join (thread));

  g_assert_cmpuint (result.bytes, ==, r.len);
  g_assert_cmpstr (result.sha, ==, r.sha);
  g_free (result.sha);
  g_test_message ("server RSS %" G_GINT64_FORMAT " KiB before, at most %" G_GINT64_FORMAT " KiB while relaying 24 MiB",
                  rss_before, rss_max);
  g_assert_cmpint (rss_max - rss_before, <, 4 * 1024);
  relay_teardown (&r);
}

static void
expect_closed (KtClient *side)
{
  char byte;
  g_autoptr(GError) error = NULL;
  gssize n = g_socket_receive (side->socket, &byte, 1, NULL, &error);

  /* EOF, or a reset: either way nothing was sent and the socket is gone. */
  g_assert_false (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT));
  g_assert_cmpint (n, <=, 0);
}

/* Side-channel connections that are wrong in any way are closed at once, and
 * a transfer in progress does not notice. */
/* A side-channel connection from @source (an address of the loopback net). */
static KtClient *
side_connect_from (KtServer   *server,
                   const char *source,
                   const char *header,
                   gsize       len)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GInetAddress) from = g_inet_address_new_from_string (source);
  g_autoptr(GSocketAddress) local = g_inet_socket_address_new (from, 0);
  g_autoptr(GInetAddress) to_address = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autoptr(GSocketAddress) to = g_inet_socket_address_new (to_address, server->file_port);
  KtClient *side = g_new0 (KtClient, 1);

  side->socket = g_socket_new (G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP, &error);
  g_assert_no_error (error);
  g_assert_true (g_socket_bind (side->socket, local, FALSE, &error));
  g_assert_true (g_socket_connect (side->socket, to, NULL, &error));
  g_assert_no_error (error);
  g_socket_set_timeout (side->socket, 10);
  side->buffer = g_string_new (NULL);
  kt_client_send_raw (side, header, len);
  return side;
}

#define SECRET_A "0123456789abcdef0123456789abcdef"
#define SECRET_B "fedcba9876543210fedcba9876543210"

/* issue 20: a transferId alone no longer takes a role. With role secrets
 * (extension) a third user who knows the id cannot take the download, the
 * downloader cannot pose as the uploader, and a wrong secret is closed;
 * the real sides, with theirs, still get the file. Without secrets a role is
 * bound to its user's chat address. Logs never show an id. */
static void
test_role_secrets (void)
{
  g_autofree char *log_dir = g_dir_make_tmp ("kletsen-role-secrets-XXXXXX", NULL);
  g_autofree char *log_path = g_build_filename (log_dir, "server.log", NULL);
  g_autoptr(KtServer) server = NULL;
  g_autoptr(KtClient) a = NULL;
  g_autoptr(KtClient) b = NULL;
  g_autoptr(JsonObject) offered = NULL;
  g_autoptr(JsonObject) outcome = NULL;
  g_autofree char *id = NULL;
  g_autofree char *log = NULL;
  static const char data[] = "the real file";
  g_autofree char *sha = g_compute_checksum_for_string (G_CHECKSUM_SHA256, data, -1);

  g_setenv ("KLETSEN_TEST_SERVER_STDERR", log_path, TRUE);
  server = kt_server_start ("--verbose", NULL);
  g_unsetenv ("KLETSEN_TEST_SERVER_STDERR");
  a = kt_client_login (server, "alice");
  b = kt_client_login (server, "bob");
  drain (a, "JOINED", 1);

  /* Malformed secrets are refused. */
  kt_client_send (a, "FILE_TRANSFER_REQUEST {\"receiver\":\"bob\",\"filename\":\"x\",\"roleSecret\":\"short\"}");
  kt_client_expect_bare (a, "PARSE_ERROR");

  kt_client_send (a, "FILE_TRANSFER_REQUEST {\"receiver\":\"bob\",\"filename\":\"f.txt\",\"size\":%zu,"
                     "\"checksum\":\"%s\",\"roleSecret\":\"" SECRET_A "\"}", strlen (data), sha);
  offered = kt_client_expect (b, "FILE_TRANSFER_REQUEST");
  /* The server says it checks secrets. */
  g_assert_cmpstr (json_object_get_string_member (offered, "roleSecret"), ==, "required");
  id = g_strdup (json_object_get_string_member (offered, "transferId"));
  kt_client_send (b, "FILE_TRANSFER_RESPONSE {\"transferId\":\"%s\",\"status\":\"OK\",\"roleSecret\":\"" SECRET_B "\"}", id);
  outcome = kt_client_expect (a, "FILE_TRANSFER_RESPONSE");
  g_assert_cmpstr (json_object_get_string_member (outcome, "status"), ==, "OK");
  g_assert_cmpstr (json_object_get_string_member (outcome, "roleSecret"), ==, "required");
  /* The other side's secret is never sent to anyone. */
  g_assert_false (json_object_has_member (offered, "secret"));

  {
    g_autofree char *down_bare = g_strdup_printf ("%sR", id);
    g_autofree char *up_bare = g_strdup_printf ("%sS", id);
    g_autofree char *up_wrong = g_strdup_printf ("%sS" SECRET_B, id);
    g_autofree char *down_right = g_strdup_printf ("%sR" SECRET_B, id);
    g_autofree char *up_right = g_strdup_printf ("%sS" SECRET_A, id);
    g_autoptr(KtClient) thief = side_connect_from (server, "127.0.0.1", down_bare, 37);
    g_autoptr(KtClient) poser = side_connect_from (server, "127.0.0.1", up_bare, 37);
    g_autoptr(KtClient) guesser = side_connect_from (server, "127.0.0.1", up_wrong, 69);
    g_autoptr(KtClient) down = NULL;
    g_autoptr(KtClient) up = NULL;
    Download result;

    /* The id alone, without the secret: 32 more bytes are waited for, then
     * the connection is closed; a wrong secret at once. */
    g_socket_shutdown (thief->socket, FALSE, TRUE, NULL);
    g_socket_shutdown (poser->socket, FALSE, TRUE, NULL);
    expect_closed (thief);
    expect_closed (poser);
    expect_closed (guesser);
    /* The real sides, with their secrets. */
    down = side_connect_from (server, "127.0.0.1", down_right, 69);
    up = side_connect_from (server, "127.0.0.1", up_right, 69);
    kt_client_send_raw (up, data, strlen (data));
    g_socket_shutdown (up->socket, FALSE, TRUE, NULL);
    download (down, 0, 4096, &result, NULL, NULL);
    g_assert_false (result.reset);
    g_assert_cmpuint (result.bytes, ==, strlen (data));
    g_assert_cmpstr (result.sha, ==, sha);
    g_free (result.sha);
  }

  /* Without secrets (the original protocol): bound to the chat address. */
  {
    g_autofree char *plain = offer (a, b, "g.txt", 1, SHA_OF_NOTHING);
    g_autofree char *header = g_strdup_printf ("%sR", plain);
    g_autoptr(KtClient) other = NULL;
    g_autoptr(KtClient) same = NULL;

    answer (b, a, plain, TRUE);
    other = side_connect_from (server, "127.0.0.2", header, 37);
    expect_closed (other);
    same = side_connect_from (server, "127.0.0.1", header, 37);
    /* Taken: a second downloader from the right address is refused. */
    {
      g_autoptr(KtClient) second = side_connect_from (server, "127.0.0.1", header, 37);

      expect_closed (second);
    }
  }

  g_assert_cmpint (kt_server_stop (server), ==, 0);
  g_clear_pointer (&server, kt_server_free);
  g_assert_true (g_file_get_contents (log_path, &log, NULL, NULL));
  /* The log names transfers by a short hash, never by their id. */
  g_assert_null (strstr (log, id));
  {
    g_autofree char *digest = g_compute_checksum_for_string (G_CHECKSUM_SHA256, id, -1);

    digest[8] = '\0';
    g_assert_nonnull (strstr (log, digest));
  }
  g_assert_nonnull (strstr (log, "wrong role secret"));
  g_assert_nonnull (strstr (log, "not from its user's address"));
  g_remove (log_path);
  g_rmdir (log_dir);
}

static void
test_relay_bad_peers (void)
{
  Relay r;
  g_autoptr(KtClient) up = NULL;
  g_autoptr(KtClient) down = NULL;
  g_autofree char *unaccepted = NULL;
  char zeros[37] = { 0 };
  const char *garbage[] = {
    "00000000-0000-4000-8000-000000000000S", /* unknown id */
    "not a transfer id at all, just junk!S",
    "zzzzzzzz-zzzz-zzzz-zzzz-zzzzzzzzzzzzR",
  };
  KtUpload upload;
  Download result;
  GThread *thread;

  relay_setup (&r, 8 * 1024 * 1024, "--header-timeout-ms", "300");
  unaccepted = offer (r.a, r.b, "pending.bin", 10, SHA_OF_NOTHING);

  /* A transfer in progress: the downloader does not read yet, so the relay
   * is stalled with its window full. */
  up = side_connect (r.server, r.id, 'S');
  down = side_connect (r.server, r.id, 'R');
  upload = (KtUpload) { up, r.data, r.len };
  thread = g_thread_new ("upload", kt_upload_thread, &upload);

  /* A third and fourth connection for roles already taken. */
  {
    g_autoptr(KtClient) third = side_connect (r.server, r.id, 'S');
    g_autoptr(KtClient) fourth = side_connect (r.server, r.id, 'R');

    expect_closed (third);
    expect_closed (fourth);
  }
  /* A wrong role, an id that was offered but not accepted, garbage. */
  {
    g_autoptr(KtClient) wrong = side_connect (r.server, r.id, 'X');
    g_autoptr(KtClient) pending = side_connect (r.server, unaccepted, 'S');
    g_autoptr(KtClient) nul = kt_client_connect_port (r.server->file_port);

    expect_closed (wrong);
    expect_closed (pending);
    kt_client_send_raw (nul, zeros, sizeof zeros);
    expect_closed (nul);
  }
  for (guint i = 0; i < G_N_ELEMENTS (garbage); i++)
    {
      g_autoptr(KtClient) junk = kt_client_connect_port (r.server->file_port);

      g_assert_cmpuint (strlen (garbage[i]), ==, 37);
      kt_client_send_raw (junk, garbage[i], 37);
      expect_closed (junk);
    }
  /* Half a header, then nothing: closed when the (shortened) time is up. */
  {
    g_autoptr(KtClient) late = kt_client_connect_port (r.server->file_port);

    kt_client_send_raw (late, r.id, 10);
    expect_closed (late);
  }

  /* The real transfer completes unharmed. */
  download (down, 0, 65536, &result, NULL, NULL);
  g_assert_true (g_thread_join (thread));
  g_assert_cmpuint (result.bytes, ==, r.len);
  g_assert_cmpstr (result.sha, ==, r.sha);
  g_free (result.sha);
  relay_teardown (&r);
}

/* When the downloader drops mid-transfer, the uploader is closed too. */
static void
test_relay_downloader_drops (void)
{
  Relay r;
  g_autoptr(KtClient) up = NULL;
  KtClient *down;
  KtUpload upload;
  GThread *thread;
  char buf[4096];

  relay_setup (&r, 32 * 1024 * 1024, NULL, NULL);
  up = side_connect (r.server, r.id, 'S');
  down = side_connect (r.server, r.id, 'R');
  upload = (KtUpload) { up, r.data, r.len };
  thread = g_thread_new ("upload", kt_upload_thread, &upload);
  g_assert_cmpint (g_socket_receive (down->socket, buf, sizeof buf, NULL, NULL), >, 0);
  kt_client_free (down);

  /* The uploader's sending fails: the server closed its side. */
  g_assert_false (g_thread_join (thread));
  relay_teardown (&r);
}

/* ---- what one user can make the server hold ---- */

/* A relay whose halves are connected but move nothing ends after
 * --relay-idle-timeout-ms: each held four descriptors for ever. */
static void
test_idle_relay (void)
{
  Relay r;
  g_autoptr(KtClient) up = NULL;
  g_autoptr(KtClient) down = NULL;

  relay_setup (&r, 1024, "--relay-idle-timeout-ms", "300");
  up = side_connect (r.server, r.id, 'S');
  down = side_connect (r.server, r.id, 'R');
  expect_closed (down);
  expect_closed (up);
  relay_teardown (&r);
}

/* Accepted, unfinished transfers are capped per user: the accept past the
 * cap is refused with 10005 on both sides. */
static void
test_max_transfers (void)
{
  g_autoptr(KtServer) server = kt_server_start ("--max-transfers", "2", NULL);
  g_autoptr(KtClient) a = kt_client_login (server, "alice");
  g_autoptr(KtClient) b = kt_client_login (server, "bob");
  g_autofree char *first = NULL, *second = NULL, *third = NULL;

  drain (a, "JOINED", 1);
  first = offer (a, b, "one.bin", 10, SHA_OF_NOTHING);
  second = offer (a, b, "two.bin", 10, SHA_OF_NOTHING);
  third = offer (a, b, "three.bin", 10, SHA_OF_NOTHING);
  answer (b, a, first, TRUE);
  answer (b, a, second, TRUE);
  kt_client_send (b, "FILE_TRANSFER_RESPONSE {\"transferId\":\"%s\",\"status\":\"OK\"}", third);
  kt_client_expect_status (b, "FILE_TRANSFER_RESPONSE", 10005);
  expect_uploader_error (a, third, 10005);
}

/* The file ports cap the sockets of one address, and the ones still owing
 * their header in all: the next is closed at once. */
static void
test_side_channel_caps (void)
{
  const char *caps[][4] = {
    { "--max-file-connections-per-address", "3", "--max-side-channels", "100" },
    { "--max-side-channels", "3", "--max-file-connections-per-address", "0" },
  };

  for (guint i = 0; i < G_N_ELEMENTS (caps); i++)
    {
      g_autoptr(KtServer) server = kt_server_start (caps[i][0], caps[i][1], caps[i][2], caps[i][3], NULL);
      g_autoptr(GPtrArray) held = g_ptr_array_new_with_free_func ((GDestroyNotify)kt_client_free);
      g_autoptr(KtClient) refused = NULL;
      g_autoptr(KtClient) again = NULL;

      g_test_message ("%s %s", caps[i][0], caps[i][1]);
      for (guint j = 0; j < 3; j++)
        g_ptr_array_add (held, kt_client_connect_port (server->file_port));
      /* Each is accepted in turn: the last one's header is refused as
       * unknown, which shows the server has them all. */
      kt_client_send_raw (g_ptr_array_index (held, 2), "00000000-0000-4000-8000-000000000000S", 37);
      expect_closed (g_ptr_array_index (held, 2));
      g_ptr_array_remove_index (held, 2);
      g_ptr_array_add (held, kt_client_connect_port (server->file_port));
      refused = kt_client_connect_port (server->file_port);
      expect_closed (refused);
      /* One closed by the server, and there is room again. */
      kt_client_send_raw (g_ptr_array_index (held, 0), "00000000-0000-4000-8000-000000000000S", 37);
      expect_closed (g_ptr_array_index (held, 0));
      g_ptr_array_remove_index (held, 0);
      again = kt_client_connect_port (server->file_port);
      kt_client_send_raw (again, "00000000-0000-4000-8000-000000000000S", 37);
      expect_closed (again);
    }
}

int
main (int    argc,
      char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/transfer/offer-errors", test_offer_errors);
  g_test_add_func ("/transfer/answers", test_answers);
  g_test_add_func ("/transfer/expiry", test_expiry);
  g_test_add_func ("/transfer/offer-ends-when-a-side-leaves", test_offer_ends_when_a_side_leaves);
  g_test_add_func ("/transfer/withdraw", test_withdraw);
  g_test_add_func ("/transfer/idle-relay", test_idle_relay);
  g_test_add_func ("/transfer/max-transfers", test_max_transfers);
  g_test_add_func ("/transfer/side-channel-caps", test_side_channel_caps);
  g_test_add_func ("/transfer/relay/64mib", test_relay_64mib);
  g_test_add_func ("/transfer/relay/downloader-first", test_relay_downloader_first);
  g_test_add_func ("/transfer/relay/slow-downloader", test_relay_slow_downloader);
  g_test_add_func ("/transfer/relay/bad-peers", test_relay_bad_peers);
  g_test_add_func ("/transfer/role-secrets", test_role_secrets);
  g_test_add_func ("/transfer/relay/downloader-drops", test_relay_downloader_drops);

  return g_test_run ();
}
