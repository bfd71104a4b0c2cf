-- Put back the entries the ready queue lost (a Redis restarted from an older snapshot,
-- or keys evicted under maxmemory): each row is added, as push.lua would, only when
-- its job has no entry at all, neither in its type's ready set nor in its scheduled
-- set. An entry present stays as it is (score included), so running this over what
-- the record holds any number of times, beside live pushes and pops, adds nothing twice.
-- A type given a scheduled entry is marked in the due index no later than it, as
-- push.lua does.
-- KEYS: the set of types, the due index, then per job type its ready set and its
--       scheduled set.
-- ARGV[1]: JSON array of [type number (1-based, in KEYS order), job type, due (1/0),
--          score as text, member, the other member]: as push.lua's, then the member
--          the entry would have in the other set (its id, or "priority|id").
-- Returns the (1-based) numbers of the rows that were missing, and so added.
--#include _many
local rows = cjson.decode(ARGV[1])
local adds, named, later, restored = {}, {}, {}, {}
for i, row in ipairs(rows) do
    local k, job_type, due, score, member, other = row[1], row[2], row[3], row[4], row[5], row[6]
    local ready, scheduled = KEYS[1 + 2 * k], KEYS[2 + 2 * k]
    local id, held = member, other
    if due ~= 1 then id, held = other, member end
    if not redis.call('ZSCORE', ready, id) and not redis.call('ZSCORE', scheduled, held) then
        gather(adds, due == 1 and ready or scheduled, score, member)
        named[job_type] = true
        if due ~= 1 and (later[job_type] == nil or tonumber(score) < tonumber(later[job_type])) then
            later[job_type] = score
        end
        restored[#restored + 1] = i
    end
end
add_all(adds)
for job_type in pairs(named) do redis.call('SADD', KEYS[1], job_type) end
for job_type, at in pairs(later) do redis.call('ZADD', KEYS[2], 'LT', at, job_type) end
return restored
