-- A job's hash as a script reads and writes it, shared by the scripts that mirror a
-- domain move: claim.lua (stackduck.domain.job.Job.start) and complete.lua
-- (stackduck.domain.job.Job.complete). Each move is written out in its own script; this
-- holds only how a hash's fields are read and written.
-- The field names a script returns, from ARGV[first] on, and where each one is.
local function field_names(first)
    local names, pos = {}, {}
    for f = first, #ARGV do
        names[#names + 1] = ARGV[f]
        pos[ARGV[f]] = #names
    end
    return names, pos
end
-- The next value of a counter field (a missing one reads as 0, as HINCRBY would, so a
-- damaged hash cannot make a script fail after its first write).
local function bumped(value)
    return tostring((tonumber(value) or 0) + 1)
end
-- Write `changes` ({name, value, ...}) to the job's hash and into `values`, the job's
-- fields as HMGET returned them (what the script sends back).
local function write(key, values, pos, changes)
    for i = 1, #changes, 2 do values[pos[changes[i]]] = changes[i + 1] end
    redis.call('HSET', key, unpack(changes))
end
