//! The stand-in's world: users, guilds with their roles, channels, members and voice states,
//! registered commands, messages, interactions and gateway sessions, all behind one lock, plus
//! the change signal that lets tests wait for the bot without sleeping.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::Value;
use tokio::sync::watch;
use twilight_model::application::command::Command;
use twilight_model::channel::permission_overwrite::PermissionOverwriteType;
use twilight_model::channel::{Channel, ChannelType, Message};
use twilight_model::gateway::Intents;
use twilight_model::guild::{Member, Permissions, Role};
use twilight_model::id::Id;
use twilight_model::id::marker::{ChannelMarker, GuildMarker, UserMarker};
use twilight_model::user::User;
use twilight_model::util::Timestamp;
use twilight_model::voice::VoiceState;

use super::config::{DiscordConfig, WaitError};
use super::faults::FaultState;
use super::gateway::Sessions;
use super::interactions::Registry;
use super::messages::MessageChange;
use super::model::{self, DISCORD_EPOCH_MS};
use super::rest::Buckets;
use super::voice::VoiceCommand;

/// Hands out increasing snowflakes: a millisecond timestamp in the top bits, a counter below.
#[derive(Debug)]
pub(crate) struct IdGen {
    base_ms: u64,
    next: u64,
}

impl IdGen {
    fn new() -> Self {
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(DISCORD_EPOCH_MS, |since| {
                u64::try_from(since.as_millis()).unwrap_or(DISCORD_EPOCH_MS)
            });
        Self {
            base_ms: now_ms.saturating_sub(DISCORD_EPOCH_MS).max(1),
            next: 0,
        }
    }

    /// A fresh snowflake. Consecutive ids differ in their timestamp bits, so guilds made one
    /// after the other spread over shards (`(id >> 22) % shards`).
    pub(crate) fn next<T>(&mut self) -> Id<T> {
        self.next += 1;
        let raw = ((self.base_ms + self.next) << 22) | (self.next & 0x3f_ffff);
        Id::new(raw.max(1))
    }
}

/// One guild and everything in it.
#[derive(Debug, Clone)]
pub(crate) struct GuildState {
    pub id: Id<GuildMarker>,
    pub name: String,
    pub owner_id: Id<UserMarker>,
    pub joined_at: Timestamp,
    /// Roles; the first is `@everyone` (its id is the guild id).
    pub roles: Vec<Role>,
    pub channels: Vec<Channel>,
    pub members: BTreeMap<Id<UserMarker>, Member>,
    pub voice_states: BTreeMap<Id<UserMarker>, VoiceState>,
    pub preferred_locale: String,
}

impl GuildState {
    pub(crate) fn channel(&self, id: Id<ChannelMarker>) -> Option<&Channel> {
        self.channels.iter().find(|channel| channel.id == id)
    }

    /// The member's permissions in the guild, before channel overwrites.
    pub(crate) fn base_permissions(&self, user: Id<UserMarker>) -> Permissions {
        if user == self.owner_id {
            return Permissions::all();
        }
        let Some(member) = self.members.get(&user) else {
            return Permissions::empty();
        };
        let everyone = self.id.cast();
        let mut permissions = self
            .roles
            .iter()
            .filter(|role| role.id == everyone || member.roles.contains(&role.id))
            .fold(Permissions::empty(), |acc, role| acc | role.permissions);
        if permissions.contains(Permissions::ADMINISTRATOR) {
            permissions = Permissions::all();
        }
        permissions
    }

    /// The member's permissions in a channel: base permissions, then the `@everyone`
    /// overwrite, the role overwrites together, the member overwrite (Discord's order).
    pub(crate) fn channel_permissions(
        &self,
        user: Id<UserMarker>,
        channel: Id<ChannelMarker>,
    ) -> Permissions {
        let base = self.base_permissions(user);
        if base.contains(Permissions::ADMINISTRATOR) || base == Permissions::all() {
            return Permissions::all();
        }
        let (Some(channel), Some(member)) = (self.channel(channel), self.members.get(&user)) else {
            return Permissions::empty();
        };
        let overwrites = channel.permission_overwrites.as_deref().unwrap_or_default();
        let mut permissions = base;
        let everyone = self.id.cast();
        if let Some(overwrite) = overwrites
            .iter()
            .find(|o| o.kind == PermissionOverwriteType::Role && o.id == everyone)
        {
            permissions = (permissions - overwrite.deny) | overwrite.allow;
        }
        let (allow, deny) = overwrites
            .iter()
            .filter(|o| {
                o.kind == PermissionOverwriteType::Role && member.roles.contains(&o.id.cast())
            })
            .fold((Permissions::empty(), Permissions::empty()), |(a, d), o| {
                (a | o.allow, d | o.deny)
            });
        permissions = (permissions - deny) | allow;
        if let Some(overwrite) = overwrites
            .iter()
            .find(|o| o.kind == PermissionOverwriteType::Member && o.id == user.cast())
        {
            permissions = (permissions - overwrite.deny) | overwrite.allow;
        }
        // Without View Channel nothing else in the channel is granted.
        if !permissions.contains(Permissions::VIEW_CHANNEL) {
            return Permissions::empty();
        }
        permissions
    }

    /// The guild as GUILD_CREATE and `GET /guilds/{id}` show it (`full` adds the GUILD_CREATE
    /// extras: channels, members, voice states, counts).
    pub(crate) fn to_guild(
        &self,
        full: bool,
        members: Vec<Member>,
    ) -> twilight_model::guild::Guild {
        use twilight_model::guild::{
            AfkTimeout, DefaultMessageNotificationLevel, ExplicitContentFilter, MfaLevel,
            NSFWLevel, PremiumTier, SystemChannelFlags, VerificationLevel,
        };
        let voice_states = if full {
            self.voice_states
                .values()
                .map(|state| VoiceState {
                    // GUILD_CREATE's voice states lack guild_id.
                    guild_id: None,
                    member: None,
                    ..state.clone()
                })
                .collect()
        } else {
            Vec::new()
        };
        twilight_model::guild::Guild {
            afk_channel_id: None,
            afk_timeout: AfkTimeout::FIVE_MINUTES,
            application_id: None,
            approximate_member_count: None,
            approximate_presence_count: None,
            banner: None,
            channels: if full {
                self.channels.clone()
            } else {
                Vec::new()
            },
            default_message_notifications: DefaultMessageNotificationLevel::Mentions,
            description: None,
            discovery_splash: None,
            emojis: Vec::new(),
            explicit_content_filter: ExplicitContentFilter::None,
            features: Vec::new(),
            guild_scheduled_events: Vec::new(),
            icon: None,
            id: self.id,
            joined_at: full.then_some(self.joined_at),
            // `large_threshold`'s default (Identify): a guild of more members is large.
            large: self.members.len() > DEFAULT_LARGE_THRESHOLD,
            max_members: Some(500_000),
            max_presences: None,
            max_stage_video_channel_users: None,
            max_video_channel_users: Some(25),
            member_count: full.then_some(self.members.len() as u64),
            members,
            mfa_level: MfaLevel::None,
            name: self.name.clone(),
            nsfw_level: NSFWLevel::Default,
            owner_id: self.owner_id,
            owner: None,
            permissions: None,
            preferred_locale: self.preferred_locale.clone(),
            premium_progress_bar_enabled: false,
            premium_subscription_count: Some(0),
            premium_tier: PremiumTier::None,
            presences: Vec::new(),
            public_updates_channel_id: None,
            roles: self.roles.clone(),
            rules_channel_id: None,
            safety_alerts_channel_id: None,
            splash: None,
            stage_instances: Vec::new(),
            stickers: Vec::new(),
            system_channel_flags: SystemChannelFlags::empty(),
            system_channel_id: None,
            threads: Vec::new(),
            unavailable: None,
            vanity_url_code: None,
            verification_level: VerificationLevel::None,
            voice_states,
            widget_channel_id: None,
            widget_enabled: None,
        }
    }
}

/// Identify's default `large_threshold`.
pub(crate) const DEFAULT_LARGE_THRESHOLD: usize = 50;

/// An event for the bot: a dispatch name, its data, and what decides who gets it.
#[derive(Debug, Clone)]
pub(crate) struct Dispatch {
    pub name: &'static str,
    pub data: Value,
    /// The guild it belongs to (decides the shard); `None` goes to every session.
    pub guild: Option<Id<GuildMarker>>,
    /// The intent a session needs to receive it.
    pub intent: Option<Intents>,
    /// What a session without the MESSAGE_CONTENT intent gets instead of `data` (a message of
    /// another user, with its content fields emptied); `None` when everyone gets `data`.
    pub without_content: Option<Value>,
}

/// Everything behind the lock.
#[derive(Debug)]
pub(crate) struct Core {
    pub ids: IdGen,
    pub rng: StdRng,
    pub bot: User,
    pub users: BTreeMap<Id<UserMarker>, User>,
    pub guilds: BTreeMap<Id<GuildMarker>, GuildState>,
    pub global_commands: Vec<Command>,
    pub guild_commands: HashMap<Id<GuildMarker>, Vec<Command>>,
    pub messages: HashMap<Id<ChannelMarker>, Vec<Message>>,
    /// Edits and deletions of channel messages, per channel, in order.
    pub message_changes: HashMap<Id<ChannelMarker>, Vec<MessageChange>>,
    pub interactions: Registry,
    pub voice_commands: Vec<VoiceCommand>,
    pub sessions: Sessions,
    pub faults: FaultState,
    pub identifies: u32,
    /// When each rate-limit bucket (`shard % max_concurrency`) last accepted an identify (real
    /// time, as Discord's limits are).
    pub identify_buckets: HashMap<u32, std::time::Instant>,
    /// Identifies refused for breaking Discord's limits (answered with op 9).
    pub identify_refusals: u32,
}

impl Core {
    fn new(config: &DiscordConfig) -> Self {
        let bot = model::user(config.bot_user_id, &config.bot_name, true);
        let mut users = BTreeMap::new();
        users.insert(bot.id, bot.clone());
        Self {
            ids: IdGen::new(),
            rng: StdRng::seed_from_u64(config.seed),
            bot,
            users,
            guilds: BTreeMap::new(),
            global_commands: Vec::new(),
            guild_commands: HashMap::new(),
            messages: HashMap::new(),
            message_changes: HashMap::new(),
            interactions: Registry::default(),
            voice_commands: Vec::new(),
            sessions: Sessions::default(),
            faults: FaultState::default(),
            identifies: 0,
            identify_buckets: HashMap::new(),
            identify_refusals: 0,
        }
    }

    /// A random lowercase hex string of `len` characters (session ids, tokens).
    pub(crate) fn random_hex(&mut self, len: usize) -> String {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        (0..len)
            .map(|_| char::from(HEX[self.rng.random_range(0..16)]))
            .collect()
    }

    /// The guild a channel belongs to.
    pub(crate) fn guild_of_channel(&self, channel: Id<ChannelMarker>) -> Option<&GuildState> {
        self.guilds
            .values()
            .find(|guild| guild.channel(channel).is_some())
    }

    /// The bot's permissions in a channel (none when the channel is unknown).
    pub(crate) fn bot_permissions(&self, channel: Id<ChannelMarker>) -> Permissions {
        self.guild_of_channel(channel)
            .map_or(Permissions::empty(), |guild| {
                guild.channel_permissions(self.bot.id, channel)
            })
    }

    /// Whether a channel carries voice.
    pub(crate) fn is_voice(channel: &Channel) -> bool {
        matches!(
            channel.kind,
            ChannelType::GuildVoice | ChannelType::GuildStageVoice
        )
    }

    /// Sends an event to every gateway session that should get it.
    pub(crate) fn dispatch(&mut self, dispatch: &Dispatch, replay_buffer: usize) {
        self.sessions.dispatch(dispatch, replay_buffer);
    }
}

/// What the server tasks and the library handle share.
#[derive(Debug)]
pub(crate) struct Shared {
    pub config: DiscordConfig,
    pub addr: SocketAddr,
    core: Mutex<Core>,
    changed: watch::Sender<u64>,
    /// Flips to true on shutdown: every connection ends.
    pub kill: watch::Sender<bool>,
    /// REST rate-limit windows.
    pub buckets: Buckets,
}

/// The default guard of waits (real time): generous, as it only turns a hang into a failure.
pub(crate) const DEFAULT_WAIT: Duration = Duration::from_secs(10);

impl Shared {
    pub(crate) fn new(config: DiscordConfig, addr: SocketAddr) -> Arc<Self> {
        let core = Core::new(&config);
        Arc::new(Self {
            config,
            addr,
            core: Mutex::new(core),
            changed: watch::channel(0).0,
            kill: watch::channel(false).0,
            buckets: Buckets::default(),
        })
    }

    /// Runs `f` on the world and then wakes every waiter.
    pub(crate) fn with<T>(&self, f: impl FnOnce(&mut Core) -> T) -> T {
        let result = f(&mut self.lock());
        self.changed.send_modify(|version| *version += 1);
        result
    }

    /// Reads the world without waking waiters.
    pub(crate) fn read<T>(&self, f: impl FnOnce(&Core) -> T) -> T {
        f(&self.lock())
    }

    fn lock(&self) -> MutexGuard<'_, Core> {
        self.core.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Dispatches events (each to the sessions that should get them) and wakes waiters.
    pub(crate) fn dispatch_all(&self, dispatches: &[Dispatch]) {
        let buffer = self.config.replay_buffer;
        self.with(|core| {
            for dispatch in dispatches {
                core.dispatch(dispatch, buffer);
            }
        });
    }

    /// Waits until `check` returns something, with `timeout` (real time) as a failure guard.
    pub(crate) async fn wait_until<T>(
        &self,
        what: &'static str,
        timeout: Duration,
        mut check: impl FnMut(&Core) -> Option<T>,
    ) -> Result<T, WaitError> {
        let mut changed = self.changed.subscribe();
        let mut killed = self.kill.subscribe();
        let wait = async {
            loop {
                if let Some(found) = self.read(&mut check) {
                    return Ok(found);
                }
                if *killed.borrow_and_update() {
                    return Err(WaitError::Shutdown(what));
                }
                tokio::select! {
                    result = changed.changed() => {
                        if result.is_err() {
                            return Err(WaitError::Shutdown(what));
                        }
                    }
                    _ = killed.changed() => {}
                }
            }
        };
        tokio::time::timeout(timeout, wait)
            .await
            .unwrap_or(Err(WaitError::Timeout(timeout, what)))
    }
}
