//! The HTTP application: module routers behind one middleware stack, plus the
//! operational routes (`/healthz`, `/readyz`, `/metrics`, `/api/openapi.json`, `/docs`).

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Json, Router};
use futures::future::BoxFuture;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use surge_kernel::auth::{AuthUser, Authenticator};
use surge_kernel::error::PROBLEM_JSON;
use surge_kernel::module::{Foundation, Module};
use surge_kernel::ApiError;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::OpenApi;
use utoipa_swagger_ui::SwaggerUi;

use crate::Config;

/// The process-wide Prometheus recorder (metrics macros record into it).
pub fn metrics_handle() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let builder = PrometheusBuilder::new()
            .set_buckets(&[
                0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
            ])
            .unwrap_or_else(|_| PrometheusBuilder::new());
        let recorder = builder.build_recorder();
        let handle = recorder.handle();
        // A second install (several apps in one test process) keeps the first recorder.
        let _ = metrics::set_global_recorder(recorder);
        handle
    })
}

pub fn router(
    mut modules: Vec<Module>,
    pages: Option<Router>,
    admin: Module,
    tasks: &mut Vec<BoxFuture<'static, ()>>,
    foundation: &Foundation,
    auth: Authenticator,
    cfg: &Config,
) -> Router {
    modules.push(admin);
    let mut api = openapi_base();
    let mut app = Router::new();
    for m in modules {
        api.merge(m.openapi);
        app = app.merge(m.router);
        tasks.extend(m.workers);
    }
    metrics_handle();
    let ops = Router::new()
        .route(
            "/healthz",
            get(|| async { Json(serde_json::json!({"status": "ok"})) }),
        )
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .with_state(foundation.clone());
    let browser_404 = pages.is_some();
    if let Some(p) = pages {
        app = app.merge(p);
    }
    app.merge(ops)
        .merge(
            SwaggerUi::new("/docs")
                .external_url_unchecked("/api/openapi.json", crate::contract::document(api)),
        )
        .fallback(move |req: Request| async move { not_found(req, browser_404) })
        .layer(axum::middleware::from_fn(record_metrics))
        .layer(axum::middleware::from_fn(problem_for_bare_errors))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            Duration::from_secs(cfg.request_timeout_secs),
        ))
        .layer(DefaultBodyLimit::max(cfg.body_limit_bytes))
        .layer(Extension(auth))
        .layer(CatchPanicLayer::custom(|_: Box<dyn std::any::Any + Send>| {
            ApiError::internal(anyhow::anyhow!("a request handler panicked")).into_response()
        }))
        .layer(TraceLayer::new_for_http().make_span_with(|req: &Request| {
            let id = req
                .headers()
                .get("x-request-id")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("-");
            tracing::info_span!("http", method = %req.method(), path = %req.uri().path(), request_id = %id)
        }))
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
}

/// No route: the web app's 404 page for a browser asking outside `/api`, else problem+json.
fn not_found(req: Request, browser: bool) -> Response {
    let wants_html = req
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("text/html"));
    if browser && wants_html && !req.uri().path().starts_with("/api/") {
        return surge_web::not_found_page();
    }
    ApiError::not_found("no such route").into_response()
}

fn openapi_base() -> OpenApi {
    let mut api = utoipa::openapi::OpenApiBuilder::new()
        .info(
            utoipa::openapi::InfoBuilder::new()
                .title("Surge API")
                .version(env!("CARGO_PKG_VERSION"))
                .description(Some(
                    "One backend for high-traffic products. Errors are RFC 9457 problem+json with a stable `code`.",
                ))
                .build(),
        )
        .build();
    let mut components = api.components.take().unwrap_or_default();
    components.add_security_scheme(
        "bearer",
        SecurityScheme::Http(
            HttpBuilder::new()
                .scheme(HttpAuthScheme::Bearer)
                .bearer_format("JWT")
                .build(),
        ),
    );
    api.components = Some(components);
    api
}

/// Error answers that did not come from our handlers (unknown method, timeouts, body
/// limits, extractor rejections) get the problem+json shape too.
async fn problem_for_bare_errors(req: Request, next: Next) -> Response {
    let res = next.run(req).await;
    let status = res.status();
    let is_problem = res
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(PROBLEM_JSON.as_bytes()));
    // The web app's pages answer errors as HTML pages of their own.
    let is_page = res
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"text/html"));
    if status.as_u16() < 400 || is_problem || is_page {
        return res;
    }
    let (code, detail) = match status {
        StatusCode::NOT_FOUND => ("not_found", "no such route"),
        StatusCode::METHOD_NOT_ALLOWED => (
            "method_not_allowed",
            "this route does not accept that method",
        ),
        StatusCode::REQUEST_TIMEOUT => ("timeout", "the request took too long"),
        StatusCode::PAYLOAD_TOO_LARGE => ("payload_too_large", "the request body is too large"),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => {
            ("unsupported_media_type", "unsupported content type")
        }
        s if s.is_server_error() => ("internal", "an unexpected error occurred"),
        _ => ("bad_request", "the request could not be processed"),
    };
    let mut problem = ApiError::new(status, code, detail).into_response();
    if let Some(allow) = res.headers().get(header::ALLOW) {
        problem.headers_mut().insert(header::ALLOW, allow.clone());
    }
    problem
}

async fn record_metrics(req: Request, next: Next) -> Response {
    let started = Instant::now();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let method = req.method().to_string();
    let res = next.run(req).await;
    let status = res.status().as_u16().to_string();
    metrics::counter!("surge_http_requests_total", "method" => method.clone(), "route" => route.clone(), "status" => status)
        .increment(1);
    metrics::histogram!("surge_http_request_duration_seconds", "method" => method, "route" => route)
        .record(started.elapsed().as_secs_f64());
    res
}

async fn metrics(State(f): State<Foundation>) -> Response {
    surge_infra::db::record_pool_metrics(&f.db, "primary");
    surge_infra::db::record_pool_metrics(&f.read_db, "read");
    let mut res = metrics_handle().render().into_response();
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4"),
    );
    res
}

/// One backend's readiness: "ok", or "down" (with the reason for admins; always logged).
async fn check(
    name: &'static str,
    admin: bool,
    fut: impl std::future::Future<Output = anyhow::Result<()>>,
) -> serde_json::Value {
    let why = match tokio::time::timeout(Duration::from_secs(2), fut).await {
        Ok(Ok(())) => return serde_json::json!("ok"),
        Ok(Err(e)) => format!("{e:#}"),
        Err(_) => "timed out".to_owned(),
    };
    tracing::warn!(backend = name, error = %why, "readiness check failed");
    if admin {
        serde_json::json!(format!("down: {why}"))
    } else {
        serde_json::json!("down")
    }
}

/// Ready when every configured backend answers. Anyone sees which backend is down;
/// why (error texts name hosts, users, versions) goes to the log and to admins only.
async fn readyz(State(f): State<Foundation>, who: Option<AuthUser>) -> Response {
    let admin = who.is_some_and(|w| w.is_admin());
    let checks = serde_json::json!({
        "database": check("database", admin, async { Ok(f.db.ping().await?) }).await,
        "database_read": check("database_read", admin, async { Ok(f.read_db.ping().await?) }).await,
        "cache": check("cache", admin, f.cache.ping()).await,
        "pubsub": check("pubsub", admin, f.pubsub.ping()).await,
        "event_bus": check("event_bus", admin, f.bus.ping()).await,
    });
    let ready = checks
        .as_object()
        .is_some_and(|m| m.values().all(|v| v == "ok"));
    if ready {
        Json(serde_json::json!({"status": "ready", "checks": checks})).into_response()
    } else {
        let mut res = ApiError::unavailable("a backend is not reachable")
            .with("checks", checks)
            .into_response();
        *res.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
        res
    }
}

/// Serves until SIGINT/SIGTERM, then drains in-flight requests.
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    limits: crate::listen::ConnLimits,
) -> std::io::Result<()> {
    crate::listen::serve_with(listener, router, limits, shutdown_signal()).await
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutting down: finishing in-flight requests");
}
