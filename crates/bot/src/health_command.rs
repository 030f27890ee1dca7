//! `/health`: the probes' last results for admins, one embed per subsystem with each check's
//! status, observed value, last probe time and the runbook's suggested action. Only members with
//! Manage Guild, or the configured admin users and roles, may ask; others get an ephemeral
//! refusal. Nothing secret and no user id appears: check results never hold either.

use std::fmt::Write as _;
use std::time::UNIX_EPOCH;

use health::{CheckResult, Status};
use twilight_model::channel::message::Embed;
use twilight_model::guild::Permissions;
use twilight_util::builder::embed::{EmbedBuilder, EmbedFieldBuilder, EmbedFooterBuilder};

use discord::{CommandInvocation, Reply};

/// Who may use `/health` besides members with Manage Guild.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HealthAccess {
    /// User ids (bot owners).
    pub users: Vec<u64>,
    /// Role ids (e.g. an on-call role).
    pub roles: Vec<u64>,
}

impl HealthAccess {
    /// Whether the invoker may see the health report.
    pub fn allows(&self, inv: &CommandInvocation) -> bool {
        inv.member_permissions.is_some_and(|p| {
            p.contains(Permissions::MANAGE_GUILD) || p.contains(Permissions::ADMINISTRATOR)
        }) || self.users.contains(&inv.user.get())
            || inv
                .member_roles
                .iter()
                .any(|role| self.roles.contains(&role.get()))
    }
}

/// Discord allows at most 25 fields in an embed and 10 embeds in a message.
const MAX_FIELDS: usize = 24;
const MAX_EMBEDS: usize = 10;

/// The subsystems, in the order the report shows them, and the check prefixes they hold.
const SUBSYSTEMS: [(&str, &[&str]); 6] = [
    ("Lavalink", &["lavalink"]),
    ("Discord gateway", &["discord"]),
    ("Voice", &["voice"]),
    ("Interactions", &["interactions"]),
    ("Store", &["store"]),
    ("Process", &["process"]),
];

/// The suggested action for a failing or warning check, from docs/runbooks/health-checks.md.
pub fn runbook_action(check: &str) -> &'static str {
    match check {
        "lavalink:eligibleNodes" => {
            "Start or fix a Lavalink node; waiting players resume by themselves."
        }
        "lavalink:responseTime" | "lavalink:state" => {
            "Check the node's host and logs; `dimby nodes list` shows its state. Its players already moved."
        }
        "lavalink:lastSeen" => "The node is silent (frozen?): restart it.",
        "lavalink:statsAge" => {
            "The node stopped sending stats: check its logs, restart it if it lasts."
        }
        "lavalink:playerReady" => {
            "The node cannot load the probe track: check its sources/plugins and its outbound network."
        }
        "discord:connected" => {
            "Reconnecting: wait. Stopped: check discord.token and the intents, then restart."
        }
        "discord:latency" | "discord:lastEvent" => {
            "Discord or the network is slow; restart the bot if it lasts."
        }
        "discord:permissions" => {
            "Grant the bot View Channel, Send Messages, Embed Links (control channel) and Connect, Speak (voice)."
        }
        "voice:connected" => {
            "Voice connections are down: check the nodes' outbound UDP and Discord's status page."
        }
        "voice:ping" => "The nodes' voice gateway round trips are slow: check the nodes' network.",
        "voice:selfHealing" => {
            "Self-healing gave up in some guilds: look at the voice close codes in the logs; /play reconnects."
        }
        "interactions:ackLatency" => {
            "Commands are slow to acknowledge: look at CPU saturation and process:eventLoopLag; take a profile."
        }
        "store:responseTime" => {
            "Check the data directory (disk full, permissions); see docs/store.md."
        }
        "process:eventLoopLag" => {
            "The runtime is busy or blocked: look at CPU saturation; take a profile."
        }
        "process:memory" => {
            "Memory is above the configured limit: take a heap profile; restart if it grows."
        }
        _ => "See docs/runbooks/health-checks.md.",
    }
}

fn emoji(status: Status) -> &'static str {
    match status {
        Status::Pass => "🟢",
        Status::Warn => "🟡",
        Status::Fail => "🔴",
    }
}

fn colour(status: Status) -> u32 {
    match status {
        Status::Pass => 0x2e_cc71,
        Status::Warn => 0xf1_c40f,
        Status::Fail => 0xe7_4c3c,
    }
}

fn worst(statuses: impl IntoIterator<Item = Status>) -> Status {
    statuses
        .into_iter()
        .fold(Status::Pass, |acc, s| match (acc, s) {
            (Status::Fail, _) | (_, Status::Fail) => Status::Fail,
            (Status::Warn, _) | (_, Status::Warn) => Status::Warn,
            _ => Status::Pass,
        })
}

fn field(result: &CheckResult) -> EmbedFieldBuilder {
    let name = match &result.spec.component_id {
        Some(id) => format!("{} {} ({id})", emoji(result.status), result.spec.name),
        None => format!("{} {}", emoji(result.status), result.spec.name),
    };
    let mut value = String::new();
    if let Some(observed) = &result.observation.observed_value {
        let observed = observed
            .as_str()
            .map_or_else(|| observed.to_string(), str::to_owned);
        let unit = result.observation.observed_unit.as_deref().unwrap_or("");
        value.push_str(format!("**{observed}** {unit}").trim_end());
    }
    if let Some(output) = &result.observation.output {
        if !value.is_empty() {
            value.push_str(" · ");
        }
        value.push_str(output);
    }
    match result
        .checked_at
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
    {
        Some(at) => {
            let _ = write!(value, "\nchecked <t:{}:R>", at.as_secs());
        }
        None => value.push_str("\nnot checked yet"),
    }
    if result.status != Status::Pass {
        value.push_str("\n→ ");
        value.push_str(runbook_action(&result.spec.name));
    }
    // Discord caps a field value at 1024 characters.
    let value: String = value.chars().take(1024).collect();
    EmbedFieldBuilder::new(name.chars().take(256).collect::<String>(), value)
}

/// The health report as embeds: one per subsystem that has checks.
pub fn report(results: &[CheckResult], overall: Status, now_unix_ms: u64) -> Reply {
    let mut embeds: Vec<Embed> = Vec::new();
    let mut shown = 0usize;
    for (title, prefixes) in SUBSYSTEMS {
        let mut checks: Vec<&CheckResult> = results
            .iter()
            .filter(|r| {
                prefixes
                    .iter()
                    .any(|p| r.spec.name.split(':').next() == Some(*p))
            })
            .collect();
        if checks.is_empty() {
            continue;
        }
        // Problems first, so a truncated embed still shows them.
        checks.sort_by_key(|r| match r.status {
            Status::Fail => 0,
            Status::Warn => 1,
            Status::Pass => 2,
        });
        shown += checks.len();
        let status = worst(checks.iter().map(|r| r.status));
        let mut embed = EmbedBuilder::new()
            .title(format!("{} {title}", emoji(status)))
            .color(colour(status));
        for result in checks.iter().take(MAX_FIELDS) {
            embed = embed.field(field(result));
        }
        if checks.len() > MAX_FIELDS {
            embed = embed.field(EmbedFieldBuilder::new(
                "…",
                format!(
                    "{} more checks: see /healthz on the admin server",
                    checks.len() - MAX_FIELDS
                ),
            ));
        }
        embeds.push(embed.build());
    }
    let now = now_unix_ms / 1000;
    let summary = format!(
        "{} Overall: **{}** ({shown} checks) at <t:{now}:T>",
        emoji(overall),
        overall.as_str()
    );
    if results.len() > shown {
        // Checks of a subsystem this report does not know: say so rather than hide them.
        let other: Vec<&CheckResult> = results
            .iter()
            .filter(|r| {
                !SUBSYSTEMS.iter().any(|(_, prefixes)| {
                    prefixes
                        .iter()
                        .any(|p| r.spec.name.split(':').next() == Some(*p))
                })
            })
            .collect();
        let mut embed = EmbedBuilder::new()
            .title(format!(
                "{} Other",
                emoji(worst(other.iter().map(|r| r.status)))
            ))
            .color(colour(worst(other.iter().map(|r| r.status))));
        for result in other.iter().take(MAX_FIELDS) {
            embed = embed.field(field(result));
        }
        embeds.push(embed.build());
    }
    if let Some(last) = embeds.last_mut() {
        last.footer =
            Some(EmbedFooterBuilder::new("Runbook: docs/runbooks/health-checks.md").build());
    }
    embeds.truncate(MAX_EMBEDS);
    let mut reply = Reply::text(summary).ephemeral();
    reply.embeds = embeds;
    reply
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, SystemTime};

    use health::{CheckResult, Observation, ProbeSpec, Status};

    use super::report;

    fn result(
        name: &str,
        id: Option<&str>,
        status: Status,
        observation: Observation,
    ) -> CheckResult {
        let mut spec = ProbeSpec::new(
            name,
            "component",
            Duration::from_secs(5),
            Duration::from_secs(3),
        );
        if let Some(id) = id {
            spec = spec.component(id);
        }
        CheckResult {
            spec,
            status,
            observation,
            consecutive_failures: u32::from(status == Status::Fail) * 2,
            checked_at: Some(SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000)),
            duration: Duration::from_millis(3),
        }
    }

    #[test]
    fn one_embed_per_subsystem_with_values_times_and_actions() {
        let results = vec![
            result(
                "lavalink:state",
                Some("node-a"),
                Status::Pass,
                Observation::pass("up/closed", "state"),
            ),
            result(
                "lavalink:state",
                Some("node-b"),
                Status::Fail,
                Observation::with(Status::Fail, "down: players moved to other nodes")
                    .value("down/open", "state"),
            ),
            result(
                "store:responseTime",
                None,
                Status::Pass,
                Observation::pass(0.4, "ms"),
            ),
            result(
                "voice:connected",
                None,
                Status::Warn,
                Observation::with(Status::Warn, "9 of 10 voice connections up")
                    .value(90.0, "percent"),
            ),
        ];
        let reply = report(&results, Status::Fail, 1_800_000_000_000);
        assert!(reply.ephemeral);
        assert!(
            reply
                .content
                .as_deref()
                .is_some_and(|c| c.contains("fail") && c.contains("4 checks"))
        );
        let titles: Vec<String> = reply
            .embeds
            .iter()
            .filter_map(|e| e.title.clone())
            .collect();
        assert_eq!(titles, ["🔴 Lavalink", "🟡 Voice", "🟢 Store"]);
        let lavalink = &reply.embeds[0];
        // The failing node comes first, with its value, its time and what to do.
        assert!(
            lavalink.fields[0].name.contains("node-b"),
            "{:?}",
            lavalink.fields
        );
        let value = &lavalink.fields[0].value;
        assert!(value.contains("**down/open** state"), "{value}");
        assert!(value.contains("<t:1800000000:R>"), "{value}");
        assert!(value.contains("dimby nodes list"), "{value}");
        // A passing check has no action.
        assert!(!lavalink.fields[1].value.contains('→'));
    }
}
