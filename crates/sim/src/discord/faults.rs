//! Faults and control a test can switch on: on the gateway (drop, close with a code, Reconnect,
//! Invalid Session, zombie connections, heartbeat requests, delay), on REST (429s, delay) and on
//! voice (a VOICE_SERVER_UPDATE with a null endpoint first).

use std::sync::Arc;
use std::time::Duration;

use super::gateway;
use super::state::Shared;

/// The faults that change how the running stand-in answers.
#[derive(Debug, Default, Clone)]
pub(crate) struct FaultState {
    /// Added before every gateway message the stand-in sends (real time).
    pub gateway_delay: Duration,
    /// Added before every REST answer (real time).
    pub rest_delay: Duration,
    /// The next this-many REST requests answer 429.
    pub rest_rate_limited: u32,
    /// `retry_after` of those 429s.
    pub rest_retry_after: Duration,
    /// Whether those 429s are global.
    pub rest_global: bool,
    /// Whether every fresh voice connection first gets a VOICE_SERVER_UPDATE with a null
    /// endpoint (the voice server being reallocated), then the real one.
    pub voice_endpoint_null_first: bool,
}

/// Fault injection and gateway control, from [`super::DiscordSim::faults`].
#[derive(Debug, Clone)]
pub struct Faults {
    pub(crate) shared: Arc<Shared>,
}

impl Faults {
    /// Drops every live gateway connection without a close frame (sessions stay resumable).
    /// Returns how many connections there were.
    pub fn drop_connections(&self) -> usize {
        gateway::drop_all(&self.shared)
    }

    /// Closes every live gateway connection with `code` (4000 to 4014 with Discord's meanings;
    /// the session survives unless the code ends it). Returns how many connections there were.
    pub fn close_connections(&self, code: u16) -> usize {
        gateway::close_all(&self.shared, code)
    }

    /// Sends Reconnect (op 7) on every live connection.
    pub fn send_reconnect(&self) -> usize {
        gateway::broadcast(&self.shared, &gateway::reconnect())
    }

    /// Sends Invalid Session (op 9) on every live connection. With `resumable: false` every
    /// session is invalidated first, so a resume fails and the client has to identify.
    pub fn send_invalid_session(&self, resumable: bool) -> usize {
        if !resumable {
            self.shared.with(|core| core.sessions.invalidate_all());
        }
        gateway::broadcast(&self.shared, &gateway::invalid_session(resumable))
    }

    /// Asks every live connection for a heartbeat (op 1 from the gateway).
    pub fn request_heartbeat(&self) -> usize {
        gateway::broadcast(&self.shared, &gateway::heartbeat_request())
    }

    /// Turns every live connection into a zombie: heartbeats go unanswered and events are held
    /// back (they are replayed when the client resumes on a new connection). Connections made
    /// afterwards are healthy.
    pub fn zombie_connections(&self) -> usize {
        self.shared.with(|core| core.sessions.zombify())
    }

    /// Delays every gateway message the stand-in sends by `delay` (zero switches it off).
    pub fn set_gateway_delay(&self, delay: Duration) {
        self.shared.with(|core| core.faults.gateway_delay = delay);
    }

    /// Delays every REST answer by `delay` (zero switches it off).
    pub fn set_rest_delay(&self, delay: Duration) {
        self.shared.with(|core| core.faults.rest_delay = delay);
    }

    /// Answers the next `count` REST requests with 429 and `retry_after`, per-route (`global:
    /// false`, scope `user`) or global.
    pub fn rate_limit_rest(&self, count: u32, retry_after: Duration, global: bool) {
        self.shared.with(|core| {
            core.faults.rest_rate_limited = count;
            core.faults.rest_retry_after = retry_after;
            core.faults.rest_global = global;
        });
    }

    /// Sends a VOICE_SERVER_UPDATE with a null endpoint before the real one on every fresh
    /// voice connection while on.
    pub fn set_voice_endpoint_null_first(&self, on: bool) {
        self.shared
            .with(|core| core.faults.voice_endpoint_null_first = on);
    }

    /// Switches every fault off (open connections stay as they are).
    pub fn heal(&self) {
        self.shared.with(|core| core.faults = FaultState::default());
    }
}
