//! Slash command invocations and their answers, with the 3 s deadline guarded: an invocation
//! the core has not answered after `auto_defer` is deferred, and the core's answer then becomes
//! an edit of the original response.

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
use twilight_model::channel::message::{Embed, MessageFlags};
use twilight_model::guild::Permissions;
use twilight_model::http::interaction::{
    InteractionResponse, InteractionResponseData, InteractionResponseType,
};
use twilight_model::id::Id;
use twilight_model::id::marker::{ApplicationMarker, GenericMarker};

use super::error::DiscordError;
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
    /// Something else (attachments, autocomplete input): the raw text of its kind.
    Other(String),
}

fn options(options: &[CommandDataOption]) -> Vec<CommandOption> {
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
                other => OptionValue::Other(format!("{:?}", other.kind())),
            },
        })
        .collect()
}

/// What the bot says: text, embeds, and whether only the invoker sees it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Reply {
    /// The text.
    pub content: Option<String>,
    /// Embeds.
    pub embeds: Vec<Embed>,
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
    /// Deferred ("thinking..."), by the core or by the guard: the answer is an edit.
    Deferred {
        /// Whether the deferred response is ephemeral.
        ephemeral: bool,
        /// Whether the guard deferred it (the core was slow).
        automatic: bool,
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
}

impl State {
    async fn defer(&self, ephemeral: bool, automatic: bool) -> Result<bool, DiscordError> {
        let mut ack = self.ack.lock().await;
        if *ack != Ack::Pending {
            return Ok(false);
        }
        let response = InteractionResponse {
            kind: InteractionResponseType::DeferredChannelMessageWithSource,
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
    /// (whose ephemeral flag was fixed by the defer). Answering twice is
    /// [`DiscordError::AlreadyAnswered`]: use [`Responder::edit_original`] or
    /// [`Responder::followup`].
    pub async fn respond(&self, reply: &Reply) -> Result<(), DiscordError> {
        let mut ack = self.state.ack.lock().await;
        match *ack {
            Ack::Pending => {
                let response = InteractionResponse {
                    kind: InteractionResponseType::ChannelMessageWithSource,
                    data: Some(InteractionResponseData {
                        content: reply.content.clone(),
                        embeds: (!reply.embeds.is_empty()).then(|| reply.embeds.clone()),
                        flags: reply.ephemeral.then_some(MessageFlags::EPHEMERAL),
                        ..InteractionResponseData::default()
                    }),
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
        let mut request = interaction
            .update_response(&self.state.token)
            .content(reply.content.as_deref());
        if !reply.embeds.is_empty() {
            request = request.embeds(Some(&reply.embeds));
        }
        self.state
            .rest
            .send(DiscordRoute::InteractionWebhook, request)
            .await?;
        Ok(())
    }
}

/// The invocation in an INTERACTION_CREATE, if it is a slash command.
pub(crate) fn invocation(
    interaction: Interaction,
    rest: &Rest,
    auto_defer: Duration,
) -> Option<CommandInvocation> {
    if interaction.kind != InteractionType::ApplicationCommand {
        return None;
    }
    let user = interaction.author_id()?;
    let Some(InteractionData::ApplicationCommand(data)) = interaction.data else {
        return None;
    };
    let data: Box<CommandData> = data;
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
        name: data.name.clone(),
        options: options(&data.options),
        locale: interaction.locale,
        responder: Responder::new(
            rest.clone(),
            interaction.application_id,
            interaction.id,
            interaction.token,
            auto_defer,
        ),
    })
}
