/* kletsen-user.c
 *
 * Copyright 2026 The Kletsen authors
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#include "config.h"

#include "kletsen-user.h"

struct _KletsenUser
{
  GObject  parent_instance;
  char    *name;
  gboolean online;
};

G_DEFINE_FINAL_TYPE (KletsenUser, kletsen_user, G_TYPE_OBJECT)

enum {
  PROP_0,
  PROP_NAME,
  PROP_ONLINE,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

static void
kletsen_user_finalize (GObject *object)
{
  g_free (KLETSEN_USER (object)->name);
  G_OBJECT_CLASS (kletsen_user_parent_class)->finalize (object);
}

static void
kletsen_user_get_property (GObject    *object,
                           guint       prop_id,
                           GValue     *value,
                           GParamSpec *pspec)
{
  switch (prop_id)
    {
    case PROP_NAME: g_value_set_string (value, KLETSEN_USER (object)->name); break;
    case PROP_ONLINE: g_value_set_boolean (value, KLETSEN_USER (object)->online); break;
    default: G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
kletsen_user_class_init (KletsenUserClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->finalize = kletsen_user_finalize;
  object_class->get_property = kletsen_user_get_property;
  properties[PROP_NAME] = g_param_spec_string ("name", NULL, NULL, NULL,
                                               G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
  /* Whether the person is logged in now; people with a conversation stay
   * listed after they leave. */
  properties[PROP_ONLINE] = g_param_spec_boolean ("online", NULL, NULL, TRUE,
                                                  G_PARAM_READABLE | G_PARAM_STATIC_STRINGS | G_PARAM_EXPLICIT_NOTIFY);
  g_object_class_install_properties (object_class, N_PROPS, properties);
}

static void
kletsen_user_init (KletsenUser *self)
{
  self->online = TRUE;
}

KletsenUser *
kletsen_user_new (const char *name)
{
  KletsenUser *self = g_object_new (KLETSEN_TYPE_USER, NULL);

  self->name = g_strdup (name);
  return self;
}

const char *
kletsen_user_get_name (KletsenUser *self)
{
  return self->name;
}

gboolean
kletsen_user_get_online (KletsenUser *self)
{
  return self->online;
}

void
_kletsen_user_set_online (KletsenUser *self,
                          gboolean     online)
{
  if (self->online == !!online)
    return;
  self->online = !!online;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_ONLINE]);
}
