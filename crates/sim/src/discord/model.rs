//! Complete twilight-model objects with Discord's defaults, so that every payload the stand-in
//! sends has every field a client may require.

use std::time::{SystemTime, UNIX_EPOCH};

use twilight_model::channel::message::component::Component;
use twilight_model::channel::message::{Embed, MessageFlags, MessageType};
use twilight_model::channel::{Channel, ChannelType, Message};
use twilight_model::guild::{
    Member, MemberFlags, PartialMember, Permissions, Role, RoleColors, RoleFlags,
};
use twilight_model::id::Id;
use twilight_model::id::marker::{
    ChannelMarker, GuildMarker, MessageMarker, RoleMarker, UserMarker, WebhookMarker,
};
use twilight_model::user::{CurrentUser, User};
use twilight_model::util::Timestamp;

/// Discord's epoch (2015-01-01) in Unix milliseconds.
pub(crate) const DISCORD_EPOCH_MS: u64 = 1_420_070_400_000;

/// The wall-clock time as a Discord timestamp.
pub(crate) fn now_timestamp() -> Timestamp {
    let micros = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| i64::try_from(since.as_micros()).unwrap_or(0));
    Timestamp::from_micros(micros).expect("the wall clock is within Discord's timestamp range")
}

/// Permissions Discord gives `@everyone` in a new guild.
pub(crate) fn default_everyone_permissions() -> Permissions {
    Permissions::CREATE_INVITE
        | Permissions::ADD_REACTIONS
        | Permissions::STREAM
        | Permissions::VIEW_CHANNEL
        | Permissions::SEND_MESSAGES
        | Permissions::EMBED_LINKS
        | Permissions::ATTACH_FILES
        | Permissions::READ_MESSAGE_HISTORY
        | Permissions::MENTION_EVERYONE
        | Permissions::USE_EXTERNAL_EMOJIS
        | Permissions::CONNECT
        | Permissions::SPEAK
        | Permissions::USE_VAD
        | Permissions::CHANGE_NICKNAME
        | Permissions::USE_SLASH_COMMANDS
        | Permissions::REQUEST_TO_SPEAK
        | Permissions::CREATE_PUBLIC_THREADS
        | Permissions::CREATE_PRIVATE_THREADS
        | Permissions::USE_EXTERNAL_STICKERS
        | Permissions::SEND_MESSAGES_IN_THREADS
        | Permissions::USE_EMBEDDED_ACTIVITIES
        | Permissions::USE_SOUNDBOARD
        | Permissions::SEND_VOICE_MESSAGES
        | Permissions::SEND_POLLS
}

/// A user (a bot when `bot`).
pub(crate) fn user(id: Id<UserMarker>, name: &str, bot: bool) -> User {
    User {
        accent_color: None,
        avatar: None,
        avatar_decoration: None,
        avatar_decoration_data: None,
        banner: None,
        bot,
        discriminator: 0,
        email: None,
        flags: None,
        global_name: if bot { None } else { Some(name.to_owned()) },
        id,
        locale: None,
        mfa_enabled: None,
        name: name.to_owned(),
        premium_type: None,
        primary_guild: None,
        public_flags: None,
        system: None,
        verified: None,
    }
}

/// The bot as `GET /users/@me` and READY show it.
pub(crate) fn current_user(bot: &User) -> CurrentUser {
    CurrentUser {
        accent_color: None,
        avatar: None,
        banner: None,
        bot: true,
        discriminator: bot.discriminator,
        email: None,
        flags: Some(twilight_model::user::UserFlags::empty()),
        global_name: None,
        id: bot.id,
        locale: Some("en-US".into()),
        mfa_enabled: false,
        name: bot.name.clone(),
        premium_type: None,
        public_flags: Some(twilight_model::user::UserFlags::empty()),
        verified: Some(true),
    }
}

/// A role.
#[allow(deprecated)] // `color` is deprecated in favour of `colors` but still sent by Discord.
pub(crate) fn role(
    id: Id<RoleMarker>,
    name: &str,
    permissions: Permissions,
    position: i64,
) -> Role {
    Role {
        color: 0,
        colors: RoleColors {
            primary_color: 0,
            secondary_color: None,
            tertiary_color: None,
        },
        hoist: false,
        icon: None,
        id,
        managed: false,
        mentionable: false,
        name: name.to_owned(),
        permissions,
        position,
        flags: RoleFlags::empty(),
        tags: None,
        unicode_emoji: None,
    }
}

/// A guild channel without overwrites.
pub(crate) fn channel(
    id: Id<ChannelMarker>,
    guild_id: Id<GuildMarker>,
    kind: ChannelType,
    name: &str,
    position: i32,
) -> Channel {
    let voice = matches!(kind, ChannelType::GuildVoice | ChannelType::GuildStageVoice);
    Channel {
        application_id: None,
        applied_tags: None,
        available_tags: None,
        bitrate: voice.then_some(64_000),
        default_auto_archive_duration: None,
        default_forum_layout: None,
        default_reaction_emoji: None,
        default_sort_order: None,
        default_thread_rate_limit_per_user: None,
        flags: Some(twilight_model::channel::ChannelFlags::empty()),
        guild_id: Some(guild_id),
        icon: None,
        id,
        invitable: None,
        kind,
        last_message_id: None,
        last_pin_timestamp: None,
        managed: None,
        member: None,
        member_count: None,
        message_count: None,
        name: Some(name.to_owned()),
        newly_created: None,
        nsfw: Some(false),
        owner_id: None,
        parent_id: None,
        permission_overwrites: Some(Vec::new()),
        position: Some(position),
        rate_limit_per_user: Some(0),
        recipients: None,
        rtc_region: None,
        thread_metadata: None,
        topic: if voice { None } else { Some(String::new()) },
        total_message_sent: None,
        user_limit: voice.then_some(0),
        video_quality_mode: None,
    }
}

/// A guild member.
pub(crate) fn member(user: User, roles: Vec<Id<RoleMarker>>, joined_at: Timestamp) -> Member {
    Member {
        avatar: None,
        avatar_decoration_data: None,
        banner: None,
        communication_disabled_until: None,
        deaf: false,
        flags: MemberFlags::empty(),
        joined_at: Some(joined_at),
        mute: false,
        nick: None,
        pending: false,
        premium_since: None,
        roles,
        user,
    }
}

/// A member as an interaction carries it: with the permissions in the channel.
pub(crate) fn partial_member(member: &Member, permissions: Permissions) -> PartialMember {
    PartialMember {
        avatar: None,
        avatar_decoration_data: None,
        banner: None,
        communication_disabled_until: None,
        deaf: member.deaf,
        flags: member.flags,
        joined_at: member.joined_at,
        mute: member.mute,
        nick: member.nick.clone(),
        permissions: Some(permissions),
        premium_since: None,
        roles: member.roles.clone(),
        user: Some(member.user.clone()),
    }
}

/// What a message body (REST create/edit, interaction callback data) may set.
#[derive(Debug, Clone, Default)]
pub(crate) struct MessageContent {
    pub content: Option<String>,
    pub embeds: Option<Vec<Embed>>,
    pub components: Option<Vec<Component>>,
    pub flags: Option<MessageFlags>,
    pub tts: Option<bool>,
}

/// Where a new message comes from.
#[derive(Debug, Clone, Copy)]
pub(crate) struct MessageOrigin {
    pub id: Id<MessageMarker>,
    pub channel_id: Id<ChannelMarker>,
    pub kind: MessageType,
    /// Set for interaction responses and follow-ups (the application id).
    pub webhook_id: Option<Id<WebhookMarker>>,
}

/// A new message from `author`.
#[allow(deprecated)] // `interaction` is deprecated in favour of `interaction_metadata`.
pub(crate) fn message(origin: MessageOrigin, author: &User, content: MessageContent) -> Message {
    Message {
        activity: None,
        application: None,
        application_id: origin.webhook_id.map(Id::cast),
        attachments: Vec::new(),
        author: author.clone(),
        call: None,
        channel_id: origin.channel_id,
        components: content.components.unwrap_or_default(),
        content: content.content.unwrap_or_default(),
        edited_timestamp: None,
        embeds: content.embeds.unwrap_or_default(),
        flags: Some(content.flags.unwrap_or_else(MessageFlags::empty)),
        guild_id: None,
        id: origin.id,
        interaction: None,
        interaction_metadata: None,
        kind: origin.kind,
        member: None,
        mention_channels: Vec::new(),
        mention_everyone: false,
        mention_roles: Vec::new(),
        mentions: Vec::new(),
        message_snapshots: Vec::new(),
        pinned: false,
        poll: None,
        reactions: Vec::new(),
        reference: None,
        referenced_message: None,
        role_subscription_data: None,
        sticker_items: Vec::new(),
        timestamp: now_timestamp(),
        thread: None,
        tts: content.tts.unwrap_or(false),
        webhook_id: origin.webhook_id,
    }
}

/// Applies an edit to a message (only the fields the edit names change).
pub(crate) fn edit_message(message: &mut Message, edit: MessageContent) {
    if let Some(content) = edit.content {
        message.content = content;
    }
    if let Some(embeds) = edit.embeds {
        message.embeds = embeds;
    }
    if let Some(components) = edit.components {
        message.components = components;
    }
    if let Some(flags) = edit.flags {
        // Only SUPPRESS_EMBEDS can change on an edit; the rest (EPHEMERAL, LOADING) stays.
        let kept =
            message.flags.unwrap_or_else(MessageFlags::empty) - MessageFlags::SUPPRESS_EMBEDS;
        message.flags = Some(kept | (flags & MessageFlags::SUPPRESS_EMBEDS));
    }
    message.edited_timestamp = Some(now_timestamp());
}

/// Brings a payload serialized from twilight-model in line with Discord's documented objects,
/// everywhere inside it: twilight leaves out some fields Discord always sends and writes `null`
/// for some that Discord leaves out (docs/sim-discord.md, "Audit against Discord's
/// documentation"):
///
/// - a user (`username` and `discriminator`) always has `global_name` ("string, nullable",
///   not optional: twilight skips it when `None`), and no `avatar_decoration` (an old field the
///   User object no longer documents; `avatar_decoration_data` replaced it);
/// - a message (`author`, `timestamp`, `channel_id`) has no `call: null` (`call?` is optional,
///   not nullable).
pub(crate) fn documented(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Object(object) => {
            if object.contains_key("username") && object.contains_key("discriminator") {
                object
                    .entry("global_name")
                    .or_insert(serde_json::Value::Null);
                if object
                    .get("avatar_decoration")
                    .is_some_and(serde_json::Value::is_null)
                {
                    object.remove("avatar_decoration");
                }
            }
            let is_message = ["author", "timestamp", "channel_id"]
                .iter()
                .all(|key| object.contains_key(*key));
            if is_message && object.get("call").is_some_and(serde_json::Value::is_null) {
                object.remove("call");
            }
            for field in object.values_mut() {
                documented(field);
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(documented),
        _ => {}
    }
}

/// A guild as GUILD_CREATE carries it: the Guild object with its documented nullable fields
/// twilight-model leaves out or does not have (`safety_alerts_channel_id`, `incidents_data`),
/// and GUILD_CREATE's extra fields twilight skips when empty (`stage_instances`,
/// `guild_scheduled_events`) or does not have (`soundboard_sounds`).
pub(crate) fn guild_create_json(guild: &twilight_model::guild::Guild) -> serde_json::Value {
    let mut value = guild_json(guild);
    if let Some(object) = value.as_object_mut() {
        for extra in [
            "stage_instances",
            "guild_scheduled_events",
            "soundboard_sounds",
        ] {
            object.entry(extra).or_insert_with(|| serde_json::json!([]));
        }
    }
    value
}

/// A guild as `GET /guilds/{id}` answers it: the Guild object without GUILD_CREATE's extra
/// fields (which twilight-model's `Guild` always writes).
pub(crate) fn rest_guild_json(guild: &twilight_model::guild::Guild) -> serde_json::Value {
    let mut value = guild_json(guild);
    if let Some(object) = value.as_object_mut() {
        for extra in [
            "channels",
            "members",
            "presences",
            "threads",
            "voice_states",
            "large",
            "joined_at",
            "member_count",
            "unavailable",
            "stage_instances",
            "guild_scheduled_events",
        ] {
            object.remove(extra);
        }
        object
            .entry("stickers")
            .or_insert_with(|| serde_json::json!([]));
    }
    value
}

fn guild_json(guild: &twilight_model::guild::Guild) -> serde_json::Value {
    let mut value = serde_json::to_value(guild).unwrap_or(serde_json::Value::Null);
    if let Some(object) = value.as_object_mut() {
        object
            .entry("safety_alerts_channel_id")
            .or_insert(serde_json::Value::Null);
        object
            .entry("incidents_data")
            .or_insert(serde_json::Value::Null);
    }
    value
}
