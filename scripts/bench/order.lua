-- wrk script: each request orders one unit of a product picked at random from a file of ids, as a
-- checkout (held until paid) when a third argument says `checkout`.
--   wrk ... -s order.lua http://host:port -- <access token> <file of product ids> [checkout]
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  token = args[1]
  ids = {}
  for line in io.lines(args[2]) do
    table.insert(ids, line)
  end
  refused = 0
  checkout = args[3] == "checkout" and ',"checkout":true' or ''
  math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16))
end

function request()
  local id = ids[math.random(#ids)]
  local body = '{"items":[{"product_id":"' .. id .. '","quantity":1}]' .. checkout .. '}'
  return wrk.format("POST", "/orders", {
    ["Content-Type"] = "application/json",
    ["Authorization"] = "Bearer " .. token,
  }, body)
end

function response(status, headers, body)
  if status ~= 201 then
    refused = refused + 1
  end
end

function done(summary, latency, requests)
  local failed = 0
  for _, thread in ipairs(threads) do
    failed = failed + thread:get("refused")
  end
  local seconds = summary.duration / 1e6
  local placed = summary.requests - failed
  io.write(string.format(
    "RESULT placed=%d refused=%d errors=%d seconds=%.1f orders_per_s=%.0f p50_ms=%.1f p99_ms=%.1f\n",
    placed, failed, summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    seconds, placed / seconds, latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
