-- Move jobs of one type whose time has come (score <= ARGV[1]) from the scheduled
-- set KEYS[1] to the ready set KEYS[2], at most ARGV[2] of them. Members of the
-- scheduled set are "priority|id"; the ready score is priority * 1e13 + run_at in ms.
-- A grouped job waits in its group, due or not, and its turn comes at its time by
-- itself: of those the type's waking set KEYS[4] (Keys.waking) holds, the ones whose
-- time has come are only taken out (at most ARGV[2] too) and counted, so that their
-- type's consumers are woken as for promoted ones.
-- Then the type's mark in the due index KEYS[3] is set to its earliest entry left in
-- either set, or removed when none is left (ARGV[3]: the type).
-- Returns how many moved or fell due.
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
local woken = redis.call('ZRANGEBYSCORE', KEYS[4], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
if #woken > 0 then
    for s = 1, #woken, 1000 do
        redis.call('ZREM', KEYS[4], unpack(woken, s, math.min(s + 999, #woken)))
    end
    moved = moved + #woken
end
local head = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
local waking = redis.call('ZRANGE', KEYS[4], 0, 0, 'WITHSCORES')
local mark = nil
if #head > 0 then mark = tonumber(head[2]) end
if #waking > 0 and (mark == nil or tonumber(waking[2]) < mark) then mark = tonumber(waking[2]) end
if mark then
    redis.call('ZADD', KEYS[3], string.format('%.17g', mark), ARGV[3])
else
    redis.call('ZREM', KEYS[3], ARGV[3])
end
return moved
