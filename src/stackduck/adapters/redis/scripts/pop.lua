-- Take up to ARGV[1] of the best due jobs from the ready sets in KEYS (one per job
-- type). Best = lowest score (priority, then due time), then lowest id (arrival).
-- Returns a flat list: key index (1-based), job id, score, ...
local limit = tonumber(ARGV[1])
local taken = {}
local heads = {}
for i, key in ipairs(KEYS) do
    local head = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
    if head[1] then heads[i] = {head[1], tonumber(head[2]), head[2]} end
end
while #taken < limit * 3 do
    local best = nil
    for i, head in pairs(heads) do
        if best == nil or head[2] < heads[best][2] or (head[2] == heads[best][2] and head[1] < heads[best][1]) then
            best = i
        end
    end
    if best == nil then break end
    local member, score = heads[best][1], heads[best][3]
    redis.call('ZREM', KEYS[best], member)
    table.insert(taken, best)
    table.insert(taken, member)
    table.insert(taken, score)
    local head = redis.call('ZRANGE', KEYS[best], 0, 0, 'WITHSCORES')
    if head[1] then heads[best] = {head[1], tonumber(head[2]), head[2]} else heads[best] = nil end
end
return taken
