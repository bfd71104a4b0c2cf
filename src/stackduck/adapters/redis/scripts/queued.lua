-- How one job type's queued jobs stand, from its ready and scheduled sets alone (Redis
-- alone keeps one entry per queued job there, in the same calls as the jobs' writes):
-- due jobs by priority and jobs waiting for their time, without reading a job, so
-- the cost does not grow with the queue (ZCOUNT is O(log n)).
-- A type's grouped jobs wait in their groups: they are counted from the type's sorted set
-- of queued grouped jobs (Keys.grouped_queued, scored as the ready set), due ones by
-- priority and later ones as scheduled.
-- KEYS: the type's ready set, its scheduled set, its queued grouped jobs.
-- ARGV: now, offset, limit: a scheduled entry that is due by now but not yet moved to
--       the ready set counts as ready; those are read a chunk at a time (a scheduler
--       that was away may have left many), from `offset`, at most `limit` per call.
-- Returns: ready with priority 1, 2, 3, scheduled, how many due entries were read
--          (the set counts only when offset is 0; zeros otherwise), and when the
--          longest-waiting due job fell due, in ms (-1: none; when offset is 0 only).
local READY, SCHEDULED, GROUPED = KEYS[1], KEYS[2], KEYS[3]
local now, offset, limit = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local out = {0, 0, 0, 0, 0, -1}
if offset == 0 then
    for p = 1, 3 do
        out[p] = redis.call('ZCOUNT', READY, string.format('%.0f', p * 1e13),
            '(' .. string.format('%.0f', (p + 1) * 1e13))
    end
    out[4] = redis.call('ZCOUNT', SCHEDULED, '(' .. now, '+inf')
    local now_ms = math.floor(tonumber(now) * 1000)
    for p = 1, 3 do
        local due = string.format('%.0f', p * 1e13 + now_ms)
        out[p] = out[p] + redis.call('ZCOUNT', GROUPED, string.format('%.0f', p * 1e13), due)
        out[4] = out[4] + redis.call('ZCOUNT', GROUPED, '(' .. due, '(' .. string.format('%.0f', (p + 1) * 1e13))
    end
    -- The oldest due job: each priority's head in the ready set and in the grouped set (a
    -- head's score less the priority's base is its due time), and the earliest
    -- scheduled entry if it is due by now. Seven O(log n) reads, whatever the length.
    local oldest = nil
    local function older(at)
        if at and (oldest == nil or at < oldest) then oldest = at end
    end
    for p = 1, 3 do
        local base = p * 1e13
        local low, high = string.format('%.0f', base), '(' .. string.format('%.0f', base + 1e13)
        local head = redis.call('ZRANGEBYSCORE', READY, low, high, 'WITHSCORES', 'LIMIT', 0, 1)
        if head[2] then older(tonumber(head[2]) - base) end
        head = redis.call('ZRANGEBYSCORE', GROUPED, low, string.format('%.0f', base + now_ms),
            'WITHSCORES', 'LIMIT', 0, 1)
        if head[2] then older(tonumber(head[2]) - base) end
    end
    local first = redis.call('ZRANGEBYSCORE', SCHEDULED, '-inf', now, 'WITHSCORES', 'LIMIT', 0, 1)
    if first[2] then older(math.floor(tonumber(first[2]) * 1000)) end
    if oldest then out[6] = string.format('%.0f', oldest) end
end
local due = redis.call('ZRANGEBYSCORE', SCHEDULED, '-inf', now, 'LIMIT', offset, limit)
for _, member in ipairs(due) do
    local bar = string.find(member, '|', 1, true)
    local p = tonumber(string.sub(member, 1, bar - 1))
    -- A job with a ready entry too (a re-seed pushed it) is counted there already.
    if p and p >= 1 and p <= 3 and not redis.call('ZSCORE', READY, string.sub(member, bar + 1)) then
        out[p] = out[p] + 1
    end
end
out[5] = #due
return out
