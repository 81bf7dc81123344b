/* kletsen-chat-message.c
 *
 * Copyright 2026 The Kletsen authors
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#include "config.h"

#include <string.h>

#include "kletsen-chat-message.h"

struct _KletsenChatMessage
{
  GObject              parent_instance;

  char                *sender;
  char                *text;
  GDateTime           *time;
  KletsenMessageKind   kind;
  KletsenMessageState  state;
  int                  error_code;
  gboolean             encrypted;
  gboolean             verified;   /* the sender's key was one the user had verified */
  gboolean             mentions_me; /* a room message that names the user */
  gint64               history_id; /* its row in the history store, 0 if none */
  KletsenFileTransfer *transfer;   /* KIND_FILE in this session; NULL from the history */
};

G_DEFINE_FINAL_TYPE (KletsenChatMessage, kletsen_chat_message, G_TYPE_OBJECT)

G_DEFINE_ENUM_TYPE (KletsenMessageKind, kletsen_message_kind,
  G_DEFINE_ENUM_VALUE (KLETSEN_MESSAGE_KIND_TEXT, "text"),
  G_DEFINE_ENUM_VALUE (KLETSEN_MESSAGE_KIND_SYSTEM, "system"),
  G_DEFINE_ENUM_VALUE (KLETSEN_MESSAGE_KIND_ERROR, "error"),
  G_DEFINE_ENUM_VALUE (KLETSEN_MESSAGE_KIND_FILE, "file"))

G_DEFINE_ENUM_TYPE (KletsenMessageState, kletsen_message_state,
  G_DEFINE_ENUM_VALUE (KLETSEN_MESSAGE_STATE_RECEIVED, "received"),
  G_DEFINE_ENUM_VALUE (KLETSEN_MESSAGE_STATE_SENDING, "sending"),
  G_DEFINE_ENUM_VALUE (KLETSEN_MESSAGE_STATE_SENT, "sent"),
  G_DEFINE_ENUM_VALUE (KLETSEN_MESSAGE_STATE_DELIVERED, "delivered"),
  G_DEFINE_ENUM_VALUE (KLETSEN_MESSAGE_STATE_FAILED, "failed"))

enum {
  PROP_0,
  PROP_KIND,
  PROP_SENDER,
  PROP_TEXT,
  PROP_TIME,
  PROP_ENCRYPTED,
  PROP_STATE,
  PROP_ERROR_CODE,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

static void
kletsen_chat_message_finalize (GObject *object)
{
  KletsenChatMessage *self = KLETSEN_CHAT_MESSAGE (object);

  g_clear_pointer (&self->sender, g_free);
  g_clear_pointer (&self->text, g_free);
  g_clear_pointer (&self->time, g_date_time_unref);
  g_clear_object (&self->transfer);

  G_OBJECT_CLASS (kletsen_chat_message_parent_class)->finalize (object);
}

static void
kletsen_chat_message_get_property (GObject    *object,
                                   guint       prop_id,
                                   GValue     *value,
                                   GParamSpec *pspec)
{
  KletsenChatMessage *self = KLETSEN_CHAT_MESSAGE (object);

  switch (prop_id)
    {
    case PROP_KIND: g_value_set_enum (value, self->kind); break;
    case PROP_SENDER: g_value_set_string (value, self->sender); break;
    case PROP_TEXT: g_value_set_string (value, self->text); break;
    case PROP_TIME: g_value_set_boxed (value, self->time); break;
    case PROP_ENCRYPTED: g_value_set_boolean (value, self->encrypted); break;
    case PROP_STATE: g_value_set_enum (value, self->state); break;
    case PROP_ERROR_CODE: g_value_set_int (value, self->error_code); break;
    default: G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
kletsen_chat_message_class_init (KletsenChatMessageClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GParamFlags flags = G_PARAM_READABLE | G_PARAM_STATIC_STRINGS | G_PARAM_EXPLICIT_NOTIFY;

  object_class->finalize = kletsen_chat_message_finalize;
  object_class->get_property = kletsen_chat_message_get_property;

  properties[PROP_KIND] = g_param_spec_enum ("kind", NULL, NULL, KLETSEN_TYPE_MESSAGE_KIND, 0, flags);
  properties[PROP_SENDER] = g_param_spec_string ("sender", NULL, NULL, NULL, flags);
  properties[PROP_TEXT] = g_param_spec_string ("text", NULL, NULL, NULL, flags);
  properties[PROP_TIME] = g_param_spec_boxed ("time", NULL, NULL, G_TYPE_DATE_TIME, flags);
  properties[PROP_ENCRYPTED] = g_param_spec_boolean ("encrypted", NULL, NULL, FALSE, flags);
  properties[PROP_STATE] = g_param_spec_enum ("state", NULL, NULL, KLETSEN_TYPE_MESSAGE_STATE, 0, flags);
  properties[PROP_ERROR_CODE] = g_param_spec_int ("error-code", NULL, NULL, 0, G_MAXINT, 0, flags);
  g_object_class_install_properties (object_class, N_PROPS, properties);
}

static void
kletsen_chat_message_init (KletsenChatMessage *self)
{
}

/**
 * kletsen_chat_message_new:
 * @sender: (nullable): who wrote it; %NULL for system lines
 *
 * Returns: (transfer full): a message stamped with the current local time
 */
KletsenChatMessage *
kletsen_chat_message_new (KletsenMessageKind   kind,
                          const char          *sender,
                          const char          *text,
                          KletsenMessageState  state,
                          gboolean             encrypted)
{
  KletsenChatMessage *self = g_object_new (KLETSEN_TYPE_CHAT_MESSAGE, NULL);

  self->kind = kind;
  self->sender = g_strdup (sender);
  self->text = g_strdup (text);
  self->time = g_date_time_new_now_local ();
  self->state = state;
  self->encrypted = encrypted;
  return self;
}

/**
 * kletsen_chat_message_new_at:
 * @unix_us: when it was shown first, in µs since the epoch
 *
 * A message as the history store gives it back.
 *
 * Returns: (transfer full): the message
 */
KletsenChatMessage *
kletsen_chat_message_new_at (KletsenMessageKind   kind,
                             const char          *sender,
                             const char          *text,
                             KletsenMessageState  state,
                             gboolean             encrypted,
                             gint64               unix_us)
{
  KletsenChatMessage *self = kletsen_chat_message_new (kind, sender, text, state, encrypted);
  g_autoptr(GDateTime) utc = g_date_time_new_from_unix_utc (unix_us / G_USEC_PER_SEC);

  if (utc != NULL)
    {
      g_autoptr(GDateTime) precise = g_date_time_add (utc, unix_us % G_USEC_PER_SEC);

      g_date_time_unref (self->time);
      self->time = g_date_time_to_local (precise);
    }
  return self;
}

/**
 * kletsen_chat_message_new_file:
 * @sender: who offers it (the user, for a file sent)
 *
 * Returns: (transfer full): the item a transfer has in its conversation
 */
KletsenChatMessage *
kletsen_chat_message_new_file (const char          *sender,
                               KletsenFileTransfer *transfer)
{
  g_autofree char *shown = kletsen_file_transfer_get_shown_name (transfer);
  KletsenChatMessage *self = kletsen_chat_message_new (KLETSEN_MESSAGE_KIND_FILE, sender, shown,
                                                       KLETSEN_MESSAGE_STATE_RECEIVED, FALSE);

  self->transfer = g_object_ref (transfer);
  return self;
}

/* The transfer of a file item, while this session has it. */
KletsenFileTransfer *
kletsen_chat_message_get_transfer (KletsenChatMessage *self)
{
  return self->transfer;
}

KletsenMessageKind
kletsen_chat_message_get_kind (KletsenChatMessage *self)
{
  return self->kind;
}

const char *
kletsen_chat_message_get_sender (KletsenChatMessage *self)
{
  return self->sender;
}

const char *
kletsen_chat_message_get_text (KletsenChatMessage *self)
{
  return self->text;
}

GDateTime *
kletsen_chat_message_get_time (KletsenChatMessage *self)
{
  return self->time;
}

gboolean
kletsen_chat_message_get_encrypted (KletsenChatMessage *self)
{
  return self->encrypted;
}

KletsenMessageState
kletsen_chat_message_get_state (KletsenChatMessage *self)
{
  return self->state;
}

int
kletsen_chat_message_get_error_code (KletsenChatMessage *self)
{
  return self->error_code;
}

/* Moves a message of mine to sent, or to failed with the server's code. */
void
kletsen_chat_message_set_state (KletsenChatMessage  *self,
                                KletsenMessageState  state,
                                int                  error_code)
{
  /* A signed receipt from the peer is final: no later reply of the
   * server's makes the message "sent" or "failed" again. */
  if (self->state == KLETSEN_MESSAGE_STATE_DELIVERED)
    return;
  if (self->state != state)
    {
      self->state = state;
      g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_STATE]);
    }
  if (self->error_code != error_code)
    {
      self->error_code = error_code;
      g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_ERROR_CODE]);
    }
}

gboolean
kletsen_chat_message_get_verified (KletsenChatMessage *self)
{
  return self->verified;
}

void
kletsen_chat_message_set_verified (KletsenChatMessage *self,
                                   gboolean            verified)
{
  self->verified = verified;
}

/* Its row in the history store, or 0 when it is kept in memory only. */
gint64
kletsen_chat_message_get_history_id (KletsenChatMessage *self)
{
  return self->history_id;
}

void
kletsen_chat_message_set_history_id (KletsenChatMessage *self,
                                     gint64              id)
{
  self->history_id = id;
}

gboolean
kletsen_chat_message_get_mentions_me (KletsenChatMessage *self)
{
  return self->mentions_me;
}

void
kletsen_chat_message_set_mentions_me (KletsenChatMessage *self,
                                      gboolean            mentions)
{
  self->mentions_me = mentions;
}

static gboolean
is_name_char (gunichar c)
{
  return g_unichar_isalnum (c) || c == '_';
}

/**
 * kletsen_text_mentions:
 *
 * Returns: whether @text names @name as a word of its own (any case;
 *   "@name" counts, "names" does not)
 */
gboolean
kletsen_text_mentions (const char *text,
                       const char *name)
{
  g_autofree char *folded_text = NULL;
  g_autofree char *folded_name = NULL;
  gsize length;

  if (text == NULL || name == NULL || *name == '\0' || !g_utf8_validate (text, -1, NULL))
    return FALSE;
  folded_text = g_utf8_casefold (text, -1);
  folded_name = g_utf8_casefold (name, -1);
  length = strlen (folded_name);
  for (const char *p = strstr (folded_text, folded_name); p != NULL; p = strstr (p + 1, folded_name))
    {
      const char *after = p + length;
      gboolean starts = p == folded_text || !is_name_char (g_utf8_get_char (g_utf8_prev_char (p)));
      gboolean ends = *after == '\0' || !is_name_char (g_utf8_get_char (after));

      if (starts && ends)
        return TRUE;
    }
  return FALSE;
}
