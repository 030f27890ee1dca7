//! REST bodies that are not players: load results, sessions, node info and the error body.

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Value, json};

use super::{Exception, PlaylistData, Track};

/// The error body every failed REST call carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorResponse {
    /// Unix time in milliseconds.
    pub timestamp: u64,
    /// The HTTP status code.
    pub status: u16,
    /// The HTTP status reason.
    pub error: String,
    /// The stack trace, when `trace=true` was asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace: Option<String>,
    /// What went wrong.
    pub message: String,
    /// The request path.
    pub path: String,
}

/// The result of `GET /v4/loadtracks`.
#[derive(Debug, Clone, PartialEq)]
pub enum LoadResult {
    /// One track was loaded.
    Track(Track),
    /// A playlist was loaded.
    Playlist(PlaylistData),
    /// A search found these tracks.
    Search(Vec<Track>),
    /// Nothing matched.
    Empty,
    /// Loading failed.
    Error(Exception),
    /// A `loadType` this client does not know, with the whole raw body.
    Unknown(Value),
}

impl LoadResult {
    /// The wire `loadType`, also a bounded metric label.
    pub fn load_type(&self) -> &'static str {
        match self {
            Self::Track(_) => "track",
            Self::Playlist(_) => "playlist",
            Self::Search(_) => "search",
            Self::Empty => "empty",
            Self::Error(_) => "error",
            Self::Unknown(_) => "unknown",
        }
    }

    /// Every track in the result, in order.
    pub fn tracks(&self) -> &[Track] {
        match self {
            Self::Track(track) => std::slice::from_ref(track),
            Self::Playlist(playlist) => &playlist.tracks,
            Self::Search(tracks) => tracks,
            Self::Empty | Self::Error(_) | Self::Unknown(_) => &[],
        }
    }
}

impl Serialize for LoadResult {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let body = match self {
            Self::Track(track) => json!({ "loadType": "track", "data": track }),
            Self::Playlist(playlist) => json!({ "loadType": "playlist", "data": playlist }),
            Self::Search(tracks) => json!({ "loadType": "search", "data": tracks }),
            Self::Empty => json!({ "loadType": "empty", "data": {} }),
            Self::Error(exception) => json!({ "loadType": "error", "data": exception }),
            Self::Unknown(raw) => raw.clone(),
        };
        body.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for LoadResult {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = Value::deserialize(deserializer)?;
        let load_type = raw
            .get("loadType")
            .and_then(Value::as_str)
            .ok_or_else(|| D::Error::missing_field("loadType"))?;
        let data = || raw.get("data").cloned().unwrap_or(Value::Null);
        Ok(match load_type {
            "track" => Self::Track(serde_json::from_value(data()).map_err(D::Error::custom)?),
            "playlist" => Self::Playlist(serde_json::from_value(data()).map_err(D::Error::custom)?),
            "search" => Self::Search(serde_json::from_value(data()).map_err(D::Error::custom)?),
            "empty" => Self::Empty,
            "error" => Self::Error(serde_json::from_value(data()).map_err(D::Error::custom)?),
            _ => Self::Unknown(raw),
        })
    }
}

/// The body of `PATCH /v4/sessions/{id}`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UpdateSession {
    /// Whether the session survives a closed socket.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resuming: Option<bool>,
    /// How long a detached session waits for a resume, in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<u64>,
}

/// The answer of `PATCH /v4/sessions/{id}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionInfo {
    /// Whether resuming is on.
    pub resuming: bool,
    /// The resume timeout in seconds.
    pub timeout: u64,
}

/// `GET /v4/info`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Info {
    /// The server version.
    pub version: Version,
    /// Build time, Unix milliseconds.
    pub build_time: u64,
    /// The commit it was built from.
    pub git: Git,
    /// The JVM version.
    pub jvm: String,
    /// The lavaplayer version.
    pub lavaplayer: String,
    /// Enabled source managers.
    pub source_managers: Vec<String>,
    /// Enabled filters.
    pub filters: Vec<String>,
    /// Loaded plugins.
    pub plugins: Vec<Plugin>,
}

/// A semantic version as `/v4/info` reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[allow(missing_docs)]
pub struct Version {
    pub semver: String,
    pub major: u32,
    pub minor: u32,
    pub patch: u32,
    #[serde(default)]
    pub pre_release: Option<String>,
    #[serde(default)]
    pub build: Option<String>,
}

/// Git information of a build.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[allow(missing_docs)]
pub struct Git {
    pub branch: String,
    pub commit: String,
    pub commit_time: u64,
}

/// A loaded plugin.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[allow(missing_docs)]
pub struct Plugin {
    pub name: String,
    pub version: String,
}

/// The LavaLyrics plugin's lyrics of a track (`GET /v4/lyrics`,
/// `GET /v4/sessions/{id}/players/{guild}/track/lyrics`): the plain text, and the timed lines when
/// the source has them (empty otherwise).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Lyrics {
    /// The source the lyrics came from.
    pub source_name: String,
    /// Who provides them (for the credit line).
    #[serde(default)]
    pub provider: Option<String>,
    /// The whole text, when the source gave one.
    #[serde(default)]
    pub text: Option<String>,
    /// The timed lines, in order (empty when the source has no timing).
    #[serde(default)]
    pub lines: Vec<LyricsLine>,
    /// Extra data of the plugin that found them.
    #[serde(default)]
    pub plugin: serde_json::Value,
}

/// One timed line of [`Lyrics`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LyricsLine {
    /// When the line starts, milliseconds into the track.
    pub timestamp: u64,
    /// How long it lasts, milliseconds (`None` when the source does not say).
    #[serde(default)]
    pub duration: Option<u64>,
    /// The words.
    pub line: String,
    /// Extra data of the plugin.
    #[serde(default)]
    pub plugin: serde_json::Value,
}

impl Lyrics {
    /// The words as text: the plain text, or the timed lines one per line.
    pub fn words(&self) -> String {
        match &self.text {
            Some(text) if !text.trim().is_empty() => text.clone(),
            _ => self
                .lines
                .iter()
                .map(|line| line.line.as_str())
                .collect::<Vec<_>>()
                .join("\n"),
        }
    }
}

/// The name `/v4/info` gives the LavaLyrics plugin in its `plugins` list.
pub const LAVALYRICS_PLUGIN: &str = "lavalyrics-plugin";

impl Info {
    /// Whether the node has the LavaLyrics plugin (its lyrics endpoints exist).
    pub fn has_lyrics(&self) -> bool {
        self.plugins.iter().any(|p| p.name == LAVALYRICS_PLUGIN)
    }
}
