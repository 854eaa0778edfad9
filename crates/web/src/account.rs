//! Account pages: the home page, sign up, sign in, sign out, and the profile
//! (nickname). Sign-up signs the new account in at once.

use axum::extract::{Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use maud::html;
use serde::Deserialize;
use surge_identity::domain::{Email, Nickname, Password, Signup};
use surge_identity::service::TokenPair;
use surge_kernel::ApiError;

use crate::messages::{field_of, korean};
use crate::page::{self, alert, csrf, field, render, render_with};
use crate::session::{cleared_cookies, session_cookies, Ctx};
use crate::{Web, WebState};

pub fn routes() -> Router<WebState> {
    Router::new()
        .route("/", get(home))
        .route("/signup", get(signup_form).post(signup))
        .route("/login", get(login_form).post(login))
        .route("/logout", post(logout))
        .route("/me", get(me))
        .route("/me/nickname", post(nickname))
}

async fn home(State(web): State<WebState>, ctx: Ctx) -> Response {
    let body = html! {
        p.lead { "쇼핑, 항공권, 같이 밥 먹을 사람까지. 한곳에서." }
        ul.cards {
            @if web.h.shop.is_some() {
                li.card {
                    h2 { a href="/shop" { "쇼핑" } }
                    p { "선착순 특가와 쿠폰, 재고는 실시간으로." }
                }
            }
        }
        @if ctx.viewer.is_none() {
            p { a.button href="/signup" { "회원가입" } " " a href="/login" { "로그인" } }
        }
    };
    render(&web, &ctx, "Surge", body).await
}

/// Only local paths may be a `next`: never another site.
fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n) if n.starts_with('/') && !n.starts_with("//") && !n.contains('\\') => n.to_owned(),
        _ => "/".to_owned(),
    }
}

/// Redirect (303) after a successful form, with the new session's cookies.
fn signed_in_redirect(web: &Web, pair: &TokenPair, to: &str) -> Response {
    let mut res = Redirect::to(to).into_response();
    for c in session_cookies(web, pair) {
        res.headers_mut().append(header::SET_COOKIE, c);
    }
    res
}

#[derive(Deserialize, Default)]
pub struct SignupForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    nickname: String,
    #[serde(default)]
    password: String,
}

async fn signup_page(
    web: &Web,
    ctx: &Ctx,
    status: StatusCode,
    f: &SignupForm,
    err: Option<&ApiError>,
) -> Response {
    let on = |name: &str| {
        err.filter(|e| field_of(e.code) == Some(name))
            .map(|e| korean(e.code))
    };
    let general = err
        .filter(|e| field_of(e.code).is_none())
        .map(|e| korean(e.code));
    let body = html! {
        form.card method="post" action="/signup" novalidate {
            (csrf(ctx))
            (alert(general))
            (field("이메일", "email", "email", &f.email, on("email"), "email"))
            (field("닉네임", "nickname", "text", &f.nickname, on("nickname"), "nickname"))
            (field("비밀번호 (8자 이상)", "password", "password", "", on("password"), "new-password"))
            button type="submit" { "가입하기" }
        }
        p { "이미 계정이 있나요? " a href="/login" { "로그인" } }
    };
    render_with(web, ctx, status, "회원가입", body).await
}

async fn signup_form(State(web): State<WebState>, ctx: Ctx) -> Response {
    signup_page(&web, &ctx, StatusCode::OK, &SignupForm::default(), None).await
}

fn parse_signup(f: &SignupForm) -> Result<Signup, ApiError> {
    let bad = |e: surge_identity::domain::InvalidInput| {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, e.code(), e.to_string())
    };
    Ok(Signup {
        email: Email::parse(&f.email).map_err(bad)?,
        nickname: Nickname::parse(&f.nickname).map_err(bad)?,
        password: Password::parse(&f.password).map_err(bad)?,
    })
}

async fn signup(State(web): State<WebState>, ctx: Ctx, Form(f): Form<SignupForm>) -> Response {
    let result = async {
        let new = parse_signup(&f)?;
        let user = web.h.identity.signup(&new).await?;
        web.h.identity.sign_in(user.id).await
    }
    .await;
    match result {
        Ok(pair) => signed_in_redirect(&web, &pair, "/"),
        Err(e) if e.status.is_server_error() => page::error(&web, &ctx, e).await,
        Err(e) => signup_page(&web, &ctx, e.status, &f, Some(&e)).await,
    }
}

#[derive(Deserialize, Default)]
pub struct LoginForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
    next: Option<String>,
}

#[derive(Deserialize)]
pub struct NextQuery {
    next: Option<String>,
}

async fn login_page(
    web: &Web,
    ctx: &Ctx,
    status: StatusCode,
    f: &LoginForm,
    err: Option<&ApiError>,
) -> Response {
    let next = safe_next(f.next.as_deref());
    let body = html! {
        form.card method="post" action="/login" novalidate {
            (csrf(ctx))
            input type="hidden" name="next" value=(next);
            (alert(err.map(|e| korean(e.code))))
            (field("이메일", "email", "email", &f.email, None, "email"))
            (field("비밀번호", "password", "password", "", None, "current-password"))
            button type="submit" { "로그인" }
        }
        p { "처음인가요? " a href="/signup" { "회원가입" } }
    };
    render_with(web, ctx, status, "로그인", body).await
}

async fn login_form(State(web): State<WebState>, ctx: Ctx, Query(q): Query<NextQuery>) -> Response {
    let f = LoginForm {
        next: q.next,
        ..LoginForm::default()
    };
    login_page(&web, &ctx, StatusCode::OK, &f, None).await
}

async fn login(State(web): State<WebState>, ctx: Ctx, Form(f): Form<LoginForm>) -> Response {
    match web.h.identity.login(&f.email, &f.password, &ctx.ip).await {
        Ok(pair) => signed_in_redirect(&web, &pair, &safe_next(f.next.as_deref())),
        Err(e) if e.status.is_server_error() => page::error(&web, &ctx, e).await,
        Err(e) => login_page(&web, &ctx, e.status, &f, Some(&e)).await,
    }
}

async fn logout(State(web): State<WebState>, ctx: Ctx) -> Response {
    if let Some(v) = &ctx.viewer {
        if let Err(e) = web.h.identity.logout(&v.user).await {
            return page::error(&web, &ctx, e).await;
        }
    }
    let mut res = Redirect::to("/").into_response();
    for c in cleared_cookies(&web) {
        res.headers_mut().append(header::SET_COOKIE, c);
    }
    res
}

async fn profile_page(
    web: &Web,
    ctx: &Ctx,
    status: StatusCode,
    typed: Option<&str>,
    err: Option<&ApiError>,
    saved: bool,
) -> Response {
    let Some(v) = &ctx.viewer else {
        return Redirect::to("/login?next=/me").into_response();
    };
    let me = match web.h.identity.me(&v.user).await {
        Ok(m) => m,
        Err(e) => return page::error(web, ctx, e).await,
    };
    let nick = typed.unwrap_or(&me.nickname);
    let body = html! {
        dl.facts {
            dt { "이메일" } dd { (me.email) }
            dt { "권한" } dd { (me.role.as_str()) }
            dt { "가입일" } dd { (page::when(&me.created_at)) }
        }
        form.card method="post" action="/me/nickname" novalidate {
            (csrf(ctx))
            @if saved { p.notice role="status" { "닉네임을 바꿨습니다." } }
            (field("닉네임", "nickname", "text", nick, err.map(|e| korean(e.code)), "nickname"))
            button type="submit" { "저장" }
        }
    };
    render_with(web, ctx, status, "내 정보", body).await
}

#[derive(Deserialize)]
pub struct Saved {
    saved: Option<String>,
}

async fn me(State(web): State<WebState>, ctx: Ctx, Query(q): Query<Saved>) -> Response {
    if let Err(r) = ctx.signed_in() {
        return r;
    }
    profile_page(&web, &ctx, StatusCode::OK, None, None, q.saved.is_some()).await
}

#[derive(Deserialize)]
pub struct NicknameForm {
    #[serde(default)]
    nickname: String,
}

async fn nickname(State(web): State<WebState>, ctx: Ctx, Form(f): Form<NicknameForm>) -> Response {
    let v = match ctx.signed_in() {
        Ok(v) => v.clone(),
        Err(r) => return r,
    };
    let result = async {
        let n = Nickname::parse(&f.nickname).map_err(|e| {
            ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, e.code(), e.to_string())
        })?;
        web.h.identity.change_nickname(&v.user, &n).await
    }
    .await;
    match result {
        Ok(_) => Redirect::to("/me?saved=1").into_response(),
        Err(e) if e.status.is_server_error() => page::error(&web, &ctx, e).await,
        Err(e) => profile_page(&web, &ctx, e.status, Some(&f.nickname), Some(&e), false).await,
    }
}
