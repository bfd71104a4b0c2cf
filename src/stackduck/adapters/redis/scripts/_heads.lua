-- The ready-queue order across job types, shared by pop.lua and the claims (_claim.lua,
-- for claim.lua and claim_limited.lua), which include it: a merge of the heads of some
-- sorted sets in KEYS by lowest score, then lowest member. Each set is read a page
-- at a time (one ZRANGE per page, not per entry) and what was taken from it is
-- removed at the end, one ZREM per set (drop_taken). Nothing else writes these sets
-- while a script runs, so the ranks read stay valid until then.
-- A set's first page is its share of what the caller wants (at least 8), each later
-- page twice the last (at most the whole want): a claim over many types does not read
-- `limit` entries of each, and one over a single deep type needs few reads.
-- The merge's state is a value, `heads`, that open_heads returns and the caller hands
-- to every other function here: {want = limit, sets = {[key index] = set}}, where a
-- set is {page = the entries read and not yet passed, at = where its head is in the
-- page, read = how many of the set were read, full = whether the last page was full,
-- size = the next page's size, taken = the members taken, out = whether it left the
-- merge (retire)}; a page entry is {member, score, score as text}.
--#include _many
-- Open `sets` sets, KEYS[first], KEYS[first + step], ..., for taking up to `limit`.
local function open_heads(first, step, sets, limit)
    local want = math.max(1, limit)
    local share = math.min(want, math.max(8, math.ceil(want / math.max(1, sets))))
    local heads = {want = want, sets = {}}
    for n = 0, sets - 1 do
        heads.sets[first + n * step] = {page = {}, at = 1, read = 0, full = true, size = share, taken = {}}
    end
    return heads
end
-- Set i's head (the next page read when the last is used up), or nil when it is empty.
local function head(heads, i)
    local set = heads.sets[i]
    if set.page[set.at] == nil and set.full then
        if set.read > 0 then set.size = math.min(set.size * 2, heads.want) end
        local flat = redis.call('ZRANGE', KEYS[i], set.read, set.read + set.size - 1, 'WITHSCORES')
        local page = {}
        for j = 1, #flat, 2 do page[#page + 1] = {flat[j], tonumber(flat[j + 1]), flat[j + 1]} end
        set.page, set.at, set.read, set.full = page, 1, set.read + #page, #page == set.size
    end
    return set.page[set.at]
end
-- The set whose head is best, or nil when all are empty.
local function best(heads)
    local found, top = nil, nil
    for i, set in pairs(heads.sets) do
        local h = not set.out and head(heads, i)
        if h and (top == nil or h[2] < top[2] or (h[2] == top[2] and h[1] < top[1])) then
            found, top = i, h
        end
    end
    return found
end
-- Leave set i out of the merge from now on (what was taken from it is still dropped).
local function retire(heads, i)
    heads.sets[i].out = true
end
-- Take set i's head: returns its member and its score as text.
local function take(heads, i)
    local set = heads.sets[i]
    local h = set.page[set.at]
    set.at = set.at + 1
    set.taken[#set.taken + 1] = h[1]
    return h[1], h[3]
end
local function drop_taken(heads)
    for i, set in pairs(heads.sets) do
        if #set.taken > 0 then many('ZREM', KEYS[i], set.taken) end
    end
end
