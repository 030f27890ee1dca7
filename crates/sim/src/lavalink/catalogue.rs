//! The stand-in's offline, deterministic catalogue: what an identifier loads and how a track
//! behaves once it plays. The grammar is documented on the [`super`] module and in `docs/sim.md`.

use lavalink::model::{Exception, Severity, TrackInfo};

/// Length lavaplayer reports for a live stream (`Long.MAX_VALUE`).
pub const STREAM_LENGTH: u64 = i64::MAX as u64;

/// How many tracks a search returns.
pub const SEARCH_RESULTS: usize = 5;

/// How many tracks an http playlist URL gives.
const URL_PLAYLIST_TRACKS: usize = 3;

/// The largest `sim:playlist:<n>`.
const MAX_PLAYLIST: usize = 500;

/// What loading an identifier found, before the tracks are encoded.
#[derive(Debug, Clone, PartialEq)]
pub enum Loaded {
    /// One track.
    Track(TrackInfo),
    /// A playlist (selected track -1).
    Playlist {
        /// Its name.
        name: String,
        /// Its tracks.
        tracks: Vec<TrackInfo>,
    },
    /// Search results.
    Search(Vec<TrackInfo>),
    /// Nothing matched.
    Empty,
    /// Loading failed.
    Error(Exception),
}

/// How a track behaves while it plays, derived from its info alone (so an encoded track sent back
/// by a client behaves as it did when it was loaded).
#[derive(Debug, Clone, PartialEq)]
pub enum Behaviour {
    /// Plays to its length.
    Normal,
    /// A live stream: never ends, cannot seek.
    Stream,
    /// Fails before producing audio: TrackException, then TrackEnd `loadFailed`.
    FailOnStart(Exception),
    /// Throws at this position: TrackException, then TrackEnd `finished`.
    ExceptionAt(u64, Exception),
    /// Stops producing audio at this position: TrackStuck after the threshold; the track stays.
    StuckAt(u64),
}

/// Resolves an identifier as `GET /v4/loadtracks` would.
pub fn load(identifier: &str) -> Loaded {
    if let Some(rest) = identifier.strip_prefix("sim:") {
        return load_sim(rest);
    }
    for (prefix, source) in [
        ("ytsearch:", Source::YouTube),
        ("ytmsearch:", Source::YouTube),
        ("scsearch:", Source::SoundCloud),
    ] {
        if let Some(query) = identifier.strip_prefix(prefix) {
            return search(source, query.trim());
        }
    }
    if identifier.starts_with("http://") || identifier.starts_with("https://") {
        return load_url(identifier);
    }
    Loaded::Empty
}

/// The source-specific bytes lavaplayer writes between `sourceName` and `position` for a track
/// of this info, so that the stand-in's `encoded` is what a real node would hand out.
///
/// Only `http` writes any: `HttpAudioSourceManager.encodeTrack` calls
/// `ProbingAudioSourceManager.encodeTrackFactory`, which writes the container probe's name
/// (`mp3`, `flac`, ... with `|parameters` when the probe has any, which none here has) with
/// `writeUTF`. The probe is guessed from the URL's file extension (a real node sniffs the
/// content), `mp3` when there is none. The youtube and soundcloud sources write nothing.
pub fn source_data(info: &TrackInfo) -> Vec<u8> {
    if info.source_name != "http" {
        return Vec::new();
    }
    let probe = probe_name(&info.identifier).as_bytes();
    // Probe names are short ASCII, so their modified UTF-8 is their bytes.
    let len = u16::try_from(probe.len()).unwrap_or_default();
    let mut data = Vec::with_capacity(probe.len() + 2);
    data.extend_from_slice(&len.to_be_bytes());
    data.extend_from_slice(probe);
    data
}

/// The name of the lavaplayer container probe (`MediaContainerProbe.getName`) that would detect
/// the file behind a URL, from its extension.
fn probe_name(url: &str) -> &'static str {
    let path = url.split(['?', '#']).next().unwrap_or_default();
    let file = path.rsplit('/').next().unwrap_or_default();
    let extension = file
        .rsplit_once('.')
        .map(|(_, extension)| extension.to_ascii_lowercase())
        .unwrap_or_default();
    match extension.as_str() {
        "flac" => "flac",
        "wav" => "wav",
        "ogg" | "oga" | "opus" => "ogg",
        "m4a" | "mp4" | "m4v" | "mov" => "mp4",
        "webm" | "mkv" | "mka" => "matroska/webm",
        "aac" => "adts",
        _ => "mp3",
    }
}

/// The behaviour of a track, from what its info says.
pub fn behaviour(info: &TrackInfo) -> Behaviour {
    if info.source_name == "sim" {
        let parts: Vec<&str> = info.identifier.split(':').skip(1).collect();
        let kind = parts.first().copied().unwrap_or_default();
        let arg = parts.get(1).copied();
        let third = parts.get(2).copied();
        match kind {
            "stream" => return Behaviour::Stream,
            "fail" => {
                let severity = parse_severity(arg.unwrap_or("common"));
                return Behaviour::FailOnStart(playback_exception(severity));
            }
            "exception" => {
                if let Some(at) = arg.and_then(|a| a.parse().ok()) {
                    let severity = parse_severity(third.unwrap_or("suspicious"));
                    return Behaviour::ExceptionAt(at, playback_exception(severity));
                }
            }
            "stuck" => {
                if let Some(at) = arg.and_then(|a| a.parse().ok()) {
                    return Behaviour::StuckAt(at);
                }
            }
            _ => {}
        }
    }
    if info.is_stream {
        Behaviour::Stream
    } else {
        Behaviour::Normal
    }
}

fn load_sim(rest: &str) -> Loaded {
    let (kind, arg) = rest.split_once(':').unwrap_or((rest, ""));
    let id = format!("sim:{rest}");
    let number = |s: &str| s.split(':').next().and_then(|n| n.parse::<u64>().ok());
    match kind {
        "empty" => Loaded::Empty,
        "error" => Loaded::Error(load_exception(parse_severity(arg))),
        "track" if !arg.is_empty() => Loaded::Track(sim_track(&id, arg, hashed_length(arg))),
        "length" => number(arg).map_or_else(invalid, |ms| {
            Loaded::Track(sim_track(&id, &format!("{ms} ms"), ms))
        }),
        "stream" => {
            let name = if arg.is_empty() { "stream" } else { arg };
            let mut info = sim_track(&id, name, STREAM_LENGTH);
            info.is_stream = true;
            info.is_seekable = false;
            Loaded::Track(info)
        }
        "fail" => Loaded::Track(sim_track(&id, "fails on start", 180_000)),
        "exception" => number(arg).map_or_else(invalid, |ms| {
            let title = format!("throws at {ms} ms");
            Loaded::Track(sim_track(&id, &title, ms.saturating_add(60_000)))
        }),
        "stuck" => number(arg).map_or_else(invalid, |ms| {
            let title = format!("stuck at {ms} ms");
            Loaded::Track(sim_track(&id, &title, ms.saturating_add(60_000)))
        }),
        "playlist" => {
            let (count, name) = arg.split_once(':').unwrap_or((arg, "playlist"));
            match count.parse::<usize>() {
                Ok(n) if (1..=MAX_PLAYLIST).contains(&n) => Loaded::Playlist {
                    name: format!("Sim {name}"),
                    tracks: (1..=n)
                        .map(|i| {
                            let track = format!("{name}-{i}");
                            sim_track(&format!("sim:track:{track}"), &track, hashed_length(&track))
                        })
                        .collect(),
                },
                _ => invalid(),
            }
        }
        _ => invalid(),
    }
}

fn invalid() -> Loaded {
    Loaded::Error(Exception {
        message: Some("Unknown sim identifier".into()),
        severity: Severity::Common,
        cause: "com.sedmelluq.discord.lavaplayer.tools.FriendlyException: Unknown sim identifier"
            .into(),
        cause_stack_trace: None,
    })
}

fn sim_track(identifier: &str, title: &str, length: u64) -> TrackInfo {
    TrackInfo {
        identifier: identifier.to_owned(),
        is_seekable: true,
        author: "DimbyBot Sim".into(),
        length: i64::try_from(length).unwrap_or(i64::MAX),
        is_stream: false,
        position: 0,
        title: format!("Sim: {title}"),
        uri: Some(format!(
            "https://sim.invalid/{}",
            identifier.replace(':', "/")
        )),
        artwork_url: None,
        isrc: None,
        source_name: "sim".into(),
    }
}

#[derive(Clone, Copy)]
enum Source {
    YouTube,
    SoundCloud,
}

fn search(source: Source, query: &str) -> Loaded {
    if query.is_empty() || query.to_ascii_lowercase().contains("nomatch") {
        return Loaded::Empty;
    }
    let tracks = (1..=SEARCH_RESULTS)
        .map(|i| {
            let seed = fnv1a(&format!("{query}#{i}"));
            let title = format!("{query} (result {i})");
            let author = format!("Sim Artist {}", seed % 50);
            let length = 120_000 + i64::from(u8::try_from(seed % 240).unwrap_or(0)) * 1000;
            match source {
                Source::YouTube => {
                    let id = video_id(seed);
                    TrackInfo {
                        identifier: id.clone(),
                        is_seekable: true,
                        author,
                        length,
                        is_stream: false,
                        position: 0,
                        title,
                        uri: Some(format!("https://www.youtube.com/watch?v={id}")),
                        artwork_url: Some(format!("https://i.ytimg.com/vi/{id}/hqdefault.jpg")),
                        isrc: None,
                        source_name: "youtube".into(),
                    }
                }
                Source::SoundCloud => {
                    let number = seed % 1_000_000_000;
                    TrackInfo {
                        identifier: format!("O:https://api-v2.soundcloud.com/media/soundcloud:tracks:{number}/stream/hls"),
                        is_seekable: true,
                        author,
                        length,
                        is_stream: false,
                        position: 0,
                        title,
                        uri: Some(format!("https://soundcloud.com/sim-artist/track-{number}")),
                        artwork_url: None,
                        isrc: None,
                        source_name: "soundcloud".into(),
                    }
                }
            }
        })
        .collect();
    Loaded::Search(tracks)
}

fn load_url(url: &str) -> Loaded {
    let (without_query, query) = url.split_once('?').unwrap_or((url, ""));
    let path = without_query
        .split_once("://")
        .map_or("", |(_, rest)| rest.split_once('/').map_or("", |(_, p)| p));
    let name = path
        .rsplit('/')
        .find(|segment| !segment.is_empty())
        .unwrap_or("Unknown title")
        .to_owned();
    let is_playlist =
        path.contains("playlist") || query.split('&').any(|pair| pair.starts_with("list="));
    let track = |identifier: String, title: String| TrackInfo {
        length: i64::try_from(hashed_length(&identifier)).unwrap_or(i64::MAX),
        identifier: identifier.clone(),
        is_seekable: true,
        author: "Unknown artist".into(),
        is_stream: false,
        position: 0,
        title,
        uri: Some(identifier),
        artwork_url: None,
        isrc: None,
        source_name: "http".into(),
    };
    if is_playlist {
        let separator = if query.is_empty() { '?' } else { '&' };
        Loaded::Playlist {
            name: name.clone(),
            tracks: (1..=URL_PLAYLIST_TRACKS)
                .map(|i| track(format!("{url}{separator}index={i}"), format!("{name} #{i}")))
                .collect(),
        }
    } else {
        Loaded::Track(track(url.to_owned(), name))
    }
}

fn parse_severity(text: &str) -> Severity {
    match text {
        "suspicious" => Severity::Suspicious,
        "fault" => Severity::Fault,
        _ => Severity::Common,
    }
}

fn load_exception(severity: Severity) -> Exception {
    let (message, cause) = match severity {
        Severity::Suspicious => (
            "Received unexpected response from the source (simulated).",
            "java.io.IOException: Invalid status code for response: 429",
        ),
        Severity::Fault => (
            "Something went wrong while looking up the track.",
            "java.lang.IllegalStateException: simulated loader fault",
        ),
        Severity::Common | Severity::Unknown => (
            "This track is not available (simulated).",
            "com.sedmelluq.discord.lavaplayer.tools.FriendlyException: This track is not available (simulated).",
        ),
    };
    exception(message, severity, cause)
}

fn playback_exception(severity: Severity) -> Exception {
    let (message, cause) = match severity {
        Severity::Suspicious => (
            "Something broke when playing the track.",
            "java.net.SocketTimeoutException: Read timed out",
        ),
        Severity::Fault => (
            "Something went wrong when decoding the track.",
            "java.lang.IllegalStateException: simulated decoder fault",
        ),
        Severity::Common | Severity::Unknown => (
            "This track is not available (simulated).",
            "com.sedmelluq.discord.lavaplayer.tools.FriendlyException: This track is not available (simulated).",
        ),
    };
    exception(message, severity, cause)
}

fn exception(message: &str, severity: Severity, cause: &str) -> Exception {
    Exception {
        message: Some(message.to_owned()),
        severity,
        cause: cause.to_owned(),
        cause_stack_trace: Some(format!("{cause}\n\tat lavalink.sim.Catalogue.load(sim)\n")),
    }
}

/// A length between 2 and 6 minutes, whole seconds, derived from a name.
fn hashed_length(name: &str) -> u64 {
    120_000 + (fnv1a(name) % 240) * 1000
}

/// An 11-character YouTube-like video id derived from a seed.
fn video_id(seed: u64) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut value = seed;
    (0..11)
        .map(|_| {
            let index = usize::try_from(value % 64).unwrap_or_default();
            value = (value / 64) ^ seed.rotate_left(17);
            char::from(ALPHABET[index])
        })
        .collect()
}

/// FNV-1a: a stable hash (unlike `DefaultHasher`, it never changes between Rust releases).
fn fnv1a(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sim_behaviours_round_trip_through_info() {
        let Loaded::Track(info) = load("sim:exception:3000:fault") else {
            panic!("not a track")
        };
        assert!(matches!(
            behaviour(&info),
            Behaviour::ExceptionAt(
                3000,
                Exception {
                    severity: Severity::Fault,
                    ..
                }
            )
        ));
        let Loaded::Track(info) = load("sim:stuck:1500") else {
            panic!("not a track")
        };
        assert_eq!(behaviour(&info), Behaviour::StuckAt(1500));
        let Loaded::Track(info) = load("sim:fail") else {
            panic!("not a track")
        };
        assert!(matches!(behaviour(&info), Behaviour::FailOnStart(_)));
        let Loaded::Track(info) = load("sim:stream") else {
            panic!("not a track")
        };
        assert_eq!(behaviour(&info), Behaviour::Stream);
        assert_eq!(info.length, i64::MAX);
    }

    #[test]
    fn searches_are_deterministic() {
        assert_eq!(load("ytsearch:never gonna"), load("ytsearch:never gonna"));
        let Loaded::Search(tracks) = load("scsearch:lofi") else {
            panic!("not a search")
        };
        assert_eq!(tracks.len(), SEARCH_RESULTS);
        assert_eq!(load("ytsearch:nomatch at all"), Loaded::Empty);
    }

    #[test]
    fn http_tracks_carry_the_probe_name_as_source_data() {
        let Loaded::Track(info) = load("https://example.com/a/song.FLAC?x=1") else {
            panic!("not a track")
        };
        assert_eq!(source_data(&info), b"\0\x04flac");
        let Loaded::Track(info) = load("https://example.com/stream") else {
            panic!("not a track")
        };
        assert_eq!(source_data(&info), b"\0\x03mp3");
        let Loaded::Track(info) = load("sim:track:a") else {
            panic!("not a track")
        };
        assert!(source_data(&info).is_empty());
    }

    #[test]
    fn urls_give_tracks_or_playlists() {
        assert!(
            matches!(load("https://example.com/a.mp3"), Loaded::Track(i) if i.source_name == "http")
        );
        assert!(matches!(
            load("https://example.com/watch?v=x&list=PL1"),
            Loaded::Playlist { .. }
        ));
        assert!(matches!(
            load("http://example.com/playlist/7"),
            Loaded::Playlist { .. }
        ));
    }
}
