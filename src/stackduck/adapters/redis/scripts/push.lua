-- Add entries to the ready queue: due ones to their type's ready set, the others to
-- its scheduled set, and every type to the set of types.
-- KEYS: the set of types, then per job type its ready set and its scheduled set.
-- ARGV[1]: JSON array of [type number (1-based, in KEYS order), job type, due (1/0),
--          score as text, member] (one argument, not a command per entry; scores stay
--          text because Lua would print a number with 14 digits).
local entries = cjson.decode(ARGV[1])
local named = {}
for _, entry in ipairs(entries) do
    local k, job_type, due, score, member = entry[1], entry[2], entry[3], entry[4], entry[5]
    local key = KEYS[2 * k + (due == 1 and 0 or 1)]
    redis.call('ZADD', key, score, member)
    if not named[job_type] then
        redis.call('SADD', KEYS[1], job_type)
        named[job_type] = true
    end
end
return #entries
