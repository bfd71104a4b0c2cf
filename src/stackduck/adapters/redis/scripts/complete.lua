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
-- (keys.running_around); ARGV[4], ARGV[5]: what a group's running set key has before and
-- after the type, the encoded group following (keys.group_running_around); ARGV[6],
-- ARGV[7]: the same of the type's set of running grouped jobs
-- (keys.running_grouped_around); ARGV[8..]: the n field names to return (which include
-- every field the move writes, job_type and group_key).
-- Per job: one HMGET and one HSET; the indexes change once per call (_many.lua), each
-- type's running set once per type (its key built from the job's type, _type_key.lua), and
-- a grouped job's group's running sets likewise (nothing more for an ungrouped one). A
-- running job has no queued-at entry, so there is none to remove.
-- Returns per completed job: its id, then the list of its n field values ("" = none).
--#include _many
--#include _job
--#include _type_key
local RUNNING, COMPLETED, LEASES, FINISHED = KEYS[2], KEYS[3], KEYS[6], KEYS[7]
local completions = cjson.decode(ARGV[1])
local around = {ARGV[2], ARGV[3]}
local group_around, grouped_around = {ARGV[4], ARGV[5]}, {ARGV[6], ARGV[7]}
local names, pos = field_names(8)
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
local done, ids, adds, by_type, by_group = {}, {}, {}, {}, {}
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
        local group = values[pos.group_key]
        if group and group ~= '' then
            local job_type = values[pos.job_type] or ''
            collect(by_group, type_key(grouped_around, job_type), id)
            collect(by_group, type_key(group_around, job_type) .. encoded(group), id)
        end
        done[#done + 1] = id
        done[#done + 1] = values
    end
end
if #ids > 0 then
    many('ZREM', RUNNING, ids)
    many('ZREM', LEASES, ids)
    add_all(adds)
    for job_type, of_type in pairs(by_type) do many('SREM', type_key(around, job_type), of_type) end
    each_set('SREM', by_group)
end
return done
