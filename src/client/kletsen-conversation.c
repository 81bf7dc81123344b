/* kletsen-conversation.c
 *
 * Copyright 2026 The Kletsen authors
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#include "config.h"

#include <string.h>

#include "kletsen-conversation.h"

/* What one conversation keeps in memory: the newest messages, up to this
 * many and about this much text. Older ones scroll out, as in any chat
 * window's scrollback, so that a flood from one peer cannot grow the client
 * without bound. */
#define MAX_MESSAGES 2000
#define MAX_TEXT_BYTES (4 * 1024 * 1024)

struct _KletsenConversation
{
  GObject     parent_instance;

  char       *peer;
  GListStore *messages;
  gsize       text_bytes;
  guint       unread;
  gint64      last_active; /* monotonic µs of the last message */
};

static void list_model_iface_init (GListModelInterface *iface);

G_DEFINE_FINAL_TYPE_WITH_CODE (KletsenConversation, kletsen_conversation, G_TYPE_OBJECT,
                               G_IMPLEMENT_INTERFACE (G_TYPE_LIST_MODEL, list_model_iface_init))

enum {
  PROP_0,
  PROP_PEER,
  PROP_UNREAD,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

static GType
get_item_type (GListModel *model)
{
  return KLETSEN_TYPE_CHAT_MESSAGE;
}

static guint
get_n_items (GListModel *model)
{
  return g_list_model_get_n_items (G_LIST_MODEL (KLETSEN_CONVERSATION (model)->messages));
}

static gpointer
get_item (GListModel *model,
          guint       position)
{
  return g_list_model_get_item (G_LIST_MODEL (KLETSEN_CONVERSATION (model)->messages), position);
}

static void
list_model_iface_init (GListModelInterface *iface)
{
  iface->get_item_type = get_item_type;
  iface->get_n_items = get_n_items;
  iface->get_item = get_item;
}

static void
kletsen_conversation_finalize (GObject *object)
{
  KletsenConversation *self = KLETSEN_CONVERSATION (object);

  g_clear_pointer (&self->peer, g_free);
  g_clear_object (&self->messages);

  G_OBJECT_CLASS (kletsen_conversation_parent_class)->finalize (object);
}

static void
kletsen_conversation_get_property (GObject    *object,
                                   guint       prop_id,
                                   GValue     *value,
                                   GParamSpec *pspec)
{
  KletsenConversation *self = KLETSEN_CONVERSATION (object);

  switch (prop_id)
    {
    case PROP_PEER: g_value_set_string (value, self->peer); break;
    case PROP_UNREAD: g_value_set_uint (value, self->unread); break;
    default: G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
kletsen_conversation_class_init (KletsenConversationClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GParamFlags flags = G_PARAM_READABLE | G_PARAM_STATIC_STRINGS | G_PARAM_EXPLICIT_NOTIFY;

  object_class->finalize = kletsen_conversation_finalize;
  object_class->get_property = kletsen_conversation_get_property;

  /**
   * KletsenConversation:peer:
   *
   * The other person, or %NULL for the room everybody is in.
   */
  properties[PROP_PEER] = g_param_spec_string ("peer", NULL, NULL, NULL, flags);
  properties[PROP_UNREAD] = g_param_spec_uint ("unread", NULL, NULL, 0, G_MAXUINT, 0, flags);
  g_object_class_install_properties (object_class, N_PROPS, properties);
}

static void
kletsen_conversation_init (KletsenConversation *self)
{
  self->messages = g_list_store_new (KLETSEN_TYPE_CHAT_MESSAGE);
}

KletsenConversation *
kletsen_conversation_new (const char *peer)
{
  KletsenConversation *self = g_object_new (KLETSEN_TYPE_CONVERSATION, NULL);

  self->peer = g_strdup (peer);
  return self;
}

const char *
kletsen_conversation_get_peer (KletsenConversation *self)
{
  return self->peer;
}

guint
kletsen_conversation_get_unread (KletsenConversation *self)
{
  return self->unread;
}

/* When the last message came, for keeping the busiest conversations. */
gint64
kletsen_conversation_get_last_active (KletsenConversation *self)
{
  return self->last_active;
}

void
kletsen_conversation_mark_read (KletsenConversation *self)
{
  if (self->unread == 0)
    return;
  self->unread = 0;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_UNREAD]);
}

/**
 * kletsen_conversation_append:
 * @unread: %TRUE for something another person sent
 */
void
kletsen_conversation_append (KletsenConversation *self,
                             KletsenChatMessage  *message,
                             gboolean             unread)
{
  guint position = g_list_model_get_n_items (G_LIST_MODEL (self->messages));
  guint drop = 0;
  gsize dropped_bytes = 0;

  g_list_store_append (self->messages, message);
  self->text_bytes += strlen (kletsen_chat_message_get_text (message));
  self->last_active = g_get_monotonic_time ();

  /* Oldest first, never the one just added. */
  while (position + 1 - drop > MAX_MESSAGES ||
         (self->text_bytes - dropped_bytes > MAX_TEXT_BYTES && drop < position))
    {
      g_autoptr(KletsenChatMessage) old = g_list_model_get_item (G_LIST_MODEL (self->messages), drop);

      dropped_bytes += strlen (kletsen_chat_message_get_text (old));
      drop++;
    }
  if (drop > 0)
    {
      g_list_store_splice (self->messages, 0, drop, NULL, 0);
      self->text_bytes -= dropped_bytes;
      g_list_model_items_changed (G_LIST_MODEL (self), 0, drop, 0);
      position -= drop;
    }
  g_list_model_items_changed (G_LIST_MODEL (self), position, 0, 1);
  if (unread)
    {
      self->unread++;
      g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_UNREAD]);
    }
}
