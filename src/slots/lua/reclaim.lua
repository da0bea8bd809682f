-- Reclaim: ARGV = mode ('claim' or 'free'), claimer, grace_ms, claim_ms, channel, lease.
-- 'claim': a lapsed slot (lease deadline passed) frees nothing by itself: its export may still
--   run on the server. Those with an export id are claimed by this claimer for claim_ms (one
--   waiter checks each with the server); those without (the start was never answered) are freed
--   once lapsed for grace_ms. Answers {freed, {lease, export id, ...}}.
-- 'free': the server says the claimed slot's export ended: free it if it is still lapsed (its
--   holder did not come back) and still claimed by this claimer. Answers 1 if freed.
local mode, claimer, channel = ARGV[1], ARGV[2], ARGV[5]
local grace, claim_ms = tonumber(ARGV[3]), tonumber(ARGV[4])
if mode == 'claim' then
  local claimed, freed = {}, 0
  for _, lease in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. now)) do
    local deadline = tonumber(redis.call('ZSCORE', KEYS[1], lease))
    local info = redis.call('HGET', KEYS[2], lease)
    local entry = info and cjson.decode(info) or {}
    if not entry.e then
      if deadline + grace <= now then
        drop_slot(lease)
        freed = freed + 1
      end
    else
      local claim = redis.call('HGET', KEYS[7], lease)
      local c = claim and cjson.decode(claim)
      if not c or c.u <= now or c.c == claimer then
        redis.call('HSET', KEYS[7], lease, cjson.encode({c = claimer, u = now + claim_ms}))
        table.insert(claimed, lease)
        table.insert(claimed, entry.e)
      end
    end
  end
  if freed > 0 then
    redis.call('PUBLISH', channel, 'reclaimed')
  end
  return {freed, claimed}
end
local lease = ARGV[6]
local deadline = redis.call('ZSCORE', KEYS[1], lease)
if not deadline or tonumber(deadline) >= now then
  return 0
end
local claim = redis.call('HGET', KEYS[7], lease)
if not claim or cjson.decode(claim).c ~= claimer then
  return 0
end
drop_slot(lease)
redis.call('PUBLISH', channel, 'reclaimed')
return 1
