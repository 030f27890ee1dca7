-- DimbyBot store on PostgreSQL, schema version 1: the tables of the SQLite schema of the same
-- version (../0001_initial.sql) in PostgreSQL's own types. The versions of the two schemas match:
-- a migration added to one is added, with the same number, to the other.
--
-- Every id that Discord hands out (guild, user, channel) is a u64; it is stored as the BIGINT with
-- the same bits (so ids above 2^63 come out negative here and round-trip exactly). Times are unix
-- milliseconds, durations and positions milliseconds.

-- One row per guild the bot has playback state for.
CREATE TABLE guilds (
    guild_id            BIGINT   PRIMARY KEY,
    -- Where the current track was (position_ms) at the wall-clock time position_at_unix_ms.
    position_ms         BIGINT   NOT NULL DEFAULT 0,
    position_at_unix_ms BIGINT   NOT NULL DEFAULT 0,
    paused              BOOLEAN  NOT NULL DEFAULT FALSE,
    volume              SMALLINT NOT NULL DEFAULT 100 CHECK (volume BETWEEN 0 AND 200),
    -- lavalink's Filters as JSON; '{}' is no filter.
    filters             JSONB    NOT NULL DEFAULT '{}',
    loop_mode           TEXT     NOT NULL DEFAULT 'off' CHECK (loop_mode IN ('off', 'track', 'queue')),
    voice_channel_id    BIGINT,
    text_channel_id     BIGINT
);

-- The upcoming tracks of each guild, in order: pos runs 0, 1, 2, ... without gaps. The key is
-- checked at the end of each statement (DEFERRABLE INITIALLY IMMEDIATE) rather than row by row, so
-- that one UPDATE renumbers the rows behind an insert, a removal or a move.
CREATE TABLE queue_entries (
    guild_id         BIGINT NOT NULL REFERENCES guilds (guild_id) ON DELETE CASCADE,
    pos              BIGINT NOT NULL CHECK (pos >= 0),
    track            TEXT   NOT NULL,
    requester_id     BIGINT NOT NULL,
    title            TEXT   NOT NULL,
    author           TEXT   NOT NULL,
    length_ms        BIGINT NOT NULL,
    uri              TEXT,
    added_at_unix_ms BIGINT NOT NULL,
    PRIMARY KEY (guild_id, pos) DEFERRABLE INITIALLY IMMEDIATE
);

-- The track each guild is playing (or paused on), if any.
CREATE TABLE current_entries (
    guild_id         BIGINT PRIMARY KEY REFERENCES guilds (guild_id) ON DELETE CASCADE,
    track            TEXT   NOT NULL,
    requester_id     BIGINT NOT NULL,
    title            TEXT   NOT NULL,
    author           TEXT   NOT NULL,
    length_ms        BIGINT NOT NULL,
    uri              TEXT,
    added_at_unix_ms BIGINT NOT NULL
);

-- Handover: the Discord gateway session of each shard, left by a process that handed over and
-- taken (read and deleted at once) by its successor.
CREATE TABLE gateway_sessions (
    shard_id         BIGINT PRIMARY KEY CHECK (shard_id >= 0),
    shard_total      BIGINT NOT NULL CHECK (shard_total > 0),
    session_id       TEXT   NOT NULL,
    sequence         BIGINT NOT NULL,
    resume_url       TEXT   NOT NULL,
    saved_at_unix_ms BIGINT NOT NULL
);

-- Handover: the Lavalink session id on each node (by the node's configured name).
CREATE TABLE lavalink_sessions (
    node             TEXT   PRIMARY KEY,
    session_id       TEXT   NOT NULL,
    saved_at_unix_ms BIGINT NOT NULL
);
