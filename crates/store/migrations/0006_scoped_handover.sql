-- DimbyBot store, schema version 6: several processes share one store, each running its own range
-- of the application's shards, and each hands over to its own successor only.
--
-- A process that runs every shard keeps its handover records where schema version 5 kept them
-- (gateway_sessions, lavalink_sessions, discord_cache), so that builds before and after this
-- version hand over to each other. A process that runs a part of the shards (its scope, written
-- `first-last/total`) keeps its Lavalink sessions and its Discord cache in the tables below;
-- gateway sessions are per shard already (gateway_sessions), each process taking its own shards'.
CREATE TABLE scoped_lavalink_sessions (
    scope            TEXT    NOT NULL,
    node             TEXT    NOT NULL,
    session_id       TEXT    NOT NULL,
    saved_at_unix_ms INTEGER NOT NULL,
    PRIMARY KEY (scope, node)
) STRICT;

CREATE TABLE scoped_discord_caches (
    scope            TEXT    PRIMARY KEY,
    snapshot         TEXT    NOT NULL,
    saved_at_unix_ms INTEGER NOT NULL
) STRICT;

-- The shared identify queue: per identify bucket (shard % max_concurrency), the unix millisecond
-- from which the next identify may go. Every process of the application reserves its identifies
-- here, so that together they keep Discord's limit of one identify per bucket per 5 s.
CREATE TABLE identify_slots (
    bucket        INTEGER PRIMARY KEY CHECK (bucket >= 0),
    next_at_ms    INTEGER NOT NULL
) STRICT;
