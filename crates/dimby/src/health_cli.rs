//! `dimby health check`: a CI/CD gate. Exit codes as monitoring plugins use them: 0 pass, 1 warn,
//! 2 fail, 3 unknown (unreachable, timeout, malformed answer).

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
    /// The admin token (without it only the overall status is visible).
    #[arg(long, env = "DIMBY_ADMIN_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Print the health+json report instead of a table.
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
            println!("UNKNOWN: {reason}");
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

async fn fetch(args: &CheckArgs) -> Result<HealthReport, String> {
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(args.timeout)
        .build()
        .map_err(|e| e.to_string())?;
    let url = format!("{}/healthz", args.url.trim_end_matches('/'));
    let mut request = client.get(&url);
    if let Some(token) = &args.token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.map_err(|e| {
        if e.is_timeout() {
            format!(
                "{url} did not answer within {}",
                humantime::format_duration(args.timeout)
            )
        } else {
            format!("cannot reach {url}")
        }
    })?;
    let code = response.status();
    let body = response.bytes().await.map_err(|e| e.to_string())?;
    serde_json::from_slice::<HealthReport>(&body)
        .map_err(|_| format!("{url} answered HTTP {code} without a health report"))
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

/// `--direct`: the configuration and every node, without a running bot.
async fn direct(args: &CheckArgs) -> Verdict {
    let config = match crate::config::Config::load(args.config.as_deref()) {
        Ok(config) => config,
        Err(error) => {
            println!("FAIL config: {error}");
            return Verdict::Fail;
        }
    };
    println!("PASS config: valid");
    if config.lavalink.nodes.is_empty() {
        println!("WARN lavalink: no nodes configured");
        return Verdict::Warn;
    }
    let mut worst = Verdict::Pass;
    for node in &config.lavalink.nodes {
        let outcome = match lavalink::NodeConfig::new(&node.name, &node.url, &node.password, 1) {
            Ok(mut client_config) => {
                client_config.request_timeout = args.timeout;
                lavalink::client::Rest::new(client_config).version().await
            }
            Err(error) => {
                println!("FAIL {}: {error}", node.name);
                worst = worst.max_with(Verdict::Fail);
                continue;
            }
        };
        match outcome {
            Ok(version) => println!("PASS {}: Lavalink {version}", node.name),
            Err(lavalink::client::RestError::Unauthorized { status, .. }) => {
                println!(
                    "FAIL {}: the node refused the password (HTTP {status})",
                    node.name
                );
                worst = worst.max_with(Verdict::Fail);
            }
            Err(error) => {
                println!("FAIL {}: {error}", node.name);
                worst = worst.max_with(Verdict::Fail);
            }
        }
    }
    worst
}
