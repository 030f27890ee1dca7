-- DimbyBot store on PostgreSQL, schema version 5 (as ../0005_discord_cache.sql): the Discord cache
-- a process hands over with its gateway sessions (a resumed session gets no GUILD_CREATE). One row
-- at most; taking it deletes it.
CREATE TABLE discord_cache (
    id               SMALLINT PRIMARY KEY CHECK (id = 1),
    snapshot         TEXT     NOT NULL,
    saved_at_unix_ms BIGINT   NOT NULL
);
