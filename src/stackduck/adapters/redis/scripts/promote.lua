-- Move jobs of one type whose time has come (score <= ARGV[1]) from the scheduled
-- set KEYS[1] to the ready set KEYS[2], at most ARGV[2] of them. Members of the
-- scheduled set are "priority|id"; the ready score is priority * 1e13 + run_at in ms.
-- Then the type's mark in the due index KEYS[3] is set to its earliest entry left, or
-- removed when none is left (ARGV[3]: the type).
-- Returns how many moved.
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'WITHSCORES', 'LIMIT', 0, tonumber(ARGV[2]))
local moved = 0
for i = 1, #due, 2 do
    local member, run_at = due[i], tonumber(due[i + 1])
    local bar = string.find(member, '|', 1, true)
    local priority = tonumber(string.sub(member, 1, bar - 1))
    local id = string.sub(member, bar + 1)
    redis.call('ZREM', KEYS[1], member)
    redis.call('ZADD', KEYS[2], priority * 1e13 + math.floor(run_at * 1000), id)
    moved = moved + 1
end
local head = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
if #head > 0 then
    redis.call('ZADD', KEYS[3], head[2], ARGV[3])
else
    redis.call('ZREM', KEYS[3], ARGV[3])
end
return moved
