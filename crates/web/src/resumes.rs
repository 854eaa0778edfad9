//! Resume pages: the community of shared resumes (position filter, sort), my resumes,
//! asking for a new one (written in the background: the page refreshes itself while
//! the writer works), a resume with its sections, likes, sharing and comments.

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use maud::{html, Markup};
use serde::Deserialize;
use surge_kernel::page::PageQuery;
use surge_kernel::views::Viewer;
use surge_kernel::ApiError;
use surge_resumes::browse::{Filter, Sort};
use surge_resumes::domain::{Position, ResumeStatus, SchoolType, Visibility};
use surge_resumes::likes::Want;
use surge_resumes::resumes::{ResumeCard, ResumeView};
use surge_resumes::CreateBody;
use uuid::Uuid;

use crate::messages::korean;
use crate::page::{self, alert, csrf, render, when};
use crate::session::Ctx;
use crate::WebState;

pub fn routes() -> Router<WebState> {
    Router::new()
        .route("/resumes", get(community).post(create))
        .route("/resumes/mine", get(mine))
        .route("/resumes/new", get(new_form))
        .route("/resumes/{id}", get(show))
        .route("/resumes/{id}/like", post(like))
        .route("/resumes/{id}/visibility", post(share))
        .route("/resumes/{id}/comments", post(comment))
}

/// An enum from its wire name (`BACKEND`), as the JSON API spells it.
fn wire<T: serde::de::DeserializeOwned>(s: &str) -> Option<T> {
    serde_json::from_value(serde_json::Value::String(s.to_owned())).ok()
}

fn wire_name<T: serde::Serialize>(v: T) -> String {
    serde_json::to_value(v)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

const POSITIONS: [Position; 10] = [
    Position::Backend,
    Position::Frontend,
    Position::Fullstack,
    Position::Mobile,
    Position::Data,
    Position::Ai,
    Position::Devops,
    Position::Security,
    Position::Game,
    Position::Embedded,
];
const SCHOOLS: [SchoolType; 6] = [
    SchoolType::HighSchool,
    SchoolType::Associate,
    SchoolType::Bachelor,
    SchoolType::Graduate,
    SchoolType::Bootcamp,
    SchoolType::SelfTaught,
];

fn status_label(s: ResumeStatus) -> &'static str {
    match s {
        ResumeStatus::Generating => "작성 중",
        ResumeStatus::Editing => "수정 중",
        ResumeStatus::Ready => "완성",
        ResumeStatus::Failed => "실패",
    }
}

fn writer_label(writer: &str, ai: bool) -> String {
    match writer {
        "template" => "자동 템플릿 (AI 아님)".into(),
        "owner" => "직접 작성".into(),
        "" => String::new(),
        w if ai => format!("AI 작성 ({})", w.trim_start_matches("model:")),
        w => w.to_owned(),
    }
}

fn card(c: &ResumeCard) -> Markup {
    html! {
        li.card {
            h2 { a href={ "/resumes/" (c.id) } { (c.owner) " · " (c.position.korean()) " 개발자" } }
            @if let Some(s) = c.school_type { p { span.tag { (s.korean()) } } }
            @if c.status != ResumeStatus::Ready { p { span.tag { (status_label(c.status)) } } }
            p { (c.summary) }
            @if !c.skills.is_empty() {
                p { @for s in &c.skills { span.tag { (s) } " " } }
            }
            p.muted { "좋아요 " (c.likes) " · 댓글 " (c.comments) " · 조회 " (c.views) }
        }
    }
}

#[derive(Deserialize, Default)]
pub struct ListQuery {
    position: Option<String>,
    sort: Option<String>,
    cursor: Option<String>,
}

/// The shared resumes.
async fn community(State(web): State<WebState>, ctx: Ctx, Query(q): Query<ListQuery>) -> Response {
    let Some(r) = &web.h.resumes else {
        return page::not_found(None);
    };
    let position: Option<Position> = q.position.as_deref().and_then(wire);
    let sort = match q.sort.as_deref() {
        Some("likes") => Sort::Likes,
        Some("views") => Sort::Views,
        _ => Sort::Recent,
    };
    let f = Filter {
        position,
        sort,
        ..Default::default()
    };
    let pq = PageQuery {
        cursor: q.cursor.clone().filter(|c| !c.is_empty()),
        limit: Some(20),
    };
    let listed = match r.browse.list(&f, &pq).await {
        Ok(p) => p,
        Err(e) => return page::error(&web, &ctx, e).await,
    };
    let sort_name = q.sort.as_deref().unwrap_or("recent");
    let body = html! {
        @if ctx.viewer.is_some() {
            p { a href="/resumes/new" { "새 이력서 만들기" } " · " a href="/resumes/mine" { "내 이력서" } }
        }
        form.filters method="get" action="/resumes" {
            div.field {
                label for="position" { "직무" }
                select #position name="position" {
                    option value="" selected[position.is_none()] { "전체" }
                    @for p in POSITIONS {
                        option value=(wire_name(p)) selected[position == Some(p)] { (p.korean()) }
                    }
                }
            }
            div.field {
                label for="sort" { "정렬" }
                select #sort name="sort" {
                    option value="recent" selected[sort_name == "recent"] { "최신순" }
                    option value="likes" selected[sort_name == "likes"] { "좋아요순" }
                    option value="views" selected[sort_name == "views"] { "조회순" }
                }
            }
            button type="submit" { "보기" }
        }
        @if listed.items.is_empty() {
            p.empty { "공개된 이력서가 아직 없습니다." }
        }
        ul.cards { @for c in &listed.items { (card(c)) } }
        @if let Some(c) = &listed.next_cursor {
            p { a href={ "/resumes?cursor=" (c) "&sort=" (sort_name) "&position=" (q.position.as_deref().unwrap_or("")) } { "더 보기" } }
        }
    };
    render(&web, &ctx, "이력서 커뮤니티", body).await
}

async fn mine(State(web): State<WebState>, ctx: Ctx, Query(pq): Query<PageQuery>) -> Response {
    let v = match ctx.signed_in() {
        Ok(v) => v.clone(),
        Err(r) => return r,
    };
    let Some(r) = &web.h.resumes else {
        return page::not_found(None);
    };
    let listed = match r.resumes.mine(&v.user, &pq).await {
        Ok(p) => p,
        Err(e) => return page::error(&web, &ctx, e).await,
    };
    let body = html! {
        p { a href="/resumes/new" { "새 이력서 만들기" } }
        @if listed.items.is_empty() {
            p.empty { "아직 만든 이력서가 없습니다." }
        }
        ul.cards { @for c in &listed.items { (card(c)) } }
    };
    render(&web, &ctx, "내 이력서", body).await
}

fn form(ctx: &Ctx, message: Option<&str>, login: &str) -> Markup {
    html! {
        (alert(message))
        form method="post" action="/resumes" {
            (csrf(ctx))
            div.field {
                label for="github_username" { "GitHub 아이디" }
                input #github_username name="github_username" type="text" value=(login)
                    autocomplete="username" aria-describedby="github-help";
                p.muted #github-help { "GitHub로 로그인했다면 비워 두어도 됩니다." }
            }
            div.field {
                label for="position" { "직무" }
                select #position name="position" required {
                    @for p in POSITIONS { option value=(wire_name(p)) { (p.korean()) } }
                }
            }
            div.field {
                label for="school_type" { "학력·과정" }
                select #school_type name="school_type" {
                    option value="" { "선택 안 함" }
                    @for s in SCHOOLS { option value=(wire_name(s)) { (s.korean()) } }
                }
            }
            div.field {
                label for="highlights" { "강조할 경험 (한 줄에 하나, 최대 10줄)" }
                textarea #highlights name="highlights" rows="4" {}
            }
            button type="submit" { "이력서 만들기" }
        }
    }
}

async fn new_form(State(web): State<WebState>, ctx: Ctx) -> Response {
    if let Err(r) = ctx.signed_in() {
        return r;
    }
    if web.h.resumes.is_none() {
        return page::not_found(None);
    }
    let body = html! {
        p { "GitHub 공개 저장소를 읽어 이력서를 씁니다. 하루 사용 횟수 중 1회를 씁니다." }
        (form(&ctx, None, ""))
    };
    render(&web, &ctx, "새 이력서", body).await
}

#[derive(Deserialize)]
pub struct NewResumeForm {
    #[serde(default)]
    github_username: String,
    position: String,
    #[serde(default)]
    school_type: String,
    #[serde(default)]
    highlights: String,
}

async fn create(State(web): State<WebState>, ctx: Ctx, Form(f): Form<NewResumeForm>) -> Response {
    let v = match ctx.signed_in() {
        Ok(v) => v.clone(),
        Err(r) => return r,
    };
    let Some(r) = &web.h.resumes else {
        return page::not_found(None);
    };
    let Some(position) = wire::<Position>(&f.position) else {
        return refused(&web, &ctx, "validation_failed", &f.github_username).await;
    };
    let body = CreateBody {
        github_username: Some(f.github_username.trim().to_owned()).filter(|s| !s.is_empty()),
        position,
        school_type: wire(&f.school_type),
        highlights: f
            .highlights
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_owned)
            .collect(),
    };
    let asked = match body.try_into_domain() {
        Ok(n) => r.resumes.create(&v.user, n).await,
        Err(e) => Err(ApiError::from(e)),
    };
    match asked {
        Ok(made) => Redirect::to(&format!("/resumes/{}", made.id)).into_response(),
        Err(e) if e.status.is_client_error() => {
            refused(&web, &ctx, e.code, &f.github_username).await
        }
        Err(e) => page::error(&web, &ctx, e).await,
    }
}

/// The form again with what was typed and why it was refused.
async fn refused(web: &crate::Web, ctx: &Ctx, code: &str, login: &str) -> Response {
    let body = form(ctx, Some(korean(code)), login);
    page::render_with(
        web,
        ctx,
        axum::http::StatusCode::UNPROCESSABLE_ENTITY,
        "새 이력서",
        body,
    )
    .await
}

fn sections(v: &ResumeView) -> Markup {
    html! {
        @if let Some(s) = &v.sections {
            section aria-labelledby="summary-h" {
                h2 #summary-h { "소개" }
                p { (s.summary) }
            }
            @if !s.skills.is_empty() {
                section aria-labelledby="skills-h" {
                    h2 #skills-h { "기술" }
                    p { @for k in &s.skills { span.tag { (k) } " " } }
                }
            }
            @if !s.projects.is_empty() {
                section aria-labelledby="projects-h" {
                    h2 #projects-h { "프로젝트" }
                    ul.list {
                        @for p in &s.projects {
                            li {
                                h3 {
                                    @if p.url.is_empty() { (p.name) } @else { a href=(p.url) rel="noopener" { (p.name) } }
                                }
                                @if !p.description.is_empty() { p { (p.description) } }
                                p.muted {
                                    @if !p.languages.is_empty() { (p.languages.join(", ")) " · " }
                                    "별 " (p.stars) " · 최근 1년 커밋 " (p.commits)
                                }
                            }
                        }
                    }
                }
            }
            @if !s.experience.is_empty() {
                section aria-labelledby="experience-h" {
                    h2 #experience-h { "경험" }
                    ul.list {
                        @for e in &s.experience {
                            li {
                                h3 { (e.title) }
                                @if !e.organization.is_empty() || !e.period.is_empty() {
                                    p.muted { (e.organization) " " (e.period) }
                                }
                                @if !e.description.is_empty() && e.description != e.title { p { (e.description) } }
                            }
                        }
                    }
                }
            }
        }
    }
}

async fn show(State(web): State<WebState>, ctx: Ctx, Path(id): Path<String>) -> Response {
    let Some(r) = &web.h.resumes else {
        return page::not_found(None);
    };
    let Ok(id) = id.parse::<Uuid>() else {
        return page::not_found(None);
    };
    let who = ctx.viewer.as_ref().map(|v| v.user);
    let v = match r.resumes.get(id, who.as_ref()).await {
        Ok(v) => v,
        Err(e) => return page::error(&web, &ctx, e).await,
    };
    let own = who.as_ref().is_some_and(|w| w.id == v.owner_id);
    if !own {
        let viewer = match &who {
            Some(w) => Viewer::User(w.id),
            None => Viewer::Address(ctx.ip.clone()),
        };
        r.views.record(id, &viewer).await;
    }
    let comments = match r
        .comments
        .list(who.as_ref(), id, &PageQuery::default())
        .await
    {
        Ok(p) => p.items,
        Err(e) => return page::error(&web, &ctx, e).await,
    };
    let busy = matches!(v.status, ResumeStatus::Generating | ResumeStatus::Editing);
    let path = format!("/resumes/{id}");
    let body = html! {
        div #resume hx-get=[busy.then_some(&path)] hx-trigger=[busy.then_some("every 2s")]
            hx-select="#resume" hx-swap="outerHTML" {
            p {
                span.tag #status { (status_label(v.status)) }
                " " (v.position.korean()) " · GitHub " (v.github_username)
                @if let Some(s) = v.school_type { " · " (s.korean()) }
            }
            @if busy {
                p role="status" { "GitHub 활동을 읽고 이력서를 쓰는 중입니다. 이 페이지는 저절로 바뀝니다. "
                    noscript { a href=(path) { "새로고침" } } }
            }
            @if let Some(f) = &v.failure {
                p.alert role="alert" { "작성하지 못했습니다: " (f) }
            }
            @if v.version > 0 {
                p.muted { "버전 " (v.version) " · " (writer_label(&v.writer, v.ai_written)) " · " (when(&v.updated_at)) }
            }
            (sections(&v))
        }
        p.muted #counts { "좋아요 " (v.likes) " · 댓글 " (v.comments) " · 조회 " (v.views) }
        @if ctx.viewer.is_some() && v.version > 0 {
            form method="post" action={ (path) "/like" } {
                (csrf(&ctx))
                button type="submit" aria-pressed=(if v.liked_by_me == Some(true) { "true" } else { "false" }) {
                    @if v.liked_by_me == Some(true) { "좋아요 취소" } @else { "좋아요" }
                }
            }
        }
        @if own && v.version > 0 {
            form method="post" action={ (path) "/visibility" } {
                (csrf(&ctx))
                @if v.visibility == Visibility::Public {
                    input type="hidden" name="visibility" value="PRIVATE";
                    p { "모두에게 공개 중입니다. " button type="submit" { "비공개로 돌리기" } }
                } @else {
                    input type="hidden" name="visibility" value="PUBLIC";
                    p { "나만 볼 수 있습니다. " button type="submit" { "커뮤니티에 공개" } }
                }
            }
        }
        section aria-labelledby="comments-h" {
            h2 #comments-h { "댓글" }
            @if comments.is_empty() { p.empty { "아직 댓글이 없습니다." } }
            ul.list {
                @for c in &comments {
                    li { strong { (c.author) } " " span.muted { (when(&c.created_at)) } p { (c.body) } }
                }
            }
            @if ctx.viewer.is_some() && v.version > 0 {
                form method="post" action={ (path) "/comments" } {
                    (csrf(&ctx))
                    div.field {
                        label for="body" { "댓글 쓰기" }
                        textarea #body name="body" rows="2" required maxlength="1000" {}
                    }
                    button type="submit" { "댓글 남기기" }
                }
            }
        }
    };
    let title = format!("{}님의 이력서", v.owner);
    render(&web, &ctx, &title, body).await
}

/// A signed-in viewer's change to a resume, then back to its page.
async fn act<F, Fut>(web: &WebState, ctx: &Ctx, id: &str, run: F) -> Response
where
    F: FnOnce(std::sync::Arc<surge_resumes::Resumes>, surge_kernel::auth::AuthUser, Uuid) -> Fut,
    Fut: std::future::Future<Output = Result<(), ApiError>>,
{
    let v = match ctx.signed_in() {
        Ok(v) => v.clone(),
        Err(r) => return r,
    };
    let (Some(r), Ok(id)) = (web.h.resumes.clone(), id.parse::<Uuid>()) else {
        return page::not_found(None);
    };
    match run(r, v.user, id).await {
        Ok(()) => Redirect::to(&format!("/resumes/{id}")).into_response(),
        Err(e) => page::error(web, ctx, e).await,
    }
}

async fn like(State(web): State<WebState>, ctx: Ctx, Path(id): Path<String>) -> Response {
    act(&web, &ctx, &id, |r, who, id| async move {
        r.likes.set(&who, id, Want::Toggle).await.map(|_| ())
    })
    .await
}

#[derive(Deserialize)]
pub struct ShareForm {
    visibility: String,
}

async fn share(
    State(web): State<WebState>,
    ctx: Ctx,
    Path(id): Path<String>,
    Form(f): Form<ShareForm>,
) -> Response {
    let to = wire::<Visibility>(&f.visibility).unwrap_or(Visibility::Private);
    act(&web, &ctx, &id, |r, who, id| async move {
        r.resumes.set_visibility(&who, id, to).await.map(|_| ())
    })
    .await
}

#[derive(Deserialize)]
pub struct CommentForm {
    body: String,
}

async fn comment(
    State(web): State<WebState>,
    ctx: Ctx,
    Path(id): Path<String>,
    Form(f): Form<CommentForm>,
) -> Response {
    act(&web, &ctx, &id, |r, who, id| async move {
        let body = surge_resumes::domain::comment_body(&f.body)?;
        r.comments.add(&who, id, body).await.map(|_| ())
    })
    .await
}
