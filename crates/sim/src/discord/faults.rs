//! Faults and control a test can switch on: on the gateway (drop, close with a code, Reconnect,
//! Invalid Session, zombie connections, heartbeat requests, delay), on REST (429s, delay) and on
//! voice (a VOICE_SERVER_UPDATE with a null endpoint first).

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::config::SimError;
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

/// One fault or control action, as `POST /sim/fault` takes it (a JSON object tagged by `kind`,
/// fields in camelCase): `{"kind":"closeConnections","code":4000}`, `{"kind":"heal"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(
    tag = "kind",
    rename_all = "camelCase",
    rename_all_fields = "camelCase",
    deny_unknown_fields
)]
pub enum Fault {
    /// [`Faults::drop_connections`].
    DropConnections,
    /// [`Faults::close_connections`] with a code a close frame may carry.
    CloseConnections {
        /// The close code.
        code: u16,
    },
    /// [`Faults::send_reconnect`].
    Reconnect,
    /// [`Faults::send_invalid_session`].
    InvalidSession {
        /// Whether the sessions stay resumable.
        resumable: bool,
    },
    /// [`Faults::request_heartbeat`].
    RequestHeartbeat,
    /// [`Faults::zombie_connections`].
    ZombieConnections,
    /// [`Faults::set_gateway_delay`] (0 switches it off).
    GatewayDelay {
        /// The delay in milliseconds.
        ms: u64,
    },
    /// [`Faults::set_rest_delay`] (0 switches it off).
    RestDelay {
        /// The delay in milliseconds.
        ms: u64,
    },
    /// [`Faults::rate_limit_rest`].
    RateLimitRest {
        /// How many REST requests answer 429.
        count: u32,
        /// Their `retry_after` in milliseconds.
        retry_after_ms: u64,
        /// Whether the limit is global (default false).
        #[serde(default)]
        global: bool,
    },
    /// [`Faults::set_voice_endpoint_null_first`].
    VoiceEndpointNullFirst {
        /// On or off.
        on: bool,
    },
    /// [`Faults::heal`].
    Heal,
}

/// The faults in force, as `GET /sim/state` and `POST /sim/fault` show them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FaultSummary {
    /// Added gateway latency in milliseconds.
    pub gateway_delay_ms: u64,
    /// Added REST latency in milliseconds.
    pub rest_delay_ms: u64,
    /// How many REST requests still answer 429.
    pub rest_rate_limited: u32,
    /// Their `retry_after` in milliseconds.
    pub rest_retry_after_ms: u64,
    /// Whether those 429s are global.
    pub rest_global: bool,
    /// Whether fresh voice connections first get a null endpoint.
    pub voice_endpoint_null_first: bool,
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// Whether a close frame may carry `code` (RFC 6455 7.4: 1004, 1005, 1006 and 1015 are reserved,
/// 1016..2999 are unassigned, 5000 and above are not close codes).
fn sendable_close_code(code: u16) -> bool {
    matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999)
}

/// Fault injection and gateway control, from [`super::DiscordSim::faults`].
#[derive(Debug, Clone)]
pub struct Faults {
    pub(crate) shared: Arc<Shared>,
}

impl Faults {
    /// Applies one [`Fault`]. Returns how many gateway connections it reached for those acting
    /// on connections (`None` for the others); a close code a close frame cannot carry is
    /// [`SimError::UnsendableCloseCode`].
    pub fn apply(&self, fault: &Fault) -> Result<Option<usize>, SimError> {
        Ok(match *fault {
            Fault::DropConnections => Some(self.drop_connections()),
            Fault::CloseConnections { code } => {
                if !sendable_close_code(code) {
                    return Err(SimError::UnsendableCloseCode(code));
                }
                Some(self.close_connections(code))
            }
            Fault::Reconnect => Some(self.send_reconnect()),
            Fault::InvalidSession { resumable } => Some(self.send_invalid_session(resumable)),
            Fault::RequestHeartbeat => Some(self.request_heartbeat()),
            Fault::ZombieConnections => Some(self.zombie_connections()),
            Fault::GatewayDelay { ms } => {
                self.set_gateway_delay(Duration::from_millis(ms));
                None
            }
            Fault::RestDelay { ms } => {
                self.set_rest_delay(Duration::from_millis(ms));
                None
            }
            Fault::RateLimitRest {
                count,
                retry_after_ms,
                global,
            } => {
                self.rate_limit_rest(count, Duration::from_millis(retry_after_ms), global);
                None
            }
            Fault::VoiceEndpointNullFirst { on } => {
                self.set_voice_endpoint_null_first(on);
                None
            }
            Fault::Heal => {
                self.heal();
                None
            }
        })
    }

    /// The faults in force.
    pub fn summary(&self) -> FaultSummary {
        self.shared.read(|core| {
            let faults = &core.faults;
            FaultSummary {
                gateway_delay_ms: millis(faults.gateway_delay),
                rest_delay_ms: millis(faults.rest_delay),
                rest_rate_limited: faults.rest_rate_limited,
                rest_retry_after_ms: millis(faults.rest_retry_after),
                rest_global: faults.rest_global,
                voice_endpoint_null_first: faults.voice_endpoint_null_first,
            }
        })
    }

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
