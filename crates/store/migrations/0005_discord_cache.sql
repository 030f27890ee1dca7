-- DimbyBot store, schema version 5: the Discord cache a process hands over with its gateway
-- sessions (a resumed session gets no GUILD_CREATE). One row at most; taking it deletes it.
CREATE TABLE discord_cache (
    id               INTEGER PRIMARY KEY CHECK (id = 1),
    snapshot         TEXT    NOT NULL,
    saved_at_unix_ms INTEGER NOT NULL
) STRICT;
