//! Prometheus metrics for DimbyBot.
//!
//! One [`Metrics`] handle owns a prometheus-client registry holding every family of the catalog
//! (docs/metrics.md). Two kinds of families:
//!
//! - counters and histograms fed by typed events: [`Metrics::observe_cluster`] takes each
//!   [`ClusterEvent`] (playback, voice closes, moves, sockets, drains), the bot reports commands,
//!   acknowledgements, loads and voice self-healing through the `record_*` methods, the alert
//!   notifier through [`Metrics::record_alert`];
//! - gauges read at scrape time from whatever owns the state ([`Sources`]): the cluster's nodes,
//!   the Discord shards, the health registry, the bot's guilds, the process (its log events among
//!   them) and the tokio runtime.
//!   A scrape reads; it never waits on a node or on Discord.
//!
//! Labels are bounded: node names and shard ids come from configuration, commands from the set
//! registered at construction (anything else is `unknown`), every other label from an enum.

pub mod exposition;
pub mod process;

mod collect;
mod families;

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use cluster::{Cluster, ClusterEvent};
use health::HealthRegistry;
use prometheus_client::registry::Registry;

pub use collect::{
    AllocatorSample, AllocatorSource, GuildCounts, GuildSource, LogCounts, LogSource, ShardSample,
    ShardSource,
};
pub use exposition::Format;
use families::Families;

/// Where a bot process is in a blue-green deploy (`dimby_deploy_phase`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeployPhase {
    /// Nothing connected; waiting to take over.
    Standby,
    /// Taking over a predecessor's sessions.
    TakingOver,
    /// Connected and answering.
    Serving,
    /// Handing its sessions over.
    HandingOver,
    /// Going away.
    Stopping,
}

impl DeployPhase {
    /// Every phase.
    pub const ALL: [Self; 5] = [
        Self::Standby,
        Self::TakingOver,
        Self::Serving,
        Self::HandingOver,
        Self::Stopping,
    ];

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Standby => "standby",
            Self::TakingOver => "taking_over",
            Self::Serving => "serving",
            Self::HandingOver => "handing_over",
            Self::Stopping => "stopping",
        }
    }
}

/// A check of the pre-cutover deploy gate (`dimby_deploy_gate_checks_total{check}`): its kind,
/// without the node a `lavalink` check names (a bounded label).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GateCheckKind {
    /// The token logs in over REST.
    DiscordRest,
    /// The registered slash commands are listed.
    Commands,
    /// A Lavalink node's REST answers with the configured password.
    Lavalink,
    /// The store takes writes.
    Store,
    /// The voice join and probe track in the staging guild.
    VoiceProbe,
    /// No error logged.
    Log,
}

impl GateCheckKind {
    /// The kind of a check as the gate names it (`lavalink:<node>` is `lavalink`); `None` for
    /// a name the gate does not use.
    pub fn of(name: &str) -> Option<Self> {
        Some(match name.split_once(':').map_or(name, |(kind, _)| kind) {
            "discord_rest" => Self::DiscordRest,
            "commands" => Self::Commands,
            "lavalink" => Self::Lavalink,
            "store" => Self::Store,
            "voice_probe" => Self::VoiceProbe,
            "log" => Self::Log,
            _ => return None,
        })
    }

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::DiscordRest => "discord_rest",
            Self::Commands => "commands",
            Self::Lavalink => "lavalink",
            Self::Store => "store",
            Self::VoiceProbe => "voice_probe",
            Self::Log => "log",
        }
    }
}

/// One run of the pre-cutover gate in this process: whether it passed, and each check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GateRun {
    /// Every check passed.
    pub passed: bool,
    /// Each check's kind and whether it passed.
    pub checks: Vec<(GateCheckKind, bool)>,
}

/// How a slash command ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CommandOutcome {
    /// It did what was asked.
    Ok,
    /// A check refused it (caller not in voice, nothing playing, option out of range, ...).
    Refused,
    /// It failed: our fault or a dependency's.
    Error,
}

impl CommandOutcome {
    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Refused => "refused",
            Self::Error => "error",
        }
    }
}

/// What a `/play` query was.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum QuerySource {
    /// A URL.
    Url,
    /// A search (`ytsearch:` and friends, or plain words).
    Search,
}

impl QuerySource {
    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Url => "url",
            Self::Search => "search",
        }
    }
}

/// A voice self-healing action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum VoiceAction {
    /// Join the channel again (4006, or 4014 after a move or a dropped gateway).
    Rejoin,
    /// Send the voice state to the node again (4015).
    Resend,
    /// Tear the player down (4014 after a kick).
    Cleanup,
}

impl VoiceAction {
    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Rejoin => "rejoin",
            Self::Resend => "resend",
            Self::Cleanup => "cleanup",
        }
    }
}

/// How a voice self-healing action went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HealOutcome {
    /// Done.
    Ok,
    /// Tried and failed.
    Failed,
    /// Not tried: the cap per window was hit (an alert follows).
    Capped,
}

impl HealOutcome {
    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Failed => "failed",
            Self::Capped => "capped",
        }
    }
}

/// The Discord REST routes the bot calls, grouped the way an operator reads them (and Discord's
/// rate limits bucket them). The `route` label takes only these values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DiscordRoute {
    /// `POST /interactions/{id}/{token}/callback`: an interaction's first answer or deferral (a
    /// button press's update, an autocomplete's suggestions).
    InteractionCallback,
    /// `/webhooks/{application}/{token}/...`: edits of an interaction's answer and follow-ups.
    InteractionWebhook,
    /// `/channels/{id}/messages[/{message}]`: announcements in a text channel, and the bot's
    /// edits and deletions of its own messages.
    ChannelMessages,
    /// `PUT /applications/{id}/commands` (or a guild's): registering the slash commands.
    ApplicationCommands,
    /// `GET /users/@me`, `/applications/@me`, `/gateway/bot`: the checks at start-up.
    Session,
}

impl DiscordRoute {
    /// Every route, in catalog order.
    pub const ALL: [Self; 5] = [
        Self::InteractionCallback,
        Self::InteractionWebhook,
        Self::ChannelMessages,
        Self::ApplicationCommands,
        Self::Session,
    ];

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InteractionCallback => "interaction_callback",
            Self::InteractionWebhook => "interaction_webhook",
            Self::ChannelMessages => "channel_messages",
            Self::ApplicationCommands => "application_commands",
            Self::Session => "session",
        }
    }
}

/// One finished Discord REST call: the event behind the `dimby_discord_rest_*` families (and the
/// log line the Discord layer writes for it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DiscordRestCall {
    /// What was called.
    pub route: DiscordRoute,
    /// The HTTP status of the final answer; `None` when none came (timeout, connection error).
    pub status: Option<u16>,
    /// Issued to the final answer, waits included.
    pub elapsed: Duration,
    /// Issued to the final attempt going out: time spent waiting on the rate limiter and on
    /// retries after 429 answers.
    pub waited: Duration,
    /// 429 answers before the final one (each was waited out and retried).
    pub rate_limited: u32,
}

/// Why the admin server closed a connection under pressure (its connection cap, or no file
/// descriptor left to accept with).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AdminPressure {
    /// At the cap, the oldest idle connection was closed to make room.
    Shed,
    /// At the cap with every connection busy: a new one was closed at once.
    Refused,
    /// Accepting failed (out of file descriptors, typically): the oldest idle one was closed.
    AcceptFailed,
}

impl AdminPressure {
    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Shed => "shed",
            Self::Refused => "refused",
            Self::AcceptFailed => "accept_failed",
        }
    }
}

/// Whose turn-taking let a shard identify.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IdentifyTurn {
    /// The application's shared queue (its slot reserved in the store).
    Shared,
    /// This process's own spacing: the shared queue could not be reached.
    Own,
}

impl IdentifyTurn {
    /// The `queue` label.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Shared => "shared",
            Self::Own => "own",
        }
    }
}

/// Where an autocomplete answer's suggestions came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SuggestOutcome {
    /// A search on the cluster.
    Searched,
    /// A search of the last minute, from the cache.
    Cached,
    /// A search someone else started for the same words, still under way.
    Joined,
    /// The guild's searches per second were used up: the text as typed.
    Limited,
    /// The search did not answer in time: the text as typed.
    TimedOut,
    /// The search failed (no node, an error): the text as typed.
    Failed,
    /// Words the bot has at hand (preset names, the user's playlists).
    Listed,
    /// The answer could not be sent (Discord refused it, or it came too late).
    Unsent,
}

impl SuggestOutcome {
    /// The `outcome` label.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Searched => "searched",
            Self::Cached => "cached",
            Self::Joined => "joined",
            Self::Limited => "limited",
            Self::TimedOut => "timed_out",
            Self::Failed => "failed",
            Self::Listed => "listed",
            Self::Unsent => "unsent",
        }
    }
}

/// Which alert message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AlertKind {
    /// An incident began.
    Firing,
    /// It ended.
    Recovery,
}

/// What became of an alert message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AlertResult {
    /// Delivered.
    Sent,
    /// Not delivered after every attempt.
    Failed,
    /// Dropped by the rate limit or a full queue.
    Suppressed,
}

/// The build a process runs and the deploy colour it runs as: the labels of `dimby_build_info`
/// (and, through the application, of every log line).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Identity {
    /// The version (`0.1.0`).
    pub version: &'static str,
    /// The commit the binary was built from (`git rev-parse --short=12 HEAD`, or what the build
    /// was given in `DIMBY_BUILD_COMMIT`), or [`Identity::UNKNOWN_COMMIT`].
    pub commit: &'static str,
    /// `blue` or `green` (`deploy.colour`); `None` for a process without a colour.
    pub colour: Option<&'static str>,
}

impl Identity {
    /// The commit of a build that did not know its own.
    pub const UNKNOWN_COMMIT: &'static str = "unknown";
    /// The `colour` label of a process without a colour.
    pub const NO_COLOUR: &'static str = "none";

    /// The `colour` label: `blue`, `green` or `none`.
    pub fn colour_label(&self) -> &'static str {
        self.colour.unwrap_or(Self::NO_COLOUR)
    }
}

impl Default for Identity {
    /// This crate's version, an unknown commit, no colour: what a registry says until the
    /// application tells it better ([`Metrics::set_identity`]).
    fn default() -> Self {
        Self {
            version: env!("CARGO_PKG_VERSION"),
            commit: Self::UNKNOWN_COMMIT,
            colour: None,
        }
    }
}

/// Where the scrape-time gauges come from; each part may be attached later, or never (its
/// families then have no samples).
#[derive(Default)]
pub struct Sources {
    identity: RwLock<Identity>,
    cluster: RwLock<Option<Cluster>>,
    health: RwLock<Option<HealthRegistry>>,
    shards: RwLock<Option<Arc<dyn ShardSource>>>,
    guilds: RwLock<Option<Arc<dyn GuildSource>>>,
    allocator: RwLock<Option<Arc<dyn AllocatorSource>>>,
    log: RwLock<Option<Arc<dyn LogSource>>>,
}

impl std::fmt::Debug for Sources {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sources").finish_non_exhaustive()
    }
}

/// The metrics of one bot process. Cheap to clone; every clone records into the same registry.
#[derive(Clone, Debug)]
pub struct Metrics {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    registry: Registry,
    families: Families,
    sources: Arc<Sources>,
    commands: HashSet<String>,
    /// Off: every `record_*`/`observe_*` returns at once (`metrics.enabled = false`, and the
    /// overhead benchmark's "off" rounds).
    recording: AtomicBool,
}

impl Metrics {
    /// A registry with every family of the catalog. `commands` are the slash command names the
    /// bot registers: the only values the `command` label takes besides `unknown`.
    pub fn new<'a>(commands: impl IntoIterator<Item = &'a str>) -> Self {
        let mut registry = Registry::default();
        let families = Families::register(&mut registry);
        let sources = Arc::new(Sources::default());
        collect::register(
            &mut registry,
            &sources,
            tokio::runtime::Handle::try_current().ok(),
        );
        Self {
            inner: Arc::new(Inner {
                registry,
                families,
                sources,
                commands: commands.into_iter().map(str::to_owned).collect(),
                recording: AtomicBool::new(true),
            }),
        }
    }

    /// Turns recording on or off. Off, events cost one relaxed atomic load and change nothing;
    /// the scrape-time families still answer.
    pub fn set_recording(&self, on: bool) {
        self.inner.recording.store(on, Ordering::Relaxed);
    }

    /// Whether events are recorded.
    pub fn recording(&self) -> bool {
        self.inner.recording.load(Ordering::Relaxed)
    }

    /// Says which build runs and as which colour (`dimby_build_info`); until then it is
    /// [`Identity::default`].
    pub fn set_identity(&self, identity: Identity) {
        *write(&self.inner.sources.identity) = identity;
    }

    /// Which build runs and as which colour, as `dimby_build_info` says.
    pub fn identity(&self) -> Identity {
        *read(&self.inner.sources.identity)
    }

    /// Reads node gauges from `cluster` at scrape time.
    pub fn attach_cluster(&self, cluster: Cluster) {
        *write(&self.inner.sources.cluster) = Some(cluster);
    }

    /// Reads check statuses from `registry` at scrape time.
    pub fn attach_health(&self, registry: HealthRegistry) {
        *write(&self.inner.sources.health) = Some(registry);
    }

    /// Reads shard gauges from `shards` at scrape time.
    pub fn attach_shards(&self, shards: Arc<dyn ShardSource>) {
        *write(&self.inner.sources.shards) = Some(shards);
    }

    /// Forgets what a serving term attached (the cluster, the shards, the guilds): a process back
    /// in standby holds no node, shard or guild, so it exports none rather than the last ones it
    /// had (which would count them twice beside the colour now serving them, or page for nodes
    /// it no longer talks to).
    pub fn detach_serving(&self) {
        *write(&self.inner.sources.cluster) = None;
        *write(&self.inner.sources.shards) = None;
        *write(&self.inner.sources.guilds) = None;
    }

    /// Reads the allocator's figures from `allocator` at scrape time.
    pub fn attach_allocator(&self, allocator: Arc<dyn AllocatorSource>) {
        *write(&self.inner.sources.allocator) = Some(allocator);
    }

    /// Reads the log's event counts from `log` at scrape time (`dimby_log_events_total`). They are
    /// the process's totals, so events logged before this call are in them.
    pub fn attach_log(&self, log: Arc<dyn LogSource>) {
        *write(&self.inner.sources.log) = Some(log);
    }

    /// Reads guild counts from `guilds` at scrape time.
    pub fn attach_guilds(&self, guilds: Arc<dyn GuildSource>) {
        *write(&self.inner.sources.guilds) = Some(guilds);
    }

    /// Encodes every family in `format`.
    pub fn encode(&self, format: Format) -> String {
        let mut openmetrics = String::with_capacity(16 * 1024);
        if let Err(error) =
            prometheus_client::encoding::text::encode(&mut openmetrics, &self.inner.registry)
        {
            // Only a broken `fmt::Write` fails, and a String's never does.
            tracing::error!(%error, "encoding metrics failed");
        }
        match format {
            Format::OpenMetrics => openmetrics,
            Format::Prometheus => exposition::openmetrics_to_prometheus(&openmetrics),
        }
    }

    /// Takes one cluster event.
    pub fn observe_cluster(&self, event: &ClusterEvent) {
        if !self.recording() {
            return;
        }
        self.inner.families.observe_cluster(event);
    }

    /// A slash command finished: `elapsed` from the interaction's arrival to the final answer.
    pub fn record_command(&self, command: &str, outcome: CommandOutcome, elapsed: Duration) {
        if !self.recording() {
            return;
        }
        let command = self.command_label(command);
        self.inner
            .families
            .record_command(command, outcome, elapsed);
    }

    /// A command's first Lavalink REST call went out `elapsed` after its interaction arrived.
    pub fn record_command_reached_lavalink(&self, command: &str, elapsed: Duration) {
        if !self.recording() {
            return;
        }
        let command = self.command_label(command);
        self.inner
            .families
            .record_command_lavalink(command, elapsed);
    }

    /// The play a command caused started on its node (`TrackStart`) `elapsed` after the command's
    /// interaction arrived.
    pub fn record_command_track_start(&self, command: &str, elapsed: Duration) {
        if !self.recording() {
            return;
        }
        let command = self.command_label(command);
        self.inner
            .families
            .record_command_track_start(command, elapsed);
    }

    /// An interaction was acknowledged (answered or deferred) `elapsed` after it arrived.
    pub fn record_ack(&self, elapsed: Duration) {
        if !self.recording() {
            return;
        }
        self.inner.families.ack.observe(elapsed.as_secs_f64());
    }

    /// A guild's queue changed and now holds `length` tracks.
    pub fn record_queue_length(&self, length: usize) {
        if !self.recording() {
            return;
        }
        #[allow(clippy::cast_precision_loss)]
        self.inner.families.queue_length.observe(length as f64);
    }

    /// The restore set `count` guilds apart because their stored rows are damaged.
    pub fn record_store_quarantined(&self, count: usize) {
        if !self.recording() {
            return;
        }
        self.inner
            .families
            .store_quarantined
            .set(i64::try_from(count).unwrap_or(i64::MAX));
    }

    /// `count` tracks were added to a queue.
    pub fn record_enqueued(&self, count: usize) {
        if !self.recording() {
            return;
        }
        self.inner.families.enqueued.inc_by(count as u64);
    }

    /// A `loadtracks` call answered with Lavalink's `load_type` (`track`, `playlist`, `search`,
    /// `empty`, `error`), or `None` when it got no answer.
    pub fn record_load(&self, load_type: Option<&str>, source: QuerySource) {
        if !self.recording() {
            return;
        }
        self.inner.families.record_load(load_type, source);
    }

    /// A voice self-healing action and how it went.
    pub fn record_voice_heal(&self, action: VoiceAction, outcome: HealOutcome) {
        if !self.recording() {
            return;
        }
        self.inner.families.record_voice_heal(action, outcome);
    }

    /// The admin server closed a connection under pressure.
    pub fn record_admin_pressure(&self, pressure: AdminPressure) {
        if !self.recording() {
            return;
        }
        self.inner.families.record_admin_pressure(pressure);
    }

    /// The process entered a deploy phase (its log line is the caller's).
    pub fn record_deploy_phase(&self, phase: DeployPhase) {
        if !self.recording() {
            return;
        }
        self.inner.families.record_deploy_phase(phase);
    }

    /// The pre-cutover gate ran in this process (its log line is the caller's).
    pub fn record_deploy_gate(&self, run: &GateRun) {
        if !self.recording() {
            return;
        }
        self.inner.families.record_deploy_gate(run);
    }

    /// The identify queue let a shard's identify go (its log line is the queue's).
    pub fn record_identify_turn(&self, turn: IdentifyTurn) {
        if !self.recording() {
            return;
        }
        self.inner.families.record_identify_turn(turn);
    }

    /// A `/filter` change was made. `preset` is its label from a fixed set (the presets' names,
    /// `equalizer`, `timescale`, `reset`): `'static`, so no user text can become a label.
    pub fn record_filter_change(&self, preset: &'static str) {
        if !self.recording() {
            return;
        }
        self.inner.families.record_filter_change(preset);
    }

    /// An autocomplete answer for `command` (a name from the command table, `'static`), where
    /// its suggestions came from, and how long after the interaction arrived it was sent.
    pub fn record_suggestions(
        &self,
        command: &'static str,
        outcome: SuggestOutcome,
        elapsed: Duration,
    ) {
        if !self.recording() {
            return;
        }
        self.inner
            .families
            .record_suggestions(command, outcome, elapsed);
    }

    /// An alert message and what became of it.
    pub fn record_alert(&self, kind: AlertKind, result: AlertResult) {
        if !self.recording() {
            return;
        }
        self.inner.families.record_alert(kind, result);
    }

    /// A Discord REST call finished.
    pub fn record_discord_rest(&self, call: &DiscordRestCall) {
        if !self.recording() {
            return;
        }
        self.inner.families.record_discord_rest(call);
    }

    fn command_label(&self, command: &str) -> String {
        if self.inner.commands.contains(command) {
            command.to_owned()
        } else {
            "unknown".to_owned()
        }
    }
}

fn write<T>(lock: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    lock.write()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn read<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use cluster::ClusterEvent;
    use lavalink::model::{GuildId, IncomingMessage};

    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};

    use super::{
        CommandOutcome, DiscordRestCall, DiscordRoute, Format, Identity, LogCounts, LogSource,
        Metrics,
    };

    fn sample(text: &str, series: &str) -> Option<f64> {
        text.lines()
            .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
            .and_then(|value| value.parse().ok())
    }

    fn closed(code: u16) -> ClusterEvent {
        let json = format!(
            r#"{{"op":"event","type":"WebSocketClosedEvent","guildId":"7","code":{code},"reason":"r","byRemote":true}}"#
        );
        let Ok(IncomingMessage::Event(event)) = IncomingMessage::from_json(&json) else {
            panic!("event json");
        };
        ClusterEvent::Player {
            guild: GuildId(7),
            node: "a".to_owned(),
            event,
            after_move: false,
        }
    }

    #[test]
    fn labels_stay_bounded() {
        let metrics = Metrics::new(["play", "skip"]);
        metrics.record_command("play", CommandOutcome::Ok, Duration::from_millis(1));
        metrics.record_command("rm -rf", CommandOutcome::Error, Duration::from_millis(1));
        metrics.observe_cluster(&closed(4014));
        metrics.observe_cluster(&closed(4999));
        let text = metrics.encode(Format::Prometheus);
        assert_eq!(
            sample(
                &text,
                r#"dimby_commands_total{command="play",outcome="ok"}"#
            ),
            Some(1.0)
        );
        assert_eq!(
            sample(
                &text,
                r#"dimby_commands_total{command="unknown",outcome="error"}"#
            ),
            Some(1.0)
        );
        assert!(!text.contains("rm -rf"));
        assert_eq!(
            sample(&text, r#"dimby_voice_closes_total{code="4014"}"#),
            Some(1.0)
        );
        assert_eq!(
            sample(&text, r#"dimby_voice_closes_total{code="other"}"#),
            Some(1.0)
        );
        assert!(
            !text.contains("guild=") && !text.contains("=\"7\""),
            "the guild id of the events appears in no label"
        );
    }

    #[test]
    fn discord_rest_calls_are_counted_by_route_and_bounded_status() {
        let metrics = Metrics::new([]);
        let call = |status, rate_limited| DiscordRestCall {
            route: DiscordRoute::ChannelMessages,
            status,
            elapsed: Duration::from_millis(900),
            waited: Duration::from_millis(700),
            rate_limited,
        };
        metrics.record_discord_rest(&call(Some(200), 2));
        metrics.record_discord_rest(&call(Some(403), 0));
        metrics.record_discord_rest(&call(Some(418), 0)); // undocumented: its class
        metrics.record_discord_rest(&call(Some(503), 0));
        metrics.record_discord_rest(&call(None, 0));
        let text = metrics.encode(Format::Prometheus);
        for status in ["200", "403", "4xx", "5xx", "none"] {
            assert_eq!(
                sample(
                    &text,
                    &format!(
                        r#"dimby_discord_rest_requests_total{{route="channel_messages",status="{status}"}}"#
                    )
                ),
                Some(1.0),
                "status {status}"
            );
        }
        assert!(!text.contains(r#"status="418""#));
        assert_eq!(
            sample(
                &text,
                r#"dimby_discord_rest_rate_limited_total{route="channel_messages"}"#
            ),
            Some(2.0)
        );
        assert_eq!(
            sample(
                &text,
                r#"dimby_discord_rest_rate_limit_wait_seconds_count{route="channel_messages"}"#
            ),
            Some(5.0)
        );
        assert_eq!(
            sample(
                &text,
                r#"dimby_discord_rest_request_duration_seconds_bucket{le="0.512",route="channel_messages"}"#
            ),
            Some(0.0),
            "900 ms is above the 512 ms bucket"
        );
        assert_eq!(
            sample(
                &text,
                r#"dimby_discord_rest_request_duration_seconds_bucket{le="1.024",route="channel_messages"}"#
            ),
            Some(5.0)
        );
    }

    #[test]
    fn a_reconnect_is_a_ready_after_a_loss() {
        let metrics = Metrics::new([]);
        let ready = |resumed| ClusterEvent::NodeReady {
            node: "a".to_owned(),
            resumed,
        };
        metrics.observe_cluster(&ready(false)); // the first connection
        metrics.observe_cluster(&ClusterEvent::NodeLost {
            node: "a".to_owned(),
            loss: "abnormal".to_owned(),
        });
        metrics.observe_cluster(&ready(true));
        let text = metrics.encode(Format::Prometheus);
        assert_eq!(
            sample(&text, r#"dimby_lavalink_socket_reconnects_total{node="a"}"#),
            Some(1.0)
        );
        assert_eq!(
            sample(
                &text,
                r#"dimby_lavalink_session_resumes_total{node="a",outcome="resumed"}"#
            ),
            Some(1.0)
        );
        assert_eq!(
            sample(
                &text,
                r#"dimby_lavalink_socket_losses_total{node="a",loss="abnormal"}"#
            ),
            Some(1.0)
        );
    }

    #[test]
    fn nothing_is_recorded_while_recording_is_off() {
        let metrics = Metrics::new(["play"]);
        metrics.set_recording(false);
        metrics.record_command("play", CommandOutcome::Ok, Duration::from_millis(1));
        metrics.observe_cluster(&closed(4014));
        let text = metrics.encode(Format::Prometheus);
        assert_eq!(
            sample(
                &text,
                r#"dimby_commands_total{command="play",outcome="ok"}"#
            ),
            None
        );
        assert_eq!(
            sample(&text, r#"dimby_voice_closes_total{code="4014"}"#),
            None
        );
        metrics.set_recording(true);
        metrics.record_command("play", CommandOutcome::Ok, Duration::from_millis(1));
        let text = metrics.encode(Format::Prometheus);
        assert_eq!(
            sample(
                &text,
                r#"dimby_commands_total{command="play",outcome="ok"}"#
            ),
            Some(1.0)
        );
    }

    #[test]
    fn build_info_carries_version_commit_and_colour() {
        let metrics = Metrics::new([]);
        let text = metrics.encode(Format::Prometheus);
        assert_eq!(
            sample(
                &text,
                &format!(
                    r#"dimby_build_info{{version="{}",commit="unknown",colour="none"}}"#,
                    env!("CARGO_PKG_VERSION")
                )
            ),
            Some(1.0),
            "{text}"
        );
        let identity = Identity {
            version: "9.8.7",
            commit: "0123456789ab",
            colour: Some("green"),
        };
        metrics.set_identity(identity);
        assert_eq!(metrics.identity(), identity);
        for format in [Format::Prometheus, Format::OpenMetrics] {
            let text = metrics.encode(format);
            let lines: Vec<&str> = text
                .lines()
                .filter(|l| l.starts_with("dimby_build_info"))
                .collect();
            assert_eq!(
                lines,
                [r#"dimby_build_info{version="9.8.7",commit="0123456789ab",colour="green"} 1.0"#],
                "{format:?}: one series, the identity set last"
            );
        }
    }

    #[test]
    fn openmetrics_ends_with_eof_and_prometheus_text_does_not() {
        let metrics = Metrics::new([]);
        assert!(metrics.encode(Format::OpenMetrics).ends_with("# EOF\n"));
        let text = metrics.encode(Format::Prometheus);
        assert!(
            !text.contains("# EOF") && text.contains("# TYPE dimby_tracks_started_total counter")
        );
    }

    #[test]
    fn a_gate_check_kind_drops_the_node_and_refuses_unknown_names() {
        use crate::GateCheckKind;
        assert_eq!(
            GateCheckKind::of("lavalink:node-a"),
            Some(GateCheckKind::Lavalink)
        );
        assert_eq!(
            GateCheckKind::of("voice_probe"),
            Some(GateCheckKind::VoiceProbe)
        );
        assert_eq!(
            GateCheckKind::of("discord_rest"),
            Some(GateCheckKind::DiscordRest)
        );
        assert_eq!(GateCheckKind::of("lavalinks"), None);
        for kind in [
            GateCheckKind::DiscordRest,
            GateCheckKind::Commands,
            GateCheckKind::Lavalink,
            GateCheckKind::Store,
            GateCheckKind::VoiceProbe,
            GateCheckKind::Log,
        ] {
            assert_eq!(GateCheckKind::of(kind.as_str()), Some(kind));
        }
    }

    #[test]
    fn every_deploy_phase_counter_exists_at_zero_from_the_first_phase_on() {
        let metrics = Metrics::new([]);
        metrics.record_deploy_phase(crate::DeployPhase::Standby);
        let text = metrics.encode(Format::Prometheus);
        let changes = |phase: &str| {
            sample(
                &text,
                &format!("dimby_deploy_phase_changes_total{{phase=\"{phase}\"}}"),
            )
        };
        assert_eq!(changes("standby"), Some(1.0), "{text}");
        for phase in ["taking_over", "serving", "handing_over", "stopping"] {
            assert_eq!(changes(phase), Some(0.0), "{phase}: {text}");
        }
        metrics.record_deploy_phase(crate::DeployPhase::TakingOver);
        let text = metrics.encode(Format::Prometheus);
        assert_eq!(
            sample(
                &text,
                r#"dimby_deploy_phase_changes_total{phase="taking_over"}"#
            ),
            Some(1.0)
        );
        assert_eq!(
            sample(&text, r#"dimby_deploy_phase{phase="taking_over"}"#),
            Some(1.0)
        );
        assert_eq!(
            sample(&text, r#"dimby_deploy_phase{phase="standby"}"#),
            Some(0.0)
        );
    }

    /// A log whose error count a test moves; `None` while it says it does not count.
    struct StubLog {
        errors: AtomicU64,
        counting: bool,
    }

    impl LogSource for StubLog {
        fn log_events(&self) -> Option<LogCounts> {
            self.counting.then(|| LogCounts {
                errors: self.errors.load(Ordering::Relaxed),
                warnings: 2,
                info: 40,
                debug: 0,
                trace: 0,
            })
        }
    }

    #[test]
    fn log_events_are_counters_by_level_read_at_scrape_time() {
        let metrics = Metrics::new([]);
        let text = metrics.encode(Format::Prometheus);
        assert!(
            text.contains("# TYPE dimby_log_events_total counter"),
            "{text}"
        );
        assert!(
            !text.contains("dimby_log_events_total{"),
            "no samples before a log is attached: {text}"
        );

        let log = Arc::new(StubLog {
            errors: AtomicU64::new(3),
            counting: true,
        });
        metrics.attach_log(log.clone());
        let text = metrics.encode(Format::Prometheus);
        assert_eq!(
            sample(&text, r#"dimby_log_events_total{level="error"}"#),
            Some(3.0),
            "{text}"
        );
        assert_eq!(
            sample(&text, r#"dimby_log_events_total{level="warn"}"#),
            Some(2.0)
        );
        assert_eq!(
            sample(&text, r#"dimby_log_events_total{level="info"}"#),
            Some(40.0)
        );
        // Every level has its series, zero or not, so a first error is an increase.
        assert_eq!(
            sample(&text, r#"dimby_log_events_total{level="trace"}"#),
            Some(0.0)
        );
        assert_eq!(
            text.lines()
                .filter(|l| l.starts_with("dimby_log_events_total{"))
                .count(),
            5,
            "{text}"
        );

        log.errors.store(4, Ordering::Relaxed);
        let openmetrics = metrics.encode(Format::OpenMetrics);
        assert_eq!(
            sample(&openmetrics, r#"dimby_log_events_total{level="error"}"#),
            Some(4.0),
            "read at each scrape: {openmetrics}"
        );

        metrics.attach_log(Arc::new(StubLog {
            errors: AtomicU64::new(9),
            counting: false,
        }));
        let text = metrics.encode(Format::Prometheus);
        assert!(
            !text.contains("dimby_log_events_total{"),
            "a log that does not count has no samples, not zeros: {text}"
        );
    }

    #[test]
    fn log_counts_since_an_earlier_snapshot() {
        let earlier = LogCounts {
            errors: 1,
            warnings: 5,
            info: 10,
            debug: 0,
            trace: 0,
        };
        let now = LogCounts {
            errors: 3,
            warnings: 5,
            info: 17,
            debug: 0,
            trace: 0,
        };
        assert_eq!(
            now.since(&earlier),
            LogCounts {
                errors: 2,
                warnings: 0,
                info: 7,
                debug: 0,
                trace: 0,
            }
        );
        assert_eq!(earlier.since(&now).errors, 0, "never below zero");
    }
}
