/* kletsen-people.c
 *
 * Copyright 2026 The Kletsen authors
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#include "config.h"

#include "kletsen-people.h"
#include "kletsen-protocol.h"

struct _KletsenPeople
{
  GListStore            *online;  /* KletsenUser, online now */
  GListStore            *listed;  /* KletsenUser, online or kept */
  GHashTable            *by_key;  /* folded name → KletsenUser in listed */
  KletsenPeopleKeepFunc  keep;
  gpointer               keep_data;
};

static int
compare_names (gconstpointer a,
               gconstpointer b,
               gpointer      user_data)
{
  return g_ascii_strcasecmp (kletsen_user_get_name ((KletsenUser *)a), kletsen_user_get_name ((KletsenUser *)b));
}

static void
remove_item (GListStore  *store,
             KletsenUser *user)
{
  guint position;

  if (g_list_store_find (store, user, &position))
    g_list_store_remove (store, position);
}

KletsenPeople *
kletsen_people_new (KletsenPeopleKeepFunc keep,
                    gpointer              user_data)
{
  KletsenPeople *self = g_new0 (KletsenPeople, 1);

  self->online = g_list_store_new (KLETSEN_TYPE_USER);
  self->listed = g_list_store_new (KLETSEN_TYPE_USER);
  self->by_key = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_object_unref);
  self->keep = keep;
  self->keep_data = user_data;
  return self;
}

void
kletsen_people_free (KletsenPeople *self)
{
  g_clear_object (&self->online);
  g_clear_object (&self->listed);
  g_clear_pointer (&self->by_key, g_hash_table_unref);
  g_free (self);
}

/**
 * kletsen_people_get_online:
 *
 * Returns: (transfer none): the people online, sorted
 */
GListModel *
kletsen_people_get_online (KletsenPeople *self)
{
  return G_LIST_MODEL (self->online);
}

/**
 * kletsen_people_get_listed:
 *
 * Returns: (transfer none): the people online and those kept while
 *   offline, sorted; see #KletsenUser:online
 */
GListModel *
kletsen_people_get_listed (KletsenPeople *self)
{
  return G_LIST_MODEL (self->listed);
}

static KletsenUser *
lookup (KletsenPeople *self,
        const char    *name)
{
  g_autofree char *key = kletsen_user_name_key (name);

  return g_hash_table_lookup (self->by_key, key);
}

gboolean
kletsen_people_is_online (KletsenPeople *self,
                          const char    *name)
{
  KletsenUser *user = lookup (self, name);

  return user != NULL && kletsen_user_get_online (user);
}

guint
kletsen_people_count_online (KletsenPeople *self)
{
  return g_list_model_get_n_items (G_LIST_MODEL (self->online));
}

static KletsenUser *
add (KletsenPeople *self,
     const char    *name,
     gboolean       online)
{
  KletsenUser *user = kletsen_user_new (name);

  _kletsen_user_set_online (user, online);
  g_hash_table_insert (self->by_key, kletsen_user_name_key (name), user);
  g_list_store_insert_sorted (self->listed, user, compare_names, NULL);
  if (online)
    g_list_store_insert_sorted (self->online, user, compare_names, NULL);
  return user;
}

static void
drop (KletsenPeople *self,
      KletsenUser   *user)
{
  g_autofree char *key = kletsen_user_name_key (kletsen_user_get_name (user));

  remove_item (self->listed, user);
  g_hash_table_remove (self->by_key, key);
}

void
kletsen_people_joined (KletsenPeople *self,
                       const char    *name)
{
  KletsenUser *user = lookup (self, name);

  if (user == NULL)
    {
      add (self, name, TRUE);
      return;
    }
  if (kletsen_user_get_online (user))
    return;
  _kletsen_user_set_online (user, TRUE);
  g_list_store_insert_sorted (self->online, user, compare_names, NULL);
}

static void
went_offline (KletsenPeople *self,
              KletsenUser   *user)
{
  /* The stores may hold the last references. */
  g_object_ref (user);
  remove_item (self->online, user);
  _kletsen_user_set_online (user, FALSE);
  if (self->keep == NULL || !self->keep (kletsen_user_get_name (user), self->keep_data))
    drop (self, user);
  g_object_unref (user);
}

void
kletsen_people_left (KletsenPeople *self,
                     const char    *name)
{
  KletsenUser *user = lookup (self, name);

  if (user != NULL && kletsen_user_get_online (user))
    went_offline (self, user);
}

static int
compare_name_pointers (gconstpointer a,
                       gconstpointer b)
{
  return compare_names (*(gpointer *)a, *(gpointer *)b, NULL);
}

/* The full list from LIST_USERS_RESP: whoever is not in it is offline. Both
 * lists are rebuilt in one splice each, so that thousands of names cost
 * O(n log n), not a search per name. */
void
kletsen_people_set_online (KletsenPeople      *self,
                           const char * const *names,
                           guint               n_names)
{
  g_autoptr(GHashTable) now = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  g_autoptr(GPtrArray) listed = g_ptr_array_new_with_free_func (g_object_unref);
  g_autoptr(GPtrArray) online = g_ptr_array_new ();
  guint n = g_list_model_get_n_items (G_LIST_MODEL (self->listed));

  for (guint i = 0; i < n_names; i++)
    g_hash_table_insert (now, kletsen_user_name_key (names[i]), (gpointer)names[i]);

  for (guint i = 0; i < n; i++)
    {
      g_autoptr(KletsenUser) user = g_list_model_get_item (G_LIST_MODEL (self->listed), i);
      g_autofree char *key = kletsen_user_name_key (kletsen_user_get_name (user));
      gboolean is_online = g_hash_table_remove (now, key);

      _kletsen_user_set_online (user, is_online);
      if (is_online || (self->keep != NULL && self->keep (kletsen_user_get_name (user), self->keep_data)))
        g_ptr_array_add (listed, g_object_ref (user));
      else
        g_hash_table_remove (self->by_key, key);
    }
  for (guint i = 0; i < n_names; i++)
    {
      g_autofree char *key = kletsen_user_name_key (names[i]);
      KletsenUser *user;

      if (!g_hash_table_remove (now, key))
        continue; /* listed already, or a duplicate */
      user = kletsen_user_new (names[i]);
      g_hash_table_insert (self->by_key, g_steal_pointer (&key), g_object_ref (user));
      g_ptr_array_add (listed, user);
    }

  g_ptr_array_sort (listed, compare_name_pointers);
  for (guint i = 0; i < listed->len; i++)
    if (kletsen_user_get_online (g_ptr_array_index (listed, i)))
      g_ptr_array_add (online, g_ptr_array_index (listed, i));
  g_list_store_splice (self->online, 0, g_list_model_get_n_items (G_LIST_MODEL (self->online)),
                       online->pdata, online->len);
  g_list_store_splice (self->listed, 0, n, listed->pdata, listed->len);
}

/* The connection is gone: nobody is known to be online. */
void
kletsen_people_all_offline (KletsenPeople *self)
{
  kletsen_people_set_online (self, NULL, 0);
}

/* @name has a conversation now: list them, online or not. */
void
kletsen_people_remember (KletsenPeople *self,
                         const char    *name)
{
  if (lookup (self, name) == NULL)
    add (self, name, FALSE);
}

/* @name's conversation is gone: unlist them unless they are online. */
void
kletsen_people_forget (KletsenPeople *self,
                       const char    *name)
{
  KletsenUser *user = lookup (self, name);

  if (user != NULL && !kletsen_user_get_online (user))
    drop (self, user);
}
