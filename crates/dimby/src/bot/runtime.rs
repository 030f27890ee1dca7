//! The bot at run time: Discord events and cluster events in, per-guild engines in between, the
//! shell carrying out their effects, answers and notices back to Discord.
//!
//! Each guild's engine sits behind its own async mutex: commands and Lavalink events of one guild
//! are handled one at a time, in order; different guilds proceed in parallel.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use cluster::{ClusterError, ClusterEvent, MoveOutcome};
use lavalink::model::{Event, LoadResult, Track, UpdatePlayer};
use music::{GuildPlayer, LoopMode, Refusal, StoreOp};
use telemetry::{CommandOutcome, HealOutcome, Metrics, QuerySource, VoiceAction};
use tokio::sync::mpsc;

use super::health_command::{self, HealthAccess};
use super::shell::{Outcome, Shell};
use crate::discord::{
    BotVoiceEvent, ChannelId, CommandInvocation, Discord, DiscordEvent, GuildId, Reply,
};
use crate::health::activity::{Activity, VoiceIncident};

/// Bot behaviour that is not about Discord or Lavalink.
#[derive(Debug, Clone, Copy)]
pub struct BotSettings {
    /// Leave a voice channel after it has had no listener for this long.
    pub idle_leave: Duration,
    /// How often playing positions are written to the store.
    pub position_tick: Duration,
}

impl Default for BotSettings {
    fn default() -> Self {
        Self {
            idle_leave: Duration::from_secs(120),
            position_tick: Duration::from_secs(5),
        }
    }
}

/// One guild's engine and where it talks.
#[derive(Debug)]
struct GuildCtx {
    player: GuildPlayer,
    text_channel: Option<ChannelId>,
    /// Restored from the store: play on from the saved position once the voice connection is up.
    resume_on_voice: bool,
    /// The voice channel to rejoin once the guild is available (restore).
    rejoin: Option<ChannelId>,
    /// /play requests that could not be looked up because no Lavalink node was healthy, with
    /// who asked: played in order as soon as a node is back.
    waiting: Vec<store::WaitingRequest>,
    /// When voice self-healing acted lately (for its cap).
    heals: Vec<std::time::Instant>,
    /// The play a command started and when its interaction arrived: its `TrackStart` gives the
    /// command-to-music time.
    awaiting_start: Option<(u64, String, std::time::Instant)>,
}

impl GuildCtx {
    fn new() -> Self {
        Self {
            player: GuildPlayer::new(),
            text_channel: None,
            resume_on_voice: false,
            rejoin: None,
            waiting: Vec::new(),
            heals: Vec::new(),
            awaiting_start: None,
        }
    }
}

struct Inner {
    discord: Discord,
    shell: Shell,
    settings: BotSettings,
    observers: Observers,
    guilds: Mutex<HashMap<GuildId, Arc<tokio::sync::Mutex<GuildCtx>>>>,
}

/// The running bot. Cheap to clone.
#[derive(Clone)]
pub struct Bot {
    inner: Arc<Inner>,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

fn lavalink_guild(guild: GuildId) -> lavalink::model::GuildId {
    lavalink::model::GuildId(guild.get())
}

fn discord_guild(guild: lavalink::model::GuildId) -> Option<GuildId> {
    GuildId::new_checked(guild.0)
}

impl Bot {
    /// A bot over a connected Discord layer and the shell, with metrics of its own and no
    /// health registry (its `/health` says so).
    pub fn new(discord: Discord, shell: Shell, settings: BotSettings) -> Self {
        Self::observed(discord, shell, settings, Observers::default())
    }

    /// A bot that reports to `observers`.
    pub fn observed(
        discord: Discord,
        shell: Shell,
        settings: BotSettings,
        observers: Observers,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                discord,
                shell,
                settings,
                observers,
                guilds: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// The metrics the bot records into.
    pub fn metrics(&self) -> &Metrics {
        &self.inner.observers.metrics
    }

    /// Every guild's context, copied out of the map so no lock on it is held while they are
    /// visited.
    fn guild_contexts(&self) -> Vec<(GuildId, Arc<tokio::sync::Mutex<GuildCtx>>)> {
        self.inner
            .guilds
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .map(|(g, c)| (*g, Arc::clone(c)))
            .collect()
    }

    /// Guilds by activity, for the metrics. Reads without waiting: a guild busy with a command
    /// counts as active.
    pub fn guild_counts(&self) -> telemetry::GuildCounts {
        let guilds = self.guild_contexts();
        let cluster = self.inner.shell.cluster();
        let mut counts = telemetry::GuildCounts::default();
        for (guild, ctx) in guilds {
            let active = ctx.try_lock().map_or(true, |ctx| {
                ctx.player.current().is_some() || !ctx.player.queue().is_empty()
            });
            counts.active += u64::from(active);
            counts.playing += u64::from(
                cluster
                    .player(lavalink_guild(guild))
                    .is_some_and(|view| view.record.is_playing()),
            );
        }
        counts
    }

    fn guild(&self, guild: GuildId) -> Arc<tokio::sync::Mutex<GuildCtx>> {
        let mut guilds = self
            .inner
            .guilds
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        Arc::clone(
            guilds
                .entry(guild)
                .or_insert_with(|| Arc::new(tokio::sync::Mutex::new(GuildCtx::new()))),
        )
    }

    /// Loads every stored guild; each rejoins its voice channel when its guild is available and
    /// plays on from the saved position once the voice connection is up.
    pub async fn restore(&self) -> Result<usize, store::Error> {
        let restored = self.inner.shell.restore().await?;
        let count = restored.len();
        for r in restored {
            let Some(guild) = discord_guild(r.guild) else {
                continue;
            };
            let ctx = self.guild(guild);
            let mut ctx = ctx.lock().await;
            let playing = r.player.current().is_some();
            ctx.player = r.player;
            ctx.text_channel = r.text_channel.and_then(ChannelId::new_checked);
            ctx.resume_on_voice = playing;
            ctx.rejoin = r.voice_channel.and_then(ChannelId::new_checked);
            ctx.waiting = r.waiting;
        }
        tracing::info!(guilds = count, "restored guilds from the store");
        Ok(count)
    }

    /// Handles events until both streams end or `stop` completes.
    pub async fn run(
        &self,
        mut discord: mpsc::UnboundedReceiver<DiscordEvent>,
        mut cluster: mpsc::UnboundedReceiver<ClusterEvent>,
        stop: impl std::future::Future<Output = ()>,
    ) {
        let ticker = tokio::spawn(self.clone().save_positions());
        tokio::pin!(stop);
        loop {
            tokio::select! {
                () = &mut stop => break,
                event = discord.recv() => match event {
                    Some(event) => self.on_discord(event),
                    None => break,
                },
                event = cluster.recv() => match event {
                    Some(event) => self.on_cluster(event),
                    None => break,
                },
            }
        }
        ticker.abort();
    }

    fn on_discord(&self, event: DiscordEvent) {
        let bot = self.clone();
        match event {
            DiscordEvent::Command(invocation) => {
                tokio::spawn(async move { bot.command(*invocation).await });
            }
            DiscordEvent::GuildAvailable { guild, .. } => {
                tokio::spawn(async move { bot.rejoin(guild).await });
            }
            DiscordEvent::VoiceReady { guild, voice } => {
                tokio::spawn(async move { bot.voice_ready(guild, voice).await });
            }
            DiscordEvent::BotVoice(BotVoiceEvent::Disconnected { guild, .. }) => {
                tokio::spawn(async move { bot.kicked(guild).await });
            }
            DiscordEvent::BotVoice(BotVoiceEvent::Moved { guild, to, .. }) => {
                tokio::spawn(async move { bot.remember_voice(guild, Some(to)).await });
            }
            DiscordEvent::UserVoice { guild, from, .. } => {
                if let Some(left) = from
                    && self.inner.discord.bot_voice_channel(guild) == Some(left)
                {
                    tokio::spawn(async move { bot.leave_if_idle(guild, left).await });
                }
            }
            DiscordEvent::BotVoice(_)
            | DiscordEvent::GuildUnavailable { .. }
            | DiscordEvent::Gateway(_) => {}
        }
    }

    fn on_cluster(&self, event: ClusterEvent) {
        let bot = self.clone();
        match event {
            ClusterEvent::Player {
                guild,
                event: Event::WebSocketClosed(closed),
                ..
            } => {
                let Some(guild) = discord_guild(guild) else {
                    return;
                };
                tokio::spawn(async move { bot.heal_voice(guild, closed.code).await });
            }
            ClusterEvent::Player { guild, event, .. } => {
                let Some(guild) = discord_guild(guild) else {
                    return;
                };
                tokio::spawn(async move {
                    let ctx = bot.guild(guild);
                    let mut ctx = ctx.lock().await;
                    if let Event::TrackStart(start) = &event
                        && let Some((play, command, received)) = &ctx.awaiting_start
                        && music::play_id_of(&start.track) == Some(*play)
                    {
                        bot.metrics()
                            .record_command_track_start(command, received.elapsed());
                        ctx.awaiting_start = None;
                    }
                    let effects = ctx.player.on_event(&event, now_ms());
                    bot.carry_out(guild, &mut ctx, effects, None).await;
                });
            }
            ClusterEvent::MoveFinished {
                guild,
                outcome: MoveOutcome::TrackFailed { error },
                ..
            } => {
                let Some(guild) = discord_guild(guild) else {
                    return;
                };
                tokio::spawn(async move {
                    let ctx = bot.guild(guild);
                    let mut ctx = ctx.lock().await;
                    let effects = ctx.player.move_failed(&error, now_ms());
                    bot.carry_out(guild, &mut ctx, effects, None).await;
                });
            }
            ClusterEvent::Circuit { to, .. } if to.as_str() == "closed" => {
                tokio::spawn(async move { bot.play_waiting().await });
            }
            ClusterEvent::NodeReady { .. } => {
                tokio::spawn(async move { bot.play_waiting().await });
            }
            _ => {}
        }
    }

    /// Self-healing after Discord closed the node's voice socket, within a cap: 4006 (session no
    /// longer valid) rejoins; 4015 (voice server crashed) resends the voice state; 4014
    /// (disconnected) looks at the bot's voice state: gone means it was kicked (clean up), still in
    /// a channel means it was moved or the gateway dropped (rejoin). Past the cap the bot stops
    /// trying and says so.
    async fn heal_voice(&self, guild: GuildId, code: u16) {
        const CAP: usize = 3;
        const WINDOW: Duration = Duration::from_secs(300);
        let ctx = self.guild(guild);
        let mut ctx = ctx.lock().await;
        let now = std::time::Instant::now();
        ctx.heals.retain(|t| now.duration_since(*t) < WINDOW);
        let activity = &self.inner.observers.activity;
        activity.voice(VoiceIncident::Closed(code));
        if !matches!(code, 4006 | 4014 | 4015) {
            tracing::info!(guild = %guild, code, "voice socket closed; nothing to heal for this code");
            return;
        }
        let discord = &self.inner.discord;
        let action = match (code, discord.bot_voice_channel(guild)) {
            (4015, Some(_)) => VoiceAction::Resend,
            (_, Some(_)) => VoiceAction::Rejoin,
            (_, None) => VoiceAction::Cleanup,
        };
        if ctx.heals.len() >= CAP {
            self.inner
                .observers
                .metrics
                .record_voice_heal(action, HealOutcome::Capped);
            activity.voice(VoiceIncident::Capped);
            tracing::error!(guild = %guild, code, "voice keeps failing; self-healing capped");
            self.announce(
                &ctx,
                "The voice connection keeps failing; I stopped retrying. Use /play again to reconnect.",
            )
            .await;
            return;
        }
        // Back off: 0 s, 1 s, 2 s for the attempts within the window.
        let attempt = u32::try_from(ctx.heals.len()).unwrap_or(u32::MAX);
        ctx.heals.push(now);
        if attempt > 0 {
            tokio::time::sleep(Duration::from_secs(1) * 2u32.saturating_pow(attempt - 1)).await;
        }
        let channel = discord.bot_voice_channel(guild);
        let healed = match (code, channel) {
            (4015, Some(_)) => match discord.voice_state(guild) {
                Some(voice) => {
                    tracing::info!(guild = %guild, "voice server crashed: resending the voice state");
                    let update = UpdatePlayer {
                        voice: Some(voice),
                        ..UpdatePlayer::default()
                    };
                    let sent = self
                        .inner
                        .shell
                        .cluster()
                        .update(lavalink_guild(guild), update)
                        .await;
                    if let Err(error) = &sent {
                        tracing::warn!(guild = %guild, %error, "could not resend the voice state");
                    }
                    sent.is_ok()
                }
                None => false,
            },
            (_, Some(channel)) => {
                tracing::info!(guild = %guild, code, "voice session invalid: rejoining");
                let _ = discord.leave_voice(guild);
                let joined = discord.join_voice(guild, channel, true);
                if let Err(error) = &joined {
                    tracing::warn!(guild = %guild, %error, "could not rejoin the voice channel");
                }
                joined.is_ok()
            }
            (_, None) => {
                tracing::info!(guild = %guild, code, "disconnected from voice: cleaning up");
                let effects = ctx.player.leave();
                !self.carry_out(guild, &mut ctx, effects, None).await.failed
            }
        };
        self.inner.observers.metrics.record_voice_heal(
            action,
            if healed {
                HealOutcome::Ok
            } else {
                HealOutcome::Failed
            },
        );
        self.inner.observers.activity.voice(if healed {
            VoiceIncident::Healed
        } else {
            VoiceIncident::HealFailed
        });
    }

    /// Plays the /play requests that waited for a healthy node, if one is back.
    async fn play_waiting(&self) {
        if !self.inner.shell.cluster().has_eligible_node() {
            return;
        }
        let guilds = self.guild_contexts();
        for (guild, ctx) in guilds {
            let mut ctx = ctx.lock().await;
            let waiting = std::mem::take(&mut ctx.waiting);
            for request in waiting {
                match self.load(&request.query).await {
                    Ok(tracks) => match ctx.player.play(tracks, request.requester_id, now_ms()) {
                        Ok(effects) => {
                            self.carry_out(guild, &mut ctx, effects, None).await;
                        }
                        Err(refusal) => self.announce(&ctx, &refusal.to_string()).await,
                    },
                    Err(LoadFailure::NoNode) => {
                        // Gone again: keep waiting (it is still in the store).
                        ctx.waiting.push(request);
                        continue;
                    }
                    Err(LoadFailure::Empty(text) | LoadFailure::Failed(text)) => {
                        self.announce(&ctx, &text).await;
                    }
                }
                // Played (its tracks are in the stored queue now) or failed for good.
                if let Err(error) = self
                    .inner
                    .shell
                    .store()
                    .remove_waiting(guild.get(), request.id)
                    .await
                {
                    tracing::warn!(guild = %guild, %error, "could not drop a played waiting request");
                }
            }
        }
    }

    /// Remembers the play a command starts, to time it to its `TrackStart`.
    fn await_start(ctx: &mut GuildCtx, inv: &CommandInvocation, effects: &[music::Effect]) {
        if let Some(play) = effects.iter().find_map(|effect| match effect {
            music::Effect::Play { play_id, .. } => Some(*play_id),
            _ => None,
        }) {
            ctx.awaiting_start = Some((play, inv.name.clone(), inv.responder.received()));
        }
    }

    /// Records when a command's first Lavalink call goes out (effects that reach the player).
    fn reaching_lavalink(&self, inv: &CommandInvocation, effects: &[music::Effect]) {
        let reaches = effects.iter().any(|effect| {
            matches!(
                effect,
                music::Effect::Play { .. }
                    | music::Effect::Stop
                    | music::Effect::Pause(_)
                    | music::Effect::Seek(_)
                    | music::Effect::SetVolume(_)
                    | music::Effect::Disconnect
            )
        });
        if reaches {
            self.inner
                .observers
                .metrics
                .record_command_reached_lavalink(&inv.name, inv.responder.received().elapsed());
        }
    }

    /// Carries out effects; notices go to the reply (a command's) or the text channel.
    async fn carry_out(
        &self,
        guild: GuildId,
        ctx: &mut GuildCtx,
        effects: Vec<music::Effect>,
        reply: Option<&mut Vec<String>>,
    ) -> Outcome {
        let queue_changed = effects.iter().any(|effect| {
            matches!(
                effect,
                music::Effect::Persist(
                    StoreOp::Enqueue { .. }
                        | StoreOp::Remove { .. }
                        | StoreOp::Move { .. }
                        | StoreOp::ClearQueue
                        | StoreOp::ReplaceQueue(_)
                        | StoreOp::Advance { .. }
                )
            )
        });
        let enqueued: usize = effects
            .iter()
            .map(|effect| match effect {
                music::Effect::Persist(StoreOp::Enqueue { entries, .. }) => entries.len(),
                _ => 0,
            })
            .sum();
        let outcome = match self.inner.shell.apply(lavalink_guild(guild), effects).await {
            Ok(outcome) => outcome,
            Err(error) => {
                tracing::error!(guild = %guild, %error, "could not carry out the engine's effects");
                let text = format!("Something went wrong: {error}");
                match reply {
                    Some(lines) => lines.push(text),
                    None => self.announce(ctx, &text).await,
                }
                return Outcome {
                    failed: true,
                    ..Outcome::default()
                };
            }
        };
        if enqueued > 0 {
            self.inner.observers.metrics.record_enqueued(enqueued);
        }
        if queue_changed {
            self.inner
                .observers
                .metrics
                .record_queue_length(ctx.player.queue().len());
        }
        if outcome.disconnect
            && let Err(error) = self.inner.discord.leave_voice(guild)
        {
            tracing::warn!(guild = %guild, %error, "could not leave the voice channel");
        }
        let mut lines: Vec<String> = outcome.notices.iter().map(ToString::to_string).collect();
        if outcome.nodes_unavailable {
            lines.push(
                "Audio nodes are unavailable, your queue is kept: playback starts by itself when one is back."
                    .to_owned(),
            );
        }
        match reply {
            Some(reply) => reply.extend(lines),
            None => {
                for line in lines {
                    self.announce(ctx, &line).await;
                }
            }
        }
        outcome
    }

    async fn announce(&self, ctx: &GuildCtx, text: &str) {
        if let Some(channel) = ctx.text_channel
            && let Err(error) = self
                .inner
                .discord
                .send_message(channel, &Reply::text(text))
                .await
        {
            tracing::warn!(%error, "could not post to the text channel");
        }
    }

    async fn rejoin(&self, guild: GuildId) {
        let ctx = self.guild(guild);
        let mut ctx = ctx.lock().await;
        if let Some(channel) = ctx.rejoin.take()
            && let Err(error) = self.inner.discord.join_voice(guild, channel, true)
        {
            tracing::warn!(guild = %guild, %error, "could not rejoin the voice channel");
        }
    }

    async fn voice_ready(&self, guild: GuildId, voice: lavalink::model::VoiceState) {
        let ctx = self.guild(guild);
        let mut ctx = ctx.lock().await;
        let update = UpdatePlayer {
            voice: Some(voice),
            ..UpdatePlayer::default()
        };
        if let Err(error) = self
            .inner
            .shell
            .cluster()
            .update(lavalink_guild(guild), update)
            .await
        {
            tracing::warn!(guild = %guild, %error, "could not hand the voice connection to Lavalink");
        }
        if std::mem::take(&mut ctx.resume_on_voice) {
            let effects = ctx.player.resume_from_snapshot(now_ms());
            self.carry_out(guild, &mut ctx, effects, None).await;
        }
    }

    async fn kicked(&self, guild: GuildId) {
        let ctx = self.guild(guild);
        let mut ctx = ctx.lock().await;
        let effects = ctx.player.leave();
        self.carry_out(guild, &mut ctx, effects, None).await;
    }

    async fn remember_voice(&self, guild: GuildId, channel: Option<ChannelId>) {
        let ctx = self.guild(guild);
        let ctx = ctx.lock().await;
        let text = ctx.text_channel.map(ChannelId::get);
        if let Err(error) = self
            .inner
            .shell
            .store()
            .set_channels(guild.get(), channel.map(ChannelId::get), text)
            .await
        {
            tracing::warn!(guild = %guild, %error, "could not store the voice channel");
        }
    }

    async fn leave_if_idle(&self, guild: GuildId, channel: ChannelId) {
        if !self
            .inner
            .discord
            .voice_channel_listeners(channel)
            .is_empty()
        {
            return;
        }
        tokio::time::sleep(self.inner.settings.idle_leave).await;
        let still_there = self.inner.discord.bot_voice_channel(guild) == Some(channel);
        if !still_there
            || !self
                .inner
                .discord
                .voice_channel_listeners(channel)
                .is_empty()
        {
            return;
        }
        let ctx = self.guild(guild);
        let mut ctx = ctx.lock().await;
        self.announce(&ctx, "Nobody is listening: leaving the voice channel.")
            .await;
        let effects = ctx.player.leave();
        self.carry_out(guild, &mut ctx, effects, None).await;
        // The engine's leave destroys the player; make sure the voice channel is left too.
        let _ = self.inner.discord.leave_voice(guild);
    }

    /// Writes the positions of playing guilds, so a kill -9 loses at most one tick.
    async fn save_positions(self) {
        let mut tick = tokio::time::interval(self.inner.settings.position_tick);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            tick.tick().await;
            self.save_positions_once().await;
        }
    }

    /// One position tick. Each playing guild's engine takes the node's position, one guild at a
    /// time under that guild's lock (the engine's snapshot stays the one source of the position);
    /// the position saves that come out are then written in one batch, with no lock held. A
    /// command that writes a guild between its snapshot and the batch is not undone: the store
    /// does not put an older snapshot over a newer one. Effects other than position saves (none
    /// today) are carried out at once, as every other input's are.
    async fn save_positions_once(&self) {
        let guilds = self.guild_contexts();
        let mut writes = Vec::with_capacity(guilds.len());
        for (guild, ctx) in guilds {
            let Some(view) = self.inner.shell.cluster().player(lavalink_guild(guild)) else {
                continue;
            };
            if !view.record.is_playing() {
                continue;
            }
            let mut ctx = ctx.lock().await;
            let effects = ctx.player.player_update(view.position_ms, now_ms());
            match Shell::position_write(lavalink_guild(guild), &effects) {
                Some(write) => writes.push(write),
                None => {
                    self.carry_out(guild, &mut ctx, effects, None).await;
                }
            }
        }
        if writes.is_empty() {
            return;
        }
        match self.inner.shell.save_positions(&writes).await {
            Ok(written) => {
                tracing::debug!(
                    guilds = writes.len(),
                    written,
                    "saved the playing positions"
                );
            }
            Err(error) => {
                tracing::error!(
                    guilds = writes.len(),
                    %error,
                    "could not save the positions of the playing guilds"
                );
            }
        }
    }

    /// Answers one slash command.
    async fn command(&self, invocation: CommandInvocation) {
        let answer = if invocation.name == "health" {
            self.health_command(&invocation)
        } else {
            self.run_command(&invocation).await.map(Reply::text)
        };
        let (reply, mut outcome) = match answer {
            Ok(reply) => (reply, CommandOutcome::Ok),
            Err(failure) => (Reply::text(failure.text).ephemeral(), failure.outcome),
        };
        if let Err(error) = invocation.responder.respond(&reply).await {
            tracing::warn!(command = %invocation.name, %error, "could not answer a command");
            outcome = CommandOutcome::Error;
        }
        let metrics = &self.inner.observers.metrics;
        if let Some(acked) = invocation.responder.acked_after() {
            metrics.record_ack(acked);
            self.inner.observers.activity.ack(acked);
        }
        metrics.record_command(
            &invocation.name,
            outcome,
            invocation.responder.received().elapsed(),
        );
    }

    /// `/health`: the probes' last results, for admins only.
    fn health_command(&self, inv: &CommandInvocation) -> Result<Reply, Failure> {
        let observers = &self.inner.observers;
        if !observers.health_access.allows(inv) {
            return Err(
                "Only members with the Manage Server permission (or a configured bot \
                        admin) can see the bot's health."
                    .to_owned()
                    .into(),
            );
        }
        let Some(registry) = &observers.health else {
            return Err(Failure::failed(
                "Health checks are not running in this process.",
            ));
        };
        Ok(health_command::report(
            &registry.results(),
            registry.status(),
        ))
    }

    async fn run_command(&self, inv: &CommandInvocation) -> Result<String, Failure> {
        let Some(guild) = inv.guild else {
            return Err("Use my commands in a server.".to_owned().into());
        };
        let discord = &self.inner.discord;
        let caller = discord.user_voice_channel(guild, inv.user);
        let bot_channel = discord.bot_voice_channel(guild);
        let ctx = self.guild(guild);
        if inv.name == "play" {
            return self.play(inv, guild, caller, bot_channel, &ctx).await;
        }
        let mut ctx = ctx.lock().await;
        let now = now_ms();
        let controls = !matches!(inv.name.as_str(), "queue" | "nowplaying");
        if controls
            && let Some(bot) = bot_channel
            && caller != Some(bot)
        {
            return Err(format!("Join <#{bot}> to control playback.").into());
        }
        let player = &mut ctx.player;
        let effects: Result<Vec<music::Effect>, Refusal> = match inv.name.as_str() {
            "pause" => player.pause(now),
            "resume" => player.resume(now),
            "skip" => {
                let to = inv
                    .integer("to")
                    .map(|n| usize::try_from(n).unwrap_or(usize::MAX));
                player.skip(to, now)
            }
            "stop" => player.stop(now),
            "seek" => {
                let text = inv.string("position").unwrap_or_default();
                let position = music::parse_timestamp(text).map_err(|e| {
                    format!("{e}. Give a time like 1:23, 1:02:03 or a number of seconds.")
                })?;
                player.seek(position, now)
            }
            "volume" => player.set_volume(inv.integer("level").unwrap_or(-1)),
            "loop" => {
                let mode = match inv.string("mode") {
                    Some("track") => LoopMode::Track,
                    Some("queue") => LoopMode::Queue,
                    Some("off") => LoopMode::Off,
                    other => {
                        return Err(format!(
                            "Unknown loop mode {other:?}: choose off, track or queue."
                        )
                        .into());
                    }
                };
                Ok(player.set_loop(mode))
            }
            "shuffle" => player.shuffle(now),
            "remove" => player.remove(position(inv, "position")),
            "move" => player.move_entry(position(inv, "from"), position(inv, "to")),
            "clear" => player.clear(),
            "leave" => Ok(player.leave()),
            "queue" => {
                let page = position(inv, "page").max(1);
                let now_playing = player.now_playing(now);
                return player
                    .queue_page(page)
                    .map(|page| super::display::queue(&page, now_playing.as_ref()))
                    .map_err(|refusal| refusal.to_string().into());
            }
            "nowplaying" => {
                let bar = player.position_bar(now);
                return player
                    .now_playing(now)
                    .map(|np| super::display::now_playing(&np, bar))
                    .ok_or_else(|| "Nothing is playing.".to_owned().into());
            }
            other => return Err(format!("I don't know the command /{other}.").into()),
        };
        let effects = effects.map_err(|refusal| refusal.to_string())?;
        let mut lines = Vec::new();
        self.reaching_lavalink(inv, &effects);
        Self::await_start(&mut ctx, inv, &effects);
        let outcome = self
            .carry_out(guild, &mut ctx, effects, Some(&mut lines))
            .await;
        if outcome.failed {
            return Err(Failure::failed(lines.join("\n")));
        }
        if inv.name == "leave" {
            let _ = self.inner.discord.leave_voice(guild);
        }
        Ok(if lines.is_empty() {
            "Done.".to_owned()
        } else {
            lines.join("\n")
        })
    }

    /// No node can load the query now: join the caller's channel already, keep the request (in
    /// the store too) and say it will play when a node is back.
    async fn keep_waiting(
        &self,
        inv: &CommandInvocation,
        guild: GuildId,
        channel: ChannelId,
        bot_channel: Option<ChannelId>,
        ctx: &Arc<tokio::sync::Mutex<GuildCtx>>,
        query: &str,
    ) -> Result<String, Failure> {
        if bot_channel != Some(channel) {
            // Be in the channel already, so playback starts the moment a node is back.
            let _ = self.inner.discord.join_voice(guild, channel, true);
        }
        let mut ctx = ctx.lock().await;
        ctx.text_channel = inv.channel.or(ctx.text_channel);
        // Kept in the store too: a restart before a node is back does not lose it.
        let store = self.inner.shell.store();
        let text = ctx.text_channel.map(ChannelId::get);
        if let Err(error) = store
            .set_channels(guild.get(), Some(channel.get()), text)
            .await
        {
            tracing::warn!(guild = %guild, %error, "could not store the channels");
        }
        let request = match store
            .add_waiting(guild.get(), query, inv.user.get(), now_ms())
            .await
        {
            Ok(request) => request,
            Err(error) => {
                tracing::error!(guild = %guild, %error, "could not store a waiting request");
                return Err(Failure::failed(format!(
                    "Audio nodes are unavailable and I could not keep your request ({error}): try again in a moment."
                )));
            }
        };
        ctx.waiting.push(request);
        Ok(format!(
            "Audio nodes are unavailable right now, your queue is kept: I'll play \"{query}\" as soon as one is back."
        ))
    }

    async fn play(
        &self,
        inv: &CommandInvocation,
        guild: GuildId,
        caller: Option<ChannelId>,
        bot_channel: Option<ChannelId>,
        ctx: &Arc<tokio::sync::Mutex<GuildCtx>>,
    ) -> Result<String, Failure> {
        let Some(channel) = caller else {
            return Err("Join a voice channel first, then use /play."
                .to_owned()
                .into());
        };
        let busy = ctx.lock().await.player.current().is_some();
        if let Some(bot) = bot_channel
            && bot != channel
            && busy
        {
            return Err(format!("I'm playing in <#{bot}>: join that channel to add music.").into());
        }
        match self.inner.discord.bot_can_play_in(channel) {
            Ok(true) => {}
            Ok(false) => {
                return Err(
                    format!("I need the Connect and Speak permissions in <#{channel}>.").into(),
                );
            }
            Err(error) => {
                return Err(Failure::failed(format!(
                    "I can't check my permissions there: {error}"
                )));
            }
        }
        // Loading may take a while: the auto-defer guard keeps the interaction alive.
        let query = inv.string("query").unwrap_or_default().trim().to_owned();
        if query.is_empty() {
            return Err("Tell me what to play: a URL or words to search for."
                .to_owned()
                .into());
        }
        self.inner
            .observers
            .metrics
            .record_command_reached_lavalink(&inv.name, inv.responder.received().elapsed());
        let tracks = match self.load(&query).await {
            Ok(tracks) => tracks,
            Err(LoadFailure::Empty(text)) => return Err(text.into()),
            Err(LoadFailure::Failed(text)) => return Err(Failure::failed(text)),
            Err(LoadFailure::NoNode) => {
                return self
                    .keep_waiting(inv, guild, channel, bot_channel, ctx, &query)
                    .await;
            }
        };
        if bot_channel != Some(channel)
            && let Err(error) = self.inner.discord.join_voice(guild, channel, true)
        {
            return Err(Failure::failed(format!(
                "I can't join <#{channel}>: {error}"
            )));
        }
        let mut ctx = ctx.lock().await;
        ctx.text_channel = inv.channel.or(ctx.text_channel);
        let text = ctx.text_channel.map(ChannelId::get);
        if let Err(error) = self
            .inner
            .shell
            .store()
            .set_channels(guild.get(), Some(channel.get()), text)
            .await
        {
            tracing::warn!(guild = %guild, %error, "could not store the channels");
        }
        let effects = ctx
            .player
            .play(tracks, inv.user.get(), now_ms())
            .map_err(|refusal| refusal.to_string())?;
        Self::await_start(&mut ctx, inv, &effects);
        let mut lines = Vec::new();
        let outcome = self
            .carry_out(guild, &mut ctx, effects, Some(&mut lines))
            .await;
        if outcome.failed {
            return Err(Failure::failed(lines.join("\n")));
        }
        Ok(if lines.is_empty() {
            "Queued.".to_owned()
        } else {
            lines.join("\n")
        })
    }

    /// Resolves a /play query to tracks: URLs and prefixed identifiers as they are, other words as
    /// a search.
    async fn load(&self, query: &str) -> Result<Vec<Track>, LoadFailure> {
        let identifier = if query.starts_with("http://")
            || query.starts_with("https://")
            || query.split_once(':').is_some_and(|(prefix, _)| {
                !prefix.is_empty() && prefix.chars().all(|c| c.is_ascii_alphanumeric())
            }) {
            query.to_owned()
        } else {
            format!("ytsearch:{query}")
        };
        let source = if query.starts_with("http://") || query.starts_with("https://") {
            QuerySource::Url
        } else {
            QuerySource::Search
        };
        let result = self.inner.shell.cluster().load_tracks(&identifier).await;
        self.inner.observers.metrics.record_load(
            result.as_ref().ok().map(|loaded| match loaded {
                LoadResult::Track(_) => "track",
                LoadResult::Playlist(_) => "playlist",
                LoadResult::Search(_) => "search",
                LoadResult::Empty => "empty",
                LoadResult::Error(_) => "error",
                LoadResult::Unknown(_) => "unknown",
            }),
            source,
        );
        match result {
            Ok(LoadResult::Track(track)) => Ok(vec![track]),
            Ok(LoadResult::Search(mut tracks)) if !tracks.is_empty() => {
                Ok(vec![tracks.swap_remove(0)])
            }
            Ok(LoadResult::Playlist(playlist)) if !playlist.tracks.is_empty() => {
                Ok(playlist.tracks)
            }
            Ok(LoadResult::Error(exception)) => Err(LoadFailure::Failed(format!(
                "I could not load that: {}",
                exception.message.unwrap_or(exception.cause)
            ))),
            Ok(_) => Err(LoadFailure::Empty(format!("Nothing found for {query}."))),
            Err(ClusterError::NoNodeAvailable) => Err(LoadFailure::NoNode),
            Err(error) => Err(LoadFailure::Failed(format!("Loading failed: {error}"))),
        }
    }
}

/// Why a /play query gave no tracks.
enum LoadFailure {
    /// No Lavalink node is healthy: the request can wait for one.
    NoNode,
    /// The query found nothing (an answer for the user).
    Empty(String),
    /// The node could not load it or did not answer (an answer for the user).
    Failed(String),
}

/// Why a command did not do what was asked, with the ephemeral answer.
struct Failure {
    text: String,
    outcome: CommandOutcome,
}

impl Failure {
    /// Our fault or a dependency's.
    fn failed(text: impl Into<String>) -> Self {
        Self {
            text: text.into(),
            outcome: CommandOutcome::Error,
        }
    }
}

/// A refusal: a check said no (not in voice, nothing playing, option out of range, ...).
impl From<String> for Failure {
    fn from(text: String) -> Self {
        Self {
            text,
            outcome: CommandOutcome::Refused,
        }
    }
}

/// Where the bot reports: metrics, the health windows, and what `/health` reads.
#[derive(Clone)]
pub struct Observers {
    /// The Prometheus metrics.
    pub metrics: Metrics,
    /// Recent interactions and voice incidents, for the probes.
    pub activity: Activity,
    /// The probes' results, for `/health` (`None`: no probes run in this process).
    pub health: Option<health::HealthRegistry>,
    /// Who may use `/health` besides members with Manage Guild.
    pub health_access: HealthAccess,
}

impl Default for Observers {
    fn default() -> Self {
        Self {
            metrics: command_metrics(),
            activity: Activity::new(),
            health: None,
            health_access: HealthAccess::default(),
        }
    }
}

/// Metrics that know the bot's commands (the only values of their `command` label).
pub fn command_metrics() -> Metrics {
    let definitions = super::commands::definitions();
    Metrics::new(definitions.iter().map(|command| command.name.as_str()))
}

fn position(inv: &CommandInvocation, name: &str) -> usize {
    inv.integer(name)
        .and_then(|n| usize::try_from(n).ok())
        .unwrap_or(0)
}
