-- Add entries to the ready queue: due ones to their type's ready set, the others to
-- its scheduled set, and every type to the set of types; a type given scheduled entries
-- is marked in the due index no later than the earliest (ZADD LT keeps an earlier mark).
-- Where the store is the queue (Redis alone: the re-queue at start), a grouped job's
-- entry goes to its group instead (_groups.lua), its group's turn following.
-- KEYS: the set of types, the due index, then per job type its ready set and its
--       scheduled set.
-- ARGV[1]: JSON array of [type number (1-based, in KEYS order), job type, due (1/0),
--          score as text, member] (one argument, not a command per entry; scores stay
--          text because Lua would print a number with 14 digits).
-- ARGV[2] (grouped entries only): JSON {"groups": by entry number (as text) the keys of
--          its group (Keys.of_group), then its job's id and run_at as text, "grouped": the
--          set of grouped types}.
-- One ZADD per set touched and one SADD per type, whatever the number of entries.
--#include _many
--#include _groups
local entries = cjson.decode(ARGV[1])
local grouped = {}  -- no groups: no entry has one
if ARGV[2] then grouped = cjson.decode(ARGV[2]) end
local sets = {types = KEYS[1], due = KEYS[2], grouped = grouped.grouped}
local adds, named, later, touched = {}, {}, {}, {}
for i, entry in ipairs(entries) do
    local k, job_type, due, score, member = entry[1], entry[2], entry[3], entry[4], entry[5]
    local g = grouped.groups and grouped.groups[tostring(i)]
    if g then
        join_group(g, touched, sets, job_type, g[11], g[12], due ~= 1)
    else
        gather(adds, KEYS[1 + 2 * k + (due == 1 and 0 or 1)], score, member)
        named[job_type] = true
        if due ~= 1 and (later[job_type] == nil or tonumber(score) < tonumber(later[job_type])) then
            later[job_type] = score
        end
    end
end
add_all(adds)
refresh_all(touched)
for job_type in pairs(named) do redis.call('SADD', KEYS[1], job_type) end
for job_type, at in pairs(later) do redis.call('ZADD', KEYS[2], 'LT', at, job_type) end
return #entries
