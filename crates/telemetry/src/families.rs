//! The event-fed families: counters and histograms that a typed event moves.

use std::collections::HashSet;
use std::sync::Mutex;
use std::time::Duration;

use cluster::{ClusterEvent, DrainMode};
use lavalink::model::Event;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::{
    AdminPressure, AlertKind, AlertResult, CommandOutcome, DiscordRestCall, HealOutcome,
    QuerySource, VoiceAction,
};

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CommandOutcomeLabels {
    command: String,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CommandLabels {
    command: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LoadLabels {
    result: &'static str,
    source: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SuggestLabels {
    command: &'static str,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StaticCommandLabels {
    command: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PresetLabels {
    preset: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct QueueLabels {
    queue: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabels {
    reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SeverityLabels {
    severity: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CodeLabels {
    code: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HealLabels {
    action: &'static str,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct NodeLabels {
    node: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct NodeLossLabels {
    node: String,
    loss: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct NodeOutcomeLabels {
    node: String,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SelectionLabels {
    node: String,
    region_matched: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct MoveLabels {
    cause: &'static str,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct NodeErrorLabels {
    node: String,
    error: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CauseLabels {
    cause: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DrainLabels {
    node: String,
    mode: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PhaseLabels {
    phase: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabels {
    result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct GateCheckLabels {
    check: &'static str,
    result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AlertLabels {
    kind: &'static str,
    result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    route: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteStatusLabels {
    route: &'static str,
    status: &'static str,
}

/// The HTTP statuses Discord documents for its REST API
/// (discord.com/developers/docs/topics/opcodes-and-status-codes#http); any other status is
/// labelled by its class (`2xx` ... `5xx`), so the label stays bounded.
const DISCORD_HTTP_STATUSES: [(u16, &str); 11] = [
    (200, "200"),
    (201, "201"),
    (204, "204"),
    (304, "304"),
    (400, "400"),
    (401, "401"),
    (403, "403"),
    (404, "404"),
    (405, "405"),
    (429, "429"),
    (502, "502"),
];

/// The `status` label of a Discord REST call: the documented code, its class, or `none` when no
/// answer came.
fn discord_status_label(status: Option<u16>) -> &'static str {
    let Some(code) = status else {
        return "none";
    };
    if let Some((_, label)) = DISCORD_HTTP_STATUSES
        .iter()
        .find(|(known, _)| *known == code)
    {
        return label;
    }
    match code {
        100..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        500..=599 => "5xx",
        _ => "other",
    }
}

/// Discord voice close codes (discord.com/developers/docs/topics/opcodes-and-status-codes);
/// anything else is `other`, so the label stays bounded.
const VOICE_CLOSE_CODES: [(u16, &str); 17] = [
    (1000, "1000"),
    (1001, "1001"),
    (1006, "1006"),
    (4001, "4001"),
    (4002, "4002"),
    (4003, "4003"),
    (4004, "4004"),
    (4005, "4005"),
    (4006, "4006"),
    (4009, "4009"),
    (4011, "4011"),
    (4012, "4012"),
    (4014, "4014"),
    (4015, "4015"),
    (4016, "4016"),
    (4020, "4020"),
    (4022, "4022"),
];

/// Lavalink's load types; anything else is `unknown`.
const LOAD_TYPES: [&str; 5] = ["track", "playlist", "search", "empty", "error"];

fn latency_histogram() -> Histogram {
    // 1 ms .. ~16 s
    Histogram::new(exponential_buckets(0.001, 2.0, 15))
}

fn move_histogram() -> Histogram {
    // 5 ms .. ~80 s
    Histogram::new(exponential_buckets(0.005, 2.0, 15))
}

fn rewind_histogram() -> Histogram {
    // 10 ms .. ~40 s
    Histogram::new(exponential_buckets(0.01, 2.0, 13))
}

/// The families that events move.
#[derive(Debug)]
pub(crate) struct Families {
    commands: Family<CommandOutcomeLabels, Counter>,
    command_duration: HistogramFamily<CommandLabels>,
    command_lavalink: HistogramFamily<CommandLabels>,
    command_track_start: HistogramFamily<CommandLabels>,
    pub(crate) ack: Histogram,
    pub(crate) queue_length: Histogram,
    pub(crate) enqueued: Counter,
    loads: Family<LoadLabels, Counter>,
    started: Counter,
    ended: Family<ReasonLabels, Counter>,
    exceptions: Family<SeverityLabels, Counter>,
    stuck: Counter,
    voice_closes: Family<CodeLabels, Counter>,
    voice_heals: Family<HealLabels, Counter>,
    socket_losses: Family<NodeLossLabels, Counter>,
    reconnects: Family<NodeLabels, Counter>,
    resumes: Family<NodeOutcomeLabels, Counter>,
    handovers: Family<NodeOutcomeLabels, Counter>,
    handover_players: Family<NodeLabels, Counter>,
    selections: Family<SelectionLabels, Counter>,
    moves: Family<MoveLabels, Counter>,
    move_attempts_failed: Family<NodeErrorLabels, Counter>,
    move_duration: HistogramFamily<CauseLabels>,
    move_rewind: HistogramFamily<CauseLabels>,
    pending: Gauge,
    pub(crate) store_quarantined: Gauge,
    drain_remaining: Family<NodeLabels, Gauge>,
    drains: Family<DrainLabels, Counter>,
    alerts: Family<AlertLabels, Counter>,
    deploy_phase: Family<PhaseLabels, Gauge>,
    deploy_phase_changes: Family<PhaseLabels, Counter>,
    deploy_gates: Family<ResultLabels, Counter>,
    deploy_gate_checks: Family<GateCheckLabels, Counter>,
    admin_connections_closed: Family<ReasonLabels, Counter>,
    identify_turns: Family<QueueLabels, Counter>,
    filter_changes: Family<PresetLabels, Counter>,
    suggestions: Family<SuggestLabels, Counter>,
    suggestion_duration: HistogramFamily<StaticCommandLabels>,
    discord_rest: Family<RouteStatusLabels, Counter>,
    discord_rest_duration: HistogramFamily<RouteLabels>,
    discord_rest_wait: HistogramFamily<RouteLabels>,
    discord_rest_rate_limited: Family<RouteLabels, Counter>,
    /// Nodes whose socket was lost and has not been ready since: the next ready is a reconnect.
    lost_nodes: Mutex<HashSet<String>>,
}

impl Families {
    #[allow(clippy::too_many_lines)] // one line per family of the catalog
    pub(crate) fn register(registry: &mut Registry) -> Self {
        let families = Self {
            commands: Family::default(),
            command_duration: Family::new_with_constructor(latency_histogram),
            command_lavalink: Family::new_with_constructor(latency_histogram),
            command_track_start: Family::new_with_constructor(latency_histogram),
            ack: latency_histogram(),
            queue_length: Histogram::new([
                0.0, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 250.0, 500.0, 1000.0,
            ]),
            enqueued: Counter::default(),
            loads: Family::default(),
            started: Counter::default(),
            ended: Family::default(),
            exceptions: Family::default(),
            stuck: Counter::default(),
            voice_closes: Family::default(),
            voice_heals: Family::default(),
            socket_losses: Family::default(),
            reconnects: Family::default(),
            resumes: Family::default(),
            handovers: Family::default(),
            handover_players: Family::default(),
            selections: Family::default(),
            moves: Family::default(),
            move_attempts_failed: Family::default(),
            move_duration: Family::new_with_constructor(move_histogram),
            move_rewind: Family::new_with_constructor(rewind_histogram),
            pending: Gauge::default(),
            store_quarantined: Gauge::default(),
            drain_remaining: Family::default(),
            drains: Family::default(),
            alerts: Family::default(),
            deploy_phase: Family::default(),
            deploy_phase_changes: Family::default(),
            deploy_gates: Family::default(),
            deploy_gate_checks: Family::default(),
            admin_connections_closed: Family::default(),
            identify_turns: Family::default(),
            filter_changes: Family::default(),
            suggestions: Family::default(),
            suggestion_duration: Family::new_with_constructor(latency_histogram),
            discord_rest: Family::default(),
            discord_rest_duration: Family::new_with_constructor(latency_histogram),
            discord_rest_wait: Family::new_with_constructor(latency_histogram),
            discord_rest_rate_limited: Family::default(),
            lost_nodes: Mutex::new(HashSet::new()),
        };
        let f = &families;
        let r = registry;
        r.register(
            "dimby_commands",
            "Slash commands handled, by command and outcome (ok, refused, error)",
            f.commands.clone(),
        );
        r.register(
            "dimby_command_duration_seconds",
            "Interaction received to the final answer sent",
            f.command_duration.clone(),
        );
        r.register(
            "dimby_command_lavalink_duration_seconds",
            "Interaction received to the Lavalink REST call that carries it out",
            f.command_lavalink.clone(),
        );
        r.register(
            "dimby_command_track_start_duration_seconds",
            "Interaction received to the TrackStart of the play it caused (queue processing time)",
            f.command_track_start.clone(),
        );
        r.register(
            "dimby_interaction_ack_duration_seconds",
            "Interaction received to acknowledged (answered or deferred)",
            f.ack.clone(),
        );
        r.register(
            "dimby_queue_length",
            "Tracks waiting in a guild's queue, observed after each change to a queue",
            f.queue_length.clone(),
        );
        r.register(
            "dimby_tracks_enqueued",
            "Tracks added to queues",
            f.enqueued.clone(),
        );
        r.register(
            "dimby_track_loads",
            "Lavalink loadtracks calls by load type (or failed) and query source",
            f.loads.clone(),
        );
        r.register(
            "dimby_tracks_started",
            "TrackStartEvents, not counting restarts after a move",
            f.started.clone(),
        );
        r.register(
            "dimby_tracks_ended",
            "TrackEndEvents by Lavalink's reason",
            f.ended.clone(),
        );
        r.register(
            "dimby_track_exceptions",
            "TrackExceptionEvents by severity",
            f.exceptions.clone(),
        );
        r.register("dimby_tracks_stuck", "TrackStuckEvents", f.stuck.clone());
        r.register(
            "dimby_voice_closes",
            "WebSocketClosedEvents by Discord voice close code",
            f.voice_closes.clone(),
        );
        r.register(
            "dimby_voice_rejoins",
            "Voice self-healing actions by action and outcome",
            f.voice_heals.clone(),
        );
        r.register(
            "dimby_lavalink_socket_losses",
            "Lavalink socket losses by the client's classification",
            f.socket_losses.clone(),
        );
        r.register(
            "dimby_lavalink_socket_reconnects",
            "Lavalink sockets ready again after a loss",
            f.reconnects.clone(),
        );
        r.register(
            "dimby_lavalink_session_resumes",
            "After a loss, whether the Lavalink session resumed or a new one began",
            f.resumes.clone(),
        );
        r.register(
            "dimby_lavalink_handover_sessions",
            "Sessions handed over by a predecessor process, by how taking them up went",
            f.handovers.clone(),
        );
        r.register(
            "dimby_lavalink_handover_players_adopted",
            "Players adopted from sessions handed over by a predecessor process",
            f.handover_players.clone(),
        );
        r.register(
            "dimby_cluster_selections",
            "Nodes chosen for new players",
            f.selections.clone(),
        );
        r.register(
            "dimby_cluster_moves",
            "Finished player moves by cause and outcome",
            f.moves.clone(),
        );
        r.register(
            "dimby_cluster_move_attempts_failed",
            "Move attempts a target node did not take, by node and error",
            f.move_attempts_failed.clone(),
        );
        r.register(
            "dimby_cluster_move_duration_seconds",
            "From a loss being noticed (or a move starting) to the player playing on its new node",
            f.move_duration.clone(),
        );
        r.register(
            "dimby_cluster_move_rewind_seconds",
            "How far behind its estimated live position a moved player restarted",
            f.move_rewind.clone(),
        );
        r.register(
            "dimby_cluster_pending_players",
            "Players waiting for a node",
            f.pending.clone(),
        );
        r.register(
            "dimby_store_quarantined_guilds",
            "Guilds left out of the restore because their stored rows are damaged (kept for repair)",
            f.store_quarantined.clone(),
        );
        r.register(
            "dimby_cluster_drain_remaining_players",
            "Players still on a draining node",
            f.drain_remaining.clone(),
        );
        r.register(
            "dimby_cluster_drains",
            "Finished drains by node and mode",
            f.drains.clone(),
        );
        r.register(
            "dimby_deploy_phase",
            "1 for the deploy phase this process is in (standby, taking_over, serving, handing_over, stopping)",
            f.deploy_phase.clone(),
        );
        r.register(
            "dimby_deploy_phase_changes",
            "Deploy phases this process entered",
            f.deploy_phase_changes.clone(),
        );
        r.register(
            "dimby_deploy_gates",
            "Pre-cutover gate runs in this process by result (passed, failed)",
            f.deploy_gates.clone(),
        );
        r.register(
            "dimby_deploy_gate_checks",
            "Pre-cutover gate checks in this process by check and result (passed, failed)",
            f.deploy_gate_checks.clone(),
        );
        r.register(
            "dimby_discord_identify_turns",
            "Shard identifies let go by the identify queue, by whose turn-taking: shared (the \
             application's, through the store) or own (this process's, the store unreachable)",
            f.identify_turns.clone(),
        );
        r.register(
            "dimby_filter_changes",
            "Audio filter changes made with /filter, by preset (a preset's name, or equalizer, \
             timescale, reset for the custom settings and the reset): the effect usage",
            f.filter_changes.clone(),
        );
        r.register(
            "dimby_autocomplete_answers",
            "Autocomplete answers (suggestions while typing) by command and where the \
             suggestions came from (searched, cached, joined, limited, timed_out, failed, listed, unsent)",
            f.suggestions.clone(),
        );
        r.register(
            "dimby_autocomplete_duration_seconds",
            "Time from an autocomplete interaction's arrival to its answer being sent, by command",
            f.suggestion_duration.clone(),
        );
        r.register(
            "dimby_health_alerts",
            "Webhook alert messages by kind and result",
            f.alerts.clone(),
        );
        r.register(
            "dimby_admin_connections_closed",
            "Admin server connections closed under pressure, by reason",
            f.admin_connections_closed.clone(),
        );
        r.register(
            "dimby_discord_rest_requests",
            "Discord REST calls by route group and the final answer's HTTP status (none: no answer)",
            f.discord_rest.clone(),
        );
        r.register(
            "dimby_discord_rest_request_duration_seconds",
            "Discord REST calls, issued to the final answer (rate-limit waits and retries included)",
            f.discord_rest_duration.clone(),
        );
        r.register(
            "dimby_discord_rest_rate_limit_wait_seconds",
            "Discord REST calls, issued to the final attempt sent: waits on the rate limiter and 429 retries",
            f.discord_rest_wait.clone(),
        );
        r.register(
            "dimby_discord_rest_rate_limited",
            "429 answers from Discord's REST API (each was waited out and retried)",
            f.discord_rest_rate_limited.clone(),
        );
        families
    }

    pub(crate) fn record_discord_rest(&self, call: &DiscordRestCall) {
        let route = call.route.as_str();
        self.discord_rest
            .get_or_create(&RouteStatusLabels {
                route,
                status: discord_status_label(call.status),
            })
            .inc();
        let labels = RouteLabels { route };
        self.discord_rest_duration
            .get_or_create(&labels)
            .observe(call.elapsed.as_secs_f64());
        self.discord_rest_wait
            .get_or_create(&labels)
            .observe(call.waited.as_secs_f64());
        if call.rate_limited > 0 {
            self.discord_rest_rate_limited
                .get_or_create(&labels)
                .inc_by(u64::from(call.rate_limited));
        }
    }

    pub(crate) fn record_command(
        &self,
        command: String,
        outcome: CommandOutcome,
        elapsed: Duration,
    ) {
        self.command_duration
            .get_or_create(&CommandLabels {
                command: command.clone(),
            })
            .observe(elapsed.as_secs_f64());
        self.commands
            .get_or_create(&CommandOutcomeLabels {
                command,
                outcome: outcome.as_str(),
            })
            .inc();
    }

    pub(crate) fn record_command_track_start(&self, command: String, elapsed: Duration) {
        self.command_track_start
            .get_or_create(&CommandLabels { command })
            .observe(elapsed.as_secs_f64());
    }

    pub(crate) fn record_command_lavalink(&self, command: String, elapsed: Duration) {
        self.command_lavalink
            .get_or_create(&CommandLabels { command })
            .observe(elapsed.as_secs_f64());
    }

    pub(crate) fn record_load(&self, load_type: Option<&str>, source: QuerySource) {
        let result = match load_type {
            None => "failed",
            Some(kind) => LOAD_TYPES
                .iter()
                .find(|known| **known == kind)
                .copied()
                .unwrap_or("unknown"),
        };
        self.loads
            .get_or_create(&LoadLabels {
                result,
                source: source.as_str(),
            })
            .inc();
    }

    pub(crate) fn record_voice_heal(&self, action: VoiceAction, outcome: HealOutcome) {
        self.voice_heals
            .get_or_create(&HealLabels {
                action: action.as_str(),
                outcome: outcome.as_str(),
            })
            .inc();
    }

    pub(crate) fn record_admin_pressure(&self, pressure: AdminPressure) {
        self.admin_connections_closed
            .get_or_create(&ReasonLabels {
                reason: pressure.as_str(),
            })
            .inc();
    }

    pub(crate) fn record_deploy_phase(&self, phase: crate::DeployPhase) {
        for each in crate::DeployPhase::ALL {
            self.deploy_phase
                .get_or_create(&PhaseLabels {
                    phase: each.as_str(),
                })
                .set(i64::from(each == phase));
            // Every phase's counter exists from the first phase on, at 0, so that the first
            // entry into a phase is an increase a query sees, not a new series.
            let _ = self.deploy_phase_changes.get_or_create(&PhaseLabels {
                phase: each.as_str(),
            });
        }
        self.deploy_phase_changes
            .get_or_create(&PhaseLabels {
                phase: phase.as_str(),
            })
            .inc();
    }

    pub(crate) fn record_deploy_gate(&self, run: &crate::GateRun) {
        let result = |passed: bool| if passed { "passed" } else { "failed" };
        self.deploy_gates
            .get_or_create(&ResultLabels {
                result: result(run.passed),
            })
            .inc();
        for (kind, passed) in &run.checks {
            self.deploy_gate_checks
                .get_or_create(&GateCheckLabels {
                    check: kind.as_str(),
                    result: result(*passed),
                })
                .inc();
        }
    }

    pub(crate) fn record_identify_turn(&self, turn: crate::IdentifyTurn) {
        // Both series exist from the first identify on, so that the first fallback is an
        // increase a query sees.
        for each in [crate::IdentifyTurn::Shared, crate::IdentifyTurn::Own] {
            let _ = self.identify_turns.get_or_create(&QueueLabels {
                queue: each.as_str(),
            });
        }
        self.identify_turns
            .get_or_create(&QueueLabels {
                queue: turn.as_str(),
            })
            .inc();
    }

    pub(crate) fn record_filter_change(&self, preset: &'static str) {
        self.filter_changes
            .get_or_create(&PresetLabels { preset })
            .inc();
    }

    pub(crate) fn record_suggestions(
        &self,
        command: &'static str,
        outcome: crate::SuggestOutcome,
        elapsed: Duration,
    ) {
        self.suggestions
            .get_or_create(&SuggestLabels {
                command,
                outcome: outcome.as_str(),
            })
            .inc();
        self.suggestion_duration
            .get_or_create(&StaticCommandLabels { command })
            .observe(elapsed.as_secs_f64());
    }

    pub(crate) fn record_alert(&self, kind: AlertKind, result: AlertResult) {
        let kind = match kind {
            AlertKind::Firing => "firing",
            AlertKind::Recovery => "recovery",
        };
        let result = match result {
            AlertResult::Sent => "sent",
            AlertResult::Failed => "failed",
            AlertResult::Suppressed => "suppressed",
        };
        self.alerts
            .get_or_create(&AlertLabels { kind, result })
            .inc();
    }

    #[allow(clippy::too_many_lines)] // one arm per event, read top-down
    pub(crate) fn observe_cluster(&self, event: &ClusterEvent) {
        match event {
            ClusterEvent::Player {
                event, after_move, ..
            } => self.observe_player(event, *after_move),
            ClusterEvent::NodeReady { node, resumed } => {
                let was_lost = self
                    .lost_nodes
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .remove(node);
                if was_lost {
                    let labels = NodeLabels { node: node.clone() };
                    self.reconnects.get_or_create(&labels).inc();
                    self.resumes
                        .get_or_create(&NodeOutcomeLabels {
                            node: node.clone(),
                            outcome: if *resumed { "resumed" } else { "new" },
                        })
                        .inc();
                }
            }
            ClusterEvent::HandoverTaken {
                node,
                outcome,
                players,
            } => {
                self.handovers
                    .get_or_create(&NodeOutcomeLabels {
                        node: node.clone(),
                        outcome: outcome.as_str(),
                    })
                    .inc();
                self.handover_players
                    .get_or_create(&NodeLabels { node: node.clone() })
                    .inc_by(u64::try_from(*players).unwrap_or(u64::MAX));
            }
            ClusterEvent::NodeLost { node, loss } => {
                self.lost_nodes
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .insert(node.clone());
                self.socket_losses
                    .get_or_create(&NodeLossLabels {
                        node: node.clone(),
                        loss: loss.clone(),
                    })
                    .inc();
            }
            ClusterEvent::Selected {
                node,
                region_matched,
                ..
            } => {
                self.selections
                    .get_or_create(&SelectionLabels {
                        node: node.clone(),
                        region_matched: if *region_matched { "true" } else { "false" },
                    })
                    .inc();
            }
            ClusterEvent::MoveFinished {
                cause,
                outcome,
                duration,
                rewind,
                ..
            } => {
                self.moves
                    .get_or_create(&MoveLabels {
                        cause: cause.as_str(),
                        outcome: outcome.as_str(),
                    })
                    .inc();
                if outcome.as_str() != "pending" {
                    let labels = CauseLabels {
                        cause: cause.as_str(),
                    };
                    self.move_duration
                        .get_or_create(&labels)
                        .observe(duration.as_secs_f64());
                    self.move_rewind
                        .get_or_create(&labels)
                        .observe(rewind.as_secs_f64());
                }
            }
            ClusterEvent::MoveAttemptFailed { to, error, .. } => {
                self.move_attempts_failed
                    .get_or_create(&NodeErrorLabels {
                        node: to.clone(),
                        error,
                    })
                    .inc();
            }
            ClusterEvent::PendingChanged { pending } => {
                self.pending
                    .set(i64::try_from(*pending).unwrap_or(i64::MAX));
            }
            ClusterEvent::DrainProgress {
                node, remaining, ..
            } => {
                self.drain_remaining
                    .get_or_create(&NodeLabels { node: node.clone() })
                    .set(i64::try_from(*remaining).unwrap_or(i64::MAX));
            }
            ClusterEvent::DrainComplete(report) => {
                self.drain_remaining
                    .get_or_create(&NodeLabels {
                        node: report.node.clone(),
                    })
                    .set(0);
                self.drains
                    .get_or_create(&DrainLabels {
                        node: report.node.clone(),
                        mode: match report.mode {
                            DrainMode::Soft => "soft",
                            DrainMode::Hard => "hard",
                        },
                    })
                    .inc();
            }
            ClusterEvent::NodesChanged
            | ClusterEvent::Circuit { .. }
            | ClusterEvent::Probe { .. }
            | ClusterEvent::MoveStarted { .. } => {}
        }
    }

    fn observe_player(&self, event: &Event, after_move: bool) {
        let counter = match event {
            Event::TrackStart(_) if !after_move => self.started.clone(),
            Event::TrackStart(_) | Event::Unknown(_) => return,
            Event::TrackEnd(end) => self.ended.get_or_create_owned(&ReasonLabels {
                reason: end.reason.as_str(),
            }),
            Event::TrackException(exception) => {
                self.exceptions.get_or_create_owned(&SeverityLabels {
                    severity: exception.exception.severity.as_str(),
                })
            }
            Event::TrackStuck(_) => self.stuck.clone(),
            Event::WebSocketClosed(closed) => {
                let code = VOICE_CLOSE_CODES
                    .iter()
                    .find(|(known, _)| *known == closed.code)
                    .map_or("other", |(_, label)| *label);
                self.voice_closes.get_or_create_owned(&CodeLabels { code })
            }
        };
        counter.inc();
    }
}
