//! The per-guild music engine, as a pure state machine (the "functional core").
//!
//! Its one job: given a guild's state and one input (a user's command, a Lavalink event about the
//! guild's player, or a report from the cluster), change the state and say exactly what must
//! happen as a result. It does no IO, has no async and reads no clock: every input that needs the
//! time takes `now_unix_ms` (unix milliseconds) from the caller. The bot (the imperative shell)
//! feeds inputs in and carries out the returned [`Effect`]s in order: Lavalink updates through the
//! cluster, store writes ([`StoreOp`], one store call each, except that the bot's position tick
//! writes the `SavePosition` of every playing guild's `player_update` in one batch call),
//! messages ([`Notice`]).
//!
//! One [`GuildPlayer`] per guild holds the queue ([`Entry`]: encoded track, its `TrackInfo`, the
//! requester), the current entry, the [`LoopMode`], the volume (0-200, the same number Lavalink
//! takes), paused, and the last known position ([`PositionSnapshot`]: a position and when it was
//! true). Commands that cannot be done return a typed [`Refusal`] whose message says what to do,
//! and change nothing.
//!
//! # The state machine
//!
//! States: *idle* (nothing current; then the queue is empty and the player is not paused),
//! *playing* and *paused* (an entry is current). "Next" below is "`Advance` in the store; play
//! the new head from 0, or, with an empty queue, become idle". Effects are listed in the order
//! they are returned: store writes, then the player, then notices.
//!
//! | State | Input | Effects | Then |
//! |---|---|---|---|
//! | idle | `play` | `Enqueue`, `Advance`, `Play`, `Queued` | playing |
//! | playing, paused | `play` | `Enqueue`, `Queued` (with its position) | same |
//! | playing | `pause` | `SavePosition`, `Pause(true)`, `Paused` | paused |
//! | paused | `resume` | `SavePosition`, `Pause(false)`, `Resumed` | playing |
//! | playing, paused | `skip` | next (loop queue: requeue it), `Stop` if idle, `Skipped` | paused kept |
//! | playing, paused | `skip(to: n)` | `ReplaceQueue`, `SetCurrent`, `Play`, `Skipped` | paused kept |
//! | playing, paused | `stop` | `ClearQueue`, `SetCurrent(None)`, `Stop`, `Stopped` | idle |
//! | playing, paused | `seek` | `SavePosition`, `Seek`, `Seeked` | same |
//! | any | `set_volume` | `SetVolume` (store; player only if an entry is current), `VolumeSet` | same |
//! | any | `set_loop` | `SetLoop`, `LoopSet` | same |
//! | playing, paused | `set_filters` | `SetFilters` (store), `SetFilters` (player), `FiltersSet` | same |
//! | idle | `set_filters(Reset)` | `SetFilters` (store), `FiltersSet` | same |
//! | any | `set_stay`, `set_autoplay` | `SetStay` / `SetAutoplay`, notice | same |
//! | any | `previous(entry)` | `RemoveHistory`, `Enqueue` (the current at 0), `SetCurrent`, `Play`, `PlayingPrevious` | playing |
//! | playing, paused | `replay` | `SavePosition`, `Seek(0)` (or `Play` from 0 if it cannot seek), `Replaying` | same |
//! | idle, autoplay on | `autoplay_found(entry)` | `Enqueue`, `Advance`, `Play`, `AutoplayQueued` | playing |
//!
//! Whenever a played (announced) entry stops being current without failing (next, skip, stop),
//! an `AddHistory` store write comes first. When the queue ends with autoplay on, the last effect
//! is `Autoplay { seed }` (for the shell to find a related track) instead of `QueueFinished`.
//! | any | `shuffle`, `remove`, `move_entry`, `clear` | `ReplaceQueue` / `Remove` / `Move` / `ClearQueue`, notice | same |
//! | any | `leave` | `ForgetGuild`, `Disconnect`, `Left` | idle, defaults |
//! | playing | `TrackStart` | `SavePosition`, `NowPlaying` (first start of the turn) | same |
//! | playing | `TrackEnd(finished)`, loop off | next, `QueueFinished` if idle | |
//! | playing | `TrackEnd(finished)`, loop track | `SavePosition`, `Play` (same entry, from 0) | same |
//! | playing | `TrackEnd(finished)`, loop queue | next with the entry requeued | |
//! | playing | `TrackEnd(loadFailed)` | next (dropped), `Skipping` unless an exception told it | |
//! | playing | `TrackEnd(stopped / replaced / cleanup)` | nothing | same |
//! | playing | `TrackException` | `Skipping` (once; the `TrackEnd` after it moves on) | failed |
//! | playing | `TrackStuck`, first in the turn | `SavePosition`, `Play` (at the last reported position), `StuckRestarting` | same |
//! | playing | `TrackStuck`, again | next (dropped), `Stop` if idle, `Skipping` | |
//! | playing | `move_failed` | next (dropped), `Skipping` | |
//! | playing | `player_update` | `SavePosition` | same |
//! | any | a track event about another play | nothing | same |
//!
//! Track events are matched to the current *play*: every [`Effect::Play`] carries a fresh
//! `play_id` for the track's `userData` (see [`play_user_data`]), and an event whose echoed id is
//! not the current one is stale (for example a `TrackEnd(finished)` that crossed a /skip), so a
//! track can never be skipped twice. A failed track (exception, `loadFailed`, stuck twice, failed
//! move) is dropped whatever the loop mode, so a broken track cannot loop forever.
//!
//! # Restore
//!
//! [`GuildPlayer::restore`] builds a player from a stored [`Snapshot`] (and
//! [`GuildPlayer::snapshot`] gives one); [`GuildPlayer::resume_from_snapshot`] returns the effects
//! that play it again from the saved position. Because every state change goes out as a
//! [`StoreOp`], a store that applies them holds what `snapshot` returns.
//!
//! # Display helpers
//!
//! [`GuildPlayer::now_playing`], [`GuildPlayer::queue_page`], [`GuildPlayer::position_bar`],
//! [`parse_timestamp`] (`1:23`, `83`, `1:02:03`) and [`format_duration`].

mod effect;
mod entry;
mod filters;
mod player;
mod refusal;
mod shuffle;
mod time;

pub use effect::{Effect, Finished, Notice, SkipCause, StoreOp};
pub use entry::{
    Entry, LoopMode, PLAY_ID_KEY, PositionSnapshot, UnknownLoopMode, play_id_of, play_user_data,
};
pub use filters::{
    EQUALIZER_BANDS, FilterChange, Layer, MAX_GAIN, MAX_TIMESCALE, MIN_GAIN, MIN_TIMESCALE,
    PRESET_NAMES, PRESETS, Preset, describe as describe_filters, preset,
};
pub use player::{
    DEFAULT_VOLUME, GuildPlayer, MAX_VOLUME, NowPlaying, PAGE_SIZE, QueueLine, QueuePage, Snapshot,
};
pub use refusal::Refusal;
pub use time::{BAR_WIDTH, TimestampError, format_duration, parse_timestamp, position_bar};
