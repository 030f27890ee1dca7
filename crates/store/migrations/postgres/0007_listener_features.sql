-- DimbyBot store on PostgreSQL, schema version 7 (as ../0007_listener_features.sql): 24/7 mode and
-- autoplay per guild, each guild's play history (the newest 50, pruned in the inserting
-- transaction under the guild's advisory lock) and saved playlists per Discord user. Additive
-- only: a binary of version 6 keeps working on it.
ALTER TABLE guilds ADD COLUMN stay BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE guilds ADD COLUMN autoplay BOOLEAN NOT NULL DEFAULT FALSE;

CREATE TABLE play_history (
    id                BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    guild_id          BIGINT NOT NULL REFERENCES guilds (guild_id) ON DELETE CASCADE,
    track             TEXT   NOT NULL,
    requester_id      BIGINT NOT NULL,
    title             TEXT   NOT NULL,
    author            TEXT   NOT NULL,
    length_ms         BIGINT NOT NULL,
    uri               TEXT,
    added_at_unix_ms  BIGINT NOT NULL,
    played_at_unix_ms BIGINT NOT NULL
);

CREATE INDEX play_history_by_guild ON play_history (guild_id, id);

-- name_key: the name in lower case as the store computes it (not lower(), which follows the
-- database's locale), in the "C" collation so that lists sort by code point as in SQLite. At most
-- 25 playlists per user: counted in the saving transaction under the user's advisory lock.
CREATE TABLE playlists (
    id                 BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id            BIGINT NOT NULL,
    name               TEXT   NOT NULL CHECK (char_length(name) BETWEEN 1 AND 100),
    name_key           TEXT   COLLATE "C" NOT NULL CHECK (char_length(name_key) > 0),
    updated_at_unix_ms BIGINT NOT NULL,
    UNIQUE (user_id, name_key)
);

CREATE TABLE playlist_tracks (
    playlist_id      BIGINT NOT NULL REFERENCES playlists (id) ON DELETE CASCADE,
    pos              BIGINT NOT NULL CHECK (pos >= 0),
    track            TEXT   NOT NULL,
    requester_id     BIGINT NOT NULL,
    title            TEXT   NOT NULL,
    author           TEXT   NOT NULL,
    length_ms        BIGINT NOT NULL,
    uri              TEXT,
    added_at_unix_ms BIGINT NOT NULL,
    PRIMARY KEY (playlist_id, pos)
);
