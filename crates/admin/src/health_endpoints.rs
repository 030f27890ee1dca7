//! `/livez`, `/readyz` and `/healthz`: for orchestrators, load balancers and CI gates. They only
//! read cached probe results and never wait on a remote.

use std::fmt::Write as _;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use health::{HealthReport, MEDIA_TYPE};
use serde::Deserialize;

use super::AdminState;
use super::auth::{Refusal, bearer};

pub(super) fn router(state: AdminState) -> Router<AdminState> {
    Router::new()
        .route("/livez", get(livez))
        .route("/readyz", get(readyz))
        .route("/healthz", get(healthz))
        .with_state(state)
}

/// The process and its runtime answer; nothing remote is consulted.
async fn livez() -> &'static str {
    "ok\n"
}

#[derive(Debug, Default, Deserialize)]
struct ReadyQuery {
    verbose: Option<String>,
}

/// Ready when every part is: with `?verbose`, one line per part.
async fn readyz(State(state): State<AdminState>, Query(query): Query<ReadyQuery>) -> Response {
    let Some(health) = &state.health else {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "health checks are not running\n",
        )
            .into_response();
    };
    let parts = health.readiness();
    let ready = parts.iter().all(|p| p.ready);
    let code = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let mut body = String::new();
    if query.verbose.is_some() {
        for part in &parts {
            let mark = if part.ready { '+' } else { '-' };
            // Writing to a String cannot fail.
            let _ = writeln!(body, "[{mark}]{} {}", part.name, part.detail);
        }
    }
    body.push_str(if ready { "ready\n" } else { "not ready\n" });
    (code, body).into_response()
}

/// The health+json report; details only for callers with the admin token.
async fn healthz(State(state): State<AdminState>, headers: HeaderMap) -> Response {
    let Some(health) = &state.health else {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "health checks are not running\n",
        )
            .into_response();
    };
    // Anonymous callers get the status only; a caller presenting a token that is not the admin
    // token (or to a bot without one) is told so, so that a gate never passes on a wrong token.
    let detailed = match (bearer(&headers), state.token.as_deref()) {
        (None, _) => false,
        (Some(presented), Some(token)) if token.matches(presented) => true,
        (Some(_), Some(_)) => return Refusal::Wrong.response(),
        (Some(_), None) => return Refusal::Disabled.response(),
    };
    let report = HealthReport::new(
        health.registry.status(),
        &health.registry.results(),
        detailed,
    );
    let code =
        StatusCode::from_u16(report.http_status()).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
    let mut response = (code, Json(report)).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static(MEDIA_TYPE),
    );
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    response
}
