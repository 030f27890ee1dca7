//! The bot at run time: Discord events and cluster events in, one actor per guild in between
//! (see [`super::guild`]), answers and notices back to Discord.
//!
//! The router here reads both event streams in one loop and hands each event to its guild's
//! actor in arrival order; a guild's commands and events are therefore handled one at a time, in
//! order, and different guilds in parallel. Every task the bot starts (actors, loads, timers,
//! answers, the position tick) runs under one [`TaskTracker`], so the stop can wait for them.
//!
//! # The stop
//!
//! When the `stop` future given to [`Bot::run`] completes, the bot stops in this order:
//! 1. new interactions are answered with a short notice ("restarting") instead of being run;
//!    timers and the position tick end;
//! 2. every guild finishes the commands it holds (a `/play` whose load is out) within
//!    [`BotSettings::stop_grace`]; past it what is left is told the bot is stopping;
//! 3. every playing guild's position is written, in one batch.
//!
//! The caller (`app::serve`) then destroys or detaches the Lavalink players, closes the shards
//! and stops the admin server last.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use clock::SharedClock;

use cluster::{CircuitState, ClusterEvent, MoveOutcome};
use lavalink::model::Event;
use telemetry::{CommandOutcome, Metrics};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::commands::{Command, CommandKind};
use super::guild::{GuildActor, Input, Invocation};
use super::health_command::{self, HealthAccess};
use super::shell::Shell;
use crate::activity::Activity;
use discord::{
    BotVoiceEvent, CommandInvocation, ComponentPress, Discord, DiscordEvent, GuildId, Reply,
};

/// Bot behaviour that is not about Discord or Lavalink.
#[derive(Debug, Clone, Copy)]
pub struct BotSettings {
    /// Leave a voice channel after it has had no listener for this long.
    pub idle_leave: Duration,
    /// How often playing positions are written to the store.
    pub position_tick: Duration,
    /// How long a stop waits for the commands the guilds hold (a `/play` whose track is still
    /// loading) before it tells them the bot is stopping (`bot.stop_grace`).
    pub stop_grace: Duration,
    /// A deploy rehearsal's fault (`deploy.rehearsal_fault = "commands"`): every command fails,
    /// as a build broken after its gate would. Never set outside a rehearsal.
    pub fail_commands: bool,
    /// How long an autocomplete answer waits for its search before it is the text as typed
    /// (the search runs on and fills the cache; `bot.autocomplete_timeout`).
    pub autocomplete_timeout: Duration,
    /// Searches for suggestions one guild may start per second (`bot.autocomplete_searches`).
    pub autocomplete_searches: u32,
}

impl Default for BotSettings {
    fn default() -> Self {
        Self {
            idle_leave: Duration::from_secs(120),
            position_tick: Duration::from_secs(5),
            stop_grace: Duration::from_secs(3),
            fail_commands: false,
            autocomplete_timeout: Duration::from_millis(250),
            autocomplete_searches: 5,
        }
    }
}

/// What the guild actors share: where they talk, what they report to, and the stop's signals.
pub(super) struct Core {
    pub(super) discord: Discord,
    pub(super) shell: Shell,
    pub(super) settings: BotSettings,
    pub(super) observers: Observers,
    /// Time: the bot's timers and timestamps (interactions' latencies are Discord's real time).
    pub(super) clock: SharedClock,
    /// Every task of the bot.
    pub(super) tasks: TaskTracker,
    /// The stop began: timers and the position tick end.
    pub(super) stopping: CancellationToken,
    /// The stop's bound passed: held work is abandoned.
    pub(super) abandon: CancellationToken,
    /// The guilds' last positions, handed in as their actors end.
    pub(super) final_positions: FinalPositions,
    /// Suggestions while typing: the search cache and each guild's searches per second.
    pub(super) suggester: super::suggest::Suggester,
}

/// The positions the actors hand in when they end.
#[derive(Default)]
pub(super) struct FinalPositions(Mutex<Vec<store::PositionWrite>>);

impl FinalPositions {
    pub(super) fn push(&self, write: store::PositionWrite) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(write);
    }

    fn take(&self) -> Vec<store::PositionWrite> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

impl Core {
    /// Answers an interaction on a tracked task (the actor goes on meanwhile) and records the
    /// command's outcome and latency under `label`.
    pub(super) fn answer(
        self: &Arc<Self>,
        interaction: CommandInvocation,
        label: CommandKind,
        answer: Result<Reply, Failure>,
    ) {
        self.answer_labelled(interaction, label.name(), answer);
    }

    fn answer_labelled(
        self: &Arc<Self>,
        interaction: CommandInvocation,
        label: &'static str,
        answer: Result<Reply, Failure>,
    ) {
        let core = Arc::clone(self);
        self.tasks.spawn(async move {
            let (reply, mut outcome) = match answer {
                Ok(reply) => (reply, CommandOutcome::Ok),
                Err(failure) => (Reply::text(failure.text).ephemeral(), failure.outcome),
            };
            if let Err(error) = interaction.responder.respond(&reply).await {
                tracing::warn!(command = label, %error, "could not answer a command");
                outcome = CommandOutcome::Error;
            }
            let metrics = &core.observers.metrics;
            if let Some(acked) = interaction.responder.acked_after() {
                metrics.record_ack(acked);
                core.observers.activity.ack(acked);
            }
            let latency = discord::age_of(interaction.responder.received());
            metrics.record_command(label, outcome, latency);
            core.observers.activity.command(outcome);
        });
    }
}

/// Hands every input to its guild's actor, in the order it is given: to the running actor's
/// channel, or, for a parked actor, to a new task that runs it. Senders and the actor's parking
/// meet under the map's lock, so no input can fall between a parked actor and a running one.
#[derive(Clone)]
pub(super) struct Router(Arc<RouterInner>);

struct RouterInner {
    core: Arc<Core>,
    guilds: Mutex<HashMap<GuildId, Slot>>,
}

/// A guild in the router's map.
struct Slot {
    actor: SlotActor,
    /// Whether the guild has a current track or a queue (as of the actor's last park).
    active: bool,
}

enum SlotActor {
    /// Resting between inputs: plain data, no task.
    Parked(Box<GuildActor>),
    /// Running on a task that reads this channel.
    Running(mpsc::UnboundedSender<Input>),
    /// Stopped (the bot is stopping); inputs are dropped.
    Ended,
}

impl Router {
    fn new(core: Arc<Core>) -> Self {
        Self(Arc::new(RouterInner {
            core,
            guilds: Mutex::new(HashMap::new()),
        }))
    }

    fn core(&self) -> &Arc<Core> {
        &self.0.core
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<GuildId, Slot>> {
        self.0.guilds.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Sends `input` to the guild's actor, making one if the guild has none.
    fn send(&self, guild: GuildId, input: Input) {
        let mut guilds = self.lock();
        let slot = guilds.entry(guild).or_insert_with(|| Slot {
            actor: SlotActor::Parked(Box::new(GuildActor::new(guild, Arc::clone(self.core())))),
            active: false,
        });
        self.deliver(guild, slot, input);
    }

    /// Sends `input` to the guild's actor if it has one (events about guilds the bot does
    /// nothing in need no actor).
    pub(super) fn send_existing(&self, guild: GuildId, input: Input) {
        let mut guilds = self.lock();
        if let Some(slot) = guilds.get_mut(&guild) {
            self.deliver(guild, slot, input);
        }
    }

    /// Sends an input (made per guild) to every guild's actor.
    fn broadcast(&self, mut input: impl FnMut() -> Input) {
        let mut guilds = self.lock();
        for (guild, slot) in guilds.iter_mut() {
            self.deliver(*guild, slot, input());
        }
    }

    fn deliver(&self, guild: GuildId, slot: &mut Slot, input: Input) {
        match &slot.actor {
            SlotActor::Running(inbox) => {
                // The receiver lives until the actor parks or ends, both under this lock.
                let _ = inbox.send(input);
            }
            SlotActor::Ended => {
                tracing::debug!(guild = %guild, "an input for a guild whose actor has ended");
            }
            SlotActor::Parked(_) => {
                let (inbox, inputs) = mpsc::unbounded_channel();
                let _ = inbox.send(input);
                let SlotActor::Parked(actor) =
                    std::mem::replace(&mut slot.actor, SlotActor::Running(inbox))
                else {
                    return;
                };
                self.core().tasks.spawn(actor.run(self.clone(), inputs));
            }
        }
    }

    /// Parks the actor unless an input came in meanwhile (then it gets the actor back with it).
    pub(super) fn park(
        &self,
        actor: Box<GuildActor>,
        inputs: &mut mpsc::UnboundedReceiver<Input>,
    ) -> Result<(), (Box<GuildActor>, Input)> {
        let mut guilds = self.lock();
        if let Ok(input) = inputs.try_recv() {
            return Err((actor, input));
        }
        let active = actor.is_active();
        guilds.insert(
            actor.guild(),
            Slot {
                actor: SlotActor::Parked(actor),
                active,
            },
        );
        Ok(())
    }

    /// The guild's actor has stopped for good.
    pub(super) fn ended(&self, guild: GuildId, active: bool) {
        self.lock().insert(
            guild,
            Slot {
                actor: SlotActor::Ended,
                active,
            },
        );
    }

    /// Puts a guild's actor in the map as parked (restore, before any input).
    fn insert_parked(&self, actor: Box<GuildActor>) {
        let active = actor.is_active();
        self.lock().insert(
            actor.guild(),
            Slot {
                actor: SlotActor::Parked(actor),
                active,
            },
        );
    }
}

struct Inner {
    router: Router,
    /// The stop began: interactions get the "restarting" notice.
    closing: AtomicBool,
}

/// The running bot. Cheap to clone.
#[derive(Clone)]
pub struct Bot {
    inner: Arc<Inner>,
}

/// What [`Bot::restore`] found in the store.
#[derive(Debug)]
pub struct Restored {
    /// Guilds restored.
    pub guilds: usize,
    /// Of those, guilds whose player the cluster already had (adopted from a predecessor): they
    /// play on without a rejoin.
    pub playing_on: usize,
    /// Guilds left out because their stored rows are damaged.
    pub damaged: Vec<store::Damaged>,
}

/// What a stop did, for its log line and the stop test.
#[derive(Debug, Clone, Default)]
pub struct StopReport {
    /// Guild actors that ended.
    pub guilds: usize,
    /// Positions written by the stop's batch.
    pub positions_written: usize,
    /// Whether the held work was abandoned at the bound (rather than all finished).
    pub abandoned: bool,
    /// Whether the position batch failed.
    pub write_failed: bool,
    /// Tasks still running when the stop gave up waiting (0 after a clean stop).
    pub tasks_left: usize,
    /// How long the stop took.
    pub took: Duration,
}

pub(super) fn lavalink_guild(guild: GuildId) -> lavalink::model::GuildId {
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

    /// A bot that reports to `observers`, on the system clock.
    pub fn observed(
        discord: Discord,
        shell: Shell,
        settings: BotSettings,
        observers: Observers,
    ) -> Self {
        Self::clocked(
            discord,
            shell,
            settings,
            observers,
            clock::SystemClock::shared(),
        )
    }

    /// A bot that reports to `observers`, on `clock`.
    pub fn clocked(
        discord: Discord,
        shell: Shell,
        settings: BotSettings,
        observers: Observers,
        clock: SharedClock,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                router: Router::new(Arc::new(Core {
                    discord,
                    shell,
                    settings,
                    observers,
                    clock,
                    tasks: TaskTracker::new(),
                    stopping: CancellationToken::new(),
                    abandon: CancellationToken::new(),
                    final_positions: FinalPositions::default(),
                    suggester: super::suggest::Suggester::default(),
                })),
                closing: AtomicBool::new(false),
            }),
        }
    }

    fn core(&self) -> &Arc<Core> {
        self.inner.router.core()
    }

    fn router(&self) -> &Router {
        &self.inner.router
    }

    /// The metrics the bot records into.
    pub fn metrics(&self) -> &Metrics {
        &self.core().observers.metrics
    }

    /// Guilds by activity, for the metrics.
    pub fn guild_counts(&self) -> telemetry::GuildCounts {
        let guilds: Vec<(GuildId, bool)> = self
            .router()
            .lock()
            .iter()
            .map(|(guild, slot)| (*guild, slot.active))
            .collect();
        let cluster = self.core().shell.cluster();
        let mut counts = telemetry::GuildCounts::default();
        for (guild, active) in guilds {
            counts.active += u64::from(active);
            counts.playing += u64::from(
                cluster
                    .player(lavalink_guild(guild))
                    .is_some_and(|view| view.record.is_playing()),
            );
        }
        counts
    }

    fn send_existing(&self, guild: GuildId, input: Input) {
        self.router().send_existing(guild, input);
    }

    /// How many guilds' actors are running now (the others rest parked, or have ended).
    pub fn running_actors(&self) -> usize {
        self.router()
            .lock()
            .values()
            .filter(|slot| matches!(slot.actor, SlotActor::Running(_)))
            .count()
    }

    /// Loads every stored guild on the shards of `scope` (the shards this process runs); each rejoins its voice channel when its guild is available and
    /// plays on from the saved position once the voice connection is up. A guild whose player
    /// the cluster already has (adopted from a predecessor's handed-over session) plays on as it
    /// is: no rejoin, no replay. Returns how many, and the guilds left out because their stored
    /// rows are damaged.
    pub async fn restore(&self, scope: store::HandoverScope) -> Result<Restored, store::Error> {
        // Processes sharing the store each restore the guilds of their own shards: the store
        // selects them, so no process reads the others'.
        let (restored, damaged) = self.core().shell.restore(scope).await?;
        let count = restored.len();
        let mut live = 0;
        for r in restored {
            let Some(guild) = discord_guild(r.guild) else {
                continue;
            };
            let playing_on = self
                .core()
                .shell
                .cluster()
                .player(r.guild)
                .is_some_and(|view| view.record.node.is_some());
            live += usize::from(playing_on);
            let mut actor = Box::new(GuildActor::new(guild, Arc::clone(self.core())));
            actor.restore(r, playing_on);
            self.router().insert_parked(actor);
        }
        tracing::info!(
            guilds = count,
            playing_on = live,
            shards = %scope,
            "restored guilds from the store"
        );
        Ok(Restored {
            guilds: count,
            playing_on: live,
            damaged,
        })
    }

    /// Handles events until both streams end or `stop` completes, then stops the guilds in
    /// order (see the module docs) and says what the stop did.
    pub async fn run(
        &self,
        mut discord: mpsc::UnboundedReceiver<DiscordEvent>,
        mut cluster: mpsc::UnboundedReceiver<ClusterEvent>,
        stop: impl std::future::Future<Output = ()>,
    ) -> StopReport {
        self.core().tasks.spawn(self.clone().tick_positions());
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
        // What had arrived before the stop is handled as usual: a handover closes the shards
        // first, so these are commands its successor will not be sent again.
        for _ in 0..discord.len() {
            match discord.try_recv() {
                Ok(event) => self.on_discord(event),
                Err(_) => break,
            }
        }
        self.stop_guilds(&mut discord, &mut cluster).await
    }

    /// The bot's part of the stop: no new commands, the held ones finished within the grace,
    /// every playing guild's position written.
    async fn stop_guilds(
        &self,
        discord: &mut mpsc::UnboundedReceiver<DiscordEvent>,
        cluster: &mut mpsc::UnboundedReceiver<ClusterEvent>,
    ) -> StopReport {
        let core = Arc::clone(self.core());
        let started = core.clock.now();
        self.inner.closing.store(true, Ordering::Relaxed);
        core.stopping.cancel();
        let guilds = self.router().lock().len();
        self.router().broadcast(|| Input::Drain);
        core.tasks.close();
        tracing::info!(
            guilds,
            "stopping: no new commands; finishing what the guilds hold"
        );
        let grace = core.clock.sleep(core.settings.stop_grace);
        tokio::pin!(grace);
        let (mut discord_open, mut cluster_open) = (true, true);
        let mut abandoned = false;
        loop {
            tokio::select! {
                () = core.tasks.wait() => break,
                () = &mut grace, if !abandoned => {
                    tracing::warn!(
                        grace = ?core.settings.stop_grace,
                        tasks = core.tasks.len(),
                        "stopping: the grace passed; abandoning what is still held"
                    );
                    abandoned = true;
                    core.abandon.cancel();
                    self.router().broadcast(|| Input::Abandon);
                    // Answers already on their way get a moment more; then the stop goes on.
                    tokio::select! {
                        () = core.tasks.wait() => {}
                        () = core.clock.sleep(ANSWER_GRACE) => {}
                    }
                    break;
                }
                event = discord.recv(), if discord_open => match event {
                    Some(event) => self.on_discord(event),
                    None => discord_open = false,
                },
                event = cluster.recv(), if cluster_open => match event {
                    Some(event) => self.on_cluster(event),
                    None => cluster_open = false,
                },
            }
        }
        let writes = core.final_positions.take();
        let (positions_written, write_failed) = if writes.is_empty() {
            (0, false)
        } else {
            match core.shell.save_positions(&writes).await {
                Ok(written) => (written, false),
                Err(error) => {
                    tracing::error!(guilds = writes.len(), %error, "stopping: could not write the positions");
                    (0, true)
                }
            }
        };
        let report = StopReport {
            guilds,
            positions_written,
            abandoned,
            write_failed,
            tasks_left: core.tasks.len(),
            took: core.clock.since(started),
        };
        tracing::info!(
            guilds = report.guilds,
            positions_written = report.positions_written,
            abandoned = report.abandoned,
            tasks_left = report.tasks_left,
            took = ?report.took,
            "stopping: the guilds are stopped and their state is written"
        );
        report
    }

    fn on_discord(&self, event: DiscordEvent) {
        match event {
            DiscordEvent::Command(invocation) => self.on_command(*invocation),
            DiscordEvent::Component(press) => self.on_press(*press),
            DiscordEvent::Autocomplete(request) => {
                let core = Arc::clone(self.core());
                self.core().tasks.spawn(async move {
                    super::suggest::answer(core, *request).await;
                });
            }
            DiscordEvent::GuildAvailable { guild, .. } => {
                self.send_existing(guild, Input::GuildAvailable);
            }
            DiscordEvent::VoiceReady { guild, voice } => {
                self.send_existing(guild, Input::VoiceReady(Box::new(voice)));
            }
            DiscordEvent::BotVoice(BotVoiceEvent::Disconnected { guild, .. }) => {
                self.send_existing(guild, Input::Kicked);
            }
            DiscordEvent::BotVoice(BotVoiceEvent::Moved { guild, to, .. }) => {
                self.send_existing(guild, Input::Moved(to));
            }
            DiscordEvent::UserVoice { guild, from, .. } => {
                if let Some(left) = from
                    && self.core().discord.bot_voice_channel(guild) == Some(left)
                {
                    self.send_existing(guild, Input::ListenerLeft(left));
                }
            }
            DiscordEvent::BotVoice(_)
            | DiscordEvent::GuildUnavailable { .. }
            | DiscordEvent::Gateway(_) => {}
        }
    }

    /// An interaction: parsed once; refused with the reason when it does not parse, answered
    /// here when it is about the bot rather than a guild, otherwise handed to its guild.
    fn on_command(&self, interaction: CommandInvocation) {
        let core = self.core();
        let command = match Command::parse(&interaction.name, &interaction.options) {
            Ok(command) => command,
            Err(error) => {
                let label =
                    CommandKind::from_name(&interaction.name).map_or("unknown", CommandKind::name);
                core.answer_labelled(interaction, label, Err(error.to_string().into()));
                return;
            }
        };
        self.run_command(interaction, command);
    }

    /// A button press: the command its id stands for, run as the slash command would be (its
    /// answer updates the pressed message); an id this build does not know is told so.
    fn on_press(&self, press: ComponentPress) {
        if let Some(command) = super::buttons::parse(&press.custom_id) {
            let interaction = press.into_invocation(command.kind().name(), Vec::new());
            self.run_command(interaction, command);
        } else {
            tracing::debug!(custom_id = %press.custom_id, "a button this build does not know");
            let interaction = press.into_invocation("button", Vec::new());
            self.core().answer_labelled(
                interaction,
                "unknown",
                Err("This button is no longer in use.".to_owned().into()),
            );
        }
    }

    /// Runs a parsed command: refused while stopping, answered here when it is about the bot
    /// rather than a guild, otherwise handed to its guild.
    fn run_command(&self, interaction: CommandInvocation, command: Command) {
        let core = self.core();
        let kind = command.kind();
        if self.inner.closing.load(Ordering::Relaxed) {
            core.answer(interaction, kind, Err(Failure::stopping()));
            return;
        }
        if core.settings.fail_commands {
            tracing::error!(
                command = kind.name(),
                "deploy rehearsal: this build fails every command (deploy.rehearsal_fault)"
            );
            core.answer(
                interaction,
                kind,
                Err(Failure::failed(
                    "This build is rehearsing a failed deploy: the command failed on purpose.",
                )),
            );
            return;
        }
        match command {
            Command::Health => {
                let answer = self.health_command(&interaction);
                core.answer(interaction, kind, answer);
            }
            Command::Help => {
                let reply = Reply::text(super::commands::help_text()).ephemeral();
                core.answer(interaction, kind, Ok(reply));
            }
            command => match interaction.guild {
                None => core.answer(
                    interaction,
                    kind,
                    Err("Use my commands in a server.".to_owned().into()),
                ),
                Some(guild) => self.router().send(
                    guild,
                    Input::Command(Box::new(Invocation {
                        interaction,
                        command,
                    })),
                ),
            },
        }
    }

    fn on_cluster(&self, event: ClusterEvent) {
        match event {
            ClusterEvent::Player {
                guild,
                event: Event::WebSocketClosed(closed),
                ..
            } => {
                if let Some(guild) = discord_guild(guild) {
                    self.send_existing(guild, Input::VoiceClosed(closed.code));
                }
            }
            ClusterEvent::Player { guild, event, .. } => {
                if let Some(guild) = discord_guild(guild) {
                    self.send_existing(guild, Input::Lavalink(Box::new(event)));
                }
            }
            ClusterEvent::MoveFinished {
                guild,
                outcome: MoveOutcome::TrackFailed { error },
                ..
            } => {
                if let Some(guild) = discord_guild(guild) {
                    self.send_existing(guild, Input::MoveFailed(error.into()));
                }
            }
            ClusterEvent::Circuit {
                to: CircuitState::Closed,
                ..
            }
            | ClusterEvent::NodeReady { .. } => {
                self.router().broadcast(|| Input::NodeBack);
            }
            _ => {}
        }
    }

    /// `/health`: the probes' last results, for admins only.
    fn health_command(&self, inv: &CommandInvocation) -> Result<Reply, Failure> {
        let observers = &self.core().observers;
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
            self.core().clock.unix_ms(),
        ))
    }

    /// Writes the positions of playing guilds every tick, so a kill -9 loses at most one tick;
    /// ends when the stop begins.
    async fn tick_positions(self) {
        let core = Arc::clone(self.core());
        loop {
            tokio::select! {
                () = core.stopping.cancelled() => return,
                () = core.clock.sleep(core.settings.position_tick) => {}
            }
            tokio::select! {
                () = core.stopping.cancelled() => return,
                () = self.save_positions_once() => {}
            }
        }
    }

    /// One position tick. Each playing guild's actor takes the node's position in its turn (the
    /// engine's snapshot stays the one source of the position) and hands back its write; the
    /// writes are then made in one batch. A parked actor has no input waiting, so its turn is now:
    /// it is asked in place, under the router's lock, without starting its task; a running one
    /// gets the tick as an input. A command that writes a guild between its snapshot and the batch
    /// is not undone: the store does not put an older snapshot over a newer one.
    async fn save_positions_once(&self) {
        let guilds: Vec<GuildId> = self.router().lock().keys().copied().collect();
        let mut writes = Vec::new();
        let mut asked: Vec<oneshot::Receiver<Option<store::PositionWrite>>> = Vec::new();
        // A few guilds per turn of the lock, so that inputs for other guilds never wait long.
        for chunk in guilds.chunks(TICK_CHUNK) {
            let router = self.router();
            let mut map = router.lock();
            for guild in chunk {
                let Some(slot) = map.get_mut(guild) else {
                    continue;
                };
                match &mut slot.actor {
                    SlotActor::Parked(actor) => writes.extend(actor.position_write()),
                    SlotActor::Running(inbox) => {
                        let (reply, answer) = oneshot::channel();
                        if inbox.send(Input::PositionTick(reply)).is_ok() {
                            asked.push(answer);
                        }
                    }
                    SlotActor::Ended => {}
                }
            }
        }
        for answer in asked {
            if let Ok(Some(write)) = answer.await {
                writes.push(write);
            }
        }
        if writes.is_empty() {
            return;
        }
        match self.core().shell.save_positions(&writes).await {
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
}

/// Guilds the position tick takes per turn of the router's lock.
const TICK_CHUNK: usize = 64;

/// After the grace, how long answers already on their way may still take.
const ANSWER_GRACE: Duration = Duration::from_millis(500);

/// Why a command did not do what was asked, with the ephemeral answer.
#[derive(Debug)]
pub(super) struct Failure {
    text: String,
    outcome: CommandOutcome,
}

impl Failure {
    /// Our fault or a dependency's.
    pub(super) fn failed(text: impl Into<String>) -> Self {
        Self {
            text: text.into(),
            outcome: CommandOutcome::Error,
        }
    }

    /// The bot is stopping (a restart or a deploy): the command was not run.
    pub(super) fn stopping() -> Self {
        Self {
            text: "I'm restarting: try again in a few seconds.".to_owned(),
            outcome: CommandOutcome::Refused,
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
    Metrics::new(CommandKind::all().map(CommandKind::name))
}
