//! Probes of what listeners and admins feel: voice connections (connected share, ping, Discord
//! closing them and what self-healing did), interaction acknowledgement latency, the bot's
//! permissions where it must talk and play, a Lavalink node's ability to load a track, the age of
//! a node's stats, and the process's memory.

use std::time::Duration;

use cluster::Cluster;
use health::{Observation, Probe, ProbeSpec, Severity, Status};
use lavalink::model::LoadResult;
use twilight_model::guild::Permissions;

use super::ProbeSettings;
use bot::activity::Activity;
use discord::{ChannelId, Discord};

/// Share of voice connections that are up.
pub const VOICE_CONNECTED: &str = "voice:connected";
/// 95th percentile of the nodes' voice gateway ping.
pub const VOICE_PING: &str = "voice:ping";
/// Voice sockets Discord closed lately, and what self-healing did.
pub const VOICE_SELF_HEALING: &str = "voice:selfHealing";
/// 95th percentile of interaction acknowledgement latency.
pub const INTERACTION_ACK: &str = "interactions:ackLatency";
/// The bot's permissions in the control channel and the voice channels it plays in.
pub const PERMISSIONS: &str = "discord:permissions";
/// Whether a node loads the configured probe identifier.
pub const NODE_PLAYER_READY: &str = "lavalink:playerReady";
/// Age of a node's last `stats` message.
pub const NODE_STATS_AGE: &str = "lavalink:statsAge";
/// Resident memory of the process.
pub const PROCESS_MEMORY: &str = "process:memory";

/// Below this share of connected voice connections the check warns...
const VOICE_WARN_BELOW: f64 = 95.0;
/// ...and below this it fails.
const VOICE_FAIL_BELOW: f64 = 80.0;
/// Voice ping p95 thresholds, ms.
const PING_WARN_MS: u64 = 300;
const PING_FAIL_MS: u64 = 1000;
/// Acknowledgement p95 thresholds: Discord forgets an interaction after 3 s.
const ACK_WARN: Duration = Duration::from_millis(1500);
const ACK_FAIL: Duration = Duration::from_millis(2500);
/// What the bot needs in its control channel.
const CONTROL_PERMISSIONS: Permissions = Permissions::VIEW_CHANNEL
    .union(Permissions::SEND_MESSAGES)
    .union(Permissions::EMBED_LINKS);
/// What it needs in a voice channel it plays in.
const VOICE_PERMISSIONS: Permissions = Permissions::VIEW_CHANNEL
    .union(Permissions::CONNECT)
    .union(Permissions::SPEAK);

fn round1(value: f64) -> f64 {
    (value * 10.0).round() / 10.0
}

/// The share of players with a voice state whose node reports the voice connection up.
pub struct VoiceConnectedProbe {
    spec: ProbeSpec,
    cluster: Cluster,
}

impl VoiceConnectedProbe {
    /// A critical probe: listeners hear nothing from a disconnected player.
    pub fn new(cluster: Cluster, settings: ProbeSettings) -> Self {
        Self {
            spec: ProbeSpec::new(
                VOICE_CONNECTED,
                "component",
                settings.interval,
                settings.timeout,
            )
            .threshold(settings.failure_threshold),
            cluster,
        }
    }
}

#[async_trait::async_trait]
impl Probe for VoiceConnectedProbe {
    fn spec(&self) -> &ProbeSpec {
        &self.spec
    }

    async fn check(&self) -> Observation {
        // Players waiting for a node are the cluster's concern (lavalink:eligibleNodes).
        let connections: Vec<_> = self
            .cluster
            .voice_connections()
            .into_iter()
            .filter(|c| c.node.is_some())
            .collect();
        if connections.is_empty() {
            return Observation::with(Status::Pass, "no voice connection").value(100.0, "percent");
        }
        let up = connections.iter().filter(|c| c.connected).count();
        #[allow(clippy::cast_precision_loss)]
        let share = round1(up as f64 * 100.0 / connections.len() as f64);
        let output = format!("{up} of {} voice connections up", connections.len());
        if share < VOICE_FAIL_BELOW {
            Observation::with(Status::Fail, output).value(share, "percent")
        } else if share < VOICE_WARN_BELOW {
            Observation::with(Status::Warn, output).value(share, "percent")
        } else {
            Observation::pass(share, "percent")
        }
    }
}

/// The 95th percentile of the nodes' voice gateway ping over connected players.
pub struct VoicePingProbe {
    spec: ProbeSpec,
    cluster: Cluster,
}

impl VoicePingProbe {
    /// A warning: a slow voice gateway degrades audio but does not stop it.
    pub fn new(cluster: Cluster, settings: ProbeSettings) -> Self {
        Self {
            spec: ProbeSpec::new(VOICE_PING, "component", settings.interval, settings.timeout)
                .severity(Severity::Warning)
                .threshold(settings.failure_threshold),
            cluster,
        }
    }
}

#[async_trait::async_trait]
impl Probe for VoicePingProbe {
    fn spec(&self) -> &ProbeSpec {
        &self.spec
    }

    async fn check(&self) -> Observation {
        let mut pings: Vec<u64> = self
            .cluster
            .voice_connections()
            .into_iter()
            .filter_map(|c| c.ping_ms)
            .collect();
        if pings.is_empty() {
            return Observation::with(Status::Pass, "no connected voice connection");
        }
        pings.sort_unstable();
        let p95 = pings[(pings.len() * 95).div_ceil(100).max(1) - 1];
        if p95 > PING_FAIL_MS {
            Observation::with(Status::Fail, "voice gateway round trips are very slow")
                .value(p95, "ms")
        } else if p95 > PING_WARN_MS {
            Observation::with(Status::Warn, "voice gateway round trips are slow").value(p95, "ms")
        } else {
            Observation::pass(p95, "ms")
        }
    }
}

/// Voice sockets Discord closed in the last five minutes and what self-healing did: a guild
/// where healing hit its cap fails the check (and so raises an alert).
pub struct VoiceHealingProbe {
    spec: ProbeSpec,
    activity: Activity,
}

impl VoiceHealingProbe {
    /// A critical probe that fails at once: it is how a hit cap escalates to an alert.
    pub fn new(activity: Activity, settings: ProbeSettings) -> Self {
        Self {
            spec: ProbeSpec::new(
                VOICE_SELF_HEALING,
                "component",
                settings.interval,
                settings.timeout,
            )
            .threshold(1),
            activity,
        }
    }
}

#[async_trait::async_trait]
impl Probe for VoiceHealingProbe {
    fn spec(&self) -> &ProbeSpec {
        &self.spec
    }

    async fn check(&self) -> Observation {
        let s = self.activity.voice_summary(self.activity.now());
        let output = format!(
            "last 5 min: {} voice closes, {} healed, {} failed, {} guilds gave up",
            s.closes, s.healed, s.failed, s.capped
        );
        let status = if s.capped > 0 {
            Status::Fail
        } else if s.failed > 0 {
            Status::Warn
        } else {
            Status::Pass
        };
        Observation::with(status, output).value(s.closes, "count")
    }
}

/// The 95th percentile of interaction acknowledgement latency over the last five minutes.
pub struct InteractionAckProbe {
    spec: ProbeSpec,
    activity: Activity,
}

impl InteractionAckProbe {
    /// A critical probe: past 3 s Discord drops the interaction.
    pub fn new(activity: Activity, settings: ProbeSettings) -> Self {
        Self {
            spec: ProbeSpec::new(
                INTERACTION_ACK,
                "component",
                settings.interval,
                settings.timeout,
            )
            .threshold(settings.failure_threshold),
            activity,
        }
    }
}

#[async_trait::async_trait]
impl Probe for InteractionAckProbe {
    fn spec(&self) -> &ProbeSpec {
        &self.spec
    }

    async fn check(&self) -> Observation {
        let Some((p95, count)) = self.activity.ack_p95(self.activity.now()) else {
            return Observation::with(Status::Pass, "no interaction in the last 5 min");
        };
        let ms = round1(p95.as_secs_f64() * 1000.0);
        let output = format!("p95 over {count} interactions in the last 5 min");
        if p95 >= ACK_FAIL {
            Observation::with(Status::Fail, output).value(ms, "ms")
        } else if p95 >= ACK_WARN {
            Observation::with(Status::Warn, output).value(ms, "ms")
        } else {
            Observation::pass(ms, "ms")
        }
    }
}

/// The bot's permissions in the control channel (View, Send Messages, Embed Links) and in every
/// voice channel it is in (View, Connect, Speak), from the cache.
pub struct PermissionsProbe {
    spec: ProbeSpec,
    discord: Discord,
    cluster: Cluster,
    control_channel: Option<ChannelId>,
}

impl PermissionsProbe {
    /// A warning-severity probe.
    pub fn new(
        discord: Discord,
        cluster: Cluster,
        control_channel: Option<ChannelId>,
        settings: ProbeSettings,
    ) -> Self {
        Self {
            spec: ProbeSpec::new(
                PERMISSIONS,
                "component",
                settings.interval,
                settings.timeout,
            )
            .severity(Severity::Warning)
            .threshold(settings.failure_threshold),
            discord,
            cluster,
            control_channel,
        }
    }
}

#[async_trait::async_trait]
impl Probe for PermissionsProbe {
    fn spec(&self) -> &ProbeSpec {
        &self.spec
    }

    async fn check(&self) -> Observation {
        let mut problems = Vec::new();
        if let Some(channel) = self.control_channel {
            match self.discord.bot_permissions(channel) {
                Ok(p) if p.contains(CONTROL_PERMISSIONS) => {}
                Ok(p) => problems.push(format!(
                    "control channel lacks {:?}",
                    CONTROL_PERMISSIONS.difference(p)
                )),
                Err(error) => problems.push(format!("control channel: {error}")),
            }
        }
        let mut voice_channels = 0usize;
        let mut voice_missing = 0usize;
        for connection in self.cluster.voice_connections() {
            let Some(guild) = discord::GuildId::new_checked(connection.guild.0) else {
                continue;
            };
            let Some(channel) = self.discord.bot_voice_channel(guild) else {
                continue;
            };
            voice_channels += 1;
            if !self
                .discord
                .bot_permissions(channel)
                .is_ok_and(|p| p.contains(VOICE_PERMISSIONS))
            {
                voice_missing += 1;
            }
        }
        if voice_missing > 0 {
            problems.push(format!(
                "{voice_missing} of {voice_channels} voice channels lack Connect or Speak"
            ));
        }
        if problems.is_empty() {
            return Observation::pass(voice_channels, "count");
        }
        // The control channel decides whether alerts and /health answers can be read at all.
        let control_broken = problems.iter().any(|p| p.starts_with("control"));
        let status = if control_broken {
            Status::Fail
        } else {
            Status::Warn
        };
        Observation::with(status, problems.join("; ")).value(voice_missing, "count")
    }
}

/// Whether a node loads the configured probe identifier: the node is up *and* can play.
pub struct NodeReadyProbe {
    spec: ProbeSpec,
    cluster: Cluster,
    node: String,
    identifier: String,
}

impl NodeReadyProbe {
    /// A per-node probe (warning severity: failover covers one node).
    pub fn new(spec: ProbeSpec, cluster: Cluster, node: String, identifier: String) -> Self {
        Self {
            spec,
            cluster,
            node,
            identifier,
        }
    }
}

#[async_trait::async_trait]
impl Probe for NodeReadyProbe {
    fn spec(&self) -> &ProbeSpec {
        &self.spec
    }

    async fn check(&self) -> Observation {
        let Some(client) = self.cluster.client(&self.node) else {
            return Observation::with(Status::Fail, "node is disabled or gone");
        };
        let started = super::Stopwatch::start();
        let result = client.rest().load_tracks(&self.identifier).await;
        let ms = round1(started.elapsed().as_secs_f64() * 1000.0);
        match result {
            Ok(LoadResult::Track(_)) => Observation::pass(ms, "ms"),
            Ok(LoadResult::Search(tracks)) if !tracks.is_empty() => Observation::pass(ms, "ms"),
            Ok(LoadResult::Playlist(p)) if !p.tracks.is_empty() => Observation::pass(ms, "ms"),
            Ok(LoadResult::Error(e)) => Observation::with(
                Status::Fail,
                format!(
                    "the probe identifier failed to load ({})",
                    e.severity.as_str()
                ),
            )
            .value(ms, "ms"),
            Ok(_) => Observation::with(Status::Warn, "the probe identifier found nothing")
                .value(ms, "ms"),
            Err(error) => {
                Observation::with(Status::Fail, format!("loading failed: {}", error.kind()))
            }
        }
    }
}

/// Age of a node's last `stats` message (a node sends one a minute).
pub struct NodeStatsAgeProbe {
    spec: ProbeSpec,
    cluster: Cluster,
    node: String,
    stale_after: Duration,
}

impl NodeStatsAgeProbe {
    /// Warns once stats are older than `stale_after`.
    pub fn new(spec: ProbeSpec, cluster: Cluster, node: String, stale_after: Duration) -> Self {
        Self {
            spec,
            cluster,
            node,
            stale_after,
        }
    }
}

#[async_trait::async_trait]
impl Probe for NodeStatsAgeProbe {
    fn spec(&self) -> &ProbeSpec {
        &self.spec
    }

    async fn check(&self) -> Observation {
        let Some(client) = self.cluster.client(&self.node) else {
            return Observation::with(Status::Fail, "node is disabled or gone");
        };
        match client.last_stats() {
            None => Observation::with(Status::Warn, "no stats yet"),
            Some(stats) => {
                let age = self.cluster.clock().since(stats.at);
                let ms = u64::try_from(age.as_millis()).unwrap_or(u64::MAX);
                if age > self.stale_after {
                    Observation::with(Status::Warn, "stats are stale").value(ms, "ms")
                } else {
                    Observation::pass(ms, "ms")
                }
            }
        }
    }
}

/// The process's resident memory, against an optional limit.
pub struct MemoryProbe {
    spec: ProbeSpec,
    warn_above: Option<u64>,
}

impl MemoryProbe {
    /// Warns above `warn_above` bytes (never without one).
    pub fn new(warn_above: Option<u64>, settings: ProbeSettings) -> Self {
        Self {
            spec: ProbeSpec::new(
                PROCESS_MEMORY,
                "system",
                settings.interval,
                settings.timeout,
            )
            .severity(Severity::Warning)
            .threshold(settings.failure_threshold),
            warn_above,
        }
    }
}

#[async_trait::async_trait]
impl Probe for MemoryProbe {
    fn spec(&self) -> &ProbeSpec {
        &self.spec
    }

    async fn check(&self) -> Observation {
        let Some(sample) = telemetry::process::ProcessSample::now() else {
            return Observation::with(Status::Pass, "not measurable on this system");
        };
        #[allow(clippy::cast_precision_loss)]
        let mib = round1(sample.resident_bytes as f64 / (1024.0 * 1024.0));
        match self.warn_above {
            Some(limit) if sample.resident_bytes > limit => Observation::with(
                Status::Warn,
                format!(
                    "resident memory above the configured {} MiB",
                    limit / (1024 * 1024)
                ),
            )
            .value(mib, "MiB"),
            _ => Observation::pass(mib, "MiB"),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use health::{Probe, Status};

    use super::{InteractionAckProbe, VoiceHealingProbe};
    use crate::checks::ProbeSettings;
    use bot::activity::{Activity, VoiceIncident};

    #[tokio::test]
    async fn self_healing_fails_when_a_cap_is_hit_and_warns_on_a_failed_action() {
        let activity = Activity::new();
        let probe = VoiceHealingProbe::new(activity.clone(), ProbeSettings::default());
        assert_eq!(
            probe.spec().failure_threshold,
            1,
            "a hit cap alerts at once"
        );
        assert_eq!(probe.check().await.status, Status::Pass);
        activity.voice(VoiceIncident::Closed(4006));
        activity.voice(VoiceIncident::Healed);
        let healed = probe.check().await;
        assert_eq!(healed.status, Status::Pass);
        assert_eq!(healed.observed_value, Some(1.into()));
        activity.voice(VoiceIncident::Closed(4006));
        activity.voice(VoiceIncident::HealFailed);
        assert_eq!(probe.check().await.status, Status::Warn);
        activity.voice(VoiceIncident::Capped);
        let capped = probe.check().await;
        assert_eq!(capped.status, Status::Fail);
        assert!(
            capped
                .output
                .is_some_and(|o| o.contains("1 guilds gave up"))
        );
    }

    #[tokio::test]
    async fn memory_warns_above_the_configured_limit_only() {
        let unlimited = super::MemoryProbe::new(None, ProbeSettings::default())
            .check()
            .await;
        assert_eq!(unlimited.status, Status::Pass);
        assert_eq!(unlimited.observed_unit.as_deref(), Some("MiB"));
        let tiny = super::MemoryProbe::new(Some(1), ProbeSettings::default())
            .check()
            .await;
        assert_eq!(tiny.status, Status::Warn, "{tiny:?}");
    }

    #[tokio::test]
    async fn ack_latency_warns_and_fails_on_its_p95() {
        let activity = Activity::new();
        let probe = InteractionAckProbe::new(activity.clone(), ProbeSettings::default());
        assert_eq!(probe.check().await.status, Status::Pass);
        for _ in 0..90 {
            activity.ack(Duration::from_millis(40));
        }
        assert_eq!(probe.check().await.status, Status::Pass);
        for _ in 0..10 {
            activity.ack(Duration::from_millis(1800));
        }
        assert_eq!(probe.check().await.status, Status::Warn, "p95 is 1.8 s");
        for _ in 0..20 {
            activity.ack(Duration::from_millis(2900));
        }
        let slow = probe.check().await;
        assert_eq!(slow.status, Status::Fail);
        assert_eq!(slow.observed_value, Some(2900.0.into()));
    }
}
