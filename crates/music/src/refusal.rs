//! Commands the engine refuses, each with a message that says what to do instead.

use crate::effect::Tracks;
use crate::time::format_duration;

/// Why a command was refused. Nothing changed and there are no effects; the `Display` text is
/// meant for the user who gave the command.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The command needs a current track.
    #[error("nothing is playing: use /play to start something")]
    NothingPlaying,
    /// `play` was given no tracks.
    #[error("there is nothing to play: the search found no tracks")]
    NoTracks,
    /// The command needs queued tracks.
    #[error("the queue is empty: use /play to add tracks")]
    QueueEmpty,
    /// A 1-based queue position that is not in the queue.
    #[error("{}", position_message(*.position, *.len))]
    PositionOutOfRange {
        /// The position given.
        position: usize,
        /// How many tracks the queue has.
        len: usize,
    },
    /// `pause` while paused.
    #[error("the player is already paused: use /resume to continue")]
    AlreadyPaused,
    /// `resume` while not paused.
    #[error("the player is not paused: use /pause to pause it")]
    NotPaused,
    /// `seek` on a live stream or a track whose source cannot seek.
    #[error("{title:?} cannot be seeked: it is a live stream or its source does not allow seeking")]
    NotSeekable {
        /// The current track's title.
        title: String,
    },
    /// `seek` past the end of the track.
    #[error(
        "{} is beyond the end of the track: pick a time up to {}",
        format_duration(*.position_ms),
        format_duration(*.length_ms)
    )]
    SeekBeyondEnd {
        /// The position asked for, milliseconds.
        position_ms: u64,
        /// The track's length, milliseconds.
        length_ms: u64,
    },
    /// `set_volume` outside 0 to 200.
    #[error("volume must be between 0 and 200 (got {requested})")]
    VolumeOutOfRange {
        /// The volume asked for.
        requested: i64,
    },
    /// `shuffle` with fewer than two queued tracks.
    #[error("there is nothing to shuffle: the queue has {}, it needs at least 2", Tracks(*.len))]
    NotEnoughToShuffle {
        /// How many tracks the queue has.
        len: usize,
    },
    /// A queue page that does not exist.
    #[error("page {page} does not exist: the queue has {} (pick 1 to {total_pages})", pages(*.total_pages))]
    PageOutOfRange {
        /// The page asked for.
        page: usize,
        /// How many pages there are.
        total_pages: usize,
    },
}

fn position_message(position: usize, len: usize) -> String {
    match len {
        0 => format!("position {position} is out of range: the queue is empty"),
        len => format!(
            "position {position} is out of range: the queue has {} (pick 1 to {len})",
            Tracks(len)
        ),
    }
}

fn pages(n: usize) -> String {
    if n == 1 {
        "1 page".to_owned()
    } else {
        format!("{n} pages")
    }
}
