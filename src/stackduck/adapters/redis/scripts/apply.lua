-- Write moves, each only over the version it was made from (compare-and-set).
-- KEYS: the 5 status sets, leases, finished, all jobs, then one job hash per change.
-- ARGV[1]: JSON {"names": the n field names (which include status, run_at,
--          lease_expires_at and version), "rows": per change [id, expected version,
--          its n values]} (values are strings, "" = none), "queues": per change [its
--          type's ready set, its scheduled set, its running set], "types": the set of
--          types, "due": the due index; for changes of grouped jobs "groups": by change
--          number (as text) the keys of the job's group (Keys.of_group), and "grouped":
--          the set of grouped types}.
-- A job that is or becomes queued gets its ready-queue entry in the same call, one
-- that leaves the queued state loses it (_entries.lua). A job that becomes running joins
-- its type's running set, one that stops running leaves it (a heartbeat touches neither).
-- A grouped job's entry is in its group (_groups.lua), whose turn follows in the same
-- call; it joins and leaves its group's running sets as it does its type's.
--#include _entries
--#include _groups
-- Returns one flag per change: 1 written, 0 refused.
local redis_now = redis_time()
local STATUS = {queued = 1, running = 2, completed = 3, failed = 4, cancelled = 5}
local batch = cjson.decode(ARGV[1])
local names, rows = batch.names, batch.rows
local n = #names
local written = {}
local groups, touched = batch.groups, {}  -- nil: no job of the batch has a group
for j, row in ipairs(rows) do
    local key = KEYS[8 + j]
    local id, expected = row[1], row[2]
    local current = redis.call('HMGET', key, 'version', 'status', 'priority', 'job_type')
    if current[1] == expected then
        local fields = {}
        local values = {}
        for f = 1, n do
            local value = row[2 + f]
            values[names[f]] = value
            table.insert(fields, names[f])
            table.insert(fields, value)
        end
        redis.call('HSET', key, unpack(fields))
        local g = groups and groups[tostring(j)]
        if current[2] ~= values.status then
            redis.call('ZREM', KEYS[STATUS[current[2]]], id)
            redis.call('ZADD', KEYS[STATUS[values.status]], 0, id)
            local move = nil
            if values.status == 'running' then
                move = 'SADD'
            elseif current[2] == 'running' then
                move = 'SREM'
            end
            if move then
                redis.call(move, batch.queues[j][3], id)
                if g then
                    redis.call(move, g[6], id)
                    redis.call(move, g[7], id)
                end
            end
        end
        if values.status == 'queued' and g then
            join_group(g, touched, batch, current[4], id, values.run_at,
                not is_due(values.run_at, values.updated_at, redis_now))
        elseif values.status == 'queued' then
            enqueue(batch.queues[j], batch.types, batch.due, current[4], id, current[3], values.run_at,
                values.updated_at, redis_now)
        elseif current[2] == 'queued' and g then
            leave_group(g, touched, id)
        elseif current[2] == 'queued' then
            withdraw(batch.queues[j], id, current[3])
        end
        if values.status == 'running' and values.lease_expires_at ~= '' then
            redis.call('ZADD', KEYS[6], values.lease_expires_at, id)
        else
            redis.call('ZREM', KEYS[6], id)
        end
        if STATUS[values.status] >= 3 and values.completed_at ~= '' then
            redis.call('ZADD', KEYS[7], values.completed_at, id)
        else
            redis.call('ZREM', KEYS[7], id)
        end
        written[j] = 1
    else
        written[j] = 0
    end
end
refresh_all(touched)
return written
