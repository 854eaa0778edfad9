// Community: posts near me and a hot post's votes (load `surge community generate
// --count 1000000` first; see BENCHMARKS.md).
//
//   loadtest/run.sh community [--mode radius|votes] [--rate 500] [--duration 60s] [--vus 1000]
//
// radius (default) constant arrival, RATE radius searches/s for DURATION whatever the
//        latency (k6 keeps up to MAX_VUS in flight), anonymous: where people are (around
//        the generator's 16 cities, one in four anywhere in Korea), radius 5 km (60 %),
//        1 km (20 %) or 10 km (20 %), limit 20; one in five turns to the next page. The
//        figure to hold p95 <= 20 ms at.
// votes  setup() signs up and logs in VUS users (argon2 kept out of the measured phase)
//        and one of them writes the hot post; then VUS VUs vote on it back to back for
//        DURATION: UP, DOWN, the same again (no change) or DELETE. teardown() reads the
//        post as every voter (`my_vote` is that user's row) and checks the post's up and
//        down equal the rows counted.
//
// Env: BASE_URL (loopback only), MODE, RATE (500), DURATION (60s), MAX_VUS (200),
//      VUS (1000), CHUNK (25), SETUP_TIMEOUT (10m).
import http from 'k6/http';
import { fail } from 'k6';
import { Counter, Rate, Trend } from 'k6/metrics';
import { baseUrl, posInt, auth, short, signUpAndLogIn } from './lib.js';

const BASE_URL = baseUrl();
const API = `${BASE_URL}/api/v1`;
const POSTS = `${API}/community/posts`;
const MODE = __ENV.MODE || 'radius';
const RATE = posInt('RATE', 500);
const VUS = posInt('VUS', 1000);
const MAX_VUS = posInt('MAX_VUS', 200);
const CHUNK = posInt('CHUNK', 25);
const DURATION = __ENV.DURATION || '60s';

const scenarios = {
  radius: {
    radius: {
      executor: 'constant-arrival-rate', rate: RATE, timeUnit: '1s', duration: DURATION,
      preAllocatedVUs: Math.min(MAX_VUS, 100), maxVUs: MAX_VUS, gracefulStop: '5s', exec: 'radius',
    },
  },
  votes: {
    votes: { executor: 'constant-vus', vus: VUS, duration: DURATION, gracefulStop: '10s', exec: 'vote' },
  },
};
if (!scenarios[MODE]) throw new Error(`MODE must be radius or votes, got ${MODE}`);

export const options = {
  scenarios: scenarios[MODE],
  setupTimeout: __ENV.SETUP_TIMEOUT || '10m',
  teardownTimeout: '5m',
  batch: CHUNK,
  batchPerHost: CHUNK,
  summaryTrendStats: ['avg', 'min', 'med', 'p(90)', 'p(95)', 'p(99)', 'max'],
  thresholds: MODE === 'radius'
    ? { unexpected: ['rate==0'], radius_latency: ['p(95)<=20'] }
    : { unexpected: ['rate==0'], counts_exact: ['rate==1'] },
};

const radiusLatency = new Trend('radius_latency', true);
const nextPageLatency = new Trend('next_page_latency', true);
const found = new Trend('posts_per_page');
const searches = new Counter('searches');
const voteLatency = new Trend('vote_latency', true);
const votes = new Counter('votes');
const unexpected = new Rate('unexpected');
const countsExact = new Rate('counts_exact');


// The generator's cities (crates/community/src/generate.rs): lat, lon, spread km, weight.
const CITIES = [
  [37.5665, 126.9780, 9, 30], [35.1796, 129.0756, 7, 8], [37.4563, 126.7052, 6, 7],
  [35.8714, 128.6014, 6, 5], [36.3504, 127.3845, 5, 4], [35.1595, 126.8526, 5, 4],
  [37.2636, 127.0286, 5, 5], [37.4200, 127.1265, 4, 4], [35.5384, 129.3114, 5, 3],
  [37.6584, 126.8320, 4, 3], [36.6424, 127.4890, 4, 2], [35.8242, 127.1480, 4, 2],
  [35.2280, 128.6811, 5, 3], [36.0190, 129.3435, 4, 1], [37.8813, 127.7298, 4, 1],
  [33.4996, 126.5312, 8, 3],
];
const TOTAL_WEIGHT = CITIES.reduce((s, c) => s + c[3], 0);

function normal() {
  const u = Math.max(Math.random(), 1e-12);
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * Math.random());
}

function where() {
  if (Math.random() < 0.25) return [34.6 + Math.random() * 3.6, 126.4 + Math.random() * 3.0];
  let pick = Math.random() * TOTAL_WEIGHT;
  const c = CITIES.find((x) => (pick -= x[3]) < 0) || CITIES[0];
  return [c[0] + (normal() * c[2]) / 111, c[1] + (normal() * c[2]) / (111 * Math.cos((c[0] * Math.PI) / 180))];
}

function search(query, trend) {
  const res = http.get(`${POSTS}?${query}`, { tags: { name: 'GET posts near' } });
  searches.add(1);
  radiusLatency.add(res.timings.duration);
  trend.add(res.timings.duration);
  let body = null;
  if (res.status === 200) {
    try { body = res.json(); } catch (e) { body = null; }
  }
  const ok = body !== null && Array.isArray(body.items);
  unexpected.add(!ok);
  if (!ok) {
    console.warn(`GET ?${query}: ${short(res)}`);
    return null;
  }
  found.add(body.items.length);
  return body;
}

// Per VU: the previous search and its next_cursor.
let previous = null;

export function radius() {
  if (previous && Math.random() < 0.2) {
    const [query, cursor] = previous;
    const body = search(`${query}&cursor=${encodeURIComponent(cursor)}`, nextPageLatency);
    previous = body && body.next_cursor ? [query, body.next_cursor] : null;
    return;
  }
  const [lat, lon] = where();
  const r = Math.random();
  const metres = r < 0.6 ? 5000 : r < 0.8 ? 1000 : 10000;
  const query = `latitude=${lat.toFixed(5)}&longitude=${lon.toFixed(5)}&radius_m=${metres}&limit=20`;
  const body = search(query, radiusLatency);
  previous = body && body.next_cursor ? [query, body.next_cursor] : null;
}

export function setup() {
  if (MODE !== 'votes') return {};
  const runId = Date.now().toString(36);
  const tokens = signUpAndLogIn(API, 'cv', runId, VUS, CHUNK);
  const post = http.post(POSTS, JSON.stringify({
    title: '지금 광안리 불꽃놀이', body: '사람 정말 많아요', latitude: 35.1532, longitude: 129.1186,
    place_name: '광안리 해수욕장',
  }), auth(tokens[0]));
  if (post.status !== 201) fail(`hot post: ${short(post)}`);
  return { tokens, post: post.json('id') };
}

export function vote(data) {
  const token = data.tokens[(__VU - 1) % data.tokens.length];
  const url = `${POSTS}/${data.post}/vote`;
  const r = Math.random();
  const res = r < 0.15
    ? http.del(url, null, { ...auth(token), tags: { name: 'DELETE vote' } })
    : http.put(url, JSON.stringify({ type: r < 0.6 ? 'UP' : 'DOWN' }), { ...auth(token), tags: { name: 'PUT vote' } });
  voteLatency.add(res.timings.duration);
  votes.add(1);
  const ok = res.status === 200 || res.status === 204;
  unexpected.add(!ok);
  if (!ok) console.warn(`vote: ${short(res)}`);
}

export function teardown(data) {
  if (MODE !== 'votes') return;
  const rows = { UP: 0, DOWN: 0 };
  for (let start = 0; start < data.tokens.length; start += CHUNK) {
    const part = data.tokens.slice(start, start + CHUNK);
    http.batch(part.map((t) => ({ method: 'GET', url: `${POSTS}/${data.post}`, params: auth(t) })))
      .forEach((res) => {
        if (res.status !== 200) fail(`reading the post: ${short(res)}`);
        const mine = res.json('my_vote');
        if (mine) rows[mine] += 1;
      });
  }
  const post = http.get(`${POSTS}/${data.post}`).json();
  const exact = post.up === rows.UP && post.down === rows.DOWN;
  console.log(`hot post: up ${post.up} down ${post.down}; rows counted through my_vote: UP ${rows.UP} DOWN ${rows.DOWN}; ${exact ? 'exact' : 'MISMATCH'}`);
  countsExact.add(exact);
}
