//! Everything the cluster reports, as typed values: the bot consumes player events; health and
//! metrics consume the rest. One stream, in order.

use std::time::Duration;

use lavalink::model::{Event, GuildId};

use crate::breaker::CircuitState;

/// Why players left a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MoveCause {
    /// The node closed its sockets on purpose (1000/1001).
    GracefulClose,
    /// The socket broke and the session did not resume in time (crash, network).
    ConnectionLost,
    /// The socket stayed open but nothing arrived (hang).
    Silence,
    /// Active probes failed until the circuit opened (hang, overload, network).
    ProbeFailed,
    /// The node refused our password.
    AuthRefused,
    /// The node restarted and forgot our session.
    SessionLost,
    /// An operator drained the node.
    Drain,
    /// An operator removed the node.
    Removed,
    /// The player waited without a node and one became available.
    Pending,
}

impl MoveCause {
    /// A bounded label.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::GracefulClose => "graceful_close",
            Self::ConnectionLost => "connection_lost",
            Self::Silence => "silence",
            Self::ProbeFailed => "probe_failed",
            Self::AuthRefused => "auth_refused",
            Self::SessionLost => "session_lost",
            Self::Drain => "drain",
            Self::Removed => "removed",
            Self::Pending => "pending",
        }
    }
}

/// How a move ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MoveOutcome {
    /// The player plays on the target.
    Moved,
    /// No node could take it: it waits in the pending set.
    Pending,
    /// The target could not load the track; the player was recreated without it and the bot
    /// should skip to the next track.
    TrackFailed {
        /// What the node said.
        error: String,
    },
}

impl MoveOutcome {
    /// A bounded label.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Moved => "moved",
            Self::Pending => "pending",
            Self::TrackFailed { .. } => "track_failed",
        }
    }
}

/// Drain styles.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DrainMode {
    /// Each player moves at its next track boundary (idle players at once).
    Soft,
    /// Every player moves now, make-before-break.
    Hard,
}

/// What a finished drain did.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct DrainReport {
    /// The drained node.
    pub node: String,
    /// Soft or hard.
    pub mode: DrainMode,
    /// Players moved off it.
    pub moved: usize,
    /// Players that could not be moved (now pending).
    pub failed: usize,
    /// How long the drain took.
    pub duration_ms: u64,
}

/// A typed cluster event.
// Player events carry a whole track; boxing them would cost an allocation per event for no gain.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum ClusterEvent {
    /// A player event from the node that currently plays the guild (events of nodes a player has
    /// left are dropped here).
    Player {
        /// The guild.
        guild: GuildId,
        /// The node it came from.
        node: String,
        /// The event.
        event: Event,
        /// A TrackStart that only confirms a move (the track did not change).
        after_move: bool,
    },
    /// A node's socket is ready.
    NodeReady {
        /// The node.
        node: String,
        /// Whether its session resumed.
        resumed: bool,
    },
    /// A session handed over by a predecessor process was taken up (or could not be).
    HandoverTaken {
        /// The node.
        node: String,
        /// How it went.
        outcome: HandoverOutcome,
        /// The predecessor's players now in the ledger, playing on as they were.
        players: usize,
    },
    /// A node's socket was lost (it may come back through a resume).
    NodeLost {
        /// The node.
        node: String,
        /// The client's loss classification.
        loss: String,
    },
    /// A node's circuit changed.
    Circuit {
        /// The node.
        node: String,
        /// Before.
        from: CircuitState,
        /// After.
        to: CircuitState,
    },
    /// An active probe finished.
    Probe {
        /// The node.
        node: String,
        /// Whether it passed.
        ok: bool,
        /// Its round trip (or the timeout).
        rtt: Duration,
    },
    /// A node was chosen for a new player.
    Selected {
        /// The guild.
        guild: GuildId,
        /// The node.
        node: String,
        /// Its weighted score.
        score: f64,
        /// Whether the voice region decided.
        region_matched: bool,
    },
    /// A player is being moved.
    MoveStarted {
        /// The guild.
        guild: GuildId,
        /// From (None: from the pending set).
        from: Option<String>,
        /// Why.
        cause: MoveCause,
    },
    /// One attempt of a move failed; the move goes on with another node (or the pending set).
    MoveAttemptFailed {
        /// The guild.
        guild: GuildId,
        /// The node that did not take it.
        to: String,
        /// Why the player was being moved.
        cause: MoveCause,
        /// How it failed, a bounded label (`timeout`, `transport`, `api`, `decode`, ...).
        error: &'static str,
        /// Whether the node may have carried it out anyway (no answer, or an answer that failed
        /// part-way), so its player there is being deleted.
        undone: bool,
    },
    /// A move ended.
    MoveFinished {
        /// The guild.
        guild: GuildId,
        /// From.
        from: Option<String>,
        /// To (None when pending).
        to: Option<String>,
        /// Why it moved.
        cause: MoveCause,
        /// How it ended.
        outcome: MoveOutcome,
        /// From the loss being noticed (or the move starting) to the player playing again.
        duration: Duration,
        /// The position sent to the target.
        position_ms: u64,
        /// How far behind the estimated live position the player restarted (zero unless the
        /// node it left had gone silent: the position is capped at its last sign of life).
        rewind: Duration,
        /// Targets tried.
        attempts: usize,
    },
    /// Players waiting for a node.
    PendingChanged {
        /// How many.
        pending: usize,
    },
    /// Drain progress.
    DrainProgress {
        /// The node.
        node: String,
        /// Moved so far.
        moved: usize,
        /// Still there.
        remaining: usize,
    },
    /// A drain finished.
    DrainComplete(DrainReport),
    /// The node set changed (added, removed, enabled, draining).
    NodesChanged,
}

/// How taking up a handed-over Lavalink session went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HandoverOutcome {
    /// The session resumed and its players were adopted.
    Adopted,
    /// The node did not resume it (it expired or the node restarted): its players are gone and
    /// the bot starts them again from the store.
    SessionGone,
    /// The session resumed but its players could not be listed: the bot starts them again from
    /// the store (an update to a guild the session already plays replaces that player).
    ListFailed,
}

impl HandoverOutcome {
    /// A bounded label.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Adopted => "adopted",
            Self::SessionGone => "session_gone",
            Self::ListFailed => "list_failed",
        }
    }
}
