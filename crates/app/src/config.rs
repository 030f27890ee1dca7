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

pub use admin::Secret;

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
    /// This process's place in a blue-green deploy.
    #[serde(default)]
    pub deploy: DeployConfig,
}

/// `[deploy]`: this process's colour, and what `dimby deploy` needs (docs/runbooks/deploys.md).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeployConfig {
    /// The colour this process runs as in a blue-green deploy, `blue` or `green`
    /// (`DIMBY_DEPLOY__COLOUR`); unset for a process outside such deploys. Every log line and
    /// `dimby_build_info` carry it.
    #[serde(default, deserialize_with = "colour")]
    pub colour: Option<store::Colour>,
    /// How long `dimby deploy` watches the new colour after the cutover before it promotes it
    /// (`deploy.watch`): 10 s to 1 hour.
    #[serde(default = "defaults::deploy_watch", deserialize_with = "duration")]
    pub watch: Duration,
    /// How long the candidate may take to reach standby, and how long its gate may take
    /// (`deploy.gate_timeout`): 10 s to 10 minutes.
    #[serde(
        default = "defaults::deploy_gate_timeout",
        deserialize_with = "duration"
    )]
    pub gate_timeout: Duration,
    /// How long each step of a cutover may take: the handover, the takeover
    /// (`deploy.step_timeout`): 5 s to 5 minutes.
    #[serde(
        default = "defaults::deploy_step_timeout",
        deserialize_with = "duration"
    )]
    pub step_timeout: Duration,
    /// How long the gate watches the candidate's log for errors after its other checks
    /// (`deploy.gate_log_window`): 0 s to 5 minutes. The errors it logged since it started count
    /// too.
    #[serde(
        default = "defaults::deploy_gate_log_window",
        deserialize_with = "duration"
    )]
    pub gate_log_window: Duration,
    /// Error-level log events of the new colour during the watch that roll it back: more than
    /// this many (`deploy.watch_max_errors`): 0 to 1,000,000.
    #[serde(default)]
    pub watch_max_errors: u64,
    /// A fault for deploy rehearsals (`deploy.rehearsal_fault`): `"commands"` makes every
    /// command fail once the process serves, as a build broken after its gate would; the drill
    /// starts a candidate with it to see the watch roll it back. Unset in production.
    #[serde(default)]
    pub rehearsal_fault: Option<RehearsalFault>,
    /// The blue slot (`[deploy.blue]`), for `dimby deploy`.
    #[serde(default)]
    pub blue: Option<SlotConfig>,
    /// The green slot (`[deploy.green]`), for `dimby deploy`.
    #[serde(default)]
    pub green: Option<SlotConfig>,
    /// The gate's voice probe in a staging guild (`[deploy.probe]`); none when unset.
    #[serde(default)]
    pub probe: Option<ProbeConfig>,
}

/// The pre-cutover gate's voice probe (`[deploy.probe]`): the candidate joins a voice channel of
/// a staging guild (a guild used for nothing else) on a gateway session of its own, plays a probe
/// track there on the first enabled Lavalink node, checks that the player connects and its
/// position advances, then stops and leaves.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProbeConfig {
    /// The staging guild's id.
    pub guild: u64,
    /// The voice channel to join there.
    pub voice_channel: u64,
    /// What the node loads and plays: a URL or an identifier its sources resolve.
    pub track: String,
    /// How long the probe listens: the position must advance by half of it at least
    /// (`deploy.probe.listen`): 1 s to 60 s.
    #[serde(default = "defaults::probe_listen", deserialize_with = "duration")]
    pub listen: Duration,
}

impl Default for DeployConfig {
    fn default() -> Self {
        Self {
            colour: None,
            watch: defaults::deploy_watch(),
            gate_timeout: defaults::deploy_gate_timeout(),
            step_timeout: defaults::deploy_step_timeout(),
            gate_log_window: defaults::deploy_gate_log_window(),
            watch_max_errors: 0,
            rehearsal_fault: None,
            blue: None,
            green: None,
            probe: None,
        }
    }
}

/// A deploy rehearsal's fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RehearsalFault {
    /// Every command fails.
    Commands,
}

impl Config {
    /// The bot's settings: `[bot]`, with a deploy rehearsal's fault if one is set.
    pub fn bot_settings(&self) -> bot::runtime::BotSettings {
        bot::runtime::BotSettings {
            fail_commands: self.deploy.rehearsal_fault == Some(RehearsalFault::Commands),
            ..self.bot.settings()
        }
    }
}

/// One colour's slot on the host: how `dimby deploy` reaches, starts and stops it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlotConfig {
    /// Its admin server, e.g. `http://127.0.0.1:9101`.
    pub admin_url: String,
    /// The command that starts it in standby, e.g. `["systemctl", "start", "dimby@blue"]`.
    pub start: Vec<String>,
    /// The command that stops it, e.g. `["systemctl", "stop", "dimby@blue"]`.
    pub stop: Vec<String>,
    /// The command that installs a new build in this slot before `dimby deploy run` starts it,
    /// e.g. `["install", "-m", "0755", "/opt/dimby/incoming/dimby", "/opt/dimby/blue/dimby"]`;
    /// empty (the default): `start` already runs the new build.
    #[serde(default)]
    pub prepare: Vec<String>,
    /// The binary it runs (recorded in the deploy ledger).
    #[serde(default)]
    pub binary: String,
    /// The config file it runs with (recorded in the deploy ledger).
    #[serde(default)]
    pub config: String,
}

impl DeployConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        bounds::duration("deploy.watch", self.watch, bounds::DEPLOY_WATCH)?;
        bounds::duration(
            "deploy.gate_timeout",
            self.gate_timeout,
            bounds::DEPLOY_GATE_TIMEOUT,
        )?;
        bounds::duration(
            "deploy.step_timeout",
            self.step_timeout,
            bounds::DEPLOY_STEP_TIMEOUT,
        )?;
        bounds::duration(
            "deploy.gate_log_window",
            self.gate_log_window,
            bounds::DEPLOY_GATE_LOG_WINDOW,
        )?;
        if let Some(probe) = &self.probe {
            bounds::duration("deploy.probe.listen", probe.listen, bounds::PROBE_LISTEN)?;
            for (key, id) in [
                ("deploy.probe.guild", probe.guild),
                ("deploy.probe.voice_channel", probe.voice_channel),
            ] {
                if id == 0 {
                    return Err(ConfigError::Invalid {
                        key: key.into(),
                        message: "must be a Discord id (a snowflake, not 0)".into(),
                    });
                }
            }
            if probe.track.trim().is_empty() {
                return Err(ConfigError::Invalid {
                    key: "deploy.probe.track".into(),
                    message: "must name a track a node can load (a URL or an identifier)".into(),
                });
            }
        }
        if self.gate_log_window >= self.gate_timeout {
            return Err(ConfigError::Invalid {
                key: "deploy.gate_log_window".into(),
                message: format!(
                    "{:?} must be shorter than deploy.gate_timeout ({:?}): the gate watches the \
                     log within it",
                    self.gate_log_window, self.gate_timeout
                ),
            });
        }
        bounds::count(
            "deploy.watch_max_errors",
            self.watch_max_errors,
            bounds::WATCH_MAX_ERRORS,
        )?;
        for (name, slot) in [("blue", &self.blue), ("green", &self.green)] {
            let Some(slot) = slot else { continue };
            if !(slot.admin_url.starts_with("http://") || slot.admin_url.starts_with("https://")) {
                return Err(ConfigError::Invalid {
                    key: format!("deploy.{name}.admin_url"),
                    message: format!("{:?} must be an http:// or https:// URL", slot.admin_url),
                });
            }
            if slot
                .prepare
                .first()
                .is_some_and(|program| program.trim().is_empty())
            {
                return Err(ConfigError::Invalid {
                    key: format!("deploy.{name}.prepare"),
                    message: "must be empty or a command: a program and its arguments".into(),
                });
            }
            for (key, command) in [("start", &slot.start), ("stop", &slot.stop)] {
                if command
                    .first()
                    .is_none_or(|program| program.trim().is_empty())
                {
                    return Err(ConfigError::Invalid {
                        key: format!("deploy.{name}.{key}"),
                        message: "must be a command: a program and its arguments, e.g. \
                                  [\"systemctl\", \"start\", \"dimby@blue\"]"
                            .into(),
                    });
                }
            }
        }
        Ok(())
    }
}

/// A deploy colour as the store names it (`blue`, `green`), refused in words otherwise.
fn colour<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<store::Colour>, D::Error> {
    struct Visitor;

    impl serde::de::Visitor<'_> for Visitor {
        type Value = Option<store::Colour>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(COLOUR_EXPECTED)
        }

        fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<Self::Value, E> {
            if text.is_empty() {
                return Err(E::custom(format!(
                    "is empty; expected {COLOUR_EXPECTED}, or leave it unset for no colour"
                )));
            }
            text.parse::<store::Colour>().map(Some).map_err(|_| {
                E::custom(format!(
                    "{text:?} is not a deploy colour; expected {COLOUR_EXPECTED}"
                ))
            })
        }
    }

    deserializer.deserialize_str(Visitor)
}

/// The values `deploy.colour` takes, for its errors.
const COLOUR_EXPECTED: &str = "\"blue\" or \"green\"";

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
        bounds::count(
            "profiling.max_seconds",
            self.max_seconds,
            bounds::PROFILING_MAX_SECONDS,
        )
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
    /// How long a stop waits for the commands in flight (a `/play` still loading its track).
    #[serde(default = "defaults::stop_grace", deserialize_with = "duration")]
    pub stop_grace: Duration,
    /// How long an autocomplete answer waits for its search before it is the text as typed (the
    /// search runs on and fills the cache; Discord gives an autocomplete 3 s in all).
    #[serde(
        default = "defaults::autocomplete_timeout",
        deserialize_with = "duration"
    )]
    pub autocomplete_timeout: Duration,
    /// Searches for suggestions one guild may start per second (beyond them: recent searches,
    /// or the text as typed).
    #[serde(default = "defaults::autocomplete_searches")]
    pub autocomplete_searches: u64,
}

impl Default for BotConfig {
    fn default() -> Self {
        Self {
            idle_leave: defaults::idle_leave(),
            position_tick: defaults::position_tick(),
            stop_grace: defaults::stop_grace(),
            autocomplete_timeout: defaults::autocomplete_timeout(),
            autocomplete_searches: defaults::autocomplete_searches(),
        }
    }
}

impl BotConfig {
    /// The bot's settings.
    pub fn settings(&self) -> bot::runtime::BotSettings {
        bot::runtime::BotSettings {
            idle_leave: self.idle_leave,
            position_tick: self.position_tick,
            stop_grace: self.stop_grace,
            fail_commands: false,
            autocomplete_timeout: self.autocomplete_timeout,
            // Bounded by validation.
            autocomplete_searches: u32::try_from(self.autocomplete_searches).unwrap_or(u32::MAX),
        }
    }

    fn validate(&self) -> Result<(), ConfigError> {
        bounds::duration("bot.idle_leave", self.idle_leave, bounds::IDLE_LEAVE)?;
        bounds::duration(
            "bot.position_tick",
            self.position_tick,
            bounds::POSITION_TICK,
        )?;
        bounds::duration("bot.stop_grace", self.stop_grace, bounds::STOP_GRACE)?;
        bounds::duration(
            "bot.autocomplete_timeout",
            self.autocomplete_timeout,
            bounds::AUTOCOMPLETE_TIMEOUT,
        )?;
        bounds::count(
            "bot.autocomplete_searches",
            self.autocomplete_searches,
            bounds::AUTOCOMPLETE_SEARCHES,
        )
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
    /// Nothing pages for this long after start (the nodes and shards are still coming up); a
    /// check still failing when it ends pages then.
    #[serde(default = "defaults::startup_grace", deserialize_with = "duration")]
    pub startup_grace: Duration,
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
            startup_grace: defaults::startup_grace(),
            control_channel: None,
            probe_identifier: None,
            memory_warn_mb: None,
            admin_users: Vec::new(),
            admin_roles: Vec::new(),
        }
    }
}

/// A duration as `30s`, `1m 30s`, `500ms`, or a whole number of seconds. A negative number or
/// a fraction is refused with an error in words (the bounds of each key are checked later).
fn duration<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
    struct Visitor;

    impl serde::de::Visitor<'_> for Visitor {
        type Value = Duration;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a duration like \"30s\" or \"500ms\", or a whole number of seconds")
        }

        fn visit_u64<E: serde::de::Error>(self, seconds: u64) -> Result<Duration, E> {
            Ok(Duration::from_secs(seconds))
        }

        fn visit_i64<E: serde::de::Error>(self, seconds: i64) -> Result<Duration, E> {
            u64::try_from(seconds)
                .map(Duration::from_secs)
                .map_err(|_| {
                    E::custom(format!(
                        "{seconds} is negative; a duration must be zero or more"
                    ))
                })
        }

        fn visit_f64<E: serde::de::Error>(self, seconds: f64) -> Result<Duration, E> {
            Err(E::custom(format!(
                "{seconds} is not a whole number of seconds; write milliseconds as \"500ms\""
            )))
        }

        fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<Duration, E> {
            let text = text.trim();
            if let Ok(seconds) = text.parse::<u64>() {
                return Ok(Duration::from_secs(seconds));
            }
            if text.starts_with('-') {
                return Err(E::custom(format!(
                    "{text:?} is negative; a duration must be zero or more"
                )));
            }
            humantime::parse_duration(text).map_err(|e| {
                E::custom(format!("{text:?} is not a duration like 30s or 500ms: {e}"))
            })
        }
    }

    deserializer.deserialize_any(Visitor)
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
    pub shards: Option<discord::ShardRange>,
    /// The application's shards split evenly over several processes, this one being `index`
    /// (`{ total, processes, index }`): the way to say it where every process gets the same
    /// config but its own index (a Kubernetes StatefulSet's pod index). Not with `shards`.
    pub split: Option<ShardSplit>,
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
            split: None,
            auto_defer_ms: defaults::auto_defer_ms(),
        }
    }
}

impl DiscordConfig {
    /// The Discord layer's settings from this section.
    pub fn settings(&self) -> Result<discord::Settings, discord::DiscordError> {
        let token = self
            .token
            .as_ref()
            .ok_or(discord::DiscordError::MissingToken)?;
        let dev_guild = self
            .dev_guild
            .map(|id| {
                discord::GuildId::new_checked(id).ok_or(discord::DiscordError::Invalid {
                    key: "discord.dev_guild",
                    message: "must not be 0".into(),
                })
            })
            .transpose()?;
        let mut settings = discord::Settings::new(token.expose());
        settings.gateway_url.clone_from(&self.gateway_url);
        settings.rest_proxy.clone_from(&self.rest_proxy);
        settings.dev_guild = dev_guild;
        settings.shards = self.shards.or_else(|| self.split.map(ShardSplit::range));
        settings.auto_defer = Duration::from_millis(self.auto_defer_ms);
        Ok(settings)
    }

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
        if let Some(split) = self.split {
            if self.shards.is_some() {
                return Err(invalid(
                    "split",
                    "is set beside discord.shards: give one of them".into(),
                ));
            }
            split
                .validate()
                .map_err(|(key, message)| invalid(key, message))?;
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
        bounds::count(
            "discord.auto_defer_ms",
            self.auto_defer_ms,
            bounds::AUTO_DEFER_MS,
        )
    }
}

/// `[discord.split]`: the application's `total` shards split evenly over `processes`
/// processes; process `index` (from 0) runs shards `index * total / processes` up to
/// `(index + 1) * total / processes - 1`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShardSplit {
    /// The application's shards in all.
    pub total: u32,
    /// How many processes share them.
    pub processes: u32,
    /// This process, from 0.
    pub index: u32,
}

impl ShardSplit {
    /// This process's shards.
    pub fn range(self) -> discord::ShardRange {
        let bound = |index: u32| {
            u32::try_from(
                u64::from(index) * u64::from(self.total) / u64::from(self.processes.max(1)),
            )
            .unwrap_or(u32::MAX)
        };
        discord::ShardRange {
            first: bound(self.index),
            last: bound(self.index.saturating_add(1)).saturating_sub(1),
            total: self.total,
        }
    }

    /// Every process gets one shard at least; the index is one of the processes.
    fn validate(self) -> Result<(), (&'static str, String)> {
        if self.processes == 0 {
            return Err(("split.processes", "must be greater than zero".into()));
        }
        if self.total < self.processes {
            return Err((
                "split.total",
                format!(
                    "must be at least discord.split.processes ({}): every process runs one shard at least",
                    self.processes
                ),
            ));
        }
        if self.index >= self.processes {
            return Err((
                "split.index",
                format!(
                    "must be less than discord.split.processes ({}); indices start at 0",
                    self.processes
                ),
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
    /// The hosts `POST /admin/nodes` may point the bot at: names, addresses or ranges
    /// (`10.0.0.0/8`). Unset: the configured nodes' hosts, loopback and the private ranges.
    pub node_hosts: Option<Vec<String>>,
    /// A request's headers must arrive within this time or the connection is closed.
    #[serde(
        default = "defaults::header_read_timeout",
        deserialize_with = "duration"
    )]
    pub header_read_timeout: Duration,
    /// A connection with no request in flight for this long is closed.
    #[serde(default = "defaults::idle_timeout", deserialize_with = "duration")]
    pub idle_timeout: Duration,
    /// The most connections open at once; at the cap a new one replaces the oldest idle one.
    #[serde(default = "defaults::max_connections")]
    pub max_connections: u64,
}

impl Default for AdminConfig {
    fn default() -> Self {
        Self {
            listen: defaults::admin_listen(),
            token: None,
            node_hosts: None,
            header_read_timeout: defaults::header_read_timeout(),
            idle_timeout: defaults::idle_timeout(),
            max_connections: defaults::max_connections(),
        }
    }
}

impl AdminConfig {
    /// The admin server's connection limits.
    pub fn limits(&self) -> admin::ServerLimits {
        admin::ServerLimits {
            header_read_timeout: self.header_read_timeout,
            idle_timeout: self.idle_timeout,
            max_connections: usize::try_from(self.max_connections).unwrap_or(usize::MAX),
        }
    }

    fn validate(&self) -> Result<(), ConfigError> {
        bounds::duration(
            "admin.header_read_timeout",
            self.header_read_timeout,
            bounds::HEADER_READ_TIMEOUT,
        )?;
        bounds::duration(
            "admin.idle_timeout",
            self.idle_timeout,
            bounds::IDLE_TIMEOUT,
        )?;
        bounds::count(
            "admin.max_connections",
            self.max_connections,
            bounds::MAX_CONNECTIONS,
        )?;
        if let Some(entries) = &self.node_hosts {
            admin::NodeHosts::listed(entries).map_err(|(i, message)| ConfigError::Invalid {
                key: format!("admin.node_hosts[{i}]"),
                message,
            })?;
        }
        Ok(())
    }
}

impl Config {
    /// The hosts `POST /admin/nodes` may name: `admin.node_hosts`, or by default the hosts of
    /// the configured nodes, loopback and the private ranges.
    pub fn node_hosts(&self) -> admin::NodeHosts {
        self.admin
            .node_hosts
            .as_ref()
            .and_then(|entries| admin::NodeHosts::listed(entries).ok())
            .unwrap_or_else(|| {
                admin::NodeHosts::default_for(self.lavalink.nodes.iter().map(|n| n.url.as_str()))
            })
    }
}

/// `[store]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreConfig {
    /// The data directory (the SQLite file lives here).
    #[serde(default = "defaults::data_dir")]
    pub data_dir: PathBuf,
    /// Whether an existing but empty (0 bytes) store file may start as a new, empty store. Off:
    /// such a file is a truncated store and the bot refuses to start on it.
    #[serde(default)]
    pub allow_fresh_start: bool,
    /// A PostgreSQL database instead of the SQLite file (`postgres://user:password@host/db`,
    /// `DIMBY_STORE__URL`): the store every process of a bot split over several hosts shares.
    /// A secret (it may carry the password): never shown.
    pub url: Option<Secret>,
    /// The most connections one process opens to PostgreSQL (1..=100; with `url`).
    #[serde(default = "defaults::store_max_connections")]
    pub max_connections: u32,
}

impl StoreConfig {
    /// The PostgreSQL store's settings, when `url` names one.
    pub fn postgres(&self) -> Option<store::PgConfig> {
        self.url.as_ref().map(|url| store::PgConfig {
            max_connections: self.max_connections,
            ..store::PgConfig::new(url.expose())
        })
    }

    /// Where the store is, for logs and errors: the PostgreSQL URL without its password, or the
    /// data directory.
    pub fn location(&self) -> String {
        self.postgres().map_or_else(
            || self.data_dir.display().to_string(),
            |postgres| postgres.location(),
        )
    }

    /// Opens the configured store: PostgreSQL when `url` is set, else the SQLite file in
    /// `data_dir` (an existing empty file is refused unless `allow_fresh_start`).
    pub async fn open(&self) -> Result<std::sync::Arc<dyn store::Store>, store::Error> {
        Ok(match self.postgres() {
            Some(postgres) => std::sync::Arc::new(store::PgStore::connect(&postgres).await?),
            None => std::sync::Arc::new(
                store::SqliteStore::open(&store::SqliteConfig {
                    allow_fresh_start: self.allow_fresh_start,
                    ..store::SqliteConfig::new(&self.data_dir)
                })
                .await?,
            ),
        })
    }

    /// Checks the URL without connecting; errors name the key and never the value.
    fn validate(&self) -> Result<(), ConfigError> {
        bounds::count(
            "store.max_connections",
            u64::from(self.max_connections),
            bounds::STORE_MAX_CONNECTIONS,
        )?;
        let Some(postgres) = self.postgres() else {
            return Ok(());
        };
        postgres.validate().map_err(|error| ConfigError::Invalid {
            key: "store.url".into(),
            message: match error {
                store::Error::InvalidUrl { reason, .. } => format!(
                    "is not a PostgreSQL URL the store can use: {reason} (value not shown: it is a secret)"
                ),
                _ => "is not a PostgreSQL URL the store can use (value not shown: it is a secret)"
                    .into(),
            },
        })
    }
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self {
            data_dir: defaults::data_dir(),
            allow_fresh_start: false,
            url: None,
            max_connections: defaults::store_max_connections(),
        }
    }
}

mod defaults {
    use std::net::SocketAddr;
    use std::path::PathBuf;

    pub fn store_max_connections() -> u32 {
        8
    }

    pub fn metrics_enabled() -> bool {
        true
    }
    pub fn idle_leave() -> std::time::Duration {
        std::time::Duration::from_secs(120)
    }
    pub fn position_tick() -> std::time::Duration {
        std::time::Duration::from_secs(5)
    }
    pub fn stop_grace() -> std::time::Duration {
        std::time::Duration::from_secs(3)
    }
    pub fn autocomplete_timeout() -> std::time::Duration {
        std::time::Duration::from_millis(250)
    }
    pub fn autocomplete_searches() -> u64 {
        5
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
    pub fn header_read_timeout() -> std::time::Duration {
        std::time::Duration::from_secs(5)
    }
    pub fn idle_timeout() -> std::time::Duration {
        std::time::Duration::from_secs(60)
    }
    pub fn max_connections() -> u64 {
        256
    }
    pub fn startup_grace() -> std::time::Duration {
        std::time::Duration::from_secs(30)
    }
    pub fn deploy_watch() -> std::time::Duration {
        std::time::Duration::from_secs(120)
    }
    pub fn deploy_gate_timeout() -> std::time::Duration {
        std::time::Duration::from_secs(120)
    }
    pub fn deploy_step_timeout() -> std::time::Duration {
        std::time::Duration::from_secs(60)
    }

    pub fn probe_listen() -> std::time::Duration {
        std::time::Duration::from_secs(5)
    }

    pub fn deploy_gate_log_window() -> std::time::Duration {
        std::time::Duration::from_secs(10)
    }
}

/// The bounds of every count and duration (inclusive), as docs/configuration.md states them. A
/// value outside them is refused at start with an error naming the key and its bounds.
pub mod bounds {
    use std::ops::RangeInclusive;
    use std::time::Duration;

    use super::ConfigError;

    /// `discord.auto_defer_ms`: Discord forgets an interaction after 3 s.
    pub const AUTO_DEFER_MS: RangeInclusive<u64> = 1..=2_500;
    /// `store.max_connections`: PostgreSQL's default `max_connections` is 100.
    pub const STORE_MAX_CONNECTIONS: RangeInclusive<u64> = 1..=100;
    /// `lavalink.probe_interval_ms`: 100 ms to 10 minutes.
    pub const PROBE_INTERVAL_MS: RangeInclusive<u64> = 100..=600_000;
    /// `lavalink.probe_timeout_ms`: 10 ms to 1 minute (and shorter than the interval).
    pub const PROBE_TIMEOUT_MS: RangeInclusive<u64> = 10..=60_000;
    /// `lavalink.probe_failure_threshold` and `health.failure_threshold`.
    pub const FAILURE_THRESHOLD: RangeInclusive<u64> = 1..=100;
    /// `lavalink.resume_window_ms`: 0 (move at once) to 10 minutes.
    pub const RESUME_WINDOW_MS: RangeInclusive<u64> = 0..=600_000;
    /// `lavalink.session_resume_timeout_s`: 1 s to 1 hour.
    pub const SESSION_RESUME_TIMEOUT_S: RangeInclusive<u64> = 1..=3_600;
    /// `lavalink.max_concurrent_moves`.
    pub const MAX_CONCURRENT_MOVES: RangeInclusive<u64> = 1..=10_000;
    /// `lavalink.max_concurrent_per_target`.
    pub const MAX_CONCURRENT_PER_TARGET: RangeInclusive<u64> = 1..=1_000;
    /// `health.memory_warn_mb`: 1 MiB to 1 TiB.
    pub const MEMORY_WARN_MB: RangeInclusive<u64> = 1..=1_048_576;
    /// `profiling.max_seconds`.
    pub const PROFILING_MAX_SECONDS: RangeInclusive<u64> = 1..=3_600;
    /// `health.check_interval`: 100 ms to 1 hour.
    pub const CHECK_INTERVAL: RangeInclusive<Duration> =
        Duration::from_millis(100)..=Duration::from_secs(3_600);
    /// `admin.header_read_timeout`: 100 ms to 1 minute.
    pub const HEADER_READ_TIMEOUT: RangeInclusive<Duration> =
        Duration::from_millis(100)..=Duration::from_secs(60);
    /// `admin.idle_timeout`: 1 s to 1 hour.
    pub const IDLE_TIMEOUT: RangeInclusive<Duration> =
        Duration::from_secs(1)..=Duration::from_secs(3_600);
    /// `admin.max_connections`: enough for a scraper, an orchestrator and operators at once, and
    /// below a typical fd limit.
    pub const MAX_CONNECTIONS: RangeInclusive<u64> = 8..=65_536;
    /// `health.startup_grace`: 0 (page at once) to 10 minutes.
    pub const STARTUP_GRACE: RangeInclusive<Duration> = Duration::ZERO..=Duration::from_secs(600);
    /// `bot.idle_leave`: 1 s to 24 hours.
    pub const IDLE_LEAVE: RangeInclusive<Duration> =
        Duration::from_secs(1)..=Duration::from_secs(86_400);
    /// `bot.position_tick`: 100 ms (each tick writes every playing guild) to 10 minutes.
    pub const POSITION_TICK: RangeInclusive<Duration> =
        Duration::from_millis(100)..=Duration::from_secs(600);
    /// `bot.stop_grace`: 0 (answer what is in flight with the restarting notice at once) to 60 s
    /// (an orchestrator's kill timeout is typically 30 s or more; past this it would kill us).
    pub const STOP_GRACE: RangeInclusive<Duration> = Duration::ZERO..=Duration::from_secs(60);
    /// `bot.autocomplete_timeout`: 50 ms to 2.5 s (the answer must reach Discord within 3 s).
    pub const AUTOCOMPLETE_TIMEOUT: RangeInclusive<Duration> =
        Duration::from_millis(50)..=Duration::from_millis(2_500);
    /// `bot.autocomplete_searches`: 1 to 100 searches per guild and second.
    pub const AUTOCOMPLETE_SEARCHES: RangeInclusive<u64> = 1..=100;

    /// `deploy.watch`: 10 s to 1 hour.
    pub const DEPLOY_WATCH: RangeInclusive<Duration> =
        Duration::from_secs(10)..=Duration::from_secs(3_600);
    /// `deploy.gate_timeout`: 10 s to 10 minutes.
    pub const DEPLOY_GATE_TIMEOUT: RangeInclusive<Duration> =
        Duration::from_secs(10)..=Duration::from_secs(600);
    /// `deploy.step_timeout`: 5 s to 5 minutes.
    pub const DEPLOY_STEP_TIMEOUT: RangeInclusive<Duration> =
        Duration::from_secs(5)..=Duration::from_secs(300);
    /// `deploy.watch_max_errors`.
    pub const WATCH_MAX_ERRORS: RangeInclusive<u64> = 0..=1_000_000;
    /// `deploy.probe.listen`: 1 s to 60 s.
    pub const PROBE_LISTEN: RangeInclusive<Duration> =
        Duration::from_secs(1)..=Duration::from_secs(60);
    /// `deploy.gate_log_window`: 0 (only the errors logged so far) to 5 minutes.
    pub const DEPLOY_GATE_LOG_WINDOW: RangeInclusive<Duration> =
        Duration::ZERO..=Duration::from_secs(300);

    /// `value` of `key` within `range`, or an error naming both.
    pub(super) fn count(
        key: &str,
        value: u64,
        range: RangeInclusive<u64>,
    ) -> Result<(), ConfigError> {
        within(key, &value, &range, u64::to_string)
    }

    /// `value` of `key` within `range`, or an error naming both in words (`1m 30s`).
    pub(super) fn duration(
        key: &str,
        value: Duration,
        range: RangeInclusive<Duration>,
    ) -> Result<(), ConfigError> {
        within(key, &value, &range, |d| {
            humantime::format_duration(*d).to_string()
        })
    }

    fn within<T: PartialOrd>(
        key: &str,
        value: &T,
        range: &RangeInclusive<T>,
        show: impl Fn(&T) -> String,
    ) -> Result<(), ConfigError> {
        if range.contains(value) {
            return Ok(());
        }
        Err(ConfigError::Invalid {
            key: key.to_owned(),
            message: format!(
                "is {}; must be between {} and {}",
                show(value),
                show(range.start()),
                show(range.end())
            ),
        })
    }
}

/// Two nodes with one address (scheme, host, port and path, whatever the name or password) would
/// be one server counted twice: refused, naming both.
fn validate_node_urls(nodes: &[NodeSpec]) -> Result<(), ConfigError> {
    let mut seen: Vec<(String, usize)> = Vec::new();
    for (i, node) in nodes.iter().enumerate() {
        let Ok(url) = url::Url::parse(&node.url) else {
            continue;
        };
        let identity = format!(
            "{}://{}:{}{}",
            url.scheme(),
            url.host_str().unwrap_or_default().to_ascii_lowercase(),
            url.port_or_known_default().unwrap_or_default(),
            url.path().trim_end_matches('/')
        );
        if let Some((_, first)) = seen.iter().find(|(seen, _)| *seen == identity) {
            return Err(ConfigError::Invalid {
                key: format!("lavalink.nodes[{i}].url"),
                message: format!(
                    "node {:?} has the same address as lavalink.nodes[{first}] ({:?}): {}",
                    node.name,
                    nodes[*first].name,
                    lavalink::redact_url(&node.url)
                ),
            });
        }
        seen.push((identity, i));
    }
    Ok(())
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
        config
            .validate()
            .map_err(|error| where_set(error, figment))?;
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
        self.validate_bounds()?;
        if self.lavalink.probe_timeout_ms >= self.lavalink.probe_interval_ms {
            return Err(ConfigError::Invalid {
                key: "lavalink.probe_timeout_ms".into(),
                message: format!(
                    "is {} ms; must be shorter than lavalink.probe_interval_ms ({} ms)",
                    self.lavalink.probe_timeout_ms, self.lavalink.probe_interval_ms
                ),
            });
        }
        validate_node_urls(&self.lavalink.nodes)?;
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

    /// Every count and duration against its documented bounds (docs/configuration.md).
    fn validate_bounds(&self) -> Result<(), ConfigError> {
        let l = &self.lavalink;
        bounds::count(
            "lavalink.probe_interval_ms",
            l.probe_interval_ms,
            bounds::PROBE_INTERVAL_MS,
        )?;
        bounds::count(
            "lavalink.probe_timeout_ms",
            l.probe_timeout_ms,
            bounds::PROBE_TIMEOUT_MS,
        )?;
        bounds::count(
            "lavalink.probe_failure_threshold",
            u64::from(l.probe_failure_threshold),
            bounds::FAILURE_THRESHOLD,
        )?;
        bounds::count(
            "lavalink.resume_window_ms",
            l.resume_window_ms,
            bounds::RESUME_WINDOW_MS,
        )?;
        bounds::count(
            "lavalink.session_resume_timeout_s",
            l.session_resume_timeout_s,
            bounds::SESSION_RESUME_TIMEOUT_S,
        )?;
        bounds::count(
            "lavalink.max_concurrent_moves",
            u64::try_from(l.max_concurrent_moves).unwrap_or(u64::MAX),
            bounds::MAX_CONCURRENT_MOVES,
        )?;
        bounds::count(
            "lavalink.max_concurrent_per_target",
            u64::try_from(l.max_concurrent_per_target).unwrap_or(u64::MAX),
            bounds::MAX_CONCURRENT_PER_TARGET,
        )?;
        bounds::duration(
            "health.check_interval",
            self.health.check_interval,
            bounds::CHECK_INTERVAL,
        )?;
        bounds::count(
            "health.failure_threshold",
            u64::from(self.health.failure_threshold),
            bounds::FAILURE_THRESHOLD,
        )?;
        bounds::duration(
            "health.startup_grace",
            self.health.startup_grace,
            bounds::STARTUP_GRACE,
        )?;
        if let Some(mb) = self.health.memory_warn_mb {
            bounds::count("health.memory_warn_mb", mb, bounds::MEMORY_WARN_MB)?;
        }
        Ok(())
    }

    /// The sections that check themselves.
    fn validate_sections(&self) -> Result<(), ConfigError> {
        self.admin.validate()?;
        self.metrics.validate(self.admin.listen)?;
        self.bot.validate()?;
        self.profiling.validate()?;
        self.store.validate()?;
        self.deploy.validate()
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

/// A refused value's error, told where the value was set: the file and line, or the variable.
fn where_set(error: ConfigError, figment: &Figment) -> ConfigError {
    let ConfigError::Invalid { key, message } = error else {
        return error;
    };
    // `lavalink.nodes[1].url` was set as the 2nd `[[lavalink.nodes]]`'s `url`.
    let (table, index) = key
        .split_once('[')
        .map_or((key.as_str(), None), |(table, rest)| {
            (
                table,
                rest.split(']').next().and_then(|i| i.parse::<usize>().ok()),
            )
        });
    let Some(metadata) = figment.find_metadata(table) else {
        return ConfigError::Invalid { key, message };
    };
    let place = match metadata
        .source
        .as_ref()
        .and_then(figment::Source::file_path)
    {
        Some(file) => match line_of_key(file, &key, index) {
            Some(line) => format!("in {}, line {line}", file.display()),
            None => format!("in {}", file.display()),
        },
        None if metadata.name.contains("environment") => {
            let path: Vec<String> = table.split('.').map(str::to_owned).collect();
            env_variable(&path).map_or_else(
                || format!("in {}", metadata.name),
                |v| format!("in environment variable {v}"),
            )
        }
        None => return ConfigError::Invalid { key, message },
    };
    ConfigError::Invalid {
        key,
        message: format!("{message} ({place})"),
    }
}

/// The line (1-based) of `file` that sets `key` (`lavalink.nodes[1].url` with `index` 1 is the
/// `url` of the second `[[lavalink.nodes]]`), if it is written plainly.
fn line_of_key(file: &Path, key: &str, index: Option<usize>) -> Option<usize> {
    let text = std::fs::read_to_string(file).ok()?;
    let (wanted, field) = match index {
        Some(_) => {
            let (table, rest) = key.split_once('[')?;
            let field = rest.split_once("].").map(|(_, f)| f);
            (format!("{table}[]"), field)
        }
        None => key.rsplit_once('.').map(|(t, f)| (t.to_owned(), Some(f)))?,
    };
    let mut table = String::new();
    let mut seen = 0;
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if let Some((array, _)) = line.strip_prefix("[[").and_then(|l| l.split_once("]]")) {
            table = format!("{}[]", array.trim());
            if table == wanted {
                seen += 1;
                if field.is_none() && Some(seen - 1) == index {
                    return Some(n + 1);
                }
            }
        } else if let Some((name, _)) = line.strip_prefix('[').and_then(|l| l.split_once(']')) {
            name.trim().clone_into(&mut table);
        } else if table == wanted
            && index.is_none_or(|i| seen == i + 1)
            && let Some((name, _)) = line.split_once('=')
            && Some(name.trim()) == field
        {
            return Some(n + 1);
        }
    }
    None
}

/// The short names some keys also take from the environment (the original plans' names).
const ENV_ALIASES: [(&str, &str); 6] = [
    ("DIMBY_DISCORD_TOKEN", "discord.token"),
    ("DIMBY_ADMIN_TOKEN", "admin.token"),
    // The names the health plan gave these.
    ("HEALTH_ALERT_WEBHOOK", "health.alert_webhook"),
    ("HEALTH_CHECK_INTERVAL", "health.check_interval"),
    // The names the metrics plan gave these.
    ("METRICS_ENABLED", "metrics.enabled"),
    ("METRICS_BASIC_AUTH", "metrics.basic_auth"),
];

/// The environment provider: `DIMBY_SECTION__KEY`, plus the short aliases.
fn env() -> Figment {
    let mut figment = Figment::new().merge(
        Env::prefixed("DIMBY_")
            .filter(|key| key.as_str().contains("__"))
            .split("__"),
    );
    for (variable, key) in ENV_ALIASES {
        figment = figment.merge(Env::raw().only(&[variable]).map(move |_| key.into()));
    }
    figment
}

/// The environment variable that set `path` (the longest `DIMBY_A__B...` prefix of it that is
/// set, or an alias), for errors.
fn env_variable(path: &[String]) -> Option<String> {
    let dotted = path.join(".");
    if let Some((variable, _)) = ENV_ALIASES
        .iter()
        .find(|(variable, key)| dotted.starts_with(key) && std::env::var_os(variable).is_some())
    {
        return Some((*variable).to_owned());
    }
    (1..=path.len()).rev().find_map(|n| {
        let variable = format!("DIMBY_{}", path[..n].join("__").to_ascii_uppercase());
        std::env::var_os(&variable).map(|_| variable)
    })
}

/// One figment error as a sentence naming the key and where it came from (the file, or the
/// environment variable), with values hidden: a secret's value never, and no value from a malformed
/// variable or line either (`DIMBY_LAVALINK__NODES` holds passwords; a TOML line can hold a token).
fn describe(error: &figment::Error) -> String {
    use figment::error::Kind;

    let key = error.path.join(".");
    let secret = error
        .path
        .iter()
        .any(|part| SECRET_KEYS.contains(&part.as_str()));
    let file = error
        .metadata
        .as_ref()
        .and_then(|m| m.source.as_ref())
        .and_then(figment::Source::file_path);
    let source = match (&error.metadata, file) {
        (_, Some(file)) => match figment_line(file, &error.path) {
            Some(line) => format!("{}, line {line}", file.display()),
            None => file.display().to_string(),
        },
        (Some(m), None) if m.name.contains("environment") => env_variable(&error.path).map_or_else(
            || m.name.to_string(),
            |v| format!("environment variable {v}"),
        ),
        (Some(m), None) => m.name.to_string(),
        (None, None) => String::new(),
    };
    let what = match &error.kind {
        _ if secret => "invalid value (not shown: it is a secret)".to_owned(),
        // A file that is not TOML: figment's message quotes the offending line.
        Kind::Message(message) if key.is_empty() => {
            return syntax_error(message, file);
        }
        Kind::InvalidType(actual, expected) => {
            format!("expected {expected}, found {}", kind_of(actual))
        }
        Kind::InvalidValue(actual, expected) => {
            format!("{} is not {expected}", kind_of(actual))
        }
        Kind::Unsupported(actual) => format!("{} is not supported here", kind_of(actual)),
        Kind::UnsupportedKey(actual, expected) => {
            format!(
                "{} is not supported as a key; expected {expected}",
                kind_of(actual)
            )
        }
        kind => kind.to_string(),
    };
    match (key.is_empty(), source.is_empty()) {
        (true, true) => what,
        (true, false) => format!("{what} (in {source})"),
        (false, true) => format!("{key}: {what}"),
        (false, false) => format!("{key}: {what} (in {source})"),
    }
}

/// The line of `file` that sets figment's `path` (`lavalink.nodes.0.password` is the `password`
/// of the first `[[lavalink.nodes]]`), when it is written plainly.
fn figment_line(file: &Path, path: &[String]) -> Option<usize> {
    match path.iter().position(|p| p.parse::<usize>().is_ok()) {
        Some(at) => {
            let index = path[at].parse::<usize>().ok()?;
            let mut key = format!("{}[{index}]", path[..at].join("."));
            if at + 1 < path.len() {
                key = format!("{key}.{}", path[at + 1..].join("."));
            }
            line_of_key(file, &key, Some(index))
        }
        None if path.len() >= 2 => line_of_key(file, &path.join("."), None),
        None => None,
    }
}

/// What kind of value was found, without the value.
fn kind_of(actual: &figment::error::Actual) -> &'static str {
    use figment::error::Actual;
    match actual {
        Actual::Bool(_) => "a boolean",
        Actual::Unsigned(_) | Actual::Signed(_) => "an integer",
        Actual::Float(_) => "a float",
        Actual::Char(_) => "a character",
        Actual::Str(_) => "a string (value not shown)",
        Actual::Bytes(_) => "bytes",
        Actual::Unit => "an empty value",
        Actual::Option => "an optional value",
        Actual::Seq => "a list",
        Actual::Map => "a table",
        _ => "another kind of value",
    }
}

/// A TOML syntax error as `file line L, column C (key K): what`, never quoting the line: the
/// parser's message shows it, and it may hold a secret (`password = "...` with no closing quote).
/// The key is read from the file's line and its table header; what the parser said is kept only
/// when the line holds no secret.
fn syntax_error(message: &str, file: Option<&Path>) -> String {
    let position = message.lines().next().and_then(|first| {
        let rest = &first[first.find("line ")? + 5..];
        let (line, rest) = rest.split_once(", column ")?;
        let column = rest.trim().split(|c: char| !c.is_ascii_digit()).next()?;
        Some((
            line.trim().parse::<usize>().ok()?,
            column.parse::<usize>().ok()?,
        ))
    });
    // The parser's words: the lines after the quoted snippet (`  |`, `3 | ...`, `  |   ^`).
    let words: Vec<&str> = message
        .lines()
        .skip(1)
        .filter(|line| {
            let trimmed = line.trim_start();
            !trimmed.is_empty()
                && !trimmed
                    .trim_start_matches(|c: char| c.is_ascii_digit())
                    .trim_start()
                    .starts_with('|')
        })
        .collect();
    let key = position.and_then(|(line, _)| key_at_line(file?, line));
    let secret = key.as_deref().is_none_or(|key| {
        key.split('.')
            .any(|part| SECRET_KEYS.contains(&part.trim_end_matches("[]")))
    });
    let what = if secret || words.is_empty() {
        "not valid TOML (the line is not shown: it may hold a secret)".to_owned()
    } else {
        format!("not valid TOML: {}", words.join(" "))
    };
    let file = file.map_or_else(|| "the config".to_owned(), |f| f.display().to_string());
    match (position, key) {
        (Some((line, column)), Some(key)) => {
            format!("{key}: {what} (in {file}, line {line}, column {column})")
        }
        (Some((line, column)), None) => format!("{what} (in {file}, line {line}, column {column})"),
        (None, _) => format!("{what} (in {file})"),
    }
}

/// The dotted key set on `line` (1-based) of `file`, with its table header, e.g.
/// `lavalink.nodes[].password`; `None` when the line sets no plain key.
fn key_at_line(file: &Path, line: usize) -> Option<String> {
    let text = std::fs::read_to_string(file).ok()?;
    let lines: Vec<&str> = text.lines().collect();
    let target = lines.get(line.checked_sub(1)?)?;
    let name = target.split_once('=')?.0.trim();
    let plain = |s: &str| {
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | ' '))
    };
    if !plain(name) {
        return None;
    }
    let name: String = name.split('.').map(str::trim).collect::<Vec<_>>().join(".");
    let table = lines[..line - 1].iter().rev().find_map(|l| {
        let l = l.trim();
        if let Some(array) = l.strip_prefix("[[").and_then(|l| l.split_once("]]")) {
            Some(format!("{}[]", array.0.trim()))
        } else {
            l.strip_prefix('[')
                .and_then(|l| l.split_once(']'))
                .map(|t| t.0.trim().to_owned())
        }
    });
    match table {
        Some(table) if plain(table.trim_end_matches("[]")) => Some(format!("{table}.{name}")),
        Some(_) => None,
        None => Some(name),
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
    fn a_fresh_start_on_an_empty_store_is_off_unless_asked_for() {
        Jail::expect_with(|jail| {
            let config = load_in(jail, "[store]\ndata_dir = \"d\"\n").expect("valid");
            assert!(!config.store.allow_fresh_start);
            let config = load_in(jail, "[store]\nallow_fresh_start = true\n").expect("valid");
            assert!(config.store.allow_fresh_start);
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

    /// One bad configuration: the file (if any), the environment, the secret it carries, and what
    /// the error must name.
    struct BadConfig {
        toml: Option<&'static str>,
        env: &'static [(&'static str, &'static str)],
        secret: &'static str,
        names: &'static [&'static str],
    }

    const NODE: &str = "[[lavalink.nodes]]\nname = \"a\"\nurl = \"http://127.0.0.1:2333\"\n";

    /// Every kind of config error the tests can provoke, each with a distinctive secret: the error
    /// names the key, the file or variable, and the line; the secret never shows.
    #[allow(clippy::too_many_lines)] // one row per kind of error
    fn bad_configs() -> Vec<BadConfig> {
        let file = |toml, secret, names| BadConfig {
            toml: Some(toml),
            env: &[],
            secret,
            names,
        };
        let env = |env, secret, names| BadConfig {
            toml: None,
            env,
            secret,
            names,
        };
        vec![
            // TOML syntax errors on a line that holds a secret.
            file(
                "[[lavalink.nodes]]\nname = \"a\"\nurl = \"http://127.0.0.1:2333\"\npassword = \"unclosed-pw-1\n",
                "unclosed-pw-1",
                &[
                    "lavalink.nodes[].password",
                    "dimby.toml",
                    "line 4",
                    "column",
                ],
            ),
            file(
                "[discord]\ntoken = \"unclosed-token-2\n",
                "unclosed-token-2",
                &["discord.token", "dimby.toml", "line 2"],
            ),
            file(
                "[admin]\nlisten = \"127.0.0.1:8080\"\ntoken = 'unclosed-admin-3\n",
                "unclosed-admin-3",
                &["admin.token", "dimby.toml", "line 3"],
            ),
            file(
                "[metrics]\nbasic_auth = \"prom:trailing-4\" junk\n",
                "trailing-4",
                &["metrics.basic_auth", "dimby.toml", "line 2"],
            ),
            file(
                "[health]\nalert_webhook = \"https://hooks.example/unclosed-hook-5\n",
                "unclosed-hook-5",
                &["health.alert_webhook", "dimby.toml", "line 2"],
            ),
            file(
                "[metrics]\nbearer_token = \"\"\"multiline-6\n",
                "multiline-6",
                &["dimby.toml", "line"],
            ),
            file(
                "lavalink = { nodes = [{ name = \"a\", url = \"http://x\", password = \"inline-7 }] }\n",
                "inline-7",
                &["dimby.toml", "line 1"],
            ),
            file(
                "[discord]\ntoken = \"ok\"\n[discord]\ntoken = \"dup-table-8\"\n",
                "dup-table-8",
                &["dimby.toml", "line"],
            ),
            // Values of the wrong type or shape.
            file(
                "[[lavalink.nodes]]\nname = \"a\"\nurl = \"http://x\"\npassword = 314159265\n",
                "314159265",
                &["lavalink.nodes", "password", "dimby.toml, line 4"],
            ),
            file(
                "[discord]\ntoken = [\"array-token-10\"]\n",
                "array-token-10",
                &["discord.token", "dimby.toml, line 2"],
            ),
            file(
                "[lavalink]\nnodes = \"name=a password=string-nodes-11\"\n",
                "string-nodes-11",
                &["lavalink.nodes", "dimby.toml, line 2"],
            ),
            file(
                "[[lavalink.nodes]]\nname = \"a\"\nurl = \"ftp://user:url-pw-12@127.0.0.1\"\npassword = \"p\"\n",
                "url-pw-12",
                &["lavalink.nodes[0]", "dimby.toml, line 1"],
            ),
            file(
                "[[lavalink.nodes]]\nname = \"a\"\nurl = \"http://user:bad-host-13@[::1\"\npassword = \"p\"\n",
                "bad-host-13",
                &["lavalink.nodes[0]", "dimby.toml, line 1"],
            ),
            file(
                "[[lavalink.nodes]]\nname = \"a\"\nurl = \"http://127.0.0.1:1\"\npassword = \"p\"\n[[lavalink.nodes]]\nname = \"b\"\nurl = \"http://u:dup-url-14@127.0.0.1:1/\"\npassword = \"p\"\n",
                "dup-url-14",
                &[
                    "lavalink.nodes[1].url",
                    "same address",
                    "dimby.toml, line 7",
                ],
            ),
            file(
                "[metrics]\nbasic_auth = \"no-colon-15\"\n",
                "no-colon-15",
                &["metrics.basic_auth", "dimby.toml, line 2"],
            ),
            file(
                "[health]\nalert_webhook = \"ftp://hooks.example/ftp-hook-16\"\n",
                "ftp-hook-16",
                &["health.alert_webhook", "dimby.toml, line 2"],
            ),
            file(
                "[discord]\ntoken = \"fine\"\ntokn = \"typo-17\"\n",
                "typo-17",
                &["tokn", "dimby.toml, line 3"],
            ),
            // Malformed environment variables.
            env(
                &[(
                    "DIMBY_LAVALINK__NODES",
                    "[{name=\"a\",url=\"http://127.0.0.1:1\",password=\"env-unclosed-18\"",
                )],
                "env-unclosed-18",
                &["lavalink.nodes", "DIMBY_LAVALINK__NODES"],
            ),
            env(
                &[(
                    "DIMBY_LAVALINK__NODES",
                    "[{name=\"a\",url=\"http://127.0.0.1:1\",password=\"env-weight-19\",weight=\"x\"}]",
                )],
                "env-weight-19",
                &["lavalink.nodes", "weight", "DIMBY_LAVALINK__NODES"],
            ),
            env(
                &[(
                    "DIMBY_LAVALINK__NODES",
                    "{name=\"a\",password=\"env-table-20\"}",
                )],
                "env-table-20",
                &["lavalink.nodes", "DIMBY_LAVALINK__NODES"],
            ),
            env(
                &[("METRICS_BASIC_AUTH", "env-no-colon-21")],
                "env-no-colon-21",
                &["metrics.basic_auth", "METRICS_BASIC_AUTH"],
            ),
            env(
                &[("DIMBY_HEALTH__ALERT_WEBHOOK", "ftp://env-hook-22")],
                "env-hook-22",
                &["health.alert_webhook", "DIMBY_HEALTH__ALERT_WEBHOOK"],
            ),
            env(
                &[("DIMBY_DISCORD__TOKEN", "[\"env-array-23\"]")],
                "env-array-23",
                &["discord.token", "DIMBY_DISCORD__TOKEN"],
            ),
        ]
    }

    #[test]
    fn secrets_never_appear_in_any_config_error() {
        let rows = bad_configs();
        for (i, row) in rows.iter().enumerate() {
            Jail::expect_with(|jail| {
                for (name, value) in row.env {
                    jail.set_env(name, value);
                }
                let error = match row.toml {
                    Some(toml) => load_in(jail, toml),
                    None => Config::load(None),
                }
                .expect_err(row.secret)
                .to_string();
                assert!(!error.contains(row.secret), "row {i}: {error}");
                for name in row.names {
                    assert!(error.contains(name), "row {i}: no {name:?} in {error}");
                }
                Ok(())
            });
        }
        // Without the secrets, the same file is read (the rows fail for the reason they say).
        Jail::expect_with(|jail| {
            load_in(jail, NODE).expect_err("a node needs a password");
            Ok(())
        });
    }

    #[test]
    fn a_split_gives_each_process_its_share_of_the_shards() {
        let ranges = |total, processes| {
            (0..processes)
                .map(|index| {
                    let range = ShardSplit {
                        total,
                        processes,
                        index,
                    }
                    .range();
                    assert_eq!(range.total, total);
                    (range.first, range.last)
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(ranges(8, 4), [(0, 1), (2, 3), (4, 5), (6, 7)]);
        assert_eq!(ranges(7, 3), [(0, 1), (2, 3), (4, 6)]);
        assert_eq!(ranges(1, 1), [(0, 0)]);
        // Every shard once, in order, whatever the numbers.
        for (total, processes) in [(16, 5), (100, 7), (3, 3)] {
            let covered: Vec<u32> = ranges(total, processes)
                .into_iter()
                .flat_map(|(first, last)| first..=last)
                .collect();
            assert_eq!(
                covered,
                (0..total).collect::<Vec<_>>(),
                "{total}/{processes}"
            );
        }
        Jail::expect_with(|jail| {
            jail.set_env("DIMBY_DISCORD__TOKEN", "t");
            jail.set_env("DIMBY_DISCORD__SPLIT__TOTAL", "8");
            jail.set_env("DIMBY_DISCORD__SPLIT__PROCESSES", "4");
            jail.set_env("DIMBY_DISCORD__SPLIT__INDEX", "2");
            let config = Config::load(None).expect("valid");
            let settings = config.discord.settings().expect("settings");
            assert_eq!(
                settings.shards,
                Some(discord::ShardRange {
                    first: 4,
                    last: 5,
                    total: 8
                })
            );
            Ok(())
        });
    }

    #[test]
    fn a_postgres_store_url_is_checked_and_never_shown() {
        Jail::expect_with(|jail| {
            let config = load_in(
                jail,
                "[store]\nurl = \"postgres://dimby:pg-secret-1@db.internal:5432/dimby\"\nmax_connections = 4\n",
            )
            .expect("valid");
            let postgres = config.store.postgres().expect("a PostgreSQL store");
            assert_eq!(postgres.max_connections, 4);
            assert!(!config.store.location().contains("pg-secret-1"));
            assert!(config.store.location().contains("db.internal"));
            assert!(!format!("{config:?}").contains("pg-secret-1"));
            assert!(
                Config::default().store.postgres().is_none(),
                "SQLite by default"
            );
            for (toml, key) in [
                ("url = \"mysql://u:pg-secret-2@h/db\"", "store.url"),
                (
                    "url = \"postgres://u:pg-secret-3@h/db?sslmode=sometimes\"",
                    "store.url",
                ),
                ("max_connections = 0", "store.max_connections"),
                ("max_connections = 101", "store.max_connections"),
            ] {
                let error = load_in(jail, &format!("[store]\n{toml}\n")).expect_err(toml);
                let text = error.to_string();
                assert!(text.starts_with(key), "{toml}: {text}");
                assert!(!text.contains("pg-secret"), "{toml}: {text}");
            }
            jail.set_env("DIMBY_STORE__URL", "postgres://u:pg-secret-4@h:5432/db");
            let config = Config::load(None).expect("valid from the environment");
            assert!(config.store.postgres().is_some());
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
                Some(discord::ShardRange {
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
                (
                    "split = { total = 8, processes = 4, index = 4 }",
                    "discord.split.index",
                ),
                (
                    "split = { total = 3, processes = 4, index = 0 }",
                    "discord.split.total",
                ),
                (
                    "split = { total = 8, processes = 0, index = 0 }",
                    "discord.split.processes",
                ),
                (
                    "shards = { first = 0, last = 1, total = 8 }\nsplit = { total = 8, processes = 4, index = 0 }",
                    "discord.split",
                ),
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
    #[allow(clippy::too_many_lines)] // one row per bounded key
    fn every_count_and_duration_is_bounded_with_an_error_in_words() {
        Jail::expect_with(|jail| {
            for (toml, key, words) in [
                (
                    "[bot]\nautocomplete_timeout = \"3s\"",
                    "bot.autocomplete_timeout",
                    "is 3s; must be between 50ms and 2s 500ms",
                ),
                (
                    "[bot]\nautocomplete_searches = 0",
                    "bot.autocomplete_searches",
                    "is 0; must be between 1 and 100",
                ),
                (
                    "[bot]\nposition_tick = \"1ns\"",
                    "bot.position_tick",
                    "is 1ns; must be between 100ms and 10m",
                ),
                (
                    "[bot]\nposition_tick = \"1h\"",
                    "bot.position_tick",
                    "between 100ms and 10m",
                ),
                (
                    "[bot]\nidle_leave = \"10ms\"",
                    "bot.idle_leave",
                    "between 1s and 1day",
                ),
                (
                    "[bot]\nstop_grace = \"2m\"",
                    "bot.stop_grace",
                    "is 2m; must be between 0s and 1m",
                ),
                (
                    "[health]\nfailure_threshold = 0",
                    "health.failure_threshold",
                    "is 0; must be between 1 and 100",
                ),
                (
                    "[health]\nfailure_threshold = 101",
                    "health.failure_threshold",
                    "between 1 and 100",
                ),
                (
                    "[health]\ncheck_interval = \"1ms\"",
                    "health.check_interval",
                    "between 100ms and 1h",
                ),
                (
                    "[health]\nmemory_warn_mb = 0",
                    "health.memory_warn_mb",
                    "between 1 and 1048576",
                ),
                (
                    "[lavalink]\nprobe_interval_ms = 1\nprobe_timeout_ms = 0",
                    "lavalink.probe_interval_ms",
                    "between 100 and 600000",
                ),
                (
                    "[lavalink]\nprobe_timeout_ms = 0",
                    "lavalink.probe_timeout_ms",
                    "between 10 and 60000",
                ),
                (
                    "[lavalink]\nprobe_failure_threshold = 0",
                    "lavalink.probe_failure_threshold",
                    "between 1 and 100",
                ),
                (
                    "[lavalink]\nresume_window_ms = 600001",
                    "lavalink.resume_window_ms",
                    "between 0 and 600000",
                ),
                (
                    "[lavalink]\nsession_resume_timeout_s = 0",
                    "lavalink.session_resume_timeout_s",
                    "between 1 and 3600",
                ),
                (
                    "[lavalink]\nmax_concurrent_moves = 0",
                    "lavalink.max_concurrent_moves",
                    "between 1 and 10000",
                ),
                (
                    "[lavalink]\nmax_concurrent_per_target = 1001",
                    "lavalink.max_concurrent_per_target",
                    "between 1 and 1000",
                ),
                (
                    "[discord]\nauto_defer_ms = 2501",
                    "discord.auto_defer_ms",
                    "between 1 and 2500",
                ),
                (
                    "[profiling]\nmax_seconds = 0",
                    "profiling.max_seconds",
                    "between 1 and 3600",
                ),
                (
                    "[admin]\nheader_read_timeout = \"0s\"",
                    "admin.header_read_timeout",
                    "between 100ms and 1m",
                ),
                (
                    "[admin]\nidle_timeout = \"2h\"",
                    "admin.idle_timeout",
                    "between 1s and 1h",
                ),
                (
                    "[admin]\nmax_connections = 7",
                    "admin.max_connections",
                    "between 8 and 65536",
                ),
                // Negative and fractional durations: words, not "did not match any variant".
                (
                    "[bot]\nposition_tick = -5",
                    "bot.position_tick",
                    "-5 is negative",
                ),
                (
                    "[bot]\nposition_tick = \"-5s\"",
                    "bot.position_tick",
                    "is negative",
                ),
                (
                    "[health]\ncheck_interval = 0.5",
                    "health.check_interval",
                    "not a whole number of seconds",
                ),
            ] {
                let error = load_in(jail, &format!("{toml}\n"))
                    .expect_err(toml)
                    .to_string();
                assert!(error.starts_with(key), "{toml}: {error}");
                assert!(error.contains(words), "{toml}: {error}");
                assert!(error.contains("dimby.toml"), "{toml}: {error}");
                assert!(!error.contains("untagged"), "{toml}: {error}");
            }
            // Each bound itself is accepted.
            load_in(
                jail,
                "[bot]\nposition_tick = \"100ms\"\nidle_leave = \"24h\"\n[health]\nfailure_threshold = 1\ncheck_interval = \"1h\"\n[lavalink]\nprobe_interval_ms = 600000\nprobe_timeout_ms = 60000\nresume_window_ms = 0\n",
            )
            .expect("the bounds are inclusive");
            Ok(())
        });
    }

    #[test]
    fn duplicate_node_addresses_are_refused() {
        Jail::expect_with(|jail| {
            let node = |name: &str, url: &str| {
                format!(
                    "[[lavalink.nodes]]\nname = \"{name}\"\nurl = \"{url}\"\npassword = \"p\"\n"
                )
            };
            for (first, second) in [
                ("http://127.0.0.1:2333", "http://127.0.0.1:2333"),
                ("http://Lava.example:80", "http://lava.example/"),
                ("https://lava.example", "https://lava.example:443/"),
            ] {
                let toml = format!("{}{}", node("a", first), node("b", second));
                let error = load_in(jail, &toml).expect_err(second).to_string();
                assert!(error.starts_with("lavalink.nodes[1].url"), "{error}");
                assert!(error.contains("lavalink.nodes[0]"), "{error}");
            }
            let toml = format!(
                "{}{}",
                node("a", "http://127.0.0.1:2333"),
                node("b", "http://127.0.0.1:2334")
            );
            load_in(jail, &toml).expect("two ports, two nodes");
            Ok(())
        });
    }

    #[test]
    fn deploy_colour_loads_from_file_and_env_and_refuses_other_names() {
        Jail::expect_with(|jail| {
            assert_eq!(Config::load(None).expect("defaults").deploy.colour, None);
            let config = load_in(jail, "[deploy]\ncolour = \"green\"\n").expect("valid");
            assert_eq!(config.deploy.colour, Some(store::Colour::Green));
            for (toml, found) in [
                ("colour = \"purple\"", "\"purple\" is not a deploy colour"),
                ("colour = \"Blue\"", "\"Blue\" is not a deploy colour"),
                ("colour = \"\"", "is empty"),
                ("colour = 1", "found an integer"),
            ] {
                let error = load_in(jail, &format!("[deploy]\n{toml}\n"))
                    .expect_err(toml)
                    .to_string();
                assert!(error.starts_with("deploy.colour: "), "{toml}: {error}");
                assert!(error.contains(found), "{toml}: {error}");
                assert!(
                    error.contains("\"blue\" or \"green\""),
                    "{toml}: names the allowed values: {error}"
                );
                assert!(error.contains("dimby.toml, line 2"), "{toml}: {error}");
            }
            let error = load_in(jail, "[deploy]\ncolor = \"blue\"\n").expect_err("spelling");
            assert!(error.to_string().contains("colour"), "{error}");

            // The environment wins over the file, and its errors name the variable.
            jail.set_env("DIMBY_DEPLOY__COLOUR", "blue");
            let config = load_in(jail, "[deploy]\ncolour = \"green\"\n").expect("valid");
            assert_eq!(config.deploy.colour, Some(store::Colour::Blue));
            jail.set_env("DIMBY_DEPLOY__COLOUR", "teal");
            let error = Config::load(None).expect_err("teal").to_string();
            assert!(error.starts_with("deploy.colour: "), "{error}");
            assert!(error.contains("DIMBY_DEPLOY__COLOUR"), "{error}");
            Ok(())
        });
    }

    #[test]
    fn the_gate_log_window_a_slot_prepare_command_and_the_voice_probe_are_checked() {
        Jail::expect_with(|jail| {
            let defaults = Config::load(None).expect("defaults");
            assert_eq!(defaults.deploy.gate_log_window, Duration::from_secs(10));
            let config =
                load_in(jail, "[deploy]\ngate_log_window = \"0s\"\n").expect("0 s is allowed");
            assert_eq!(config.deploy.gate_log_window, Duration::ZERO);
            for (toml, found) in [
                ("gate_log_window = \"6m\"", "deploy.gate_log_window"),
                (
                    "gate_timeout = \"20s\"\ngate_log_window = \"20s\"",
                    "shorter than deploy.gate_timeout",
                ),
            ] {
                let error = load_in(jail, &format!("[deploy]\n{toml}\n"))
                    .expect_err(toml)
                    .to_string();
                assert!(error.contains(found), "{toml}: {error}");
            }
            let slot = |prepare: &str| {
                format!(
                    "[deploy.blue]\nadmin_url = \"http://127.0.0.1:9101\"\n\
                     start = [\"true\"]\nstop = [\"true\"]\n{prepare}"
                )
            };
            let config = load_in(
                jail,
                &slot("prepare = [\"install\", \"-m\", \"0755\", \"/a\", \"/b\"]\n"),
            )
            .expect("a prepare command");
            let blue = config.deploy.blue.expect("the blue slot");
            assert_eq!(blue.prepare, ["install", "-m", "0755", "/a", "/b"]);
            let config = load_in(jail, &slot("")).expect("no prepare command");
            assert!(
                config
                    .deploy
                    .blue
                    .expect("the blue slot")
                    .prepare
                    .is_empty()
            );
            let error = load_in(jail, &slot("prepare = [\" \"]\n"))
                .expect_err("a blank program")
                .to_string();
            assert!(error.starts_with("deploy.blue.prepare: "), "{error}");

            let probe = |body: &str| format!("[deploy.probe]\n{body}\n");
            let config = load_in(
                jail,
                &probe("guild = 11\nvoice_channel = 12\ntrack = \"https://example.org/a.mp3\""),
            )
            .expect("a probe");
            let probe_config = config.deploy.probe.expect("the probe");
            assert_eq!((probe_config.guild, probe_config.voice_channel), (11, 12));
            assert_eq!(probe_config.listen, Duration::from_secs(5));
            for (body, key) in [
                (
                    "guild = 0\nvoice_channel = 12\ntrack = \"t\"",
                    "deploy.probe.guild: ",
                ),
                (
                    "guild = 11\nvoice_channel = 12\ntrack = \" \"",
                    "deploy.probe.track: ",
                ),
                (
                    "guild = 11\nvoice_channel = 12\ntrack = \"t\"\nlisten = \"2m\"",
                    "deploy.probe.listen",
                ),
            ] {
                let error = load_in(jail, &probe(body)).expect_err(body).to_string();
                assert!(error.contains(key), "{body}: {error}");
            }
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
