-- The claim of claim.lua and claim_limited.lua. Mirrors stackduck.domain.job.Job.start on
-- the best due jobs of some types: pop them and lease them to one worker, in one call.
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
-- Lease up to `limit` of the best due jobs of the sets in `heads` to `worker` for `lease`
-- seconds at `now` (claim_clock's), at most caps[i] of set i's type (no cap where caps has
-- none: a set whose cap is reached leaves the merge, the others go on). `names` and `pos`
-- are field_names'. Returns the leased jobs (flat: an id, then the list of its values)
-- and, per set, how many of its type were leased.
local function claim_best(heads, caps, limit, now, lease, prefix, worker, names, pos)
    local stamp, deadline = string.format('%.17g', now), string.format('%.17g', now + lease)
    local QUEUED, RUNNING, LEASES, DUE = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
    local STATUS, RUN_AT, ATTEMPT, VERSION = pos.status, pos.run_at, pos.attempt, pos.version
    local TIMEOUT = pos.timeout
    local leased, ids, adds, running, started, count = {}, {}, {}, {}, {}, 0
    for k, cap in pairs(caps) do
        if cap <= 0 then retire(heads, k) end
    end
    while count < limit do
        local k = best(heads)
        if k == nil then break end
        local id, score = take(heads, k)
        local key = prefix .. id
        local values = redis.call('HMGET', key, unpack(names))
        if values[STATUS] == 'queued' and (tonumber(values[RUN_AT]) or 0) > now then
            -- back to its schedule, under the priority its ready score carries
            local priority = string.format('%d', math.floor(tonumber(score) / 1e13))
            redis.call('ZADD', KEYS[k + 1], values[RUN_AT], priority .. '|' .. id)
            redis.call('ZADD', DUE, 'LT', values[RUN_AT], values[pos.job_type])
        elseif values[STATUS] == 'queued' then
            local timeout = tonumber(values[TIMEOUT]) or 0
            local lease_until, attempt_deadline = deadline, ''
            if timeout > 0 then
                attempt_deadline = string.format('%.17g', now + timeout)
                if now + timeout < now + lease then lease_until = attempt_deadline end
            end
            write(key, values, pos, {'status', 'running', 'attempt', bumped(values[ATTEMPT]),
                'version', bumped(values[VERSION]), 'lease_owner', worker, 'lease_expires_at', lease_until,
                'attempt_deadline', attempt_deadline, 'started_at', stamp, 'updated_at', stamp})
            ids[#ids + 1] = id
            gather(adds, RUNNING, 0, id)
            gather(adds, LEASES, lease_until, id)
            collect(running, KEYS[k + 2], id)
            leased[#leased + 1] = id
            leased[#leased + 1] = values
            count = count + 1
            started[k] = (started[k] or 0) + 1
            if caps[k] ~= nil and started[k] >= caps[k] then retire(heads, k) end
        end
    end
    drop_taken(heads)
    if count > 0 then
        many('ZREM', QUEUED, ids)
        add_all(adds)
        each_set('SADD', running)
    end
    return leased, started
end
