-- wrk script for the catalog benchmark: GETs the paths of a file in turn (one path, or many such
-- as /products/<id> for a set of random ids), each thread from its own place in the list, and
-- prints one tab-separated RESULT line that catalog.sh reads.
--   wrk ... -s catalog.lua http://host:port -- <file of paths> [access token]
-- The requests are formatted once in init, so a request costs wrk no more than a static one.

function init(args)
  local headers = {}
  if args[2] and args[2] ~= "" then
    headers["Authorization"] = "Bearer " .. args[2]
  end
  prepared = {}
  for line in io.lines(args[1]) do
    if line ~= "" then
      table.insert(prepared, wrk.format("GET", line, headers))
    end
  end
  math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16))
  position = math.random(#prepared)
end

function request()
  position = position % #prepared + 1
  return prepared[position]
end

-- errors.status counts responses with a status of 400 or more (wrk's "Non-2xx or 3xx").
function done(summary, latency, requests)
  local seconds = summary.duration / 1e6
  local errors = summary.errors
  io.write(string.format("RESULT\t%d\t%d\t%d\t%.2f\t%.1f\t%.3f\t%.3f\n",
    summary.requests, errors.status, errors.connect + errors.read + errors.write + errors.timeout,
    seconds, summary.requests / seconds, latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
