//! [`GuildPlayer`]: one guild's queue and player state, and every transition.

use lavalink::model::{Event, Exception, Filters, Track, TrackEndReason};

use crate::effect::{Effect, Finished, Notice, SkipCause, StoreOp};
use crate::entry::{Entry, LoopMode, PositionSnapshot, play_id_of};
use crate::filters::{FilterChange, describe};
use crate::refusal::Refusal;
use crate::shuffle::shuffle_in_place;
use crate::time::position_bar;

/// The highest volume users can set (Lavalink's scale is the same: 100 is unchanged).
pub const MAX_VOLUME: u16 = 200;

/// The volume of a guild that never set one.
pub const DEFAULT_VOLUME: u16 = 100;

/// What [`GuildPlayer::filters`] lends when there are none.
static NO_FILTERS: std::sync::LazyLock<Filters> = std::sync::LazyLock::new(Filters::default);

/// Filters as a guild keeps them: boxed, and nothing when there are none.
fn boxed(filters: Filters) -> Option<Box<Filters>> {
    (filters != Filters::default()).then(|| Box::new(filters))
}

/// Tracks per page of [`GuildPlayer::queue_page`].
pub const PAGE_SIZE: usize = 10;

/// Everything about a guild's player that outlives the process: what the store keeps, and what
/// [`GuildPlayer::restore`] starts from.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    /// The upcoming entries, in play order.
    pub queue: Vec<Entry>,
    /// The entry playing (or paused on), if any.
    pub current: Option<Entry>,
    /// The last position snapshot of the current entry.
    pub position: PositionSnapshot,
    /// Whether the player is paused.
    pub paused: bool,
    /// The volume, 0 to [`MAX_VOLUME`].
    pub volume: u16,
    /// The loop mode.
    pub loop_mode: LoopMode,
    /// The player's filters (Lavalink's `filters` object; default: none).
    pub filters: Filters,
    /// 24/7: stay in the voice channel with nothing to play and nobody listening.
    pub stay: bool,
    /// Autoplay: when the queue ends, queue a related track.
    pub autoplay: bool,
}

impl Default for Snapshot {
    /// An empty queue with every setting at its default.
    fn default() -> Self {
        Self {
            queue: Vec::new(),
            current: None,
            position: PositionSnapshot::default(),
            paused: false,
            volume: DEFAULT_VOLUME,
            loop_mode: LoopMode::Off,
            filters: Filters::default(),
            stay: false,
            autoplay: false,
        }
    }
}

/// What /nowplaying shows.
#[derive(Debug, Clone, PartialEq)]
pub struct NowPlaying<'a> {
    /// The current entry.
    pub entry: &'a Entry,
    /// Where it is at the instant asked about, milliseconds.
    pub position_ms: u64,
    /// Whether the player is paused.
    pub paused: bool,
    /// The loop mode.
    pub loop_mode: LoopMode,
    /// The volume.
    pub volume: u16,
    /// The active filters in words (see [`describe_filters`](crate::describe_filters)); empty
    /// when none is.
    pub filters: Vec<String>,
}

/// One line of a [`QueuePage`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueLine<'a> {
    /// The entry's 1-based position, as /remove, /move and /skip take it.
    pub position: usize,
    /// The entry.
    pub entry: &'a Entry,
}

/// One page of /queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueuePage<'a> {
    /// This page, 1-based.
    pub page: usize,
    /// How many pages there are (at least 1, even for an empty queue).
    pub total_pages: usize,
    /// The entries on this page (at most [`PAGE_SIZE`]).
    pub lines: Vec<QueueLine<'a>>,
    /// How many entries the whole queue has.
    pub total_tracks: usize,
    /// The length of the whole queue, milliseconds, live streams not counted.
    pub total_duration_ms: u64,
    /// How many live streams the queue has (they have no length).
    pub streams: usize,
}

/// The entry playing, with what the engine knows about its current turn.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Current {
    entry: Entry,
    /// The id of the last [`Effect::Play`] for it; `None` after a restore until it is played.
    play_id: Option<u64>,
    /// Where that play started, for the position at its `TrackStart`.
    play_position_ms: u64,
    /// Whether the node confirmed that play with a `TrackStart`.
    started: bool,
    /// Whether "Now playing" was told for this turn.
    announced: bool,
    /// How often it was restarted because it got stuck, this turn.
    stuck_restarts: u32,
    /// Set when the node reported an exception this turn (told already; the turn ends in failure).
    failed: bool,
}

impl Current {
    fn new(entry: Entry) -> Self {
        Self {
            entry,
            play_id: None,
            play_position_ms: 0,
            started: false,
            announced: false,
            stuck_restarts: 0,
            failed: false,
        }
    }
}

/// One guild's music engine: the queue, the current entry, the loop mode, volume, paused and the
/// last known position. Every input is a method that returns the [`Effect`]s to carry out, in
/// order; see the [crate documentation](crate) for the state machine.
///
/// Times (`now_unix_ms`) are unix milliseconds given by the caller; the engine never reads a clock.
#[derive(Debug, Clone, PartialEq)]
pub struct GuildPlayer {
    queue: Vec<Entry>,
    current: Option<Current>,
    position: PositionSnapshot,
    paused: bool,
    volume: u16,
    loop_mode: LoopMode,
    /// The filters, boxed and only when there are any: most guilds have none, and an idle
    /// guild's size is what 10,000 of them cost.
    filters: Option<Box<Filters>>,
    stay: bool,
    autoplay: bool,
    next_play_id: u64,
}

impl Default for GuildPlayer {
    fn default() -> Self {
        Self::new()
    }
}

impl GuildPlayer {
    /// A guild with nothing queued and every setting at its default.
    pub fn new() -> Self {
        Self::restore(Snapshot::default())
    }

    /// A guild as it was stored. Nothing is played yet: call [`GuildPlayer::resume_from_snapshot`] when the
    /// node no longer has the player. A volume above [`MAX_VOLUME`] is capped, and paused is
    /// cleared when nothing is current.
    pub fn restore(snapshot: Snapshot) -> Self {
        let Snapshot {
            queue,
            current,
            position,
            paused,
            volume,
            loop_mode,
            filters,
            stay,
            autoplay,
        } = snapshot;
        Self {
            queue,
            paused: paused && current.is_some(),
            current: current.map(|entry| Current {
                // It was announced by whoever played it before.
                announced: true,
                ..Current::new(entry)
            }),
            position,
            volume: volume.min(MAX_VOLUME),
            loop_mode,
            filters: boxed(filters),
            stay,
            autoplay,
            next_play_id: 1,
        }
    }

    /// What the store should hold for this guild; [`GuildPlayer::restore`] of it gives back an
    /// equal queue, current entry, position and settings.
    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            queue: self.queue.clone(),
            current: self.current.as_ref().map(|c| c.entry.clone()),
            position: self.position,
            paused: self.paused,
            volume: self.volume,
            loop_mode: self.loop_mode,
            filters: self.filters().clone(),
            stay: self.stay,
            autoplay: self.autoplay,
        }
    }

    /// Starts playback again after a restore, for a node that does not have the player any more:
    /// the current entry from its saved position (the last sign of life, not extrapolated: the
    /// time the bot was away was not heard), paused if it was; or, with nothing current, the head
    /// of the queue. Nothing when there is nothing to play. When the node kept the player (a
    /// resumed Lavalink session), do not call this: its events and player updates carry on.
    pub fn resume_from_snapshot(&mut self, now_unix_ms: u64) -> Vec<Effect> {
        let mut effects = Vec::new();
        if self.current.is_some() {
            let position_ms = self.position.position_ms;
            self.position = PositionSnapshot::new(position_ms, now_unix_ms);
            effects.push(self.save_position());
            effects.push(self.start_play(position_ms, now_unix_ms));
        } else if !self.queue.is_empty() {
            self.advance(Finished::Drop, now_unix_ms, false, &mut effects);
        }
        effects
    }

    // ----- queries -----

    /// The queued entries (not the current one), in play order.
    pub fn queue(&self) -> &[Entry] {
        &self.queue
    }

    /// The entry playing or paused on.
    pub fn current(&self) -> Option<&Entry> {
        self.current.as_ref().map(|c| &c.entry)
    }

    /// Whether the player is paused (never while nothing is current).
    pub fn is_paused(&self) -> bool {
        self.paused
    }

    /// The volume, 0 to [`MAX_VOLUME`].
    pub fn volume(&self) -> u16 {
        self.volume
    }

    /// The loop mode.
    pub fn loop_mode(&self) -> LoopMode {
        self.loop_mode
    }

    /// The last known position: where the current entry was, and when.
    pub fn position(&self) -> PositionSnapshot {
        self.position
    }

    /// Where the current entry is at `now_unix_ms`: the last known position, plus the time since
    /// unless paused, capped at the track's length. 0 when nothing is current.
    pub fn position_at(&self, now_unix_ms: u64) -> u64 {
        let Some(current) = &self.current else {
            return 0;
        };
        let position = self.position.position_ms;
        if self.paused {
            return position;
        }
        let elapsed = now_unix_ms.saturating_sub(self.position.at_unix_ms);
        current
            .entry
            .clamp_position(position.saturating_add(elapsed))
    }

    /// What /nowplaying shows at `now_unix_ms`, or `None` when nothing is current.
    pub fn now_playing(&self, now_unix_ms: u64) -> Option<NowPlaying<'_>> {
        let current = self.current.as_ref()?;
        Some(NowPlaying {
            entry: &current.entry,
            position_ms: self.position_at(now_unix_ms),
            paused: self.paused,
            loop_mode: self.loop_mode,
            volume: self.volume,
            filters: describe(self.filters()),
        })
    }

    /// The position bar of the current entry at `now_unix_ms` (see
    /// [`position_bar`](crate::position_bar)), or `None` when nothing is current.
    pub fn position_bar(&self, now_unix_ms: u64) -> Option<String> {
        let current = self.current.as_ref()?;
        Some(position_bar(
            self.position_at(now_unix_ms),
            current.entry.length_ms(),
        ))
    }

    /// Page `page` (1-based) of the queue, [`PAGE_SIZE`] entries a page. An empty queue has one,
    /// empty, page.
    pub fn queue_page(&self, page: usize) -> Result<QueuePage<'_>, Refusal> {
        let total_pages = self.queue.len().div_ceil(PAGE_SIZE).max(1);
        if page == 0 || page > total_pages {
            return Err(Refusal::PageOutOfRange { page, total_pages });
        }
        let start = (page - 1) * PAGE_SIZE;
        let lines = self
            .queue
            .iter()
            .enumerate()
            .skip(start)
            .take(PAGE_SIZE)
            .map(|(i, entry)| QueueLine {
                position: i + 1,
                entry,
            })
            .collect();
        let total_duration_ms = self
            .queue
            .iter()
            .filter_map(Entry::length_ms)
            .fold(0, u64::saturating_add);
        let streams = self.queue.iter().filter(|e| e.info.is_stream).count();
        Ok(QueuePage {
            page,
            total_pages,
            lines,
            total_tracks: self.queue.len(),
            total_duration_ms,
            streams,
        })
    }

    // ----- commands -----

    /// /play: appends `tracks` to the queue, each requested by `requester_id`, and starts the
    /// first of them if nothing is current.
    pub fn play(
        &mut self,
        tracks: Vec<Track>,
        requester_id: u64,
        now_unix_ms: u64,
    ) -> Result<Vec<Effect>, Refusal> {
        if tracks.is_empty() {
            return Err(Refusal::NoTracks);
        }
        let entries: Vec<Entry> = tracks
            .into_iter()
            .map(|track| Entry::new(track, requester_id, now_unix_ms))
            .collect();
        let first = entries[0].clone();
        let count = entries.len();
        let first_position = self.queue.len() + 1;
        let mut effects = vec![Effect::Persist(StoreOp::Enqueue {
            entries: entries.clone(),
            at: None,
        })];
        self.queue.extend(entries);
        let position = if self.current.is_none() {
            self.advance(Finished::Drop, now_unix_ms, false, &mut effects);
            // The answer to /play says "Now playing": its TrackStart need not say it again.
            if let Some(current) = self.current.as_mut() {
                current.announced = true;
            }
            None
        } else {
            Some(first_position)
        };
        effects.push(Effect::Notify(Notice::Queued {
            first,
            count,
            position,
        }));
        Ok(effects)
    }

    /// /pause.
    pub fn pause(&mut self, now_unix_ms: u64) -> Result<Vec<Effect>, Refusal> {
        let entry = self.current_entry()?;
        if self.paused {
            return Err(Refusal::AlreadyPaused);
        }
        let position_ms = self.position_at(now_unix_ms);
        self.position = PositionSnapshot::new(position_ms, now_unix_ms);
        self.paused = true;
        Ok(vec![
            self.save_position(),
            Effect::Pause(true),
            Effect::Notify(Notice::Paused { entry, position_ms }),
        ])
    }

    /// /resume.
    pub fn resume(&mut self, now_unix_ms: u64) -> Result<Vec<Effect>, Refusal> {
        let entry = self.current_entry()?;
        if !self.paused {
            return Err(Refusal::NotPaused);
        }
        let position_ms = self.position_at(now_unix_ms);
        self.position = PositionSnapshot::new(position_ms, now_unix_ms);
        self.paused = false;
        Ok(vec![
            self.save_position(),
            Effect::Pause(false),
            Effect::Notify(Notice::Resumed { entry, position_ms }),
        ])
    }

    /// /skip: ends the current entry and plays the next one; with `to` (a 1-based queue position)
    /// the entries before that position are skipped as well. With loop queue, skipped entries go
    /// to the back of the queue in their order (nothing leaves a looped queue by skipping); with
    /// loop off or track they are dropped (loop track stays on, for the new track). The paused
    /// flag is kept; with nothing left to play the player is stopped.
    pub fn skip(&mut self, to: Option<usize>, now_unix_ms: u64) -> Result<Vec<Effect>, Refusal> {
        let skipped = self.current_entry()?;
        let to = to.unwrap_or(1);
        if to != 1 {
            self.check_position(to)?;
        }
        let mut effects = Vec::new();
        let finished = if self.loop_mode == LoopMode::Queue {
            Finished::Requeue
        } else {
            Finished::Drop
        };
        if to == 1 {
            self.advance(finished, now_unix_ms, true, &mut effects);
        } else {
            self.remember_current(now_unix_ms, &mut effects);
            let mut passed: Vec<Entry> = self.queue.drain(..to - 1).collect();
            let next = self.queue.remove(0);
            if finished == Finished::Requeue {
                self.queue.push(skipped.clone());
                self.queue.append(&mut passed);
            }
            self.current = Some(Current::new(next.clone()));
            self.position = PositionSnapshot::new(0, now_unix_ms);
            effects.push(Effect::Persist(StoreOp::ReplaceQueue(self.queue.clone())));
            effects.push(Effect::Persist(StoreOp::SetCurrent {
                entry: Some(next),
                position: self.position,
            }));
            effects.push(self.start_play(0, now_unix_ms));
        }
        effects.push(Effect::Notify(Notice::Skipped {
            skipped,
            also_skipped: to - 1,
            next: self.current().cloned(),
        }));
        Ok(effects)
    }

    /// /stop: stops playback and clears the queue; the volume and loop mode stay, the bot stays
    /// in the voice channel, and the player is no longer paused. Refused when there is nothing to
    /// stop.
    pub fn stop(&mut self, now_unix_ms: u64) -> Result<Vec<Effect>, Refusal> {
        if self.current.is_none() && self.queue.is_empty() {
            return Err(Refusal::NothingPlaying);
        }
        let cleared = self.queue.len();
        let mut effects = Vec::new();
        self.remember_current(now_unix_ms, &mut effects);
        if cleared > 0 {
            self.queue.clear();
            effects.push(Effect::Persist(StoreOp::ClearQueue));
        }
        self.current = None;
        self.position = PositionSnapshot::new(0, now_unix_ms);
        effects.push(Effect::Persist(StoreOp::SetCurrent {
            entry: None,
            position: self.position,
        }));
        if self.paused {
            self.paused = false;
            effects.push(self.save_position());
        }
        effects.push(Effect::Stop);
        effects.push(Effect::Notify(Notice::Stopped { cleared }));
        Ok(effects)
    }

    /// /seek: moves the current entry to `position_ms` (paused stays as it is). Refused for a
    /// live stream or a source that cannot seek, and beyond the track's length.
    pub fn seek(&mut self, position_ms: u64, now_unix_ms: u64) -> Result<Vec<Effect>, Refusal> {
        let entry = self.current_entry()?;
        if !entry.is_seekable() {
            return Err(Refusal::NotSeekable {
                title: entry.info.title,
            });
        }
        if let Some(length_ms) = entry.length_ms()
            && position_ms > length_ms
        {
            return Err(Refusal::SeekBeyondEnd {
                position_ms,
                length_ms,
            });
        }
        self.position = PositionSnapshot::new(position_ms, now_unix_ms);
        Ok(vec![
            self.save_position(),
            Effect::Seek(position_ms),
            Effect::Notify(Notice::Seeked { entry, position_ms }),
        ])
    }

    /// /volume: 0 to [`MAX_VOLUME`]. The player is told only while a track is current; otherwise
    /// the next play carries the volume.
    pub fn set_volume(&mut self, volume: i64) -> Result<Vec<Effect>, Refusal> {
        let volume = u16::try_from(volume)
            .ok()
            .filter(|v| *v <= MAX_VOLUME)
            .ok_or(Refusal::VolumeOutOfRange { requested: volume })?;
        self.volume = volume;
        let mut effects = vec![Effect::Persist(StoreOp::SetVolume(volume))];
        if self.current.is_some() {
            effects.push(Effect::SetVolume(volume));
        }
        effects.push(Effect::Notify(Notice::VolumeSet(volume)));
        Ok(effects)
    }

    /// /filter: a preset laid over the filters, a custom setting, or none at all. Refused with
    /// nothing current (a reset is not: it clears what the next track would play with). The
    /// player is told only while a track is current; otherwise the next play carries them.
    pub fn set_filters(&mut self, change: FilterChange) -> Result<Vec<Effect>, Refusal> {
        if self.current.is_none() && change != FilterChange::Reset {
            return Err(Refusal::NothingPlaying);
        }
        let filters = change.apply(self.filters());
        let mut effects = vec![Effect::Persist(StoreOp::SetFilters(filters.clone()))];
        if self.current.is_some() {
            effects.push(Effect::SetFilters(filters.clone()));
        }
        effects.push(Effect::Notify(Notice::FiltersSet {
            active: describe(&filters),
        }));
        self.filters = boxed(filters);
        Ok(effects)
    }

    /// The player's filters.
    pub fn filters(&self) -> &Filters {
        self.filters.as_deref().unwrap_or(&NO_FILTERS)
    }

    /// /247: stay in the voice channel with nothing to play and nobody listening (`true`), or
    /// leave it when idle as usual. Never refused.
    pub fn set_stay(&mut self, stay: bool) -> Vec<Effect> {
        self.stay = stay;
        vec![
            Effect::Persist(StoreOp::SetStay(stay)),
            Effect::Notify(Notice::StaySet(stay)),
        ]
    }

    /// Whether 24/7 is on.
    pub fn stays(&self) -> bool {
        self.stay
    }

    /// /autoplay: when the queue ends, the engine asks for a related track
    /// ([`Effect::Autoplay`]) instead of finishing. Never refused.
    pub fn set_autoplay(&mut self, autoplay: bool) -> Vec<Effect> {
        self.autoplay = autoplay;
        vec![
            Effect::Persist(StoreOp::SetAutoplay(autoplay)),
            Effect::Notify(Notice::AutoplaySet(autoplay)),
        ]
    }

    /// Whether autoplay is on.
    pub fn autoplays(&self) -> bool {
        self.autoplay
    }

    /// /previous: plays `entry` (the newest of the history, whose store id is `history_id`) from
    /// the start; the current entry goes back to the front of the queue. Never refused: the
    /// shell refuses when the history is empty.
    pub fn previous(&mut self, entry: Entry, history_id: u64, now_unix_ms: u64) -> Vec<Effect> {
        let mut effects = vec![Effect::Persist(StoreOp::RemoveHistory { id: history_id })];
        if let Some(current) = self.current.take() {
            self.queue.insert(0, current.entry.clone());
            effects.push(Effect::Persist(StoreOp::Enqueue {
                entries: vec![current.entry],
                at: Some(0),
            }));
        }
        self.position = PositionSnapshot::new(0, now_unix_ms);
        self.current = Some(Current {
            announced: true,
            ..Current::new(entry.clone())
        });
        effects.push(Effect::Persist(StoreOp::SetCurrent {
            entry: Some(entry.clone()),
            position: self.position,
        }));
        effects.push(self.start_play(0, now_unix_ms));
        effects.push(Effect::Notify(Notice::PlayingPrevious { entry }));
        effects
    }

    /// /replay: the current entry from its start (paused stays as it is): a seek to 0, or for a
    /// track that cannot seek (a live stream) a new play. Refused with nothing current.
    pub fn replay(&mut self, now_unix_ms: u64) -> Result<Vec<Effect>, Refusal> {
        let entry = self.current_entry()?;
        self.position = PositionSnapshot::new(0, now_unix_ms);
        let restart = if entry.is_seekable() {
            Effect::Seek(0)
        } else {
            self.start_play(0, now_unix_ms)
        };
        Ok(vec![
            self.save_position(),
            restart,
            Effect::Notify(Notice::Replaying { entry }),
        ])
    }

    /// Autoplay found `entry` for the queue that ended: it plays, as `/play` of it would when
    /// idle. Nothing when something plays again already (a `/play` came first) or autoplay was
    /// switched off meanwhile.
    pub fn autoplay_found(&mut self, entry: Entry, now_unix_ms: u64) -> Vec<Effect> {
        if self.current.is_some() || !self.autoplay {
            return Vec::new();
        }
        self.queue.push(entry.clone());
        let mut effects = vec![Effect::Persist(StoreOp::Enqueue {
            entries: vec![entry.clone()],
            at: None,
        })];
        self.advance(Finished::Drop, now_unix_ms, false, &mut effects);
        if let Some(current) = self.current.as_mut() {
            current.announced = true;
        }
        effects.push(Effect::Notify(Notice::AutoplayQueued { entry }));
        effects
    }

    /// /loop. Never refused.
    pub fn set_loop(&mut self, mode: LoopMode) -> Vec<Effect> {
        self.loop_mode = mode;
        vec![
            Effect::Persist(StoreOp::SetLoop(mode)),
            Effect::Notify(Notice::LoopSet(mode)),
        ]
    }

    /// /shuffle: the queue (not the current entry) in a new order that depends only on `seed`.
    /// Refused with fewer than two queued entries.
    pub fn shuffle(&mut self, seed: u64) -> Result<Vec<Effect>, Refusal> {
        let len = self.queue.len();
        if len < 2 {
            return Err(Refusal::NotEnoughToShuffle { len });
        }
        shuffle_in_place(&mut self.queue, seed);
        Ok(vec![
            Effect::Persist(StoreOp::ReplaceQueue(self.queue.clone())),
            Effect::Notify(Notice::Shuffled { count: len }),
        ])
    }

    /// /remove: the queue entry at 1-based `position`.
    pub fn remove(&mut self, position: usize) -> Result<Vec<Effect>, Refusal> {
        self.check_position(position)?;
        let entry = self.queue.remove(position - 1);
        Ok(vec![
            Effect::Persist(StoreOp::Remove {
                index: position - 1,
            }),
            Effect::Notify(Notice::Removed { entry, position }),
        ])
    }

    /// /move: the queue entry at 1-based `from` ends up at 1-based `to`; the ones between shift
    /// by one.
    pub fn move_entry(&mut self, from: usize, to: usize) -> Result<Vec<Effect>, Refusal> {
        self.check_position(from)?;
        self.check_position(to)?;
        let entry = self.queue.remove(from - 1);
        self.queue.insert(to - 1, entry.clone());
        Ok(vec![
            Effect::Persist(StoreOp::Move {
                from: from - 1,
                to: to - 1,
            }),
            Effect::Notify(Notice::Moved { entry, from, to }),
        ])
    }

    /// /clear: empties the queue; the current entry plays on.
    pub fn clear(&mut self) -> Result<Vec<Effect>, Refusal> {
        if self.queue.is_empty() {
            return Err(Refusal::QueueEmpty);
        }
        let count = self.queue.len();
        self.queue.clear();
        Ok(vec![
            Effect::Persist(StoreOp::ClearQueue),
            Effect::Notify(Notice::Cleared { count }),
        ])
    }

    /// /leave: stops, leaves the voice channel and forgets the guild (queue and settings back to
    /// their defaults, the stored state deleted). Never refused. The shell may drop the player
    /// afterwards; it is equal to [`GuildPlayer::new`] apart from its play-id counter.
    pub fn leave(&mut self) -> Vec<Effect> {
        let next_play_id = self.next_play_id;
        *self = Self {
            next_play_id,
            ..Self::new()
        };
        vec![
            Effect::Persist(StoreOp::ForgetGuild),
            Effect::Disconnect,
            Effect::Notify(Notice::Left),
        ]
    }

    // ----- events -----

    /// A Lavalink event for this guild from the node that has its player. Track events about a
    /// play other than the current one (told apart by the play id echoed in `userData`, or by the
    /// encoded track when there is none) are stale and ignored; so are `WebSocketClosed` and
    /// unknown events, which are the shell's business.
    pub fn on_event(&mut self, event: &Event, now_unix_ms: u64) -> Vec<Effect> {
        match event {
            Event::TrackStart(e) => self.track_start(&e.track, now_unix_ms),
            Event::TrackEnd(e) => self.track_end(&e.track, e.reason, now_unix_ms),
            Event::TrackException(e) => self.track_exception(&e.track, &e.exception),
            Event::TrackStuck(e) => self.track_stuck(&e.track, now_unix_ms),
            Event::WebSocketClosed(_) | Event::Unknown(_) => Vec::new(),
        }
    }

    /// `TrackStartEvent`: confirms the play. The position restarts from where the play began, now;
    /// "Now playing" is told the first time the entry starts in its turn (not after a stuck
    /// restart, a loop-track repeat or a restore).
    pub fn track_start(&mut self, track: &Track, now_unix_ms: u64) -> Vec<Effect> {
        if !self.is_current(track) {
            return Vec::new();
        }
        let Some(current) = self.current.as_mut() else {
            return Vec::new();
        };
        if current.started {
            return Vec::new();
        }
        current.started = true;
        let announce = !current.announced;
        current.announced = true;
        let entry = current.entry.clone();
        self.position = PositionSnapshot::new(current.play_position_ms, now_unix_ms);
        let mut effects = vec![self.save_position()];
        if announce {
            effects.push(Effect::Notify(Notice::NowPlaying { entry }));
        }
        effects
    }

    /// `TrackEndEvent`. Only `finished` and `loadFailed` move on: loop track plays the entry
    /// again, loop queue puts it at the back; a track that failed (`loadFailed`, or an exception
    /// before) is dropped whatever the loop mode, so a broken track cannot loop forever.
    /// `stopped`, `replaced` and `cleanup` change nothing.
    pub fn track_end(
        &mut self,
        track: &Track,
        reason: TrackEndReason,
        now_unix_ms: u64,
    ) -> Vec<Effect> {
        if !reason.may_start_next() || !self.is_current(track) {
            return Vec::new();
        }
        let Some(current) = self.current.as_mut() else {
            return Vec::new();
        };
        let mut effects = Vec::new();
        if current.failed || reason == TrackEndReason::LoadFailed {
            let entry = current.entry.clone();
            let told = current.failed;
            // A failed track was not played: it stays out of the history.
            current.failed = true;
            self.advance(Finished::Drop, now_unix_ms, false, &mut effects);
            if !told {
                effects.push(Effect::Notify(Notice::Skipping {
                    entry,
                    cause: SkipCause::LoadFailed,
                }));
            }
        } else {
            match self.loop_mode {
                LoopMode::Track => {
                    let entry = current.entry.clone();
                    // A new turn of the same entry (stuck restarts counted afresh), not announced.
                    self.current = Some(Current {
                        announced: true,
                        ..Current::new(entry)
                    });
                    self.position = PositionSnapshot::new(0, now_unix_ms);
                    effects.push(self.save_position());
                    effects.push(self.start_play(0, now_unix_ms));
                }
                LoopMode::Off => self.advance(Finished::Drop, now_unix_ms, false, &mut effects),
                LoopMode::Queue => {
                    self.advance(Finished::Requeue, now_unix_ms, false, &mut effects);
                }
            }
        }
        self.tell_if_finished(&mut effects);
        effects
    }

    /// `TrackExceptionEvent`: tells the users the entry is being skipped, once. It does not move
    /// on by itself: the node follows it with a `TrackEnd` (`loadFailed` or `finished`), which
    /// does, so one exception skips one track.
    pub fn track_exception(&mut self, track: &Track, exception: &Exception) -> Vec<Effect> {
        if !self.is_current(track) {
            return Vec::new();
        }
        let Some(current) = self.current.as_mut() else {
            return Vec::new();
        };
        if current.failed {
            return Vec::new();
        }
        current.failed = true;
        let message = exception
            .message
            .clone()
            .filter(|m| !m.is_empty())
            .unwrap_or_else(|| exception.cause.clone());
        vec![Effect::Notify(Notice::Skipping {
            entry: current.entry.clone(),
            cause: SkipCause::Exception {
                message,
                severity: exception.severity,
            },
        })]
    }

    /// `TrackStuckEvent`: the first time in an entry's turn it is played again from the last
    /// position the node reported (not extrapolated: it was stuck); the second time it is skipped
    /// (dropped whatever the loop mode) and the next one plays, or the player stops.
    pub fn track_stuck(&mut self, track: &Track, now_unix_ms: u64) -> Vec<Effect> {
        if !self.is_current(track) {
            return Vec::new();
        }
        let Some(current) = self.current.as_mut() else {
            return Vec::new();
        };
        let entry = current.entry.clone();
        let mut effects = Vec::new();
        if current.stuck_restarts == 0 {
            current.stuck_restarts = 1;
            let position_ms = entry.clamp_position(self.position.position_ms);
            self.position = PositionSnapshot::new(position_ms, now_unix_ms);
            effects.push(self.save_position());
            effects.push(self.start_play(position_ms, now_unix_ms));
            effects.push(Effect::Notify(Notice::StuckRestarting {
                entry,
                position_ms,
            }));
        } else {
            current.failed = true;
            self.advance(Finished::Drop, now_unix_ms, true, &mut effects);
            effects.push(Effect::Notify(Notice::Skipping {
                entry,
                cause: SkipCause::StuckTwice,
            }));
            self.tell_if_finished(&mut effects);
        }
        effects
    }

    /// A `playerUpdate` from the node: the position it reports (capped at the track's length) as
    /// of `now_unix_ms`, when the shell received it (not the node's `time`, which is another
    /// clock). Ignored when nothing is current. Its only effect is the position save: the bot
    /// takes a parked guild's position in place on that promise (nothing else to carry out).
    pub fn player_update(&mut self, position_ms: u64, now_unix_ms: u64) -> Vec<Effect> {
        let Some(current) = &self.current else {
            return Vec::new();
        };
        self.position =
            PositionSnapshot::new(current.entry.clamp_position(position_ms), now_unix_ms);
        vec![self.save_position()]
    }

    /// The cluster moved the player to another node, which could not load the current track (it
    /// made the player there without one): the entry is skipped (dropped whatever the loop mode)
    /// and the next one plays. Ignored when nothing is current.
    pub fn move_failed(&mut self, error: &str, now_unix_ms: u64) -> Vec<Effect> {
        let Some(current) = self.current.as_mut() else {
            return Vec::new();
        };
        current.failed = true;
        let entry = current.entry.clone();
        let mut effects = Vec::new();
        self.advance(Finished::Drop, now_unix_ms, false, &mut effects);
        effects.push(Effect::Notify(Notice::Skipping {
            entry,
            cause: SkipCause::MoveFailed {
                error: error.to_owned(),
            },
        }));
        self.tell_if_finished(&mut effects);
        effects
    }

    // ----- helpers -----

    /// The current entry, or the refusal for commands that need one.
    fn current_entry(&self) -> Result<Entry, Refusal> {
        self.current().cloned().ok_or(Refusal::NothingPlaying)
    }

    /// Refuses a 1-based queue position outside the queue.
    fn check_position(&self, position: usize) -> Result<(), Refusal> {
        if position == 0 || position > self.queue.len() {
            return Err(Refusal::PositionOutOfRange {
                position,
                len: self.queue.len(),
            });
        }
        Ok(())
    }

    /// Whether an event's track is about the current play.
    fn is_current(&self, track: &Track) -> bool {
        let Some(current) = &self.current else {
            return false;
        };
        match (play_id_of(track), current.play_id) {
            (Some(theirs), Some(ours)) => theirs == ours,
            _ => track.encoded == current.entry.encoded,
        }
    }

    /// The store write for the current position and paused flag.
    fn save_position(&self) -> Effect {
        Effect::Persist(StoreOp::SavePosition {
            position: self.position,
            paused: self.paused,
        })
    }

    /// A new play of the current entry from `position_ms`. Only called with a current entry.
    ///
    /// Play ids increase and are at least the time of the play in unix milliseconds, so that a
    /// process that restored the guild after another one never reuses the ids whose events the
    /// node may still replay.
    fn start_play(&mut self, position_ms: u64, now_unix_ms: u64) -> Effect {
        let play_id = self.next_play_id.max(now_unix_ms);
        self.next_play_id = play_id.saturating_add(1);
        match self.current.as_mut() {
            Some(current) => {
                current.play_id = Some(play_id);
                current.play_position_ms = position_ms;
                current.started = false;
                Effect::Play {
                    entry: current.entry.clone(),
                    position_ms,
                    paused: self.paused,
                    volume: self.volume,
                    filters: self.filters().clone(),
                    play_id,
                }
            }
            None => Effect::Stop,
        }
    }

    /// The queue moves on, as the store's `advance` does: the current entry is dropped or
    /// requeued, the head becomes current and plays from 0. With nothing left, paused is cleared
    /// and, if `stop_if_idle` (the player may still hold a track), the player is stopped.
    fn advance(
        &mut self,
        finished: Finished,
        now_unix_ms: u64,
        stop_if_idle: bool,
        effects: &mut Vec<Effect>,
    ) {
        self.remember_current(now_unix_ms, effects);
        let old = self.current.take();
        let seed = old
            .as_ref()
            .filter(|old| self.autoplay && !old.failed)
            .map(|old| old.entry.clone());
        if let Some(old) = old
            && finished == Finished::Requeue
        {
            self.queue.push(old.entry);
        }
        self.position = PositionSnapshot::new(0, now_unix_ms);
        effects.push(Effect::Persist(StoreOp::Advance {
            finished,
            at_unix_ms: now_unix_ms,
        }));
        if self.queue.is_empty() {
            if self.paused {
                self.paused = false;
                effects.push(self.save_position());
            }
            if stop_if_idle {
                effects.push(Effect::Stop);
            }
            if let Some(seed) = seed {
                effects.push(Effect::Autoplay { seed });
            }
        } else {
            let next = self.queue.remove(0);
            self.current = Some(Current::new(next));
            effects.push(self.start_play(0, now_unix_ms));
        }
    }

    /// Adds "Queue finished" when an event left nothing current (and autoplay does not look for
    /// more).
    fn tell_if_finished(&self, effects: &mut Vec<Effect>) {
        let autoplaying = effects
            .iter()
            .any(|effect| matches!(effect, Effect::Autoplay { .. }));
        if self.current.is_none() && !autoplaying {
            effects.push(Effect::Notify(Notice::QueueFinished));
        }
    }

    /// The current entry goes into the history as it stops being current, if it was played
    /// (announced) and did not fail.
    fn remember_current(&self, now_unix_ms: u64, effects: &mut Vec<Effect>) {
        if let Some(current) = &self.current
            && current.announced
            && !current.failed
        {
            effects.push(Effect::Persist(StoreOp::AddHistory {
                entry: current.entry.clone(),
                played_at_unix_ms: now_unix_ms,
            }));
        }
    }
}
