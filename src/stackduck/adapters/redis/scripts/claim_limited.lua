-- A claim that holds to its types' limits: claim.lua's (Job.start, _claim.lua), except
-- that of each limited type no more start than its allowance, and its bucket is spent in
-- the same call. The arithmetic mirrors stackduck.domain.limits:
--   bucket_size   Limit.bucket_size   (burst, else ceil(rate), at least 1)
--   level         Bucket.level        (tokens gained since `at`, at most the size)
--   allowance     Limit.allowance     (concurrency minus the running set's size; the
--                                      floor of the bucket's level)
--   spend         Limit.spend         (the level less one token per start)
--   next_token_at Limit.next_token_at (when the spent bucket holds a whole token)
-- A bucket not stored is a full one as of now (Limit.full_bucket): a new limit's.
-- Types whose allowance is spent leave the merge; the others keep going, best priority
-- first across every asked type. "Now" is claim.lua's: the later of the caller's clock
-- and Redis's.
-- KEYS: status:queued, status:running, leases, the due index, then per job type its
--       ready set, its scheduled set, its running set (keys.running) and its limit hash
--       (keys.limit: concurrency, rate, per, burst; the bucket's tokens as of `at`).
-- ARGV: limit, the caller's now, lease seconds, the job key prefix, worker id, then per
--       job type "1" when the caller holds it limited (a type with no limit stored
--       claims unlimited all the same), then the n field names to return.
-- Returns {the leased jobs as claim.lua returns them, then flat per type whose rate held
-- jobs back (its allowance was the rate's, and all of it started) its number (from 1,
-- in KEYS order) and when its bucket next holds a token}.
--#include _heads
--#include _job
--#include _claim
local function bucket_size(lim)
    if lim.burst > 0 then return lim.burst end
    return math.max(1, math.ceil(lim.rate))
end
local function level(lim, tokens, at, now)
    return math.min(bucket_size(lim), tokens + math.max(0, now - at) * (lim.rate / lim.per))
end
-- How many of `want` may start, and whether the rate is what stops more.
local function allowance(lim, running, tokens, at, now, want)
    local starts, rate_bound = want, false
    if lim.concurrency > 0 then starts = math.min(starts, math.max(0, lim.concurrency - running)) end
    if lim.rate > 0 then
        local whole = math.floor(level(lim, tokens, at, now) + 1e-9)
        if whole < starts then starts, rate_bound = math.max(0, whole), true end
    end
    return starts, rate_bound
end
-- The bucket once `started` jobs took a token each: its tokens and their time.
local function spend(lim, tokens, at, started, now)
    return math.max(0, level(lim, tokens, at, now) - started), math.max(now, at)
end
local function next_token_at(lim, tokens, at, now)
    local held = level(lim, tokens, at, now)
    if held >= 1 then return now end
    return math.max(now, at) + (1 - held) / (lim.rate / lim.per)
end

local limit, lease, prefix, worker = tonumber(ARGV[1]), tonumber(ARGV[3]), ARGV[4], ARGV[5]
local now = claim_clock(ARGV[2])
local types = (#KEYS - 4) / 4
local names, pos = field_names(6 + types)
local heads = open_heads(5, 4, types, limit)
local caps, held = {}, {}  -- per set: its cap; its limit, bucket and allowance
for n = 1, types do
    local k = 1 + 4 * n
    if ARGV[5 + n] == '1' then
        local stored = redis.call('HMGET', KEYS[k + 3], 'concurrency', 'rate', 'per', 'burst', 'tokens', 'at')
        if stored[1] then
            local lim = {concurrency = tonumber(stored[1]), rate = tonumber(stored[2]),
                per = tonumber(stored[3]), burst = tonumber(stored[4])}
            local tokens, at = tonumber(stored[5]), tonumber(stored[6])
            if tokens == nil or at == nil then tokens, at = bucket_size(lim), now end
            local starts, rate_bound = allowance(lim, redis.call('SCARD', KEYS[k + 2]), tokens, at, now, limit)
            caps[k] = starts
            held[k] = {lim = lim, tokens = tokens, at = at, starts = starts, rate_bound = rate_bound, n = n}
        end
    end
end
local leased, started = claim_best(heads, caps, limit, now, lease, prefix, worker, names, pos)
local retry = {}
for k, h in pairs(held) do
    if h.lim.rate > 0 then
        local count = started[k] or 0
        local tokens, at = spend(h.lim, h.tokens, h.at, count, now)
        redis.call('HSET', KEYS[k + 3], 'tokens', string.format('%.17g', tokens), 'at', string.format('%.17g', at))
        if h.rate_bound and count == h.starts then
            retry[#retry + 1] = h.n
            retry[#retry + 1] = string.format('%.17g', next_token_at(h.lim, tokens, at, now))
        end
    end
end
return {leased, retry}
