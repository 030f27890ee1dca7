//! The REST subset under `/api/v10` that the bot uses: gateway info, the current user and
//! application, application commands, channel messages, guilds, channels, members and voice
//! states; with `Authorization: Bot <token>`, Discord's error bodies and rate-limit headers.
//! The interaction and webhook endpoints live in [`super::interactions`].

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::Json;
use axum::body::Bytes;
use axum::extract::{MatchedPath, Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use twilight_model::application::command::{Command, CommandType};
use twilight_model::channel::message::component::Component;
use twilight_model::channel::message::{Embed, MessageFlags, MessageType};
use twilight_model::guild::Permissions;
use twilight_model::id::Id;
use twilight_model::id::marker::{ApplicationMarker, ChannelMarker, GuildMarker, UserMarker};
use twilight_model::oauth::{Application, ApplicationFlags};

use super::gateway;
use super::model::{self, MessageContent, MessageOrigin};
use super::state::{Core, Dispatch, Shared};

/// A Discord error answer: `{code, message, errors?}` with its HTTP status.
#[derive(Debug, Clone)]
pub(crate) struct ApiError {
    pub status: StatusCode,
    pub code: u64,
    pub message: String,
    pub errors: Option<Value>,
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, code: u64, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            errors: None,
        }
    }

    pub(crate) fn unauthorized() -> Self {
        Self::new(StatusCode::UNAUTHORIZED, 0, "401: Unauthorized")
    }

    pub(crate) fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, 0, "404: Not Found")
    }

    pub(crate) fn unknown(code: u64, what: &str) -> Self {
        Self::new(StatusCode::NOT_FOUND, code, format!("Unknown {what}"))
    }

    pub(crate) fn missing_access() -> Self {
        Self::new(StatusCode::FORBIDDEN, 50001, "Missing Access")
    }

    pub(crate) fn missing_permissions() -> Self {
        Self::new(StatusCode::FORBIDDEN, 50013, "Missing Permissions")
    }

    pub(crate) fn invalid_json() -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            50109,
            "The request body contains invalid JSON.",
        )
    }

    /// 50035 Invalid Form Body with one field error.
    pub(crate) fn invalid_form(field: &str, code: &str, message: &str) -> Self {
        let mut error = Self::new(StatusCode::BAD_REQUEST, 50035, "Invalid Form Body");
        error.errors = Some(json!({
            field: {"_errors": [{"code": code, "message": message}]}
        }));
        error
    }

    /// 50035 Invalid Form Body with one error nested at `path` (`["data", "choices", "3",
    /// "name"]` gives `{"data": {"choices": {"3": {"name": {"_errors": [...]}}}}}`).
    pub(crate) fn invalid_form_at(path: &[&str], code: &str, message: &str) -> Self {
        let mut error = Self::new(StatusCode::BAD_REQUEST, 50035, "Invalid Form Body");
        let mut errors = json!({"_errors": [{"code": code, "message": message}]});
        for field in path.iter().rev() {
            errors = json!({ *field: errors });
        }
        error.errors = Some(errors);
        error
    }

    pub(crate) fn empty_message() -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            50006,
            "Cannot send an empty message",
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = json!({"code": self.code, "message": self.message});
        if let Some(errors) = self.errors {
            body["errors"] = errors;
        }
        (self.status, Json(body)).into_response()
    }
}

/// What REST handlers return.
pub(crate) type ApiResult = Result<Response, ApiError>;

/// A JSON answer with 200.
#[allow(clippy::unnecessary_wraps)] // Handlers return it as their success.
pub(crate) fn ok<T: serde::Serialize>(value: &T) -> ApiResult {
    let mut value = serde_json::to_value(value).unwrap_or(Value::Null);
    model::documented(&mut value);
    Ok(Json(value).into_response())
}

/// 204 No Content.
#[allow(clippy::unnecessary_wraps)] // Handlers return it as their success.
pub(crate) fn no_content() -> ApiResult {
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Parses a JSON body the way Discord answers bad ones (50109, then 50035).
pub(crate) fn parse_body<T: DeserializeOwned>(body: &Bytes) -> Result<T, ApiError> {
    let value: Value = serde_json::from_slice(body).map_err(|_| ApiError::invalid_json())?;
    serde_json::from_value(value)
        .map_err(|error| ApiError::invalid_form("_body", "BASE_TYPE_INVALID", &error.to_string()))
}

/// Parses a boolean query string parameter the way Discord documents them ("Boolean Query
/// Strings" in the API reference): `True`, `true` or `1` for true, `False`, `false` or `0` for
/// false. Anything else is refused with 50035 (the stand-in's choice of answer).
pub(crate) fn query_bool(name: &str, raw: Option<&str>) -> Result<Option<bool>, ApiError> {
    match raw {
        None => Ok(None),
        Some("True" | "true" | "1") => Ok(Some(true)),
        Some("False" | "false" | "0") => Ok(Some(false)),
        Some(_) => Err(ApiError::invalid_form(
            name,
            "BOOLEAN_TYPE_CONVERT",
            "Must be either true or false.",
        )),
    }
}

/// Parses a snowflake from a path segment (Discord answers 404 for ones that are not numbers).
pub(crate) fn snowflake<T>(raw: &str) -> Result<Id<T>, ApiError> {
    raw.parse::<u64>()
        .ok()
        .and_then(Id::new_checked)
        .ok_or_else(ApiError::not_found)
}

/// Checks `Authorization: Bot <token>` on bot-authenticated routes.
pub(crate) async fn authorize(
    State(shared): State<Arc<Shared>>,
    request: Request,
    next: Next,
) -> Response {
    let expected = format!("Bot {}", shared.config.token);
    let authorized = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value == expected);
    if authorized {
        next.run(request).await
    } else {
        ApiError::unauthorized().into_response()
    }
}

/// Per-bucket request counts (real time).
#[derive(Debug, Default)]
pub(crate) struct Buckets {
    windows: Mutex<HashMap<String, (u32, Instant)>>,
}

/// Faults (delay, 429) and rate-limit headers on every answer under `/api/v10`.
pub(crate) async fn rate_limits(
    State(shared): State<Arc<Shared>>,
    matched: Option<MatchedPath>,
    request: Request,
    next: Next,
) -> Response {
    let (delay, fault) = shared.with(|core| {
        let faults = &mut core.faults;
        let fault = (faults.rest_rate_limited > 0).then(|| {
            faults.rest_rate_limited -= 1;
            (faults.rest_retry_after, faults.rest_global)
        });
        (faults.rest_delay, fault)
    });
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let template = matched.as_ref().map_or("unknown", MatchedPath::as_str);
    let bucket = bucket_hash(request.method(), template);
    let key = format!("{bucket}:{}", major_parameter(request.uri().path()));
    let (limit, window) = shared.config.rest_bucket;
    if let Some((retry_after, global)) = fault {
        return rate_limited(&bucket, limit, retry_after, global);
    }
    let (count, reset_after) = {
        let mut windows = shared
            .buckets
            .windows
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let now = Instant::now();
        let entry = windows.entry(key).or_insert((0, now));
        if now.duration_since(entry.1) >= window {
            *entry = (0, now);
        }
        entry.0 += 1;
        (entry.0, window.saturating_sub(now.duration_since(entry.1)))
    };
    if count > limit {
        return rate_limited(&bucket, limit, reset_after, false);
    }
    let mut response = next.run(request).await;
    add_headers(
        response.headers_mut(),
        &bucket,
        limit,
        limit - count,
        reset_after,
        "user",
    );
    response
}

fn rate_limited(bucket: &str, limit: u32, retry_after: Duration, global: bool) -> Response {
    let message = "You are being rate limited.";
    let body =
        json!({"message": message, "retry_after": retry_after.as_secs_f64(), "global": global});
    let mut response = (StatusCode::TOO_MANY_REQUESTS, Json(body)).into_response();
    let headers = response.headers_mut();
    let seconds = retry_after.as_secs_f64().ceil();
    if let Ok(value) = HeaderValue::from_str(&format!("{seconds}")) {
        headers.insert(header::RETRY_AFTER, value);
    }
    if global {
        headers.insert("x-ratelimit-global", HeaderValue::from_static("true"));
        headers.insert("x-ratelimit-scope", HeaderValue::from_static("global"));
    } else {
        add_headers(headers, bucket, limit, 0, retry_after, "user");
    }
    response
}

fn add_headers(
    headers: &mut HeaderMap,
    bucket: &str,
    limit: u32,
    remaining: u32,
    reset_after: Duration,
    scope: &'static str,
) {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let reset = (now + reset_after).as_secs_f64();
    let pairs = [
        ("x-ratelimit-limit", limit.to_string()),
        ("x-ratelimit-remaining", remaining.to_string()),
        ("x-ratelimit-reset", format!("{reset:.3}")),
        (
            "x-ratelimit-reset-after",
            format!("{:.3}", reset_after.as_secs_f64()),
        ),
        ("x-ratelimit-bucket", bucket.to_owned()),
    ];
    for (name, value) in pairs {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(name, value);
        }
    }
    // Discord documents the scope header for 429s; twilight 0.18 only reads bucket headers when
    // it is present, and Discord is seen to send it on other answers too.
    headers.insert("x-ratelimit-scope", HeaderValue::from_static(scope));
}

/// An opaque bucket id per method and route, as Discord's look.
fn bucket_hash(method: &Method, template: &str) -> String {
    // FNV-1a: stable across runs, unlike the std hasher.
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in method.as_str().bytes().chain(template.bytes()) {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    let mut out = String::with_capacity(16);
    let _ = write!(out, "{hash:016x}");
    out
}

/// The top-level resource of a path (channel, guild, webhook + token), which Discord's limits
/// count separately. The path is the one the API router sees, without `/api/v10` (axum strips a
/// nested router's prefix); both forms are accepted.
fn major_parameter(path: &str) -> String {
    let mut segments = path
        .trim_start_matches("/api/v10")
        .trim_start_matches('/')
        .split('/');
    match segments.next() {
        Some(kind @ ("channels" | "guilds")) => {
            format!("{kind}/{}", segments.next().unwrap_or_default())
        }
        Some(kind @ ("webhooks" | "interactions")) => format!(
            "{kind}/{}/{}",
            segments.next().unwrap_or_default(),
            segments.next().unwrap_or_default()
        ),
        _ => "global".into(),
    }
}

/// Unknown routes.
pub(crate) async fn not_found() -> ApiError {
    ApiError::not_found()
}

/// `GET /gateway`.
pub(crate) async fn get_gateway(State(shared): State<Arc<Shared>>) -> ApiResult {
    ok(&json!({"url": gateway::gateway_url(&shared)}))
}

/// `GET /gateway/bot`.
pub(crate) async fn get_gateway_bot(State(shared): State<Arc<Shared>>) -> ApiResult {
    let config = &shared.config;
    let used = shared.read(|core| core.identifies);
    ok(&json!({
        "url": gateway::gateway_url(&shared),
        "shards": config.recommended_shards,
        "session_start_limit": {
            "total": config.session_start_total,
            "remaining": config.session_start_total.saturating_sub(used),
            "reset_after": 86_400_000,
            "max_concurrency": config.max_concurrency,
        },
    }))
}

/// `GET /users/@me`.
pub(crate) async fn get_current_user(State(shared): State<Arc<Shared>>) -> ApiResult {
    ok(&shared.read(|core| model::current_user(&core.bot)))
}

/// `GET /oauth2/applications/@me` and `GET /applications/@me`.
pub(crate) async fn get_application(State(shared): State<Arc<Shared>>) -> ApiResult {
    let (bot, owner) = shared.read(|core| {
        let owner = core
            .users
            .values()
            .find(|user| !user.bot)
            .cloned()
            .unwrap_or_else(|| core.bot.clone());
        (core.bot.clone(), owner)
    });
    let application = Application {
        approximate_guild_count: Some(shared.read(|core| core.guilds.len() as u64)),
        approximate_user_install_count: None,
        bot: Some(bot.clone()),
        bot_public: true,
        bot_require_code_grant: false,
        cover_image: None,
        custom_install_url: None,
        description: String::new(),
        flags: Some(ApplicationFlags::GATEWAY_MESSAGE_CONTENT_LIMITED),
        guild: None,
        guild_id: None,
        icon: None,
        id: shared.config.application_id,
        install_params: None,
        integration_types_config: None,
        interactions_endpoint_url: None,
        name: bot.name.clone(),
        owner: Some(owner),
        primary_sku_id: None,
        privacy_policy_url: None,
        redirect_uris: None,
        role_connections_verification_url: None,
        rpc_origins: Vec::new(),
        slug: None,
        tags: None,
        team: None,
        terms_of_service_url: None,
        verify_key: "5173696d2d646973636f72642d7665726966792d6b6579".into(),
    };
    ok(&application)
}

pub(crate) fn check_application(
    shared: &Shared,
    raw: &str,
) -> Result<Id<ApplicationMarker>, ApiError> {
    let id = snowflake::<ApplicationMarker>(raw)?;
    if id == shared.config.application_id {
        Ok(id)
    } else {
        Err(ApiError::missing_access())
    }
}

pub(crate) fn check_guild(core: &Core, guild: Id<GuildMarker>) -> Result<(), ApiError> {
    let state = core
        .guilds
        .get(&guild)
        .ok_or_else(|| ApiError::unknown(10004, "Guild"))?;
    if state.members.contains_key(&core.bot.id) {
        Ok(())
    } else {
        Err(ApiError::missing_access())
    }
}

/// `GET /applications/{app}/commands`.
pub(crate) async fn get_global_commands(
    State(shared): State<Arc<Shared>>,
    Path(app): Path<String>,
) -> ApiResult {
    check_application(&shared, &app)?;
    ok(&shared.read(|core| core.global_commands.clone()))
}

/// `PUT /applications/{app}/commands`: bulk overwrite.
pub(crate) async fn put_global_commands(
    State(shared): State<Arc<Shared>>,
    Path(app): Path<String>,
    body: Bytes,
) -> ApiResult {
    let app = check_application(&shared, &app)?;
    let incoming: Vec<Value> = parse_body(&body)?;
    shared.with(|core| {
        let existing = core.global_commands.clone();
        let commands = overwrite_commands(core, app, None, &existing, incoming)?;
        core.global_commands.clone_from(&commands);
        ok(&commands)
    })
}

/// `POST /applications/{app}/commands`: create or replace one.
pub(crate) async fn post_global_command(
    State(shared): State<Arc<Shared>>,
    Path(app): Path<String>,
    body: Bytes,
) -> ApiResult {
    let app = check_application(&shared, &app)?;
    let incoming: Value = parse_body(&body)?;
    shared.with(|core| {
        let mut commands = core.global_commands.clone();
        let command = upsert_command(core, app, None, &mut commands, incoming)?;
        core.global_commands = commands;
        ok(&command)
    })
}

/// `GET /applications/{app}/guilds/{guild}/commands`.
pub(crate) async fn get_guild_commands(
    State(shared): State<Arc<Shared>>,
    Path((app, guild)): Path<(String, String)>,
) -> ApiResult {
    check_application(&shared, &app)?;
    let guild = snowflake::<GuildMarker>(&guild)?;
    shared.read(|core| {
        check_guild(core, guild)?;
        ok(&core.guild_commands.get(&guild).cloned().unwrap_or_default())
    })
}

/// `PUT /applications/{app}/guilds/{guild}/commands`: bulk overwrite.
pub(crate) async fn put_guild_commands(
    State(shared): State<Arc<Shared>>,
    Path((app, guild)): Path<(String, String)>,
    body: Bytes,
) -> ApiResult {
    let app = check_application(&shared, &app)?;
    let guild = snowflake::<GuildMarker>(&guild)?;
    let incoming: Vec<Value> = parse_body(&body)?;
    shared.with(|core| {
        check_guild(core, guild)?;
        let existing = core.guild_commands.get(&guild).cloned().unwrap_or_default();
        let commands = overwrite_commands(core, app, Some(guild), &existing, incoming)?;
        core.guild_commands.insert(guild, commands.clone());
        ok(&commands)
    })
}

/// `POST /applications/{app}/guilds/{guild}/commands`: create or replace one.
pub(crate) async fn post_guild_command(
    State(shared): State<Arc<Shared>>,
    Path((app, guild)): Path<(String, String)>,
    body: Bytes,
) -> ApiResult {
    let app = check_application(&shared, &app)?;
    let guild = snowflake::<GuildMarker>(&guild)?;
    let incoming: Value = parse_body(&body)?;
    shared.with(|core| {
        check_guild(core, guild)?;
        let mut commands = core.guild_commands.get(&guild).cloned().unwrap_or_default();
        let command = upsert_command(core, app, Some(guild), &mut commands, incoming)?;
        core.guild_commands.insert(guild, commands);
        ok(&command)
    })
}

fn overwrite_commands(
    core: &mut Core,
    app: Id<ApplicationMarker>,
    guild: Option<Id<GuildMarker>>,
    existing: &[Command],
    incoming: Vec<Value>,
) -> Result<Vec<Command>, ApiError> {
    if incoming.len() > 100 {
        return Err(ApiError::invalid_form(
            "_body",
            "BASE_TYPE_MAX_LENGTH",
            "Must be 100 or fewer in length.",
        ));
    }
    let mut commands = Vec::with_capacity(incoming.len());
    for (index, value) in incoming.into_iter().enumerate() {
        let command = complete_command(core, app, guild, existing, value)
            .map_err(|error| with_index(error, index))?;
        if commands
            .iter()
            .any(|other: &Command| other.name == command.name && other.kind == command.kind)
        {
            return Err(ApiError::invalid_form(
                &index.to_string(),
                "APPLICATION_COMMANDS_DUPLICATE_NAME",
                "Application command names must be unique",
            ));
        }
        commands.push(command);
    }
    Ok(commands)
}

fn with_index(mut error: ApiError, index: usize) -> ApiError {
    if let Some(errors) = error.errors.take() {
        error.errors = Some(json!({ index.to_string(): errors }));
    }
    error
}

fn upsert_command(
    core: &mut Core,
    app: Id<ApplicationMarker>,
    guild: Option<Id<GuildMarker>>,
    commands: &mut Vec<Command>,
    incoming: Value,
) -> Result<Command, ApiError> {
    let command = complete_command(core, app, guild, commands, incoming)?;
    commands.retain(|other| !(other.name == command.name && other.kind == command.kind));
    commands.push(command.clone());
    Ok(command)
}

/// Validates a command as the bot sent it and fills in what Discord adds (ids, version,
/// defaults); a command with the name of an existing one keeps its id.
pub(crate) fn complete_command(
    core: &mut Core,
    app: Id<ApplicationMarker>,
    guild: Option<Id<GuildMarker>>,
    existing: &[Command],
    mut value: Value,
) -> Result<Command, ApiError> {
    let Some(object) = value.as_object_mut() else {
        return Err(ApiError::invalid_form(
            "_body",
            "DICT_TYPE_CONVERT",
            "Only dictionaries may be used in a DictType",
        ));
    };
    let kind = object.get("type").and_then(Value::as_u64).unwrap_or(1);
    let name = object
        .get("name")
        .and_then(Value::as_str)
        .ok_or_else(|| {
            ApiError::invalid_form("name", "BASE_TYPE_REQUIRED", "This field is required")
        })?
        .to_owned();
    let name_ok = (1..=32).contains(&name.chars().count())
        && (kind != 1
            || name
                .chars()
                .all(|c| c == '-' || c == '_' || c.is_alphanumeric() && !c.is_uppercase()));
    if !name_ok {
        return Err(ApiError::invalid_form(
            "name",
            "APPLICATION_COMMAND_INVALID_NAME",
            "Command name is invalid",
        ));
    }
    let description = object
        .get("description")
        .and_then(Value::as_str)
        .unwrap_or("");
    if kind == 1 && !(1..=100).contains(&description.chars().count()) {
        return Err(ApiError::invalid_form(
            "description",
            "BASE_TYPE_BAD_LENGTH",
            "Must be between 1 and 100 in length.",
        ));
    }
    let command_kind = CommandType::from(u8::try_from(kind).unwrap_or(0));
    let id = existing
        .iter()
        .find(|command| command.name == name && command.kind == command_kind)
        .and_then(|command| command.id)
        .unwrap_or_else(|| core.ids.next());
    let version: Id<twilight_model::id::marker::CommandVersionMarker> = core.ids.next();
    object.insert("id".into(), json!(id.to_string()));
    object.insert("application_id".into(), json!(app.to_string()));
    object.insert("version".into(), json!(version.to_string()));
    object.insert("type".into(), json!(kind));
    object.entry("description").or_insert(json!(""));
    object
        .entry("default_member_permissions")
        .or_insert(Value::Null);
    object.entry("nsfw").or_insert(json!(false));
    object.entry("options").or_insert(json!([]));
    if let Some(guild) = guild {
        object.insert("guild_id".into(), json!(guild.to_string()));
    } else {
        object.entry("contexts").or_insert(json!([0, 1, 2]));
        object.entry("integration_types").or_insert(json!([0]));
    }
    serde_json::from_value(value)
        .map_err(|error| ApiError::invalid_form("_body", "BASE_TYPE_INVALID", &error.to_string()))
}

/// A message body: content, embeds, components, flags, tts. Every field may also be `null`
/// ("All parameters to this endpoint are optional and nullable", Edit Message): `null` clears
/// the field, absent leaves it as it is.
#[derive(Debug, Default, serde::Deserialize)]
pub(crate) struct MessageBody {
    #[serde(default, deserialize_with = "null_is_empty")]
    content: Option<String>,
    #[serde(default, deserialize_with = "null_is_empty")]
    embeds: Option<Vec<Value>>,
    #[serde(default, deserialize_with = "null_is_empty")]
    components: Option<Vec<Component>>,
    #[serde(default, deserialize_with = "null_is_empty")]
    flags: Option<u64>,
    tts: Option<bool>,
}

/// A field that was sent: its value, or its empty value when sent as `null` (an absent field
/// stays `None` through `#[serde(default)]`).
fn null_is_empty<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de> + Default,
{
    <Option<T> as serde::Deserialize>::deserialize(deserializer)
        .map(|value| Some(value.unwrap_or_default()))
}

impl MessageBody {
    /// Validates the body into message content (Discord's limits: 2000 characters, 10 embeds);
    /// a `null` field is its empty value.
    pub(crate) fn into_content(self) -> Result<MessageContent, ApiError> {
        let content = self.content;
        if content
            .as_ref()
            .is_some_and(|content| content.chars().count() > 2000)
        {
            return Err(ApiError::invalid_form(
                "content",
                "BASE_TYPE_MAX_LENGTH",
                "Must be 2000 or fewer in length.",
            ));
        }
        let embeds = match self.embeds {
            None => None,
            Some(embeds) if embeds.len() > 10 => {
                return Err(ApiError::invalid_form(
                    "embeds",
                    "BASE_TYPE_MAX_LENGTH",
                    "Must be 10 or fewer in length.",
                ));
            }
            Some(embeds) => Some(
                embeds
                    .into_iter()
                    .map(|mut embed| {
                        if let Some(object) = embed.as_object_mut() {
                            object.entry("type").or_insert(json!("rich"));
                        }
                        serde_json::from_value::<Embed>(embed)
                    })
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|error| {
                        ApiError::invalid_form("embeds", "BASE_TYPE_INVALID", &error.to_string())
                    })?,
            ),
        };
        Ok(MessageContent {
            content,
            embeds,
            components: self.components,
            flags: self.flags.map(MessageFlags::from_bits_truncate),
            tts: self.tts,
        })
    }
}

/// Whether new message content has anything to show.
pub(crate) fn is_empty(content: &MessageContent) -> bool {
    content.content.as_deref().is_none_or(str::is_empty)
        && content.embeds.as_ref().is_none_or(Vec::is_empty)
        && content.components.as_ref().is_none_or(Vec::is_empty)
}

/// MESSAGE_CREATE (or UPDATE) for a message in a guild channel, with `guild_id` and `member`.
/// A message of anyone but the bot reaches a session without the MESSAGE_CONTENT intent with
/// `content`, `embeds`, `attachments`, `components` and `poll` emptied (Gateway, "Message
/// Content Intent"); MESSAGE_UPDATE always says `tts: false` (Gateway Events, "Message Update").
pub(crate) fn message_dispatch(
    core: &Core,
    name: &'static str,
    message: &twilight_model::channel::Message,
) -> Option<Dispatch> {
    let guild = core.guild_of_channel(message.channel_id)?;
    let mut data = serde_json::to_value(message).ok()?;
    data["guild_id"] = json!(guild.id.to_string());
    if name == "MESSAGE_UPDATE" {
        data["tts"] = json!(false);
    }
    if let Some(member) = guild.members.get(&message.author.id) {
        let mut member = serde_json::to_value(member).ok()?;
        if let Some(object) = member.as_object_mut() {
            object.remove("user");
        }
        data["member"] = member;
    }
    let without_content = (message.author.id != core.bot.id).then(|| {
        let mut redacted = data.clone();
        redacted["content"] = json!("");
        redacted["embeds"] = json!([]);
        redacted["attachments"] = json!([]);
        redacted["components"] = json!([]);
        if let Some(object) = redacted.as_object_mut() {
            object.remove("poll");
        }
        redacted
    });
    Some(Dispatch {
        name,
        data,
        guild: Some(guild.id),
        intent: Some(twilight_model::gateway::Intents::GUILD_MESSAGES),
        without_content,
    })
}

/// `POST /channels/{id}/messages`.
pub(crate) async fn create_message(
    State(shared): State<Arc<Shared>>,
    Path(channel): Path<String>,
    body: Bytes,
) -> ApiResult {
    let channel = snowflake::<ChannelMarker>(&channel)?;
    let content = parse_body::<MessageBody>(&body)?.into_content()?;
    let buffer = shared.config.replay_buffer;
    shared.with(|core| {
        if core.guild_of_channel(channel).is_none() {
            return Err(ApiError::unknown(10003, "Channel"));
        }
        let permissions = core.bot_permissions(channel);
        if !permissions.contains(Permissions::VIEW_CHANNEL) {
            return Err(ApiError::missing_access());
        }
        if !permissions.contains(Permissions::SEND_MESSAGES) {
            return Err(ApiError::missing_permissions());
        }
        if is_empty(&content) {
            return Err(ApiError::empty_message());
        }
        let origin = MessageOrigin {
            id: core.ids.next(),
            channel_id: channel,
            kind: MessageType::Regular,
            webhook_id: None,
        };
        let mut content = content;
        // Only a few flags can be set on a new message.
        content.flags = content.flags.map(|flags| {
            flags & (MessageFlags::SUPPRESS_EMBEDS | MessageFlags::SUPPRESS_NOTIFICATIONS)
        });
        let message = model::message(origin, &core.bot.clone(), content);
        core.messages
            .entry(channel)
            .or_default()
            .push(message.clone());
        if let Some(dispatch) = message_dispatch(core, "MESSAGE_CREATE", &message) {
            core.dispatch(&dispatch, buffer);
        }
        ok(&message)
    })
}

/// `GET /guilds/{id}` (`?with_counts=true` adds `approximate_member_count` and
/// `approximate_presence_count`: the stand-in keeps no presences, so nobody is online).
pub(crate) async fn get_guild(
    State(shared): State<Arc<Shared>>,
    Path(guild): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> ApiResult {
    let guild = snowflake::<GuildMarker>(&guild)?;
    let with_counts = query_bool("with_counts", query.get("with_counts").map(String::as_str))?;
    shared.read(|core| {
        check_guild(core, guild)?;
        let state = core
            .guilds
            .get(&guild)
            .ok_or_else(|| ApiError::unknown(10004, "Guild"))?;
        let mut value = model::rest_guild_json(&state.to_guild(false, Vec::new()));
        if with_counts == Some(true) {
            value["approximate_member_count"] = json!(state.members.len());
            value["approximate_presence_count"] = json!(0);
        }
        ok(&value)
    })
}

/// `GET /channels/{id}`.
pub(crate) async fn get_channel(
    State(shared): State<Arc<Shared>>,
    Path(channel): Path<String>,
) -> ApiResult {
    let channel = snowflake::<ChannelMarker>(&channel)?;
    shared.read(|core| {
        let guild = core
            .guild_of_channel(channel)
            .ok_or_else(|| ApiError::unknown(10003, "Channel"))?;
        if !core
            .bot_permissions(channel)
            .contains(Permissions::VIEW_CHANNEL)
        {
            return Err(ApiError::missing_access());
        }
        let channel = guild
            .channel(channel)
            .ok_or_else(|| ApiError::unknown(10003, "Channel"))?;
        ok(channel)
    })
}

/// `GET /guilds/{id}/members/{user}`.
pub(crate) async fn get_member(
    State(shared): State<Arc<Shared>>,
    Path((guild, user)): Path<(String, String)>,
) -> ApiResult {
    let guild = snowflake::<GuildMarker>(&guild)?;
    let user = snowflake::<UserMarker>(&user)?;
    shared.read(|core| {
        check_guild(core, guild)?;
        core.guilds
            .get(&guild)
            .and_then(|state| state.members.get(&user))
            .map_or_else(|| Err(ApiError::unknown(10007, "Member")), ok)
    })
}

/// `GET /guilds/{id}/voice-states/@me` and `/{user}`.
pub(crate) async fn get_voice_state(
    State(shared): State<Arc<Shared>>,
    Path((guild, user)): Path<(String, String)>,
) -> ApiResult {
    let guild = snowflake::<GuildMarker>(&guild)?;
    shared.read(|core| {
        check_guild(core, guild)?;
        let user = if user == "@me" {
            core.bot.id
        } else {
            snowflake::<UserMarker>(&user)?
        };
        core.guilds
            .get(&guild)
            .and_then(|state| state.voice_states.get(&user))
            .map_or_else(|| Err(ApiError::unknown(10065, "Voice State")), ok)
    })
}

#[cfg(test)]
mod tests {
    use super::query_bool;

    #[test]
    fn boolean_query_strings_take_the_documented_spellings() {
        for raw in ["True", "true", "1"] {
            assert_eq!(query_bool("b", Some(raw)).ok(), Some(Some(true)), "{raw}");
        }
        for raw in ["False", "false", "0"] {
            assert_eq!(query_bool("b", Some(raw)).ok(), Some(Some(false)), "{raw}");
        }
        assert_eq!(query_bool("b", None).ok(), Some(None));
        for raw in ["yes", "TRUE", "2", ""] {
            let error = query_bool("with_response", Some(raw)).err();
            assert_eq!(
                error.map(|e| (e.status.as_u16(), e.code)),
                Some((400, 50035)),
                "{raw}"
            );
        }
    }
}
