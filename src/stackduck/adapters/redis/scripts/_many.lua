-- One command over many arguments, in chunks (Lua's unpack has a limit): an index
-- change for a whole batch costs one redis.call, not one per job.
local CHUNK = 1000  -- even, so ZADD's score/member pairs never split
local function many(command, key, args)
    for s = 1, #args, CHUNK do
        redis.call(command, key, unpack(args, s, math.min(s + CHUNK - 1, #args)))
    end
end
