//! What a deploy orchestrator asks of a bot process, on its admin server, behind the admin token:
//!
//! - `GET /admin/deploy/state`: the process's phase (standby, taking over, serving, handing
//!   over), its build and colour, and how its last takeover and handover went;
//! - `GET /admin/deploy/gate`: in standby, the pre-cutover gate (Discord REST, the registered
//!   commands against the build's, every Lavalink node's REST, the store, the errors logged);
//! - `GET /admin/deploy/signals`: what the post-cutover watch compares: readiness, how the
//!   commands ended, the acknowledgement latency, the errors logged, the Lavalink nodes connected;
//! - `POST /admin/deploy/takeover`: in standby, take over the sessions a predecessor handed over
//!   (answered 202 at once; the state says when it serves);
//! - `POST /admin/deploy/handover`: while serving, stop taking new work, finish what is held,
//!   hand the sessions over through the store and stay warm in standby (202 at once).
//!
//! The server keeps its listener across phases: [`PhaseRouter`] swaps the routes behind it.

use std::sync::{Arc, PoisonError, RwLock};

use async_trait::async_trait;
use axum::Router;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Json, Response};
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, watch};
use tower::ServiceExt as _;

use crate::auth::{AdminToken, check};
use crate::nodes::error;

/// Where a process is in the deploy cycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// REST, store and nodes checked; no gateway connection, no Lavalink session: waiting to
    /// take over.
    Standby,
    /// Taking over a predecessor's sessions.
    TakingOver,
    /// Connected and answering.
    Serving,
    /// Finishing what it holds and handing its sessions over.
    HandingOver,
    /// Going away.
    Stopping,
}

impl Phase {
    /// The phase's name as the state says it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Standby => "standby",
            Self::TakingOver => "taking_over",
            Self::Serving => "serving",
            Self::HandingOver => "handing_over",
            Self::Stopping => "stopping",
        }
    }
}

/// How a takeover went.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TakeoverReport {
    /// When it began, unix milliseconds.
    pub began_at_unix_ms: u64,
    /// From the request to serving, milliseconds.
    pub took_ms: u64,
    /// Gateway sessions resumed.
    pub shards_resumed: usize,
    /// Lavalink sessions handed over to it.
    pub lavalink_sessions: usize,
    /// Guilds restored from the store.
    pub guilds: usize,
    /// Of those, guilds whose player played on (adopted).
    pub playing_on: usize,
}

/// How a handover went.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HandoverReport {
    /// When it began, unix milliseconds.
    pub began_at_unix_ms: u64,
    /// From the request to the records written, milliseconds.
    pub took_ms: u64,
    /// Guilds whose state was written.
    pub guilds: u64,
    /// Gateway sessions handed over.
    pub gateway_sessions: usize,
    /// Lavalink sessions handed over.
    pub lavalink_sessions: usize,
}

/// What `GET /admin/deploy/state` answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeployState {
    /// The phase.
    pub phase: Phase,
    /// Since when, unix milliseconds.
    pub since_unix_ms: u64,
    /// The build's version.
    pub version: String,
    /// The commit it was built from.
    pub commit: String,
    /// The deploy colour (`blue`, `green`, `none`).
    pub colour: String,
    /// The last takeover, if any.
    pub last_takeover: Option<TakeoverReport>,
    /// The last handover, if any.
    pub last_handover: Option<HandoverReport>,
    /// Why the last takeover or handover failed, if it did.
    pub last_error: Option<String>,
}

/// What the orchestrator asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeployRequest {
    /// Take over from standby.
    Takeover,
    /// Hand over and stay in standby.
    Handover,
}

/// One check of the pre-cutover gate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GateCheck {
    /// What was checked (`discord_rest`, `commands`, `lavalink:<node>`, `store`, `errors_logged`).
    pub name: String,
    /// Whether it passed.
    pub passed: bool,
    /// What was found, in words (never a secret).
    pub detail: String,
    /// How long it took, milliseconds.
    pub took_ms: u64,
}

/// The gate's verdict: passed when every check passed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GateReport {
    /// Whether every check passed.
    pub passed: bool,
    /// Each check.
    pub checks: Vec<GateCheck>,
}

impl GateReport {
    /// The verdict over `checks`.
    pub fn of(checks: Vec<GateCheck>) -> Self {
        Self {
            passed: checks.iter().all(|c| c.passed),
            checks,
        }
    }
}

/// Runs the pre-cutover gate (the process in standby provides it).
#[async_trait]
pub trait Gate: Send + Sync {
    /// Runs every check.
    async fn run(&self) -> GateReport;
}

/// What a deploy's watch reads of a process (`GET /admin/deploy/signals`). Counts are totals
/// since the process started serving (its current term), except the errors logged (since the
/// process started): the watch compares two readings.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Signals {
    /// Whether `/readyz` would answer ready (every part ready); false when not serving.
    pub ready: bool,
    /// Commands done as asked.
    pub commands_ok: u64,
    /// Commands refused by a check (the caller's mistake).
    pub commands_refused: u64,
    /// Commands that failed (the bot's fault or a dependency's).
    pub commands_failed: u64,
    /// The 95th percentile of the time to acknowledge an interaction over the last five
    /// minutes, milliseconds, and how many it is taken over.
    pub ack_p95_ms: Option<u64>,
    /// How many acknowledgements `ack_p95_ms` is taken over.
    pub acks: u64,
    /// Error-level log events since the process started (`None` when the process does not count
    /// them).
    pub errors_logged: Option<u64>,
    /// Lavalink nodes connected.
    pub lavalink_nodes_up: u64,
    /// Lavalink nodes configured and enabled.
    pub lavalink_nodes: u64,
}

/// Reads a serving process's [`Signals`].
pub trait SignalSource: Send + Sync {
    /// The signals now.
    fn signals(&self) -> Signals;
}

/// What the deploy endpoints work with.
#[derive(Clone)]
pub struct DeployControl {
    /// The admin token; `None` refuses every call.
    pub token: Option<Arc<AdminToken>>,
    /// The process's state, as it changes.
    pub state: watch::Receiver<DeployState>,
    /// Where requests go (the process's main loop).
    pub requests: mpsc::Sender<DeployRequest>,
    /// The gate, while in standby.
    pub gate: Option<Arc<dyn Gate>>,
    /// The signals, while serving.
    pub signals: Option<Arc<dyn SignalSource>>,
}

/// The deploy endpoints (see the module docs).
pub fn router(control: DeployControl) -> Router {
    Router::new()
        .route("/admin/deploy/state", get(state))
        .route("/admin/deploy/gate", get(gate))
        .route("/admin/deploy/signals", get(signals))
        .route("/admin/deploy/takeover", post(takeover))
        .route("/admin/deploy/handover", post(handover))
        .layer(axum::middleware::from_fn_with_state(
            control.clone(),
            require_token,
        ))
        .with_state(control)
}

async fn require_token(
    State(control): State<DeployControl>,
    request: Request,
    next: Next,
) -> Response {
    match check(control.token.as_deref(), request.headers()) {
        Ok(()) => next.run(request).await,
        Err(refusal) => refusal.response(),
    }
}

async fn state(State(control): State<DeployControl>) -> Json<DeployState> {
    Json(control.state.borrow().clone())
}

async fn gate(State(control): State<DeployControl>) -> Response {
    let phase = control.state.borrow().phase;
    match (&control.gate, phase) {
        (Some(gate), Phase::Standby) => Json(gate.run().await).into_response(),
        _ => error(
            StatusCode::CONFLICT,
            format!(
                "the gate runs in standby; this process is {}",
                phase.as_str()
            ),
        ),
    }
}

async fn signals(State(control): State<DeployControl>) -> Json<Signals> {
    Json(
        control
            .signals
            .as_ref()
            .map(|source| source.signals())
            .unwrap_or_default(),
    )
}

async fn takeover(State(control): State<DeployControl>) -> Response {
    ask(&control, DeployRequest::Takeover, Phase::Standby)
}

async fn handover(State(control): State<DeployControl>) -> Response {
    ask(&control, DeployRequest::Handover, Phase::Serving)
}

/// Passes the request on when the process is in `from`; 409 otherwise.
fn ask(control: &DeployControl, request: DeployRequest, from: Phase) -> Response {
    let phase = control.state.borrow().phase;
    if phase != from {
        return error(
            StatusCode::CONFLICT,
            format!(
                "this process is {}; {} needs it {}",
                phase.as_str(),
                match request {
                    DeployRequest::Takeover => "a takeover",
                    DeployRequest::Handover => "a handover",
                },
                from.as_str()
            ),
        );
    }
    match control.requests.try_send(request) {
        Ok(()) => (
            StatusCode::ACCEPTED,
            Json(serde_json::json!({ "accepted": true, "phase": phase.as_str() })),
        )
            .into_response(),
        Err(_) => error(
            StatusCode::CONFLICT,
            "a deploy request is already being carried out",
        ),
    }
}

/// Routes that change with the process's phase behind one listener: the server is built on
/// [`PhaseRouter::router`] once, and [`PhaseRouter::set`] swaps what answers.
#[derive(Clone)]
pub struct PhaseRouter {
    current: Arc<RwLock<Router>>,
}

impl PhaseRouter {
    /// Starts with `initial`.
    pub fn new(initial: Router) -> Self {
        Self {
            current: Arc::new(RwLock::new(initial)),
        }
    }

    /// From now on, requests go to `router`.
    pub fn set(&self, router: Router) {
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = router;
    }

    /// The router to serve: each request goes to the current routes.
    pub fn router(&self) -> Router {
        let current = Arc::clone(&self.current);
        Router::new().fallback_service(tower::service_fn(move |request: Request| {
            let routes = current
                .read()
                .unwrap_or_else(PoisonError::into_inner)
                .clone();
            async move { routes.oneshot(request).await }
        }))
    }
}

/// `/livez`, `/readyz` and `/healthz` while the process is not serving (standby, taking over):
/// alive, not ready, and the health report says why.
pub fn idle_health(state: watch::Receiver<DeployState>) -> Router {
    Router::new()
        .route("/livez", get(|| async { "ok\n" }))
        .route("/readyz", get(idle_readyz))
        .route("/healthz", get(idle_healthz))
        .with_state(state)
}

async fn idle_readyz(State(state): State<watch::Receiver<DeployState>>) -> Response {
    let phase = state.borrow().phase;
    (
        StatusCode::SERVICE_UNAVAILABLE,
        format!("[-]phase {}\nnot ready\n", phase.as_str()),
    )
        .into_response()
}

async fn idle_healthz(State(state): State<watch::Receiver<DeployState>>) -> Response {
    let phase = state.borrow().phase;
    let body = serde_json::json!({
        "status": "fail",
        "output": format!("this process is {}: it is not serving", phase.as_str()),
    });
    let mut response = (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response();
    response.headers_mut().insert(
        axum::http::header::CONTENT_TYPE,
        axum::http::HeaderValue::from_static(health::MEDIA_TYPE),
    );
    response
}
