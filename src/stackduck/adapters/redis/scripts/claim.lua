-- Mirrors stackduck.domain.job.Job.start on the best due jobs of some types: pop them
-- and lease them to one worker, in one call.
-- The pop is pop.lua's (lowest score = priority, then due time; then lowest id);
-- the lease is Job.start's: status running, attempt + 1, the attempt's deadline where the
-- job has a timeout, the lease (cut at that deadline), version + 1.
-- "Now" is the later of the caller's clock and Redis's: an entry in a ready set was
-- due by the clock of whoever pushed it, possibly read after the caller read its own.
-- An entry whose job is gone or no longer queued was stale (cancelled, finished): it
-- is dropped. A queued job not yet due goes back to its scheduled set, never lost.
-- KEYS: status:queued, status:running, leases, the due index, then per job type its
--       ready set and its scheduled set.
-- ARGV: limit, the caller's now, lease seconds, the job key prefix, worker id, then the
--       n field names to return (which include every field the lease writes).
-- Job hashes are reached by id (prefix .. id): they share no slot with the ready sets,
-- which is what Redis alone on one server allows (see ADR 0009 on Redis Cluster).
-- Per job: one HMGET and one HSET; the indexes change once per call (_many.lua). That
-- is safe because nothing after the first write can fail: Redis lets a script that has
-- written go on writing past maxmemory, and a field missing from a damaged hash reads
-- as 0 here (as HINCRBY would) rather than raising halfway.
-- Returns per leased job: its id, then the list of its n field values.
--#include _heads
--#include _job
local limit, lease, prefix, worker = tonumber(ARGV[1]), tonumber(ARGV[3]), ARGV[4], ARGV[5]
local clock = redis.call('TIME')
local now = math.max(tonumber(ARGV[2]), tonumber(clock[1]) + tonumber(clock[2]) / 1e6)
local stamp, deadline = string.format('%.17g', now), string.format('%.17g', now + lease)
local QUEUED, RUNNING, LEASES, DUE = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local names, pos = field_names(6)
local STATUS, RUN_AT, ATTEMPT, VERSION = pos.status, pos.run_at, pos.attempt, pos.version
local TIMEOUT = pos.timeout

local heads = open_heads(5, 2, (#KEYS - 4) / 2, limit)

local leased, ids, adds, count = {}, {}, {}, 0
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
        leased[#leased + 1] = id
        leased[#leased + 1] = values
        count = count + 1
    end
end
drop_taken(heads)
if count > 0 then
    many('ZREM', QUEUED, ids)
    add_all(adds)
end
return leased
