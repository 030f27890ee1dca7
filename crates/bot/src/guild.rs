//! One guild's actor: the only owner of the guild's engine and everything the bot remembers about
//! the guild. It reads one channel of [`Input`]s (commands, Lavalink events, voice events, its
//! own timers and the results of its loads) and handles them one at a time, in the order they
//! arrived, so ordering is a property of the design rather than of a lock.
//!
//! Slow work runs beside the actor on tracked tasks and comes back as an input: a `/play` starts
//! its track load when it arrives; the command itself is applied in its turn among the guild's
//! commands (a command behind a loading `/play` waits for it), while Lavalink and voice events go
//! on being handled. Timers (the idle leave, the voice-heal back-off) are tracked tasks that send
//! an input when they fire and end when the bot stops.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use cluster::ClusterError;
use lavalink::model::{Event, LoadResult, Track, UpdatePlayer, VoiceState};
use music::{GuildPlayer, Notice, StoreOp};
use telemetry::{HealOutcome, QuerySource, VoiceAction};
use tokio::sync::{mpsc, oneshot};

use super::commands::{Command, CommandKind, PlaylistAction};
use super::runtime::{Core, Failure, Router, lavalink_guild};
use super::shell::{Outcome, Shell};
use crate::activity::VoiceIncident;
use discord::{ChannelId, CommandInvocation, GuildId, Reply};

/// What a guild's actor handles, in arrival order.
#[derive(Debug)]
pub(super) enum Input {
    /// A parsed command of this guild.
    Command(Box<Invocation>),
    /// A Lavalink event about this guild's player (from the node that plays it).
    Lavalink(Box<Event>),
    /// A failover move found the track unplayable on every node.
    MoveFailed(Box<str>),
    /// Discord's voice socket of the node closed with this code.
    VoiceClosed(u16),
    /// A voice heal's back-off passed: act now.
    HealNow {
        /// The close code being healed.
        code: u16,
    },
    /// The guild became available (a restored guild rejoins its channel).
    GuildAvailable,
    /// The bot's voice connection is up.
    VoiceReady(Box<VoiceState>),
    /// The bot was disconnected from voice (kicked, or the channel deleted).
    Kicked,
    /// The bot was moved to another channel.
    Moved(ChannelId),
    /// A listener left the bot's channel.
    ListenerLeft(ChannelId),
    /// The idle-leave wait for this channel passed.
    IdleCheck(ChannelId),
    /// A track load finished.
    Loaded {
        /// Which load.
        load: u64,
        /// What it gave.
        result: Box<Result<Vec<Track>, LoadFailure>>,
    },
    /// A Lavalink node is back: requests that waited for one may load now.
    NodeBack,
    /// The position tick: the position write of a playing guild (none otherwise).
    PositionTick(oneshot::Sender<Option<store::PositionWrite>>),
    /// The bot is stopping: finish the held commands, hand in the guild's last position, end.
    Drain,
    /// The stop's grace passed: end now (held commands are told the bot is stopping).
    Abandon,
}

/// A command with the interaction it came in.
#[derive(Debug)]
pub(super) struct Invocation {
    /// The interaction (answers go through its responder).
    pub interaction: CommandInvocation,
    /// What it asks.
    pub command: Command,
}

/// Why a query gave no tracks.
#[derive(Debug, Clone)]
pub(super) enum LoadFailure {
    /// No Lavalink node is healthy: the request can wait for one.
    NoNode,
    /// The query found nothing (an answer for the user).
    Empty(String),
    /// The node could not load it or did not answer (an answer for the user).
    Failed(String),
}

/// A `/play` (from an interaction, or a request that waited for a node) and its load.
#[derive(Debug)]
struct Play {
    load: u64,
    origin: PlayOrigin,
    result: Option<Result<Vec<Track>, LoadFailure>>,
}

#[derive(Debug)]
enum PlayOrigin {
    /// A `/play` interaction, with the caller's voice channel when it arrived.
    Interaction {
        invocation: Box<Invocation>,
        channel: ChannelId,
    },
    /// A stored request that waited for a node.
    Waiting(store::WaitingRequest),
    /// Autoplay looking for a track related to the one that ended the queue.
    Autoplay(Box<music::Entry>),
}

/// A command in the guild's line.
#[derive(Debug)]
enum Held {
    Command(Box<Invocation>),
    Play(Play),
}

/// The actor. Between inputs it is parked in the router's map as plain data (no task, no channel);
/// an input for a parked guild starts its task again.
#[allow(
    clippy::struct_excessive_bools,
    reason = "independent facts of the guild's life (restored, draining, a vote, a fresh state, a panel press)"
)]
pub(super) struct GuildActor {
    guild: GuildId,
    core: Arc<Core>,
    /// While running: how its timers and loads report back (through the router, which starts the
    /// actor again if it parked meanwhile). Never kept while parked, so the router's map holds no
    /// handle to itself.
    router: Option<Router>,
    player: GuildPlayer,
    text_channel: Option<ChannelId>,
    /// Restored from the store: play on from the saved position once the voice connection is up.
    resume_on_voice: bool,
    /// The voice channel to rejoin once the guild is available (restore).
    rejoin: Option<ChannelId>,
    /// /play requests that could not be looked up because no Lavalink node was healthy, with who
    /// asked: played in order as soon as a node is back.
    waiting: Vec<store::WaitingRequest>,
    /// When voice self-healing acted lately (for its cap).
    heals: Vec<Instant>,
    /// The play a command started and when its interaction arrived: its `TrackStart` gives the
    /// command-to-music time.
    awaiting_start: Option<(u64, CommandKind, Instant)>,
    /// Commands in arrival order; the front one runs when it can (a `/play` when its load is in).
    held: VecDeque<Held>,
    next_load: u64,
    draining: bool,
    /// The now-playing panel's message ([`panel`](super::panel)).
    panel: Option<store::PanelMessage>,
    /// A press on the panel's own buttons is being run: its answer redraws the panel, so the
    /// effects do not edit it too.
    answering_panel: bool,
    /// What the panel still has to show of a command's effects, drawn once its answer is on
    /// its way.
    panel_pending: PendingPanel,
    /// The entry the panel was last drawn for (its track and when it was queued): its start a
    /// moment later needs no second edit.
    panel_shows: Option<Box<(String, u64)>>,
    /// The guild's `/settings`, once read from the store.
    settings: Option<Box<store::GuildSettings>>,
    /// The skip votes for the current track.
    votes: Option<Box<super::rules::SkipVotes>>,
    /// The last command was a skip vote that did not pass yet (a panel press answers it to the
    /// voter alone).
    vote_counted: bool,
    /// The guild's state is fresh (never stored, or forgotten with `/leave`): the next session
    /// starts with the settings' defaults (volume, 24/7, autoplay).
    fresh: bool,
}

/// The panel's channel and message as Discord ids (`None` for a zero read from the store).
fn panel_ids(panel: store::PanelMessage) -> (Option<ChannelId>, Option<discord::MessageId>) {
    (
        ChannelId::new_checked(panel.channel_id),
        discord::MessageId::new_checked(panel.message_id),
    )
}

/// What the settings' rules say about a command.
enum Gate {
    /// Run it (`passed`: a skip that a vote of this many passed).
    Go {
        /// The votes of a skip by vote.
        passed: Option<usize>,
    },
    /// A skip vote was counted; this is the answer.
    Voted(String),
}

/// What the effects just carried out mean for the panel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PanelChange {
    /// Nothing it shows.
    None,
    /// A track started: draw it (posting the panel if there is none).
    Track,
    /// Something it shows changed (paused, volume, loop, filters, the queue): redraw it if
    /// there is one.
    Redraw,
    /// Playback ended: the panel goes.
    End,
}

/// A panel change waiting for a command's answer to be on its way (`left`: the guild's stored
/// state went with the bot).
#[derive(Debug, Clone, Copy)]
struct PendingPanel {
    change: PanelChange,
    left: bool,
}

impl Default for PendingPanel {
    fn default() -> Self {
        Self {
            change: PanelChange::None,
            left: false,
        }
    }
}

impl PendingPanel {
    /// This change on top of what waits.
    fn merge(self, change: PanelChange, left: bool) -> Self {
        Self {
            change: self.change.then(change),
            left: self.left || left,
        }
    }
}

impl PanelChange {
    fn of(notices: &[Notice]) -> Self {
        notices.iter().fold(Self::None, |change, notice| {
            change.then(Self::of_notice(notice))
        })
    }

    /// The later change on top of this one: the last word wins, except that nothing adds
    /// nothing and a redraw does not undo a track or an end.
    fn then(self, later: Self) -> Self {
        match (self, later) {
            (earlier, Self::None) => earlier,
            (earlier, Self::Redraw) if earlier != Self::None => earlier,
            (_, later) => later,
        }
    }

    fn of_notice(notice: &Notice) -> Self {
        match notice {
            Notice::NowPlaying { .. }
            | Notice::Queued { position: None, .. }
            | Notice::PlayingPrevious { .. }
            | Notice::AutoplayQueued { .. }
            | Notice::Skipped { next: Some(_), .. } => Self::Track,
            Notice::Stopped { .. }
            | Notice::Left
            | Notice::QueueFinished
            | Notice::Skipped { next: None, .. } => Self::End,
            Notice::Paused { .. }
            | Notice::Resumed { .. }
            | Notice::VolumeSet(_)
            | Notice::LoopSet(_)
            | Notice::FiltersSet { .. }
            | Notice::Shuffled { .. }
            | Notice::Removed { .. }
            | Notice::Moved { .. }
            | Notice::Cleared { .. }
            | Notice::Queued { .. }
            | Notice::Replaying { .. } => Self::Redraw,
            _ => Self::None,
        }
    }
}

impl GuildActor {
    pub(super) fn new(guild: GuildId, core: Arc<Core>) -> Self {
        Self {
            guild,
            core,
            router: None,
            player: GuildPlayer::new(),
            text_channel: None,
            resume_on_voice: false,
            rejoin: None,
            waiting: Vec::new(),
            heals: Vec::new(),
            awaiting_start: None,
            held: VecDeque::new(),
            next_load: 0,
            draining: false,
            panel: None,
            answering_panel: false,
            panel_shows: None,
            panel_pending: PendingPanel::default(),
            settings: None,
            votes: None,
            vote_counted: false,
            fresh: true,
        }
    }

    /// The wall clock, for the engine (unix milliseconds).
    fn now_ms(&self) -> u64 {
        self.core.clock.unix_ms()
    }

    /// Whether the guild has a current track or a queue (for the guild gauge).
    pub(super) fn is_active(&self) -> bool {
        self.player.current().is_some() || !self.player.queue().is_empty()
    }

    /// Handles inputs while there are any, then parks (or waits, while a command is held for its
    /// load); after [`Input::Drain`] it ends once the held commands are done, or at once on
    /// [`Input::Abandon`].
    pub(super) async fn run(
        mut self: Box<Self>,
        router: Router,
        mut inputs: mpsc::UnboundedReceiver<Input>,
    ) {
        // The resting future is this loop's: kept small (the handlers boxed).
        self.router = Some(router.clone());
        loop {
            let input = match inputs.try_recv() {
                Ok(input) => input,
                Err(mpsc::error::TryRecvError::Empty) if self.held.is_empty() && !self.draining => {
                    self.router = None;
                    // A parked guild keeps no spare room: the commands it held are gone, and the
                    // buffer they grew would otherwise stay with every guild that ever queued.
                    self.held.shrink_to_fit();
                    match router.park(self, &mut inputs) {
                        Ok(()) => return,
                        Err((actor, input)) => {
                            self = actor;
                            self.router = Some(router.clone());
                            input
                        }
                    }
                }
                Err(mpsc::error::TryRecvError::Empty) => match inputs.recv().await {
                    Some(input) => input,
                    None => break,
                },
                Err(mpsc::error::TryRecvError::Disconnected) => break,
            };
            if matches!(input, Input::Abandon) {
                break;
            }
            Box::pin(self.handle(input)).await;
            Box::pin(self.run_held()).await;
            Box::pin(self.flush_panel()).await;
            if self.draining && self.held.is_empty() {
                break;
            }
        }
        self.finish();
        router.ended(self.guild, self.is_active());
    }

    async fn handle(&mut self, input: Input) {
        match input {
            Input::Command(invocation) => self.arrived(invocation),
            Input::Lavalink(event) => self.lavalink_event(&event).await,
            Input::MoveFailed(error) => {
                let effects = self.player.move_failed(&error, self.now_ms());
                self.carry_out(effects, None).await;
            }
            Input::VoiceClosed(code) => self.voice_closed(code).await,
            Input::HealNow { code } => self.heal(code).await,
            Input::GuildAvailable => self.rejoin(),
            Input::VoiceReady(voice) => self.voice_ready(*voice).await,
            Input::Kicked => {
                let effects = self.player.leave();
                self.carry_out(effects, None).await;
            }
            Input::Moved(channel) => self.remember_voice(channel).await,
            Input::ListenerLeft(channel) => self.listener_left(channel),
            Input::IdleCheck(channel) => self.idle_check(channel).await,
            Input::Loaded { load, result } => {
                for held in &mut self.held {
                    if let Held::Play(play) = held
                        && play.load == load
                    {
                        play.result = Some(*result);
                        break;
                    }
                }
            }
            Input::NodeBack => self.load_waiting(),
            Input::PositionTick(reply) => {
                let _ = reply.send(self.position_write());
            }
            Input::Drain => self.draining = true,
            // Handled by the loop.
            Input::Abandon => {}
        }
    }

    /// The guild's last position for the stop's batch write, then the end: commands still held
    /// (their loads did not come back within the stop's bound) are told the bot is stopping.
    fn finish(&mut self) {
        for held in std::mem::take(&mut self.held) {
            let invocation = match held {
                Held::Command(invocation)
                | Held::Play(Play {
                    origin: PlayOrigin::Interaction { invocation, .. },
                    ..
                }) => invocation,
                Held::Play(Play {
                    origin: PlayOrigin::Waiting(request),
                    ..
                }) => {
                    // Still in the store: the next start plays it when a node is there.
                    self.waiting.push(request);
                    continue;
                }
                // The queue had ended: autoplay's search is dropped with the stop.
                Held::Play(Play {
                    origin: PlayOrigin::Autoplay(_),
                    ..
                }) => continue,
            };
            let kind = invocation.command.kind();
            self.core
                .answer(invocation.interaction, kind, Err(Failure::stopping()));
        }
        if let Some(write) = self.position_write() {
            self.core.final_positions.push(write);
        }
    }

    /// The position write of a playing guild, from the node's position now.
    pub(super) fn position_write(&mut self) -> Option<store::PositionWrite> {
        let guild = lavalink_guild(self.guild);
        let view = self.core.shell.cluster().player(guild)?;
        if !view.record.is_playing() {
            return None;
        }
        // The engine answers a position update with its position save alone (or nothing when
        // no track is current): there is nothing else to carry out.
        let effects = self.player.player_update(view.position_ms, self.now_ms());
        Shell::position_write(guild, &effects)
    }

    /// The guild.
    pub(super) fn guild(&self) -> GuildId {
        self.guild
    }

    /// Takes the guild as stored. `playing_on`: its player is live on a node already (adopted
    /// from a predecessor's session) and its voice connection is up, so nothing is rejoined or
    /// replayed.
    pub(super) fn restore(&mut self, restored: super::shell::Restored, playing_on: bool) {
        self.resume_on_voice = !playing_on && restored.player.current().is_some();
        self.player = restored.player;
        self.text_channel = restored.text_channel.and_then(ChannelId::new_checked);
        self.rejoin = restored
            .voice_channel
            .and_then(ChannelId::new_checked)
            .filter(|_| !playing_on);
        self.waiting = restored.waiting;
        self.panel = restored.panel;
        self.fresh = false;
    }

    // ---- Commands ----------------------------------------------------------------------------

    /// A command arrived: it joins the line (a `/play` starts loading at once).
    fn arrived(&mut self, invocation: Box<Invocation>) {
        if let Command::Play { query } = &invocation.command {
            let caller = self
                .core
                .discord
                .user_voice_channel(self.guild, invocation.interaction.user);
            let Some(channel) = caller else {
                self.core.answer(
                    invocation.interaction,
                    CommandKind::Play,
                    Err("Join a voice channel first, then use /play."
                        .to_owned()
                        .into()),
                );
                return;
            };
            let load = self.start_load(query);
            self.core.observers.metrics.record_command_reached_lavalink(
                CommandKind::Play.name(),
                discord::age_of(invocation.interaction.responder.received()),
            );
            self.held.push_back(Held::Play(Play {
                load,
                origin: PlayOrigin::Interaction {
                    invocation,
                    channel,
                },
                result: None,
            }));
        } else {
            self.held.push_back(Held::Command(invocation));
        }
    }

    /// Runs the held commands from the front while they can run.
    async fn run_held(&mut self) {
        loop {
            match self.held.front() {
                None => return,
                Some(Held::Play(play)) if play.result.is_none() => return,
                Some(_) => {}
            }
            let Some(held) = self.held.pop_front() else {
                return;
            };
            match held {
                Held::Command(invocation) => self.command(*invocation).await,
                Held::Play(play) => self.play(play).await,
            }
        }
    }

    /// Starts loading `query` on a tracked task; the result comes back as [`Input::Loaded`].
    fn start_load(&mut self, query: &str) -> u64 {
        self.next_load += 1;
        let load = self.next_load;
        let core = Arc::clone(&self.core);
        let router = self.router.clone();
        let guild = self.guild;
        let query = query.to_owned();
        self.core.tasks.spawn(async move {
            let result = tokio::select! {
                result = core.load(&query) => result,
                () = core.abandon.cancelled() => return,
            };
            if let Some(router) = router {
                router.send_existing(
                    guild,
                    Input::Loaded {
                        load,
                        result: Box::new(result),
                    },
                );
            }
        });
        load
    }

    async fn command(&mut self, invocation: Invocation) {
        let kind = invocation.command.kind();
        let pressed = invocation.interaction.pressed;
        let answer = match invocation.command {
            Command::Queue { page } => self.queue_page(page, pressed.is_some()),
            _ if pressed.is_some() => self.panel_press(&invocation).await,
            _ => self.run_command(&invocation).await.map(Reply::text),
        };
        self.core.answer(invocation.interaction, kind, answer);
    }

    /// A button of a panel: on the guild's panel, the command runs as the slash command would
    /// and its answer is the panel redrawn (a refusal is the presser's alone); on a panel that
    /// is no longer the guild's, nothing runs and that message loses its buttons.
    async fn panel_press(&mut self, invocation: &Invocation) -> Result<Reply, Failure> {
        let current = self.panel.and_then(|panel| panel_ids(panel).1);
        if current.is_none() || invocation.interaction.pressed != current {
            return Ok(super::panel::retired());
        }
        self.answering_panel = true;
        self.vote_counted = false;
        let ran = self.run_command(invocation).await;
        // The answer is the panel: what the command changed is drawn by it, not by an edit.
        self.flush_panel().await;
        self.answering_panel = false;
        let text = ran?;
        if std::mem::take(&mut self.vote_counted) {
            // A vote changes nothing on the panel: the voter is told alone.
            return Ok(Reply::text(text).ephemeral());
        }
        Ok(
            super::panel::render(&self.player, self.now_ms()).unwrap_or_else(|| {
                // Playback ended with this press: the panel becomes a plain line.
                Reply::text(format!("{text} (by <@{}>)", invocation.interaction.user))
            }),
        )
    }

    /// A page of the queue with its buttons. From a button (`pressed`), a page that no longer
    /// exists shows the last one and an emptied queue says so without buttons: the message is
    /// updated either way, never refused.
    fn queue_page(&self, page: usize, pressed: bool) -> Result<Reply, Failure> {
        let player = &self.player;
        let now = self.now_ms();
        let now_playing = player.now_playing(now);
        let page = if pressed {
            let total_pages = player.queue_page(1).map_or(1, |first| first.total_pages);
            page.min(total_pages)
        } else {
            page
        };
        let page = player
            .queue_page(page)
            .map_err(|refusal| Failure::from(refusal.to_string()))?;
        let text = super::display::queue(&page, now_playing.as_ref());
        let reply = Reply::text(text);
        if page.lines.is_empty() {
            return Ok(reply);
        }
        Ok(reply.row(super::buttons::queue_row(page.page, page.total_pages)))
    }

    async fn run_command(&mut self, invocation: &Invocation) -> Result<String, Failure> {
        let inv = &invocation.interaction;
        let command = &invocation.command;
        let kind = command.kind();
        let now = self.now_ms();
        if kind.spec().controls_playback
            && let Some(bot) = self.core.discord.bot_voice_channel(self.guild)
            && self.core.discord.user_voice_channel(self.guild, inv.user) != Some(bot)
        {
            return Err(format!("Join <#{bot}> to control playback.").into());
        }
        let passed = match self.gate(inv, command).await? {
            Gate::Go { passed } => passed,
            Gate::Voted(text) => return Ok(text),
        };
        if let Command::Settings(action) = command {
            let settings = self.settings().await;
            return self.settings_command(settings, action).await;
        }
        let player = &mut self.player;
        let effects = match command {
            Command::Pause => player.pause(now),
            Command::Resume => player.resume(now),
            Command::Skip { to } => player.skip(*to, now),
            Command::Stop => player.stop(now),
            Command::Seek { position_ms } => player.seek(*position_ms, now),
            Command::Volume { level } => player.set_volume(*level),
            Command::Loop { mode } => Ok(player.set_loop(*mode)),
            Command::Shuffle => player.shuffle(now),
            Command::Remove { position } => player.remove(*position),
            Command::Move { from, to } => player.move_entry(*from, *to),
            Command::Clear => player.clear(),
            Command::Leave => Ok(player.leave()),
            Command::Filter { change } => {
                let changed = player.set_filters(*change);
                if changed.is_ok() {
                    self.core
                        .observers
                        .metrics
                        .record_filter_change(change.label());
                }
                changed
            }
            Command::Stay => {
                let stay = !player.stays();
                let effects = player.set_stay(stay);
                if !stay && let Some(channel) = self.core.discord.bot_voice_channel(self.guild) {
                    // Nobody may be listening now: the usual idle rule applies from here.
                    self.listener_left(channel);
                }
                Ok(effects)
            }
            Command::Autoplay => {
                let autoplay = !player.autoplays();
                Ok(player.set_autoplay(autoplay))
            }
            Command::Replay => player.replay(now),
            Command::Previous => return self.previous(inv, now).await,
            Command::History { page } => return self.history_page(*page).await,
            Command::Lyrics { query, page } => return self.lyrics(query.as_deref(), *page).await,
            Command::Playlist(action) => return self.playlist(invocation, action).await,
            Command::NowPlaying => {
                let bar = player.position_bar(now);
                return player
                    .now_playing(now)
                    .map(|np| super::display::now_playing(&np, bar))
                    .ok_or_else(|| "Nothing is playing.".to_owned().into());
            }
            // Answered before they reach a guild, by `command` itself, or above.
            Command::Play { .. }
            | Command::Queue { .. }
            | Command::Settings(_)
            | Command::Health
            | Command::Help => {
                return Err(Failure::failed("That command is not handled here."));
            }
        };
        let effects = effects.map_err(|refusal| refusal.to_string())?;
        self.reaching_lavalink(inv, kind, &effects);
        self.await_start(inv, kind, &effects);
        let mut lines = Vec::new();
        let outcome = self.carry_out(effects, Some(&mut lines)).await;
        if outcome.failed {
            return Err(Failure::failed(lines.join("\n")));
        }
        if kind == CommandKind::Leave {
            let _ = self.core.discord.leave_voice(self.guild);
        }
        if let Some(votes) = passed {
            lines.insert(0, format!("Skipped by vote ({votes} votes)."));
        }
        Ok(if lines.is_empty() {
            "Done.".to_owned()
        } else {
            lines.join("\n")
        })
    }

    // ---- Settings ----------------------------------------------------------------------------

    /// Whether the caller may run the command here (the settings' rules), and for a skip that
    /// is a vote, the vote: counted (its answer), or passed (the skip goes on).
    async fn gate(&mut self, inv: &CommandInvocation, command: &Command) -> Result<Gate, Failure> {
        let settings = self.settings().await;
        let listeners = self.listeners();
        let requester = self.player.current().map(|entry| entry.requester_id);
        if let Some(refusal) = super::rules::refusal(&settings, inv, command, requester, &listeners)
        {
            return Err(refusal.into());
        }
        let voting = matches!(command, Command::Skip { .. })
            && settings
                .dj_role_id
                .is_some_and(|role| !super::rules::is_dj(inv, role, &listeners))
            && requester != Some(inv.user.get());
        let Some(track) = self.current_entry().filter(|_| voting) else {
            return Ok(Gate::Go { passed: None });
        };
        match self.votes.get_or_insert_default().vote(
            track,
            inv.user,
            &listeners,
            settings.vote_skip_percent,
        ) {
            super::rules::Vote::Counted { votes, needed } => {
                self.vote_counted = true;
                Ok(Gate::Voted(format!(
                    "<@{}> votes to skip: {votes} of {needed} votes.",
                    inv.user
                )))
            }
            super::rules::Vote::Again { votes, needed } => {
                Err(format!("You voted to skip already: {votes} of {needed} votes.").into())
            }
            super::rules::Vote::Passed { votes } => Ok(Gate::Go {
                passed: Some(votes),
            }),
        }
    }

    /// The guild's settings (read from the store once; the defaults while it cannot be read).
    async fn settings(&mut self) -> store::GuildSettings {
        if let Some(settings) = &self.settings {
            return (**settings).clone();
        }
        match self
            .core
            .shell
            .store()
            .guild_settings(self.guild.get())
            .await
        {
            Ok(settings) => {
                self.settings = Some(Box::new(settings.clone()));
                settings
            }
            Err(error) => {
                tracing::warn!(guild = %self.guild, %error, "could not read the settings: the defaults apply");
                store::GuildSettings::default()
            }
        }
    }

    /// `/settings`: shows them, or changes one and shows them (the caller's right to change
    /// them was checked).
    async fn settings_command(
        &mut self,
        settings: store::GuildSettings,
        action: &super::commands::SettingsAction,
    ) -> Result<String, Failure> {
        let settings = super::rules::changed(settings, action);
        if action.changes() {
            match self
                .core
                .shell
                .store()
                .set_guild_settings(self.guild.get(), &settings)
                .await
            {
                Ok(()) => self.settings = Some(Box::new(settings.clone())),
                Err(store::Error::GuildSetting { key, message }) => {
                    return Err(format!("{key}: {message}").into());
                }
                Err(error) => {
                    tracing::error!(guild = %self.guild, %error, "could not store the settings");
                    return Err(Failure::failed("I could not save the settings: try again."));
                }
            }
        }
        Ok(super::rules::describe(&settings))
    }

    /// The listeners in the bot's voice channel (none when it is in none).
    fn listeners(&self) -> Vec<discord::UserId> {
        self.core
            .discord
            .bot_voice_channel(self.guild)
            .map(|channel| self.core.discord.voice_channel_listeners(channel))
            .unwrap_or_default()
    }

    /// Where the panel and announcements go: the settings' channel, else where the command
    /// was typed, else where they went.
    async fn reporting_channel(&mut self, inv: &CommandInvocation) -> Option<ChannelId> {
        self.settings()
            .await
            .announce_channel_id
            .and_then(ChannelId::new_checked)
            .or(inv.channel)
            .or(self.text_channel)
    }

    /// A session starts in a fresh guild: the settings' starting volume, 24/7 and autoplay.
    async fn fresh_defaults(&mut self) {
        if !self.fresh {
            return;
        }
        self.fresh = false;
        let settings = self.settings().await;
        let mut effects = Vec::new();
        if self.player.volume() != settings.default_volume
            && let Ok(set) = self.player.set_volume(i64::from(settings.default_volume))
        {
            effects.extend(set);
        }
        if settings.stay_by_default && !self.player.stays() {
            effects.extend(self.player.set_stay(true));
        }
        if settings.autoplay_by_default && !self.player.autoplays() {
            effects.extend(self.player.set_autoplay(true));
        }
        if !effects.is_empty() {
            // Said by /settings, not at every start.
            let mut quiet = Vec::new();
            self.carry_out(effects, Some(&mut quiet)).await;
        }
    }

    /// `/previous`: the newest history entry plays again; the current one comes next.
    async fn previous(&mut self, inv: &CommandInvocation, now: u64) -> Result<String, Failure> {
        let guild = self.guild.get();
        let last = self
            .core
            .shell
            .store()
            .history(guild, 1)
            .await
            .map_err(|error| {
                tracing::error!(guild, %error, "could not read the history");
                Failure::failed("I could not read what was played before: try again in a moment.")
            })?;
        let Some(last) = last.into_iter().next() else {
            return Err(
                "Nothing was played here before: there is no previous track."
                    .to_owned()
                    .into(),
            );
        };
        let Some(entry) = super::shell::from_store(guild, &last.entry) else {
            // It cannot play any more: drop it so that the next /previous finds the one before.
            let _ = self.core.shell.store().remove_history(guild, last.id).await;
            return Err("The previous track can no longer be played: try /previous again for the one before.".to_owned().into());
        };
        let effects = self.player.previous(entry, last.id, now);
        self.reaching_lavalink(inv, CommandKind::Previous, &effects);
        self.await_start(inv, CommandKind::Previous, &effects);
        let mut lines = Vec::new();
        let outcome = self.carry_out(effects, Some(&mut lines)).await;
        if outcome.failed {
            return Err(Failure::failed(lines.join("\n")));
        }
        Ok(lines.join("\n"))
    }

    /// `/lyrics [query] [page]`: the lyrics of the current track, or of the first track `query`
    /// finds, from a node with the LavaLyrics plugin, in pages.
    async fn lyrics(&self, query: Option<&str>, page: usize) -> Result<String, Failure> {
        let (encoded, title, author) = if let Some(query) = query {
            let found = self
                .core
                .load(query)
                .await
                .map_err(|failure| match failure {
                    LoadFailure::NoNode => Failure::failed(
                        "Audio nodes are unavailable right now: try /lyrics again in a moment.",
                    ),
                    LoadFailure::Empty(text) | LoadFailure::Failed(text) => text.into(),
                })?;
            let Some(track) = found.into_iter().next() else {
                return Err(format!("Nothing found for {query}.").into());
            };
            (track.encoded, track.info.title, track.info.author)
        } else {
            let Some(current) = self.player.current() else {
                return Err(
                    "Nothing is playing: /play something, or give /lyrics a song to find."
                        .to_owned()
                        .into(),
                );
            };
            (
                current.encoded.clone(),
                current.info.title.clone(),
                current.info.author.clone(),
            )
        };
        match self.core.shell.cluster().lyrics(&encoded).await {
            Ok(cluster::LyricsAnswer::Found(lyrics)) => {
                super::display::lyrics(&title, &author, &lyrics, page).map_err(Into::into)
            }
            Ok(cluster::LyricsAnswer::NotFound) => {
                Err(format!("No lyrics found for {title} by {author}.").into())
            }
            Ok(cluster::LyricsAnswer::NoPlugin) => Err(
                "None of the audio nodes offers lyrics (a node needs the LavaLyrics plugin)."
                    .to_owned()
                    .into(),
            ),
            Err(cluster::ClusterError::NoNodeAvailable) => Err(Failure::failed(
                "Audio nodes are unavailable right now: try /lyrics again in a moment.",
            )),
            Err(error) => {
                tracing::warn!(guild = %self.guild, %error, "lyrics failed");
                Err(Failure::failed(
                    "Getting the lyrics failed: try again in a moment.",
                ))
            }
        }
    }

    /// `/playlist`: the caller's saved playlists (the store's refusals are the answers: they name
    /// the limit and change nothing).
    async fn playlist(
        &mut self,
        invocation: &Invocation,
        action: &PlaylistAction,
    ) -> Result<String, Failure> {
        let user = invocation.interaction.user.get();
        let store = Arc::clone(self.core.shell.store());
        let refused = playlist_refusal;
        match action {
            PlaylistAction::Save(name) => {
                let entries: Vec<store::QueueEntry> = self
                    .player
                    .current()
                    .into_iter()
                    .chain(self.player.queue())
                    .map(super::shell::to_store)
                    .collect();
                if entries.is_empty() {
                    return Err("Nothing is playing or queued: there is nothing to save."
                        .to_owned()
                        .into());
                }
                let saved = store
                    .save_playlist(user, name, &entries, self.now_ms())
                    .await
                    .map_err(refused)?;
                Ok(format!(
                    "{} playlist **{}** ({} tracks).",
                    if saved.replaced {
                        "Replaced your"
                    } else {
                        "Saved your"
                    },
                    super::display::escape(name),
                    saved.tracks
                ))
            }
            PlaylistAction::Load(name) => self.load_playlist(invocation, name).await,
            PlaylistAction::List => {
                let lists = store.playlists(user).await.map_err(refused)?;
                Ok(super::display::playlists(&lists))
            }
            PlaylistAction::Show(name, page) => {
                let Some(playlist) = store.playlist(user, name).await.map_err(refused)? else {
                    return Err(no_playlist(name));
                };
                super::display::playlist(&playlist, *page).map_err(Into::into)
            }
            PlaylistAction::Delete(name) => {
                if store.delete_playlist(user, name).await.map_err(refused)? {
                    Ok(format!(
                        "Deleted your playlist **{}**.",
                        super::display::escape(name)
                    ))
                } else {
                    Err(no_playlist(name))
                }
            }
        }
    }

    /// `/playlist load`: the playlist's tracks queue as a `/play` of them would (the caller in a
    /// voice channel); tracks that no longer decode are skipped with a note.
    async fn load_playlist(
        &mut self,
        invocation: &Invocation,
        name: &str,
    ) -> Result<String, Failure> {
        let user = invocation.interaction.user.get();
        let store = Arc::clone(self.core.shell.store());
        let Some(channel) = self
            .core
            .discord
            .user_voice_channel(self.guild, invocation.interaction.user)
        else {
            return Err("Join a voice channel first, then load a playlist."
                .to_owned()
                .into());
        };
        let Some(playlist) = store.playlist(user, name).await.map_err(playlist_refusal)? else {
            return Err(no_playlist(name));
        };
        let guild = self.guild.get();
        let tracks: Vec<Track> = playlist
            .entries
            .iter()
            .filter_map(|entry| super::shell::from_store(guild, entry))
            .map(music::Entry::into_track)
            .collect();
        let skipped = playlist.entries.len() - tracks.len();
        if tracks.is_empty() {
            return Err(format!(
                "None of the {} tracks of **{}** can be played any more.",
                skipped,
                super::display::escape(&playlist.name)
            )
            .into());
        }
        let answer = self
            .play_interaction(invocation, channel, Ok(tracks))
            .await?;
        Ok(if skipped == 0 {
            answer
        } else {
            format!(
                "{answer}\n{skipped} track{} of the playlist can no longer be played and {} skipped.",
                if skipped == 1 { "" } else { "s" },
                if skipped == 1 { "was" } else { "were" }
            )
        })
    }

    /// `/history [page]`: the guild's last played tracks, newest first.
    async fn history_page(&self, page: usize) -> Result<String, Failure> {
        let guild = self.guild.get();
        let history = self
            .core
            .shell
            .store()
            .history(guild, store::HISTORY_LEN)
            .await
            .map_err(|error| {
                tracing::error!(guild, %error, "could not read the history");
                Failure::failed("I could not read the history: try again in a moment.")
            })?;
        super::display::history(&history, page).map_err(Into::into)
    }

    /// A `/play` (or a waiting request) whose load is in.
    async fn play(&mut self, play: Play) {
        let Some(result) = play.result else { return };
        match play.origin {
            PlayOrigin::Interaction {
                invocation,
                channel,
            } => {
                let answer = self.play_interaction(&invocation, channel, result).await;
                self.core.answer(
                    invocation.interaction,
                    CommandKind::Play,
                    answer.map(Reply::text),
                );
            }
            PlayOrigin::Waiting(request) => self.play_waiting(request, result).await,
            PlayOrigin::Autoplay(seed) => self.autoplay_loaded(&seed, result).await,
        }
    }

    /// The queue ended with autoplay on: load what is related to `seed` (for a YouTube track its
    /// radio mix, otherwise a search by its author), through the line like a `/play`.
    fn start_autoplay(&mut self, seed: music::Entry) {
        let info = &seed.info;
        let query = if info.source_name == "youtube" {
            format!(
                "https://www.youtube.com/watch?v={id}&list=RD{id}",
                id = info.identifier
            )
        } else {
            info.author.clone()
        };
        let load = self.start_load(&query);
        self.held.push_back(Held::Play(Play {
            load,
            origin: PlayOrigin::Autoplay(Box::new(seed)),
            result: None,
        }));
    }

    /// Autoplay's load is in: the first track that is neither the one that ended nor one of the
    /// recent history plays; otherwise the queue is finished.
    async fn autoplay_loaded(
        &mut self,
        seed: &music::Entry,
        result: Result<Vec<Track>, LoadFailure>,
    ) {
        let tracks = match result {
            Ok(tracks) => tracks,
            Err(LoadFailure::NoNode) => {
                self.announce(
                    "Autoplay: no audio node is available to look for more; the queue is finished.",
                )
                .await;
                return;
            }
            Err(LoadFailure::Empty(_) | LoadFailure::Failed(_)) => {
                self.announce("Autoplay found nothing related to play: the queue is finished.")
                    .await;
                return;
            }
        };
        let recent = match self
            .core
            .shell
            .store()
            .history(self.guild.get(), store::HISTORY_LEN)
            .await
        {
            Ok(history) => history,
            Err(error) => {
                tracing::warn!(guild = %self.guild, %error, "autoplay could not read the history; only the last track is avoided");
                Vec::new()
            }
        };
        let played = |track: &Track| {
            let info = &track.info;
            (info.identifier == seed.info.identifier && info.source_name == seed.info.source_name)
                || recent.iter().any(|h| {
                    h.entry.uri.is_some() && h.entry.uri == info.uri
                        || (h.entry.title == info.title && h.entry.author == info.author)
                })
        };
        let Some(track) = tracks.into_iter().find(|track| !played(track)) else {
            self.announce("Autoplay found nothing new to play: the queue is finished.")
                .await;
            return;
        };
        let entry = music::Entry::new(track, seed.requester_id, self.now_ms());
        let effects = self.player.autoplay_found(entry, self.now_ms());
        self.carry_out(effects, None).await;
    }

    async fn play_interaction(
        &mut self,
        invocation: &Invocation,
        channel: ChannelId,
        result: Result<Vec<Track>, LoadFailure>,
    ) -> Result<String, Failure> {
        let inv = &invocation.interaction;
        let discord = &self.core.discord;
        let bot_channel = discord.bot_voice_channel(self.guild);
        if let Some(bot) = bot_channel
            && bot != channel
            && self.player.current().is_some()
        {
            return Err(format!("I'm playing in <#{bot}>: join that channel to add music.").into());
        }
        match discord.bot_can_play_in(channel) {
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
        let query = match &invocation.command {
            Command::Play { query } => query.as_str(),
            _ => "",
        };
        let tracks = match result {
            Ok(tracks) => tracks,
            Err(LoadFailure::Empty(text)) => return Err(text.into()),
            Err(LoadFailure::Failed(text)) => return Err(Failure::failed(text)),
            Err(LoadFailure::NoNode) => {
                return self.keep_waiting(inv, channel, bot_channel, query).await;
            }
        };
        if bot_channel != Some(channel)
            && let Err(error) = discord.join_voice(self.guild, channel, true)
        {
            return Err(Failure::failed(format!(
                "I can't join <#{channel}>: {error}"
            )));
        }
        self.text_channel = self.reporting_channel(inv).await;
        self.store_channels(Some(channel)).await;
        self.fresh_defaults().await;
        let effects = self
            .player
            .play(tracks, inv.user.get(), self.now_ms())
            .map_err(|refusal| refusal.to_string())?;
        self.await_start(inv, CommandKind::Play, &effects);
        let mut lines = Vec::new();
        let outcome = self.carry_out(effects, Some(&mut lines)).await;
        if outcome.failed {
            return Err(Failure::failed(lines.join("\n")));
        }
        Ok(if lines.is_empty() {
            "Queued.".to_owned()
        } else {
            lines.join("\n")
        })
    }

    /// No node can load the query now: join the caller's channel already, keep the request (in
    /// the store too) and say it will play when a node is back.
    async fn keep_waiting(
        &mut self,
        inv: &CommandInvocation,
        channel: ChannelId,
        bot_channel: Option<ChannelId>,
        query: &str,
    ) -> Result<String, Failure> {
        if bot_channel != Some(channel) {
            // Be in the channel already, so playback starts the moment a node is back.
            let _ = self.core.discord.join_voice(self.guild, channel, true);
        }
        self.text_channel = self.reporting_channel(inv).await;
        // Kept in the store too: a restart before a node is back does not lose it.
        self.store_channels(Some(channel)).await;
        let request = match self
            .core
            .shell
            .store()
            .add_waiting(self.guild.get(), query, inv.user.get(), self.now_ms())
            .await
        {
            Ok(request) => request,
            Err(error) => {
                tracing::error!(guild = %self.guild, %error, "could not store a waiting request");
                return Err(Failure::failed(
                    "Audio nodes are unavailable and I could not keep your request: try again in a moment.",
                ));
            }
        };
        self.waiting.push(request);
        Ok(format!(
            "Audio nodes are unavailable right now, your queue is kept: I'll play \"{query}\" as soon as one is back."
        ))
    }

    /// A node is back: every waiting request loads again, in order, through the line.
    fn load_waiting(&mut self) {
        if self.waiting.is_empty() || !self.core.shell.cluster().has_eligible_node() {
            return;
        }
        for request in std::mem::take(&mut self.waiting) {
            let load = self.start_load(&request.query);
            self.held.push_back(Held::Play(Play {
                load,
                origin: PlayOrigin::Waiting(request),
                result: None,
            }));
        }
    }

    async fn play_waiting(
        &mut self,
        request: store::WaitingRequest,
        result: Result<Vec<Track>, LoadFailure>,
    ) {
        match result {
            Ok(tracks) => match self
                .player
                .play(tracks, request.requester_id, self.now_ms())
            {
                Ok(effects) => {
                    self.carry_out(effects, None).await;
                }
                Err(refusal) => self.announce(&refusal.to_string()).await,
            },
            Err(LoadFailure::NoNode) => {
                // Gone again: keep waiting (it is still in the store).
                self.waiting.push(request);
                return;
            }
            Err(LoadFailure::Empty(text) | LoadFailure::Failed(text)) => {
                self.announce(&text).await;
            }
        }
        // Played (its tracks are in the stored queue now) or failed for good.
        if let Err(error) = self
            .core
            .shell
            .store()
            .remove_waiting(self.guild.get(), request.id)
            .await
        {
            tracing::warn!(guild = %self.guild, %error, "could not drop a played waiting request");
        }
    }

    /// Remembers the play a command starts, to time it to its `TrackStart`.
    fn await_start(
        &mut self,
        inv: &CommandInvocation,
        kind: CommandKind,
        effects: &[music::Effect],
    ) {
        if let Some(play) = effects.iter().find_map(|effect| match effect {
            music::Effect::Play { play_id, .. } => Some(*play_id),
            _ => None,
        }) {
            self.awaiting_start = Some((play, kind, inv.responder.received()));
        }
    }

    /// Records when a command's first Lavalink call goes out (effects that reach the player).
    fn reaching_lavalink(
        &self,
        inv: &CommandInvocation,
        kind: CommandKind,
        effects: &[music::Effect],
    ) {
        let reaches = effects.iter().any(|effect| {
            matches!(
                effect,
                music::Effect::Play { .. }
                    | music::Effect::Stop
                    | music::Effect::Pause(_)
                    | music::Effect::Seek(_)
                    | music::Effect::SetVolume(_)
                    | music::Effect::SetFilters(_)
                    | music::Effect::Disconnect
            )
        });
        if reaches {
            self.core.observers.metrics.record_command_reached_lavalink(
                kind.name(),
                discord::age_of(inv.responder.received()),
            );
        }
    }

    // ---- Lavalink and voice events -----------------------------------------------------------

    async fn lavalink_event(&mut self, event: &Event) {
        if let Event::TrackStart(start) = event
            && let Some((play, kind, received)) = &self.awaiting_start
            && music::play_id_of(&start.track) == Some(*play)
        {
            self.core
                .observers
                .metrics
                .record_command_track_start(kind.name(), discord::age_of(*received));
            self.awaiting_start = None;
        }
        let effects = self.player.on_event(event, self.now_ms());
        self.carry_out(effects, None).await;
    }

    fn rejoin(&mut self) {
        let Some(channel) = self.rejoin.take() else {
            return;
        };
        if let Err(error) = self.core.discord.join_voice(self.guild, channel, true) {
            tracing::warn!(guild = %self.guild, %error, "could not rejoin the voice channel");
            return;
        }
        // Back in a channel nobody is in: the idle rule (unless 24/7) applies from now.
        self.listener_left(channel);
    }

    async fn voice_ready(&mut self, voice: VoiceState) {
        let update = UpdatePlayer {
            voice: Some(voice),
            ..UpdatePlayer::default()
        };
        if let Err(error) = self
            .core
            .shell
            .cluster()
            .update(lavalink_guild(self.guild), update)
            .await
        {
            tracing::warn!(guild = %self.guild, %error, "could not hand the voice connection to Lavalink");
        }
        if std::mem::take(&mut self.resume_on_voice) {
            let effects = self.player.resume_from_snapshot(self.now_ms());
            self.carry_out(effects, None).await;
        }
    }

    async fn remember_voice(&mut self, channel: ChannelId) {
        self.store_channels(Some(channel)).await;
    }

    async fn store_channels(&self, voice: Option<ChannelId>) {
        let text = self.text_channel.map(ChannelId::get);
        if let Err(error) = self
            .core
            .shell
            .store()
            .set_channels(self.guild.get(), voice.map(ChannelId::get), text)
            .await
        {
            tracing::warn!(guild = %self.guild, %error, "could not store the channels");
        }
    }

    /// A listener left the bot's channel: if nobody is left, check again after the idle time.
    fn listener_left(&self, channel: ChannelId) {
        if self.player.stays()
            || !self
                .core
                .discord
                .voice_channel_listeners(channel)
                .is_empty()
        {
            return;
        }
        tracing::debug!(guild = %self.guild, after = ?self.core.settings.idle_leave, "nobody listening: idle check scheduled");
        self.after(self.core.settings.idle_leave, Input::IdleCheck(channel));
    }

    async fn idle_check(&mut self, channel: ChannelId) {
        if self.player.stays() {
            return;
        }
        let discord = &self.core.discord;
        let still_there = discord.bot_voice_channel(self.guild) == Some(channel);
        let listeners = discord.voice_channel_listeners(channel).len();
        if !still_there || listeners > 0 {
            tracing::debug!(guild = %self.guild, still_there, listeners, "idle check: staying");
            return;
        }
        tracing::info!(guild = %self.guild, "nobody is listening: leaving the voice channel");
        self.announce("Nobody is listening: leaving the voice channel.")
            .await;
        let effects = self.player.leave();
        self.carry_out(effects, None).await;
        // The engine's leave destroys the player; make sure the voice channel is left too.
        let _ = self.core.discord.leave_voice(self.guild);
    }

    /// Sends `input` to this actor after `delay`, on a tracked task that ends when the bot stops.
    fn after(&self, delay: Duration, input: Input) {
        let Some(router) = self.router.clone() else {
            return;
        };
        let guild = self.guild;
        let stopping = self.core.stopping.clone();
        let clock = self.core.clock.clone();
        self.core.tasks.spawn(async move {
            tokio::select! {
                () = clock.sleep(delay) => router.send_existing(guild, input),
                () = stopping.cancelled() => {}
            }
        });
    }

    /// Self-healing after Discord closed the node's voice socket, within a cap: 4006 (session no
    /// longer valid) rejoins; 4015 (voice server crashed) resends the voice state; 4014
    /// (disconnected) looks at the bot's voice state: gone means it was kicked (clean up), still in
    /// a channel means it was moved or the gateway dropped (rejoin). Past the cap the bot stops
    /// trying and says so. Attempts within the window back off: 0 s, 1 s, 2 s.
    async fn voice_closed(&mut self, code: u16) {
        const CAP: usize = 3;
        const WINDOW: Duration = Duration::from_secs(300);
        let now = self.core.clock.now();
        self.heals.retain(|t| now.duration_since(*t) < WINDOW);
        let activity = &self.core.observers.activity;
        activity.voice(VoiceIncident::Closed(code));
        if !matches!(code, 4006 | 4014 | 4015) {
            tracing::info!(guild = %self.guild, code, "voice socket closed; nothing to heal for this code");
            return;
        }
        if self.heals.len() >= CAP {
            let action = self.heal_action(code);
            self.core
                .observers
                .metrics
                .record_voice_heal(action, HealOutcome::Capped);
            activity.voice(VoiceIncident::Capped);
            tracing::error!(guild = %self.guild, code, "voice keeps failing; self-healing capped");
            self.announce(
                "The voice connection keeps failing; I stopped retrying. Use /play again to reconnect.",
            )
            .await;
            return;
        }
        let attempt = u32::try_from(self.heals.len()).unwrap_or(u32::MAX);
        self.heals.push(now);
        if attempt == 0 {
            self.heal(code).await;
        } else {
            let delay = Duration::from_secs(1) * 2u32.saturating_pow(attempt - 1);
            self.after(delay, Input::HealNow { code });
        }
    }

    fn heal_action(&self, code: u16) -> VoiceAction {
        match (code, self.core.discord.bot_voice_channel(self.guild)) {
            (4015, Some(_)) => VoiceAction::Resend,
            (_, Some(_)) => VoiceAction::Rejoin,
            (_, None) => VoiceAction::Cleanup,
        }
    }

    async fn heal(&mut self, code: u16) {
        let guild = self.guild;
        let action = self.heal_action(code);
        let discord = self.core.discord.clone();
        let healed = match (code, discord.bot_voice_channel(guild)) {
            (4015, Some(_)) => match discord.voice_state(guild) {
                Some(voice) => {
                    tracing::info!(guild = %guild, "voice server crashed: resending the voice state");
                    let update = UpdatePlayer {
                        voice: Some(voice),
                        ..UpdatePlayer::default()
                    };
                    let sent = self
                        .core
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
                let effects = self.player.leave();
                !self.carry_out(effects, None).await.failed
            }
        };
        self.core.observers.metrics.record_voice_heal(
            action,
            if healed {
                HealOutcome::Ok
            } else {
                HealOutcome::Failed
            },
        );
        self.core.observers.activity.voice(if healed {
            VoiceIncident::Healed
        } else {
            VoiceIncident::HealFailed
        });
    }

    // ---- Carrying out ------------------------------------------------------------------------

    /// Carries out effects; notices go to the reply (a command's) or the text channel.
    async fn carry_out(
        &mut self,
        effects: Vec<music::Effect>,
        reply: Option<&mut Vec<String>>,
    ) -> Outcome {
        let guild = self.guild;
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
        let metrics = &self.core.observers.metrics;
        let mut outcome = match self.core.shell.apply(lavalink_guild(guild), effects).await {
            Ok(outcome) => outcome,
            Err(error) => {
                // The details are for the operator; the listener gets words without internals.
                tracing::error!(guild = %guild, %error, "could not carry out the engine's effects");
                let text = error.for_listeners().to_owned();
                match reply {
                    Some(lines) => lines.push(text),
                    None => self.announce(&text).await,
                }
                return Outcome {
                    failed: true,
                    ..Outcome::default()
                };
            }
        };
        if enqueued > 0 {
            metrics.record_enqueued(enqueued);
        }
        if queue_changed {
            metrics.record_queue_length(self.player.queue().len());
        }
        if outcome.disconnect
            && let Err(error) = self.core.discord.leave_voice(guild)
        {
            tracing::warn!(guild = %guild, %error, "could not leave the voice channel");
        }
        if let Some(seed) = outcome.autoplay.take() {
            self.start_autoplay(seed);
        }
        let left = outcome
            .notices
            .iter()
            .any(|notice| matches!(notice, Notice::Left));
        if left {
            // The guild's stored state is gone: the next session starts with the defaults.
            self.fresh = true;
        }
        let change = PanelChange::of(&outcome.notices);
        // With an interaction to answer, the panel waits until the answer is on its way (a
        // panel call must not hold an answer back behind Discord's rate limits); without one,
        // the panel says what plays now.
        let said_by_panel = if reply.is_some() {
            self.panel_pending = self.panel_pending.merge(change, left);
            false
        } else {
            self.panel_after(change, left).await
        };
        let mut lines: Vec<String> = outcome
            .notices
            .iter()
            .filter(|notice| !(said_by_panel && matches!(notice, Notice::NowPlaying { .. })))
            .map(ToString::to_string)
            .collect();
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
                    self.announce(&line).await;
                }
            }
        }
        outcome
    }

    // ---- The now-playing panel ---------------------------------------------------------------

    /// Draws what commands changed on the panel, now that their answers are on their way.
    async fn flush_panel(&mut self) {
        let pending = std::mem::take(&mut self.panel_pending);
        if pending.change != PanelChange::None {
            self.panel_after(pending.change, pending.left).await;
        }
    }

    /// Brings the panel in line with what was just carried out (`left`: the guild's stored
    /// state is gone with the bot); whether it now shows the current track.
    async fn panel_after(&mut self, change: PanelChange, left: bool) -> bool {
        match change {
            PanelChange::None => false,
            PanelChange::End => {
                self.remove_panel(!left).await;
                false
            }
            // A press on the panel is answered with the panel itself.
            PanelChange::Track | PanelChange::Redraw if self.answering_panel => {
                self.panel_shows = self.current_entry().map(Box::new);
                true
            }
            // The track the panel shows started (a skip drew it already).
            PanelChange::Track
                if self.panel.is_some()
                    && self.panel_shows.as_deref() == self.current_entry().as_ref() =>
            {
                true
            }
            PanelChange::Track => self.draw_panel(true).await,
            PanelChange::Redraw => self.panel.is_some() && self.draw_panel(false).await,
        }
    }

    /// The current entry as the panel knows it: its track and when it was queued.
    fn current_entry(&self) -> Option<(String, u64)> {
        self.player
            .current()
            .map(|entry| (entry.encoded.clone(), entry.added_at_unix_ms))
    }

    /// Draws the panel: edits the one there is (in the text channel), or, with `post`, posts
    /// one when there is none, it was deleted, or playback moved to another text channel (the
    /// old one is deleted). Whether it shows the current track.
    async fn draw_panel(&mut self, post: bool) -> bool {
        let Some(reply) = super::panel::render(&self.player, self.now_ms()) else {
            return false;
        };
        let discord = &self.core.discord;
        if let Some(panel) = self.panel {
            let (channel, message) = panel_ids(panel);
            // A redraw edits the panel where it is; a new track moves it to the text channel.
            let here = !post || self.text_channel.is_none_or(|text| Some(text) == channel);
            match (channel, message) {
                (Some(channel), Some(message)) if here => {
                    match discord.edit_message(channel, message, &reply).await {
                        Ok(()) => {
                            self.panel_shows = self.current_entry().map(Box::new);
                            return true;
                        }
                        Err(error) if error.is_unknown_message() => {
                            tracing::debug!(guild = %self.guild, "the panel was deleted: a new one is posted");
                        }
                        Err(error) => {
                            tracing::warn!(guild = %self.guild, %error, "could not update the now-playing panel");
                            return false;
                        }
                    }
                }
                (Some(channel), Some(message)) => {
                    if let Err(error) = discord.delete_message(channel, message).await {
                        tracing::warn!(guild = %self.guild, %error, "could not delete the old now-playing panel");
                    }
                }
                _ => {}
            }
            self.set_panel(None).await;
        }
        let Some(channel) = self.text_channel.filter(|_| post) else {
            return false;
        };
        match self.core.discord.send_message(channel, &reply).await {
            Ok(message) => {
                self.set_panel(Some(store::PanelMessage {
                    channel_id: channel.get(),
                    message_id: message.get(),
                }))
                .await;
                self.panel_shows = self.current_entry().map(Box::new);
                true
            }
            Err(error) => {
                tracing::warn!(guild = %self.guild, %error, "could not post the now-playing panel");
                false
            }
        }
    }

    /// Playback ended: the panel is deleted (a press on it is answered by turning it into a
    /// plain line instead), and forgotten; `store`: also in the store (not when the guild's
    /// stored state went with the bot).
    async fn remove_panel(&mut self, store: bool) {
        let Some(panel) = self.panel else {
            return;
        };
        // Forgotten first: a panel whose deletion fails is no longer the guild's, and a press
        // on it strips its buttons.
        self.panel_shows = None;
        if store {
            self.set_panel(None).await;
        } else {
            self.panel = None;
        }
        if !self.answering_panel
            && let (Some(channel), Some(message)) = panel_ids(panel)
            && let Err(error) = self.core.discord.delete_message(channel, message).await
        {
            tracing::warn!(guild = %self.guild, %error, "could not delete the now-playing panel");
        }
    }

    async fn set_panel(&mut self, panel: Option<store::PanelMessage>) {
        self.panel = panel;
        if let Err(error) = self
            .core
            .shell
            .store()
            .set_panel(self.guild.get(), panel)
            .await
        {
            tracing::warn!(guild = %self.guild, %error, "could not store the now-playing panel");
        }
    }

    /// Posts to the guild's text channel (in order: the actor waits for each post).
    async fn announce(&self, text: &str) {
        if let Some(channel) = self.text_channel
            && let Err(error) = self
                .core
                .discord
                .send_message(channel, &Reply::text(text))
                .await
        {
            tracing::warn!(%error, "could not post to the text channel");
        }
    }
}

/// What Lavalink is asked to load for a query: URLs and prefixed identifiers (`ytsearch:...`,
/// `sim:...`) as they are, other words as a YouTube search.
pub(super) fn identifier(query: &str) -> (String, QuerySource) {
    if is_url(query) {
        return (query.to_owned(), QuerySource::Url);
    }
    let prefixed = query.split_once(':').is_some_and(|(prefix, _)| {
        !prefix.is_empty() && prefix.chars().all(|c| c.is_ascii_alphanumeric())
    });
    if prefixed {
        (query.to_owned(), QuerySource::Search)
    } else {
        (format!("ytsearch:{query}"), QuerySource::Search)
    }
}

/// Whether a query is a web address.
pub(super) fn is_url(query: &str) -> bool {
    query.starts_with("http://") || query.starts_with("https://")
}

impl Core {
    /// Resolves a /play query to tracks: URLs and prefixed identifiers as they are, other words
    /// as a search.
    pub(super) async fn load(&self, query: &str) -> Result<Vec<Track>, LoadFailure> {
        let (identifier, source) = identifier(query);
        let result = self.shell.cluster().load_tracks(&identifier).await;
        self.observers.metrics.record_load(
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

/// A store error of a playlist command as the answer: the store's refusals (they name the limit
/// and changed nothing) as they are, anything else as a failure, logged.
fn playlist_refusal(error: store::Error) -> Failure {
    match error {
        store::Error::PlaylistName { .. }
        | store::Error::PlaylistEmpty
        | store::Error::PlaylistTooLong { .. }
        | store::Error::TooManyPlaylists { .. } => {
            let text = error.to_string();
            let mut chars = text.chars();
            chars
                .next()
                .map(|first| first.to_uppercase().chain(chars).collect::<String>())
                .unwrap_or_default()
                .into()
        }
        error => {
            tracing::error!(%error, "a playlist command failed in the store");
            Failure::failed("Your playlists could not be reached: try again in a moment.")
        }
    }
}

/// The refusal for a playlist the caller does not have.
fn no_playlist(name: &str) -> Failure {
    format!(
        "You have no playlist named **{}**: /playlist list shows yours.",
        super::display::escape(name)
    )
    .into()
}

#[cfg(test)]
mod tests {
    /// What an idle guild costs is mostly its actor's resting future: it must stay small (the
    /// handlers' futures are boxed while they run).
    #[test]
    fn a_resting_actor_is_small() {
        let size = {
            fn future_size<A, B, C, F: std::future::Future>(_: fn(A, B, C) -> F) -> usize {
                std::mem::size_of::<F>()
            }
            future_size(super::GuildActor::run)
        };
        assert!(size < 256, "a resting actor's future takes {size} bytes");
        let actor = std::mem::size_of::<super::GuildActor>();
        assert!(actor < 640, "an actor takes {actor} bytes");
        // Each guild's channel holds a block of 32 inputs from the start.
        let input = std::mem::size_of::<super::Input>();
        assert!(input <= 24, "an input takes {input} bytes");
    }
}
