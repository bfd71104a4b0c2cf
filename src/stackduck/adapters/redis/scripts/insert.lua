-- Store new jobs, all or none.
-- KEYS: the 5 status sets (queued, running, completed, failed, cancelled), queued-at,
--       leases, finished, all jobs, then one job hash per job.
-- ARGV[1]: JSON {"names": the n field names, "rows": per job [id, its n values]
--          (values are strings, "" = none), "queues": per job [its type's ready set,
--          its scheduled set], "types": the set of types}. One argument, not n per
--          job: packing arguments is what a batch costs the server otherwise.
-- A queued job gets its ready-queue entry in the same call (_entries.lua).
--#include _entries
local STATUS = {queued = 1, running = 2, completed = 3, failed = 4, cancelled = 5}
local batch = cjson.decode(ARGV[1])
local names, rows = batch.names, batch.rows
for j = 1, #rows do
    if redis.call('EXISTS', KEYS[9 + j]) == 1 then
        return redis.error_reply('job ' .. rows[j][1] .. ' already exists')
    end
end
for j, row in ipairs(rows) do
    local id = row[1]
    local fields = {}
    local values = {}
    for f, name in ipairs(names) do
        local value = row[1 + f]
        values[name] = value
        fields[#fields + 1] = name
        fields[#fields + 1] = value
    end
    redis.call('HSET', KEYS[9 + j], unpack(fields))
    redis.call('ZADD', KEYS[9], 0, id)
    redis.call('ZADD', KEYS[STATUS[values.status]], 0, id)
    if values.status == 'queued' then
        redis.call('ZADD', KEYS[6], values.run_at, id)
        enqueue(batch.queues[j], batch.types, values.job_type, id, values.priority, values.run_at, values.updated_at, true)
    end
    if values.status == 'running' and values.lease_expires_at ~= '' then
        redis.call('ZADD', KEYS[7], values.lease_expires_at, id)
    end
end
return #rows
