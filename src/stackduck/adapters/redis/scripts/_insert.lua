-- The insert of new jobs, shared by insert.lua (an enqueue) and fire.lua (the job of a
-- schedule's tick, inserted with the schedule's write): `keys` and `batch` are what
-- insert.lua describes as its KEYS and ARGV[1] (decoded). Every check that can fail comes
-- before the first write: an error reply (returned, not raised) means nothing was written.
-- Returns, flat, the row and the holder of each job not stored (a duplicate of its key).
-- A grouped job joins its group (_groups.lua): `batch.groups`, by row number (as text),
-- holds the keys of each grouped job's group (Keys.of_group); a batch without grouped
-- jobs has none. A grouped job inserted running joins its group's running sets.
-- Needs _entries, _many and _groups.
local function insert_jobs(keys, batch)
    local redis_now = redis_time()
    local STATUS = {queued = 1, running = 2, completed = 3, failed = 4, cancelled = 5}
    local names, rows = batch.names, batch.rows
    local job_keys = {}
    for j = 1, #rows do job_keys[j] = keys[8 + j] end
    for s = 1, #job_keys, CHUNK do
        local last = math.min(s + CHUNK - 1, #job_keys)
        if redis.call('EXISTS', unpack(job_keys, s, last)) > 0 then
            for j = s, last do
                if redis.call('EXISTS', job_keys[j]) == 1 then
                    return redis.error_reply('job ' .. rows[j][1] .. ' already exists')
                end
            end
        end
    end
    local n, at = #names, {}  -- at[name]: where a row holds that field's value
    for f = 1, n do at[names[f]] = 1 + f end
    local JOB_TYPE, PRIORITY, STATE, RUN_AT = at.job_type, at.priority, at.status, at.run_at
    local UPDATED_AT, LEASE_EXPIRES_AT = at.updated_at, at.lease_expires_at
    -- Every value an index needs is checked before the first write: the indexes are
    -- written after all the hashes, and nothing may fail in between.
    local function number(text)  -- a score ZADD takes (not NaN)
        local x = tonumber(text)
        return x ~= nil and x == x
    end
    for _, row in ipairs(rows) do
        local lease = row[LEASE_EXPIRES_AT]
        if not STATUS[row[STATE]] or not number(row[RUN_AT]) or not number(row[UPDATED_AT])
            or not number(row[PRIORITY]) or (lease ~= '' and not number(lease)) then
            return redis.error_reply('job ' .. tostring(row[1]) .. ' has a state, time or priority that is not one')
        end
    end
    local keyed = batch.keyed or {}
    for _, entry in ipairs(keyed) do
        if not number(rows[entry[1]][at.created_at]) or not number(entry[3]) then
            return redis.error_reply('job ' .. tostring(rows[entry[1]][1]) .. ' has a creation time that is not one')
        end
    end
    -- Idempotency keys, after every check that can fail: a key written here stays written.
    local held = {}  -- per row not to store: the job holding its key
    local taken = {}  -- keys taken by this batch: held whatever the time
    for _, entry in ipairs(keyed) do
        local j, key, window_end = entry[1], keys[entry[2]], entry[3]
        local found = redis.call('HMGET', key, 'job', 'until')
        local holder = found[1]
        if holder and (taken[key] or redis.call('EXISTS', batch.job_prefix .. holder) == 1
                or tonumber(rows[j][at.created_at]) <= (tonumber(found[2]) or 0)) then
            held[j] = holder
        else
            redis.call('DEL', key)  -- a hash whose job is gone, and its expiry
            redis.call('HSET', key, 'job', rows[j][1], 'until', window_end)
            taken[key] = true
        end
    end
    local adds = {}  -- per index key: its score/member pairs
    local running = {}  -- per running set: the ids that join it
    local function add(key, score, member) gather(adds, key, score, member) end
    local types, later = {}, {}  -- later[type]: its earliest new scheduled entry
    local groups, touched = batch.groups, {}  -- nil: no job of the batch has a group
    local function store(j, row)
        local id, status = row[1], row[STATE]
        local fields = {}
        for f = 1, n do
            fields[2 * f - 1] = names[f]
            fields[2 * f] = row[1 + f]
        end
        redis.call('HSET', job_keys[j], unpack(fields))
        add(keys[8], 0, id)
        add(keys[STATUS[status]], 0, id)
        local g = groups and groups[tostring(j)]
        if status == 'queued' and g then
            join_group(g, touched, batch, row[JOB_TYPE], id, row[RUN_AT],
                not is_due(row[RUN_AT], row[UPDATED_AT], redis_now))
        elseif status == 'queued' then
            local set, score, member = placement(batch.queues[j], id, row[PRIORITY], row[RUN_AT], row[UPDATED_AT],
                redis_now)
            add(set, score, member)
            local job_type = row[JOB_TYPE]
            if set == batch.queues[j][2] and (later[job_type] == nil or tonumber(score) < later[job_type]) then
                later[job_type] = tonumber(score)
            end
        end
        types[row[JOB_TYPE]] = true  -- every type, handed-off ones too: stats list them
        if status == 'running' then
            collect(running, batch.queues[j][3], id)
            if g then
                collect(running, g[6], id)
                collect(running, g[7], id)
            end
            if row[LEASE_EXPIRES_AT] ~= '' then add(keys[6], row[LEASE_EXPIRES_AT], id) end
        end
    end
    for j, row in ipairs(rows) do
        if not held[j] then store(j, row) end
    end
    add_all(adds)
    each_set('SADD', running)
    refresh_all(touched)
    for job_type in pairs(types) do redis.call('SADD', batch.types, job_type) end
    for job_type, at in pairs(later) do redis.call('ZADD', batch.due, 'LT', at, job_type) end
    local duplicates = {}
    for j = 1, #rows do
        if held[j] then
            duplicates[#duplicates + 1] = j
            duplicates[#duplicates + 1] = held[j]
        end
    end
    return duplicates
end
