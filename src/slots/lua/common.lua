-- Shared head of every slot script (prepended by redis.rs). One namespace's keys, one hash tag:
-- KEYS[1] leases  ZSET lease id -> lease deadline (ms, Redis's clock)
-- KEYS[2] info    HASH lease id -> JSON {h = holder label, t = taken at (ms), e = export id}
-- KEYS[3] queue   ZSET ticket -> arrival number (order of the waiting heads of all processes)
-- KEYS[4] seen    ZSET ticket -> last attempt (ms): tickets not re-sent lapse
-- KEYS[5] seq     arrival counter
-- KEYS[6] epoch   admissions wait until this time (ms); missing = the data was lost
-- KEYS[7] claims  HASH lease id -> JSON {c = claimer, u = claimed until (ms)}
-- KEYS[8] gone    ZSET lease id -> released at (ms): a late renewal does not bring it back
-- Redis's own clock: no skew between the hosts of the processes. (Redis < 5 needs effects
-- replication switched on before a write that follows TIME; later versions always use it.)
if redis.replicate_commands then pcall(redis.replicate_commands) end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)

-- After a restart that lost the data (or on first use) the epoch key is missing: admissions
-- wait `warmup` ms, long enough for live holders to re-add their slots on their next renewal.
local function warm_until(warmup)
  local e = redis.call('GET', KEYS[6])
  if not e then
    redis.call('SET', KEYS[6], now + warmup)
    return now + warmup
  end
  return tonumber(e)
end

local function drop_slot(lease)
  redis.call('ZREM', KEYS[1], lease)
  redis.call('HDEL', KEYS[2], lease)
  redis.call('HDEL', KEYS[7], lease)
  redis.call('ZADD', KEYS[8], now, lease)
end
