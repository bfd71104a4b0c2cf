-- A grouped job's place in its group (ADR 0029), shared by the scripts that make a job
-- queued or take it out of the queue (_insert.lua, apply.lua, push.lua, delete.lua) and
-- by freed.lua. A grouped job (group_key ~= "") has no entry in its type's ready or
-- scheduled set: it waits in its group's sorted set of the job's priority (run_at, then
-- id), due and later ones together, and the group has a turn in the type's turns of
-- that priority for as long as that set holds a job.
-- `g` is a group's keys as the callers pass them (Keys, in this order):
--   g[1] the group's jobs (Keys.group), g[2] the turns (Keys.turns), g[3] when each group
--   was served (Keys.served), g[4] the parked groups (Keys.parked), g[5] the type's
--   grouped jobs queued for later (Keys.waking), g[6] the type's running grouped jobs
--   (Keys.running_grouped), g[7] the group's running jobs (Keys.group_running), g[8] the
--   type's queued grouped jobs (Keys.grouped_queued, scored as the ready set, for the
--   stats), g[9] the group's name, g[10] the priority.
-- The turn time is the model's: the latest of when a claim last served the group, its
-- earliest queued job's run_at (its head) and the end of its parking; a group with no
-- job left leaves the turns, and what it was served is forgotten.
local function score_text(x)
    return string.format('%.17g', x)
end
-- Set the group's turn from what is stored, or take it out of the turns when empty.
local function refresh_turn(g)
    local head = redis.call('ZRANGE', g[1], 0, 0, 'WITHSCORES')
    if #head == 0 then
        redis.call('ZREM', g[2], g[9])
        redis.call('HDEL', g[3], g[9])
        return
    end
    local served = tonumber(redis.call('HGET', g[3], g[9])) or 0
    local parked = tonumber(redis.call('HGET', g[4], g[9])) or 0
    redis.call('ZADD', g[2], score_text(math.max(tonumber(head[2]), served, parked)), g[9])
end
-- Groups whose turn a batch changed, each refreshed once at its end (refresh_all).
local function touch(touched, g)
    touched[g[1]] = g
end
local function refresh_all(touched)
    for _, g in pairs(touched) do refresh_turn(g) end
end
-- Queue a grouped job in its group; `later`: it is not due yet, so the scheduler is to
-- wake its type's consumers at its time (the waking set and the due index, ZADD LT
-- keeping an earlier mark). `sets` names the set of types (`types`), the due index
-- (`due`) and the set of grouped types (`grouped`, Keys.grouped), where the type joins.
local function join_group(g, touched, sets, job_type, id, run_at, later)
    redis.call('ZADD', g[1], run_at, id)
    local ready_score = tonumber(g[10]) * 1e13 + math.floor(tonumber(run_at) * 1000)
    redis.call('ZADD', g[8], string.format('%.0f', ready_score), id)
    if later then
        redis.call('ZADD', g[5], run_at, id)
        redis.call('ZADD', sets.due, 'LT', run_at, job_type)
    else
        redis.call('ZREM', g[5], id)
    end
    redis.call('SADD', sets.types, job_type)
    redis.call('SADD', sets.grouped, job_type)
    touch(touched, g)
end
-- Take a job out of its group (it left the queued state, or is about to be queued again).
local function leave_group(g, touched, id)
    if redis.call('ZREM', g[1], id) == 1 then touch(touched, g) end
    redis.call('ZREM', g[5], id)
    redis.call('ZREM', g[8], id)
end
