-- Release: ARGV = mode ('slot' or 'ticket'), lease or ticket, channel.
-- A slot given back (answers 1 if it was held) or a waiting ticket leaving the queue; either
-- way the waiters are woken through the channel.
local mode, id, channel = ARGV[1], ARGV[2], ARGV[3]
local removed
if mode == 'slot' then
  removed = redis.call('ZREM', KEYS[1], id)
  drop_slot(id)
else
  removed = redis.call('ZREM', KEYS[3], id)
  redis.call('ZREM', KEYS[4], id)
end
if removed == 1 then
  redis.call('PUBLISH', channel, mode)
end
return removed
