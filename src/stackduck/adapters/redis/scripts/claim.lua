-- Pop the best due jobs of some types and lease them to one worker, in one call.
-- The pop is pop.lua's (lowest score = priority, then due time; then lowest id);
-- the lease is Job.start: status running, attempt + 1, the lease, version + 1.
-- "Now" is the later of the caller's clock and Redis's: an entry in a ready set was
-- due by the clock of whoever pushed it, possibly read after the caller read its own.
-- An entry whose job is gone or no longer queued was stale (cancelled, finished): it
-- is dropped. A queued job not yet due goes back to its scheduled set, never lost.
-- KEYS: status:queued, status:running, queued-at, leases, then per job type its ready
--       set and its scheduled set.
-- ARGV: limit, the caller's now, lease seconds, the job key prefix, worker id, then the
--       n field names to return.
-- Job hashes are reached by id (prefix .. id): they share no slot with the ready sets,
-- which is what Redis alone on one server allows (see ADR 0009 on Redis Cluster).
-- Returns per leased job: its id, then its n field values.
--#include _heads
local limit, lease, prefix, worker = tonumber(ARGV[1]), tonumber(ARGV[3]), ARGV[4], ARGV[5]
local clock = redis.call('TIME')
local now = math.max(tonumber(ARGV[2]), tonumber(clock[1]) + tonumber(clock[2]) / 1e6)
local stamp, deadline = string.format('%.17g', now), string.format('%.17g', now + lease)
local QUEUED, RUNNING, QUEUED_AT, LEASES = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local names = {}
for f = 6, #ARGV do names[#names + 1] = ARGV[f] end

for i = 5, #KEYS, 2 do look(i) end

local leased, count = {}, 0
while count < limit do
    local k = best()
    if k == nil then break end
    local id = heads[k][1]
    redis.call('ZREM', KEYS[k], id)
    look(k)
    local key = prefix .. id
    local job = redis.call('HMGET', key, 'status', 'run_at', 'priority')
    if job[1] == 'queued' and tonumber(job[2]) > now then
        redis.call('ZADD', KEYS[k + 1], job[2], job[3] .. '|' .. id)
    elseif job[1] == 'queued' then
        redis.call('HINCRBY', key, 'attempt', 1)
        redis.call('HINCRBY', key, 'version', 1)
        redis.call('HSET', key, 'status', 'running', 'lease_owner', worker, 'lease_expires_at', deadline,
            'started_at', stamp, 'updated_at', stamp)
        redis.call('ZREM', QUEUED, id)
        redis.call('ZADD', RUNNING, 0, id)
        redis.call('ZREM', QUEUED_AT, id)
        redis.call('ZADD', LEASES, deadline, id)
        leased[#leased + 1] = id
        local values = redis.call('HMGET', key, unpack(names))
        for f = 1, #names do leased[#leased + 1] = values[f] or '' end
        count = count + 1
    end
end
return leased
