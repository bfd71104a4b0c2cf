-- Write a schedule over the version it was read at and insert the jobs its tick fires,
-- together or not at all (a fire step, ADR 0027; with no job, any change of a schedule).
-- KEYS: insert.lua's KEYS (none when no job goes in), then the schedule's hash
--       (keys.schedule), the set of every schedule's name (keys.schedules) and the
--       sorted set of the schedules not paused, by next tick (keys.schedules_due).
-- ARGV[1]: the jobs as insert.lua's ARGV[1], or "" for none; ARGV[2]: the version the
--          stored schedule must be at ("" = no schedule of this name may exist);
--          ARGV[3]: its name; ARGV[4]: "1" when it is paused; ARGV[5]: its next tick;
--          ARGV[6..]: the hash's fields and values.
-- Returns 0, writing nothing, when the stored version is not the one given; else
-- {1, insert.lua's reply}. An insert that fails its checks writes nothing either.
--#include _entries
--#include _many
--#include _groups
--#include _insert
local hash, names, due = KEYS[#KEYS - 2], KEYS[#KEYS - 1], KEYS[#KEYS]
local version = redis.call('HGET', hash, 'version')
if (ARGV[2] == '' and version) or (ARGV[2] ~= '' and version ~= ARGV[2]) then
    return 0
end
local inserted = {}
if ARGV[1] ~= '' then
    inserted = insert_jobs(KEYS, cjson.decode(ARGV[1]))
    if inserted.err then return inserted end
end
redis.call('DEL', hash)
redis.call('HSET', hash, unpack(ARGV, 6))
redis.call('SADD', names, ARGV[3])
if ARGV[4] == '1' then
    redis.call('ZREM', due, ARGV[3])
else
    redis.call('ZADD', due, ARGV[5], ARGV[3])
end
return {1, inserted}
