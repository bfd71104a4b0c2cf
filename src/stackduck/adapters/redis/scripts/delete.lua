-- Delete jobs that are in one of the allowed states (and, when pruning, finished before
-- a moment), with every index entry they have. State and age are read here, in the
-- script, not taken from the caller's earlier scan: a job re-queued and dead again
-- since is not old any more.
-- KEYS: the 5 status sets, leases, finished, all jobs, then one job hash per job, then
--       the idempotency hashes (keys.idempotency) of the jobs with a key.
-- ARGV: the allowed states, comma-separated; the moment they must have finished
--       before ('' = any age); what a type's running set key has before and after the
--       type (keys.running_around); JSON of the keys of each grouped job's group
--       (Keys.of_group) by its number from 1 as text ("" when none is grouped); the number
--       of jobs n; then the n job ids in the order of their hashes; then per job where its
--       idempotency hash is in KEYS (0 = none).
--       Returns how many were deleted.
-- A running job deleted leaves its type's running set (its key built from the job's
-- type, _type_key.lua), and a grouped one its group's running sets; a queued grouped job
-- leaves its group, whose turn follows (_groups.lua). (An ungrouped queued job's ready
-- entry is left for the claim to drop, as before.)
-- The idempotency hash a deleted job holds expires at the end of its window (`until`),
-- at once if that has passed: the key stays held that long. A job with a key whose hash
-- the caller did not pass is left for a later call.
--#include _type_key
--#include _groups
local STATUS = {queued = 1, running = 2, completed = 3, failed = 4, cancelled = 5}
local allowed = {}
for state in string.gmatch(ARGV[1], '[^,]+') do allowed[state] = true end
local before = tonumber(ARGV[2])
local around = {ARGV[3], ARGV[4]}
local groups = nil  -- nil: no job of the call has a group
if ARGV[5] ~= '' then groups = cjson.decode(ARGV[5]) end
local n = tonumber(ARGV[6])
local deleted = 0
local touched = {}
for j = 1, n do
    local id, held_at = ARGV[j + 6], tonumber(ARGV[n + j + 6])
    local g = groups and groups[tostring(j)]
    local fields = redis.call('HMGET', KEYS[8 + j], 'status', 'completed_at', 'idempotency_key', 'job_type')
    local status, done, key = fields[1], tonumber(fields[2]), fields[3]
    if status and allowed[status] and (before == nil or (done ~= nil and done < before))
            and (not key or key == '' or held_at > 0) then
        redis.call('DEL', KEYS[8 + j])
        redis.call('ZREM', KEYS[STATUS[status]], id)
        for k = 6, 8 do redis.call('ZREM', KEYS[k], id) end
        if status == 'running' then
            redis.call('SREM', type_key(around, fields[4] or ''), id)
            if g then
                redis.call('SREM', g[6], id)
                redis.call('SREM', g[7], id)
            end
        elseif status == 'queued' and g then
            leave_group(g, touched, id)
        end
        deleted = deleted + 1
        if held_at > 0 then
            local hold = redis.call('HMGET', KEYS[held_at], 'job', 'until')
            if hold[1] == id then
                local ends = math.ceil((tonumber(hold[2]) or 0) * 1000)
                redis.call('PEXPIREAT', KEYS[held_at], string.format('%.0f', math.max(ends, 1)))
            end
        end
    end
end
refresh_all(touched)
return deleted
