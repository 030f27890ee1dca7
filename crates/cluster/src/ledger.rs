//! The player ledger: for each guild, where its player lives and everything needed to recreate it
//! elsewhere, with the position pinned to the monotonic instant it was observed.

use std::time::{Duration, Instant};

use lavalink::model::{
    Filters, GuildId, PlayerState, Track, UpdatePlayer, UpdatePlayerTrack, VoiceState,
};

/// A new player's volume on a node.
const DEFAULT_VOLUME: i64 = 100;

/// What the node a player is recreated on may already hold for its guild.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recreate {
    /// Nothing: only what differs from a new player's defaults is sent.
    Fresh,
    /// Possibly an old player (one this cluster left there): every field is sent.
    Overwrite,
}

/// Whether an update starts a track (rather than changing the one playing, or stopping it).
fn starts_a_track(update: &UpdatePlayer) -> bool {
    let in_track = update
        .track
        .as_ref()
        .and_then(Option::as_ref)
        .is_some_and(|t| matches!(t.encoded, Some(Some(_))) || t.identifier.is_some());
    in_track || matches!(update.encoded_track, Some(Some(_))) || update.identifier.is_some()
}

/// Whether two tracks are the same play: the same track (by source and identifier; the encoded
/// form changes as it plays) with the same user data (the bot numbers its plays there).
pub fn same_play(a: &Track, b: &Track) -> bool {
    a.info.identifier == b.info.identifier
        && a.info.source_name == b.info.source_name
        && a.user_data == b.user_data
}

/// `elapsed` of wall time at `rate`, in whole milliseconds.
fn scaled_ms(elapsed: Duration, rate: f64) -> u64 {
    let ms = elapsed.as_secs_f64() * 1000.0 * rate;
    if ms.is_finite() && ms > 0.0 {
        // Bounded by the elapsed time (rate <= RATE_BOUNDS.1): far below u64::MAX.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let ms = ms.round() as u64;
        ms
    } else {
        0
    }
}

/// A position observed at a monotonic instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Observed {
    /// Track position in milliseconds.
    pub position_ms: u64,
    /// When it was true.
    pub at: Instant,
}

/// What the cluster knows about one guild's player.
#[derive(Debug, Clone, PartialEq)]
pub struct PlayerRecord {
    /// The guild.
    pub guild: GuildId,
    /// The node it lives on; `None` while it waits for a node (pending).
    pub node: Option<String>,
    /// The complete voice state, as last sent.
    pub voice: Option<VoiceState>,
    /// The current track.
    pub track: Option<Track>,
    /// The position, as last observed.
    pub position: Observed,
    /// Whether it is paused.
    pub paused: bool,
    /// Volume, 0 to 1000.
    pub volume: u16,
    /// The filter set.
    pub filters: Filters,
    /// Where the track ends early, in milliseconds.
    pub end_time: Option<u64>,
    /// Whether the node's voice connection is up (from playerUpdates).
    pub connected: bool,
    /// The node's voice gateway round trip from its last playerUpdate, when connected.
    pub ping_ms: Option<u64>,
    /// How fast the node's position advances against its own clock, from its last two
    /// playerUpdates of the same play (1.0 until measured; a loaded server runs slow).
    pub rate: f64,
    /// The node's last playerUpdate of the current play with the instant its position was
    /// pinned to (cleared whenever the cluster changes the position or the play): the base of
    /// the next rate measurement and of the next update's time.
    pub last_update: Option<(PlayerState, Instant)>,
    /// Whether the node that plays it has reported the current play's `TrackStart` (a second
    /// one for the same play only repeats it: some servers start a player twice).
    pub started: bool,
}

/// The slowest and fastest playback rate a measurement may set: a bound on input from a server.
const RATE_BOUNDS: (f64, f64) = (0.5, 1.05);

/// Node time between two playerUpdates below which a rate is not measured (too little signal).
const MIN_RATE_SPAN_MS: u64 = 1_000;

impl PlayerRecord {
    /// A fresh record with nothing playing.
    pub fn new(guild: GuildId, now: Instant) -> Self {
        Self {
            guild,
            node: None,
            voice: None,
            track: None,
            position: Observed {
                position_ms: 0,
                at: now,
            },
            paused: false,
            volume: 100,
            filters: Filters::default(),
            end_time: None,
            connected: false,
            ping_ms: None,
            rate: 1.0,
            last_update: None,
            started: false,
        }
    }

    /// A player found on a session handed over by a predecessor process, as the node has it.
    pub fn adopted(player: &lavalink::model::Player, node: &str, now: Instant) -> Self {
        let mut record = Self::new(player.guild_id, now);
        record.node = Some(node.to_owned());
        record.voice = Some(player.voice.clone()).filter(VoiceState::is_complete);
        record.track.clone_from(&player.track);
        record.paused = player.paused;
        record.volume = player.volume;
        record.filters = player.filters.clone();
        record.observe(&player.state, now);
        record
    }

    /// Whether the position is moving: a track that its node has started (a TrackStart or a
    /// playerUpdate of it came: a real node needs time before a new or moved player plays), not
    /// paused, a voice connection.
    pub fn is_playing(&self) -> bool {
        self.track.is_some() && self.started && !self.paused && self.connected
    }

    /// The node reported the play's `TrackStart` at `at`: the position moves from now on (it
    /// stood at the start position while the node prepared the audio).
    pub fn start(&mut self, at: Instant) {
        if !self.started {
            let position = self.position_at(at, None);
            self.position = Observed {
                position_ms: position,
                at,
            };
            self.started = true;
        }
    }

    /// The position at `now`, extrapolated at the node's measured rate while playing, but never
    /// past `alive_until` (the last sign of life of the node that plays it: audio stops when the
    /// node does), nor past the track's end.
    pub fn position_at(&self, now: Instant, alive_until: Option<Instant>) -> u64 {
        let base = self.position.position_ms;
        if !self.is_playing() {
            return base;
        }
        let until = alive_until.map_or(now, |alive| alive.min(now));
        let elapsed = until.saturating_duration_since(self.position.at);
        let position = base.saturating_add(scaled_ms(elapsed, self.rate));
        let end = self.end_time.or_else(|| {
            self.track
                .as_ref()
                .filter(|t| !t.info.is_stream)
                .and_then(|t| t.info.known_length())
        });
        end.map_or(position, |end| position.min(end))
    }

    /// Takes a playerUpdate's state, received at `at`, and measures the node's playback rate
    /// against the previous one of the same play (both from the node, connected, not paused).
    ///
    /// The position is pinned to the instant it was true: the receive instant, unless the
    /// node's own clock says it was measured earlier than that (the previous update's instant
    /// plus the node time between the two). A message can only arrive late, never early, so
    /// this takes out what it spent on its way (a busy reader, a queue) without trusting the
    /// node's wall clock against ours.
    pub fn observe(&mut self, state: &PlayerState, at: Instant) {
        let at = match self.last_update {
            Some((previous, previous_at)) if state.time >= previous.time => {
                at.min(previous_at + Duration::from_millis(state.time - previous.time))
            }
            _ => at,
        };
        if let Some((previous, _)) = self.last_update
            && previous.connected
            && state.connected
            && !self.paused
            && self.track.is_some()
        {
            let span = state.time.saturating_sub(previous.time);
            if span >= MIN_RATE_SPAN_MS && state.position >= previous.position {
                #[allow(clippy::cast_precision_loss)] // spans and positions are far below 2^52
                let measured = (state.position - previous.position) as f64 / span as f64;
                if measured.is_finite() {
                    self.rate = measured.clamp(RATE_BOUNDS.0, RATE_BOUNDS.1);
                }
            }
        }
        self.last_update = Some((*state, at));
        self.position = Observed {
            position_ms: state.position,
            at,
        };
        // A node that reports a connected player's position is playing it (also one adopted
        // from another process, whose TrackStart this one never saw).
        self.started |= state.connected && self.track.is_some();
        self.connected = state.connected;
        self.ping_ms = u64::try_from(state.ping).ok().filter(|_| state.connected);
    }

    /// Forgets what the node said about the rate: the player moved, or the cluster changed its
    /// position or play (the next two playerUpdates measure again).
    pub fn reset_rate(&mut self) {
        self.rate = 1.0;
        self.last_update = None;
    }

    /// Applies an update this cluster sent (and the node accepted) at `now`.
    pub fn apply(&mut self, update: &UpdatePlayer, track: Option<Track>, now: Instant) {
        // Pin the position before anything changes whether it moves.
        let current = self.position_at(now, None);
        self.position = Observed {
            position_ms: current,
            at: now,
        };
        if let Some(Some(UpdatePlayerTrack {
            encoded: Some(None),
            ..
        })) = &update.track
        {
            self.track = None;
            self.end_time = None;
        } else if let Some(track) = track {
            // A new play stands at its start until its node starts it. Its TrackStart (and
            // first playerUpdate) may have come before the node's answer: then it is started
            // already and what the node said stays.
            let already_started = self.started
                && self
                    .track
                    .as_ref()
                    .is_some_and(|current| same_play(current, &track));
            if starts_a_track(update) && !already_started {
                self.started = false;
                self.last_update = None;
                self.position.position_ms = update.position.unwrap_or(0);
            }
            // Otherwise it is the node's view of the same play: the position stays.
            self.track = Some(track);
        }
        if matches!(update.encoded_track, Some(None)) {
            self.track = None;
        }
        if let Some(position) = update.position {
            self.position.position_ms = position;
        }
        if update.position.is_some() || update.paused.is_some() {
            // The next rate measurement starts from the node's next playerUpdate.
            self.last_update = None;
        }
        if let Some(paused) = update.paused {
            self.paused = paused;
        }
        if let Some(volume) = update.volume {
            self.volume = u16::try_from(volume.clamp(0, 1000)).unwrap_or(1000);
        }
        if let Some(filters) = &update.filters {
            self.filters = filters.clone();
        }
        if let Some(end_time) = update.end_time {
            self.end_time = end_time;
        }
        if let Some(voice) = &update.voice {
            self.voice = Some(voice.clone());
        }
    }

    /// The one update that recreates this player on another node at `position_ms`.
    ///
    /// On a node that has no player for the guild ([`Recreate::Fresh`]) it carries only what
    /// differs from a new player's defaults: some servers send any `position` or `filters`
    /// through a seek path that decodes the whole track and starts the player twice, so a start
    /// at 0 carries no position and default filters are left out. On a node that may still hold
    /// an old player of the guild ([`Recreate::Overwrite`]) every field is explicit.
    pub fn recreate(&self, position_ms: u64, mode: Recreate) -> UpdatePlayer {
        let full = mode == Recreate::Overwrite;
        UpdatePlayer {
            // The user data goes along: the bot tells its plays apart by it (events about an
            // earlier play of the same track must not move the queue).
            track: self.track.as_ref().map(|t| {
                Some(UpdatePlayerTrack {
                    user_data: (!t.user_data.is_empty()).then(|| t.user_data.clone()),
                    ..UpdatePlayerTrack::encoded(t.encoded.clone())
                })
            }),
            position: self
                .track
                .as_ref()
                .map(|_| position_ms)
                .filter(|p| full || *p > 0),
            end_time: self.end_time.map(Some),
            volume: Some(i64::from(self.volume)).filter(|v| full || *v != DEFAULT_VOLUME),
            paused: Some(self.paused).filter(|p| full || *p),
            filters: Some(self.filters.clone()).filter(|f| full || *f != Filters::default()),
            voice: self.voice.clone(),
            ..UpdatePlayer::default()
        }
    }

    /// How long ago the position was observed.
    pub fn age(&self, now: Instant) -> Duration {
        now.saturating_duration_since(self.position.at)
    }
}

#[cfg(test)]
#[allow(
    clippy::disallowed_methods,
    reason = "an arbitrary origin: the functions under test take the time as an argument"
)]
mod tests {
    use lavalink::model::TrackInfo;

    use super::*;

    fn track(length: i64) -> Track {
        Track {
            encoded: "enc".into(),
            info: TrackInfo {
                identifier: "id".into(),
                is_seekable: true,
                author: "a".into(),
                length,
                is_stream: false,
                position: 0,
                title: "t".into(),
                uri: None,
                artwork_url: None,
                isrc: None,
                source_name: "sim".into(),
            },
            plugin_info: serde_json::Map::new(),
            user_data: serde_json::Map::new(),
        }
    }

    fn playing(now: Instant) -> PlayerRecord {
        let mut record = PlayerRecord::new(GuildId(1), now);
        record.track = Some(track(60_000));
        record.connected = true;
        record.started = true;
        record.position = Observed {
            position_ms: 1_000,
            at: now,
        };
        record
    }

    #[test]
    fn position_extrapolates_while_playing_and_stops_at_the_last_sign_of_life() {
        let t0 = Instant::now();
        let record = playing(t0);
        assert_eq!(
            record.position_at(t0 + Duration::from_millis(2500), None),
            3_500
        );
        let alive_until = t0 + Duration::from_millis(500);
        assert_eq!(
            record.position_at(t0 + Duration::from_secs(30), Some(alive_until)),
            1_500,
            "a hung node stopped playing at its last sign of life"
        );
        assert_eq!(
            record.position_at(t0 + Duration::from_secs(3600), None),
            60_000,
            "never past the end"
        );
    }

    #[test]
    fn position_stands_still_when_paused_or_disconnected() {
        let t0 = Instant::now();
        let mut record = playing(t0);
        record.paused = true;
        assert_eq!(record.position_at(t0 + Duration::from_secs(5), None), 1_000);
        record.paused = false;
        record.connected = false;
        assert_eq!(record.position_at(t0 + Duration::from_secs(5), None), 1_000);
    }

    #[test]
    fn applying_a_pause_pins_the_position_first() {
        let t0 = Instant::now();
        let mut record = playing(t0);
        let pause = UpdatePlayer {
            paused: Some(true),
            ..UpdatePlayer::default()
        };
        record.apply(&pause, None, t0 + Duration::from_secs(2));
        assert!(record.paused);
        assert_eq!(
            record.position_at(t0 + Duration::from_secs(100), None),
            3_000
        );
    }

    #[test]
    fn recreate_carries_everything_in_one_update() {
        let t0 = Instant::now();
        let mut record = playing(t0);
        record.volume = 80;
        record.paused = true;
        record.end_time = Some(50_000);
        record.voice = Some(VoiceState {
            token: "t".into(),
            endpoint: "e".into(),
            session_id: "s".into(),
            channel_id: Some("c".into()),
        });
        if let Some(track) = record.track.as_mut() {
            track
                .user_data
                .insert("dimbyPlay".into(), serde_json::json!(7));
        }
        let update = record.recreate(1_234, Recreate::Overwrite);
        let track = update.track.clone().flatten().expect("a track");
        assert_eq!(track.encoded.flatten().as_deref(), Some("enc"));
        assert_eq!(
            track.user_data.and_then(|d| d.get("dimbyPlay").cloned()),
            Some(serde_json::json!(7)),
            "the user data that tells plays apart goes along"
        );
        assert_eq!(update.position, Some(1_234));
        assert_eq!(update.paused, Some(true));
        assert_eq!(update.volume, Some(80));
        assert_eq!(update.end_time, Some(Some(50_000)));
        assert!(update.filters.is_some());
        assert!(update.voice.is_some_and(|v| v.is_complete()));
    }

    #[test]
    fn a_fresh_player_is_sent_only_what_differs_from_the_defaults() {
        let t0 = Instant::now();
        let mut record = playing(t0);
        record.voice = Some(VoiceState {
            token: "t".into(),
            endpoint: "e".into(),
            session_id: "s".into(),
            channel_id: Some("c".into()),
        });
        // A new player at 0: track and voice only (no position, filters, volume or pause that
        // some servers would take for a seek).
        let update = record.recreate(0, Recreate::Fresh);
        assert!(update.track.is_some());
        assert!(update.voice.is_some());
        assert_eq!(update.position, None);
        assert_eq!(update.filters, None);
        assert_eq!(update.volume, None);
        assert_eq!(update.paused, None);
        assert_eq!(update.end_time, None);
        let body = serde_json::to_value(&update).expect("serializes");
        let mut keys: Vec<&str> = body
            .as_object()
            .expect("an object")
            .keys()
            .map(String::as_str)
            .collect();
        keys.sort_unstable();
        assert_eq!(keys, ["track", "voice"]);

        // A move carries the position, and what the player changed.
        record.volume = 40;
        record.paused = true;
        record.filters.volume = Some(0.5);
        let update = record.recreate(61_000, Recreate::Fresh);
        assert_eq!(update.position, Some(61_000));
        assert_eq!(update.volume, Some(40));
        assert_eq!(update.paused, Some(true));
        assert_eq!(update.filters.and_then(|f| f.volume), Some(0.5));
    }

    fn update_at(time: u64, position: u64) -> PlayerState {
        PlayerState {
            time,
            position,
            connected: true,
            ping: 10,
        }
    }

    #[test]
    fn a_node_that_plays_slow_is_extrapolated_at_its_own_rate() {
        let t0 = Instant::now();
        let mut record = playing(t0);
        // The node's position advanced 3 s in 5 s of its own time: it plays at 0.6.
        record.observe(&update_at(1_000_000, 10_000), t0);
        record.observe(
            &update_at(1_005_000, 13_000),
            t0 + Duration::from_millis(5_000),
        );
        assert!((record.rate - 0.6).abs() < 1e-9, "{}", record.rate);
        assert_eq!(
            record.position_at(t0 + Duration::from_millis(7_000), None),
            14_200,
            "2 s after the last update at 0.6"
        );
        // A rate is input from a server: bounded.
        record.observe(
            &update_at(1_010_000, 13_000),
            t0 + Duration::from_millis(10_000),
        );
        assert!((record.rate - 0.5).abs() < 1e-9);
        record.observe(
            &update_at(1_015_000, 63_000),
            t0 + Duration::from_millis(15_000),
        );
        assert!((record.rate - 1.05).abs() < 1e-9);
        // A move starts the measurement again at the nominal rate.
        record.reset_rate();
        assert!((record.rate - 1.0).abs() < 1e-9);
        assert_eq!(record.last_update, None);
    }

    #[test]
    fn an_update_that_arrives_late_is_pinned_to_when_the_node_measured_it() {
        let t0 = Instant::now();
        let mut record = playing(t0);
        record.observe(&update_at(1_000_000, 10_000), t0);
        // Measured 5 s later by the node's clock, read 2 s after that (a busy reader).
        record.observe(&update_at(1_005_000, 15_000), t0 + Duration::from_secs(7));
        assert_eq!(record.position.at, t0 + Duration::from_secs(5));
        assert_eq!(
            record.position_at(t0 + Duration::from_secs(7), None),
            17_000
        );
        // One read early by our clock (the node's clock ran ahead) keeps the receive instant.
        record.observe(&update_at(1_020_000, 30_000), t0 + Duration::from_secs(12));
        assert_eq!(record.position.at, t0 + Duration::from_secs(12));
    }

    #[test]
    fn no_rate_is_measured_across_a_seek_or_too_short_a_span() {
        let t0 = Instant::now();
        let mut record = playing(t0);
        record.observe(&update_at(1_000_000, 10_000), t0);
        record.observe(&update_at(1_000_500, 10_100), t0);
        assert!(
            (record.rate - 1.0).abs() < 1e-9,
            "half a second is too short"
        );
        let seek = UpdatePlayer {
            position: Some(90_000),
            ..UpdatePlayer::default()
        };
        record.apply(&seek, None, t0 + Duration::from_secs(1));
        record.observe(&update_at(1_005_000, 93_000), t0 + Duration::from_secs(5));
        assert!(
            (record.rate - 1.0).abs() < 1e-9,
            "the seek is no playback: {}",
            record.rate
        );
    }

    #[test]
    fn the_same_play_is_told_by_track_and_user_data() {
        let a = track(60_000);
        let mut later = a.clone();
        later.encoded = "re-encoded with a later position".into();
        assert!(same_play(&a, &later));
        let mut next_play = a.clone();
        next_play
            .user_data
            .insert("dimbyPlay".into(), serde_json::json!(8));
        assert!(!same_play(&a, &next_play));
        let mut other = a.clone();
        other.info.identifier = "other".into();
        assert!(!same_play(&a, &other));
    }

    #[test]
    fn a_play_stands_at_its_start_until_the_node_starts_it() {
        let t0 = Instant::now();
        let mut record = playing(t0);
        record.started = false;
        record.position.position_ms = 41_000;
        // NodeLink needs about a second to start a moved player at a position.
        assert_eq!(
            record.position_at(t0 + Duration::from_secs(1), None),
            41_000
        );
        record.start(t0 + Duration::from_secs(1));
        assert_eq!(
            record.position_at(t0 + Duration::from_millis(3_500), None),
            43_500
        );
        // A repeated TrackStart changes nothing.
        record.start(t0 + Duration::from_secs(3));
        assert_eq!(
            record.position_at(t0 + Duration::from_millis(3_500), None),
            43_500
        );
    }
}
