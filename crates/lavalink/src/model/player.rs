//! Players: their state as a node reports it and the update body the client sends.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::{Filters, GuildId, Track, double_option};

/// A player as `GET /v4/sessions/{id}/players[/{guild}]` returns it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Player {
    /// The guild this player belongs to.
    pub guild_id: GuildId,
    /// The current track, if any.
    pub track: Option<Track>,
    /// Volume, 0 to 1000 (100 is unchanged).
    pub volume: u16,
    /// Whether it is paused.
    pub paused: bool,
    /// Position and connection.
    pub state: PlayerState,
    /// The voice connection details.
    pub voice: VoiceState,
    /// Active filters.
    #[serde(default)]
    pub filters: Filters,
}

/// A player's state, as in `playerUpdate` and in [`Player`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PlayerState {
    /// Unix time in milliseconds at the node when this was measured.
    pub time: u64,
    /// Position of the track in milliseconds.
    pub position: u64,
    /// Whether the node is connected to the voice gateway.
    pub connected: bool,
    /// Voice gateway round trip in milliseconds, -1 when not connected.
    pub ping: i64,
}

/// The voice connection a node needs to play into a channel. All four parts are required since 4.2.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VoiceState {
    /// The voice token from VOICE_SERVER_UPDATE.
    pub token: String,
    /// The voice endpoint from VOICE_SERVER_UPDATE.
    pub endpoint: String,
    /// The bot's voice session id from its own VOICE_STATE_UPDATE.
    pub session_id: String,
    /// The voice channel (required since Lavalink 4.2; absent on older nodes' answers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel_id: Option<String>,
}

impl VoiceState {
    /// Whether every part a node needs to connect is present.
    pub fn is_complete(&self) -> bool {
        !self.token.is_empty()
            && !self.endpoint.is_empty()
            && !self.session_id.is_empty()
            && self.channel_id.as_deref().is_some_and(|c| !c.is_empty())
    }
}

/// The body of `PATCH /v4/sessions/{id}/players/{guild}`. Absent fields leave the player unchanged.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[allow(clippy::option_option)]
pub struct UpdatePlayer {
    /// The track to play (or `encoded: null` to stop). `None` leaves it out; `Some(None)` sends
    /// `"track": null`, which a node refuses with 400 (kept distinct so that a stand-in can).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "double_option"
    )]
    pub track: Option<Option<UpdatePlayerTrack>>,
    /// Deprecated top-level encoded track (`null` stops); prefer `track`.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "double_option"
    )]
    pub encoded_track: Option<Option<String>>,
    /// Deprecated top-level identifier; prefer `track`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identifier: Option<String>,
    /// Position to start or seek to, in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub position: Option<u64>,
    /// Position at which the track ends, in milliseconds; `null` clears it.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "double_option"
    )]
    pub end_time: Option<Option<u64>>,
    /// Volume 0 to 1000.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volume: Option<i64>,
    /// Pause or resume.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paused: Option<bool>,
    /// Replace the whole filter set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filters: Option<Filters>,
    /// The voice connection.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub voice: Option<VoiceState>,
}

/// The `track` object of an [`UpdatePlayer`]: exactly one of `encoded` or `identifier`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[allow(clippy::option_option)]
pub struct UpdatePlayerTrack {
    /// The encoded track to play; `Some(None)` sends `null`, which stops the player.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "double_option"
    )]
    pub encoded: Option<Option<String>>,
    /// An identifier to load and play.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identifier: Option<String>,
    /// Data to attach to the track, echoed back in events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_data: Option<Map<String, Value>>,
}

impl UpdatePlayerTrack {
    /// Play this encoded track.
    pub fn encoded(encoded: impl Into<String>) -> Self {
        Self {
            encoded: Some(Some(encoded.into())),
            ..Self::default()
        }
    }

    /// Stop the player.
    pub fn stop() -> Self {
        Self {
            encoded: Some(None),
            ..Self::default()
        }
    }
}
