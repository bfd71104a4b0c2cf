-- The turns of a grouped type's groups within one priority, as claim_limited.lua takes
-- them (ADR 0029), over the keys _groups.lua keeps: per (type, priority, group) a sorted
-- set of the group's queued jobs by run_at, and per (type, priority) the turns, a sorted
-- set of the groups by turn time. The type's ungrouped jobs are the group "": its jobs
-- are the type's ready set's entries of that priority, and its turn, never stored in the
-- turns, is worked out here (the latest of its served time, its parking and its head).
-- The model, mirrored exactly:
-- - A group's turn time is the later of when a claim last took one of its jobs (served)
--   and the due time of its earliest queued job of the priority (head); a group parked
--   at its group_concurrency has it pushed to the parking's end.
-- - A claim takes the groups whose turn has come (turn <= now), earliest turn first,
--   one job each (the group's earliest: run_at, then id), and goes round again while it
--   wants more and groups have due jobs. A group served gets served = now + 1e-6 s * n,
--   n counting the groups served in this claim in the order they were (so the next
--   claim keeps the rotation); within the claim it goes to the back of the round
--   (`round`), in that order, while its next job is due.
-- - "Now" for the turns is the later of the claim's now and the latest served time a
--   claim wrote in them (kept in the served hash under the field LATEST, a NUL, which no
--   group's name can be): served times run a few microseconds past the claim that wrote
--   them (the offsets), and a claim right after it, on any instance (whose clock may be
--   that little behind, or read the same instant), still finds the groups served just
--   before in their rotation order. A job is still due by the claim's own now.
-- - Only the groups whose turn has come are read (ZRANGEBYSCORE up to now, a page at a
--   time, the first no larger than what the claim still wants): a claim's cost does not
--   grow with the groups waiting.
-- - A group at its group_concurrency (its running set's size and what this claim
--   started, against the limit's group_concurrency) is passed over and parked: its turn
--   is now + PARK_SECONDS, until freed.lua brings it back (a lost wake costs at most that).
-- - Every write to the turns waits for the end (finish_turns), so the ranks read stay
--   valid while the claim pages through them; then each group it touched has its taken
--   jobs removed, its served time or parking written and its turn set again from them
--   (refresh_turn), or leaves the turns when it has no job left.
-- A source is one grouped type's groups of one priority: {ty = its type (claim_limited's
-- record of it), p, page = the groups read from the turns and not yet visited, at, read,
-- full, size, round = groups served in this claim whose next job is due, in order,
-- next_in_round, plain = the group "", groups = every group visited, by name}.
-- A group visited is {name, named = name ~= "", entries = its jobs read {id, run_at},
-- at, read, full, size, taken = ids taken, later = jobs found not due {id, run_at, type},
-- served, parked, done = no more from it in this claim}.
-- Needs _type_key (encoded), _groups (refresh_turn) and _claim (lease_job).
local PARK_SECONDS = 30  -- stackduck.domain.limits.PARK_SECONDS
local SERVED_STEP = 1e-6  -- stackduck.domain.limits.SERVED_STEP
local PRIORITY_FACTOR = 1e13
local LATEST_BYTE = 0  -- the served hash's field LATEST is this one byte (NUL)

local function new_group(source, name)
    local group = {name = name, named = name ~= '', entries = {}, at = 1, read = 0, full = true, size = 2,
        taken = {}, later = {}}
    source.groups[name] = group
    return group
end
-- The group's next job not taken in this claim: its id and run_at, or nil.
local function peek(source, group)
    if group.entries[group.at] == nil and group.full then
        if group.read > 0 then group.size = group.size * 2 end
        local flat, page = nil, {}
        if group.named then
            local key = source.ty.group_stems[source.p] .. encoded(group.name)
            flat = redis.call('ZRANGE', key, group.read, group.read + group.size - 1, 'WITHSCORES')
        else
            local low = source.p * PRIORITY_FACTOR
            flat = redis.call('ZRANGEBYSCORE', source.ty.ready, string.format('%.0f', low),
                '(' .. string.format('%.0f', low + PRIORITY_FACTOR), 'WITHSCORES', 'LIMIT', group.read, group.size)
        end
        for j = 1, #flat, 2 do
            local at = tonumber(flat[j + 1])
            if not group.named then at = (at - source.p * PRIORITY_FACTOR) / 1000 end
            page[#page + 1] = {flat[j], at}
        end
        group.entries, group.at, group.read, group.full = page, 1, group.read + #page, #page == group.size
    end
    local entry = group.entries[group.at]
    if entry == nil then return nil end
    return entry[1], entry[2]
end
local function advance(group)
    group.taken[#group.taken + 1] = group.entries[group.at][1]
    group.at = group.at + 1
end

-- One grouped type's groups of priority p, for a claim at `now` that wants `want` more.
local function open_turns(ty, p, now, want)
    local latest = tonumber(redis.call('HGET', ty.served[p], string.char(LATEST_BYTE))) or 0
    local source = {ty = ty, p = p, page = {}, at = 1, read = 0, full = true, size = math.max(1, want),
        round = {}, next_in_round = 1, groups = {}, now = now, turns_now = math.max(now, latest), latest = latest}
    local plain = new_group(source, '')
    local _, head = peek(source, plain)
    if head ~= nil then
        local served = tonumber(redis.call('HGET', ty.served[p], '')) or 0
        local parked = tonumber(redis.call('HGET', ty.parked, '')) or 0
        plain.turn = math.max(head, served, parked)
        if plain.turn <= source.turns_now then source.plain = plain end
    end
    return source
end
-- The next group read from the turns (whose turn has come), or nil.
local function page_head(source)
    if source.page[source.at] == nil and source.full then
        if source.read > 0 then source.size = source.size * 2 end
        local flat = redis.call('ZRANGEBYSCORE', source.ty.turns[source.p], '-inf',
            string.format('%.17g', source.turns_now), 'WITHSCORES', 'LIMIT', source.read, source.size)
        local page = {}
        for j = 1, #flat, 2 do page[#page + 1] = {flat[j], tonumber(flat[j + 1])} end
        source.page, source.at, source.read, source.full = page, 1, source.read + #page, #page == source.size
    end
    return source.page[source.at]
end
-- The source's next group and its key (its turn, or its served time in a later round),
-- and how to take it (a function that moves past it); nil when none is left.
local function next_group(source)
    if source.ty.out then return nil end
    local entry = page_head(source)
    local plain = source.plain
    if plain ~= nil and (entry == nil or plain.turn <= entry[2]) then
        return plain, plain.turn, function() source.plain = nil end
    end
    if entry ~= nil then
        local group = source.groups[entry[1]] or new_group(source, entry[1])
        return group, entry[2], function() source.at = source.at + 1 end
    end
    while source.round[source.next_in_round] ~= nil do
        local group = source.round[source.next_in_round]
        if not group.done then
            return group, group.served, function() source.next_in_round = source.next_in_round + 1 end
        end
        source.next_in_round = source.next_in_round + 1
    end
    return nil
end
-- How many of the group's jobs run, with those this claim started (read once a claim).
local function running_of(ty, group)
    local count = ty.running_counts[group.name]
    if count == nil then
        if group.named then
            count = redis.call('SCARD', ty.running_stem .. encoded(group.name))
        else
            count = redis.call('SCARD', ty.running) - redis.call('SCARD', ty.running_grouped)
        end
        ty.running_counts[group.name] = count
    end
    return count
end
-- Serve one job of the group (its earliest due one) to the claim `c`, or pass the group
-- over: parked at its group_concurrency, done when it has no due job. `serial` counts the
-- groups served so far in the claim; returns it, one more if this one was served.
local function serve(source, group, c, serial)
    local ty, now = source.ty, source.now
    while true do
        local id, run_at = peek(source, group)
        if id == nil or (group.named and run_at > now) then
            group.done = true
            return serial
        end
        if ty.group_concurrency > 0 and running_of(ty, group) >= ty.group_concurrency then
            group.parked, group.done = now + PARK_SECONDS, true
            return serial
        end
        advance(group)
        local more = nil
        if group.named then more = {ty.running_grouped, ty.running_stem .. encoded(group.name)} end
        local outcome, values = lease_job(c, id, ty.running, more)
        if outcome == 'leased' then
            ty.running_counts[group.name] = running_of(ty, group) + 1
            ty.started = ty.started + 1
            if ty.cap ~= nil and ty.started >= ty.cap then ty.out = true end
            serial = serial + 1
            group.served = source.turns_now + SERVED_STEP * serial
            source.latest = math.max(source.latest, group.served)
            local next_id, next_at = peek(source, group)
            if next_id ~= nil and (not group.named or next_at <= now) then
                source.round[#source.round + 1] = group
            else
                group.done = true
            end
            return serial
        elseif outcome == 'later' then
            local at, job_type = values[c.pos.run_at], values[c.pos.job_type]
            if group.named then
                group.later[#group.later + 1] = {id, at, job_type}
            else  -- back to its schedule, as claim_best does
                redis.call('ZADD', ty.scheduled, at, string.format('%d', source.p) .. '|' .. id)
                redis.call('ZADD', KEYS[4], 'LT', at, job_type)
            end
        end
        -- else: a stale entry, dropped; the group's next job is looked at
    end
end
-- Write what the claim did to the groups of the source (see the top).
local function finish_turns(source)
    local ty, p = source.ty, source.p
    if source.latest > source.turns_now then
        redis.call('HSET', ty.served[p], string.char(LATEST_BYTE), string.format('%.17g', source.latest))
    end
    for name, group in pairs(source.groups) do
        if group.served ~= nil then
            redis.call('HSET', ty.served[p], name, string.format('%.17g', group.served))
            redis.call('HDEL', ty.parked, name)
        end
        if group.parked ~= nil then
            redis.call('HSET', ty.parked, name, string.format('%.17g', group.parked))
        end
        if group.named then
            local g = {[1] = ty.group_stems[p] .. encoded(name), [2] = ty.turns[p], [3] = ty.served[p],
                [4] = ty.parked, [5] = ty.waking, [8] = ty.grouped_queued, [9] = name, [10] = p}
            if #group.taken > 0 then
                many('ZREM', g[1], group.taken)
                many('ZREM', g[8], group.taken)
            end
            for _, job in ipairs(group.later) do  -- not due after all: waits for its time
                redis.call('ZADD', g[1], job[2], job[1])
                redis.call('ZADD', g[5], job[2], job[1])
                local ready_score = p * PRIORITY_FACTOR + math.floor(tonumber(job[2]) * 1000)
                redis.call('ZADD', g[8], string.format('%.0f', ready_score), job[1])
                redis.call('ZADD', KEYS[4], 'LT', job[2], job[3])
            end
            refresh_turn(g)
        elseif #group.taken > 0 then
            many('ZREM', ty.ready, group.taken)
            local low = p * PRIORITY_FACTOR
            local left = redis.call('ZRANGEBYSCORE', ty.ready, string.format('%.0f', low),
                '(' .. string.format('%.0f', low + PRIORITY_FACTOR), 'LIMIT', 0, 1)
            if #left == 0 then redis.call('HDEL', ty.served[p], '') end
        end
    end
end
