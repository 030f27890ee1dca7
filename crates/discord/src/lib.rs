//! The bot's Discord layer on twilight 0.18: shards (a configurable range, identifies queued by
//! `max_concurrency`), the REST client, an in-memory cache of guilds, channels, roles, members
//! and voice states, permission checks, and a small API for the bot core.
//!
//! ```no_run
//! # async fn demo(token: &str) -> Result<(), discord::DiscordError> {
//! use discord::{Discord, DiscordEvent, Reply, Settings};
//!
//! let (discord, mut events) = Discord::start(Settings::new(token)).await?;
//! while let Some(event) = events.recv().await {
//!     if let DiscordEvent::Command(invocation) = event {
//!         // Slow work is safe: the responder defers by itself after ~2 s.
//!         invocation.responder.respond(&Reply::text("Queued")).await?;
//!     }
//! }
//! # let _ = discord; Ok(()) }
//! ```
//!
//! Handover (see the architecture notes): [`Discord::close_resumable`] closes every shard with
//! 4000 and returns the sessions; a successor passes them to [`Standby::start`] and resumes.
//! [`Standby`] is the mode in which REST is checked and nothing talks to the gateway.

#![allow(
    clippy::disallowed_methods,
    reason = "the Discord layer keeps Discord's real deadlines (3 s to answer an interaction, heartbeats) and measures real latencies"
)]

pub mod autocomplete;
mod error;
mod event;
pub mod identify;
mod interaction;
mod probe;
mod rest;
mod shard;
mod snapshot;
mod voice;

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use telemetry::{DiscordRoute, Metrics};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use twilight_cache_inmemory::{InMemoryCache, ResourceType};
use twilight_gateway::queue::InMemoryQueue;
use twilight_gateway::{ConfigBuilder, MessageSender, Shard, ShardId};
use twilight_http::Client;
use twilight_model::gateway::payload::outgoing::UpdateVoiceState;
use twilight_model::id::Id;
use twilight_model::id::marker::{
    ApplicationMarker, ChannelMarker, GuildMarker, InteractionMarker, MessageMarker, RoleMarker,
    UserMarker,
};

pub use autocomplete::{AutocompleteRequest, Focused, Suggestion, Suggestions};
pub use error::DiscordError;
pub use event::{BotVoiceEvent, DiscordEvent, ShardStatus};
pub use identify::{IdentifyQueue, IdentifySlots, SharedQueue};
pub use interaction::{
    Ack, CommandInvocation, CommandOption, ComponentPress, OptionValue, Reply, Responder,
};
pub use probe::VoiceProbe;
pub use shard::ShardHandover;
pub use snapshot::{BotVoice, CacheSnapshot};
pub use twilight_gateway::{Intents, Session};
pub use twilight_model::application::command::Command;
pub use twilight_model::channel::message::Embed;
pub use twilight_model::guild::Permissions;

/// A consecutive range of shard ids `first..=last` out of `total` (config `discord.shards`), so
/// that several processes can split the shards.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShardRange {
    /// The first shard id this process runs.
    pub first: u32,
    /// The last shard id this process runs (inclusive).
    pub last: u32,
    /// The total number of shards of the bot.
    pub total: u32,
}

/// A guild id.
pub type GuildId = Id<GuildMarker>;
/// A channel id.
pub type ChannelId = Id<ChannelMarker>;
/// A user id.
pub type UserId = Id<UserMarker>;
/// A role id.
pub type RoleId = Id<RoleMarker>;
/// A message id.
pub type MessageId = Id<MessageMarker>;
/// An interaction id.
pub type InteractionId = Id<InteractionMarker>;
/// An application id.
pub type ApplicationId = Id<ApplicationMarker>;

/// The events for the core, in gateway order per shard.
pub type Events = mpsc::UnboundedReceiver<DiscordEvent>;

/// The permissions the bot needs to play in a voice channel.
pub const VOICE_PERMISSIONS: Permissions = Permissions::VIEW_CHANNEL
    .union(Permissions::CONNECT)
    .union(Permissions::SPEAK);

/// The intents the bot needs: guilds (channels, roles, the bot's member) and voice states. No
/// privileged intent: slash commands need none.
pub const INTENTS: Intents = Intents::GUILDS.union(Intents::GUILD_VOICE_STATES);

/// The default auto-defer delay.
pub const AUTO_DEFER: Duration = Duration::from_secs(2);

/// How the Discord layer runs.
#[derive(Clone)]
pub struct Settings {
    token: String,
    /// Gateway URL override (`ws://127.0.0.1:PORT` for the stand-in).
    pub gateway_url: Option<String>,
    /// REST over plain HTTP through this `host:port` (the stand-in).
    pub rest_proxy: Option<String>,
    /// Register commands in this guild instead of globally.
    pub dev_guild: Option<GuildId>,
    /// The shards to run; all recommended ones when `None`.
    pub shards: Option<ShardRange>,
    /// Gateway intents ([`INTENTS`] by default).
    pub intents: Intents,
    /// Unanswered interactions are deferred after this long ([`AUTO_DEFER`] by default).
    pub auto_defer: Duration,
    /// Where every REST call is reported (`dimby_discord_rest_*`); none by default.
    pub metrics: Option<Metrics>,
    /// How long one REST request may take before it fails as a timeout (10 s, twilight's default).
    pub rest_timeout: Duration,
    /// Where the application's processes reserve their identifies (see [`identify`]); this
    /// process spaces its own when `None`.
    pub identify_slots: Option<Arc<dyn IdentifySlots>>,
}

impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Settings")
            .field("token", &"***")
            .field("gateway_url", &self.gateway_url)
            .field("rest_proxy", &self.rest_proxy)
            .field("dev_guild", &self.dev_guild)
            .field("shards", &self.shards)
            .field("intents", &self.intents)
            .field("auto_defer", &self.auto_defer)
            .field("metrics", &self.metrics.is_some())
            .field("rest_timeout", &self.rest_timeout)
            .field("identify_slots", &self.identify_slots.is_some())
            .finish()
    }
}

impl Settings {
    /// Defaults for a token: Discord itself, all recommended shards, [`INTENTS`].
    pub fn new(token: impl Into<String>) -> Self {
        Self {
            token: token.into(),
            gateway_url: None,
            rest_proxy: None,
            dev_guild: None,
            shards: None,
            intents: INTENTS,
            auto_defer: AUTO_DEFER,
            metrics: None,
            rest_timeout: Duration::from_secs(10),
            identify_slots: None,
        }
    }
}

/// Installs the process's rustls crypto provider (ring) if none is installed yet; twilight
/// needs one even for plain `ws://` and `http://`.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// REST checked, no gateway connection: what a candidate process is in before a handover.
#[derive(Debug)]
pub struct Standby {
    settings: Settings,
    rest: rest::Rest,
    bot: UserId,
    application: ApplicationId,
    recommended_shards: u32,
    max_concurrency: u16,
    remaining: u32,
    reset_after: Duration,
    total_starts: u32,
}

impl Standby {
    /// Builds the REST client and checks it: who the bot is, its application, and the gateway's
    /// recommendation (shard count, identify limits).
    pub async fn connect(settings: Settings) -> Result<Self, DiscordError> {
        install_crypto_provider();
        if settings.token.is_empty() {
            return Err(DiscordError::MissingToken);
        }
        let mut builder = Client::builder()
            .token(settings.token.clone())
            .timeout(settings.rest_timeout);
        if let Some(proxy) = &settings.rest_proxy {
            builder = builder.proxy(proxy.clone(), true);
        }
        let rest = rest::Rest::new(builder.build(), settings.metrics.clone());
        let http = rest.client();
        let session = DiscordRoute::Session;
        let bot = rest
            .send(session, http.current_user())
            .await?
            .model()
            .await?
            .id;
        let application = rest
            .send(session, http.current_user_application())
            .await?
            .model()
            .await?
            .id;
        let gateway = rest
            .send(session, http.gateway().authed())
            .await?
            .model()
            .await?;
        let limit = gateway.session_start_limit;
        tracing::info!(
            %bot,
            shards = gateway.shards,
            max_concurrency = limit.max_concurrency,
            remaining = limit.remaining,
            "discord REST checked"
        );
        Ok(Self {
            settings,
            rest,
            bot,
            application,
            recommended_shards: gateway.shards.max(1),
            max_concurrency: limit.max_concurrency.max(1),
            remaining: limit.remaining.min(limit.total),
            reset_after: Duration::from_millis(limit.reset_after),
            total_starts: limit.total,
        })
    }

    /// The bot's user id.
    pub fn bot_user(&self) -> UserId {
        self.bot
    }

    /// The shard count Discord recommends.
    pub fn recommended_shards(&self) -> u32 {
        self.recommended_shards
    }

    /// The slash commands registered where [`Discord::register_commands`] would put them (the
    /// dev guild if set, else globally): what a candidate build compares its own with.
    pub async fn registered_commands(&self) -> Result<Vec<Command>, DiscordError> {
        let interaction = self.rest.client().interaction(self.application);
        let commands = match self.settings.dev_guild {
            Some(guild) => {
                self.rest
                    .send(
                        DiscordRoute::ApplicationCommands,
                        interaction.guild_commands(guild),
                    )
                    .await?
                    .models()
                    .await?
            }
            None => {
                self.rest
                    .send(
                        DiscordRoute::ApplicationCommands,
                        interaction.global_commands(),
                    )
                    .await?
                    .models()
                    .await?
            }
        };
        Ok(commands)
    }

    /// The shards this process would run.
    pub fn shard_range(&self) -> Result<ShardRange, DiscordError> {
        let range = self.settings.shards.unwrap_or(ShardRange {
            first: 0,
            last: self.recommended_shards - 1,
            total: self.recommended_shards,
        });
        if range.total == 0 || range.first > range.last || range.last >= range.total {
            return Err(DiscordError::Invalid {
                key: "discord.shards",
                message: format!(
                    "{}..={} of {} is not a range of shard ids",
                    range.first, range.last, range.total
                ),
            });
        }
        Ok(range)
    }

    /// The identify queue for this process's shards (and its voice probe): shared with the
    /// application's other processes when the settings name [`IdentifySlots`], else its own.
    fn identify_queue(&self) -> IdentifyQueue {
        let limits = identify::Limits {
            max_concurrency: self.max_concurrency,
            remaining: self.remaining,
            reset_after: self.reset_after,
            total: self.total_starts.max(self.remaining),
        };
        match &self.settings.identify_slots {
            Some(slots) => IdentifyQueue::Shared(SharedQueue::start(
                Arc::clone(slots),
                limits,
                self.settings.metrics.clone(),
            )),
            None => IdentifyQueue::Local(InMemoryQueue::new(
                limits.max_concurrency,
                limits.remaining,
                limits.reset_after,
                limits.total,
            )),
        }
    }

    /// Connects the shards: fresh sessions, or the handed-over ones where `resume` has a
    /// session for a shard (same shard id and count).
    pub fn start(self, resume: &[ShardHandover]) -> Result<(Discord, Events), DiscordError> {
        self.start_resuming(resume, CacheSnapshot::default())
    }

    /// [`Standby::start`] with the predecessor's cache: the guilds of the shards that resume a
    /// handed-over session are replayed into the cache first (a resumed session gets no
    /// GUILD_CREATE), each announced as [`DiscordEvent::GuildAvailable`].
    pub fn start_resuming(
        self,
        resume: &[ShardHandover],
        mut snapshot: CacheSnapshot,
    ) -> Result<(Discord, Events), DiscordError> {
        let range = self.shard_range()?;
        let cache = Arc::new(
            InMemoryCache::builder()
                .resource_types(
                    ResourceType::GUILD
                        | ResourceType::CHANNEL
                        | ResourceType::ROLE
                        | ResourceType::MEMBER
                        | ResourceType::USER
                        | ResourceType::USER_CURRENT
                        | ResourceType::VOICE_STATE,
                )
                .build(),
        );
        let (events, receiver) = mpsc::unbounded_channel();
        let shared = Arc::new(shard::Shared {
            rest: self.rest.clone(),
            cache,
            bot: self.bot,
            auto_defer: self.settings.auto_defer,
            events,
            status: Mutex::new(HashMap::new()),
            voice: Mutex::new(voice::VoiceTracker::default()),
        });
        let resumed = |shard: u32| {
            resume.iter().any(|h| {
                h.shard == shard
                    && h.total == range.total
                    && h.session.is_some()
                    && (range.first..=range.last).contains(&shard)
            })
        };
        snapshot.retain(|guild| resumed(shard_of(guild, range.total)));
        if !snapshot.is_empty() {
            tracing::info!(
                guilds = snapshot.len(),
                "replaying the predecessor's cache for the resumed shards"
            );
        }
        shared.replay(snapshot);
        // One identify queue for all shards: `max_concurrency` identifies per 5 s.
        let queue = self.identify_queue();
        let mut shards = Vec::new();
        for number in range.first..=range.last {
            let id = ShardId::new(number, range.total);
            let mut config = ConfigBuilder::new(self.settings.token.clone(), self.settings.intents)
                .queue(queue.clone());
            if let Some(url) = &self.settings.gateway_url {
                config = config.proxy_url(url.clone());
            }
            if let Some(handover) = resume
                .iter()
                .find(|h| h.shard == number && h.total == range.total)
                && let Some(session) = &handover.session
            {
                tracing::info!(shard = number, "resuming a handed-over session");
                config = config.session(session.clone());
                if let Some(url) = &handover.resume_url {
                    config = config.resume_url(url.clone());
                }
            }
            let gateway = Shard::with_config(id, config.build());
            lock(&shared.status).insert(number, ShardStatus::new(number, range.total));
            let sender = gateway.sender();
            let (control, control_rx) = mpsc::channel(1);
            let task = tokio::spawn(shard::run(gateway, Arc::clone(&shared), control_rx));
            shards.push(ShardHandle {
                number,
                sender,
                control,
                task: Mutex::new(Some(task)),
            });
        }
        let inner = Inner {
            shared,
            application: self.application,
            dev_guild: self.settings.dev_guild,
            total: range.total,
            shards,
        };
        Ok((
            Discord {
                inner: Arc::new(inner),
            },
            receiver,
        ))
    }
}

struct ShardHandle {
    number: u32,
    sender: MessageSender,
    control: mpsc::Sender<shard::Control>,
    task: Mutex<Option<JoinHandle<()>>>,
}

struct Inner {
    shared: Arc<shard::Shared>,
    application: ApplicationId,
    dev_guild: Option<GuildId>,
    total: u32,
    shards: Vec<ShardHandle>,
}

/// The handle the bot core uses. Cheap to clone; the shards stop when every clone is dropped.
#[derive(Clone)]
pub struct Discord {
    inner: Arc<Inner>,
}

impl fmt::Debug for Discord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Discord")
            .field("bot", &self.inner.shared.bot)
            .field("shards", &self.inner.shards.len())
            .finish_non_exhaustive()
    }
}

impl Discord {
    /// Checks REST and connects the shards with fresh sessions.
    pub async fn start(settings: Settings) -> Result<(Self, Events), DiscordError> {
        Standby::connect(settings).await?.start(&[])
    }

    /// The bot's user id.
    pub fn bot_user(&self) -> UserId {
        self.inner.shared.bot
    }

    /// The bot's application id.
    pub fn application(&self) -> ApplicationId {
        self.inner.application
    }

    /// The cache (an escape hatch: prefer the methods here).
    pub fn cache(&self) -> &InMemoryCache {
        &self.inner.shared.cache
    }

    /// The status of every shard this process runs.
    pub fn status(&self) -> Vec<ShardStatus> {
        let mut all: Vec<ShardStatus> = lock(&self.inner.shared.status).values().cloned().collect();
        all.sort_by_key(|status| status.shard);
        all
    }

    /// The shard a guild is on.
    pub fn shard_of(&self, guild: GuildId) -> u32 {
        shard_of(guild, self.inner.total)
    }

    /// Whether the guild is on one of this process's shards: only then does Discord send it
    /// here, and only then is it this process's to play for (processes sharing one application
    /// each handle their shards' guilds and no others).
    pub fn owns(&self, guild: GuildId) -> bool {
        let shard = self.shard_of(guild);
        self.inner
            .shards
            .iter()
            .any(|handle| handle.number == shard)
    }

    /// What the cache knows now, for a successor that resumes these shards' sessions (see
    /// [`Standby::start_resuming`]).
    pub fn cache_snapshot(&self) -> CacheSnapshot {
        CacheSnapshot::of(&self.inner.shared.cache, &self.inner.shared.voice())
    }

    /// Registers the commands where the settings say: the dev guild if set, else globally.
    /// Replaces every command registered before.
    pub async fn register_commands(
        &self,
        commands: &[Command],
    ) -> Result<Vec<Command>, DiscordError> {
        match self.inner.dev_guild {
            Some(guild) => self.register_guild_commands(guild, commands).await,
            None => self.register_global_commands(commands).await,
        }
    }

    /// Replaces the global commands.
    pub async fn register_global_commands(
        &self,
        commands: &[Command],
    ) -> Result<Vec<Command>, DiscordError> {
        let rest = &self.inner.shared.rest;
        let interaction = rest.client().interaction(self.inner.application);
        let request = interaction.set_global_commands(commands);
        Ok(rest
            .send(DiscordRoute::ApplicationCommands, request)
            .await?
            .models()
            .await?)
    }

    /// Replaces the commands of one guild.
    pub async fn register_guild_commands(
        &self,
        guild: GuildId,
        commands: &[Command],
    ) -> Result<Vec<Command>, DiscordError> {
        let rest = &self.inner.shared.rest;
        let interaction = rest.client().interaction(self.inner.application);
        let request = interaction.set_guild_commands(guild, commands);
        Ok(rest
            .send(DiscordRoute::ApplicationCommands, request)
            .await?
            .models()
            .await?)
    }

    /// Sends a message to a channel (`ephemeral` does not apply).
    pub async fn send_message(
        &self,
        channel: ChannelId,
        reply: &Reply,
    ) -> Result<MessageId, DiscordError> {
        let rest = &self.inner.shared.rest;
        let mut request = rest.client().create_message(channel);
        if let Some(content) = &reply.content {
            request = request.content(content);
        }
        if !reply.embeds.is_empty() {
            request = request.embeds(&reply.embeds);
        }
        if !reply.components.is_empty() {
            request = request.components(&reply.components);
        }
        Ok(rest
            .send(DiscordRoute::ChannelMessages, request)
            .await?
            .model()
            .await?
            .id)
    }

    /// Replaces a message of the bot's with this reply: its text, embeds and buttons (none
    /// removes them). A message deleted meanwhile is [`DiscordError::Api`] with Discord's code
    /// 10008 ([`DiscordError::is_unknown_message`]).
    pub async fn edit_message(
        &self,
        channel: ChannelId,
        message: MessageId,
        reply: &Reply,
    ) -> Result<(), DiscordError> {
        let rest = &self.inner.shared.rest;
        let request = rest
            .client()
            .update_message(channel, message)
            .content(reply.content.as_deref())
            .embeds(Some(&reply.embeds))
            .components(Some(&reply.components));
        rest.send(DiscordRoute::ChannelMessages, request).await?;
        Ok(())
    }

    /// Deletes a message of the bot's. One already gone is not an error.
    pub async fn delete_message(
        &self,
        channel: ChannelId,
        message: MessageId,
    ) -> Result<(), DiscordError> {
        let rest = &self.inner.shared.rest;
        let request = rest.client().delete_message(channel, message);
        match rest.send(DiscordRoute::ChannelMessages, request).await {
            Ok(_) => Ok(()),
            Err(error) if error::api_code(&error) == Some(error::UNKNOWN_MESSAGE) => Ok(()),
            Err(error) => Err(error.into()),
        }
    }

    fn sender(&self, guild: GuildId) -> Result<&MessageSender, DiscordError> {
        let shard = self.shard_of(guild);
        self.inner
            .shards
            .iter()
            .find(|handle| handle.number == shard)
            .map(|handle| &handle.sender)
            .ok_or(DiscordError::NotOurShard { guild, shard })
    }

    /// Joins (or moves to) a voice channel with op 4. twilight's gateway ratelimiter keeps the
    /// shard within 120 commands per 60 s (queued, never dropped). The answer comes as
    /// [`DiscordEvent::BotVoice`] and [`DiscordEvent::VoiceReady`].
    pub fn join_voice(
        &self,
        guild: GuildId,
        channel: ChannelId,
        self_deaf: bool,
    ) -> Result<(), DiscordError> {
        let sender = self.sender(guild)?;
        self.inner.shared.voice().join_requested(guild);
        sender
            .command(&UpdateVoiceState::new(
                guild,
                Some(channel),
                self_deaf,
                false,
            ))
            .map_err(|_| DiscordError::ShardStopped(self.shard_of(guild)))
    }

    /// Leaves voice in a guild (op 4 with no channel); answered by [`BotVoiceEvent::Left`].
    pub fn leave_voice(&self, guild: GuildId) -> Result<(), DiscordError> {
        let sender = self.sender(guild)?;
        self.inner.shared.voice().leave_requested(guild);
        sender
            .command(&UpdateVoiceState::new(guild, None, false, false))
            .map_err(|_| DiscordError::ShardStopped(self.shard_of(guild)))
    }

    /// The bot's complete voice state in a guild, if both halves are known.
    pub fn voice_state(&self, guild: GuildId) -> Option<lavalink::model::VoiceState> {
        self.inner.shared.voice().complete(guild)
    }

    /// The voice channel the bot is in.
    pub fn bot_voice_channel(&self, guild: GuildId) -> Option<ChannelId> {
        self.inner.shared.voice().channel(guild)
    }

    /// The voice channel a user is in (from the cache).
    pub fn user_voice_channel(&self, guild: GuildId, user: UserId) -> Option<ChannelId> {
        self.cache()
            .voice_state(user, guild)
            .map(|state| state.channel_id())
    }

    /// The users in a voice channel other than the bot and other known bots.
    pub fn voice_channel_listeners(&self, channel: ChannelId) -> Vec<UserId> {
        let cache = self.cache();
        cache
            .voice_channel_states(channel)
            .map(|states| {
                states
                    .map(|state| state.user_id())
                    .filter(|user| *user != self.bot_user())
                    .filter(|user| !cache.user(*user).is_some_and(|u| u.bot))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// A guild's name, if it is in the cache.
    pub fn guild_name(&self, guild: GuildId) -> Option<String> {
        self.cache().guild(guild).map(|g| g.name().to_owned())
    }

    /// A user's permissions in a channel, computed from the cache (roles, overwrites, owner,
    /// Administrator) the way Discord does, including its implicit rule that without View
    /// Channel nothing else applies (twilight's calculator leaves that out).
    pub fn member_permissions(
        &self,
        user: UserId,
        channel: ChannelId,
    ) -> Result<Permissions, DiscordError> {
        let permissions = self
            .cache()
            .permissions()
            .in_channel(user, channel)
            .map_err(|error| DiscordError::NotCached(error.to_string()))?;
        if permissions.contains(Permissions::VIEW_CHANNEL) {
            Ok(permissions)
        } else {
            Ok(Permissions::empty())
        }
    }

    /// The bot's permissions in a channel.
    pub fn bot_permissions(&self, channel: ChannelId) -> Result<Permissions, DiscordError> {
        self.member_permissions(self.bot_user(), channel)
    }

    /// Whether the bot may join and speak in a voice channel (View Channel, Connect, Speak).
    pub fn bot_can_play_in(&self, channel: ChannelId) -> Result<bool, DiscordError> {
        Ok(self.bot_permissions(channel)?.contains(VOICE_PERMISSIONS))
    }

    /// Closes every shard with 4000 (the sessions stay resumable) and returns what a successor
    /// needs to resume them. The shards stop.
    pub async fn close_resumable(&self) -> Vec<ShardHandover> {
        self.close(true).await
    }

    /// Closes every shard with 1000 (the sessions end) and waits for the shard tasks.
    pub async fn shutdown(&self) {
        self.close(false).await;
    }

    async fn close(&self, resumable: bool) -> Vec<ShardHandover> {
        let mut waiting = Vec::new();
        for handle in &self.inner.shards {
            let (reply, answer) = oneshot::channel();
            if handle
                .control
                .send(shard::Control::Close { resumable, reply })
                .await
                .is_ok()
            {
                waiting.push(answer);
            }
        }
        let mut handovers = Vec::new();
        for answer in waiting {
            if let Ok(handover) = answer.await {
                handovers.push(handover);
            }
        }
        for handle in &self.inner.shards {
            let task = lock(&handle.task).take();
            if let Some(task) = task {
                let _ = task.await;
            }
        }
        handovers
    }
}

/// The shard a guild is on, out of `total` (Discord's formula).
fn shard_of(guild: GuildId, total: u32) -> u32 {
    u32::try_from((guild.get() >> 22) % u64::from(total.max(1))).unwrap_or(u32::MAX)
}

/// How long ago an instant the Discord layer stamped was (an interaction's arrival, a shard's last
/// event): real time, as Discord's deadlines are.
pub fn age_of(at: std::time::Instant) -> std::time::Duration {
    at.elapsed()
}
