-- DimbyBot store, schema version 7: listener features (issue 18). Additive only: a binary of
-- version 6 keeps working on this schema (its INSERTs into guilds get the new columns' defaults,
-- its forget_guild takes the play history along through the foreign key, and it never reads the
-- new tables).

-- 24/7 mode (the bot stays in its voice channel with nothing to play) and autoplay, both off.
ALTER TABLE guilds ADD COLUMN stay INTEGER NOT NULL DEFAULT 0 CHECK (stay IN (0, 1));
ALTER TABLE guilds ADD COLUMN autoplay INTEGER NOT NULL DEFAULT 0 CHECK (autoplay IN (0, 1));

-- The tracks each guild played, newest last by id (AUTOINCREMENT: ids grow and are never reused).
-- The store keeps the newest 50 per guild (the insert and the pruning are one transaction). Not
-- loaded with the guild's state: read when asked.
CREATE TABLE play_history (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    guild_id          INTEGER NOT NULL REFERENCES guilds (guild_id) ON DELETE CASCADE,
    track             TEXT    NOT NULL,
    requester_id      INTEGER NOT NULL,
    title             TEXT    NOT NULL,
    author            TEXT    NOT NULL,
    length_ms         INTEGER NOT NULL,
    uri               TEXT,
    added_at_unix_ms  INTEGER NOT NULL,
    played_at_unix_ms INTEGER NOT NULL
) STRICT;

CREATE INDEX play_history_by_guild ON play_history (guild_id, id);

-- Saved playlists, per Discord user (not per guild). name is as the user last spelled it
-- (trimmed, 1 to 100 characters); name_key is that name in lower case, as the store computes it
-- (Rust's Unicode to_lowercase, so that both backends match alike whatever SQLite's lower() or the
-- database's locale does): a user's names are unique without regard to case. The store keeps at
-- most 25 playlists per user (counted in the saving transaction, BEGIN IMMEDIATE).
CREATE TABLE playlists (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id            INTEGER NOT NULL,
    name               TEXT    NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    name_key           TEXT    NOT NULL CHECK (length(name_key) > 0),
    updated_at_unix_ms INTEGER NOT NULL,
    UNIQUE (user_id, name_key)
) STRICT;

-- A playlist's tracks, in order: pos runs 0, 1, 2, ... (at most 500).
CREATE TABLE playlist_tracks (
    playlist_id      INTEGER NOT NULL REFERENCES playlists (id) ON DELETE CASCADE,
    pos              INTEGER NOT NULL CHECK (pos >= 0),
    track            TEXT    NOT NULL,
    requester_id     INTEGER NOT NULL,
    title            TEXT    NOT NULL,
    author           TEXT    NOT NULL,
    length_ms        INTEGER NOT NULL,
    uri              TEXT,
    added_at_unix_ms INTEGER NOT NULL,
    PRIMARY KEY (playlist_id, pos)
) STRICT, WITHOUT ROWID;
