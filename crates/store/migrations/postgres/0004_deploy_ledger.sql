-- DimbyBot store on PostgreSQL, schema version 4 (as ../0004_deploy_ledger.sql): the deploy ledger.
-- Every blue-green deploy (`dimby deploy`) with the steps it went through, and the last known build
-- of each colour, so that an operator can read what happened after an incident and a rollback can
-- start the old build again. Times are unix milliseconds, passed in by the caller. Nothing here is
-- ever deleted by the bot.

-- One row per deploy, ids increasing. A deploy is running while finished_at_ms is NULL, which is
-- exactly while its state is not final; at most one is running at a time.
CREATE TABLE deploys (
    id                  BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    started_at_ms       BIGINT NOT NULL,
    from_colour         TEXT   CHECK (from_colour IN ('blue', 'green')),
    to_colour           TEXT   NOT NULL CHECK (to_colour IN ('blue', 'green')),
    version             TEXT   NOT NULL,
    commit_id           TEXT   NOT NULL,
    state               TEXT   NOT NULL CHECK (state IN ('started', 'gating', 'cut_over',
                               'watching', 'promoted', 'rejected', 'rolled_back', 'failed')),
    state_changed_at_ms BIGINT NOT NULL,
    reason              TEXT,
    finished_at_ms      BIGINT,
    CHECK ((finished_at_ms IS NULL) = (state IN ('started', 'gating', 'cut_over', 'watching')))
);

-- One deploy at a time, also against a writer that skips the store's own check: among the running
-- deploys (the rows this partial index holds) the indexed value is always true, so there is one.
CREATE UNIQUE INDEX deploys_one_running ON deploys ((finished_at_ms IS NULL))
    WHERE finished_at_ms IS NULL;

-- The steps of each deploy, in the order they were recorded: seq runs 0, 1, 2, ...
CREATE TABLE deploy_steps (
    deploy_id BIGINT NOT NULL REFERENCES deploys (id) ON DELETE CASCADE,
    seq       BIGINT NOT NULL CHECK (seq >= 0),
    at_ms     BIGINT NOT NULL,
    step      TEXT   NOT NULL CHECK (length(step) > 0),
    outcome   TEXT   NOT NULL CHECK (outcome IN ('ok', 'failed', 'info')),
    detail    TEXT   NOT NULL,
    PRIMARY KEY (deploy_id, seq)
);

-- The last known build of each colour: what is needed to start it again. ("binary" is quoted: it
-- is a keyword in PostgreSQL.)
CREATE TABLE colour_builds (
    colour         TEXT   PRIMARY KEY CHECK (colour IN ('blue', 'green')),
    version        TEXT   NOT NULL,
    commit_id      TEXT   NOT NULL,
    "binary"       TEXT   NOT NULL,
    config         TEXT   NOT NULL,
    admin_url      TEXT   NOT NULL,
    recorded_at_ms BIGINT NOT NULL
);

-- The colour that serves (one row, once a colour was set active).
CREATE TABLE active_colour (
    id     SMALLINT PRIMARY KEY CHECK (id = 1),
    colour TEXT     NOT NULL REFERENCES colour_builds (colour)
);
