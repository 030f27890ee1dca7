//! Voice: the bot's op 4 (Update Voice State) answered with VOICE_STATE_UPDATE and
//! VOICE_SERVER_UPDATE, users and moderators moving people between channels.

use std::time::Instant;

use serde_json::{Value, json};
use twilight_model::gateway::Intents;
use twilight_model::gateway::payload::outgoing::update_voice_state::UpdateVoiceStateInfo;
use twilight_model::guild::Permissions;
use twilight_model::id::Id;
use twilight_model::id::marker::{ChannelMarker, GuildMarker, UserMarker};
use twilight_model::voice::VoiceState;

use super::config::SimError;
use super::gateway::shard_of;
use super::state::{Core, Dispatch, GuildState, Shared};

/// An Update Voice State (op 4) the bot sent, as tests inspect it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VoiceCommand {
    /// The guild.
    pub guild_id: Id<GuildMarker>,
    /// The channel to join, `None` to leave.
    pub channel_id: Option<Id<ChannelMarker>>,
    /// `self_mute`.
    pub self_mute: bool,
    /// `self_deaf`.
    pub self_deaf: bool,
    /// The gateway session it came on.
    pub session_id: Option<String>,
    /// When it arrived (real time).
    pub at: Instant,
}

/// Handles op 4 from a gateway connection.
pub(crate) fn update_voice_state(shared: &Shared, connection: u64, update: &UpdateVoiceStateInfo) {
    let region = shared.config.voice_region.clone();
    let buffer = shared.config.replay_buffer;
    shared.with(|core| {
        let session = core.sessions.session_of(connection);
        let session_id = session.map(|session| session.id.clone());
        let on_shard = session.is_some_and(|session| {
            shard_of(update.guild_id, session.shard.total()) == session.shard.number()
        });
        core.voice_commands.push(VoiceCommand {
            guild_id: update.guild_id,
            channel_id: update.channel_id,
            self_mute: update.self_mute,
            self_deaf: update.self_deaf,
            session_id,
            at: Instant::now(),
        });
        // Discord ignores updates for guilds of another shard and channels the bot cannot join.
        if !on_shard {
            return;
        }
        let dispatches = bot_voice_update(core, update, &region);
        for dispatch in dispatches {
            core.dispatch(&dispatch, buffer);
        }
    });
}

fn bot_voice_update(core: &mut Core, update: &UpdateVoiceStateInfo, region: &str) -> Vec<Dispatch> {
    let bot = core.bot.id;
    let Some(guild) = core.guilds.get(&update.guild_id) else {
        return Vec::new();
    };
    if !guild.members.contains_key(&bot) {
        return Vec::new();
    }
    let previous = guild.voice_states.get(&bot).cloned();
    match update.channel_id {
        None => {
            let Some(previous) = previous else {
                return Vec::new();
            };
            let mut left = previous;
            left.channel_id = None;
            left.self_mute = update.self_mute;
            left.self_deaf = update.self_deaf;
            vec![set_voice_state(core, update.guild_id, &left)]
        }
        Some(channel) => {
            let Some(target) = guild.channel(channel) else {
                return Vec::new();
            };
            let needed = Permissions::VIEW_CHANNEL | Permissions::CONNECT;
            if !Core::is_voice(target) || !guild.channel_permissions(bot, channel).contains(needed)
            {
                return Vec::new();
            }
            let moving = previous
                .as_ref()
                .is_some_and(|p| p.channel_id.is_some_and(|c| c != channel));
            let kept = previous
                .filter(|previous| previous.channel_id.is_some())
                .map(|previous| previous.session_id);
            let session_id = match kept {
                Some(session_id) => session_id,
                None => core.random_hex(32),
            };
            let Some(guild) = core.guilds.get(&update.guild_id) else {
                return Vec::new();
            };
            let state = voice_state(guild, bot, Some(channel), session_id, update);
            let mut dispatches = vec![set_voice_state(core, update.guild_id, &state)];
            if !moving {
                dispatches.extend(voice_server_updates(core, update.guild_id, region));
            }
            dispatches
        }
    }
}

/// VOICE_SERVER_UPDATE for a fresh voice connection (preceded by one with a null endpoint when
/// that fault is on).
fn voice_server_updates(core: &mut Core, guild: Id<GuildMarker>, region: &str) -> Vec<Dispatch> {
    let token = core.random_hex(16);
    let mut dispatches = Vec::new();
    if core.faults.voice_endpoint_null_first {
        dispatches.push(voice_server(guild, &token, None));
    }
    let endpoint = format!("sim-voice-{region}-1.discord.media:443");
    dispatches.push(voice_server(guild, &token, Some(&endpoint)));
    dispatches
}

fn voice_server(guild: Id<GuildMarker>, token: &str, endpoint: Option<&str>) -> Dispatch {
    Dispatch {
        name: "VOICE_SERVER_UPDATE",
        data: json!({"token": token, "guild_id": guild.to_string(), "endpoint": endpoint}),
        guild: Some(guild),
        intent: None,
        without_content: None,
    }
}

fn voice_state(
    guild: &GuildState,
    user: Id<UserMarker>,
    channel: Option<Id<ChannelMarker>>,
    session_id: String,
    update: &UpdateVoiceStateInfo,
) -> VoiceState {
    VoiceState {
        channel_id: channel,
        deaf: false,
        guild_id: Some(guild.id),
        member: guild.members.get(&user).cloned(),
        mute: false,
        self_deaf: update.self_deaf,
        self_mute: update.self_mute,
        self_stream: false,
        self_video: false,
        session_id,
        suppress: false,
        user_id: user,
        request_to_speak_timestamp: None,
    }
}

/// Stores a voice state (a null channel removes it) and returns its VOICE_STATE_UPDATE.
fn set_voice_state(core: &mut Core, guild: Id<GuildMarker>, state: &VoiceState) -> Dispatch {
    if let Some(guild) = core.guilds.get_mut(&guild) {
        if state.channel_id.is_some() {
            guild.voice_states.insert(state.user_id, state.clone());
        } else {
            guild.voice_states.remove(&state.user_id);
        }
    }
    Dispatch {
        name: "VOICE_STATE_UPDATE",
        data: serde_json::to_value(state).unwrap_or(Value::Null),
        guild: Some(guild),
        intent: Some(Intents::GUILD_VOICE_STATES),
        without_content: None,
    }
}

/// Puts a member into a voice channel, moves them, or (with `None`) disconnects them, as the
/// user themselves or a moderator would. Returns the dispatch to send.
pub(crate) fn set_member_channel(
    core: &mut Core,
    guild_id: Id<GuildMarker>,
    user: Id<UserMarker>,
    channel: Option<Id<ChannelMarker>>,
) -> Result<Option<Dispatch>, SimError> {
    let guild = core
        .guilds
        .get(&guild_id)
        .ok_or(SimError::UnknownGuild(guild_id))?;
    if !guild.members.contains_key(&user) {
        return Err(SimError::UnknownUser(user));
    }
    if let Some(channel) = channel {
        let target = guild
            .channel(channel)
            .ok_or(SimError::UnknownChannel(channel))?;
        if !Core::is_voice(target) {
            return Err(SimError::WrongChannelKind(channel, "voice"));
        }
    }
    let previous = guild.voice_states.get(&user).cloned();
    let state = match (previous, channel) {
        (None, None) => return Ok(None),
        (Some(mut previous), channel) => {
            previous.channel_id = channel;
            previous.member = guild.members.get(&user).cloned();
            previous
        }
        (None, Some(channel)) => {
            let session_id = core.random_hex(32);
            let guild = core
                .guilds
                .get(&guild_id)
                .ok_or(SimError::UnknownGuild(guild_id))?;
            let join = UpdateVoiceStateInfo {
                channel_id: Some(channel),
                guild_id,
                self_deaf: false,
                self_mute: false,
            };
            voice_state(guild, user, Some(channel), session_id, &join)
        }
    };
    Ok(Some(set_voice_state(core, guild_id, &state)))
}
