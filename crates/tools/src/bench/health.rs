//! `dimby bench health`: how fast the health endpoints answer under load, and how long it takes
//! from a node failing to the alert reaching a webhook, with the default probe settings.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use axum::routing::post;
use axum::{Json, Router};
use cluster::{Cluster, ClusterConfig, ClusterEvent, NodeSpec};
use health::HealthRegistry;
use serde_json::Value;
use tokio::sync::mpsc;

use super::Percentiles;
use admin::checks::alerts::{self, AlertSettings};
use admin::checks::{HealthContext, ProbeSettings};
use admin::{self, AdminServer, AdminState, AdminToken};
use app::config::Secret;

/// Options of the scenario.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Requests a second to each endpoint.
    #[arg(long, default_value_t = 1000)]
    pub rate: u32,
    /// Seconds of load per endpoint.
    #[arg(long, default_value_t = 3)]
    pub seconds: u64,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Also write the run's figures (CPU, peak RSS, work, latency; `bench/figures.rs`) to this
    /// file, for `dimby perf compare`.
    #[arg(long, value_name = "FILE")]
    pub figures: Option<std::path::PathBuf>,
}

/// The figures.
#[derive(Debug, serde::Serialize)]
pub struct Report {
    /// `/healthz` (with the token) latency in ms.
    pub healthz_ms: Percentiles,
    /// `/readyz` latency in ms.
    pub readyz_ms: Percentiles,
    /// Requests that did not get a 2xx/503 answer.
    pub errors: usize,
    /// From a node's crash to its alert at the webhook (ms).
    pub crash_to_alert_ms: f64,
    /// From a node's hang to its alert at the webhook (ms).
    pub hang_to_alert_ms: f64,
}

const TOKEN: &str = "bench-admin-token";

/// Runs the scenario and prints its figures.
pub async fn run(args: &Args) -> anyhow::Result<()> {
    let measuring = super::figures::Measuring::start();
    let report = measure(args).await?;
    if let Some(path) = &args.figures {
        super::figures::Figures::of_health(&report, measuring.finish()).write(path)?;
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!(
            "health bench: {} requests/s for {} s per endpoint",
            args.rate, args.seconds
        );
        for (name, p) in [
            ("/healthz", &report.healthz_ms),
            ("/readyz", &report.readyz_ms),
        ] {
            println!(
                "  {name:<9} p50 {:>7.3} ms   p99 {:>7.3} ms   max {:>7.3} ms   (n={})",
                p.p50, p.p99, p.max, p.count
            );
        }
        println!("  errors               {}", report.errors);
        println!(
            "  crash -> alert       {:>9.0} ms",
            report.crash_to_alert_ms
        );
        println!("  hang -> alert        {:>9.0} ms", report.hang_to_alert_ms);
    }
    Ok(())
}

/// Sets up stand-ins, probes, the admin server and a webhook receiver, then measures.
pub async fn measure(args: &Args) -> anyhow::Result<Report> {
    let nodes = sim::lavalink::start_nodes(3, sim::lavalink::NodeConfig::default()).await?;
    let specs: Vec<NodeSpec> = nodes.iter().map(test_support::node_spec).collect();
    let (cluster, mut cluster_events) =
        Cluster::start(ClusterConfig::new(1, specs), clock::SystemClock::shared())?;
    let mut ready = 0;
    while ready < nodes.len() {
        match tokio::time::timeout(Duration::from_secs(30), cluster_events.recv()).await {
            Ok(Some(ClusterEvent::NodeReady { .. })) => ready += 1,
            Ok(Some(_)) => {}
            _ => bail!("the nodes did not become ready"),
        }
    }
    let registry = HealthRegistry::new(clock::SystemClock::shared());
    let context = HealthContext {
        registry: registry.clone(),
        cluster: cluster.clone(),
        store: None,
        discord: None,
        options: admin::checks::HealthOptions::default(),
    };
    let _probes = context.start(ProbeSettings::default());
    let state = AdminState {
        cluster,
        token: AdminToken::new(TOKEN).map(Arc::new),
        health: Some(context),
        node_hosts: Arc::new(admin::NodeHosts::default_for([])),
    };
    let server = AdminServer::start("127.0.0.1:0".parse()?, admin::router(state)).await?;
    let base = format!("http://{}", server.addr());

    let client = reqwest::Client::builder().no_proxy().build()?;
    let (healthz, errors_h) = load(&client, &format!("{base}/healthz"), Some(TOKEN), args).await;
    let (readyz, errors_r) = load(&client, &format!("{base}/readyz"), None, args).await;

    let (hook, mut received) = receiver().await?;
    let webhook: Secret = serde_json::from_value(Value::String(hook))?;
    // The node is failed on purpose right away: no start-up grace.
    let settings = AlertSettings {
        startup_grace: Duration::ZERO,
        ..AlertSettings::default()
    };
    let (_alerting, _alert_events) = alerts::start(&registry, webhook, settings);
    let crashed = &nodes[0];
    let crash_at = Instant::now();
    crashed.crash();
    let crash_to_alert = wait_alert(&mut received, crashed.name()).await? - crash_at;
    let hung = &nodes[1];
    let hang_at = Instant::now();
    hung.hang();
    let hang_to_alert = wait_alert(&mut received, hung.name()).await? - hang_at;
    hung.heal();
    server.stop();
    Ok(Report {
        healthz_ms: Percentiles::of(healthz),
        readyz_ms: Percentiles::of(readyz),
        errors: errors_h + errors_r,
        crash_to_alert_ms: crash_to_alert.as_secs_f64() * 1000.0,
        hang_to_alert_ms: hang_to_alert.as_secs_f64() * 1000.0,
    })
}

/// `rate` requests a second for `seconds`, paced; returns latencies (ms) and failures.
async fn load(
    client: &reqwest::Client,
    url: &str,
    token: Option<&str>,
    args: &Args,
) -> (Vec<f64>, usize) {
    let total = u64::from(args.rate) * args.seconds;
    let mut tick = tokio::time::interval(Duration::from_secs(1) / args.rate.max(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut latencies = Vec::new();
    let mut errors = 0;
    for _ in 0..total {
        tick.tick().await;
        let mut request = client.get(url);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let started = Instant::now();
        match request.send().await {
            Ok(response) if response.status().is_success() || response.status() == 503 => {
                let _ = response.bytes().await;
                latencies.push(started.elapsed().as_secs_f64() * 1000.0);
            }
            _ => errors += 1,
        }
    }
    (latencies, errors)
}

async fn receiver() -> anyhow::Result<(String, mpsc::UnboundedReceiver<(Instant, String)>)> {
    let (tx, rx) = mpsc::unbounded_channel();
    let app = Router::new().route(
        "/hook",
        post(move |Json(body): Json<Value>| {
            let tx = tx.clone();
            async move {
                let text = body["content"].as_str().unwrap_or_default().to_owned();
                let _ = tx.send((Instant::now(), text));
                axum::http::StatusCode::NO_CONTENT
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/hook", listener.local_addr()?);
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok((url, rx))
}

/// The arrival of the first alert naming `node`.
async fn wait_alert(
    received: &mut mpsc::UnboundedReceiver<(Instant, String)>,
    node: &str,
) -> anyhow::Result<Instant> {
    let needle = format!("({node})");
    loop {
        let (at, text) = tokio::time::timeout(Duration::from_secs(120), received.recv())
            .await
            .context("no alert within two minutes")?
            .context("receiver gone")?;
        if text.starts_with("🔴") && text.contains(&needle) {
            return Ok(at);
        }
    }
}
