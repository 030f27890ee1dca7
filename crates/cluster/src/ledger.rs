//! The player ledger: for each guild, where its player lives and everything needed to recreate it
//! elsewhere, with the position pinned to the monotonic instant it was observed.

use std::time::{Duration, Instant};

use lavalink::model::{
    Filters, GuildId, PlayerState, Track, UpdatePlayer, UpdatePlayerTrack, VoiceState,
};

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
}

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
        }
    }

    /// Whether the position is moving: a track, not paused, a voice connection.
    pub fn is_playing(&self) -> bool {
        self.track.is_some() && !self.paused && self.connected
    }

    /// The position at `now`, extrapolated while playing, but never past `alive_until` (the last
    /// sign of life of the node that plays it: audio stops when the node does), nor past the
    /// track's end.
    pub fn position_at(&self, now: Instant, alive_until: Option<Instant>) -> u64 {
        let base = self.position.position_ms;
        if !self.is_playing() {
            return base;
        }
        let until = alive_until.map_or(now, |alive| alive.min(now));
        let elapsed = until.saturating_duration_since(self.position.at);
        let position = base.saturating_add(u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX));
        let end = self.end_time.or_else(|| {
            self.track
                .as_ref()
                .filter(|t| !t.info.is_stream)
                .map(|t| t.info.length)
        });
        end.map_or(position, |end| position.min(end))
    }

    /// Takes a playerUpdate's state, received at `at`.
    pub fn observe(&mut self, state: &PlayerState, at: Instant) {
        self.position = Observed {
            position_ms: state.position,
            at,
        };
        self.connected = state.connected;
        self.ping_ms = u64::try_from(state.ping).ok().filter(|_| state.connected);
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
            self.track = Some(track);
            self.position.position_ms = update.position.unwrap_or(0);
        }
        if matches!(update.encoded_track, Some(None)) {
            self.track = None;
        }
        if let Some(position) = update.position {
            self.position.position_ms = position;
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

    /// The one complete update that recreates this player on another node at `position_ms`.
    pub fn recreate(&self, position_ms: u64) -> UpdatePlayer {
        UpdatePlayer {
            // The user data goes along: the bot tells its plays apart by it (events about an
            // earlier play of the same track must not move the queue).
            track: self.track.as_ref().map(|t| {
                Some(UpdatePlayerTrack {
                    user_data: (!t.user_data.is_empty()).then(|| t.user_data.clone()),
                    ..UpdatePlayerTrack::encoded(t.encoded.clone())
                })
            }),
            position: self.track.as_ref().map(|_| position_ms),
            end_time: self.end_time.map(Some),
            volume: Some(i64::from(self.volume)),
            paused: Some(self.paused),
            filters: Some(self.filters.clone()),
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
mod tests {
    use lavalink::model::TrackInfo;

    use super::*;

    fn track(length: u64) -> Track {
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
        let update = record.recreate(1_234);
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
}
