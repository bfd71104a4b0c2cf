-- Ready-queue entries kept by the store's own scripts (Redis alone: the store is the
-- queue, as Postgres' table is), so a job and its entry change together or not at all.
-- `queue` is {ready set, scheduled set} of the job's type. A queued job goes to the
-- ready set when due, else to the scheduled set, as RedisReadyQueue.push does; due =
-- run_at no later than the move's own time (updated_at, the caller's clock) or Redis's
-- (`redis_now`, which the script reads once with redis_time and passes in).
-- A type given a scheduled entry is marked in the due index (`due`, keys.due) no later
-- than that entry (ZADD LT keeps an earlier mark).
-- A grouped job has no entry here: its group holds it (_groups.lua).
local function redis_time()
    local clock = redis.call('TIME')
    return tonumber(clock[1]) + tonumber(clock[2]) / 1e6
end
local function withdraw(queue, id, priority)
    redis.call('ZREM', queue[1], id)
    redis.call('ZREM', queue[2], priority .. '|' .. id)
end
-- Whether a queued job is due as it is written (else it waits for its time).
local function is_due(run_at, updated_at, redis_now)
    return tonumber(run_at) <= math.max(redis_now, tonumber(updated_at))
end
-- Where a queued job's entry goes: its set, its score, its member.
local function placement(queue, id, priority, run_at, updated_at, redis_now)
    local at = tonumber(run_at)
    if is_due(run_at, updated_at, redis_now) then
        return queue[1], string.format('%.0f', tonumber(priority) * 1e13 + math.floor(at * 1000)), id
    end
    return queue[2], run_at, priority .. '|' .. id
end
local function enqueue(queue, types, due, job_type, id, priority, run_at, updated_at, redis_now)
    withdraw(queue, id, priority)
    local set, score, member = placement(queue, id, priority, run_at, updated_at, redis_now)
    redis.call('ZADD', set, score, member)
    if set == queue[2] then redis.call('ZADD', due, 'LT', score, job_type) end
    redis.call('SADD', types, job_type)
end
