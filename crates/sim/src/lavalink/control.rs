//! The control endpoint, for switching faults from outside the process: `POST /sim/fault` and
//! `GET /sim/state`, behind the node's password (401 missing, 403 wrong). Neither a hang, nor
//! latency, nor the error rate applies to it.

use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::middleware::from_fn_with_state;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use lavalink::model::GuildId;
use serde::{Deserialize, Serialize};

use super::config::{ServerBehaviour, SimError};
use super::faults::{Fault, FaultSummary};
use super::node::AppState;
use super::rest::{self, ApiError};

/// How long the control endpoint waits before crashing, shutting down or restarting, so that
/// its own answer gets out first.
const ANSWER_FIRST: Duration = Duration::from_millis(50);

/// What `GET /sim/state` (and [`super::SimNode::state`]) shows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SimState {
    /// The node's name.
    pub name: String,
    /// The server it behaves like: `lavalink`, `nodelink` or `custom`
    /// ([`ServerBehaviour::profile`]).
    pub behaves_like: String,
    /// How it behaves where servers differ.
    pub behaviour: ServerBehaviour,
    /// Whether it listens.
    pub up: bool,
    /// Its address.
    pub addr: String,
    /// Faults in force.
    pub faults: FaultSummary,
    /// Sessions, open or detached.
    pub sessions: Vec<SessionSnapshot>,
    /// Messages written to client sockets so far.
    pub messages_sent: u64,
}

/// One session as `/sim/state` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionSnapshot {
    /// The session id.
    pub id: String,
    /// The bot user that opened it.
    pub user_id: u64,
    /// The `Client-Name` it sent.
    pub client_name: Option<String>,
    /// Whether a socket is open (false: detached, waiting for a resume).
    pub connected: bool,
    /// Whether resuming is on.
    pub resuming: bool,
    /// Resume timeout in seconds.
    pub timeout: u64,
    /// Guilds with a player.
    pub players: Vec<GuildId>,
}

pub(crate) fn router(shared: AppState) -> Router<AppState> {
    Router::new()
        .route("/sim/fault", post(fault))
        .route("/sim/state", get(state))
        .route_layer(from_fn_with_state(shared, rest::authorize))
}

async fn state(State(shared): State<AppState>) -> Json<SimState> {
    Json(shared.snapshot())
}

async fn fault(State(shared): State<AppState>, body: Bytes) -> Result<Response, ApiError> {
    let fault: Fault = serde_json::from_slice(&body).map_err(|error| {
        ApiError::new(StatusCode::BAD_REQUEST, format!("Invalid fault: {error}"))
    })?;
    match fault {
        Fault::Crash { .. } | Fault::Shutdown { .. } | Fault::Restart => {
            let later = std::sync::Arc::clone(&shared);
            tokio::spawn(async move {
                tokio::time::sleep(ANSWER_FIRST).await;
                if let Err(error) = later.apply(fault).await {
                    tracing::error!(%error, "fault failed");
                }
            });
            Ok((StatusCode::ACCEPTED, Json(shared.snapshot())).into_response())
        }
        _ => {
            shared.apply(fault).await.map_err(|error| {
                let status = match error {
                    SimError::UnsendableCloseCode(_) => StatusCode::BAD_REQUEST,
                    SimError::NoVoiceConnection { .. } => StatusCode::NOT_FOUND,
                    _ => StatusCode::INTERNAL_SERVER_ERROR,
                };
                ApiError::new(status, error.to_string())
            })?;
            Ok(Json(shared.snapshot()).into_response())
        }
    }
}
