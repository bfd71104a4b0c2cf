-- The ready-queue order across job types, shared by pop.lua and claim.lua (the loader
-- puts this where a script says --#include _heads): a merge of the heads of some
-- sorted sets in KEYS by lowest score, then lowest member. Each set is read a page
-- at a time (one ZRANGE per page, not per entry) and what was taken from it is
-- removed at the end, one ZREM per set (drop_taken). Nothing else writes these sets
-- while a script runs, so the ranks read stay valid until then.
-- A set's first page is its share of what the caller wants (at least 8), each later
-- page twice the last (at most the whole want): a claim over many types does not read
-- `limit` entries of each, and one over a single deep type needs few reads.
--#include _many
local pages, at, read, full, size, taken = {}, {}, {}, {}, {}, {}
local want = 1
-- Open `sets` sets, KEYS[first], KEYS[first + step], ..., for taking up to `limit`.
local function open(first, step, sets, limit)
    want = math.max(1, limit)
    local share = math.min(want, math.max(8, math.ceil(want / math.max(1, sets))))
    for n = 0, sets - 1 do
        local i = first + n * step
        pages[i], at[i], read[i], full[i], size[i], taken[i] = {}, 1, 0, true, share, {}
    end
end
local function head(i)
    local page = pages[i]
    if page[at[i]] == nil and full[i] then
        if read[i] > 0 then size[i] = math.min(size[i] * 2, want) end
        local flat = redis.call('ZRANGE', KEYS[i], read[i], read[i] + size[i] - 1, 'WITHSCORES')
        page = {}
        for j = 1, #flat, 2 do page[#page + 1] = {flat[j], tonumber(flat[j + 1]), flat[j + 1]} end
        pages[i], at[i], read[i], full[i] = page, 1, read[i] + #page, #page == size[i]
    end
    return page[at[i]]
end
-- The set whose head is best, or nil when all are empty.
local function best()
    local found, top = nil, nil
    for i in pairs(pages) do
        local h = head(i)
        if h and (top == nil or h[2] < top[2] or (h[2] == top[2] and h[1] < top[1])) then
            found, top = i, h
        end
    end
    return found
end
-- Take set i's head: returns its member and its score as text.
local function take(i)
    local h = pages[i][at[i]]
    at[i] = at[i] + 1
    taken[i][#taken[i] + 1] = h[1]
    return h[1], h[3]
end
local function drop_taken()
    for i, members in pairs(taken) do
        if #members > 0 then many('ZREM', KEYS[i], members) end
    end
end
