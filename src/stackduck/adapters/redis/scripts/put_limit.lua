-- Create or replace a job type's limit (LimitStore.put), and rebuild the type's running
-- sets from the running jobs, in one call.
-- The bucket: an existing one keeps its tokens, at most the new size, and their time; a
-- limit without a rate has none; a new one is full, which is what a hash without
-- `tokens` reads as (claim_limited.lua, RedisLimits.usage).
-- The running sets: data written before the scripts kept them lacks them, and a set damaged
-- (a key evicted, edited by hand) would count wrong for as long as the limit lasts, so the
-- type's running set, its set of running grouped jobs and its groups' running sets are
-- made again here from status:running: each running job's type and group read from its
-- hash (HMGET), a page of ids at a time. Its cost grows with every type's running jobs,
-- once per put. A group's set is emptied first if the group has a running job now or had
-- one in the set of running grouped jobs (a set of a group found in neither is left as
-- it is: nothing names it).
-- KEYS: the type's limit hash (keys.limit), the set of limited types (keys.limits), the
--       type's running set (keys.running), status:running, the type's running grouped
--       jobs (keys.running_grouped).
-- ARGV: the job type, concurrency, rate, per, burst, the bucket's size
--       (Limit.bucket_size; "" without a rate), the job key prefix, group_concurrency,
--       what keys.group_running is for the group "" (a group's key is that followed by
--       its encoded name).
--#include _many
--#include _type_key
local LIMIT, LIMITED, RUNNING_SET, RUNNING, RUNNING_GROUPED = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local job_type, size, prefix, group_stem = ARGV[1], tonumber(ARGV[6]), ARGV[7], ARGV[9]
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

local members = {}  -- per set made again: its members
for _, id in ipairs(redis.call('SMEMBERS', RUNNING_GROUPED)) do
    local group = redis.call('HGET', prefix .. id, 'group_key')
    if group and group ~= '' then members[group_stem .. encoded(group)] = {} end
end
members[RUNNING_SET], members[RUNNING_GROUPED] = {}, {}
local start = 0
while true do
    local ids = redis.call('ZRANGE', RUNNING, start, start + PAGE - 1)
    for _, id in ipairs(ids) do
        local job = redis.call('HMGET', prefix .. id, 'job_type', 'group_key')
        if job[1] == job_type then
            collect(members, RUNNING_SET, id)
            if job[2] and job[2] ~= '' then
                collect(members, RUNNING_GROUPED, id)
                collect(members, group_stem .. encoded(job[2]), id)
            end
        end
    end
    if #ids < PAGE then break end
    start = start + PAGE
end
for key in pairs(members) do redis.call('DEL', key) end
each_set('SADD', members)
