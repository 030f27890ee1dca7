//! How a stand-in node is set up, and what can go wrong starting one.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use clock::{SharedClock, SystemClock};
use lavalink::model::GuildId;

/// The password a Lavalink node ships with in its example configuration.
pub const DEFAULT_PASSWORD: &str = "youshallnotpass";

/// The Lavalink version the stand-in reports.
pub const LAVALINK_VERSION: &str = "4.2.2";

/// The lavaplayer version `/v4/info` reports: the one Lavalink 4.2.2 ships (`settings.gradle.kts`:
/// `version("lavaplayer", "2.2.6")`).
pub const LAVAPLAYER_VERSION: &str = "2.2.6";

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

    /// The same configuration with other update intervals.
    #[must_use]
    pub fn with_intervals(mut self, player_update: Duration, stats: Duration) -> Self {
        self.player_update_interval = player_update;
        self.stats_interval = stats;
        self
    }
}

/// Why a stand-in could not be started or restarted.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// The listening socket could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// What the OS said.
        #[source]
        source: std::io::Error,
    },
    /// An interval of zero would make the ticker spin.
    #[error("{0} must be longer than zero")]
    ZeroInterval(&'static str),
    /// Waiting for the shutdown signal failed.
    #[error("cannot wait for the shutdown signal: {0}")]
    Signal(#[source] std::io::Error),
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
