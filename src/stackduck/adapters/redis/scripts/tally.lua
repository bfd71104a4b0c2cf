-- Count jobs by type and state over one chunk of an index, in Redis, for stats: a
-- chunk costs one call and returns counts, not jobs.
-- KEYS[1]: the index: a state's set (ordered by id) or the finished set (by time).
-- ARGV: the job key prefix, then 'lex' and the last id read ('' = from the start), or
--       'score', the lowest time (exclusive) and how many of those were read, then the
--       chunk size.
-- Returns: where the next chunk starts ('' when this was the last), then per job type
--          and state: type, state, count.
local prefix, mode, from, limit = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[5])
local ids, next_from
if mode == 'lex' then
    ids = redis.call('ZRANGEBYLEX', KEYS[1], from == '' and '-' or '(' .. from, '+', 'LIMIT', 0, limit)
    next_from = ids[#ids]
else
    local offset = tonumber(ARGV[4])
    ids = redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. from, '+inf', 'LIMIT', offset, limit)
    next_from = tostring(offset + #ids)
end
local counts, order = {}, {}
for _, id in ipairs(ids) do
    local job = redis.call('HMGET', prefix .. id, 'job_type', 'status')
    if job[1] then
        local key = job[1] .. '\0' .. job[2]
        if counts[key] == nil then
            counts[key] = 0
            order[#order + 1] = {job[1], job[2], key}
        end
        counts[key] = counts[key] + 1
    end
end
local out = {#ids == limit and next_from or ''}
for _, o in ipairs(order) do
    out[#out + 1] = o[1]
    out[#out + 1] = o[2]
    out[#out + 1] = counts[o[3]]
end
return out
