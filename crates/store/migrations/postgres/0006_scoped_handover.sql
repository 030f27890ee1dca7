-- DimbyBot store on PostgreSQL, schema version 6 (as ../0006_scoped_handover.sql): several
-- processes share one store, each running its own range of the application's shards (its scope,
-- written `first-last/total`), and each hands over to its own successor only. A process that runs
-- every shard keeps using the tables of version 5. And the shared identify queue: per identify
-- bucket (shard % max_concurrency), the unix millisecond from which the next identify may go.
CREATE TABLE scoped_lavalink_sessions (
    scope            TEXT   NOT NULL,
    node             TEXT   NOT NULL,
    session_id       TEXT   NOT NULL,
    saved_at_unix_ms BIGINT NOT NULL,
    PRIMARY KEY (scope, node)
);

CREATE TABLE scoped_discord_caches (
    scope            TEXT   PRIMARY KEY,
    snapshot         TEXT   NOT NULL,
    saved_at_unix_ms BIGINT NOT NULL
);

CREATE TABLE identify_slots (
    bucket     BIGINT PRIMARY KEY CHECK (bucket >= 0),
    next_at_ms BIGINT NOT NULL
);
