-- What jobs take of a listing's byte budget, without reading their payloads (HSTRLEN
-- reads a value's length only): the bytes of payload, error message, type, lease owner,
-- metadata and result, and per ended attempt its error and worker id plus a fixed share,
-- as ports.listed_bytes counts them (less its fixed share per job).
-- ARGV: the job key prefix, each attempt's fixed share, then the job ids.
-- Returns per id: its job type (nil when the job is gone), its size, then what a listing
-- filters on: priority, group, status, due time and metadata.
-- Job hashes are reached by id (prefix .. id), as read.lua does (see ADR 0009).
local prefix, attempt_bytes = ARGV[1], tonumber(ARGV[2])
local out = {}
for i = 3, #ARGV do
    local key = prefix .. ARGV[i]
    local job_type = redis.call('HGET', key, 'job_type')
    local size = 0
    local filtered = {false, false, false, false, false}
    if job_type then
        size = #job_type + redis.call('HSTRLEN', key, 'payload')
            + redis.call('HSTRLEN', key, 'error_message') + redis.call('HSTRLEN', key, 'lease_owner')
            + redis.call('HSTRLEN', key, 'metadata') + redis.call('HSTRLEN', key, 'result')
        local attempts = redis.call('HGET', key, 'attempts')
        if attempts and attempts ~= '' then
            for _, a in ipairs(cjson.decode(attempts)) do
                size = size + #a.error + #a.worker_id + attempt_bytes
            end
        end
        filtered = redis.call('HMGET', key, 'priority', 'group_key', 'status', 'run_at', 'metadata')
    end
    out[#out + 1] = job_type
    out[#out + 1] = size
    for f = 1, 5 do
        out[#out + 1] = filtered[f]
    end
end
return out
