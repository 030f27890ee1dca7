//! The control endpoint, for a script in another process: `GET /sim/state`, `POST /sim/guilds`,
//! `POST /sim/interactions` (commands and autocompletes), `GET /sim/interactions/{id}`,
//! `POST /sim/components` (button presses), `POST /sim/voice` and
//! `POST /sim/fault`, behind the control password (`Authorization: <password>`; 401 missing,
//! 403 wrong). It lives beside the gateway and REST on the same port but outside `/api/v10`, so
//! neither REST delays nor 429s apply to it. Errors are `{"error": "..."}`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::{Path, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{Next, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Value, json};
use twilight_model::application::command::CommandOptionChoice;
use twilight_model::application::interaction::application_command::CommandOptionValue;
use twilight_model::http::interaction::InteractionResponseType;
use twilight_model::id::Id;
use twilight_model::id::marker::{
    ChannelMarker, GuildMarker, InteractionMarker, MessageMarker, RoleMarker, UserMarker,
};

use super::components::ButtonPress;
use super::config::SimError;
use super::faults::{Fault, FaultSummary, Faults};
use super::interactions::InteractionRecord;
use super::slash::{SlashCommand, SlashOptions};
use super::state::{Core, Shared};
use super::users::{self, GuildSpec, MemberSpec};

/// At most this many channels of each kind, and members, in a guild made over HTTP.
const MAX_CHANNELS: usize = 50;
const MAX_MEMBERS: usize = 1000;

/// An answer of the control endpoint that is not a success: a status and `{"error": "..."}`.
#[derive(Debug)]
struct ControlError {
    status: StatusCode,
    message: String,
}

impl ControlError {
    fn bad_request(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            message: message.into(),
        }
    }

    fn not_found(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::NOT_FOUND,
            message: message.into(),
        }
    }
}

impl From<SimError> for ControlError {
    fn from(error: SimError) -> Self {
        match error {
            SimError::UnknownGuild(_)
            | SimError::UnknownChannel(_)
            | SimError::UnknownUser(_)
            | SimError::UnknownCommand(_)
            | SimError::UnknownMessage(..) => Self::not_found(error.to_string()),
            SimError::Bind { .. } | SimError::Signal(_) => Self {
                status: StatusCode::INTERNAL_SERVER_ERROR,
                message: error.to_string(),
            },
            _ => Self::bad_request(error.to_string()),
        }
    }
}

impl IntoResponse for ControlError {
    fn into_response(self) -> Response {
        (self.status, Json(json!({"error": self.message}))).into_response()
    }
}

type ControlResult<T> = Result<T, ControlError>;

/// Parses a request body, naming the problem in a 400.
fn body<T: DeserializeOwned>(bytes: &Bytes) -> ControlResult<T> {
    serde_json::from_slice(bytes)
        .map_err(|error| ControlError::bad_request(format!("invalid body: {error}")))
}

/// A field that must be present but may be `null` (serde treats a missing `Option` as `None`
/// unless a deserializer is named).
fn nullable<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer)
}

pub(crate) fn router(shared: &Arc<Shared>) -> Router<Arc<Shared>> {
    Router::new()
        .route("/sim/state", get(state))
        .route("/sim/guilds", post(create_guild))
        .route("/sim/interactions", post(invoke))
        .route("/sim/interactions/{id}", get(interaction))
        .route("/sim/components", post(press))
        .route("/sim/voice", post(voice))
        .route("/sim/fault", post(fault))
        .route_layer(from_fn_with_state(Arc::clone(shared), authorize))
}

/// The control password, as the whole `Authorization` header: 401 missing, 403 wrong.
async fn authorize(State(shared): State<Arc<Shared>>, request: Request, next: Next) -> Response {
    match request.headers().get(header::AUTHORIZATION) {
        None => ControlError {
            status: StatusCode::UNAUTHORIZED,
            message: "the Authorization header is missing".into(),
        }
        .into_response(),
        Some(value) if value.as_bytes() != shared.config.control_password.as_bytes() => {
            tracing::warn!(path = %request.uri().path(), "control authorization failed");
            ControlError {
                status: StatusCode::FORBIDDEN,
                message: "wrong control password".into(),
            }
            .into_response()
        }
        Some(_) => next.run(request).await,
    }
}

/// `GET /sim/state`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct StateView {
    gateway_url: String,
    rest_base: String,
    identify_count: u32,
    identify_refusals: u32,
    sessions: Vec<SessionView>,
    connections: Vec<ConnectionView>,
    guilds: Vec<GuildView>,
    faults: FaultSummary,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct SessionView {
    id: String,
    shard: [u32; 2],
    intents: u64,
    seq: u64,
    connected: bool,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct ConnectionView {
    id: u64,
    session_id: Option<String>,
    compression: &'static str,
    zombie: bool,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct GuildView {
    id: Id<GuildMarker>,
    name: String,
    text_channels: Vec<ChannelView>,
    voice_channels: Vec<ChannelView>,
    members: Vec<MemberView>,
    voice: Vec<VoiceView>,
}

#[derive(Debug, Serialize)]
struct ChannelView {
    id: Id<ChannelMarker>,
    name: Option<String>,
}

#[derive(Debug, Serialize)]
struct MemberView {
    id: Id<UserMarker>,
    name: String,
    bot: bool,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct VoiceView {
    user_id: Id<UserMarker>,
    channel_id: Option<Id<ChannelMarker>>,
}

fn guild_views(core: &Core) -> Vec<GuildView> {
    core.guilds
        .values()
        .map(|guild| {
            let (voice, text): (Vec<_>, Vec<_>) = guild
                .channels
                .iter()
                .partition(|channel| Core::is_voice(channel));
            let view = |channel: &&twilight_model::channel::Channel| ChannelView {
                id: channel.id,
                name: channel.name.clone(),
            };
            GuildView {
                id: guild.id,
                name: guild.name.clone(),
                text_channels: text.iter().map(view).collect(),
                voice_channels: voice.iter().map(view).collect(),
                members: guild
                    .members
                    .values()
                    .map(|member| MemberView {
                        id: member.user.id,
                        name: member.user.name.clone(),
                        bot: member.user.bot,
                    })
                    .collect(),
                voice: guild
                    .voice_states
                    .values()
                    .map(|state| VoiceView {
                        user_id: state.user_id,
                        channel_id: state.channel_id,
                    })
                    .collect(),
            }
        })
        .collect()
}

async fn state(State(shared): State<Arc<Shared>>) -> Json<StateView> {
    let faults = Faults {
        shared: Arc::clone(&shared),
    }
    .summary();
    let view = shared.read(|core| StateView {
        gateway_url: format!("ws://{}", shared.addr),
        rest_base: format!("http://{}/api/v10", shared.addr),
        identify_count: core.identifies,
        identify_refusals: core.identify_refusals,
        sessions: core
            .sessions
            .session_infos()
            .into_iter()
            .map(|session| SessionView {
                id: session.id,
                shard: session.shard,
                intents: session.intents.bits(),
                seq: session.seq,
                connected: session.connected,
            })
            .collect(),
        connections: core
            .sessions
            .connection_infos()
            .into_iter()
            .map(|connection| ConnectionView {
                id: connection.id,
                session_id: connection.session_id,
                compression: connection.compression,
                zombie: connection.zombie,
            })
            .collect(),
        guilds: guild_views(core),
        faults,
    });
    Json(view)
}

/// `POST /sim/guilds`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct GuildRequest {
    name: Option<String>,
    text_channels: Option<usize>,
    voice_channels: Option<usize>,
    members: Option<Vec<String>>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct GuildCreated {
    id: Id<GuildMarker>,
    owner_id: Id<UserMarker>,
    everyone_role: Id<RoleMarker>,
    roles: BTreeMap<String, Id<RoleMarker>>,
    text_channels: Vec<Id<ChannelMarker>>,
    voice_channels: Vec<Id<ChannelMarker>>,
    members: BTreeMap<String, Id<UserMarker>>,
}

/// Channel names: the default guild's first (`general`; `Music`, `Lounge`), then numbered.
fn channel_names(defaults: &[String], prefix: &str, count: usize) -> Vec<String> {
    (0..count)
        .map(|index| {
            defaults
                .get(index)
                .cloned()
                .unwrap_or_else(|| format!("{prefix}-{}", index + 1))
        })
        .collect()
}

impl GuildRequest {
    fn spec(self) -> ControlResult<GuildSpec> {
        let mut spec = GuildSpec::default();
        if let Some(name) = self.name {
            if name.trim().is_empty() {
                return Err(ControlError::bad_request("name must not be empty"));
            }
            spec.name = name;
        }
        let text = self.text_channels.unwrap_or(spec.text_channels.len());
        if !(1..=MAX_CHANNELS).contains(&text) {
            return Err(ControlError::bad_request(format!(
                "textChannels must be between 1 and {MAX_CHANNELS}"
            )));
        }
        let voice = self.voice_channels.unwrap_or(spec.voice_channels.len());
        if voice > MAX_CHANNELS {
            return Err(ControlError::bad_request(format!(
                "voiceChannels must be at most {MAX_CHANNELS}"
            )));
        }
        spec.text_channels = channel_names(&spec.text_channels, "text", text);
        spec.voice_channels = channel_names(&spec.voice_channels, "voice", voice);
        if let Some(members) = self.members {
            if members.len() > MAX_MEMBERS {
                return Err(ControlError::bad_request(format!(
                    "members must be at most {MAX_MEMBERS}"
                )));
            }
            let mut seen = vec![spec.owner.clone()];
            for name in &members {
                if name.trim().is_empty() {
                    return Err(ControlError::bad_request("member names must not be empty"));
                }
                if seen.contains(name) {
                    return Err(ControlError::bad_request(format!(
                        "member name {name:?} is used twice (the owner is {:?})",
                        spec.owner
                    )));
                }
                seen.push(name.clone());
            }
            spec.members = members
                .into_iter()
                .map(|name| MemberSpec {
                    name,
                    roles: Vec::new(),
                })
                .collect();
        }
        Ok(spec)
    }
}

async fn create_guild(
    State(shared): State<Arc<Shared>>,
    bytes: Bytes,
) -> ControlResult<(StatusCode, Json<GuildCreated>)> {
    let spec = body::<GuildRequest>(&bytes)?.spec()?;
    let info = users::create_guild(&shared, &spec)?;
    Ok((
        StatusCode::CREATED,
        Json(GuildCreated {
            id: info.id,
            owner_id: info.owner_id,
            everyone_role: info.everyone_role,
            roles: info.roles.into_iter().collect(),
            text_channels: info.text_channels,
            voice_channels: info.voice_channels,
            members: info.members.into_iter().collect(),
        }),
    ))
}

/// `POST /sim/interactions`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct InvokeRequest {
    /// `command` (default): the command is invoked; `autocomplete`: the user is typing in the
    /// option named by `focused`.
    #[serde(rename = "type", default)]
    kind: InvokeKind,
    guild: Id<GuildMarker>,
    channel: Id<ChannelMarker>,
    user: Id<UserMarker>,
    command: String,
    /// A sub-command group holding `subcommand`.
    subcommand_group: Option<String>,
    /// A sub-command; `options` are its options.
    subcommand: Option<String>,
    #[serde(default)]
    options: serde_json::Map<String, Value>,
    /// For an autocomplete: the option (in `options`, a string: the partial text) being typed.
    focused: Option<String>,
    locale: Option<String>,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
enum InvokeKind {
    #[default]
    Command,
    Autocomplete,
}

/// A JSON option value as Discord's string, integer or boolean option.
fn option_value(name: &str, value: Value) -> ControlResult<CommandOptionValue> {
    match value {
        Value::String(text) => Ok(CommandOptionValue::String(text)),
        Value::Bool(flag) => Ok(CommandOptionValue::Boolean(flag)),
        other => other
            .as_i64()
            .map(CommandOptionValue::Integer)
            .ok_or_else(|| {
                ControlError::bad_request(format!(
                    "option {name:?}: expected a string, an integer or a boolean, got {other}"
                ))
            }),
    }
}

impl InvokeRequest {
    fn options(&mut self) -> ControlResult<SlashOptions> {
        let focused = self.focused.take();
        match (self.kind, &focused) {
            (InvokeKind::Autocomplete, None) => {
                return Err(ControlError::bad_request(
                    "an autocomplete needs `focused`: the option being typed",
                ));
            }
            (InvokeKind::Command, Some(_)) => {
                return Err(ControlError::bad_request(
                    "`focused` is only for \"type\": \"autocomplete\"",
                ));
            }
            _ => {}
        }
        let mut options = SlashOptions::new();
        let mut typed = false;
        for (name, value) in std::mem::take(&mut self.options) {
            if focused.as_deref() == Some(name.as_str()) {
                let Value::String(partial) = value else {
                    return Err(ControlError::bad_request(format!(
                        "the focused option {name:?} must be a string (the partial text)"
                    )));
                };
                options = options.typing(&name, partial);
                typed = true;
            } else {
                options = options.option(&name, option_value(&name, value)?);
            }
        }
        if let (Some(name), false) = (&focused, typed) {
            return Err(ControlError::bad_request(format!(
                "the focused option {name:?} is not in `options`"
            )));
        }
        Ok(options)
    }

    fn command(mut self) -> ControlResult<(InvokeKind, SlashCommand)> {
        let mut options = self.options()?;
        if let Some(subcommand) = &self.subcommand {
            options = SlashOptions::new().subcommand(subcommand, options);
        }
        if let Some(group) = &self.subcommand_group {
            if self.subcommand.is_none() {
                return Err(ControlError::bad_request(
                    "subcommandGroup needs a subcommand",
                ));
            }
            options = SlashOptions::new().subcommand_group(group, options);
        }
        let mut command = SlashCommand::new(self.guild, self.channel, self.user, self.command);
        command.options = options.0;
        if let Some(locale) = self.locale {
            command.locale = locale;
        }
        Ok((self.kind, command))
    }
}

async fn invoke(
    State(shared): State<Arc<Shared>>,
    bytes: Bytes,
) -> ControlResult<(StatusCode, Json<Value>)> {
    let (kind, command) = body::<InvokeRequest>(&bytes)?.command()?;
    let handle = match kind {
        InvokeKind::Command => users::invoke(&shared, &command)?,
        InvokeKind::Autocomplete => users::autocomplete(&shared, &command)?,
    };
    Ok((StatusCode::CREATED, Json(json!({"id": handle.id()}))))
}

/// `POST /sim/components`: a member presses a button.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct PressRequest {
    channel: Id<ChannelMarker>,
    message: Id<MessageMarker>,
    user: Id<UserMarker>,
    custom_id: String,
    locale: Option<String>,
}

async fn press(
    State(shared): State<Arc<Shared>>,
    bytes: Bytes,
) -> ControlResult<(StatusCode, Json<Value>)> {
    let request: PressRequest = body(&bytes)?;
    let mut press = ButtonPress::new(
        request.channel,
        request.message,
        request.user,
        request.custom_id,
    );
    if let Some(locale) = request.locale {
        press = press.locale(locale);
    }
    let handle = users::press_button(&shared, &press)?;
    Ok((StatusCode::CREATED, Json(json!({"id": handle.id()}))))
}

/// `GET /sim/interactions/{id}`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct InteractionView {
    id: Id<InteractionMarker>,
    acknowledged: bool,
    response_type: Option<InteractionResponseType>,
    deferred: bool,
    content: Option<String>,
    callback_ms: Option<u64>,
    answered_ms: Option<u64>,
    original_edits: usize,
    original_deleted: bool,
    followups: Vec<FollowupView>,
    rejections: Vec<u64>,
    /// The autocomplete's choices (a type 8 callback), else null.
    choices: Option<Vec<CommandOptionChoice>>,
    /// The message a pressed button was on, as this interaction changed it, else null (as the
    /// stand-in sends messages: `model::documented`).
    updated_message: Option<Value>,
}

#[derive(Debug, Serialize)]
struct FollowupView {
    id: Id<MessageMarker>,
    content: String,
}

/// Milliseconds from `dispatched` to `at`, when both happened.
fn since(dispatched: Option<Instant>, at: Option<Instant>) -> Option<u64> {
    let elapsed = at?.saturating_duration_since(dispatched?);
    Some(u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX))
}

impl InteractionView {
    fn new(id: Id<InteractionMarker>, record: &InteractionRecord) -> Self {
        let response_type = record.callback.as_ref().map(|callback| callback.kind);
        Self {
            id,
            acknowledged: record.acknowledged(),
            response_type,
            deferred: matches!(
                response_type,
                Some(
                    InteractionResponseType::DeferredChannelMessageWithSource
                        | InteractionResponseType::DeferredUpdateMessage
                )
            ),
            content: record
                .original_content()
                .map(|message| message.content.clone()),
            callback_ms: since(record.dispatched_at, record.callback_at),
            answered_ms: since(record.dispatched_at, record.answered_at),
            original_edits: record.original_edits,
            original_deleted: record.original_deleted,
            followups: record
                .followups
                .iter()
                .map(|message| FollowupView {
                    id: message.id,
                    content: message.content.clone(),
                })
                .collect(),
            rejections: record.rejections.clone(),
            choices: record.choices(),
            updated_message: record.updated_message.as_ref().map(|message| {
                let mut value = serde_json::to_value(message).unwrap_or(Value::Null);
                super::model::documented(&mut value);
                value
            }),
        }
    }
}

async fn interaction(
    State(shared): State<Arc<Shared>>,
    Path(raw): Path<String>,
) -> ControlResult<Json<InteractionView>> {
    let id: Id<InteractionMarker> = raw
        .parse::<u64>()
        .ok()
        .and_then(Id::new_checked)
        .ok_or_else(|| {
            ControlError::bad_request(format!("interaction id {raw:?} is not a snowflake"))
        })?;
    let record = shared
        .read(|core| core.interactions.record(id).cloned())
        .ok_or_else(|| ControlError::not_found(format!("unknown interaction {id}")))?;
    Ok(Json(InteractionView::new(id, &record)))
}

/// `POST /sim/voice`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct VoiceRequest {
    guild: Id<GuildMarker>,
    user: Id<UserMarker>,
    #[serde(deserialize_with = "nullable")]
    channel: Option<Id<ChannelMarker>>,
}

async fn voice(State(shared): State<Arc<Shared>>, bytes: Bytes) -> ControlResult<Json<Value>> {
    let request: VoiceRequest = body(&bytes)?;
    let changed = users::move_member(&shared, request.guild, request.user, request.channel)?;
    Ok(Json(
        json!({"channel": request.channel, "changed": changed}),
    ))
}

/// `POST /sim/fault`.
async fn fault(State(shared): State<Arc<Shared>>, bytes: Bytes) -> ControlResult<Json<Value>> {
    let fault: Fault = body(&bytes)?;
    let faults = Faults { shared };
    let connections = faults.apply(&fault)?;
    Ok(Json(json!({
        "applied": fault,
        "connections": connections,
        "faults": faults.summary(),
    })))
}
