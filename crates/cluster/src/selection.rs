//! Choosing a node for a player: pure functions over a snapshot of the eligible nodes.
//!
//! Order of decisions: the lowest priority tier that has an eligible node; within it, nodes of the
//! player's region if any is eligible; then the lowest score of the configured policy, divided by
//! the node's effective weight (which slow start lowers for a just-recovered node). Eligibility
//! (ready, not draining, circuit closed) is decided by the caller: only eligible nodes are passed.

use std::time::Duration;

use lavalink::model::Stats;

use crate::config::{RegionRule, SelectionPolicy};

/// What selection knows about one eligible node.
#[derive(Debug, Clone, Copy)]
pub struct Candidate<'a> {
    /// The node's name.
    pub name: &'a str,
    /// Its region.
    pub region: Option<&'a str>,
    /// Its priority tier (lower first).
    pub priority: u8,
    /// Its effective weight (configured weight times the slow-start ramp).
    pub weight: f64,
    /// Its last stats.
    pub stats: Option<&'a Stats>,
    /// Whether its `cpu.systemLoad` is a load average (some servers, NodeLink among them, send
    /// `os.loadavg()[0]` where Lavalink sends a 0..1 fraction).
    pub load_is_average: bool,
    /// Players this cluster placed on it since those stats, and moves headed there that have
    /// not been answered yet.
    pub placed_since_stats: u64,
    /// The last probe round trip.
    pub rtt: Option<Duration>,
    /// How long a move sent there now can expect to wait for its answer (the node's typical
    /// answer time and the moves already headed there).
    pub move_wait: Duration,
}

/// Frames a healthy player sends a minute (one per 20 ms).
const FRAMES_PER_MINUTE: f64 = 3000.0;

/// The classic Lavalink load penalty (lower is better): playing players, CPU, nulled and missing
/// frames, plus a latency term so that a slow node is penalised rather than declared dead.
pub fn penalty(candidate: &Candidate<'_>) -> f64 {
    let placed = to_f64(candidate.placed_since_stats);
    let Some(stats) = candidate.stats else {
        // No stats yet: only what we placed there counts, plus latency.
        return placed + latency_penalty(candidate.rtt) + wait_penalty(candidate.move_wait);
    };
    let playing = to_f64(stats.playing_players) + placed;
    let load = cpu_load(&stats.cpu, candidate.load_is_average);
    let cpu = 1.05f64.powf(100.0 * load) * 10.0 - 10.0;
    let (nulled, deficit) = stats.frame_stats.map_or((0.0, 0.0), |frames| {
        let nulled = (1.03f64.powf(500.0 * frame_share(frames.nulled)) * 300.0 - 300.0) * 2.0;
        let deficit = 1.03f64.powf(500.0 * frame_share(frames.deficit)) * 600.0 - 600.0;
        (nulled, deficit)
    });
    playing
        + cpu.round()
        + nulled
        + deficit
        + latency_penalty(candidate.rtt)
        + wait_penalty(candidate.move_wait)
}

/// One point per 10 ms a move would wait there, as for probe latency: a node that answers
/// player updates one at a time gets fewer of a burst's moves.
fn wait_penalty(wait: Duration) -> f64 {
    wait.as_secs_f64() * 100.0
}

/// A node's CPU load as the 0..1 fraction the penalty is made for. Stats are input from a
/// server: a load average is divided by the cores it reports, and anything else out of range
/// (negative, not a number, above one) is bounded, so that one node's odd figure can never blind
/// the choice (1.05^(100 * 8) is 1e17: the players placed would no longer count).
pub fn cpu_load(cpu: &lavalink::model::Cpu, is_load_average: bool) -> f64 {
    let load = cpu.system_load;
    let fraction = if is_load_average || load > 1.0 {
        load / f64::from(cpu.cores.max(1))
    } else {
        load
    };
    if fraction.is_finite() {
        fraction.clamp(0.0, 1.0)
    } else {
        0.0
    }
}

/// Whether a reported system load can only be a load average (a fraction never exceeds one).
pub fn is_load_average(cpu: &lavalink::model::Cpu) -> bool {
    cpu.system_load.is_finite() && cpu.system_load > 1.0
}

/// The share of a minute's frames a count stands for, bounded to 0..1.
fn frame_share(frames: i64) -> f64 {
    (to_f64_signed(frames) / FRAMES_PER_MINUTE).clamp(0.0, 1.0)
}

/// One point per 10 ms of probe round trip above 20 ms.
fn latency_penalty(rtt: Option<Duration>) -> f64 {
    rtt.map_or(0.0, |rtt| {
        (rtt.as_secs_f64() * 1000.0 - 20.0).max(0.0) / 10.0
    })
}

fn to_f64(n: u64) -> f64 {
    // Player counts are far below 2^52: exact.
    #[allow(clippy::cast_precision_loss)]
    let n = n as f64;
    n
}

fn to_f64_signed(n: i64) -> f64 {
    #[allow(clippy::cast_precision_loss)]
    let n = n as f64;
    n
}

/// The score of a candidate under `policy` before weighting (lower is better).
pub fn score(candidate: &Candidate<'_>, policy: SelectionPolicy) -> f64 {
    match policy {
        SelectionPolicy::Penalty => penalty(candidate),
        SelectionPolicy::LeastPlayers => {
            to_f64(candidate.stats.map_or(0, |s| s.players)) + to_f64(candidate.placed_since_stats)
        }
        SelectionPolicy::LeastLatency => candidate
            .rtt
            .map_or(f64::MAX / 4.0, |rtt| rtt.as_secs_f64() * 1000.0),
    }
}

/// The region a voice endpoint belongs to, by the first matching prefix of its host.
pub fn region_of<'a>(endpoint: &str, rules: &'a [RegionRule]) -> Option<&'a str> {
    let host = endpoint.split(':').next().unwrap_or(endpoint);
    rules
        .iter()
        .find(|rule| host.starts_with(&rule.prefix))
        .map(|rule| rule.region.as_str())
}

/// Why a node was chosen, for the selection event and logs.
#[derive(Debug, Clone, PartialEq)]
pub struct Choice {
    /// The chosen node.
    pub node: String,
    /// Its weighted score.
    pub score: f64,
    /// The priority tier it came from.
    pub priority: u8,
    /// Whether region affinity narrowed the choice.
    pub region_matched: bool,
    /// How many eligible nodes there were.
    pub candidates: usize,
}

/// Chooses among eligible nodes, or `None` when there is none.
pub fn choose(
    candidates: &[Candidate<'_>],
    policy: SelectionPolicy,
    region: Option<&str>,
) -> Option<Choice> {
    let tier = candidates.iter().map(|c| c.priority).min()?;
    let in_tier: Vec<&Candidate<'_>> = candidates.iter().filter(|c| c.priority == tier).collect();
    let in_region: Vec<&Candidate<'_>> = region.map_or_else(Vec::new, |region| {
        in_tier
            .iter()
            .copied()
            .filter(|c| c.region == Some(region))
            .collect()
    });
    let region_matched = !in_region.is_empty();
    let pool = if region_matched { in_region } else { in_tier };
    pool.into_iter()
        .map(|c| (c, score(c, policy) / c.weight.max(f64::MIN_POSITIVE)))
        .min_by(|(a, sa), (b, sb)| sa.total_cmp(sb).then_with(|| a.name.cmp(b.name)))
        .map(|(c, score)| Choice {
            node: c.name.to_owned(),
            score,
            priority: tier,
            region_matched,
            candidates: candidates.len(),
        })
}

#[cfg(test)]
mod tests {
    use lavalink::model::{Cpu, FrameStats, Memory};

    use super::*;

    fn stats(playing: u64, load: f64, frames: Option<(i64, i64)>) -> Stats {
        Stats {
            players: playing,
            playing_players: playing,
            uptime: 1,
            memory: Memory {
                free: 0,
                used: 0,
                allocated: 0,
                reservable: 0,
            },
            cpu: Cpu {
                cores: 4,
                system_load: load,
                lavalink_load: load / 2.0,
            },
            frame_stats: frames.map(|(nulled, deficit)| FrameStats {
                sent: 3000 - nulled - deficit,
                nulled,
                deficit,
            }),
        }
    }

    fn candidate<'a>(name: &'a str, stats: Option<&'a Stats>) -> Candidate<'a> {
        Candidate {
            name,
            region: None,
            priority: 0,
            weight: 1.0,
            stats,
            load_is_average: false,
            placed_since_stats: 0,
            rtt: None,
            move_wait: Duration::ZERO,
        }
    }

    #[test]
    fn penalty_follows_the_classic_formula() {
        let idle = stats(0, 0.0, None);
        assert!(penalty(&candidate("a", Some(&idle))).abs() < 1e-9);
        let busy = stats(10, 0.5, None);
        // 10 playing + round(1.05^50 * 10 - 10) = 10 + round(104.67) = 115
        assert!((penalty(&candidate("a", Some(&busy))) - 115.0).abs() < 1e-9);
        let starving = stats(1, 0.0, Some((0, 300)));
        // deficit 300 of 3000: 1.03^50 * 600 - 600
        let expected = 1.0 + 1.03f64.powf(50.0) * 600.0 - 600.0;
        assert!((penalty(&candidate("a", Some(&starving))) - expected).abs() < 1e-6);
    }

    #[test]
    fn a_load_average_is_read_as_a_share_of_the_cores() {
        // NodeLink's systemLoad is os.loadavg()[0]: 8 on a node with 4 cores is fully loaded,
        // 2 is half.
        let mut full = stats(10, 8.0, None);
        full.cpu.cores = 4;
        let mut half = stats(10, 2.0, None);
        half.cpu.cores = 4;
        assert!((cpu_load(&full.cpu, false) - 1.0).abs() < 1e-9);
        assert!((cpu_load(&half.cpu, false) - 0.5).abs() < 1e-9);
        // Once a node is known to send load averages, a quiet 0.8 is 0.2 of its 4 cores.
        let mut quiet = stats(10, 0.8, None);
        quiet.cpu.cores = 4;
        assert!((cpu_load(&quiet.cpu, true) - 0.2).abs() < 1e-9);
        assert!((cpu_load(&quiet.cpu, false) - 0.8).abs() < 1e-9);
        for odd in [f64::NAN, f64::INFINITY, -3.0] {
            let mut s = stats(1, 0.0, None);
            s.cpu.system_load = odd;
            let load = cpu_load(&s.cpu, false);
            assert!((0.0..=1.0).contains(&load), "{odd} -> {load}");
        }
    }

    #[test]
    fn placed_players_still_count_on_nodes_that_report_load_averages() {
        // Three nodes on one machine report the same load average of 8 (2 cores): the penalty
        // stays finite and every player placed changes the choice, so a burst spreads.
        let mut loaded = stats(10, 8.0, None);
        loaded.cpu.cores = 2;
        let mut counts = std::collections::HashMap::new();
        let mut placed = [0_u64; 3];
        for _ in 0..30 {
            let candidates: Vec<Candidate<'_>> = ["a", "b", "c"]
                .iter()
                .zip(placed)
                .map(|(name, placed)| Candidate {
                    placed_since_stats: placed,
                    ..candidate(name, Some(&loaded))
                })
                .collect();
            let picked = choose(&candidates, SelectionPolicy::Penalty, None).expect("a node");
            assert!(picked.score.is_finite());
            let index = ["a", "b", "c"]
                .iter()
                .position(|n| *n == picked.node)
                .expect("known");
            placed[index] += 1;
            *counts.entry(picked.node).or_insert(0) += 1;
        }
        assert_eq!(placed, [10, 10, 10], "{counts:?}");
    }

    #[test]
    fn frame_counts_out_of_range_are_bounded() {
        let wild = stats(1, 0.0, Some((1 << 40, 1 << 40)));
        let bounded = stats(1, 0.0, Some((3000, 3000)));
        let p = penalty(&candidate("a", Some(&wild)));
        assert!(p.is_finite());
        assert!((p - penalty(&candidate("a", Some(&bounded)))).abs() < 1e-6);
    }

    #[test]
    fn players_placed_since_the_last_stats_count() {
        let s = stats(5, 0.0, None);
        let mut c = candidate("a", Some(&s));
        let before = penalty(&c);
        c.placed_since_stats = 3;
        assert!((penalty(&c) - before - 3.0).abs() < 1e-9);
    }

    #[test]
    fn the_lowest_weighted_penalty_wins_and_ties_break_by_name() {
        let light = stats(2, 0.0, None);
        let heavy = stats(20, 0.0, None);
        let picked = choose(
            &[candidate("b", Some(&heavy)), candidate("a", Some(&light))],
            SelectionPolicy::Penalty,
            None,
        )
        .expect("a node");
        assert_eq!(picked.node, "a");

        let mut big = candidate("big", Some(&heavy));
        big.weight = 20.0; // 20 players / 20 = 1 < 2
        let picked = choose(
            &[big, candidate("a", Some(&light))],
            SelectionPolicy::Penalty,
            None,
        )
        .expect("a node");
        assert_eq!(picked.node, "big");

        let same = stats(1, 0.0, None);
        let picked = choose(
            &[candidate("z", Some(&same)), candidate("m", Some(&same))],
            SelectionPolicy::Penalty,
            None,
        )
        .expect("a node");
        assert_eq!(picked.node, "m");
    }

    #[test]
    fn a_lower_priority_tier_is_used_only_when_the_higher_is_empty() {
        let idle = stats(0, 0.0, None);
        let busy = stats(50, 0.9, None);
        let mut backup = candidate("backup", Some(&idle));
        backup.priority = 1;
        let primary = candidate("primary", Some(&busy));
        let picked = choose(&[backup, primary], SelectionPolicy::Penalty, None).expect("a node");
        assert_eq!(picked.node, "primary");
        let picked = choose(&[backup], SelectionPolicy::Penalty, None).expect("a node");
        assert_eq!(picked.node, "backup");
        assert_eq!(picked.priority, 1);
    }

    #[test]
    fn region_affinity_prefers_the_voice_region_and_falls_back() {
        let rules = vec![
            RegionRule {
                prefix: "rotterdam".into(),
                region: "eu".into(),
            },
            RegionRule {
                prefix: "us-east".into(),
                region: "us".into(),
            },
        ];
        assert_eq!(
            region_of("rotterdam1234.discord.media:443", &rules),
            Some("eu")
        );
        assert_eq!(region_of("us-east42.discord.media", &rules), Some("us"));
        assert_eq!(region_of("sydney1.discord.media:443", &rules), None);

        let idle = stats(0, 0.0, None);
        let busy = stats(30, 0.2, None);
        let mut eu = candidate("eu-1", Some(&busy));
        eu.region = Some("eu");
        let mut us = candidate("us-1", Some(&idle));
        us.region = Some("us");
        let picked = choose(&[eu, us], SelectionPolicy::Penalty, Some("eu")).expect("a node");
        assert_eq!(picked.node, "eu-1");
        assert!(picked.region_matched);
        let picked = choose(&[us], SelectionPolicy::Penalty, Some("eu")).expect("a node");
        assert_eq!(picked.node, "us-1");
        assert!(!picked.region_matched);
    }

    #[test]
    fn a_slow_node_is_penalised_not_excluded() {
        let s = stats(3, 0.0, None);
        let mut slow = candidate("slow", Some(&s));
        slow.rtt = Some(Duration::from_millis(800));
        let mut fast = candidate("fast", Some(&s));
        fast.rtt = Some(Duration::from_millis(5));
        assert!(penalty(&slow) > penalty(&fast) + 50.0);
        let picked = choose(&[slow, fast], SelectionPolicy::Penalty, None).expect("a node");
        assert_eq!(picked.node, "fast");
        let picked = choose(&[slow], SelectionPolicy::Penalty, None).expect("still eligible");
        assert_eq!(picked.node, "slow");
    }

    #[test]
    fn alternative_policies() {
        let few = stats(1, 0.99, None);
        let many = stats(9, 0.0, None);
        let picked = choose(
            &[candidate("few", Some(&few)), candidate("many", Some(&many))],
            SelectionPolicy::LeastPlayers,
            None,
        )
        .expect("a node");
        assert_eq!(picked.node, "few");

        let mut near = candidate("near", None);
        near.rtt = Some(Duration::from_millis(3));
        let mut far = candidate("far", None);
        far.rtt = Some(Duration::from_millis(90));
        let picked = choose(&[far, near], SelectionPolicy::LeastLatency, None).expect("a node");
        assert_eq!(picked.node, "near");
        assert_eq!(choose(&[], SelectionPolicy::Penalty, None), None);
    }
}
