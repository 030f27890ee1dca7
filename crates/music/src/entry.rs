//! The values the engine is made of: queue entries, position snapshots and the loop mode.

use std::fmt;
use std::str::FromStr;

use lavalink::codec::{self, CodecError};
use lavalink::model::{Track, TrackInfo};
use serde_json::{Map, Value};

/// The key under which [`Effect::Play`](crate::Effect::Play)'s `play_id` travels in the track's
/// `userData`, so that the node echoes it back in every event about that play.
pub const PLAY_ID_KEY: &str = "dimbyPlayId";

/// The `userData` to attach to the track of an [`Effect::Play`](crate::Effect::Play): the play id
/// under [`PLAY_ID_KEY`].
pub fn play_user_data(play_id: u64) -> Map<String, Value> {
    let mut data = Map::new();
    data.insert(PLAY_ID_KEY.to_owned(), Value::from(play_id));
    data
}

/// The play id a node echoed back in an event's track, if the track carries one.
pub fn play_id_of(track: &Track) -> Option<u64> {
    track.user_data.get(PLAY_ID_KEY).and_then(Value::as_u64)
}

/// One track in the queue (or the current one): what to play, what to show, and who asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The track as Lavalink encodes it (base64), ready to play.
    pub encoded: String,
    /// The track's metadata, for display, seeking and lengths.
    pub info: TrackInfo,
    /// The Discord user who asked for it.
    pub requester_id: u64,
    /// When it was added to the queue, unix milliseconds.
    pub added_at_unix_ms: u64,
}

impl Entry {
    /// An entry for a track Lavalink loaded (its `pluginInfo` and `userData` are not kept).
    pub fn new(track: Track, requester_id: u64, added_at_unix_ms: u64) -> Self {
        Self {
            encoded: track.encoded,
            info: track.info,
            requester_id,
            added_at_unix_ms,
        }
    }

    /// The entry's track as Lavalink takes it (without plugin info or user data): what a saved
    /// playlist's entries become to be queued again.
    pub fn into_track(self) -> Track {
        Track {
            encoded: self.encoded,
            info: self.info,
            plugin_info: Map::new(),
            user_data: Map::new(),
        }
    }

    /// An entry for an encoded track alone (as the store keeps it): the info is decoded from it.
    pub fn decode(
        encoded: impl Into<String>,
        requester_id: u64,
        added_at_unix_ms: u64,
    ) -> Result<Self, CodecError> {
        let encoded = encoded.into();
        let info = codec::decode_track(&encoded)?.info;
        Ok(Self {
            encoded,
            info,
            requester_id,
            added_at_unix_ms,
        })
    }

    /// The track's title.
    pub fn title(&self) -> &str {
        &self.info.title
    }

    /// The track's length in milliseconds, or `None` for a live stream (whose length is a
    /// sentinel) and for a track whose server does not know its length (-1).
    pub fn length_ms(&self) -> Option<u64> {
        self.info.known_length()
    }

    /// Whether a seek within the track can work: its source allows it and it is not a stream.
    pub fn is_seekable(&self) -> bool {
        self.info.is_seekable && !self.info.is_stream
    }

    /// `position_ms` capped at the track's length (streams are not capped).
    pub(crate) fn clamp_position(&self, position_ms: u64) -> u64 {
        self.length_ms()
            .map_or(position_ms, |length| position_ms.min(length))
    }
}

/// Where playback was in the current track, and when that was true.
///
/// The store keeps this very type (`store` re-exports it), so a [`StoreOp`](crate::StoreOp) is
/// written as it is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct PositionSnapshot {
    /// Position in the current track, milliseconds.
    pub position_ms: u64,
    /// The time at which the track was at `position_ms`, unix milliseconds.
    pub at_unix_ms: u64,
}

impl PositionSnapshot {
    /// A snapshot of `position_ms` taken at `at_unix_ms`.
    pub const fn new(position_ms: u64, at_unix_ms: u64) -> Self {
        Self {
            position_ms,
            at_unix_ms,
        }
    }

    /// The start of a track, at `at_unix_ms`.
    pub const fn start(at_unix_ms: u64) -> Self {
        Self::new(0, at_unix_ms)
    }
}

/// What repeats when a track ends.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum LoopMode {
    /// Nothing: a finished track is dropped.
    #[default]
    Off,
    /// The current track plays again.
    Track,
    /// A finished (or skipped) track goes to the back of the queue.
    Queue,
}

impl LoopMode {
    /// The mode's name as stored and shown: `off`, `track` or `queue`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Off => "off",
            Self::Track => "track",
            Self::Queue => "queue",
        }
    }
}

impl fmt::Display for LoopMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A loop mode name that is not `off`, `track` or `queue`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown loop mode {0:?}: use off, track or queue")]
pub struct UnknownLoopMode(pub String);

impl FromStr for LoopMode {
    type Err = UnknownLoopMode;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "off" => Ok(Self::Off),
            "track" => Ok(Self::Track),
            "queue" => Ok(Self::Queue),
            other => Err(UnknownLoopMode(other.to_owned())),
        }
    }
}
