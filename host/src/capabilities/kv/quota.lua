-- One plugin's kv write on Redis, within that plugin's quota (entries, bytes of keys and
-- values), atomically: Redis runs a script alone.
--
-- KEYS[1] the key written, KEYS[2] the plugin's sizes (hash: its key -> bytes of key and
-- value), KEYS[3] its expiry queue (sorted set: its key -> when it expires, in ms), KEYS[4]
-- its bytes held (a counter). ARGV[1] the call (set, incr, delete), ARGV[2] what the
-- plugin's keys start with in Redis, ARGV[3] the plugin's key, ARGV[4] and ARGV[5] its
-- quota's entries and bytes; set: ARGV[6] the value, ARGV[7] the TTL in ms (0: none);
-- incr: ARGV[6] the delta, ARGV[7] the TTL in ms for a key this call creates (0: none).
--
-- Answers: {"1", value} when done (the counter for incr, the number removed for delete), {"0", entries, bytes} when the quota is full.
--
-- Order matters under `maxmemory`: Redis refuses a script at its first write that may
-- grow memory (SET, INCRBY) when it started out of memory, and lets it finish once it has
-- written. So a call writes the plugin's key first (or only frees), then its bookkeeping,
-- and a refused call has written nothing.

local data, sizes, expiries, held = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local call, namespace, name = ARGV[1], ARGV[2], ARGV[3]
local max_entries, max_bytes = tonumber(ARGV[4]), tonumber(ARGV[5])

-- Redis's clock in ms, read once and only by a call that needs it.
local now_ms
local function now()
  if not now_ms then
    local clock = redis.call('TIME')
    now_ms = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
  end
  return now_ms
end

-- Drops the bookkeeping of a key that is gone (expired, deleted, evicted).
local function forget(key)
  redis.call('ZREM', expiries, key)
  local size = redis.call('HGET', sizes, key)
  if size then
    redis.call('HDEL', sizes, key)
    redis.call('DECRBY', held, size)
  end
end

-- Up to `most` keys whose expiry is due, from the queue: nothing scans the plugin's keys.
local function retire_due(most)
  local due = redis.call('ZRANGEBYSCORE', expiries, '-inf', now(), 'LIMIT', 0, most)
  for _, key in ipairs(due) do
    local left = redis.call('PTTL', namespace .. key)
    if left == -2 then
      forget(key)
    elseif left == -1 then
      redis.call('ZREM', expiries, key)
    else
      redis.call('ZADD', expiries, now() + left, key)
    end
  end
end

-- Keys gone without an expiry (evicted by a `maxmemory-policy`, deleted by hand): a sample.
local function reconcile(most)
  for _, key in ipairs(redis.call('HRANDFIELD', sizes, most)) do
    if redis.call('EXISTS', namespace .. key) == 0 then
      forget(key)
    end
  end
end

local function usage()
  return redis.call('HLEN', sizes), tonumber(redis.call('GET', held) or '0')
end

-- Whether the plugin's keys fit its quota with `size` bytes at this call's key.
local function fits(size)
  local entries, bytes = usage()
  local old = redis.call('HGET', sizes, name)
  if old then
    bytes = bytes - tonumber(old)
  else
    entries = entries + 1
  end
  return entries <= max_entries and bytes + size <= max_bytes
end

-- Whether `size` fits, after whatever has expired or gone has left.
local function room_for(size)
  if fits(size) then
    return true
  end
  retire_due(1000)
  reconcile(64)
  return fits(size)
end

local function full()
  local entries, bytes = usage()
  return {'0', tostring(entries), tostring(bytes)}
end

-- Records `size` bytes at this call's key; `expires` (ms) queues its expiry, false takes
-- it off the queue, nil leaves the queue as it is.
local function account(size, expires)
  local old = tonumber(redis.call('HGET', sizes, name) or '0')
  redis.call('HSET', sizes, name, size)
  redis.call('INCRBY', held, size - old)
  if expires then
    redis.call('ZADD', expiries, expires, name)
  elseif expires == false then
    redis.call('ZREM', expiries, name)
  end
end

if call == 'delete' then
  local removed = redis.call('DEL', data)
  forget(name)
  return {'1', tostring(removed)}
end

if call == 'set' then
  local value, ttl = ARGV[6], tonumber(ARGV[7])
  local size = #name + #value
  if not room_for(size) then
    return full()
  end
  if ttl > 0 then
    redis.call('SET', data, value, 'PX', ttl)
    account(size, now() + ttl)
  else
    redis.call('SET', data, value)
    account(size, false)
  end
  retire_due(8)
  return {'1', ''}
end

if call == 'incr' then
  local before = redis.call('GET', data)
  local ttl = tonumber(ARGV[7])
  -- INCRBY refuses text and overflow itself, before anything is written.
  redis.call('INCRBY', data, ARGV[6])
  local value = redis.call('GET', data)
  if before and #value == #before and redis.call('HEXISTS', sizes, name) == 1 then
    -- The common count: as many digits as before, already counted.
    return {'1', value}
  end
  local size = #name + #value
  if not room_for(size) then
    if before then
      redis.call('SET', data, before, 'KEEPTTL')
    else
      redis.call('DEL', data)
    end
    return full()
  end
  if not before and ttl > 0 then
    redis.call('PEXPIRE', data, ttl)
    account(size, now() + ttl)
  else
    account(size, nil)
  end
  retire_due(8)
  return {'1', value}
end

return redis.error_reply('ERR unknown kv call ' .. call)
