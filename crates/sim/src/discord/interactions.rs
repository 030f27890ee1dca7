//! Interactions: INTERACTION_CREATE for scripted slash commands, autocompletes and button
//! presses, the callback endpoint with its 3 s deadline and single acknowledgement, the original
//! response and follow-ups through the webhook endpoints during the token's 15 min life, and what
//! tests await of it all.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};
use twilight_model::application::command::{CommandOptionChoice, CommandOptionType};
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
use super::messages::{delete_everywhere, edit_everywhere, kept_message};
use super::model::{self, MessageContent, MessageOrigin};
use super::rest::{self, ApiError, ApiResult, MessageBody, message_dispatch, no_content, ok};
use super::slash;
use super::state::{Core, DEFAULT_WAIT, Dispatch, Shared};

/// What the bot did with one interaction, as tests read it back.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct InteractionRecord {
    /// The first (and only accepted) callback.
    pub callback: Option<InteractionResponse>,
    /// The original response message as it stands now (after edits); for a deferred response
    /// it carries the LOADING flag until edited. For a component interaction answered with type
    /// 6 or 7 it is the message the component was on.
    pub original: Option<Message>,
    /// How many times the original response was edited.
    pub original_edits: usize,
    /// Whether the original response was deleted.
    pub original_deleted: bool,
    /// Follow-up messages, in order.
    pub followups: Vec<Message>,
    /// For a component interaction: the message the component was on, as this interaction last
    /// changed it (an UPDATE_MESSAGE callback, or an edit of `@original` after a type 6 or 7
    /// callback); `None` until then.
    pub updated_message: Option<Message>,
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

fn is_ephemeral(message: &Message) -> bool {
    message
        .flags
        .is_some_and(|flags| flags.contains(MessageFlags::EPHEMERAL))
}

impl InteractionRecord {
    /// Whether the interaction has been acknowledged.
    pub fn acknowledged(&self) -> bool {
        self.callback.is_some()
    }

    /// The original response once it is a real message (not a loading state).
    pub fn original_content(&self) -> Option<&Message> {
        self.original
            .as_ref()
            .filter(|message| !is_loading(message))
    }

    /// The choices of an APPLICATION_COMMAND_AUTOCOMPLETE_RESULT (type 8) callback.
    pub fn choices(&self) -> Option<Vec<CommandOptionChoice>> {
        let callback = self.callback.as_ref()?;
        (callback.kind == InteractionResponseType::ApplicationCommandAutocompleteResult).then(
            || {
                callback
                    .data
                    .as_ref()
                    .and_then(|data| data.choices.clone())
                    .unwrap_or_default()
            },
        )
    }
}

/// One interaction in the registry.
#[derive(Debug, Clone)]
pub(crate) struct InteractionState {
    pub token: String,
    pub kind: InteractionType,
    pub channel_id: Id<ChannelMarker>,
    /// Who interacted (who sees its ephemeral messages).
    pub user_id: Id<UserMarker>,
    /// When it was dispatched (on the configured clock).
    pub created: Instant,
    /// The message a component interaction belongs to.
    pub component_message: Option<Id<MessageMarker>>,
    /// For an autocomplete: the declared type of the focused option.
    pub focused_kind: Option<CommandOptionType>,
    pub record: InteractionRecord,
}

impl InteractionState {
    /// Whether `@original` is the message the component was on (a type 6 or 7 answer).
    fn original_is_component_message(&self) -> bool {
        self.component_message.is_some()
            && self.record.callback.as_ref().is_some_and(|callback| {
                matches!(
                    callback.kind,
                    InteractionResponseType::DeferredUpdateMessage
                        | InteractionResponseType::UpdateMessage
                )
            })
    }
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

    /// A copy of message `id` in `channel` that an interaction record keeps (an original
    /// response not deleted, a follow-up); an ephemeral one only for the user who saw it when
    /// `viewer` is given.
    pub(crate) fn kept_copy(
        &self,
        channel: Id<ChannelMarker>,
        id: Id<MessageMarker>,
        viewer: Option<Id<UserMarker>>,
    ) -> Option<Message> {
        self.by_id
            .values()
            .filter(|state| state.channel_id == channel)
            .find_map(|state| {
                let original = state
                    .record
                    .original
                    .as_ref()
                    .filter(|_| !state.record.original_deleted);
                let found = original
                    .into_iter()
                    .chain(&state.record.followups)
                    .find(|message| message.id == id)?;
                let visible = !is_ephemeral(found) || viewer.is_none_or(|u| u == state.user_id);
                visible.then(|| found.clone())
            })
    }

    /// Puts `message` in place of every copy of it the records keep.
    pub(crate) fn replace_copies(&mut self, message: &Message) {
        for state in self.by_id.values_mut() {
            let record = &mut state.record;
            let copies = record
                .original
                .iter_mut()
                .chain(record.followups.iter_mut())
                .chain(record.updated_message.iter_mut());
            for copy in copies.filter(|copy| copy.id == message.id) {
                *copy = message.clone();
            }
        }
    }

    /// Marks message `id` deleted in every record: an original response as deleted, a
    /// follow-up removed. Returns whether any record had it.
    pub(crate) fn delete_copies(&mut self, id: Id<MessageMarker>) -> bool {
        let mut found = false;
        for state in self.by_id.values_mut() {
            let record = &mut state.record;
            if record.original.as_ref().is_some_and(|m| m.id == id) && !record.original_deleted {
                record.original_deleted = true;
                found = true;
            }
            let before = record.followups.len();
            record.followups.retain(|m| m.id != id);
            found |= record.followups.len() != before;
        }
        found
    }
}

/// An interaction about to be made: who, where, what.
pub(crate) struct Invocation {
    pub guild_id: Id<GuildMarker>,
    pub channel_id: Id<ChannelMarker>,
    pub user_id: Id<UserMarker>,
    pub locale: String,
    pub kind: InteractionType,
    pub data: InteractionData,
    /// The `data` payload when it differs from what twilight-model writes for `data`.
    pub raw_data: Option<Value>,
    /// For components: the message the component is on.
    pub message: Option<Message>,
    pub focused_kind: Option<CommandOptionType>,
}

/// Builds an interaction (member with permissions in the channel, `app_permissions`, channel,
/// locales, `authorizing_integration_owners`, `version: 1`, a fresh token) and registers it.
pub(crate) fn create(
    core: &mut Core,
    shared: &Shared,
    invocation: Invocation,
) -> Result<(Interaction, Dispatch), SimError> {
    let guild = core
        .guilds
        .get(&invocation.guild_id)
        .ok_or(SimError::UnknownGuild(invocation.guild_id))?;
    let channel = guild
        .channel(invocation.channel_id)
        .cloned()
        .ok_or(SimError::UnknownChannel(invocation.channel_id))?;
    let member = guild
        .members
        .get(&invocation.user_id)
        .ok_or(SimError::UnknownUser(invocation.user_id))?;
    let member_permissions = guild.channel_permissions(invocation.user_id, invocation.channel_id);
    let partial = model::partial_member(member, member_permissions);
    let app_permissions = guild.channel_permissions(core.bot.id, invocation.channel_id);
    let preferred_locale = guild.preferred_locale.clone();
    let id: Id<InteractionMarker> = core.ids.next();
    let token = format!("aW50ZXJhY3Rpb246{}", core.random_hex(96));
    let component_message = invocation.message.as_ref().map(|message| message.id);
    #[allow(deprecated)] // channel_id is deprecated but Discord still sends it.
    let interaction = Interaction {
        app_permissions: Some(app_permissions),
        application_id: shared.config.application_id,
        attachment_size_limit: 10 * 1024 * 1024,
        authorizing_integration_owners: ApplicationIntegrationMap {
            guild: Some(AnonymizableId::Id(invocation.guild_id)),
            user: None,
        },
        channel: Some(channel),
        channel_id: Some(invocation.channel_id),
        context: Some(InteractionContextType::Guild),
        data: Some(invocation.data),
        entitlements: Vec::new(),
        guild: Some(InteractionPartialGuild {
            features: Some(Vec::new()),
            id: Some(invocation.guild_id),
            locale: Some(preferred_locale.clone()),
        }),
        guild_id: Some(invocation.guild_id),
        guild_locale: Some(preferred_locale),
        id,
        kind: invocation.kind,
        locale: Some(invocation.locale),
        member: Some(partial),
        message: invocation.message,
        token: token.clone(),
        user: None,
    };
    core.interactions.by_token.insert(token.clone(), id);
    core.interactions.by_id.insert(
        id,
        InteractionState {
            token,
            kind: invocation.kind,
            channel_id: invocation.channel_id,
            user_id: invocation.user_id,
            created: shared.config.clock.now(),
            component_message,
            focused_kind: invocation.focused_kind,
            record: InteractionRecord::default(),
        },
    );
    let mut data = serde_json::to_value(&interaction).unwrap_or(Value::Null);
    // "version: integer, read-only property, always 1" (Interaction Structure); twilight-model
    // has no field for it, so it is added to the payload.
    data["version"] = json!(1);
    if let Some(raw) = invocation.raw_data {
        data["data"] = raw;
    }
    let dispatch = Dispatch {
        name: "INTERACTION_CREATE",
        data,
        guild: Some(invocation.guild_id),
        intent: None,
        without_content: None,
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

    /// The choices the bot answered an autocomplete with (a type 8 callback), once it came.
    pub async fn choices(&self) -> Result<Vec<CommandOptionChoice>, WaitError> {
        self.wait_for("the autocomplete choices", InteractionRecord::choices)
            .await
    }

    /// For a button press: the message the button was on, once this interaction changed it (an
    /// UPDATE_MESSAGE callback, or an edit of `@original` after a type 6 or 7 callback).
    pub async fn updated_message(&self) -> Result<Message, WaitError> {
        self.wait_for("the update of the component's message", |record| {
            record.updated_message.clone()
        })
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
        let state_kind = state.kind;
        let component_message = state.component_message;
        let resource = match (response.kind, component_message) {
            (InteractionResponseType::UpdateMessage, Some(message)) => {
                let edit = |m: &mut Message| model::edit_message(m, content);
                let updated = edit_everywhere(core, channel_id, message, edit, buffer);
                set_original(core, id, updated.as_ref(), received, true);
                updated
            }
            (InteractionResponseType::DeferredUpdateMessage, Some(message)) => {
                let current = kept_message(core, channel_id, message);
                set_original(core, id, current.as_ref(), received, false);
                None
            }
            _ => {
                if let Some(message) = created.as_ref() {
                    set_original(core, id, Some(message), received, false);
                    publish_new(core, message, buffer);
                }
                created
            }
        };
        if with_response == Some(true) {
            return ok(&callback_response(
                id,
                state_kind,
                &response,
                resource.as_ref(),
            ));
        }
        no_content()
    })
}

/// Sets the record's original response after a callback (`updated`: the component's message
/// was changed by it).
fn set_original(
    core: &mut Core,
    id: Id<InteractionMarker>,
    message: Option<&Message>,
    received: Instant,
    updated: bool,
) {
    let (Some(state), Some(message)) = (core.interactions.by_id.get_mut(&id), message) else {
        return;
    };
    if !is_loading(message) {
        state.record.answered_at.get_or_insert(received);
    }
    state.record.original = Some(message.clone());
    if updated {
        state.record.updated_message = Some(message.clone());
    }
}

/// Makes a new non-ephemeral message a channel message and tells the bot (MESSAGE_CREATE).
fn publish_new(core: &mut Core, message: &Message, buffer: usize) {
    if is_ephemeral(message) {
        return;
    }
    core.messages
        .entry(message.channel_id)
        .or_default()
        .push(message.clone());
    if let Some(dispatch) = message_dispatch(core, "MESSAGE_CREATE", message) {
        core.dispatch(&dispatch, buffer);
    }
}

/// Checks a callback: not acknowledged yet, within the deadline, a type that fits, and for an
/// autocomplete result, choices as Discord documents them.
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
    if response.kind == InteractionResponseType::ApplicationCommandAutocompleteResult {
        slash::check_choices(state.focused_kind, response.data.as_ref())?;
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

/// Whether a callback type fits the interaction: 6 and 7 only answer components, 8 answers
/// autocompletes, and an autocomplete takes nothing else (it has no message to show).
fn response_allowed(interaction: InteractionType, response: InteractionResponseType) -> bool {
    let component = is_component(interaction);
    if interaction == InteractionType::ApplicationCommandAutocomplete {
        return response == InteractionResponseType::ApplicationCommandAutocompleteResult;
    }
    match response {
        InteractionResponseType::Pong => interaction == InteractionType::Ping,
        InteractionResponseType::ChannelMessageWithSource
        | InteractionResponseType::DeferredChannelMessageWithSource => {
            interaction != InteractionType::Ping
        }
        InteractionResponseType::DeferredUpdateMessage | InteractionResponseType::UpdateMessage => {
            component
        }
        InteractionResponseType::Modal => !matches!(
            interaction,
            InteractionType::Ping | InteractionType::ModalSubmit
        ),
        _ => false,
    }
}

/// The body of a callback with `?with_response=true`: `resource.message` for types 4 and 7
/// (the message created, or the component's message as updated) and 5 (the loading message).
fn callback_response(
    id: Id<InteractionMarker>,
    kind: InteractionType,
    response: &InteractionResponse,
    message: Option<&Message>,
) -> Value {
    let loading = response.kind == InteractionResponseType::DeferredChannelMessageWithSource;
    let ephemeral = message.is_some_and(is_ephemeral);
    let mut body = json!({
        "interaction": {
            "id": id.to_string(),
            "type": kind,
            "response_message_id": message.map(|m| m.id.to_string()),
            "response_message_loading": loading,
            "response_message_ephemeral": ephemeral,
        },
    });
    if let Some(message) = message {
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

/// `PATCH /webhooks/{app}/{token}/messages/@original`. After a type 6 or 7 answer to a
/// component, `@original` is the message the component was on.
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
        let original =
            original_message(state).ok_or_else(|| ApiError::unknown(10008, "Message"))?;
        let (channel, token) = (state.channel_id, state.token.clone());
        let component = state.original_is_component_message();
        let message = edit_everywhere(
            core,
            channel,
            original.id,
            |message| {
                model::edit_message(message, edit);
                if let Some(flags) = message.flags.as_mut() {
                    flags.remove(MessageFlags::LOADING);
                }
            },
            buffer,
        )
        .ok_or_else(|| ApiError::unknown(10008, "Message"))?;
        if let Some(state) = core.interactions.by_token_mut(&token) {
            state.record.original = Some(message.clone());
            state.record.original_edits += 1;
            state.record.answered_at.get_or_insert(received);
            if component {
                state.record.updated_message = Some(message.clone());
            }
        }
        ok(&message)
    })
}

/// `DELETE /webhooks/{app}/{token}/messages/@original` (MESSAGE_DELETE for a channel message).
pub(crate) async fn delete_original(
    State(shared): State<Arc<Shared>>,
    Path((app, token)): Path<(String, String)>,
) -> ApiResult {
    let buffer = shared.config.replay_buffer;
    shared.with(|core| {
        let state = live(core, &shared, &app, &token)?;
        let Some(message) = original_message(state) else {
            return Err(ApiError::unknown(10008, "Message"));
        };
        state.record.original_deleted = true;
        let channel = state.channel_id;
        delete_everywhere(core, channel, message.id, buffer);
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
        let loading = original_message(state).filter(is_loading);
        if let Some(loading) = loading {
            let target = (channel, loading.id);
            return complete_deferred(core, &token, target, content, received, buffer);
        }
        let origin = MessageOrigin {
            id: message_id,
            channel_id: channel,
            kind: MessageType::Regular,
            webhook_id: Some(app_id.cast()),
        };
        let message = model::message(origin, &bot, content);
        state.record.followups.push(message.clone());
        publish_new(core, &message, buffer);
        ok(&message)
    })
}

/// The first follow-up after a deferred response edits the loading message.
fn complete_deferred(
    core: &mut Core,
    token: &str,
    (channel, loading): (Id<ChannelMarker>, Id<MessageMarker>),
    mut content: MessageContent,
    received: Instant,
    buffer: usize,
) -> ApiResult {
    content.flags = None; // The ephemeral state of the deferred message stays.
    let message = edit_everywhere(
        core,
        channel,
        loading,
        |message| {
            model::edit_message(message, content);
            if let Some(flags) = message.flags.as_mut() {
                flags.remove(MessageFlags::LOADING);
            }
            message.edited_timestamp = None;
        },
        buffer,
    )
    .ok_or_else(|| ApiError::unknown(10008, "Message"))?;
    if let Some(state) = core.interactions.by_token_mut(token) {
        state.record.original = Some(message.clone());
        state.record.original_edits += 1;
        state.record.answered_at.get_or_insert(received);
    }
    ok(&message)
}

fn followup_of(state: &InteractionState, message: &str) -> Result<Message, ApiError> {
    let id = rest::snowflake::<MessageMarker>(message)
        .map_err(|_| ApiError::unknown(10008, "Message"))?;
    state
        .record
        .followups
        .iter()
        .find(|m| m.id == id)
        .cloned()
        .ok_or_else(|| ApiError::unknown(10008, "Message"))
}

/// `GET /webhooks/{app}/{token}/messages/{id}`.
pub(crate) async fn get_followup(
    State(shared): State<Arc<Shared>>,
    Path((app, token, message)): Path<(String, String, String)>,
) -> ApiResult {
    shared.with(|core| {
        let state = live(core, &shared, &app, &token)?;
        ok(&followup_of(state, &message)?)
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
        let followup = followup_of(state, &message)?;
        let edited = edit_everywhere(
            core,
            channel,
            followup.id,
            |m| model::edit_message(m, edit),
            buffer,
        )
        .ok_or_else(|| ApiError::unknown(10008, "Message"))?;
        ok(&edited)
    })
}

/// `DELETE /webhooks/{app}/{token}/messages/{id}` (MESSAGE_DELETE for a channel message).
pub(crate) async fn delete_followup(
    State(shared): State<Arc<Shared>>,
    Path((app, token, message)): Path<(String, String, String)>,
) -> ApiResult {
    let buffer = shared.config.replay_buffer;
    shared.with(|core| {
        let state = live(core, &shared, &app, &token)?;
        let channel = state.channel_id;
        let id = followup_of(state, &message)?.id;
        delete_everywhere(core, channel, id, buffer);
        no_content()
    })
}
