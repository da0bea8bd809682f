-- Renewal: ARGV = lease_ms, warmup_ms, then (lease, holder, export id or '') per held slot.
-- Extends each lease; re-adds a slot the store lost (Redis restarted without its data), keeping
-- it out of admissions for the warm-up. Answers how many it re-added.
local lease_ms, warmup = tonumber(ARGV[1]), tonumber(ARGV[2])
warm_until(warmup)
local readded = 0
for i = 3, #ARGV, 3 do
  local lease, holder, export = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  -- Released meanwhile (this renewal raced the release): stays released.
  if not redis.call('ZSCORE', KEYS[8], lease) then
    local since = now
    local info = redis.call('HGET', KEYS[2], lease)
    if info then
      since = cjson.decode(info).t or now
    else
      readded = readded + 1
    end
    redis.call('ZADD', KEYS[1], now + lease_ms, lease)
    local entry = {h = holder, t = since}
    if export ~= '' then entry.e = export end
    redis.call('HSET', KEYS[2], lease, cjson.encode(entry))
    -- Its holder is alive: any claim on it is void.
    redis.call('HDEL', KEYS[7], lease)
  end
end
return readded
