//! `dimby health check`: a CI/CD gate. Exit codes as monitoring plugins use them: 0 pass, 1 warn,
//! 2 fail, 3 unknown (unreachable, timeout, malformed answer, or the admin token refused: a gate
//! must not pass on a misconfiguration).

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use health::{HealthReport, Status};

/// Options of `dimby health check`.
#[derive(Debug, Clone, Args)]
pub struct CheckArgs {
    /// Base URL of the bot's admin server.
    #[arg(
        long,
        default_value = "http://127.0.0.1:8080",
        conflicts_with = "direct"
    )]
    pub url: String,
    /// The admin token (without it only the overall status is visible). A token the bot refuses
    /// (wrong, or the bot has no admin.token) is a misconfiguration: exit 3, said on stderr too.
    #[arg(long, env = "DIMBY_ADMIN_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Print JSON instead of a table: the health+json report (with --direct, one in the same
    /// shape: `status` and `checks`).
    #[arg(long)]
    pub json: bool,
    /// Judge only these components (e.g. `lavalink,store`); a required component without a check
    /// is unknown.
    #[arg(long, value_delimiter = ',')]
    pub require: Vec<String>,
    /// Give up after this long (e.g. `3s`, `500ms`).
    #[arg(long, default_value = "3s", value_parser = humantime::parse_duration)]
    pub timeout: Duration,
    /// Check without a running bot: the config file is valid and every node answers with its
    /// password.
    #[arg(long, requires = "config")]
    pub direct: bool,
    /// The config file for `--direct`.
    #[arg(long)]
    pub config: Option<PathBuf>,
}

/// The outcome, as an exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// 0.
    Pass,
    /// 1.
    Warn,
    /// 2.
    Fail,
    /// 3.
    Unknown,
}

impl Verdict {
    fn from_status(status: Status) -> Self {
        match status {
            Status::Pass => Self::Pass,
            Status::Warn => Self::Warn,
            Status::Fail => Self::Fail,
        }
    }

    /// The process exit code.
    pub fn code(self) -> u8 {
        self.rank()
    }
}

/// Runs the check and prints the outcome.
pub async fn run(args: &CheckArgs) -> Verdict {
    if args.direct {
        return direct(args).await;
    }
    let report = match fetch(args).await {
        Ok(report) => report,
        Err(reason) => {
            if args.json {
                println!(
                    "{}",
                    serde_json::json!({ "status": "unknown", "output": reason.to_string() })
                );
            } else {
                println!("UNKNOWN: {reason}");
            }
            if matches!(reason, Unanswered::TokenRefused(_)) {
                // Loudly: a CI log shows stderr even when stdout is parsed.
                eprintln!("dimby health check: {reason}");
            }
            return Verdict::Unknown;
        }
    };
    let verdict = judge(&report, &args.require);
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report).unwrap_or_default()
        );
    } else {
        print_table(&report, verdict);
    }
    verdict
}

/// Why there is no report to judge (exit 3).
#[derive(Debug, thiserror::Error)]
enum Unanswered {
    /// No usable answer: unreachable, timed out, or not a health report.
    #[error("{0}")]
    NoReport(String),
    /// The bot refused `--token`: a misconfiguration the gate must not pass.
    #[error(
        "the bot refused the admin token ({0}); fix --token or DIMBY_ADMIN_TOKEN, or leave it \
         out for the status only"
    )]
    TokenRefused(String),
}

async fn fetch(args: &CheckArgs) -> Result<HealthReport, Unanswered> {
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(args.timeout)
        .build()
        .map_err(|e| Unanswered::NoReport(e.to_string()))?;
    let url = format!("{}/healthz", args.url.trim_end_matches('/'));
    let mut request = client.get(&url);
    // An empty token (an orchestrator passing DIMBY_ADMIN_TOKEN through unset) is no token.
    if let Some(token) = args.token.as_deref().filter(|t| !t.is_empty()) {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.map_err(|e| {
        Unanswered::NoReport(if e.is_timeout() {
            format!(
                "{url} did not answer within {}",
                humantime::format_duration(args.timeout)
            )
        } else {
            format!("cannot reach {url}")
        })
    })?;
    let code = response.status();
    let body = response
        .bytes()
        .await
        .map_err(|e| Unanswered::NoReport(e.without_url().to_string()))?;
    if matches!(code.as_u16(), 401 | 403) {
        let said = serde_json::from_slice::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v["error"].as_str().map(str::to_owned))
            .unwrap_or_default();
        return Err(Unanswered::TokenRefused(format!("HTTP {code}: {said}")));
    }
    serde_json::from_slice::<HealthReport>(&body).map_err(|_| {
        Unanswered::NoReport(format!(
            "{url} answered HTTP {code} without a health report"
        ))
    })
}

/// The verdict of a report, over every check or only the required components'.
pub fn judge(report: &HealthReport, require: &[String]) -> Verdict {
    if require.is_empty() {
        return Verdict::from_status(report.status);
    }
    if report.checks.is_empty() {
        // Anonymous: only the overall status is known, not the parts.
        return Verdict::Unknown;
    }
    let mut worst = Verdict::Pass;
    for component in require {
        let entries: Vec<_> = report
            .checks
            .iter()
            .filter(|(key, _)| key.split(':').next() == Some(component.as_str()))
            .flat_map(|(_, entries)| entries)
            .collect();
        if entries.is_empty() {
            return Verdict::Unknown;
        }
        for entry in entries {
            worst = worst.max_with(Verdict::from_status(entry.status));
        }
    }
    worst
}

impl Verdict {
    fn rank(self) -> u8 {
        match self {
            Self::Pass => 0,
            Self::Warn => 1,
            Self::Fail => 2,
            Self::Unknown => 3,
        }
    }

    fn max_with(self, other: Self) -> Self {
        if other.rank() > self.rank() {
            other
        } else {
            self
        }
    }
}

fn print_table(report: &HealthReport, verdict: Verdict) {
    println!(
        "{:<28} {:<14} {:<6} {:>14}  OUTPUT",
        "CHECK", "COMPONENT", "STATUS", "VALUE"
    );
    for (key, entries) in &report.checks {
        for entry in entries {
            let value = entry.observed_value.as_ref().map_or_else(String::new, |v| {
                let unit = entry.observed_unit.as_deref().unwrap_or("");
                format!(
                    "{} {unit}",
                    v.as_str().map_or_else(|| v.to_string(), str::to_owned)
                )
            });
            println!(
                "{key:<28} {:<14} {:<6} {value:>14}  {}",
                entry.component_id.as_deref().unwrap_or("-"),
                entry.status.as_str(),
                entry.output.as_deref().unwrap_or("")
            );
        }
    }
    println!("overall: {} ({verdict:?})", report.status.as_str());
}

/// One line of `--direct`: a check, the node it is about, its verdict and what was seen.
struct DirectCheck {
    check: &'static str,
    component: Option<String>,
    verdict: Verdict,
    output: String,
}

impl Verdict {
    fn as_str(self) -> &'static str {
        match self {
            Self::Pass => "pass",
            Self::Warn => "warn",
            Self::Fail => "fail",
            Self::Unknown => "unknown",
        }
    }
}

/// `--direct`: the configuration and every node, without a running bot; a table or, with
/// `--json`, a report in health+json's shape.
async fn direct(args: &CheckArgs) -> Verdict {
    let checks = direct_checks(args).await;
    let worst = checks
        .iter()
        .fold(Verdict::Pass, |worst, c| worst.max_with(c.verdict));
    if args.json {
        let mut map = serde_json::Map::new();
        for c in &checks {
            let mut entry = serde_json::json!({
                "status": c.verdict.as_str(),
                "output": c.output,
            });
            if let Some(component) = &c.component {
                entry["componentId"] = serde_json::Value::from(component.as_str());
            }
            if let Some(entries) = map
                .entry(c.check)
                .or_insert_with(|| serde_json::Value::Array(Vec::new()))
                .as_array_mut()
            {
                entries.push(entry);
            }
        }
        let report = serde_json::json!({ "status": worst.as_str(), "checks": map });
        println!(
            "{}",
            serde_json::to_string_pretty(&report).unwrap_or_default()
        );
    } else {
        for c in &checks {
            let name = c.component.as_deref().unwrap_or(c.check);
            println!("{} {name}: {}", c.verdict.as_str().to_uppercase(), c.output);
        }
    }
    worst
}

async fn direct_checks(args: &CheckArgs) -> Vec<DirectCheck> {
    let line = |check, component: Option<&str>, verdict, output: String| DirectCheck {
        check,
        component: component.map(str::to_owned),
        verdict,
        output,
    };
    let config = match app::config::Config::load(args.config.as_deref()) {
        Ok(config) => config,
        Err(error) => {
            return vec![line("config", None, Verdict::Fail, error.to_string())];
        }
    };
    let mut checks = vec![line("config", None, Verdict::Pass, "valid".into())];
    if config.lavalink.nodes.is_empty() {
        checks.push(line(
            "lavalink",
            None,
            Verdict::Warn,
            "no nodes configured".into(),
        ));
        return checks;
    }
    for node in &config.lavalink.nodes {
        let name = Some(node.name.as_str());
        let outcome = match lavalink::NodeConfig::new(&node.name, &node.url, &node.password, 1) {
            Ok(mut client_config) => {
                client_config.request_timeout = args.timeout;
                lavalink::client::Rest::new(client_config).version().await
            }
            Err(error) => {
                checks.push(line(
                    "lavalink:version",
                    name,
                    Verdict::Fail,
                    error.to_string(),
                ));
                continue;
            }
        };
        checks.push(match outcome {
            Ok(version) => line(
                "lavalink:version",
                name,
                Verdict::Pass,
                format!("Lavalink {version}"),
            ),
            Err(lavalink::client::RestError::Unauthorized { status, .. }) => line(
                "lavalink:version",
                name,
                Verdict::Fail,
                format!("the node refused the password (HTTP {status})"),
            ),
            Err(error) => line("lavalink:version", name, Verdict::Fail, error.to_string()),
        });
    }
    checks
}
