-- A job type's key built in a script, for the scripts that learn a job's type from its
-- hash rather than from their caller (complete.lua, delete.lua), or a group's name from
-- the turns (claim_limited.lua): `around` is what keys.py puts before and after the
-- encoded type (Keys.running_around and the like), and a type or group is encoded as
-- Keys._type encodes it, urllib.parse.quote(text, safe=''): each UTF-8 byte other than
-- A-Z a-z 0-9 _ . - ~ as %XX in upper-case hex.
-- tests/integration/redis/test_running_sets.py and test_groups.py hold the two to
-- the same key.
local function encoded(text)
    return (string.gsub(text, '[^A-Za-z0-9_.~%-]', function(c)
        return string.format('%%%02X', string.byte(c))
    end))
end
local function type_key(around, job_type)
    return around[1] .. encoded(job_type) .. around[2]
end
