-- A claim that holds to its types' limits and takes a grouped type's groups in turns:
-- claim.lua's (Job.start, _claim.lua), except that
-- - of each limited type no more start than its allowance, and its bucket is spent in
--   the same call; of one group no more than its group_concurrency allows, the running
--   counts (the running sets' sizes) read in the same call too. The arithmetic mirrors
--   stackduck.domain.limits:
--     bucket_size     Limit.bucket_size     (burst, else ceil(rate), at least 1)
--     level           Bucket.level          (tokens gained since `at`, at most the size)
--     allowance       Limit.allowance       (concurrency minus the running set's size;
--                                            the floor of the bucket's level)
--     spend           Limit.spend           (the level less one token per start)
--     next_token_at   Limit.next_token_at   (when the spent bucket holds a whole token)
--     group_allowance Limit.group_allowance (group_concurrency minus the group's running)
--   A bucket not stored is a full one as of now (Limit.full_bucket): a new limit's.
--   Types whose allowance is spent leave the claim; the others keep going.
-- - the jobs of each grouped type are taken in turns within each priority (_turns.lua
--   says how); its ungrouped jobs are the group "".
-- Priorities come first, across every asked type: all of priority 1 that the claim can
-- take, then 2, then 3. Within a priority, the ungrouped types' jobs (by due time, as
-- claim.lua merges them) and the grouped types' groups (by turn time: a group's turn is
-- when it may next be served, so it compares with a due time) are merged by that time,
-- earliest first. "Now" is claim.lua's: the later of the caller's clock and Redis's.
-- KEYS: status:queued, status:running, leases, the due index, then per job type
--       (STEP keys each) its ready set, its scheduled set, its running set
--       (keys.running), its limit hash (keys.limit: concurrency, rate, per, burst,
--       group_concurrency; the bucket's tokens as of `at`), its running grouped jobs
--       (keys.running_grouped), its parked groups (keys.parked), its grouped jobs queued
--       for later (keys.waking), its turns of priority 1, 2, 3 (keys.turns), when its
--       groups were served, per priority 1, 2, 3 (keys.served), and its queued grouped
--       jobs (keys.grouped_queued).
-- ARGV: limit, the caller's now, lease seconds, the job key prefix, the owners (a JSON
--       array of `limit` worker ids, as claim.lua's), then per
--       job type "1" when the caller holds it limited (a type with no limit stored
--       claims unlimited all the same), then per job type "1" when it takes turns, then
--       per job type what keys.group and keys.group_running are for the group "" (a
--       group's key is that followed by its encoded name): of priority 1, 2, 3, then
--       its running set ("" for a type that does not take turns), then the n field
--       names to return.
-- Returns {the leased jobs as claim.lua returns them, then flat per type whose rate held
-- jobs back (its allowance was the rate's, and all of it started) its number (from 1,
-- in KEYS order) and when its bucket next holds a token}.
--#include _heads
--#include _job
--#include _claim
--#include _type_key
--#include _groups
--#include _turns
local function bucket_size(lim)
    if lim.burst > 0 then return lim.burst end
    return math.max(1, math.ceil(lim.rate))
end
local function level(lim, tokens, at, now)
    return math.min(bucket_size(lim), tokens + math.max(0, now - at) * (lim.rate / lim.per))
end
-- How many of `want` may start, and whether the rate is what stops more.
local function allowance(lim, running, tokens, at, now, want)
    local starts, rate_bound = want, false
    if lim.concurrency > 0 then starts = math.min(starts, math.max(0, lim.concurrency - running)) end
    if lim.rate > 0 then
        local whole = math.floor(level(lim, tokens, at, now) + 1e-9)
        if whole < starts then starts, rate_bound = math.max(0, whole), true end
    end
    return starts, rate_bound
end
-- The bucket once `started` jobs took a token each: its tokens and their time.
local function spend(lim, tokens, at, started, now)
    return math.max(0, level(lim, tokens, at, now) - started), math.max(now, at)
end
local function next_token_at(lim, tokens, at, now)
    local held = level(lim, tokens, at, now)
    if held >= 1 then return now end
    return math.max(now, at) + (1 - held) / (lim.rate / lim.per)
end

local STEP = 14
local limit, lease, prefix, owners = tonumber(ARGV[1]), tonumber(ARGV[3]), ARGV[4], cjson.decode(ARGV[5])
local now = claim_clock(ARGV[2])
local types = (#KEYS - 4) / STEP
local names, pos = field_names(6 + 6 * types)
local heads = open_heads(5, STEP, types, limit)
local c = open_leases(now, lease, prefix, owners, names, pos)
local caps, held, grouped = {}, {}, {}  -- per set: its cap; its limit and bucket; its record
for n = 1, types do
    local k = 5 + STEP * (n - 1)
    local gc = 0
    if ARGV[5 + n] == '1' then
        local stored = redis.call('HMGET', KEYS[k + 3], 'concurrency', 'rate', 'per', 'burst', 'tokens', 'at',
            'group_concurrency')
        if stored[1] then
            local lim = {concurrency = tonumber(stored[1]), rate = tonumber(stored[2]),
                per = tonumber(stored[3]), burst = tonumber(stored[4])}
            local tokens, at = tonumber(stored[5]), tonumber(stored[6])
            if tokens == nil or at == nil then tokens, at = bucket_size(lim), now end
            local starts, rate_bound = allowance(lim, redis.call('SCARD', KEYS[k + 2]), tokens, at, now, limit)
            caps[k] = starts
            held[k] = {lim = lim, tokens = tokens, at = at, starts = starts, rate_bound = rate_bound, n = n}
            gc = tonumber(stored[7]) or 0
        end
    end
    if ARGV[5 + types + n] == '1' then
        local stems = 5 + 2 * types + 4 * (n - 1)
        grouped[k] = {ready = KEYS[k], scheduled = KEYS[k + 1], running = KEYS[k + 2],
            running_grouped = KEYS[k + 4], parked = KEYS[k + 5], waking = KEYS[k + 6],
            turns = {KEYS[k + 7], KEYS[k + 8], KEYS[k + 9]}, served = {KEYS[k + 10], KEYS[k + 11], KEYS[k + 12]},
            grouped_queued = KEYS[k + 13],
            group_stems = {ARGV[stems + 1], ARGV[stems + 2], ARGV[stems + 3]}, running_stem = ARGV[stems + 4],
            group_concurrency = gc, running_counts = {}, cap = caps[k], started = 0,
            out = caps[k] ~= nil and caps[k] <= 0}
        retire(heads, k)  -- its ready set is read as the group "" of each priority
    elseif gc > 0 then
        -- All of an ungrouped type's jobs are the group "": at most group_concurrency run.
        local plain = redis.call('SCARD', KEYS[k + 2]) - redis.call('SCARD', KEYS[k + 4])
        local cap = math.max(0, gc - plain)
        if cap < caps[k] then
            caps[k], held[k].starts, held[k].rate_bound = cap, cap, false
        end
    end
end
for k, cap in pairs(caps) do
    if cap <= 0 then retire(heads, k) end
end
local started, serial, sources = {}, 0, {}
for p = 1, 3 do
    if c.count >= limit then break end
    local open = {}
    for _, ty in pairs(grouped) do
        if not ty.out then
            local source = open_turns(ty, p, now, limit - c.count)
            open[#open + 1] = source
            sources[#sources + 1] = source
        end
    end
    while c.count < limit do
        -- the best ungrouped job of this priority, and the best group's turn
        local k, key = best(heads), nil
        if k ~= nil then
            local score = head(heads, k)[2]
            if math.floor(score / 1e13) <= p then key = (score - p * 1e13) / 1000 else k = nil end
        end
        local pick, group, move = nil, nil, nil
        for _, source in ipairs(open) do
            local found, turn, past = next_group(source)
            if found ~= nil and (key == nil or turn < key) then
                pick, group, move, key, k = source, found, past, turn, nil
            end
        end
        if k ~= nil then
            local id, score = take(heads, k)
            local outcome, values = lease_job(c, id, KEYS[k + 2])
            if outcome == 'later' then
                -- back to its schedule, under the priority its ready score carries
                local priority = string.format('%d', math.floor(tonumber(score) / 1e13))
                redis.call('ZADD', KEYS[k + 1], values[pos.run_at], priority .. '|' .. id)
                redis.call('ZADD', KEYS[4], 'LT', values[pos.run_at], values[pos.job_type])
            elseif outcome == 'leased' then
                started[k] = (started[k] or 0) + 1
                if caps[k] ~= nil and started[k] >= caps[k] then retire(heads, k) end
            end
        elseif pick ~= nil then
            move()
            serial = serve(pick, group, c, serial)
        else
            break
        end
    end
end
drop_taken(heads)
for _, source in ipairs(sources) do finish_turns(source) end
close_leases(c)
for k, ty in pairs(grouped) do started[k] = ty.started end
local retry = {}
for k, h in pairs(held) do
    if h.lim.rate > 0 then
        local count = started[k] or 0
        local tokens, at = spend(h.lim, h.tokens, h.at, count, now)
        redis.call('HSET', KEYS[k + 3], 'tokens', string.format('%.17g', tokens), 'at', string.format('%.17g', at))
        if h.rate_bound and count == h.starts then
            retry[#retry + 1] = h.n
            retry[#retry + 1] = string.format('%.17g', next_token_at(h.lim, tokens, at, now))
        end
    end
end
return {c.leased, retry}
