//! What comes out of the engine: effects for the shell to carry out, in order.

use std::fmt;

use lavalink::model::{Filters, Severity};

use crate::entry::{Entry, LoopMode, PositionSnapshot};
use crate::time::format_duration;

/// One thing the shell must do. Every input returns its effects as a `Vec` in the order to carry
/// them out: store writes ([`Effect::Persist`]) first, then the player ([`Effect::Play`] ...
/// [`Effect::Disconnect`]), then the messages ([`Effect::Notify`]). Writing first means a crash
/// between two effects restores to where the engine already is, not to where it was.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// Play `entry` from `position_ms` on the guild's player, replacing whatever it plays, in one
    /// complete update: `track{encoded, userData: play_user_data(play_id)}`, `position`, `paused`,
    /// `volume`. The node's `TrackEnd(replaced)` for the old track is expected and ignored.
    Play {
        /// What to play.
        entry: Entry,
        /// Where to start, milliseconds.
        position_ms: u64,
        /// Whether the player is paused (a paused player stays paused on the new track).
        paused: bool,
        /// The volume, 0 to 200 (Lavalink's scale is the same).
        volume: u16,
        /// The player's filters (sent when not empty: a new player starts without any).
        filters: Filters,
        /// This play's id: attach it with [`play_user_data`](crate::play_user_data) so that the
        /// node's events about it can be told from those about an earlier play.
        play_id: u64,
    },
    /// Stop the player's track (`encodedTrack: null`); the player itself and the voice connection
    /// stay. The node's `TrackEnd(stopped)` is expected and ignored.
    Stop,
    /// Pause (`true`) or resume (`false`) the player.
    Pause(bool),
    /// Seek the current track to this position, milliseconds.
    Seek(u64),
    /// Set the player's volume, 0 to 200 (only emitted while a track is current; otherwise the
    /// next [`Effect::Play`] carries it).
    SetVolume(u16),
    /// Set the player's filters: the whole set, replacing what it had (only emitted while a track
    /// is current; otherwise the next [`Effect::Play`] carries them).
    SetFilters(Filters),
    /// Destroy the guild's player and leave the voice channel.
    Disconnect,
    /// The queue ended with autoplay on: find a track related to `seed` (the entry that just
    /// ended) and give it to [`GuildPlayer::autoplay_found`](crate::GuildPlayer::autoplay_found).
    /// Carried out after the other effects of the input (it starts a load).
    Autoplay {
        /// The entry that ended.
        seed: Entry,
    },
    /// Make this change to the stored state of the guild.
    Persist(StoreOp),
    /// Tell the users. A notice returned by a command is the answer to that command (the
    /// interaction's reply); one returned by any other input goes to the guild's text channel.
    Notify(Notice),
}

/// What to do with the entry that was current when the queue advances (the store's
/// `advance` takes it as it is).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Finished {
    /// Drop it (loop off or track, a failure, a skip with loop off).
    Drop,
    /// Append it to the back of the queue before the head is taken (loop queue).
    Requeue,
}

/// One change to the stored state of the guild. Each maps onto one call of the store (indices are
/// 0-based here, as the store counts them; index 0 plays next).
#[derive(Debug, Clone, PartialEq)]
pub enum StoreOp {
    /// `enqueue(entries, at)`: insert `entries` in order at `at` (`None`: at the end).
    Enqueue {
        /// The new entries.
        entries: Vec<Entry>,
        /// Where (`None` appends).
        at: Option<usize>,
    },
    /// `remove(index)`: remove the queue entry at `index`.
    Remove {
        /// The 0-based index.
        index: usize,
    },
    /// `move_entry(from, to)`: move the entry at `from` so that it ends up at `to`.
    Move {
        /// The 0-based index it is at.
        from: usize,
        /// The 0-based index it ends up at.
        to: usize,
    },
    /// `clear_queue()`: empty the queue (the current entry stays).
    ClearQueue,
    /// `replace_queue(entries)`: the whole queue, in its new order (shuffle, skip to a position).
    ReplaceQueue(Vec<Entry>),
    /// `set_current(entry, position)`: set or clear the current entry without touching the queue.
    SetCurrent {
        /// The new current entry (`None`: nothing is current).
        entry: Option<Entry>,
        /// Its position.
        position: PositionSnapshot,
    },
    /// `advance(finished, at_unix_ms)`: deal with the current entry as `finished` says, pop the
    /// head of the queue into current (or clear current if the queue is empty) and set the
    /// position to 0 at `at_unix_ms`; paused is left as it was.
    Advance {
        /// What happens to the entry that was current.
        finished: Finished,
        /// The time of the new position 0, unix milliseconds.
        at_unix_ms: u64,
    },
    /// `save_position(position, paused)`: record a position snapshot and the paused flag (the
    /// position tick writes those of all playing guilds with one `save_positions`).
    SavePosition {
        /// The position.
        position: PositionSnapshot,
        /// Whether the player is paused.
        paused: bool,
    },
    /// `set_volume(volume)`, 0 to 200.
    SetVolume(u16),
    /// `set_loop(mode)`.
    SetLoop(LoopMode),
    /// `set_filters(filters)`: the whole set.
    SetFilters(Filters),
    /// `set_stay(stay)`: 24/7 on or off.
    SetStay(bool),
    /// `set_autoplay(autoplay)`.
    SetAutoplay(bool),
    /// `add_history(entry, played_at)`: the entry was played and is no longer current.
    AddHistory {
        /// The entry.
        entry: Entry,
        /// When it stopped being current, unix milliseconds.
        played_at_unix_ms: u64,
    },
    /// `remove_history(id)`: the history entry `/previous` took.
    RemoveHistory {
        /// Its store id.
        id: u64,
    },
    /// `forget_guild()`: delete everything stored for the guild.
    ForgetGuild,
}

/// Why the engine skipped a track on its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SkipCause {
    /// The node reported an exception while playing it (`TrackExceptionEvent`).
    Exception {
        /// The exception's message (or its cause when it has none).
        message: String,
        /// How bad the node thinks it is.
        severity: Severity,
    },
    /// The node could not load it (`TrackEndEvent` with reason `loadFailed`, no exception
    /// before).
    LoadFailed,
    /// It got stuck again after it had been restarted once.
    StuckTwice,
    /// The player moved to another node, which could not load the track.
    MoveFailed {
        /// The error the new node gave.
        error: String,
    },
}

impl fmt::Display for SkipCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Exception { message, .. } => write!(f, "it failed to play ({message})"),
            Self::LoadFailed => f.write_str("it failed to play (it could not be loaded)"),
            Self::StuckTwice => f.write_str("it got stuck again after a restart"),
            Self::MoveFailed { error } => {
                write!(f, "it could not be loaded on the new node ({error})")
            }
        }
    }
}

/// A message for the users. `Display` gives the text (Discord markdown); the fields are there for
/// a shell that wants to build richer messages (embeds, artwork).
#[expect(
    clippy::large_enum_variant,
    reason = "a handful of short-lived values per input; boxing would only complicate matching"
)]
#[derive(Debug, Clone, PartialEq)]
pub enum Notice {
    /// A track started playing (the first time it started in its turn).
    NowPlaying {
        /// The track.
        entry: Entry,
    },
    /// Tracks were added (answer to `play`).
    Queued {
        /// The first of them.
        first: Entry,
        /// How many.
        count: usize,
        /// The 1-based queue position of the first one, or `None` when it started playing at once.
        position: Option<usize>,
    },
    /// The player was paused.
    Paused {
        /// The track.
        entry: Entry,
        /// Where it was paused, milliseconds.
        position_ms: u64,
    },
    /// The player was resumed.
    Resumed {
        /// The track.
        entry: Entry,
        /// Where it resumes, milliseconds.
        position_ms: u64,
    },
    /// The user skipped.
    Skipped {
        /// The track that was playing.
        skipped: Entry,
        /// How many queued tracks were skipped over as well (skip to a position).
        also_skipped: usize,
        /// What plays now, if anything.
        next: Option<Entry>,
    },
    /// Playback was stopped and the queue cleared.
    Stopped {
        /// How many queued tracks were removed.
        cleared: usize,
    },
    /// The current track was seeked.
    Seeked {
        /// The track.
        entry: Entry,
        /// The new position, milliseconds.
        position_ms: u64,
    },
    /// The volume was set.
    VolumeSet(u16),
    /// The loop mode was set.
    LoopSet(LoopMode),
    /// 24/7 was switched on or off.
    StaySet(bool),
    /// Autoplay was switched on or off.
    AutoplaySet(bool),
    /// `/previous` plays this entry again (the current one is next in the queue).
    PlayingPrevious {
        /// The entry.
        entry: Entry,
    },
    /// `/replay` restarts this entry.
    Replaying {
        /// The entry.
        entry: Entry,
    },
    /// Autoplay queued this entry after the queue ended; it plays now.
    AutoplayQueued {
        /// The entry.
        entry: Entry,
    },
    /// The filters were changed: the active ones now, in words (none: all off).
    FiltersSet {
        /// What is active.
        active: Vec<String>,
    },
    /// The queue was shuffled.
    Shuffled {
        /// How many tracks it has.
        count: usize,
    },
    /// A track was removed from the queue.
    Removed {
        /// The track.
        entry: Entry,
        /// The 1-based position it had.
        position: usize,
    },
    /// A track was moved within the queue.
    Moved {
        /// The track.
        entry: Entry,
        /// Its old 1-based position.
        from: usize,
        /// Its new 1-based position.
        to: usize,
    },
    /// The queue was cleared.
    Cleared {
        /// How many tracks were removed.
        count: usize,
    },
    /// The bot left the voice channel and forgot the guild's queue and settings.
    Left,
    /// The engine skipped a track on its own because it could not be played.
    Skipping {
        /// The track.
        entry: Entry,
        /// Why.
        cause: SkipCause,
    },
    /// The current track got stuck and is being restarted where it was.
    StuckRestarting {
        /// The track.
        entry: Entry,
        /// Where it restarts, milliseconds.
        position_ms: u64,
    },
    /// The last track ended and the queue is empty.
    QueueFinished,
}

impl fmt::Display for Notice {
    #[allow(clippy::too_many_lines, reason = "one arm per notice, each a sentence")]
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NowPlaying { entry } => write!(f, "Now playing {}", Title(entry)),
            Self::Queued {
                first,
                count,
                position,
            } => match (position, count) {
                (None, 1) => write!(f, "Now playing {}", Title(first)),
                (None, n) => write!(
                    f,
                    "Now playing {}, and {} queued",
                    Title(first),
                    Tracks(n - 1)
                ),
                (Some(at), 1) => write!(f, "Queued {} at position {at}", Title(first)),
                (Some(at), n) => write!(
                    f,
                    "Queued {} at positions {at} to {}",
                    Tracks(*n),
                    at + n - 1
                ),
            },
            Self::Paused { entry, position_ms } => write!(
                f,
                "Paused {} at {}: use /resume to continue",
                Title(entry),
                format_duration(*position_ms)
            ),
            Self::Resumed { entry, position_ms } => write!(
                f,
                "Resumed {} at {}",
                Title(entry),
                format_duration(*position_ms)
            ),
            Self::Skipped {
                skipped,
                also_skipped,
                next,
            } => {
                write!(f, "Skipped {}", Title(skipped))?;
                if *also_skipped > 0 {
                    write!(f, " and {} after it", Tracks(*also_skipped))?;
                }
                match next {
                    Some(next) => write!(f, "; now playing {}", Title(next)),
                    None => f.write_str("; the queue is finished"),
                }
            }
            Self::Stopped { cleared: 0 } => f.write_str("Stopped"),
            Self::Stopped { cleared } => {
                write!(f, "Stopped and removed {} from the queue", Tracks(*cleared))
            }
            Self::Seeked { entry, position_ms } => write!(
                f,
                "Moved {} to {}",
                Title(entry),
                format_duration(*position_ms)
            ),
            Self::VolumeSet(volume) => write!(f, "Volume set to {volume}%"),
            Self::LoopSet(LoopMode::Off) => f.write_str("Looping is off"),
            Self::LoopSet(LoopMode::Track) => f.write_str("Looping the current track"),
            Self::LoopSet(LoopMode::Queue) => f.write_str("Looping the queue"),
            Self::StaySet(true) => f.write_str(
                "24/7 is on: I stay in the voice channel, even with nothing to play and nobody listening",
            ),
            Self::StaySet(false) => {
                f.write_str("24/7 is off: I leave the voice channel when nobody is listening")
            }
            Self::AutoplaySet(true) => {
                f.write_str("Autoplay is on: when the queue ends, I play related tracks")
            }
            Self::AutoplaySet(false) => {
                f.write_str("Autoplay is off: the music stops when the queue ends")
            }
            Self::PlayingPrevious { entry } => write!(
                f,
                "Playing the previous track again: {}",
                Title(entry)
            ),
            Self::Replaying { entry } => write!(f, "Replaying {} from the start", Title(entry)),
            Self::AutoplayQueued { entry } => write!(f, "Autoplay: now playing {}", Title(entry)),
            Self::FiltersSet { active } if active.is_empty() => {
                f.write_str("Filters off: the track plays as recorded")
            }
            Self::FiltersSet { active } => write!(f, "Filters on: {}", active.join(", ")),
            Self::Shuffled { count } => write!(f, "Shuffled {}", Tracks(*count)),
            Self::Removed { entry, position } => {
                write!(f, "Removed {} (position {position})", Title(entry))
            }
            Self::Moved { entry, from, to } => {
                write!(f, "Moved {} from position {from} to {to}", Title(entry))
            }
            Self::Cleared { count } => write!(f, "Removed {} from the queue", Tracks(*count)),
            Self::Left => f.write_str("Left the voice channel and cleared the queue"),
            Self::Skipping { entry, cause } => write!(f, "Skipping {}: {cause}", Title(entry)),
            Self::StuckRestarting { entry, position_ms } => write!(
                f,
                "{} got stuck; restarting it at {}",
                Title(entry),
                format_duration(*position_ms)
            ),
            Self::QueueFinished => f.write_str("Queue finished: use /play to add more"),
        }
    }
}

/// An entry's title in bold, with Discord markdown in it escaped.
struct Title<'a>(&'a Entry);

impl fmt::Display for Title<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("**")?;
        for c in self.0.title().chars() {
            if matches!(c, '\\' | '*' | '_' | '~' | '`' | '|' | '>' | '[' | ']') {
                f.write_str("\\")?;
            }
            write!(f, "{c}")?;
        }
        f.write_str("**")
    }
}

/// "1 track", "3 tracks".
pub(crate) struct Tracks(pub(crate) usize);

impl fmt::Display for Tracks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            1 => f.write_str("1 track"),
            n => write!(f, "{n} tracks"),
        }
    }
}
