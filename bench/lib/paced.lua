-- bench/lib/paced.lua — wrk script for a fixed offered load: each
-- connection waits PAUSE ms after a response before sending its next request
-- (wrk -s bench/lib/paced.lua URL -- PAUSE). With C connections the offered
-- load is about C * 1000 / (PAUSE + latency) requests per second, so below
-- the server's capacity the latency wrk reports is the server's answer time,
-- not time spent queued behind other connections (as in a closed loop run
-- flat out). wrk calls delay() before every request.
local pause_ms = 0

function init(args)
  pause_ms = tonumber(args[1]) or 0
end

function delay()
  return pause_ms
end
