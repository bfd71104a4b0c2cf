-- A script Redis cannot compile, loaded as Stackduck's scripts are, for the tests of
-- where script errors point.
--#include _job
local broken = = 1
return broken
