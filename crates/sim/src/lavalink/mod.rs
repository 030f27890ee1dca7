//! A stand-in Lavalink v4 node.
//!
//! It serves the REST and socket surface of a real v4 node (as of 4.2) with the same status codes
//! and error messages, over loopback, for tests ([`SimNode::start`], [`start_nodes`]) and for the
//! standalone `dimby sim lavalink` ([`run_standalone`]). See `docs/sim.md` for the full story.
//!
//! # Time
//!
//! Playback positions, `playerUpdate` and `stats` cadences, stuck thresholds and resume timeouts
//! follow [`NodeConfig::clock`]. With a [`clock::ManualClock`], nothing moves until the test
//! advances the clock; the node's ticker sleeps on that clock, so after `clock.advance(..)` it
//! wakes and emits, in time order and each at its own instant, everything that fell due. A test
//! then reads the messages from its socket (or [`SimNode::subscribe`]), or calls
//! [`SimNode::settle`] to have them emitted and written. `PlayerState.time` is a wall-clock
//! origin plus the clock's elapsed time. Only the injected latency, delayed restarts and the
//! serial player PATCHes of [`ServerBehaviour::serial_player_patches`] use real time.
//!
//! # Playback model (as lavaplayer)
//!
//! A track's position is the timecode of the last frame the voice connection pulled, so it
//! advances only while the player has a track, is not paused and has a voice connection
//! (token, endpoint, session id and channel id all known: `connected: true`, ping
//! [`NodeConfig::voice_ping_ms`]). Without one, TrackStartEvent fires and `playerUpdate`s flow but
//! the position stays put. When Discord closes the voice gateway ([`Fault::VoiceClosed`]) the
//! player reports `connected: false` (ping kept, as Koe keeps the last heartbeat) but Koe's frame
//! poller goes on, so the position still advances; the next voice state reconnects. Tracks end at their length (TrackEnd `finished`) or at `endTime`
//! (`finished`); streams never end. `playerUpdate` goes out at track start and then every
//! interval while the player has a track (paused or not, as Lavalink's scheduler does), on seek,
//! on filter changes, when the voice connection opens, after a stuck event and on resume.
//!
//! # Behaving like other servers
//!
//! [`NodeConfig::behaviour`] switches, one by one, the ways in which another Lavalink-compatible
//! server differs from Lavalink 4.2: audio start-ups, TrackStart waiting for the audio, player
//! PATCHes served one at a time, `systemLoad` as a load average, no session resuming, a second
//! TrackStart after a seek, sockets reset on shutdown. [`ServerBehaviour::lavalink`] (the
//! default) is Lavalink 4.2; [`ServerBehaviour::nodelink`] is NodeLink 2.3.0 as measured.
//!
//! # Catalogue grammar
//!
//! | identifier | loads as | plays as |
//! |---|---|---|
//! | `sim:track:<name>` | track, 2-6 min derived from the name | normal |
//! | `sim:length:<ms>` | track of that length | normal |
//! | `sim:stream[:<name>]` | live stream (`isStream`, not seekable) | never ends |
//! | `sim:playlist:<n>[:<name>]` | playlist of `n` (1-500) `sim:track:` tracks | |
//! | `sim:fail[:<severity>]` | track | TrackStart, TrackException, TrackEnd `loadFailed` at once |
//! | `sim:exception:<ms>[:<severity>]` | track of `ms` + 60 s | TrackException then TrackEnd `finished` at `ms` (`loadFailed` at 0) |
//! | `sim:stuck:<ms>` | track of `ms` + 60 s | stalls at `ms`; TrackStuck after the threshold; the track stays |
//! | `sim:error:<common\|suspicious\|fault>` | `loadType: error` with that severity | |
//! | `sim:empty`, other `sim:` | empty / error (common) | |
//! | `sim:lyrics:<timed\|text\|none\|long>[:<name>]` | track with lyrics of that kind (`long`: 200 timed lines, a 6 min track) | normal |
//! | `ytsearch:`, `ytmsearch:`, `scsearch:<query>` | search, 5 tracks derived from the query (`youtube` / `soundcloud`) | normal |
//! | … whose query is `Sim Artist <0-49>` | search, 5 tracks by that artist | normal |
//! | … with an empty query or one containing `nomatch` | empty | |
//! | `youtube.com/watch?v=<id>`, `youtu.be/<id>`, `music.`/`m.` hosts, `/shorts/` … | track, `sourceName: youtube`, title, author and length derived from the id | normal |
//! | … with `list=RD<seed>` (or `/playlist?list=RD<seed>`) | radio mix: "Mix - <title>", 25 tracks, the seed first, none twice; selectedTrack the `v` video's index | |
//! | … with another `list=` | playlist of 10 youtube tracks, selectedTrack the `v` video's index or -1 | |
//! | other `http(s)://…` | track (`sourceName: http`, its `encoded` carrying lavaplayer's probe info); a playlist of 3 when the path contains `playlist` or the query `list=` | normal |
//! | anything else | empty | |
//!
//! Severity defaults: `common` for `sim:fail` and `sim:error`, `suspicious` for `sim:exception`.
//! Tracks are encoded with [`lavalink::codec`], with the source-specific bytes lavaplayer writes
//! (for `http`, the container probe's name as `HttpAudioSourceManager` writes it, guessed from the
//! URL's extension, `mp3` by default); a track PATCHed as `encoded` is decoded with it, its source
//! bytes kept, so tracks of any source play (behaving as `sim:` tracks when their `sourceName` is
//! `sim`).
//!
//! # Plugins
//!
//! [`NodeConfig::plugins`] lists what `/v4/info` reports (none by default).
//! [`NodeConfig::with_lyrics_plugin`] loads LavaLyrics 1.0.0: `GET /v4/lyrics?track=` and
//! `GET /v4/sessions/{id}/players/{guild}/track/lyrics` answer [`Lyrics`] (200) or 204, from
//! [`lyrics_for`]; without it those paths are unknown (404).
//!
//! # Stats
//!
//! `frameStats` in the `stats` op is null until one of the session's playing players has been
//! playing since before the previous whole minute of the node's clock (minutes counted from the
//! node's start) began, as Lavalink's `AudioLossCounter.isDataUsable`; a track start or resume
//! more than 100 ms after a track end or pause starts that over. `GET /v4/stats` never has it.
//!
//! # Errors
//!
//! Error bodies are Lavalink's `{timestamp, status, error, message, path}`, plus a `trace`
//! string when the query has `trace` (other than `trace=false`), as Spring Boot's
//! `include-stacktrace: ON_PARAM` gives it.
//!
//! # Faults
//!
//! See [`Fault`]; switched by the [`SimNode`] methods or `POST /sim/fault` (`{"fault": "crash",
//! "restartAfterMs": 2000}`, `hang`, `slow`, `errorRate`, `overload`, `shutdown`, `restart`,
//! `heal`, `dropConnections`, `voiceClosed`), inspected with `GET /sim/state`; both need the
//! node's password.
//!
//! - `{"fault": "hang"}` ([`SimNode::hang`]): a frozen process. Requests and handshakes are held,
//!   sockets stay open and silent, and playback freezes: every position stops at the instant of
//!   the hang, no track ends or stalls, and nothing falls due (playerUpdates, stats, stuck
//!   events, resume timeouts). `heal` thaws it: held answers and unwritten messages flow,
//!   positions go on from where they stopped, and what fell due meanwhile happens at once.
//! - `{"fault": "dropConnections", "closeCode": 4000}` ([`SimNode::drop_connections`]): a network
//!   blip. Every open session socket is dropped (after a close frame with `closeCode` if given,
//!   else with none, as a reset) while the node keeps running and listening. Each session then
//!   follows the rules of any closed socket, at once: with resuming on it is paused (players keep
//!   playing, events and stats queue) and can be resumed with `Session-Id` within its timeout;
//!   without, it is destroyed with its players. Unsendable codes (1005, 1006, 1015, ...) are 400.
//! - `{"fault": "voiceClosed", "guildId": "123", "code": 4006, "reason": "...", "byRemote": true}`
//!   (optional `sessionId`, `retriesExhausted`; [`SimNode::close_voice`]): Discord closes a
//!   player's voice socket, as Koe reports it to Lavalink. For a code Koe does not retry, the
//!   session gets `WebSocketClosedEvent{guildId, code, reason, byRemote}` then a `playerUpdate`
//!   (queued, and the update dropped, while detached), and the player reports `connected: false`
//!   until the client PATCHes a complete voice state (the same one will do), which reconnects it
//!   with a `playerUpdate`. Koe retries 1001, 1006, 4000-4003, 4005, 4009, 4012, 4015, 4016, 4020
//!   and 4900 itself (three times), so those change nothing unless `retriesExhausted` is true.
//!   404 when no player of the guild has an open voice connection.

mod catalogue;
mod config;
mod control;
mod faults;
mod lyrics;
mod node;
mod playback;
mod rest;
mod server;
mod session;
mod socket;

pub use catalogue::{MIX_TRACKS, SEARCH_RESULTS, STREAM_LENGTH};
pub use config::{
    DEFAULT_PASSWORD, LAVALINK_VERSION, LAVALYRICS_PLUGIN, LAVALYRICS_VERSION, LAVAPLAYER_VERSION,
    NodeConfig, ServerBehaviour, SimError,
};
pub use control::{SessionSnapshot, SimState};
pub use faults::{Fault, FaultSummary};
pub use lyrics::{
    LONG_LYRICS_LINES, LYRICS_PROVIDER, LYRICS_SOURCE, Lyrics, LyricsLine, lyrics_for,
};
pub use node::{ReceivedRequest, SentMessage, SimNode, run_standalone, start_nodes};
