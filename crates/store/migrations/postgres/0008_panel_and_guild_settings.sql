-- DimbyBot store on PostgreSQL, schema version 8 (as ../0008_panel_and_guild_settings.sql): the
-- now-playing panel's message per guild (both ids or neither; forgotten with the guild), and the
-- settings an admin sets with /settings in a table of their own, without a foreign key to guilds,
-- so that forget_guild (/leave) keeps them. Additive only: a binary of version 7 keeps working on
-- it.
ALTER TABLE guilds ADD COLUMN panel_channel_id BIGINT;
ALTER TABLE guilds ADD COLUMN panel_message_id BIGINT;
ALTER TABLE guilds ADD CONSTRAINT guilds_panel_check
    CHECK ((panel_message_id IS NULL) = (panel_channel_id IS NULL));

-- updated_at_unix_ms: when the row was last written, by the server's clock.
CREATE TABLE guild_settings (
    guild_id            BIGINT   PRIMARY KEY,
    dj_role_id          BIGINT,
    vote_skip_percent   SMALLINT NOT NULL DEFAULT 50 CHECK (vote_skip_percent BETWEEN 1 AND 100),
    default_volume      SMALLINT NOT NULL DEFAULT 100 CHECK (default_volume BETWEEN 0 AND 200),
    announce_channel_id BIGINT,
    stay_by_default     BOOLEAN  NOT NULL DEFAULT FALSE,
    autoplay_by_default BOOLEAN  NOT NULL DEFAULT FALSE,
    locale              TEXT     CHECK (locale IS NULL OR char_length(locale) BETWEEN 1 AND 16),
    updated_at_unix_ms  BIGINT   NOT NULL
);
