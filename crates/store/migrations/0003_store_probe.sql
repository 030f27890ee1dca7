-- DimbyBot store, schema version 3: one row the readiness probe writes (a counter) to show that
-- the store still takes writes. Nothing reads it.
CREATE TABLE store_probe (
    id     INTEGER PRIMARY KEY CHECK (id = 1),
    checks INTEGER NOT NULL
) STRICT;
