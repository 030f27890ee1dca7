-- DimbyBot store, schema version 2: /play requests that arrived while no Lavalink node could take
-- players. They are kept until a node is back and they are played (or fail), so a restart in
-- between does not lose them. Ordered by id (arrival).
CREATE TABLE waiting_requests (
    id                   INTEGER PRIMARY KEY AUTOINCREMENT,
    guild_id             INTEGER NOT NULL REFERENCES guilds (guild_id) ON DELETE CASCADE,
    query                TEXT    NOT NULL CHECK (length(query) > 0),
    requester_id         INTEGER NOT NULL,
    requested_at_unix_ms INTEGER NOT NULL
) STRICT;

CREATE INDEX waiting_requests_by_guild ON waiting_requests (guild_id, id);
