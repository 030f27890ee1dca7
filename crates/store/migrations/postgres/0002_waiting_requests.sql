-- DimbyBot store on PostgreSQL, schema version 2 (as ../0002_waiting_requests.sql): /play requests
-- that arrived while no Lavalink node could take players. They are kept until a node is back and
-- they are played (or fail), so a restart in between does not lose them. Ordered by id (arrival:
-- a guild's requests are added one at a time, under its lock).
CREATE TABLE waiting_requests (
    id                   BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    guild_id             BIGINT NOT NULL REFERENCES guilds (guild_id) ON DELETE CASCADE,
    query                TEXT   NOT NULL CHECK (length(query) > 0),
    requester_id         BIGINT NOT NULL,
    requested_at_unix_ms BIGINT NOT NULL
);

CREATE INDEX waiting_requests_by_guild ON waiting_requests (guild_id, id);
