-- Delete jobs that are in one of the allowed states (and, when pruning, finished before
-- a moment), with every index entry they have. State and age are read here, in the
-- script, not taken from the caller's earlier scan: a job re-queued and dead again
-- since is not old any more.
-- KEYS: the 5 status sets, leases, finished, all jobs, then one job hash per job.
-- ARGV: the allowed states, comma-separated; the moment they must have finished
--       before ('' = any age); then the job ids in the order of their hashes.
--       Returns how many were deleted.
local STATUS = {queued = 1, running = 2, completed = 3, failed = 4, cancelled = 5}
local allowed = {}
for state in string.gmatch(ARGV[1], '[^,]+') do allowed[state] = true end
local before = tonumber(ARGV[2])
local deleted = 0
for j = 1, #KEYS - 8 do
    local id = ARGV[j + 2]
    local fields = redis.call('HMGET', KEYS[8 + j], 'status', 'completed_at')
    local status, done = fields[1], tonumber(fields[2])
    if status and allowed[status] and (before == nil or (done ~= nil and done < before)) then
        redis.call('DEL', KEYS[8 + j])
        redis.call('ZREM', KEYS[STATUS[status]], id)
        for k = 6, 8 do redis.call('ZREM', KEYS[k], id) end
        deleted = deleted + 1
    end
end
return deleted
