-- wrk script for the orders benchmark's separate-process load: every call
-- reserves one unit of the drop under a new Idempotency-Key and buyer.
--   wrk -t2 -c512 -d10s --latency -s benches/orders-reserve.lua \
--       http://127.0.0.1:PORT -- DROP_ID ACCEPTED_AT
-- (benches/orders.rs runs it so when ORDERS_BENCH_LOAD includes wrk.)

local threads = {}

function setup(thread)
  thread:set("id", #threads + 1)
  table.insert(threads, thread)
end

function init(args)
  drop_id = args[1]
  accepted_at = args[2]
  n = 0
end

function request()
  n = n + 1
  local call = id .. "-" .. n
  local body = '{"drop_id":"' .. drop_id .. '","quantity":1,"buyer_id":"w-' .. call ..
      '","consent":{"terms_version":"v1","accepted_at":"' .. accepted_at .. '"}}'
  return wrk.format("POST", "/orders/v1/reservations", {
    ["Idempotency-Key"] = "w-" .. call,
    ["Content-Type"] = "application/json",
  }, body)
end
