/* kletsen-transfer.c
 *
 * Copyright 2026 The Kletsen authors
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

/* File-transfer negotiation on the chat connection (protocol.md §4): offers,
 * answers, expiry. The bytes themselves go through kletsen-relay.c. */

#include "config.h"

#include <string.h>

#include "kletsen-server-private.h"

/* Accepted and unfinished transfers are counted per user (by name, so a
 * reconnect does not reset it) and in all: each may hold four descriptors. */
static void
count_user (KletsenServer *server,
            const char    *name,
            int            delta)
{
  g_autofree char *key = kletsen_user_name_key (name);
  int n = GPOINTER_TO_INT (g_hash_table_lookup (server->transfers_by_user, key)) + delta;

  if (n > 0)
    g_hash_table_insert (server->transfers_by_user, g_steal_pointer (&key), GINT_TO_POINTER (n));
  else
    g_hash_table_remove (server->transfers_by_user, key);
}

static int
user_transfers (KletsenServer *server,
                const char    *name)
{
  g_autofree char *key = kletsen_user_name_key (name);

  return GPOINTER_TO_INT (g_hash_table_lookup (server->transfers_by_user, key));
}

static void
count_transfer (KletsenTransfer *transfer,
                int              delta)
{
  count_user (transfer->server, transfer->uploader_name, delta);
  count_user (transfer->server, transfer->downloader_name, delta);
  transfer->server->n_relays += delta;
  transfer->counted = delta > 0;
}

void
_kletsen_transfer_free (KletsenTransfer *transfer)
{
  _kletsen_file_clock_cancel (transfer->server, KLETSEN_FILE_DUE_TRANSFER, &transfer->expiry);
  if (transfer->counted)
    count_transfer (transfer, -1);
  g_clear_pointer (&transfer->relay, _kletsen_relay_free);
  g_free (transfer->id);
  g_free (transfer->up_secret);
  g_free (transfer->down_secret);
  g_free (transfer->up_address);
  g_free (transfer->down_address);
  g_free (transfer->uploader_name);
  g_free (transfer->downloader_name);
  g_free (transfer->filename);
  g_free (transfer->checksum);
  g_free (transfer->forward_to);
  g_free (transfer);
}

/* Sends the uploader the outcome of its offer. The filename, size and checksum
 * are echoed (extension) so that a client with several offers to one person
 * can tell which one was answered. */
static void
tell_uploader (KletsenTransfer *transfer,
               int              code)
{
  g_autoptr(JsonObject) body = NULL;
  g_autoptr(GBytes) line = NULL;

  if (transfer->uploader == NULL)
    return;

  body = json_object_new ();
  json_object_set_string_member (body, "receiver", transfer->downloader_name);
  json_object_set_string_member (body, "status", code == 0 ? "OK" : "ERROR");
  if (code != 0)
    json_object_set_int_member (body, "code", code);
  json_object_set_string_member (body, "transferId", transfer->id);
  json_object_set_string_member (body, "filename", transfer->filename);
  if (transfer->size >= 0)
    json_object_set_int_member (body, "size", transfer->size);
  if (transfer->checksum != NULL)
    json_object_set_string_member (body, "checksum", transfer->checksum);
  /* Its secret is checked on the side channel (extension). */
  if (code == 0 && transfer->up_secret != NULL)
    json_object_set_string_member (body, "roleSecret", "required");
  line = kletsen_message_serialize ("FILE_TRANSFER_RESPONSE", body);
  _kletsen_connection_send (transfer->uploader, line);
}

/* Tells the downloader that an offer it has not answered is gone (extension),
 * so that its client can withdraw it instead of asking about a dead one. */
static void
tell_downloader (KletsenTransfer *transfer,
                 int              code)
{
  g_autoptr(JsonObject) body = NULL;
  g_autoptr(GBytes) line = NULL;

  if ((transfer->downloader == NULL && transfer->downloader_inc == NULL) || transfer->state != TRANSFER_OFFERED)
    return;

  body = json_object_new ();
  json_object_set_string_member (body, "transferId", transfer->id);
  json_object_set_string_member (body, "sender", transfer->uploader_name);
  json_object_set_int_member (body, "code", code);
  line = kletsen_message_serialize ("FILE_TRANSFER_ENDED", body);
  if (transfer->downloader != NULL)
    _kletsen_connection_send (transfer->downloader, line);
  else if (transfer->server->cluster != NULL)
    _kletsen_cluster_send_line (transfer->server->cluster, transfer->downloader_inc, transfer->downloader_name, line);
}

/**
 * _kletsen_server_end_transfer:
 *
 * Forgets @transfer and frees it, with its relay if any.
 */
void
_kletsen_server_end_transfer (KletsenServer   *self,
                              KletsenTransfer *transfer)
{
  if (transfer->state == TRANSFER_OFFERED && transfer->uploader != NULL)
    transfer->uploader->n_offers--;
  g_hash_table_remove (self->transfers, transfer->id);
}

/* The file clock: unanswered, or accepted and not connected, in time. */
void
_kletsen_transfer_expired (KletsenTransfer *transfer)
{
  g_info ("transfer %s from %s to %s expired %s", transfer->tag, transfer->uploader_name,
          transfer->downloader_name,
          transfer->state == TRANSFER_OFFERED ? "unanswered" : "before both sides connected");
  tell_uploader (transfer, KLETSEN_CODE_UNKNOWN_TRANSFER);
  tell_downloader (transfer, KLETSEN_CODE_UNKNOWN_TRANSFER);
  _kletsen_server_end_transfer (transfer->server, transfer);
}

static void
arm_expiry (KletsenServer   *self,
            KletsenTransfer *transfer)
{
  _kletsen_file_clock_set (self, KLETSEN_FILE_DUE_TRANSFER, &transfer->expiry, self->options.offer_timeout_ms);
}

/* A filename is one path component that is safe to show: not empty, at most
 * 255 bytes, no separators, NUL or control characters, and nothing that
 * makes it look like another name: no format characters (U+202E turns
 * "invoice\u202Etxt.exe" into "invoiceexe.txt"), no slash lookalikes, no
 * trailing dot or space (10003, extension). */
static gboolean
filename_is_valid (const char *name)
{
  gsize len = strlen (name);

  if (len == 0 || len > 255 || g_str_equal (name, ".") || g_str_equal (name, ".."))
    return FALSE;
  for (const char *p = name; *p; p = g_utf8_next_char (p))
    {
      gunichar c = g_utf8_get_char (p);

      if (c == '/' || c == '\\' || g_unichar_iscntrl (c) || kletsen_unichar_is_invisible (c) ||
          kletsen_unichar_is_slash_lookalike (c))
        return FALSE;
    }
  return name[len - 1] != '.' && name[len - 1] != ' ';
}

/* Exactly @len hex digits; lower case only with @lower_only. */
static gboolean
is_hex (const char *text,
        gsize       len,
        gboolean    lower_only)
{
  if (text == NULL || strlen (text) != len)
    return FALSE;
  for (const char *p = text; *p != '\0'; p++)
    if (!g_ascii_isxdigit (*p) || (lower_only && g_ascii_isupper (*p)))
      return FALSE;
  return TRUE;
}

static gboolean
checksum_is_valid (const char *checksum)
{
  return is_hex (checksum, 64, FALSE);
}

/* A roleSecret (extension): 32 lowercase hex digits the client chose. */
static gboolean
role_secret_is_valid (const char *secret)
{
  return is_hex (secret, KLETSEN_ROLE_SECRET_LEN, TRUE);
}

static void
send_parse_error (KletsenConnection *conn)
{
  g_autoptr(GBytes) line = kletsen_message_serialize ("PARSE_ERROR", NULL);

  _kletsen_connection_send (conn, line);
}

static void
handle_offer (KletsenConnection *conn,
              JsonObject        *body)
{
  KletsenServer *server = conn->server;
  const char *receiver = json_object_get_string_member (body, "receiver");
  const char *filename = json_object_get_string_member (body, "filename");
  /* The original protocol's offer has neither: then they are not known, and
   * not forwarded (accepted for compatibility). */
  const char *checksum = kletsen_body_get_string (body, "checksum");
  gint64 size = kletsen_body_get_int_or (body, "size", -1);
  gboolean size_known = kletsen_body_get_int (body, "size", &size);
  KletsenConnection *peer = _kletsen_server_find_user (server, receiver);
  /* In a cluster the receiver may be a user of another node. */
  const char *remote_shown = NULL;
  const char *remote = peer == NULL && server->cluster != NULL && _kletsen_cluster_is_routing (server->cluster)
                         ? _kletsen_cluster_find_remote (server->cluster, receiver, &remote_shown) : NULL;
  KletsenTransfer *transfer;
  g_autoptr(JsonObject) out = NULL;
  g_autoptr(GBytes) line = NULL;
  const char *secret = kletsen_body_get_string (body, "roleSecret");
  int code = 0;

  if (json_object_has_member (body, "roleSecret") && !role_secret_is_valid (secret))
    {
      send_parse_error (conn);
      return;
    }
  if (peer == conn)
    code = KLETSEN_CODE_MESSAGE_TO_SELF;
  else if (remote == NULL && (peer == NULL || !_kletsen_connection_is_open (peer)))
    code = KLETSEN_CODE_RECIPIENT_NOT_FOUND;
  else if (!filename_is_valid (filename))
    code = KLETSEN_CODE_BAD_FILENAME;
  else if (size_known && (size < 0 || size > server->options.max_file_size))
    code = KLETSEN_CODE_FILE_TOO_LARGE;
  else if (checksum != NULL && !checksum_is_valid (checksum))
    code = KLETSEN_CODE_BAD_CHECKSUM;
  else if (conn->n_offers >= (guint)server->options.max_offers)
    code = KLETSEN_CODE_TOO_MANY_OFFERS;

  if (code != 0)
    {
      _kletsen_connection_send_status (conn, "FILE_TRANSFER_RESPONSE", code);
      return;
    }

  transfer = g_new0 (KletsenTransfer, 1);
  transfer->server = server;
  transfer->expiry.link.data = transfer;
  transfer->id = g_uuid_string_random ();
  {
    g_autofree char *digest = g_compute_checksum_for_string (G_CHECKSUM_SHA256, transfer->id, -1);

    memcpy (transfer->tag, digest, sizeof transfer->tag - 1);
  }
  transfer->up_secret = g_strdup (secret);
  transfer->uploader = conn;
  transfer->downloader = peer;
  transfer->downloader_inc = remote;
  transfer->uploader_name = g_strdup (conn->name);
  transfer->downloader_name = g_strdup (peer != NULL ? peer->name : remote_shown);
  transfer->filename = g_strdup (filename);
  transfer->checksum = checksum ? g_ascii_strdown (checksum, -1) : NULL;
  transfer->size = size_known ? size : -1;
  transfer->state = TRANSFER_OFFERED;
  transfer->serial = ++server->transfer_serial;
  g_hash_table_insert (server->transfers, transfer->id, transfer);
  conn->n_offers++;
  arm_expiry (server, transfer);

  out = json_object_new ();
  json_object_set_string_member (out, "sender", conn->name);
  json_object_set_string_member (out, "filename", filename);
  if (transfer->size >= 0)
    json_object_set_int_member (out, "size", transfer->size);
  if (transfer->checksum != NULL)
    json_object_set_string_member (out, "checksum", transfer->checksum);
  json_object_set_string_member (out, "transferId", transfer->id);
  /* This server checks a secret the downloader chooses, if it sends one
   * with its answer (extension). */
  json_object_set_string_member (out, "roleSecret", "required");
  line = kletsen_message_serialize ("FILE_TRANSFER_REQUEST", out);

  conn_log (conn, G_LOG_LEVEL_INFO, "offers %s (%" G_GINT64_FORMAT " bytes) to %s as %s",
            filename, size, transfer->downloader_name, transfer->tag);
  if (peer != NULL)
    _kletsen_connection_send (peer, line);
  else
    _kletsen_cluster_send_offer (server->cluster, remote, transfer->downloader_name, line);
}

/* Who answers an offer: the local downloader, or one on another node. */
typedef struct
{
  KletsenConnection *conn;
  const char        *inc;
  const char        *name;
  const char        *address; /* its chat address, for binding a role without secret */
} Answerer;

static void
tell_answerer (KletsenServer  *server,
               const Answerer *who,
               int             code)
{
  g_autoptr(GBytes) line = NULL;

  if (who->conn != NULL)
    {
      _kletsen_connection_send_status (who->conn, "FILE_TRANSFER_RESPONSE", code);
      return;
    }
  line = kletsen_message_build_status ("FILE_TRANSFER_RESPONSE", code);
  _kletsen_cluster_send_line (server->cluster, who->inc, who->name, line);
}

static gboolean
answered_by (KletsenTransfer *transfer,
             const Answerer  *who)
{
  g_autofree char *a = NULL;
  g_autofree char *b = NULL;

  if (who->conn != NULL)
    return transfer->downloader == who->conn;
  if (transfer->downloader != NULL || transfer->downloader_inc != who->inc)
    return FALSE;
  a = kletsen_user_name_key (transfer->downloader_name);
  b = kletsen_user_name_key (who->name);
  return g_str_equal (a, b);
}

static void
answer_offer (KletsenServer  *server,
              const Answerer *who,
              JsonObject     *body)
{
  const char *id = json_object_get_string_member (body, "transferId");
  const char *status = json_object_get_string_member (body, "status");
  const char *secret = kletsen_body_get_string (body, "roleSecret");
  KletsenTransfer *transfer = g_hash_table_lookup (server->transfers, id);

  if (json_object_has_member (body, "roleSecret") && !role_secret_is_valid (secret))
    {
      if (who->conn != NULL)
        send_parse_error (who->conn);
      return;
    }
  /* Unknown, expired, already answered, or offered to somebody else. */
  if (transfer == NULL || transfer->state != TRANSFER_OFFERED || !answered_by (transfer, who))
    {
      tell_answerer (server, who, KLETSEN_CODE_UNKNOWN_TRANSFER);
      return;
    }

  transfer->uploader->n_offers--;
  if (!g_str_equal (status, "OK"))
    {
      g_info ("%s declined %s", who->name, transfer->tag);
      transfer->state = TRANSFER_ACCEPTED; /* no longer counted as an offer */
      tell_uploader (transfer, KLETSEN_CODE_FILE_REJECTED);
      _kletsen_server_end_transfer (server, transfer);
      return;
    }

  /* Each accepted transfer may hold four descriptors until it ends. */
  if (user_transfers (server, transfer->uploader_name) >= server->options.max_transfers ||
      user_transfers (server, transfer->downloader_name) >= server->options.max_transfers ||
      server->n_relays >= (guint)server->options.max_relays)
    {
      g_info ("%s cannot accept %s: too many transfers under way", who->name, transfer->tag);
      transfer->state = TRANSFER_ACCEPTED; /* no longer counted as an offer */
      tell_answerer (server, who, KLETSEN_CODE_TOO_MANY_OFFERS);
      tell_uploader (transfer, KLETSEN_CODE_TOO_MANY_OFFERS);
      _kletsen_server_end_transfer (server, transfer);
      return;
    }

  g_info ("%s accepted %s", who->name, transfer->tag);
  transfer->down_secret = g_strdup (secret);
  transfer->up_address = _kletsen_describe_address (transfer->uploader->fd);
  /* A downloader of another node connects there; that node binds its
   * half to its address, and forwards it here. */
  transfer->down_address = who->conn != NULL ? _kletsen_describe_address (who->conn->fd) : NULL;
  count_transfer (transfer, 1);
  transfer->state = TRANSFER_ACCEPTED;
  arm_expiry (server, transfer); /* now for both halves to connect */
  tell_uploader (transfer, 0);
}

static void
handle_answer (KletsenConnection *conn,
               JsonObject        *body)
{
  Answerer who = { conn, NULL, conn->name, NULL };

  /* An offer made on another node: its answer goes there. */
  if (!g_hash_table_contains (conn->server->transfers, json_object_get_string_member (body, "transferId")) &&
      conn->server->cluster != NULL && _kletsen_cluster_is_routing (conn->server->cluster) &&
      _kletsen_cluster_forward_answer (conn->server->cluster, conn, body))
    return;
  answer_offer (conn->server, &who, body);
}

/* The answer of a downloader of node @inc to an offer made here. */
void
_kletsen_server_remote_answer (KletsenServer *self,
                               const char    *inc,
                               const char    *name,
                               JsonObject    *body,
                               const char    *down_address)
{
  Answerer who = { NULL, inc, name, down_address };

  answer_offer (self, &who, body);
}

/* A user of node @inc left: offers to them end, as for a local user. */
void
_kletsen_server_drop_remote_transfers (KletsenServer *self,
                                       const char    *inc,
                                       const char    *name)
{
  Answerer who = { NULL, inc, name, NULL };
  g_autoptr(GPtrArray) gone = g_ptr_array_new ();
  GHashTableIter iter;
  KletsenTransfer *transfer;

  g_hash_table_iter_init (&iter, self->transfers);
  while (g_hash_table_iter_next (&iter, NULL, (gpointer *)&transfer))
    if (transfer->state != TRANSFER_RELAYING && transfer->forward_to == NULL && answered_by (transfer, &who))
      g_ptr_array_add (gone, transfer);
  for (guint i = 0; i < gone->len; i++)
    {
      transfer = g_ptr_array_index (gone, i);
      tell_uploader (transfer, KLETSEN_CODE_UNKNOWN_TRANSFER);
      _kletsen_server_end_transfer (self, transfer);
    }
}

/**
 * _kletsen_server_add_forwarding:
 *
 * On the downloader's node, for an offer another node owns and @downloader
 * accepted: the side-channel half that comes here is checked as usual
 * (its secret, or its user's address) and forwarded to the owner's file
 * port with the same header. No uploader half is taken here.
 */
void
_kletsen_server_add_forwarding (KletsenServer     *self,
                                const char        *id,
                                const char        *uploader_name,
                                KletsenConnection *downloader,
                                const char        *secret,
                                const char        *forward_to)
{
  KletsenTransfer *transfer;

  if (g_hash_table_contains (self->transfers, id))
    return;
  transfer = g_new0 (KletsenTransfer, 1);
  transfer->server = self;
  transfer->expiry.link.data = transfer;
  transfer->id = g_strdup (id);
  {
    g_autofree char *digest = g_compute_checksum_for_string (G_CHECKSUM_SHA256, transfer->id, -1);

    memcpy (transfer->tag, digest, sizeof transfer->tag - 1);
  }
  transfer->down_secret = g_strdup (secret);
  transfer->down_address = _kletsen_describe_address (downloader->fd);
  /* No address is this: an uploader half here is refused. */
  transfer->up_address = g_strdup ("(on another node)");
  transfer->uploader_name = g_strdup (uploader_name);
  transfer->downloader = downloader;
  transfer->downloader_name = g_strdup (downloader->name);
  transfer->filename = g_strdup ("");
  transfer->size = -1;
  transfer->forward_to = g_strdup (forward_to);
  transfer->state = TRANSFER_ACCEPTED;
  transfer->serial = ++self->transfer_serial;
  g_hash_table_insert (self->transfers, transfer->id, transfer);
  count_transfer (transfer, 1);
  arm_expiry (self, transfer);
}

/* The uploader takes back an offer not answered yet (extension). It does not
 * know the transferId until the answer, so the offer is named as the server
 * echoes it: receiver, filename and, when given, checksum; the oldest such
 * offer goes. Silent on success, like the offer; 10004 when there is none. */
static void
handle_cancel (KletsenConnection *conn,
               JsonObject        *body)
{
  KletsenServer *server = conn->server;
  const char *receiver = json_object_get_string_member (body, "receiver");
  const char *filename = json_object_get_string_member (body, "filename");
  const char *checksum = kletsen_body_get_string (body, "checksum");
  g_autofree char *receiver_key = kletsen_user_name_key (receiver);
  KletsenTransfer *found = NULL;
  GHashTableIter iter;
  KletsenTransfer *transfer;

  g_hash_table_iter_init (&iter, server->transfers);
  while (g_hash_table_iter_next (&iter, NULL, (gpointer *)&transfer))
    {
      g_autofree char *key = NULL;

      if (transfer->uploader != conn || transfer->state != TRANSFER_OFFERED ||
          !g_str_equal (transfer->filename, filename) ||
          (checksum != NULL && g_strcmp0 (transfer->checksum, checksum) != 0 &&
           (transfer->checksum == NULL || g_ascii_strcasecmp (transfer->checksum, checksum) != 0)))
        continue;
      key = kletsen_user_name_key (transfer->downloader_name);
      if (g_str_equal (key, receiver_key) && (found == NULL || transfer->serial < found->serial))
        found = transfer;
    }

  if (found == NULL)
    {
      _kletsen_connection_send_status (conn, "FILE_TRANSFER_RESPONSE", KLETSEN_CODE_UNKNOWN_TRANSFER);
      return;
    }
  conn_log (conn, G_LOG_LEVEL_INFO, "withdrew %s", found->tag);
  tell_downloader (found, KLETSEN_CODE_OFFER_WITHDRAWN);
  _kletsen_server_end_transfer (server, found);
}

void
_kletsen_server_handle_transfer (KletsenConnection        *conn,
                                 const KletsenMessageInfo *info,
                                 JsonObject               *body)
{
  if (info->type == KLETSEN_MSG_FILE_TRANSFER_REQUEST)
    handle_offer (conn, body);
  else if (info->type == KLETSEN_MSG_FILE_TRANSFER_CANCEL)
    handle_cancel (conn, body);
  else
    handle_answer (conn, body);
}

/**
 * _kletsen_server_drop_transfers:
 *
 * A user left: offers from or to them, and accepted transfers whose side
 * channel has not started, end. The other side hears 10004 if it is the
 * uploader; a downloader learns it when it answers. Relays already moving
 * bytes go on: they no longer depend on the chat connections.
 */
void
_kletsen_server_drop_transfers (KletsenServer     *self,
                                KletsenConnection *conn)
{
  GHashTableIter iter;
  KletsenTransfer *transfer;
  g_autoptr(GPtrArray) gone = g_ptr_array_new ();

  g_hash_table_iter_init (&iter, self->transfers);
  while (g_hash_table_iter_next (&iter, NULL, (gpointer *)&transfer))
    {
      if (transfer->uploader != conn && transfer->downloader != conn)
        continue;
      if (transfer->state == TRANSFER_RELAYING)
        {
          transfer->uploader = transfer->downloader = NULL;
          continue;
        }
      g_ptr_array_add (gone, transfer);
    }

  for (guint i = 0; i < gone->len; i++)
    {
      transfer = g_ptr_array_index (gone, i);
      if (transfer->uploader == conn)
        {
          tell_downloader (transfer, KLETSEN_CODE_OFFER_WITHDRAWN);
          if (transfer->state == TRANSFER_OFFERED)
            conn->n_offers--;
          transfer->state = TRANSFER_ACCEPTED;
          transfer->uploader = NULL;
        }
      else
        tell_uploader (transfer, KLETSEN_CODE_UNKNOWN_TRANSFER);
      _kletsen_server_end_transfer (self, transfer);
    }
}
