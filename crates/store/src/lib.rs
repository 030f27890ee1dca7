//! DimbyBot's persistent state: everything a bot process needs to find again after a restart, a
//! `kill -9` or a handover to another process, and nothing else.
//!
//! That is, per guild, what the music engine needs to restore playback (the queue, the current
//! track, a position snapshot, paused, volume, filters, loop mode, voice and text channel), and the
//! handover records (gateway sessions per shard, Lavalink session ids per node) that a process
//! leaves for its successor; and what listeners keep: 24/7 mode and autoplay per guild, each
//! guild's play history (the last [`HISTORY_LEN`] tracks, not loaded with the guild) and each
//! user's saved playlists; the now-playing panel's message per guild; and each guild's
//! [`GuildSettings`] (set with `/settings`, kept apart so that `/leave` does not erase them).
//! Besides, the deploy ledger: every blue-green deploy with its steps, and
//! the last known build of each colour (what an operator reads after an incident, and what a
//! rollback starts again).
//!
//! The store is the [`Store`] trait, used as `Arc<dyn Store>`. Every operation is one transaction
//! (a batch of positions: one per chunk) and is written through at once, so a crash loses at most
//! the write in flight. [`SqliteStore`] is the default backend (one SQLite file in WAL mode, which
//! two processes on one host can open at once); [`PgStore`] keeps the same store in a PostgreSQL
//! database that processes on any host share. The trait's semantics are written down as a
//! backend-independent test suite in `store::conformance` (cargo feature `conformance`) that every
//! backend runs.
//!
//! Ids (guild, user, channel) are Discord's `u64`s throughout; times are unix milliseconds and
//! positions and lengths milliseconds, all passed in by the caller (the store never reads a clock).

#[cfg(feature = "conformance")]
pub mod conformance;
mod deploys;
mod error;
mod guard;
mod postgres;
mod settings;
mod shared;
mod sqlite;

use std::fmt;

use async_trait::async_trait;
pub use lavalink::model::Filters;
/// The engine's own types, stored as they are: the loop mode (by name), the position snapshot and
/// what an advance does with the finished entry.
pub use music::{Finished, LoopMode, PositionSnapshot, UnknownLoopMode};

pub use deploys::{
    Colour, ColourBuild, DeployRecord, DeployState, DeployStep, MAX_BUILD_FIELD, MAX_DEPLOY_NAME,
    MAX_DEPLOY_TEXT, MAX_STEPS_PER_DEPLOY, NewDeploy, StepOutcome, UnknownLedgerName,
};
pub use error::{Error, Result};
pub use guard::QuarantineGuard;
pub use postgres::{PgConfig, PgStore};
pub use settings::{
    GuildSettings, MAX_DEFAULT_VOLUME, MAX_LOCALE_CHARS, PanelMessage, VOTE_SKIP_PERCENT,
};
pub use sqlite::{SqliteConfig, SqliteStore, Synchronous};

/// The highest volume the bot accepts, as the bot sees it (100 is unchanged).
pub const MAX_VOLUME: u16 = 200;

/// The volume of a guild that never set one.
pub const DEFAULT_VOLUME: u16 = 100;

/// One track in a queue (or the current one), with what is needed to show it without decoding.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct QueueEntry {
    /// The track as Lavalink encodes it (base64), ready to play.
    pub track: String,
    /// The Discord user who asked for it.
    pub requester_id: u64,
    /// The track's title.
    pub title: String,
    /// The track's author.
    pub author: String,
    /// The track's length in milliseconds (streams report Lavalink's "infinite" length).
    pub length_ms: u64,
    /// Where the track came from, if the source has an address.
    pub uri: Option<String>,
    /// When it was added to the queue, unix milliseconds.
    pub added_at_unix_ms: u64,
}

/// Everything stored about one guild: what the music engine restores after a restart.
#[derive(Debug, Clone, PartialEq)]
pub struct GuildState {
    /// The guild.
    pub guild_id: u64,
    /// The upcoming entries, in play order (index 0 plays next).
    pub queue: Vec<QueueEntry>,
    /// The entry playing (or paused on), if any.
    pub current: Option<QueueEntry>,
    /// The last position snapshot of the current entry.
    pub position: PositionSnapshot,
    /// Whether the player is paused.
    pub paused: bool,
    /// Volume as the bot sees it, 0 to [`MAX_VOLUME`].
    pub volume: u16,
    /// The player's filters (default: none).
    pub filters: Filters,
    /// The loop mode.
    pub loop_mode: LoopMode,
    /// The voice channel the bot is (or should be) in.
    pub voice_channel_id: Option<u64>,
    /// The text channel where the bot reports (now playing, errors).
    pub text_channel_id: Option<u64>,
    /// `/play` requests waiting for a Lavalink node, oldest first.
    pub waiting: Vec<WaitingRequest>,
    /// 24/7 mode: the bot stays in its voice channel with nothing to play (default off).
    pub stay: bool,
    /// Autoplay: when the queue runs out, the bot plays related tracks (default off).
    pub autoplay: bool,
    /// The now-playing panel's message, if the bot posted one (default none).
    pub panel: Option<PanelMessage>,
}

/// A `/play` request that could not be looked up because no Lavalink node took players; it is
/// played when one is back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WaitingRequest {
    /// Its id (increasing with arrival), for [`Store::remove_waiting`].
    pub id: u64,
    /// What was asked for.
    pub query: String,
    /// Who asked.
    pub requester_id: u64,
    /// When, unix milliseconds.
    pub requested_at_unix_ms: u64,
}

impl GuildState {
    /// The state of a guild that was never written: an empty queue and every setting at its
    /// default.
    pub fn new(guild_id: u64) -> Self {
        Self {
            guild_id,
            queue: Vec::new(),
            current: None,
            position: PositionSnapshot::default(),
            paused: false,
            volume: DEFAULT_VOLUME,
            filters: Filters::default(),
            loop_mode: LoopMode::Off,
            voice_channel_id: None,
            text_channel_id: None,
            waiting: Vec::new(),
            stay: false,
            autoplay: false,
            panel: None,
        }
    }

    /// Where the current entry should be at `now_unix_ms`, extrapolated from the snapshot: the
    /// snapshot's position while paused, otherwise plus the time since, capped at the entry's length.
    /// (It assumes normal speed: a timescale filter is not taken into account.)
    pub fn position_at(&self, now_unix_ms: u64) -> u64 {
        let position = self.position.position_ms;
        if self.paused {
            return position;
        }
        let moved = position.saturating_add(now_unix_ms.saturating_sub(self.position.at_unix_ms));
        match &self.current {
            Some(entry) => moved.min(entry.length_ms),
            None => moved,
        }
    }
}

/// How many tracks a guild's play history keeps: [`Store::add_history`] drops the oldest beyond
/// this many.
pub const HISTORY_LEN: usize = 50;

/// A track a guild played, from its play history ([`Store::history`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryEntry {
    /// Its id (increasing with each track added, never reused), for [`Store::remove_history`].
    pub id: u64,
    /// The track, as it was queued.
    pub entry: QueueEntry,
    /// When it started playing, unix milliseconds.
    pub played_at_unix_ms: u64,
}

/// The most playlists one user keeps ([`Error::TooManyPlaylists`] past it).
pub const MAX_PLAYLISTS_PER_USER: usize = 25;

/// The most tracks one playlist holds ([`Error::PlaylistTooLong`] past it).
pub const MAX_PLAYLIST_TRACKS: usize = 500;

/// The longest playlist name, in characters (Unicode scalar values) once trimmed
/// ([`Error::PlaylistName`] past it).
pub const MAX_PLAYLIST_NAME_CHARS: usize = 100;

/// One of a user's saved playlists as [`Store::playlists`] lists them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlaylistSummary {
    /// Its name, spelled as it was last saved.
    pub name: String,
    /// How many tracks it holds.
    pub tracks: usize,
    /// When it was last saved, unix milliseconds.
    pub updated_at_unix_ms: u64,
}

/// A saved playlist with its tracks ([`Store::playlist`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Playlist {
    /// The Discord user it belongs to.
    pub user_id: u64,
    /// Its name, spelled as it was last saved.
    pub name: String,
    /// Its tracks, in order.
    pub entries: Vec<QueueEntry>,
    /// When it was last saved, unix milliseconds.
    pub updated_at_unix_ms: u64,
}

/// What [`Store::save_playlist`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SavedPlaylist {
    /// Whether a playlist of that name (matched without regard to case) was there and was
    /// replaced.
    pub replaced: bool,
    /// How many tracks it holds now.
    pub tracks: usize,
}

/// What is wrong with a playlist name ([`Error::PlaylistName`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PlaylistNameProblem {
    /// Nothing is left once spaces around it are dropped.
    Empty,
    /// Longer than [`MAX_PLAYLIST_NAME_CHARS`] characters (trimmed).
    TooLong {
        /// Its length in characters, trimmed.
        chars: usize,
    },
    /// It holds a control character (a line break, a tab, ...).
    ControlCharacter,
}

impl fmt::Display for PlaylistNameProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Empty => f.write_str("is empty"),
            Self::TooLong { chars } => write!(
                f,
                "is {chars} characters long, over the limit of {MAX_PLAYLIST_NAME_CHARS}"
            ),
            Self::ControlCharacter => f.write_str("contains a control character"),
        }
    }
}

/// The playlist name as it is stored (trimmed) and its key (lower case: names match without regard
/// to case), or what is wrong with it.
pub(crate) fn playlist_name(name: &str) -> Result<(&str, String)> {
    let name = name.trim();
    let problem = if name.is_empty() {
        Some(PlaylistNameProblem::Empty)
    } else if name.chars().any(char::is_control) {
        Some(PlaylistNameProblem::ControlCharacter)
    } else {
        let chars = name.chars().count();
        (chars > MAX_PLAYLIST_NAME_CHARS).then_some(PlaylistNameProblem::TooLong { chars })
    };
    match problem {
        Some(reason) => Err(Error::PlaylistName { reason }),
        None => Ok((name, playlist_key(name))),
    }
}

/// The key a playlist name is matched by: trimmed and in lower case (Rust's Unicode
/// `to_lowercase`, the same whatever the database's locale).
pub(crate) fn playlist_key(name: &str) -> String {
    name.trim().to_lowercase()
}

/// Checks what [`Store::save_playlist`] is given before any database work, and returns the name
/// to store and its key: the name first, then the tracks (none, or too many).
pub(crate) fn check_playlist<'a>(
    name: &'a str,
    entries: &[QueueEntry],
) -> Result<(&'a str, String)> {
    let named = playlist_name(name)?;
    if entries.is_empty() {
        return Err(Error::PlaylistEmpty);
    }
    if entries.len() > MAX_PLAYLIST_TRACKS {
        return Err(Error::PlaylistTooLong {
            tracks: entries.len(),
            max: MAX_PLAYLIST_TRACKS,
        });
    }
    Ok(named)
}

/// A guild whose stored rows are damaged (a gap in its queue positions, a value the store could
/// not have written, entries without a guild row): [`Store::load_all_guilds`] leaves it out of the
/// restore and reports it here, and its rows stay as they are for a person to repair or drop.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Damaged {
    /// The guild.
    pub guild_id: u64,
    /// What is damaged: the table and what is wrong in it (the first problem found).
    pub problem: String,
}

/// What [`Store::load_all_guilds`] found: the guilds that load, and the damaged ones set apart.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LoadedGuilds {
    /// Every guild whose state loads, ordered by guild id.
    pub guilds: Vec<GuildState>,
    /// Every guild whose rows are damaged, ordered by guild id (none of them is in `guilds`).
    pub damaged: Vec<Damaged>,
}

/// One guild's position for [`Store::save_positions`]: what one [`Store::save_position`] call
/// takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PositionWrite {
    /// The guild.
    pub guild_id: u64,
    /// Where its current entry was, and when.
    pub position: PositionSnapshot,
    /// Whether its player is paused.
    pub paused: bool,
}

impl PositionWrite {
    /// The write of `position` and `paused` for `guild_id`.
    pub const fn new(guild_id: u64, position: PositionSnapshot, paused: bool) -> Self {
        Self {
            guild_id,
            position,
            paused,
        }
    }
}

/// A shard's Discord gateway session, left by a process that hands over so its successor can
/// resume it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct GatewaySession {
    /// The shard's number.
    pub shard_id: u32,
    /// How many shards there were (a session resumes only with the same shard layout).
    pub shard_total: u32,
    /// The gateway session id.
    pub session_id: String,
    /// The last sequence number received.
    pub sequence: u64,
    /// The URL to resume the session at.
    pub resume_url: String,
    /// When the record was written, unix milliseconds (to tell a stale one).
    pub saved_at_unix_ms: u64,
}

/// A Lavalink node's session id, left by a process that hands over so its successor can resume it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LavalinkSession {
    /// The node's configured name.
    pub node: String,
    /// The session id on that node.
    pub session_id: String,
    /// When the record was written, unix milliseconds (to tell a stale one).
    pub saved_at_unix_ms: u64,
}

/// The Discord cache a process leaves with its gateway sessions: its successor resumes the
/// sessions, which get no GUILD_CREATE, and replays this instead. Opaque to the store (the
/// Discord layer's JSON).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DiscordCache {
    /// The snapshot, as the Discord layer wrote it.
    pub snapshot: String,
    /// When the record was written, unix milliseconds (to tell a stale one).
    pub saved_at_unix_ms: u64,
}

/// Whose handover records these are: the shards a process runs. Several processes sharing one
/// store (each running its own range of the application's shards) each leave and take only their
/// own: a replacement for the process of shards 2-3 of 8 resumes what that process handed over,
/// never another's.
///
/// A process that runs every shard (`0..total`) is the whole application: its records are kept
/// where a store without scopes kept them (schema version 5), so that builds before scopes and
/// after them hand over to each other in a blue-green deploy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct HandoverScope {
    /// The first shard the process runs.
    pub first: u32,
    /// The last shard it runs (inclusive).
    pub last: u32,
    /// How many shards the application has.
    pub total: u32,
}

impl HandoverScope {
    /// Every shard of an application of `total` shards.
    pub const fn whole(total: u32) -> Self {
        Self {
            first: 0,
            last: total.saturating_sub(1),
            total,
        }
    }

    /// Whether this is every shard of the application.
    pub const fn is_whole(&self) -> bool {
        self.first == 0 && self.last.saturating_add(1) >= self.total
    }

    /// Whether `shard` is one of the scope's.
    pub const fn contains(&self, shard: u32) -> bool {
        self.first <= shard && shard <= self.last
    }

    /// How the scope is written in the store: `first-last/total`.
    pub fn label(&self) -> String {
        format!("{}-{}/{}", self.first, self.last, self.total)
    }
}

impl fmt::Display for HandoverScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "shards {}-{} of {}", self.first, self.last, self.total)
    }
}

/// The largest Discord cache record accepted, in bytes (some 20,000 guilds of a bot without the
/// privileged member intent).
pub const MAX_DISCORD_CACHE_BYTES: usize = 64 * 1024 * 1024;

/// The persistent state, independent of the database behind it.
///
/// Every method is one transaction (except [`Store::save_positions`], a batch of independent
/// writes): it happens completely or not at all, and once it returns `Ok` it is durable against a
/// crash of the process. Queue indices are 0-based, index 0 being the entry that plays next. Bad
/// input (an index out of range, a volume above [`MAX_VOLUME`]) is an error that changes nothing.
///
/// Writes that set something (enqueue, replace, set current, settings, the panel) create the
/// guild's state with defaults if there was none; writes that only take something away (remove,
/// move, clear, advance, save position) leave an unknown guild unknown. [`GuildSettings`] are not
/// part of the guild's state: setting them creates no state, and forgetting the guild keeps them.
#[async_trait]
pub trait Store: Send + Sync + fmt::Debug {
    /// One round trip to the database.
    async fn ping(&self) -> Result<()>;

    /// What the readiness probe asks: the database answers and takes a write (one small committed
    /// write to a table of its own), and, for a file-based backend, the files it writes are still
    /// the ones on disk (a deleted or replaced file is [`Error::FilesGone`]).
    async fn check(&self) -> Result<()>;

    /// The state of one guild, or `None` if nothing is stored for it.
    async fn load_guild(&self, guild_id: u64) -> Result<Option<GuildState>>;

    /// The state of every guild with stored state, ordered by guild id (restore at start). A guild
    /// whose rows are damaged does not fail the load: it is left out of `guilds` and listed in
    /// `damaged`, its rows untouched.
    async fn load_all_guilds(&self) -> Result<LoadedGuilds> {
        self.load_guilds(HandoverScope::whole(1)).await
    }

    /// As [`load_all_guilds`](Self::load_all_guilds), for the guilds on the shards of `scope`
    /// only (a guild is on shard `(id >> 22) % total`, as Discord routes it), selected by the
    /// database: a process running some of the application's shards restores its own guilds
    /// without reading the others'.
    async fn load_guilds(&self, scope: HandoverScope) -> Result<LoadedGuilds>;

    /// Inserts `entries`, in order, at index `at` (`None`: at the end) and returns the index of the
    /// first one. `at` may equal the queue's length; above it is [`Error::IndexOutOfRange`].
    async fn enqueue(
        &self,
        guild_id: u64,
        entries: &[QueueEntry],
        at: Option<usize>,
    ) -> Result<usize>;

    /// Removes and returns the entry at `index`; the ones after it move up.
    async fn remove(&self, guild_id: u64, index: usize) -> Result<QueueEntry>;

    /// Moves the entry at `from` so that it ends up at index `to` (both within the queue).
    async fn move_entry(&self, guild_id: u64, from: usize, to: usize) -> Result<()>;

    /// Empties the queue (the current entry stays) and returns how many entries were removed.
    async fn clear_queue(&self, guild_id: u64) -> Result<usize>;

    /// Replaces the whole queue with `entries` (the current entry stays); a shuffle is this with the
    /// entries in their new order.
    async fn replace_queue(&self, guild_id: u64, entries: &[QueueEntry]) -> Result<()>;

    /// Sets (or clears) the current entry and its position without touching the queue ("play
    /// now", "stop").
    async fn set_current(
        &self,
        guild_id: u64,
        entry: Option<&QueueEntry>,
        position: PositionSnapshot,
    ) -> Result<()>;

    /// The engine's "next track", in one step: deals with the entry that was current as `finished`
    /// says, pops the head of the queue into current (or clears current if the queue is empty),
    /// resets the position to 0 at `at_unix_ms` (paused is left as it was) and returns the new
    /// current entry.
    async fn advance(
        &self,
        guild_id: u64,
        finished: Finished,
        at_unix_ms: u64,
    ) -> Result<Option<QueueEntry>>;

    /// The hot path: records a position snapshot and the paused flag in one `UPDATE`. Returns
    /// whether the guild has state (a tick racing [`Store::forget_guild`] does not bring it back).
    async fn save_position(
        &self,
        guild_id: u64,
        position: PositionSnapshot,
        paused: bool,
    ) -> Result<bool>;

    /// The position tick: [`Store::save_position`] for many guilds in one go (the SQLite backend
    /// writes up to 500 rows per transaction, so a large batch never holds the write lock for
    /// long). Returns how many guilds were written.
    ///
    /// Like `save_position` it never creates a guild, and in addition it never puts an older
    /// snapshot over a newer one: a guild whose stored snapshot is as new as the write's or newer
    /// (`at_unix_ms`) is left alone. The tick takes its snapshots under each guild's lock but
    /// writes them after letting go, so a command that wrote the guild in between (a pause, a
    /// seek, a skip: all stamped with their own, later, time) must win. Each write stands alone:
    /// on an error, some of the batch may be written and some not; an empty batch does nothing.
    async fn save_positions(&self, writes: &[PositionWrite]) -> Result<usize>;

    /// Sets the volume, 0 to [`MAX_VOLUME`].
    async fn set_volume(&self, guild_id: u64, volume: u16) -> Result<()>;

    /// Sets the filters (`Filters::default()` is none).
    async fn set_filters(&self, guild_id: u64, filters: &Filters) -> Result<()>;

    /// Sets the loop mode.
    async fn set_loop(&self, guild_id: u64, mode: LoopMode) -> Result<()>;

    /// Turns 24/7 mode on or off ([`GuildState::stay`]).
    async fn set_stay(&self, guild_id: u64, stay: bool) -> Result<()>;

    /// Turns autoplay on or off ([`GuildState::autoplay`]).
    async fn set_autoplay(&self, guild_id: u64, autoplay: bool) -> Result<()>;

    /// Sets the voice and text channels (`None` clears one).
    async fn set_channels(
        &self,
        guild_id: u64,
        voice_channel_id: Option<u64>,
        text_channel_id: Option<u64>,
    ) -> Result<()>;

    /// Sets (or, with `None`, clears) the message of the guild's now-playing panel
    /// ([`GuildState::panel`]); an upsert like [`Store::set_channels`], so it creates the guild's
    /// state with defaults if there was none, even to clear it.
    async fn set_panel(&self, guild_id: u64, panel: Option<PanelMessage>) -> Result<()>;

    /// Deletes everything stored for the guild's playback (its state, queue, current entry, panel,
    /// waiting requests and play history); returns whether there was anything. Its
    /// [`GuildSettings`] are kept (and do not count as something to forget).
    async fn forget_guild(&self, guild_id: u64) -> Result<bool>;

    /// The guild's settings, or [`GuildSettings::default`] if none were stored.
    async fn guild_settings(&self, guild_id: u64) -> Result<GuildSettings>;

    /// Stores the guild's settings, replacing the ones before, all at once. Refused with nothing
    /// written, as [`Error::GuildSetting`] naming the setting and its bounds: a
    /// `vote_skip_percent` outside [`VOTE_SKIP_PERCENT`], a `default_volume` above
    /// [`MAX_DEFAULT_VOLUME`], and a `locale` that is empty, longer than [`MAX_LOCALE_CHARS`]
    /// characters or holds anything but ASCII letters, digits, `-` and `_`. Creates no guild
    /// state; [`Store::forget_guild`] keeps them.
    async fn set_guild_settings(&self, guild_id: u64, settings: &GuildSettings) -> Result<()>;

    /// Keeps a `/play` request that waits for a Lavalink node (creating the guild's state if
    /// needed) and returns it with its id. An empty query is [`Error::EmptyQuery`].
    async fn add_waiting(
        &self,
        guild_id: u64,
        query: &str,
        requester_id: u64,
        requested_at_unix_ms: u64,
    ) -> Result<WaitingRequest>;

    /// Drops a waiting request (played, or failed for good); returns whether it was there.
    async fn remove_waiting(&self, guild_id: u64, id: u64) -> Result<bool>;

    /// Appends a track to the guild's play history (creating the guild's state if needed) and, in
    /// the same step, drops the oldest beyond [`HISTORY_LEN`]; returns the new entry with its id
    /// (ids increase with each entry added and are never reused). The history is not part of
    /// [`GuildState`]: read it with [`Store::history`].
    async fn add_history(
        &self,
        guild_id: u64,
        entry: &QueueEntry,
        played_at_unix_ms: u64,
    ) -> Result<HistoryEntry>;

    /// The guild's play history, newest first, at most `limit` entries (and at most
    /// [`HISTORY_LEN`]); empty for a guild without one.
    async fn history(&self, guild_id: u64, limit: usize) -> Result<Vec<HistoryEntry>>;

    /// Drops one entry of the guild's play history; returns whether it was there.
    async fn remove_history(&self, guild_id: u64, id: u64) -> Result<bool>;

    /// Saves a user's playlist under `name` (trimmed; matched without regard to case), replacing
    /// the tracks of the user's playlist of that name if there is one (which then takes this
    /// spelling), in one step. Refused, with nothing written: a name that is empty, longer than
    /// [`MAX_PLAYLIST_NAME_CHARS`] or holds a control character ([`Error::PlaylistName`]), no
    /// entries ([`Error::PlaylistEmpty`]), more than [`MAX_PLAYLIST_TRACKS`]
    /// ([`Error::PlaylistTooLong`]), and a new name when the user has [`MAX_PLAYLISTS_PER_USER`]
    /// already ([`Error::TooManyPlaylists`], also when two saves race for the last place).
    async fn save_playlist(
        &self,
        user_id: u64,
        name: &str,
        entries: &[QueueEntry],
        now_unix_ms: u64,
    ) -> Result<SavedPlaylist>;

    /// The user's playlist of that name (matched without regard to case), or `None`.
    async fn playlist(&self, user_id: u64, name: &str) -> Result<Option<Playlist>>;

    /// The user's playlists, ordered by name without regard to case.
    async fn playlists(&self, user_id: u64) -> Result<Vec<PlaylistSummary>>;

    /// Deletes the user's playlist of that name (matched without regard to case); returns
    /// whether there was one.
    async fn delete_playlist(&self, user_id: u64, name: &str) -> Result<bool>;

    /// Records a shard's gateway session for a successor, replacing any earlier one for that shard.
    async fn save_gateway_session(&self, session: &GatewaySession) -> Result<()>;

    /// Returns the recorded gateway sessions of the scope's shards (for the whole application:
    /// every one, whatever its shard count), ordered by shard, and deletes them in the same step:
    /// two processes calling it at once never both get the same session.
    async fn take_gateway_sessions(&self, scope: HandoverScope) -> Result<Vec<GatewaySession>>;

    /// Records a node's Lavalink session id for the scope's successor, replacing any earlier one
    /// of that scope for that node.
    async fn save_lavalink_session(
        &self,
        scope: HandoverScope,
        session: &LavalinkSession,
    ) -> Result<()>;

    /// Returns the scope's recorded Lavalink sessions, ordered by node name, and deletes them in
    /// the same step: two processes calling it at once never both get the same session.
    async fn take_lavalink_sessions(&self, scope: HandoverScope) -> Result<Vec<LavalinkSession>>;

    /// Records the scope's Discord cache for its successor, replacing any earlier record of that
    /// scope. A snapshot over [`MAX_DISCORD_CACHE_BYTES`] is refused.
    async fn save_discord_cache(&self, scope: HandoverScope, cache: &DiscordCache) -> Result<()>;

    /// Returns the scope's recorded Discord cache, if any, and deletes it in the same step.
    async fn take_discord_cache(&self, scope: HandoverScope) -> Result<Option<DiscordCache>>;

    /// Reserves the next identify of an identify bucket (a shard's `shard % max_concurrency`)
    /// for the application's processes together: returns the unix millisecond at which the
    /// caller may identify, the later of `now_unix_ms` and the bucket's previous reservation plus
    /// `spacing_ms`. Atomic across processes: two reservations of one bucket are always at least
    /// `spacing_ms` apart. The caller's clock decides `now`: processes on several hosts need
    /// synchronised clocks (their skew shortens the spacing).
    async fn reserve_identify(&self, bucket: u32, now_unix_ms: u64, spacing_ms: u64)
    -> Result<u64>;

    /// Begins a deploy in state [`DeployState::Started`] and returns its id (ids increase with each
    /// deploy). One deploy at a time: while another is not final this is
    /// [`Error::DeployRunning`], naming it. A version or commit that is empty or longer than
    /// [`MAX_DEPLOY_NAME`] bytes is [`Error::DeployField`].
    async fn begin_deploy(&self, deploy: &NewDeploy) -> Result<u64>;

    /// Appends a step to a running deploy (steps keep the order they were recorded in). A step name
    /// that is empty or longer than [`MAX_DEPLOY_NAME`] bytes is [`Error::DeployField`]; a detail
    /// longer than [`MAX_DEPLOY_TEXT`] bytes is cut to that, ending in a marker. Refused for an
    /// unknown id ([`Error::UnknownDeploy`]), a final deploy ([`Error::DeployFinished`]) and one
    /// with [`MAX_STEPS_PER_DEPLOY`] steps already ([`Error::TooManySteps`]).
    async fn record_deploy_step(&self, id: u64, step: &DeployStep) -> Result<()>;

    /// Moves a running deploy to a state that is not final (a final one is
    /// [`Error::WrongDeployState`]: use [`Store::finish_deploy`]), stamped `at_ms`. Refused for an
    /// unknown id or a final deploy, as [`Store::record_deploy_step`].
    async fn set_deploy_state(&self, id: u64, state: DeployState, at_ms: u64) -> Result<()>;

    /// Ends a running deploy in `state`, which must be final ([`Error::WrongDeployState`]
    /// otherwise), with an optional reason (cut to [`MAX_DEPLOY_TEXT`] bytes) and the time it
    /// ended. Refused for an unknown id, or a deploy already final (finishing twice).
    async fn finish_deploy(
        &self,
        id: u64,
        state: DeployState,
        reason: Option<&str>,
        at_ms: u64,
    ) -> Result<()>;

    /// The newest `limit` deploys, newest (highest id) first.
    async fn deploys(&self, limit: usize) -> Result<Vec<DeployRecord>>;

    /// One deploy with its steps in the order they were recorded, or `None` for an unknown id.
    async fn deploy(&self, id: u64) -> Result<Option<(DeployRecord, Vec<DeployStep>)>>;

    /// Records `build` as its colour's last known build (replacing the one before) and that colour
    /// as the active one, in one step. A field that is empty or longer than [`MAX_BUILD_FIELD`]
    /// bytes is [`Error::DeployField`].
    async fn set_active_colour(&self, build: &ColourBuild) -> Result<()>;

    /// The active colour's build, or `None` if none was ever set.
    async fn active_colour(&self) -> Result<Option<ColourBuild>>;

    /// The last known build of `colour` (active or not), or `None` if it never ran.
    async fn colour_build(&self, colour: Colour) -> Result<Option<ColourBuild>>;
}
