-- Delete jobs that are in one of the allowed states, with every index entry they have.
-- KEYS: the 5 status sets, leases, finished, all jobs, then one job hash per job.
-- ARGV: the allowed states, comma-separated, then the job ids in the order of their
--       hashes. Returns how many were deleted.
local STATUS = {queued = 1, running = 2, completed = 3, failed = 4, cancelled = 5}
local allowed = {}
for state in string.gmatch(ARGV[1], '[^,]+') do allowed[state] = true end
local deleted = 0
for j = 1, #KEYS - 8 do
    local id = ARGV[j + 1]
    local status = redis.call('HGET', KEYS[8 + j], 'status')
    if status and allowed[status] then
        redis.call('DEL', KEYS[8 + j])
        redis.call('ZREM', KEYS[STATUS[status]], id)
        for k = 6, 8 do redis.call('ZREM', KEYS[k], id) end
        deleted = deleted + 1
    end
end
return deleted
