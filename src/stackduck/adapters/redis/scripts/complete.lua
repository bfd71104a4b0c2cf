-- Mirrors stackduck.domain.job.Job.complete: complete running jobs whose lease each
-- completion matches (its token and its worker, where given) and whose attempt has not
-- timed out, with the result given, in one call, without a read first, as complete.sql
-- does on Postgres. The attempt joins the job's history (the latest 20 kept, as
-- Job._end_attempt does; times kept as text, exact). A script runs alone, so it is
-- exclusive with any other move of the same job.
-- KEYS: the 5 status sets, leases, finished, all jobs, then one job hash per completion
--       (distinct jobs).
-- ARGV[1]: JSON [[id, worker id or "", token or "", now, result or ""], ...] (times as text);
-- ARGV[2], ARGV[3]: what a type's running set key has before and after the type
-- (keys.running_around); ARGV[4..]: the n field names to return (which include every
-- field the move writes, and job_type).
-- Per job: one HMGET and one HSET; the indexes change once per call (_many.lua), each
-- type's running set once per type (its key built from the job's type, _type_key.lua). A
-- running job has no queued-at entry, so there is none to remove.
-- Returns per completed job: its id, then the list of its n field values ("" = none).
--#include _many
--#include _job
--#include _type_key
local RUNNING, COMPLETED, LEASES, FINISHED = KEYS[2], KEYS[3], KEYS[6], KEYS[7]
local completions = cjson.decode(ARGV[1])
local around = {ARGV[2], ARGV[3]}
local names, pos = field_names(4)
local STATUS, ATTEMPT, OWNER, VERSION = pos.status, pos.attempt, pos.lease_owner, pos.version
local DEADLINE, STARTED, ATTEMPTS = pos.attempt_deadline, pos.started_at, pos.attempts
local KEPT = 20
-- The history with this attempt added: the latest KEPT.
local function with_attempt(values, now)
    local history = {}
    if values[ATTEMPTS] and values[ATTEMPTS] ~= '' then history = cjson.decode(values[ATTEMPTS]) end
    if #history >= KEPT then table.remove(history, 1) end
    local started = values[STARTED]
    if not started or started == '' then started = now end
    history[#history + 1] = {number = tonumber(values[ATTEMPT]) or 0, worker_id = values[OWNER] or '',
        started_at = started, ended_at = now, outcome = 'completed', error = ''}
    return cjson.encode(history)
end
local done, ids, adds, by_type = {}, {}, {}, {}
for j, c in ipairs(completions) do
    local key = KEYS[8 + j]
    local id, worker, token, now, result = c[1], c[2], c[3], c[4], c[5]
    local values = redis.call('HMGET', key, unpack(names))
    local deadline = tonumber(values[DEADLINE])
    if values[STATUS] == 'running'
        and (token == '' or tonumber(values[ATTEMPT]) == tonumber(token))
        and (worker == '' or values[OWNER] == worker)
        and (deadline == nil or tonumber(now) < deadline) then
        write(key, values, pos, {'status', 'completed', 'completed_at', now, 'error_message', '',
            'result', result, 'attempts', with_attempt(values, now),
            'lease_owner', '', 'lease_expires_at', '', 'attempt_deadline', '', 'updated_at', now,
            'version', bumped(values[VERSION])})
        ids[#ids + 1] = id
        gather(adds, COMPLETED, 0, id)
        gather(adds, FINISHED, now, id)
        collect(by_type, values[pos.job_type] or '', id)
        done[#done + 1] = id
        done[#done + 1] = values
    end
end
if #ids > 0 then
    many('ZREM', RUNNING, ids)
    many('ZREM', LEASES, ids)
    add_all(adds)
    for job_type, of_type in pairs(by_type) do many('SREM', type_key(around, job_type), of_type) end
end
return done
