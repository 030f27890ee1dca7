//! Configuration: a TOML file, then environment variables, validated at start with errors that
//! name the key (and the file or variable it came from). Secrets never show in `Debug` output or
//! in errors.
//!
//! Environment variables use the `DIMBY_` prefix and `__` between levels, e.g.
//! `DIMBY_ADMIN__LISTEN=0.0.0.0:8080`. Shorter names are accepted where operators expect them:
//! `DIMBY_DISCORD_TOKEN` (discord.token) and `DIMBY_ADMIN_TOKEN` (admin.token).

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use cluster::{ClusterConfig, NodeSpec, RegionRule, SelectionPolicy};
use figment::Figment;
use figment::providers::{Env, Format, Toml};
use serde::Deserialize;

/// A secret (token, password): deserialized like a string, never printed.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret given in code (the demo, tests).
    pub fn new(secret: impl Into<String>) -> Self {
        Self(secret.into())
    }

    /// The secret itself, for the one place that needs it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// The whole configuration.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Discord.
    #[serde(default)]
    pub discord: DiscordConfig,
    /// The Lavalink nodes and how the cluster treats them.
    #[serde(default)]
    pub lavalink: LavalinkConfig,
    /// The admin HTTP server.
    #[serde(default)]
    pub admin: AdminConfig,
    /// Where state is kept.
    #[serde(default)]
    pub store: StoreConfig,
    /// Health probes and alerts.
    #[serde(default)]
    pub health: HealthConfig,
    /// The Prometheus endpoint.
    #[serde(default)]
    pub metrics: MetricsConfig,
    /// Bot behaviour.
    #[serde(default)]
    pub bot: BotConfig,
    /// CPU and heap profiles on the admin server.
    #[serde(default)]
    pub profiling: ProfilingConfig,
}

/// `[profiling]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProfilingConfig {
    /// Serve `/debug/pprof/*` on the admin server (admin token required) and switch heap sampling
    /// on at start (`DIMBY_PROFILING__ENABLED`). Needs a build with the `profiling` feature.
    #[serde(default)]
    pub enabled: bool,
    /// The longest CPU profile a request may ask for, in seconds (1..=3600).
    #[serde(default = "defaults::profiling_max_seconds")]
    pub max_seconds: u64,
}

impl Default for ProfilingConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            max_seconds: defaults::profiling_max_seconds(),
        }
    }
}

impl ProfilingConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        if !(1..=3_600).contains(&self.max_seconds) {
            return Err(ConfigError::Invalid {
                key: "profiling.max_seconds".into(),
                message: format!(
                    "is {}; must be between 1 and 3600 (seconds of one CPU profile)",
                    self.max_seconds
                ),
            });
        }
        Ok(())
    }
}

/// `[bot]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BotConfig {
    /// Leave a voice channel after it has had no listener for this long.
    #[serde(default = "defaults::idle_leave", deserialize_with = "duration")]
    pub idle_leave: Duration,
    /// How often playing positions are written to the store (a kill -9 loses at most this much).
    #[serde(default = "defaults::position_tick", deserialize_with = "duration")]
    pub position_tick: Duration,
}

impl Default for BotConfig {
    fn default() -> Self {
        Self {
            idle_leave: defaults::idle_leave(),
            position_tick: defaults::position_tick(),
        }
    }
}

impl BotConfig {
    /// The bot's settings.
    pub fn settings(&self) -> crate::bot::runtime::BotSettings {
        crate::bot::runtime::BotSettings {
            idle_leave: self.idle_leave,
            position_tick: self.position_tick,
            ..crate::bot::runtime::BotSettings::default()
        }
    }

    fn validate(&self) -> Result<(), ConfigError> {
        for (key, value) in [
            ("bot.idle_leave", self.idle_leave),
            ("bot.position_tick", self.position_tick),
        ] {
            if value.is_zero() {
                return Err(ConfigError::Invalid {
                    key: key.into(),
                    message: "must be greater than zero".into(),
                });
            }
        }
        Ok(())
    }
}

/// `[metrics]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsConfig {
    /// Serve `/metrics` (`METRICS_ENABLED`).
    #[serde(default = "defaults::metrics_enabled")]
    pub enabled: bool,
    /// A separate address for `/metrics`; unset serves it on the admin server.
    pub listen: Option<SocketAddr>,
    /// `user:password` a scraper must send as HTTP basic auth (`METRICS_BASIC_AUTH`).
    pub basic_auth: Option<Secret>,
    /// A bearer token a scraper may send instead.
    pub bearer_token: Option<Secret>,
}

impl MetricsConfig {
    fn validate(&self, admin_listen: SocketAddr) -> Result<(), ConfigError> {
        if let Some(auth) = &self.basic_auth
            && !auth
                .expose()
                .split_once(':')
                .is_some_and(|(user, password)| !user.is_empty() && !password.is_empty())
        {
            return Err(ConfigError::Invalid {
                key: "metrics.basic_auth".into(),
                message: "must be user:password, both non-empty (value not shown: it is a secret)"
                    .into(),
            });
        }
        if self
            .bearer_token
            .as_ref()
            .is_some_and(|t| t.expose().is_empty())
        {
            return Err(ConfigError::Invalid {
                key: "metrics.bearer_token".into(),
                message: "is empty; leave it unset for an open /metrics".into(),
            });
        }
        if self
            .listen
            .is_some_and(|l| l == admin_listen && l.port() != 0)
        {
            return Err(ConfigError::Invalid {
                key: "metrics.listen".into(),
                message: format!(
                    "is admin.listen ({admin_listen}); leave it unset to serve /metrics on the admin server"
                ),
            });
        }
        Ok(())
    }
}

impl Default for MetricsConfig {
    fn default() -> Self {
        Self {
            enabled: defaults::metrics_enabled(),
            listen: None,
            basic_auth: None,
            bearer_token: None,
        }
    }
}

/// `[health]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HealthConfig {
    /// A Discord webhook URL (or any URL taking `{"content": ...}`) for alerts
    /// (`HEALTH_ALERT_WEBHOOK`). It holds a token: treated as a secret.
    pub alert_webhook: Option<Secret>,
    /// Time between probe checks (`HEALTH_CHECK_INTERVAL`: `30s`, `500ms`, or seconds).
    #[serde(default = "defaults::check_interval", deserialize_with = "duration")]
    pub check_interval: std::time::Duration,
    /// Consecutive failures before a check fails.
    #[serde(default = "defaults::probe_failure_threshold")]
    pub failure_threshold: u32,
    /// The channel admins and alerts use: the bot's permissions there are checked.
    pub control_channel: Option<u64>,
    /// An identifier every node must load (`lavalink:playerReady`), e.g. a short track URL
    /// your nodes can reach; unset skips that probe.
    pub probe_identifier: Option<String>,
    /// Resident memory above this many MiB warns (`process:memory`).
    pub memory_warn_mb: Option<u64>,
    /// Users who may use `/health` without Manage Server (bot owners).
    #[serde(default)]
    pub admin_users: Vec<u64>,
    /// Roles whose members may use `/health` without Manage Server.
    #[serde(default)]
    pub admin_roles: Vec<u64>,
}

impl Default for HealthConfig {
    fn default() -> Self {
        Self {
            alert_webhook: None,
            check_interval: defaults::check_interval(),
            failure_threshold: defaults::probe_failure_threshold(),
            control_channel: None,
            probe_identifier: None,
            memory_warn_mb: None,
            admin_users: Vec::new(),
            admin_roles: Vec::new(),
        }
    }
}

/// A duration as `30s`, `1m 30s`, `500ms`, or a number of seconds.
fn duration<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Seconds(u64),
        Text(String),
    }
    match Raw::deserialize(deserializer)? {
        Raw::Seconds(seconds) => Ok(Duration::from_secs(seconds)),
        Raw::Text(text) => text.trim().parse::<u64>().map_or_else(
            |_| {
                humantime::parse_duration(text.trim()).map_err(|e| {
                    serde::de::Error::custom(format!(
                        "{text:?} is not a duration like 30s or 500ms: {e}"
                    ))
                })
            },
            |seconds| Ok(Duration::from_secs(seconds)),
        ),
    }
}

/// `[discord]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DiscordConfig {
    /// The bot token (`DIMBY_DISCORD_TOKEN`).
    pub token: Option<Secret>,
    /// Register slash commands in this guild only (instant updates while developing).
    pub dev_guild: Option<u64>,
    /// Gateway URL override (`ws://127.0.0.1:PORT` for the stand-in); Discord's when unset.
    pub gateway_url: Option<String>,
    /// REST over plain HTTP through this `host:port` (the stand-in); Discord's API when unset.
    pub rest_proxy: Option<String>,
    /// The shards this process runs (`{ first, last, total }`); all recommended ones when unset.
    pub shards: Option<ShardRangeConfig>,
    /// An interaction the core has not answered after this many milliseconds is deferred, so
    /// Discord's 3 s deadline is never missed (1..=2500).
    #[serde(default = "defaults::auto_defer_ms")]
    pub auto_defer_ms: u64,
}

impl Default for DiscordConfig {
    fn default() -> Self {
        Self {
            token: None,
            dev_guild: None,
            gateway_url: None,
            rest_proxy: None,
            shards: None,
            auto_defer_ms: defaults::auto_defer_ms(),
        }
    }
}

/// `discord.shards`: a consecutive range of shard ids `first..=last` out of `total`, so that
/// several processes can split the shards.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShardRangeConfig {
    /// The first shard id this process runs.
    pub first: u32,
    /// The last shard id this process runs (inclusive).
    pub last: u32,
    /// The total number of shards of the bot.
    pub total: u32,
}

impl DiscordConfig {
    /// Checks what types alone cannot; errors name the key.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |key: &str, message: String| ConfigError::Invalid {
            key: format!("discord.{key}"),
            message,
        };
        if self.token.as_ref().is_some_and(|t| t.expose().is_empty()) {
            return Err(invalid("token", "is empty".into()));
        }
        if let Some(gateway) = &self.gateway_url {
            let scheme_ok = gateway.starts_with("ws://") || gateway.starts_with("wss://");
            if !scheme_ok || url::Url::parse(gateway).is_err() {
                return Err(invalid(
                    "gateway_url",
                    format!("{gateway:?} is not a ws:// or wss:// URL"),
                ));
            }
        }
        if let Some(proxy) = &self.rest_proxy {
            let valid = !proxy.contains('/')
                && proxy
                    .rsplit_once(':')
                    .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok());
            if !valid {
                return Err(invalid(
                    "rest_proxy",
                    format!("{proxy:?} is not host:port (e.g. \"127.0.0.1:7000\")"),
                ));
            }
        }
        if let Some(shards) = self.shards {
            if shards.total == 0 {
                return Err(invalid("shards.total", "must be greater than zero".into()));
            }
            if shards.first > shards.last {
                return Err(invalid(
                    "shards.first",
                    format!(
                        "must not be greater than discord.shards.last ({})",
                        shards.last
                    ),
                ));
            }
            if shards.last >= shards.total {
                return Err(invalid(
                    "shards.last",
                    format!(
                        "must be less than discord.shards.total ({}); shard ids start at 0",
                        shards.total
                    ),
                ));
            }
        }
        if !(1..=2_500).contains(&self.auto_defer_ms) {
            return Err(invalid(
                "auto_defer_ms",
                "must be between 1 and 2500 (Discord's deadline is 3000 ms)".into(),
            ));
        }
        Ok(())
    }
}

/// `[lavalink]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LavalinkConfig {
    /// The nodes (`[[lavalink.nodes]]`).
    #[serde(default)]
    pub nodes: Vec<NodeSpec>,
    /// `penalty` (default), `least-players` or `least-latency`.
    #[serde(default)]
    pub selection: SelectionPolicy,
    /// Voice endpoint prefix to region (`[[lavalink.regions]]`).
    #[serde(default)]
    pub regions: Vec<RegionRule>,
    /// Probe every this many milliseconds.
    #[serde(default = "defaults::probe_interval_ms")]
    pub probe_interval_ms: u64,
    /// A probe slower than this fails.
    #[serde(default = "defaults::probe_timeout_ms")]
    pub probe_timeout_ms: u64,
    /// Consecutive failed probes that open a node's circuit.
    #[serde(default = "defaults::probe_failure_threshold")]
    pub probe_failure_threshold: u32,
    /// After an abnormal socket loss, how long to wait for the session to resume before moving.
    #[serde(default = "defaults::resume_window_ms")]
    pub resume_window_ms: u64,
    /// How long a node keeps our session for a resume.
    #[serde(default = "defaults::session_resume_timeout_s")]
    pub session_resume_timeout_s: u64,
    /// Moves in flight at once.
    #[serde(default = "defaults::max_concurrent_moves")]
    pub max_concurrent_moves: usize,
    /// Moves in flight at once onto one node.
    #[serde(default = "defaults::max_concurrent_per_target")]
    pub max_concurrent_per_target: usize,
}

impl Default for LavalinkConfig {
    fn default() -> Self {
        Self {
            nodes: Vec::new(),
            selection: SelectionPolicy::default(),
            regions: Vec::new(),
            probe_interval_ms: defaults::probe_interval_ms(),
            probe_timeout_ms: defaults::probe_timeout_ms(),
            probe_failure_threshold: defaults::probe_failure_threshold(),
            resume_window_ms: defaults::resume_window_ms(),
            session_resume_timeout_s: defaults::session_resume_timeout_s(),
            max_concurrent_moves: defaults::max_concurrent_moves(),
            max_concurrent_per_target: defaults::max_concurrent_per_target(),
        }
    }
}

/// `[admin]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdminConfig {
    /// Where the admin server listens.
    #[serde(default = "defaults::admin_listen")]
    pub listen: SocketAddr,
    /// The token the admin API requires (`DIMBY_ADMIN_TOKEN`); unset disables the admin API.
    pub token: Option<Secret>,
}

impl Default for AdminConfig {
    fn default() -> Self {
        Self {
            listen: defaults::admin_listen(),
            token: None,
        }
    }
}

/// `[store]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreConfig {
    /// The data directory (the SQLite file lives here).
    #[serde(default = "defaults::data_dir")]
    pub data_dir: PathBuf,
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self {
            data_dir: defaults::data_dir(),
        }
    }
}

mod defaults {
    use std::net::SocketAddr;
    use std::path::PathBuf;

    pub fn metrics_enabled() -> bool {
        true
    }
    pub fn idle_leave() -> std::time::Duration {
        std::time::Duration::from_secs(120)
    }
    pub fn position_tick() -> std::time::Duration {
        std::time::Duration::from_secs(5)
    }
    pub fn profiling_max_seconds() -> u64 {
        60
    }

    pub fn probe_interval_ms() -> u64 {
        5_000
    }
    pub fn probe_timeout_ms() -> u64 {
        2_000
    }
    pub fn probe_failure_threshold() -> u32 {
        2
    }
    pub fn resume_window_ms() -> u64 {
        3_000
    }
    pub fn session_resume_timeout_s() -> u64 {
        60
    }
    pub fn max_concurrent_moves() -> usize {
        64
    }
    pub fn max_concurrent_per_target() -> usize {
        16
    }
    pub fn admin_listen() -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], 8080))
    }
    pub fn data_dir() -> PathBuf {
        PathBuf::from("data")
    }
    pub fn check_interval() -> std::time::Duration {
        std::time::Duration::from_secs(5)
    }
    pub fn auto_defer_ms() -> u64 {
        2_000
    }
}

/// A configuration that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file is missing.
    #[error("config file {0} does not exist")]
    MissingFile(PathBuf),
    /// A value could not be read (figment names the key and where it came from).
    #[error("{0}")]
    Load(String),
    /// A value was read but is not acceptable.
    #[error("{key}: {message}")]
    Invalid {
        /// The key, e.g. `lavalink.nodes[1].url`.
        key: String,
        /// What is wrong and what to do.
        message: String,
    },
}

/// Keys whose values must never appear in an error.
const SECRET_KEYS: [&str; 5] = [
    "token",
    "password",
    "basic_auth",
    "bearer_token",
    "alert_webhook",
];

impl Config {
    /// Reads `path` (when given), then the environment, and validates the result.
    pub fn load(path: Option<&Path>) -> Result<Self, ConfigError> {
        let mut figment = Figment::new();
        if let Some(path) = path {
            if !path.exists() {
                return Err(ConfigError::MissingFile(path.to_owned()));
            }
            figment = figment.merge(Toml::file_exact(path));
        }
        Self::from_figment(&figment.merge(env()))
    }

    /// Extracts and validates a configuration from any figment (tests use this directly).
    pub fn from_figment(figment: &Figment) -> Result<Self, ConfigError> {
        let mut config: Self = figment.extract().map_err(|error| {
            let messages: Vec<String> = error.into_iter().map(|e| describe(&e)).collect();
            ConfigError::Load(messages.join("; "))
        })?;
        // Optional secrets passed through unconditionally by an orchestrator (compose's
        // `HEALTH_ALERT_WEBHOOK=${HEALTH_ALERT_WEBHOOK:-}`) arrive empty: that means unset.
        for optional in [
            &mut config.health.alert_webhook,
            &mut config.metrics.basic_auth,
            &mut config.metrics.bearer_token,
        ] {
            if optional.as_ref().is_some_and(|s| s.expose().is_empty()) {
                *optional = None;
            }
        }
        config.validate()?;
        Ok(config)
    }

    /// Checks what types alone cannot.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.discord.validate()?;
        for (i, node) in self.lavalink.nodes.iter().enumerate() {
            node.validate().map_err(|e| ConfigError::Invalid {
                key: format!("lavalink.nodes[{i}]"),
                message: e.to_string(),
            })?;
        }
        cluster::validate_nodes(&self.lavalink.nodes).map_err(|e| ConfigError::Invalid {
            key: "lavalink.nodes".into(),
            message: e.to_string(),
        })?;
        let positive = [
            (
                "lavalink.probe_interval_ms",
                self.lavalink.probe_interval_ms,
            ),
            ("lavalink.probe_timeout_ms", self.lavalink.probe_timeout_ms),
            (
                "lavalink.session_resume_timeout_s",
                self.lavalink.session_resume_timeout_s,
            ),
            (
                "lavalink.max_concurrent_moves",
                u64::try_from(self.lavalink.max_concurrent_moves).unwrap_or(u64::MAX),
            ),
            (
                "lavalink.max_concurrent_per_target",
                u64::try_from(self.lavalink.max_concurrent_per_target).unwrap_or(u64::MAX),
            ),
            (
                "lavalink.probe_failure_threshold",
                u64::from(self.lavalink.probe_failure_threshold),
            ),
        ];
        if let Some((key, _)) = positive.iter().find(|(_, value)| *value == 0) {
            return Err(ConfigError::Invalid {
                key: (*key).to_owned(),
                message: "must be greater than zero".into(),
            });
        }
        if self.lavalink.probe_timeout_ms >= self.lavalink.probe_interval_ms {
            return Err(ConfigError::Invalid {
                key: "lavalink.probe_timeout_ms".into(),
                message: format!(
                    "must be shorter than lavalink.probe_interval_ms ({} ms)",
                    self.lavalink.probe_interval_ms
                ),
            });
        }
        if self
            .admin
            .token
            .as_ref()
            .is_some_and(|t| t.expose().is_empty())
        {
            return Err(ConfigError::Invalid {
                key: "admin.token".into(),
                message: "is empty; leave it unset to disable the admin API".into(),
            });
        }
        if self.health.check_interval.is_zero() {
            return Err(ConfigError::Invalid {
                key: "health.check_interval".into(),
                message: "must be greater than zero".into(),
            });
        }
        if self.health.control_channel == Some(0) {
            return Err(ConfigError::Invalid {
                key: "health.control_channel".into(),
                message: "must be a channel id (a snowflake, not 0)".into(),
            });
        }
        if self
            .health
            .probe_identifier
            .as_ref()
            .is_some_and(|id| id.trim().is_empty())
        {
            return Err(ConfigError::Invalid {
                key: "health.probe_identifier".into(),
                message: "is empty; leave it unset to skip the lavalink:playerReady probe".into(),
            });
        }
        if self.health.memory_warn_mb == Some(0) {
            return Err(ConfigError::Invalid {
                key: "health.memory_warn_mb".into(),
                message: "must be greater than zero".into(),
            });
        }
        if let Some(hook) = &self.health.alert_webhook
            && !(hook.expose().starts_with("http://") || hook.expose().starts_with("https://"))
        {
            return Err(ConfigError::Invalid {
                key: "health.alert_webhook".into(),
                message: "must be an http:// or https:// URL (value not shown: it is a secret)"
                    .into(),
            });
        }
        self.validate_sections()
    }

    /// The sections that check themselves.
    fn validate_sections(&self) -> Result<(), ConfigError> {
        self.metrics.validate(self.admin.listen)?;
        self.bot.validate()?;
        self.profiling.validate()
    }

    /// The cluster's configuration for the bot user `user_id`.
    pub fn cluster(&self, user_id: u64) -> ClusterConfig {
        let l = &self.lavalink;
        let mut config = ClusterConfig::new(user_id, l.nodes.clone());
        config.selection = l.selection;
        config.regions.clone_from(&l.regions);
        config.probe.interval = Duration::from_millis(l.probe_interval_ms);
        config.probe.timeout = Duration::from_millis(l.probe_timeout_ms);
        config.probe.failure_threshold = l.probe_failure_threshold;
        config.failover.resume_window = Duration::from_millis(l.resume_window_ms);
        config.failover.max_concurrent_moves = l.max_concurrent_moves;
        config.failover.max_concurrent_per_target = l.max_concurrent_per_target;
        config.client.resume_timeout = Duration::from_secs(l.session_resume_timeout_s);
        config
    }
}

/// The environment provider: `DIMBY_SECTION__KEY`, plus the short aliases.
fn env() -> Figment {
    Figment::new()
        .merge(
            Env::prefixed("DIMBY_")
                .filter(|key| key.as_str().contains("__"))
                .split("__"),
        )
        .merge(
            Env::raw()
                .only(&["DIMBY_DISCORD_TOKEN"])
                .map(|_| "discord.token".into()),
        )
        .merge(
            Env::raw()
                .only(&["DIMBY_ADMIN_TOKEN"])
                .map(|_| "admin.token".into()),
        )
        // The names the health plan gave these.
        .merge(
            Env::raw()
                .only(&["HEALTH_ALERT_WEBHOOK"])
                .map(|_| "health.alert_webhook".into()),
        )
        .merge(
            Env::raw()
                .only(&["HEALTH_CHECK_INTERVAL"])
                .map(|_| "health.check_interval".into()),
        )
        // The names the metrics plan gave these.
        .merge(
            Env::raw()
                .only(&["METRICS_ENABLED"])
                .map(|_| "metrics.enabled".into()),
        )
        .merge(
            Env::raw()
                .only(&["METRICS_BASIC_AUTH"])
                .map(|_| "metrics.basic_auth".into()),
        )
}

/// One figment error as a sentence naming the key and where it came from, with secret values
/// hidden.
fn describe(error: &figment::Error) -> String {
    let key = error.path.join(".");
    let secret = error
        .path
        .last()
        .is_some_and(|last| SECRET_KEYS.contains(&last.as_str()));
    let source = error
        .metadata
        .as_ref()
        .map(|m| {
            m.source
                .as_ref()
                .map_or_else(|| m.name.to_string(), ToString::to_string)
        })
        .unwrap_or_default();
    let what = if secret {
        "invalid value (not shown: it is a secret)".to_owned()
    } else {
        error.kind.to_string()
    };
    match (key.is_empty(), source.is_empty()) {
        (true, true) => what,
        (true, false) => format!("{what} (in {source})"),
        (false, true) => format!("{key}: {what}"),
        (false, false) => format!("{key}: {what} (in {source})"),
    }
}

#[cfg(test)]
// figment's Jail returns its own (large) error type.
#[allow(clippy::result_large_err)]
mod tests {
    use figment::Jail;

    use super::*;

    fn load_in(jail: &Jail, toml: &str) -> Result<Config, ConfigError> {
        jail.create_file("dimby.toml", toml).expect("write");
        Config::load(Some(Path::new("dimby.toml")))
    }

    #[test]
    fn a_complete_file_loads_and_env_overrides_it() {
        Jail::expect_with(|jail| {
            jail.set_env("DIMBY_ADMIN__LISTEN", "0.0.0.0:9090");
            jail.set_env("DIMBY_DISCORD_TOKEN", "from-env");
            let config = load_in(
                jail,
                r#"
                [discord]
                token = "from-file"
                [admin]
                listen = "127.0.0.1:8081"
                token = "admin-secret"
                [lavalink]
                selection = "least-players"
                [[lavalink.nodes]]
                name = "n1"
                url = "http://127.0.0.1:2333"
                password = "youshallnotpass"
                region = "eu"
                "#,
            )
            .expect("valid");
            assert_eq!(config.admin.listen.to_string(), "0.0.0.0:9090");
            assert_eq!(
                config.discord.token.as_ref().map(Secret::expose),
                Some("from-env")
            );
            assert_eq!(config.lavalink.nodes.len(), 1);
            assert_eq!(config.lavalink.selection, SelectionPolicy::LeastPlayers);
            let cluster = config.cluster(7);
            assert_eq!(cluster.nodes[0].region.as_deref(), Some("eu"));
            assert!(!format!("{config:?}").contains("admin-secret"));
            Ok(())
        });
    }

    #[test]
    fn errors_name_the_key_and_the_file() {
        Jail::expect_with(|jail| {
            let error =
                load_in(jail, "[admin]\nlisten = \"not an address\"\n").expect_err("bad address");
            let text = error.to_string();
            assert!(text.contains("admin.listen"), "{text}");
            assert!(text.contains("dimby.toml"), "{text}");

            let error = load_in(jail, "[lavalink]\nprobe_intervall_ms = 5\n").expect_err("typo");
            assert!(error.to_string().contains("probe_intervall_ms"), "{error}");

            let error = load_in(
                jail,
                "[[lavalink.nodes]]\nname = \"n1\"\nurl = \"ftp://x\"\npassword = \"p\"\n",
            )
            .expect_err("bad url");
            assert!(
                error.to_string().starts_with("lavalink.nodes[0]"),
                "{error}"
            );

            let error = load_in(jail, "[lavalink]\nprobe_timeout_ms = 9000\n").expect_err("order");
            assert!(
                error.to_string().starts_with("lavalink.probe_timeout_ms"),
                "{error}"
            );

            assert!(matches!(
                Config::load(Some(Path::new("missing.toml"))),
                Err(ConfigError::MissingFile(_))
            ));
            Ok(())
        });
    }

    #[test]
    fn secret_values_never_appear_in_errors() {
        Jail::expect_with(|jail| {
            let error = load_in(
                jail,
                "[[lavalink.nodes]]\nname = \"n1\"\nurl = \"http://x\"\npassword = 314159265\n",
            )
            .expect_err("a password must be a string");
            let text = error.to_string();
            assert!(text.contains("password"), "{text}");
            assert!(!text.contains("314159265"), "{text}");
            Ok(())
        });
    }

    #[test]
    fn discord_section_loads_and_is_validated() {
        Jail::expect_with(|jail| {
            let config = load_in(
                jail,
                r#"
                [discord]
                token = "t"
                dev_guild = 42
                gateway_url = "ws://127.0.0.1:7000"
                rest_proxy = "127.0.0.1:7000"
                shards = { first = 2, last = 3, total = 4 }
                auto_defer_ms = 1500
                "#,
            )
            .expect("valid");
            let discord = &config.discord;
            assert_eq!(discord.dev_guild, Some(42));
            assert_eq!(discord.gateway_url.as_deref(), Some("ws://127.0.0.1:7000"));
            assert_eq!(discord.rest_proxy.as_deref(), Some("127.0.0.1:7000"));
            assert_eq!(
                discord.shards,
                Some(ShardRangeConfig {
                    first: 2,
                    last: 3,
                    total: 4
                })
            );
            assert_eq!(discord.auto_defer_ms, 1500);
            assert_eq!(Config::default().discord.auto_defer_ms, 2000);

            for (toml, key) in [
                ("gateway_url = \"http://x\"", "discord.gateway_url"),
                ("rest_proxy = \"http://127.0.0.1:1\"", "discord.rest_proxy"),
                ("rest_proxy = \"127.0.0.1\"", "discord.rest_proxy"),
                (
                    "shards = { first = 0, last = 4, total = 4 }",
                    "discord.shards.last",
                ),
                (
                    "shards = { first = 3, last = 1, total = 4 }",
                    "discord.shards.first",
                ),
                (
                    "shards = { first = 0, last = 0, total = 0 }",
                    "discord.shards.total",
                ),
                ("auto_defer_ms = 3000", "discord.auto_defer_ms"),
                ("auto_defer_ms = 0", "discord.auto_defer_ms"),
                ("token = \"\"", "discord.token"),
            ] {
                let error = load_in(jail, &format!("[discord]\n{toml}\n")).expect_err(toml);
                assert!(error.to_string().starts_with(key), "{toml}: {error}");
            }
            let error = load_in(jail, "[discord]\nshards = { first = 0, last = 0 }\n")
                .expect_err("total is required");
            assert!(error.to_string().contains("total"), "{error}");
            Ok(())
        });
    }

    #[test]
    fn the_health_plan_variables_are_accepted() {
        Jail::expect_with(|jail| {
            jail.set_env(
                "HEALTH_ALERT_WEBHOOK",
                "https://discord.example/api/webhooks/1/secret",
            );
            jail.set_env("HEALTH_CHECK_INTERVAL", "30s");
            let config = Config::load(None).expect("valid");
            assert_eq!(config.health.check_interval, Duration::from_secs(30));
            assert!(config.health.alert_webhook.is_some());
            assert!(!format!("{config:?}").contains("secret"));
            jail.set_env("HEALTH_CHECK_INTERVAL", "45");
            assert_eq!(
                Config::load(None).expect("valid").health.check_interval,
                Duration::from_secs(45)
            );
            jail.set_env("HEALTH_CHECK_INTERVAL", "soon");
            let error = Config::load(None).expect_err("bad duration");
            assert!(
                error.to_string().contains("health.check_interval"),
                "{error}"
            );
            jail.set_env("HEALTH_CHECK_INTERVAL", "5s");
            jail.set_env("HEALTH_ALERT_WEBHOOK", "ftp://nope/secret-token");
            let error = Config::load(None).expect_err("bad webhook");
            assert!(
                error.to_string().starts_with("health.alert_webhook"),
                "{error}"
            );
            assert!(!error.to_string().contains("secret-token"), "{error}");
            Ok(())
        });
    }

    #[test]
    fn the_metrics_plan_variables_are_accepted_and_checked() {
        Jail::expect_with(|jail| {
            assert!(Config::load(None).expect("defaults").metrics.enabled);
            jail.set_env("METRICS_ENABLED", "false");
            jail.set_env("METRICS_BASIC_AUTH", "prom:hunter2-secret");
            let config = Config::load(None).expect("valid");
            assert!(!config.metrics.enabled);
            assert_eq!(
                config.metrics.basic_auth.as_ref().map(Secret::expose),
                Some("prom:hunter2-secret")
            );
            assert!(!format!("{config:?}").contains("hunter2"));
            jail.set_env("METRICS_BASIC_AUTH", "hunter2-secret");
            let error = Config::load(None).expect_err("no colon");
            assert!(
                error.to_string().starts_with("metrics.basic_auth"),
                "{error}"
            );
            assert!(!error.to_string().contains("hunter2"), "{error}");
            jail.set_env("METRICS_BASIC_AUTH", "");
            assert!(
                Config::load(None)
                    .expect("empty is unset")
                    .metrics
                    .basic_auth
                    .is_none(),
                "an empty METRICS_BASIC_AUTH means no auth"
            );
            jail.set_env("METRICS_ENABLED", "maybe");
            let error = Config::load(None).expect_err("not a bool");
            assert!(error.to_string().contains("metrics.enabled"), "{error}");
            jail.set_env("METRICS_ENABLED", "true");
            jail.set_env("DIMBY_METRICS__LISTEN", "127.0.0.1:8080");
            let error = Config::load(None).expect_err("same as admin.listen");
            assert!(error.to_string().starts_with("metrics.listen"), "{error}");
            Ok(())
        });
    }

    #[test]
    fn profiling_section_loads_and_is_validated() {
        Jail::expect_with(|jail| {
            let defaults = Config::load(None).expect("defaults").profiling;
            assert!(!defaults.enabled);
            assert_eq!(defaults.max_seconds, 60);
            let config =
                load_in(jail, "[profiling]\nenabled = true\nmax_seconds = 120\n").expect("valid");
            assert!(config.profiling.enabled);
            assert_eq!(config.profiling.max_seconds, 120);
            for toml in ["max_seconds = 0", "max_seconds = 3601"] {
                let error = load_in(jail, &format!("[profiling]\n{toml}\n")).expect_err(toml);
                assert!(
                    error.to_string().starts_with("profiling.max_seconds"),
                    "{toml}: {error}"
                );
            }
            let error = load_in(jail, "[profiling]\nenable = true\n").expect_err("unknown key");
            assert!(error.to_string().contains("enable"), "{error}");
            jail.set_env("DIMBY_PROFILING__ENABLED", "yes please");
            let error = Config::load(None).expect_err("not a bool");
            assert!(error.to_string().contains("profiling.enabled"), "{error}");
            jail.set_env("DIMBY_PROFILING__ENABLED", "true");
            assert!(Config::load(None).expect("valid").profiling.enabled);
            Ok(())
        });
    }

    #[test]
    fn bot_durations_load_and_are_checked() {
        Jail::expect_with(|jail| {
            let config = load_in(
                jail,
                "[bot]\nidle_leave = \"30s\"\nposition_tick = \"500ms\"\n",
            )
            .expect("valid");
            assert_eq!(config.bot.idle_leave, Duration::from_secs(30));
            assert_eq!(
                config.bot.settings().position_tick,
                Duration::from_millis(500)
            );
            let error = load_in(jail, "[bot]\nposition_tick = 0\n").expect_err("zero");
            assert!(
                error.to_string().starts_with("bot.position_tick"),
                "{error}"
            );
            let error = load_in(jail, "[bot]\nidle_leave = \"soon\"\n").expect_err("bad");
            assert!(error.to_string().contains("bot.idle_leave"), "{error}");
            Ok(())
        });
    }

    #[test]
    fn unrelated_dimby_variables_are_ignored() {
        Jail::expect_with(|jail| {
            jail.set_env("DIMBY_LOG_FORMAT", "json");
            jail.set_env("DIMBY_SIM_PASSWORD", "x");
            let config = Config::load(None).expect("defaults");
            assert!(config.lavalink.nodes.is_empty());
            Ok(())
        });
    }
}
