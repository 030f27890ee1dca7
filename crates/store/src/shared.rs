//! What the backends share: how values are stored (a `u64` as the `i64` with the same bits), how a
//! failed query and a stored value the store could not have written become errors, the readers of
//! the rows that both schemas store alike, the sorting of `load_all_guilds`'s rows into guilds and
//! the de-duplication of a position tick.

use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, HashMap};

use sqlx::{ColumnIndex, Decode, Row, Type};

use crate::settings::{locale_problem, percent_problem, volume_problem};
use crate::{
    ColourBuild, DeployRecord, DeployStep, Error, GuildSettings, GuildState, HistoryEntry,
    PanelMessage, PlaylistSummary, PositionWrite, QueueEntry, Result, WaitingRequest,
};

// --- conversions -------------------------------------------------------------------------------

/// A u64 (id, time, length) as the i64 with the same bits, which is how it is stored.
pub(crate) const fn to_db(value: u64) -> i64 {
    value.cast_signed()
}

/// The u64 stored as the i64 with the same bits.
pub(crate) const fn from_db(value: i64) -> u64 {
    value.cast_unsigned()
}

/// The values bound to a backend's `ON_SHARDS` condition for `scope`: the shard count, the first
/// and the last shard. The condition selects the rows whose `guild_id` is on those shards: a guild
/// is on shard `(id >> 22) % total`, as Discord routes it; the ids are stored as signed and the
/// databases shift right arithmetically, so the shifted value is masked to the 42 bits a logical
/// shift leaves (`(1 << 42) - 1` = 4398046511103). A scope of every shard selects every row.
pub(crate) fn shard_binds(scope: crate::HandoverScope) -> [i64; 3] {
    [
        i64::from(scope.total.max(1)),
        i64::from(scope.first),
        i64::from(scope.last),
    ]
}

/// An optional u64 as it is stored.
pub(crate) fn opt_to_db(value: Option<u64>) -> Option<i64> {
    value.map(to_db)
}

/// A queue index as the stored position.
pub(crate) fn index_to_pos(index: usize) -> i64 {
    // A queue never holds 2^63 entries; saturate instead of wrapping if asked for such an index.
    i64::try_from(index).unwrap_or(i64::MAX)
}

/// A count or limit (a `usize`) as a bound value.
pub(crate) fn count_to_db(count: usize) -> i64 {
    // Counts here are limits of a few hundred; saturate rather than wrap.
    i64::try_from(count).unwrap_or(i64::MAX)
}

/// A stored count (a `COUNT(*)`) of `table` as a count, or [`Error::Corrupt`] if it is not one.
pub(crate) fn count_from_db(count: i64, table: &'static str) -> Result<usize> {
    usize::try_from(count).map_err(|_| corrupt(table, None, format!("a count of {count}")))
}

/// A stored queue length (a `COUNT(*)`) as a length, or [`Error::Corrupt`] if it is not one.
pub(crate) fn len_from_db(len: i64, guild_id: u64) -> Result<usize> {
    usize::try_from(len).map_err(|_| {
        corrupt(
            "queue_entries",
            Some(guild_id),
            format!("queue length {len}"),
        )
    })
}

// --- errors --------------------------------------------------------------------------------------

/// Maps a query's error to the store error naming the operation and guild.
pub(crate) fn db(
    operation: &'static str,
    guild_id: Option<u64>,
) -> impl FnOnce(sqlx::Error) -> Error {
    move |cause| Error::Database {
        operation,
        guild_id,
        cause,
    }
}

/// A stored value the store could not have written.
pub(crate) fn corrupt(table: &'static str, guild_id: Option<u64>, detail: String) -> Error {
    Error::Corrupt {
        table,
        guild_id,
        detail,
    }
}

/// What is damaged, as [`crate::Damaged::problem`] says it: the table and what is wrong.
pub(crate) fn problem(error: &Error) -> String {
    match error {
        Error::Corrupt { table, detail, .. } => format!("{table}: {detail}"),
        other => other.to_string(),
    }
}

// --- reading rows --------------------------------------------------------------------------------

/// Reads a column of either backend's row, turning a missing column or a value of the wrong type
/// into [`Error::Corrupt`].
pub(crate) fn column<'r, R, T>(
    row: &'r R,
    name: &'static str,
    table: &'static str,
    guild_id: Option<u64>,
) -> Result<T>
where
    R: Row,
    &'static str: ColumnIndex<R>,
    T: Decode<'r, R::Database> + Type<R::Database>,
{
    row.try_get(name).map_err(|e| Error::Corrupt {
        table,
        guild_id,
        detail: format!("column {name}: {e}"),
    })
}

/// A row whose integer and text columns read the same way in every backend (`BIGINT`/`INTEGER` as
/// `i64`, `TEXT` as `String`), so that the readers of the tables both schemas store alike are
/// written once.
pub(crate) trait StoreRow {
    /// An integer column.
    fn int(&self, name: &'static str, table: &'static str, guild_id: Option<u64>) -> Result<i64>;
    /// A nullable integer column.
    fn opt_int(
        &self,
        name: &'static str,
        table: &'static str,
        guild_id: Option<u64>,
    ) -> Result<Option<i64>>;
    /// A text column.
    fn text(
        &self,
        name: &'static str,
        table: &'static str,
        guild_id: Option<u64>,
    ) -> Result<String>;
    /// A nullable text column.
    fn opt_text(
        &self,
        name: &'static str,
        table: &'static str,
        guild_id: Option<u64>,
    ) -> Result<Option<String>>;
}

/// Implements [`StoreRow`] for a backend's row type with [`column`].
macro_rules! store_row {
    ($row:ty) => {
        impl StoreRow for $row {
            fn int(&self, name: &'static str, table: &'static str, g: Option<u64>) -> Result<i64> {
                column(self, name, table, g)
            }
            fn opt_int(
                &self,
                name: &'static str,
                table: &'static str,
                g: Option<u64>,
            ) -> Result<Option<i64>> {
                column(self, name, table, g)
            }
            fn text(
                &self,
                name: &'static str,
                table: &'static str,
                g: Option<u64>,
            ) -> Result<String> {
                column(self, name, table, g)
            }
            fn opt_text(
                &self,
                name: &'static str,
                table: &'static str,
                g: Option<u64>,
            ) -> Result<Option<String>> {
                column(self, name, table, g)
            }
        }
    };
}

store_row!(sqlx::sqlite::SqliteRow);
store_row!(sqlx::postgres::PgRow);

/// A queue or current entry (`table` says which) of `guild_id`.
pub(crate) fn entry_from_row(
    row: &impl StoreRow,
    table: &'static str,
    guild_id: u64,
) -> Result<QueueEntry> {
    entry_of(row, table, Some(guild_id))
}

/// An entry's columns (`track`, `requester_id`, `title`, `author`, `length_ms`, `uri`,
/// `added_at_unix_ms`) of a row of `table`, which belongs to guild `g` if any.
pub(crate) fn entry_of(
    row: &impl StoreRow,
    table: &'static str,
    g: Option<u64>,
) -> Result<QueueEntry> {
    Ok(QueueEntry {
        track: row.text("track", table, g)?,
        requester_id: from_db(row.int("requester_id", table, g)?),
        title: row.text("title", table, g)?,
        author: row.text("author", table, g)?,
        length_ms: from_db(row.int("length_ms", table, g)?),
        uri: row.opt_text("uri", table, g)?,
        added_at_unix_ms: from_db(row.int("added_at_unix_ms", table, g)?),
    })
}

/// A waiting request of `guild_id`.
pub(crate) fn waiting_from_row(row: &impl StoreRow, guild_id: u64) -> Result<WaitingRequest> {
    const T: &str = "waiting_requests";
    let g = Some(guild_id);
    Ok(WaitingRequest {
        id: from_db(row.int("id", T, g)?),
        query: row.text("query", T, g)?,
        requester_id: from_db(row.int("requester_id", T, g)?),
        requested_at_unix_ms: from_db(row.int("requested_at_unix_ms", T, g)?),
    })
}

/// A row of `play_history` of `guild_id`.
pub(crate) fn history_from_row(row: &impl StoreRow, guild_id: u64) -> Result<HistoryEntry> {
    const T: &str = "play_history";
    let g = Some(guild_id);
    Ok(HistoryEntry {
        id: from_db(row.int("id", T, g)?),
        entry: entry_of(row, T, g)?,
        played_at_unix_ms: from_db(row.int("played_at_unix_ms", T, g)?),
    })
}

/// The now-playing panel of a row of `guilds` (`panel_channel_id`, `panel_message_id`: both or
/// neither).
pub(crate) fn panel_from_row(row: &impl StoreRow, guild_id: u64) -> Result<Option<PanelMessage>> {
    const T: &str = "guilds";
    let g = Some(guild_id);
    let channel = row.opt_int("panel_channel_id", T, g)?;
    let message = row.opt_int("panel_message_id", T, g)?;
    match (channel, message) {
        (None, None) => Ok(None),
        (Some(channel), Some(message)) => Ok(Some(PanelMessage {
            channel_id: from_db(channel),
            message_id: from_db(message),
        })),
        (Some(_), None) => Err(corrupt(
            T,
            g,
            "panel_channel_id is set without a panel_message_id".to_owned(),
        )),
        (None, Some(_)) => Err(corrupt(
            T,
            g,
            "panel_message_id is set without a panel_channel_id".to_owned(),
        )),
    }
}

/// A row of `guild_settings` of `guild_id` (`dj_role_id`, `vote_skip_percent`, `default_volume`,
/// `announce_channel_id`, `stay_by_default`, `autoplay_by_default`, `locale`); `flag` reads a
/// boolean column as the backend stores it. A value out of its bounds is [`Error::Corrupt`].
pub(crate) fn settings_from_row<R: StoreRow>(
    row: &R,
    guild_id: u64,
    flag: impl Fn(&R, &'static str) -> Result<bool>,
) -> Result<GuildSettings> {
    const T: &str = "guild_settings";
    let g = Some(guild_id);
    let bounded = |name: &'static str, problem: fn(i64) -> Option<String>| -> Result<i64> {
        let value = row.int(name, T, g)?;
        match problem(value) {
            Some(message) => Err(corrupt(T, g, format!("{name} {message}"))),
            None => Ok(value),
        }
    };
    let percent = bounded("vote_skip_percent", percent_problem)?;
    let volume = bounded("default_volume", volume_problem)?;
    let locale = row.opt_text("locale", T, g)?;
    if let Some(message) = locale.as_deref().and_then(locale_problem) {
        return Err(corrupt(T, g, format!("locale {message}")));
    }
    let out_of_range = |name: &str, value: i64| corrupt(T, g, format!("{name} is {value}"));
    Ok(GuildSettings {
        dj_role_id: row.opt_int("dj_role_id", T, g)?.map(from_db),
        vote_skip_percent: u8::try_from(percent)
            .map_err(|_| out_of_range("vote_skip_percent", percent))?,
        default_volume: u16::try_from(volume)
            .map_err(|_| out_of_range("default_volume", volume))?,
        announce_channel_id: row.opt_int("announce_channel_id", T, g)?.map(from_db),
        stay_by_default: flag(row, "stay_by_default")?,
        autoplay_by_default: flag(row, "autoplay_by_default")?,
        locale,
    })
}

/// A row of a user's playlist list: `name`, `tracks` (a count) and `updated_at_unix_ms`.
pub(crate) fn summary_from_row(row: &impl StoreRow) -> Result<PlaylistSummary> {
    const T: &str = "playlists";
    Ok(PlaylistSummary {
        name: row.text("name", T, None)?,
        tracks: count_from_db(row.int("tracks", T, None)?, T)?,
        updated_at_unix_ms: from_db(row.int("updated_at_unix_ms", T, None)?),
    })
}

/// Appends a queue row to `guild`'s queue, checking that positions run 0, 1, 2, ... without gaps.
pub(crate) fn push_queue_row(guild: &mut GuildState, row: &impl StoreRow) -> Result<()> {
    const T: &str = "queue_entries";
    let g = Some(guild.guild_id);
    let pos = row.int("pos", T, g)?;
    if pos != index_to_pos(guild.queue.len()) {
        return Err(corrupt(
            T,
            g,
            format!(
                "queue position {pos} where {} was expected",
                guild.queue.len()
            ),
        ));
    }
    guild.queue.push(entry_from_row(row, T, guild.guild_id)?);
    Ok(())
}

/// Reads a column holding one of the ledger's names (a colour, state or outcome).
pub(crate) fn named<T: std::str::FromStr<Err = crate::UnknownLedgerName>>(
    row: &impl StoreRow,
    name: &'static str,
    table: &'static str,
) -> Result<T> {
    row.text(name, table, None)?
        .parse()
        .map_err(|e| corrupt(table, None, format!("column {name}: {e}")))
}

/// A row of `deploys`.
pub(crate) fn deploy_from_row(row: &impl StoreRow) -> Result<DeployRecord> {
    const T: &str = "deploys";
    let from_colour = row
        .opt_text("from_colour", T, None)?
        .map(|c| {
            c.parse::<crate::Colour>()
                .map_err(|e| corrupt(T, None, format!("column from_colour: {e}")))
        })
        .transpose()?;
    Ok(DeployRecord {
        id: from_db(row.int("id", T, None)?),
        started_at_ms: from_db(row.int("started_at_ms", T, None)?),
        from_colour,
        to_colour: named(row, "to_colour", T)?,
        version: row.text("version", T, None)?,
        commit: row.text("commit_id", T, None)?,
        state: named(row, "state", T)?,
        state_changed_at_ms: from_db(row.int("state_changed_at_ms", T, None)?),
        reason: row.opt_text("reason", T, None)?,
        finished_at_ms: row.opt_int("finished_at_ms", T, None)?.map(from_db),
    })
}

/// A row of `deploy_steps`.
pub(crate) fn step_from_row(row: &impl StoreRow) -> Result<DeployStep> {
    const T: &str = "deploy_steps";
    Ok(DeployStep {
        at_ms: from_db(row.int("at_ms", T, None)?),
        step: row.text("step", T, None)?,
        outcome: named(row, "outcome", T)?,
        detail: row.text("detail", T, None)?,
    })
}

/// A row of `colour_builds`.
pub(crate) fn build_from_row(row: &impl StoreRow) -> Result<ColourBuild> {
    const T: &str = "colour_builds";
    Ok(ColourBuild {
        colour: named(row, "colour", T)?,
        version: row.text("version", T, None)?,
        commit: row.text("commit_id", T, None)?,
        binary: row.text("binary", T, None)?,
        config: row.text("config", T, None)?,
        admin_url: row.text("admin_url", T, None)?,
        recorded_at_ms: from_db(row.int("recorded_at_ms", T, None)?),
    })
}

/// Puts the rows of `load_all_guilds` with their guilds, setting apart a guild whose row does not
/// read (and every later row of it) instead of failing the whole load.
pub(crate) struct Sorter<'a> {
    /// The guilds that load so far, by id.
    pub(crate) guilds: &'a mut BTreeMap<u64, GuildState>,
    /// The guilds set apart so far, by id, with what is damaged.
    pub(crate) damaged: &'a mut BTreeMap<u64, String>,
}

impl Sorter<'_> {
    /// Puts `row` (of `table`) with its guild by `put`, or sets the guild apart if the row does not
    /// read or has no guild row.
    pub(crate) fn add<R: StoreRow>(
        &mut self,
        row: &R,
        table: &'static str,
        put: impl FnOnce(&mut GuildState, &R) -> Result<()>,
    ) -> Result<()> {
        let guild_id = from_db(row.int("guild_id", table, None)?);
        if self.damaged.contains_key(&guild_id) {
            return Ok(());
        }
        let Some(state) = self.guilds.get_mut(&guild_id) else {
            self.damaged.insert(
                guild_id,
                format!("{table}: rows for a guild without a guilds row"),
            );
            return Ok(());
        };
        if let Err(error) = put(state, row) {
            self.guilds.remove(&guild_id);
            self.damaged.insert(guild_id, problem(&error));
        }
        Ok(())
    }
}

/// `writes` with each guild once, keeping its newest snapshot (of equal ones, the last): a
/// statement that joins a guild's row to two writes would apply one of them at random.
pub(crate) fn newest_per_guild(writes: &[PositionWrite]) -> Vec<PositionWrite> {
    let mut index = HashMap::with_capacity(writes.len());
    let mut unique: Vec<PositionWrite> = Vec::with_capacity(writes.len());
    for write in writes {
        match index.entry(write.guild_id) {
            Entry::Vacant(slot) => {
                slot.insert(unique.len());
                unique.push(*write);
            }
            Entry::Occupied(slot) => {
                let kept = &mut unique[*slot.get()];
                if write.position.at_unix_ms >= kept.position.at_unix_ms {
                    *kept = *write;
                }
            }
        }
    }
    unique
}
