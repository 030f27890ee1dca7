-- DimbyBot store, schema version 8: the now-playing panel's message per guild, and the settings an
-- admin sets with /settings. Additive only: a binary of version 7 keeps working on this schema (its
-- INSERTs into guilds leave the panel columns NULL, its forget_guild takes the panel along with the
-- guild's row and leaves guild_settings alone, and it never reads the new table).

-- The guild's now-playing panel message (channel and message ids): both set, or neither. Part of
-- the guild's state, so forget_guild (/leave) forgets it with the rest.
ALTER TABLE guilds ADD COLUMN panel_channel_id INTEGER;
ALTER TABLE guilds ADD COLUMN panel_message_id INTEGER
    CHECK ((panel_message_id IS NULL) = (panel_channel_id IS NULL));

-- The settings of each guild that set any. Not tied to guilds (no foreign key): a guild's settings
-- outlive forget_guild (/leave), and setting them creates no guild state. The store checks the
-- bounds before writing (vote_skip_percent 1 to 100, default_volume 0 to 200, locale 1 to 16
-- characters of ASCII letters, digits, '-' or '_'); the CHECKs are the backstop.
-- updated_at_unix_ms is when the row was last written, by the database's clock.
CREATE TABLE guild_settings (
    guild_id            INTEGER PRIMARY KEY,
    dj_role_id          INTEGER,
    vote_skip_percent   INTEGER NOT NULL DEFAULT 50 CHECK (vote_skip_percent BETWEEN 1 AND 100),
    default_volume      INTEGER NOT NULL DEFAULT 100 CHECK (default_volume BETWEEN 0 AND 200),
    announce_channel_id INTEGER,
    stay_by_default     INTEGER NOT NULL DEFAULT 0 CHECK (stay_by_default IN (0, 1)),
    autoplay_by_default INTEGER NOT NULL DEFAULT 0 CHECK (autoplay_by_default IN (0, 1)),
    locale              TEXT CHECK (locale IS NULL OR length(locale) BETWEEN 1 AND 16),
    updated_at_unix_ms  INTEGER NOT NULL
) STRICT;
