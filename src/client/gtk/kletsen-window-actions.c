/* kletsen-window-actions.c
 *
 * Copyright 2026 The Kletsen authors
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

/* What the user does in the window: sending, the game, key fingerprints,
 * logging out, and the invitations and dialogs that go with them. */

#include "config.h"

#include <glib/gi18n.h>

#include "kletsen-message-row.h"
#include "kletsen-protocol.h"
#include "kletsen-sidebar-row.h"
#include "kletsen-window-private.h"

static void
key_change_response_cb (AdwMessageDialog *dialog,
                        const char       *response,
                        KletsenWindow    *self);

static char *
invitation_text (KletsenGameState *game);

static gboolean
invite_tick_cb (gpointer user_data);

static void
dismiss_invitation (KletsenWindow *self);

static void
game_entered_cb (GObject      *object,
                 GAsyncResult *result,
                 gpointer      user_data);

static void
guessed_cb (GObject      *object,
            GAsyncResult *result,
            gpointer      user_data);

/* ---- sending ---- */

/* Sending needs text that is not blank, and a connection. What was typed
 * stays in the entry while the connection is being restored. */
void
_kletsen_window_message_entry_changed_cb (KletsenWindow *self)
{
  gboolean online = self->session && kletsen_session_get_state (self->session) == KLETSEN_SESSION_ONLINE;

  gtk_widget_action_set_enabled (GTK_WIDGET (self), "win.send", online && !kletsen_composer_is_blank (self->composer));
}

void
_kletsen_window_send_action (GtkWidget  *widget,
                             const char *action_name,
                             GVariant   *parameter)
{
  KletsenWindow *self = KLETSEN_WINDOW (widget);
  const char *peer = _kletsen_window_current_peer (self);
  g_autofree char *text = kletsen_composer_get_text (self->composer);

  if (kletsen_text_is_blank (text))
    return;
  if (peer == NULL)
    kletsen_session_broadcast_async (self->session, text, NULL, NULL);
  else if (kletsen_session_get_secure (self->session, peer))
    {
      if (kletsen_session_is_peer_blocked (self->session, peer))
        {
          _kletsen_window_toast (self, _("This person’s key changed. Compare fingerprints and trust the new key first."));
          return;
        }
      kletsen_session_send_secure_async (self->session, peer, text, NULL, NULL);
    }
  else
    kletsen_session_send_private_async (self->session, peer, text, NULL, NULL);
  kletsen_composer_set_text (self->composer, "");
  _kletsen_window_scroll_to_end (self);
}

void
_kletsen_window_message_entry_activate_cb (KletsenWindow *self)
{
  if (kletsen_session_get_state (self->session) != KLETSEN_SESSION_ONLINE &&
      !kletsen_composer_is_blank (self->composer))
    {
      /* Never a silent Enter: the text stays, and the banner says why. */
      _kletsen_window_toast (self, _("Not connected. Your message is kept; send it once the connection is back."));
      return;
    }
  gtk_widget_activate_action (GTK_WIDGET (self), "win.send", NULL);
}

/* ---- secure messages ---- */

static void
fingerprints_response_cb (AdwMessageDialog *dialog,
                          const char       *response,
                          KletsenWindow    *self)
{
  const char *peer = g_object_get_data (G_OBJECT (dialog), "peer");

  if (g_str_equal (response, "verify"))
    {
      /* The fingerprint this dialog showed: if it was replaced meanwhile,
       * nothing is marked. */
      if (kletsen_session_verify_peer (self->session, peer, g_object_get_data (G_OBJECT (dialog), "fingerprint")))
        _kletsen_window_toast (self, _("Marked as verified"));
      else
        _kletsen_window_toast (self, _("The key changed while you compared it: nothing was marked"));
    }
  else if (g_str_equal (response, "unverify"))
    kletsen_session_unverify_peer (self->session, peer);
}

void
_kletsen_window_show_fingerprints_action (GtkWidget  *widget,
                                          const char *action_name,
                                          GVariant   *parameter)
{
  KletsenWindow *self = KLETSEN_WINDOW (widget);
  const char *peer = _kletsen_window_current_peer (self);
  g_autofree char *theirs = peer ? kletsen_session_get_peer_fingerprint (self->session, peer) : NULL;
  g_autofree char *pending = NULL;
  g_autofree char *body = NULL;
  gboolean verified;
  GtkWidget *dialog;

  if (peer == NULL)
    return;
  verified = kletsen_session_is_peer_verified (self->session, peer);
  pending = kletsen_session_get_pending_fingerprint (self->session, peer);
  if (pending != NULL)
    /* Say which key is which: the trusted one, and the one waiting. */
    body = g_strdup_printf (_("Your fingerprint:\n%s\n\n%s’s trusted fingerprint:\n%s\n\n"
                              "A new key for %s is waiting, not trusted:\n%s\n\n"
                              "Compare the new one with %s, then answer the warning about it."),
                            kletsen_session_get_fingerprint (self->session),
                            peer, theirs ? theirs : "", peer, pending, peer);
  else
    body = g_strdup_printf (_("Your fingerprint:\n%s\n\n%s’s fingerprint:\n%s\n\n"
                              "Read them to each other in person or on the phone. If they match, nobody "
                              "can read your encrypted messages but the two of you."),
                            kletsen_session_get_fingerprint (self->session),
                            peer, theirs ? theirs : _("not known yet: send an encrypted message first"));
  {
    g_autofree char *lookalike = kletsen_session_find_lookalike (self->session, peer);

    if (lookalike != NULL)
      {
        g_autofree char *warned = g_strdup_printf (_("Careful: “%s” is not “%s”, whom you know; the names only look "
                                                     "alike.\n\n%s"), peer, lookalike, body);

        g_free (body);
        body = g_steal_pointer (&warned);
      }
  }
  dialog = adw_message_dialog_new (GTK_WINDOW (self),
                                   verified ? _("Fingerprints Verified") : _("Compare Fingerprints"), body);
  adw_message_dialog_add_response (ADW_MESSAGE_DIALOG (dialog), "close", _("_Close"));
  if (verified)
    adw_message_dialog_add_response (ADW_MESSAGE_DIALOG (dialog), "unverify", _("_Unmark as Verified"));
  else if (theirs != NULL && pending == NULL)
    {
      adw_message_dialog_add_response (ADW_MESSAGE_DIALOG (dialog), "verify", _("_They Match"));
      adw_message_dialog_set_response_appearance (ADW_MESSAGE_DIALOG (dialog), "verify", ADW_RESPONSE_SUGGESTED);
    }
  adw_message_dialog_set_close_response (ADW_MESSAGE_DIALOG (dialog), "close");
  g_object_set_data_full (G_OBJECT (dialog), "peer", g_strdup (peer), g_free);
  g_object_set_data_full (G_OBJECT (dialog), "fingerprint", g_steal_pointer (&theirs), g_free);
  g_signal_connect_object (dialog, "response", G_CALLBACK (fingerprints_response_cb), self, 0);
  _kletsen_window_track_dialog (self, dialog);
  gtk_window_present (GTK_WINDOW (dialog));
}

static void
key_change_response_cb (AdwMessageDialog *dialog,
                        const char       *response,
                        KletsenWindow    *self)
{
  const char *peer = g_object_get_data (G_OBJECT (dialog), "peer");
  g_autofree char *key = fold (peer);

  g_hash_table_remove (self->key_dialogs, key);
  /* The key this dialog showed, not whichever came last. */
  if (g_str_equal (response, "trust"))
    {
      if (kletsen_session_trust_peer_key (self->session, peer, g_object_get_data (G_OBJECT (dialog), "fingerprint")))
        _kletsen_window_toast (self, _("The new key is trusted"));
      else
        _kletsen_window_toast (self, _("The key changed again while you compared it: nothing was trusted"));
    }
  else
    kletsen_session_forget_peer_key (self->session, peer);
}

/* One dialog per peer: a key that changes again replaces the dialog on
 * screen (without answering it), so there is never a stack of them and
 * never a Trust button for a key that is no longer the pending one. */
static void
replace_key_dialog (KletsenWindow *self,
                    const char    *peer,
                    GtkWidget     *dialog)
{
  g_autofree char *key = fold (peer);
  GtkWidget *old = g_hash_table_lookup (self->key_dialogs, key);

  if (old != NULL)
    {
      g_signal_handlers_disconnect_by_data (old, self);
      gtk_window_destroy (GTK_WINDOW (old));
    }
  g_hash_table_insert (self->key_dialogs, g_steal_pointer (&key), dialog);
}

void
_kletsen_window_peer_key_changed_cb (KletsenWindow *self,
                                     const char    *peer,
                                     const char    *old_fingerprint,
                                     const char    *new_fingerprint)
{
  gboolean was_verified = kletsen_session_is_peer_verified (self->session, peer);
  g_autofree char *title = g_strdup_printf (was_verified ? _("The Key You Verified for %s Has Changed")
                                                         : _("%s’s Key Has Changed"), peer);
  g_autofree char *body = g_strdup_printf (_("The key the server relayed for %s is not the one you trusted before. "
                                             "They may have reinstalled Kletsen, or someone may be trying to read "
                                             "your messages.\n\nBefore:\n%s\n\nNow:\n%s\n\n"
                                             "Compare the new fingerprint with %s before you trust it. "
                                             "Until then nothing encrypted is sent to them."),
                                           peer, old_fingerprint, new_fingerprint, peer);
  g_autofree char *louder = was_verified
    ? g_strdup_printf (_("You had compared fingerprints with %s and marked the old key as verified. "
                         "A change now is unusual: call them before you trust it.\n\n%s"), peer, body)
    : NULL;
  g_autofree char *lookalike = kletsen_session_find_lookalike (self->session, peer);
  g_autofree char *warned = lookalike
    ? g_strdup_printf (_("Careful: “%s” is not “%s”, whom you know; the names only look alike.\n\n%s"),
                       peer, lookalike, louder ? louder : body)
    : NULL;
  GtkWidget *dialog = adw_message_dialog_new (GTK_WINDOW (self), title, warned ? warned : louder ? louder : body);

  adw_message_dialog_add_responses (ADW_MESSAGE_DIALOG (dialog),
                                    "cancel", _("_Keep Blocked"),
                                    "trust", _("_Trust New Key"),
                                    NULL);
  adw_message_dialog_set_response_appearance (ADW_MESSAGE_DIALOG (dialog), "trust", ADW_RESPONSE_DESTRUCTIVE);
  adw_message_dialog_set_default_response (ADW_MESSAGE_DIALOG (dialog), "cancel");
  adw_message_dialog_set_close_response (ADW_MESSAGE_DIALOG (dialog), "cancel");
  g_object_set_data_full (G_OBJECT (dialog), "peer", g_strdup (peer), g_free);
  g_object_set_data_full (G_OBJECT (dialog), "fingerprint", g_strdup (new_fingerprint), g_free);
  g_signal_connect_object (dialog, "response", G_CALLBACK (key_change_response_cb), self, 0);
  replace_key_dialog (self, peer, dialog);
  _kletsen_window_track_dialog (self, dialog);
  gtk_window_present (GTK_WINDOW (dialog));
}

/* ---- the game ---- */

static char *
invitation_text (KletsenGameState *game)
{
  int left = kletsen_game_state_get_seconds_left (game);

  return g_strdup_printf (ngettext ("%s started a guessing game: %d second to join",
                                    "%s started a guessing game: %d seconds to join", left),
                          kletsen_game_state_get_initiator (game), left);
}

/* The invitation counts down with the panel, and goes once it is over. */
static gboolean
invite_tick_cb (gpointer user_data)
{
  KletsenWindow *self = user_data;
  g_autofree char *text = NULL;

  if (self->invite_toast == NULL)
    {
      self->invite_tick_id = 0;
      return G_SOURCE_REMOVE;
    }
  text = invitation_text (kletsen_session_get_game (self->session));
  adw_toast_set_title (self->invite_toast, text);
  return G_SOURCE_CONTINUE;
}

static void
dismiss_invitation (KletsenWindow *self)
{
  g_clear_handle_id (&self->invite_tick_id, g_source_remove);
  if (self->invite_toast != NULL)
    {
      AdwToast *invite = self->invite_toast;

      g_clear_weak_pointer (&self->invite_toast);
      adw_toast_dismiss (invite);
    }
}

void
_kletsen_window_game_phase_cb (KletsenWindow *self)
{
  KletsenGameState *game = kletsen_session_get_game (self->session);
  KletsenGamePhase phase = kletsen_game_state_get_phase (game);
  gboolean chatting = g_strcmp0 (gtk_stack_get_visible_child_name (self->main_stack), "chat") == 0;

  /* An invitation is only ever about the game that is inviting now. */
  dismiss_invitation (self);
  if (phase == KLETSEN_GAME_INVITED && chatting)
    {
      g_autofree char *text = invitation_text (game);
      AdwToast *invite = adw_toast_new (text);

      adw_toast_set_button_label (invite, _("_Join"));
      adw_toast_set_action_name (invite, "win.join-game");
      adw_toast_set_timeout (invite, MAX (kletsen_game_state_get_seconds_left (game), 1));
      g_set_weak_pointer (&self->invite_toast, invite);
      self->invite_tick_id = g_timeout_add_seconds (1, invite_tick_cb, self);
      adw_toast_overlay_add_toast (self->toast_overlay, invite);
      _kletsen_window_notify_game (self, text);
    }
  else
    _kletsen_window_withdraw_notification (self, "game");
  gtk_revealer_set_reveal_child (self->game_revealer, phase != KLETSEN_GAME_NONE && chatting);
}

static void
game_entered_cb (GObject      *object,
                 GAsyncResult *result,
                 gpointer      user_data)
{
  g_autoptr(KletsenWindow) self = user_data;
  g_autoptr(GError) error = NULL;

  if (!kletsen_session_request_finish (KLETSEN_SESSION (object), result, &error))
    _kletsen_window_toast (self, error->message);
}

void
_kletsen_window_start_game_action (GtkWidget  *widget,
                                   const char *action_name,
                                   GVariant   *parameter)
{
  KletsenWindow *self = KLETSEN_WINDOW (widget);

  kletsen_session_start_game_async (self->session, game_entered_cb, g_object_ref (self));
}

void
_kletsen_window_join_game_action (GtkWidget  *widget,
                                  const char *action_name,
                                  GVariant   *parameter)
{
  KletsenWindow *self = KLETSEN_WINDOW (widget);

  kletsen_session_join_game_async (self->session, game_entered_cb, g_object_ref (self));
}

static void
guessed_cb (GObject      *object,
            GAsyncResult *result,
            gpointer      user_data)
{
  g_autoptr(KletsenWindow) self = user_data;
  g_autoptr(GError) error = NULL;
  int answer = kletsen_session_guess_finish (KLETSEN_SESSION (object), result, &error);

  if (error != NULL)
    _kletsen_window_toast (self, error->message);
  else
    kletsen_game_panel_set_feedback (self->game_panel, answer);
}

void
_kletsen_window_panel_guess_cb (KletsenWindow *self,
                                int            number)
{
  kletsen_session_guess_async (self->session, number, guessed_cb, g_object_ref (self));
}

void
_kletsen_window_panel_close_cb (KletsenWindow *self)
{
  gtk_revealer_set_reveal_child (self->game_revealer, FALSE);
}

void
_kletsen_window_log_out_action (GtkWidget  *widget,
                                const char *action_name,
                                GVariant   *parameter)
{
  KletsenWindow *self = KLETSEN_WINDOW (widget);

  kletsen_session_disconnect (self->session);
  gtk_stack_set_visible_child_name (self->main_stack, "connect");
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "win.log-out", FALSE);
  dismiss_invitation (self);
}

void
_kletsen_window_back_action (GtkWidget  *widget,
                             const char *action_name,
                             GVariant   *parameter)
{
  adw_leaflet_navigate (KLETSEN_WINDOW (widget)->leaflet, ADW_NAVIGATION_DIRECTION_BACK);
}

void
_kletsen_window_reconnect_action (GtkWidget  *widget,
                                  const char *action_name,
                                  GVariant   *parameter)
{
  kletsen_session_reconnect_now (KLETSEN_WINDOW (widget)->session);
}
