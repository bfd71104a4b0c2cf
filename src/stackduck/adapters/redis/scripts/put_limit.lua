-- Create or replace a job type's limit (LimitStore.put), and rebuild the type's running
-- set from the running jobs, in one call.
-- The bucket: an existing one keeps its tokens, at most the new size, and their time; a
-- limit without a rate has none; a new one is full, which is what a hash without
-- `tokens` reads as (claim_limited.lua, RedisLimits.usage).
-- The running set: data written before the scripts kept it lacks it, and a set damaged
-- (a key evicted, edited by hand) would count wrong for as long as the limit lasts, so it
-- is made again here from status:running: each running job's type read from its hash
-- (HGET), a page of ids at a time. Its cost grows with every type's running jobs, once
-- per put.
-- KEYS: the type's limit hash (keys.limit), the set of limited types (keys.limits), the
--       type's running set (keys.running), status:running.
-- ARGV: the job type, concurrency, rate, per, burst, the bucket's size
--       (Limit.bucket_size; "" without a rate), the job key prefix, group_concurrency.
--#include _many
local LIMIT, LIMITED, RUNNING_SET, RUNNING = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local job_type, size, prefix = ARGV[1], tonumber(ARGV[6]), ARGV[7]
local PAGE = 1000

local tokens = tonumber(redis.call('HGET', LIMIT, 'tokens'))
redis.call('HSET', LIMIT, 'concurrency', ARGV[2], 'rate', ARGV[3], 'per', ARGV[4], 'burst', ARGV[5],
    'group_concurrency', ARGV[8])
if size == nil then
    redis.call('HDEL', LIMIT, 'tokens', 'at')
elseif tokens ~= nil and tokens > size then
    redis.call('HSET', LIMIT, 'tokens', string.format('%.17g', size))
end
redis.call('SADD', LIMITED, job_type)

redis.call('DEL', RUNNING_SET)
local start = 0
while true do
    local ids = redis.call('ZRANGE', RUNNING, start, start + PAGE - 1)
    local mine = {}
    for _, id in ipairs(ids) do
        if redis.call('HGET', prefix .. id, 'job_type') == job_type then mine[#mine + 1] = id end
    end
    if #mine > 0 then many('SADD', RUNNING_SET, mine) end
    if #ids < PAGE then break end
    start = start + PAGE
end
