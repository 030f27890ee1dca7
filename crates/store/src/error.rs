//! What can go wrong in the store, naming what failed.

use std::path::PathBuf;

/// The store's result.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A store operation that failed, and why.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The data directory could not be created.
    #[error("cannot create the store's data directory {}: {cause}", path.display())]
    CreateDataDir {
        /// The directory.
        path: PathBuf,
        /// Why.
        cause: std::io::Error,
    },

    /// The database could not be opened (or a connection to it could not be set up).
    #[error("cannot open the store at {location}: {cause}")]
    Open {
        /// The database file or address.
        location: String,
        /// Why.
        cause: sqlx::Error,
    },

    /// The PostgreSQL store's URL cannot be used (it does not parse, is not `postgres://`, or has
    /// a parameter the store does not take). Nothing was opened.
    #[error("the store URL {location} cannot be used: {reason}")]
    InvalidUrl {
        /// The URL with its password (and parameters) left out.
        location: String,
        /// What is wrong with it (never its password).
        reason: String,
    },

    /// The store file exists but is empty (0 bytes): a store that held guilds was truncated or
    /// replaced. Opening refuses rather than start over with nothing.
    #[error(
        "the store file {} is empty (0 bytes) although it exists: refusing to start with an empty \
         store, which would forget every guild. Restore the file from a backup; to start with an \
         empty store on purpose, set store.allow_fresh_start = true or remove the file (see \
         docs/runbooks/store.md)",
        path.display()
    )]
    EmptyStore {
        /// The database file.
        path: PathBuf,
    },

    /// The store file exists but cannot be opened as a database (not a SQLite file, damaged,
    /// unreadable). Opening refuses rather than start over with nothing.
    #[error(
        "the store file {} exists but cannot be opened: {cause}. Refusing to start rather than \
         lose the guilds in it: check the file's owner and permissions, restore it from a backup, \
         or move it away to start with an empty store (see docs/runbooks/store.md)",
        path.display()
    )]
    Unreadable {
        /// The database file.
        path: PathBuf,
        /// Why.
        cause: sqlx::Error,
    },

    /// A new store file could not be put in place.
    #[error("cannot create the store file {}: {cause}", path.display())]
    Create {
        /// The database file.
        path: PathBuf,
        /// Why.
        cause: std::io::Error,
    },

    /// A file the store has open is no longer the one at its path (deleted, or replaced by
    /// another): writes go into a file nobody will find again.
    #[error(
        "the store's file {} {what} while the store had it open: writes go into a file that is \
         no longer on disk, and a kill -9 loses them. {advice}",
        path.display()
    )]
    FilesGone {
        /// The file at issue (the database or its `-wal`).
        path: PathBuf,
        /// What happened to it ("was deleted", "was replaced by another file").
        what: &'static str,
        /// What to do.
        advice: &'static str,
    },

    /// A write for a guild whose rows are quarantined (damaged; see
    /// [`QuarantineGuard`](crate::QuarantineGuard)). Nothing was changed.
    #[error("guild {guild_id} is quarantined (its stored rows are damaged); nothing was written")]
    Quarantined {
        /// The guild.
        guild_id: u64,
    },

    /// The schema migrations could not be applied.
    #[error("cannot migrate the store at {location}: {cause}")]
    Migrate {
        /// The database file or address.
        location: String,
        /// Why.
        cause: sqlx::migrate::MigrateError,
    },

    /// A query failed (the database is unreachable, locked for too long, full, ...).
    #[error("store operation {operation}{} failed: {cause}", for_guild(*guild_id))]
    Database {
        /// The store operation, e.g. `enqueue`.
        operation: &'static str,
        /// The guild it was for, if any.
        guild_id: Option<u64>,
        /// Why.
        cause: sqlx::Error,
    },

    /// A stored value is not one the store could have written (a damaged or hand-edited database).
    #[error("corrupt data in table {table}{}: {detail}", for_guild(*guild_id))]
    Corrupt {
        /// The table the value is in.
        table: &'static str,
        /// The guild it belongs to, if any.
        guild_id: Option<u64>,
        /// What is wrong with it.
        detail: String,
    },

    /// A queue index is outside the queue. Nothing was changed.
    #[error("index {index} is out of range for the queue of guild {guild_id} ({len} entries)")]
    IndexOutOfRange {
        /// The guild.
        guild_id: u64,
        /// The index asked for.
        index: usize,
        /// The queue's length at the time.
        len: usize,
    },

    /// A volume above [`MAX_VOLUME`](crate::MAX_VOLUME). Nothing was changed.
    #[error("volume {volume} is out of range (0 to {max})", max = crate::MAX_VOLUME)]
    VolumeOutOfRange {
        /// The volume asked for.
        volume: u16,
    },

    /// A waiting `/play` request with an empty query. Nothing was changed.
    #[error("a waiting request of guild {guild_id} needs a query")]
    EmptyQuery {
        /// The guild.
        guild_id: u64,
    },

    /// A playlist name that cannot be saved (see
    /// [`MAX_PLAYLIST_NAME_CHARS`](crate::MAX_PLAYLIST_NAME_CHARS)). Nothing was changed.
    #[error(
        "the playlist name {reason}: a name is 1 to {max} characters (spaces around it are \
         dropped) without control characters; nothing was written",
        max = crate::MAX_PLAYLIST_NAME_CHARS
    )]
    PlaylistName {
        /// What is wrong with it.
        reason: crate::PlaylistNameProblem,
    },

    /// A playlist saved without tracks. Nothing was changed.
    #[error("a playlist needs at least one track; nothing was written")]
    PlaylistEmpty,

    /// A playlist of more tracks than [`MAX_PLAYLIST_TRACKS`](crate::MAX_PLAYLIST_TRACKS). Nothing
    /// was changed.
    #[error(
        "a playlist holds at most {max} tracks, and this one has {tracks}; nothing was written"
    )]
    PlaylistTooLong {
        /// How many tracks it has.
        tracks: usize,
        /// The most a playlist holds.
        max: usize,
    },

    /// A new playlist for a user who has [`MAX_PLAYLISTS_PER_USER`](crate::MAX_PLAYLISTS_PER_USER)
    /// already. Nothing was changed.
    #[error(
        "the user already has {max} playlists, the most one user may keep: delete one, or save \
         under an existing name to replace it; nothing was written"
    )]
    TooManyPlaylists {
        /// The most playlists a user keeps.
        max: usize,
    },

    /// A guild setting out of its bounds (see [`GuildSettings`](crate::GuildSettings)). Nothing
    /// was changed.
    #[error("guild setting {key} {message}; nothing was written")]
    GuildSetting {
        /// The setting, as [`GuildSettings`](crate::GuildSettings) names its field, e.g.
        /// `vote_skip_percent`.
        key: &'static str,
        /// What is wrong with it and its bounds, e.g. "is 0; it must be 1 to 100 (percent of the
        /// listeners)" (never the value of a text setting).
        message: String,
    },

    /// Filters that cannot be written as JSON. Nothing was changed.
    #[error("cannot encode the filters of guild {guild_id} as JSON: {cause}")]
    EncodeFilters {
        /// The guild.
        guild_id: u64,
        /// Why.
        cause: serde_json::Error,
    },

    /// A Discord cache record over [`MAX_DISCORD_CACHE_BYTES`](crate::MAX_DISCORD_CACHE_BYTES).
    /// Nothing was changed.
    #[error(
        "the Discord cache record is {bytes} bytes, over the limit of {max}; nothing was written",
        max = crate::MAX_DISCORD_CACHE_BYTES
    )]
    DiscordCacheTooLarge {
        /// Its size.
        bytes: usize,
    },

    /// A deploy began while another is still running (not final): one deploy at a time. Nothing
    /// was changed.
    #[error(
        "deploy {running} is still running (state {state}): one deploy at a time; finish it \
         before beginning another"
    )]
    DeployRunning {
        /// The deploy that is running.
        running: u64,
        /// Where it is.
        state: crate::DeployState,
    },

    /// A deploy id the ledger does not have. Nothing was changed.
    #[error("there is no deploy {id} in the ledger; nothing was written")]
    UnknownDeploy {
        /// The id asked for.
        id: u64,
    },

    /// A write to a deploy that is already over. Nothing was changed.
    #[error("deploy {id} is already finished ({state}); nothing was written")]
    DeployFinished {
        /// The deploy.
        id: u64,
        /// How it ended.
        state: crate::DeployState,
    },

    /// A state that does not fit the call: `finish_deploy` with a state that is not final, or
    /// `set_deploy_state` with one that is. Nothing was changed.
    #[error("{operation} cannot put deploy {id} in state {state}: {expected}; nothing was written")]
    WrongDeployState {
        /// `set_deploy_state` or `finish_deploy`.
        operation: &'static str,
        /// The deploy.
        id: u64,
        /// The state asked for.
        state: crate::DeployState,
        /// What the call takes.
        expected: &'static str,
    },

    /// A deploy with [`MAX_STEPS_PER_DEPLOY`](crate::MAX_STEPS_PER_DEPLOY) steps already. Nothing
    /// was changed.
    #[error("deploy {id} already has {max} steps, the most the ledger keeps; nothing was written")]
    TooManySteps {
        /// The deploy.
        id: u64,
        /// The most steps a deploy keeps.
        max: usize,
    },

    /// A name or build field of the deploy ledger that is empty or too long. Nothing was changed.
    #[error(
        "deploy ledger field {field} is {len} bytes; it must be 1 to {max} bytes; nothing was written"
    )]
    DeployField {
        /// The field, e.g. `step` or `binary`.
        field: &'static str,
        /// Its length in bytes.
        len: usize,
        /// The most bytes it may have.
        max: usize,
    },
}

fn for_guild(guild_id: Option<u64>) -> String {
    guild_id.map_or_else(String::new, |id| format!(" for guild {id}"))
}
