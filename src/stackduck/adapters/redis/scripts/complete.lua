-- Complete running jobs whose lease each completion matches (its token and its worker,
-- where given): the domain's complete move (Job.complete) in one call, without a read
-- first, as complete.sql does on Postgres. A script runs alone, so it is exclusive with
-- any other move of the same job.
-- KEYS: the 5 status sets, queued-at, leases, finished, all jobs, then one job hash per
--       completion (distinct jobs).
-- ARGV[1]: JSON [[id, worker id or "", token or "", now], ...] (times as text);
-- ARGV[2..]: the n field names to return.
-- Returns per completed job: its id, then its n field values ("" = none).
local RUNNING, COMPLETED, QUEUED_AT, LEASES, FINISHED = KEYS[2], KEYS[3], KEYS[6], KEYS[7], KEYS[8]
local completions = cjson.decode(ARGV[1])
local names = {}
for f = 2, #ARGV do names[#names + 1] = ARGV[f] end
local done = {}
for j, c in ipairs(completions) do
    local key = KEYS[9 + j]
    local id, worker, token, now = c[1], c[2], c[3], c[4]
    local job = redis.call('HMGET', key, 'status', 'attempt', 'lease_owner')
    if job[1] == 'running'
        and (token == '' or tonumber(job[2]) == tonumber(token))
        and (worker == '' or job[3] == worker) then
        redis.call('HSET', key, 'status', 'completed', 'completed_at', now, 'error_message', '',
            'lease_owner', '', 'lease_expires_at', '', 'updated_at', now)
        redis.call('HINCRBY', key, 'version', 1)
        redis.call('ZREM', RUNNING, id)
        redis.call('ZADD', COMPLETED, 0, id)
        redis.call('ZREM', QUEUED_AT, id)
        redis.call('ZREM', LEASES, id)
        redis.call('ZADD', FINISHED, now, id)
        done[#done + 1] = id
        local values = redis.call('HMGET', key, unpack(names))
        for f = 1, #names do done[#done + 1] = values[f] or '' end
    end
end
return done
