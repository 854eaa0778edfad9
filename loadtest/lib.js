// What every k6 scenario here shares: the loopback-only base URL, positive-integer
// settings, JSON request params, a short form of a response for messages, and the
// setup step that signs up and logs in the scenario's users.
import http from 'k6/http';
import { fail } from 'k6';

// BASE_URL (default http://127.0.0.1:8080) without a trailing slash; anything but a
// loopback address is refused: load is only ever sent to this machine.
export function baseUrl() {
  const url = (__ENV.BASE_URL || 'http://127.0.0.1:8080').replace(/\/+$/, '');
  if (!/^https?:\/\/(127\.0\.0\.1|localhost|\[::1\])(:\d+)?$/.test(url)) {
    throw new Error(`BASE_URL must be a loopback address, got ${url}`);
  }
  return url;
}

// The env setting `name` as a positive integer, `dflt` when unset.
export function posInt(name, dflt) {
  const raw = __ENV[name];
  if (raw === undefined || raw === '') return dflt;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${name} must be a positive integer, got ${raw}`);
  return n;
}

export const JSON_HEADERS = { 'Content-Type': 'application/json' };
// Params of a request as `token`'s user, with `extra` headers.
export const auth = (token, extra) => ({
  headers: { ...JSON_HEADERS, Authorization: `Bearer ${token}`, ...(extra || {}) },
});
export const short = (res) => `${res.status} ${(res.body || res.error || '').toString().slice(0, 300)}`;

// The access token of an existing account (the admin); fails the run if refused.
export function logIn(api, email, password, what) {
  const res = http.post(`${api}/identity/login`, JSON.stringify({ email, password }), {
    headers: JSON_HEADERS,
    tags: { name: 'login' },
  });
  if (res.status !== 200) fail(`${what} login failed: ${short(res)}`);
  return res.json('access_token');
}

// Signs up and logs in `count` new users (`<tag>-<runId>-<i>@loadtest.surge.local`),
// `chunk` at a time: more than SURGE_LOGIN_MAX_FAILURES_PER_IP (30) logins in flight
// from one address are refused (attempts count before the password is checked), so
// keep `chunk` below it. Fails the run on any refusal. Returns their access tokens.
export function signUpAndLogIn(api, tag, runId, count, chunk) {
  const password = `k6-${runId}-password`;
  const email = (i) => `${tag}-${runId}-${i}@loadtest.surge.local`;
  const tokens = [];
  for (let start = 0; start < count; start += chunk) {
    const ids = [];
    for (let i = start; i < Math.min(count, start + chunk); i++) ids.push(i);
    http.batch(ids.map((i) => ({
      method: 'POST', url: `${api}/identity/signup`,
      body: JSON.stringify({ email: email(i), password, nickname: `${tag}${runId}-${i}` }),
      params: { headers: JSON_HEADERS, tags: { name: 'signup' } },
    }))).forEach((r, k) => { if (r.status !== 201) fail(`signup ${ids[k]}: ${short(r)}`); });
    http.batch(ids.map((i) => ({
      method: 'POST', url: `${api}/identity/login`,
      body: JSON.stringify({ email: email(i), password }),
      params: { headers: JSON_HEADERS, tags: { name: 'login' } },
    }))).forEach((r, k) => {
      if (r.status !== 200) fail(`login ${ids[k]}: ${short(r)}`);
      tokens.push(r.json('access_token'));
    });
  }
  return tokens;
}
