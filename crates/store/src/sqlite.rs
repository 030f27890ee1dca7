//! The SQLite backend: one file in a data directory, in WAL mode, which two processes can open at
//! once.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use async_trait::async_trait;
use sqlx::Sqlite;
use sqlx::migrate::{MigrateError, Migrator};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePool, SqlitePoolOptions,
    SqliteRow, SqliteSynchronous,
};

use crate::deploys::{
    MAX_STEPS_PER_DEPLOY, bounded_text, check_colour_build, check_new_deploy, check_step,
};
use crate::settings::check_guild_settings;
use crate::shared::{
    Sorter, StoreRow as _, build_from_row, column, corrupt, count_from_db, count_to_db, db,
    deploy_from_row, entry_from_row, entry_of, from_db, history_from_row, index_to_pos,
    len_from_db, named, newest_per_guild, opt_to_db, panel_from_row, problem, push_queue_row,
    settings_from_row, shard_binds, step_from_row, summary_from_row, to_db, waiting_from_row,
};
use crate::{
    Colour, ColourBuild, Damaged, DeployRecord, DeployState, DeployStep, DiscordCache, Error,
    Filters, Finished, GatewaySession, GuildSettings, GuildState, HISTORY_LEN, HandoverScope,
    HistoryEntry, LavalinkSession, LoadedGuilds, LoopMode, MAX_PLAYLISTS_PER_USER, MAX_VOLUME,
    NewDeploy, PanelMessage, Playlist, PlaylistSummary, PositionSnapshot, PositionWrite,
    QueueEntry, Result, SavedPlaylist, Store, WaitingRequest, check_playlist, playlist_key,
};

/// How often opening tries to connect when the database answers with an error (another process
/// may be setting the same new file up at that moment).
const OPEN_ATTEMPTS: u32 = 5;

/// How often opening retries migrations that failed on a database error (another process may be
/// migrating the same file at that moment).
const MIGRATE_ATTEMPTS: u32 = 5;

/// When SQLite makes a commit reach the disk (`PRAGMA synchronous`, in WAL mode).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum Synchronous {
    /// Commits survive a crash or `kill -9` of the process; a power loss or OS crash may lose the
    /// last ones (never corrupts). One fsync per checkpoint instead of per commit: the default.
    #[default]
    Normal,
    /// Commits survive a power loss too, at the price of an fsync per commit.
    Full,
}

/// Where and how to open the SQLite store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqliteConfig {
    /// The directory that holds the database file (and its `-wal` and `-shm` files); created if
    /// missing.
    pub data_dir: PathBuf,
    /// The database file's name in `data_dir`.
    pub file_name: String,
    /// How long a write waits for another connection's (or process's) write to finish before it
    /// fails.
    pub busy_timeout: Duration,
    /// The most connections the pool opens (SQLite runs one write at a time; reads run alongside).
    pub max_connections: u32,
    /// When a commit reaches the disk.
    pub synchronous: Synchronous,
    /// Whether an existing but empty (0 bytes) database file may start as a new, empty store.
    /// Off by default: an empty file where a store was is a truncated store, and opening it as a
    /// new one would forget every guild ([`Error::EmptyStore`]).
    pub allow_fresh_start: bool,
}

impl SqliteConfig {
    /// The default file name in the data directory.
    pub const DEFAULT_FILE_NAME: &'static str = "dimby.sqlite3";

    /// The defaults for a store in `data_dir`: file `dimby.sqlite3`, busy timeout 5 s, 4
    /// connections, synchronous `NORMAL`, no fresh start on an empty file.
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            data_dir: data_dir.into(),
            file_name: Self::DEFAULT_FILE_NAME.to_owned(),
            busy_timeout: Duration::from_secs(5),
            max_connections: 4,
            synchronous: Synchronous::Normal,
            allow_fresh_start: false,
        }
    }

    /// The database file's path.
    pub fn path(&self) -> PathBuf {
        self.data_dir.join(&self.file_name)
    }
}

/// The [`Store`] on a SQLite file.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
    path: PathBuf,
    /// `path` made absolute, as `/proc/self/fd` names the files the process has open.
    #[cfg_attr(not(target_os = "linux"), allow(dead_code))]
    absolute: PathBuf,
    /// The database file this store opened.
    opened: FileId,
}

/// A file's identity: its device and inode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FileId {
    dev: u64,
    ino: u64,
}

fn file_id(path: &Path) -> std::io::Result<FileId> {
    use std::os::unix::fs::MetadataExt as _;
    let meta = std::fs::metadata(path)?;
    Ok(FileId {
        dev: meta.dev(),
        ino: meta.ino(),
    })
}

/// Whether SQLite answered "busy" or "locked" (primary result codes 5 and 6).
fn busy(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Database(error) => error
            .code()
            .and_then(|code| code.parse::<i32>().ok())
            .is_some_and(|code| matches!(code & 0xff, 5 | 6)),
        _ => false,
    }
}

/// Connection options for the file at `path`.
fn options(config: &SqliteConfig, path: &Path, create: bool) -> SqliteConnectOptions {
    SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(create)
        .journal_mode(SqliteJournalMode::Wal)
        .busy_timeout(config.busy_timeout)
        .foreign_keys(true)
        .synchronous(match config.synchronous {
            Synchronous::Normal => SqliteSynchronous::Normal,
            Synchronous::Full => SqliteSynchronous::Full,
        })
}

/// Tells apart the temporary files of new stores set up at once by one process.
static NEW_FILES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Sets a new, migrated database up under a temporary name next to `path` and links it into
/// place, unless another process (or pool) got there first, in which case theirs is kept.
async fn create_new(config: &SqliteConfig, path: &Path) -> Result<()> {
    let n = NEW_FILES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let temp = config.data_dir.join(format!(
        "{}.new-{}-{n}",
        config.file_name,
        std::process::id()
    ));
    let location = temp.display().to_string();
    let pool = SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(options(config, &temp, true))
        .await
        .map_err(|cause| Error::Open {
            location: location.clone(),
            cause,
        })?;
    let migrated = migrate(&pool).await;
    // Closing the only connection checkpoints the WAL into the file and removes it.
    pool.close().await;
    let linked = migrated
        .map_err(|cause| Error::Migrate { location, cause })
        .and_then(|()| match std::fs::hard_link(&temp, path) {
            Ok(()) => Ok(true),
            // Another process (or pool) put its new file there first: that one is kept.
            Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
            Err(cause) => Err(Error::Create {
                path: path.to_owned(),
                cause,
            }),
        });
    for leftover in [temp.clone(), wal_of(&temp), shm_of(&temp)] {
        if let Err(error) = std::fs::remove_file(&leftover)
            && error.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!(path = %leftover.display(), %error, "could not remove a temporary store file");
        }
    }
    if linked? {
        tracing::info!(path = %path.display(), "created a new, empty store");
    }
    Ok(())
}

/// A file the process has open, by the path it was opened at, and the identity of what it has
/// open.
#[cfg(target_os = "linux")]
struct OpenFile {
    path: PathBuf,
    id: FileId,
}

/// The files among `paths` that the process has open (`/proc/self/fd`), each once per descriptor,
/// with the identity of the file each descriptor holds (which is no longer the one at the path if
/// it was deleted or replaced). Descriptors that close meanwhile are left out.
#[cfg(target_os = "linux")]
fn open_files(paths: &[&Path]) -> Vec<OpenFile> {
    use std::os::unix::ffi::OsStrExt as _;
    const DELETED: &[u8] = b" (deleted)";
    let Ok(fds) = std::fs::read_dir("/proc/self/fd") else {
        return Vec::new();
    };
    let mut found = Vec::new();
    for fd in fds.flatten() {
        let Ok(target) = std::fs::read_link(fd.path()) else {
            continue;
        };
        let bytes = target.as_os_str().as_bytes();
        let bytes = bytes.strip_suffix(DELETED).unwrap_or(bytes);
        let Some(path) = paths.iter().find(|p| p.as_os_str().as_bytes() == bytes) else {
            continue;
        };
        // `metadata` follows the descriptor's link to the file it holds, deleted or not.
        if let Ok(id) = file_id(&fd.path()) {
            found.push(OpenFile {
                path: path.to_path_buf(),
                id,
            });
        }
    }
    found
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// The `-wal` file of the database at `path`.
fn wal_of(path: &Path) -> PathBuf {
    with_suffix(path, "-wal")
}

/// The `-shm` file of the database at `path`.
fn shm_of(path: &Path) -> PathBuf {
    with_suffix(path, "-shm")
}

impl SqliteStore {
    /// Opens the database file in the configured data directory (creating the directory, and the
    /// file if there is none yet), sets WAL mode, the busy timeout, foreign keys and the
    /// synchronous level on every connection, and applies the schema migrations that are not
    /// applied yet.
    ///
    /// A new file is set up under a temporary name and linked into place complete, so the file at
    /// the path is never empty in normal operation: an existing file of 0 bytes was truncated, and
    /// opening refuses it ([`Error::EmptyStore`]) unless `allow_fresh_start` is set; an existing
    /// file that does not open is [`Error::Unreadable`]. Neither starts over with nothing.
    pub async fn open(config: &SqliteConfig) -> Result<Self> {
        std::fs::create_dir_all(&config.data_dir).map_err(|cause| Error::CreateDataDir {
            path: config.data_dir.clone(),
            cause,
        })?;
        let path = config.path();
        let existed = match std::fs::metadata(&path) {
            Ok(meta) => Some(meta.len()),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => None,
            Err(cause) => {
                return Err(Error::Unreadable {
                    path,
                    cause: sqlx::Error::Io(cause),
                });
            }
        };
        match existed {
            None => create_new(config, &path).await?,
            Some(0) if !config.allow_fresh_start => return Err(Error::EmptyStore { path }),
            Some(0) => tracing::warn!(
                path = %path.display(),
                "the store file is empty; starting with an empty store because \
                 store.allow_fresh_start is set"
            ),
            Some(_) => {}
        }
        let location = path.display().to_string();
        let pool = connect(config, options(config, &path, false))
            .await
            .map_err(|cause| match existed {
                // Busy or locked past the retries is another process at work, not a bad file.
                Some(_) if !busy(&cause) => Error::Unreadable {
                    path: path.clone(),
                    cause,
                },
                _ => Error::Open {
                    location: location.clone(),
                    cause,
                },
            })?;
        migrate(&pool)
            .await
            .map_err(|cause| Error::Migrate { location, cause })?;
        // The file as this process opened it, to tell later whether the path still leads to it.
        let opened = file_id(&path).map_err(|cause| Error::Unreadable {
            path: path.clone(),
            cause: sqlx::Error::Io(cause),
        })?;
        let absolute = std::fs::canonicalize(&path).unwrap_or_else(|_| path.clone());
        Ok(Self {
            pool,
            path,
            absolute,
            opened,
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether the files this store writes are still the ones at their paths: the database file it
    /// opened, and (on Linux, where `/proc/self/fd` shows the files the process has open) every
    /// open database or `-wal` file.
    fn files_on_disk(&self) -> Result<()> {
        const DB_ADVICE: &str = "Copy the open file out of /proc/<pid>/fd/ before anything else \
             (see docs/runbooks/store.md), then restart the bot on the copy";
        const WAL_ADVICE: &str = "Stop the bot cleanly (SIGTERM, not kill -9): closing the store \
             checkpoints the open -wal into the database file; then start it again \
             (see docs/runbooks/store.md)";
        match file_id(&self.path) {
            Ok(now) if now == self.opened => {}
            Ok(_) => {
                return Err(Error::FilesGone {
                    path: self.path.clone(),
                    what: "was replaced by another file",
                    advice: DB_ADVICE,
                });
            }
            Err(_) => {
                return Err(Error::FilesGone {
                    path: self.path.clone(),
                    what: "was deleted",
                    advice: DB_ADVICE,
                });
            }
        }
        #[cfg(target_os = "linux")]
        {
            let wal = wal_of(&self.absolute);
            for open in open_files(&[self.absolute.as_path(), wal.as_path()]) {
                let advice = if open.path == wal {
                    WAL_ADVICE
                } else {
                    DB_ADVICE
                };
                match file_id(&open.path) {
                    Ok(now) if now == open.id => {}
                    Ok(_) => {
                        return Err(Error::FilesGone {
                            path: open.path,
                            what: "was replaced by another file",
                            advice,
                        });
                    }
                    Err(_) => {
                        return Err(Error::FilesGone {
                            path: open.path,
                            what: "was deleted",
                            advice,
                        });
                    }
                }
            }
        }
        Ok(())
    }

    /// The connection pool, for tests and tools that inspect the file.
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// Copies every commit in the `-wal` into the database file and empties the `-wal`
    /// (`PRAGMA wal_checkpoint(TRUNCATE)`), as far as readers in the middle of a transaction let
    /// it: for tools that measure the file. Not needed for durability.
    pub async fn checkpoint(&self) -> Result<()> {
        sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
            .execute(&self.pool)
            .await
            .map_err(db("checkpoint", None))
            .map(drop)
    }

    /// The bytes of the database file's pages that hold data (`page_count - freelist_count`
    /// pages of `page_size` bytes), checkpointed first: what the store's data takes, without the
    /// pages that deletes freed (the file does not shrink; new rows reuse them).
    pub async fn bytes_in_use(&self) -> Result<u64> {
        const OP: &str = "bytes_in_use";
        self.checkpoint().await?;
        let mut conn = self.pool.acquire().await.map_err(db(OP, None))?;
        let mut pragma = async |sql: &'static str| -> Result<u64> {
            let value: i64 = sqlx::query_scalar(sql)
                .fetch_one(&mut *conn)
                .await
                .map_err(db(OP, None))?;
            u64::try_from(value).map_err(|_| corrupt("(pragma)", None, format!("{sql} is {value}")))
        };
        let pages = pragma("PRAGMA page_count").await?;
        let free = pragma("PRAGMA freelist_count").await?;
        let size = pragma("PRAGMA page_size").await?;
        Ok(pages.saturating_sub(free).saturating_mul(size))
    }

    /// Closes every connection (waiting for the ones in use), so the file can be checkpointed and
    /// closed cleanly. Not needed for durability: every commit is already in the WAL.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// Opens the pool, retrying a few times when SQLite answers "busy" at once: two processes that
/// open a new file together both switch it to WAL, which takes an exclusive lock that one of them
/// cannot wait for (the busy timeout does not apply to that deadlock), and the loser then finds the
/// file in WAL already.
async fn connect(config: &SqliteConfig, options: SqliteConnectOptions) -> sqlx::Result<SqlitePool> {
    let mut attempt = 1;
    loop {
        let result = SqlitePoolOptions::new()
            .max_connections(config.max_connections.max(1))
            .connect_with(options.clone())
            .await;
        match result {
            Err(sqlx::Error::Database(error)) if attempt < OPEN_ATTEMPTS => {
                tracing::debug!(%error, attempt, "opening the store failed; retrying");
                tokio::time::sleep(Duration::from_millis(50 * u64::from(attempt))).await;
                attempt += 1;
            }
            result => return result,
        }
    }
}

/// The schema migrations in `crates/store/migrations/`, embedded at build time.
pub(crate) fn migrator() -> Migrator {
    let mut migrator = sqlx::migrate!("./migrations");
    // A process one version behind (the old colour of a deploy, or a rollback) may open a file that
    // a newer one has migrated: migrations are additive, so it works with the columns it knows.
    migrator.set_ignore_missing(true);
    migrator
}

/// Applies the pending migrations, retrying a few times when one fails on a database error: two
/// processes opening a new file at once race to migrate it, and the loser then finds it done.
async fn migrate(pool: &SqlitePool) -> std::result::Result<(), MigrateError> {
    let migrator = migrator();
    let mut attempt = 1;
    loop {
        match migrator.run(pool).await {
            Ok(()) => return Ok(()),
            Err(error @ (MigrateError::Execute(_) | MigrateError::ExecuteMigration(..)))
                if attempt < MIGRATE_ATTEMPTS =>
            {
                tracing::debug!(%error, attempt, "store migration failed; retrying");
                tokio::time::sleep(Duration::from_millis(50 * u64::from(attempt))).await;
                attempt += 1;
            }
            Err(error) => return Err(error),
        }
    }
}

/// The most rows [`Store::save_positions`] writes in one transaction: a tick of thousands of
/// guilds is cut into transactions of this many, so that it never holds the write lock for long
/// and other writes (a command's) get their turn in between.
const POSITIONS_PER_TRANSACTION: usize = 500;

// --- reading rows --------------------------------------------------------------------------------

/// A 0-or-1 column of `guilds` as a `bool`.
fn flag(row: &SqliteRow, name: &'static str, g: Option<u64>) -> Result<bool> {
    table_flag(row, name, "guilds", g)
}

/// A 0-or-1 column of `table` as a `bool`.
fn table_flag(
    row: &SqliteRow,
    name: &'static str,
    table: &'static str,
    g: Option<u64>,
) -> Result<bool> {
    match row.int(name, table, g)? {
        0 => Ok(false),
        1 => Ok(true),
        other => Err(corrupt(table, g, format!("{name} is {other}, not 0 or 1"))),
    }
}

fn guild_from_row(row: &SqliteRow) -> Result<GuildState> {
    const T: &str = "guilds";
    let guild_id = from_db(column(row, "guild_id", T, None)?);
    let g = Some(guild_id);
    let paused = flag(row, "paused", g)?;
    let volume_raw: i64 = column(row, "volume", T, g)?;
    let volume = u16::try_from(volume_raw)
        .ok()
        .filter(|v| *v <= MAX_VOLUME)
        .ok_or_else(|| {
            corrupt(
                T,
                g,
                format!("volume {volume_raw} is not 0 to {MAX_VOLUME}"),
            )
        })?;
    let filters_json: String = column(row, "filters", T, g)?;
    let filters: Filters = serde_json::from_str(&filters_json)
        .map_err(|e| corrupt(T, g, format!("filters are not lavalink Filters JSON: {e}")))?;
    let loop_name: String = column(row, "loop_mode", T, g)?;
    let loop_mode: LoopMode = loop_name
        .parse()
        .map_err(|e| corrupt(T, g, format!("{e}")))?;
    Ok(GuildState {
        guild_id,
        queue: Vec::new(),
        current: None,
        position: PositionSnapshot {
            position_ms: from_db(column(row, "position_ms", T, g)?),
            at_unix_ms: from_db(column(row, "position_at_unix_ms", T, g)?),
        },
        paused,
        volume,
        filters,
        loop_mode,
        voice_channel_id: row.opt_int("voice_channel_id", T, g)?.map(from_db),
        text_channel_id: row.opt_int("text_channel_id", T, g)?.map(from_db),
        waiting: Vec::new(),
        stay: flag(row, "stay", g)?,
        autoplay: flag(row, "autoplay", g)?,
        panel: panel_from_row(row, guild_id)?,
    })
}

// --- statements used inside transactions ---------------------------------------------------------

async fn ensure_guild(conn: &mut SqliteConnection, guild: i64) -> sqlx::Result<()> {
    sqlx::query("INSERT INTO guilds (guild_id) VALUES (?1) ON CONFLICT (guild_id) DO NOTHING")
        .bind(guild)
        .execute(conn)
        .await
        .map(drop)
}

async fn queue_len(conn: &mut SqliteConnection, guild: i64) -> sqlx::Result<i64> {
    sqlx::query_scalar("SELECT COUNT(*) FROM queue_entries WHERE guild_id = ?1")
        .bind(guild)
        .fetch_one(conn)
        .await
}

/// Moves every queue entry at `pos >= from` by `delta`. It goes through negative positions so
/// that no row ever lands on another's `(guild_id, pos)` key while the rows are being updated
/// (SQLite, like PostgreSQL, checks the key row by row).
async fn shift(conn: &mut SqliteConnection, guild: i64, from: i64, delta: i64) -> sqlx::Result<()> {
    sqlx::query("UPDATE queue_entries SET pos = -(pos + ?2) - 1 WHERE guild_id = ?1 AND pos >= ?3")
        .bind(guild)
        .bind(delta)
        .bind(from)
        .execute(&mut *conn)
        .await?;
    sqlx::query("UPDATE queue_entries SET pos = -pos - 1 WHERE guild_id = ?1 AND pos < 0")
        .bind(guild)
        .execute(conn)
        .await
        .map(drop)
}

async fn insert_queue_entry(
    conn: &mut SqliteConnection,
    guild: i64,
    pos: i64,
    entry: &QueueEntry,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO queue_entries (guild_id, pos, track, requester_id, title, author, length_ms, \
         uri, added_at_unix_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )
    .bind(guild)
    .bind(pos)
    .bind(&entry.track)
    .bind(to_db(entry.requester_id))
    .bind(&entry.title)
    .bind(&entry.author)
    .bind(to_db(entry.length_ms))
    .bind(entry.uri.as_deref())
    .bind(to_db(entry.added_at_unix_ms))
    .execute(conn)
    .await
    .map(drop)
}

async fn insert_queue_entries(
    conn: &mut SqliteConnection,
    guild: i64,
    first_pos: i64,
    entries: &[QueueEntry],
) -> sqlx::Result<()> {
    for (pos, entry) in (first_pos..).zip(entries) {
        insert_queue_entry(conn, guild, pos, entry).await?;
    }
    Ok(())
}

/// Replaces the current entry (deleting it if `entry` is `None`).
async fn write_current(
    conn: &mut SqliteConnection,
    guild: i64,
    entry: Option<&QueueEntry>,
) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM current_entries WHERE guild_id = ?1")
        .bind(guild)
        .execute(&mut *conn)
        .await?;
    let Some(entry) = entry else { return Ok(()) };
    sqlx::query(
        "INSERT INTO current_entries (guild_id, track, requester_id, title, author, length_ms, \
         uri, added_at_unix_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )
    .bind(guild)
    .bind(&entry.track)
    .bind(to_db(entry.requester_id))
    .bind(&entry.title)
    .bind(&entry.author)
    .bind(to_db(entry.length_ms))
    .bind(entry.uri.as_deref())
    .bind(to_db(entry.added_at_unix_ms))
    .execute(conn)
    .await
    .map(drop)
}

async fn fetch_queue_entry(
    conn: &mut SqliteConnection,
    guild: i64,
    pos: i64,
) -> sqlx::Result<Option<SqliteRow>> {
    sqlx::query(
        "SELECT track, requester_id, title, author, length_ms, uri, added_at_unix_ms \
         FROM queue_entries WHERE guild_id = ?1 AND pos = ?2",
    )
    .bind(guild)
    .bind(pos)
    .fetch_optional(conn)
    .await
}

/// Position writes as the JSON array the batch `UPDATE` reads with `json_each`: one
/// `[guild_id, position_ms, position_at_unix_ms, paused]` per write, each number as it is stored
/// (the `i64` with the same bits).
fn positions_json(writes: &[PositionWrite]) -> String {
    use std::fmt::Write as _;
    let mut json = String::with_capacity(2 + writes.len() * 48);
    json.push('[');
    for (i, write) in writes.iter().enumerate() {
        if i > 0 {
            json.push(',');
        }
        // Writing to a String cannot fail.
        let _ = write!(
            json,
            "[{},{},{},{}]",
            to_db(write.guild_id),
            to_db(write.position.position_ms),
            to_db(write.position.at_unix_ms),
            i64::from(write.paused)
        );
    }
    json.push(']');
    json
}

// --- history and playlists ----------------------------------------------------------------------

/// Inside a write transaction: the user's playlist `key`, its name and time set to `name` and
/// `now` and its tracks deleted, or a new one if the user has fewer than
/// [`MAX_PLAYLISTS_PER_USER`] ([`Error::TooManyPlaylists`] otherwise). Returns its id and whether
/// it was there.
async fn playlist_row(
    conn: &mut SqliteConnection,
    user: i64,
    name: &str,
    key: &str,
    now: i64,
) -> Result<(i64, bool)> {
    const OP: &str = "save_playlist";
    let existing: Option<i64> =
        sqlx::query_scalar("SELECT id FROM playlists WHERE user_id = ?1 AND name_key = ?2")
            .bind(user)
            .bind(key)
            .fetch_optional(&mut *conn)
            .await
            .map_err(db(OP, None))?;
    if let Some(id) = existing {
        sqlx::query("UPDATE playlists SET name = ?2, updated_at_unix_ms = ?3 WHERE id = ?1")
            .bind(id)
            .bind(name)
            .bind(now)
            .execute(&mut *conn)
            .await
            .map_err(db(OP, None))?;
        sqlx::query("DELETE FROM playlist_tracks WHERE playlist_id = ?1")
            .bind(id)
            .execute(&mut *conn)
            .await
            .map_err(db(OP, None))?;
        return Ok((id, true));
    }
    let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM playlists WHERE user_id = ?1")
        .bind(user)
        .fetch_one(&mut *conn)
        .await
        .map_err(db(OP, None))?;
    if count_from_db(count, "playlists")? >= MAX_PLAYLISTS_PER_USER {
        return Err(Error::TooManyPlaylists {
            max: MAX_PLAYLISTS_PER_USER,
        });
    }
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO playlists (user_id, name, name_key, updated_at_unix_ms) \
         VALUES (?1, ?2, ?3, ?4) RETURNING id",
    )
    .bind(user)
    .bind(name)
    .bind(key)
    .bind(now)
    .fetch_one(&mut *conn)
    .await
    .map_err(db(OP, None))?;
    Ok((id, false))
}

/// Inserts `entries` as the tracks of playlist `id`, at positions 0, 1, 2, ...
async fn insert_playlist_tracks(
    conn: &mut SqliteConnection,
    id: i64,
    entries: &[QueueEntry],
) -> sqlx::Result<()> {
    for (pos, entry) in (0_i64..).zip(entries) {
        sqlx::query(
            "INSERT INTO playlist_tracks (playlist_id, pos, track, requester_id, title, author, \
             length_ms, uri, added_at_unix_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        )
        .bind(id)
        .bind(pos)
        .bind(&entry.track)
        .bind(to_db(entry.requester_id))
        .bind(&entry.title)
        .bind(&entry.author)
        .bind(to_db(entry.length_ms))
        .bind(entry.uri.as_deref())
        .bind(to_db(entry.added_at_unix_ms))
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

// --- the deploy ledger ---------------------------------------------------------------------------

/// `SELECT` of the columns of `deploys` that make a [`DeployRecord`], followed by the rest of the
/// statement (a `&'static str`, as sqlx takes).
macro_rules! select_deploys {
    ($rest:literal) => {
        concat!(
            "SELECT id, started_at_ms, from_colour, to_colour, version, commit_id, state, \
             state_changed_at_ms, reason, finished_at_ms FROM deploys ",
            $rest
        )
    };
}

/// `SELECT` of the columns of `colour_builds` that make a [`ColourBuild`], followed by the rest.
macro_rules! select_builds {
    ($rest:literal) => {
        concat!(
            "SELECT colour, version, commit_id, binary, config, admin_url, recorded_at_ms \
             FROM colour_builds ",
            $rest
        )
    };
}

/// Inside a write transaction: the state of deploy `id`, which must exist and be running
/// ([`Error::UnknownDeploy`], [`Error::DeployFinished`] otherwise).
async fn running_deploy(
    conn: &mut SqliteConnection,
    operation: &'static str,
    id: u64,
) -> Result<DeployState> {
    let row = sqlx::query("SELECT state FROM deploys WHERE id = ?1")
        .bind(to_db(id))
        .fetch_optional(conn)
        .await
        .map_err(db(operation, None))?
        .ok_or(Error::UnknownDeploy { id })?;
    let state: DeployState = named(&row, "state", "deploys")?;
    if state.is_final() {
        return Err(Error::DeployFinished { id, state });
    }
    Ok(state)
}

impl SqliteStore {
    /// Starts a write transaction that takes the write lock at once (`BEGIN IMMEDIATE`): a
    /// transaction that reads first and upgrades later could fail with "database is locked" without
    /// waiting for the busy timeout when another process writes in between.
    async fn begin_write(
        &self,
        operation: &'static str,
        guild_id: Option<u64>,
    ) -> Result<sqlx::Transaction<'static, Sqlite>> {
        self.pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(db(operation, guild_id))
    }

    async fn load_queue_and_current(
        conn: &mut SqliteConnection,
        state: &mut GuildState,
    ) -> Result<()> {
        let guild = to_db(state.guild_id);
        let g = Some(state.guild_id);
        let rows = sqlx::query(
            "SELECT pos, track, requester_id, title, author, length_ms, uri, added_at_unix_ms \
             FROM queue_entries WHERE guild_id = ?1 ORDER BY pos",
        )
        .bind(guild)
        .fetch_all(&mut *conn)
        .await
        .map_err(db("load_guild", g))?;
        for row in &rows {
            push_queue_row(state, row)?;
        }
        let current = sqlx::query(
            "SELECT track, requester_id, title, author, length_ms, uri, added_at_unix_ms \
             FROM current_entries WHERE guild_id = ?1",
        )
        .bind(guild)
        .fetch_optional(&mut *conn)
        .await
        .map_err(db("load_guild", g))?;
        state.current = current
            .map(|row| entry_from_row(&row, "current_entries", state.guild_id))
            .transpose()?;
        let waiting = sqlx::query(
            "SELECT id, query, requester_id, requested_at_unix_ms FROM waiting_requests \
             WHERE guild_id = ?1 ORDER BY id",
        )
        .bind(guild)
        .fetch_all(&mut *conn)
        .await
        .map_err(db("load_guild", g))?;
        for row in &waiting {
            state.waiting.push(waiting_from_row(row, state.guild_id)?);
        }
        Ok(())
    }
}

/// The condition of `load_guilds` (see `shared::shard_binds`), for a statement's end.
macro_rules! on_shards {
    ($rest:literal) => {
        concat!(
            "WHERE ((guild_id >> 22) & 4398046511103) % ?1 BETWEEN ?2 AND ?3 ",
            $rest
        )
    };
}

#[async_trait]
impl Store for SqliteStore {
    async fn ping(&self) -> Result<()> {
        let one: i64 = sqlx::query_scalar("SELECT 1")
            .fetch_one(&self.pool)
            .await
            .map_err(db("ping", None))?;
        if one == 1 {
            Ok(())
        } else {
            Err(corrupt("(none)", None, format!("SELECT 1 returned {one}")))
        }
    }

    async fn check(&self) -> Result<()> {
        const OP: &str = "check";
        self.files_on_disk()?;
        // A committed write: a store SQLite opened read-only (its file no longer writable by the
        // process) answers reads but fails here.
        sqlx::query(
            "INSERT INTO store_probe (id, checks) VALUES (1, 1) \
             ON CONFLICT (id) DO UPDATE SET checks = (checks + 1) % 1000000000",
        )
        .execute(&self.pool)
        .await
        .map_err(db(OP, None))?;
        Ok(())
    }

    async fn load_guild(&self, guild_id: u64) -> Result<Option<GuildState>> {
        let g = Some(guild_id);
        // A read transaction: the three reads see one snapshot.
        let mut tx = self.pool.begin().await.map_err(db("load_guild", g))?;
        let row = sqlx::query("SELECT * FROM guilds WHERE guild_id = ?1")
            .bind(to_db(guild_id))
            .fetch_optional(&mut *tx)
            .await
            .map_err(db("load_guild", g))?;
        let Some(row) = row else {
            return Ok(None);
        };
        let mut state = guild_from_row(&row)?;
        Self::load_queue_and_current(&mut tx, &mut state).await?;
        tx.commit().await.map_err(db("load_guild", g))?;
        Ok(Some(state))
    }

    async fn load_guilds(&self, scope: HandoverScope) -> Result<LoadedGuilds> {
        const OP: &str = "load_guilds";
        let [total, first, last] = shard_binds(scope);
        let mut tx = self.pool.begin().await.map_err(db(OP, None))?;
        let mut guilds = BTreeMap::new();
        let mut damaged = BTreeMap::new();
        for row in sqlx::query(concat!("SELECT * FROM guilds ", on_shards!("")))
            .bind(total)
            .bind(first)
            .bind(last)
            .fetch_all(&mut *tx)
            .await
            .map_err(db(OP, None))?
        {
            let guild_id = from_db(column(&row, "guild_id", "guilds", None)?);
            match guild_from_row(&row) {
                Ok(state) => {
                    guilds.insert(guild_id, state);
                }
                Err(error) => {
                    damaged.entry(guild_id).or_insert_with(|| problem(&error));
                }
            }
        }
        let mut sorter = Sorter {
            guilds: &mut guilds,
            damaged: &mut damaged,
        };
        for row in sqlx::query(concat!(
            "SELECT guild_id, pos, track, requester_id, title, author, length_ms, uri, \
             added_at_unix_ms FROM queue_entries ",
            on_shards!("ORDER BY guild_id, pos")
        ))
        .bind(total)
        .bind(first)
        .bind(last)
        .fetch_all(&mut *tx)
        .await
        .map_err(db(OP, None))?
        {
            sorter.add(&row, "queue_entries", push_queue_row)?;
        }
        for row in sqlx::query(concat!(
            "SELECT guild_id, track, requester_id, title, author, length_ms, uri, \
             added_at_unix_ms FROM current_entries ",
            on_shards!("")
        ))
        .bind(total)
        .bind(first)
        .bind(last)
        .fetch_all(&mut *tx)
        .await
        .map_err(db(OP, None))?
        {
            sorter.add(&row, "current_entries", |state, row| {
                state.current = Some(entry_from_row(row, "current_entries", state.guild_id)?);
                Ok(())
            })?;
        }
        for row in sqlx::query(concat!(
            "SELECT id, guild_id, query, requester_id, requested_at_unix_ms FROM waiting_requests ",
            on_shards!("ORDER BY guild_id, id")
        ))
        .bind(total)
        .bind(first)
        .bind(last)
        .fetch_all(&mut *tx)
        .await
        .map_err(db(OP, None))?
        {
            sorter.add(&row, "waiting_requests", |state, row| {
                state.waiting.push(waiting_from_row(row, state.guild_id)?);
                Ok(())
            })?;
        }
        tx.commit().await.map_err(db(OP, None))?;
        Ok(LoadedGuilds {
            guilds: guilds.into_values().collect(),
            damaged: damaged
                .into_iter()
                .map(|(guild_id, problem)| Damaged { guild_id, problem })
                .collect(),
        })
    }

    async fn enqueue(
        &self,
        guild_id: u64,
        entries: &[QueueEntry],
        at: Option<usize>,
    ) -> Result<usize> {
        const OP: &str = "enqueue";
        let (g, guild) = (Some(guild_id), to_db(guild_id));
        let mut tx = self.begin_write(OP, g).await?;
        let len = len_from_db(
            queue_len(&mut tx, guild).await.map_err(db(OP, g))?,
            guild_id,
        )?;
        let at = at.unwrap_or(len);
        if at > len {
            return Err(Error::IndexOutOfRange {
                guild_id,
                index: at,
                len,
            });
        }
        if entries.is_empty() {
            return Ok(at);
        }
        let pos = index_to_pos(at);
        ensure_guild(&mut tx, guild).await.map_err(db(OP, g))?;
        shift(&mut tx, guild, pos, index_to_pos(entries.len()))
            .await
            .map_err(db(OP, g))?;
        insert_queue_entries(&mut tx, guild, pos, entries)
            .await
            .map_err(db(OP, g))?;
        tx.commit().await.map_err(db(OP, g))?;
        Ok(at)
    }

    async fn remove(&self, guild_id: u64, index: usize) -> Result<QueueEntry> {
        const OP: &str = "remove";
        let (g, guild) = (Some(guild_id), to_db(guild_id));
        let mut tx = self.begin_write(OP, g).await?;
        let pos = index_to_pos(index);
        let Some(row) = fetch_queue_entry(&mut tx, guild, pos)
            .await
            .map_err(db(OP, g))?
        else {
            let len = len_from_db(
                queue_len(&mut tx, guild).await.map_err(db(OP, g))?,
                guild_id,
            )?;
            return Err(Error::IndexOutOfRange {
                guild_id,
                index,
                len,
            });
        };
        let entry = entry_from_row(&row, "queue_entries", guild_id)?;
        sqlx::query("DELETE FROM queue_entries WHERE guild_id = ?1 AND pos = ?2")
            .bind(guild)
            .bind(pos)
            .execute(&mut *tx)
            .await
            .map_err(db(OP, g))?;
        shift(&mut tx, guild, pos + 1, -1)
            .await
            .map_err(db(OP, g))?;
        tx.commit().await.map_err(db(OP, g))?;
        Ok(entry)
    }

    async fn move_entry(&self, guild_id: u64, from: usize, to: usize) -> Result<()> {
        const OP: &str = "move_entry";
        let (g, guild) = (Some(guild_id), to_db(guild_id));
        let mut tx = self.begin_write(OP, g).await?;
        let len = len_from_db(
            queue_len(&mut tx, guild).await.map_err(db(OP, g))?,
            guild_id,
        )?;
        if let Some(index) = [from, to].into_iter().find(|i| *i >= len) {
            return Err(Error::IndexOutOfRange {
                guild_id,
                index,
                len,
            });
        }
        if from == to {
            return Ok(());
        }
        let (from_pos, to_pos) = (index_to_pos(from), index_to_pos(to));
        let row = fetch_queue_entry(&mut tx, guild, from_pos)
            .await
            .map_err(db(OP, g))?
            .ok_or_else(|| {
                corrupt(
                    "queue_entries",
                    g,
                    format!("no entry at position {from} of a queue of {len}"),
                )
            })?;
        let entry = entry_from_row(&row, "queue_entries", guild_id)?;
        sqlx::query("DELETE FROM queue_entries WHERE guild_id = ?1 AND pos = ?2")
            .bind(guild)
            .bind(from_pos)
            .execute(&mut *tx)
            .await
            .map_err(db(OP, g))?;
        shift(&mut tx, guild, from_pos + 1, -1)
            .await
            .map_err(db(OP, g))?;
        shift(&mut tx, guild, to_pos, 1).await.map_err(db(OP, g))?;
        insert_queue_entry(&mut tx, guild, to_pos, &entry)
            .await
            .map_err(db(OP, g))?;
        tx.commit().await.map_err(db(OP, g))
    }

    async fn clear_queue(&self, guild_id: u64) -> Result<usize> {
        let g = Some(guild_id);
        let done = sqlx::query("DELETE FROM queue_entries WHERE guild_id = ?1")
            .bind(to_db(guild_id))
            .execute(&self.pool)
            .await
            .map_err(db("clear_queue", g))?;
        len_from_db(
            i64::try_from(done.rows_affected()).unwrap_or(i64::MAX),
            guild_id,
        )
    }

    async fn replace_queue(&self, guild_id: u64, entries: &[QueueEntry]) -> Result<()> {
        const OP: &str = "replace_queue";
        let (g, guild) = (Some(guild_id), to_db(guild_id));
        let mut tx = self.begin_write(OP, g).await?;
        ensure_guild(&mut tx, guild).await.map_err(db(OP, g))?;
        sqlx::query("DELETE FROM queue_entries WHERE guild_id = ?1")
            .bind(guild)
            .execute(&mut *tx)
            .await
            .map_err(db(OP, g))?;
        insert_queue_entries(&mut tx, guild, 0, entries)
            .await
            .map_err(db(OP, g))?;
        tx.commit().await.map_err(db(OP, g))
    }

    async fn set_current(
        &self,
        guild_id: u64,
        entry: Option<&QueueEntry>,
        position: PositionSnapshot,
    ) -> Result<()> {
        const OP: &str = "set_current";
        let (g, guild) = (Some(guild_id), to_db(guild_id));
        let mut tx = self.begin_write(OP, g).await?;
        sqlx::query(
            "INSERT INTO guilds (guild_id, position_ms, position_at_unix_ms) VALUES (?1, ?2, ?3) \
             ON CONFLICT (guild_id) DO UPDATE SET position_ms = excluded.position_ms, \
             position_at_unix_ms = excluded.position_at_unix_ms",
        )
        .bind(guild)
        .bind(to_db(position.position_ms))
        .bind(to_db(position.at_unix_ms))
        .execute(&mut *tx)
        .await
        .map_err(db(OP, g))?;
        write_current(&mut tx, guild, entry)
            .await
            .map_err(db(OP, g))?;
        tx.commit().await.map_err(db(OP, g))
    }

    async fn advance(
        &self,
        guild_id: u64,
        finished: Finished,
        at_unix_ms: u64,
    ) -> Result<Option<QueueEntry>> {
        const OP: &str = "advance";
        let (g, guild) = (Some(guild_id), to_db(guild_id));
        let mut tx = self.begin_write(OP, g).await?;
        if finished == Finished::Requeue {
            // INSERT ... SELECT: the current entry goes to the back of the queue, if there is one.
            sqlx::query(
                "INSERT INTO queue_entries (guild_id, pos, track, requester_id, title, author, \
                 length_ms, uri, added_at_unix_ms) \
                 SELECT c.guild_id, \
                   (SELECT COUNT(*) FROM queue_entries q WHERE q.guild_id = c.guild_id), \
                   c.track, c.requester_id, c.title, c.author, c.length_ms, c.uri, \
                   c.added_at_unix_ms \
                 FROM current_entries c WHERE c.guild_id = ?1",
            )
            .bind(guild)
            .execute(&mut *tx)
            .await
            .map_err(db(OP, g))?;
        }
        let head = fetch_queue_entry(&mut tx, guild, 0)
            .await
            .map_err(db(OP, g))?
            .map(|row| entry_from_row(&row, "queue_entries", guild_id))
            .transpose()?;
        if head.is_some() {
            sqlx::query("DELETE FROM queue_entries WHERE guild_id = ?1 AND pos = 0")
                .bind(guild)
                .execute(&mut *tx)
                .await
                .map_err(db(OP, g))?;
            shift(&mut tx, guild, 1, -1).await.map_err(db(OP, g))?;
        }
        write_current(&mut tx, guild, head.as_ref())
            .await
            .map_err(db(OP, g))?;
        sqlx::query(
            "UPDATE guilds SET position_ms = 0, position_at_unix_ms = ?2 WHERE guild_id = ?1",
        )
        .bind(guild)
        .bind(to_db(at_unix_ms))
        .execute(&mut *tx)
        .await
        .map_err(db(OP, g))?;
        tx.commit().await.map_err(db(OP, g))?;
        Ok(head)
    }

    async fn save_position(
        &self,
        guild_id: u64,
        position: PositionSnapshot,
        paused: bool,
    ) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE guilds SET position_ms = ?2, position_at_unix_ms = ?3, paused = ?4 \
             WHERE guild_id = ?1",
        )
        .bind(to_db(guild_id))
        .bind(to_db(position.position_ms))
        .bind(to_db(position.at_unix_ms))
        .bind(i64::from(paused))
        .execute(&self.pool)
        .await
        .map_err(db("save_position", Some(guild_id)))?;
        Ok(done.rows_affected() > 0)
    }

    async fn save_positions(&self, writes: &[PositionWrite]) -> Result<usize> {
        const OP: &str = "save_positions";
        let writes = newest_per_guild(writes);
        let mut written = 0;
        for chunk in writes.chunks(POSITIONS_PER_TRANSACTION) {
            // One statement, so one transaction (a write statement takes the write lock before
            // it reads, as `BEGIN IMMEDIATE` does), one round trip to SQLite's thread and one
            // commit for the whole chunk, its rows passed as one JSON array: measured 1.3 ms for
            // 1,000 rows against 4 ms for a prepared UPDATE run once per row in one transaction,
            // and 80 ms for 1,000 autocommit `save_position`s (see docs/store.md).
            let done = sqlx::query(
                "UPDATE guilds SET position_ms = w.value ->> 1, \
                 position_at_unix_ms = w.value ->> 2, paused = w.value ->> 3 \
                 FROM json_each(?1) AS w \
                 WHERE guilds.guild_id = w.value ->> 0 \
                 AND guilds.position_at_unix_ms < w.value ->> 2",
            )
            .bind(positions_json(chunk))
            .execute(&self.pool)
            .await
            .map_err(db(OP, None))?;
            written += usize::try_from(done.rows_affected()).unwrap_or(usize::MAX);
        }
        Ok(written)
    }

    async fn set_volume(&self, guild_id: u64, volume: u16) -> Result<()> {
        if volume > MAX_VOLUME {
            return Err(Error::VolumeOutOfRange { volume });
        }
        sqlx::query(
            "INSERT INTO guilds (guild_id, volume) VALUES (?1, ?2) \
             ON CONFLICT (guild_id) DO UPDATE SET volume = excluded.volume",
        )
        .bind(to_db(guild_id))
        .bind(i64::from(volume))
        .execute(&self.pool)
        .await
        .map_err(db("set_volume", Some(guild_id)))
        .map(drop)
    }

    async fn set_filters(&self, guild_id: u64, filters: &Filters) -> Result<()> {
        let json = serde_json::to_string(filters)
            .map_err(|cause| Error::EncodeFilters { guild_id, cause })?;
        sqlx::query(
            "INSERT INTO guilds (guild_id, filters) VALUES (?1, ?2) \
             ON CONFLICT (guild_id) DO UPDATE SET filters = excluded.filters",
        )
        .bind(to_db(guild_id))
        .bind(json)
        .execute(&self.pool)
        .await
        .map_err(db("set_filters", Some(guild_id)))
        .map(drop)
    }

    async fn set_loop(&self, guild_id: u64, mode: LoopMode) -> Result<()> {
        sqlx::query(
            "INSERT INTO guilds (guild_id, loop_mode) VALUES (?1, ?2) \
             ON CONFLICT (guild_id) DO UPDATE SET loop_mode = excluded.loop_mode",
        )
        .bind(to_db(guild_id))
        .bind(mode.as_str())
        .execute(&self.pool)
        .await
        .map_err(db("set_loop", Some(guild_id)))
        .map(drop)
    }

    async fn set_stay(&self, guild_id: u64, stay: bool) -> Result<()> {
        sqlx::query(
            "INSERT INTO guilds (guild_id, stay) VALUES (?1, ?2) \
             ON CONFLICT (guild_id) DO UPDATE SET stay = excluded.stay",
        )
        .bind(to_db(guild_id))
        .bind(i64::from(stay))
        .execute(&self.pool)
        .await
        .map_err(db("set_stay", Some(guild_id)))
        .map(drop)
    }

    async fn set_autoplay(&self, guild_id: u64, autoplay: bool) -> Result<()> {
        sqlx::query(
            "INSERT INTO guilds (guild_id, autoplay) VALUES (?1, ?2) \
             ON CONFLICT (guild_id) DO UPDATE SET autoplay = excluded.autoplay",
        )
        .bind(to_db(guild_id))
        .bind(i64::from(autoplay))
        .execute(&self.pool)
        .await
        .map_err(db("set_autoplay", Some(guild_id)))
        .map(drop)
    }

    async fn set_channels(
        &self,
        guild_id: u64,
        voice_channel_id: Option<u64>,
        text_channel_id: Option<u64>,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO guilds (guild_id, voice_channel_id, text_channel_id) VALUES (?1, ?2, ?3) \
             ON CONFLICT (guild_id) DO UPDATE SET voice_channel_id = excluded.voice_channel_id, \
             text_channel_id = excluded.text_channel_id",
        )
        .bind(to_db(guild_id))
        .bind(opt_to_db(voice_channel_id))
        .bind(opt_to_db(text_channel_id))
        .execute(&self.pool)
        .await
        .map_err(db("set_channels", Some(guild_id)))
        .map(drop)
    }

    async fn add_waiting(
        &self,
        guild_id: u64,
        query: &str,
        requester_id: u64,
        requested_at_unix_ms: u64,
    ) -> Result<WaitingRequest> {
        const OP: &str = "add_waiting";
        let (g, guild) = (Some(guild_id), to_db(guild_id));
        if query.trim().is_empty() {
            return Err(Error::EmptyQuery { guild_id });
        }
        let mut tx = self.begin_write(OP, g).await?;
        ensure_guild(&mut tx, guild).await.map_err(db(OP, g))?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO waiting_requests (guild_id, query, requester_id, requested_at_unix_ms) \
             VALUES (?1, ?2, ?3, ?4) RETURNING id",
        )
        .bind(guild)
        .bind(query)
        .bind(to_db(requester_id))
        .bind(to_db(requested_at_unix_ms))
        .fetch_one(&mut *tx)
        .await
        .map_err(db(OP, g))?;
        tx.commit().await.map_err(db(OP, g))?;
        Ok(WaitingRequest {
            id: from_db(id),
            query: query.to_owned(),
            requester_id,
            requested_at_unix_ms,
        })
    }

    async fn remove_waiting(&self, guild_id: u64, id: u64) -> Result<bool> {
        let done = sqlx::query("DELETE FROM waiting_requests WHERE guild_id = ?1 AND id = ?2")
            .bind(to_db(guild_id))
            .bind(to_db(id))
            .execute(&self.pool)
            .await
            .map_err(db("remove_waiting", Some(guild_id)))?;
        Ok(done.rows_affected() > 0)
    }

    async fn add_history(
        &self,
        guild_id: u64,
        entry: &QueueEntry,
        played_at_unix_ms: u64,
    ) -> Result<HistoryEntry> {
        const OP: &str = "add_history";
        let (g, guild) = (Some(guild_id), to_db(guild_id));
        let mut tx = self.begin_write(OP, g).await?;
        ensure_guild(&mut tx, guild).await.map_err(db(OP, g))?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO play_history (guild_id, track, requester_id, title, author, length_ms, \
             uri, added_at_unix_ms, played_at_unix_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) \
             RETURNING id",
        )
        .bind(guild)
        .bind(&entry.track)
        .bind(to_db(entry.requester_id))
        .bind(&entry.title)
        .bind(&entry.author)
        .bind(to_db(entry.length_ms))
        .bind(entry.uri.as_deref())
        .bind(to_db(entry.added_at_unix_ms))
        .bind(to_db(played_at_unix_ms))
        .fetch_one(&mut *tx)
        .await
        .map_err(db(OP, g))?;
        // Everything older than the newest HISTORY_LEN (the (HISTORY_LEN + 1)-th newest and on).
        sqlx::query(
            "DELETE FROM play_history WHERE guild_id = ?1 AND id <= (SELECT id FROM play_history \
             WHERE guild_id = ?1 ORDER BY id DESC LIMIT 1 OFFSET ?2)",
        )
        .bind(guild)
        .bind(count_to_db(HISTORY_LEN))
        .execute(&mut *tx)
        .await
        .map_err(db(OP, g))?;
        tx.commit().await.map_err(db(OP, g))?;
        Ok(HistoryEntry {
            id: from_db(id),
            entry: entry.clone(),
            played_at_unix_ms,
        })
    }

    async fn history(&self, guild_id: u64, limit: usize) -> Result<Vec<HistoryEntry>> {
        let rows = sqlx::query(
            "SELECT id, track, requester_id, title, author, length_ms, uri, added_at_unix_ms, \
             played_at_unix_ms FROM play_history WHERE guild_id = ?1 ORDER BY id DESC LIMIT ?2",
        )
        .bind(to_db(guild_id))
        .bind(count_to_db(limit.min(HISTORY_LEN)))
        .fetch_all(&self.pool)
        .await
        .map_err(db("history", Some(guild_id)))?;
        rows.iter()
            .map(|row| history_from_row(row, guild_id))
            .collect()
    }

    async fn remove_history(&self, guild_id: u64, id: u64) -> Result<bool> {
        let done = sqlx::query("DELETE FROM play_history WHERE guild_id = ?1 AND id = ?2")
            .bind(to_db(guild_id))
            .bind(to_db(id))
            .execute(&self.pool)
            .await
            .map_err(db("remove_history", Some(guild_id)))?;
        Ok(done.rows_affected() > 0)
    }

    async fn save_playlist(
        &self,
        user_id: u64,
        name: &str,
        entries: &[QueueEntry],
        now_unix_ms: u64,
    ) -> Result<SavedPlaylist> {
        const OP: &str = "save_playlist";
        let (name, key) = check_playlist(name, entries)?;
        // BEGIN IMMEDIATE: one writer at a time, so the count and the insert are not interleaved
        // with another save (two saves racing for a user's last place: one gets it).
        let mut tx = self.begin_write(OP, None).await?;
        let (id, replaced) =
            playlist_row(&mut tx, to_db(user_id), name, &key, to_db(now_unix_ms)).await?;
        insert_playlist_tracks(&mut tx, id, entries)
            .await
            .map_err(db(OP, None))?;
        tx.commit().await.map_err(db(OP, None))?;
        Ok(SavedPlaylist {
            replaced,
            tracks: entries.len(),
        })
    }

    async fn playlist(&self, user_id: u64, name: &str) -> Result<Option<Playlist>> {
        const OP: &str = "playlist";
        const T: &str = "playlists";
        // A read transaction: the playlist and its tracks of one moment.
        let mut tx = self.pool.begin().await.map_err(db(OP, None))?;
        let Some(row) = sqlx::query(
            "SELECT id, name, updated_at_unix_ms FROM playlists \
             WHERE user_id = ?1 AND name_key = ?2",
        )
        .bind(to_db(user_id))
        .bind(playlist_key(name))
        .fetch_optional(&mut *tx)
        .await
        .map_err(db(OP, None))?
        else {
            return Ok(None);
        };
        let tracks = sqlx::query(
            "SELECT track, requester_id, title, author, length_ms, uri, added_at_unix_ms \
             FROM playlist_tracks WHERE playlist_id = ?1 ORDER BY pos",
        )
        .bind(row.int("id", T, None)?)
        .fetch_all(&mut *tx)
        .await
        .map_err(db(OP, None))?;
        tx.commit().await.map_err(db(OP, None))?;
        Ok(Some(Playlist {
            user_id,
            name: row.text("name", T, None)?,
            entries: tracks
                .iter()
                .map(|track| entry_of(track, "playlist_tracks", None))
                .collect::<Result<_>>()?,
            updated_at_unix_ms: from_db(row.int("updated_at_unix_ms", T, None)?),
        }))
    }

    async fn playlists(&self, user_id: u64) -> Result<Vec<PlaylistSummary>> {
        sqlx::query(
            "SELECT name, updated_at_unix_ms, (SELECT COUNT(*) FROM playlist_tracks t \
             WHERE t.playlist_id = p.id) AS tracks FROM playlists p WHERE user_id = ?1 \
             ORDER BY name_key",
        )
        .bind(to_db(user_id))
        .fetch_all(&self.pool)
        .await
        .map_err(db("playlists", None))?
        .iter()
        .map(summary_from_row)
        .collect()
    }

    async fn delete_playlist(&self, user_id: u64, name: &str) -> Result<bool> {
        // Its tracks go with it (ON DELETE CASCADE).
        let done = sqlx::query("DELETE FROM playlists WHERE user_id = ?1 AND name_key = ?2")
            .bind(to_db(user_id))
            .bind(playlist_key(name))
            .execute(&self.pool)
            .await
            .map_err(db("delete_playlist", None))?;
        Ok(done.rows_affected() > 0)
    }

    async fn set_panel(&self, guild_id: u64, panel: Option<PanelMessage>) -> Result<()> {
        sqlx::query(
            "INSERT INTO guilds (guild_id, panel_channel_id, panel_message_id) VALUES (?1, ?2, ?3) \
             ON CONFLICT (guild_id) DO UPDATE SET panel_channel_id = excluded.panel_channel_id, \
             panel_message_id = excluded.panel_message_id",
        )
        .bind(to_db(guild_id))
        .bind(panel.map(|p| to_db(p.channel_id)))
        .bind(panel.map(|p| to_db(p.message_id)))
        .execute(&self.pool)
        .await
        .map_err(db("set_panel", Some(guild_id)))
        .map(drop)
    }

    async fn forget_guild(&self, guild_id: u64) -> Result<bool> {
        // The queue, current entry, waiting requests and play history go with it (ON DELETE
        // CASCADE), the panel with the row; guild_settings is not tied to it and stays.
        let done = sqlx::query("DELETE FROM guilds WHERE guild_id = ?1")
            .bind(to_db(guild_id))
            .execute(&self.pool)
            .await
            .map_err(db("forget_guild", Some(guild_id)))?;
        Ok(done.rows_affected() > 0)
    }

    async fn guild_settings(&self, guild_id: u64) -> Result<GuildSettings> {
        let g = Some(guild_id);
        let row = sqlx::query(
            "SELECT dj_role_id, vote_skip_percent, default_volume, announce_channel_id, \
             stay_by_default, autoplay_by_default, locale FROM guild_settings WHERE guild_id = ?1",
        )
        .bind(to_db(guild_id))
        .fetch_optional(&self.pool)
        .await
        .map_err(db("guild_settings", g))?;
        row.map_or_else(
            || Ok(GuildSettings::default()),
            |row| {
                settings_from_row(&row, guild_id, |row, name| {
                    table_flag(row, name, "guild_settings", g)
                })
            },
        )
    }

    async fn set_guild_settings(&self, guild_id: u64, settings: &GuildSettings) -> Result<()> {
        check_guild_settings(settings)?;
        // The database's clock stamps the row (the callers' clocks are not asked for it).
        sqlx::query(
            "INSERT INTO guild_settings (guild_id, dj_role_id, vote_skip_percent, default_volume, \
             announce_channel_id, stay_by_default, autoplay_by_default, locale, \
             updated_at_unix_ms) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, CAST(unixepoch('subsec') * 1000 AS INTEGER)) \
             ON CONFLICT (guild_id) DO UPDATE SET dj_role_id = excluded.dj_role_id, \
             vote_skip_percent = excluded.vote_skip_percent, \
             default_volume = excluded.default_volume, \
             announce_channel_id = excluded.announce_channel_id, \
             stay_by_default = excluded.stay_by_default, \
             autoplay_by_default = excluded.autoplay_by_default, locale = excluded.locale, \
             updated_at_unix_ms = excluded.updated_at_unix_ms",
        )
        .bind(to_db(guild_id))
        .bind(opt_to_db(settings.dj_role_id))
        .bind(i64::from(settings.vote_skip_percent))
        .bind(i64::from(settings.default_volume))
        .bind(opt_to_db(settings.announce_channel_id))
        .bind(i64::from(settings.stay_by_default))
        .bind(i64::from(settings.autoplay_by_default))
        .bind(settings.locale.as_deref())
        .execute(&self.pool)
        .await
        .map_err(db("set_guild_settings", Some(guild_id)))
        .map(drop)
    }

    async fn save_gateway_session(&self, session: &GatewaySession) -> Result<()> {
        sqlx::query(
            "INSERT INTO gateway_sessions (shard_id, shard_total, session_id, sequence, \
             resume_url, saved_at_unix_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6) \
             ON CONFLICT (shard_id) DO UPDATE SET shard_total = excluded.shard_total, \
             session_id = excluded.session_id, sequence = excluded.sequence, \
             resume_url = excluded.resume_url, saved_at_unix_ms = excluded.saved_at_unix_ms",
        )
        .bind(i64::from(session.shard_id))
        .bind(i64::from(session.shard_total))
        .bind(&session.session_id)
        .bind(to_db(session.sequence))
        .bind(&session.resume_url)
        .bind(to_db(session.saved_at_unix_ms))
        .execute(&self.pool)
        .await
        .map_err(db("save_gateway_session", None))
        .map(drop)
    }

    async fn take_gateway_sessions(&self, scope: HandoverScope) -> Result<Vec<GatewaySession>> {
        const T: &str = "gateway_sessions";
        // One statement reads and deletes: a second taker finds the rows gone.
        let rows = sqlx::query(
            "DELETE FROM gateway_sessions WHERE ?1 OR shard_id BETWEEN ?2 AND ?3 \
             RETURNING shard_id, shard_total, session_id, sequence, resume_url, saved_at_unix_ms",
        )
        .bind(scope.is_whole())
        .bind(i64::from(scope.first))
        .bind(i64::from(scope.last))
        .fetch_all(&self.pool)
        .await
        .map_err(db("take_gateway_sessions", None))?;
        let shard = |row: &SqliteRow, name| -> Result<u32> {
            let raw: i64 = column(row, name, T, None)?;
            u32::try_from(raw).map_err(|_| corrupt(T, None, format!("{name} {raw}")))
        };
        let mut sessions = rows
            .iter()
            .map(|row| {
                Ok(GatewaySession {
                    shard_id: shard(row, "shard_id")?,
                    shard_total: shard(row, "shard_total")?,
                    session_id: column(row, "session_id", T, None)?,
                    sequence: from_db(column(row, "sequence", T, None)?),
                    resume_url: column(row, "resume_url", T, None)?,
                    saved_at_unix_ms: from_db(column(row, "saved_at_unix_ms", T, None)?),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        sessions.sort_by_key(|s| s.shard_id);
        Ok(sessions)
    }

    async fn save_lavalink_session(
        &self,
        scope: HandoverScope,
        session: &LavalinkSession,
    ) -> Result<()> {
        let sql = if scope.is_whole() {
            "INSERT INTO lavalink_sessions (node, session_id, saved_at_unix_ms) \
             VALUES (?1, ?2, ?3) ON CONFLICT (node) DO UPDATE SET \
             session_id = excluded.session_id, saved_at_unix_ms = excluded.saved_at_unix_ms"
        } else {
            "INSERT INTO scoped_lavalink_sessions (node, session_id, saved_at_unix_ms, scope) \
             VALUES (?1, ?2, ?3, ?4) ON CONFLICT (scope, node) DO UPDATE SET \
             session_id = excluded.session_id, saved_at_unix_ms = excluded.saved_at_unix_ms"
        };
        let mut query = sqlx::query(sql)
            .bind(&session.node)
            .bind(&session.session_id)
            .bind(to_db(session.saved_at_unix_ms));
        if !scope.is_whole() {
            query = query.bind(scope.label());
        }
        query
            .execute(&self.pool)
            .await
            .map_err(db("save_lavalink_session", None))
            .map(drop)
    }

    async fn take_lavalink_sessions(&self, scope: HandoverScope) -> Result<Vec<LavalinkSession>> {
        const T: &str = "lavalink_sessions";
        let rows = if scope.is_whole() {
            sqlx::query(
                "DELETE FROM lavalink_sessions RETURNING node, session_id, saved_at_unix_ms",
            )
        } else {
            sqlx::query(
                "DELETE FROM scoped_lavalink_sessions WHERE scope = ?1 \
                 RETURNING node, session_id, saved_at_unix_ms",
            )
            .bind(scope.label())
        }
        .fetch_all(&self.pool)
        .await
        .map_err(db("take_lavalink_sessions", None))?;
        let mut sessions = rows
            .iter()
            .map(|row| {
                Ok(LavalinkSession {
                    node: column(row, "node", T, None)?,
                    session_id: column(row, "session_id", T, None)?,
                    saved_at_unix_ms: from_db(column(row, "saved_at_unix_ms", T, None)?),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        sessions.sort_by(|a, b| a.node.cmp(&b.node));
        Ok(sessions)
    }

    async fn save_discord_cache(&self, scope: HandoverScope, cache: &DiscordCache) -> Result<()> {
        if cache.snapshot.len() > crate::MAX_DISCORD_CACHE_BYTES {
            return Err(Error::DiscordCacheTooLarge {
                bytes: cache.snapshot.len(),
            });
        }
        let sql = if scope.is_whole() {
            "INSERT INTO discord_cache (id, snapshot, saved_at_unix_ms) VALUES (1, ?1, ?2) \
             ON CONFLICT (id) DO UPDATE SET snapshot = excluded.snapshot, \
             saved_at_unix_ms = excluded.saved_at_unix_ms"
        } else {
            "INSERT INTO scoped_discord_caches (snapshot, saved_at_unix_ms, scope) \
             VALUES (?1, ?2, ?3) ON CONFLICT (scope) DO UPDATE SET \
             snapshot = excluded.snapshot, saved_at_unix_ms = excluded.saved_at_unix_ms"
        };
        let mut query = sqlx::query(sql)
            .bind(&cache.snapshot)
            .bind(to_db(cache.saved_at_unix_ms));
        if !scope.is_whole() {
            query = query.bind(scope.label());
        }
        query
            .execute(&self.pool)
            .await
            .map_err(db("save_discord_cache", None))
            .map(drop)
    }

    async fn take_discord_cache(&self, scope: HandoverScope) -> Result<Option<DiscordCache>> {
        const T: &str = "discord_cache";
        let row = if scope.is_whole() {
            sqlx::query("DELETE FROM discord_cache RETURNING snapshot, saved_at_unix_ms")
        } else {
            sqlx::query(
                "DELETE FROM scoped_discord_caches WHERE scope = ?1 \
                 RETURNING snapshot, saved_at_unix_ms",
            )
            .bind(scope.label())
        }
        .fetch_optional(&self.pool)
        .await
        .map_err(db("take_discord_cache", None))?;
        row.map(|row| {
            Ok(DiscordCache {
                snapshot: column(&row, "snapshot", T, None)?,
                saved_at_unix_ms: from_db(column(&row, "saved_at_unix_ms", T, None)?),
            })
        })
        .transpose()
    }

    async fn reserve_identify(
        &self,
        bucket: u32,
        now_unix_ms: u64,
        spacing_ms: u64,
    ) -> Result<u64> {
        const T: &str = "identify_slots";
        // One statement: the row's lock makes concurrent reservations of a bucket take turns, and
        // each sees the one before it.
        let row = sqlx::query(
            "INSERT INTO identify_slots (bucket, next_at_ms) VALUES (?1, ?2 + ?3) \
             ON CONFLICT (bucket) DO UPDATE SET \
             next_at_ms = max(identify_slots.next_at_ms, ?2) + ?3 \
             RETURNING next_at_ms",
        )
        .bind(i64::from(bucket))
        .bind(to_db(now_unix_ms))
        .bind(to_db(spacing_ms))
        .fetch_one(&self.pool)
        .await
        .map_err(db("reserve_identify", None))?;
        let next: u64 = from_db(column(&row, "next_at_ms", T, None)?);
        Ok(next.saturating_sub(spacing_ms))
    }

    async fn begin_deploy(&self, deploy: &NewDeploy) -> Result<u64> {
        const OP: &str = "begin_deploy";
        check_new_deploy(deploy)?;
        let mut tx = self.begin_write(OP, None).await?;
        let running = sqlx::query(
            "SELECT id, state FROM deploys WHERE finished_at_ms IS NULL ORDER BY id LIMIT 1",
        )
        .fetch_optional(&mut *tx)
        .await
        .map_err(db(OP, None))?;
        if let Some(row) = running {
            return Err(Error::DeployRunning {
                running: from_db(column(&row, "id", "deploys", None)?),
                state: named(&row, "state", "deploys")?,
            });
        }
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO deploys (started_at_ms, from_colour, to_colour, version, commit_id, \
             state, state_changed_at_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?1) RETURNING id",
        )
        .bind(to_db(deploy.started_at_ms))
        .bind(deploy.from_colour.map(Colour::as_str))
        .bind(deploy.to_colour.as_str())
        .bind(&deploy.version)
        .bind(&deploy.commit)
        .bind(DeployState::Started.as_str())
        .fetch_one(&mut *tx)
        .await
        .map_err(db(OP, None))?;
        tx.commit().await.map_err(db(OP, None))?;
        Ok(from_db(id))
    }

    async fn record_deploy_step(&self, id: u64, step: &DeployStep) -> Result<()> {
        const OP: &str = "record_deploy_step";
        check_step(step)?;
        let mut tx = self.begin_write(OP, None).await?;
        running_deploy(&mut tx, OP, id).await?;
        let count: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM deploy_steps WHERE deploy_id = ?1")
                .bind(to_db(id))
                .fetch_one(&mut *tx)
                .await
                .map_err(db(OP, None))?;
        if usize::try_from(count).map_or(true, |n| n >= MAX_STEPS_PER_DEPLOY) {
            return Err(Error::TooManySteps {
                id,
                max: MAX_STEPS_PER_DEPLOY,
            });
        }
        sqlx::query(
            "INSERT INTO deploy_steps (deploy_id, seq, at_ms, step, outcome, detail) \
             VALUES (?1, (SELECT COALESCE(MAX(seq) + 1, 0) FROM deploy_steps WHERE deploy_id = ?1), \
             ?2, ?3, ?4, ?5)",
        )
        .bind(to_db(id))
        .bind(to_db(step.at_ms))
        .bind(&step.step)
        .bind(step.outcome.as_str())
        .bind(bounded_text(&step.detail).as_ref())
        .execute(&mut *tx)
        .await
        .map_err(db(OP, None))?;
        tx.commit().await.map_err(db(OP, None))
    }

    async fn set_deploy_state(&self, id: u64, state: DeployState, at_ms: u64) -> Result<()> {
        const OP: &str = "set_deploy_state";
        if state.is_final() {
            return Err(Error::WrongDeployState {
                operation: OP,
                id,
                state,
                expected: "a final state ends a deploy with finish_deploy",
            });
        }
        let mut tx = self.begin_write(OP, None).await?;
        running_deploy(&mut tx, OP, id).await?;
        sqlx::query("UPDATE deploys SET state = ?2, state_changed_at_ms = ?3 WHERE id = ?1")
            .bind(to_db(id))
            .bind(state.as_str())
            .bind(to_db(at_ms))
            .execute(&mut *tx)
            .await
            .map_err(db(OP, None))?;
        tx.commit().await.map_err(db(OP, None))
    }

    async fn finish_deploy(
        &self,
        id: u64,
        state: DeployState,
        reason: Option<&str>,
        at_ms: u64,
    ) -> Result<()> {
        const OP: &str = "finish_deploy";
        if !state.is_final() {
            return Err(Error::WrongDeployState {
                operation: OP,
                id,
                state,
                expected: "it takes a final state (promoted, rejected, rolled_back, failed)",
            });
        }
        let mut tx = self.begin_write(OP, None).await?;
        running_deploy(&mut tx, OP, id).await?;
        sqlx::query(
            "UPDATE deploys SET state = ?2, state_changed_at_ms = ?3, finished_at_ms = ?3, \
             reason = ?4 WHERE id = ?1",
        )
        .bind(to_db(id))
        .bind(state.as_str())
        .bind(to_db(at_ms))
        .bind(reason.map(bounded_text))
        .execute(&mut *tx)
        .await
        .map_err(db(OP, None))?;
        tx.commit().await.map_err(db(OP, None))
    }

    async fn deploys(&self, limit: usize) -> Result<Vec<DeployRecord>> {
        let rows = sqlx::query(select_deploys!("ORDER BY id DESC LIMIT ?1"))
            .bind(i64::try_from(limit).unwrap_or(i64::MAX))
            .fetch_all(&self.pool)
            .await
            .map_err(db("deploys", None))?;
        rows.iter().map(deploy_from_row).collect()
    }

    async fn deploy(&self, id: u64) -> Result<Option<(DeployRecord, Vec<DeployStep>)>> {
        const OP: &str = "deploy";
        // One read transaction, so the record and its steps are of one moment.
        let mut tx = self.pool.begin().await.map_err(db(OP, None))?;
        let Some(row) = sqlx::query(select_deploys!("WHERE id = ?1"))
            .bind(to_db(id))
            .fetch_optional(&mut *tx)
            .await
            .map_err(db(OP, None))?
        else {
            return Ok(None);
        };
        let record = deploy_from_row(&row)?;
        let steps = sqlx::query(
            "SELECT at_ms, step, outcome, detail FROM deploy_steps WHERE deploy_id = ?1 \
             ORDER BY seq",
        )
        .bind(to_db(id))
        .fetch_all(&mut *tx)
        .await
        .map_err(db(OP, None))?
        .iter()
        .map(step_from_row)
        .collect::<Result<Vec<_>>>()?;
        tx.commit().await.map_err(db(OP, None))?;
        Ok(Some((record, steps)))
    }

    async fn set_active_colour(&self, build: &ColourBuild) -> Result<()> {
        const OP: &str = "set_active_colour";
        check_colour_build(build)?;
        let mut tx = self.begin_write(OP, None).await?;
        sqlx::query(
            "INSERT INTO colour_builds (colour, version, commit_id, binary, config, admin_url, \
             recorded_at_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (colour) DO UPDATE \
             SET version = excluded.version, commit_id = excluded.commit_id, \
             binary = excluded.binary, config = excluded.config, \
             admin_url = excluded.admin_url, recorded_at_ms = excluded.recorded_at_ms",
        )
        .bind(build.colour.as_str())
        .bind(&build.version)
        .bind(&build.commit)
        .bind(&build.binary)
        .bind(&build.config)
        .bind(&build.admin_url)
        .bind(to_db(build.recorded_at_ms))
        .execute(&mut *tx)
        .await
        .map_err(db(OP, None))?;
        sqlx::query(
            "INSERT INTO active_colour (id, colour) VALUES (1, ?1) \
             ON CONFLICT (id) DO UPDATE SET colour = excluded.colour",
        )
        .bind(build.colour.as_str())
        .execute(&mut *tx)
        .await
        .map_err(db(OP, None))?;
        tx.commit().await.map_err(db(OP, None))
    }

    async fn active_colour(&self) -> Result<Option<ColourBuild>> {
        sqlx::query(select_builds!(
            "WHERE colour = (SELECT colour FROM active_colour WHERE id = 1)"
        ))
        .fetch_optional(&self.pool)
        .await
        .map_err(db("active_colour", None))?
        .as_ref()
        .map(build_from_row)
        .transpose()
    }

    async fn colour_build(&self, colour: Colour) -> Result<Option<ColourBuild>> {
        sqlx::query(select_builds!("WHERE colour = ?1"))
            .bind(colour.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(db("colour_build", None))?
            .as_ref()
            .map(build_from_row)
            .transpose()
    }
}
