-- Add counts to the charts' minutes (Redis alone): one hash per minute, a field per
-- count and job type. Counts are summed with what other instances added; a sample
-- (depth, wait) replaces the one kept. Each minute expires when the charts stop showing it.
-- KEYS: the minutes' hashes.
-- ARGV: seconds to keep a minute, then per key a JSON object {"add": {field: n, ...},
--       "set": {field: value, ...}}.
local keep = tonumber(ARGV[1])
for i, key in ipairs(KEYS) do
    local change = cjson.decode(ARGV[i + 1])
    for field, n in pairs(change.add) do
        redis.call('HINCRBY', key, field, n)
    end
    for field, value in pairs(change.set) do
        redis.call('HSET', key, field, value)
    end
    redis.call('EXPIRE', key, keep)
end
return #KEYS
