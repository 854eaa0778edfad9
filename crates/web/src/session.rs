//! The browser session. A browser signed in through the web app holds an ordinary
//! identity session (one refresh-token family): the access token and the refresh token
//! live in two HttpOnly, SameSite=Lax cookies on `/`. Logout, "log out everywhere",
//! a password change and deactivation revoke that family, and the next request finds
//! the access token revoked and the refresh token dead: the cookies are cleared.
//!
//! When the access token has expired, the middleware spends the refresh token once and
//! hands the new pair to any request of the same browser that raced it (a page and its
//! live stream): the first takes a short lock in the shared store, the others wait for
//! the pair it leaves there, so a rotation never looks like a replayed token (which
//! would revoke the family).
//!
//! CSRF: every unsafe request (POST/PUT/PATCH/DELETE) must carry a token, in the form
//! field `_csrf` or the `X-CSRF-Token` header (htmx sends it from `hx-headers` on the
//! body). The token is an HMAC of the session id (signed in) or of a random
//! per-browser cookie (signed out, for the sign-in and sign-up forms), so a page
//! on another site can neither read nor forge it. A missing or wrong token is a 403
//! page.

use std::time::Duration;

use axum::body::Body;
use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::{Digest, Sha256};
use surge_identity::service::TokenPair;
use surge_kernel::auth::AuthUser;

use crate::{errors, Web, WebState};

pub const ACCESS_COOKIE: &str = "surge_at";
pub const REFRESH_COOKIE: &str = "surge_rt";
pub const ANON_COOKIE: &str = "surge_anon";
pub const CSRF_FIELD: &str = "_csrf";
pub const CSRF_HEADER: &str = "x-csrf-token";
/// The largest form the middleware reads to find the CSRF field.
const MAX_FORM_BYTES: usize = 256 * 1024;
/// How long a refreshed pair is kept for the requests that raced its refresh.
const HANDOVER_TTL: Duration = Duration::from_secs(30);
const HANDOVER_WAIT: Duration = Duration::from_secs(3);

/// The signed-in person behind a request.
#[derive(Clone, Debug)]
pub struct Viewer {
    pub user: AuthUser,
    /// The access token (live streams end when it does).
    pub token: String,
}

/// What the middleware learned about a request; every page handler takes it.
#[derive(Clone, Debug)]
pub struct Ctx {
    pub viewer: Option<Viewer>,
    /// The CSRF token forms of this response must carry.
    pub csrf: String,
    /// The request's path and query (for "sign in, then come back").
    pub here: String,
    /// Client address (for identity's login throttling).
    pub ip: String,
}

impl Ctx {
    /// The viewer, or a redirect to the sign-in page that comes back here.
    pub fn signed_in(&self) -> Result<&Viewer, Response> {
        self.viewer.as_ref().ok_or_else(|| {
            let next =
                url::form_urlencoded::byte_serialize(self.here.as_bytes()).collect::<String>();
            Redirect::to(&format!("/login?next={next}")).into_response()
        })
    }

    pub fn is_admin(&self) -> bool {
        self.viewer.as_ref().is_some_and(|v| v.user.is_admin())
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Ctx {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parts.extensions.get::<Ctx>().cloned().ok_or_else(|| {
            errors::internal(anyhow::anyhow!("page route outside the session middleware"))
        })
    }
}

/// A cookie's value from the request headers.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
        .filter(|v| !v.is_empty())
}

fn set_cookie(web: &Web, name: &str, value: &str, max_age: Option<Duration>) -> HeaderValue {
    let secure = if web.cfg.secure_cookies {
        "; Secure"
    } else {
        ""
    };
    let age = max_age.map_or(String::new(), |a| format!("; Max-Age={}", a.as_secs()));
    HeaderValue::from_str(&format!(
        "{name}={value}; Path=/; HttpOnly; SameSite=Lax{secure}{age}"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static("surge_invalid=1; Path=/; Max-Age=0"))
}

/// The cookies that carry a new session (after sign-in or a refresh).
pub fn session_cookies(web: &Web, pair: &TokenPair) -> Vec<HeaderValue> {
    vec![
        set_cookie(web, ACCESS_COOKIE, &pair.access_token, None),
        set_cookie(
            web,
            REFRESH_COOKIE,
            &pair.refresh_token,
            Some(web.cfg.refresh_ttl),
        ),
    ]
}

/// The cookies that end the session in this browser.
pub fn cleared_cookies(web: &Web) -> Vec<HeaderValue> {
    vec![
        set_cookie(web, ACCESS_COOKIE, "", Some(Duration::ZERO)),
        set_cookie(web, REFRESH_COOKIE, "", Some(Duration::ZERO)),
    ]
}

/// The CSRF token for a binding (`s:<session>` or `a:<browser cookie>`).
fn csrf_for(web: &Web, binding: &str) -> String {
    let mac = <Hmac<Sha256> as Mac>::new_from_slice(&web.cfg.secret).map(|mut m| {
        m.update(b"surge-web-csrf:");
        m.update(binding.as_bytes());
        m.finalize().into_bytes()
    });
    match mac {
        Ok(bytes) => hex::encode(&bytes[..16]),
        // HMAC takes keys of any length; this cannot happen, and an empty token matches nothing.
        Err(_) => String::new(),
    }
}

fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && !a.is_empty()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

fn random_hex() -> String {
    let mut bytes = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// Spends `refresh` once for this browser: the first request refreshes, requests that
/// raced it get the pair it left in the shared store.
async fn refresh_once(web: &Web, refresh: &str) -> Option<TokenPair> {
    let h = hex::encode(Sha256::digest(refresh.as_bytes()));
    let done_key = format!("web:refreshed:{h}");
    let lock_key = format!("web:refreshing:{h}");
    let handed = |bytes: Vec<u8>| -> Option<TokenPair> {
        let s = String::from_utf8(bytes).ok()?;
        let (a, r) = s.split_once('\n')?;
        Some(TokenPair {
            access_token: a.to_owned(),
            refresh_token: r.to_owned(),
            token_type: "Bearer",
            expires_in: 0,
        })
    };
    if let Ok(Some(b)) = web.security.get(&done_key).await {
        return handed(b);
    }
    match web
        .security
        .set_if_absent(&lock_key, b"1", HANDOVER_WAIT * 2)
        .await
    {
        Ok(true) => match web.h.identity.refresh(refresh).await {
            Ok(pair) => {
                let v = format!("{}\n{}", pair.access_token, pair.refresh_token);
                if let Err(e) = web
                    .security
                    .set(&done_key, v.as_bytes(), HANDOVER_TTL)
                    .await
                {
                    tracing::warn!(error = ?e, "keeping a refreshed web session for racing requests failed");
                }
                Some(pair)
            }
            Err(_) => {
                let _ = web.security.delete(&lock_key).await;
                None
            }
        },
        Ok(false) => {
            let deadline = tokio::time::Instant::now() + HANDOVER_WAIT;
            while tokio::time::Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(20)).await;
                if let Ok(Some(b)) = web.security.get(&done_key).await {
                    return handed(b);
                }
            }
            None
        }
        Err(e) => {
            tracing::warn!(error = ?e, "the session store is unreachable; treating the browser as signed out");
            None
        }
    }
}

/// Who the cookies say this is; cookies to set or clear go to `set`.
async fn resolve(web: &Web, headers: &HeaderMap, set: &mut Vec<HeaderValue>) -> Option<Viewer> {
    let access = cookie(headers, ACCESS_COOKIE);
    let refresh = cookie(headers, REFRESH_COOKIE);
    if access.is_none() && refresh.is_none() {
        return None;
    }
    if let Some(at) = access {
        match web.h.identity.authenticate_token(at).await {
            Ok(user) => {
                return Some(Viewer {
                    user,
                    token: at.to_owned(),
                })
            }
            Err(e) if e.code == "token_expired" => {}
            Err(e) if e.status.is_server_error() => {
                tracing::warn!(code = e.code, "checking a web session failed");
                return None;
            }
            Err(_) => {
                set.extend(cleared_cookies(web));
                return None;
            }
        }
    }
    let fresh = match refresh {
        Some(rt) => refresh_once(web, rt).await,
        None => None,
    };
    let Some(pair) = fresh else {
        set.extend(cleared_cookies(web));
        return None;
    };
    match web.h.identity.authenticate_token(&pair.access_token).await {
        Ok(user) => {
            set.extend(session_cookies(web, &pair));
            Some(Viewer {
                user,
                token: pair.access_token,
            })
        }
        Err(_) => {
            set.extend(cleared_cookies(web));
            None
        }
    }
}

fn form_field(body: &[u8], name: &str) -> Option<String> {
    url::form_urlencoded::parse(body)
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// Resolves the session, checks CSRF on unsafe methods, and sets the cookies the
/// request changed. Pages are personal: none is stored by a shared cache.
pub async fn middleware(State(web): State<WebState>, req: Request, next: Next) -> Response {
    let mut set = Vec::new();
    let viewer = resolve(&web, req.headers(), &mut set).await;
    let anon = match cookie(req.headers(), ANON_COOKIE) {
        Some(v) if v.len() == 32 && v.bytes().all(|b| b.is_ascii_hexdigit()) => v.to_owned(),
        _ => {
            let v = random_hex();
            set.push(set_cookie(&web, ANON_COOKIE, &v, None));
            v
        }
    };
    let binding = match &viewer {
        Some(v) => format!("s:{}", v.user.session_id),
        None => format!("a:{anon}"),
    };
    let csrf = csrf_for(&web, &binding);
    let (mut parts, body) = req.into_parts();
    let here = parts
        .uri
        .path_and_query()
        .map_or_else(|| "/".to_owned(), |p| p.as_str().to_owned());
    let peer = parts
        .extensions
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|c| c.0);
    let ip = surge_kernel::extract::client_ip(&parts.headers, peer, web.cfg.trusted_proxy_hops);
    let unsafe_method = !matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS);
    let body = if unsafe_method {
        let bytes = match axum::body::to_bytes(body, MAX_FORM_BYTES).await {
            Ok(b) => b,
            Err(_) => return with_cookies(errors::too_large(), set),
        };
        let sent = parts
            .headers
            .get(CSRF_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
            .or_else(|| form_field(&bytes, CSRF_FIELD));
        if !sent.is_some_and(|s| same(&s, &csrf)) {
            return with_cookies(errors::csrf_refused(), set);
        }
        Body::from(bytes)
    } else {
        body
    };
    parts.extensions.insert(Ctx {
        viewer,
        csrf,
        here,
        ip,
    });
    let res = next.run(Request::from_parts(parts, body)).await;
    let mut res = with_cookies(res, set);
    res.headers_mut()
        .entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    res
}

fn with_cookies(mut res: Response, set: Vec<HeaderValue>) -> Response {
    for c in set {
        res.headers_mut().append(header::SET_COOKIE, c);
    }
    res
}
