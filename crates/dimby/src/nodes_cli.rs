//! `dimby nodes list|add|drain|enable|remove`: the admin API's node endpoints from the shell.

use anyhow::{Context as _, bail};
use clap::{Args, Subcommand};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// Where the admin API is and how to get in.
#[derive(Debug, Clone, Args)]
pub struct Target {
    /// Base URL of the bot's admin server.
    #[arg(long, env = "DIMBY_ADMIN_URL", default_value = "http://127.0.0.1:8080")]
    pub url: String,
    /// The admin token.
    #[arg(long, env = "DIMBY_ADMIN_TOKEN", hide_env_values = true)]
    pub token: String,
}

/// The node commands.
#[derive(Debug, Subcommand)]
pub enum NodesCommand {
    /// Show every node: state, circuit, players, latency.
    List {
        /// Where and how.
        #[command(flatten)]
        target: Target,
        /// Print the JSON the API answered.
        #[arg(long)]
        json: bool,
    },
    /// Add a node; it takes new players as soon as it is ready.
    Add {
        /// Where and how.
        #[command(flatten)]
        target: Target,
        /// Its unique name.
        #[arg(long)]
        name: String,
        /// Its REST base URL, e.g. http://lavalink-4:2333.
        #[arg(long)]
        node_url: String,
        /// Its password.
        #[arg(long, env = "DIMBY_NODE_PASSWORD", hide_env_values = true)]
        password: String,
        /// Its region.
        #[arg(long)]
        region: Option<String>,
        /// Its priority tier (lower first).
        #[arg(long, default_value_t = 0)]
        priority: u8,
        /// Its relative capacity.
        #[arg(long, default_value_t = 1.0)]
        weight: f64,
    },
    /// Stop sending new players to a node and move its players off (soft: at their next track).
    Drain {
        /// Where and how.
        #[command(flatten)]
        target: Target,
        /// The node.
        name: String,
        /// Move every player now (make-before-break) instead of at its next track.
        #[arg(long)]
        hard: bool,
    },
    /// Let a drained or disabled node take new players again.
    Enable {
        /// Where and how.
        #[command(flatten)]
        target: Target,
        /// The node.
        name: String,
    },
    /// Move a node's players off and remove it.
    Remove {
        /// Where and how.
        #[command(flatten)]
        target: Target,
        /// The node.
        name: String,
    },
}

/// Runs a node command, printing the outcome.
pub async fn run(command: NodesCommand) -> anyhow::Result<()> {
    match command {
        NodesCommand::List { target, json } => {
            let nodes = call(&target, Method::GET, "/admin/nodes", None).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&nodes)?);
            } else {
                print_nodes(&nodes);
            }
        }
        NodesCommand::Add {
            target,
            name,
            node_url,
            password,
            region,
            priority,
            weight,
        } => {
            let body = json!({
                "name": name, "url": node_url, "password": password,
                "region": region, "priority": priority, "weight": weight,
            });
            call(&target, Method::POST, "/admin/nodes", Some(body)).await?;
            println!("node {name} added");
        }
        NodesCommand::Drain { target, name, hard } => {
            let mode = if hard { "hard" } else { "soft" };
            let path = format!("/admin/nodes/{}/drain", encode(&name));
            call(&target, Method::POST, &path, Some(json!({ "mode": mode }))).await?;
            println!("node {name} draining ({mode})");
        }
        NodesCommand::Enable { target, name } => {
            let path = format!("/admin/nodes/{}/enable", encode(&name));
            call(&target, Method::POST, &path, None).await?;
            println!("node {name} enabled");
        }
        NodesCommand::Remove { target, name } => {
            let path = format!("/admin/nodes/{}", encode(&name));
            call(&target, Method::DELETE, &path, None).await?;
            println!("node {name} is being removed (its players move first)");
        }
    }
    Ok(())
}

fn encode(segment: &str) -> String {
    url::form_urlencoded::byte_serialize(segment.as_bytes()).collect()
}

async fn call(
    target: &Target,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> anyhow::Result<Value> {
    let url = format!("{}{path}", target.url.trim_end_matches('/'));
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(std::time::Duration::from_secs(10))
        .build()?;
    let mut request = client.request(method, &url).bearer_auth(&target.token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request
        .send()
        .await
        .with_context(|| format!("cannot reach the admin API at {}", target.url))?;
    let status = response.status();
    let text = response.text().await.unwrap_or_default();
    let value: Value = serde_json::from_str(&text).unwrap_or(Value::String(text));
    if !status.is_success() {
        let message = value
            .get("error")
            .and_then(Value::as_str)
            .map_or_else(|| value.to_string(), str::to_owned);
        match status {
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
                bail!("{status}: {message} (check --token / DIMBY_ADMIN_TOKEN)")
            }
            _ => bail!("{status}: {message}"),
        }
    }
    Ok(value)
}

fn print_nodes(nodes: &Value) {
    println!(
        "{:<16} {:<10} {:<9} {:<9} {:>7} {:>9} {:<8}",
        "NAME", "LINK", "CIRCUIT", "ELIGIBLE", "PLAYERS", "RTT", "DRAINING"
    );
    for node in nodes.as_array().into_iter().flatten() {
        let text = |key: &str| {
            node.get(key)
                .and_then(Value::as_str)
                .unwrap_or("-")
                .to_owned()
        };
        let rtt = node
            .get("rtt_ms")
            .and_then(Value::as_f64)
            .map_or_else(|| "-".to_owned(), |ms| format!("{ms:.1}ms"));
        println!(
            "{:<16} {:<10} {:<9} {:<9} {:>7} {:>9} {:<8}",
            text("name"),
            text("link"),
            text("circuit"),
            node.get("eligible")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            node.get("players").and_then(Value::as_u64).unwrap_or(0),
            rtt,
            text("draining"),
        );
    }
}
