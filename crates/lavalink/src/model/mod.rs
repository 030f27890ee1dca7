//! The Lavalink v4 wire model: every REST body and response and every socket message.
//!
//! Field names follow the wire (camelCase). Unknown fields are ignored everywhere; an unknown socket
//! `op`, event `type` or `loadType` decodes to an `Unknown` variant that carries the raw JSON, so a
//! newer node never breaks an older client.

mod filters;
mod ids;
mod player;
mod rest;
mod socket;
mod track;

pub use filters::{
    ChannelMix, Distortion, Equalizer, Filters, Karaoke, LowPass, Rotation, Timescale, Tremolo,
    Vibrato,
};
pub use ids::{GuildId, InvalidGuildId};
pub use player::{Player, PlayerState, UpdatePlayer, UpdatePlayerTrack, VoiceState};
pub use rest::{
    ErrorResponse, Git, Info, LAVALYRICS_PLUGIN, LoadResult, Lyrics, LyricsLine, Plugin,
    SessionInfo, UpdateSession, Version,
};
pub use socket::{
    Cpu, Event, FrameStats, IncomingMessage, Memory, MessageError, PlayerUpdate, Ready, Stats,
    TrackEnd, TrackEndReason, TrackException, TrackStart, TrackStuck, WebSocketClosed,
};
pub use track::{Exception, PlaylistData, PlaylistInfo, Severity, Track, TrackInfo};

/// Serde helper for fields where "absent" and "null" mean different things (`Option<Option<T>>`):
/// absent leaves the value unchanged, `null` clears it.
pub(crate) mod double_option {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    #[allow(clippy::ref_option, clippy::option_option)]
    pub fn serialize<T: Serialize, S: Serializer>(
        value: &Option<Option<T>>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match value {
            Some(inner) => inner.serialize(serializer),
            None => serializer.serialize_none(),
        }
    }

    #[allow(clippy::option_option)]
    pub fn deserialize<'de, T: Deserialize<'de>, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<Option<T>>, D::Error> {
        Option::<T>::deserialize(deserializer).map(Some)
    }
}
