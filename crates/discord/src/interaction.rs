//! Slash command invocations and button presses, and their answers, with the 3 s deadline
//! guarded: an invocation the core has not answered after `auto_defer` is deferred, and the
//! core's answer then becomes an edit of the original response. A button press is answered by
//! updating the message the button is on (or, for a refusal only its presser sees, a new
//! ephemeral message).

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use telemetry::DiscordRoute;
use tokio::sync::Mutex;
use tokio::task::AbortHandle;
use twilight_model::application::interaction::application_command::{
    CommandData, CommandDataOption, CommandOptionValue,
};
use twilight_model::application::interaction::{Interaction, InteractionData, InteractionType};
use twilight_model::channel::message::component::ComponentType;
use twilight_model::channel::message::{Component, Embed, MessageFlags};
use twilight_model::guild::Permissions;
use twilight_model::http::interaction::{
    InteractionResponse, InteractionResponseData, InteractionResponseType,
};
use twilight_model::id::Id;
use twilight_model::id::marker::{ApplicationMarker, GenericMarker};

use super::error::DiscordError;
use super::event::DiscordEvent;
use super::rest::Rest;
use super::{ChannelId, GuildId, InteractionId, MessageId, RoleId, UserId};

/// A slash command someone invoked.
#[derive(Debug)]
pub struct CommandInvocation {
    /// The interaction.
    pub id: InteractionId,
    /// The guild (none in DMs).
    pub guild: Option<GuildId>,
    /// The channel it was invoked in.
    pub channel: Option<ChannelId>,
    /// Who invoked it.
    pub user: UserId,
    /// The invoker's permissions in the channel (in guilds).
    pub member_permissions: Option<Permissions>,
    /// The invoker's roles (in guilds).
    pub member_roles: Vec<RoleId>,
    /// The bot's permissions in the channel, as Discord computed them.
    pub app_permissions: Option<Permissions>,
    /// The command name.
    pub name: String,
    /// The options, in the order given.
    pub options: Vec<CommandOption>,
    /// The invoker's locale.
    pub locale: Option<String>,
    /// The guild's preferred locale (community guilds set it; others default to `en-US`).
    pub guild_locale: Option<String>,
    /// The message whose button made this invocation (none for a slash command): answers
    /// update that message.
    pub pressed: Option<MessageId>,
    /// Answers this invocation (and defers it by itself if the core is slow).
    pub responder: Responder,
}

impl CommandInvocation {
    /// The value of a top-level option.
    pub fn option(&self, name: &str) -> Option<&OptionValue> {
        self.options
            .iter()
            .find(|option| option.name == name)
            .map(|option| &option.value)
    }

    /// A string option.
    pub fn string(&self, name: &str) -> Option<&str> {
        match self.option(name)? {
            OptionValue::String(value) => Some(value),
            _ => None,
        }
    }

    /// An integer option.
    pub fn integer(&self, name: &str) -> Option<i64> {
        match self.option(name)? {
            OptionValue::Integer(value) => Some(*value),
            _ => None,
        }
    }

    /// A boolean option.
    pub fn boolean(&self, name: &str) -> Option<bool> {
        match self.option(name)? {
            OptionValue::Boolean(value) => Some(*value),
            _ => None,
        }
    }
}

/// One option of an invocation.
#[derive(Debug, Clone, PartialEq)]
pub struct CommandOption {
    /// The option name.
    pub name: String,
    /// Its value.
    pub value: OptionValue,
}

/// A typed option value.
#[derive(Debug, Clone, PartialEq)]
pub enum OptionValue {
    /// A string.
    String(String),
    /// An integer.
    Integer(i64),
    /// A floating point number.
    Number(f64),
    /// A boolean.
    Boolean(bool),
    /// A user.
    User(UserId),
    /// A channel.
    Channel(ChannelId),
    /// A role.
    Role(RoleId),
    /// A user or a role.
    Mentionable(Id<GenericMarker>),
    /// A sub-command with its options.
    SubCommand(Vec<CommandOption>),
    /// A sub-command group with its sub-command.
    SubCommandGroup(Vec<CommandOption>),
    /// What the user is typing into the option being autocompleted (autocomplete only).
    Focused(String),
    /// Something else (attachments): the raw text of its kind.
    Other(String),
}

pub(crate) fn options(options: &[CommandDataOption]) -> Vec<CommandOption> {
    options
        .iter()
        .map(|option| CommandOption {
            name: option.name.clone(),
            value: match &option.value {
                CommandOptionValue::String(value) => OptionValue::String(value.clone()),
                CommandOptionValue::Integer(value) => OptionValue::Integer(*value),
                CommandOptionValue::Number(value) => OptionValue::Number(*value),
                CommandOptionValue::Boolean(value) => OptionValue::Boolean(*value),
                CommandOptionValue::User(id) => OptionValue::User(*id),
                CommandOptionValue::Channel(id) => OptionValue::Channel(*id),
                CommandOptionValue::Role(id) => OptionValue::Role(*id),
                CommandOptionValue::Mentionable(id) => OptionValue::Mentionable(*id),
                CommandOptionValue::SubCommand(inner) => {
                    OptionValue::SubCommand(self::options(inner))
                }
                CommandOptionValue::SubCommandGroup(inner) => {
                    OptionValue::SubCommandGroup(self::options(inner))
                }
                CommandOptionValue::Focused(text, _) => OptionValue::Focused(text.clone()),
                other @ CommandOptionValue::Attachment(_) => {
                    OptionValue::Other(format!("{:?}", other.kind()))
                }
            },
        })
        .collect()
}

/// What the bot says: text, embeds, buttons, and whether only the invoker sees it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Reply {
    /// The text.
    pub content: Option<String>,
    /// Embeds.
    pub embeds: Vec<Embed>,
    /// Action rows of buttons (none: a message without buttons; an update removes them).
    pub components: Vec<Component>,
    /// Only the invoker sees it (interactions only; ignored for channel messages).
    pub ephemeral: bool,
}

impl Reply {
    /// A text reply.
    pub fn text(content: impl Into<String>) -> Self {
        Self {
            content: Some(content.into()),
            ..Self::default()
        }
    }

    /// The same reply, visible only to the invoker.
    #[must_use]
    pub fn ephemeral(mut self) -> Self {
        self.ephemeral = true;
        self
    }

    /// The same reply with an embed added.
    #[must_use]
    pub fn embed(mut self, embed: Embed) -> Self {
        self.embeds.push(embed);
        self
    }

    /// The same reply with an action row of components added.
    #[must_use]
    pub fn row(mut self, row: Component) -> Self {
        self.components.push(row);
        self
    }

    /// The response's data: everything the reply has, the components always (an update with
    /// none removes the message's buttons).
    fn response_data(&self) -> InteractionResponseData {
        InteractionResponseData {
            content: self.content.clone(),
            embeds: Some(self.embeds.clone()),
            components: Some(self.components.clone()),
            flags: self.ephemeral.then_some(MessageFlags::EPHEMERAL),
            ..InteractionResponseData::default()
        }
    }

    fn flags(&self) -> MessageFlags {
        if self.ephemeral {
            MessageFlags::EPHEMERAL
        } else {
            MessageFlags::empty()
        }
    }
}

/// How far an interaction has been acknowledged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ack {
    /// Not yet: the first answer is a response.
    Pending,
    /// Deferred ("thinking...", or for a button press an acknowledgement that the message will
    /// be updated), by the core or by the guard: the answer is an edit.
    Deferred {
        /// Whether the deferred response is ephemeral.
        ephemeral: bool,
        /// Whether the guard deferred it (the core was slow).
        automatic: bool,
        /// Whether it was deferred as an update of the pressed button's message (type 6).
        update: bool,
    },
    /// Answered with a message.
    Responded,
}

struct State {
    rest: Rest,
    application: Id<ApplicationMarker>,
    id: InteractionId,
    token: String,
    ack: Mutex<Ack>,
    defer_ephemeral: AtomicBool,
    /// When the interaction arrived from the gateway.
    received: std::time::Instant,
    /// How long after `received` it was first acknowledged (response or defer).
    acked_after: std::sync::OnceLock<Duration>,
    /// A button press: answers update the pressed message.
    component: bool,
}

impl State {
    /// Whether this reply updates the pressed button's message (rather than being a new one).
    fn updates(&self, reply: &Reply) -> bool {
        self.component && !reply.ephemeral
    }

    async fn defer(&self, ephemeral: bool, automatic: bool) -> Result<bool, DiscordError> {
        let mut ack = self.ack.lock().await;
        if *ack != Ack::Pending {
            return Ok(false);
        }
        // A button press defers as "the message will be updated" unless its answer is to be a
        // new ephemeral message.
        let update = self.component && !ephemeral;
        let response = InteractionResponse {
            kind: if update {
                InteractionResponseType::DeferredUpdateMessage
            } else {
                InteractionResponseType::DeferredChannelMessageWithSource
            },
            data: ephemeral.then(|| InteractionResponseData {
                flags: Some(MessageFlags::EPHEMERAL),
                ..InteractionResponseData::default()
            }),
        };
        let interaction = self.rest.client().interaction(self.application);
        self.rest
            .send(
                DiscordRoute::InteractionCallback,
                interaction.create_response(self.id, &self.token, &response),
            )
            .await?;
        *ack = Ack::Deferred {
            ephemeral,
            automatic,
            update,
        };
        let _ = self.acked_after.set(self.received.elapsed());
        Ok(true)
    }
}

/// Answers one interaction. Created with a guard that defers the interaction if nothing was
/// answered within the auto-defer delay (2 s by default), so slow work never loses it: after
/// that, [`Responder::respond`] edits the deferred response instead. Dropping it unanswered
/// leaves the guard armed: the user sees "thinking..." rather than a failed interaction.
pub struct Responder {
    state: Arc<State>,
    guard: AbortHandle,
}

impl fmt::Debug for Responder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The interaction token is a credential for 15 minutes: never printed.
        f.debug_struct("Responder")
            .field("interaction", &self.state.id)
            .finish_non_exhaustive()
    }
}

impl Responder {
    pub(crate) fn new(
        rest: Rest,
        application: Id<ApplicationMarker>,
        id: InteractionId,
        token: String,
        auto_defer: Duration,
        component: bool,
    ) -> Self {
        let state = Arc::new(State {
            rest,
            application,
            id,
            token,
            ack: Mutex::new(Ack::Pending),
            defer_ephemeral: AtomicBool::new(false),
            received: std::time::Instant::now(),
            acked_after: std::sync::OnceLock::new(),
            component,
        });
        let guarded = Arc::clone(&state);
        let guard = tokio::spawn(async move {
            tokio::time::sleep(auto_defer).await;
            let ephemeral = guarded.defer_ephemeral.load(Ordering::Relaxed);
            match guarded.defer(ephemeral, true).await {
                Ok(true) => {
                    tracing::debug!(interaction = %guarded.id, "interaction deferred by the guard");
                }
                Ok(false) => {}
                Err(error) => {
                    tracing::warn!(interaction = %guarded.id, %error, "automatic defer failed");
                }
            }
        })
        .abort_handle();
        Self { state, guard }
    }

    /// The interaction this answers.
    pub fn id(&self) -> InteractionId {
        self.state.id
    }

    /// Whether an automatic defer (if it comes) is ephemeral; default not.
    pub fn set_auto_defer_ephemeral(&self, ephemeral: bool) {
        self.state
            .defer_ephemeral
            .store(ephemeral, Ordering::Relaxed);
    }

    /// When the interaction arrived from the gateway.
    pub fn received(&self) -> std::time::Instant {
        self.state.received
    }

    /// How long after its arrival the interaction was first acknowledged (answered or
    /// deferred); `None` while it is not.
    pub fn acked_after(&self) -> Option<Duration> {
        self.state.acked_after.get().copied()
    }

    /// How far the interaction is acknowledged.
    pub async fn ack(&self) -> Ack {
        *self.state.ack.lock().await
    }

    /// Defers now ("thinking..."); `Ok(false)` if it was already acknowledged.
    pub async fn defer(&self, ephemeral: bool) -> Result<bool, DiscordError> {
        let deferred = self.state.defer(ephemeral, false).await?;
        self.guard.abort();
        Ok(deferred)
    }

    /// Answers: the response if nothing was sent yet, else an edit of the deferred response
    /// (whose ephemeral flag was fixed by the defer). For a button press, a reply that is not
    /// ephemeral updates the pressed message (type 7, or an edit after a type 6 defer) and an
    /// ephemeral one is a new message only the presser sees. Answering twice is
    /// [`DiscordError::AlreadyAnswered`]: use [`Responder::edit_original`] or
    /// [`Responder::followup`].
    pub async fn respond(&self, reply: &Reply) -> Result<(), DiscordError> {
        let mut ack = self.state.ack.lock().await;
        match *ack {
            Ack::Pending => {
                let response = InteractionResponse {
                    kind: if self.state.updates(reply) {
                        InteractionResponseType::UpdateMessage
                    } else {
                        InteractionResponseType::ChannelMessageWithSource
                    },
                    data: Some(reply.response_data()),
                };
                let interaction = self.state.rest.client().interaction(self.state.application);
                self.state
                    .rest
                    .send(
                        DiscordRoute::InteractionCallback,
                        interaction.create_response(self.state.id, &self.state.token, &response),
                    )
                    .await?;
                *ack = Ack::Responded;
                let _ = self.state.acked_after.set(self.state.received.elapsed());
            }
            // Deferred as an update of the pressed message, answered with a refusal only the
            // presser sees: the message stays, the refusal is a follow-up.
            Ack::Deferred { update: true, .. } if reply.ephemeral => {
                self.send_followup(reply).await?;
                *ack = Ack::Responded;
            }
            Ack::Deferred { .. } => {
                self.edit(reply).await?;
                *ack = Ack::Responded;
            }
            Ack::Responded => return Err(DiscordError::AlreadyAnswered),
        }
        drop(ack);
        self.guard.abort();
        Ok(())
    }

    /// Edits the original response (after a response or a defer).
    pub async fn edit_original(&self, reply: &Reply) -> Result<(), DiscordError> {
        let ack = self.state.ack.lock().await;
        if *ack == Ack::Pending {
            drop(ack);
            return self.respond(reply).await;
        }
        self.edit(reply).await
    }

    /// Sends a follow-up message (the interaction is answered first if it was not).
    pub async fn followup(&self, reply: &Reply) -> Result<MessageId, DiscordError> {
        if self.ack().await == Ack::Pending {
            self.defer(reply.ephemeral).await?;
        }
        self.send_followup(reply).await
    }

    async fn send_followup(&self, reply: &Reply) -> Result<MessageId, DiscordError> {
        let interaction = self.state.rest.client().interaction(self.state.application);
        let mut request = interaction
            .create_followup(&self.state.token)
            .flags(reply.flags());
        if let Some(content) = &reply.content {
            request = request.content(content);
        }
        if !reply.embeds.is_empty() {
            request = request.embeds(&reply.embeds);
        }
        if !reply.components.is_empty() {
            request = request.components(&reply.components);
        }
        let message = self
            .state
            .rest
            .send(DiscordRoute::InteractionWebhook, request)
            .await?
            .model()
            .await?;
        Ok(message.id)
    }

    async fn edit(&self, reply: &Reply) -> Result<(), DiscordError> {
        let interaction = self.state.rest.client().interaction(self.state.application);
        let request = interaction
            .update_response(&self.state.token)
            .content(reply.content.as_deref())
            .embeds(Some(&reply.embeds))
            .components(Some(&reply.components));
        self.state
            .rest
            .send(DiscordRoute::InteractionWebhook, request)
            .await?;
        Ok(())
    }
}

/// A button someone pressed on one of the bot's messages: what the bot put in its `custom_id`,
/// and the interaction, ready to become a [`CommandInvocation`] once the bot knows which command
/// the button stands for.
#[derive(Debug)]
pub struct ComponentPress {
    /// The button's `custom_id`, as the bot set it.
    pub custom_id: String,
    invocation: CommandInvocation,
}

impl ComponentPress {
    /// Who pressed, where, on which message (its name and options are empty).
    pub fn invocation(&self) -> &CommandInvocation {
        &self.invocation
    }

    /// The press as the command it stands for; answers update the pressed message.
    pub fn into_invocation(
        self,
        name: impl Into<String>,
        options: Vec<CommandOption>,
    ) -> CommandInvocation {
        CommandInvocation {
            name: name.into(),
            options,
            ..self.invocation
        }
    }
}

/// What an INTERACTION_CREATE is for the bot: a slash command, a button press, or typing into
/// an option with suggestions; `None` for anything else (and for payloads without a user).
pub(crate) fn event(
    interaction: Interaction,
    rest: &Rest,
    auto_defer: Duration,
) -> Option<DiscordEvent> {
    match interaction.kind {
        InteractionType::ApplicationCommand => {
            invocation(interaction, rest, auto_defer).map(|i| DiscordEvent::Command(Box::new(i)))
        }
        InteractionType::MessageComponent => {
            press(interaction, rest, auto_defer).map(|p| DiscordEvent::Component(Box::new(p)))
        }
        InteractionType::ApplicationCommandAutocomplete => {
            super::autocomplete::request(interaction, rest)
                .map(|r| DiscordEvent::Autocomplete(Box::new(r)))
        }
        _ => None,
    }
}

/// The invocation in an INTERACTION_CREATE of a slash command.
fn invocation(
    interaction: Interaction,
    rest: &Rest,
    auto_defer: Duration,
) -> Option<CommandInvocation> {
    let Some(InteractionData::ApplicationCommand(data)) = &interaction.data else {
        return None;
    };
    let data: &CommandData = data;
    let (name, options) = (data.name.clone(), options(&data.options));
    let mut invocation = base(interaction, rest, auto_defer, false)?;
    invocation.name = name;
    invocation.options = options;
    Some(invocation)
}

/// The press in an INTERACTION_CREATE of a button (other components are not the bot's).
fn press(interaction: Interaction, rest: &Rest, auto_defer: Duration) -> Option<ComponentPress> {
    let Some(InteractionData::MessageComponent(data)) = &interaction.data else {
        return None;
    };
    if data.component_type != ComponentType::Button {
        return None;
    }
    let custom_id = data.custom_id.clone();
    let message = interaction.message.as_ref().map(|message| message.id)?;
    let mut invocation = base(interaction, rest, auto_defer, true)?;
    invocation.pressed = Some(message);
    Some(ComponentPress {
        custom_id,
        invocation,
    })
}

/// Who, where, with which permissions and locales, and the responder; no name or options.
fn base(
    interaction: Interaction,
    rest: &Rest,
    auto_defer: Duration,
    component: bool,
) -> Option<CommandInvocation> {
    let user = interaction.author_id()?;
    let channel = interaction.channel.as_ref().map(|channel| channel.id);
    let (member_permissions, member_roles) = interaction
        .member
        .map(|member| (member.permissions, member.roles))
        .unwrap_or_default();
    Some(CommandInvocation {
        id: interaction.id,
        guild: interaction.guild_id,
        channel,
        user,
        member_permissions,
        member_roles,
        app_permissions: interaction.app_permissions,
        name: String::new(),
        options: Vec::new(),
        locale: interaction.locale,
        guild_locale: interaction.guild_locale,
        pressed: None,
        responder: Responder::new(
            rest.clone(),
            interaction.application_id,
            interaction.id,
            interaction.token,
            auto_defer,
            component,
        ),
    })
}
