-- Take up to ARGV[1] of the best due jobs from the ready sets in KEYS (one per job
-- type). Best = lowest score (priority, then due time), then lowest id (arrival).
-- Returns a flat list: key index (1-based), job id, score, ...
--#include _heads
local limit = tonumber(ARGV[1])
local taken = {}
for i = 1, #KEYS do look(i) end
while #taken < limit * 3 do
    local i = best()
    if i == nil then break end
    local member, score = heads[i][1], heads[i][3]
    redis.call('ZREM', KEYS[i], member)
    taken[#taken + 1] = i
    taken[#taken + 1] = member
    taken[#taken + 1] = score
    look(i)
end
return taken
