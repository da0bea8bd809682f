-- Snapshot (read only): answers {now, warm until (0: no epoch), queued, lease, deadline, info, ...}.
local e = redis.call('GET', KEYS[6])
local out = {now, e and tonumber(e) or 0, redis.call('ZCARD', KEYS[3])}
local leases = redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')
for i = 1, #leases, 2 do
  table.insert(out, leases[i])
  table.insert(out, tonumber(leases[i + 1]))
  table.insert(out, redis.call('HGET', KEYS[2], leases[i]) or '{}')
end
return out
