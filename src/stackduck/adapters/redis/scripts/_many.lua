-- One command over many arguments, in chunks (Lua's unpack has a limit): an index
-- change for a whole batch costs one redis.call, not one per job.
local CHUNK = 1000  -- even, so ZADD's score/member pairs never split
local function many(command, key, args)
    for s = 1, #args, CHUNK do
        redis.call(command, key, unpack(args, s, math.min(s + CHUNK - 1, #args)))
    end
end
-- Score/member pairs gathered per sorted set (`adds`: set -> its pairs), then written
-- with one ZADD per set (add_all).
local function gather(adds, key, score, member)
    local pairs_of = adds[key]
    if pairs_of == nil then
        pairs_of = {}
        adds[key] = pairs_of
    end
    pairs_of[#pairs_of + 1] = score
    pairs_of[#pairs_of + 1] = member
end
local function add_all(adds)
    for key, pairs_of in pairs(adds) do many('ZADD', key, pairs_of) end
end
-- Members gathered per set (`members`: set -> its members), then added or removed with
-- one command per set (each_set).
local function collect(members, key, member)
    local list = members[key]
    if list == nil then
        list = {}
        members[key] = list
    end
    list[#list + 1] = member
end
local function each_set(command, members)
    for key, list in pairs(members) do many(command, key, list) end
end
