/* kletsen-message-row.c
 *
 * Copyright 2026 The Kletsen authors
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#include "config.h"

#include <adwaita.h>
#include <glib/gi18n.h>
#include <string.h>

#include "kletsen-message-row.h"
#include "kletsen-protocol.h"
#include "kletsen-transfer-row.h"

struct _KletsenMessageRow
{
  GtkBox              parent_instance;

  /* template widgets */
  GtkLabel           *day_label;
  GtkBox             *new_line;
  GtkBox             *body;
  GtkBox             *header;
  GtkLabel           *sender_label;
  GtkImage           *lock_icon;
  GtkLabel           *time_label;
  GtkLabel           *state_label;
  GtkButton          *retry_button;
  GtkLabel           *text_label;
  GtkButton          *show_all_button;
  GtkBox             *transfer_slot;

  /* the message shown, while bound */
  KletsenChatMessage *message;
  gulong              state_id;
};

G_DEFINE_FINAL_TYPE (KletsenMessageRow, kletsen_message_row, GTK_TYPE_BOX)

static gboolean
activate_link_cb (KletsenMessageRow *self,
                  const char        *uri);

enum {
  RETRY,
  N_SIGNALS
};

static guint signals[N_SIGNALS];

/**
 * kletsen_message_preview:
 * @truncated: (out): whether the text was cut
 * @long_words: (out): whether it has a run of %KLETSEN_MESSAGE_LONG_WORD
 *   characters without white space
 *
 * Returns: (transfer full): the start of @text that a row shows: at most
 *   %KLETSEN_MESSAGE_PREVIEW_CHARS characters and
 *   %KLETSEN_MESSAGE_PREVIEW_LINES lines, cut at a character boundary
 */
char *
kletsen_message_preview (const char *text,
                         gboolean   *truncated,
                         gboolean   *long_words)
{
  const char *p = text;
  guint chars = 0, lines = 1, run = 0;

  *long_words = FALSE;
  while (*p != '\0' && chars < KLETSEN_MESSAGE_PREVIEW_CHARS && lines <= KLETSEN_MESSAGE_PREVIEW_LINES)
    {
      gunichar c = g_utf8_get_char (p);

      if (c == '\n')
        lines++;
      run = g_unichar_isspace (c) ? 0 : run + 1;
      if (run >= KLETSEN_MESSAGE_LONG_WORD)
        *long_words = TRUE;
      chars++;
      p = g_utf8_next_char (p);
    }
  *truncated = *p != '\0';
  if (!*truncated)
    return g_strdup (text);
  return g_strdup_printf ("%.*s…", (int)(p - text), text);
}

static char *
state_text (KletsenChatMessage *message)
{
  switch (kletsen_chat_message_get_state (message))
    {
    case KLETSEN_MESSAGE_STATE_SENDING:
      return g_strdup (_("Sending…"));
    case KLETSEN_MESSAGE_STATE_FAILED:
      if (kletsen_chat_message_get_error_code (message) != 0)
        return g_strdup_printf (_("Not sent: %s"), kletsen_code_describe (kletsen_chat_message_get_error_code (message)));
      return g_strdup (_("Not sent"));
    case KLETSEN_MESSAGE_STATE_DELIVERED:
      /* Said only when the peer's signed receipt came: never on the server's word. */
      return g_strdup (_("Delivered"));
    case KLETSEN_MESSAGE_STATE_SENT:
    case KLETSEN_MESSAGE_STATE_RECEIVED:
    default:
      return g_strdup ("");
    }
}

static void
update_state (KletsenMessageRow *self)
{
  g_autofree char *text = state_text (self->message);
  gboolean failed = kletsen_chat_message_get_state (self->message) == KLETSEN_MESSAGE_STATE_FAILED;

  gtk_label_set_text (self->state_label, text);
  gtk_widget_set_visible (GTK_WIDGET (self->state_label), *text != '\0');
  gtk_widget_set_visible (GTK_WIDGET (self->retry_button), failed);
  if (failed)
    {
      gtk_widget_add_css_class (GTK_WIDGET (self->state_label), "error");
      gtk_widget_remove_css_class (GTK_WIDGET (self->state_label), "dim-label");
    }
  else
    {
      gtk_widget_remove_css_class (GTK_WIDGET (self->state_label), "error");
      gtk_widget_add_css_class (GTK_WIDGET (self->state_label), "dim-label");
    }
}

static void
retry_clicked_cb (KletsenMessageRow *self)
{
  if (self->message != NULL)
    g_signal_emit (self, signals[RETRY], 0, self->message);
}

static void
copy_clicked_cb (GtkButton *button,
                 GtkWidget *window)
{
  const char *text = g_object_get_data (G_OBJECT (window), "kletsen-text");

  gdk_clipboard_set_text (gtk_widget_get_clipboard (window), text);
}

/* The whole text, in a view that lays out what is on screen only. A text
 * with long unbroken runs scrolls sideways instead of wrapping: wrapping
 * them anywhere costs seconds for 64 KiB. */
static void
show_all_clicked_cb (KletsenMessageRow *self)
{
  const char *text;
  const char *sender;
  GtkWidget *window, *toolbar, *header, *copy, *scroller, *view;
  GtkTextBuffer *buffer;
  gboolean truncated, long_words;
  g_autofree char *preview = NULL;

  if (self->message == NULL)
    return;
  text = kletsen_chat_message_get_text (self->message);
  sender = kletsen_chat_message_get_sender (self->message);
  preview = kletsen_message_preview (text, &truncated, &long_words);

  window = adw_window_new ();
  gtk_window_set_title (GTK_WINDOW (window), sender ? sender : _("Message"));
  gtk_window_set_transient_for (GTK_WINDOW (window), GTK_WINDOW (gtk_widget_get_root (GTK_WIDGET (self))));
  gtk_window_set_modal (GTK_WINDOW (window), TRUE);
  gtk_window_set_default_size (GTK_WINDOW (window), 640, 480);
  g_object_set_data_full (G_OBJECT (window), "kletsen-text", g_strdup (text), g_free);

  toolbar = gtk_box_new (GTK_ORIENTATION_VERTICAL, 0);
  header = adw_header_bar_new ();
  copy = gtk_button_new_with_mnemonic (_("_Copy"));
  g_signal_connect (copy, "clicked", G_CALLBACK (copy_clicked_cb), window);
  adw_header_bar_pack_start (ADW_HEADER_BAR (header), copy);
  gtk_box_append (GTK_BOX (toolbar), header);

  view = gtk_text_view_new ();
  gtk_text_view_set_editable (GTK_TEXT_VIEW (view), FALSE);
  gtk_text_view_set_wrap_mode (GTK_TEXT_VIEW (view), long_words ? GTK_WRAP_NONE : GTK_WRAP_WORD_CHAR);
  gtk_text_view_set_left_margin (GTK_TEXT_VIEW (view), 12);
  gtk_text_view_set_right_margin (GTK_TEXT_VIEW (view), 12);
  gtk_text_view_set_top_margin (GTK_TEXT_VIEW (view), 12);
  gtk_text_view_set_bottom_margin (GTK_TEXT_VIEW (view), 12);
  gtk_accessible_update_property (GTK_ACCESSIBLE (view), GTK_ACCESSIBLE_PROPERTY_LABEL, _("Whole message"), -1);
  buffer = gtk_text_view_get_buffer (GTK_TEXT_VIEW (view));
  gtk_text_buffer_set_text (buffer, text, -1);
  scroller = gtk_scrolled_window_new ();
  gtk_widget_set_vexpand (scroller, TRUE);
  gtk_scrolled_window_set_child (GTK_SCROLLED_WINDOW (scroller), view);
  gtk_box_append (GTK_BOX (toolbar), scroller);
  adw_window_set_content (ADW_WINDOW (window), toolbar);
  gtk_window_present (GTK_WINDOW (window));
}

static void
kletsen_message_row_dispose (GObject *object)
{
  kletsen_message_row_unbind (KLETSEN_MESSAGE_ROW (object));
  gtk_widget_dispose_template (GTK_WIDGET (object), KLETSEN_TYPE_MESSAGE_ROW);
  G_OBJECT_CLASS (kletsen_message_row_parent_class)->dispose (object);
}

static void
kletsen_message_row_class_init (KletsenMessageRowClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = kletsen_message_row_dispose;

  /**
   * KletsenMessageRow::retry:
   * @message: my message that was not sent
   */
  signals[RETRY] = g_signal_new ("retry", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                                 G_TYPE_NONE, 1, KLETSEN_TYPE_CHAT_MESSAGE);

  gtk_widget_class_set_template_from_resource (widget_class, "/nl/kletsen/Kletsen/kletsen-message-row.ui");
  gtk_widget_class_bind_template_child (widget_class, KletsenMessageRow, day_label);
  gtk_widget_class_bind_template_child (widget_class, KletsenMessageRow, new_line);
  gtk_widget_class_bind_template_callback (widget_class, activate_link_cb);
  gtk_widget_class_bind_template_child (widget_class, KletsenMessageRow, body);
  gtk_widget_class_bind_template_child (widget_class, KletsenMessageRow, header);
  gtk_widget_class_bind_template_child (widget_class, KletsenMessageRow, sender_label);
  gtk_widget_class_bind_template_child (widget_class, KletsenMessageRow, lock_icon);
  gtk_widget_class_bind_template_child (widget_class, KletsenMessageRow, time_label);
  gtk_widget_class_bind_template_child (widget_class, KletsenMessageRow, state_label);
  gtk_widget_class_bind_template_child (widget_class, KletsenMessageRow, retry_button);
  gtk_widget_class_bind_template_child (widget_class, KletsenMessageRow, text_label);
  gtk_widget_class_bind_template_child (widget_class, KletsenMessageRow, show_all_button);
  gtk_widget_class_bind_template_child (widget_class, KletsenMessageRow, transfer_slot);
  gtk_widget_class_bind_template_callback (widget_class, retry_clicked_cb);
  gtk_widget_class_bind_template_callback (widget_class, show_all_clicked_cb);
}

static void
kletsen_message_row_init (KletsenMessageRow *self)
{
  gtk_widget_init_template (GTK_WIDGET (self));
}

GtkWidget *
kletsen_message_row_new (void)
{
  return g_object_new (KLETSEN_TYPE_MESSAGE_ROW, NULL);
}

/**
 * kletsen_message_row_bind:
 *
 * Shows @message, and follows its state until kletsen_message_row_unbind().
 */
/* Links in what people write: http and https addresses and e-mail
 * addresses, nothing else, and everything around them escaped. */
static GRegex *
link_regex (void)
{
  static GRegex *regex;

  if (g_once_init_enter (&regex))
    g_once_init_leave (&regex, g_regex_new ("\\bhttps?://[^\\s<>\"]+|"
                                            "\\b[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(\\.[A-Za-z0-9-]+)*\\.[A-Za-z]{2,}\\b",
                                            G_REGEX_OPTIMIZE | G_REGEX_CASELESS, 0, NULL));
  return regex;
}

/**
 * kletsen_message_markup:
 *
 * Returns: (transfer full) (nullable): @text as Pango markup with its links
 *   made clickable, or %NULL when it has none
 */
char *
kletsen_message_markup (const char *text)
{
  g_autoptr(GMatchInfo) match = NULL;
  g_autoptr(GString) markup = NULL;
  const char *done = text;

  if (strstr (text, "://") == NULL && strchr (text, '@') == NULL)
    return NULL;
  if (!g_regex_match (link_regex (), text, 0, &match))
    return NULL;
  markup = g_string_new (NULL);
  while (g_match_info_matches (match))
    {
      int start, end;
      g_autofree char *before = NULL;
      g_autofree char *link = NULL;
      g_autofree char *escaped = NULL;
      g_autofree char *href = NULL;

      g_match_info_fetch_pos (match, 0, &start, &end);
      /* A full stop or bracket after a link ends the sentence, not the link. */
      while (end > start && strchr (".,;:!?)]'", text[end - 1]) != NULL)
        end--;
      before = g_markup_escape_text (done, text + start - done);
      link = g_strndup (text + start, end - start);
      escaped = g_markup_escape_text (link, -1);
      href = strstr (link, "://") ? g_strdup (escaped) : g_strconcat ("mailto:", escaped, NULL);
      g_string_append_printf (markup, "%s<a href=\"%s\">%s</a>", before, href, escaped);
      done = text + end;
      g_match_info_next (match, NULL);
    }
  {
    g_autofree char *rest = g_markup_escape_text (done, -1);

    g_string_append (markup, rest);
  }
  return g_string_free (g_steal_pointer (&markup), FALSE);
}

/* Only the links we made: anything else is not opened. */
static gboolean
activate_link_cb (KletsenMessageRow *self,
                  const char        *uri)
{
  if (g_str_has_prefix (uri, "https://") || g_str_has_prefix (uri, "http://") || g_str_has_prefix (uri, "mailto:"))
    return FALSE; /* GTK opens it, through the portal in a sandbox */
  return TRUE;
}

/* The time of day; the day is the separator's above, and the tooltip's. */
static char *
format_time (GDateTime *time)
{
  return g_date_time_format (time, "%H:%M");
}

void
kletsen_message_row_bind (KletsenMessageRow  *self,
                          KletsenChatMessage *message)
{
  KletsenMessageKind kind = kletsen_chat_message_get_kind (message);
  g_autofree char *time = format_time (kletsen_chat_message_get_time (message));
  g_autofree char *preview = NULL;
  gboolean truncated, long_words;

  kletsen_message_row_unbind (self);
  self->message = g_object_ref (message);

  gtk_label_set_text (self->sender_label, kletsen_chat_message_get_sender (message) ? kletsen_chat_message_get_sender (message) : "");
  gtk_label_set_text (self->time_label, time);
  {
    /* TRANSLATORS: a message's date and time, in g_date_time_format()'s notation */
    g_autofree char *full = g_date_time_format (kletsen_chat_message_get_time (message), _("%A %e %B %Y, %H:%M"));

    gtk_widget_set_tooltip_text (GTK_WIDGET (self->time_label), full);
  }
  gtk_widget_set_visible (GTK_WIDGET (self->lock_icon), kletsen_chat_message_get_encrypted (message));
  gtk_widget_set_visible (GTK_WIDGET (self->header), kind != KLETSEN_MESSAGE_KIND_SYSTEM);

  /* Bounded, whatever arrives: a preview, wrapped anywhere when it holds a
   * word longer than a line could be. */
  preview = kletsen_message_preview (kletsen_chat_message_get_text (message), &truncated, &long_words);
  gtk_label_set_wrap_mode (self->text_label, long_words ? PANGO_WRAP_CHAR : PANGO_WRAP_WORD_CHAR);
  /* A URL or a key cut anywhere must not gain hyphens that are not in it. */
  if (long_words)
    {
      PangoAttrList *attributes = pango_attr_list_new ();

      pango_attr_list_insert (attributes, pango_attr_insert_hyphens_new (FALSE));
      gtk_label_set_attributes (self->text_label, attributes);
      pango_attr_list_unref (attributes);
    }
  else
    gtk_label_set_attributes (self->text_label, NULL);
  {
    g_autofree char *markup = kind == KLETSEN_MESSAGE_KIND_TEXT ? kletsen_message_markup (preview) : NULL;

    if (markup != NULL)
      gtk_label_set_markup (self->text_label, markup);
    else
      gtk_label_set_text (self->text_label, preview);
  }
  gtk_widget_set_visible (GTK_WIDGET (self->show_all_button), truncated);
  if (kletsen_chat_message_get_mentions_me (message))
    gtk_widget_add_css_class (GTK_WIDGET (self->body), "kletsen-mention");
  else
    gtk_widget_remove_css_class (GTK_WIDGET (self->body), "kletsen-mention");

  /* System lines are quiet and centred; error items stand out. */
  gtk_label_set_xalign (self->text_label, kind == KLETSEN_MESSAGE_KIND_SYSTEM ? 0.5 : 0);
  gtk_widget_remove_css_class (GTK_WIDGET (self->text_label), "dim-label");
  gtk_widget_remove_css_class (GTK_WIDGET (self->text_label), "error");
  if (kind == KLETSEN_MESSAGE_KIND_SYSTEM)
    gtk_widget_add_css_class (GTK_WIDGET (self->text_label), "dim-label");
  else if (kind == KLETSEN_MESSAGE_KIND_ERROR)
    gtk_widget_add_css_class (GTK_WIDGET (self->text_label), "error");

  /* A file: its transfer, answered and followed right here. */
  if (kind == KLETSEN_MESSAGE_KIND_FILE)
    {
      KletsenFileTransfer *transfer = kletsen_chat_message_get_transfer (message);

      if (transfer != NULL)
        {
          gtk_box_append (self->transfer_slot, kletsen_transfer_row_new (transfer));
          gtk_widget_set_visible (GTK_WIDGET (self->transfer_slot), TRUE);
          gtk_widget_set_visible (GTK_WIDGET (self->text_label), FALSE);
        }
      else
        {
          g_autofree char *line = g_strdup_printf (_("File “%s”, in an earlier session"),
                                                   kletsen_chat_message_get_text (message));

          gtk_label_set_text (self->text_label, line);
          gtk_widget_add_css_class (GTK_WIDGET (self->text_label), "dim-label");
        }
    }

  update_state (self);
  self->state_id = g_signal_connect_object (message, "notify::state", G_CALLBACK (update_state), self,
                                            G_CONNECT_SWAPPED);
}

/**
 * kletsen_message_row_set_context:
 * @show_header: %FALSE when the message above is the same person's, a
 *   moment before: name and time are shown once per run
 * @day: (nullable): the day separator above this message, if any
 */
void
kletsen_message_row_set_context (KletsenMessageRow *self,
                                 gboolean           show_header,
                                 const char        *day)
{
  gtk_widget_set_visible (GTK_WIDGET (self->sender_label), show_header);
  gtk_widget_set_visible (GTK_WIDGET (self->time_label), show_header);
  gtk_label_set_text (self->day_label, day ? day : "");
  gtk_widget_set_visible (GTK_WIDGET (self->day_label), day != NULL);
  /* The same person again, a moment later: closer to the message above. */
  gtk_widget_set_margin_top (GTK_WIDGET (self), show_header ? 4 : 0);
}

/**
 * kletsen_message_day_label:
 *
 * Returns: (transfer full): "Today", "Yesterday", or the date of @time
 */
char *
kletsen_message_day_label (GDateTime *time)
{
  g_autoptr(GDateTime) now = g_date_time_new_now_local ();
  g_autoptr(GDateTime) today = g_date_time_new_local (g_date_time_get_year (now), g_date_time_get_month (now),
                                                      g_date_time_get_day_of_month (now), 0, 0, 0);
  GTimeSpan ago = g_date_time_difference (today, time);

  if (ago <= 0)
    return g_strdup (_("Today"));
  if (ago <= G_TIME_SPAN_DAY)
    return g_strdup (_("Yesterday"));
  /* TRANSLATORS: a day separator in the timeline, in g_date_time_format()'s notation */
  return g_date_time_format (time, _("%A %e %B %Y"));
}

/* The message a search led to: marked until the conversation changes. */
void
kletsen_message_row_set_found (KletsenMessageRow *self,
                               gboolean           found)
{
  if (found)
    gtk_widget_add_css_class (GTK_WIDGET (self->body), "kletsen-found");
  else
    gtk_widget_remove_css_class (GTK_WIDGET (self->body), "kletsen-found");
}

/* The "new messages" line above this one: where the user left off. */
void
kletsen_message_row_set_new_line (KletsenMessageRow *self,
                                  gboolean           shown)
{
  gtk_widget_set_visible (GTK_WIDGET (self->new_line), shown);
}

void
kletsen_message_row_unbind (KletsenMessageRow *self)
{
  GtkWidget *child;

  if (self->message == NULL)
    return;
  g_clear_signal_handler (&self->state_id, self->message);
  g_clear_object (&self->message);
  while ((child = gtk_widget_get_first_child (GTK_WIDGET (self->transfer_slot))) != NULL)
    gtk_box_remove (self->transfer_slot, child);
  gtk_widget_set_visible (GTK_WIDGET (self->transfer_slot), FALSE);
  gtk_widget_set_visible (GTK_WIDGET (self->text_label), TRUE);
}

/**
 * kletsen_message_row_get_message:
 *
 * Returns: (transfer none) (nullable): the message shown
 */
KletsenChatMessage *
kletsen_message_row_get_message (KletsenMessageRow *self)
{
  return self->message;
}
