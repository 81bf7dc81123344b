/* kletsen-session-files.c
 *
 * Copyright 2026 The Kletsen authors
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

/* File offers and answers: our offers and what becomes of them, offers to
 * us (bounded, withdrawn when they end), and starting side channels. */

#include "config.h"

#include <string.h>

#include "kletsen-session-private.h"

static KletsenFileTransfer *
find_offer (KletsenSession *self,
            JsonObject     *body);

static void
add_transfer (KletsenSession      *self,
              KletsenFileTransfer *transfer);

static guint
count_unanswered_offers (KletsenSession *self);

static KletsenFileTransfer *
find_incoming (KletsenSession *self,
               const char     *id);

static void
prepared_cb (GObject      *object,
             GAsyncResult *result,
             gpointer      user_data);

static void
outgoing_state_cb (KletsenFileTransfer *transfer,
                   GParamSpec          *pspec,
                   KletsenSession      *self);

static void
answer_offer (KletsenSession      *self,
              KletsenFileTransfer *transfer,
              gboolean             accept);

/* ---- unsolicited messages ---- */

/* An accepted transfer opens its side channel with the same trust as the
 * chat connection. */
void
_kletsen_session_run_side_channel (KletsenSession      *self,
                                   KletsenFileTransfer *transfer)
{
  if (self->side_channel_func != NULL)
    {
      self->side_channel_func (self, transfer, self->side_channel_data);
      return;
    }
  _kletsen_file_transfer_set_tls (transfer, self->tls, self->tls_database, self->certificate_fingerprint);
  _kletsen_file_transfer_run (transfer, self->current_host ? self->current_host : self->host, self->file_port, NULL);
}

static KletsenFileTransfer *
find_offer (KletsenSession *self,
            JsonObject     *body)
{
  const char *receiver = kletsen_body_get_string (body, "receiver");
  const char *filename = kletsen_body_get_string (body, "filename");
  const char *id = kletsen_body_get_string (body, "transferId");
  guint n = g_list_model_get_n_items (G_LIST_MODEL (self->transfers));

  for (guint i = 0; i < n; i++)
    {
      g_autoptr(KletsenFileTransfer) t = g_list_model_get_item (G_LIST_MODEL (self->transfers), i);

      if (kletsen_file_transfer_get_direction (t) != KLETSEN_TRANSFER_SEND)
        continue;
      if (id != NULL && g_strcmp0 (kletsen_file_transfer_get_id (t), id) == 0)
        return t;
      /* Our server echoes the filename; without it, the oldest offer to that receiver. */
      if (kletsen_file_transfer_get_state (t) == KLETSEN_TRANSFER_OFFERED &&
          kletsen_file_transfer_get_id (t) == NULL &&
          receiver != NULL && g_ascii_strcasecmp (kletsen_file_transfer_get_peer (t), receiver) == 0 &&
          (filename == NULL || g_str_equal (filename, kletsen_file_transfer_get_filename (t))))
        return t;
    }
  return NULL;
}

void
_kletsen_session_handle_offer_outcome (KletsenSession *self,
                                       JsonObject     *body)
{
  KletsenFileTransfer *transfer = find_offer (self, body);
  int code = _kletsen_session_reply_code (body);

  if (transfer == NULL)
    return;
  if (kletsen_file_transfer_get_id (transfer) == NULL)
    {
      const char *id = kletsen_body_get_string (body, "transferId");

      /* It goes into the side channel's header. */
      if (!kletsen_transfer_id_is_valid (id))
        {
          _kletsen_file_transfer_fail (transfer, KLETSEN_TRANSFER_FAILED, 0,
                                       _("The server answered the offer with an id that is not one"));
          return;
        }
      _kletsen_file_transfer_set_id (transfer, id);
    }
  if (code == KLETSEN_CODE_FILE_REJECTED)
    _kletsen_file_transfer_fail (transfer, KLETSEN_TRANSFER_REJECTED, code, kletsen_code_describe (code));
  else if (code != 0)
    _kletsen_file_transfer_fail (transfer, KLETSEN_TRANSFER_FAILED, code, kletsen_code_describe (code));
  else
    {
      /* A server that checks role secrets says so: then ours goes behind
       * the header. One that does not would take it for file data. */
      _kletsen_file_transfer_set_uses_role_secret (transfer,
                                                   g_strcmp0 (kletsen_body_get_string (body, "roleSecret"), "required") == 0);
      _kletsen_session_run_side_channel (self, transfer);
    }
}

/* The transfers list keeps what is under way and the newest that ended. */
static void
add_transfer (KletsenSession      *self,
              KletsenFileTransfer *transfer)
{
  guint n = g_list_model_get_n_items (G_LIST_MODEL (self->transfers));

  for (guint i = 0; i < n && n >= MAX_TRANSFERS; )
    {
      g_autoptr(KletsenFileTransfer) old = g_list_model_get_item (G_LIST_MODEL (self->transfers), i);

      if (kletsen_file_transfer_get_state (old) >= KLETSEN_TRANSFER_DONE)
        {
          g_list_store_remove (self->transfers, i);
          n--;
        }
      else
        i++;
    }
  g_list_store_append (self->transfers, transfer);
}

static guint
count_unanswered_offers (KletsenSession *self)
{
  guint n = g_list_model_get_n_items (G_LIST_MODEL (self->transfers));
  guint count = 0;

  for (guint i = 0; i < n; i++)
    {
      g_autoptr(KletsenFileTransfer) t = g_list_model_get_item (G_LIST_MODEL (self->transfers), i);

      if (kletsen_file_transfer_get_direction (t) == KLETSEN_TRANSFER_RECEIVE &&
          kletsen_file_transfer_get_state (t) == KLETSEN_TRANSFER_OFFERED)
        count++;
    }
  return count;
}

static KletsenFileTransfer *
find_incoming (KletsenSession *self,
               const char     *id)
{
  guint n = g_list_model_get_n_items (G_LIST_MODEL (self->transfers));

  for (guint i = 0; i < n; i++)
    {
      g_autoptr(KletsenFileTransfer) t = g_list_model_get_item (G_LIST_MODEL (self->transfers), i);

      if (kletsen_file_transfer_get_direction (t) == KLETSEN_TRANSFER_RECEIVE &&
          g_strcmp0 (kletsen_file_transfer_get_id (t), id) == 0)
        return t;
    }
  return NULL;
}

void
_kletsen_session_handle_offer (KletsenSession *self,
                               JsonObject     *body)
{
  const char *sender = json_object_get_string_member (body, "sender");
  const char *filename = json_object_get_string_member (body, "filename");
  /* An offer of the original protocol has neither; its file cannot be
   * checked after download, and is never shown as checked. */
  const char *checksum = kletsen_body_get_string (body, "checksum");
  const char *id = json_object_get_string_member (body, "transferId");
  gint64 size = kletsen_body_get_int_or (body, "size", -1);
  g_autoptr(KletsenFileTransfer) t = NULL;

  /* The id goes into the side channel's header, the name into a path. */
  if (!is_user_name (sender) || (json_object_has_member (body, "size") && size < 0) ||
      (checksum != NULL && strlen (checksum) != 64) || *filename == '\0' || strlen (filename) > 1024 ||
      !kletsen_transfer_id_is_valid (id) || find_incoming (self, id) != NULL)
    {
      g_debug ("ignoring a file offer the protocol does not allow");
      return;
    }
  t = _kletsen_file_transfer_new_incoming (sender, filename, size, checksum, id);
  _kletsen_file_transfer_set_uses_role_secret (t, g_strcmp0 (kletsen_body_get_string (body, "roleSecret"), "required") == 0);
  add_transfer (self, t);
  if (count_unanswered_offers (self) > MAX_UNANSWERED_OFFERS)
    {
      /* Nobody answers that many at once: decline, and say so. */
      g_autofree char *why = g_strdup_printf (_("%s offered “%s”; it was declined because too many offers are waiting"),
                                              sender, filename);
      g_autoptr(KletsenChatMessage) line = kletsen_chat_message_new (KLETSEN_MESSAGE_KIND_ERROR, sender, why,
                                                                     KLETSEN_MESSAGE_STATE_RECEIVED, FALSE);

      kletsen_conversation_append (kletsen_session_get_conversation (self, sender), line, FALSE);
      kletsen_session_reject_file (self, t);
      return;
    }
  /* The offer is an item in the conversation, answered there. */
  {
    g_autoptr(KletsenChatMessage) item = kletsen_chat_message_new_file (sender, t);

    kletsen_conversation_append (kletsen_session_get_conversation (self, sender), item, TRUE);
  }
  g_signal_emit (self, _kletsen_session_signals[FILE_OFFERED], 0, t);
}

void
_kletsen_session_handle_offer_ended (KletsenSession *self,
                                     JsonObject     *body)
{
  KletsenFileTransfer *t = find_incoming (self, json_object_get_string_member (body, "transferId"));
  int code = (int)CLAMP (json_object_get_int_member (body, "code"), 0, G_MAXINT);

  if (t == NULL || kletsen_file_transfer_get_state (t) != KLETSEN_TRANSFER_OFFERED ||
      g_ascii_strcasecmp (kletsen_file_transfer_get_peer (t), json_object_get_string_member (body, "sender")) != 0)
    return;
  _kletsen_file_transfer_fail (t, code == KLETSEN_CODE_OFFER_WITHDRAWN ? KLETSEN_TRANSFER_CANCELLED
                                                                       : KLETSEN_TRANSFER_FAILED,
                               code, kletsen_code_describe (code));
}

/* ---- public API: files ---- */

static void
prepared_cb (GObject      *object,
             GAsyncResult *result,
             gpointer      user_data)
{
  g_autoptr(KletsenSession) self = user_data;
  KletsenFileTransfer *transfer = KLETSEN_FILE_TRANSFER (object);
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonObject) body = NULL;
  Pending *p;

  if (!_kletsen_file_transfer_prepare_finish (transfer, result, &error))
    return;
  if (self->state != KLETSEN_SESSION_ONLINE)
    {
      _kletsen_file_transfer_fail (transfer, KLETSEN_TRANSFER_FAILED, 0, _("Not connected to the server"));
      return;
    }
  body = json_object_new ();
  json_object_set_string_member (body, "receiver", kletsen_file_transfer_get_peer (transfer));
  json_object_set_string_member (body, "filename", kletsen_file_transfer_get_filename (transfer));
  json_object_set_int_member (body, "size", (gint64)kletsen_file_transfer_get_size (transfer));
  json_object_set_string_member (body, "checksum", kletsen_file_transfer_get_checksum (transfer));
  json_object_set_string_member (body, "roleSecret", _kletsen_file_transfer_get_role_secret (transfer));
  p = _kletsen_session_send_request (self, "FILE_TRANSFER_REQUEST", body, PENDING_SILENT, NULL);
  p->transfer = g_object_ref (transfer);
  /* Offered from now on, not only once the barrier confirms it: the peer's
   * answer can reach us before that confirmation (our barrier request may
   * still be waiting to be written when the peer answers), and it must find
   * this transfer. A refusal of the offer still fails it when it comes. */
  _kletsen_file_transfer_set_offered (transfer);
}

/* Cancelled before the peer answered: take the offer back, so that the
 * peer is not left to accept a file that will never come. */
static void
outgoing_state_cb (KletsenFileTransfer *transfer,
                   GParamSpec          *pspec,
                   KletsenSession      *self)
{
  g_autoptr(JsonObject) body = NULL;

  if (kletsen_file_transfer_get_state (transfer) != KLETSEN_TRANSFER_CANCELLED ||
      !_kletsen_file_transfer_get_offer_sent (transfer) || kletsen_file_transfer_get_id (transfer) != NULL ||
      self->state != KLETSEN_SESSION_ONLINE)
    return;
  body = json_object_new ();
  json_object_set_string_member (body, "receiver", kletsen_file_transfer_get_peer (transfer));
  json_object_set_string_member (body, "filename", kletsen_file_transfer_get_filename (transfer));
  json_object_set_string_member (body, "checksum", kletsen_file_transfer_get_checksum (transfer));
  _kletsen_session_send_request (self, "FILE_TRANSFER_CANCEL", body, PENDING_SILENT, NULL);
}

/**
 * kletsen_session_send_file:
 *
 * Offers @file to @peer: it is measured and hashed first (in a worker
 * thread), then offered; when the peer accepts, it is streamed.
 *
 * Returns: (transfer none): the transfer, also in the transfers model
 */
KletsenFileTransfer *
kletsen_session_send_file (KletsenSession *self,
                           const char     *peer,
                           GFile          *file)
{
  g_autoptr(KletsenFileTransfer) transfer = _kletsen_file_transfer_new_outgoing (peer, file);

  g_autoptr(KletsenChatMessage) item = kletsen_chat_message_new_file (self->username, transfer);

  add_transfer (self, transfer);
  kletsen_conversation_append (kletsen_session_get_conversation (self, peer), item, FALSE);
  g_signal_connect_object (transfer, "notify::state", G_CALLBACK (outgoing_state_cb), self, 0);
  _kletsen_file_transfer_prepare_async (transfer, prepared_cb, g_object_ref (self));
  return transfer;
}

static void
answer_offer (KletsenSession      *self,
              KletsenFileTransfer *transfer,
              gboolean             accept)
{
  g_autoptr(JsonObject) body = json_object_new ();
  Pending *p;

  json_object_set_string_member (body, "transferId", kletsen_file_transfer_get_id (transfer));
  json_object_set_string_member (body, "status", accept ? "OK" : "REJECTED");
  if (accept && _kletsen_file_transfer_get_uses_role_secret (transfer))
    json_object_set_string_member (body, "roleSecret", _kletsen_file_transfer_get_role_secret (transfer));
  p = _kletsen_session_send_request (self, "FILE_TRANSFER_RESPONSE", body, PENDING_SILENT, NULL);
  p->transfer = g_object_ref (transfer);
}

/**
 * kletsen_session_accept_file:
 * @folder: where the file goes; only its base name is used, and no existing
 *   file is replaced
 */
void
kletsen_session_accept_file (KletsenSession      *self,
                             KletsenFileTransfer *transfer,
                             GFile               *folder)
{
  g_return_if_fail (kletsen_file_transfer_get_state (transfer) == KLETSEN_TRANSFER_OFFERED);

  if (self->state != KLETSEN_SESSION_ONLINE)
    {
      _kletsen_file_transfer_fail (transfer, KLETSEN_TRANSFER_FAILED, 0, _("Not connected to the server"));
      return;
    }
  _kletsen_file_transfer_accepted (transfer, folder);
  answer_offer (self, transfer, TRUE);
}

void
kletsen_session_reject_file (KletsenSession      *self,
                             KletsenFileTransfer *transfer)
{
  g_return_if_fail (kletsen_file_transfer_get_state (transfer) == KLETSEN_TRANSFER_OFFERED);

  if (self->state == KLETSEN_SESSION_ONLINE)
    answer_offer (self, transfer, FALSE);
  _kletsen_file_transfer_fail (transfer, KLETSEN_TRANSFER_REJECTED, 0, NULL);
}
