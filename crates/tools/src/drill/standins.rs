//! The drill's far ends as separate processes (`dimby sim discord`, `dimby sim lavalink`), and
//! the clients the drill drives and reads them with: the Discord stand-in's control endpoint
//! (scripted users) and each node's REST API and `/sim/state` (what plays where).

use std::collections::HashMap;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use anyhow::Context as _;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt as _, BufReader};
use tokio::process::{Child, Command};

/// How long a stand-in may take to print where it listens, and a control call to answer.
const BOUND: Duration = Duration::from_secs(30);

/// A stand-in process and its base URL (`http://127.0.0.1:PORT`).
pub struct StandIn {
    child: Child,
    /// Where it listens.
    pub base: String,
}

impl StandIn {
    /// Starts `exe sim <args>` with its log in `log`, and reads the URL it prints first.
    pub async fn start(exe: &Path, args: &[&str], log: &Path) -> anyhow::Result<Self> {
        let log = std::fs::File::create(log).with_context(|| format!("{}", log.display()))?;
        let mut child = Command::new(exe)
            .arg("sim")
            .args(args)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {} sim {}", exe.display(), args.join(" ")))?;
        let stdout = child.stdout.take().context("the stand-in's stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        let first = tokio::time::timeout(BOUND, lines.next_line())
            .await
            .context("the stand-in did not say where it listens")?
            .context("reading the stand-in's stdout")?
            .context("the stand-in ended before saying where it listens")?;
        let base = first
            .strip_prefix("listening on ")
            .with_context(|| format!("unexpected first line {first:?}"))?
            .trim()
            .to_owned();
        // The rest of its stdout is not needed; drain it so that it never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Ok(Self { child, base })
    }

    /// Ends the process.
    pub async fn stop(mut self) {
        let _ = self.child.kill().await;
    }
}

/// A guild the drill made, with the ids its scripted user needs.
#[derive(Debug, Clone)]
pub struct Guild {
    /// The guild.
    pub id: String,
    /// Its text channel.
    pub text: String,
    /// Its first voice channel.
    pub voice: String,
    /// The listener.
    pub user: String,
}

/// The Discord stand-in's control endpoint.
#[derive(Clone)]
pub struct DiscordControl {
    http: reqwest::Client,
    base: String,
    password: String,
}

impl DiscordControl {
    /// A client of the control endpoint at `base`.
    pub fn new(base: &str, password: &str) -> anyhow::Result<Self> {
        Ok(Self {
            http: reqwest::Client::builder().timeout(BOUND).build()?,
            base: base.to_owned(),
            password: password.to_owned(),
        })
    }

    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> anyhow::Result<Value> {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .header("Authorization", &self.password);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.with_context(|| path.to_owned())?;
        let status = response.status();
        let text = response.text().await.with_context(|| path.to_owned())?;
        anyhow::ensure!(status.is_success(), "{path}: {status}: {text}");
        serde_json::from_str(&text).with_context(|| format!("{path}: {text}"))
    }

    /// A guild with nobody in voice: the staging guild of the gate's voice probe. Its id and
    /// its first voice channel's.
    pub async fn staging_guild(&self) -> anyhow::Result<(String, String)> {
        let made = self
            .call(
                reqwest::Method::POST,
                "/sim/guilds",
                Some(json!({ "name": "Drill staging", "members": [] })),
            )
            .await?;
        let id = |value: &Value| value.as_str().map(str::to_owned).context("an id");
        Ok((id(&made["id"])?, id(&made["voiceChannels"][0])?))
    }

    /// A guild with a listener (`alice`) in its first voice channel.
    pub async fn guild_with_listener(&self, name: &str) -> anyhow::Result<Guild> {
        let made = self
            .call(
                reqwest::Method::POST,
                "/sim/guilds",
                Some(json!({ "name": name, "members": ["alice"] })),
            )
            .await?;
        let id = |value: &Value| value.as_str().map(str::to_owned).context("an id");
        let guild = Guild {
            id: id(&made["id"])?,
            text: id(&made["textChannels"][0])?,
            voice: id(&made["voiceChannels"][0])?,
            user: id(&made["members"]["alice"])?,
        };
        self.call(
            reqwest::Method::POST,
            "/sim/voice",
            Some(json!({ "guild": guild.id, "user": guild.user, "channel": guild.voice })),
        )
        .await?;
        Ok(guild)
    }

    /// The listener invokes `/command` with `options`; the interaction's id.
    pub async fn invoke(
        &self,
        guild: &Guild,
        command: &str,
        options: Value,
    ) -> anyhow::Result<String> {
        let made = self
            .call(
                reqwest::Method::POST,
                "/sim/interactions",
                Some(json!({
                    "guild": guild.id,
                    "channel": guild.text,
                    "user": guild.user,
                    "command": command,
                    "options": options,
                })),
            )
            .await?;
        made["id"]
            .as_str()
            .map(str::to_owned)
            .context("the interaction's id")
    }

    /// An interaction as the stand-in saw it answered (`content`, `responseType`, ...).
    pub async fn interaction(&self, id: &str) -> anyhow::Result<Value> {
        self.call(
            reqwest::Method::GET,
            &format!("/sim/interactions/{id}"),
            None,
        )
        .await
    }

    /// The text of an interaction's answer, waiting for it up to `within`.
    pub async fn answer(&self, id: &str, within: Duration) -> anyhow::Result<String> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let seen = self.interaction(id).await?;
            if let Some(content) = seen["content"].as_str() {
                return Ok(content.to_owned());
            }
            anyhow::ensure!(
                tokio::time::Instant::now() < deadline,
                "interaction {id} unanswered after {within:?}: {seen}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// How many times a shard identified so far.
    pub async fn identify_count(&self) -> anyhow::Result<u64> {
        let state = self.call(reqwest::Method::GET, "/sim/state", None).await?;
        state["identifyCount"].as_u64().context("identifyCount")
    }
}

/// One guild's player as a node showed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlayerSeen {
    /// The node.
    pub node: usize,
    /// The track's identifier (`None`: no track). Not its encoded form: that carries the
    /// position, so it changes as the track plays (as Lavaplayer encodes it).
    pub track: Option<String>,
    /// Its position, ms.
    pub position: u64,
    /// Paused.
    pub paused: bool,
}

/// A Lavalink stand-in as the drill reads it: `/sim/state` for its sessions, the REST API for
/// their players (as any Lavalink client could), and `/sim/fault`.
#[derive(Clone)]
pub struct NodeControl {
    http: reqwest::Client,
    /// The node's name.
    pub name: String,
    /// Its base URL.
    pub base: String,
    password: String,
}

impl NodeControl {
    /// A client of the node at `base`.
    pub fn new(name: &str, base: &str, password: &str) -> anyhow::Result<Self> {
        Ok(Self {
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(5))
                .build()?,
            name: name.to_owned(),
            base: base.to_owned(),
            password: password.to_owned(),
        })
    }

    async fn get(&self, path: &str) -> anyhow::Result<Value> {
        let response = self
            .http
            .get(format!("{}{path}", self.base))
            .header("Authorization", &self.password)
            .send()
            .await
            .with_context(|| format!("{} {path}", self.name))?;
        let status = response.status();
        anyhow::ensure!(status.is_success(), "{} {path}: {status}", self.name);
        response
            .json()
            .await
            .with_context(|| format!("{} {path}", self.name))
    }

    /// Every player of every session it lists, by guild id, and whether a session could not be
    /// read (a detached session is not found over REST until it is resumed, as in Lavalink).
    /// `None`: the node does not answer.
    pub async fn players(&self, node: usize) -> Option<(HashMap<String, PlayerSeen>, bool)> {
        let state = self.get("/sim/state").await.ok()?;
        let mut seen = HashMap::new();
        let mut partial = false;
        for session in state["sessions"].as_array()? {
            let Some(id) = session["id"].as_str() else {
                continue;
            };
            let Ok(players) = self.get(&format!("/v4/sessions/{id}/players")).await else {
                partial = true;
                continue;
            };
            for player in players.as_array().into_iter().flatten() {
                let Some(guild) = player["guildId"].as_str() else {
                    continue;
                };
                seen.insert(
                    guild.to_owned(),
                    PlayerSeen {
                        node,
                        track: player["track"]["info"]["identifier"]
                            .as_str()
                            .map(str::to_owned),
                        position: player["state"]["position"].as_u64().unwrap_or(0),
                        paused: player["paused"].as_bool().unwrap_or(false),
                    },
                );
            }
        }
        Some((seen, partial))
    }

    /// Switches a fault on (`{"fault": "crash"}`, ...).
    pub async fn fault(&self, fault: &Value) -> anyhow::Result<()> {
        let response = self
            .http
            .post(format!("{}/sim/fault", self.base))
            .header("Authorization", &self.password)
            .json(fault)
            .send()
            .await
            .with_context(|| format!("{} /sim/fault", self.name))?;
        anyhow::ensure!(
            response.status().is_success(),
            "{} /sim/fault: {}",
            self.name,
            response.status()
        );
        Ok(())
    }
}
