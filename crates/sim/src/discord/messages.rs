//! Channel messages beyond creating them: `GET`, `PATCH` and `DELETE
//! /channels/{channel}/messages/{message}` with MESSAGE_UPDATE and MESSAGE_DELETE, messages of
//! scripted users, the log of edits and deletions tests read, and edits or deletions of a
//! message wherever the stand-in keeps it (a channel, or an interaction's ephemeral response).

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde_json::json;
use twilight_model::channel::Message;
use twilight_model::channel::message::MessageType;
use twilight_model::gateway::Intents;
use twilight_model::guild::Permissions;
use twilight_model::id::Id;
use twilight_model::id::marker::{ChannelMarker, MessageMarker, UserMarker};

use super::DiscordSim;
use super::config::{SimError, WaitError};
use super::model::{self, MessageContent, MessageOrigin};
use super::rest::{self, ApiError, ApiResult, MessageBody, message_dispatch, no_content, ok};
use super::state::{Core, DEFAULT_WAIT, Dispatch, Shared};

/// An edit or a deletion of a channel message (not an ephemeral one), in the order the bot's
/// sessions were told of them (MESSAGE_UPDATE, MESSAGE_DELETE).
#[derive(Debug, Clone, PartialEq)]
pub enum MessageChange {
    /// The message as the edit left it.
    Edited(Box<Message>),
    /// The message was deleted.
    Deleted {
        /// Its channel.
        channel_id: Id<ChannelMarker>,
        /// Its id.
        id: Id<MessageMarker>,
    },
}

impl MessageChange {
    /// The id of the message changed.
    pub fn message_id(&self) -> Id<MessageMarker> {
        match self {
            Self::Edited(message) => message.id,
            Self::Deleted { id, .. } => *id,
        }
    }
}

impl DiscordSim {
    /// A message as it stands now: a channel message, or an ephemeral interaction response or
    /// follow-up the stand-in keeps for the user who saw it. `None` once deleted.
    pub fn message(&self, channel: Id<ChannelMarker>, id: Id<MessageMarker>) -> Option<Message> {
        self.shared.read(|core| kept_message(core, channel, id))
    }

    /// The edits and deletions of channel messages in `channel`, oldest first.
    pub fn message_changes(&self, channel: Id<ChannelMarker>) -> Vec<MessageChange> {
        self.shared.read(|core| {
            core.message_changes
                .get(&channel)
                .cloned()
                .unwrap_or_default()
        })
    }

    /// How many times channel messages in `channel` were edited (each one a MESSAGE_UPDATE).
    pub fn message_edits(&self, channel: Id<ChannelMarker>) -> usize {
        self.message_changes(channel)
            .iter()
            .filter(|change| matches!(change, MessageChange::Edited(_)))
            .count()
    }

    /// Waits (10 s guard) for an edit or deletion in `channel` that satisfies `check`.
    pub async fn wait_for_message_change(
        &self,
        channel: Id<ChannelMarker>,
        check: impl FnMut(&MessageChange) -> bool,
    ) -> Result<MessageChange, WaitError> {
        self.wait_for_message_change_within(channel, DEFAULT_WAIT, check)
            .await
    }

    /// As [`wait_for_message_change`](Self::wait_for_message_change) with `timeout` as the guard.
    pub async fn wait_for_message_change_within(
        &self,
        channel: Id<ChannelMarker>,
        timeout: Duration,
        mut check: impl FnMut(&MessageChange) -> bool,
    ) -> Result<MessageChange, WaitError> {
        self.shared
            .wait_until("a message edit or deletion", timeout, |core| {
                core.message_changes
                    .get(&channel)
                    .and_then(|changes| changes.iter().find(|c| check(c)).cloned())
            })
            .await
    }

    /// A member writes a plain message in a channel (MESSAGE_CREATE to the bot; its content
    /// reaches only sessions with the MESSAGE_CONTENT intent). No permission check: a scripted
    /// user types wherever the test says.
    pub fn send_user_message(
        &self,
        channel: Id<ChannelMarker>,
        user: Id<UserMarker>,
        content: &str,
    ) -> Result<Message, SimError> {
        let buffer = self.shared.config.replay_buffer;
        self.shared.with(|core| {
            let guild = core
                .guild_of_channel(channel)
                .ok_or(SimError::UnknownChannel(channel))?;
            let author = guild
                .members
                .get(&user)
                .map(|member| member.user.clone())
                .ok_or(SimError::UnknownUser(user))?;
            let origin = MessageOrigin {
                id: core.ids.next(),
                channel_id: channel,
                kind: MessageType::Regular,
                webhook_id: None,
            };
            let content = MessageContent {
                content: Some(content.to_owned()),
                ..MessageContent::default()
            };
            let message = model::message(origin, &author, content);
            core.messages
                .entry(channel)
                .or_default()
                .push(message.clone());
            if let Some(dispatch) = message_dispatch(core, "MESSAGE_CREATE", &message) {
                core.dispatch(&dispatch, buffer);
            }
            Ok(message)
        })
    }
}

/// A channel message.
pub(crate) fn channel_message(
    core: &Core,
    channel: Id<ChannelMarker>,
    id: Id<MessageMarker>,
) -> Option<&Message> {
    core.messages.get(&channel)?.iter().find(|m| m.id == id)
}

/// A channel message, or else a copy an interaction record keeps (ephemeral messages).
pub(crate) fn kept_message(
    core: &Core,
    channel: Id<ChannelMarker>,
    id: Id<MessageMarker>,
) -> Option<Message> {
    channel_message(core, channel, id)
        .cloned()
        .or_else(|| core.interactions.kept_copy(channel, id, None))
}

/// Replaces the channel's copy of `message` (when it is a channel message), records the edit
/// and sends MESSAGE_UPDATE. Returns whether it was a channel message.
fn store_edit(core: &mut Core, message: &Message, buffer: usize) -> bool {
    let Some(stored) = core
        .messages
        .get_mut(&message.channel_id)
        .and_then(|messages| messages.iter_mut().find(|m| m.id == message.id))
    else {
        return false;
    };
    *stored = message.clone();
    core.message_changes
        .entry(message.channel_id)
        .or_default()
        .push(MessageChange::Edited(Box::new(message.clone())));
    if let Some(dispatch) = message_dispatch(core, "MESSAGE_UPDATE", message) {
        core.dispatch(&dispatch, buffer);
    }
    true
}

/// Removes a channel message, records it and sends MESSAGE_DELETE (`id`, `channel_id`,
/// `guild_id`). Returns whether it was a channel message.
fn store_delete(
    core: &mut Core,
    channel: Id<ChannelMarker>,
    id: Id<MessageMarker>,
    buffer: usize,
) -> bool {
    let Some(messages) = core.messages.get_mut(&channel) else {
        return false;
    };
    let before = messages.len();
    messages.retain(|m| m.id != id);
    if messages.len() == before {
        return false;
    }
    core.message_changes
        .entry(channel)
        .or_default()
        .push(MessageChange::Deleted {
            channel_id: channel,
            id,
        });
    if let Some(guild) = core.guild_of_channel(channel).map(|guild| guild.id) {
        let dispatch = Dispatch {
            name: "MESSAGE_DELETE",
            data: json!({
                "id": id.to_string(),
                "channel_id": channel.to_string(),
                "guild_id": guild.to_string(),
            }),
            guild: Some(guild),
            intent: Some(Intents::GUILD_MESSAGES),
            without_content: None,
        };
        core.dispatch(&dispatch, buffer);
    }
    true
}

/// Edits message `id` of `channel` wherever the stand-in keeps it: the channel (then
/// MESSAGE_UPDATE) and every interaction record holding a copy (an original response, a
/// follow-up, the message a component was on). Returns the edited message, `None` when no
/// copy exists.
pub(crate) fn edit_everywhere(
    core: &mut Core,
    channel: Id<ChannelMarker>,
    id: Id<MessageMarker>,
    edit: impl FnOnce(&mut Message),
    buffer: usize,
) -> Option<Message> {
    let mut message = kept_message(core, channel, id)?;
    edit(&mut message);
    core.interactions.replace_copies(&message);
    store_edit(core, &message, buffer);
    Some(message)
}

/// Deletes message `id` of `channel` wherever the stand-in keeps it (MESSAGE_DELETE for a
/// channel message). Returns whether there was one.
pub(crate) fn delete_everywhere(
    core: &mut Core,
    channel: Id<ChannelMarker>,
    id: Id<MessageMarker>,
    buffer: usize,
) -> bool {
    let in_channel = store_delete(core, channel, id, buffer);
    let kept = core.interactions.delete_copies(id);
    in_channel || kept
}

/// The channel of a message route, checked the way Discord does for the bot: 10003 unknown,
/// 50001 without View Channel.
fn visible_channel(core: &Core, raw: &str) -> Result<Id<ChannelMarker>, ApiError> {
    let channel = rest::snowflake::<ChannelMarker>(raw)?;
    if core.guild_of_channel(channel).is_none() {
        return Err(ApiError::unknown(10003, "Channel"));
    }
    if !core
        .bot_permissions(channel)
        .contains(Permissions::VIEW_CHANNEL)
    {
        return Err(ApiError::missing_access());
    }
    Ok(channel)
}

fn message_id(raw: &str) -> Result<Id<MessageMarker>, ApiError> {
    rest::snowflake::<MessageMarker>(raw).map_err(|_| ApiError::unknown(10008, "Message"))
}

/// `GET /channels/{channel}/messages/{message}` (Get Channel Message): View Channel and Read
/// Message History, and Connect in a voice channel.
pub(crate) async fn get_message(
    State(shared): State<Arc<Shared>>,
    Path((channel, message)): Path<(String, String)>,
) -> ApiResult {
    shared.read(|core| {
        let channel = visible_channel(core, &channel)?;
        let id = message_id(&message)?;
        let permissions = core.bot_permissions(channel);
        let voice = core
            .guild_of_channel(channel)
            .and_then(|guild| guild.channel(channel))
            .is_some_and(Core::is_voice);
        if !permissions.contains(Permissions::READ_MESSAGE_HISTORY)
            || (voice && !permissions.contains(Permissions::CONNECT))
        {
            return Err(ApiError::missing_access());
        }
        channel_message(core, channel, id)
            .map_or_else(|| Err(ApiError::unknown(10008, "Message")), ok)
    })
}

/// `PATCH /channels/{channel}/messages/{message}` (Edit Message): the author may edit
/// `content`, `embeds`, `components` and `flags`; anyone else only `flags`, with Manage
/// Messages (otherwise 50005 "Cannot edit a message authored by another user", or 50013).
pub(crate) async fn edit_message(
    State(shared): State<Arc<Shared>>,
    Path((channel, message)): Path<(String, String)>,
    body: Bytes,
) -> ApiResult {
    let buffer = shared.config.replay_buffer;
    shared.with(|core| {
        let channel = visible_channel(core, &channel)?;
        let id = message_id(&message)?;
        let edit = rest::parse_body::<MessageBody>(&body)?.into_content()?;
        let current = channel_message(core, channel, id)
            .cloned()
            .ok_or_else(|| ApiError::unknown(10008, "Message"))?;
        if current.author.id != core.bot.id {
            let flags_only =
                edit.content.is_none() && edit.embeds.is_none() && edit.components.is_none();
            if !flags_only {
                return Err(ApiError::new(
                    StatusCode::FORBIDDEN,
                    50005,
                    "Cannot edit a message authored by another user",
                ));
            }
            if !core
                .bot_permissions(channel)
                .contains(Permissions::MANAGE_MESSAGES)
            {
                return Err(ApiError::missing_permissions());
            }
        }
        let mut edited = current;
        model::edit_message(&mut edited, edit);
        let empty = edited.content.is_empty()
            && edited.embeds.is_empty()
            && edited.components.is_empty()
            && edited.attachments.is_empty();
        if empty {
            return Err(ApiError::empty_message());
        }
        let message = edit_everywhere(core, channel, id, |m| *m = edited, buffer)
            .ok_or_else(|| ApiError::unknown(10008, "Message"))?;
        ok(&message)
    })
}

/// `DELETE /channels/{channel}/messages/{message}` (Delete Message): the bot's own messages
/// always, others' with Manage Messages (else 50013). 204, then MESSAGE_DELETE.
pub(crate) async fn delete_message(
    State(shared): State<Arc<Shared>>,
    Path((channel, message)): Path<(String, String)>,
) -> ApiResult {
    let buffer = shared.config.replay_buffer;
    shared.with(|core| {
        let channel = visible_channel(core, &channel)?;
        let id = message_id(&message)?;
        let author = channel_message(core, channel, id)
            .map(|m| m.author.id)
            .ok_or_else(|| ApiError::unknown(10008, "Message"))?;
        if author != core.bot.id
            && !core
                .bot_permissions(channel)
                .contains(Permissions::MANAGE_MESSAGES)
        {
            return Err(ApiError::missing_permissions());
        }
        delete_everywhere(core, channel, id, buffer);
        no_content()
    })
}
