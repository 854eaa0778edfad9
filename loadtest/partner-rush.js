// Partner rush: lunch time on campus. VUS students browse meal and study rooms, join
// one, and apply for a random match, for DURATION.
//
//   loadtest/run.sh partner-rush [--vus 300 --duration 30s --rooms 40]
//
// setup()    signs up and logs in VUS students (argon2: kept out of the measured phase);
//            the first ROOMS of them each open a room (capacity 2..=8, meal or study,
//            assorted places and ways).
// default    each iteration: list open rooms of a random category, join a random one
//            (200 joined, 409 room_full / already_joined / room_closed are normal),
//            then apply for a random MEAL match with random conditions (202, or 409
//            already_applied), and poll random-matches/mine until matched (at most
//            MATCH_WAIT_S), then cancel whatever still waits.
// teardown() reads every room: no room has more members than its capacity.
//
// Env: BASE_URL (loopback only), VUS (300), DURATION (30s), ROOMS (40), CHUNK (25),
//      MATCH_WAIT_S (5), SETUP_TIMEOUT (10m).
import http from 'k6/http';
import { fail, sleep } from 'k6';
import { Counter, Rate, Trend } from 'k6/metrics';
import { baseUrl, posInt, auth, short, signUpAndLogIn } from './lib.js';

const BASE_URL = baseUrl();
const API = `${BASE_URL}/api/v1`;
const P = `${API}/partner`;
const VUS = posInt('VUS', 300);
const ROOMS = posInt('ROOMS', 40);
// Setup signs up and logs in CHUNK accounts at a time from one address: more than
// SURGE_LOGIN_MAX_FAILURES_PER_IP (30) logins in flight at once are refused (attempts are
// counted before the password is checked), so stay below it.
const CHUNK = posInt('CHUNK', 25);
const MATCH_WAIT_S = Number(__ENV.MATCH_WAIT_S || 5);

export const options = {
  scenarios: {
    rush: { executor: 'constant-vus', vus: VUS, duration: __ENV.DURATION || '30s', gracefulStop: '10s' },
  },
  setupTimeout: __ENV.SETUP_TIMEOUT || '10m',
  batch: CHUNK,
  batchPerHost: CHUNK,
  summaryTrendStats: ['avg', 'min', 'med', 'p(90)', 'p(95)', 'p(99)', 'max'],
  thresholds: { unexpected: ['rate<0.01'], invariant_ok: ['rate==1'] },
};

const browseLatency = new Trend('browse_latency', true);
const joinLatency = new Trend('join_latency', true);
const joins = new Counter('joins');
const joinRefused = new Counter('join_refused');
const applyLatency = new Trend('apply_latency', true);
const applications = new Counter('applications');
const matched = new Counter('matched');
const timeToMatch = new Trend('time_to_match', true);
const unexpected = new Rate('unexpected');
const invariantOk = new Rate('invariant_ok');

const PLACES = ['SEOCHO', 'GAEPO', 'OUT_OF_CLUSTER'];
const WAYS = ['DELIVERY', 'EATOUT', 'TAKEOUT'];

function some(list) {
  // Empty (any) a third of the time, else one or two values.
  const r = Math.random();
  if (r < 0.33) return [];
  const a = list[Math.floor(Math.random() * list.length)];
  if (r < 0.75) return [a];
  return [...new Set([a, list[Math.floor(Math.random() * list.length)]])];
}

function bad(res, what) {
  unexpected.add(true);
  console.warn(`unexpected ${what}: ${short(res)}`);
}

export function setup() {
  const runId = Date.now().toString(36);
  const tokens = signUpAndLogIn(API, 'pr', runId, VUS, CHUNK);
  const meetsAt = new Date(Date.now() + 3 * 3600e3).toISOString();
  for (let i = 0; i < Math.min(ROOMS, tokens.length); i++) {
    const meal = i % 2 === 0;
    const res = http.post(`${P}/rooms`, JSON.stringify({
      category: meal ? 'MEAL' : 'STUDY',
      title: `${meal ? '점심' : '스터디'} ${i}`,
      capacity: 2 + (i % 7),
      meets_at: meetsAt,
      conditions: meal ? { places: some(PLACES), ways: some(WAYS) } : { places: some(PLACES) },
    }), auth(tokens[i]));
    if (res.status !== 201) fail(`room ${i}: ${short(res)}`);
  }
  return { tokens };
}

export default function (data) {
  const token = data.tokens[(__VU - 1) % data.tokens.length];
  const category = Math.random() < 0.5 ? 'MEAL' : 'STUDY';
  const list = http.get(`${P}/rooms?category=${category}&limit=50`, { tags: { name: 'GET rooms' } });
  browseLatency.add(list.timings.duration);
  if (list.status !== 200) return bad(list, 'browse');
  const rooms = list.json('items');
  if (rooms.length > 0) {
    const room = rooms[Math.floor(Math.random() * rooms.length)];
    const res = http.post(`${P}/rooms/${room.id}/join`, '{}', {
      ...auth(token), tags: { name: 'POST join' }, responseCallback: http.expectedStatuses(200, 409),
    });
    joinLatency.add(res.timings.duration);
    if (res.status === 200) joins.add(1);
    else if (res.status === 409) joinRefused.add(1);
    else return bad(res, 'join');
  }
  const applied = http.post(`${P}/random-matches`,
    JSON.stringify({ category: 'MEAL', places: some(PLACES), ways: some(WAYS) }), {
      ...auth(token), tags: { name: 'POST random-matches' }, responseCallback: http.expectedStatuses(202, 409),
    });
  applyLatency.add(applied.timings.duration);
  if (applied.status !== 202 && applied.status !== 409) return bad(applied, 'apply');
  applications.add(applied.status === 202 ? 1 : 0);
  const t0 = Date.now();
  while ((Date.now() - t0) / 1000 < MATCH_WAIT_S) {
    sleep(0.5);
    const mine = http.get(`${P}/random-matches/mine`, { ...auth(token), tags: { name: 'GET random-matches/mine' } });
    if (mine.status !== 200) return bad(mine, 'mine');
    const latest = mine.json()[0];
    if (latest && latest.status === 'MATCHED') {
      matched.add(1);
      timeToMatch.add(Date.now() - t0);
      break;
    }
  }
  http.del(`${P}/random-matches/MEAL`, null, { ...auth(token), tags: { name: 'DELETE random-matches' }, responseCallback: http.expectedStatuses(204, 404) });
  unexpected.add(false);
}

export function teardown() {
  let ok = true;
  let cursor = '';
  for (const status of ['open', 'completed']) {
    for (let page = 0; page < 50; page++) {
      const res = http.get(`${P}/rooms?status=${status}&limit=100${cursor ? `&cursor=${cursor}` : ''}`);
      if (res.status !== 200) { ok = false; break; }
      for (const r of res.json('items')) if (r.member_count > r.capacity) { ok = false; console.error(`room ${r.id} has ${r.member_count} > ${r.capacity}`); }
      cursor = res.json('next_cursor') || '';
      if (!cursor) break;
    }
  }
  invariantOk.add(ok);
}
