//! docs/metrics.md and the registry stay in step: every family the bot exposes is in the catalog
//! with the same type and labels, and every catalog row is exposed.
//!
//! The registry is fed one of every event and attached to real sources (a cluster of two
//! Lavalink stand-ins, a health registry with a checked probe, shards, guilds, the allocator and
//! the log's counts), so every family has samples and its labels can be compared too.

#![allow(
    clippy::disallowed_methods,
    reason = "tests stamp with real time where no clock is injected"
)]

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use cluster::{
    Cluster, ClusterConfig, ClusterEvent, DrainMode, DrainReport, MoveCause, MoveOutcome,
};
use lavalink::model::{GuildId, IncomingMessage};
use telemetry::{
    AlertKind, AlertResult, CommandOutcome, DiscordRestCall, DiscordRoute, Format, GuildCounts,
    GuildSource, HealOutcome, Metrics, QuerySource, ShardSample, ShardSource, VoiceAction,
};

/// A catalog row: type and label names.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Row {
    kind: String,
    labels: BTreeSet<String>,
}

fn catalog() -> BTreeMap<String, Row> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/metrics.md");
    let text = std::fs::read_to_string(path).expect("docs/metrics.md");
    let mut rows = BTreeMap::new();
    for line in text.lines() {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        // | `name` | type | labels | meaning |
        if cells.len() < 5 || !cells[1].starts_with('`') {
            continue;
        }
        let name = cells[1].trim_matches('`');
        if name.starts_with("metrics.") {
            continue; // the configuration table
        }
        let labels = cells[3]
            .split(',')
            .map(|l| l.trim().trim_matches('`'))
            .filter(|l| !l.is_empty())
            .map(str::to_owned)
            .collect();
        let previous = rows.insert(
            name.to_owned(),
            Row {
                kind: cells[2].to_owned(),
                labels,
            },
        );
        assert!(previous.is_none(), "{name} is in the catalog twice");
    }
    assert!(
        rows.len() > 40,
        "the catalog parsed to only {} rows",
        rows.len()
    );
    rows
}

/// Families in Prometheus text: name → type and the label names seen on its samples.
fn exposed(text: &str) -> BTreeMap<String, Row> {
    let mut families: BTreeMap<String, Row> = BTreeMap::new();
    let mut current = String::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').expect("TYPE line");
            name.clone_into(&mut current);
            families.insert(
                current.clone(),
                Row {
                    kind: kind.to_owned(),
                    labels: BTreeSet::new(),
                },
            );
        } else if !line.starts_with('#') && !line.is_empty() {
            let row = families.get_mut(&current).expect("a sample after its TYPE");
            if let Some((_, labels)) = line.split_once('{') {
                let labels = labels.rsplit_once('}').expect("closing brace").0;
                for pair in split_labels(labels) {
                    let key = pair.split_once('=').expect("key=value").0;
                    if key != "le" {
                        row.labels.insert(key.to_owned());
                    }
                }
            }
        }
    }
    families
}

/// Splits `a="x",b="y,z"` at the commas between pairs.
fn split_labels(labels: &str) -> Vec<&str> {
    let mut pairs = Vec::new();
    let (mut start, mut quoted, mut escaped) = (0, false, false);
    for (i, c) in labels.char_indices() {
        match c {
            '\\' if quoted && !escaped => escaped = true,
            '"' if !escaped => quoted = !quoted,
            ',' if !quoted => {
                pairs.push(&labels[start..i]);
                start = i + 1;
            }
            _ => escaped = false,
        }
        if c != '\\' {
            escaped = false;
        }
    }
    if start < labels.len() {
        pairs.push(&labels[start..]);
    }
    pairs
}

struct Shards;
impl ShardSource for Shards {
    fn shards(&self) -> Vec<ShardSample> {
        vec![ShardSample {
            shard: 0,
            connected: true,
            latency: Some(Duration::from_millis(40)),
            last_event_age: Some(Duration::from_secs(1)),
            identifies: 1,
            resumes: 2,
            disconnects: 2,
        }]
    }
}

struct Allocator;
impl telemetry::AllocatorSource for Allocator {
    fn allocator(&self) -> Option<telemetry::AllocatorSample> {
        Some(telemetry::AllocatorSample {
            allocated: 1,
            active: 2,
            resident: 3,
            mapped: 4,
            retained: 5,
            metadata: 6,
        })
    }
}

struct Log;
impl telemetry::LogSource for Log {
    fn log_events(&self) -> Option<telemetry::LogCounts> {
        Some(telemetry::LogCounts {
            errors: 1,
            warnings: 2,
            info: 3,
            debug: 0,
            trace: 0,
        })
    }
}

struct Guilds;
impl GuildSource for Guilds {
    fn guilds(&self) -> GuildCounts {
        GuildCounts {
            active: 3,
            playing: 2,
        }
    }
}

struct AlwaysPasses(health::ProbeSpec);
#[async_trait::async_trait]
impl health::Probe for AlwaysPasses {
    fn spec(&self) -> &health::ProbeSpec {
        &self.0
    }
    async fn check(&self) -> health::Observation {
        health::Observation::pass(1, "ms")
    }
}

fn player_event(json: &str) -> ClusterEvent {
    let IncomingMessage::Event(event) = IncomingMessage::from_json(json).expect("event json")
    else {
        panic!("not an event: {json}");
    };
    ClusterEvent::Player {
        guild: GuildId(1),
        node: "sim-1".to_owned(),
        event,
        after_move: false,
    }
}

const TRACK: &str = r#"{"encoded":"QAAAjQIAJVJpY2sgQXN0bGV5IC0gTmV2ZXIgR29ubmEgR2l2ZSBZb3UgVXAADlJpY2tBc3RsZXlWRVZPAAAAAAADPCAAC2RRdzR3OVdnWGNRAAEAK2h0dHBzOi8vd3d3LnlvdXR1YmUuY29tL3dhdGNoP3Y9ZFF3NHc5V2dYY1EAB3lvdXR1YmUAAAAAAAAAAA==","info":{"identifier":"dQw4w9WgXcQ","isSeekable":true,"author":"RickAstleyVEVO","length":212000,"isStream":false,"position":0,"title":"Rick Astley - Never Gonna Give You Up","uri":"https://www.youtube.com/watch?v=dQw4w9WgXcQ","artworkUrl":null,"isrc":null,"sourceName":"youtube"},"pluginInfo":{},"userData":{}}"#;

fn feed_every_event(metrics: &Metrics) {
    metrics.record_command("play", CommandOutcome::Ok, Duration::from_millis(3));
    metrics.record_command_reached_lavalink("play", Duration::from_millis(1));
    metrics.record_command_track_start("play", Duration::from_millis(5));
    metrics.record_ack(Duration::from_millis(2));
    metrics.record_queue_length(4);
    metrics.record_enqueued(2);
    metrics.record_load(Some("search"), QuerySource::Search);
    metrics.record_voice_heal(VoiceAction::Rejoin, HealOutcome::Ok);
    metrics.record_alert(AlertKind::Firing, AlertResult::Sent);
    metrics.record_identify_turn(telemetry::IdentifyTurn::Own);
    metrics.record_filter_change("nightcore");
    metrics.record_suggestions(
        "play",
        telemetry::SuggestOutcome::Cached,
        Duration::from_millis(3),
    );
    metrics.record_deploy_phase(telemetry::DeployPhase::Serving);
    metrics.record_deploy_gate(&telemetry::GateRun {
        passed: false,
        checks: vec![
            (telemetry::GateCheckKind::DiscordRest, true),
            (telemetry::GateCheckKind::Lavalink, false),
        ],
    });
    metrics.record_admin_pressure(telemetry::AdminPressure::Shed);
    metrics.record_discord_rest(&DiscordRestCall {
        route: DiscordRoute::InteractionCallback,
        status: Some(204),
        elapsed: Duration::from_millis(40),
        waited: Duration::from_millis(1),
        rate_limited: 1,
    });
    for json in [
        format!(r#"{{"op":"event","type":"TrackStartEvent","guildId":"1","track":{TRACK}}}"#),
        format!(r#"{{"op":"event","type":"TrackEndEvent","guildId":"1","track":{TRACK},"reason":"finished"}}"#),
        format!(r#"{{"op":"event","type":"TrackExceptionEvent","guildId":"1","track":{TRACK},"exception":{{"message":"x","severity":"common","cause":"y","causeStackTrace":"z"}}}}"#),
        format!(r#"{{"op":"event","type":"TrackStuckEvent","guildId":"1","track":{TRACK},"thresholdMs":10000}}"#),
        r#"{"op":"event","type":"WebSocketClosedEvent","guildId":"1","code":4006,"reason":"gone","byRemote":true}"#.to_owned(),
    ] {
        metrics.observe_cluster(&player_event(&json));
    }
    let node = || "sim-1".to_owned();
    for event in [
        ClusterEvent::NodeLost {
            node: node(),
            loss: "reset".to_owned(),
        },
        ClusterEvent::NodeReady {
            node: node(),
            resumed: true,
        },
        ClusterEvent::HandoverTaken {
            node: node(),
            outcome: cluster::HandoverOutcome::Adopted,
            players: 3,
        },
        ClusterEvent::Selected {
            guild: GuildId(1),
            node: node(),
            score: 1.0,
            region_matched: false,
        },
        ClusterEvent::MoveFinished {
            guild: GuildId(1),
            from: Some(node()),
            to: Some("sim-2".to_owned()),
            cause: MoveCause::ConnectionLost,
            outcome: MoveOutcome::Moved,
            duration: Duration::from_millis(120),
            position_ms: 1000,
            rewind: Duration::from_millis(30),
            attempts: 1,
        },
        ClusterEvent::MoveAttemptFailed {
            guild: GuildId(1),
            to: "sim-2".to_owned(),
            cause: MoveCause::ConnectionLost,
            error: "timeout",
            undone: true,
        },
        ClusterEvent::PendingChanged { pending: 0 },
        ClusterEvent::DrainProgress {
            node: node(),
            moved: 1,
            remaining: 1,
        },
        ClusterEvent::DrainComplete(DrainReport {
            node: node(),
            mode: DrainMode::Hard,
            moved: 2,
            failed: 0,
            duration_ms: 5,
        }),
    ] {
        metrics.observe_cluster(&event);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn catalog_matches_registry() {
    let config = sim::lavalink::NodeConfig::default()
        .with_intervals(Duration::from_millis(50), Duration::from_millis(50));
    let nodes = sim::lavalink::start_nodes(2, config)
        .await
        .expect("stand-ins");
    let specs = nodes.iter().map(test_support::node_spec).collect();
    let mut config = ClusterConfig::new(1, specs);
    config.probe.interval = Duration::from_millis(100);
    let (cluster, _events) = Cluster::start(config, clock::SystemClock::shared()).expect("cluster");
    let names: Vec<String> = nodes.iter().map(|n| n.name().to_owned()).collect();
    test_support::until("stats and a probe from every node", || {
        names
            .iter()
            .all(|n| cluster.client(n).is_some_and(|c| c.last_stats().is_some()))
            && cluster.nodes().iter().all(|v| v.rtt_ms.is_some())
    })
    .await;
    cluster
        .load_tracks("ytsearch:catalog")
        .await
        .expect("a search answers");
    // A REST call that gets no answer: the second node is gone.
    nodes[1].crash();
    let gone = cluster.client(&names[1]).expect("client");
    assert!(gone.rest().version().await.is_err());

    let registry = health::HealthRegistry::new(clock::SystemClock::shared());
    let probe = AlwaysPasses(
        health::ProbeSpec::new(
            "lavalink:responseTime",
            "component",
            Duration::from_secs(1),
            Duration::from_secs(1),
        )
        .component("sim-1"),
    );
    registry.check(&probe).await;

    let metrics = Metrics::new(["play"]);
    metrics.attach_cluster(cluster.clone());
    metrics.attach_health(registry);
    metrics.attach_shards(Arc::new(Shards));
    metrics.attach_guilds(Arc::new(Guilds));
    metrics.attach_allocator(Arc::new(Allocator));
    metrics.attach_log(Arc::new(Log));
    feed_every_event(&metrics);

    let text = metrics.encode(Format::Prometheus);
    let exposed = exposed(&text);
    let catalog = catalog();

    let mut problems = Vec::new();
    for (name, row) in &catalog {
        match exposed.get(name) {
            None => problems.push(format!("{name}: in docs/metrics.md but not exposed")),
            Some(found) if found.kind != row.kind => problems.push(format!(
                "{name}: docs say {}, the registry says {}",
                row.kind, found.kind
            )),
            // Frame figures come once a node has a minute of playback to average: too slow to
            // provoke here; the family is described and its labels are the nodes' kind labels.
            Some(found)
                if found.labels.is_empty()
                    && !row.labels.is_empty()
                    && name != "dimby_lavalink_node_frames" =>
            {
                problems.push(format!("{name}: no samples to compare labels with"));
            }
            Some(found) if found.labels.is_empty() => {}
            Some(found) if found.labels != row.labels => problems.push(format!(
                "{name}: docs list labels {:?}, samples carry {:?}",
                row.labels, found.labels
            )),
            Some(_) => {}
        }
    }
    for name in exposed.keys() {
        if !catalog.contains_key(name) {
            problems.push(format!("{name}: exposed but missing from docs/metrics.md"));
        }
    }
    assert!(
        problems.is_empty(),
        "catalog and registry disagree:\n{}\n\n{text}",
        problems.join("\n")
    );
    cluster.shutdown(false).await;
}
