/* kletsen-session-keys.c
 *
 * Copyright 2026 The Kletsen authors
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

/* End-to-end keys: fetching a peer's key, pinning it (trust on first use),
 * noticing when it changes, and sealing and opening encrypted messages. */

#include "config.h"

#include <string.h>

#include "kletsen-session-private.h"

static void
secure_send_free (gpointer data);

static char *
pinned_fingerprint (KletsenSession *self,
                    const char     *peer);

static void
pin (KletsenSession *self,
     const char     *peer,
     const char     *fingerprint);

static void
encrypt_and_send (KletsenSession *self,
                  const char     *peer,
                  const char     *public_key,
                  SecureSend     *s);

static void
key_timeout_free (gpointer data);

static gboolean
key_timeout_cb (gpointer user_data);

static void
secure_send_free (gpointer data)
{
  SecureSend *s = data;

  g_free (s->text);
  g_clear_object (&s->message);
  g_clear_object (&s->task);
  g_free (s);
}

/* ---- keys ---- */

/* Pins and counters are kept per server and peer: bob on one server and bob
 * on another are two people. */
static char *
scoped_group (KletsenSession *self,
              const char     *what)
{
  return g_strdup_printf ("%s %s:%u", what, self->host ? self->host : "", self->port);
}

/* Written whole and replaced at once, readable by this user only. */
static void
save_key_file (KletsenSession *self,
               GKeyFile       *file)
{
  g_autoptr(GError) error = NULL;
  gsize len;
  g_autofree char *data = g_key_file_to_data (file, &len, NULL);
  const char *path = file == self->pins ? self->pins_path : self->counters_path;

  if (!g_file_set_contents_full (path, data, len, G_FILE_SET_CONTENTS_CONSISTENT, 0600, &error))
    g_warning ("Cannot save %s: %s", path, error->message);
}

/* @file's entry for @peer in the group @what of this server. */
static char *
scoped_get (KletsenSession *self,
            GKeyFile       *file,
            const char     *what,
            const char     *peer)
{
  g_autofree char *key = fold (peer);
  g_autofree char *group = scoped_group (self, what);

  return g_key_file_get_string (file, group, key, NULL);
}

/* Sets it (or, for %NULL, removes it); FALSE when there was nothing to remove. */
static gboolean
scoped_put (KletsenSession *self,
            GKeyFile       *file,
            const char     *what,
            const char     *peer,
            const char     *value)
{
  g_autofree char *key = fold (peer);
  g_autofree char *group = scoped_group (self, what);

  if (value != NULL)
    g_key_file_set_string (file, group, key, value);
  else if (!g_key_file_remove_key (file, group, key, NULL))
    return FALSE;
  return TRUE;
}

/* The same, and saves @file. */
static void
scoped_set (KletsenSession *self,
            GKeyFile       *file,
            const char     *what,
            const char     *peer,
            const char     *value)
{
  if (scoped_put (self, file, what, peer, value))
    save_key_file (self, file);
}

/* Counters changed since they were last written go out in one write: a
 * message received and the receipt that answers it cost one, not two. A
 * counter used to send is always written before the message goes. */
static void
save_counters (KletsenSession *self)
{
  if (!self->counters_dirty)
    return;
  self->counters_dirty = FALSE;
  save_key_file (self, self->counters);
}

static char *
pinned_fingerprint (KletsenSession *self,
                    const char     *peer)
{
  return scoped_get (self, self->pins, "peers", peer);
}

static void
pin (KletsenSession *self,
     const char     *peer,
     const char     *fingerprint)
{
  scoped_set (self, self->pins, "peers", peer, fingerprint);
  _kletsen_session_forget_skeletons (self);
}

/* The last counter seen (received) or used (sent) with @peer under the key
 * @fingerprint; 0 when there is none, or it was under another key. */
static gint64
last_counter (KletsenSession *self,
              const char     *direction,
              const char     *peer,
              const char     *fingerprint)
{
  g_autofree char *value = scoped_get (self, self->counters, direction, peer);
  const char *bar = value ? strrchr (value, '|') : NULL;

  if (bar == NULL || strncmp (value, fingerprint, bar - value) != 0 || strlen (fingerprint) != (gsize)(bar - value))
    return 0;
  return g_ascii_strtoll (bar + 1, NULL, 10);
}

static void
set_counter (KletsenSession *self,
             const char     *direction,
             const char     *peer,
             const char     *fingerprint,
             gint64          counter)
{
  g_autofree char *value = g_strdup_printf ("%s|%" G_GINT64_FORMAT, fingerprint, counter);

  scoped_put (self, self->counters, direction, peer, value);
  self->counters_dirty = TRUE;
}

void
_kletsen_session_fail_secure_queue (KletsenSession *self,
                                    const char     *key,
                                    GError         *error)
{
  GPtrArray *queue = g_hash_table_lookup (self->secure_queue, key);
  guint id = GPOINTER_TO_UINT (g_hash_table_lookup (self->key_timeouts, key));

  if (id != 0)
    g_source_remove (id);
  g_hash_table_remove (self->key_timeouts, key);
  for (guint i = 0; queue != NULL && i < queue->len; i++)
    {
      SecureSend *s = g_ptr_array_index (queue, i);
      int code = error->domain == KLETSEN_PROTOCOL_ERROR ? error->code : 0;

      if (s->message != NULL)
        kletsen_chat_message_set_state (s->message, KLETSEN_MESSAGE_STATE_FAILED, code);
      if (s->task != NULL)
        g_task_return_error (s->task, g_error_copy (error));
    }
  g_hash_table_remove (self->secure_queue, key);
  g_error_free (error);
}

/**
 * _kletsen_session_seal_and_send:
 * @label: %KLETSEN_SEAL_LABEL for a message, %KLETSEN_RECEIPT_LABEL for a receipt
 * @signature: (out): the signature sent, for the receipt that names it
 *
 * Seals @text for @peer under @public_key with the next counter (§5.1: one
 * more than the last message or receipt to @peer, counted per key of the
 * receiver, so a reinstalled peer starts again at 1; mine is fixed per data
 * directory), and sends it.
 *
 * Returns: (transfer none) (nullable): the request, or %NULL with @error set
 */
Pending *
_kletsen_session_seal_and_send (KletsenSession  *self,
                                const char      *peer,
                                const char      *public_key,
                                const char      *label,
                                const char      *text,
                                GTask           *task,
                                gint64          *counter,
                                char           **signature,
                                GError         **error)
{
  g_autofree char *session_key = NULL;
  g_autofree char *message = NULL;
  g_autoptr(JsonObject) body = NULL;
  const char *mine = kletsen_identity_get_public_key (self->identity);
  KletsenSealHeader header = { self->username, peer, mine, public_key, 0, label };
  g_autofree char *theirs = kletsen_crypto_fingerprint (public_key);
  /* Receipts count apart: one lost with a peer who left is no gap in
   * the messages. */
  const char *direction = g_strcmp0 (label, KLETSEN_RECEIPT_LABEL) == 0 ? "receipts sent" : "sent";

  header.counter = theirs ? last_counter (self, direction, peer, theirs) + 1 : 1;
  if (!kletsen_identity_seal (self->identity, &header, text, &session_key, &message, signature, error))
    return NULL;
  set_counter (self, direction, peer, theirs, header.counter);
  save_counters (self);
  body = json_object_new ();
  json_object_set_string_member (body, "receiver", peer);
  json_object_set_string_member (body, "sessionKey", session_key);
  json_object_set_string_member (body, "message", message);
  json_object_set_string_member (body, "senderKey", mine);
  json_object_set_int_member (body, "counter", header.counter);
  json_object_set_string_member (body, "signature", *signature);
  *counter = header.counter;
  return _kletsen_session_send_request (self, "SECURE_MESSAGE", body, PENDING_SILENT, task);
}

static void
encrypt_and_send (KletsenSession *self,
                  const char     *peer,
                  const char     *public_key,
                  SecureSend     *s)
{
  g_autofree char *signature = NULL;
  g_autoptr(GError) error = NULL;
  gint64 counter = 0;
  Pending *p;

  /* Only the key was asked for (kletsen_session_fetch_peer_key_async). */
  if (s->text == NULL)
    {
      g_task_return_boolean (s->task, TRUE);
      return;
    }
  p = _kletsen_session_seal_and_send (self, peer, public_key, KLETSEN_SEAL_LABEL, s->text, s->task,
                                      &counter, &signature, &error);

  if (p == NULL)
    {
      kletsen_chat_message_set_state (s->message, KLETSEN_MESSAGE_STATE_FAILED, 0);
      if (s->task != NULL)
        g_task_return_error (s->task, g_steal_pointer (&error));
      return;
    }
  p->message = g_object_ref (s->message);
  p->peer = g_strdup (peer);
  _kletsen_session_await_receipt (self, peer, counter, signature, s->message);
}

/* The peer's key came: check it against the pin, then send what waited. */
void
_kletsen_session_peer_key_arrived (KletsenSession *self,
                                   const char     *peer,
                                   const char     *public_key)
{
  g_autofree char *key = fold (peer);
  g_autofree char *fingerprint = kletsen_crypto_fingerprint (public_key);
  g_autofree char *pinned = pinned_fingerprint (self, peer);
  GPtrArray *queue;
  guint id;

  /* Only a key we asked for: an unsolicited one is pinned for nobody. */
  if (!g_hash_table_contains (self->secure_queue, key))
    {
      g_debug ("ignoring a key for %s that was not asked for", peer);
      return;
    }
  if (fingerprint == NULL)
    {
      _kletsen_session_fail_secure_queue (self, key, g_error_new_literal (KLETSEN_CRYPTO_ERROR, KLETSEN_CRYPTO_ERROR_BAD_KEY,
                                                                          _("The other side sent an unusable key")));
      return;
    }

  if (pinned != NULL && !g_str_equal (pinned, fingerprint))
    {
      g_hash_table_insert (self->changed_keys, g_strdup (key), g_strdup (public_key));
      g_signal_emit (self, _kletsen_session_signals[PEER_KEY_CHANGED], 0, peer, pinned, fingerprint);
      _kletsen_session_fail_secure_queue (self, key, g_error_new (KLETSEN_SESSION_ERROR, KLETSEN_SESSION_ERROR_KEY_CHANGED,
                                                                  _("%s’s key has changed; compare fingerprints before trusting it"), peer));
      return;
    }
  if (pinned == NULL)
    pin (self, peer, fingerprint); /* trust on first use */

  g_hash_table_insert (self->peer_keys, g_strdup (key), g_strdup (public_key));
  id = GPOINTER_TO_UINT (g_hash_table_lookup (self->key_timeouts, key));
  if (id != 0)
    g_source_remove (id);
  g_hash_table_remove (self->key_timeouts, key);

  {
    g_autofree char *stolen_key = NULL;

    if (!g_hash_table_steal_extended (self->secure_queue, key, (gpointer *)&stolen_key, (gpointer *)&queue))
      return;
  }
  for (guint i = 0; i < queue->len; i++)
    encrypt_and_send (self, peer, public_key, g_ptr_array_index (queue, i));
  g_ptr_array_unref (queue);
}

typedef struct
{
  KletsenSession *self;
  char           *key;
} KeyTimeout;

static void
key_timeout_free (gpointer data)
{
  KeyTimeout *t = data;

  g_free (t->key);
  g_free (t);
}

static gboolean
key_timeout_cb (gpointer user_data)
{
  KeyTimeout *t = user_data;

  g_hash_table_remove (t->self->key_timeouts, t->key);
  _kletsen_session_fail_secure_queue (t->self, t->key, g_error_new_literal (KLETSEN_SESSION_ERROR, KLETSEN_SESSION_ERROR_NO_KEY,
                                                                            _("The other side did not send its key")));
  return G_SOURCE_REMOVE;
}

static void
append_error (KletsenSession *self,
              const char     *sender,
              const char     *why)
{
  g_autoptr(KletsenChatMessage) item = kletsen_chat_message_new (KLETSEN_MESSAGE_KIND_ERROR, sender, why,
                                                                 KLETSEN_MESSAGE_STATE_RECEIVED, FALSE);

  kletsen_conversation_append (kletsen_session_get_conversation (self, sender), item, TRUE);
}

/* §5.1, in this order: the fields are there; the signature, by the key
 * the message names, over the names the server stamped (before any RSA
 * operation of ours); the key is the one pinned for the sender, or the
 * first one seen; the counter is new. Only then is it decrypted, and shown
 * as the sender's. Anything else is an error item that says why. */
void
_kletsen_session_handle_secure_message (KletsenSession *self,
                                        JsonObject     *body)
{
  const char *sender = json_object_get_string_member (body, "sender");
  const char *session_key = json_object_get_string_member (body, "sessionKey");
  const char *sealed = kletsen_body_get_string (body, "message");
  const char *sender_key = kletsen_body_get_string (body, "senderKey");
  const char *signature = kletsen_body_get_string (body, "signature");
  KletsenSealHeader header = { sender, self->username, sender_key,
                               kletsen_identity_get_public_key (self->identity), 0 };
  g_autofree char *fingerprint = NULL;
  g_autofree char *pinned = NULL;
  g_autofree char *text = NULL;
  g_autofree char *key = fold (sender);
  g_autoptr(GError) error = NULL;
  g_autoptr(KletsenChatMessage) message = NULL;
  gboolean is_receipt = FALSE;
  gint64 last;

  if (sealed == NULL)
    {
      /* encryptedMessage: the original authors' client, whose cipher is not
       * ours. Say so; never show its bytes. */
      g_autofree char *why = g_strdup_printf (_("%s sent a message encrypted in a format Kletsen cannot read"), sender);

      append_error (self, sender, why);
      return;
    }
  if (sender_key == NULL || signature == NULL || !kletsen_body_get_int (body, "counter", &header.counter) ||
      header.counter < 1 || (fingerprint = kletsen_crypto_fingerprint (sender_key)) == NULL)
    {
      g_autofree char *why = g_strdup_printf (_("An encrypted message could not be verified as %s’s: it is not signed"),
                                              sender);

      append_error (self, sender, why);
      return;
    }
  /* A message, or else a receipt (the label tells them apart, and is signed). */
  if (!kletsen_crypto_verify (&header, session_key, sealed, signature))
    {
      header.label = KLETSEN_RECEIPT_LABEL;
      is_receipt = kletsen_crypto_verify (&header, session_key, sealed, signature);
    }
  if (!is_receipt && header.label != NULL)
    {
      g_autofree char *why = g_strdup_printf (_("An encrypted message could not be verified as %s’s"), sender);

      append_error (self, sender, why);
      return;
    }

  pinned = pinned_fingerprint (self, sender);
  if (pinned != NULL && !g_str_equal (pinned, fingerprint))
    {
      g_autofree char *why = g_strdup_printf (_("An encrypted message from %s came from a key you have not trusted"),
                                              sender);

      g_hash_table_insert (self->changed_keys, g_strdup (key), g_strdup (sender_key));
      g_signal_emit (self, _kletsen_session_signals[PEER_KEY_CHANGED], 0, sender, pinned, fingerprint);
      append_error (self, sender, why);
      return;
    }

  last = last_counter (self, is_receipt ? "receipts received" : "received", sender, fingerprint);
  if (header.counter <= last)
    {
      g_autofree char *why = g_strdup_printf (_("An encrypted message from %s was replayed: it came before"), sender);

      append_error (self, sender, why);
      return;
    }

  text = kletsen_identity_open (self->identity, &header, session_key, sealed, &error);
  if (text == NULL)
    {
      g_autofree char *why = g_strdup_printf (_("An encrypted message from %s could not be read: %s"),
                                              sender, error->message);

      append_error (self, sender, why);
      return;
    }

  /* Verified: the first one pins the sender's key. */
  if (pinned == NULL)
    pin (self, sender, fingerprint);
  set_counter (self, is_receipt ? "receipts received" : "received", sender, fingerprint, header.counter);
  g_hash_table_insert (self->peer_keys, g_strdup (key), g_strdup (sender_key));
  if (header.counter > last + 1 && !is_receipt)
    {
      int missing = (int)MIN (header.counter - last - 1, G_MAXINT);
      g_autofree char *why = g_strdup_printf (g_dngettext (GETTEXT_PACKAGE, "%d message from %s is missing",
                                                           "%d messages from %s are missing", missing),
                                              missing, sender);

      append_error (self, sender, why);
    }
  if (is_receipt)
    {
      save_counters (self);
      _kletsen_session_receipt_arrived (self, sender, text);
      return;
    }
  /* They write encrypted: so does the reply. */
  kletsen_session_set_secure (self, sender, TRUE);
  /* The receipt's counter and this message's are written together. */
  _kletsen_session_send_receipt (self, sender, sender_key, header.counter, signature);
  save_counters (self);
  message = kletsen_chat_message_new (KLETSEN_MESSAGE_KIND_TEXT, sender, text, KLETSEN_MESSAGE_STATE_RECEIVED, TRUE);
  kletsen_chat_message_set_verified (message, kletsen_session_is_peer_verified (self, sender));
  kletsen_conversation_append (kletsen_session_get_conversation (self, sender), message, TRUE);
}

void
_kletsen_session_send_secure (KletsenSession     *self,
                              const char         *peer,
                              KletsenChatMessage *message,
                              GTask              *task)
{
  g_autofree char *key = fold (peer);
  SecureSend *s;
  GPtrArray *queue;
  const char *public_key;

  if (message != NULL && !_kletsen_session_check_online_to_send (self, message, task))
    return;
  if (g_hash_table_contains (self->changed_keys, key))
    {
      if (message != NULL)
        kletsen_chat_message_set_state (message, KLETSEN_MESSAGE_STATE_FAILED, 0);
      g_task_return_new_error (task, KLETSEN_SESSION_ERROR, KLETSEN_SESSION_ERROR_KEY_CHANGED,
                               _("%s’s key has changed; compare fingerprints before trusting it"), peer);
      return;
    }

  s = g_new0 (SecureSend, 1);
  /* No message: only the key is wanted. */
  s->text = message ? g_strdup (kletsen_chat_message_get_text (message)) : NULL;
  s->message = message ? g_object_ref (message) : NULL;
  s->task = g_object_ref (task);

  public_key = g_hash_table_lookup (self->peer_keys, key);
  if (public_key != NULL)
    {
      encrypt_and_send (self, peer, public_key, s);
      secure_send_free (s);
      return;
    }

  queue = g_hash_table_lookup (self->secure_queue, key);
  if (queue == NULL)
    {
      g_autoptr(JsonObject) body = json_object_new ();
      KeyTimeout *t = g_new0 (KeyTimeout, 1);
      Pending *p;

      queue = g_ptr_array_new_with_free_func (secure_send_free);
      g_hash_table_insert (self->secure_queue, g_strdup (key), queue);
      json_object_set_string_member (body, "receiver", peer);
      p = _kletsen_session_send_request (self, "SECURE_MESSAGE_REQ", body, PENDING_SILENT, NULL);
      p->peer = g_strdup (peer);
      t->self = self;
      t->key = g_strdup (key);
      g_hash_table_insert (self->key_timeouts, g_strdup (key),
                           GUINT_TO_POINTER (g_timeout_add_full (G_PRIORITY_DEFAULT, KEY_TIMEOUT_MS, key_timeout_cb,
                                                                 t, key_timeout_free)));
    }
  g_ptr_array_add (queue, s);
}

/**
 * kletsen_session_send_secure_async:
 *
 * Sends @text to @peer end-to-end encrypted: the peer's key is fetched once
 * per session and checked against its pinned fingerprint.
 */
void
kletsen_session_send_secure_async (KletsenSession      *self,
                                   const char          *peer,
                                   const char          *text,
                                   GAsyncReadyCallback  callback,
                                   gpointer             user_data)
{
  g_autoptr(GTask) task = g_task_new (self, NULL, callback, user_data);
  g_autoptr(KletsenChatMessage) message = NULL;

  g_task_set_source_tag (task, TAG_SECURE);
  message = _kletsen_session_append_mine (self, kletsen_session_get_conversation (self, peer), text, TRUE);
  _kletsen_session_send_secure (self, peer, message, task);
}

/**
 * kletsen_session_fetch_peer_key_async:
 *
 * Asks @peer for its key, as an encrypted message would, and checks it
 * against the pin: completes when it is known and pinned (trusted on first
 * use), or with %KLETSEN_SESSION_ERROR_KEY_CHANGED when it differs from the
 * pin (then kletsen_session_get_pending_fingerprint() has it).
 */
void
kletsen_session_fetch_peer_key_async (KletsenSession      *self,
                                      const char          *peer,
                                      GAsyncReadyCallback  callback,
                                      gpointer             user_data)
{
  g_autoptr(GTask) task = g_task_new (self, NULL, callback, user_data);

  if (self->state != KLETSEN_SESSION_ONLINE)
    {
      g_task_return_new_error (task, KLETSEN_SESSION_ERROR, KLETSEN_SESSION_ERROR_OFFLINE, _("Not connected to the server"));
      return;
    }
  _kletsen_session_send_secure (self, peer, NULL, task);
}

/* ---- public API: keys ---- */

/**
 * kletsen_session_get_fingerprint:
 *
 * Returns: (nullable): this client's key fingerprint, once connected
 */
const char *
kletsen_session_get_fingerprint (KletsenSession *self)
{
  return self->fingerprint;
}

/**
 * kletsen_session_get_peer_fingerprint:
 *
 * Returns: (transfer full) (nullable): the fingerprint pinned for @peer
 */
char *
kletsen_session_get_peer_fingerprint (KletsenSession *self,
                                      const char     *peer)
{
  return pinned_fingerprint (self, peer);
}

gboolean
kletsen_session_is_peer_blocked (KletsenSession *self,
                                 const char     *peer)
{
  g_autofree char *key = fold (peer);

  return g_hash_table_contains (self->changed_keys, key);
}

/**
 * kletsen_session_get_pending_fingerprint:
 *
 * Returns: (transfer full) (nullable): the fingerprint of @peer's changed
 *   key that waits to be trusted or forgotten, if any
 */
char *
kletsen_session_get_pending_fingerprint (KletsenSession *self,
                                         const char     *peer)
{
  g_autofree char *key = fold (peer);
  const char *public_key = g_hash_table_lookup (self->changed_keys, key);

  return public_key ? kletsen_crypto_fingerprint (public_key) : NULL;
}

/**
 * kletsen_session_trust_peer_key:
 * @fingerprint: the fingerprint the user compared
 *
 * Accepts @peer's changed key, but only if it is the one with
 * @fingerprint: a key that changed again while the dialog was open is not
 * trusted in its place.
 *
 * Returns: %TRUE when the key was pinned and sending is unblocked
 */
gboolean
kletsen_session_trust_peer_key (KletsenSession *self,
                                const char     *peer,
                                const char     *fingerprint)
{
  g_autofree char *key = fold (peer);
  const char *public_key = g_hash_table_lookup (self->changed_keys, key);
  g_autofree char *pending = kletsen_session_get_pending_fingerprint (self, peer);

  if (pending == NULL || g_strcmp0 (pending, fingerprint) != 0)
    return FALSE;
  pin (self, peer, pending);
  g_hash_table_insert (self->peer_keys, g_strdup (key), g_strdup (public_key));
  g_hash_table_remove (self->changed_keys, key);
  /* A verified mark names the old fingerprint, so it no longer holds. */
  g_signal_emit (self, _kletsen_session_signals[PEER_TRUST_CHANGED], 0, peer);
  return TRUE;
}

/**
 * kletsen_session_forget_peer_key:
 *
 * "Keep blocked": the changed key of @peer is forgotten. The pin stays;
 * the next encrypted message fetches the key again, and asks again if it
 * still differs, so there is always a way on.
 */
void
kletsen_session_forget_peer_key (KletsenSession *self,
                                 const char     *peer)
{
  g_autofree char *key = fold (peer);

  g_hash_table_remove (self->changed_keys, key);
  g_hash_table_remove (self->peer_keys, key);
}

/**
 * kletsen_session_verify_peer:
 * @fingerprint: the fingerprint the user compared with @peer
 *
 * Marks @peer as verified: the two of you compared fingerprints out of
 * band. The mark names the fingerprint, so it holds only as long as that
 * key stays pinned; a changed key is never verified.
 *
 * Returns: %TRUE when @fingerprint is the pinned one and the mark was kept
 */
gboolean
kletsen_session_verify_peer (KletsenSession *self,
                             const char     *peer,
                             const char     *fingerprint)
{
  g_autofree char *pinned = pinned_fingerprint (self, peer);

  if (pinned == NULL || g_strcmp0 (pinned, fingerprint) != 0 || kletsen_session_is_peer_blocked (self, peer))
    return FALSE;
  scoped_set (self, self->pins, "verified", peer, fingerprint);
  g_signal_emit (self, _kletsen_session_signals[PEER_TRUST_CHANGED], 0, peer);
  return TRUE;
}

void
kletsen_session_unverify_peer (KletsenSession *self,
                               const char     *peer)
{
  g_autofree char *verified = scoped_get (self, self->pins, "verified", peer);

  if (verified == NULL)
    return;
  scoped_set (self, self->pins, "verified", peer, NULL);
  g_signal_emit (self, _kletsen_session_signals[PEER_TRUST_CHANGED], 0, peer);
}

/**
 * kletsen_session_is_peer_verified:
 *
 * Returns: whether the key pinned for @peer is the one the user marked as
 *   verified
 */
gboolean
kletsen_session_is_peer_verified (KletsenSession *self,
                                  const char     *peer)
{
  g_autofree char *verified = scoped_get (self, self->pins, "verified", peer);
  g_autofree char *pinned = pinned_fingerprint (self, peer);

  return verified != NULL && g_strcmp0 (verified, pinned) == 0;
}

/**
 * kletsen_session_get_secure:
 *
 * Returns: whether the conversation with @peer is in secure mode: what is
 *   sent there goes out encrypted end to end. Kept per server and peer
 *   across restarts, and switched on by a verified encrypted message from
 *   @peer, so that a reply never goes out in clear by accident.
 */
gboolean
kletsen_session_get_secure (KletsenSession *self,
                            const char     *peer)
{
  g_autofree char *key = fold (peer);
  g_autofree char *group = scoped_group (self, "secure");

  return g_key_file_get_boolean (self->counters, group, key, NULL);
}

void
kletsen_session_set_secure (KletsenSession *self,
                            const char     *peer,
                            gboolean        secure)
{
  g_autofree char *key = fold (peer);
  g_autofree char *group = scoped_group (self, "secure");

  if (kletsen_session_get_secure (self, peer) == !!secure)
    return;
  g_key_file_set_boolean (self->counters, group, key, secure);
  self->counters_dirty = TRUE;
  save_counters (self);
  g_signal_emit (self, _kletsen_session_signals[SECURE_CHANGED], 0, peer);
}
