-- The claim of claim.lua and claim_limited.lua. Mirrors stackduck.domain.job.Job.start on
-- the best due jobs of some types: pop them and lease them, in one call, to the owners
-- listed (the best job to the first, the next to the second, ...).
-- The pop is pop.lua's (_heads.lua: lowest score = priority, then due time; then lowest
-- id); the lease is Job.start's: status running, attempt + 1, the attempt's deadline
-- where the job has a timeout, the lease (cut at that deadline), version + 1.
-- "Now" is the later of the caller's clock and Redis's (claim_clock): an entry in a ready
-- set was due by the clock of whoever pushed it, possibly read after the caller read its
-- own.
-- An entry whose job is gone or no longer queued was stale (cancelled, finished): it
-- is dropped. A queued job not yet due goes back to its scheduled set, never lost.
-- KEYS, as both scripts lay them out: status:queued, status:running, leases, the due
-- index, then from KEYS[5] `step` keys per job type: its ready set, its scheduled set,
-- its running set (keys.running), then what the script adds.
-- Job hashes are reached by id (prefix .. id): they share no slot with the ready sets,
-- which is what Redis alone on one server allows (see ADR 0009 on Redis Cluster).
-- Per job: one HMGET and one HSET; the indexes change once per call (_many.lua), each
-- running set once per type. That is safe because nothing after the first write can
-- fail: Redis lets a script that has written go on writing past maxmemory, and a field
-- missing from a damaged hash reads as 0 here (as HINCRBY would) rather than raising
-- halfway.
-- Needs _heads (which brings _many) and _job.
local function claim_clock(caller_now)
    local clock = redis.call('TIME')
    return math.max(tonumber(caller_now), tonumber(clock[1]) + tonumber(clock[2]) / 1e6)
end
-- A claim's leases as they are made: open_leases starts them, lease_job leases one job,
-- close_leases writes the indexes once for all (what claim_best does, and
-- claim_limited.lua's turns of groups). `running` gathers, per running set, the ids that
-- join it.
local function open_leases(now, lease, prefix, owners, names, pos)
    return {now = now, lease = lease, prefix = prefix, owners = owners, names = names, pos = pos,
        stamp = string.format('%.17g', now), deadline = string.format('%.17g', now + lease),
        leased = {}, ids = {}, adds = {}, running = {}, count = 0}
end
-- Lease the job `id` if it is queued and due, adding it to the running set `set` (its
-- type's) and to those in `more` (a grouped job's: nil for others).
-- Returns 'leased'; or 'later' and its hash's values when it is queued but not due; or
-- nil when it is gone or not queued (its entry was stale).
local function lease_job(c, id, set, more)
    local pos = c.pos
    local key = c.prefix .. id
    local values = redis.call('HMGET', key, unpack(c.names))
    if values[pos.status] ~= 'queued' then return nil end
    if (tonumber(values[pos.run_at]) or 0) > c.now then return 'later', values end
    local timeout = tonumber(values[pos.timeout]) or 0
    local lease_until, attempt_deadline = c.deadline, ''
    if timeout > 0 then
        attempt_deadline = string.format('%.17g', c.now + timeout)
        if c.now + timeout < c.now + c.lease then lease_until = attempt_deadline end
    end
    write(key, values, pos, {'status', 'running', 'attempt', bumped(values[pos.attempt]),
        'version', bumped(values[pos.version]), 'lease_owner', c.owners[c.count + 1],
        'lease_expires_at', lease_until,
        'attempt_deadline', attempt_deadline, 'started_at', c.stamp, 'updated_at', c.stamp})
    c.ids[#c.ids + 1] = id
    gather(c.adds, KEYS[2], 0, id)
    gather(c.adds, KEYS[3], lease_until, id)
    collect(c.running, set, id)
    if more then
        for _, other in ipairs(more) do collect(c.running, other, id) end
    end
    c.leased[#c.leased + 1] = id
    c.leased[#c.leased + 1] = values
    c.count = c.count + 1
    return 'leased'
end
local function close_leases(c)
    if c.count > 0 then
        many('ZREM', KEYS[1], c.ids)
        add_all(c.adds)
        each_set('SADD', c.running)
    end
end
-- Lease up to `limit` of the best due jobs of the sets in `heads` to `owners` for `lease`
-- seconds at `now` (claim_clock's), at most caps[i] of set i's type (no cap where caps has
-- none: a set whose cap is reached leaves the merge, the others go on). `names` and `pos`
-- are field_names'. Returns the leased jobs (flat: an id, then the list of its values)
-- and, per set, how many of its type were leased.
local function claim_best(heads, caps, limit, now, lease, prefix, owners, names, pos)
    local c = open_leases(now, lease, prefix, owners, names, pos)
    local started = {}
    for k, cap in pairs(caps) do
        if cap <= 0 then retire(heads, k) end
    end
    while c.count < limit do
        local k = best(heads)
        if k == nil then break end
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
    end
    drop_taken(heads)
    close_leases(c)
    return c.leased, started
end
