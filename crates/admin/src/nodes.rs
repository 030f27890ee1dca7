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

async fn add(State(state): State<AdminState>, body: axum::body::Bytes) -> Response {
    let spec = match node_spec(&body) {
        Ok(spec) => spec,
        Err(message) => return error(StatusCode::BAD_REQUEST, message),
    };
    if let Err(e) = spec.validate() {
        return cluster_error(&ClusterError::Spec(e));
    }
    if let Err(refused) = state.node_hosts.check(&spec.url) {
        tracing::warn!(node = %spec.name, host = %refused.host, "node refused: host not allowed");
        return error(StatusCode::FORBIDDEN, refused.to_string());
    }
    let name = spec.name.clone();
    if let Some(same) = state
        .cluster
        .nodes()
        .into_iter()
        .find(|n| same_address(&n.url, &spec.url))
    {
        return error(
            StatusCode::CONFLICT,
            format!(
                "node {name:?} has the same address as node {:?} ({})",
                same.name, same.url
            ),
        );
    }
    match state.cluster.add_node(spec) {
        Ok(()) => {
            tracing::info!(node = %name, "node added through the admin API");
            let view = state.cluster.nodes().into_iter().find(|v| v.name == name);
            (StatusCode::CREATED, Json(view)).into_response()
        }
        Err(e) => cluster_error(&e),
    }
}

/// The request body as a node, with errors that never echo a value: the password's, or any
/// other (serde's messages quote what they found).
fn node_spec(body: &[u8]) -> Result<NodeSpec, String> {
    let value: serde_json::Value = serde_json::from_slice(body).map_err(|e| {
        format!(
            "the body is not JSON (line {}, column {}); send a node as {{\"name\", \"url\", \"password\"}}",
            e.line(),
            e.column()
        )
    })?;
    if let Some(password) = value.get("password")
        && !password.is_string()
    {
        return Err("password: must be a string (value not shown: it is a secret)".into());
    }
    serde_json::from_value(value).map_err(|e| {
        let message = e.to_string();
        match message.split_once(", expected ") {
            Some((found, expected)) if found.starts_with("invalid ") => {
                let kind = found.split(':').next().unwrap_or(found);
                format!("{kind} (value not shown): expected {expected}")
            }
            _ => message,
        }
    })
}

/// Whether two node URLs name one server (scheme, host, port, path; user info ignored).
fn same_address(a: &str, b: &str) -> bool {
    let identity = |url: &str| {
        url::Url::parse(url).ok().map(|u| {
            (
                u.scheme().to_owned(),
                u.host_str().map(str::to_ascii_lowercase),
                u.port_or_known_default(),
                u.path().trim_end_matches('/').to_owned(),
            )
        })
    };
    identity(a).is_some_and(|a| Some(a) == identity(b))
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
