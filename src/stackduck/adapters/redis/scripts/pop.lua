-- Take up to ARGV[1] of the best due jobs from the ready sets in KEYS (one per job
-- type). Best = lowest score (priority, then due time), then lowest id (arrival).
-- Returns a flat list: key index (1-based), job id, score, ...
--#include _heads
local limit = tonumber(ARGV[1])
local taken_entries = {}
local heads = open_heads(1, 1, #KEYS, limit)
while #taken_entries < limit * 3 do
    local i = best(heads)
    if i == nil then break end
    local member, score = take(heads, i)
    taken_entries[#taken_entries + 1] = i
    taken_entries[#taken_entries + 1] = member
    taken_entries[#taken_entries + 1] = score
end
drop_taken(heads)
return taken_entries
