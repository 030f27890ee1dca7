-- DimbyBot store on PostgreSQL, schema version 3 (as ../0003_store_probe.sql): one row the
-- readiness probe writes (a counter) to show that the store still takes writes (a server that
-- became a read-only standby refuses it). Nothing reads it.
CREATE TABLE store_probe (
    id     SMALLINT PRIMARY KEY CHECK (id = 1),
    checks BIGINT   NOT NULL
);
