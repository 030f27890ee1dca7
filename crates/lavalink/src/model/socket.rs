//! Messages a node sends over the socket (`op`: ready, playerUpdate, stats, event).
//!
//! [`IncomingMessage::from_json`] reads the `op` (and for events the `type`) first and then
//! deserializes the matching struct straight from the text, so the hot path (playerUpdate) is one
//! cheap peek plus one typed parse, never a detour through `serde_json::Value`.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{Exception, GuildId, PlayerState, Track};

/// A message from the node.
// Events carry a whole track; boxing them would cost an allocation per message for no gain.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum IncomingMessage {
    /// First message of every connection.
    Ready(Ready),
    /// A player's position and connection.
    PlayerUpdate(PlayerUpdate),
    /// Node statistics.
    Stats(Stats),
    /// A player event.
    Event(Event),
    /// An `op` this client does not know, with the raw message.
    Unknown(Value),
}

/// Why a socket message could not be understood.
#[derive(Debug, thiserror::Error)]
pub enum MessageError {
    /// Not JSON, or not an object with a string `op`.
    #[error("malformed message: {0}")]
    Malformed(serde_json::Error),
    /// A known `op` or event `type` whose body does not match the protocol.
    #[error("invalid {kind} message: {cause}")]
    Invalid {
        /// The op or event type.
        kind: String,
        /// What serde said.
        cause: serde_json::Error,
    },
}

#[derive(Deserialize)]
struct Peek<'a> {
    #[serde(borrow)]
    op: Cow<'a, str>,
    #[serde(borrow, default, rename = "type")]
    kind: Option<Cow<'a, str>>,
}

impl IncomingMessage {
    /// Parses one socket text message.
    pub fn from_json(text: &str) -> Result<Self, MessageError> {
        let peek: Peek<'_> = serde_json::from_str(text).map_err(MessageError::Malformed)?;
        let typed = |kind: &str| {
            let kind = kind.to_owned();
            move |cause| MessageError::Invalid { kind, cause }
        };
        Ok(match peek.op.as_ref() {
            "ready" => Self::Ready(serde_json::from_str(text).map_err(typed("ready"))?),
            "playerUpdate" => {
                Self::PlayerUpdate(serde_json::from_str(text).map_err(typed("playerUpdate"))?)
            }
            "stats" => Self::Stats(serde_json::from_str(text).map_err(typed("stats"))?),
            "event" => {
                let kind = peek.kind.as_deref().unwrap_or("");
                let event = match kind {
                    "TrackStartEvent" => {
                        Event::TrackStart(serde_json::from_str(text).map_err(typed(kind))?)
                    }
                    "TrackEndEvent" => {
                        Event::TrackEnd(serde_json::from_str(text).map_err(typed(kind))?)
                    }
                    "TrackExceptionEvent" => {
                        Event::TrackException(serde_json::from_str(text).map_err(typed(kind))?)
                    }
                    "TrackStuckEvent" => {
                        Event::TrackStuck(serde_json::from_str(text).map_err(typed(kind))?)
                    }
                    "WebSocketClosedEvent" => {
                        Event::WebSocketClosed(serde_json::from_str(text).map_err(typed(kind))?)
                    }
                    _ => {
                        Event::Unknown(serde_json::from_str(text).map_err(MessageError::Malformed)?)
                    }
                };
                Self::Event(event)
            }
            _ => Self::Unknown(serde_json::from_str(text).map_err(MessageError::Malformed)?),
        })
    }

    /// Serializes the message as a node would send it.
    pub fn to_json(&self) -> String {
        fn tagged<T: Serialize>(op: &str, body: &T) -> Value {
            let mut value = serde_json::to_value(body).unwrap_or(Value::Null);
            if let Value::Object(map) = &mut value {
                map.insert("op".into(), Value::String(op.into()));
            }
            value
        }
        let value = match self {
            Self::Ready(ready) => tagged("ready", ready),
            Self::PlayerUpdate(update) => tagged("playerUpdate", update),
            Self::Stats(stats) => tagged("stats", stats),
            Self::Event(event) => {
                let (kind, mut value) = match event {
                    Event::TrackStart(e) => ("TrackStartEvent", tagged("event", e)),
                    Event::TrackEnd(e) => ("TrackEndEvent", tagged("event", e)),
                    Event::TrackException(e) => ("TrackExceptionEvent", tagged("event", e)),
                    Event::TrackStuck(e) => ("TrackStuckEvent", tagged("event", e)),
                    Event::WebSocketClosed(e) => ("WebSocketClosedEvent", tagged("event", e)),
                    Event::Unknown(raw) => return raw.to_string(),
                };
                if let Value::Object(map) = &mut value {
                    map.insert("type".into(), Value::String(kind.into()));
                }
                value
            }
            Self::Unknown(raw) => raw.clone(),
        };
        value.to_string()
    }

    /// The wire `op`, also a bounded metric label.
    pub fn op(&self) -> &'static str {
        match self {
            Self::Ready(_) => "ready",
            Self::PlayerUpdate(_) => "playerUpdate",
            Self::Stats(_) => "stats",
            Self::Event(_) => "event",
            Self::Unknown(_) => "unknown",
        }
    }
}

/// `op: ready`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Ready {
    /// Whether this connection resumed an earlier session.
    pub resumed: bool,
    /// The session id for REST calls and later resumes.
    pub session_id: String,
}

/// `op: playerUpdate`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PlayerUpdate {
    /// The guild of the player.
    pub guild_id: GuildId,
    /// Its state.
    pub state: PlayerState,
}

/// `op: stats`, and the answer of `GET /v4/stats` (where `frameStats` is always null).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Stats {
    /// Players on the node, across every client session.
    pub players: u64,
    /// Playing players on the node, across every client session.
    pub playing_players: u64,
    /// Uptime in milliseconds.
    pub uptime: u64,
    /// Memory in bytes.
    pub memory: Memory,
    /// CPU.
    pub cpu: Cpu,
    /// Per-player frame averages for this session's playing players over the last minute.
    #[serde(default)]
    pub frame_stats: Option<FrameStats>,
}

/// Node memory in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[allow(missing_docs)]
pub struct Memory {
    pub free: u64,
    pub used: u64,
    pub allocated: u64,
    pub reservable: u64,
}

/// Node CPU.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Cpu {
    /// Cores available.
    pub cores: u32,
    /// Whole-system load, 0 to 1.
    pub system_load: f64,
    /// Lavalink's own load, 0 to 1.
    pub lavalink_load: f64,
}

/// Frame statistics: averages per playing player per minute (3000 frames expected).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FrameStats {
    /// Frames sent to Discord.
    pub sent: i64,
    /// Frames that were nulled (silence sent).
    pub nulled: i64,
    /// Frames missing: 3000 - sent - nulled (may be negative).
    pub deficit: i64,
}

/// `op: event`.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// A track started.
    TrackStart(TrackStart),
    /// A track ended.
    TrackEnd(TrackEnd),
    /// A track threw.
    TrackException(TrackException),
    /// A track got stuck.
    TrackStuck(TrackStuck),
    /// The voice socket to Discord closed.
    WebSocketClosed(WebSocketClosed),
    /// An event `type` this client does not know, with the raw message.
    Unknown(Value),
}

impl Event {
    /// The guild the event is about, when known.
    pub fn guild_id(&self) -> Option<GuildId> {
        match self {
            Self::TrackStart(e) => Some(e.guild_id),
            Self::TrackEnd(e) => Some(e.guild_id),
            Self::TrackException(e) => Some(e.guild_id),
            Self::TrackStuck(e) => Some(e.guild_id),
            Self::WebSocketClosed(e) => Some(e.guild_id),
            Self::Unknown(raw) => raw
                .get("guildId")
                .and_then(Value::as_str)
                .and_then(|id| id.parse().ok()),
        }
    }
}

/// `TrackStartEvent`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[allow(missing_docs)]
pub struct TrackStart {
    pub guild_id: GuildId,
    pub track: Track,
}

/// Why a track ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum TrackEndReason {
    /// It played to the end (or its endTime).
    Finished,
    /// It failed to load.
    LoadFailed,
    /// It was stopped (stop, destroy).
    Stopped,
    /// Another track replaced it.
    Replaced,
    /// The player was cleaned up.
    Cleanup,
    /// A reason this client does not know.
    #[serde(other)]
    Unknown,
}

impl TrackEndReason {
    /// Whether the client should start the next track (only `finished` and `loadFailed`).
    pub fn may_start_next(self) -> bool {
        matches!(self, Self::Finished | Self::LoadFailed)
    }

    /// The wire name, also a bounded metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Finished => "finished",
            Self::LoadFailed => "loadFailed",
            Self::Stopped => "stopped",
            Self::Replaced => "replaced",
            Self::Cleanup => "cleanup",
            Self::Unknown => "unknown",
        }
    }
}

/// `TrackEndEvent`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[allow(missing_docs)]
pub struct TrackEnd {
    pub guild_id: GuildId,
    pub track: Track,
    pub reason: TrackEndReason,
}

/// `TrackExceptionEvent`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[allow(missing_docs)]
pub struct TrackException {
    pub guild_id: GuildId,
    pub track: Track,
    pub exception: Exception,
}

/// `TrackStuckEvent`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[allow(missing_docs)]
pub struct TrackStuck {
    pub guild_id: GuildId,
    pub track: Track,
    pub threshold_ms: u64,
}

/// `WebSocketClosedEvent`: Discord closed the node's voice socket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[allow(missing_docs)]
pub struct WebSocketClosed {
    pub guild_id: GuildId,
    pub code: u16,
    pub reason: String,
    pub by_remote: bool,
}
