-- wrk script for tools/bench-tracker: every request is an HTTP announce (BEP 3) with an
-- info_hash drawn uniformly from the first N lines of a file of 40-hex info-hashes, and
-- a random 20-byte peer_id and port. Like aquatic_udp_load_test's peers, 3 in 4 are
-- seeders announcing `completed` (left=0), the rest leechers announcing `started`;
-- numwant=30, compact=1.
--
-- wrk -t1 -cC -dDs -s announce.lua http://HOST:PORT -- HASHFILE N POOL [close]
--
-- POOL > 0 builds that many random announces at start and sends them in turn (each is
-- one simulated peer that re-announces every POOL requests), so wrk's own CPU goes to
-- HTTP, not to Lua; POOL = 0 builds a new random announce for every request.
-- With `close` every request says `Connection: close`, so each announce costs a new TCP
-- connection, as opentracker imposes (it closes after every reply). done() prints one
-- line for tools/bench-tracker:
--   announce-check ok=N failure=N other=N
-- counting 200 answers that carry `interval` (ok), `failure reason` (failure), or
-- anything else (other: other statuses, unexpected bodies).

local hashes = {}
local count = 0
local threads = {}
local pool, pool_size, next_request = {}, 0, 0
-- Global: done() reads it from each thread with thread:get.
counters = { ok = 0, failure = 0, other = 0 }

local random = math.random
local concat = table.concat
local hexbyte = {}
for b = 0, 255 do
    hexbyte[b] = string.format("%%%02X", b)
end
local parts = {}

local function urlencode_hex(hex)
    local out = {}
    for i = 1, 40, 2 do
        out[#out + 1] = "%" .. hex:sub(i, i + 1)
    end
    return concat(out)
end

local function make_request()
    for i = 1, 20 do
        parts[i] = hexbyte[random(0, 255)]
    end
    local left, event
    if random() < 0.75 then
        left, event = "0", "completed"
    else
        left, event = "50", "started"
    end
    local path = "/announce?info_hash=" .. hashes[random(1, count)]
        .. "&peer_id=" .. concat(parts, "", 1, 20)
        .. "&port=" .. random(1, 65535)
        .. "&uploaded=50&downloaded=50&left=" .. left
        .. "&event=" .. event
        .. "&numwant=30&compact=1"
    return wrk.format("GET", path)
end

function setup(thread)
    threads[#threads + 1] = thread
end

function init(args)
    local file, n, size, mode = args[1], tonumber(args[2]), tonumber(args[3] or "0"), args[4]
    if not file or not n or not size then
        error("usage: wrk ... -s announce.lua URL -- HASHFILE N POOL [close]")
    end
    local f = assert(io.open(file, "r"))
    for line in f:lines() do
        if count >= n then break end
        if #line >= 40 then
            count = count + 1
            hashes[count] = urlencode_hex(line:sub(1, 40))
        end
    end
    f:close()
    if count == 0 then error("no info-hashes in " .. file) end
    if mode == "close" then
        wrk.headers["Connection"] = "close"
    end
    -- A different sequence per thread and run.
    math.randomseed(os.time() * 1000 + tonumber(tostring({}):match("0x(%x+)") or "0", 16) % 1000)
    for i = 1, size do
        pool[i] = make_request()
    end
    pool_size = size
end

function request()
    if pool_size > 0 then
        next_request = next_request % pool_size + 1
        return pool[next_request]
    end
    return make_request()
end

function response(status, headers, body)
    if status == 200 and body:find("8:interval", 1, true) then
        counters.ok = counters.ok + 1
    elseif status == 200 and body:find("failure reason", 1, true) then
        counters.failure = counters.failure + 1
    else
        counters.other = counters.other + 1
    end
end

function done(summary, latency, requests)
    local ok, failure, other = 0, 0, 0
    for _, t in ipairs(threads) do
        local c = t:get("counters")
        ok = ok + c.ok
        failure = failure + c.failure
        other = other + c.other
    end
    io.write(string.format("announce-check ok=%d failure=%d other=%d\n", ok, failure, other))
end
