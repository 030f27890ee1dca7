//! The playback model of one player: where its track is at any instant of the injected clock, and
//! which events fall due when.
//!
//! As in lavaplayer, a track's position is the timecode of the last frame the voice connection
//! pulled: it advances only while the player has a track, is not paused and has a voice
//! connection. Without one, TrackStartEvent still fires and playerUpdates still flow, but the
//! position stays put and the track never ends.
//!
//! A voice connection has two parts, as in Koe: the media connection that pulls frames and the
//! voice gateway whose state `connected` reports. When Discord closes the gateway, Koe leaves the
//! media connection (and its frame poller) alone, so the player reports `connected: false` but
//! keeps pulling frames; the next voice state from the client reconnects both.
//!
//! A server may need time before a started track plays (its audio pipeline's start-up,
//! [`ServerBehaviour::audio_start_delay`]): until then the position stays at the start position
//! and no frames are pulled; a server may send TrackStart only then, and may start a track a
//! second time after a seek ([`ServerBehaviour::second_track_start_after_seek`]). Lavalink 4.2,
//! the default, does neither.
//!
//! While the node hangs, a player is frozen: the process pulls no frames, so the position stands
//! still (and nothing falls due) until the node is healed, and then goes on from there.
//!
//! Each player also keeps Lavalink's `AudioLossCounter` bookkeeping, which decides when its frame
//! counts may go into the `stats` op ([`SimPlayer::frame_data_usable`]).

use std::time::{Duration, Instant};

use lavalink::codec::{self, DecodedTrack};
use lavalink::model::{
    Event, Exception, Filters, GuildId, IncomingMessage, Player, PlayerState, PlayerUpdate, Track,
    TrackEnd, TrackEndReason, TrackException, TrackStart, TrackStuck, VoiceState,
};
use serde_json::{Map, Value};

use super::catalogue::{Behaviour, STREAM_LENGTH};
use super::config::ServerBehaviour;

/// Node-wide numbers and settings a player needs to describe itself.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Timing {
    /// The clock instant that corresponds to `wall_origin_ms`.
    pub clock_origin: Instant,
    /// Unix milliseconds at `clock_origin`.
    pub wall_origin_ms: u64,
    /// `playerUpdate` interval.
    pub update_interval: Duration,
    /// Stuck threshold.
    pub stuck_threshold: Duration,
    /// Voice ping of a connected player.
    pub ping: i64,
    /// Which server's ways it follows (start-ups, a second TrackStart after a seek).
    pub behaviour: ServerBehaviour,
}

impl Timing {
    /// Unix milliseconds at a clock instant.
    pub fn wall_ms(&self, at: Instant) -> u64 {
        self.wall_origin_ms + millis(at.saturating_duration_since(self.clock_origin))
    }
}

/// A track to start.
#[derive(Debug, Clone)]
pub(crate) struct NewTrack {
    /// The decoded message (kept to re-encode it with the current position).
    pub decoded: DecodedTrack,
    /// The encoded form as received or produced.
    pub encoded: String,
    /// How it behaves.
    pub behaviour: Behaviour,
    /// Client data echoed in events.
    pub user_data: Map<String, Value>,
    /// Start position.
    pub position: Option<u64>,
    /// End marker.
    pub end_time: Option<u64>,
}

#[derive(Debug, Clone)]
struct Active {
    decoded: DecodedTrack,
    encoded: String,
    user_data: Map<String, Value>,
    behaviour: Behaviour,
    base_pos: u64,
    base_at: Instant,
    running: bool,
    end_time: Option<u64>,
    stall: Option<Stall>,
    stall_armed: bool,
    fail_at: Option<Instant>,
    /// The audio pipeline is starting: no frames are pulled before this instant.
    audio_from: Option<Instant>,
    /// Its TrackStart waits for the audio to start.
    start_pending: bool,
    /// When it starts a second time (after a seek), sending TrackStart again.
    second_start_at: Option<Instant>,
}

#[derive(Debug, Clone, Copy)]
struct Stall {
    since: Instant,
    reported: bool,
}

/// How long a player may stop between tracks (or a pause and a resume) without its frame counts
/// starting over (`AudioLossCounter.ACCEPTABLE_TRACK_SWITCH_TIME`).
const ACCEPTABLE_TRACK_SWITCH_TIME: Duration = Duration::from_millis(100);

/// Lavalink's `AudioLossCounter`, as far as it decides whether a player's frame counts are usable
/// (`isDataUsable`): it listens to the player's events, and the counts are usable once the player
/// has been playing since before the previous whole minute began.
#[derive(Debug, Clone, Copy, Default)]
struct LossCounter {
    /// Since when it plays without a gap (`playingSince`; `None`: `Long.MAX_VALUE`, never).
    playing_since: Option<Instant>,
    /// The last TrackStart or resume (`lastTrackStarted`; `None`: never).
    last_started: Option<Instant>,
    /// The last TrackEnd or pause (`lastTrackEnded`; `None`: none since playback (re)started).
    last_ended: Option<Instant>,
}

impl LossCounter {
    /// `TrackStartEvent` or `PlayerResumeEvent`: playback starts over after a gap longer than the
    /// acceptable track switch time, or the first time.
    fn started(&mut self, at: Instant) {
        self.last_started = Some(at);
        let gap = self.last_ended.is_some_and(|ended| {
            at.saturating_duration_since(ended) > ACCEPTABLE_TRACK_SWITCH_TIME
        });
        if gap || self.playing_since.is_none() {
            self.playing_since = Some(at);
            self.last_ended = None;
        }
    }

    /// `TrackEndEvent` (any reason) or `PlayerPauseEvent`.
    fn ended(&mut self, at: Instant) {
        self.last_ended = Some(at);
    }

    /// `isDataUsable` at `at`, with minutes counted on the node's clock from `origin` (the real
    /// counter uses the wall clock's minutes since the epoch).
    fn is_data_usable(&self, at: Instant, origin: Instant) -> bool {
        if let Some(ended) = self.last_ended {
            // The last start came more than the switch time after the last end (or there was
            // none): `lastTrackStarted - lastTrackEnded > ACCEPTABLE_TRACK_SWITCH_TIME`.
            let gap = self.last_started.is_none_or(|started| {
                started.saturating_duration_since(ended) > ACCEPTABLE_TRACK_SWITCH_TIME
            });
            if gap {
                return false;
            }
        }
        let Some(since) = self.playing_since else {
            return false;
        };
        // Counts of the previous whole minute exist only if playback began before it did.
        let minute = at.saturating_duration_since(origin).as_secs() / 60;
        minute.checked_sub(1).is_some_and(|previous| {
            origin
                .checked_add(Duration::from_secs(previous * 60))
                .is_none_or(|previous_start| since < previous_start)
        })
    }
}

/// Something that falls due at an instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Due {
    AudioStart,
    SecondStart,
    FailStart,
    Point(Point),
    StuckReport,
    Update,
}

/// A position at which playback changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Point {
    End(u64),
    Throw(u64),
    Stall(u64),
}

impl Point {
    fn at(self) -> u64 {
        match self {
            Self::End(at) | Self::Throw(at) | Self::Stall(at) => at,
        }
    }
}

/// One player of a session.
#[derive(Debug, Clone)]
pub(crate) struct SimPlayer {
    guild: GuildId,
    track: Option<Active>,
    volume: u16,
    paused: bool,
    filters: Filters,
    voice: Option<VoiceState>,
    /// Whether the voice gateway is open (false after Discord closed it, until a new voice state).
    gateway_open: bool,
    next_update: Option<Instant>,
    /// The node hangs: no frames are pulled and nothing falls due.
    frozen: bool,
    loss: LossCounter,
}

impl SimPlayer {
    /// A new idle player.
    pub fn new(guild: GuildId) -> Self {
        Self {
            guild,
            track: None,
            volume: 100,
            paused: false,
            filters: Filters::default(),
            voice: None,
            gateway_open: false,
            next_update: None,
            frozen: false,
            loss: LossCounter::default(),
        }
    }

    /// Whether it counts as playing (a track, not paused), as Lavalink's `isPlaying`.
    pub fn is_playing(&self) -> bool {
        self.track.is_some() && !self.paused
    }

    /// Whether a voice connection pulls frames (it does from the first complete voice state on,
    /// even after Discord closed its gateway: Koe's frame poller keeps running).
    pub fn pulls_frames(&self) -> bool {
        self.voice.is_some()
    }

    /// Whether the voice gateway is open (`connected` in the player state).
    pub fn is_connected(&self) -> bool {
        self.voice.is_some() && self.gateway_open
    }

    /// Whether its frame counts may go into the `stats` op at `at` (Lavalink's
    /// `AudioLossCounter.isDataUsable`): it has been playing, without a gap of more than 100 ms
    /// between tracks or a pause of more than that, since before the previous whole minute of
    /// the node's clock (minutes counted from `origin`, the node's start) began.
    pub fn frame_data_usable(&self, at: Instant, origin: Instant) -> bool {
        self.loss.is_data_usable(at, origin)
    }

    /// Whether it is frozen by a hang.
    pub fn is_frozen(&self) -> bool {
        self.frozen
    }

    /// Freezes (the node hangs: the position stops where it is and nothing falls due) or thaws
    /// (the position goes on from there).
    pub fn set_frozen(&mut self, at: Instant, frozen: bool) {
        self.frozen = frozen;
        self.rebase(at);
    }

    /// Whether it has a track.
    pub fn has_track(&self) -> bool {
        self.track.is_some()
    }

    /// The track position at `at`.
    pub fn position(&self, at: Instant) -> u64 {
        self.track.as_ref().map_or(0, |track| track.position(at))
    }

    /// `state` as in `playerUpdate`.
    pub fn state(&self, at: Instant, timing: &Timing) -> PlayerState {
        PlayerState {
            time: timing.wall_ms(at),
            position: self.position(at),
            connected: self.is_connected(),
            // Koe keeps the last heartbeat round trip of a closed gateway; -1 only without one.
            ping: if self.pulls_frames() { timing.ping } else { -1 },
        }
    }

    /// The player as the REST API shows it.
    pub fn to_model(&self, at: Instant, timing: &Timing) -> Player {
        Player {
            guild_id: self.guild,
            track: self
                .track
                .as_ref()
                .map(|track| track.to_track(track.position(at))),
            volume: self.volume,
            paused: self.paused,
            state: self.state(at, timing),
            voice: self.voice.clone().unwrap_or_default(),
            filters: self.filters.clone(),
        }
    }

    /// A `playerUpdate` message.
    pub fn update_message(&self, at: Instant, timing: &Timing) -> IncomingMessage {
        IncomingMessage::PlayerUpdate(PlayerUpdate {
            guild_id: self.guild,
            state: self.state(at, timing),
        })
    }

    /// Sets the volume, clamped to 0..=1000 as lavaplayer does.
    pub fn set_volume(&mut self, volume: i64) {
        self.volume = u16::try_from(volume.clamp(0, 1000)).unwrap_or(1000);
    }

    /// Replaces the filters.
    pub fn set_filters(&mut self, filters: Filters) {
        self.filters = filters;
    }

    /// Pauses or resumes.
    pub fn set_paused(&mut self, at: Instant, paused: bool) {
        self.pause_flag(at, paused);
        self.rebase(at);
    }

    /// Sets the pause flag; a change is a `PlayerPauseEvent` or `PlayerResumeEvent` for the loss
    /// counter (lavaplayer's `setPaused` dispatches them only on a change).
    fn pause_flag(&mut self, at: Instant, paused: bool) {
        if self.paused == paused {
            return;
        }
        self.paused = paused;
        if paused {
            self.loss.ended(at);
        } else {
            self.loss.started(at);
        }
    }

    /// Sets a complete voice state; answers whether the connection was (re)established. As in
    /// Lavalink's `PlayerRestHandler`, the same state again changes nothing while the gateway is
    /// open, and reconnects once it was closed.
    pub fn set_voice(&mut self, at: Instant, voice: VoiceState) -> bool {
        if self.gateway_open && self.voice.as_ref() == Some(&voice) {
            return false;
        }
        self.voice = Some(voice);
        self.gateway_open = true;
        self.rebase(at);
        true
    }

    /// Discord closed the voice gateway; answers whether it was open. Frames keep flowing (Koe
    /// stops neither its poller nor the UDP connection), so the position goes on.
    pub fn close_voice(&mut self) -> bool {
        if !self.is_connected() {
            return false;
        }
        self.gateway_open = false;
        true
    }

    /// Replaces the user data of the current track.
    pub fn set_user_data(&mut self, user_data: Map<String, Value>) {
        if let Some(track) = &mut self.track {
            track.user_data = user_data;
        }
    }

    /// Seeks the current track (ignored for tracks that cannot seek, as lavaplayer does); the
    /// audio starts again after the server's start-up at a position.
    pub fn seek(&mut self, at: Instant, position: u64, timing: &Timing) {
        if let Some(track) = &mut self.track {
            if !track.decoded.info.is_seekable {
                return;
            }
            track.base_pos = position;
            track.base_at = at;
            track.stall = None;
            track.audio_from = start_up_until(at, timing.behaviour.start_up(true));
            if let Behaviour::StuckAt(stall_at) = track.behaviour {
                track.stall_armed = position <= stall_at;
            }
        }
        self.rebase(at);
    }

    /// Sets or clears the end marker of the current track.
    pub fn set_end_time(&mut self, at: Instant, end_time: Option<u64>) {
        self.rebase(at);
        if let Some(track) = &mut self.track {
            track.end_time = end_time;
        }
    }

    /// Starts a track, replacing the current one: TrackEnd `replaced`, then TrackStart (once its
    /// audio starts, on a server whose TrackStart waits for it). `at_position`: the PATCH carried
    /// a position, so the server's start-up at a position applies.
    pub fn play(
        &mut self,
        at: Instant,
        new: NewTrack,
        paused: bool,
        at_position: bool,
        timing: &Timing,
    ) -> Vec<IncomingMessage> {
        let mut out = Vec::new();
        // Lavalink sets the pause state before it plays.
        self.pause_flag(at, paused);
        if let Some(old) = self.track.take() {
            out.push(self.end_event(&old, at, old.position(at), TrackEndReason::Replaced));
        }
        let seekable = new.decoded.info.is_seekable;
        let start = new.position.filter(|_| seekable).unwrap_or(0);
        let fail_at = matches!(new.behaviour, Behaviour::FailOnStart(_)).then_some(at);
        let stall_armed = matches!(new.behaviour, Behaviour::StuckAt(stall) if start <= stall);
        let audio_from = start_up_until(at, timing.behaviour.start_up(at_position));
        let start_pending = timing.behaviour.track_start_waits_for_audio && audio_from.is_some();
        let track = Active {
            decoded: new.decoded,
            encoded: new.encoded,
            user_data: new.user_data,
            behaviour: new.behaviour,
            base_pos: start,
            base_at: at,
            running: false,
            end_time: new.end_time,
            stall: None,
            stall_armed,
            fail_at,
            audio_from,
            start_pending,
            second_start_at: None,
        };
        if !start_pending {
            out.push(self.start_event(&track, start));
        }
        self.loss.started(at);
        // The update that goes with the start goes with its TrackStart.
        self.next_update = Some(audio_from.filter(|_| start_pending).unwrap_or(at));
        self.track = Some(track);
        self.rebase(at);
        out
    }

    /// After a PATCH that took the server's seek path (it carried a position, filters or an end
    /// time): on a server that starts such a track again, the second TrackStart falls due that
    /// long after the first (the pending one, or this PATCH).
    pub fn seek_path_taken(&mut self, at: Instant, timing: &Timing) {
        let Some(delay) = timing.behaviour.second_track_start_after_seek else {
            return;
        };
        if let Some(track) = &mut self.track {
            let first = track
                .audio_from
                .filter(|_| track.start_pending)
                .unwrap_or(at);
            track.second_start_at = Some(first + delay);
        }
    }

    fn start_event(&self, track: &Active, position: u64) -> IncomingMessage {
        IncomingMessage::Event(Event::TrackStart(TrackStart {
            guild_id: self.guild,
            track: track.to_track(position),
        }))
    }

    /// Stops the current track: TrackEnd `stopped`.
    pub fn stop(&mut self, at: Instant) -> Vec<IncomingMessage> {
        self.next_update = None;
        self.track
            .take()
            .map(|old| self.end_event(&old, at, old.position(at), TrackEndReason::Stopped))
            .into_iter()
            .collect()
    }

    /// The next instant something falls due for this player.
    pub fn next_deadline(&self, timing: &Timing) -> Option<Instant> {
        self.next_due(timing).map(|(at, _)| at)
    }

    /// Fires the earliest due item if it is due at or before `now`; answers the messages it
    /// produced, or `None` when nothing was due.
    ///
    /// An item that fell due before `not_before` (while the node was hung) fires at
    /// `not_before`, when the thawed node gets to it.
    pub fn fire_next(
        &mut self,
        now: Instant,
        not_before: Instant,
        timing: &Timing,
    ) -> Option<(Instant, Vec<IncomingMessage>)> {
        let (at, due) = self.next_due(timing).filter(|(at, _)| *at <= now)?;
        let at = at.max(not_before);
        Some((at, self.fire(at, due, timing)))
    }

    fn next_due(&self, timing: &Timing) -> Option<(Instant, Due)> {
        if self.frozen {
            return None;
        }
        let mut best: Option<(Instant, Due)> = None;
        let mut consider = |at: Instant, due: Due| {
            if best.is_none_or(|(current, _)| at < current) {
                best = Some((at, due));
            }
        };
        if let Some(track) = &self.track {
            if let Some(audio_from) = track.audio_from {
                consider(audio_from, Due::AudioStart);
            }
            if let Some(second) = track.second_start_at {
                consider(second, Due::SecondStart);
            }
            if let Some(fail_at) = track.fail_at {
                consider(fail_at, Due::FailStart);
            }
            if let Some(point) = track.next_point().filter(|_| track.running) {
                let ahead = point.at().saturating_sub(track.base_pos);
                consider(
                    track.base_at + Duration::from_millis(ahead),
                    Due::Point(point),
                );
            }
            if let Some(stall) = track.stall.filter(|stall| !stall.reported) {
                consider(stall.since + timing.stuck_threshold, Due::StuckReport);
            }
        }
        if let Some(update) = self.next_update {
            consider(update, Due::Update);
        }
        best
    }

    fn fire(&mut self, at: Instant, due: Due, timing: &Timing) -> Vec<IncomingMessage> {
        match due {
            Due::Update => {
                self.next_update = Some(at + timing.update_interval);
                vec![self.update_message(at, timing)]
            }
            Due::AudioStart => {
                let Some(track) = &mut self.track else {
                    return Vec::new();
                };
                track.audio_from = None;
                let pending = std::mem::take(&mut track.start_pending);
                self.rebase(at);
                self.track
                    .as_ref()
                    .filter(|_| pending)
                    .map(|track| self.start_event(track, track.position(at)))
                    .into_iter()
                    .collect()
            }
            Due::SecondStart => {
                let Some(track) = &mut self.track else {
                    return Vec::new();
                };
                track.second_start_at = None;
                self.track
                    .as_ref()
                    .map(|track| self.start_event(track, track.position(at)))
                    .into_iter()
                    .collect()
            }
            Due::FailStart => self.fail(at, TrackEndReason::LoadFailed),
            Due::Point(Point::End(position)) => {
                self.next_update = None;
                self.track
                    .take()
                    .map(|old| self.end_event(&old, at, position, TrackEndReason::Finished))
                    .into_iter()
                    .collect()
            }
            Due::Point(Point::Throw(position)) => {
                // No frame ever played: lavaplayer reports the end as loadFailed.
                let reason = if position == 0 {
                    TrackEndReason::LoadFailed
                } else {
                    TrackEndReason::Finished
                };
                self.fail(at, reason)
            }
            Due::Point(Point::Stall(position)) => {
                if let Some(track) = &mut self.track {
                    track.base_pos = position;
                    track.base_at = at;
                    track.stall_armed = false;
                    track.stall = Some(Stall {
                        since: at,
                        reported: false,
                    });
                }
                self.rebase(at);
                Vec::new()
            }
            Due::StuckReport => {
                let Some(track) = &mut self.track else {
                    return Vec::new();
                };
                if let Some(stall) = &mut track.stall {
                    stall.reported = true;
                }
                let event = IncomingMessage::Event(Event::TrackStuck(TrackStuck {
                    guild_id: self.guild,
                    track: track.to_track(track.position(at)),
                    threshold_ms: millis(timing.stuck_threshold),
                }));
                vec![event, self.update_message(at, timing)]
            }
        }
    }

    fn fail(&mut self, at: Instant, reason: TrackEndReason) -> Vec<IncomingMessage> {
        self.next_update = None;
        let Some(old) = self.track.take() else {
            return Vec::new();
        };
        let exception = match &old.behaviour {
            Behaviour::FailOnStart(exception) | Behaviour::ExceptionAt(_, exception) => {
                exception.clone()
            }
            _ => Exception {
                message: Some("Something went wrong when decoding the track.".into()),
                severity: lavalink::model::Severity::Fault,
                cause: "java.lang.IllegalStateException: simulated".into(),
                cause_stack_trace: None,
            },
        };
        let position = old.position(at);
        vec![
            IncomingMessage::Event(Event::TrackException(TrackException {
                guild_id: self.guild,
                track: old.to_track(position),
                exception,
            })),
            self.end_event(&old, at, position, reason),
        ]
    }

    /// A `TrackEndEvent` at `at` (which the loss counter hears too).
    fn end_event(
        &mut self,
        track: &Active,
        at: Instant,
        position: u64,
        reason: TrackEndReason,
    ) -> IncomingMessage {
        self.loss.ended(at);
        IncomingMessage::Event(Event::TrackEnd(TrackEnd {
            guild_id: self.guild,
            track: track.to_track(position),
            reason,
        }))
    }

    /// Re-anchors the position at `at` and recomputes whether the track advances.
    fn rebase(&mut self, at: Instant) {
        let playing = !self.paused && self.voice.is_some() && !self.frozen;
        if let Some(track) = &mut self.track {
            track.base_pos = track.position(at);
            track.base_at = at;
            track.running = playing
                && track.stall.is_none()
                && track.fail_at.is_none()
                && track.audio_from.is_none();
        }
    }
}

impl Active {
    fn position(&self, at: Instant) -> u64 {
        if !self.running {
            return self.base_pos;
        }
        let advanced = self
            .base_pos
            .saturating_add(millis(at.saturating_duration_since(self.base_at)));
        self.next_point().map_or(advanced, |point| {
            advanced.min(point.at().max(self.base_pos))
        })
    }

    /// The first position ahead (or at) the anchor where playback changes.
    fn next_point(&self) -> Option<Point> {
        // A length the server did not know (-1) plays on, as a stream does.
        let length = u64::try_from(self.decoded.info.length).unwrap_or(STREAM_LENGTH);
        let end = match (
            self.decoded.info.is_stream || length >= STREAM_LENGTH,
            self.end_time,
        ) {
            (true, None) => None,
            (true, Some(end)) => Some(end),
            (false, end_time) => Some(end_time.map_or(length, |end| end.min(length))),
        };
        let mut points: Vec<Point> = end.map(Point::End).into_iter().collect();
        match self.behaviour {
            Behaviour::ExceptionAt(at, _) if at >= self.base_pos => points.push(Point::Throw(at)),
            Behaviour::StuckAt(at) if self.stall_armed && at >= self.base_pos => {
                points.push(Point::Stall(at));
            }
            _ => {}
        }
        // Earliest position first; at the same position, a throw or stall before the end.
        points
            .into_iter()
            .min_by_key(|point| (point.at(), matches!(point, Point::End(_))))
    }

    fn to_track(&self, position: u64) -> Track {
        let mut decoded = self.decoded.clone();
        decoded.info.position = position;
        let encoded = codec::encode_decoded(&decoded).unwrap_or_else(|_| self.encoded.clone());
        Track {
            encoded,
            info: decoded.info,
            plugin_info: Map::new(),
            user_data: self.user_data.clone(),
        }
    }
}

/// The end of a start-up of `delay` begun at `at` (none for no delay).
fn start_up_until(at: Instant, delay: Duration) -> Option<Instant> {
    (!delay.is_zero()).then(|| at + delay)
}

/// Whole milliseconds of a duration, saturating.
pub(crate) fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}
