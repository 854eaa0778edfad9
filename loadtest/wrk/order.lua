-- wrk: each connection buys the flash-sale product as its own buyer, with a fresh
-- Idempotency-Key per request; counts 201 / 409 out_of_stock / anything else.
local tokens = {}
for line in io.lines(os.getenv("WRK_TOKENS")) do tokens[#tokens + 1] = line end
local product = io.lines(os.getenv("WRK_PRODUCT"))()
local body = '{"lines":[{"product_id":"' .. product .. '","quantity":1}],' ..
  '"shipping_address":{"recipient":"홍길동","phone":"010-1234-5678","address":"서울시 강남구 테헤란로 1","postal_code":"06236"}}'

local threads = {}
local counter = 0
local id = 0

function setup(thread)
  id = id + 1
  thread:set("tid", id)
  table.insert(threads, thread)
end

function init(args)
  created, sold_out, other = 0, 0, 0
end

request = function()
  counter = counter + 1
  local token = tokens[(counter % #tokens) + 1]
  return wrk.format("POST", "/api/v1/shop/orders", {
    ["content-type"] = "application/json",
    ["authorization"] = "Bearer " .. token,
    ["idempotency-key"] = "wrk-" .. tid .. "-" .. counter,
  }, body)
end

response = function(status, headers, resp)
  if status == 201 then created = created + 1
  elseif status == 409 then sold_out = sold_out + 1
  else other = other + 1 end
end

done = function(summary, latency, requests)
  local c, s, o = 0, 0, 0
  for _, t in ipairs(threads) do
    c = c + t:get("created"); s = s + t:get("sold_out"); o = o + t:get("other")
  end
  io.write(string.format('WRK_RESULT {"created": %d, "sold_out": %d, "other": %d, "requests": %d, "duration_s": %.2f, "p50_ms": %.1f, "p95_ms": %.1f, "p99_ms": %.1f, "errors_socket": %d}\n',
    c, s, o, summary.requests, summary.duration / 1e6,
    latency:percentile(50) / 1000, latency:percentile(95) / 1000, latency:percentile(99) / 1000,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
