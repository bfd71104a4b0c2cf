-- Store new jobs, all or none.
-- KEYS: the 5 status sets (queued, running, completed, failed, cancelled), queued-at,
--       leases, finished, all jobs, then one job hash per job.
-- ARGV: n, the n field names, then per job: id and its n values ("" = none).
local STATUS = {queued = 1, running = 2, completed = 3, failed = 4, cancelled = 5}
local n = tonumber(ARGV[1])
local names = {}
for f = 1, n do names[f] = ARGV[1 + f] end
local jobs = #KEYS - 9
for j = 1, jobs do
    if redis.call('EXISTS', KEYS[9 + j]) == 1 then
        return redis.error_reply('job ' .. ARGV[2 + n + (j - 1) * (n + 1)] .. ' already exists')
    end
end
for j = 1, jobs do
    local base = 2 + n + (j - 1) * (n + 1)
    local id = ARGV[base]
    local fields = {}
    local values = {}
    for f = 1, n do
        local value = ARGV[base + f]
        values[names[f]] = value
        table.insert(fields, names[f])
        table.insert(fields, value)
    end
    redis.call('HSET', KEYS[9 + j], unpack(fields))
    redis.call('ZADD', KEYS[9], 0, id)
    redis.call('ZADD', KEYS[STATUS[values.status]], 0, id)
    if values.status == 'queued' then redis.call('ZADD', KEYS[6], values.run_at, id) end
    if values.status == 'running' and values.lease_expires_at ~= '' then
        redis.call('ZADD', KEYS[7], values.lease_expires_at, id)
    end
end
return jobs
