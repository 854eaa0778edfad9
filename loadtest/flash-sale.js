// Flash sale: VUS buyers hammer one product whose stock is below demand.
//
//   loadtest/run.sh flash-sale [--vus 500 --duration 30s --stock 1000]
//   k6 run -e VUS=500 -e DURATION=30s -e STOCK=1000 loadtest/flash-sale.js   (by hand)
//
// setup()    logs in as the bootstrap admin, creates one product with STOCK units,
//            signs up and logs in VUS buyers (http.batch, CHUNK at a time; argon2 makes
//            this the slow part, so it stays out of the measured phase) and hands their
//            access tokens to the VUs.
// default    each VU uses its own token and places one order per iteration, each with a
//            fresh Idempotency-Key, for DURATION (constant-vus). 201 = created,
//            409 out_of_stock = sold out, anything else = unexpected.
// teardown() waits for the product cache to expire, reads the stock and reports
//            sold = STOCK - remaining. k6 cannot read counters here, so the exact check
//            (orders_created == sold) is done by run.sh from --summary-export; the
//            thresholds below catch what k6 itself can: unexpected < 1 %, never more
//            orders created than stock, and remaining within 0..=STOCK.
//
// Env: BASE_URL (http://127.0.0.1:8080, loopback only), ADMIN_EMAIL, ADMIN_PASSWORD,
//      VUS (500), DURATION (30s), STOCK (1000), CHUNK (50), PRICE (19900),
//      CACHE_SETTLE_S (2), SETUP_TIMEOUT (10m).
import http from 'k6/http';
import { fail, sleep } from 'k6';
import { Counter, Gauge, Rate, Trend } from 'k6/metrics';
import { baseUrl, posInt, JSON_HEADERS, short, logIn, signUpAndLogIn } from './lib.js';

const BASE_URL = baseUrl();
const API = `${BASE_URL}/api/v1`;
const ADMIN_EMAIL = __ENV.ADMIN_EMAIL || 'admin@surge.local';
const ADMIN_PASSWORD = __ENV.ADMIN_PASSWORD || 'surge-admin-pass-1';
const VUS = posInt('VUS', 500);
const DURATION = __ENV.DURATION || '30s';
const STOCK = posInt('STOCK', 1000);
const CHUNK = posInt('CHUNK', 50);
const PRICE = posInt('PRICE', 19900);
// GET /shop/products/{id} may be served from a cache (TTL 1 s): wait it out.
const CACHE_SETTLE_S = Number(__ENV.CACHE_SETTLE_S || 2);

export const options = {
  scenarios: {
    flash_sale: {
      executor: 'constant-vus',
      vus: VUS,
      duration: DURATION,
      gracefulStop: '10s',
    },
  },
  setupTimeout: __ENV.SETUP_TIMEOUT || '10m',
  teardownTimeout: '1m',
  // http.batch runs at most batchPerHost requests at once; default is 6.
  batch: CHUNK,
  batchPerHost: CHUNK,
  summaryTrendStats: ['avg', 'min', 'med', 'p(90)', 'p(95)', 'p(99)', 'max'],
  // k6 shares the 2-core machine with the server: fewer tags per sample = less k6 CPU.
  systemTags: ['name', 'method', 'status', 'expected_response'],
  thresholds: {
    unexpected: ['rate<0.01'],
    // Oversell as far as k6 alone can see it: more 201s than units.
    orders_created: [`count<=${STOCK}`],
    // Set in teardown: remaining stock readable and within 0..=STOCK.
    invariant_ok: ['rate==1'],
  },
};

const ordersCreated = new Counter('orders_created');
const soldOut = new Counter('sold_out');
const unexpected = new Rate('unexpected');
const orderLatency = new Trend('order_latency', true);
// Latency of the 201s alone (the selling phase), next to order_latency of all attempts.
const createdLatency = new Trend('created_latency', true);
const orderAttempts = new Counter('order_attempts');
// When (ms after setup finished) each 201 came back: min..max is the sale window
// (a Gauge keeps min and max without storing every sample like a Trend).
const orderCreatedAt = new Gauge('order_created_at');
// Teardown's view of the product, exported so run.sh can compare with orders_created.
const stockSold = new Counter('stock_sold');
const stockRemaining = new Gauge('stock_remaining');
const invariantOk = new Rate('invariant_ok');

const ORDER_EXPECTED = http.expectedStatuses(201, 409);
const SHIPPING = {
  recipient: '홍길동',
  phone: '010-1234-5678',
  address: '서울시 강남구 테헤란로 1',
  postal_code: '06236',
};

function problemCode(res) {
  try {
    const body = res.json();
    return body && body.code;
  } catch (_) {
    return undefined;
  }
}

export function setup() {
  const adminToken = logIn(API, ADMIN_EMAIL, ADMIN_PASSWORD, `admin ${ADMIN_EMAIL}`);
  const auth = (t) => ({ ...JSON_HEADERS, Authorization: `Bearer ${t}` });

  const runId = Date.now().toString(36); // unique per run: re-runs need no clean database
  const created = http.post(
    `${API}/shop/products`,
    JSON.stringify({
      name: `flash sale ${runId}`,
      description: `k6 flash-sale product, ${STOCK} units for ${VUS} buyers`,
      price: PRICE,
      stock: STOCK,
      category: 'flash-sale',
    }),
    { headers: auth(adminToken), tags: { name: 'create product' } },
  );
  if (created.status !== 201) fail(`creating the product failed: ${short(created)}`);
  const productId = created.json('id');
  if (created.json('stock') !== STOCK) fail(`product created with stock ${created.json('stock')}, wanted ${STOCK}`);

  const t0 = Date.now();
  const tokens = signUpAndLogIn(API, 'fs', runId, VUS, CHUNK);
  console.log(`setup: product ${productId} with stock ${STOCK}; ${tokens.length} buyers in ${((Date.now() - t0) / 1000).toFixed(1)}s`);
  return { runId, productId, adminToken, tokens, startedAt: Date.now() };
}

let unexpectedLogged = 0;

// Per VU: the body never changes and the params object is reused, only the key moves.
let orderBody;
let orderParams;

export default function (data) {
  if (orderBody === undefined) {
    const token = data.tokens[(__VU - 1) % data.tokens.length];
    orderBody = JSON.stringify({ lines: [{ product_id: data.productId, quantity: 1 }], shipping_address: SHIPPING });
    orderParams = {
      headers: { ...JSON_HEADERS, Authorization: `Bearer ${token}`, 'Idempotency-Key': '' },
      tags: { name: 'POST /shop/orders' },
      responseCallback: ORDER_EXPECTED,
    };
  }
  orderParams.headers['Idempotency-Key'] = `fs-${data.runId}-${__VU}-${__ITER}`;
  const res = http.post(`${API}/shop/orders`, orderBody, orderParams);
  orderAttempts.add(1);
  orderLatency.add(res.timings.duration);

  if (res.status === 201) {
    ordersCreated.add(1);
    createdLatency.add(res.timings.duration);
    orderCreatedAt.add(Date.now() - data.startedAt);
    // A 201 must carry the new order (a string test: JSON parsing costs k6 CPU).
    const pending = typeof res.body === 'string' && res.body.indexOf('"status":"PENDING_PAYMENT"') >= 0;
    unexpected.add(!pending);
  } else if (res.status === 409 && problemCode(res) === 'out_of_stock') {
    soldOut.add(1);
    unexpected.add(false);
  } else {
    unexpected.add(true);
    if (unexpectedLogged++ < 3) console.warn(`VU ${__VU}: unexpected order answer: ${short(res)}`);
  }
}

export function teardown(data) {
  sleep(CACHE_SETTLE_S);
  const res = http.get(`${API}/shop/products/${data.productId}`, {
    headers: { Authorization: `Bearer ${data.adminToken}` },
    tags: { name: 'get product' },
  });
  if (res.status !== 200) {
    invariantOk.add(false);
    console.error(`FLASH_SALE_RESULT ${JSON.stringify({ product_id: data.productId, error: short(res) })}`);
    return;
  }
  const remaining = res.json('stock');
  const soldOutFlag = res.json('sold_out');
  const sold = STOCK - remaining;
  const ok =
    Number.isInteger(remaining) &&
    remaining >= 0 &&
    remaining <= STOCK &&
    (soldOutFlag === undefined || soldOutFlag === (remaining === 0));
  stockSold.add(sold);
  stockRemaining.add(remaining);
  invariantOk.add(ok);
  // orders_created is a k6 counter (not readable here): run.sh puts it next to `sold`.
  console.log(
    `FLASH_SALE_RESULT ${JSON.stringify({
      product_id: data.productId,
      stock_initial: STOCK,
      stock_remaining: remaining,
      sold,
      sold_out: soldOutFlag,
      orders_created: 'see run.sh (k6 counter orders_created)',
      ok,
    })}`,
  );
}
