// The web app's pages as signed-in people (k6). Each VU signs in once through the
// sign-in form (its cookie jar keeps the session) and then fetches the main pages in
// turn. Run through loadtest/pages.sh, which reads the server's own per-route times.
import http from "k6/http";
import { check, fail } from "k6";

const BASE = __ENV.BASE_URL || "http://127.0.0.1:8080";
const EMAIL = __ENV.EMAIL || "minji@surge.local";
const PASSWORD = __ENV.PASSWORD || "surge-demo-1234";

export const options = {
  scenarios: {
    pages: {
      executor: "constant-vus",
      vus: Number(__ENV.VUS || 8),
      duration: __ENV.DURATION || "20s",
    },
  },
  // One sign-in per VU: keep its cookies across iterations.
  noCookiesReset: true,
  thresholds: { checks: ["rate>0.99"] },
};

export function setup() {
  const shop = http.get(`${BASE}/shop`);
  const m = shop.body && shop.body.match(/\/shop\/products\/([0-9a-f-]{36})/);
  if (!m) fail("no product link on /shop: run `surge demo` first");
  return { product: m[1] };
}

let signedIn = false;

function signIn() {
  const form = http.get(`${BASE}/login`);
  const csrf = form.body.match(/name="_csrf" value="([0-9a-f]+)"/);
  if (!csrf) fail("no CSRF field on /login");
  const res = http.post(`${BASE}/login`, { _csrf: csrf[1], email: EMAIL, password: PASSWORD, next: "/me" },
    { redirects: 0 });
  if (res.status !== 303) fail(`sign-in answered ${res.status}`);
  signedIn = true;
}

export default function (data) {
  if (!signedIn) signIn();
  const pages = ["/", "/shop", "/shop?sort=price_asc", `/shop/products/${data.product}`,
    "/shop/orders", "/shop/coupons", "/notifications", "/me"];
  for (const p of pages) {
    const res = http.get(`${BASE}${p}`, { redirects: 0, tags: { page: p.split("?")[0] } });
    if (res.status !== 200 && __ENV.DEBUG) console.log(p, res.status);
    check(res, { "200 as a signed-in user": (r) => r.status === 200 });
  }
}
