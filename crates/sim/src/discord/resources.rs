//! REST routes a music bot commonly calls beyond the ones in [`super::rest`]: the current user
//! (modify), users, guild roles, channels and members, channel message lists, the typing
//! indicator, and single application commands (get, edit, delete). Same authentication, error
//! bodies and rate-limit headers as the rest (the middleware of [`super::server`]).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use serde_json::{Value, json};
use twilight_model::application::command::Command;
use twilight_model::gateway::Intents;
use twilight_model::guild::Permissions;
use twilight_model::id::Id;
use twilight_model::id::marker::{
    ChannelMarker, CommandMarker, GuildMarker, MessageMarker, UserMarker,
};

use super::model;
use super::rest::{
    ApiError, ApiResult, check_application, check_guild, complete_command, no_content, ok,
    parse_body, snowflake,
};
use super::state::{Core, Dispatch, Shared};

/// `PATCH /users/@me`: `username` (2..32 characters) changes; `avatar` and `banner` are
/// accepted (image data or `null`) but the stand-in keeps no images. Fires USER_UPDATE.
pub(crate) async fn modify_current_user(
    State(shared): State<Arc<Shared>>,
    body: Bytes,
) -> ApiResult {
    let body: serde_json::Map<String, Value> = parse_body(&body)?;
    let username = match body.get("username") {
        None | Some(Value::Null) => None,
        Some(Value::String(name)) if (2..=32).contains(&name.chars().count()) => Some(name.clone()),
        Some(Value::String(_)) => {
            return Err(ApiError::invalid_form(
                "username",
                "BASE_TYPE_BAD_LENGTH",
                "Must be between 2 and 32 in length.",
            ));
        }
        Some(_) => {
            return Err(ApiError::invalid_form(
                "username",
                "BASE_TYPE_STRING",
                "Must be a string.",
            ));
        }
    };
    let buffer = shared.config.replay_buffer;
    shared.with(|core| {
        if let Some(name) = username {
            rename_bot(core, &name);
        }
        let user = model::current_user(&core.bot);
        let dispatch = Dispatch {
            name: "USER_UPDATE",
            data: serde_json::to_value(&user).unwrap_or(Value::Null),
            guild: None,
            intent: None,
            without_content: None,
        };
        core.dispatch(&dispatch, buffer);
        ok(&user)
    })
}

fn rename_bot(core: &mut Core, name: &str) {
    let bot = core.bot.id;
    name.clone_into(&mut core.bot.name);
    if let Some(user) = core.users.get_mut(&bot) {
        name.clone_into(&mut user.name);
    }
    for guild in core.guilds.values_mut() {
        if let Some(member) = guild.members.get_mut(&bot) {
            name.clone_into(&mut member.user.name);
        }
    }
}

/// `GET /users/{id}` (10013 Unknown User).
pub(crate) async fn get_user(
    State(shared): State<Arc<Shared>>,
    Path(user): Path<String>,
) -> ApiResult {
    let user = snowflake::<UserMarker>(&user)?;
    shared.read(|core| {
        core.users
            .get(&user)
            .map_or_else(|| Err(ApiError::unknown(10013, "User")), ok)
    })
}

/// `GET /guilds/{id}/roles`.
pub(crate) async fn get_roles(
    State(shared): State<Arc<Shared>>,
    Path(guild): Path<String>,
) -> ApiResult {
    let guild = snowflake::<GuildMarker>(&guild)?;
    shared.read(|core| {
        check_guild(core, guild)?;
        core.guilds
            .get(&guild)
            .map_or_else(|| Err(ApiError::unknown(10004, "Guild")), |g| ok(&g.roles))
    })
}

/// `GET /guilds/{id}/channels` (every channel, as Discord answers: not filtered by View Channel).
pub(crate) async fn get_channels(
    State(shared): State<Arc<Shared>>,
    Path(guild): Path<String>,
) -> ApiResult {
    let guild = snowflake::<GuildMarker>(&guild)?;
    shared.read(|core| {
        check_guild(core, guild)?;
        core.guilds.get(&guild).map_or_else(
            || Err(ApiError::unknown(10004, "Guild")),
            |g| ok(&g.channels),
        )
    })
}

/// A limit query parameter within `range` (default `default`), else 50035.
fn limit(query: &HashMap<String, String>, default: usize, max: usize) -> Result<usize, ApiError> {
    let Some(raw) = query.get("limit") else {
        return Ok(default);
    };
    match raw.parse::<usize>() {
        Ok(limit) if (1..=max).contains(&limit) => Ok(limit),
        Ok(limit) if limit > max => Err(ApiError::invalid_form(
            "limit",
            "NUMBER_TYPE_MAX",
            &format!("int value should be less than or equal to {max}."),
        )),
        Ok(_) => Err(ApiError::invalid_form(
            "limit",
            "NUMBER_TYPE_MIN",
            "int value should be greater than or equal to 1.",
        )),
        Err(_) => Err(ApiError::invalid_form(
            "limit",
            "NUMBER_TYPE_COERCE",
            &format!("Value \"{raw}\" is not int."),
        )),
    }
}

/// A snowflake query parameter, else 50035.
fn query_id<T>(query: &HashMap<String, String>, name: &str) -> Result<Option<Id<T>>, ApiError> {
    query
        .get(name)
        .map(|raw| {
            raw.parse::<u64>()
                .ok()
                .and_then(Id::new_checked)
                .ok_or_else(|| {
                    ApiError::invalid_form(
                        name,
                        "NUMBER_TYPE_COERCE",
                        &format!("Value \"{raw}\" is not snowflake."),
                    )
                })
        })
        .transpose()
}

/// `GET /guilds/{id}/members?limit&after`: members by user id, `limit` 1..1000 (default 1).
/// Discord restricts it to applications with the GUILD_MEMBERS privileged intent enabled
/// (403 50001 otherwise).
pub(crate) async fn list_members(
    State(shared): State<Arc<Shared>>,
    Path(guild): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> ApiResult {
    let guild = snowflake::<GuildMarker>(&guild)?;
    let limit = limit(&query, 1, 1000)?;
    let after = query_id::<UserMarker>(&query, "after")?;
    if !shared
        .config
        .privileged_intents
        .contains(Intents::GUILD_MEMBERS)
    {
        return Err(ApiError::missing_access());
    }
    shared.read(|core| {
        check_guild(core, guild)?;
        let state = core
            .guilds
            .get(&guild)
            .ok_or_else(|| ApiError::unknown(10004, "Guild"))?;
        let members: Vec<_> = state
            .members
            .values()
            .filter(|member| after.is_none_or(|after| member.user.id > after))
            .take(limit)
            .collect();
        ok(&members)
    })
}

/// `GET /channels/{id}/messages?limit&before&after&around`: newest first, `limit` 1..100
/// (default 50), at most one of `before`, `after`, `around`. Needs View Channel (and Connect in a
/// voice channel; 50001); without Read Message History the answer is empty ("no messages will be
/// returned").
pub(crate) async fn list_messages(
    State(shared): State<Arc<Shared>>,
    Path(channel): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> ApiResult {
    let channel = snowflake::<ChannelMarker>(&channel)?;
    let limit = limit(&query, 50, 100)?;
    let before = query_id::<MessageMarker>(&query, "before")?;
    let after = query_id::<MessageMarker>(&query, "after")?;
    let around = query_id::<MessageMarker>(&query, "around")?;
    shared.read(|core| {
        let Some(guild) = core.guild_of_channel(channel) else {
            return Err(ApiError::unknown(10003, "Channel"));
        };
        let voice = guild.channel(channel).is_some_and(Core::is_voice);
        let permissions = core.bot_permissions(channel);
        // A voice channel's text chat also needs Connect, as Get Channel Message does here.
        if !permissions.contains(Permissions::VIEW_CHANNEL)
            || (voice && !permissions.contains(Permissions::CONNECT))
        {
            return Err(ApiError::missing_access());
        }
        if !permissions.contains(Permissions::READ_MESSAGE_HISTORY) {
            return ok(&Vec::<Value>::new());
        }
        let mut messages: Vec<_> = core
            .messages
            .get(&channel)
            .map(|messages| messages.iter().collect())
            .unwrap_or_default();
        messages.sort_by_key(|message| std::cmp::Reverse(message.id));
        let page: Vec<_> = if let Some(around) = around {
            let newer = limit.div_ceil(2);
            let mut newer_ones: Vec<_> = messages.iter().filter(|m| m.id >= around).collect();
            newer_ones.reverse();
            newer_ones.truncate(newer);
            newer_ones.reverse();
            newer_ones
                .into_iter()
                .chain(
                    messages
                        .iter()
                        .filter(|m| m.id < around)
                        .take(limit - newer),
                )
                .collect()
        } else if let Some(after) = after {
            let mut oldest: Vec<_> = messages.iter().filter(|m| m.id > after).collect();
            oldest.reverse();
            oldest.truncate(limit);
            oldest.reverse();
            oldest
        } else {
            messages
                .iter()
                .filter(|m| before.is_none_or(|before| m.id < before))
                .take(limit)
                .collect()
        };
        ok(&page)
    })
}

/// `POST /channels/{id}/typing`: 204, and TYPING_START to sessions with GUILD_MESSAGE_TYPING.
/// Needs View Channel (50001) and Send Messages (50013).
pub(crate) async fn trigger_typing(
    State(shared): State<Arc<Shared>>,
    Path(channel): Path<String>,
) -> ApiResult {
    let channel = snowflake::<ChannelMarker>(&channel)?;
    let buffer = shared.config.replay_buffer;
    shared.with(|core| {
        let Some(guild) = core.guild_of_channel(channel) else {
            return Err(ApiError::unknown(10003, "Channel"));
        };
        let permissions = core.bot_permissions(channel);
        if !permissions.contains(Permissions::VIEW_CHANNEL) {
            return Err(ApiError::missing_access());
        }
        if !permissions.contains(Permissions::SEND_MESSAGES) {
            return Err(ApiError::missing_permissions());
        }
        let timestamp = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |since| since.as_secs());
        let mut data = json!({
            "channel_id": channel.to_string(),
            "guild_id": guild.id.to_string(),
            "user_id": core.bot.id.to_string(),
            "timestamp": timestamp,
        });
        if let Some(member) = guild.members.get(&core.bot.id) {
            data["member"] = serde_json::to_value(member).unwrap_or(Value::Null);
        }
        let dispatch = Dispatch {
            name: "TYPING_START",
            data,
            guild: Some(guild.id),
            intent: Some(Intents::GUILD_MESSAGE_TYPING),
            without_content: None,
        };
        core.dispatch(&dispatch, buffer);
        no_content()
    })
}

/// Where a command lives: the global list or a guild's.
#[derive(Clone, Copy)]
enum Scope {
    Global,
    Guild(Id<GuildMarker>),
}

fn commands_mut(core: &mut Core, scope: Scope) -> &mut Vec<Command> {
    match scope {
        Scope::Global => &mut core.global_commands,
        Scope::Guild(guild) => core.guild_commands.entry(guild).or_default(),
    }
}

fn unknown_command() -> ApiError {
    ApiError::unknown(10063, "application command")
}

fn scope_of(
    shared: &Shared,
    app: &str,
    guild: Option<&str>,
) -> Result<(Id<twilight_model::id::marker::ApplicationMarker>, Scope), ApiError> {
    let app = check_application(shared, app)?;
    let scope = match guild {
        None => Scope::Global,
        Some(guild) => {
            let guild = snowflake::<GuildMarker>(guild)?;
            shared.read(|core| check_guild(core, guild))?;
            Scope::Guild(guild)
        }
    };
    Ok((app, scope))
}

fn get_command(shared: &Shared, scope: Scope, command: &str) -> ApiResult {
    let command = snowflake::<CommandMarker>(command)?;
    shared.with(|core| {
        commands_mut(core, scope)
            .iter()
            .find(|c| c.id == Some(command))
            .map_or_else(|| Err(unknown_command()), ok)
    })
}

fn delete_command(shared: &Shared, scope: Scope, command: &str) -> ApiResult {
    let command = snowflake::<CommandMarker>(command)?;
    shared.with(|core| {
        let commands = commands_mut(core, scope);
        let before = commands.len();
        commands.retain(|c| c.id != Some(command));
        if commands.len() == before {
            Err(unknown_command())
        } else {
            no_content()
        }
    })
}

/// Edit: the fields given replace the command's; the id stays, the version changes, and the
/// result is validated as a new command is (50035, duplicate names included).
fn edit_command(
    shared: &Shared,
    app: Id<twilight_model::id::marker::ApplicationMarker>,
    scope: Scope,
    command: &str,
    body: &Bytes,
) -> ApiResult {
    let command = snowflake::<CommandMarker>(command)?;
    let changes: serde_json::Map<String, Value> = parse_body(body)?;
    shared.with(|core| {
        let commands = commands_mut(core, scope).clone();
        let Some(current) = commands.iter().find(|c| c.id == Some(command)) else {
            return Err(unknown_command());
        };
        let mut value = serde_json::to_value(current).unwrap_or(Value::Null);
        for (key, field) in changes {
            if !matches!(
                key.as_str(),
                "id" | "application_id" | "guild_id" | "version" | "type"
            ) {
                value[key.as_str()] = field;
            }
        }
        let others: Vec<Command> = commands
            .iter()
            .filter(|c| c.id != Some(command))
            .cloned()
            .collect();
        let guild = match scope {
            Scope::Global => None,
            Scope::Guild(guild) => Some(guild),
        };
        let mut edited = complete_command(core, app, guild, &[], value)?;
        edited.id = Some(command);
        if others
            .iter()
            .any(|other| other.name == edited.name && other.kind == edited.kind)
        {
            return Err(ApiError::invalid_form(
                "name",
                "APPLICATION_COMMANDS_DUPLICATE_NAME",
                "Application command names must be unique",
            ));
        }
        let list = commands_mut(core, scope);
        if let Some(slot) = list.iter_mut().find(|c| c.id == Some(command)) {
            *slot = edited.clone();
        }
        ok(&edited)
    })
}

/// `GET /applications/{app}/commands/{command}`.
pub(crate) async fn get_global_command(
    State(shared): State<Arc<Shared>>,
    Path((app, command)): Path<(String, String)>,
) -> ApiResult {
    let (_, scope) = scope_of(&shared, &app, None)?;
    get_command(&shared, scope, &command)
}

/// `PATCH /applications/{app}/commands/{command}`.
pub(crate) async fn edit_global_command(
    State(shared): State<Arc<Shared>>,
    Path((app, command)): Path<(String, String)>,
    body: Bytes,
) -> ApiResult {
    let (app, scope) = scope_of(&shared, &app, None)?;
    edit_command(&shared, app, scope, &command, &body)
}

/// `DELETE /applications/{app}/commands/{command}`: 204.
pub(crate) async fn delete_global_command(
    State(shared): State<Arc<Shared>>,
    Path((app, command)): Path<(String, String)>,
) -> ApiResult {
    let (_, scope) = scope_of(&shared, &app, None)?;
    delete_command(&shared, scope, &command)
}

/// `GET /applications/{app}/guilds/{guild}/commands/{command}`.
pub(crate) async fn get_guild_command(
    State(shared): State<Arc<Shared>>,
    Path((app, guild, command)): Path<(String, String, String)>,
) -> ApiResult {
    let (_, scope) = scope_of(&shared, &app, Some(&guild))?;
    get_command(&shared, scope, &command)
}

/// `PATCH /applications/{app}/guilds/{guild}/commands/{command}`.
pub(crate) async fn edit_guild_command(
    State(shared): State<Arc<Shared>>,
    Path((app, guild, command)): Path<(String, String, String)>,
    body: Bytes,
) -> ApiResult {
    let (app, scope) = scope_of(&shared, &app, Some(&guild))?;
    edit_command(&shared, app, scope, &command, &body)
}

/// `DELETE /applications/{app}/guilds/{guild}/commands/{command}`: 204.
pub(crate) async fn delete_guild_command(
    State(shared): State<Arc<Shared>>,
    Path((app, guild, command)): Path<(String, String, String)>,
) -> ApiResult {
    let (_, scope) = scope_of(&shared, &app, Some(&guild))?;
    delete_command(&shared, scope, &command)
}
