-- Jobs of some groups of a type stopped running (LimitStore.freed): each group parked at
-- its group_concurrency takes its turn again, in every priority where it has one: the
-- later of when it was served and its head (_groups.lua's refresh_turn, its parking
-- gone). The group "" (the type's ungrouped jobs) has its turn worked out by each claim,
-- so only its parking goes.
-- KEYS: the type's parked groups (keys.parked), its turns of priority 1, 2, 3
--       (keys.turns), when its groups were served, per priority 1, 2, 3 (keys.served).
-- ARGV: what keys.group is for the group "" of priority 1, 2, 3 (a group's key is that
--       followed by its encoded name), then the groups.
--#include _type_key
--#include _groups
for i = 4, #ARGV do
    local name = ARGV[i]
    redis.call('HDEL', KEYS[1], name)
    if name ~= '' then
        for p = 1, 3 do
            if redis.call('ZSCORE', KEYS[1 + p], name) then
                refresh_turn({[1] = ARGV[p] .. encoded(name), [2] = KEYS[1 + p], [3] = KEYS[4 + p],
                    [4] = KEYS[1], [9] = name})
            end
        end
    end
end
return 0
