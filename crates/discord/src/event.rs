//! What the Discord layer tells the bot core, in gateway order per shard.

use std::time::{Duration, Instant};

use super::autocomplete::AutocompleteRequest;
use super::interaction::{CommandInvocation, ComponentPress};
use super::{ChannelId, GuildId, UserId};

/// One event for the core. Events of one shard arrive in gateway order.
#[derive(Debug)]
pub enum DiscordEvent {
    /// A slash command was invoked; answer it through its [`Responder`](super::Responder).
    Command(Box<CommandInvocation>),
    /// A button on one of the bot's messages was pressed; answer through its invocation's
    /// responder (answers update the message).
    Component(Box<ComponentPress>),
    /// Someone is typing into an option with suggestions; answer within 3 s through its
    /// [`Suggestions`](super::Suggestions).
    Autocomplete(Box<AutocompleteRequest>),
    /// A guild became available (GUILD_CREATE) and is in the cache.
    GuildAvailable {
        /// The guild.
        guild: GuildId,
        /// Its name.
        name: String,
    },
    /// A guild became unavailable (outage) or the bot was removed from it.
    GuildUnavailable {
        /// The guild.
        guild: GuildId,
        /// The bot was removed (not an outage).
        removed: bool,
    },
    /// The bot's own voice connection changed.
    BotVoice(BotVoiceEvent),
    /// Both halves of the bot's voice connection are known: hand this to Lavalink. Sent again
    /// whenever a part changes (a new voice server, a move to another channel).
    VoiceReady {
        /// The guild.
        guild: GuildId,
        /// Token, endpoint, voice session id and channel id, all present.
        voice: lavalink::model::VoiceState,
    },
    /// Another user joined, left or switched voice channels.
    UserVoice {
        /// The guild.
        guild: GuildId,
        /// The user.
        user: UserId,
        /// The channel before (as far as the cache knew).
        from: Option<ChannelId>,
        /// The channel now.
        to: Option<ChannelId>,
    },
    /// A shard connected, resumed or lost its connection.
    Gateway(ShardStatus),
}

/// A change of the bot's own voice state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BotVoiceEvent {
    /// The bot is now in `channel` (it was in none).
    Joined {
        /// The guild.
        guild: GuildId,
        /// The channel.
        channel: ChannelId,
    },
    /// The bot is now in `to` (a moderator moved it, or it was asked to move).
    Moved {
        /// The guild.
        guild: GuildId,
        /// The channel before.
        from: ChannelId,
        /// The channel now.
        to: ChannelId,
    },
    /// The bot left, as it was asked to ([`Discord::leave_voice`](super::Discord::leave_voice)).
    Left {
        /// The guild.
        guild: GuildId,
        /// The channel it was in, if known.
        channel: Option<ChannelId>,
    },
    /// The bot was disconnected without asking (a moderator kicked it, the channel was deleted).
    Disconnected {
        /// The guild.
        guild: GuildId,
        /// The channel it was in, if known.
        channel: Option<ChannelId>,
    },
}

/// The health of one shard's gateway connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardStatus {
    /// The shard id.
    pub shard: u32,
    /// The bot's shard count.
    pub total: u32,
    /// Whether the shard's task runs (false once closed, or fatally closed by the gateway,
    /// e.g. 4004 wrong token or 4014 disallowed intents).
    pub running: bool,
    /// Whether the shard is identified or resumed and receiving events.
    pub connected: bool,
    /// Average heartbeat latency of the current connection.
    pub latency: Option<Duration>,
    /// When the last gateway event arrived.
    pub last_event: Option<Instant>,
    /// New sessions started (READY).
    pub identifies: u32,
    /// Sessions resumed (RESUMED).
    pub resumes: u32,
    /// Connections lost or closed.
    pub disconnects: u32,
}

impl ShardStatus {
    pub(crate) fn new(shard: u32, total: u32) -> Self {
        Self {
            shard,
            total,
            running: true,
            connected: false,
            latency: None,
            last_event: None,
            identifies: 0,
            resumes: 0,
            disconnects: 0,
        }
    }
}
