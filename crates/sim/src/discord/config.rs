//! How a Discord stand-in is set up, and what can go wrong starting or driving one.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use clock::{SharedClock, SystemClock};
use twilight_model::gateway::Intents;
use twilight_model::id::Id;
use twilight_model::id::marker::{
    ApplicationMarker, ChannelMarker, GuildMarker, MessageMarker, UserMarker,
};

/// The token the stand-in accepts by default (shaped like a bot token: id, timestamp, HMAC).
pub const DEFAULT_TOKEN: &str =
    "MTAwMDAwMDAwMDAwMDAwMDAx.R2lt0w.c2ltLWRpc2NvcmQtc3RhbmQtaW4tdG9rZW4";

/// The gateway API version the stand-in speaks.
pub const API_VERSION: u8 = 10;

/// Configuration of one Discord stand-in.
#[derive(Debug, Clone)]
pub struct DiscordConfig {
    /// Where to listen (gateway and REST share one port). Port 0, the default, picks a free one.
    pub listen: SocketAddr,
    /// The bot token the gateway and REST accept (without the `Bot ` prefix).
    pub token: String,
    /// The password of the control endpoint (`/sim/...`), sent as the whole `Authorization`
    /// header. The bot token unless set otherwise: [`DiscordConfig::with_token`] changes it too
    /// while it still equals the old token, [`DiscordConfig::with_control_password`] sets it.
    pub control_password: String,
    /// The bot's user id.
    pub bot_user_id: Id<UserMarker>,
    /// The bot's application id (Discord gives bots the same id for both).
    pub application_id: Id<ApplicationMarker>,
    /// The bot's user name.
    pub bot_name: String,
    /// `heartbeat_interval` of Hello.
    pub heartbeat_interval: Duration,
    /// The shard count `GET /gateway/bot` recommends.
    pub recommended_shards: u32,
    /// `session_start_limit.max_concurrency`.
    pub max_concurrency: u32,
    /// `session_start_limit.total` (identifies per 24 h).
    pub session_start_total: u32,
    /// The region prefix of voice endpoints: `sim-voice-{region}-1.discord.media:443`.
    pub voice_region: String,
    /// How long a disconnected session stays resumable (measured on [`DiscordConfig::clock`]).
    pub resume_window: Duration,
    /// How many dispatches a session keeps for replay on resume.
    pub replay_buffer: usize,
    /// Time for the first response to an interaction (Discord: 3 s), on the clock.
    pub interaction_deadline: Duration,
    /// Life of an interaction token for follow-ups and edits (Discord: 15 min), on the clock.
    pub interaction_token_life: Duration,
    /// Privileged intents the application may ask for (an app has none until enabled).
    pub privileged_intents: Intents,
    /// Gateway commands a connection may send per window before it is closed with 4008
    /// (Discord: 120 per 60 s); `None` switches the limit off.
    pub gateway_rate_limit: Option<(u32, Duration)>,
    /// Requests per bucket and window a REST route allows before answering 429 (real time).
    pub rest_bucket: (u32, Duration),
    /// The clock for interaction deadlines, token life and resume windows.
    pub clock: SharedClock,
    /// Seed of the random session ids, tokens and voice tokens.
    pub seed: u64,
    /// Whether the standalone runner creates a demo guild (the library API starts empty).
    pub demo_guild: bool,
}

impl Default for DiscordConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            token: DEFAULT_TOKEN.into(),
            control_password: DEFAULT_TOKEN.into(),
            bot_user_id: Id::new(100_000_000_000_000_001),
            application_id: Id::new(100_000_000_000_000_001),
            bot_name: "DimbyBot".into(),
            heartbeat_interval: Duration::from_millis(41_250),
            recommended_shards: 1,
            max_concurrency: 1,
            session_start_total: 1000,
            voice_region: "eu".into(),
            resume_window: Duration::from_secs(180),
            replay_buffer: 4096,
            interaction_deadline: Duration::from_secs(3),
            interaction_token_life: Duration::from_secs(15 * 60),
            privileged_intents: Intents::empty(),
            gateway_rate_limit: Some((120, Duration::from_secs(60))),
            rest_bucket: (50, Duration::from_secs(1)),
            clock: SystemClock::shared(),
            seed: 0x0d15_c0bd,
            demo_guild: false,
        }
    }
}

impl DiscordConfig {
    /// The configuration `dimby sim discord` uses: the system clock on a given address, with a
    /// demo guild so that a bot has somewhere to be.
    /// The control endpoint's password is the token; [`DiscordConfig::with_control_password`]
    /// sets another.
    pub fn standalone(listen: SocketAddr, token: Option<String>) -> Self {
        let token = token.unwrap_or_else(|| DEFAULT_TOKEN.into());
        Self {
            listen,
            control_password: token.clone(),
            token,
            demo_guild: true,
            ..Self::default()
        }
    }

    /// The same configuration driven by another clock.
    #[must_use]
    pub fn with_clock(mut self, clock: SharedClock) -> Self {
        self.clock = clock;
        self
    }

    /// The same configuration with another token. The control password follows the token
    /// unless it was set to something else before.
    #[must_use]
    pub fn with_token(mut self, token: impl Into<String>) -> Self {
        let token = token.into();
        if self.control_password == self.token {
            self.control_password.clone_from(&token);
        }
        self.token = token;
        self
    }

    /// The same configuration with another password for the control endpoint (`/sim/...`).
    #[must_use]
    pub fn with_control_password(mut self, password: impl Into<String>) -> Self {
        self.control_password = password.into();
        self
    }

    /// The same configuration with another heartbeat interval.
    #[must_use]
    pub fn with_heartbeat_interval(mut self, interval: Duration) -> Self {
        self.heartbeat_interval = interval;
        self
    }

    /// The same configuration with another voice region prefix.
    #[must_use]
    pub fn with_voice_region(mut self, region: impl Into<String>) -> Self {
        self.voice_region = region.into();
        self
    }

    /// The same configuration allowing these privileged intents.
    #[must_use]
    pub fn with_privileged_intents(mut self, intents: Intents) -> Self {
        self.privileged_intents = intents;
        self
    }

    /// The same configuration recommending another shard count.
    #[must_use]
    pub fn with_recommended_shards(mut self, shards: u32) -> Self {
        self.recommended_shards = shards;
        self
    }
}

/// Why the stand-in could not be started or could not do what a test asked.
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
    /// A configuration value that cannot work.
    #[error("invalid configuration: {0}")]
    Config(&'static str),
    /// Waiting for the shutdown signal failed.
    #[error("cannot wait for the shutdown signal: {0}")]
    Signal(std::io::Error),
    /// The guild does not exist in the stand-in.
    #[error("unknown guild {0}")]
    UnknownGuild(Id<GuildMarker>),
    /// The channel does not exist in the stand-in.
    #[error("unknown channel {0}")]
    UnknownChannel(Id<ChannelMarker>),
    /// The user does not exist, or is not a member of that guild.
    #[error("unknown user or member {0}")]
    UnknownUser(Id<UserMarker>),
    /// No command of that name is registered for that guild (nor globally).
    #[error("no command named {0:?} is registered")]
    UnknownCommand(String),
    /// The channel is not of the kind the operation needs (a voice channel for voice, ...).
    #[error("channel {0} is not a {1} channel")]
    WrongChannelKind(Id<ChannelMarker>, &'static str),
    /// An id given to a builder is already taken.
    #[error("id {0} is already in use")]
    DuplicateId(u64),
    /// A close frame cannot carry this code (RFC 6455: 1000..=1003, 1007..=1014, 3000..=4999).
    #[error("close code {0} cannot be sent in a close frame")]
    UnsendableCloseCode(u16),
    /// No message with that id in that channel (for the user, when it is ephemeral).
    #[error("unknown message {1} in channel {0}")]
    UnknownMessage(Id<ChannelMarker>, Id<MessageMarker>),
    /// What a scripted user tried cannot happen in Discord's client (an autocomplete without
    /// exactly one focused option or on an option not declared with `autocomplete`, a press of
    /// a button that is not there or is disabled, ...); the message says what was missing.
    #[error("{0}")]
    Refused(String),
}

/// Why waiting for something the bot should do failed.
#[derive(Debug, thiserror::Error)]
pub enum WaitError {
    /// The guard timeout passed before the condition held.
    #[error("timed out after {0:?} waiting for {1}")]
    Timeout(Duration, &'static str),
    /// The stand-in was shut down while waiting.
    #[error("the stand-in shut down while waiting for {0}")]
    Shutdown(&'static str),
}
