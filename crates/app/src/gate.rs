//! The pre-cutover gate a process in standby runs when the deploy asks (`GET
//! /admin/deploy/gate`): what would make it fail right after taking over, checked before the
//! active process is touched. Every check has its own time bound, and none sends a secret
//! anywhere but to its own service.
//!
//! - `discord_rest`: the token logs in (the bot user, the application, the gateway's limits);
//! - `commands`: the build's slash commands against the registered ones (a difference is
//!   reported, not a failure: the build registers its own when it takes over);
//! - `lavalink:<node>`: every enabled node's REST answers `/version` and `/v4/info` with the
//!   configured password;
//! - `store`: the store is the one on disk and takes writes;
//! - `voice_probe` (with `[deploy.probe]`): a voice join in a staging guild with a probe track
//!   that must connect and advance ([`voice_probe`]);
//! - `log`: the process logged no error since it entered standby, watched for
//!   `deploy.gate_log_window` after the other checks (its log's counts: nobody scans its output).

use std::sync::Arc;
use std::time::Duration;

use clock::Clock as _;

use async_trait::async_trait;

use admin::deploy::{Gate, GateCheck, GateReport};

mod voice_probe;

/// How long one check may take.
const CHECK_BOUND: Duration = Duration::from_secs(10);

/// The gate of this process.
pub struct ProcessGate {
    /// The Discord layer's settings (token, REST endpoint).
    pub discord: discord::Settings,
    /// The configured Lavalink nodes.
    pub nodes: Vec<cluster::NodeSpec>,
    /// The store.
    pub store: Arc<dyn store::Store>,
    /// Where each gate run is counted (`dimby_deploy_gates_total`, `dimby_deploy_gate_checks_total`).
    pub metrics: telemetry::Metrics,
    /// The voice probe (`[deploy.probe]`), if configured.
    pub probe: Option<crate::config::ProbeConfig>,
    /// How long the `log` check watches (`deploy.gate_log_window`).
    pub log_window: Duration,
    /// The log's counts when the process entered standby: the `log` check's start.
    pub log_since: crate::logging::LogCounts,
}

#[async_trait]
impl Gate for ProcessGate {
    async fn run(&self) -> GateReport {
        let mut checks = Vec::new();
        let (discord, bot) = timed("discord_rest", self.discord_rest()).await;
        checks.push(discord);
        if let Some(standby) = &bot {
            checks.push(timed("commands", commands(standby)).await.0);
        }
        let user = bot.as_ref().map_or(1, |standby| standby.bot_user().get());
        let nodes = self
            .nodes
            .iter()
            .filter(|node| node.enabled)
            .map(|node| async move {
                timed(&format!("lavalink:{}", node.name), lavalink(node, user))
                    .await
                    .0
            });
        checks.extend(futures_util::future::join_all(nodes).await);
        if let (Some(probe), Some(standby)) = (&self.probe, &bot) {
            // Only on a node whose own check passed: a node that refused the password or did
            // not answer already failed the gate, and would only make the probe wait.
            let usable: Vec<cluster::NodeSpec> = self
                .nodes
                .iter()
                .filter(|node| {
                    checks
                        .iter()
                        .any(|c| c.passed && c.name == format!("lavalink:{}", node.name))
                })
                .cloned()
                .collect();
            checks.push(
                timed_within(
                    "voice_probe",
                    voice_probe::bound(probe),
                    voice_probe::check(standby, &usable, probe),
                )
                .await
                .0,
            );
        }
        checks.push(timed("store", store_check(&*self.store)).await.0);
        checks.push(
            timed_within(
                "log",
                self.log_window + CHECK_BOUND,
                log_check(self.log_window, self.log_since),
            )
            .await
            .0,
        );
        let report = GateReport::of(checks);
        let failed: Vec<&str> = report
            .checks
            .iter()
            .filter(|c| !c.passed)
            .map(|c| c.name.as_str())
            .collect();
        tracing::info!(
            passed = report.passed,
            failed = failed.len(),
            failed_checks = ?failed,
            "pre-cutover gate run"
        );
        self.metrics.record_deploy_gate(&telemetry::GateRun {
            passed: report.passed,
            checks: report
                .checks
                .iter()
                .filter_map(|c| telemetry::GateCheckKind::of(&c.name).map(|kind| (kind, c.passed)))
                .collect(),
        });
        report
    }
}

/// What a check found: passed or not, in words, and what it hands on.
struct Found<T> {
    passed: bool,
    detail: String,
    value: Option<T>,
}

impl<T> Found<T> {
    fn pass(detail: impl Into<String>, value: Option<T>) -> Self {
        Self {
            passed: true,
            detail: detail.into(),
            value,
        }
    }

    fn fail(detail: impl Into<String>) -> Self {
        Self {
            passed: false,
            detail: detail.into(),
            value: None,
        }
    }
}

/// Runs a check within [`CHECK_BOUND`] and times it.
async fn timed<T>(
    name: &str,
    check: impl std::future::Future<Output = Found<T>>,
) -> (GateCheck, Option<T>) {
    timed_within(name, CHECK_BOUND, check).await
}

/// Runs a check within `bound` and times it.
async fn timed_within<T>(
    name: &str,
    bound: Duration,
    check: impl std::future::Future<Output = Found<T>>,
) -> (GateCheck, Option<T>) {
    let began = clock::SystemClock.now();
    let found = tokio::time::timeout(bound, check)
        .await
        .unwrap_or_else(|_| Found::fail(format!("no answer within {bound:?}")));
    let check = GateCheck {
        name: name.to_owned(),
        passed: found.passed,
        detail: found.detail,
        took_ms: u64::try_from((clock::SystemClock.now() - began).as_millis()).unwrap_or(u64::MAX),
    };
    (check, found.value)
}

impl ProcessGate {
    async fn discord_rest(&self) -> Found<discord::Standby> {
        match discord::Standby::connect(self.discord.clone()).await {
            Ok(standby) => Found::pass(
                format!(
                    "logged in as {}; {} shard(s) recommended",
                    standby.bot_user(),
                    standby.recommended_shards()
                ),
                Some(standby),
            ),
            Err(error) => Found::fail(error.startup_advice()),
        }
    }
}

/// The build's commands against the registered ones.
async fn commands(standby: &discord::Standby) -> Found<()> {
    let registered = match standby.registered_commands().await {
        Ok(registered) => registered,
        Err(error) => return Found::fail(format!("cannot list the registered commands: {error}")),
    };
    let ours = bot::commands::definitions();
    let shape = |command: &discord::Command| {
        serde_json::json!({
            "name": command.name,
            "description": command.description,
            "options": command.options,
        })
    };
    let mut added = Vec::new();
    let mut changed = Vec::new();
    for command in &ours {
        match registered.iter().find(|r| r.name == command.name) {
            None => added.push(command.name.as_str()),
            Some(existing) if shape(existing) != shape(command) => {
                changed.push(command.name.as_str());
            }
            Some(_) => {}
        }
    }
    let removed: Vec<&str> = registered
        .iter()
        .filter(|r| !ours.iter().any(|c| c.name == r.name))
        .map(|r| r.name.as_str())
        .collect();
    if added.is_empty() && changed.is_empty() && removed.is_empty() {
        return Found::pass(
            format!("the {} registered commands are the build's", ours.len()),
            None,
        );
    }
    Found::pass(
        format!(
            "the build registers its {} commands when it takes over: new {:?}, changed {:?}, removed {:?}",
            ours.len(),
            added,
            changed,
            removed
        ),
        None,
    )
}

/// A node's REST with the configured password.
async fn lavalink(node: &cluster::NodeSpec, user: u64) -> Found<()> {
    let config = match lavalink::NodeConfig::new(&node.name, &node.url, &node.password, user) {
        Ok(config) => config,
        Err(error) => return Found::fail(format!("its configuration is refused: {error}")),
    };
    let rest = lavalink::client::Rest::new(config);
    let version = match rest.version().await {
        Ok(version) => version,
        Err(error) if matches!(error.status(), Some(401 | 403)) => {
            return Found::fail("/version: the node refused the configured password");
        }
        Err(error) => return Found::fail(format!("/version: {error}")),
    };
    match rest.info().await {
        Ok(info) => Found::pass(
            format!(
                "version {version}; {} source(s), {} plugin(s)",
                info.source_managers.len(),
                info.plugins.len()
            ),
            None,
        ),
        Err(error) if matches!(error.status(), Some(401 | 403)) => {
            Found::fail("/v4/info: the node refused the configured password")
        }
        Err(error) => Found::fail(format!("/v4/info: {error}")),
    }
}

async fn store_check(store: &dyn store::Store) -> Found<()> {
    match store.check().await {
        Ok(()) => Found::pass("the store on disk takes writes", None),
        Err(error) => Found::fail(error.to_string()),
    }
}

/// The errors the process logged since `since` (its entry into standby), after watching for
/// `window` more.
async fn log_check(window: Duration, since: crate::logging::LogCounts) -> Found<()> {
    if !crate::logging::counting() {
        return Found::pass(
            "not checked: this process's log is not counted (its subscriber is not ours)",
            None,
        );
    }
    tokio::time::sleep(window).await;
    let errors = crate::logging::events().since(&since).errors;
    if errors == 0 {
        Found::pass(
            format!("no error logged since standby, watched {window:?} after the other checks"),
            None,
        )
    } else {
        Found::fail(format!(
            "{errors} error(s) logged since standby (watched {window:?} after the other checks); \
             its log says which"
        ))
    }
}
