//! Message components: a scripted user presses a button on a message (a channel message, or an
//! ephemeral interaction response only that user sees), and the bot gets a MESSAGE_COMPONENT
//! interaction carrying the message.

use serde_json::json;
use twilight_model::application::interaction::message_component::MessageComponentInteractionData;
use twilight_model::application::interaction::{Interaction, InteractionData, InteractionType};
use twilight_model::channel::Message;
use twilight_model::channel::message::component::{Button, ButtonStyle, Component, ComponentType};
use twilight_model::id::Id;
use twilight_model::id::marker::{ChannelMarker, MessageMarker, UserMarker};

use super::config::SimError;
use super::interactions::{self, Invocation};
use super::messages;
use super::state::{Core, Dispatch, Shared};

/// A scripted user presses a button (`custom_id`) on a message.
#[derive(Debug, Clone)]
pub struct ButtonPress {
    /// The channel of the message.
    pub channel_id: Id<ChannelMarker>,
    /// The message the button is on.
    pub message_id: Id<MessageMarker>,
    /// The user pressing it (a member of the channel's guild).
    pub user_id: Id<UserMarker>,
    /// The button's `custom_id`.
    pub custom_id: String,
    /// The user's locale (`en-US` unless set).
    pub locale: String,
}

impl ButtonPress {
    /// `user` presses the button `custom_id` on `message` in `channel`.
    pub fn new(
        channel_id: Id<ChannelMarker>,
        message_id: Id<MessageMarker>,
        user_id: Id<UserMarker>,
        custom_id: impl Into<String>,
    ) -> Self {
        Self {
            channel_id,
            message_id,
            user_id,
            custom_id: custom_id.into(),
            locale: "en-US".into(),
        }
    }

    /// Sets the user's locale.
    #[must_use]
    pub fn locale(mut self, locale: impl Into<String>) -> Self {
        self.locale = locale.into();
        self
    }
}

/// Every button of a message: in action rows, as section accessories, inside containers.
fn buttons(components: &[Component]) -> Vec<&Button> {
    let mut found = Vec::new();
    for component in components {
        match component {
            Component::Button(button) => found.push(button),
            Component::ActionRow(row) => found.extend(buttons(&row.components)),
            Component::Container(container) => found.extend(buttons(&container.components)),
            Component::Section(section) => {
                found.extend(buttons(std::slice::from_ref(&*section.accessory)));
            }
            _ => {}
        }
    }
    found
}

/// The message as `user` sees it: a channel message, or an ephemeral one they were shown.
fn visible_message(core: &Core, press: &ButtonPress) -> Option<Message> {
    messages::channel_message(core, press.channel_id, press.message_id)
        .cloned()
        .or_else(|| {
            core.interactions
                .kept_copy(press.channel_id, press.message_id, Some(press.user_id))
        })
}

/// The interactive button `custom_id` of `message` (not disabled, not a link or premium
/// button), or why the press cannot happen.
fn pressable<'a>(message: &'a Message, custom_id: &str) -> Result<&'a Button, SimError> {
    let all = buttons(&message.components);
    let Some(button) = all
        .iter()
        .find(|button| button.custom_id.as_deref() == Some(custom_id))
    else {
        let ids: Vec<_> = all.iter().filter_map(|b| b.custom_id.as_deref()).collect();
        return Err(SimError::Refused(format!(
            "message {} has no button with custom_id {custom_id:?} (its buttons: {ids:?})",
            message.id
        )));
    };
    if matches!(button.style, ButtonStyle::Link | ButtonStyle::Premium) {
        return Err(SimError::Refused(format!(
            "button {custom_id:?} of message {} is a {:?} button: it sends no interaction",
            message.id, button.style
        )));
    }
    if button.disabled {
        return Err(SimError::Refused(format!(
            "button {custom_id:?} of message {} is disabled",
            message.id
        )));
    }
    Ok(button)
}

/// Builds the MESSAGE_COMPONENT interaction of a button press and registers it.
pub(crate) fn create_component(
    core: &mut Core,
    shared: &Shared,
    press: &ButtonPress,
) -> Result<(Interaction, Dispatch), SimError> {
    let guild_id = core
        .guild_of_channel(press.channel_id)
        .map(|guild| guild.id)
        .ok_or(SimError::UnknownChannel(press.channel_id))?;
    let message = visible_message(core, press)
        .ok_or(SimError::UnknownMessage(press.channel_id, press.message_id))?;
    let button = pressable(&message, &press.custom_id)?;
    // Message Component Data Structure: custom_id and component_type (values only for select
    // menus), and the component's numeric `id` when it has one.
    let mut raw = json!({"custom_id": press.custom_id, "component_type": 2});
    if let Some(id) = button.id {
        raw["id"] = json!(id);
    }
    let data = InteractionData::MessageComponent(Box::new(MessageComponentInteractionData {
        component_type: ComponentType::Button,
        custom_id: press.custom_id.clone(),
        resolved: None,
        values: Vec::new(),
    }));
    let invocation = Invocation {
        guild_id,
        channel_id: press.channel_id,
        user_id: press.user_id,
        locale: press.locale.clone(),
        kind: InteractionType::MessageComponent,
        data,
        raw_data: Some(raw),
        message: Some(message),
        focused_kind: None,
    };
    interactions::create(core, shared, invocation)
}
