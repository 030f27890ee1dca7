//! Scripted users: guilds built with sensible defaults, members joining, leaving and moving
//! between voice channels (themselves or by a moderator), slash commands invoked, and what the
//! bot answered read back.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use twilight_model::application::command::Command;
use twilight_model::channel::permission_overwrite::PermissionOverwrite;
use twilight_model::channel::{Channel, ChannelType, Message};
use twilight_model::gateway::Intents;
use twilight_model::guild::{Permissions, Role};
use twilight_model::id::Id;
use twilight_model::id::marker::{ChannelMarker, GuildMarker, RoleMarker, UserMarker};
use twilight_model::voice::VoiceState;

use super::DiscordSim;
use super::components::{self, ButtonPress};
use super::config::{SimError, WaitError};
use super::gateway;
use super::interactions::InteractionHandle;
use super::model;
use super::slash::{self, SlashCommand};
use super::state::{Core, DEFAULT_WAIT, Dispatch, GuildState, Shared};
use super::voice::{self, VoiceCommand};

/// A member to put in a new guild.
#[derive(Debug, Clone)]
pub struct MemberSpec {
    /// The user name (a new user is made for it).
    pub name: String,
    /// Names of roles of the guild spec the member has.
    pub roles: Vec<String>,
}

/// A guild to create. [`GuildSpec::default`] is a guild with a text channel `general`, two voice
/// channels `Music` and `Lounge`, `@everyone` with Discord's default permissions, an `Admin` role
/// with Manage Guild, an owner `owner` (with `Admin`) and two members `alice` and `bob`; the bot
/// is a member with no role of its own.
#[derive(Debug, Clone)]
pub struct GuildSpec {
    /// The guild name.
    pub name: String,
    /// A fixed id (its timestamp bits decide the shard); a fresh snowflake when `None`.
    pub id: Option<u64>,
    /// Text channel names.
    pub text_channels: Vec<String>,
    /// Voice channel names.
    pub voice_channels: Vec<String>,
    /// `@everyone`'s permissions.
    pub everyone_permissions: Permissions,
    /// Other roles: name and permissions, lowest first.
    pub roles: Vec<(String, Permissions)>,
    /// The owner's user name (the owner has every permission).
    pub owner: String,
    /// Roles of the owner.
    pub owner_roles: Vec<String>,
    /// The other members.
    pub members: Vec<MemberSpec>,
    /// Roles of the bot's member.
    pub bot_roles: Vec<String>,
    /// Whether the bot is a member (a guild without the bot is invisible to it).
    pub bot_member: bool,
    /// The guild's `preferred_locale` (interactions' `guild_locale`), `en-US` by default.
    pub preferred_locale: String,
}

impl Default for GuildSpec {
    fn default() -> Self {
        Self {
            name: "Sim Guild".into(),
            id: None,
            text_channels: vec!["general".into()],
            voice_channels: vec!["Music".into(), "Lounge".into()],
            everyone_permissions: model::default_everyone_permissions(),
            roles: vec![("Admin".into(), Permissions::MANAGE_GUILD)],
            owner: "owner".into(),
            owner_roles: vec!["Admin".into()],
            members: vec![
                MemberSpec {
                    name: "alice".into(),
                    roles: Vec::new(),
                },
                MemberSpec {
                    name: "bob".into(),
                    roles: Vec::new(),
                },
            ],
            bot_roles: Vec::new(),
            bot_member: true,
            preferred_locale: "en-US".into(),
        }
    }
}

impl GuildSpec {
    /// The default guild under another name.
    pub fn named(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            ..Self::default()
        }
    }

    /// The same guild with a fixed id.
    #[must_use]
    pub fn with_id(mut self, id: u64) -> Self {
        self.id = Some(id);
        self
    }

    /// Adds a role.
    #[must_use]
    pub fn role(mut self, name: impl Into<String>, permissions: Permissions) -> Self {
        self.roles.push((name.into(), permissions));
        self
    }

    /// Adds a member with roles (by name).
    #[must_use]
    pub fn member(mut self, name: impl Into<String>, roles: &[&str]) -> Self {
        self.members.push(MemberSpec {
            name: name.into(),
            roles: roles.iter().map(|role| (*role).to_owned()).collect(),
        });
        self
    }

    /// Sets the guild's preferred locale (`de`, `fr`, ...).
    #[must_use]
    pub fn preferred_locale(mut self, locale: impl Into<String>) -> Self {
        self.preferred_locale = locale.into();
        self
    }

    /// Gives the bot these roles (by name).
    #[must_use]
    pub fn bot_roles(mut self, roles: &[&str]) -> Self {
        self.bot_roles = roles.iter().map(|role| (*role).to_owned()).collect();
        self
    }
}

/// The ids of what [`DiscordSim::create_guild`] made.
#[derive(Debug, Clone)]
pub struct GuildInfo {
    /// The guild.
    pub id: Id<GuildMarker>,
    /// The owner.
    pub owner_id: Id<UserMarker>,
    /// `@everyone` (same id as the guild).
    pub everyone_role: Id<RoleMarker>,
    /// Other roles by name.
    pub roles: Vec<(String, Id<RoleMarker>)>,
    /// Text channels in spec order.
    pub text_channels: Vec<Id<ChannelMarker>>,
    /// Voice channels in spec order.
    pub voice_channels: Vec<Id<ChannelMarker>>,
    /// Members (owner first, not the bot) by user name.
    pub members: Vec<(String, Id<UserMarker>)>,
}

impl GuildInfo {
    /// The first text channel.
    pub fn text_channel(&self) -> Id<ChannelMarker> {
        self.text_channels[0]
    }

    /// The `index`th voice channel.
    pub fn voice_channel(&self, index: usize) -> Id<ChannelMarker> {
        self.voice_channels[index]
    }

    /// A role by name.
    pub fn role(&self, name: &str) -> Option<Id<RoleMarker>> {
        self.roles
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, id)| *id)
    }

    /// A member by user name.
    pub fn member(&self, name: &str) -> Option<Id<UserMarker>> {
        self.members
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, id)| *id)
    }
}

impl DiscordSim {
    /// Creates a user (not in any guild yet).
    pub fn create_user(&self, name: &str) -> Id<UserMarker> {
        self.shared.with(|core| {
            let id = core.ids.next();
            core.users.insert(id, model::user(id, name, false));
            id
        })
    }

    /// Creates a guild; a bot already connected on its shard gets GUILD_CREATE (as when it is
    /// added to a guild).
    pub fn create_guild(&self, spec: &GuildSpec) -> Result<GuildInfo, SimError> {
        create_guild(&self.shared, spec)
    }

    /// Adds an existing user to a guild with roles (GUILD_MEMBER_ADD to the bot).
    pub fn add_member(
        &self,
        guild: Id<GuildMarker>,
        user: Id<UserMarker>,
        roles: Vec<Id<RoleMarker>>,
    ) -> Result<(), SimError> {
        let dispatch = self.shared.with(|core| {
            let user_object = core
                .users
                .get(&user)
                .cloned()
                .ok_or(SimError::UnknownUser(user))?;
            let state = core
                .guilds
                .get_mut(&guild)
                .ok_or(SimError::UnknownGuild(guild))?;
            let member = model::member(user_object, roles, model::now_timestamp());
            state.members.insert(user, member.clone());
            let mut data = serde_json::to_value(&member).unwrap_or(Value::Null);
            data["guild_id"] = json!(guild.to_string());
            Ok::<_, SimError>(Dispatch {
                name: "GUILD_MEMBER_ADD",
                data,
                guild: Some(guild),
                intent: Some(Intents::GUILD_MEMBERS),
                without_content: None,
            })
        })?;
        self.shared.dispatch_all(&[dispatch]);
        Ok(())
    }

    /// Sets (or replaces) a permission overwrite on a channel (CHANNEL_UPDATE to the bot).
    pub fn set_channel_overwrite(
        &self,
        channel: Id<ChannelMarker>,
        overwrite: PermissionOverwrite,
    ) -> Result<(), SimError> {
        let dispatch = self.shared.with(|core| {
            let guild = core
                .guilds
                .values_mut()
                .find(|guild| guild.channel(channel).is_some())
                .ok_or(SimError::UnknownChannel(channel))?;
            let guild_id = guild.id;
            let target = guild
                .channels
                .iter_mut()
                .find(|c| c.id == channel)
                .ok_or(SimError::UnknownChannel(channel))?;
            let overwrites = target.permission_overwrites.get_or_insert_with(Vec::new);
            overwrites.retain(|o| !(o.id == overwrite.id && o.kind == overwrite.kind));
            overwrites.push(overwrite);
            Ok::<_, SimError>(Dispatch {
                name: "CHANNEL_UPDATE",
                data: serde_json::to_value(&*target).unwrap_or(Value::Null),
                guild: Some(guild_id),
                intent: Some(Intents::GUILDS),
                without_content: None,
            })
        })?;
        self.shared.dispatch_all(&[dispatch]);
        Ok(())
    }

    /// Changes a role's permissions (GUILD_ROLE_UPDATE to the bot).
    pub fn set_role_permissions(
        &self,
        guild: Id<GuildMarker>,
        role: Id<RoleMarker>,
        permissions: Permissions,
    ) -> Result<(), SimError> {
        let dispatch = self.shared.with(|core| {
            let state = core
                .guilds
                .get_mut(&guild)
                .ok_or(SimError::UnknownGuild(guild))?;
            let target = state
                .roles
                .iter_mut()
                .find(|r| r.id == role)
                .ok_or(SimError::Config("unknown role"))?;
            target.permissions = permissions;
            Ok::<_, SimError>(Dispatch {
                name: "GUILD_ROLE_UPDATE",
                data: json!({"guild_id": guild.to_string(), "role": &*target}),
                guild: Some(guild),
                intent: Some(Intents::GUILDS),
                without_content: None,
            })
        })?;
        self.shared.dispatch_all(&[dispatch]);
        Ok(())
    }

    /// A user joins (or moves to) a voice channel by themselves (VOICE_STATE_UPDATE to the bot).
    pub fn join_voice(
        &self,
        guild: Id<GuildMarker>,
        user: Id<UserMarker>,
        channel: Id<ChannelMarker>,
    ) -> Result<(), SimError> {
        self.move_member(guild, user, Some(channel))
    }

    /// A user leaves voice by themselves.
    pub fn leave_voice(
        &self,
        guild: Id<GuildMarker>,
        user: Id<UserMarker>,
    ) -> Result<(), SimError> {
        self.move_member(guild, user, None)
    }

    /// A moderator moves a member (the bot included) to another voice channel, or with `None`
    /// disconnects them. The bot keeps its voice session id on a move; it gets no new
    /// VOICE_SERVER_UPDATE.
    pub fn move_member(
        &self,
        guild: Id<GuildMarker>,
        user: Id<UserMarker>,
        channel: Option<Id<ChannelMarker>>,
    ) -> Result<(), SimError> {
        move_member(&self.shared, guild, user, channel).map(|_| ())
    }

    /// A member invokes a slash command: INTERACTION_CREATE goes to the bot's sessions on the
    /// guild's shard, and the handle awaits what the bot answers.
    pub fn invoke(&self, command: &SlashCommand) -> Result<InteractionHandle, SimError> {
        invoke(&self.shared, command)
    }

    /// A member types in an option declared with `autocomplete: true`: the command's options
    /// hold exactly one focused option (see [`SlashCommand::typing`]), and the bot gets an
    /// APPLICATION_COMMAND_AUTOCOMPLETE interaction; [`InteractionHandle::choices`] awaits its
    /// answer. Refused when the command is not registered, the option is not declared with
    /// autocomplete, or not exactly one option is focused.
    pub fn autocomplete(&self, command: &SlashCommand) -> Result<InteractionHandle, SimError> {
        autocomplete(&self.shared, command)
    }

    /// A member presses a button on a message (a channel message, or an ephemeral response
    /// shown to that member): the bot gets a MESSAGE_COMPONENT interaction carrying the message.
    /// Refused (naming what is missing) when the message is unknown or not visible to the user,
    /// or has no enabled, non-link button with that `custom_id`.
    pub fn press_button(&self, press: &ButtonPress) -> Result<InteractionHandle, SimError> {
        press_button(&self.shared, press)
    }

    /// The registered global commands.
    pub fn global_commands(&self) -> Vec<Command> {
        self.shared.read(|core| core.global_commands.clone())
    }

    /// The registered commands of a guild.
    pub fn guild_commands(&self, guild: Id<GuildMarker>) -> Vec<Command> {
        self.shared
            .read(|core| core.guild_commands.get(&guild).cloned().unwrap_or_default())
    }

    /// Waits until at least `count` global commands are registered.
    pub async fn wait_for_global_commands(&self, count: usize) -> Result<Vec<Command>, WaitError> {
        self.shared
            .wait_until("global command registration", DEFAULT_WAIT, |core| {
                (core.global_commands.len() >= count).then(|| core.global_commands.clone())
            })
            .await
    }

    /// A member's voice state in a guild.
    pub fn voice_state(&self, guild: Id<GuildMarker>, user: Id<UserMarker>) -> Option<VoiceState> {
        self.shared.read(|core| {
            core.guilds
                .get(&guild)
                .and_then(|state| state.voice_states.get(&user).cloned())
        })
    }

    /// The bot's voice state in a guild.
    pub fn bot_voice_state(&self, guild: Id<GuildMarker>) -> Option<VoiceState> {
        self.voice_state(guild, self.bot_user_id())
    }

    /// Every op 4 the bot sent, in order.
    pub fn voice_commands(&self) -> Vec<VoiceCommand> {
        self.shared.read(|core| core.voice_commands.clone())
    }

    /// Waits for the `index`th op 4 (from 0).
    pub async fn wait_for_voice_command(&self, index: usize) -> Result<VoiceCommand, WaitError> {
        self.shared
            .wait_until("an op 4 from the bot", DEFAULT_WAIT, |core| {
                core.voice_commands.get(index).cloned()
            })
            .await
    }

    /// Waits until the bot's voice state in a guild satisfies `check`.
    pub async fn wait_for_bot_voice(
        &self,
        guild: Id<GuildMarker>,
        mut check: impl FnMut(Option<&VoiceState>) -> bool,
    ) -> Result<Option<VoiceState>, WaitError> {
        let bot = self.bot_user_id();
        self.shared
            .wait_until("the bot's voice state", DEFAULT_WAIT, |core| {
                let state = core
                    .guilds
                    .get(&guild)
                    .and_then(|g| g.voice_states.get(&bot));
                check(state).then(|| state.cloned())
            })
            .await
    }

    /// Messages in a channel (not ephemeral ones), oldest first.
    pub fn channel_messages(&self, channel: Id<ChannelMarker>) -> Vec<Message> {
        self.shared
            .read(|core| core.messages.get(&channel).cloned().unwrap_or_default())
    }

    /// Waits (10 s guard) for a message in a channel that satisfies `check`.
    pub async fn wait_for_message(
        &self,
        channel: Id<ChannelMarker>,
        check: impl FnMut(&Message) -> bool,
    ) -> Result<Message, WaitError> {
        self.wait_for_message_within(channel, DEFAULT_WAIT, check)
            .await
    }

    /// Waits for a message in a channel that satisfies `check`, with `timeout` as the guard.
    pub async fn wait_for_message_within(
        &self,
        channel: Id<ChannelMarker>,
        timeout: Duration,
        mut check: impl FnMut(&Message) -> bool,
    ) -> Result<Message, WaitError> {
        self.shared
            .wait_until("a channel message", timeout, |core| {
                core.messages
                    .get(&channel)
                    .and_then(|messages| messages.iter().find(|m| check(m)).cloned())
            })
            .await
    }
}

/// The roles of a new guild: `@everyone` (the guild's id) then the spec's, lowest first.
fn build_roles(
    core: &mut Core,
    id: Id<GuildMarker>,
    spec: &GuildSpec,
) -> (Vec<Role>, Vec<(String, Id<RoleMarker>)>) {
    let mut roles = vec![model::role(
        id.cast(),
        "@everyone",
        spec.everyone_permissions,
        0,
    )];
    let mut names = Vec::new();
    for (position, (name, permissions)) in spec.roles.iter().enumerate() {
        let role_id: Id<RoleMarker> = core.ids.next();
        let position = i64::try_from(position).unwrap_or(0) + 1;
        roles.push(model::role(role_id, name, *permissions, position));
        names.push((name.clone(), role_id));
    }
    (roles, names)
}

/// The channels of a new guild: text channels first, then voice channels.
fn build_channels(
    core: &mut Core,
    id: Id<GuildMarker>,
    spec: &GuildSpec,
) -> (Vec<Channel>, Vec<Id<ChannelMarker>>, Vec<Id<ChannelMarker>>) {
    let mut channels = Vec::new();
    let mut text = Vec::new();
    let mut voice = Vec::new();
    let kinds = spec
        .text_channels
        .iter()
        .map(|name| (name, ChannelType::GuildText))
        .chain(
            spec.voice_channels
                .iter()
                .map(|name| (name, ChannelType::GuildVoice)),
        );
    for (position, (name, kind)) in kinds.enumerate() {
        let channel_id = core.ids.next();
        let position = i32::try_from(position).unwrap_or(0);
        channels.push(model::channel(channel_id, id, kind, name, position));
        if kind == ChannelType::GuildText {
            text.push(channel_id);
        } else {
            voice.push(channel_id);
        }
    }
    (channels, text, voice)
}

/// Creates a guild and sends GUILD_CREATE to a bot connected on its shard (for
/// [`DiscordSim::create_guild`] and the control endpoint).
pub(crate) fn create_guild(shared: &Shared, spec: &GuildSpec) -> Result<GuildInfo, SimError> {
    let (info, dispatch) = shared.with(|core| {
        let id: Id<GuildMarker> = match spec.id {
            Some(raw) => Id::new_checked(raw).ok_or(SimError::Config("guild id 0"))?,
            None => core.ids.next(),
        };
        if core.guilds.contains_key(&id) {
            return Err(SimError::DuplicateId(id.get()));
        }
        let (state, info) = build_guild(core, id, spec);
        core.guilds.insert(id, state);
        let dispatch = if spec.bot_member {
            gateway::guild_create_dispatch(core, id)
        } else {
            None
        };
        Ok((info, dispatch))
    })?;
    shared.dispatch_all(&dispatch.into_iter().collect::<Vec<_>>());
    Ok(info)
}

/// Puts a member into a voice channel, moves them or disconnects them, and sends
/// VOICE_STATE_UPDATE. Returns whether anything changed (leaving voice when not in voice does
/// not).
pub(crate) fn move_member(
    shared: &Shared,
    guild: Id<GuildMarker>,
    user: Id<UserMarker>,
    channel: Option<Id<ChannelMarker>>,
) -> Result<bool, SimError> {
    let dispatch = shared.with(|core| voice::set_member_channel(core, guild, user, channel))?;
    let changed = dispatch.is_some();
    shared.dispatch_all(&dispatch.into_iter().collect::<Vec<_>>());
    Ok(changed)
}

/// A member invokes a slash command: INTERACTION_CREATE goes to the bot's sessions on the
/// guild's shard.
pub(crate) fn invoke(
    shared: &Arc<Shared>,
    command: &SlashCommand,
) -> Result<InteractionHandle, SimError> {
    let (interaction, dispatch) = shared.with(|core| slash::create_slash(core, shared, command))?;
    shared.dispatch_all(&[dispatch]);
    Ok(InteractionHandle {
        shared: Arc::clone(shared),
        interaction,
    })
}

/// A member types in an autocomplete option (for [`DiscordSim::autocomplete`] and the control
/// endpoint).
pub(crate) fn autocomplete(
    shared: &Arc<Shared>,
    command: &SlashCommand,
) -> Result<InteractionHandle, SimError> {
    let (interaction, dispatch) =
        shared.with(|core| slash::create_autocomplete(core, shared, command))?;
    shared.dispatch_all(&[dispatch]);
    Ok(InteractionHandle {
        shared: Arc::clone(shared),
        interaction,
    })
}

/// A member presses a button (for [`DiscordSim::press_button`] and the control endpoint).
pub(crate) fn press_button(
    shared: &Arc<Shared>,
    press: &ButtonPress,
) -> Result<InteractionHandle, SimError> {
    let (interaction, dispatch) =
        shared.with(|core| components::create_component(core, shared, press))?;
    shared.dispatch_all(&[dispatch]);
    Ok(InteractionHandle {
        shared: Arc::clone(shared),
        interaction,
    })
}

fn build_guild(core: &mut Core, id: Id<GuildMarker>, spec: &GuildSpec) -> (GuildState, GuildInfo) {
    let joined_at = model::now_timestamp();
    let (roles, role_ids) = build_roles(core, id, spec);
    let (channels, text_channels, voice_channels) = build_channels(core, id, spec);
    let lookup = |names: &[String]| -> Vec<Id<RoleMarker>> {
        names
            .iter()
            .filter_map(|name| role_ids.iter().find(|(n, _)| n == name).map(|(_, id)| *id))
            .collect()
    };
    let people = std::iter::once((&spec.owner, &spec.owner_roles)).chain(
        spec.members
            .iter()
            .map(|member| (&member.name, &member.roles)),
    );
    let mut members = BTreeMap::new();
    let mut member_ids = Vec::new();
    for (name, roles) in people {
        let user_id: Id<UserMarker> = core.ids.next();
        let user = model::user(user_id, name, false);
        core.users.insert(user_id, user.clone());
        members.insert(user_id, model::member(user, lookup(roles), joined_at));
        member_ids.push((name.clone(), user_id));
    }
    if spec.bot_member {
        let bot = core.bot.clone();
        members.insert(
            bot.id,
            model::member(bot, lookup(&spec.bot_roles), joined_at),
        );
    }
    let owner_id = member_ids[0].1;
    let state = GuildState {
        id,
        name: spec.name.clone(),
        owner_id,
        joined_at,
        roles,
        channels,
        members,
        voice_states: BTreeMap::new(),
        preferred_locale: spec.preferred_locale.clone(),
    };
    let info = GuildInfo {
        id,
        owner_id,
        everyone_role: id.cast(),
        roles: role_ids,
        text_channels,
        voice_channels,
        members: member_ids,
    };
    (state, info)
}
