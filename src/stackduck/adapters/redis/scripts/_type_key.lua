-- A job type's key built in a script, for the scripts that learn a job's type from its
-- hash rather than from their caller (complete.lua, delete.lua): `around` is what
-- keys.py puts before and after the encoded type (Keys.running_around), and the type is
-- encoded between them as Keys._type encodes it, urllib.parse.quote(job_type, safe=''):
-- each UTF-8 byte other than A-Z a-z 0-9 _ . - ~ as %XX in upper-case hex.
-- tests/integration/test_redis_running_sets.py holds the two to the same key.
local function type_key(around, job_type)
    local encoded = string.gsub(job_type, '[^A-Za-z0-9_.~%-]', function(c)
        return string.format('%%%02X', string.byte(c))
    end)
    return around[1] .. encoded .. around[2]
end
