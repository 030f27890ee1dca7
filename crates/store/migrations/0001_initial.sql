-- DimbyBot store, schema version 1.
--
-- Every id that Discord hands out (guild, user, channel) is a u64; it is stored as the i64 with the
-- same bits (so ids above 2^63 come out negative here and round-trip exactly). Times are unix
-- milliseconds, durations and positions milliseconds. Tables are STRICT so that a value of the
-- wrong type cannot be written by accident.

-- One row per guild the bot has playback state for.
CREATE TABLE guilds (
    guild_id            INTEGER PRIMARY KEY,
    -- Where the current track was (position_ms) at the wall-clock time position_at_unix_ms.
    position_ms         INTEGER NOT NULL DEFAULT 0,
    position_at_unix_ms INTEGER NOT NULL DEFAULT 0,
    paused              INTEGER NOT NULL DEFAULT 0 CHECK (paused IN (0, 1)),
    volume              INTEGER NOT NULL DEFAULT 100 CHECK (volume BETWEEN 0 AND 200),
    -- lavalink's Filters as JSON text; '{}' is no filter.
    filters             TEXT    NOT NULL DEFAULT '{}' CHECK (json_valid(filters)),
    loop_mode           TEXT    NOT NULL DEFAULT 'off' CHECK (loop_mode IN ('off', 'track', 'queue')),
    voice_channel_id    INTEGER,
    text_channel_id     INTEGER
) STRICT;

-- The upcoming tracks of each guild, in order: pos runs 0, 1, 2, ... without gaps. (No CHECK on pos:
-- renumbering moves rows through negative positions so that the primary key never collides.)
CREATE TABLE queue_entries (
    guild_id         INTEGER NOT NULL REFERENCES guilds (guild_id) ON DELETE CASCADE,
    pos              INTEGER NOT NULL,
    track            TEXT    NOT NULL,
    requester_id     INTEGER NOT NULL,
    title            TEXT    NOT NULL,
    author           TEXT    NOT NULL,
    length_ms        INTEGER NOT NULL,
    uri              TEXT,
    added_at_unix_ms INTEGER NOT NULL,
    PRIMARY KEY (guild_id, pos)
) STRICT, WITHOUT ROWID;

-- The track each guild is playing (or paused on), if any.
CREATE TABLE current_entries (
    guild_id         INTEGER PRIMARY KEY REFERENCES guilds (guild_id) ON DELETE CASCADE,
    track            TEXT    NOT NULL,
    requester_id     INTEGER NOT NULL,
    title            TEXT    NOT NULL,
    author           TEXT    NOT NULL,
    length_ms        INTEGER NOT NULL,
    uri              TEXT,
    added_at_unix_ms INTEGER NOT NULL
) STRICT;

-- Handover: the Discord gateway session of each shard, left by a process that handed over and
-- taken (read and deleted at once) by its successor.
CREATE TABLE gateway_sessions (
    shard_id         INTEGER PRIMARY KEY CHECK (shard_id >= 0),
    shard_total      INTEGER NOT NULL CHECK (shard_total > 0),
    session_id       TEXT    NOT NULL,
    sequence         INTEGER NOT NULL,
    resume_url       TEXT    NOT NULL,
    saved_at_unix_ms INTEGER NOT NULL
) STRICT;

-- Handover: the Lavalink session id on each node (by the node's configured name).
CREATE TABLE lavalink_sessions (
    node             TEXT    PRIMARY KEY,
    session_id       TEXT    NOT NULL,
    saved_at_unix_ms INTEGER NOT NULL
) STRICT;
