-- bench/lib/paced.lua — wrk script for a fixed offered load: each
-- connection waits PAUSE ms after a response before sending its next request
-- (wrk -s bench/lib/paced.lua URL -- PAUSE). With C connections the offered
-- load is about C * 1000 / (PAUSE + latency) requests per second, so below
-- the server's capacity the latency wrk reports is the server's answer time,
-- not time spent queued behind other connections (as in a closed loop run
-- flat out). wrk calls delay() before every request.
--
-- The pause is drawn uniformly from 0..2*PAUSE whole ms (mean PAUSE): with
-- a fixed pause wrk's timer loop fires all connections' timers together,
-- and 50 requests arriving at once queue behind each other (a paced run
-- straight at bench/backend had p50 0.72 ms at 50 connections, 0.12 ms at 5).
local pause_ms = 0

function init(args)
  pause_ms = tonumber(args[1]) or 0
  math.randomseed(os.time())
end

function delay()
  return math.random(0, 2 * pause_ms)
end
