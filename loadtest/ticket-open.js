// Ticket open: VUS travellers rush a fare sale behind the virtual waiting room.
//
//   loadtest/run.sh ticket-open [--vus 1000 --rate 100 --max-active 200 --rows 30]
//   k6 run -e VUS=1000 -e RATE=100 loadtest/ticket-open.js   (by hand)
//
// setup()    logs in as the bootstrap admin, creates a flight of ROWS x 6 seats, signs
//            up and logs in VUS travellers (argon2: the slow part, kept out of the
//            measured phase), then opens the sale (RATE admitted per second, at most
//            MAX_ACTIVE inside, passes valid PASS_TTL seconds) right before the VUs start.
// default    every VU runs once, all starting together: join the queue, poll
//            queue/me every POLL_S until admitted, read the seat map with the pass,
//            hold 1 seat (2 for every third traveller) chosen at random among the free
//            ones (a taken seat: drop it and try others, re-reading the map every
//            third attempt), pay (start + approve).
//            A traveller who finds no free seat leaves the queue, freeing the slot.
//            Each admitted VU logs `ADMIT {"seq":..,"admitted_at":..}`: run.sh computes
//            the largest overtake (someone who joined later admitted earlier) from those.
// teardown() closes the sale and reads the seat map: seats sold vs available, compared
//            by run.sh with what the VUs paid for.
//
// Env: BASE_URL (http://127.0.0.1:8080, loopback only), ADMIN_EMAIL, ADMIN_PASSWORD,
//      VUS (1000), RATE (100), MAX_ACTIVE (200), PASS_TTL (120), ROWS (30), POLL_S (1),
//      CHUNK (25), MAX_DURATION (5m), SETUP_TIMEOUT (15m).
import http from 'k6/http';
import { check, fail, sleep } from 'k6';
import { Counter, Gauge, Rate, Trend } from 'k6/metrics';
import { baseUrl, posInt, auth, short, logIn, signUpAndLogIn } from './lib.js';

const BASE_URL = baseUrl();
const API = `${BASE_URL}/api/v1`;
const T = `${API}/ticketing`;
const ADMIN_EMAIL = __ENV.ADMIN_EMAIL || 'admin@surge.local';
const ADMIN_PASSWORD = __ENV.ADMIN_PASSWORD || 'surge-admin-pass-1';
const VUS = posInt('VUS', 1000);
const RATE = posInt('RATE', 100);
const MAX_ACTIVE = posInt('MAX_ACTIVE', 200);
const PASS_TTL = posInt('PASS_TTL', 120);
const ROWS = posInt('ROWS', 30);
const POLL_S = Number(__ENV.POLL_S || 1);
// Setup signs up and logs in CHUNK accounts at a time from one address: more than
// SURGE_LOGIN_MAX_FAILURES_PER_IP (30) logins in flight at once are refused (attempts are
// counted before the password is checked), so stay below it.
const CHUNK = posInt('CHUNK', 25);

export const options = {
  scenarios: {
    ticket_open: {
      executor: 'per-vu-iterations',
      vus: VUS,
      iterations: 1,
      maxDuration: __ENV.MAX_DURATION || '5m',
    },
  },
  setupTimeout: __ENV.SETUP_TIMEOUT || '15m',
  teardownTimeout: '1m',
  batch: CHUNK,
  batchPerHost: CHUNK,
  summaryTrendStats: ['avg', 'min', 'med', 'p(90)', 'p(95)', 'p(99)', 'max'],
  thresholds: {
    unexpected: ['rate<0.01'],
    invariant_ok: ['rate==1'],
  },
};

const joins = new Counter('joins');
const joinLatency = new Trend('join_latency', true);
const joinedAt = new Trend('joined_at', true); // ms after setup: min..max is the join burst
const queueLatency = new Trend('queue_latency', true); // GET queue/me
const admittedCount = new Counter('admitted');
const waitTime = new Trend('wait_time', true); // join → admitted, as the VU saw it
const seatmapLatency = new Trend('seatmap_latency', true);
const holdLatency = new Trend('hold_latency', true);
const holdsCreated = new Counter('holds_created');
const seatTaken = new Counter('seat_unavailable');
const noSeatLeft = new Counter('no_seat_left');
const payLatency = new Trend('pay_latency', true);
const seatsBought = new Counter('seats_bought');
const unexpected = new Rate('unexpected');
const seatsSold = new Gauge('server_seats_sold');
const seatsHeld = new Gauge('server_seats_held');
const seatsTotal = new Gauge('server_seats_total');
const invariantOk = new Rate('invariant_ok');

function code(res) {
  try {
    return res.json('code');
  } catch (_) {
    return undefined;
  }
}

function bad(res, what) {
  unexpected.add(true);
  console.warn(`unexpected ${what}: ${short(res)}`);
}

export function setup() {
  const admin = logIn(API, ADMIN_EMAIL, ADMIN_PASSWORD, `admin ${ADMIN_EMAIL}`);
  const runId = Date.now().toString(36);
  const departs = new Date(Date.now() + 3 * 86400e3);
  const arrives = new Date(departs.getTime() + 65 * 60e3);
  const flight = http.post(
    `${T}/flights`,
    JSON.stringify({
      flight_number: `7C${1000 + (Date.now() % 9000)}`,
      origin: 'GMP',
      destination: 'CJU',
      departs_at: departs.toISOString(),
      arrives_at: arrives.toISOString(),
      layout: {
        rows: ROWS,
        letters: 'ABCDEF',
        grades: [
          { name: 'Front', from_row: 1, to_row: Math.min(3, ROWS), price: 79000 },
          ...(ROWS > 3 ? [{ name: 'Economy', from_row: 4, to_row: ROWS, price: 59000 }] : []),
        ],
      },
    }),
    auth(admin),
  );
  if (flight.status !== 201) fail(`creating the flight failed: ${short(flight)}`);
  const flightId = flight.json('id');

  const t0 = Date.now();
  const tokens = signUpAndLogIn(API, 'to', runId, VUS, CHUNK);
  const sale = http.post(
    `${T}/sales`,
    JSON.stringify({ flight_id: flightId, admission_rate: RATE, max_active: MAX_ACTIVE, pass_ttl_secs: PASS_TTL }),
    auth(admin),
  );
  if (sale.status !== 201) fail(`opening the sale failed: ${short(sale)}`);
  console.log(`setup: flight ${flightId} (${ROWS * 6} seats), sale ${sale.json('id')}; ${tokens.length} travellers in ${((Date.now() - t0) / 1000).toFixed(1)}s`);
  return { runId, flightId, saleId: sale.json('id'), admin, tokens, seats: ROWS * 6, startedAt: Date.now() };
}

function freeSeats(data, token, pass) {
  const res = http.get(`${T}/flights/${data.flightId}/seats`, {
    ...auth(token, { 'X-Admission-Pass': pass }),
    tags: { name: 'GET seats' },
  });
  seatmapLatency.add(res.timings.duration);
  if (res.status !== 200) {
    bad(res, 'seat map');
    return null;
  }
  return res.json().filter((s) => s.status === 'available').map((s) => s.id);
}

function pick(ids, n) {
  const out = [];
  const pool = ids.slice();
  while (out.length < n && pool.length > 0) out.push(pool.splice(Math.floor(Math.random() * pool.length), 1)[0]);
  return out;
}

export default function (data) {
  const token = data.tokens[(__VU - 1) % data.tokens.length];
  const sale = `${T}/sales/${data.saleId}/queue`;
  const joined = http.post(sale, '{}', { ...auth(token), tags: { name: 'POST queue' } });
  joinLatency.add(joined.timings.duration);
  if (joined.status !== 200) return bad(joined, 'join');
  joins.add(1);
  joinedAt.add(Date.now() - data.startedAt);
  const t0 = Date.now();

  let me = joined.json();
  while (me.status !== 'admitted') {
    sleep(POLL_S);
    const res = http.get(`${sale}/me`, { ...auth(token), tags: { name: 'GET queue/me' } });
    queueLatency.add(res.timings.duration);
    if (res.status !== 200) return bad(res, 'queue/me');
    me = res.json();
  }
  admittedCount.add(1);
  waitTime.add(Date.now() - t0);
  console.log(`ADMIT ${JSON.stringify({ seq: me.seq, admitted_at: me.admitted_at })}`);

  const want = __VU % 3 === 0 ? 2 : 1;
  let hold = null;
  // One seat map, re-read only every third attempt: a taken seat is dropped locally.
  let free = [];
  for (let attempt = 0; attempt < 6 && hold === null; attempt++) {
    if (attempt % 3 === 0) {
      free = freeSeats(data, token, me.pass);
      if (free === null) return;
    }
    if (free.length === 0) break;
    const chosen = pick(free, want);
    const res = http.post(
      `${T}/holds`,
      JSON.stringify({ flight_id: data.flightId, seat_ids: chosen }),
      {
        ...auth(token, { 'X-Admission-Pass': me.pass, 'Idempotency-Key': `to-${data.runId}-${__VU}-${attempt}` }),
        tags: { name: 'POST holds' },
        responseCallback: http.expectedStatuses(201, 409),
      },
    );
    holdLatency.add(res.timings.duration);
    if (res.status === 201) {
      hold = res.json();
      holdsCreated.add(1);
    } else if (res.status === 409 && code(res) === 'seat_unavailable') {
      seatTaken.add(1);
      free = free.filter((id) => !chosen.includes(id));
    } else {
      return bad(res, 'hold');
    }
  }
  if (hold === null) {
    noSeatLeft.add(1);
    unexpected.add(false);
    http.del(`${sale}/me`, null, { ...auth(token), tags: { name: 'DELETE queue/me' } });
    return;
  }
  const started = http.post(`${T}/holds/${hold.id}/payment`, '{}', { ...auth(token), tags: { name: 'POST payment' } });
  payLatency.add(started.timings.duration);
  if (started.status !== 200) return bad(started, 'payment start');
  const paid = http.post(`${T}/holds/${hold.id}/payment/approve`, JSON.stringify({ pg_token: 'k6' }), {
    ...auth(token),
    tags: { name: 'POST payment/approve' },
  });
  payLatency.add(paid.timings.duration);
  if (paid.status !== 200) return bad(paid, 'approve');
  unexpected.add(false);
  check(paid, { 'reservation CONFIRMED with tickets': (r) => r.json('status') === 'CONFIRMED' && r.json('seats').every((s) => s.ticket_code) });
  seatsBought.add(hold.seats.length);
}

export function teardown(data) {
  const closed = http.post(`${T}/sales/${data.saleId}/close`, '{}', auth(data.admin));
  const map = http.get(`${T}/flights/${data.flightId}/seats`);
  if (closed.status !== 200 || map.status !== 200) {
    invariantOk.add(false);
    console.error(`teardown could not read the seat map: ${short(closed)} / ${short(map)}`);
    return;
  }
  const seats = map.json();
  const sold = seats.filter((s) => s.status === 'sold').length;
  const held = seats.filter((s) => s.status === 'held').length;
  seatsSold.add(sold);
  seatsHeld.add(held);
  seatsTotal.add(seats.length);
  invariantOk.add(seats.length === data.seats && sold <= seats.length);
  console.log(`teardown: ${sold} sold, ${held} held, ${seats.length - sold - held} available of ${seats.length}`);
}
