//! The gateway commands a client may send besides Identify, Resume, Heartbeat and Update Voice
//! State: Update Presence (op 3, accepted silently), Request Guild Members (op 8, answered with
//! GUILD_MEMBERS_CHUNK dispatches, or RATE_LIMITED) and Request Soundboard Sounds (op 31,
//! answered with SOUNDBOARD_SOUNDS). Gateway Events, "Send Events".

use std::time::{Duration, Instant};

use serde::Deserialize;
use serde_json::{Value, json};
use twilight_model::gateway::Intents;
use twilight_model::gateway::payload::outgoing::request_guild_members::{
    RequestGuildMemberId, RequestGuildMembersInfo,
};
use twilight_model::guild::Member;
use twilight_model::id::Id;
use twilight_model::id::marker::{GuildMarker, UserMarker};

use super::gateway::shard_of;
use super::state::{Core, GuildState};

/// Members per GUILD_MEMBERS_CHUNK ("up to 1000 members per chunk").
const CHUNK_SIZE: usize = 1000;

/// The most members a query or a list of user ids returns ("a maximum of 100 members").
const QUERY_LIMIT: usize = 100;

/// Requests for all members of a guild: one per guild per session every 30 s (Gateway Events,
/// "Request Guild Members", rate limit; changelog 2025-08-14).
pub(crate) const ALL_MEMBERS_SPACING: Duration = Duration::from_secs(30);

/// The longest nonce Discord keeps (32 bytes); a longer one is ignored.
const NONCE_LIMIT: usize = 32;

/// Update Presence's payload (Gateway Events, "Update Presence": `since` integer or null,
/// `activities`, `status`, `afk`).
#[derive(Debug, Deserialize)]
pub(crate) struct PresenceUpdate {
    #[serde(rename = "since")]
    _since: Option<u64>,
    #[serde(rename = "activities")]
    _activities: Vec<Value>,
    status: String,
    #[serde(rename = "afk")]
    _afk: bool,
}

impl PresenceUpdate {
    /// Whether the status is one Discord documents (Status Types).
    pub(crate) fn is_valid(&self) -> bool {
        matches!(
            self.status.as_str(),
            "online" | "dnd" | "idle" | "invisible" | "offline"
        )
    }
}

/// Request Soundboard Sounds' payload.
#[derive(Debug, Deserialize)]
pub(crate) struct SoundboardRequest {
    guild_ids: Vec<Id<GuildMarker>>,
}

/// What a session answers to one gateway command: dispatches for it alone (name, data).
pub(crate) type Answers = Vec<(&'static str, Value)>;

/// The session asking, as these commands need it.
pub(crate) struct Asker<'a> {
    pub shard: twilight_model::gateway::ShardId,
    pub intents: Intents,
    /// When this session last asked for every member of a guild (real time).
    pub all_members: &'a mut std::collections::HashMap<Id<GuildMarker>, Instant>,
}

/// Whether the guild is one the session receives (on its shard, with the bot a member).
fn visible<'a>(
    core: &'a Core,
    asker: &Asker<'_>,
    guild: Id<GuildMarker>,
) -> Option<&'a GuildState> {
    let state = core.guilds.get(&guild)?;
    (shard_of(guild, asker.shard.total()) == asker.shard.number()
        && state.members.contains_key(&core.bot.id))
    .then_some(state)
}

/// Request Guild Members → GUILD_MEMBERS_CHUNK dispatches (`guild_id`, `members`,
/// `chunk_index`, `chunk_count`, `not_found`, `presences` when asked and allowed, `nonce`), or
/// RATE_LIMITED for a second request for every member within 30 s. Nothing for a guild the
/// session does not receive, nor for every member without the GUILD_MEMBERS intent (the intent
/// is required; Discord does not answer).
pub(crate) fn request_guild_members(
    core: &Core,
    asker: &mut Asker<'_>,
    request: &RequestGuildMembersInfo,
) -> Answers {
    let Some(guild) = visible(core, asker, request.guild_id) else {
        return Vec::new();
    };
    let nonce = request
        .nonce
        .as_ref()
        .filter(|nonce| nonce.len() <= NONCE_LIMIT);
    let presences =
        request.presences == Some(true) && asker.intents.contains(Intents::GUILD_PRESENCES);
    let mut not_found = Vec::new();
    let members: Vec<&Member> = if let Some(ids) = &request.user_ids {
        let ids: Vec<Id<UserMarker>> = match ids {
            RequestGuildMemberId::One(id) => vec![*id],
            RequestGuildMemberId::Multiple(ids) => ids.iter().take(QUERY_LIMIT).copied().collect(),
        };
        ids.into_iter()
            .filter_map(|id| {
                let member = guild.members.get(&id);
                if member.is_none() {
                    not_found.push(id);
                }
                member
            })
            .collect()
    } else {
        let query = request.query.as_deref().unwrap_or_default().to_lowercase();
        let limit = usize::try_from(request.limit.unwrap_or(0)).unwrap_or(usize::MAX);
        if query.is_empty() {
            if !asker.intents.contains(Intents::GUILD_MEMBERS) {
                return Vec::new();
            }
            if limit == 0 {
                let now = Instant::now();
                if let Some(last) = asker.all_members.get(&guild.id)
                    && now.duration_since(*last) < ALL_MEMBERS_SPACING
                {
                    let retry = ALL_MEMBERS_SPACING.saturating_sub(now.duration_since(*last));
                    let mut meta = json!({"guild_id": guild.id.to_string()});
                    if let Some(nonce) = nonce {
                        meta["nonce"] = json!(nonce);
                    }
                    return vec![(
                        "RATE_LIMITED",
                        json!({"opcode": 8, "retry_after": retry.as_secs_f64(), "meta": meta}),
                    )];
                }
                asker.all_members.insert(guild.id, now);
            }
        }
        let limit = match (query.is_empty(), limit) {
            (true, 0) => usize::MAX,
            (true, limit) => limit,
            (false, 0) => QUERY_LIMIT,
            (false, limit) => limit.min(QUERY_LIMIT),
        };
        guild
            .members
            .values()
            .filter(|member| {
                member.user.name.to_lowercase().starts_with(&query)
                    || member
                        .nick
                        .as_deref()
                        .is_some_and(|nick| nick.to_lowercase().starts_with(&query))
            })
            .take(limit)
            .collect()
    };
    chunks(guild.id, &members, &not_found, presences, nonce)
}

fn chunks(
    guild: Id<GuildMarker>,
    members: &[&Member],
    not_found: &[Id<UserMarker>],
    presences: bool,
    nonce: Option<&String>,
) -> Answers {
    let pieces: Vec<&[&Member]> = if members.is_empty() {
        vec![&[]]
    } else {
        members.chunks(CHUNK_SIZE).collect()
    };
    let count = pieces.len();
    pieces
        .into_iter()
        .enumerate()
        .map(|(index, piece)| {
            let mut data = json!({
                "guild_id": guild.to_string(),
                "members": piece,
                "chunk_index": index,
                "chunk_count": count,
                "not_found": if index == 0 { json!(not_found) } else { json!([]) },
            });
            if presences {
                // The stand-in keeps no presences: every member is offline, and Discord leaves
                // offline members out of `presences`.
                data["presences"] = json!([]);
            }
            if let Some(nonce) = nonce {
                data["nonce"] = json!(nonce);
            }
            ("GUILD_MEMBERS_CHUNK", data)
        })
        .collect()
}

/// Request Soundboard Sounds → one SOUNDBOARD_SOUNDS per guild the session receives
/// (`soundboard_sounds`, `guild_id`); the stand-in's guilds have no sounds.
pub(crate) fn request_soundboard_sounds(
    core: &Core,
    asker: &Asker<'_>,
    request: &SoundboardRequest,
) -> Answers {
    request
        .guild_ids
        .iter()
        .filter(|guild| visible(core, asker, **guild).is_some())
        .map(|guild| {
            (
                "SOUNDBOARD_SOUNDS",
                json!({"soundboard_sounds": [], "guild_id": guild.to_string()}),
            )
        })
        .collect()
}
