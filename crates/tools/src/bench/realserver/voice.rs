//! What the fake Discord voice server of `../shared/realserver` heard: its status file, read with
//! the definitions of `voice_gaps.py` beside it.
//!
//! One session is one voice websocket of one node for one guild, with the unix times of its first
//! and last audio (RTP) packet. A guild is *affected* when the session that was sending at the
//! fault stopped within 2 s after it; its *gap* is the first packet of a later session minus the
//! last packet of the old one (the silence a listener hears). A guild *overlaps* when two sessions
//! sent audio at the same time for more than 1 s after the fault (two nodes playing it: a ghost).
//! One difference: `voice_gaps.py` counts a guild once per overlapping session after the first
//! when three or more overlap; here a guild counts once.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Context as _;

use crate::bench::Percentiles;

/// Audio sent before the fault by this little is still "sending at the fault".
const LIVE_WINDOW_S: f64 = 2.0;
/// Two sessions sending at once for longer than this is an overlap.
const OVERLAP_S: f64 = 1.0;
/// Milliseconds of audio in one RTP packet (Opus frames of 20 ms).
const MS_PER_PACKET: u64 = 20;

/// The status file (`voice_status.json`), what of it is read.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct Status {
    /// When the file was written (unix seconds).
    pub t: f64,
    /// One entry per voice websocket.
    pub sessions: Vec<Session>,
}

/// One voice websocket.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct Session {
    /// The guild (the `server_id` the node identified with).
    pub guild: Option<String>,
    /// When the websocket opened (unix seconds).
    pub opened: f64,
    /// The first audio packet.
    pub first_rtp: Option<f64>,
    /// The last audio packet.
    pub last_rtp: Option<f64>,
    /// Audio packets counted.
    #[serde(default)]
    pub rtp_packets: u64,
}

impl Session {
    fn rtp(&self) -> Option<(f64, f64)> {
        Some((self.first_rtp?, self.last_rtp?))
    }
}

impl Status {
    /// Reads a status file.
    pub fn read(path: &Path) -> anyhow::Result<Self> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))
    }

    fn by_guild(&self) -> BTreeMap<&str, Vec<&Session>> {
        let mut by_guild: BTreeMap<&str, Vec<&Session>> = BTreeMap::new();
        for session in &self.sessions {
            if let Some(guild) = session.guild.as_deref() {
                by_guild.entry(guild).or_default().push(session);
            }
        }
        for sessions in by_guild.values_mut() {
            sessions.sort_by(|a, b| a.opened.total_cmp(&b.opened));
        }
        by_guild
    }
}

/// The audio-side figures of a run.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Analysis {
    /// Guilds heard at all.
    pub guilds: usize,
    /// Guilds whose audio stopped at the fault.
    pub affected: usize,
    /// Affected guilds heard again later.
    pub resumed: usize,
    /// Silence per resumed guild (ms).
    pub gap_ms: Percentiles,
    /// Guilds played by two sessions at once after the fault.
    pub overlap_guilds: usize,
    /// Guilds with audio in the file's last 2 s.
    pub audio_at_end: usize,
}

/// The session that was sending a guild's audio at the fault, if it stopped within 2 s of it.
fn stopped_session<'a>(sessions: &[&'a Session], fault_t: f64) -> Option<&'a Session> {
    let old = sessions
        .iter()
        .copied()
        .filter(|s| {
            s.rtp()
                .is_some_and(|(first, last)| first < fault_t && last >= fault_t - LIVE_WINDOW_S)
        })
        .max_by(|a, b| {
            let (a, b) = (a.last_rtp.unwrap_or(0.0), b.last_rtp.unwrap_or(0.0));
            a.total_cmp(&b)
        })?;
    (old.last_rtp? < fault_t + LIVE_WINDOW_S).then_some(old)
}

/// Reads the run.
pub fn analyse(status: &Status, fault_t: f64) -> Analysis {
    let by_guild = status.by_guild();
    let mut gaps = Vec::new();
    let (mut affected, mut resumed, mut overlap) = (0, 0, 0);
    for sessions in by_guild.values() {
        if let Some(old) = stopped_session(sessions, fault_t) {
            affected += 1;
            let old_last = old.last_rtp.unwrap_or(0.0);
            let next = sessions
                .iter()
                .filter(|s| !std::ptr::eq(**s, old))
                .filter_map(|s| s.first_rtp)
                .filter(|first| *first > old_last)
                .min_by(f64::total_cmp);
            if let Some(next) = next {
                resumed += 1;
                gaps.push((next - old_last) * 1000.0);
            }
        }
        let after: Vec<(f64, f64)> = sessions
            .iter()
            .filter_map(|s| s.rtp())
            .filter(|(_, last)| *last > fault_t)
            .collect();
        let overlaps = after.iter().enumerate().any(|(i, a)| {
            after[i + 1..]
                .iter()
                .any(|b| a.1.min(b.1) - a.0.max(b.0).max(fault_t) > OVERLAP_S)
        });
        if overlaps {
            overlap += 1;
        }
    }
    let audio_at_end = by_guild
        .values()
        .filter(|ss| {
            ss.iter()
                .any(|s| s.last_rtp.is_some_and(|l| l > status.t - LIVE_WINDOW_S))
        })
        .count();
    Analysis {
        guilds: by_guild.len(),
        affected,
        resumed,
        gap_ms: Percentiles::of(gaps),
        overlap_guilds: overlap,
        audio_at_end,
    }
}

/// Where in the track a guild's audio stopped at the fault (ms), when the session that stopped
/// was the guild's first (the player started at 0 there): its packets times 20 ms.
pub fn audio_position_at_fault(status: &Status, guild: &str, fault_t: f64) -> Option<u64> {
    let by_guild = status.by_guild();
    let sessions = by_guild.get(guild)?;
    let old = stopped_session(sessions, fault_t)?;
    let first = sessions.iter().find(|s| s.first_rtp.is_some())?;
    std::ptr::eq(*first, old).then(|| old.rtp_packets * MS_PER_PACKET)
}

/// Guilds with audio from two sessions in the file's last 2 s (two nodes playing them now).
pub fn overlap_at_end(status: &Status) -> usize {
    status
        .by_guild()
        .values()
        .filter(|ss| {
            ss.iter()
                .filter(|s| s.last_rtp.is_some_and(|l| l > status.t - LIVE_WINDOW_S))
                .count()
                > 1
        })
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(guild: &str, opened: f64, rtp: Option<(f64, f64)>, packets: u64) -> Session {
        Session {
            guild: Some(guild.into()),
            opened,
            first_rtp: rtp.map(|r| r.0),
            last_rtp: rtp.map(|r| r.1),
            rtp_packets: packets,
        }
    }

    #[test]
    fn gaps_ghosts_and_positions_as_voice_gaps_py_defines_them() {
        let fault = 1000.0;
        let status = Status {
            t: 1030.0,
            sessions: vec![
                // Moved with 1.5 s of silence; its old node sent 50 s of audio.
                session("a", 940.0, Some((950.0, 1000.2)), 2_510),
                session("a", 1000.5, Some((1001.7, 1029.9)), 1_410),
                // Not on the failed node: plays through.
                session("b", 940.0, Some((950.0, 1029.95)), 4_000),
                // Moved, but its old node never stopped (a ghost: two nodes at once).
                session("c", 940.0, Some((950.0, 1000.1)), 2_505),
                session("c", 1000.4, Some((1001.0, 1029.9)), 1_445),
                session("c", 1000.4, Some((1001.2, 1029.8)), 1_430),
                // Never heard again.
                session("d", 940.0, Some((950.0, 999.5)), 2_475),
            ],
        };
        let analysis = analyse(&status, fault);
        assert_eq!(analysis.guilds, 4);
        assert_eq!(analysis.affected, 3);
        assert_eq!(analysis.resumed, 2);
        assert_eq!(analysis.gap_ms.count, 2);
        assert!((analysis.gap_ms.max - 1500.0).abs() < 1e-6, "{analysis:?}");
        assert!((analysis.gap_ms.p50 - 900.0).abs() < 1e-6, "{analysis:?}");
        assert_eq!(analysis.overlap_guilds, 1);
        assert_eq!(analysis.audio_at_end, 3);
        assert_eq!(audio_position_at_fault(&status, "a", fault), Some(50_200));
        assert_eq!(audio_position_at_fault(&status, "b", fault), None);
        assert_eq!(overlap_at_end(&status), 1);
    }
}
