//! Identity's HTTP routes under `/api/v1/identity`.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, patch, post};
use axum::Router;
use serde::{Deserialize, Serialize};
use surge_kernel::auth::{AdminUser, AuthUser, Role};
use surge_kernel::error::Problem;
use surge_kernel::extract::{Json, Path, Query};
use surge_kernel::idempotency::{self, Idempotency};
use surge_kernel::page::{Page, PageQuery};
use surge_kernel::ApiError;
use utoipa::{IntoParams, OpenApi, ToSchema};
use uuid::Uuid;

use crate::domain::{Email, InvalidInput, Nickname, Password, PasswordReplacement, Signup};
use crate::oauth::OAuth;
use crate::service::{IdentityService, TokenPair, UserView};

pub const REFRESH_COOKIE: &str = "surge_refresh";
/// Binds an OAuth login to the browser that started it (holds the login's state).
pub const OAUTH_STATE_COOKIE: &str = "surge_oauth_state";
/// As long as the login state itself lives.
const OAUTH_STATE_MAX_AGE: u64 = 10 * 60;
/// Longest state value looked up (ours are 43 characters).
const OAUTH_STATE_MAX_LEN: usize = 128;

pub struct IdentityState {
    pub svc: Arc<IdentityService>,
    pub oauth: OAuth,
    /// How many proxies in front of us append to `X-Forwarded-For`; 0: ignore the header.
    pub trusted_proxy_hops: usize,
}

type St = State<Arc<IdentityState>>;

pub fn router(state: Arc<IdentityState>, idem: Idempotency) -> Router {
    let signup =
        Router::new()
            .route("/signup", post(signup))
            .layer(axum::middleware::from_fn_with_state(
                idem,
                idempotency::layer,
            ));
    let routes = Router::new()
        .route("/login", post(login))
        .route("/token/refresh", post(refresh))
        .route("/logout", post(logout))
        .route("/logout-all", post(logout_all))
        .route("/me", get(me).patch(update_me).delete(deactivate_me))
        .route("/me/password", post(change_password))
        .route("/nicknames/{nickname}", get(nickname))
        .route("/admin/users", get(admin_list))
        .route("/admin/users/{id}", patch(admin_update))
        .route("/oauth/providers", get(oauth_providers))
        .route("/oauth/{provider}/authorize", get(oauth_authorize))
        .route("/oauth/{provider}/callback", get(oauth_callback))
        .merge(signup)
        .with_state(state);
    Router::new().nest("/api/v1/identity", routes)
}

#[derive(OpenApi)]
#[openapi(
    paths(
        signup, login, refresh, logout, logout_all, me, update_me, deactivate_me,
        change_password, nickname, admin_list, admin_update, oauth_providers,
        oauth_authorize, oauth_callback
    ),
    components(schemas(
        SignupRequest, LoginRequest, RefreshRequest, UpdateMeRequest, PasswordChange, DeactivateRequest,
        AdminUpdate, NicknameAvailability, UserView, TokenPair, Problem, Role
    )),
    tags((name = "identity", description = "Accounts, login, tokens, sessions and roles"))
)]
pub struct IdentityApi;

#[derive(Deserialize, ToSchema)]
pub struct SignupRequest {
    #[schema(example = "kim@example.com")]
    email: String,
    #[schema(example = "correct-horse-battery")]
    password: String,
    #[schema(example = "김서울")]
    nickname: String,
}

impl SignupRequest {
    /// Checked in this order: email, nickname, password.
    pub fn try_into_domain(self) -> Result<Signup, InvalidInput> {
        Ok(Signup {
            email: Email::parse(&self.email)?,
            nickname: Nickname::parse(&self.nickname)?,
            password: Password::parse(&self.password)?,
        })
    }
}

/// Not parsed into domain values: a login answers every malformed email or password
/// with `invalid_credentials` (after counting the attempt), never with a 422 that
/// would tell a guesser which rule the input broke.
#[derive(Deserialize, ToSchema)]
pub struct LoginRequest {
    email: String,
    password: String,
}

#[derive(Deserialize, ToSchema)]
pub struct RefreshRequest {
    /// Optional when the `surge_refresh` cookie is sent.
    refresh_token: Option<String>,
}

#[derive(Deserialize, ToSchema)]
pub struct UpdateMeRequest {
    nickname: String,
}

impl UpdateMeRequest {
    pub fn try_into_domain(self) -> Result<Nickname, InvalidInput> {
        Nickname::parse(&self.nickname)
    }
}

#[derive(Deserialize, ToSchema)]
pub struct PasswordChange {
    /// Not needed by accounts that only ever logged in with OAuth.
    #[serde(default)]
    current_password: String,
    new_password: String,
}

impl PasswordChange {
    pub fn try_into_domain(self) -> Result<PasswordReplacement, InvalidInput> {
        Ok(PasswordReplacement {
            new: Password::parse(&self.new_password)?,
            current: self.current_password,
        })
    }
}

/// A rule an input broke: 422 with the rule's code (`invalid_email` ...).
impl From<InvalidInput> for ApiError {
    fn from(e: InvalidInput) -> Self {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, e.code(), e.to_string())
    }
}

#[derive(Default, Deserialize, ToSchema)]
pub struct DeactivateRequest {
    /// The current password.
    #[serde(default)]
    password: String,
}

#[derive(Deserialize, ToSchema)]
pub struct AdminUpdate {
    role: Option<Role>,
    active: Option<bool>,
}

#[derive(Serialize, ToSchema)]
pub struct NicknameAvailability {
    nickname: String,
    available: bool,
}

#[derive(Deserialize, IntoParams)]
pub struct UserSearch {
    /// Part of an email or nickname.
    q: Option<String>,
}

#[derive(Deserialize, IntoParams)]
pub struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
}

/// Creates an account.
#[utoipa::path(post, path = "/api/v1/identity/signup", tag = "identity",
    request_body = SignupRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "replays the first response")),
    responses(
        (status = 201, body = UserView),
        (status = 409, description = "`email_taken` or `nickname_taken`; `idempotency_in_progress`", body = Problem),
        (status = 422, description = "`invalid_email`, `invalid_nickname`, `invalid_password`", body = Problem)))]
async fn signup(State(s): St, Json(req): Json<SignupRequest>) -> Result<Response, ApiError> {
    let user = s.svc.signup(&req.try_into_domain()?).await?;
    Ok((StatusCode::CREATED, Json(user)).into_response())
}

pub(crate) use surge_kernel::extract::{client_ip, Peer};

fn refresh_cookie(s: &IdentityState, token: &str, max_age: u64) -> HeaderValue {
    let secure = if s.svc.cfg.secure_cookies {
        "; Secure"
    } else {
        ""
    };
    let v = format!(
        "{REFRESH_COOKIE}={token}; HttpOnly{secure}; SameSite=Strict; Path=/api/v1/identity; Max-Age={max_age}"
    );
    HeaderValue::from_str(&v).unwrap_or_else(|_| HeaderValue::from_static(""))
}

fn with_tokens(s: &IdentityState, pair: TokenPair) -> Response {
    let cookie = refresh_cookie(s, &pair.refresh_token, s.svc.cfg.refresh_ttl.as_secs());
    let mut res = Json(pair).into_response();
    res.headers_mut().insert(header::SET_COOKIE, cookie);
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

/// Logs in with email and password.
#[utoipa::path(post, path = "/api/v1/identity/login", tag = "identity", request_body = LoginRequest,
    responses(
        (status = 200, body = TokenPair, description = "also sets the refresh cookie"),
        (status = 401, description = "`invalid_credentials`", body = Problem),
        (status = 429, description = "`rate_limited`, with Retry-After", body = Problem)))]
async fn login(
    State(s): St,
    Peer(peer): Peer,
    headers: HeaderMap,
    Json(req): Json<LoginRequest>,
) -> Result<Response, ApiError> {
    let ip = client_ip(&headers, peer, s.trusted_proxy_hops);
    let pair = s.svc.login(&req.email, &req.password, &ip).await?;
    Ok(with_tokens(&s, pair))
}

fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
}

fn cookie_token(headers: &HeaderMap) -> Option<String> {
    cookie(headers, REFRESH_COOKIE)
}

/// `Lax`, not `Strict`: the provider's redirect back is a cross-site navigation, on
/// which browsers send only `Lax` cookies.
fn oauth_state_cookie(s: &IdentityState, state: &str, max_age: u64) -> HeaderValue {
    let secure = if s.svc.cfg.secure_cookies {
        "; Secure"
    } else {
        ""
    };
    let v = format!(
        "{OAUTH_STATE_COOKIE}={state}; HttpOnly{secure}; SameSite=Lax; Path=/api/v1/identity/oauth; Max-Age={max_age}"
    );
    HeaderValue::from_str(&v).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// Spends a refresh token for a new pair. A token used twice revokes its whole session.
#[utoipa::path(post, path = "/api/v1/identity/token/refresh", tag = "identity",
    request_body(content = Option<RefreshRequest>, description = "or send the refresh cookie"),
    responses(
        (status = 200, body = TokenPair),
        (status = 401, description = "`invalid_refresh_token`, `refresh_reused`, `refresh_expired`", body = Problem)))]
async fn refresh(State(s): St, headers: HeaderMap, body: Bytes) -> Result<Response, ApiError> {
    let from_body = if body.iter().all(u8::is_ascii_whitespace) {
        None
    } else {
        let req: RefreshRequest = serde_json::from_slice(&body)
            .map_err(|e| ApiError::bad_request("malformed_json", e.to_string()))?;
        req.refresh_token
    };
    let token = from_body
        .or_else(|| cookie_token(&headers))
        .ok_or_else(|| {
            ApiError::unauthorized("invalid_refresh_token", "no refresh token was sent")
        })?;
    let pair = s.svc.refresh(&token).await?;
    Ok(with_tokens(&s, pair))
}

fn signed_out(s: &IdentityState) -> Response {
    let mut res = StatusCode::NO_CONTENT.into_response();
    res.headers_mut()
        .insert(header::SET_COOKIE, refresh_cookie(s, "", 0));
    res
}

/// Ends this session: its refresh tokens and access tokens stop working.
#[utoipa::path(post, path = "/api/v1/identity/logout", tag = "identity",
    security(("bearer" = [])), responses((status = 204)))]
async fn logout(State(s): St, who: AuthUser) -> Result<Response, ApiError> {
    s.svc.logout(&who).await?;
    Ok(signed_out(&s))
}

/// Ends every session of the caller.
#[utoipa::path(post, path = "/api/v1/identity/logout-all", tag = "identity",
    security(("bearer" = [])), responses((status = 204)))]
async fn logout_all(State(s): St, who: AuthUser) -> Result<Response, ApiError> {
    s.svc.revoke_sessions(who.id, None).await?;
    Ok(signed_out(&s))
}

/// The caller's account.
#[utoipa::path(get, path = "/api/v1/identity/me", tag = "identity",
    security(("bearer" = [])), responses((status = 200, body = UserView), (status = 401, body = Problem)))]
async fn me(State(s): St, who: AuthUser) -> Result<Json<UserView>, ApiError> {
    Ok(Json(s.svc.me(&who).await?))
}

/// Changes the caller's nickname.
#[utoipa::path(patch, path = "/api/v1/identity/me", tag = "identity", request_body = UpdateMeRequest,
    security(("bearer" = [])),
    responses((status = 200, body = UserView), (status = 409, description = "`nickname_taken`", body = Problem),
        (status = 422, description = "`invalid_nickname`", body = Problem)))]
async fn update_me(
    State(s): St,
    who: AuthUser,
    Json(req): Json<UpdateMeRequest>,
) -> Result<Json<UserView>, ApiError> {
    let nickname = req.try_into_domain()?;
    Ok(Json(s.svc.change_nickname(&who, &nickname).await?))
}

/// Deactivates the caller's account and ends all its sessions. Needs the current
/// password (accounts that only use OAuth have none and send none).
#[utoipa::path(delete, path = "/api/v1/identity/me", tag = "identity",
    request_body(content = Option<DeactivateRequest>),
    security(("bearer" = [])),
    responses((status = 204), (status = 401, description = "`wrong_password`", body = Problem),
        (status = 429, description = "`rate_limited`", body = Problem)))]
async fn deactivate_me(State(s): St, who: AuthUser, body: Bytes) -> Result<Response, ApiError> {
    let req: DeactivateRequest = if body.iter().all(u8::is_ascii_whitespace) {
        DeactivateRequest::default()
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| ApiError::bad_request("malformed_json", e.to_string()))?
    };
    s.svc.deactivate_self(&who, &req.password).await?;
    Ok(signed_out(&s))
}

/// Changes the password (needs the current one) and ends every other session.
#[utoipa::path(post, path = "/api/v1/identity/me/password", tag = "identity", request_body = PasswordChange,
    security(("bearer" = [])),
    responses((status = 204), (status = 401, description = "`wrong_password`", body = Problem),
        (status = 422, description = "`invalid_password`", body = Problem),
        (status = 429, description = "`rate_limited`", body = Problem)))]
async fn change_password(
    State(s): St,
    who: AuthUser,
    Json(req): Json<PasswordChange>,
) -> Result<StatusCode, ApiError> {
    s.svc.change_password(&who, &req.try_into_domain()?).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Whether a nickname is free.
#[utoipa::path(get, path = "/api/v1/identity/nicknames/{nickname}", tag = "identity",
    params(("nickname" = String, Path)),
    responses((status = 200, body = NicknameAvailability), (status = 422, description = "`invalid_nickname`", body = Problem)))]
async fn nickname(
    State(s): St,
    Path(nickname): Path<String>,
) -> Result<Json<NicknameAvailability>, ApiError> {
    let nickname = Nickname::parse(&nickname)?;
    let available = s.svc.nickname_free(&nickname).await?;
    Ok(Json(NicknameAvailability {
        nickname: nickname.as_str().to_owned(),
        available,
    }))
}

/// Lists users (admins only).
#[utoipa::path(get, path = "/api/v1/identity/admin/users", tag = "identity",
    params(PageQuery, UserSearch), security(("bearer" = ["ADMIN"])),
    responses((status = 200, body = Page<UserView>)))]
async fn admin_list(
    State(s): St,
    _admin: AdminUser,
    Query(page): Query<PageQuery>,
    Query(search): Query<UserSearch>,
) -> Result<Json<Page<UserView>>, ApiError> {
    Ok(Json(s.svc.list_users(&page, search.q.as_deref()).await?))
}

/// Changes a user's role or active flag (admins only).
#[utoipa::path(patch, path = "/api/v1/identity/admin/users/{id}", tag = "identity",
    request_body = AdminUpdate, params(("id" = Uuid, Path)), security(("bearer" = ["ADMIN"])),
    responses((status = 200, body = UserView), (status = 404, description = "`not_found`", body = Problem),
        (status = 409, description = "`cannot_demote_self`", body = Problem)))]
async fn admin_update(
    State(s): St,
    AdminUser(admin): AdminUser,
    Path(id): Path<Uuid>,
    Json(req): Json<AdminUpdate>,
) -> Result<Json<UserView>, ApiError> {
    Ok(Json(
        s.svc.admin_update(&admin, id, req.role, req.active).await?,
    ))
}

/// The OAuth providers this server is configured for.
#[utoipa::path(get, path = "/api/v1/identity/oauth/providers", tag = "identity",
    responses((status = 200, body = Vec<String>)))]
async fn oauth_providers(State(s): St) -> Json<Vec<String>> {
    let mut names = s.oauth.names();
    names.sort();
    Json(names)
}

/// Starts an OAuth login: redirects to the provider (PKCE S256, one-time state) and
/// sets a short-lived cookie binding the login to this browser.
#[utoipa::path(get, path = "/api/v1/identity/oauth/{provider}/authorize", tag = "identity",
    params(("provider" = String, Path, description = "kakao, github or intra42")),
    responses((status = 303, description = "redirect to the provider; sets `surge_oauth_state`"),
        (status = 404, description = "`unknown_provider`", body = Problem),
        (status = 429, description = "`rate_limited`: too many logins started from this address", body = Problem)))]
async fn oauth_authorize(
    State(s): St,
    Path(provider): Path<String>,
    Peer(peer): Peer,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    s.svc
        .count_oauth_start(&client_ip(&headers, peer, s.trusted_proxy_hops))
        .await?;
    let to = s.oauth.authorize_url(&provider).await?;
    let state = url::Url::parse(&to)
        .ok()
        .and_then(|u| {
            u.query_pairs()
                .find(|(k, _)| k == "state")
                .map(|(_, v)| v.into_owned())
        })
        .ok_or_else(|| ApiError::internal(anyhow::anyhow!("authorize URL without a state")))?;
    let mut res = Redirect::to(&to).into_response();
    res.headers_mut().append(
        header::SET_COOKIE,
        oauth_state_cookie(&s, &state, OAUTH_STATE_MAX_AGE),
    );
    Ok(res)
}

/// Where the provider sends the browser back; answers with tokens (and the cookie).
#[utoipa::path(get, path = "/api/v1/identity/oauth/{provider}/callback", tag = "identity",
    params(("provider" = String, Path), CallbackQuery),
    responses((status = 200, body = TokenPair),
        (status = 400, description = "`oauth_denied`, `invalid_oauth_callback`, `invalid_oauth_state`, `oauth_code_rejected`", body = Problem),
        (status = 403, description = "`account_deactivated`", body = Problem),
        (status = 404, description = "`unknown_provider`", body = Problem),
        (status = 409, description = "`nickname_taken` (no free nickname for a new account)", body = Problem),
        (status = 502, description = "`oauth_provider_error`", body = Problem)))]
async fn oauth_callback(
    State(s): St,
    Path(provider): Path<String>,
    Query(q): Query<CallbackQuery>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    if let Some(err) = q.error {
        return Err(ApiError::bad_request(
            "oauth_denied",
            format!("the provider did not authorize the login: {err}"),
        ));
    }
    let (Some(code), Some(state)) = (q.code, q.state) else {
        return Err(ApiError::bad_request(
            "invalid_oauth_callback",
            "code and state are required",
        ));
    };
    // Login CSRF: a state from a login someone else started (in their browser) is
    // refused, so nobody can sign a victim into the attacker's account.
    if state.len() > OAUTH_STATE_MAX_LEN
        || cookie(&headers, OAUTH_STATE_COOKIE).as_deref() != Some(state.as_str())
    {
        return Err(ApiError::bad_request(
            "invalid_oauth_state",
            "this login was not started in this browser (or its cookie expired); start the login again",
        ));
    }
    let profile = s.oauth.complete(&provider, &code, &state).await?;
    let pair = s.svc.oauth_login(&provider, &profile).await?;
    let mut res = with_tokens(&s, pair);
    res.headers_mut()
        .append(header::SET_COOKIE, oauth_state_cookie(&s, "", 0));
    Ok(res)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::SocketAddr;

    fn xff(values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append(
                "x-forwarded-for",
                HeaderValue::from_str(v).unwrap_or(HeaderValue::from_static("")),
            );
        }
        h
    }

    #[test]
    fn the_client_is_the_entry_our_proxies_wrote() {
        let peer = Some(SocketAddr::from(([10, 0, 0, 9], 4000)));
        // The client forged "1.1.1.1"; our one proxy appended what it saw.
        let h = xff(&["1.1.1.1, 203.0.113.7"]);
        assert_eq!(client_ip(&h, peer, 1), "203.0.113.7");
        assert_eq!(client_ip(&h, peer, 0), "10.0.0.9", "not trusted: the peer");
        // Two proxies: the second appended the first's address.
        let h = xff(&["1.1.1.1, 203.0.113.7", "10.0.0.2"]);
        assert_eq!(client_ip(&h, peer, 2), "203.0.113.7");
        assert_eq!(client_ip(&xff(&["garbage"]), peer, 1), "10.0.0.9");
        assert_eq!(client_ip(&HeaderMap::new(), peer, 1), "10.0.0.9");
    }
}
