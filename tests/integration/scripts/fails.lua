-- A script that fails on purpose, loaded as Stackduck's scripts are, for the tests of
-- where script errors point. ARGV[1] says where it fails: 'here', a Lua error on a line
-- of this file; 'fragment', an error Redis raises inside _many.lua's many(), the call
-- to it being on a line of this file.
--#include _many
local nothing = ARGV[2]
if ARGV[1] == 'here' then
    return nothing + 1
end
many('ZADD', KEYS[1], {'not a score', 'member'})
return 0
