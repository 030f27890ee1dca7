//! `dimby profile`: profiles of a running bot (`cpu`, `heap`, through its admin API), and, with
//! the operator tools, the one-command local workflow (`run`, in the tools crate).

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context as _, bail};
use clap::{Args, Subcommand};

use crate::nodes_cli::Target;

/// The profile commands.
#[derive(Debug, Subcommand)]
pub enum ProfileCommand {
    /// Take a CPU profile of a running bot: writes cpu-<time>.pb.gz and cpu-<time>.svg.
    Cpu(FetchArgs),
    /// Take a heap profile of a running bot: writes heap-<time>.pb.gz and heap-<time>.svg.
    Heap(FetchArgs),
    /// Profile a benchmark workload in this process: CPU flamegraph, heap profile, summary.md.
    #[cfg(feature = "tools")]
    Run(tools::profile::RunArgs),
}

/// Options of `dimby profile cpu|heap`.
#[derive(Debug, Args)]
pub struct FetchArgs {
    /// Where the admin API is and how to get in.
    #[command(flatten)]
    pub target: Target,
    /// Seconds of CPU profile (the bot caps it at profiling.max_seconds).
    #[arg(long, default_value_t = 30)]
    pub seconds: u64,
    /// The directory to write into.
    #[arg(long, default_value = "profiles")]
    pub out: PathBuf,
}

/// Runs a profile command.
pub async fn run(command: ProfileCommand) -> anyhow::Result<()> {
    match command {
        ProfileCommand::Cpu(args) => fetch(&args, Kind::Cpu).await,
        ProfileCommand::Heap(args) => fetch(&args, Kind::Heap).await,
        #[cfg(feature = "tools")]
        ProfileCommand::Run(args) => tools::profile::run(&args).await,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Cpu,
    Heap,
}

async fn get(
    client: &reqwest::Client,
    target: &Target,
    path: &str,
    timeout: Duration,
) -> anyhow::Result<Vec<u8>> {
    let url = format!("{}{path}", target.url.trim_end_matches('/'));
    let response = client
        .get(&url)
        .bearer_auth(&target.token)
        .timeout(timeout)
        .send()
        .await
        .with_context(|| format!("GET {url}"))?;
    let status = response.status();
    let body = response
        .bytes()
        .await
        .with_context(|| format!("GET {url}"))?;
    if !status.is_success() {
        let message = serde_json::from_slice::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v["error"].as_str().map(str::to_owned))
            .unwrap_or_else(|| String::from_utf8_lossy(&body).into_owned());
        bail!("GET {url}: {status}: {message}");
    }
    Ok(body.to_vec())
}

async fn fetch(args: &FetchArgs, kind: Kind) -> anyhow::Result<()> {
    let client = reqwest::Client::builder().no_proxy().build()?;
    let stamp = admin::profiling::file_stamp();
    let (name, path, timeout) = match kind {
        Kind::Cpu => {
            eprintln!(
                "taking a {} s CPU profile of {} ...",
                args.seconds, args.target.url
            );
            (
                "cpu",
                format!("/debug/pprof/profile?seconds={}", args.seconds),
                Duration::from_secs(args.seconds + 60),
            )
        }
        Kind::Heap => (
            "heap",
            "/debug/pprof/heap".to_owned(),
            Duration::from_secs(120),
        ),
    };
    let pprof = get(&client, &args.target, &path, timeout).await?;
    let written =
        admin::profiling::write_file(&args.out, &format!("{name}-{stamp}.pb.gz"), &pprof)?;
    println!("{name} profile (pprof): {}", written.display());
    let svg = match kind {
        // A second CPU profile would take as long again: draw this one here.
        Kind::Cpu => draw(&pprof, "CPU"),
        Kind::Heap => get(
            &client,
            &args.target,
            "/debug/pprof/heap?format=flamegraph",
            timeout,
        )
        .await
        .map(Some),
    };
    match svg {
        Ok(Some(svg)) => {
            let written =
                admin::profiling::write_file(&args.out, &format!("{name}-{stamp}.svg"), &svg)?;
            println!("{name} flamegraph: {}", written.display());
        }
        Ok(None) => println!(
            "no flamegraph drawn: {}; or read the profile with `go tool pprof -http=: {}`",
            admin::profiling::HOW_TO_BUILD,
            args.out.display()
        ),
        Err(error) => println!("no flamegraph: {error:#}"),
    }
    Ok(())
}

#[cfg(feature = "profiling")]
#[allow(clippy::unnecessary_wraps)]
fn draw(pprof: &[u8], title: &str) -> anyhow::Result<Option<Vec<u8>>> {
    let stacks = admin::profiling::stacks::Stacks::from_pprof(pprof)?;
    Ok(Some(stacks.flamegraph_svg(title)?))
}

#[cfg(not(feature = "profiling"))]
#[allow(clippy::unnecessary_wraps)]
fn draw(_pprof: &[u8], _title: &str) -> anyhow::Result<Option<Vec<u8>>> {
    Ok(None)
}
