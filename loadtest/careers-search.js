// Careers search: job seekers searching postings (load `surge careers generate --count
// 100000` first; see BENCHMARKS.md), anonymous GETs only.
//
//   loadtest/run.sh careers-search [--model open|closed] [--rate 1000] [--duration 60s]
//                                  [--vus 1000]
//
// open    (default) constant arrival: RATE searches/s for DURATION whatever the latency
//         (k6 keeps up to MAX_VUS in flight): the figure to hold p95 <= 30 ms at.
// closed  the original J4JG's model: VUs ramp 0 -> VUS over RAMP, hold for DURATION,
//         ramp down; each VU searches back to back. Its p95 is compared with the
//         original's 1,416 ms at 1,000 VUs.
//
// The mix of one request (weights in MIX): Korean and Latin keywords, with typos and
// particles; filters (category, location, skills, newbie, experience, open=false);
// sort recent/deadline; the list without words (facets and total from the index); and
// the next page through the previous answer's next_cursor (one iteration in five).
//
// Env: BASE_URL (loopback only), MODEL, RATE (1000), DURATION (60s), VUS (1000),
//      MAX_VUS (400), RAMP (30s).
import http from 'k6/http';
import { Counter, Rate, Trend } from 'k6/metrics';
import { baseUrl, posInt } from './lib.js';

const BASE_URL = baseUrl();
const LIST = `${BASE_URL}/api/v1/careers/postings`;
const MODEL = __ENV.MODEL || 'open';
const RATE = posInt('RATE', 1000);
const VUS = posInt('VUS', 1000);
const MAX_VUS = posInt('MAX_VUS', 400);
const DURATION = __ENV.DURATION || '60s';
const RAMP = __ENV.RAMP || '30s';

const scenarios = {
  open: {
    search: {
      executor: 'constant-arrival-rate', rate: RATE, timeUnit: '1s', duration: DURATION,
      preAllocatedVUs: Math.min(MAX_VUS, 200), maxVUs: MAX_VUS, gracefulStop: '5s',
    },
  },
  closed: {
    search: {
      executor: 'ramping-vus', startVUs: 0, gracefulRampDown: '5s',
      stages: [{ duration: RAMP, target: VUS }, { duration: DURATION, target: VUS }, { duration: '5s', target: 0 }],
    },
  },
};
if (!scenarios[MODEL]) throw new Error(`MODEL must be open or closed, got ${MODEL}`);

export const options = {
  scenarios: scenarios[MODEL],
  discardResponseBodies: false,
  summaryTrendStats: ['avg', 'min', 'med', 'p(90)', 'p(95)', 'p(99)', 'max'],
  thresholds: MODEL === 'open'
    ? { unexpected: ['rate==0'], search_latency: ['p(95)<=30'] }
    : { unexpected: ['rate<0.01'] },
};

const searchLatency = new Trend('search_latency', true);
const keywordLatency = new Trend('keyword_latency', true);
const listLatency = new Trend('list_latency', true);
const nextPageLatency = new Trend('next_page_latency', true);
const searches = new Counter('searches');
const emptyResults = new Counter('empty_results');
const unexpected = new Rate('unexpected');

// What people type (the generator's vocabulary: crates/careers/src/samples.rs), with
// particles, mixed scripts and typos.
const KEYWORDS = [
  '백엔드', '백엔드 개발자', '백엔드 개발자를', '서버 개발자', 'Rust 백엔드', 'Java Spring', 'spring',
  '프론트엔드', 'React', 'react 개발자', 'TypeScript', 'Vue', '웹 퍼블리셔', 'iOS', '안드로이드 개발자',
  'Flutter', '데이터 엔지니어', '데이터 분석가를', 'Spark', 'Airflow', '머신러닝', 'AI 연구원', 'PyTorch',
  'MLOps', 'DevOps', 'kubernetes', 'kubernets', 'Terraform', 'SRE', '클라우드 엔지니어', '정보보안',
  '모의해킹', '게임 서버', 'Unity', '언리얼', '임베디드', '펌웨어', '자율주행', 'QA', '테스트 자동화',
  'Figma', '디자이너', '프로덕트 매니저', '기획자', '신입', '서울 신입', '판교 백엔드', '부산 개발자',
  '시니어', '인턴', '카카오', '네이버 검색', '토스', '당근', '쿠팡 데이터', 'Kafka', 'kafak', 'Redis',
  'PostgreSQL', 'postgre', 'Go 서버', 'gRPC', 'Node.js', 'Python 백엔드', 'Django', 'elasticsearch',
  '결제 플랫폼', '대용량 트래픽', '추천 모델', '모니터링',
];
const CATEGORIES = ['backend', 'frontend', 'mobile', 'data', 'ai', 'devops', 'security', 'game', 'embedded', 'qa', 'design', 'product'];
const LOCATIONS = ['서울', '판교', '부산', '대전', '대구', '광주', '수원', '제주'];
const SKILLS = ['java', 'spring', 'kotlin', 'rust', 'go', 'python', 'react', 'typescript', 'kubernetes', 'aws', 'kafka', 'redis', 'swift', 'pytorch', 'sql'];

const pick = (a) => a[Math.floor(Math.random() * a.length)];
const chance = (p) => Math.random() < p;
const enc = encodeURIComponent;

/// One search: returns [query string, kind].
function request() {
  const parts = [];
  const keyword = chance(0.75);
  if (keyword) parts.push(`q=${enc(pick(KEYWORDS))}`);
  if (chance(0.25)) parts.push(`category=${pick(CATEGORIES)}`);
  if (chance(0.3)) parts.push(`location=${enc(pick(LOCATIONS))}`);
  if (chance(0.15)) parts.push(`skills=${pick(SKILLS)}`);
  if (chance(0.1)) parts.push('newbie=true');
  if (chance(0.1)) parts.push(`experience=${1 + Math.floor(Math.random() * 8)}`);
  if (chance(0.03)) parts.push('open=false');
  const r = Math.random();
  if (r < 0.15) parts.push('sort=recent');
  else if (r < 0.25) parts.push('sort=deadline');
  parts.push(`limit=${pick([10, 20, 20, 30])}`);
  return [parts.join('&'), keyword ? 'keyword' : 'list'];
}

function get(query, trend) {
  const res = http.get(`${LIST}?${query}`, { tags: { name: 'postings' } });
  searches.add(1);
  searchLatency.add(res.timings.duration);
  trend.add(res.timings.duration);
  let body = null;
  if (res.status === 200) {
    try { body = res.json(); } catch (e) { body = null; }
  }
  const ok = body !== null && Array.isArray(body.items) && typeof body.total === 'number' && body.facets;
  unexpected.add(!ok);
  if (!ok) {
    console.warn(`GET ?${query}: ${res.status} ${String(res.body).slice(0, 200)}`);
    return null;
  }
  if (body.total === 0) emptyResults.add(1);
  return body;
}

// Per VU: the last answer's query and next_cursor. One iteration is one request, so
// the open model's rate is searches/s: one in five iterations turns the page of this
// VU's previous search instead of searching anew.
let previous = null;

export default function () {
  if (previous && chance(0.2)) {
    const [query, cursor] = previous;
    const body = get(`${query}&cursor=${enc(cursor)}`, nextPageLatency);
    previous = body && body.next_cursor ? [query, body.next_cursor] : null;
    return;
  }
  const [query, kind] = request();
  const body = get(query, kind === 'keyword' ? keywordLatency : listLatency);
  previous = body && body.next_cursor ? [query, body.next_cursor] : null;
}
