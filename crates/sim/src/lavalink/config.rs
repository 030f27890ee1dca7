//! How a stand-in node is set up, and what can go wrong starting one.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use clock::{SharedClock, SystemClock};
use lavalink::model::{GuildId, Plugin};
use serde::{Deserialize, Serialize};

/// The password a Lavalink node ships with in its example configuration.
pub const DEFAULT_PASSWORD: &str = "youshallnotpass";

/// The Lavalink version the stand-in reports.
pub const LAVALINK_VERSION: &str = "4.2.2";

/// The lavaplayer version `/v4/info` reports: the one Lavalink 4.2.2 ships (`settings.gradle.kts`:
/// `version("lavaplayer", "2.2.6")`).
pub const LAVAPLAYER_VERSION: &str = "2.2.6";

/// The name the LavaLyrics plugin reports in `/v4/info` (`plugin/build.gradle.kts`:
/// `lavalinkPlugin { name = "lavalyrics-plugin" }`, written to its plugin manifest).
pub const LAVALYRICS_PLUGIN: &str = "lavalyrics-plugin";

/// The LavaLyrics version the stand-in reports: 1.0.0, its only release.
pub const LAVALYRICS_VERSION: &str = "1.0.0";

/// Configuration of one stand-in node.
#[derive(Debug, Clone)]
pub struct NodeConfig {
    /// A name for logs and `/sim/state` (not part of the Lavalink protocol).
    pub name: String,
    /// Where to listen. Port 0 (the default, on 127.0.0.1) picks a free port.
    pub listen: SocketAddr,
    /// The password clients must send in `Authorization`.
    pub password: String,
    /// The clock that drives playback, intervals and resume timeouts.
    pub clock: SharedClock,
    /// How often a player with a track sends `playerUpdate` (Lavalink's `playerUpdateInterval`).
    pub player_update_interval: Duration,
    /// How often each session gets `stats` (fixed at one minute in Lavalink).
    pub stats_interval: Duration,
    /// How long a stalled track waits before `TrackStuckEvent` (lavaplayer's default 10 s).
    pub track_stuck_threshold: Duration,
    /// The voice gateway ping connected players report, in milliseconds.
    pub voice_ping_ms: i64,
    /// The version `/version` and `/v4/info` report.
    pub version: String,
    /// CPU cores `stats` reports.
    pub cores: u32,
    /// Seed of the random numbers behind the REST error rate fault.
    pub seed: u64,
    /// Which server's ways it follows where Lavalink-compatible servers differ (Lavalink 4.2's
    /// by default).
    pub behaviour: ServerBehaviour,
    /// The plugins the node has loaded, as `/v4/info` lists them: none by default, as a bare
    /// Lavalink. One named [`LAVALYRICS_PLUGIN`] (see [`NodeConfig::with_lyrics_plugin`]) adds
    /// the LavaLyrics routes; other entries are only listed.
    pub plugins: Vec<Plugin>,
}

impl Default for NodeConfig {
    fn default() -> Self {
        Self {
            name: "sim".into(),
            listen: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            password: DEFAULT_PASSWORD.into(),
            clock: SystemClock::shared(),
            player_update_interval: Duration::from_secs(5),
            stats_interval: Duration::from_secs(60),
            track_stuck_threshold: Duration::from_secs(10),
            voice_ping_ms: 12,
            version: LAVALINK_VERSION.into(),
            cores: 4,
            seed: 0x5eed,
            behaviour: ServerBehaviour::lavalink(),
            plugins: Vec::new(),
        }
    }
}

impl NodeConfig {
    /// The configuration `dimby sim lavalink` uses: the system clock on a given address.
    pub fn standalone(
        listen: SocketAddr,
        password: impl Into<String>,
        name: Option<String>,
    ) -> Self {
        Self {
            name: name.unwrap_or_else(|| "sim".into()),
            listen,
            password: password.into(),
            ..Self::default()
        }
    }

    /// The same configuration driven by another clock.
    #[must_use]
    pub fn with_clock(mut self, clock: SharedClock) -> Self {
        self.clock = clock;
        self
    }

    /// The same configuration with another name.
    #[must_use]
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// The same configuration with another password.
    #[must_use]
    pub fn with_password(mut self, password: impl Into<String>) -> Self {
        self.password = password.into();
        self
    }

    /// The same configuration behaving like another server (see [`ServerBehaviour`]).
    #[must_use]
    pub fn with_behaviour(mut self, behaviour: ServerBehaviour) -> Self {
        self.behaviour = behaviour;
        self
    }

    /// The same configuration with the LavaLyrics plugin ([`LAVALYRICS_PLUGIN`]
    /// [`LAVALYRICS_VERSION`]) loaded, and so its lyrics routes served.
    #[must_use]
    pub fn with_lyrics_plugin(mut self) -> Self {
        if !self.has_lyrics_plugin() {
            self.plugins.push(Plugin {
                name: LAVALYRICS_PLUGIN.into(),
                version: LAVALYRICS_VERSION.into(),
            });
        }
        self
    }

    /// Whether the node has the LavaLyrics plugin.
    pub fn has_lyrics_plugin(&self) -> bool {
        self.plugins
            .iter()
            .any(|plugin| plugin.name == LAVALYRICS_PLUGIN)
    }

    /// The same configuration with other update intervals.
    #[must_use]
    pub fn with_intervals(mut self, player_update: Duration, stats: Duration) -> Self {
        self.player_update_interval = player_update;
        self.stats_interval = stats;
        self
    }
}

/// Where Lavalink-compatible servers behave differently from Lavalink 4.2 in ways a client
/// notices, each switchable on its own. [`ServerBehaviour::lavalink`] (the default) is Lavalink
/// 4.2; [`ServerBehaviour::nodelink`] is NodeLink 2.3.0 (commit `fae1694`), from measurements of
/// a running node and its source. See docs/sim.md, "Behaving like other servers".
///
/// Delays on the node's clock (start-ups, the second TrackStart) follow
/// [`NodeConfig::clock`]; the serial PATCH service takes real time, as the `slow` fault does.
#[expect(
    clippy::struct_excessive_bools,
    reason = "independent switches, each one fact about a server"
)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServerBehaviour {
    /// How long a newly started track takes before it plays (node's clock): until then its
    /// position stays at its start position and it pulls no frames. Models the audio pipeline's
    /// start-up: a real node sends no audio, and no playerUpdate with an advancing position,
    /// until its decoder has produced the first frames. Lavalink: zero (the stand-in's model).
    #[serde(rename = "audioStartDelayMs", with = "millis")]
    pub audio_start_delay: Duration,
    /// The same start-up for a PATCH that carries `position` (a new track started at a position,
    /// or a seek of the playing track): on NodeLink such a PATCH goes through an ffmpeg seek
    /// path, which takes longer to produce audio than a plain start.
    #[serde(rename = "audioStartDelayAtPositionMs", with = "millis")]
    pub audio_start_delay_at_position: Duration,
    /// Whether a track's `TrackStartEvent` waits until its audio starts (after the start-up
    /// delay) rather than going out with the PATCH. NodeLink sends it when the voice library's
    /// player turns `playing`, which happens when the new audio stream is first readable;
    /// Lavalink sends it from lavaplayer's `startTrack`, before any frame is decoded.
    pub track_start_waits_for_audio: bool,
    /// The node serves its REST requests one at a time, in order of arrival (one event loop),
    /// and each player PATCH (`PATCH /v4/sessions/{id}/players/{guild}`) takes this long of it in
    /// real time before it is applied and answered; other requests take no time of their own
    /// but wait for the PATCHes ahead of them (a probe behind a burst of moves is slow), and
    /// every request is carried out even when its client gave up waiting. Measured on NodeLink
    /// 2.3.0 under load: concurrent player PATCHes answered ~0.55 s apart (in a burst of 11-12
    /// to one node, the 7th and later took more than 5 s), and a probe of a node during such a
    /// burst timed out. Lavalink: `None` (served concurrently).
    #[serde(rename = "serialPlayerPatchesMs", with = "option_millis")]
    pub serial_player_patches: Option<Duration>,
    /// Whether `cpu.systemLoad` (in the `stats` op and `GET /v4/stats`) is a load average, the
    /// number of cores times the load fraction, as NodeLink's `os.loadavg()[0]` (e.g. 2.76 on 2
    /// cores), instead of Lavalink's fraction of 0 to 1.
    pub system_load_as_load_average: bool,
    /// Whether sessions can be resumed. Without: `PATCH /v4/sessions/{id}` answers 404 (the
    /// route does not exist, as on NodeLink), so resuming can never be switched on: a reconnect
    /// with `Session-Id` gets a new session (`Session-Resumed: false`) and a session ends, with
    /// its players, when its socket closes.
    pub session_resuming: bool,
    /// After a player PATCH that carries `position`, `filters` or `endTime` and leaves the player
    /// with a track, the node sends a second `TrackStartEvent` for the same track this long
    /// (node's clock) after the first: NodeLink plays such a PATCH through its seek path, which
    /// starts a new audio stream, and every stream that starts sends TrackStart (measured: two
    /// TrackStartEvents ~1 s apart after a move with `position`; `endTime` takes the same path in
    /// its source). The first is the PATCH's own TrackStart when it started the track, else the
    /// PATCH itself. Lavalink: `None`.
    #[serde(rename = "secondTrackStartAfterSeekMs", with = "option_millis")]
    pub second_track_start_after_seek: Option<Duration>,
    /// Whether a shutdown (`shutdown`, `restart`, SIGTERM of the standalone node) closes every
    /// session socket with 1001 first, as Lavalink does; without, the sockets are just reset
    /// (no close frame), as NodeLink's process exits on SIGTERM.
    pub close_sockets_on_shutdown: bool,
}

impl ServerBehaviour {
    /// Lavalink 4.2, what the stand-in models (the default).
    pub const fn lavalink() -> Self {
        Self {
            audio_start_delay: Duration::ZERO,
            audio_start_delay_at_position: Duration::ZERO,
            track_start_waits_for_audio: false,
            serial_player_patches: None,
            system_load_as_load_average: false,
            session_resuming: true,
            second_track_start_after_seek: None,
            close_sockets_on_shutdown: true,
        }
    }

    /// NodeLink 2.3.0 (commit `fae1694`), calibrated from measurements of running nodes on this
    /// 2-core machine (shared/realserver, 2026-12-07): player PATCHes served one at a time, about
    /// 550 ms each under load (ten concurrent PATCHes carrying a position were answered over
    /// 1.3-5.0 s); systemLoad a load average; no session resuming; sockets reset on shutdown;
    /// TrackStart when the audio starts. A plain start took 110-200 ms on a quiet machine and a
    /// median of 330 ms under load (PATCH to the first audio packet). A PATCH with a position
    /// plays from 0 at once and switches to the sought stream with a second TrackStart about a
    /// second later: modelled as 1,000 ms before audio at the position, and the second
    /// TrackStart 1 s after the first.
    pub const fn nodelink() -> Self {
        Self {
            audio_start_delay: Duration::from_millis(330),
            audio_start_delay_at_position: Duration::from_millis(1000),
            track_start_waits_for_audio: true,
            serial_player_patches: Some(Duration::from_millis(550)),
            system_load_as_load_average: true,
            session_resuming: false,
            second_track_start_after_seek: Some(Duration::from_secs(1)),
            close_sockets_on_shutdown: false,
        }
    }

    /// The profile this is, by name: `lavalink`, `nodelink`, or `custom` for anything else.
    pub fn profile(&self) -> &'static str {
        if *self == Self::lavalink() {
            "lavalink"
        } else if *self == Self::nodelink() {
            "nodelink"
        } else {
            "custom"
        }
    }

    /// The start-up delay of a track started (or sought) now.
    pub(crate) fn start_up(&self, at_position: bool) -> Duration {
        if at_position {
            self.audio_start_delay_at_position
        } else {
            self.audio_start_delay
        }
    }
}

impl Default for ServerBehaviour {
    fn default() -> Self {
        Self::lavalink()
    }
}

/// A duration as whole milliseconds.
mod millis {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(duration: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_u64(u64::try_from(duration.as_millis()).unwrap_or(u64::MAX))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
        u64::deserialize(deserializer).map(Duration::from_millis)
    }
}

/// An optional duration as whole milliseconds (`null` for none).
mod option_millis {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    #[allow(clippy::ref_option)] // serde's `with` hands over a reference
    pub fn serialize<S: Serializer>(
        duration: &Option<Duration>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match duration {
            Some(duration) => {
                serializer.serialize_some(&u64::try_from(duration.as_millis()).unwrap_or(u64::MAX))
            }
            None => serializer.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<Duration>, D::Error> {
        Option::<u64>::deserialize(deserializer).map(|ms| ms.map(Duration::from_millis))
    }
}

/// Why a stand-in could not be started or restarted.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// The listening socket could not be bound.
    #[error("cannot listen on {addr}: {cause}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// What the OS said.
        cause: std::io::Error,
    },
    /// An interval of zero would make the ticker spin.
    #[error("{0} must be longer than zero")]
    ZeroInterval(&'static str),
    /// Waiting for the shutdown signal failed.
    #[error("cannot wait for the shutdown signal: {0}")]
    Signal(std::io::Error),
    /// A close code that no close frame may carry (RFC 6455 7.4).
    #[error(
        "close code {0} cannot be sent in a close frame (use 1000-1003, 1007-1014 or 3000-4999)"
    )]
    UnsendableCloseCode(u16),
    /// A voice fault for a guild whose player has no open voice connection.
    #[error("no player for guild {guild} has an open voice connection{}", .session.as_deref().map(|s| format!(" in session {s}")).unwrap_or_default())]
    NoVoiceConnection {
        /// The guild.
        guild: GuildId,
        /// The session asked for, if any.
        session: Option<String>,
    },
}
