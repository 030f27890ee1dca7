//! Interactions: INTERACTION_CREATE for scripted slash commands, the callback endpoint with its
//! 3 s deadline and single acknowledgement, the original response and follow-ups through the
//! webhook endpoints during the token's 15 min life, and what tests await of it all.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};
use twilight_model::application::command::{Command, CommandType};
use twilight_model::application::interaction::application_command::{
    CommandData, CommandDataOption,
};
use twilight_model::application::interaction::{
    Interaction, InteractionContextType, InteractionData, InteractionPartialGuild, InteractionType,
};
use twilight_model::channel::Message;
use twilight_model::channel::message::{MessageFlags, MessageType};
use twilight_model::http::interaction::{InteractionResponse, InteractionResponseType};
use twilight_model::id::marker::{
    ChannelMarker, GuildMarker, InteractionMarker, MessageMarker, UserMarker,
};
use twilight_model::id::{AnonymizableId, Id};
use twilight_model::oauth::ApplicationIntegrationMap;

use super::config::{SimError, WaitError};
use super::model::{self, MessageContent, MessageOrigin};
use super::rest::{self, ApiError, ApiResult, MessageBody, message_dispatch, no_content, ok};
use super::state::{Core, DEFAULT_WAIT, Dispatch, Shared};

/// What the bot did with one interaction, as tests read it back.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct InteractionRecord {
    /// The first (and only accepted) callback.
    pub callback: Option<InteractionResponse>,
    /// The original response message as it stands now (after edits); for a deferred response
    /// it carries the LOADING flag until edited.
    pub original: Option<Message>,
    /// How many times the original response was edited.
    pub original_edits: usize,
    /// Whether the original response was deleted.
    pub original_deleted: bool,
    /// Follow-up messages, in order.
    pub followups: Vec<Message>,
    /// Discord error codes the stand-in answered for this interaction (10062, 40060, ...).
    pub rejections: Vec<u64>,
    /// When INTERACTION_CREATE was first written to a bot's gateway connection (a live send, not
    /// a replay on resume): the instant its frame began to be written, after compression, so no
    /// reaction of the bot can come before it. Real time (`Instant::now()`, whatever clock the
    /// stand-in runs on), for latency measurements; a recording only.
    pub dispatched_at: Option<Instant>,
    /// When the first accepted callback arrived (real time, as `dispatched_at`).
    pub callback_at: Option<Instant>,
    /// When the original response first became a real message: a type 4 callback, or the edit
    /// (or first follow-up) that completed a deferred one (real time, as `dispatched_at`).
    pub answered_at: Option<Instant>,
}

/// Whether a message is a deferred response's loading state.
fn is_loading(message: &Message) -> bool {
    message
        .flags
        .is_some_and(|flags| flags.contains(MessageFlags::LOADING))
}

impl InteractionRecord {
    /// Whether the interaction has been acknowledged.
    pub fn acknowledged(&self) -> bool {
        self.callback.is_some()
    }

    /// The original response once it is a real message (not a loading state).
    pub fn original_content(&self) -> Option<&Message> {
        self.original.as_ref().filter(|message| {
            !message
                .flags
                .is_some_and(|flags| flags.contains(MessageFlags::LOADING))
        })
    }
}

/// One interaction in the registry.
#[derive(Debug, Clone)]
pub(crate) struct InteractionState {
    pub token: String,
    pub kind: InteractionType,
    pub channel_id: Id<ChannelMarker>,
    /// When it was dispatched (on the configured clock).
    pub created: Instant,
    /// The message a component interaction belongs to.
    pub component_message: Option<Id<MessageMarker>>,
    pub record: InteractionRecord,
}

/// Every interaction made, by id, with a token index.
#[derive(Debug, Default)]
pub(crate) struct Registry {
    by_id: HashMap<Id<InteractionMarker>, InteractionState>,
    by_token: HashMap<String, Id<InteractionMarker>>,
}

impl Registry {
    pub(crate) fn record(&self, id: Id<InteractionMarker>) -> Option<&InteractionRecord> {
        self.by_id.get(&id).map(|state| &state.record)
    }

    /// Notes that INTERACTION_CREATE of `id` was written to a gateway connection at `at` (the
    /// first time counts).
    pub(crate) fn dispatched(&mut self, id: Id<InteractionMarker>, at: Instant) {
        if let Some(state) = self.by_id.get_mut(&id) {
            state.record.dispatched_at.get_or_insert(at);
        }
    }

    fn by_token_mut(&mut self, token: &str) -> Option<&mut InteractionState> {
        let id = self.by_token.get(token)?;
        self.by_id.get_mut(id)
    }
}

/// A slash command a scripted user invokes.
#[derive(Debug, Clone)]
pub struct SlashCommand {
    /// The guild.
    pub guild_id: Id<GuildMarker>,
    /// The channel it is typed in.
    pub channel_id: Id<ChannelMarker>,
    /// The user invoking it (a member of the guild).
    pub user_id: Id<UserMarker>,
    /// The command name (must be registered for the guild or globally).
    pub name: String,
    /// The options as Discord sends them.
    pub options: Vec<CommandDataOption>,
    /// The user's locale.
    pub locale: String,
}

impl SlashCommand {
    /// `/name` by `user` in `channel` of `guild`, without options.
    pub fn new(
        guild_id: Id<GuildMarker>,
        channel_id: Id<ChannelMarker>,
        user_id: Id<UserMarker>,
        name: impl Into<String>,
    ) -> Self {
        Self {
            guild_id,
            channel_id,
            user_id,
            name: name.into(),
            options: Vec::new(),
            locale: "en-US".into(),
        }
    }

    /// Adds a string option.
    #[must_use]
    pub fn string(self, name: &str, value: impl Into<String>) -> Self {
        use twilight_model::application::interaction::application_command::CommandOptionValue;
        self.option(name, CommandOptionValue::String(value.into()))
    }

    /// Adds an integer option.
    #[must_use]
    pub fn integer(self, name: &str, value: i64) -> Self {
        use twilight_model::application::interaction::application_command::CommandOptionValue;
        self.option(name, CommandOptionValue::Integer(value))
    }

    /// Adds a boolean option.
    #[must_use]
    pub fn boolean(self, name: &str, value: bool) -> Self {
        use twilight_model::application::interaction::application_command::CommandOptionValue;
        self.option(name, CommandOptionValue::Boolean(value))
    }

    /// Adds any option value.
    #[must_use]
    pub fn option(
        mut self,
        name: &str,
        value: twilight_model::application::interaction::application_command::CommandOptionValue,
    ) -> Self {
        self.options.push(CommandDataOption {
            name: name.to_owned(),
            value,
        });
        self
    }
}

/// Builds the interaction for a slash command and registers it.
pub(crate) fn create_slash(
    core: &mut Core,
    shared: &Shared,
    spec: &SlashCommand,
) -> Result<(Interaction, Dispatch), SimError> {
    let guild = core
        .guilds
        .get(&spec.guild_id)
        .ok_or(SimError::UnknownGuild(spec.guild_id))?;
    let channel = guild
        .channel(spec.channel_id)
        .cloned()
        .ok_or(SimError::UnknownChannel(spec.channel_id))?;
    let member = guild
        .members
        .get(&spec.user_id)
        .ok_or(SimError::UnknownUser(spec.user_id))?;
    let command: Command = core
        .guild_commands
        .get(&spec.guild_id)
        .into_iter()
        .flatten()
        .chain(core.global_commands.iter())
        .find(|command| command.name == spec.name && command.kind == CommandType::ChatInput)
        .cloned()
        .ok_or_else(|| SimError::UnknownCommand(spec.name.clone()))?;
    let member_permissions = guild.channel_permissions(spec.user_id, spec.channel_id);
    let partial = model::partial_member(member, member_permissions);
    let app_permissions = guild.channel_permissions(core.bot.id, spec.channel_id);
    let preferred_locale = guild.preferred_locale.clone();
    let id: Id<InteractionMarker> = core.ids.next();
    let token = format!("aW50ZXJhY3Rpb246{}", core.random_hex(96));
    #[allow(deprecated)] // channel_id is deprecated but Discord still sends it.
    let interaction = Interaction {
        app_permissions: Some(app_permissions),
        application_id: shared.config.application_id,
        attachment_size_limit: 10 * 1024 * 1024,
        authorizing_integration_owners: ApplicationIntegrationMap {
            guild: Some(AnonymizableId::Id(spec.guild_id)),
            user: None,
        },
        channel: Some(channel),
        channel_id: Some(spec.channel_id),
        context: Some(InteractionContextType::Guild),
        data: Some(InteractionData::ApplicationCommand(Box::new(CommandData {
            guild_id: command.guild_id,
            id: command.id.unwrap_or_else(|| core.ids.next()),
            kind: CommandType::ChatInput,
            name: command.name.clone(),
            options: spec.options.clone(),
            resolved: None,
            target_id: None,
        }))),
        entitlements: Vec::new(),
        guild: Some(InteractionPartialGuild {
            features: Some(Vec::new()),
            id: Some(spec.guild_id),
            locale: Some(preferred_locale.clone()),
        }),
        guild_id: Some(spec.guild_id),
        guild_locale: Some(preferred_locale),
        id,
        kind: InteractionType::ApplicationCommand,
        locale: Some(spec.locale.clone()),
        member: Some(partial),
        message: None,
        token: token.clone(),
        user: None,
    };
    core.interactions.by_token.insert(token.clone(), id);
    core.interactions.by_id.insert(
        id,
        InteractionState {
            token,
            kind: InteractionType::ApplicationCommand,
            channel_id: spec.channel_id,
            created: shared.config.clock.now(),
            component_message: None,
            record: InteractionRecord::default(),
        },
    );
    let mut data = serde_json::to_value(&interaction).unwrap_or(Value::Null);
    // "version: integer, read-only property, always 1" (Interaction Structure); twilight-model
    // has no field for it, so it is added to the payload.
    data["version"] = json!(1);
    let dispatch = Dispatch {
        name: "INTERACTION_CREATE",
        data,
        guild: Some(spec.guild_id),
        intent: None,
    };
    Ok((interaction, dispatch))
}

/// A scripted interaction: what was sent, and what the bot answered.
#[derive(Debug, Clone)]
pub struct InteractionHandle {
    pub(crate) shared: Arc<Shared>,
    /// The interaction as INTERACTION_CREATE carried it.
    pub interaction: Interaction,
}

impl InteractionHandle {
    /// The interaction id.
    pub fn id(&self) -> Id<InteractionMarker> {
        self.interaction.id
    }

    /// What the bot has done with it so far.
    pub fn record(&self) -> InteractionRecord {
        self.shared
            .read(|core| core.interactions.record(self.id()).cloned())
            .unwrap_or_default()
    }

    /// Waits (10 s guard) until `check` finds something in the record.
    pub async fn wait_for<T>(
        &self,
        what: &'static str,
        mut check: impl FnMut(&InteractionRecord) -> Option<T>,
    ) -> Result<T, WaitError> {
        self.wait_for_within(what, DEFAULT_WAIT, &mut check).await
    }

    /// Waits until `check` finds something in the record, with `timeout` as the guard.
    pub async fn wait_for_within<T>(
        &self,
        what: &'static str,
        timeout: Duration,
        mut check: impl FnMut(&InteractionRecord) -> Option<T>,
    ) -> Result<T, WaitError> {
        let id = self.id();
        self.shared
            .wait_until(what, timeout, |core| {
                core.interactions.record(id).and_then(&mut check)
            })
            .await
    }

    /// The bot's callback (type 4, 5, 6, 7, ...), once it came.
    pub async fn response(&self) -> Result<InteractionResponse, WaitError> {
        self.wait_for("the interaction callback", |record| record.callback.clone())
            .await
    }

    /// The original response once it is a real message (a deferred one after its edit).
    pub async fn original(&self) -> Result<Message, WaitError> {
        self.wait_for("the original response", |record| {
            record.original_content().cloned()
        })
        .await
    }

    /// As [`original`](Self::original), waiting up to `timeout` (a test's own failure guard,
    /// for a machine slower than the default wait allows).
    pub async fn original_within(&self, timeout: Duration) -> Result<Message, WaitError> {
        self.wait_for_within("the original response", timeout, |record| {
            record.original_content().cloned()
        })
        .await
    }

    /// The original response after at least `edits` edits.
    pub async fn original_after_edits(&self, edits: usize) -> Result<Message, WaitError> {
        self.wait_for("an edit of the original response", |record| {
            (record.original_edits >= edits)
                .then(|| record.original.clone())
                .flatten()
        })
        .await
    }

    /// The `index`th follow-up (from 0), once sent.
    pub async fn followup(&self, index: usize) -> Result<Message, WaitError> {
        self.wait_for("a follow-up message", |record| {
            record.followups.get(index).cloned()
        })
        .await
    }
}

#[derive(Debug, Deserialize)]
pub(crate) struct CallbackQuery {
    /// A boolean query string (`true`/`True`/`1`, `false`/`False`/`0`); discord.py sends `1`.
    with_response: Option<String>,
}

/// `POST /interactions/{id}/{token}/callback`.
pub(crate) async fn callback(
    State(shared): State<Arc<Shared>>,
    Path((id, token)): Path<(String, String)>,
    Query(query): Query<CallbackQuery>,
    body: Bytes,
) -> ApiResult {
    let id = rest::snowflake::<InteractionMarker>(&id)
        .map_err(|_| ApiError::unknown(10062, "interaction"))?;
    let received = Instant::now();
    let with_response = rest::query_bool("with_response", query.with_response.as_deref())?;
    let now = shared.config.clock.now();
    let deadline = shared.config.interaction_deadline;
    let buffer = shared.config.replay_buffer;
    let app_id = shared.config.application_id;
    shared.with(|core| {
        let bot = core.bot.clone();
        let message_id: Id<MessageMarker> = core.ids.next();
        let Some(state) = core
            .interactions
            .by_id
            .get_mut(&id)
            .filter(|s| s.token == token)
        else {
            return Err(ApiError::unknown(10062, "interaction"));
        };
        let response = match accept_callback(state, now, deadline, &body) {
            Ok(response) => response,
            Err(error) => {
                state.record.rejections.push(error.code);
                return Err(error);
            }
        };
        let data = response.data.clone().unwrap_or_default();
        let content = MessageContent {
            content: data.content.clone(),
            embeds: data.embeds.clone(),
            components: data.components.clone(),
            flags: data.flags,
            tts: data.tts,
        };
        let channel_id = state.channel_id;
        let ephemeral = data
            .flags
            .is_some_and(|f| f.contains(MessageFlags::EPHEMERAL));
        let origin = MessageOrigin {
            id: message_id,
            channel_id,
            kind: if is_component(state.kind) {
                MessageType::Regular
            } else {
                MessageType::ChatInputCommand
            },
            webhook_id: Some(app_id.cast()),
        };
        let created = match response_message(&response, &content, origin, &bot) {
            Ok(created) => created,
            Err(error) => {
                state.record.rejections.push(error.code);
                return Err(error);
            }
        };
        state.record.callback = Some(response.clone());
        state.record.callback_at = Some(received);
        if let Some(message) = created.clone() {
            if !is_loading(&message) {
                state.record.answered_at.get_or_insert(received);
            }
            state.record.original = Some(message);
        }
        let component_message = state.component_message;
        let state_kind = state.kind;
        // The message a component belongs to is the original of an update.
        if response.kind == InteractionResponseType::UpdateMessage
            && let Some(message) = component_message.and_then(|mid| {
                core.messages
                    .get_mut(&channel_id)?
                    .iter_mut()
                    .find(|m| m.id == mid)
            })
        {
            model::edit_message(message, content);
        }
        if let Some(message) = created.as_ref().filter(|_| !ephemeral) {
            core.messages
                .entry(channel_id)
                .or_default()
                .push(message.clone());
            if let Some(dispatch) = message_dispatch(core, "MESSAGE_CREATE", message) {
                core.dispatch(&dispatch, buffer);
            }
        }
        if with_response == Some(true) {
            return ok(&callback_response(
                id,
                state_kind,
                &response,
                created.as_ref(),
            ));
        }
        no_content()
    })
}

/// Checks a callback: not acknowledged yet, within the deadline, a type that fits.
fn accept_callback(
    state: &InteractionState,
    now: Instant,
    deadline: Duration,
    body: &Bytes,
) -> Result<InteractionResponse, ApiError> {
    if state.record.callback.is_some() {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            40060,
            "Interaction has already been acknowledged.",
        ));
    }
    if now.saturating_duration_since(state.created) > deadline {
        return Err(ApiError::unknown(10062, "interaction"));
    }
    let response: InteractionResponse = rest::parse_body(body)?;
    if !response_allowed(state.kind, response.kind) {
        return Err(ApiError::invalid_form(
            "type",
            "INTERACTION_RESPONSE_TYPE_INVALID",
            "Interaction response type is not valid for this interaction",
        ));
    }
    Ok(response)
}

/// The message a callback creates: the response (type 4) or a loading message (type 5).
fn response_message(
    response: &InteractionResponse,
    content: &MessageContent,
    origin: MessageOrigin,
    bot: &twilight_model::user::User,
) -> Result<Option<Message>, ApiError> {
    let flags = content.flags.unwrap_or_else(MessageFlags::empty);
    match response.kind {
        InteractionResponseType::ChannelMessageWithSource => {
            if rest::is_empty(content) {
                return Err(ApiError::empty_message());
            }
            let mut content = content.clone();
            content.flags = Some(
                flags
                    & (MessageFlags::EPHEMERAL
                        | MessageFlags::SUPPRESS_EMBEDS
                        | MessageFlags::SUPPRESS_NOTIFICATIONS),
            );
            Ok(Some(model::message(origin, bot, content)))
        }
        InteractionResponseType::DeferredChannelMessageWithSource => {
            let loading = MessageContent {
                flags: Some(MessageFlags::LOADING | (flags & MessageFlags::EPHEMERAL)),
                ..MessageContent::default()
            };
            Ok(Some(model::message(origin, bot, loading)))
        }
        _ => Ok(None),
    }
}

fn is_component(kind: InteractionType) -> bool {
    matches!(
        kind,
        InteractionType::MessageComponent | InteractionType::ModalSubmit
    )
}

/// Whether a callback type fits the interaction (6 and 7 only answer components).
fn response_allowed(interaction: InteractionType, response: InteractionResponseType) -> bool {
    let component = is_component(interaction);
    match response {
        InteractionResponseType::Pong => interaction == InteractionType::Ping,
        InteractionResponseType::ChannelMessageWithSource
        | InteractionResponseType::DeferredChannelMessageWithSource => {
            interaction != InteractionType::Ping
        }
        InteractionResponseType::DeferredUpdateMessage | InteractionResponseType::UpdateMessage => {
            component
        }
        InteractionResponseType::ApplicationCommandAutocompleteResult => {
            interaction == InteractionType::ApplicationCommandAutocomplete
        }
        InteractionResponseType::Modal => !matches!(
            interaction,
            InteractionType::Ping | InteractionType::ModalSubmit
        ),
        _ => false,
    }
}

/// The body of a callback with `?with_response=true`.
fn callback_response(
    id: Id<InteractionMarker>,
    kind: InteractionType,
    response: &InteractionResponse,
    created: Option<&Message>,
) -> Value {
    let loading = response.kind == InteractionResponseType::DeferredChannelMessageWithSource;
    let ephemeral = created.is_some_and(|message| {
        message
            .flags
            .is_some_and(|flags| flags.contains(MessageFlags::EPHEMERAL))
    });
    let mut body = json!({
        "interaction": {
            "id": id.to_string(),
            "type": kind,
            "response_message_id": created.map(|m| m.id.to_string()),
            "response_message_loading": loading,
            "response_message_ephemeral": ephemeral,
        },
    });
    if let Some(message) = created {
        body["resource"] = json!({"type": response.kind, "message": message});
    }
    body
}

/// Finds a live interaction by webhook id and token.
fn live<'a>(
    core: &'a mut Core,
    shared: &Shared,
    app: &str,
    token: &str,
) -> Result<&'a mut InteractionState, ApiError> {
    let app = rest::snowflake::<twilight_model::id::marker::ApplicationMarker>(app)
        .map_err(|_| ApiError::unknown(10015, "Webhook"))?;
    if app != shared.config.application_id {
        return Err(ApiError::unknown(10015, "Webhook"));
    }
    let now = shared.config.clock.now();
    let config = &shared.config;
    let state = core
        .interactions
        .by_token_mut(token)
        .ok_or_else(|| ApiError::unknown(10015, "Webhook"))?;
    let age = now.saturating_duration_since(state.created);
    // Past 15 minutes, or past the 3 s deadline without a response, the token is dead.
    let dead = age > config.interaction_token_life
        || (state.record.callback.is_none() && age > config.interaction_deadline);
    if dead {
        let error = ApiError::new(StatusCode::UNAUTHORIZED, 50027, "Invalid Webhook Token");
        state.record.rejections.push(error.code);
        return Err(error);
    }
    Ok(state)
}

/// `GET /webhooks/{app}/{token}/messages/@original`.
pub(crate) async fn get_original(
    State(shared): State<Arc<Shared>>,
    Path((app, token)): Path<(String, String)>,
) -> ApiResult {
    shared.with(|core| {
        let state = live(core, &shared, &app, &token)?;
        let message = original_message(state).ok_or_else(|| ApiError::unknown(10008, "Message"))?;
        ok(&message)
    })
}

fn original_message(state: &InteractionState) -> Option<Message> {
    if state.record.original_deleted {
        return None;
    }
    state.record.original.clone()
}

/// `PATCH /webhooks/{app}/{token}/messages/@original`.
pub(crate) async fn edit_original(
    State(shared): State<Arc<Shared>>,
    Path((app, token)): Path<(String, String)>,
    body: Bytes,
) -> ApiResult {
    let received = Instant::now();
    let edit = rest::parse_body::<MessageBody>(&body)?.into_content()?;
    let buffer = shared.config.replay_buffer;
    shared.with(|core| {
        let state = live(core, &shared, &app, &token)?;
        let channel = state.channel_id;
        if state.record.original_deleted || state.record.original.is_none() {
            return Err(ApiError::unknown(10008, "Message"));
        }
        let Some(message) = state.record.original.as_mut() else {
            return Err(ApiError::unknown(10008, "Message"));
        };
        model::edit_message(message, edit);
        if let Some(flags) = message.flags.as_mut() {
            flags.remove(MessageFlags::LOADING);
        }
        let message = message.clone();
        state.record.original_edits += 1;
        state.record.answered_at.get_or_insert(received);
        update_channel_copy(core, channel, &message, buffer);
        ok(&message)
    })
}

/// Keeps the channel's copy of a (non-ephemeral) message in step and tells the bot.
fn update_channel_copy(
    core: &mut Core,
    channel: Id<ChannelMarker>,
    message: &Message,
    buffer: usize,
) {
    let Some(stored) = core
        .messages
        .get_mut(&channel)
        .and_then(|messages| messages.iter_mut().find(|m| m.id == message.id))
    else {
        return;
    };
    *stored = message.clone();
    if let Some(dispatch) = message_dispatch(core, "MESSAGE_UPDATE", message) {
        core.dispatch(&dispatch, buffer);
    }
}

/// `DELETE /webhooks/{app}/{token}/messages/@original`.
pub(crate) async fn delete_original(
    State(shared): State<Arc<Shared>>,
    Path((app, token)): Path<(String, String)>,
) -> ApiResult {
    shared.with(|core| {
        let state = live(core, &shared, &app, &token)?;
        let Some(message) = original_message(state) else {
            return Err(ApiError::unknown(10008, "Message"));
        };
        state.record.original_deleted = true;
        let channel = state.channel_id;
        if let Some(messages) = core.messages.get_mut(&channel) {
            messages.retain(|m| m.id != message.id);
        }
        no_content()
    })
}

/// `POST /webhooks/{app}/{token}`: a follow-up (`wait` is always true for interactions). Right
/// after a deferred response it edits the loading message instead, as Discord still does.
pub(crate) async fn create_followup(
    State(shared): State<Arc<Shared>>,
    Path((app, token)): Path<(String, String)>,
    body: Bytes,
) -> ApiResult {
    let received = Instant::now();
    let content = rest::parse_body::<MessageBody>(&body)?.into_content()?;
    let buffer = shared.config.replay_buffer;
    let app_id = shared.config.application_id;
    shared.with(|core| {
        let bot = core.bot.clone();
        let message_id: Id<MessageMarker> = core.ids.next();
        let state = live(core, &shared, &app, &token)?;
        if state.record.callback.is_none() {
            return Err(ApiError::unknown(10015, "Webhook"));
        }
        if rest::is_empty(&content) {
            return Err(ApiError::empty_message());
        }
        let channel = state.channel_id;
        let loading = state.record.original.as_ref().is_some_and(|message| {
            message
                .flags
                .is_some_and(|f| f.contains(MessageFlags::LOADING))
        });
        if loading && !state.record.original_deleted {
            let Some(message) = state.record.original.as_mut() else {
                return Err(ApiError::unknown(10008, "Message"));
            };
            let mut content = content;
            content.flags = None; // The ephemeral state of the deferred message stays.
            model::edit_message(message, content);
            if let Some(flags) = message.flags.as_mut() {
                flags.remove(MessageFlags::LOADING);
            }
            message.edited_timestamp = None;
            let message = message.clone();
            state.record.original_edits += 1;
            state.record.answered_at.get_or_insert(received);
            update_channel_copy(core, channel, &message, buffer);
            return ok(&message);
        }
        let ephemeral = content
            .flags
            .is_some_and(|f| f.contains(MessageFlags::EPHEMERAL));
        let origin = MessageOrigin {
            id: message_id,
            channel_id: channel,
            kind: MessageType::Regular,
            webhook_id: Some(app_id.cast()),
        };
        let message = model::message(origin, &bot, content);
        state.record.followups.push(message.clone());
        if !ephemeral {
            core.messages
                .entry(channel)
                .or_default()
                .push(message.clone());
            if let Some(dispatch) = message_dispatch(core, "MESSAGE_CREATE", &message) {
                core.dispatch(&dispatch, buffer);
            }
        }
        ok(&message)
    })
}

fn followup_mut<'a>(
    state: &'a mut InteractionState,
    message: &str,
) -> Result<&'a mut Message, ApiError> {
    let id = rest::snowflake::<MessageMarker>(message)
        .map_err(|_| ApiError::unknown(10008, "Message"))?;
    state
        .record
        .followups
        .iter_mut()
        .find(|m| m.id == id)
        .ok_or_else(|| ApiError::unknown(10008, "Message"))
}

/// `GET /webhooks/{app}/{token}/messages/{id}`.
pub(crate) async fn get_followup(
    State(shared): State<Arc<Shared>>,
    Path((app, token, message)): Path<(String, String, String)>,
) -> ApiResult {
    shared.with(|core| {
        let state = live(core, &shared, &app, &token)?;
        ok(&*followup_mut(state, &message)?)
    })
}

/// `PATCH /webhooks/{app}/{token}/messages/{id}`.
pub(crate) async fn edit_followup(
    State(shared): State<Arc<Shared>>,
    Path((app, token, message)): Path<(String, String, String)>,
    body: Bytes,
) -> ApiResult {
    let edit = rest::parse_body::<MessageBody>(&body)?.into_content()?;
    let buffer = shared.config.replay_buffer;
    shared.with(|core| {
        let state = live(core, &shared, &app, &token)?;
        let channel = state.channel_id;
        let followup = followup_mut(state, &message)?;
        model::edit_message(followup, edit);
        let followup = followup.clone();
        update_channel_copy(core, channel, &followup, buffer);
        ok(&followup)
    })
}

/// `DELETE /webhooks/{app}/{token}/messages/{id}`.
pub(crate) async fn delete_followup(
    State(shared): State<Arc<Shared>>,
    Path((app, token, message)): Path<(String, String, String)>,
) -> ApiResult {
    shared.with(|core| {
        let state = live(core, &shared, &app, &token)?;
        let channel = state.channel_id;
        let id = followup_mut(state, &message)?.id;
        state.record.followups.retain(|m| m.id != id);
        if let Some(messages) = core.messages.get_mut(&channel) {
            messages.retain(|m| m.id != id);
        }
        no_content()
    })
}
