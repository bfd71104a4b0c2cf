-- The ready-queue order across job types, shared by pop.lua and claim.lua (the loader
-- puts this where a script says --#include _heads): the head of each of some sorted
-- sets in KEYS, and which of them is the best (lowest score, then lowest member).
local heads = {}
local function look(i)
    local head = redis.call('ZRANGE', KEYS[i], 0, 0, 'WITHSCORES')
    if head[1] then heads[i] = {head[1], tonumber(head[2]), head[2]} else heads[i] = nil end
end
local function best()
    local found = nil
    for i, head in pairs(heads) do
        if found == nil or head[2] < heads[found][2]
            or (head[2] == heads[found][2] and head[1] < heads[found][1]) then
            found = i
        end
    end
    return found
end
