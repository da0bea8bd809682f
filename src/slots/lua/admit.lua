-- Admission: ARGV = ticket, lease, holder, capacity, lease_ms, ticket_ttl_ms, warmup_ms.
-- Answers {1, position, held, 0} granted, {0, position, held, 0} queued,
-- {2, position, held, remaining_ms} warming up.
local ticket, lease, holder = ARGV[1], ARGV[2], ARGV[3]
local capacity, lease_ms = tonumber(ARGV[4]), tonumber(ARGV[5])
local ticket_ttl, warmup = tonumber(ARGV[6]), tonumber(ARGV[7])
-- Tickets whose waiter stopped re-sending them (it died or gave up) leave the queue.
for _, old in ipairs(redis.call('ZRANGEBYSCORE', KEYS[4], '-inf', now - ticket_ttl)) do
  redis.call('ZREM', KEYS[3], old)
  redis.call('ZREM', KEYS[4], old)
end
redis.call('ZREMRANGEBYSCORE', KEYS[8], '-inf', now - 10 * lease_ms)
if not redis.call('ZSCORE', KEYS[3], ticket) then
  redis.call('ZADD', KEYS[3], redis.call('INCR', KEYS[5]), ticket)
end
redis.call('ZADD', KEYS[4], now, ticket)
local position = redis.call('ZRANK', KEYS[3], ticket)
local held = redis.call('ZCARD', KEYS[1])
local until_ms = warm_until(warmup)
if now < until_ms then
  return {2, position, held, until_ms - now}
end
-- Granted while the tickets ahead still leave a slot for this one: arrival order is kept.
if held + position < capacity then
  redis.call('ZREM', KEYS[3], ticket)
  redis.call('ZREM', KEYS[4], ticket)
  redis.call('ZADD', KEYS[1], now + lease_ms, lease)
  redis.call('HSET', KEYS[2], lease, cjson.encode({h = holder, t = now}))
  return {1, position, held + 1, 0}
end
return {0, position, held, 0}
