//! Tracks, playlists and the exception object.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// A track as Lavalink returns it: the encoded form plus decoded info.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Track {
    /// lavaplayer's binary track message, base64 (see [`crate::codec`]).
    pub encoded: String,
    /// What the encoded form says, decoded.
    pub info: TrackInfo,
    /// Extra data from plugins.
    #[serde(default)]
    pub plugin_info: Map<String, Value>,
    /// Data the client attached when it played the track.
    #[serde(default)]
    pub user_data: Map<String, Value>,
}

/// Metadata of a track.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TrackInfo {
    /// The identifier within its source.
    pub identifier: String,
    /// Whether seeking works.
    pub is_seekable: bool,
    /// Author or uploader.
    pub author: String,
    /// Length in milliseconds, a Java `long` on the wire: streams carry a large sentinel, and
    /// some servers send -1 when they do not know it (NodeLink for local files). Read it through
    /// [`TrackInfo::known_length`].
    pub length: i64,
    /// Whether it is a live stream.
    pub is_stream: bool,
    /// Current (or start) position in milliseconds.
    pub position: u64,
    /// Title.
    pub title: String,
    /// Where it can be found.
    pub uri: Option<String>,
    /// Artwork.
    #[serde(default)]
    pub artwork_url: Option<String>,
    /// International Standard Recording Code.
    #[serde(default)]
    pub isrc: Option<String>,
    /// The source manager that loaded it (`youtube`, `soundcloud`, `http`, ...).
    pub source_name: String,
}

impl TrackInfo {
    /// The length in milliseconds when the track has a known, finite one: not a stream, and not
    /// a negative "unknown" from the server.
    pub fn known_length(&self) -> Option<u64> {
        if self.is_stream {
            return None;
        }
        u64::try_from(self.length).ok()
    }
}

/// Severity of a Lavalink exception.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Severity {
    /// The cause is known and expected (for example a video that is not available).
    Common,
    /// The cause might not be exactly known but is possibly caused by outside factors.
    Suspicious,
    /// Probably a bug in the node or its sources.
    Fault,
    /// A severity this client does not know.
    #[serde(other)]
    Unknown,
}

impl Severity {
    /// The wire name, also a bounded metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Common => "common",
            Self::Suspicious => "suspicious",
            Self::Fault => "fault",
            Self::Unknown => "unknown",
        }
    }
}

/// An exception reported by a node (load failures and track exceptions).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Exception {
    /// The message, if any.
    pub message: Option<String>,
    /// How bad it is.
    pub severity: Severity,
    /// The cause.
    pub cause: String,
    /// The cause's stack trace (Lavalink 4.1+).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cause_stack_trace: Option<String>,
}

/// `loadType: playlist` data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PlaylistData {
    /// Name and selected track.
    pub info: PlaylistInfo,
    /// Extra data from plugins.
    #[serde(default)]
    pub plugin_info: Map<String, Value>,
    /// The tracks.
    pub tracks: Vec<Track>,
}

/// Playlist metadata.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PlaylistInfo {
    /// The playlist's name.
    pub name: String,
    /// Index of the selected track, -1 when none.
    pub selected_track: i32,
}
