/* kletsen-cluster-scripts.c
 *
 * Copyright 2026 The Kletsen authors
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

/* Every step that must be atomic across nodes is one Lua script, run on the
 * node's cmd connection: a JOINED can then never overtake the claim that
 * caused it, and exactly one node reaps a dead one. Keys (docs/cluster.md):
 *
 *   kletsen:nodes            ZSET  INC → last heartbeat, Redis TIME in ms
 *   kletsen:node:INC         HASH  name, chat, sub_id
 *   kletsen:nodename:NAME    STRING the current INC of a node name
 *   kletsen:users            HASH  folded name → "INC shown"
 *   kletsen:node:INC:users   SET   folded names INC holds
 *
 * Envelopes they publish carry "-" for a sequence number: scripts publish a
 * varying number of them, and receivers count gaps only in what nodes
 * publish themselves. */

#include "config.h"

#include "kletsen-cluster-private.h"

#define PRELUDE \
  "local function now_ms()\n" \
  "  local t = redis.call('TIME')\n" \
  "  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n" \
  "end\n" \
  "local function holds(value, inc)\n" \
  "  return value and string.sub(value, 1, #inc + 1) == inc .. ' '\n" \
  "end\n" \
  "local function reap(d)\n" \
  "  local set = 'kletsen:node:' .. d .. ':users'\n" \
  "  for _, name in ipairs(redis.call('SMEMBERS', set)) do\n" \
  "    if holds(redis.call('HGET', 'kletsen:users', name), d) then\n" \
  "      redis.call('HDEL', 'kletsen:users', name)\n" \
  "    end\n" \
  "  end\n" \
  "  redis.call('DEL', set, 'kletsen:node:' .. d)\n" \
  "  redis.call('ZREM', 'kletsen:nodes', d)\n" \
  "  if redis.call('GET', 'kletsen:game') == d then redis.call('DEL', 'kletsen:game') end\n" \
  "  redis.call('PUBLISH', 'kletsen:all', 'K1 ' .. d .. ' - N\\n')\n" \
  "end\n" \
  /* Takes @folded for @inc unless a live node holds it. Returns '+' when \
   * taken (J published), '=' when it was already so (nothing published), \
   * else the live holder. */ \
  "local function take(inc, folded, shown, dead_ms)\n" \
  "  local value = redis.call('HGET', 'kletsen:users', folded)\n" \
  "  if value then\n" \
  "    local holder, old = string.match(value, '^(%S+) (.*)$')\n" \
  "    if holder == inc then\n" \
  "      if old == shown then return '=' end\n" \
  "    else\n" \
  "      local beat = redis.call('ZSCORE', 'kletsen:nodes', holder)\n" \
  "      if beat and now_ms() - tonumber(beat) < dead_ms then return holder end\n" \
  "      redis.call('SREM', 'kletsen:node:' .. holder .. ':users', folded)\n" \
  "    end\n" \
  "    redis.call('PUBLISH', 'kletsen:all', 'K1 ' .. holder .. ' - L ' .. old .. '\\n')\n" \
  "  end\n" \
  "  redis.call('HSET', 'kletsen:users', folded, inc .. ' ' .. shown)\n" \
  "  redis.call('SADD', 'kletsen:node:' .. inc .. ':users', folded)\n" \
  "  redis.call('PUBLISH', 'kletsen:all', 'K1 ' .. inc .. ' - J ' .. shown .. '\\n')\n" \
  "  return '+'\n" \
  "end\n"

static const char *const scripts[KLETSEN_N_SCRIPTS] = {
  [KLETSEN_SCRIPT_REGISTER] = PRELUDE
    /* A node restarted under the same name: its earlier life goes first. */
    "local old = redis.call('GET', 'kletsen:nodename:' .. ARGV[2])\n"
    "if old and old ~= ARGV[1] then reap(old) end\n"
    "redis.call('SET', 'kletsen:nodename:' .. ARGV[2], ARGV[1])\n"
    "redis.call('ZADD', 'kletsen:nodes', now_ms(), ARGV[1])\n"
    "redis.call('HSET', 'kletsen:node:' .. ARGV[1], 'name', ARGV[2], 'chat', ARGV[3], 'sub_id', ARGV[4])\n"
    "return 1\n",

  [KLETSEN_SCRIPT_CLAIM] = PRELUDE
    "if not redis.call('ZSCORE', 'kletsen:nodes', ARGV[1]) then return {2} end\n"
    "local got = take(ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4]))\n"
    "if got == '+' then return {1} end\n"
    "if got == '=' then return {3} end\n"
    "return {0, got}\n",

  [KLETSEN_SCRIPT_RELEASE] = PRELUDE
    "redis.call('SREM', 'kletsen:node:' .. ARGV[1] .. ':users', ARGV[2])\n"
    "if holds(redis.call('HGET', 'kletsen:users', ARGV[2]), ARGV[1]) then\n"
    "  redis.call('HDEL', 'kletsen:users', ARGV[2])\n"
    "  redis.call('PUBLISH', 'kletsen:all', 'K1 ' .. ARGV[1] .. ' - L ' .. ARGV[3] .. '\\n')\n"
    "  return 1\n"
    "end\n"
    "return 0\n",

  [KLETSEN_SCRIPT_HEARTBEAT] = PRELUDE
    /* A reaped node is not brought back by its heartbeat: it must rejoin. */
    "if not redis.call('ZSCORE', 'kletsen:nodes', ARGV[1]) then return 0 end\n"
    "redis.call('ZADD', 'kletsen:nodes', now_ms(), ARGV[1])\n"
    "return 1\n",

  [KLETSEN_SCRIPT_REAP] = PRELUDE
    "local dead\n"
    "if ARGV[2] ~= '' then\n"
    "  dead = { ARGV[2] }\n"
    "else\n"
    "  dead = redis.call('ZRANGEBYSCORE', 'kletsen:nodes', '-inf', '(' .. (now_ms() - tonumber(ARGV[1])))\n"
    "end\n"
    "for _, d in ipairs(dead) do reap(d) end\n"
    "return #dead\n",

  [KLETSEN_SCRIPT_RESYNC] = PRELUDE
    /* After a gap: the claims become exactly the node's users now. */
    "local inc, dead_ms = ARGV[1], tonumber(ARGV[2])\n"
    "local mine = {}\n"
    "for i = 3, #ARGV, 2 do mine[ARGV[i]] = ARGV[i + 1] end\n"
    "local set = 'kletsen:node:' .. inc .. ':users'\n"
    "for _, folded in ipairs(redis.call('SMEMBERS', set)) do\n"
    "  if not mine[folded] then\n"
    "    redis.call('SREM', set, folded)\n"
    "    local value = redis.call('HGET', 'kletsen:users', folded)\n"
    "    if holds(value, inc) then\n"
    "      redis.call('HDEL', 'kletsen:users', folded)\n"
    "      redis.call('PUBLISH', 'kletsen:all', 'K1 ' .. inc .. ' - L ' .. string.sub(value, #inc + 2) .. '\\n')\n"
    "    end\n"
    "  end\n"
    "end\n"
    "local lost = {}\n"
    "for i = 3, #ARGV, 2 do\n"
    "  local got = take(inc, ARGV[i], ARGV[i + 1], dead_ms)\n"
    "  if got ~= '+' and got ~= '=' then table.insert(lost, ARGV[i]) end\n"
    "end\n"
    "return lost\n",

  [KLETSEN_SCRIPT_LEAVE] = PRELUDE
    "reap(ARGV[1])\n"
    "return 1\n",
};

const char *
_kletsen_cluster_script (KletsenScript script)
{
  g_return_val_if_fail (script < KLETSEN_N_SCRIPTS, NULL);
  return scripts[script];
}
