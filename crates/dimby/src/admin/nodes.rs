//! `/admin/nodes`: list, add, drain, enable and remove Lavalink nodes at run time.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use cluster::{ClusterError, DrainMode, NodeSpec, SpecError};
use serde::Deserialize;
use serde_json::json;

use super::AdminState;

pub(super) fn router(state: AdminState) -> Router<AdminState> {
    Router::new()
        .route("/nodes", get(list).post(add))
        .route("/nodes/{name}", axum::routing::delete(remove))
        .route("/nodes/{name}/drain", post(drain))
        .route("/nodes/{name}/enable", post(enable))
        .with_state(state)
}

/// A JSON error body `{"error": message}` with `status`.
pub(super) fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(json!({ "error": message.into() }))).into_response()
}

fn cluster_error(e: &ClusterError) -> Response {
    let status = match e {
        ClusterError::Spec(SpecError::UnknownNode(_)) => StatusCode::NOT_FOUND,
        ClusterError::Spec(SpecError::DuplicateName(_)) => StatusCode::CONFLICT,
        ClusterError::Spec(_) => StatusCode::BAD_REQUEST,
        ClusterError::NoNodeAvailable | ClusterError::Node { .. } => {
            StatusCode::SERVICE_UNAVAILABLE
        }
    };
    error(status, e.to_string())
}

async fn list(State(state): State<AdminState>) -> Response {
    Json(state.cluster.nodes()).into_response()
}

async fn add(
    State(state): State<AdminState>,
    body: Result<Json<NodeSpec>, axum::extract::rejection::JsonRejection>,
) -> Response {
    let spec = match body {
        Ok(Json(spec)) => spec,
        Err(rejection) => return error(StatusCode::BAD_REQUEST, rejection.body_text()),
    };
    let name = spec.name.clone();
    match state.cluster.add_node(spec) {
        Ok(()) => {
            tracing::info!(node = %name, "node added through the admin API");
            let view = state.cluster.nodes().into_iter().find(|v| v.name == name);
            (StatusCode::CREATED, Json(view)).into_response()
        }
        Err(e) => cluster_error(&e),
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct DrainBody {
    #[serde(default)]
    mode: Option<DrainMode>,
}

async fn drain(
    State(state): State<AdminState>,
    Path(name): Path<String>,
    body: Option<Json<DrainBody>>,
) -> Response {
    let mode = body.and_then(|b| b.0.mode).unwrap_or(DrainMode::Soft);
    match state.cluster.drain(&name, mode) {
        Ok(()) => {
            tracing::info!(node = %name, ?mode, "drain started through the admin API");
            (
                StatusCode::ACCEPTED,
                Json(json!({ "node": name, "draining": mode })),
            )
                .into_response()
        }
        Err(e) => cluster_error(&e),
    }
}

async fn enable(State(state): State<AdminState>, Path(name): Path<String>) -> Response {
    match state.cluster.enable(&name) {
        Ok(()) => {
            tracing::info!(node = %name, "node enabled through the admin API");
            Json(json!({ "node": name, "enabled": true })).into_response()
        }
        Err(e) => cluster_error(&e),
    }
}

async fn remove(State(state): State<AdminState>, Path(name): Path<String>) -> Response {
    match state.cluster.remove_node(&name) {
        Ok(()) => {
            tracing::info!(node = %name, "node removal started through the admin API");
            (
                StatusCode::ACCEPTED,
                Json(json!({ "node": name, "removing": true })),
            )
                .into_response()
        }
        Err(e) => cluster_error(&e),
    }
}
