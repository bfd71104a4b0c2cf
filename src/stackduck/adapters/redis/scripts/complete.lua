-- Complete running jobs whose lease each completion matches (its token and its worker,
-- where given): the domain's complete move (Job.complete) in one call, without a read
-- first, as complete.sql does on Postgres. A script runs alone, so it is exclusive with
-- any other move of the same job.
-- KEYS: the 5 status sets, leases, finished, all jobs, then one job hash per completion
--       (distinct jobs).
-- ARGV[1]: JSON [[id, worker id or "", token or "", now], ...] (times as text);
-- ARGV[2..]: the n field names to return (which include every field the move writes).
-- Per job: one HMGET and one HSET; the indexes change once per call (_many.lua). A
-- running job has no queued-at entry, so there is none to remove.
-- Returns per completed job: its id, then the list of its n field values ("" = none).
--#include _many
local RUNNING, COMPLETED, LEASES, FINISHED = KEYS[2], KEYS[3], KEYS[6], KEYS[7]
local completions = cjson.decode(ARGV[1])
local names, at = {}, {}
for f = 2, #ARGV do
    names[#names + 1] = ARGV[f]
    at[ARGV[f]] = #names
end
local STATUS, ATTEMPT, OWNER, VERSION = at.status, at.attempt, at.lease_owner, at.version
local done, ids, completed, finished = {}, {}, {}, {}
for j, c in ipairs(completions) do
    local key = KEYS[8 + j]
    local id, worker, token, now = c[1], c[2], c[3], c[4]
    local values = redis.call('HMGET', key, unpack(names))
    if values[STATUS] == 'running'
        and (token == '' or tonumber(values[ATTEMPT]) == tonumber(token))
        and (worker == '' or values[OWNER] == worker) then
        values[VERSION] = tostring((tonumber(values[VERSION]) or 0) + 1)
        values[STATUS], values[at.completed_at], values[at.error_message] = 'completed', now, ''
        values[OWNER], values[at.lease_expires_at], values[at.updated_at] = '', '', now
        redis.call('HSET', key, 'status', 'completed', 'completed_at', now, 'error_message', '',
            'lease_owner', '', 'lease_expires_at', '', 'updated_at', now, 'version', values[VERSION])
        ids[#ids + 1] = id
        completed[#completed + 1] = 0
        completed[#completed + 1] = id
        finished[#finished + 1] = now
        finished[#finished + 1] = id
        done[#done + 1] = id
        done[#done + 1] = values
    end
end
if #ids > 0 then
    many('ZREM', RUNNING, ids)
    many('ZADD', COMPLETED, completed)
    many('ZREM', LEASES, ids)
    many('ZADD', FINISHED, finished)
end
return done
