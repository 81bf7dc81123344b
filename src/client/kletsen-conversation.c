/* kletsen-conversation.c
 *
 * Copyright 2026 The Kletsen authors
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#include "config.h"

#include <string.h>

#include "kletsen-conversation.h"

/* What one conversation keeps in memory, up to this many messages and
 * about this much text, so that a flood from one peer cannot grow the
 * client without bound. Without history the oldest scroll out for good, as
 * in any chat window's scrollback. With history the model is a window onto
 * the database: what is on screen and a margin, pages loaded as the view
 * scrolls, and the far end dropped again. */
#define MAX_MESSAGES 2000
#define MAX_WINDOW 300
#define PAGE 60
#define MAX_TEXT_BYTES (4 * 1024 * 1024)

struct _KletsenConversation
{
  GObject     parent_instance;

  char       *peer;
  GListStore *messages;
  gsize       text_bytes;
  guint       unread;
  gint64      last_active; /* monotonic µs of the last message */

  KletsenHistory     *history;
  char               *me;         /* whose messages are never unread */
  KletsenChatMessage *first_unread;
  gint64              newest_id;  /* in the history, whether shown or not */
  gint64              read_id;    /* the read mark kept there */
  guint               has_older : 1;  /* the database holds older ones than the model */
  guint               at_latest : 1;  /* the model ends with the newest message */
};

static void list_model_iface_init (GListModelInterface *iface);

G_DEFINE_FINAL_TYPE_WITH_CODE (KletsenConversation, kletsen_conversation, G_TYPE_OBJECT,
                               G_IMPLEMENT_INTERFACE (G_TYPE_LIST_MODEL, list_model_iface_init))

enum {
  PROP_0,
  PROP_PEER,
  PROP_UNREAD,
  PROP_HAS_OLDER,
  PROP_AT_LATEST,
  PROP_FIRST_UNREAD,
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
  g_clear_object (&self->history);
  g_clear_object (&self->first_unread);
  g_clear_pointer (&self->me, g_free);

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
    case PROP_HAS_OLDER: g_value_set_boolean (value, self->has_older); break;
    case PROP_AT_LATEST: g_value_set_boolean (value, self->at_latest); break;
    case PROP_FIRST_UNREAD: g_value_set_object (value, self->first_unread); break;
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
  /**
   * KletsenConversation:has-older:
   *
   * Whether the history holds messages older than the first one here.
   */
  properties[PROP_HAS_OLDER] = g_param_spec_boolean ("has-older", NULL, NULL, FALSE, flags);
  /**
   * KletsenConversation:at-latest:
   *
   * Whether the last message here is the newest one; %FALSE while older
   * pages are shown and new messages wait in the history.
   */
  properties[PROP_AT_LATEST] = g_param_spec_boolean ("at-latest", NULL, NULL, TRUE, flags);
  /**
   * KletsenConversation:first-unread:
   *
   * The first message that came while the user was away, where the "new
   * messages" line goes; it stays after the conversation is read, until
   * kletsen_conversation_forget_first_unread().
   */
  properties[PROP_FIRST_UNREAD] = g_param_spec_object ("first-unread", NULL, NULL, KLETSEN_TYPE_CHAT_MESSAGE, flags);
  g_object_class_install_properties (object_class, N_PROPS, properties);
}

static void
kletsen_conversation_init (KletsenConversation *self)
{
  self->messages = g_list_store_new (KLETSEN_TYPE_CHAT_MESSAGE);
  self->at_latest = TRUE;
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

static void
set_flag (KletsenConversation *self,
          guint                prop,
          gboolean             value)
{
  if (prop == PROP_HAS_OLDER && self->has_older != !!value)
    self->has_older = !!value;
  else if (prop == PROP_AT_LATEST && self->at_latest != !!value)
    self->at_latest = !!value;
  else
    return;
  g_object_notify_by_pspec (G_OBJECT (self), properties[prop]);
}

static void
set_first_unread (KletsenConversation *self,
                  KletsenChatMessage  *message)
{
  if (g_set_object (&self->first_unread, message))
    g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_FIRST_UNREAD]);
}

void
kletsen_conversation_mark_read (KletsenConversation *self)
{
  if (self->history != NULL && self->newest_id > self->read_id)
    {
      kletsen_history_set_last_read (self->history, self->peer, self->newest_id);
      self->read_id = self->newest_id;
    }
  if (self->unread == 0)
    return;
  self->unread = 0;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_UNREAD]);
}

/* Ends the "new messages" line: the user has moved on. */
void
kletsen_conversation_forget_first_unread (KletsenConversation *self)
{
  set_first_unread (self, NULL);
}

KletsenChatMessage *
kletsen_conversation_get_first_unread (KletsenConversation *self)
{
  return self->first_unread;
}

gboolean
kletsen_conversation_get_has_older (KletsenConversation *self)
{
  return self->has_older;
}

gboolean
kletsen_conversation_get_at_latest (KletsenConversation *self)
{
  return self->at_latest;
}

KletsenHistory *
kletsen_conversation_get_history (KletsenConversation *self)
{
  return self->history;
}

/* A message of mine changed state: so does its row. */
static void
message_state_cb (KletsenChatMessage  *message,
                  GParamSpec          *pspec,
                  KletsenConversation *self)
{
  g_autoptr(GError) error = NULL;

  if (self->history != NULL && !kletsen_history_update_state (self->history, message, &error))
    g_warning ("Cannot keep the message's state: %s", error->message);
}

static void
watch_state (KletsenConversation *self,
             KletsenChatMessage  *message)
{
  if (kletsen_chat_message_get_kind (message) != KLETSEN_MESSAGE_KIND_TEXT ||
      kletsen_chat_message_get_state (message) == KLETSEN_MESSAGE_STATE_RECEIVED)
    return;
  g_signal_connect_object (message, "notify::state", G_CALLBACK (message_state_cb), self, 0);
  g_signal_connect_object (message, "notify::error-code", G_CALLBACK (message_state_cb), self, 0);
}

static gsize
text_bytes (GPtrArray *messages)
{
  gsize bytes = 0;

  for (guint i = 0; i < messages->len; i++)
    bytes += strlen (kletsen_chat_message_get_text (messages->pdata[i]));
  return bytes;
}

static guint
n_messages (KletsenConversation *self)
{
  return g_list_model_get_n_items (G_LIST_MODEL (self->messages));
}

static KletsenChatMessage *
peek (KletsenConversation *self,
      guint                position)
{
  g_autoptr(KletsenChatMessage) m = g_list_model_get_item (G_LIST_MODEL (self->messages), position);

  return m; /* the store keeps its own reference */
}

static gsize
bytes_between (KletsenConversation *self,
               guint                from,
               guint                to)
{
  gsize bytes = 0;

  for (guint i = from; i < to; i++)
    bytes += strlen (kletsen_chat_message_get_text (peek (self, i)));
  return bytes;
}

static void
splice (KletsenConversation *self,
        guint                position,
        guint                removed,
        GPtrArray           *added)
{
  self->text_bytes -= bytes_between (self, position, position + removed);
  if (added != NULL)
    self->text_bytes += text_bytes (added);
  g_list_store_splice (self->messages, position, removed, added ? added->pdata : NULL, added ? added->len : 0);
  g_list_model_items_changed (G_LIST_MODEL (self), position, removed, added ? added->len : 0);
  for (guint i = 0; added != NULL && i < added->len; i++)
    watch_state (self, added->pdata[i]);
}

/* What the history brings back is marked as when it came: a room message
 * that names the user stands out again. (A message that comes now was
 * marked by the session.) */
static void
mark_mentions (KletsenConversation *self,
               GPtrArray           *page)
{
  if (self->peer != NULL || self->me == NULL)
    return;
  for (guint i = 0; i < page->len; i++)
    {
      KletsenChatMessage *m = page->pdata[i];

      if (kletsen_chat_message_get_kind (m) == KLETSEN_MESSAGE_KIND_TEXT &&
          g_strcmp0 (kletsen_chat_message_get_sender (m), self->me) != 0)
        kletsen_chat_message_set_mentions_me (m, kletsen_text_mentions (kletsen_chat_message_get_text (m), self->me));
    }
}

/* How many of the oldest (@oldest) or newest to drop to fit the window. */
static guint
overflow (KletsenConversation *self,
          gboolean             oldest)
{
  guint n = n_messages (self);
  guint max = self->history ? MAX_WINDOW : MAX_MESSAGES;
  guint drop = 0;
  gsize bytes = self->text_bytes;

  /* Never the newest (or oldest) one, which is what was just added. */
  while (drop + 1 < n && (n - drop > max || bytes > MAX_TEXT_BYTES))
    {
      bytes -= strlen (kletsen_chat_message_get_text (peek (self, oldest ? drop : n - 1 - drop)));
      drop++;
    }
  return drop;
}

static void
trim_oldest (KletsenConversation *self)
{
  guint drop = overflow (self, TRUE);

  if (drop == 0)
    return;
  splice (self, 0, drop, NULL);
  if (self->history != NULL)
    set_flag (self, PROP_HAS_OLDER, TRUE);
}

static void
trim_newest (KletsenConversation *self)
{
  guint drop = overflow (self, FALSE);

  if (drop == 0)
    return;
  splice (self, n_messages (self) - drop, drop, NULL);
  set_flag (self, PROP_AT_LATEST, FALSE);
}

/* Replaces the model with @page, the newest messages if @latest. */
static void
reset_to (KletsenConversation *self,
          GPtrArray           *page,
          gboolean             has_older,
          gboolean             latest)
{
  if (page != NULL)
    mark_mentions (self, page);
  splice (self, 0, n_messages (self), page);
  set_flag (self, PROP_HAS_OLDER, has_older);
  set_flag (self, PROP_AT_LATEST, latest);
}

static gint64
id_at (KletsenConversation *self,
       guint                position)
{
  return kletsen_chat_message_get_history_id (peek (self, position));
}

/**
 * kletsen_conversation_set_history:
 * @history: (nullable): where to keep the messages; %NULL for memory only
 * @me: (nullable): the user's own name, whose messages are never unread
 *
 * Shows the newest page of what @history holds for this conversation, with
 * the unread count and the "new messages" line where the user left off.
 */
void
kletsen_conversation_set_history (KletsenConversation *self,
                                  KletsenHistory      *history,
                                  const char          *me)
{
  g_autoptr(GPtrArray) page = NULL;
  gint64 last_read;
  guint unread;

  if (self->history == history)
    return;
  g_set_object (&self->history, history);
  g_free (self->me);
  self->me = g_strdup (me);
  if (history == NULL)
    {
      set_flag (self, PROP_HAS_OLDER, FALSE);
      set_flag (self, PROP_AT_LATEST, TRUE);
      return;
    }
  page = kletsen_history_load_before (history, self->peer, 0, PAGE);
  reset_to (self, page, page->len == PAGE, TRUE);
  last_read = self->read_id = kletsen_history_get_last_read (history, self->peer);
  self->newest_id = kletsen_history_get_newest_id (history, self->peer);
  unread = kletsen_history_count_after (history, self->peer, last_read, me);
  for (guint i = 0; i < n_messages (self) && unread > 0; i++)
    {
      KletsenChatMessage *m = peek (self, i);

      if (id_at (self, i) > last_read && kletsen_chat_message_get_kind (m) == KLETSEN_MESSAGE_KIND_TEXT &&
          g_strcmp0 (kletsen_chat_message_get_sender (m), me) != 0)
        {
          set_first_unread (self, m);
          break;
        }
    }
  if (self->unread != unread)
    {
      self->unread = unread;
      g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_UNREAD]);
    }
}

/**
 * kletsen_conversation_load_older:
 *
 * Puts the page before the first message in front of it, dropping the
 * newest ones if the window is full.
 *
 * Returns: how many messages were added at the start
 */
guint
kletsen_conversation_load_older (KletsenConversation *self)
{
  g_autoptr(GPtrArray) page = NULL;

  if (self->history == NULL || !self->has_older)
    return 0;
  page = kletsen_history_load_before (self->history, self->peer, n_messages (self) ? id_at (self, 0) : 0, PAGE);
  set_flag (self, PROP_HAS_OLDER, page->len == PAGE);
  if (page->len == 0)
    return 0;
  mark_mentions (self, page);
  splice (self, 0, 0, page);
  trim_newest (self);
  return page->len;
}

/**
 * kletsen_conversation_load_newer:
 *
 * Returns: how many messages were added at the end
 */
guint
kletsen_conversation_load_newer (KletsenConversation *self)
{
  g_autoptr(GPtrArray) page = NULL;

  if (self->history == NULL || self->at_latest)
    return 0;
  page = kletsen_history_load_after (self->history, self->peer,
                                     n_messages (self) ? id_at (self, n_messages (self) - 1) : 0, PAGE);
  if (page->len < PAGE)
    set_flag (self, PROP_AT_LATEST, TRUE);
  if (page->len == 0)
    return 0;
  mark_mentions (self, page);
  splice (self, n_messages (self), 0, page);
  trim_oldest (self);
  return page->len;
}

/* Back to the newest page, after reading older ones. */
void
kletsen_conversation_jump_to_latest (KletsenConversation *self)
{
  g_autoptr(GPtrArray) page = NULL;

  if (self->history == NULL || self->at_latest)
    return;
  page = kletsen_history_load_before (self->history, self->peer, 0, PAGE);
  reset_to (self, page, page->len == PAGE, TRUE);
}

/**
 * kletsen_conversation_show_message:
 * @id: a message's history id, such as a search result's
 *
 * Loads the page around @id if it is not in the model.
 *
 * Returns: its position in the model, or -1 if the history has no such
 *   message in this conversation
 */
int
kletsen_conversation_show_message (KletsenConversation *self,
                                   gint64               id)
{
  g_autoptr(GPtrArray) page = NULL;
  g_autoptr(GPtrArray) after = NULL;
  guint n = n_messages (self);
  guint position;
  gboolean latest;

  for (guint i = 0; i < n; i++)
    if (id_at (self, i) == id)
      return (int)i;
  if (self->history == NULL)
    return -1;
  /* The older half ends with the message itself. */
  page = kletsen_history_load_before (self->history, self->peer, id + 1, PAGE / 2);
  if (page->len == 0 || kletsen_chat_message_get_history_id (page->pdata[page->len - 1]) != id)
    return -1;
  position = page->len - 1;
  after = kletsen_history_load_after (self->history, self->peer, id, PAGE / 2);
  latest = after->len < PAGE / 2;
  for (guint i = 0; i < after->len; i++)
    g_ptr_array_add (page, g_object_ref (after->pdata[i]));
  reset_to (self, page, position + 1 == PAGE / 2, latest);
  return (int)position;
}

/* Empties it: its history was cleared. */
void
kletsen_conversation_clear (KletsenConversation *self)
{
  reset_to (self, NULL, FALSE, TRUE);
  set_first_unread (self, NULL);
  if (self->unread != 0)
    {
      self->unread = 0;
      g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_UNREAD]);
    }
}

/**
 * kletsen_conversation_append:
 * @unread: %TRUE for something another person sent
 *
 * Adds @message at the end, and writes it to the history first if there
 * is one. While older pages are shown, it waits in the history.
 */
void
kletsen_conversation_append (KletsenConversation *self,
                             KletsenChatMessage  *message,
                             gboolean             unread)
{
  self->last_active = g_get_monotonic_time ();
  if (self->history != NULL)
    {
      g_autoptr(GError) error = NULL;

      /* Join, leave and game lines are of the moment, not history. */
      if (kletsen_chat_message_get_kind (message) != KLETSEN_MESSAGE_KIND_SYSTEM &&
          !kletsen_history_add (self->history, self->peer, message, &error))
        g_warning ("Cannot keep the message in the history: %s", error->message);
      self->newest_id = MAX (self->newest_id, kletsen_chat_message_get_history_id (message));
    }
  if (self->at_latest)
    {
      g_autoptr(GPtrArray) one = g_ptr_array_new ();

      g_ptr_array_add (one, message);
      splice (self, n_messages (self), 0, one);
      trim_oldest (self);
    }
  else
    watch_state (self, message);
  if (unread)
    {
      if (self->unread == 0)
        set_first_unread (self, message);
      self->unread++;
      g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_UNREAD]);
    }
}
