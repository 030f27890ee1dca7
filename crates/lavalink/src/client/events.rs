//! What a node client reports, in the order it happened.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::model::{Event, MessageError, PlayerUpdate, Stats};

/// A value stamped with the monotonic instant it was received (from the client's clock), so that
/// positions can be extrapolated: `position + (now - at)` while playing.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Received<T> {
    /// When the client read it off the socket.
    pub at: Instant,
    /// What was received.
    pub value: T,
}

/// Everything a node client reports, through one channel, in arrival order.
// Events carry a whole track; boxing them would cost an allocation per message for no gain.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum NodeEvent {
    /// The socket is up and the node sent `ready`.
    Ready {
        /// The session id (the same as before when resumed).
        session_id: String,
        /// Whether an earlier session was resumed (its players kept playing).
        resumed: bool,
    },
    /// Node statistics.
    Stats(Received<Stats>),
    /// A player's position.
    PlayerUpdate(Received<PlayerUpdate>),
    /// A player event.
    Event(Received<Event>),
    /// An `op` this client does not know (a newer node); the connection is kept.
    Unknown(Received<Value>),
    /// A message that could not be understood; it was dropped and the connection kept.
    BadMessage(MessageError),
    /// Resuming was enabled after `ready`: the session survives a lost socket for this long.
    ResumeEnabled(crate::model::SessionInfo),
    /// Resuming could not be enabled after `ready` (players would die with the socket).
    ResumeConfigFailed(super::RestError),
    /// The socket was lost; the client will reconnect unless `loss` is terminal.
    Lost(Loss),
    /// The next connection attempt starts after `delay`.
    Reconnecting {
        /// Attempts in a row so far (1 for the first retry).
        attempt: usize,
        /// The jittered delay before it.
        delay: Duration,
    },
    /// The client stopped for good; no more events follow.
    Stopped(StopReason),
}

/// How a socket was lost, for the cluster to decide between waiting for a resume and moving.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Loss {
    /// The node closed the socket on purpose (1001 going away, or 1000): move players now.
    GracefulClose {
        /// The close code.
        code: u16,
        /// The close reason.
        reason: String,
    },
    /// A close frame with any other code: the node may come back; try to resume.
    AbnormalClose {
        /// The close code.
        code: u16,
        /// The close reason.
        reason: String,
    },
    /// The connection broke without a close frame (crash, reset, 1006): try to resume.
    Reset {
        /// What the transport said.
        error: String,
    },
    /// Nothing listens on the node's port any more: its process is gone, and with it every
    /// session it held (sessions live in the node's memory), so there is nothing to resume.
    ConnectionRefused {
        /// What the transport said.
        error: String,
    },
    /// The connection could not be opened (unreachable, handshake timed out, or an HTTP status
    /// other than 101 that is not an authentication failure).
    HandshakeRefused {
        /// The HTTP status, when the node answered.
        status: Option<u16>,
        /// What went wrong.
        error: String,
    },
    /// The node refused the password (401 or 403 at the handshake). Terminal: no retry.
    AuthRefused {
        /// 401 or 403.
        status: u16,
    },
    /// The socket is open but nothing arrived for too long: a hung node.
    Silence {
        /// How long nothing arrived.
        quiet_for: Duration,
        /// Players that should have been reporting.
        expected_reporting: usize,
    },
    /// The node sent a message over the size cap; the socket was closed with 1009.
    FrameTooLarge {
        /// The announced size.
        len: usize,
        /// The cap.
        max: usize,
    },
}

impl Loss {
    /// A bounded label for logs and metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::GracefulClose { .. } => "graceful_close",
            Self::AbnormalClose { .. } => "abnormal_close",
            Self::Reset { .. } => "reset",
            Self::ConnectionRefused { .. } => "connection_refused",
            Self::HandshakeRefused { .. } => "handshake_refused",
            Self::AuthRefused { .. } => "auth_refused",
            Self::Silence { .. } => "silence",
            Self::FrameTooLarge { .. } => "frame_too_large",
        }
    }

    /// Whether the node meant to go (move players now rather than wait for a resume).
    pub fn is_graceful(&self) -> bool {
        matches!(self, Self::GracefulClose { .. })
    }
}

/// Why a client stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StopReason {
    /// The node refused the password; fix the configuration.
    AuthRefused {
        /// 401 or 403.
        status: u16,
    },
    /// [`super::NodeClient::close`] was called: the session was ended.
    Closed,
    /// [`super::NodeClient::detach`] was called: the session lives on for a resume.
    Detached {
        /// The session to resume.
        session_id: Option<String>,
    },
    /// The reconnect policy's attempt limit was reached.
    GaveUp {
        /// Attempts made.
        attempts: usize,
    },
    /// The event receiver was dropped.
    ReceiverDropped,
}
