//! The cache handed to a successor. A resumed gateway session gets no GUILD_CREATE (Discord
//! replays only the dispatches the session missed), so a process that resumes handed-over
//! sessions would start with an empty cache: no guild names, no permissions, no voice states.
//! The predecessor writes what its cache holds as the GUILD_CREATE payloads Discord would have
//! sent, and the successor replays them through the same path as real ones before its shards
//! run.

use serde::{Deserialize, Serialize};
use twilight_cache_inmemory::InMemoryCache;
use twilight_model::guild::{Guild, Member};
use twilight_model::voice::VoiceState;

use super::voice::VoiceTracker;
use super::{ChannelId, GuildId};

/// What a process's cache knows, as GUILD_CREATE payloads, and the bot's own voice connections.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CacheSnapshot {
    /// Every cached guild with its channels, roles, members and voice states.
    pub guilds: Vec<Guild>,
    /// The bot's voice connection per guild, with the server half (token, endpoint) that no
    /// GUILD_CREATE carries.
    pub voice: Vec<BotVoice>,
}

/// The bot's own voice connection in one guild.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BotVoice {
    /// The guild.
    pub guild: GuildId,
    /// The channel the bot is in.
    pub channel: ChannelId,
    /// Its voice session id.
    pub session_id: String,
    /// The voice server's token, if known.
    pub token: Option<String>,
    /// The voice server's endpoint, if known.
    pub endpoint: Option<String>,
}

impl CacheSnapshot {
    /// How many guilds it holds.
    pub fn len(&self) -> usize {
        self.guilds.len()
    }

    /// Whether it holds no guild.
    pub fn is_empty(&self) -> bool {
        self.guilds.is_empty()
    }

    /// Keeps the guilds `keep` says yes to (those on the shards a successor resumes).
    pub(crate) fn retain(&mut self, keep: impl Fn(GuildId) -> bool) {
        self.guilds.retain(|guild| keep(guild.id));
        self.voice.retain(|voice| keep(voice.guild));
    }

    /// The cache's guilds and the tracker's voice connections now.
    pub(crate) fn of(cache: &InMemoryCache, voice: &VoiceTracker) -> Self {
        let mut guilds: Vec<Guild> = cache
            .iter()
            .guilds()
            .filter_map(|entry| guild(cache, *entry.key()))
            .collect();
        guilds.sort_by_key(|guild| guild.id);
        Self {
            guilds,
            voice: voice.bot_voices(),
        }
    }
}

/// One guild as its GUILD_CREATE would carry it, from the cache.
fn guild(cache: &InMemoryCache, id: GuildId) -> Option<Guild> {
    let cached = cache.guild(id)?;
    let channels = ids(cache
        .guild_channels(id)
        .as_ref()
        .map(twilight_cache_inmemory::Reference::value))
    .into_iter()
    .filter_map(|channel| cache.channel(channel).map(|c| c.value().clone()))
    .collect();
    let roles = ids(cache
        .guild_roles(id)
        .as_ref()
        .map(twilight_cache_inmemory::Reference::value))
    .into_iter()
    .filter_map(|role| cache.role(role).map(|r| r.value().resource().clone()))
    .collect();
    let members = ids(cache
        .guild_members(id)
        .as_ref()
        .map(twilight_cache_inmemory::Reference::value))
    .into_iter()
    .filter_map(|user| member(cache, id, user))
    .collect();
    let voice_states = ids(cache
        .guild_voice_states(id)
        .as_ref()
        .map(twilight_cache_inmemory::Reference::value))
    .into_iter()
    .filter_map(|user| {
        let state = cache.voice_state(user, id)?;
        Some(VoiceState {
            channel_id: Some(state.channel_id()),
            deaf: state.deaf(),
            guild_id: Some(id),
            member: None,
            mute: state.mute(),
            self_deaf: state.self_deaf(),
            self_mute: state.self_mute(),
            self_stream: state.self_stream(),
            self_video: state.self_video(),
            session_id: state.session_id().to_owned(),
            suppress: state.suppress(),
            user_id: user,
            request_to_speak_timestamp: state.request_to_speak_timestamp(),
        })
    })
    .collect();
    Some(Guild {
        afk_channel_id: cached.afk_channel_id(),
        afk_timeout: cached.afk_timeout(),
        application_id: cached.application_id(),
        approximate_member_count: None,
        approximate_presence_count: None,
        banner: cached.banner().copied(),
        channels,
        default_message_notifications: cached.default_message_notifications(),
        description: cached.description().map(ToOwned::to_owned),
        discovery_splash: cached.discovery_splash().copied(),
        emojis: Vec::new(),
        explicit_content_filter: cached.explicit_content_filter(),
        features: cached.features().cloned().collect(),
        guild_scheduled_events: cached.guild_scheduled_events().to_vec(),
        icon: cached.icon().copied(),
        id,
        joined_at: cached.joined_at(),
        large: cached.large(),
        max_members: cached.max_members(),
        max_presences: cached.max_presences(),
        max_stage_video_channel_users: cached.max_stage_video_channel_users(),
        max_video_channel_users: cached.max_video_channel_users(),
        member_count: cached.member_count(),
        members,
        mfa_level: cached.mfa_level(),
        name: cached.name().to_owned(),
        nsfw_level: cached.nsfw_level(),
        owner_id: cached.owner_id(),
        owner: cached.owner(),
        permissions: cached.permissions(),
        preferred_locale: cached.preferred_locale().to_owned(),
        premium_progress_bar_enabled: cached.premium_progress_bar_enabled(),
        premium_subscription_count: cached.premium_subscription_count(),
        premium_tier: cached.premium_tier(),
        presences: Vec::new(),
        public_updates_channel_id: cached.public_updates_channel_id(),
        roles,
        rules_channel_id: cached.rules_channel_id(),
        safety_alerts_channel_id: cached.safety_alerts_channel_id(),
        splash: cached.splash().copied(),
        stage_instances: Vec::new(),
        stickers: Vec::new(),
        system_channel_flags: cached.system_channel_flags(),
        system_channel_id: cached.system_channel_id(),
        threads: Vec::new(),
        unavailable: cached.unavailable(),
        vanity_url_code: cached.vanity_url_code().map(ToOwned::to_owned),
        verification_level: cached.verification_level(),
        voice_states,
        widget_channel_id: cached.widget_channel_id(),
        widget_enabled: cached.widget_enabled(),
    })
}

/// A cached member with its user (a member without a cached user is left out: a GUILD_CREATE
/// member always carries one).
fn member(cache: &InMemoryCache, guild: GuildId, user: super::UserId) -> Option<Member> {
    let cached = cache.member(guild, user)?;
    let user = cache.user(user)?.value().clone();
    Some(Member {
        avatar: cached.avatar(),
        avatar_decoration_data: None,
        banner: None,
        communication_disabled_until: cached.communication_disabled_until(),
        deaf: cached.deaf().unwrap_or(false),
        flags: cached.flags(),
        joined_at: cached.joined_at(),
        mute: cached.mute().unwrap_or(false),
        nick: cached.nick().map(ToOwned::to_owned),
        pending: cached.pending(),
        premium_since: cached.premium_since(),
        roles: cached.roles().to_vec(),
        user,
    })
}

/// The ids in a cache index, copied out so that no lock on it is held while looking them up.
fn ids<T: Copy + Ord>(set: Option<&std::collections::HashSet<T>>) -> Vec<T> {
    let mut ids: Vec<T> = set
        .map(|set| set.iter().copied().collect())
        .unwrap_or_default();
    ids.sort_unstable();
    ids
}
