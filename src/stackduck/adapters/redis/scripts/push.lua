-- Add entries to the ready queue: due ones to their type's ready set, the others to
-- its scheduled set, and every type to the set of types; a type given scheduled entries
-- is marked in the due index no later than the earliest (ZADD LT keeps an earlier mark).
-- KEYS: the set of types, the due index, then per job type its ready set and its
--       scheduled set.
-- ARGV[1]: JSON array of [type number (1-based, in KEYS order), job type, due (1/0),
--          score as text, member] (one argument, not a command per entry; scores stay
--          text because Lua would print a number with 14 digits).
-- One ZADD per set touched and one SADD per type, whatever the number of entries.
--#include _many
local entries = cjson.decode(ARGV[1])
local adds, named, later = {}, {}, {}
for _, entry in ipairs(entries) do
    local k, job_type, due, score, member = entry[1], entry[2], entry[3], entry[4], entry[5]
    gather(adds, KEYS[1 + 2 * k + (due == 1 and 0 or 1)], score, member)
    named[job_type] = true
    if due ~= 1 and (later[job_type] == nil or tonumber(score) < tonumber(later[job_type])) then
        later[job_type] = score
    end
end
add_all(adds)
for job_type in pairs(named) do redis.call('SADD', KEYS[1], job_type) end
for job_type, at in pairs(later) do redis.call('ZADD', KEYS[2], 'LT', at, job_type) end
return #entries
