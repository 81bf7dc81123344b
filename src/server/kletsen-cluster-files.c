/* kletsen-cluster-files.c
 *
 * Copyright 2026 The Kletsen authors
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

/* File transfers whose two sides are on two nodes (docs/cluster.md). The
 * uploader's node owns the transfer as on one server; the offer reaches
 * the downloader on its node (UF envelope, which also says where the
 * owner's file port is), and the answer goes back to the owner (X). The
 * downloader's client opens its side channel on its own node, as always;
 * that node checks the half (its secret, or its user's address) and
 * forwards it to the owner's file port with the same header, relaying
 * with the usual bounded machinery. No client needs to change. */

#include "config.h"

#include <errno.h>
#include <glib-unix.h>
#include <netdb.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "kletsen-cluster-private.h"

/* An offer made on another node to a user of this one. */
typedef struct
{
  const char *owner;       /* interned INC */
  char       *file_address;/* the owner's file port, host:port */
  char       *downloader;  /* folded name */
  char       *uploader;
  gint64      at;          /* monotonic µs */
} RemoteOffer;

static void
remote_offer_free (RemoteOffer *offer)
{
  g_free (offer->file_address);
  g_free (offer->downloader);
  g_free (offer->uploader);
  g_free (offer);
}

static GHashTable *
remote_offers (KletsenCluster *self)
{
  if (self->remote_offers == NULL)
    self->remote_offers = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                                 (GDestroyNotify)remote_offer_free);
  return self->remote_offers;
}

const char *
_kletsen_cluster_find_remote (KletsenCluster  *self,
                              const char      *name,
                              const char     **shown)
{
  g_autofree char *folded = kletsen_user_name_key (name);
  KletsenReplicaUser *user = g_hash_table_lookup (self->replica, folded);

  if (user == NULL || user->inc == self->inc_interned)
    return NULL;
  *shown = user->shown;
  return user->inc;
}

void
_kletsen_cluster_send_offer (KletsenCluster *self,
                             const char     *inc,
                             const char     *name,
                             GBytes         *line)
{
  g_autofree char *arg = g_strconcat (name, "@", self->file_address, NULL);
  g_autoptr(GBytes) envelope = _kletsen_envelope_build (self->inc, _kletsen_cluster_next_seq (self, inc),
                                                        "UF", arg, line);

  _kletsen_cluster_publish (self, inc, envelope, NULL, NULL);
}

static JsonObject *
wire_body (const KletsenEnvelope *envelope,
           KletsenMessageType     type)
{
  const KletsenMessageInfo *info;
  JsonObject *body = NULL;

  if (envelope->wire == NULL ||
      kletsen_message_parse (envelope->wire, envelope->wire_len - 1, KLETSEN_TO_CLIENT, &info, &body) != KLETSEN_PARSE_OK)
    return NULL;
  if (info->type != type)
    g_clear_pointer (&body, json_object_unref);
  return body;
}

/* Old entries go: an offer lives offer-timeout at most. */
static void
forget_old_offers (KletsenCluster *self)
{
  gint64 oldest = g_get_monotonic_time () - (gint64)self->server->options.offer_timeout_ms * 2000;
  GHashTableIter iter;
  RemoteOffer *offer;

  g_hash_table_iter_init (&iter, remote_offers (self));
  while (g_hash_table_iter_next (&iter, NULL, (gpointer *)&offer))
    if (offer->at < oldest)
      g_hash_table_iter_remove (&iter);
}

/* UF: an offer for one of our users. */
static void
apply_offer (KletsenCluster        *self,
             const char            *inc,
             const KletsenEnvelope *envelope)
{
  g_autofree char *arg = g_strndup (envelope->arg, envelope->arg_len);
  char *at = strchr (arg, '@');
  g_autoptr(JsonObject) body = NULL;
  KletsenConnection *receiver;
  g_autoptr(GBytes) wire = NULL;
  RemoteOffer *offer;
  const char *id;

  if (at == NULL)
    return;
  *at = '\0';
  receiver = _kletsen_server_find_user (self->server, arg);
  body = wire_body (envelope, KLETSEN_MSG_FILE_TRANSFER_OFFER);
  if (receiver == NULL || body == NULL || !_kletsen_connection_is_open (receiver) ||
      !g_uuid_string_is_valid ((id = kletsen_body_get_string (body, "transferId"))))
    return;
  forget_old_offers (self);
  offer = g_new0 (RemoteOffer, 1);
  offer->owner = inc;
  offer->file_address = g_strdup (at + 1);
  offer->downloader = kletsen_user_name_key (receiver->name);
  offer->uploader = g_strdup (kletsen_body_get_string (body, "sender"));
  offer->at = g_get_monotonic_time ();
  g_hash_table_insert (remote_offers (self), g_strdup (id), offer);
  wire = g_bytes_new (envelope->wire, envelope->wire_len);
  _kletsen_connection_send (receiver, wire);
}

gboolean
_kletsen_cluster_forward_answer (KletsenCluster    *self,
                                 KletsenConnection *conn,
                                 JsonObject        *body)
{
  const char *id = json_object_get_string_member (body, "transferId");
  const char *secret = kletsen_body_get_string (body, "roleSecret");
  g_autofree char *folded = kletsen_user_name_key (conn->name);
  g_autoptr(GBytes) line = NULL;
  g_autoptr(GBytes) envelope = NULL;
  g_autoptr(JsonObject) out = NULL;
  RemoteOffer *offer = g_hash_table_lookup (remote_offers (self), id);

  if (offer == NULL || strcmp (offer->downloader, folded) != 0)
    return FALSE;
  if (secret != NULL && (strlen (secret) != KLETSEN_ROLE_SECRET_LEN))
    return FALSE; /* the owner's checks answer it as on one server */

  out = json_object_new ();
  json_object_set_string_member (out, "transferId", id);
  json_object_set_string_member (out, "status", json_object_get_string_member (body, "status"));
  if (secret != NULL)
    json_object_set_string_member (out, "roleSecret", secret);
  line = kletsen_message_serialize ("FILE_TRANSFER_RESPONSE", out);
  envelope = _kletsen_envelope_build (self->inc, _kletsen_cluster_next_seq (self, offer->owner),
                                      "X", conn->name, line);
  _kletsen_cluster_publish (self, offer->owner, envelope, NULL, NULL);
  if (g_str_equal (json_object_get_string_member (body, "status"), "OK"))
    _kletsen_server_add_forwarding (self->server, id, offer->uploader, conn, secret, offer->file_address);
  g_hash_table_remove (remote_offers (self), id);
  return TRUE;
}

/* X: the answer of a user of node @inc to an offer of ours. */
static void
apply_answer (KletsenCluster        *self,
              const char            *inc,
              const KletsenEnvelope *envelope)
{
  g_autofree char *name = g_strndup (envelope->arg, envelope->arg_len);
  const KletsenMessageInfo *info;
  JsonObject *body = NULL;

  if (!kletsen_user_name_is_valid (name) || envelope->wire == NULL ||
      kletsen_message_parse (envelope->wire, envelope->wire_len - 1, KLETSEN_TO_SERVER, &info, &body) != KLETSEN_PARSE_OK)
    return;
  if (info->type == KLETSEN_MSG_FILE_TRANSFER_ANSWER)
    _kletsen_server_remote_answer (self->server, inc, name, body, NULL);
  json_object_unref (body);
}

gboolean
_kletsen_cluster_files_apply (KletsenCluster        *self,
                              const char            *inc,
                              gboolean               on_all,
                              const KletsenEnvelope *envelope)
{
  if (on_all)
    return FALSE;
  if (strcmp (envelope->op, "UF") == 0)
    apply_offer (self, inc, envelope);
  else if (strcmp (envelope->op, "X") == 0)
    apply_answer (self, inc, envelope);
  else
    return FALSE;
  return TRUE;
}

void
_kletsen_cluster_files_fini (KletsenCluster *self)
{
  g_clear_pointer (&self->remote_offers, g_hash_table_unref);
}

/* ---- the forwarded half ---- */

typedef struct
{
  KletsenServer *server;
  char          *id;
  int            client_fd;
  KletsenTls    *client_tls;
  char          *client_peer;
  char          *client_address;
  int            owner_fd;
  char          *owner;
  char           header[KLETSEN_SIDE_HEADER_LEN + KLETSEN_ROLE_SECRET_LEN];
  gsize          header_len;
} Forward;

static void
forward_free (Forward *forward,
              gboolean close_all)
{
  if (close_all)
    {
      if (forward->client_fd >= 0)
        close (forward->client_fd);
      if (forward->owner_fd >= 0)
        close (forward->owner_fd);
      g_clear_pointer (&forward->client_tls, _kletsen_tls_free);
      _kletsen_file_peer_leave (forward->server, &forward->client_address);
    }
  g_free (forward->id);
  g_free (forward->client_peer);
  g_free (forward->client_address);
  g_free (forward->owner);
  g_free (forward);
}

static gboolean
owner_connected_cb (int          fd,
                    GIOCondition condition,
                    gpointer     user_data)
{
  Forward *forward = user_data;
  KletsenTransfer *transfer = g_hash_table_lookup (forward->server->transfers, forward->id);
  int error = 0;
  socklen_t len = sizeof error;
  const char *why = NULL;

  if (getsockopt (fd, SOL_SOCKET, SO_ERROR, &error, &len) != 0)
    error = errno;
  if (transfer == NULL || error != 0 ||
      send (fd, forward->header, forward->header_len, MSG_NOSIGNAL) != (gssize)forward->header_len)
    {
      g_info ("%s: cannot forward the side channel to %s: %s", forward->client_peer, forward->owner,
              transfer == NULL ? "the transfer ended" : g_strerror (error ? error : errno));
      if (transfer != NULL)
        _kletsen_server_end_transfer (forward->server, transfer);
      forward_free (forward, TRUE);
      return G_SOURCE_REMOVE;
    }
  /* The owner's socket is this relay's uploader: bytes flow from it to
   * the downloader. Neither is counted per address a second time. */
  if (!_kletsen_relay_take_half (forward->server, transfer, KLETSEN_SIDE_UPLOADER, forward->owner_fd, NULL,
                                 forward->owner, NULL, &why))
    {
      g_info ("%s: cannot forward: %s", forward->client_peer, why);
      _kletsen_server_end_transfer (forward->server, transfer);
      forward_free (forward, TRUE);
      return G_SOURCE_REMOVE;
    }
  forward->owner_fd = -1; /* the relay's now */
  if (!_kletsen_relay_take_half (forward->server, transfer, KLETSEN_SIDE_DOWNLOADER, forward->client_fd,
                                 forward->client_tls, forward->client_peer, forward->client_address, &why))
    {
      g_info ("%s: cannot forward: %s", forward->client_peer, why);
      _kletsen_server_end_transfer (forward->server, transfer);
      forward_free (forward, TRUE);
      return G_SOURCE_REMOVE;
    }
  g_info ("%s: side channel for %s forwarded to %s", forward->client_peer, transfer->tag, forward->owner);
  forward->client_address = NULL;
  forward_free (forward, FALSE);
  return G_SOURCE_REMOVE;
}

/**
 * _kletsen_relay_forward_half:
 *
 * The downloader's half of a transfer another node owns: connect to the
 * owner's file port (without blocking), send the same header, and relay.
 * Takes @fd, @tls and @address.
 */
gboolean
_kletsen_relay_forward_half (KletsenServer   *server,
                             KletsenTransfer *transfer,
                             int              fd,
                             KletsenTls      *tls,
                             const char      *peer,
                             char            *address,
                             const char      *header,
                             gsize            header_len)
{
  g_autofree char *host = NULL;
  const char *colon = strrchr (transfer->forward_to, ':');
  struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV };
  struct addrinfo *found = NULL;
  Forward *forward;
  int owner_fd;

  if (colon == NULL || header_len > sizeof forward->header)
    return FALSE;
  host = g_strndup (transfer->forward_to, colon - transfer->forward_to);
  if (host[0] == '[' && host[strlen (host) - 1] == ']')
    {
      memmove (host, host + 1, strlen (host));
      host[strlen (host) - 1] = '\0';
    }
  /* A node advertises a numeric address (--advertise): no DNS on this loop. */
  if (getaddrinfo (host, colon + 1, &hints, &found) != 0)
    return FALSE;
  owner_fd = socket (found->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (owner_fd < 0 || (connect (owner_fd, found->ai_addr, found->ai_addrlen) != 0 && errno != EINPROGRESS))
    {
      freeaddrinfo (found);
      if (owner_fd >= 0)
        close (owner_fd);
      return FALSE;
    }
  freeaddrinfo (found);

  forward = g_new0 (Forward, 1);
  forward->server = server;
  forward->id = g_strdup (transfer->id);
  forward->client_fd = fd;
  forward->client_tls = tls;
  forward->client_peer = g_strdup (peer);
  forward->client_address = address;
  forward->owner_fd = owner_fd;
  forward->owner = g_strconcat ("node:", transfer->forward_to, NULL);
  memcpy (forward->header, header, header_len);
  forward->header_len = header_len;
  g_unix_fd_add (owner_fd, G_IO_OUT, owner_connected_cb, forward);
  return TRUE;
}
