-- Read many jobs in one call (a pipeline of HMGETs costs the client one packed
-- command per job).
-- ARGV: the job key prefix, n, the n field names, then the job ids.
-- Returns per id its n values (nil where missing: a missing job has no job_type).
-- Job hashes are reached by id (prefix .. id), as claim.lua does (see ADR 0009).
local prefix, n = ARGV[1], tonumber(ARGV[2])
local names = {}
for f = 1, n do names[f] = ARGV[2 + f] end
local values = {}
for i = 3 + n, #ARGV do
    local row = redis.call('HMGET', prefix .. ARGV[i], unpack(names))
    for f = 1, n do values[#values + 1] = row[f] end
end
return values
