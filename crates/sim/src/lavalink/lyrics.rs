//! The LavaLyrics plugin (`topi314/LavaLyrics`, `lavalyrics-plugin` 1.0.0) with a lyrics source
//! of the stand-in's own: its two REST routes, its JSON, and which tracks have lyrics.
//!
//! The plugin answers `GET /v4/lyrics?track=<encoded>&skipTrackSource=<bool>` and
//! `GET /v4/sessions/{sessionId}/players/{guildId}/track/lyrics?skipTrackSource=<bool>` with its
//! `Lyrics` object (200) or 204 when no source found lyrics (`AudioLyricsRestHandler`). A node
//! without the plugin has no such routes: 404 as any unknown path. See `docs/sim.md`, "Lyrics".

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use lavalink::codec;
use lavalink::model::{GuildId, TrackInfo};
use serde::{Deserialize, Serialize};
use serde_json::Map;

use super::catalogue::fnv1a;
use super::node::AppState;
use super::rest::ApiError;

/// The lyrics a source found, as the plugin's `Lyrics` (kotlinx, every field written, `null`
/// included, as Lavalink's `Json` writes explicit nulls).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Lyrics {
    /// The name of the lyrics source that found them.
    pub source_name: String,
    /// Where that source got them from, if it says.
    pub provider: Option<String>,
    /// The whole text, if the source has it.
    pub text: Option<String>,
    /// Timed lines, if the source has them (may be empty).
    pub lines: Option<Vec<LyricsLine>>,
    /// Extra data from other plugins (always `{}` here).
    pub plugin: Map<String, serde_json::Value>,
}

/// One timed line of [`Lyrics`], as the plugin's `Line`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LyricsLine {
    /// When the line starts, milliseconds into the track.
    pub timestamp: u64,
    /// How long it lasts, milliseconds, if the source says.
    pub duration: Option<u64>,
    /// The line (empty between verses).
    pub line: String,
    /// Extra data from other plugins (always `{}` here).
    pub plugin: Map<String, serde_json::Value>,
}

/// The `sourceName` of the stand-in's lyrics source.
pub const LYRICS_SOURCE: &str = "sim";

/// The `provider` of the stand-in's lyrics source.
pub const LYRICS_PROVIDER: &str = "Sim Lyrics";

/// How many lines `sim:lyrics:long` has: with its verse breaks, several thousand characters.
pub const LONG_LYRICS_LINES: usize = 200;

/// What lyrics a track has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// The text and timed lines.
    Timed,
    /// The text only (`lines` empty).
    Text,
    /// None: the plugin answers 204.
    None,
    /// Timed, and very long (several thousand characters).
    Long,
}

impl Kind {
    /// The kind a `sim:lyrics:<kind>` identifier names.
    pub(crate) fn parse(text: &str) -> Option<Self> {
        match text {
            "timed" => Some(Self::Timed),
            "text" => Some(Self::Text),
            "none" => Some(Self::None),
            "long" => Some(Self::Long),
            _ => None,
        }
    }

    /// The name in identifiers.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Timed => "timed",
            Self::Text => "text",
            Self::None => "none",
            Self::Long => "long",
        }
    }

    /// The kind of a track: named by a `sim:lyrics:<kind>` identifier, else derived from the
    /// title and author (what a lyrics search goes by), so any source's tracks may have them:
    /// 6 in 10 timed, 2 in 10 text only, 2 in 10 none.
    fn of(info: &TrackInfo) -> Self {
        let named = info
            .identifier
            .strip_prefix("sim:lyrics:")
            .filter(|_| info.source_name == "sim")
            .and_then(|rest| Self::parse(rest.split(':').next().unwrap_or_default()));
        if let Some(kind) = named {
            return kind;
        }
        match fnv1a(&format!("lyrics:{}\n{}", info.title, info.author)) % 10 {
            0..=5 => Self::Timed,
            6 | 7 => Self::Text,
            _ => Self::None,
        }
    }
}

/// The lyrics the stand-in's source finds for a track, `None` when it finds none. Deterministic
/// from the track's info.
pub fn lyrics_for(info: &TrackInfo) -> Option<Lyrics> {
    let kind = Kind::of(info);
    let seed = fnv1a(&format!("words:{}\n{}", info.title, info.author));
    let count = match kind {
        Kind::None => return None,
        Kind::Long => LONG_LYRICS_LINES,
        Kind::Timed | Kind::Text => 16 + usize::try_from(seed % 17).unwrap_or_default(),
    };
    let words: Vec<String> = (0..count).map(|i| lyric_line(seed, i)).collect();
    let text = words.join("\n");
    let lines = match kind {
        Kind::Text => Vec::new(),
        _ => timed_lines(&words, info),
    };
    Some(Lyrics {
        source_name: LYRICS_SOURCE.into(),
        provider: Some(LYRICS_PROVIDER.into()),
        text: Some(text),
        lines: Some(lines),
        plugin: Map::new(),
    })
}

/// Spreads lines over the track (streams over ten minutes): the first at 5 s, evenly to 5 s
/// before the end; each lasts until the next, the last has no duration.
fn timed_lines(words: &[String], info: &TrackInfo) -> Vec<LyricsLine> {
    let length = u64::try_from(info.length).unwrap_or_default().min(600_000);
    let span = length.saturating_sub(10_000).max(1_000);
    let count = u64::try_from(words.len()).unwrap_or(1).max(1);
    let step = span / count;
    let timestamps: Vec<u64> = (0..count).map(|i| 5_000 + i * step).collect();
    words
        .iter()
        .zip(&timestamps)
        .enumerate()
        .map(|(i, (line, &timestamp))| LyricsLine {
            timestamp,
            duration: timestamps.get(i + 1).map(|next| next - timestamp),
            line: line.clone(),
            plugin: Map::new(),
        })
        .collect()
}

/// Line `i` of a song: verses of four lines with an empty line after each.
fn lyric_line(seed: u64, i: usize) -> String {
    const WORDS: [&str; 32] = [
        "we", "run", "through", "the", "night", "and", "every", "light", "calls", "your", "name",
        "down", "by", "river", "side", "I", "hold", "on", "to", "golden", "morning", "again",
        "never", "let", "go", "hearts", "beat", "like", "thunder", "in", "summer", "rain",
    ];
    if i % 5 == 4 {
        return String::new();
    }
    let line_seed = fnv1a(&format!("{seed}:{i}"));
    let length = 5 + usize::try_from(line_seed % 4).unwrap_or_default();
    let mut value = line_seed;
    let mut words = Vec::with_capacity(length);
    for _ in 0..length {
        words.push(WORDS[usize::try_from(value % 32).unwrap_or_default()]);
        value = (value / 32) ^ line_seed.rotate_left(23);
    }
    let mut line = words.join(" ");
    if let Some(first) = line.get(..1) {
        line = first.to_ascii_uppercase() + line.get(1..).unwrap_or_default();
    }
    line
}

/// The query of both lyrics routes.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct LyricsQuery {
    track: Option<String>,
    skip_track_source: Option<String>,
}

/// `skipTrackSource` as Spring binds a Kotlin `Boolean = false` request parameter: absent or
/// empty is the default, `true`/`on`/`yes`/`1` and `false`/`off`/`no`/`0` in any case
/// (`StringToBooleanConverter`), anything else a 400 type mismatch. The stand-in's one lyrics
/// source is not tied to a track source, so the value changes nothing.
fn skip_track_source(raw: Option<&str>) -> Result<bool, ApiError> {
    let Some(raw) = raw.filter(|raw| !raw.is_empty()) else {
        return Ok(false);
    };
    match raw.to_ascii_lowercase().as_str() {
        "true" | "on" | "yes" | "1" => Ok(true),
        "false" | "off" | "no" | "0" => Ok(false),
        _ => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            format!(
                "Method parameter 'skipTrackSource': Failed to convert value of type 'java.lang.String' to required type 'boolean'; Invalid boolean value [{raw}]"
            ),
        )),
    }
}

/// 200 with the lyrics, or 204 with no body when there are none.
fn answer(lyrics: Option<Lyrics>) -> Response {
    match lyrics {
        Some(lyrics) => Json(lyrics).into_response(),
        None => StatusCode::NO_CONTENT.into_response(),
    }
}

/// `GET /v4/lyrics?track=<encoded>&skipTrackSource=<bool>`: 400 without `track` (Spring's
/// missing parameter), 500 for a track that does not decode (the plugin's `decodeTrack` throws),
/// else 200 or 204.
pub(crate) async fn track_lyrics(Query(query): Query<LyricsQuery>) -> Result<Response, ApiError> {
    let encoded = query.track.ok_or_else(|| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "Required parameter 'track' is not present.",
        )
    })?;
    skip_track_source(query.skip_track_source.as_deref())?;
    let decoded = codec::decode_track(&encoded).map_err(|error| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("Failed to decode track: {error}"),
        )
    })?;
    Ok(answer(lyrics_for(&decoded.info)))
}

/// `GET /v4/sessions/{sessionId}/players/{guildId}/track/lyrics?skipTrackSource=<bool>`, in the
/// plugin's order: 404 "Session not found", a guild that is not a number 500 (the plugin takes
/// it as a string and calls `toLong()`: Java's `NumberFormatException`), 404 "Player not
/// found", 404 "No track playing", then 200 or 204.
pub(crate) async fn player_lyrics(
    State(shared): State<AppState>,
    Path((session_id, guild)): Path<(String, String)>,
    Query(query): Query<LyricsQuery>,
) -> Result<Response, ApiError> {
    skip_track_source(query.skip_track_source.as_deref())?;
    let info = shared.with_state(|state, now| {
        let timing = state.timing;
        let session = state
            .open_session(&session_id)
            .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "Session not found"))?;
        let guild = guild.parse::<u64>().map(GuildId).map_err(|_| {
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("For input string: \"{guild}\""),
            )
        })?;
        let player = session
            .players
            .get(&guild)
            .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "Player not found"))?;
        player
            .to_model(now, &timing)
            .track
            .map(|track| track.info)
            .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "No track playing"))
    })?;
    Ok(answer(lyrics_for(&info)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lavalink::catalogue::{Loaded, load};

    fn track(identifier: &str) -> TrackInfo {
        match load(identifier) {
            Loaded::Track(info) => info,
            other => panic!("{identifier} is not a track: {other:?}"),
        }
    }

    #[test]
    fn sim_lyrics_identifiers_choose_the_kind() {
        let timed = lyrics_for(&track("sim:lyrics:timed")).expect("timed lyrics");
        let lines = timed.lines.expect("lines");
        assert!(lines.len() >= 16);
        assert!(lines.windows(2).all(|w| w[0].timestamp < w[1].timestamp));
        assert_eq!(
            lines[0].duration,
            Some(lines[1].timestamp - lines[0].timestamp)
        );
        assert_eq!(lines.last().and_then(|l| l.duration), None);
        assert!(timed.text.is_some());

        let text = lyrics_for(&track("sim:lyrics:text:ballad")).expect("text lyrics");
        assert_eq!(text.lines, Some(Vec::new()));
        assert!(text.text.is_some_and(|t| t.lines().count() >= 16));

        assert_eq!(lyrics_for(&track("sim:lyrics:none")), None);

        let long = lyrics_for(&track("sim:lyrics:long")).expect("long lyrics");
        let chars = long.text.as_deref().map_or(0, str::len);
        assert!(chars > 4000, "only {chars} characters");
        let info = track("sim:lyrics:long");
        let last = long.lines.and_then(|l| l.last().map(|l| l.timestamp));
        assert!(last.is_some_and(|t| t < u64::try_from(info.length).unwrap_or_default()));
    }

    #[test]
    fn every_source_has_tracks_of_every_kind() {
        let mut seen = std::collections::HashSet::new();
        for i in 0..60 {
            for identifier in [
                format!("sim:track:song-{i}"),
                format!("https://example.com/{i}.mp3"),
                format!(
                    "https://youtu.be/{}",
                    crate::lavalink::catalogue::test_video_id(i)
                ),
            ] {
                let info = track(&identifier);
                let kind = match lyrics_for(&info) {
                    None => "none",
                    Some(l) if l.lines.as_ref().is_some_and(Vec::is_empty) => "text",
                    Some(_) => "timed",
                };
                assert_eq!(lyrics_for(&info), lyrics_for(&info), "deterministic");
                seen.insert((info.source_name, kind));
            }
        }
        assert_eq!(seen.len(), 9, "{seen:?}");
    }

    #[test]
    fn skip_track_source_binds_as_spring_does() {
        assert_eq!(skip_track_source(None), Ok(false));
        assert_eq!(skip_track_source(Some("")), Ok(false));
        assert_eq!(skip_track_source(Some("TRUE")), Ok(true));
        assert_eq!(skip_track_source(Some("yes")), Ok(true));
        assert_eq!(skip_track_source(Some("0")), Ok(false));
        assert!(skip_track_source(Some("maybe")).is_err());
    }
}
