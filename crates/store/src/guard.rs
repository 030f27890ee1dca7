//! A [`Store`] in front of another that keeps the rows of quarantined guilds untouched.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;

use crate::{
    Colour, ColourBuild, DeployRecord, DeployState, DeployStep, DiscordCache, Error, Filters,
    Finished, GatewaySession, GuildSettings, GuildState, HandoverScope, HistoryEntry,
    LavalinkSession, LoadedGuilds, LoopMode, NewDeploy, PanelMessage, Playlist, PlaylistSummary,
    PositionSnapshot, PositionWrite, QueueEntry, Result, SavedPlaylist, Store, WaitingRequest,
};

/// Passes every call to the store behind it, except writes for a guild that the last
/// [`Store::load_all_guilds`] found damaged: those are [`Error::Quarantined`] and change nothing
/// (the position tick leaves such a guild out), so the damaged rows stay as they were for a person
/// to repair or drop (see `docs/runbooks/store.md`). A repair takes effect at the next restart.
///
/// Playlists belong to users, not guilds: they pass through whatever is quarantined. So do a
/// guild's [`GuildSettings`]: they are rows of their own (`guild_settings`), which the damage that
/// quarantines a guild (its playback rows) does not touch. The now-playing panel is in the guild's
/// row and is refused with the rest.
#[derive(Debug)]
pub struct QuarantineGuard {
    inner: Arc<dyn Store>,
    quarantined: Mutex<HashSet<u64>>,
}

impl QuarantineGuard {
    /// A guard in front of `inner`, with nothing quarantined until `load_all_guilds` finds damage.
    pub fn new(inner: Arc<dyn Store>) -> Self {
        Self {
            inner,
            quarantined: Mutex::new(HashSet::new()),
        }
    }

    /// How many guilds are quarantined.
    pub fn quarantined(&self) -> usize {
        self.lock().len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashSet<u64>> {
        self.quarantined
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn allow(&self, guild_id: u64) -> Result<()> {
        if self.lock().contains(&guild_id) {
            Err(Error::Quarantined { guild_id })
        } else {
            Ok(())
        }
    }
}

#[async_trait]
impl Store for QuarantineGuard {
    async fn ping(&self) -> Result<()> {
        self.inner.ping().await
    }

    async fn check(&self) -> Result<()> {
        self.inner.check().await
    }

    async fn load_guild(&self, guild_id: u64) -> Result<Option<GuildState>> {
        self.inner.load_guild(guild_id).await
    }

    async fn load_guilds(&self, scope: HandoverScope) -> Result<LoadedGuilds> {
        let loaded = self.inner.load_guilds(scope).await?;
        *self.lock() = loaded.damaged.iter().map(|d| d.guild_id).collect();
        Ok(loaded)
    }

    async fn enqueue(
        &self,
        guild_id: u64,
        entries: &[QueueEntry],
        at: Option<usize>,
    ) -> Result<usize> {
        self.allow(guild_id)?;
        self.inner.enqueue(guild_id, entries, at).await
    }

    async fn remove(&self, guild_id: u64, index: usize) -> Result<QueueEntry> {
        self.allow(guild_id)?;
        self.inner.remove(guild_id, index).await
    }

    async fn move_entry(&self, guild_id: u64, from: usize, to: usize) -> Result<()> {
        self.allow(guild_id)?;
        self.inner.move_entry(guild_id, from, to).await
    }

    async fn clear_queue(&self, guild_id: u64) -> Result<usize> {
        self.allow(guild_id)?;
        self.inner.clear_queue(guild_id).await
    }

    async fn replace_queue(&self, guild_id: u64, entries: &[QueueEntry]) -> Result<()> {
        self.allow(guild_id)?;
        self.inner.replace_queue(guild_id, entries).await
    }

    async fn set_current(
        &self,
        guild_id: u64,
        entry: Option<&QueueEntry>,
        position: PositionSnapshot,
    ) -> Result<()> {
        self.allow(guild_id)?;
        self.inner.set_current(guild_id, entry, position).await
    }

    async fn advance(
        &self,
        guild_id: u64,
        finished: Finished,
        at_unix_ms: u64,
    ) -> Result<Option<QueueEntry>> {
        self.allow(guild_id)?;
        self.inner.advance(guild_id, finished, at_unix_ms).await
    }

    async fn save_position(
        &self,
        guild_id: u64,
        position: PositionSnapshot,
        paused: bool,
    ) -> Result<bool> {
        self.allow(guild_id)?;
        self.inner.save_position(guild_id, position, paused).await
    }

    async fn save_positions(&self, writes: &[PositionWrite]) -> Result<usize> {
        let allowed: Vec<PositionWrite> = {
            let quarantined = self.lock();
            writes
                .iter()
                .filter(|w| !quarantined.contains(&w.guild_id))
                .copied()
                .collect()
        };
        self.inner.save_positions(&allowed).await
    }

    async fn set_volume(&self, guild_id: u64, volume: u16) -> Result<()> {
        self.allow(guild_id)?;
        self.inner.set_volume(guild_id, volume).await
    }

    async fn set_filters(&self, guild_id: u64, filters: &Filters) -> Result<()> {
        self.allow(guild_id)?;
        self.inner.set_filters(guild_id, filters).await
    }

    async fn set_loop(&self, guild_id: u64, mode: LoopMode) -> Result<()> {
        self.allow(guild_id)?;
        self.inner.set_loop(guild_id, mode).await
    }

    async fn set_stay(&self, guild_id: u64, stay: bool) -> Result<()> {
        self.allow(guild_id)?;
        self.inner.set_stay(guild_id, stay).await
    }

    async fn set_autoplay(&self, guild_id: u64, autoplay: bool) -> Result<()> {
        self.allow(guild_id)?;
        self.inner.set_autoplay(guild_id, autoplay).await
    }

    async fn set_channels(
        &self,
        guild_id: u64,
        voice_channel_id: Option<u64>,
        text_channel_id: Option<u64>,
    ) -> Result<()> {
        self.allow(guild_id)?;
        self.inner
            .set_channels(guild_id, voice_channel_id, text_channel_id)
            .await
    }

    async fn set_panel(&self, guild_id: u64, panel: Option<PanelMessage>) -> Result<()> {
        self.allow(guild_id)?;
        self.inner.set_panel(guild_id, panel).await
    }

    async fn forget_guild(&self, guild_id: u64) -> Result<bool> {
        self.allow(guild_id)?;
        self.inner.forget_guild(guild_id).await
    }

    async fn guild_settings(&self, guild_id: u64) -> Result<GuildSettings> {
        self.inner.guild_settings(guild_id).await
    }

    async fn set_guild_settings(&self, guild_id: u64, settings: &GuildSettings) -> Result<()> {
        self.inner.set_guild_settings(guild_id, settings).await
    }

    async fn add_waiting(
        &self,
        guild_id: u64,
        query: &str,
        requester_id: u64,
        requested_at_unix_ms: u64,
    ) -> Result<WaitingRequest> {
        self.allow(guild_id)?;
        self.inner
            .add_waiting(guild_id, query, requester_id, requested_at_unix_ms)
            .await
    }

    async fn remove_waiting(&self, guild_id: u64, id: u64) -> Result<bool> {
        self.allow(guild_id)?;
        self.inner.remove_waiting(guild_id, id).await
    }

    async fn add_history(
        &self,
        guild_id: u64,
        entry: &QueueEntry,
        played_at_unix_ms: u64,
    ) -> Result<HistoryEntry> {
        self.allow(guild_id)?;
        self.inner
            .add_history(guild_id, entry, played_at_unix_ms)
            .await
    }

    async fn history(&self, guild_id: u64, limit: usize) -> Result<Vec<HistoryEntry>> {
        self.inner.history(guild_id, limit).await
    }

    async fn remove_history(&self, guild_id: u64, id: u64) -> Result<bool> {
        self.allow(guild_id)?;
        self.inner.remove_history(guild_id, id).await
    }

    async fn save_playlist(
        &self,
        user_id: u64,
        name: &str,
        entries: &[QueueEntry],
        now_unix_ms: u64,
    ) -> Result<SavedPlaylist> {
        self.inner
            .save_playlist(user_id, name, entries, now_unix_ms)
            .await
    }

    async fn playlist(&self, user_id: u64, name: &str) -> Result<Option<Playlist>> {
        self.inner.playlist(user_id, name).await
    }

    async fn playlists(&self, user_id: u64) -> Result<Vec<PlaylistSummary>> {
        self.inner.playlists(user_id).await
    }

    async fn delete_playlist(&self, user_id: u64, name: &str) -> Result<bool> {
        self.inner.delete_playlist(user_id, name).await
    }

    async fn save_gateway_session(&self, session: &GatewaySession) -> Result<()> {
        self.inner.save_gateway_session(session).await
    }

    async fn take_gateway_sessions(&self, scope: HandoverScope) -> Result<Vec<GatewaySession>> {
        self.inner.take_gateway_sessions(scope).await
    }

    async fn save_lavalink_session(
        &self,
        scope: HandoverScope,
        session: &LavalinkSession,
    ) -> Result<()> {
        self.inner.save_lavalink_session(scope, session).await
    }

    async fn take_lavalink_sessions(&self, scope: HandoverScope) -> Result<Vec<LavalinkSession>> {
        self.inner.take_lavalink_sessions(scope).await
    }

    async fn save_discord_cache(&self, scope: HandoverScope, cache: &DiscordCache) -> Result<()> {
        self.inner.save_discord_cache(scope, cache).await
    }

    async fn take_discord_cache(&self, scope: HandoverScope) -> Result<Option<DiscordCache>> {
        self.inner.take_discord_cache(scope).await
    }

    async fn reserve_identify(
        &self,
        bucket: u32,
        now_unix_ms: u64,
        spacing_ms: u64,
    ) -> Result<u64> {
        self.inner
            .reserve_identify(bucket, now_unix_ms, spacing_ms)
            .await
    }

    async fn begin_deploy(&self, deploy: &NewDeploy) -> Result<u64> {
        self.inner.begin_deploy(deploy).await
    }

    async fn record_deploy_step(&self, id: u64, step: &DeployStep) -> Result<()> {
        self.inner.record_deploy_step(id, step).await
    }

    async fn set_deploy_state(&self, id: u64, state: DeployState, at_ms: u64) -> Result<()> {
        self.inner.set_deploy_state(id, state, at_ms).await
    }

    async fn finish_deploy(
        &self,
        id: u64,
        state: DeployState,
        reason: Option<&str>,
        at_ms: u64,
    ) -> Result<()> {
        self.inner.finish_deploy(id, state, reason, at_ms).await
    }

    async fn deploys(&self, limit: usize) -> Result<Vec<DeployRecord>> {
        self.inner.deploys(limit).await
    }

    async fn deploy(&self, id: u64) -> Result<Option<(DeployRecord, Vec<DeployStep>)>> {
        self.inner.deploy(id).await
    }

    async fn set_active_colour(&self, build: &ColourBuild) -> Result<()> {
        self.inner.set_active_colour(build).await
    }

    async fn active_colour(&self) -> Result<Option<ColourBuild>> {
        self.inner.active_colour().await
    }

    async fn colour_build(&self, colour: Colour) -> Result<Option<ColourBuild>> {
        self.inner.colour_build(colour).await
    }
}
