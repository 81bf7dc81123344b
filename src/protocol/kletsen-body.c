/* kletsen-body.c
 *
 * Copyright 2026 The Kletsen authors
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#include "config.h"

#include "kletsen-body.h"

static gboolean
node_is_string (JsonNode *node)
{
  return node != NULL && JSON_NODE_HOLDS_VALUE (node) && json_node_get_value_type (node) == G_TYPE_STRING;
}

/**
 * kletsen_body_get_string:
 *
 * Returns: (nullable): the string member @name, or %NULL when @body is
 *   %NULL, lacks it, or holds something else there
 */
const char *
kletsen_body_get_string (JsonObject *body,
                         const char *name)
{
  JsonNode *node = body ? json_object_get_member (body, name) : NULL;

  return node_is_string (node) ? json_node_get_string (node) : NULL;
}

/**
 * kletsen_body_get_int:
 * @value: (out): the integer, when there is one
 *
 * Returns: %TRUE when @name holds a JSON integer (no fraction, no exponent)
 */
gboolean
kletsen_body_get_int (JsonObject *body,
                      const char *name,
                      gint64     *value)
{
  JsonNode *node = body ? json_object_get_member (body, name) : NULL;

  if (node == NULL || !JSON_NODE_HOLDS_VALUE (node) || json_node_get_value_type (node) != G_TYPE_INT64)
    return FALSE;
  *value = json_node_get_int (node);
  return TRUE;
}

gint64
kletsen_body_get_int_or (JsonObject *body,
                         const char *name,
                         gint64      fallback)
{
  gint64 value;

  return kletsen_body_get_int (body, name, &value) ? value : fallback;
}

/**
 * kletsen_body_get_array:
 *
 * Returns: (nullable) (transfer none): the array member @name, or %NULL
 */
JsonArray *
kletsen_body_get_array (JsonObject *body,
                        const char *name)
{
  JsonNode *node = body ? json_object_get_member (body, name) : NULL;

  return node != NULL && JSON_NODE_HOLDS_ARRAY (node) ? json_node_get_array (node) : NULL;
}

/**
 * kletsen_array_get_string:
 *
 * Returns: (nullable): element @index when it is a string
 */
const char *
kletsen_array_get_string (JsonArray *array,
                          guint      index)
{
  JsonNode *node = array && index < json_array_get_length (array) ? json_array_get_element (array, index) : NULL;

  return node_is_string (node) ? json_node_get_string (node) : NULL;
}

/**
 * kletsen_array_get_object:
 *
 * Returns: (nullable) (transfer none): element @index when it is an object
 */
JsonObject *
kletsen_array_get_object (JsonArray *array,
                          guint      index)
{
  JsonNode *node = array && index < json_array_get_length (array) ? json_array_get_element (array, index) : NULL;

  return node != NULL && JSON_NODE_HOLDS_OBJECT (node) ? json_node_get_object (node) : NULL;
}
