//! Injected faults: what can be switched on at run time (from tests through [`super::SimNode`],
//! from outside through `POST /sim/fault`), and the REST middleware that applies the ones REST
//! can see (hang, latency, error rate).

use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::Response;
use lavalink::model::GuildId;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

use super::node::AppState;
use super::rest::ApiError;

/// Close codes Koe (Lavalink's voice library) answers by reconnecting on its own, up to three
/// times, without telling Lavalink: `AbstractMediaGatewayConnection.onClose`.
pub(crate) const KOE_RETRIED_CODES: [u16; 13] = [
    1001, 1006, 4000, 4001, 4002, 4003, 4005, 4009, 4012, 4015, 4016, 4020, 4900,
];

/// Whether a close code can be sent in a close frame (RFC 6455 7.4: not 1004-1006 or 1015, none
/// of the unassigned 1016-2999, nothing outside 1000-4999).
pub(crate) fn sendable_close_code(code: u16) -> bool {
    matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999)
}

fn yes() -> bool {
    true
}

/// A fault to inject, as `POST /sim/fault` takes it (`{"fault": "...", ...}`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(
    tag = "fault",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
pub enum Fault {
    /// Abrupt death: every socket dropped without a close frame, new connections refused, all
    /// sessions lost. With `restart_after_ms`, the node comes back on the same port after that
    /// long (real time).
    Crash {
        /// Restart after this many milliseconds.
        #[serde(default)]
        restart_after_ms: Option<u64>,
    },
    /// Graceful shutdown: every session socket closed with 1001 (reset instead, without a close
    /// frame, when the server does not close its sockets on shutdown,
    /// [`ServerBehaviour::close_sockets_on_shutdown`](super::ServerBehaviour::close_sockets_on_shutdown)),
    /// then the node stops listening.
    Shutdown {
        /// Restart after this many milliseconds.
        #[serde(default)]
        restart_after_ms: Option<u64>,
    },
    /// The process freezes: connections and requests are accepted but never answered, open
    /// sockets stay open and silent, and playback stands still (positions stop where they are,
    /// tracks do not end, nothing falls due). Healing thaws it: held answers and messages flow,
    /// playback goes on from where it stood, and what fell due meanwhile happens at once.
    Hang,
    /// Every REST answer and socket message is delayed by this much (real time).
    Slow {
        /// Added latency in milliseconds.
        latency_ms: u64,
    },
    /// This share of REST requests (0 to 1) answers 500 with the error body.
    ErrorRate {
        /// Share of failing requests.
        rate: f64,
        /// Seed of the random draw (the node's configured seed when absent).
        #[serde(default)]
        seed: Option<u64>,
    },
    /// CPU load climbs to `load` (0 to 1) over `ramp_ms` of the node's clock, and frame stats
    /// degrade with it (nulled and missing frames).
    Overload {
        /// Target load.
        load: f64,
        /// How long the climb takes.
        #[serde(default)]
        ramp_ms: Option<u64>,
    },
    /// Graceful shutdown then a start on the same port with every session forgotten.
    Restart,
    /// A network blip: every open session socket is dropped while the node keeps running and
    /// listening. Each session then follows the rules of any closed socket: with resuming on it
    /// is paused (players keep playing, events and stats queue) until resumed or timed out,
    /// without it is destroyed with its players.
    DropConnections {
        /// Send a close frame with this code first (1000-1003, 1007-1014 or 3000-4999); when
        /// absent, the connection just ends, with no close frame (as a reset or a dead link).
        #[serde(default)]
        close_code: Option<u16>,
    },
    /// Discord closes the voice socket of a player (Koe's gateway close). For a code Koe does
    /// not retry, or once its retries are exhausted, the node sends `WebSocketClosedEvent` and a
    /// `playerUpdate`, and the player reports `connected: false` until the client sends a voice
    /// state again. For a code Koe retries (1001, 1006, 4000-4003, 4005, 4009, 4012, 4015, 4016,
    /// 4020 and its own 4900), the voice connection comes back by itself and the client hears
    /// nothing.
    VoiceClosed {
        /// The guild whose voice connection closes.
        guild_id: GuildId,
        /// The close code Discord sent.
        code: u16,
        /// The close reason (empty when absent, as Lavalink sends a missing one).
        #[serde(default)]
        reason: String,
        /// Whether Discord closed it (true) or the node did.
        #[serde(default = "yes")]
        by_remote: bool,
        /// Only this session's player (default: every session with a player for the guild).
        #[serde(default)]
        session_id: Option<String>,
        /// Koe's three reconnect attempts failed too: the event goes out even for a code Koe
        /// retries.
        #[serde(default)]
        retries_exhausted: bool,
    },
    /// Clears hang, slow, error rate and overload.
    Heal,
}

/// The faults that change how a running node answers.
#[derive(Debug)]
pub(crate) struct FaultState {
    pub latency: Duration,
    pub error_rate: f64,
    rng: StdRng,
    overload: Option<Overload>,
}

#[derive(Debug, Clone, Copy)]
struct Overload {
    target: f64,
    ramp: Duration,
    since: Instant,
}

impl FaultState {
    /// No faults.
    pub fn new(seed: u64) -> Self {
        Self {
            latency: Duration::ZERO,
            error_rate: 0.0,
            rng: StdRng::seed_from_u64(seed),
            overload: None,
        }
    }

    /// Sets the REST error rate and reseeds the draw.
    pub fn set_error_rate(&mut self, rate: f64, seed: u64) {
        self.error_rate = rate.clamp(0.0, 1.0);
        self.rng = StdRng::seed_from_u64(seed);
    }

    /// Starts an overload climbing from now.
    pub fn set_overload(&mut self, target: f64, ramp: Duration, now: Instant) {
        self.overload = Some(Overload {
            target: target.clamp(0.0, 1.0),
            ramp,
            since: now,
        });
    }

    /// Clears everything but the random generator.
    pub fn heal(&mut self) {
        self.latency = Duration::ZERO;
        self.error_rate = 0.0;
        self.overload = None;
    }

    /// The overload level (0 to 1) at an instant.
    pub fn overload_level(&self, at: Instant) -> f64 {
        self.overload.map_or(0.0, |overload| {
            let elapsed = at.saturating_duration_since(overload.since).as_secs_f64();
            let ramp = overload.ramp.as_secs_f64();
            let progress = if ramp <= 0.0 {
                1.0
            } else {
                (elapsed / ramp).min(1.0)
            };
            overload.target * progress
        })
    }

    /// Whether this request should fail.
    fn draw_failure(&mut self) -> bool {
        self.error_rate > 0.0 && self.rng.random::<f64>() < self.error_rate
    }

    /// A summary for `/sim/state`.
    pub fn summary(&self, hung: bool, now: Instant) -> FaultSummary {
        FaultSummary {
            hang: hung,
            latency_ms: u64::try_from(self.latency.as_millis()).unwrap_or(u64::MAX),
            error_rate: self.error_rate,
            overload: self.overload_level(now),
        }
    }
}

/// The faults in force, as `/sim/state` shows them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FaultSummary {
    /// Whether the node is hung.
    pub hang: bool,
    /// Added latency.
    pub latency_ms: u64,
    /// REST error rate.
    pub error_rate: f64,
    /// Current overload level.
    pub overload: f64,
}

/// Hang and latency, for every Lavalink route (REST and the socket handshake).
pub(crate) async fn hang_and_latency(
    State(shared): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    shared.wait_unhung().await;
    let latency = shared.faults().latency;
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    next.run(request).await
}

/// The REST error rate.
pub(crate) async fn error_rate(
    State(shared): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    if shared.faults().draw_failure() {
        tracing::debug!(path = %request.uri().path(), "error rate fault: answering 500");
        return ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Simulated internal server error",
        )
        .into_response_with_marker();
    }
    next.run(request).await
}
