//! `dimby deploy`: blue-green deploys on one host (docs/runbooks/deploys.md). Reads the same
//! config file as the bot: `[deploy]` with a `[deploy.blue]` and a `[deploy.green]` slot, the
//! admin token, the store (the deploy ledger) and the alert webhook (the summary is posted there).

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;
use clap::{Args, Subcommand};

/// The deploy commands.
#[derive(Debug, Subcommand)]
pub enum DeployCommand {
    /// Deploy a build: start it in the colour that does not serve, gate it, cut over, watch, and
    /// roll back by itself on a failing signal. Exit code 0 when the build was promoted, 1
    /// otherwise (rejected at the gate, rolled back, or failed).
    Run(RunArgs),
    /// Hand the sessions back to the other colour now (started in standby first if it does not
    /// run).
    Rollback(ConfigArgs),
    /// At boot, when both colours start in standby: the ledger's active colour takes over (no-op
    /// when one serves). deploy/systemd/dimby-resume.service runs it.
    Resume(ConfigArgs),
    /// Which colour serves, both colours' phases and builds, and the last deploy.
    Status(ConfigArgs),
    /// The deploy ledger, newest first.
    History(HistoryArgs),
}

/// Where the config is.
#[derive(Debug, Args)]
pub struct ConfigArgs {
    /// The configuration file (TOML); environment variables DIMBY_* override it.
    #[arg(long, env = "DIMBY_CONFIG")]
    pub config: Option<PathBuf>,
}

/// Options of `dimby deploy run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
    /// The new build's version (recorded in the ledger).
    #[arg(long)]
    pub version: String,
    /// The new build's commit (recorded in the ledger).
    #[arg(long)]
    pub commit: String,
    /// Also write the Markdown summary to this file.
    #[arg(long)]
    pub summary: Option<PathBuf>,
    /// Also write the report as JSON to this file.
    #[arg(long)]
    pub report: Option<PathBuf>,
}

/// Options of `dimby deploy history`.
#[derive(Debug, Args)]
pub struct HistoryArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
    /// How many deploys.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u64).range(1..=1_000))]
    pub limit: u64,
}

/// Runs a deploy command; the process's exit code.
pub async fn run(command: DeployCommand) -> anyhow::Result<i32> {
    match command {
        DeployCommand::Run(args) => deploy(args).await,
        DeployCommand::Rollback(args) => rollback(&args).await,
        DeployCommand::Resume(args) => resume(&args).await,
        DeployCommand::Status(args) => status(&args).await.map(|()| 0),
        DeployCommand::History(args) => history(&args).await.map(|()| 0),
    }
}

async fn deploy(args: RunArgs) -> anyhow::Result<i32> {
    let config = load(&args.config)?;
    let plan = plan(&config, &args.version, &args.commit)?;
    let store = open_store(&config).await?;
    let report = deploy::deploy(&plan, store.as_ref())
        .await
        .context("the deploy could not run")?;
    let summary = deploy::summary::markdown(&report);
    println!("{summary}");
    if let Some(path) = &args.summary {
        std::fs::write(path, &summary)
            .with_context(|| format!("writing the summary to {}", path.display()))?;
    }
    if let Some(path) = &args.report {
        let json = serde_json::to_string_pretty(&report).context("the report as JSON")?;
        std::fs::write(path, json)
            .with_context(|| format!("writing the report to {}", path.display()))?;
    }
    if let Some(path) = std::env::var_os("GITHUB_STEP_SUMMARY") {
        append(&PathBuf::from(path), &summary);
    }
    if let Some(hook) = &config.health.alert_webhook {
        post(hook.expose(), &summary).await;
    }
    Ok(i32::from(report.ending != deploy::Ending::Promoted))
}

async fn resume(args: &ConfigArgs) -> anyhow::Result<i32> {
    let config = load(args)?;
    let plan = plan(&config, "-", "-")?;
    let store = open_store(&config).await?;
    match deploy::resume(&plan, store.as_ref()).await {
        Ok(Some(colour)) => {
            println!("{colour} took over and serves");
            Ok(0)
        }
        Ok(None) => {
            println!("a colour serves already");
            Ok(0)
        }
        Err(error) => {
            eprintln!("the resume failed: {error}");
            Ok(1)
        }
    }
}

async fn rollback(args: &ConfigArgs) -> anyhow::Result<i32> {
    let config = load(args)?;
    let plan = plan(&config, "-", "-")?;
    let store = open_store(&config).await?;
    match deploy::rollback(&plan, store.as_ref()).await {
        Ok(report) => {
            println!(
                "rolled back: {} serves ({} ms without a serving process)",
                report.to.colour, report.total_ms
            );
            Ok(0)
        }
        Err(error) => {
            eprintln!("the rollback failed: {error}");
            Ok(1)
        }
    }
}

async fn status(args: &ConfigArgs) -> anyhow::Result<()> {
    let config = load(args)?;
    let plan = plan(&config, "-", "-")?;
    for slot in [&plan.blue, &plan.green] {
        match slot.client.state().await {
            Ok(state) => println!(
                "{}: {} since {} (version {}, commit {}){}",
                slot.colour,
                state.phase.as_str(),
                state.since_unix_ms,
                state.version,
                state.commit,
                state
                    .last_error
                    .map(|e| format!("; last error: {e}"))
                    .unwrap_or_default()
            ),
            Err(error) => println!("{}: not answering ({error})", slot.colour),
        }
    }
    let store = open_store(&config).await?;
    if let Some(active) = store::Store::active_colour(store.as_ref())
        .await
        .context("reading the ledger")?
    {
        println!(
            "ledger: {} is the active colour (version {}, commit {})",
            active.colour, active.version, active.commit
        );
    }
    if let Some(last) = store::Store::deploys(store.as_ref(), 1)
        .await
        .context("reading the ledger")?
        .first()
    {
        println!("last deploy: {}", line(last));
    }
    Ok(())
}

async fn history(args: &HistoryArgs) -> anyhow::Result<()> {
    let config = load(&args.config)?;
    let store = open_store(&config).await?;
    let deploys = store::Store::deploys(
        store.as_ref(),
        usize::try_from(args.limit).unwrap_or(usize::MAX),
    )
    .await
    .context("reading the ledger")?;
    if deploys.is_empty() {
        println!("no deploy yet");
    }
    for record in &deploys {
        println!("{}", line(record));
    }
    Ok(())
}

fn line(record: &store::DeployRecord) -> String {
    format!(
        "#{} {} -> {} version {} commit {}: {}{} (began {})",
        record.id,
        record.from_colour.map_or("none", store::Colour::as_str),
        record.to_colour,
        record.version,
        record.commit,
        record.state,
        record
            .reason
            .as_deref()
            .map(|r| format!(" ({r})"))
            .unwrap_or_default(),
        record.started_at_ms
    )
}

fn load(args: &ConfigArgs) -> anyhow::Result<app::config::Config> {
    Ok(app::config::Config::load(args.config.as_deref())?)
}

/// The plan from `[deploy]`: both slots and the admin token are needed.
fn plan(config: &app::config::Config, version: &str, commit: &str) -> anyhow::Result<deploy::Plan> {
    let token = config.admin.token.as_ref().context(
        "admin.token is not set: dimby deploy talks to both colours' admin servers with it",
    )?;
    let d = &config.deploy;
    let slot = |colour: store::Colour, slot: &Option<app::config::SlotConfig>| {
        let slot = slot.as_ref().with_context(|| {
            format!("[deploy.{colour}] is not set: dimby deploy needs both colours' slots (docs/runbooks/deploys.md)")
        })?;
        anyhow::Ok(deploy::Slot {
            colour,
            client: deploy::ColourClient::new(&slot.admin_url, token.expose()),
            start: slot.start.clone(),
            stop: slot.stop.clone(),
            prepare: slot.prepare.clone(),
            binary: non_empty(&slot.binary),
            config: non_empty(&slot.config),
        })
    };
    Ok(deploy::Plan {
        version: version.to_owned(),
        commit: commit.to_owned(),
        blue: slot(store::Colour::Blue, &d.blue)?,
        green: slot(store::Colour::Green, &d.green)?,
        gate_bound: d.gate_timeout,
        step_bound: d.step_timeout,
        watch: deploy::WatchRules {
            duration: d.watch,
            max_errors: d.watch_max_errors,
            ..deploy::WatchRules::default()
        },
    })
}

/// The ledger refuses empty build fields: an unset one is recorded as `-`.
fn non_empty(value: &str) -> String {
    if value.is_empty() {
        "-".to_owned()
    } else {
        value.to_owned()
    }
}

async fn open_store(config: &app::config::Config) -> anyhow::Result<Arc<dyn store::Store>> {
    let location = config.store.location();
    config
        .store
        .open()
        .await
        .with_context(|| format!("opening the store (the deploy ledger) at {location}"))
}

fn append(path: &PathBuf, text: &str) {
    use std::io::Write as _;
    let written = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .and_then(|mut file| writeln!(file, "{text}"));
    if let Err(error) = written {
        eprintln!(
            "could not append the summary to {}: {error}",
            path.display()
        );
    }
}

/// Posts the summary to the alert webhook (a Discord webhook takes `content` up to 2,000
/// characters: the head of the summary goes, the rest is in the file and the workflow's summary).
async fn post(hook: &str, summary: &str) {
    let content: String = summary.chars().take(1_900).collect();
    let sent = reqwest::Client::new()
        .post(hook)
        .timeout(std::time::Duration::from_secs(10))
        .json(&serde_json::json!({ "content": content, "username": "DimbyBot deploys" }))
        .send()
        .await;
    match sent {
        Ok(response) if response.status().is_success() => {}
        Ok(response) => eprintln!(
            "the alert webhook refused the summary: {}",
            response.status()
        ),
        // The error may carry the URL, which is a secret: say only what kind it was.
        Err(error) => eprintln!(
            "could not post the summary to the alert webhook ({})",
            if error.is_timeout() {
                "timeout"
            } else {
                "no answer"
            }
        ),
    }
}
