-- Mirrors stackduck.domain.job.Job.start on the best due jobs of some types: pop them
-- and lease them, in one call, one to each owner listed (the best to the first). The work is _claim.lua's (which says how),
-- shared with claim_limited.lua; here no type has a cap.
-- KEYS: status:queued, status:running, leases, the due index, then per job type its
--       ready set, its scheduled set and its running set.
-- ARGV: limit, the caller's now, lease seconds, the job key prefix, the owners (a JSON
--       array of `limit` worker ids), then the
--       n field names to return (which include every field the lease writes).
-- Returns per leased job: its id, then the list of its n field values.
--#include _heads
--#include _job
--#include _claim
local limit = tonumber(ARGV[1])
local names, pos = field_names(6)
local heads = open_heads(5, 3, (#KEYS - 4) / 3, limit)
local leased = claim_best(heads, {}, limit, claim_clock(ARGV[2]), tonumber(ARGV[3]), ARGV[4],
    cjson.decode(ARGV[5]), names, pos)
return leased
