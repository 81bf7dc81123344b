/* kletsen-session-receipts.c
 *
 * Copyright 2026 The Kletsen authors
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

/* Delivery receipts (docs/protocol.md §5.1): the receiver of a verified
 * encrypted message answers with a receipt sealed and signed like a
 * message, under its own label, that names the message by its counter and
 * the hash of its signature. Only such a receipt, from the key pinned for
 * the peer, makes "delivered" of a message: the server can drop receipts
 * but cannot make one. */

#include "config.h"

#include "kletsen-session-private.h"

/* How many of my messages wait for a receipt at most; the oldest beyond
 * stay "sent" (a peer that never answers costs a bounded amount). */
#define RECEIPT_WINDOW 256

typedef struct
{
  char               *peer;     /* folded */
  char               *expected; /* the receipt's text: kletsen_crypto_receipt_text() */
  KletsenChatMessage *message;
} AwaitingReceipt;

static void
awaiting_receipt_free (gpointer data)
{
  AwaitingReceipt *a = data;

  g_free (a->peer);
  g_free (a->expected);
  g_clear_object (&a->message);
  g_free (a);
}

void
_kletsen_session_await_receipt (KletsenSession     *self,
                                const char         *peer,
                                gint64              counter,
                                const char         *signature,
                                KletsenChatMessage *message)
{
  AwaitingReceipt *a = g_new0 (AwaitingReceipt, 1);

  a->peer = fold (peer);
  a->expected = kletsen_crypto_receipt_text (counter, signature);
  a->message = g_object_ref (message);
  g_queue_push_tail (&self->awaiting_receipts, a);
  while (self->awaiting_receipts.length > RECEIPT_WINDOW)
    awaiting_receipt_free (g_queue_pop_head (&self->awaiting_receipts));
}

/* A receipt that verified, from the key pinned for @peer, with a new
 * counter: mark the message it names. One that names nothing of mine
 * (an old message, or made up) changes nothing. */
void
_kletsen_session_receipt_arrived (KletsenSession *self,
                                  const char     *peer,
                                  const char     *text)
{
  g_autofree char *key = fold (peer);

  for (GList *l = self->awaiting_receipts.head; l != NULL; l = l->next)
    {
      AwaitingReceipt *a = l->data;

      if (g_str_equal (a->peer, key) && g_str_equal (a->expected, text))
        {
          kletsen_chat_message_set_state (a->message, KLETSEN_MESSAGE_STATE_DELIVERED, 0);
          g_queue_delete_link (&self->awaiting_receipts, l);
          awaiting_receipt_free (a);
          return;
        }
    }
  g_debug ("a receipt from %s for no message waiting for one", peer);
}

/* Answers a verified message of @peer's. A receipt is never answered, and a
 * receipt that cannot go (the peer left) is no error of the user's. */
void
_kletsen_session_send_receipt (KletsenSession *self,
                               const char     *peer,
                               const char     *peer_key,
                               gint64          counter,
                               const char     *signature)
{
  g_autofree char *text = kletsen_crypto_receipt_text (counter, signature);
  g_autofree char *mine = NULL;
  g_autoptr(GError) error = NULL;
  gint64 sent = 0;

  if (_kletsen_session_seal_and_send (self, peer, peer_key, KLETSEN_RECEIPT_LABEL, text, NULL,
                                      &sent, &mine, &error) == NULL)
    g_debug ("no receipt for %s: %s", peer, error->message);
}

void
_kletsen_session_clear_receipts (KletsenSession *self)
{
  g_queue_clear_full (&self->awaiting_receipts, awaiting_receipt_free);
}
