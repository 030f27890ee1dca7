//! The PostgreSQL backend: the same store on a PostgreSQL database that any number of processes
//! share.
//!
//! Every operation is one transaction, as in SQLite. What SQLite got from its single writer (a
//! read-modify-write that nobody interleaves), PostgreSQL gets from locks: an operation that reads
//! what it then writes takes a transaction-scoped advisory lock first (one per guild for the queue
//! and the guild's rows, one for beginning deploys) or locks the row it changes
//! (`SELECT ... FOR UPDATE` of a deploy), so two processes writing one database stay correct. Single
//! statements (upserts, `UPDATE`s, `DELETE ... RETURNING`) are atomic on their own and take no lock
//! beyond their rows'. Reads of several tables run in one `REPEATABLE READ` snapshot.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool, PgPoolOptions, PgRow, PgSslMode};
use sqlx::{Postgres, Transaction};
use url::{Host, Url};

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

/// Where and how to connect to the PostgreSQL store.
///
/// `Debug` shows the URL without its password.
#[derive(Clone, PartialEq, Eq)]
pub struct PgConfig {
    /// The database's URL, `postgres://user:password@host:port/database` (or `postgresql://`).
    /// It may carry `sslmode`, `sslrootcert`, `application_name` and `host` (a Unix socket
    /// directory) as parameters; any other parameter is refused. What it leaves out is taken from
    /// the environment as libpq does (`PGHOST`, `PGPORT`, `PGUSER`, `PGPASSWORD`, `PGDATABASE`,
    /// ...), so the password may come from `PGPASSWORD` rather than the URL. A secret: it is never
    /// logged or shown with its password.
    pub url: String,
    /// The most connections the pool opens.
    pub max_connections: u32,
    /// How long opening a connection (or waiting for one of the pool's) may take before the
    /// operation fails.
    pub connect_timeout: Duration,
    /// How long a write waits for another connection's (or process's) lock on the same guild, deploy
    /// or row before it fails (PostgreSQL's `lock_timeout`; SQLite's busy timeout).
    pub lock_timeout: Duration,
}

impl PgConfig {
    /// The defaults for the database at `url`: 8 connections, a connect timeout of 5 s and a lock
    /// timeout of 5 s.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            max_connections: 8,
            connect_timeout: Duration::from_secs(5),
            lock_timeout: Duration::from_secs(5),
        }
    }

    /// The URL without its password and parameters, for logs and errors.
    pub fn location(&self) -> String {
        redact(&self.url)
    }

    /// Checks that the URL is one the store can connect with ([`Error::InvalidUrl`] otherwise),
    /// without connecting: for a configuration check at start.
    pub fn validate(&self) -> Result<()> {
        self.connect_options().map(drop)
    }

    /// The connection options the URL and the timeouts make.
    fn connect_options(&self) -> Result<PgConnectOptions> {
        let invalid = |reason: String| Error::InvalidUrl {
            location: self.location(),
            reason,
        };
        let url = Url::parse(&self.url).map_err(|e| invalid(format!("it does not parse ({e})")))?;
        if !matches!(url.scheme(), "postgres" | "postgresql") {
            return Err(invalid(
                "it must start with postgres:// or postgresql://".to_owned(),
            ));
        }
        let decoded = |part: &str, what: &str| {
            percent_decode(part)
                .ok_or_else(|| invalid(format!("its {what} is not UTF-8 once decoded")))
        };
        // Starts from the environment's defaults (libpq's PG* variables), never ~/.pgpass.
        let mut options = PgConnectOptions::new_without_pgpass().application_name("dimby");
        match url.host() {
            Some(Host::Domain(host)) => options = options.host(&decoded(host, "host")?),
            Some(Host::Ipv4(address)) => options = options.host(&address.to_string()),
            Some(Host::Ipv6(address)) => options = options.host(&address.to_string()),
            None => {}
        }
        if let Some(port) = url.port() {
            options = options.port(port);
        }
        if !url.username().is_empty() {
            options = options.username(&decoded(url.username(), "user name")?);
        }
        if let Some(password) = url.password() {
            options = options.password(&decoded(password, "password")?);
        }
        let database = url.path().trim_start_matches('/');
        if !database.is_empty() {
            options = options.database(&decoded(database, "database name")?);
        }
        for (key, value) in url.query_pairs() {
            options = match &*key {
                "sslmode" => options.ssl_mode(value.parse::<PgSslMode>().map_err(|_| {
                    invalid(
                        "sslmode must be disable, allow, prefer, require, verify-ca or verify-full"
                            .to_owned(),
                    )
                })?),
                "sslrootcert" => options.ssl_root_cert(&*value),
                "application_name" => options.application_name(&value),
                "host" if value.starts_with('/') => options.socket(&*value),
                "host" => options.host(&value),
                other => {
                    return Err(invalid(format!(
                        "it has the parameter {}, which the store does not take (it takes \
                         sslmode, sslrootcert, application_name and host)",
                        shown_name(other)
                    )));
                }
            };
        }
        let lock_timeout_ms = self.lock_timeout.as_millis().max(1);
        Ok(options.options([("lock_timeout", format!("{lock_timeout_ms}ms"))]))
    }
}

impl fmt::Debug for PgConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgConfig")
            .field("url", &self.location())
            .field("max_connections", &self.max_connections)
            .field("connect_timeout", &self.connect_timeout)
            .field("lock_timeout", &self.lock_timeout)
            .finish()
    }
}

/// `text` percent-decoded, if that is UTF-8.
fn percent_decode(text: &str) -> Option<String> {
    percent_encoding::percent_decode_str(text)
        .decode_utf8()
        .ok()
        .map(std::borrow::Cow::into_owned)
}

/// A URL parameter's name as an error may show it: itself if it looks like a name, otherwise not
/// shown (a misplaced secret must not end up in an error).
fn shown_name(name: &str) -> String {
    if !name.is_empty()
        && name.len() <= 40
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b == b'_' || b == b'-')
    {
        format!("{name:?}")
    } else {
        "(name not shown)".to_owned()
    }
}

/// `url` without its password, parameters and fragment: `postgres://user@host:port/database`.
fn redact(url: &str) -> String {
    const UNPARSEABLE: &str = "(a URL that does not parse; not shown, it may hold a password)";
    let Ok(mut parsed) = Url::parse(url) else {
        return UNPARSEABLE.to_owned();
    };
    if parsed.password().is_some() && parsed.set_password(Some("***")).is_err() {
        return UNPARSEABLE.to_owned();
    }
    parsed.set_query(None);
    parsed.set_fragment(None);
    parsed.to_string()
}

/// The [`Store`] on a PostgreSQL database.
#[derive(Debug, Clone)]
pub struct PgStore {
    pool: PgPool,
    /// The database's URL without its password.
    location: String,
}

/// The class (first key of the two-key advisory lock) of the per-guild locks; the second key is
/// the guild id folded to 32 bits (two guilds that fold alike merely share a lock).
const GUILD_LOCK: i32 = 0x4442_0001;

/// The class of the lock that serializes beginning deploys.
const LEDGER_LOCK: i32 = 0x4442_0002;

/// The class of the per-user locks that serialize saving a user's playlists (the second key is the
/// user id folded as a guild's is): the count of a user's playlists and the insert of a new one
/// are not interleaved with another save, so a user never gets more than
/// [`MAX_PLAYLISTS_PER_USER`].
const USER_LOCK: i32 = 0x4442_0003;

/// The most rows [`Store::save_positions`] writes in one transaction, so that a tick of thousands
/// of guilds never holds many row locks for long (as SQLite's 500).
const POSITIONS_PER_TRANSACTION: usize = 500;

/// The schema migrations in `crates/store/migrations/postgres/`, embedded at build time.
pub(crate) fn migrator() -> Migrator {
    let mut migrator = sqlx::migrate!("./migrations/postgres");
    // As for SQLite: a process one version behind may use a database a newer one has migrated.
    migrator.set_ignore_missing(true);
    migrator
}

/// The second key of a guild's advisory lock: its id folded to 32 bits.
fn guild_lock_key(guild_id: u64) -> i32 {
    let folded = (guild_id ^ (guild_id >> 32)).to_le_bytes();
    i32::from_le_bytes([folded[0], folded[1], folded[2], folded[3]])
}

impl PgStore {
    /// Connects to the database at the configured URL (with at most `max_connections`
    /// connections, each opened within `connect_timeout` and with `lock_timeout` set) and applies
    /// the schema migrations that are not applied yet. Two processes connecting at once to a new
    /// database migrate it once: sqlx's migrator holds an advisory lock while it migrates.
    pub async fn connect(config: &PgConfig) -> Result<Self> {
        let options = config.connect_options()?;
        let location = config.location();
        let pool = PgPoolOptions::new()
            .max_connections(config.max_connections.max(1))
            .acquire_timeout(config.connect_timeout)
            .connect_with(options)
            .await
            .map_err(|cause| Error::Open {
                location: location.clone(),
                cause,
            })?;
        if let Err(cause) = migrator().run(&pool).await {
            // Closing lets go of the migration lock a failed run may still hold.
            pool.close().await;
            return Err(Error::Migrate { location, cause });
        }
        Ok(Self { pool, location })
    }

    /// The database's URL without its password.
    pub fn location(&self) -> &str {
        &self.location
    }

    /// The connection pool, for tests and tools that inspect the database.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// The bytes the store's tables take on the server, their indexes and TOAST included: the sum
    /// of `pg_total_relation_size` over the tables of the connection's schema (the store expects
    /// the database to itself). For tools that measure the store.
    pub async fn bytes_in_use(&self) -> Result<u64> {
        let bytes: i64 = sqlx::query_scalar(
            "SELECT COALESCE(SUM(pg_total_relation_size(c.oid)), 0)::int8 FROM pg_class c \
             JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = current_schema() AND c.relkind = 'r'",
        )
        .fetch_one(&self.pool)
        .await
        .map_err(db("bytes_in_use", None))?;
        u64::try_from(bytes)
            .map_err(|_| corrupt("pg_class", None, format!("a total size of {bytes} bytes")))
    }

    /// Closes every connection (waiting for the ones in use).
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// Starts a write transaction on one guild: it holds the guild's advisory lock until it ends,
    /// so the guild's read-modify-write operations run one at a time across every process.
    async fn begin_guild(
        &self,
        operation: &'static str,
        guild_id: u64,
    ) -> Result<Transaction<'static, Postgres>> {
        let g = Some(guild_id);
        let mut tx = self.pool.begin().await.map_err(db(operation, g))?;
        sqlx::query("SELECT pg_advisory_xact_lock($1, $2)")
            .bind(GUILD_LOCK)
            .bind(guild_lock_key(guild_id))
            .execute(&mut *tx)
            .await
            .map_err(db(operation, g))?;
        Ok(tx)
    }

    /// Starts a write transaction on one user's playlists: it holds the user's advisory lock until
    /// it ends.
    async fn begin_user(
        &self,
        operation: &'static str,
        user_id: u64,
    ) -> Result<Transaction<'static, Postgres>> {
        let mut tx = self.pool.begin().await.map_err(db(operation, None))?;
        sqlx::query("SELECT pg_advisory_xact_lock($1, $2)")
            .bind(USER_LOCK)
            .bind(guild_lock_key(user_id))
            .execute(&mut *tx)
            .await
            .map_err(db(operation, None))?;
        Ok(tx)
    }

    /// Starts a read-only transaction whose reads all see one snapshot.
    async fn begin_read(
        &self,
        operation: &'static str,
        guild_id: Option<u64>,
    ) -> Result<Transaction<'static, Postgres>> {
        self.pool
            .begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            .await
            .map_err(db(operation, guild_id))
    }

    async fn load_queue_and_current(conn: &mut PgConnection, state: &mut GuildState) -> Result<()> {
        const OP: &str = "load_guild";
        let guild = to_db(state.guild_id);
        let g = Some(state.guild_id);
        let rows = sqlx::query(
            "SELECT pos, track, requester_id, title, author, length_ms, uri, added_at_unix_ms \
             FROM queue_entries WHERE guild_id = $1 ORDER BY pos",
        )
        .bind(guild)
        .fetch_all(&mut *conn)
        .await
        .map_err(db(OP, g))?;
        for row in &rows {
            push_queue_row(state, row)?;
        }
        let current = sqlx::query(
            "SELECT track, requester_id, title, author, length_ms, uri, added_at_unix_ms \
             FROM current_entries WHERE guild_id = $1",
        )
        .bind(guild)
        .fetch_optional(&mut *conn)
        .await
        .map_err(db(OP, g))?;
        state.current = current
            .map(|row| entry_from_row(&row, "current_entries", state.guild_id))
            .transpose()?;
        let waiting = sqlx::query(
            "SELECT id, query, requester_id, requested_at_unix_ms FROM waiting_requests \
             WHERE guild_id = $1 ORDER BY id",
        )
        .bind(guild)
        .fetch_all(&mut *conn)
        .await
        .map_err(db(OP, g))?;
        for row in &waiting {
            state.waiting.push(waiting_from_row(row, state.guild_id)?);
        }
        Ok(())
    }
}

// --- reading rows --------------------------------------------------------------------------------

/// `SELECT` of the columns of `guilds` that make a [`GuildState`] (filters as text), followed by
/// the rest of the statement.
macro_rules! select_guilds {
    ($rest:expr) => {
        concat!(
            "SELECT guild_id, position_ms, position_at_unix_ms, paused, volume, \
             filters::text AS filters, loop_mode, voice_channel_id, text_channel_id, stay, \
             autoplay, panel_channel_id, panel_message_id FROM guilds ",
            $rest
        )
    };
}

fn guild_from_row(row: &PgRow) -> Result<GuildState> {
    const T: &str = "guilds";
    let guild_id = from_db(row.int("guild_id", T, None)?);
    let g = Some(guild_id);
    let paused: bool = column(row, "paused", T, g)?;
    let volume_raw: i16 = column(row, "volume", T, g)?;
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
    let filters_json = row.text("filters", T, g)?;
    let filters: Filters = serde_json::from_str(&filters_json)
        .map_err(|e| corrupt(T, g, format!("filters are not lavalink Filters JSON: {e}")))?;
    let loop_mode: LoopMode = row
        .text("loop_mode", T, g)?
        .parse()
        .map_err(|e| corrupt(T, g, format!("{e}")))?;
    Ok(GuildState {
        guild_id,
        queue: Vec::new(),
        current: None,
        position: PositionSnapshot {
            position_ms: from_db(row.int("position_ms", T, g)?),
            at_unix_ms: from_db(row.int("position_at_unix_ms", T, g)?),
        },
        paused,
        volume,
        filters,
        loop_mode,
        voice_channel_id: row.opt_int("voice_channel_id", T, g)?.map(from_db),
        text_channel_id: row.opt_int("text_channel_id", T, g)?.map(from_db),
        waiting: Vec::new(),
        stay: column(row, "stay", T, g)?,
        autoplay: column(row, "autoplay", T, g)?,
        panel: panel_from_row(row, guild_id)?,
    })
}

// --- statements used inside transactions ---------------------------------------------------------

async fn ensure_guild(conn: &mut PgConnection, guild: i64) -> sqlx::Result<()> {
    sqlx::query("INSERT INTO guilds (guild_id) VALUES ($1) ON CONFLICT (guild_id) DO NOTHING")
        .bind(guild)
        .execute(conn)
        .await
        .map(drop)
}

async fn queue_len(conn: &mut PgConnection, guild: i64) -> sqlx::Result<i64> {
    sqlx::query_scalar("SELECT COUNT(*) FROM queue_entries WHERE guild_id = $1")
        .bind(guild)
        .fetch_one(conn)
        .await
}

/// Moves every queue entry at `pos >= from` by `delta`, in one statement: the key is checked at
/// the statement's end (it is `DEFERRABLE INITIALLY IMMEDIATE`), so rows may pass over each other.
async fn shift(conn: &mut PgConnection, guild: i64, from: i64, delta: i64) -> sqlx::Result<()> {
    sqlx::query("UPDATE queue_entries SET pos = pos + $3 WHERE guild_id = $1 AND pos >= $2")
        .bind(guild)
        .bind(from)
        .bind(delta)
        .execute(conn)
        .await
        .map(drop)
}

/// Inserts `entries` at positions `first_pos`, `first_pos + 1`, ... in one statement (the entries'
/// fields passed as arrays).
async fn insert_queue_entries(
    conn: &mut PgConnection,
    guild: i64,
    first_pos: i64,
    entries: &[QueueEntry],
) -> sqlx::Result<()> {
    if entries.is_empty() {
        return Ok(());
    }
    let tracks: Vec<&str> = entries.iter().map(|e| e.track.as_str()).collect();
    let requesters: Vec<i64> = entries.iter().map(|e| to_db(e.requester_id)).collect();
    let titles: Vec<&str> = entries.iter().map(|e| e.title.as_str()).collect();
    let authors: Vec<&str> = entries.iter().map(|e| e.author.as_str()).collect();
    let lengths: Vec<i64> = entries.iter().map(|e| to_db(e.length_ms)).collect();
    let uris: Vec<Option<&str>> = entries.iter().map(|e| e.uri.as_deref()).collect();
    let added: Vec<i64> = entries.iter().map(|e| to_db(e.added_at_unix_ms)).collect();
    sqlx::query(
        "INSERT INTO queue_entries (guild_id, pos, track, requester_id, title, author, length_ms, \
         uri, added_at_unix_ms) \
         SELECT $1, $2 + e.n - 1, e.track, e.requester_id, e.title, e.author, e.length_ms, e.uri, \
           e.added_at_unix_ms \
         FROM unnest($3::text[], $4::int8[], $5::text[], $6::text[], $7::int8[], $8::text[], \
           $9::int8[]) WITH ORDINALITY \
           AS e(track, requester_id, title, author, length_ms, uri, added_at_unix_ms, n)",
    )
    .bind(guild)
    .bind(first_pos)
    .bind(tracks)
    .bind(requesters)
    .bind(titles)
    .bind(authors)
    .bind(lengths)
    .bind(uris)
    .bind(added)
    .execute(conn)
    .await
    .map(drop)
}

/// Replaces the current entry (deleting it if `entry` is `None`).
async fn write_current(
    conn: &mut PgConnection,
    guild: i64,
    entry: Option<&QueueEntry>,
) -> sqlx::Result<()> {
    let Some(entry) = entry else {
        return sqlx::query("DELETE FROM current_entries WHERE guild_id = $1")
            .bind(guild)
            .execute(conn)
            .await
            .map(drop);
    };
    sqlx::query(
        "INSERT INTO current_entries (guild_id, track, requester_id, title, author, length_ms, \
         uri, added_at_unix_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
         ON CONFLICT (guild_id) DO UPDATE SET track = excluded.track, \
         requester_id = excluded.requester_id, title = excluded.title, \
         author = excluded.author, length_ms = excluded.length_ms, uri = excluded.uri, \
         added_at_unix_ms = excluded.added_at_unix_ms",
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

/// Deletes the queue entry at `pos` and returns it (the rows after it are not moved).
async fn take_queue_entry(
    conn: &mut PgConnection,
    guild: i64,
    pos: i64,
) -> sqlx::Result<Option<PgRow>> {
    sqlx::query(
        "DELETE FROM queue_entries WHERE guild_id = $1 AND pos = $2 \
         RETURNING track, requester_id, title, author, length_ms, uri, added_at_unix_ms",
    )
    .bind(guild)
    .bind(pos)
    .fetch_optional(conn)
    .await
}

// --- playlists -----------------------------------------------------------------------------------

/// Inside a write transaction holding the user's lock: the user's playlist `key`, its name and
/// time set to `name` and `now` and its tracks deleted, or a new one if the user has fewer than
/// [`MAX_PLAYLISTS_PER_USER`] ([`Error::TooManyPlaylists`] otherwise). Returns its id and whether
/// it was there.
async fn playlist_row(
    conn: &mut PgConnection,
    user: i64,
    name: &str,
    key: &str,
    now: i64,
) -> Result<(i64, bool)> {
    const OP: &str = "save_playlist";
    let existing: Option<i64> = sqlx::query_scalar(
        "UPDATE playlists SET name = $3, updated_at_unix_ms = $4 \
         WHERE user_id = $1 AND name_key = $2 RETURNING id",
    )
    .bind(user)
    .bind(key)
    .bind(name)
    .bind(now)
    .fetch_optional(&mut *conn)
    .await
    .map_err(db(OP, None))?;
    if let Some(id) = existing {
        sqlx::query("DELETE FROM playlist_tracks WHERE playlist_id = $1")
            .bind(id)
            .execute(&mut *conn)
            .await
            .map_err(db(OP, None))?;
        return Ok((id, true));
    }
    let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM playlists WHERE user_id = $1")
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
         VALUES ($1, $2, $3, $4) RETURNING id",
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

/// Inserts `entries` as the tracks of playlist `id` at positions 0, 1, 2, ... in one statement.
async fn insert_playlist_tracks(
    conn: &mut PgConnection,
    id: i64,
    entries: &[QueueEntry],
) -> sqlx::Result<()> {
    let tracks: Vec<&str> = entries.iter().map(|e| e.track.as_str()).collect();
    let requesters: Vec<i64> = entries.iter().map(|e| to_db(e.requester_id)).collect();
    let titles: Vec<&str> = entries.iter().map(|e| e.title.as_str()).collect();
    let authors: Vec<&str> = entries.iter().map(|e| e.author.as_str()).collect();
    let lengths: Vec<i64> = entries.iter().map(|e| to_db(e.length_ms)).collect();
    let uris: Vec<Option<&str>> = entries.iter().map(|e| e.uri.as_deref()).collect();
    let added: Vec<i64> = entries.iter().map(|e| to_db(e.added_at_unix_ms)).collect();
    sqlx::query(
        "INSERT INTO playlist_tracks (playlist_id, pos, track, requester_id, title, author, \
         length_ms, uri, added_at_unix_ms) \
         SELECT $1, e.n - 1, e.track, e.requester_id, e.title, e.author, e.length_ms, e.uri, \
           e.added_at_unix_ms \
         FROM unnest($2::text[], $3::int8[], $4::text[], $5::text[], $6::int8[], $7::text[], \
           $8::int8[]) WITH ORDINALITY \
           AS e(track, requester_id, title, author, length_ms, uri, added_at_unix_ms, n)",
    )
    .bind(id)
    .bind(tracks)
    .bind(requesters)
    .bind(titles)
    .bind(authors)
    .bind(lengths)
    .bind(uris)
    .bind(added)
    .execute(conn)
    .await
    .map(drop)
}

// --- the deploy ledger ---------------------------------------------------------------------------

/// `SELECT` of the columns of `deploys` that make a [`DeployRecord`], followed by the rest.
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
            "SELECT colour, version, commit_id, \"binary\", config, admin_url, recorded_at_ms \
             FROM colour_builds ",
            $rest
        )
    };
}

/// Inside a write transaction: locks deploy `id`'s row (`FOR UPDATE`, so its steps, state changes
/// and finish run one at a time across processes) and returns its state, which must be running
/// ([`Error::UnknownDeploy`], [`Error::DeployFinished`] otherwise).
async fn running_deploy(
    conn: &mut PgConnection,
    operation: &'static str,
    id: u64,
) -> Result<DeployState> {
    let row = sqlx::query("SELECT state FROM deploys WHERE id = $1 FOR UPDATE")
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

/// The condition of `load_guilds` (see `shared::shard_binds`), for a statement's end.
macro_rules! on_shards {
    ($rest:literal) => {
        concat!(
            "WHERE ((guild_id >> 22) & 4398046511103) % $1 BETWEEN $2 AND $3 ",
            $rest
        )
    };
}

#[async_trait]
impl Store for PgStore {
    async fn ping(&self) -> Result<()> {
        let one: i64 = sqlx::query_scalar("SELECT 1::int8")
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
        // A committed write: a server that turned read-only (a standby after a failover, or
        // default_transaction_read_only) answers reads but fails here.
        sqlx::query(
            "INSERT INTO store_probe (id, checks) VALUES (1, 1) \
             ON CONFLICT (id) DO UPDATE SET checks = (store_probe.checks + 1) % 1000000000",
        )
        .execute(&self.pool)
        .await
        .map_err(db("check", None))
        .map(drop)
    }

    async fn load_guild(&self, guild_id: u64) -> Result<Option<GuildState>> {
        const OP: &str = "load_guild";
        let g = Some(guild_id);
        let mut tx = self.begin_read(OP, g).await?;
        let row = sqlx::query(select_guilds!("WHERE guild_id = $1"))
            .bind(to_db(guild_id))
            .fetch_optional(&mut *tx)
            .await
            .map_err(db(OP, g))?;
        let Some(row) = row else {
            return Ok(None);
        };
        let mut state = guild_from_row(&row)?;
        Self::load_queue_and_current(&mut tx, &mut state).await?;
        tx.commit().await.map_err(db(OP, g))?;
        Ok(Some(state))
    }

    async fn load_guilds(&self, scope: HandoverScope) -> Result<LoadedGuilds> {
        const OP: &str = "load_guilds";
        let [total, first, last] = shard_binds(scope);
        let mut tx = self.begin_read(OP, None).await?;
        let mut guilds = BTreeMap::new();
        let mut damaged = BTreeMap::new();
        for row in sqlx::query(select_guilds!(on_shards!("")))
            .bind(total)
            .bind(first)
            .bind(last)
            .fetch_all(&mut *tx)
            .await
            .map_err(db(OP, None))?
        {
            let guild_id = from_db(row.int("guild_id", "guilds", None)?);
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
        let mut tx = self.begin_guild(OP, guild_id).await?;
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
        let mut tx = self.begin_guild(OP, guild_id).await?;
        let pos = index_to_pos(index);
        let Some(row) = take_queue_entry(&mut tx, guild, pos)
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
        shift(&mut tx, guild, pos + 1, -1)
            .await
            .map_err(db(OP, g))?;
        tx.commit().await.map_err(db(OP, g))?;
        Ok(entry)
    }

    async fn move_entry(&self, guild_id: u64, from: usize, to: usize) -> Result<()> {
        const OP: &str = "move_entry";
        let (g, guild) = (Some(guild_id), to_db(guild_id));
        let mut tx = self.begin_guild(OP, guild_id).await?;
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
        // One statement: the entry goes to `to`, the ones between move one step towards `from`.
        sqlx::query(
            "UPDATE queue_entries SET pos = CASE WHEN pos = $2 THEN $3 \
             WHEN $2 < $3 THEN pos - 1 ELSE pos + 1 END \
             WHERE guild_id = $1 AND pos BETWEEN LEAST($2, $3) AND GREATEST($2, $3)",
        )
        .bind(guild)
        .bind(index_to_pos(from))
        .bind(index_to_pos(to))
        .execute(&mut *tx)
        .await
        .map_err(db(OP, g))?;
        tx.commit().await.map_err(db(OP, g))
    }

    async fn clear_queue(&self, guild_id: u64) -> Result<usize> {
        const OP: &str = "clear_queue";
        let g = Some(guild_id);
        // Under the guild's lock: a DELETE racing an enqueue would miss the rows it inserts and
        // leave them behind a gap.
        let mut tx = self.begin_guild(OP, guild_id).await?;
        let done = sqlx::query("DELETE FROM queue_entries WHERE guild_id = $1")
            .bind(to_db(guild_id))
            .execute(&mut *tx)
            .await
            .map_err(db(OP, g))?;
        tx.commit().await.map_err(db(OP, g))?;
        len_from_db(
            i64::try_from(done.rows_affected()).unwrap_or(i64::MAX),
            guild_id,
        )
    }

    async fn replace_queue(&self, guild_id: u64, entries: &[QueueEntry]) -> Result<()> {
        const OP: &str = "replace_queue";
        let (g, guild) = (Some(guild_id), to_db(guild_id));
        let mut tx = self.begin_guild(OP, guild_id).await?;
        ensure_guild(&mut tx, guild).await.map_err(db(OP, g))?;
        sqlx::query("DELETE FROM queue_entries WHERE guild_id = $1")
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
        let mut tx = self.begin_guild(OP, guild_id).await?;
        sqlx::query(
            "INSERT INTO guilds (guild_id, position_ms, position_at_unix_ms) VALUES ($1, $2, $3) \
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
        let mut tx = self.begin_guild(OP, guild_id).await?;
        if finished == Finished::Requeue {
            // INSERT ... SELECT: the current entry goes to the back of the queue, if there is one.
            sqlx::query(
                "INSERT INTO queue_entries (guild_id, pos, track, requester_id, title, author, \
                 length_ms, uri, added_at_unix_ms) \
                 SELECT c.guild_id, \
                   (SELECT COUNT(*) FROM queue_entries q WHERE q.guild_id = c.guild_id), \
                   c.track, c.requester_id, c.title, c.author, c.length_ms, c.uri, \
                   c.added_at_unix_ms \
                 FROM current_entries c WHERE c.guild_id = $1",
            )
            .bind(guild)
            .execute(&mut *tx)
            .await
            .map_err(db(OP, g))?;
        }
        let head = take_queue_entry(&mut tx, guild, 0)
            .await
            .map_err(db(OP, g))?
            .map(|row| entry_from_row(&row, "queue_entries", guild_id))
            .transpose()?;
        if head.is_some() {
            shift(&mut tx, guild, 1, -1).await.map_err(db(OP, g))?;
        }
        write_current(&mut tx, guild, head.as_ref())
            .await
            .map_err(db(OP, g))?;
        sqlx::query(
            "UPDATE guilds SET position_ms = 0, position_at_unix_ms = $2 WHERE guild_id = $1",
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
            "UPDATE guilds SET position_ms = $2, position_at_unix_ms = $3, paused = $4 \
             WHERE guild_id = $1",
        )
        .bind(to_db(guild_id))
        .bind(to_db(position.position_ms))
        .bind(to_db(position.at_unix_ms))
        .bind(paused)
        .execute(&self.pool)
        .await
        .map_err(db("save_position", Some(guild_id)))?;
        Ok(done.rows_affected() > 0)
    }

    async fn save_positions(&self, writes: &[PositionWrite]) -> Result<usize> {
        const OP: &str = "save_positions";
        let mut writes = newest_per_guild(writes);
        // In guild order, so that two ticks over the same guilds (two processes) lock the rows in
        // the same order and never deadlock.
        writes.sort_unstable_by_key(|w| to_db(w.guild_id));
        let mut written = 0;
        for chunk in writes.chunks(POSITIONS_PER_TRANSACTION) {
            let guilds: Vec<i64> = chunk.iter().map(|w| to_db(w.guild_id)).collect();
            let positions: Vec<i64> = chunk
                .iter()
                .map(|w| to_db(w.position.position_ms))
                .collect();
            let times: Vec<i64> = chunk.iter().map(|w| to_db(w.position.at_unix_ms)).collect();
            let paused: Vec<bool> = chunk.iter().map(|w| w.paused).collect();
            let mut tx = self.pool.begin().await.map_err(db(OP, None))?;
            // The rows first, in guild order (an UPDATE ... FROM locks them in whatever order its
            // plan meets them).
            sqlx::query(
                "SELECT guild_id FROM guilds WHERE guild_id = ANY($1) ORDER BY guild_id \
                 FOR NO KEY UPDATE",
            )
            .bind(&guilds)
            .execute(&mut *tx)
            .await
            .map_err(db(OP, None))?;
            let done = sqlx::query(
                "UPDATE guilds SET position_ms = w.position_ms, \
                 position_at_unix_ms = w.at_unix_ms, paused = w.paused \
                 FROM unnest($1::int8[], $2::int8[], $3::int8[], $4::bool[]) \
                   AS w(guild_id, position_ms, at_unix_ms, paused) \
                 WHERE guilds.guild_id = w.guild_id \
                 AND guilds.position_at_unix_ms < w.at_unix_ms",
            )
            .bind(&guilds)
            .bind(positions)
            .bind(times)
            .bind(paused)
            .execute(&mut *tx)
            .await
            .map_err(db(OP, None))?;
            tx.commit().await.map_err(db(OP, None))?;
            written += usize::try_from(done.rows_affected()).unwrap_or(usize::MAX);
        }
        Ok(written)
    }

    async fn set_volume(&self, guild_id: u64, volume: u16) -> Result<()> {
        if volume > MAX_VOLUME {
            return Err(Error::VolumeOutOfRange { volume });
        }
        // MAX_VOLUME fits a SMALLINT.
        let volume_db = i16::try_from(volume).unwrap_or(i16::MAX);
        sqlx::query(
            "INSERT INTO guilds (guild_id, volume) VALUES ($1, $2) \
             ON CONFLICT (guild_id) DO UPDATE SET volume = excluded.volume",
        )
        .bind(to_db(guild_id))
        .bind(volume_db)
        .execute(&self.pool)
        .await
        .map_err(db("set_volume", Some(guild_id)))
        .map(drop)
    }

    async fn set_filters(&self, guild_id: u64, filters: &Filters) -> Result<()> {
        let json = serde_json::to_string(filters)
            .map_err(|cause| Error::EncodeFilters { guild_id, cause })?;
        sqlx::query(
            "INSERT INTO guilds (guild_id, filters) VALUES ($1, $2::jsonb) \
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
            "INSERT INTO guilds (guild_id, loop_mode) VALUES ($1, $2) \
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
            "INSERT INTO guilds (guild_id, stay) VALUES ($1, $2) \
             ON CONFLICT (guild_id) DO UPDATE SET stay = excluded.stay",
        )
        .bind(to_db(guild_id))
        .bind(stay)
        .execute(&self.pool)
        .await
        .map_err(db("set_stay", Some(guild_id)))
        .map(drop)
    }

    async fn set_autoplay(&self, guild_id: u64, autoplay: bool) -> Result<()> {
        sqlx::query(
            "INSERT INTO guilds (guild_id, autoplay) VALUES ($1, $2) \
             ON CONFLICT (guild_id) DO UPDATE SET autoplay = excluded.autoplay",
        )
        .bind(to_db(guild_id))
        .bind(autoplay)
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
            "INSERT INTO guilds (guild_id, voice_channel_id, text_channel_id) VALUES ($1, $2, $3) \
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

    async fn set_panel(&self, guild_id: u64, panel: Option<PanelMessage>) -> Result<()> {
        sqlx::query(
            "INSERT INTO guilds (guild_id, panel_channel_id, panel_message_id) VALUES ($1, $2, $3) \
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

    async fn guild_settings(&self, guild_id: u64) -> Result<GuildSettings> {
        const T: &str = "guild_settings";
        let g = Some(guild_id);
        let row = sqlx::query(
            "SELECT dj_role_id, vote_skip_percent::int8 AS vote_skip_percent, \
             default_volume::int8 AS default_volume, announce_channel_id, stay_by_default, \
             autoplay_by_default, locale FROM guild_settings WHERE guild_id = $1",
        )
        .bind(to_db(guild_id))
        .fetch_optional(&self.pool)
        .await
        .map_err(db("guild_settings", g))?;
        row.map_or_else(
            || Ok(GuildSettings::default()),
            |row| settings_from_row(&row, guild_id, |row, name| column(row, name, T, g)),
        )
    }

    async fn set_guild_settings(&self, guild_id: u64, settings: &GuildSettings) -> Result<()> {
        check_guild_settings(settings)?;
        // Checked: at most MAX_DEFAULT_VOLUME, which fits a SMALLINT.
        let volume = i16::try_from(settings.default_volume).unwrap_or(i16::MAX);
        // The server's clock stamps the row (the callers' clocks are not asked for it).
        sqlx::query(
            "INSERT INTO guild_settings (guild_id, dj_role_id, vote_skip_percent, default_volume, \
             announce_channel_id, stay_by_default, autoplay_by_default, locale, \
             updated_at_unix_ms) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, (extract(epoch FROM now()) * 1000)::int8) \
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
        .bind(i16::from(settings.vote_skip_percent))
        .bind(volume)
        .bind(opt_to_db(settings.announce_channel_id))
        .bind(settings.stay_by_default)
        .bind(settings.autoplay_by_default)
        .bind(settings.locale.as_deref())
        .execute(&self.pool)
        .await
        .map_err(db("set_guild_settings", Some(guild_id)))
        .map(drop)
    }

    async fn forget_guild(&self, guild_id: u64) -> Result<bool> {
        const OP: &str = "forget_guild";
        let g = Some(guild_id);
        // Under the guild's lock, so that it does not race a write that adds rows to the guild.
        let mut tx = self.begin_guild(OP, guild_id).await?;
        // The queue, current entry, waiting requests and play history go with it (ON DELETE
        // CASCADE), the panel with the row; guild_settings is not tied to it and stays.
        let done = sqlx::query("DELETE FROM guilds WHERE guild_id = $1")
            .bind(to_db(guild_id))
            .execute(&mut *tx)
            .await
            .map_err(db(OP, g))?;
        tx.commit().await.map_err(db(OP, g))?;
        Ok(done.rows_affected() > 0)
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
        let mut tx = self.begin_guild(OP, guild_id).await?;
        ensure_guild(&mut tx, guild).await.map_err(db(OP, g))?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO waiting_requests (guild_id, query, requester_id, requested_at_unix_ms) \
             VALUES ($1, $2, $3, $4) RETURNING id",
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
        let done = sqlx::query("DELETE FROM waiting_requests WHERE guild_id = $1 AND id = $2")
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
        // Under the guild's lock: two adds at once would each prune as if the other's row were
        // not there, leaving one too many; and ids grow in the order the rows commit.
        let mut tx = self.begin_guild(OP, guild_id).await?;
        ensure_guild(&mut tx, guild).await.map_err(db(OP, g))?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO play_history (guild_id, track, requester_id, title, author, length_ms, \
             uri, added_at_unix_ms, played_at_unix_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
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
            "DELETE FROM play_history WHERE guild_id = $1 AND id <= (SELECT id FROM play_history \
             WHERE guild_id = $1 ORDER BY id DESC LIMIT 1 OFFSET $2)",
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
             played_at_unix_ms FROM play_history WHERE guild_id = $1 ORDER BY id DESC LIMIT $2",
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
        let done = sqlx::query("DELETE FROM play_history WHERE guild_id = $1 AND id = $2")
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
        // Under the user's lock: the count of the user's playlists and the insert of a new one
        // are not interleaved with another save of the user's (the unique key on
        // (user_id, name_key) is the backstop for one name).
        let mut tx = self.begin_user(OP, user_id).await?;
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
        let mut tx = self.begin_read(OP, None).await?;
        let Some(row) = sqlx::query(
            "SELECT id, name, updated_at_unix_ms FROM playlists \
             WHERE user_id = $1 AND name_key = $2",
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
             FROM playlist_tracks WHERE playlist_id = $1 ORDER BY pos",
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
        // name_key is COLLATE "C": ordered by code point, as SQLite orders it.
        sqlx::query(
            "SELECT name, updated_at_unix_ms, (SELECT COUNT(*) FROM playlist_tracks t \
             WHERE t.playlist_id = p.id) AS tracks FROM playlists p WHERE user_id = $1 \
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
        // Its tracks go with it (ON DELETE CASCADE); one statement, no lock beyond its row.
        let done = sqlx::query("DELETE FROM playlists WHERE user_id = $1 AND name_key = $2")
            .bind(to_db(user_id))
            .bind(playlist_key(name))
            .execute(&self.pool)
            .await
            .map_err(db("delete_playlist", None))?;
        Ok(done.rows_affected() > 0)
    }

    async fn save_gateway_session(&self, session: &GatewaySession) -> Result<()> {
        sqlx::query(
            "INSERT INTO gateway_sessions (shard_id, shard_total, session_id, sequence, \
             resume_url, saved_at_unix_ms) VALUES ($1, $2, $3, $4, $5, $6) \
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
        // One statement reads and deletes: a second taker waits for the first's row locks, then
        // finds the rows gone.
        let rows = sqlx::query(
            "DELETE FROM gateway_sessions WHERE $1 OR shard_id BETWEEN $2 AND $3 \
             RETURNING shard_id, shard_total, session_id, sequence, resume_url, saved_at_unix_ms",
        )
        .bind(scope.is_whole())
        .bind(i64::from(scope.first))
        .bind(i64::from(scope.last))
        .fetch_all(&self.pool)
        .await
        .map_err(db("take_gateway_sessions", None))?;
        let shard = |row: &PgRow, name| -> Result<u32> {
            let raw = row.int(name, T, None)?;
            u32::try_from(raw).map_err(|_| corrupt(T, None, format!("{name} {raw}")))
        };
        let mut sessions = rows
            .iter()
            .map(|row| {
                Ok(GatewaySession {
                    shard_id: shard(row, "shard_id")?,
                    shard_total: shard(row, "shard_total")?,
                    session_id: row.text("session_id", T, None)?,
                    sequence: from_db(row.int("sequence", T, None)?),
                    resume_url: row.text("resume_url", T, None)?,
                    saved_at_unix_ms: from_db(row.int("saved_at_unix_ms", T, None)?),
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
             VALUES ($1, $2, $3) ON CONFLICT (node) DO UPDATE SET \
             session_id = excluded.session_id, saved_at_unix_ms = excluded.saved_at_unix_ms"
        } else {
            "INSERT INTO scoped_lavalink_sessions (node, session_id, saved_at_unix_ms, scope) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (scope, node) DO UPDATE SET \
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
                "DELETE FROM scoped_lavalink_sessions WHERE scope = $1 \
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
                    node: row.text("node", T, None)?,
                    session_id: row.text("session_id", T, None)?,
                    saved_at_unix_ms: from_db(row.int("saved_at_unix_ms", T, None)?),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        // By the names' bytes, in Rust: the database's collation may order text otherwise.
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
            "INSERT INTO discord_cache (id, snapshot, saved_at_unix_ms) VALUES (1, $1, $2) \
             ON CONFLICT (id) DO UPDATE SET snapshot = excluded.snapshot, \
             saved_at_unix_ms = excluded.saved_at_unix_ms"
        } else {
            "INSERT INTO scoped_discord_caches (snapshot, saved_at_unix_ms, scope) \
             VALUES ($1, $2, $3) ON CONFLICT (scope) DO UPDATE SET \
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
                "DELETE FROM scoped_discord_caches WHERE scope = $1 \
                 RETURNING snapshot, saved_at_unix_ms",
            )
            .bind(scope.label())
        }
        .fetch_optional(&self.pool)
        .await
        .map_err(db("take_discord_cache", None))?;
        row.map(|row| {
            Ok(DiscordCache {
                snapshot: row.text("snapshot", T, None)?,
                saved_at_unix_ms: from_db(row.int("saved_at_unix_ms", T, None)?),
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
            "INSERT INTO identify_slots (bucket, next_at_ms) VALUES ($1, $2 + $3) \
             ON CONFLICT (bucket) DO UPDATE SET \
             next_at_ms = GREATEST(identify_slots.next_at_ms, $2) + $3 \
             RETURNING next_at_ms",
        )
        .bind(i64::from(bucket))
        .bind(to_db(now_unix_ms))
        .bind(to_db(spacing_ms))
        .fetch_one(&self.pool)
        .await
        .map_err(db("reserve_identify", None))?;
        let next: u64 = from_db(row.int("next_at_ms", T, None)?);
        Ok(next.saturating_sub(spacing_ms))
    }

    async fn begin_deploy(&self, deploy: &NewDeploy) -> Result<u64> {
        const OP: &str = "begin_deploy";
        check_new_deploy(deploy)?;
        let mut tx = self.pool.begin().await.map_err(db(OP, None))?;
        // One begin at a time across processes: the second waits, then sees the first's deploy
        // running (the partial unique index would otherwise fail it with a bare unique violation).
        sqlx::query("SELECT pg_advisory_xact_lock($1, 0)")
            .bind(LEDGER_LOCK)
            .execute(&mut *tx)
            .await
            .map_err(db(OP, None))?;
        let running = sqlx::query(
            "SELECT id, state FROM deploys WHERE finished_at_ms IS NULL ORDER BY id LIMIT 1",
        )
        .fetch_optional(&mut *tx)
        .await
        .map_err(db(OP, None))?;
        if let Some(row) = running {
            return Err(Error::DeployRunning {
                running: from_db(row.int("id", "deploys", None)?),
                state: named(&row, "state", "deploys")?,
            });
        }
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO deploys (started_at_ms, from_colour, to_colour, version, commit_id, \
             state, state_changed_at_ms) VALUES ($1, $2, $3, $4, $5, $6, $1) RETURNING id",
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
        let mut tx = self.pool.begin().await.map_err(db(OP, None))?;
        running_deploy(&mut tx, OP, id).await?;
        let count: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM deploy_steps WHERE deploy_id = $1")
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
             VALUES ($1, (SELECT COALESCE(MAX(seq) + 1, 0) FROM deploy_steps WHERE deploy_id = $1), \
             $2, $3, $4, $5)",
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
        let mut tx = self.pool.begin().await.map_err(db(OP, None))?;
        running_deploy(&mut tx, OP, id).await?;
        sqlx::query("UPDATE deploys SET state = $2, state_changed_at_ms = $3 WHERE id = $1")
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
        let mut tx = self.pool.begin().await.map_err(db(OP, None))?;
        running_deploy(&mut tx, OP, id).await?;
        sqlx::query(
            "UPDATE deploys SET state = $2, state_changed_at_ms = $3, finished_at_ms = $3, \
             reason = $4 WHERE id = $1",
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
        let rows = sqlx::query(select_deploys!("ORDER BY id DESC LIMIT $1"))
            .bind(i64::try_from(limit).unwrap_or(i64::MAX))
            .fetch_all(&self.pool)
            .await
            .map_err(db("deploys", None))?;
        rows.iter().map(deploy_from_row).collect()
    }

    async fn deploy(&self, id: u64) -> Result<Option<(DeployRecord, Vec<DeployStep>)>> {
        const OP: &str = "deploy";
        // One snapshot, so the record and its steps are of one moment.
        let mut tx = self.begin_read(OP, None).await?;
        let Some(row) = sqlx::query(select_deploys!("WHERE id = $1"))
            .bind(to_db(id))
            .fetch_optional(&mut *tx)
            .await
            .map_err(db(OP, None))?
        else {
            return Ok(None);
        };
        let record = deploy_from_row(&row)?;
        let steps = sqlx::query(
            "SELECT at_ms, step, outcome, detail FROM deploy_steps WHERE deploy_id = $1 \
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
        // Two upserts in one transaction; they lock the build's row, then the active row, always
        // in that order, so concurrent calls serialize without deadlocking.
        let mut tx = self.pool.begin().await.map_err(db(OP, None))?;
        sqlx::query(
            "INSERT INTO colour_builds (colour, version, commit_id, \"binary\", config, admin_url, \
             recorded_at_ms) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (colour) DO UPDATE \
             SET version = excluded.version, commit_id = excluded.commit_id, \
             \"binary\" = excluded.\"binary\", config = excluded.config, \
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
            "INSERT INTO active_colour (id, colour) VALUES (1, $1) \
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
        sqlx::query(select_builds!("WHERE colour = $1"))
            .bind(colour.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(db("colour_build", None))?
            .as_ref()
            .map(build_from_row)
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "hunter2-Sekr3t";

    #[test]
    fn debug_and_location_leave_the_password_out() {
        let config = PgConfig::new(format!(
            "postgres://dimby:{SECRET}@db.internal:5433/dimby?sslmode=require&application_name=x"
        ));
        let location = config.location();
        assert_eq!(location, "postgres://dimby:***@db.internal:5433/dimby");
        let debug = format!("{config:?}");
        assert!(!debug.contains(SECRET), "{debug}");
        assert!(debug.contains("db.internal:5433"), "{debug}");
        config.validate().expect("a usable URL");
    }

    #[test]
    fn the_url_becomes_the_connect_options() {
        let config = PgConfig::new(
            "postgresql://us%40er:p%40ss%2Bw@[::1]:6543/my%20db?host=/run/postgresql",
        );
        let options = config.connect_options().expect("usable");
        assert_eq!(options.get_port(), 6543);
        assert_eq!(options.get_username(), "us@er");
        assert_eq!(options.get_database(), Some("my db"));
        assert_eq!(
            options.get_socket().map(|p| p.display().to_string()),
            Some("/run/postgresql".to_owned())
        );
        let options = PgConfig::new("postgres://u@127.0.0.1/d")
            .connect_options()
            .expect("usable");
        assert_eq!(options.get_host(), "127.0.0.1");
        assert_eq!(options.get_application_name(), Some("dimby"));
        let with_plus = PgConfig::new("postgres://u:a+b@h/d")
            .connect_options()
            .expect("usable");
        // No getter for the password: what the options hold shows in their Debug, which the store
        // never prints (this test only reads it).
        assert!(format!("{with_plus:?}").contains("\"a+b\""));
    }

    #[test]
    fn an_unusable_url_is_an_error_that_never_shows_the_password() {
        for (url, says) in [
            (format!("mysql://root:{SECRET}@h/d"), "postgres://"),
            (
                format!("postgres://root:{SECRET}@h/d?sslmode=sometimes"),
                "sslmode",
            ),
            (
                format!("postgres://root:{SECRET}@h/d?connect_timeout=3"),
                "\"connect_timeout\"",
            ),
            (
                format!("postgres://root:{SECRET}@h/d?{SECRET}=1"),
                "(name not shown)",
            ),
            (
                format!("postgres://root:{SECRET}@h:99999/d"),
                "does not parse",
            ),
            (format!("postgres://root:{SECRET}@h/d%FF"), "not UTF-8"),
        ] {
            let config = PgConfig::new(url.clone());
            let error = config.validate().expect_err(&url);
            assert!(matches!(error, Error::InvalidUrl { .. }), "{error:?}");
            let text = error.to_string();
            assert!(text.contains(says), "{url}: {text}");
            assert!(!text.contains(SECRET), "{url}: {text}");
            assert!(!format!("{error:?}").contains(SECRET), "{url}: {error:?}");
        }
    }

    #[test]
    fn guild_lock_keys_fold_both_halves() {
        assert_eq!(guild_lock_key(0), 0);
        assert_eq!(guild_lock_key(1), 1);
        assert_ne!(guild_lock_key(1 << 32), 0);
        assert_ne!(guild_lock_key(u64::MAX - 6), guild_lock_key(u64::MAX - 7));
    }
}
