//! What can go wrong talking to Discord.

use twilight_model::id::Id;
use twilight_model::id::marker::{ChannelMarker, GuildMarker, UserMarker};

/// An error of the Discord layer. Never carries the bot token.
#[derive(Debug, thiserror::Error)]
pub enum DiscordError {
    /// `discord.token` (or `DIMBY_DISCORD_TOKEN`) is not set.
    #[error("discord.token is not set (set it in the config file or DIMBY_DISCORD_TOKEN)")]
    MissingToken,
    /// A setting cannot be used.
    #[error("{key}: {message}")]
    Invalid {
        /// The config key.
        key: &'static str,
        /// What is wrong.
        message: String,
    },
    /// A REST request failed (transport, rate limit or a Discord error body).
    #[error("Discord REST request failed: {0}")]
    Http(twilight_http::Error),
    /// A REST answer could not be read.
    #[error("cannot read Discord's answer: {0}")]
    Body(twilight_http::response::DeserializeBodyError),
    /// The guild belongs to a shard this process does not run.
    #[error("guild {guild} is on shard {shard}, which this process does not run")]
    NotOurShard {
        /// The guild.
        guild: Id<GuildMarker>,
        /// Its shard.
        shard: u32,
    },
    /// The deploy gate's voice probe could not join the staging guild's voice channel.
    #[error("the voice probe in guild {guild}: {message}")]
    VoiceProbe {
        /// The staging guild.
        guild: Id<GuildMarker>,
        /// What went wrong.
        message: String,
    },
    /// The shard's task has ended (shut down or fatally closed).
    #[error("shard {0} is not running")]
    ShardStopped(u32),
    /// Something needed for a permission check is not in the cache (yet).
    #[error("not in the cache: {0}")]
    NotCached(String),
    /// The channel is not in the cache.
    #[error("unknown channel {0}")]
    UnknownChannel(Id<ChannelMarker>),
    /// The member is not in the cache.
    #[error("unknown member {user} in guild {guild}")]
    UnknownMember {
        /// The guild.
        guild: Id<GuildMarker>,
        /// The user.
        user: Id<UserMarker>,
    },
    /// The interaction was already answered with a message; it can only be edited or followed up.
    #[error("the interaction was already answered")]
    AlreadyAnswered,
}

// The cause is part of the message (printed once), so it is not also returned as `source()`.
impl From<twilight_http::Error> for DiscordError {
    fn from(error: twilight_http::Error) -> Self {
        Self::Http(error)
    }
}

impl From<twilight_http::response::DeserializeBodyError> for DiscordError {
    fn from(error: twilight_http::response::DeserializeBodyError) -> Self {
        Self::Body(error)
    }
}

/// Discord's error code in a refused request (10008 Unknown Message, 50013 Missing
/// Permissions, ...).
pub(crate) fn api_code(error: &twilight_http::Error) -> Option<u64> {
    match error.kind() {
        twilight_http::error::ErrorType::Response {
            error: twilight_http::api_error::ApiError::General(general),
            ..
        } => Some(general.code),
        _ => None,
    }
}

/// Discord's "Unknown Message": the message is gone.
pub const UNKNOWN_MESSAGE: u64 = 10008;

impl DiscordError {
    /// Discord's error code, when Discord refused the request with one.
    pub fn api_code(&self) -> Option<u64> {
        match self {
            Self::Http(error) => api_code(error),
            _ => None,
        }
    }

    /// Whether Discord said the message does not exist (deleted meanwhile).
    pub fn is_unknown_message(&self) -> bool {
        self.api_code() == Some(UNKNOWN_MESSAGE)
    }

    /// What a failed start-up check of Discord's REST API means, in words: a refused token says
    /// so, a timeout says it timed out (the token was not judged), an unreachable API says what
    /// the transport said. Never the token.
    pub fn startup_advice(&self) -> String {
        use twilight_http::error::ErrorType;
        let Self::Http(error) = self else {
            return self.to_string();
        };
        match error.kind() {
            ErrorType::Unauthorized => "Discord refused the bot token (HTTP 401): check \
                discord.token (DIMBY_DISCORD_TOKEN)"
                .to_owned(),
            ErrorType::RequestTimedOut => "Discord's REST API did not answer in time (the request \
                timed out; the token was not checked): check the network, discord.rest_proxy and \
                Discord's status"
                .to_owned(),
            ErrorType::RequestError | ErrorType::RequestCanceled => {
                let mut causes = Vec::new();
                let mut source = std::error::Error::source(error);
                while let Some(cause) = source {
                    let text = cause.to_string();
                    if !text.trim().is_empty() && !causes.contains(&text) {
                        causes.push(text);
                    }
                    source = cause.source();
                }
                let why = if causes.is_empty() {
                    "no answer".to_owned()
                } else {
                    causes.join(": ")
                };
                format!(
                    "cannot reach Discord's REST API ({why}): check the network, DNS and \
                     discord.rest_proxy"
                )
            }
            ErrorType::Response { status, .. } => {
                format!("Discord's REST API answered HTTP {status} to the start-up check")
            }
            _ => self.to_string(),
        }
    }
}
