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

/// How many tracks a YouTube radio mix (`list=RD<id>`) has, the seed included: YouTube's
/// `next` endpoint answers a mix's first page with about 25 videos.
pub const MIX_TRACKS: usize = 25;

/// How many tracks a YouTube playlist URL (`list=PL...`) gives.
const YOUTUBE_PLAYLIST_TRACKS: usize = 10;

/// The length of a `sim:lyrics:long` track: 6 minutes, room for its many lines.
const LONG_LYRICS_TRACK: u64 = 360_000;

/// How many artists the catalogue's YouTube and SoundCloud tracks are spread over
/// (`Sim Artist 0` .. `Sim Artist 49`).
const ARTISTS: u64 = 50;

/// What loading an identifier found, before the tracks are encoded.
#[derive(Debug, Clone, PartialEq)]
pub enum Loaded {
    /// One track.
    Track(TrackInfo),
    /// A playlist.
    Playlist {
        /// Its name.
        name: String,
        /// The index of the selected track, -1 for none.
        selected: i32,
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
    if let Some(loaded) = load_youtube_url(identifier) {
        return loaded;
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
        "lyrics" => {
            let (kind, name) = arg.split_once(':').unwrap_or((arg, ""));
            let Some(kind) = super::lyrics::Kind::parse(kind) else {
                return invalid();
            };
            let name = if name.is_empty() { kind.name() } else { name };
            let length = match kind {
                super::lyrics::Kind::Long => LONG_LYRICS_TRACK,
                _ => hashed_length(name),
            };
            let title = format!("{name} ({} lyrics)", kind.name());
            Loaded::Track(sim_track(&id, &title, length))
        }
        "playlist" => {
            let (count, name) = arg.split_once(':').unwrap_or((arg, "playlist"));
            match count.parse::<usize>() {
                Ok(n) if (1..=MAX_PLAYLIST).contains(&n) => Loaded::Playlist {
                    name: format!("Sim {name}"),
                    selected: -1,
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
    if let Some(artist) = artist_named(query) {
        return Loaded::Search(by_artist(source, &artist, SEARCH_RESULTS, "search"));
    }
    let tracks = (1..=SEARCH_RESULTS)
        .map(|i| {
            let seed = fnv1a(&format!("{query}#{i}"));
            let title = format!("{query} (result {i})");
            match source {
                Source::YouTube => {
                    let id = video_id(seed);
                    TrackInfo {
                        title,
                        ..youtube_item(&id)
                    }
                }
                Source::SoundCloud => {
                    let author = format!("Sim Artist {}", seed % ARTISTS);
                    soundcloud_track(seed % 1_000_000_000, title, author)
                }
            }
        })
        .collect();
    Loaded::Search(tracks)
}

/// The catalogue's artist a search query names, if it names one: `Sim Artist <0-49>`, in any
/// case and spacing at the ends.
fn artist_named(query: &str) -> Option<String> {
    let lower = query.trim().to_ascii_lowercase();
    let number: u64 = lower.strip_prefix("sim artist ")?.trim().parse().ok()?;
    (number < ARTISTS).then(|| format!("Sim Artist {number}"))
}

/// `count` tracks by one artist, deterministic from the artist and `salt` (different salts give
/// different tracks). YouTube tracks are videos whose id-derived author is the artist, so loading
/// one by its URL gives the same title and author.
fn by_artist(source: Source, artist: &str, count: usize, salt: &str) -> Vec<TrackInfo> {
    match source {
        Source::YouTube => artist_videos(artist, salt).take(count).collect(),
        Source::SoundCloud => (1..=count)
            .map(|i| {
                let seed = fnv1a(&format!("{artist}#{salt}#{i}"));
                let title = song_title(seed);
                soundcloud_track(seed % 1_000_000_000, title, artist.to_owned())
            })
            .collect(),
    }
}

/// Videos by one artist, in a deterministic order that depends on `salt`.
fn artist_videos<'a>(artist: &'a str, salt: &'a str) -> impl Iterator<Item = TrackInfo> + 'a {
    // One video in ARTISTS has a given author, so this finds one about every 50 candidates; the
    // bound only keeps the iterator finite.
    (0..1_000_000_u32)
        .map(move |k| video_id(fnv1a(&format!("{artist}#{salt}#{k}"))))
        .filter(move |id| video_author(id) == artist)
        .map(|id| youtube_item(&id))
}

fn soundcloud_track(number: u64, title: String, author: String) -> TrackInfo {
    TrackInfo {
        identifier: format!(
            "O:https://api-v2.soundcloud.com/media/soundcloud:tracks:{number}/stream/hls"
        ),
        is_seekable: true,
        author,
        length: i64::try_from(hashed_length(&number.to_string())).unwrap_or(i64::MAX),
        is_stream: false,
        position: 0,
        title,
        uri: Some(format!("https://soundcloud.com/sim-artist/track-{number}")),
        artwork_url: None,
        isrc: None,
        source_name: "soundcloud".into(),
    }
}

/// A YouTube video as the youtube source lists it in search results, mixes and playlists:
/// title, author and length derived from the id, artwork the `hqdefault` thumbnail (lavaplayer's
/// `ThumbnailTools.getYouTubeThumbnail` falls back to it when the listed thumbnails end with no
/// `maxresdefault`, as list entries do).
fn youtube_item(id: &str) -> TrackInfo {
    TrackInfo {
        identifier: id.to_owned(),
        is_seekable: true,
        author: video_author(id),
        length: i64::try_from(hashed_length(id)).unwrap_or(i64::MAX),
        is_stream: false,
        position: 0,
        title: video_title(id),
        uri: Some(format!("https://www.youtube.com/watch?v={id}")),
        artwork_url: Some(format!("https://i.ytimg.com/vi/{id}/hqdefault.jpg")),
        isrc: None,
        source_name: "youtube".into(),
    }
}

/// A YouTube video loaded by itself (a watch URL): as [`youtube_item`], with the
/// `maxresdefault` thumbnail that the video details list last.
fn youtube_video(id: &str) -> TrackInfo {
    TrackInfo {
        artwork_url: Some(format!("https://i.ytimg.com/vi/{id}/maxresdefault.jpg")),
        ..youtube_item(id)
    }
}

/// The author of a video, from its id.
fn video_author(id: &str) -> String {
    format!("Sim Artist {}", fnv1a(&format!("author:{id}")) % ARTISTS)
}

/// The title of a video, from its id.
fn video_title(id: &str) -> String {
    song_title(fnv1a(&format!("title:{id}")))
}

/// A song title from a hash: two words.
fn song_title(seed: u64) -> String {
    const FIRST: [&str; 16] = [
        "Amber", "Velvet", "Electric", "Silent", "Golden", "Broken", "Midnight", "Neon", "Paper",
        "Crystal", "Wild", "Hollow", "Distant", "Burning", "Frozen", "Lucky",
    ];
    const SECOND: [&str; 16] = [
        "Skies", "Hearts", "Rivers", "Lights", "Roads", "Dreams", "Echoes", "Waves", "Streets",
        "Shadows", "Horizons", "Letters", "Gardens", "Engines", "Summers", "Signals",
    ];
    let first = FIRST[usize::try_from(seed % 16).unwrap_or_default()];
    let second = SECOND[usize::try_from((seed / 16) % 16).unwrap_or_default()];
    format!("{first} {second}")
}

/// Whether a text is a YouTube video id: 11 characters of `[A-Za-z0-9_-]` (the youtube
/// source's `VIDEO_ID_REGEX`).
fn is_video_id(text: &str) -> bool {
    text.len() == 11
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Loads a YouTube URL as the youtube source plugin routes it (`YoutubeAudioSourceManager
/// .getRouter`): `(www.|m.|music.)youtube.com/watch?v=` (with `list=RD...` a mix, with another
/// `list=` a playlist, except `LL`, `WL` and `LM`), `/playlist?list=`, `/live/`, `/embed/`,
/// `/shorts/` and `youtu.be/`. `None` for URLs the source does not take (they go on to the
/// http source); a video id that is not 11 valid characters after trimming loads nothing.
fn load_youtube_url(identifier: &str) -> Option<Loaded> {
    let rest = identifier
        .strip_prefix("https://")
        .or_else(|| identifier.strip_prefix("http://"))
        .unwrap_or(identifier);
    let (host, path_and_query) = rest.split_once('/')?;
    let (path, query) = path_and_query
        .split_once('#')
        .map_or(path_and_query, |(before, _)| before)
        .split_once('?')
        .unwrap_or((path_and_query, ""));
    let param = |name: &str| {
        query
            .split('&')
            .filter_map(|pair| pair.split_once('='))
            .find(|(key, _)| *key == name)
            .map(|(_, value)| value)
    };
    let main = matches!(
        host,
        "youtube.com" | "www.youtube.com" | "m.youtube.com" | "music.youtube.com"
    );
    if main {
        match path {
            "watch" => {
                if let Some(video) = param("v") {
                    return Some(route_video(video, param("list")));
                }
            }
            "playlist" => {
                if let Some(list) = param("list") {
                    return Some(match list.strip_prefix("RD") {
                        Some(seed) => youtube_mix(list, seed, Some(seed)),
                        None => youtube_playlist(list, None),
                    });
                }
            }
            _ => {}
        }
        let short = ["live/", "embed/", "shorts/"]
            .iter()
            .find_map(|prefix| path.strip_prefix(prefix));
        return short.map(|video| route_video(video, None));
    }
    matches!(host, "youtu.be" | "www.youtu.be").then(|| route_video(path, None))
}

/// A video id from a URL, with the playlist it was opened in (`routeFromVideoId`).
fn route_video(video: &str, list: Option<&str>) -> Loaded {
    let trimmed = video.get(..11).unwrap_or(video);
    if !is_video_id(trimmed) {
        return Loaded::Empty;
    }
    let Some(list) = list else {
        return Loaded::Track(youtube_video(trimmed));
    };
    if let Some(seed) = list.strip_prefix("RD") {
        youtube_mix(list, seed, Some(trimmed))
    } else if ["LL", "WL", "LM"].iter().any(|p| list.starts_with(p)) {
        // Liked videos, watch later, liked music: need a signed-in user, so the video alone.
        Loaded::Track(youtube_video(trimmed))
    } else {
        youtube_playlist(list, Some(trimmed))
    }
}

/// The index of the selected video in a list, -1 when it is not there (`findSelectedTrack`).
fn selected_index(tracks: &[TrackInfo], selected: Option<&str>) -> i32 {
    selected
        .and_then(|id| tracks.iter().position(|track| track.identifier == id))
        .and_then(|index| i32::try_from(index).ok())
        .unwrap_or(-1)
}

/// A radio mix (`list=RD<seed>`): [`MIX_TRACKS`] videos, the seed video first (as YouTube
/// starts the mix it makes from a video with that video), then videos derived from the seed,
/// every fourth one by the seed's artist, none twice. Named as YouTube titles mixes, "Mix - "
/// and the seed's title; the plugin takes that title (`loadMix`) and selects the video the URL
/// named, if the mix has it.
fn youtube_mix(list: &str, seed: &str, selected: Option<&str>) -> Loaded {
    let mut tracks: Vec<TrackInfo> = Vec::with_capacity(MIX_TRACKS);
    let mut listed = std::collections::HashSet::new();
    let name = if is_video_id(seed) {
        let first = youtube_item(seed);
        let name = format!("Mix - {}", first.title);
        listed.insert(first.identifier.clone());
        tracks.push(first);
        name
    } else {
        "YouTube mix".to_owned()
    };
    let artist = video_author(seed);
    let mut same_artist = artist_videos(&artist, list);
    let mut k = 0_u64;
    while tracks.len() < MIX_TRACKS && k < 10_000 {
        k += 1;
        let candidate = if k.is_multiple_of(4) {
            same_artist.next()
        } else {
            Some(youtube_item(&video_id(fnv1a(&format!("{list}~{k}")))))
        };
        if let Some(track) = candidate.filter(|track| listed.insert(track.identifier.clone())) {
            tracks.push(track);
        }
    }
    Loaded::Playlist {
        name,
        selected: selected_index(&tracks, selected),
        tracks,
    }
}

/// A YouTube playlist (`list=` other than a mix): [`YOUTUBE_PLAYLIST_TRACKS`] videos derived
/// from its id, the URL's video selected if the playlist has it.
fn youtube_playlist(list: &str, selected: Option<&str>) -> Loaded {
    let tracks: Vec<TrackInfo> = (1..=YOUTUBE_PLAYLIST_TRACKS)
        .map(|i| youtube_item(&video_id(fnv1a(&format!("{list}#{i}")))))
        .collect();
    Loaded::Playlist {
        name: format!("Sim playlist {list}"),
        selected: selected_index(&tracks, selected),
        tracks,
    }
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
            selected: -1,
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
pub(crate) fn hashed_length(name: &str) -> u64 {
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

/// A video id for tests, one per number.
#[cfg(test)]
pub(crate) fn test_video_id(i: u64) -> String {
    video_id(fnv1a(&format!("test#{i}")))
}

/// FNV-1a: a stable hash (unlike `DefaultHasher`, it never changes between Rust releases).
pub(crate) fn fnv1a(text: &str) -> u64 {
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

    fn mix(identifier: &str) -> (String, i32, Vec<TrackInfo>) {
        match load(identifier) {
            Loaded::Playlist {
                name,
                selected,
                tracks,
            } => (name, selected, tracks),
            other => panic!("{identifier} is not a playlist: {other:?}"),
        }
    }

    #[test]
    fn youtube_urls_load_the_video() {
        let Loaded::Track(video) = load("https://www.youtube.com/watch?v=dQw4w9WgXcQ") else {
            panic!("not a track")
        };
        assert_eq!(video.source_name, "youtube");
        assert_eq!(video.identifier, "dQw4w9WgXcQ");
        assert_eq!(
            video.uri.as_deref(),
            Some("https://www.youtube.com/watch?v=dQw4w9WgXcQ")
        );
        assert_eq!(
            video.artwork_url.as_deref(),
            Some("https://i.ytimg.com/vi/dQw4w9WgXcQ/maxresdefault.jpg")
        );
        assert!(video.author.starts_with("Sim Artist "));
        assert!(!video.title.is_empty());
        assert!((120_000..360_000).contains(&video.length));
        for same in [
            "https://youtu.be/dQw4w9WgXcQ",
            "https://youtu.be/dQw4w9WgXcQ?si=abc",
            "https://music.youtube.com/watch?v=dQw4w9WgXcQ&feature=share",
            "http://m.youtube.com/watch?v=dQw4w9WgXcQ",
            "youtube.com/watch?v=dQw4w9WgXcQ",
            "https://www.youtube.com/shorts/dQw4w9WgXcQ",
            "https://www.youtube.com/watch?v=dQw4w9WgXcQ&list=WL",
        ] {
            assert_eq!(load(same), Loaded::Track(video.clone()), "{same}");
        }
        assert_eq!(load("https://www.youtube.com/watch?v=short"), Loaded::Empty);
        assert_ne!(
            load("https://www.youtube.com/watch?v=aaaaaaaaaaa"),
            Loaded::Track(video)
        );
    }

    #[test]
    fn a_radio_mix_starts_with_its_seed_and_never_repeats() {
        let url = "https://www.youtube.com/watch?v=dQw4w9WgXcQ&list=RDdQw4w9WgXcQ";
        let (name, selected, tracks) = mix(url);
        assert_eq!(mix(url), (name.clone(), selected, tracks.clone()));
        assert_eq!(tracks.len(), MIX_TRACKS);
        let Loaded::Track(seed) = load("https://youtu.be/dQw4w9WgXcQ") else {
            panic!("not a track")
        };
        assert_eq!(tracks[0].identifier, seed.identifier);
        assert_eq!(tracks[0].title, seed.title);
        assert_eq!(name, format!("Mix - {}", seed.title));
        assert_eq!(selected, 0);
        let ids: std::collections::HashSet<_> = tracks.iter().map(|t| &t.identifier).collect();
        assert_eq!(ids.len(), MIX_TRACKS, "no video twice");
        assert!(tracks.iter().all(|t| t.source_name == "youtube"
            && t.identifier.len() == 11
            && t.uri.as_deref()
                == Some(format!("https://www.youtube.com/watch?v={}", t.identifier).as_str())));
        assert!(
            tracks[1..]
                .iter()
                .filter(|t| t.author == seed.author)
                .count()
                >= 5,
            "the seed's artist comes back"
        );
        // The playlist URL of the same mix selects the seed.
        let (_, selected, same) = mix("https://www.youtube.com/playlist?list=RDdQw4w9WgXcQ");
        assert_eq!((selected, same), (0, tracks.clone()));

        // Another seed: a mostly different mix.
        let (_, _, other) = mix("https://www.youtube.com/watch?v=aaaaaaaaaaa&list=RDaaaaaaaaaaa");
        let shared = other.iter().filter(|t| ids.contains(&t.identifier)).count();
        assert!(shared <= 2, "{shared} videos in common");
    }

    #[test]
    fn a_search_result_seeds_a_mix() {
        let Loaded::Search(results) = load("ytsearch:never gonna give") else {
            panic!("not a search")
        };
        let id = &results[0].identifier;
        assert_eq!(id.len(), 11);
        assert!(is_video_id(id));
        let (_, selected, tracks) =
            mix(&format!("https://www.youtube.com/watch?v={id}&list=RD{id}"));
        assert_eq!((selected, &tracks[0].identifier), (0, id));
        // The search result is the same video as its URL loads, but for the title.
        let Loaded::Track(video) = load(results[0].uri.as_deref().unwrap_or_default()) else {
            panic!("not a track")
        };
        assert_eq!(
            (&video.author, video.length),
            (&results[0].author, results[0].length)
        );
    }

    #[test]
    fn searching_an_artist_finds_their_tracks() {
        for (prefix, source) in [("ytsearch:", "youtube"), ("scsearch:", "soundcloud")] {
            let Loaded::Search(tracks) = load(&format!("{prefix}Sim Artist 7")) else {
                panic!("not a search")
            };
            assert_eq!(tracks.len(), SEARCH_RESULTS);
            assert!(
                tracks
                    .iter()
                    .all(|t| t.author == "Sim Artist 7" && t.source_name == source)
            );
            let ids: std::collections::HashSet<_> = tracks.iter().map(|t| &t.identifier).collect();
            assert_eq!(ids.len(), SEARCH_RESULTS);
            assert_eq!(
                load(&format!("{prefix} sim artist 7 ")),
                Loaded::Search(tracks)
            );
        }
        // The artist of any video finds more of theirs, which load as the same videos.
        let Loaded::Track(video) = load("https://youtu.be/dQw4w9WgXcQ") else {
            panic!("not a track")
        };
        let Loaded::Search(more) = load(&format!("ytsearch:{}", video.author)) else {
            panic!("not a search")
        };
        for track in &more {
            assert_eq!(track.author, video.author);
            let Loaded::Track(again) = load(track.uri.as_deref().unwrap_or_default()) else {
                panic!("not a track")
            };
            assert_eq!((&again.title, &again.author), (&track.title, &track.author));
        }
        // Not an artist of the catalogue: an ordinary search.
        let Loaded::Search(other) = load("ytsearch:Sim Artist 50") else {
            panic!("not a search")
        };
        assert!(other[0].title.contains("Sim Artist 50"));
    }

    #[test]
    fn youtube_playlists_select_the_video() {
        let (_, selected, tracks) = mix("https://www.youtube.com/playlist?list=PLabc");
        assert_eq!((selected, tracks.len()), (-1, YOUTUBE_PLAYLIST_TRACKS));
        let third = tracks[2].identifier.clone();
        let (_, selected, _) = mix(&format!(
            "https://www.youtube.com/watch?v={third}&list=PLabc"
        ));
        assert_eq!(selected, 2);
    }
}
