//! What a [`super::NodeClient`] needs to know about its node, validated up front.

use std::fmt;
use std::time::Duration;

use url::Url;

/// A password that never shows up in `Debug` or `Display` output (logs, panics, health output).
#[derive(Clone, PartialEq, Eq)]
pub struct Password(String);

impl Password {
    /// Wraps a password.
    pub fn new(password: impl Into<String>) -> Self {
        Self(password.into())
    }

    /// The password itself, for the `Authorization` header only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(***)")
    }
}

impl fmt::Display for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// `url` with any `user:password@` part replaced by `***@`, for errors, logs and the admin API
/// (a URL that does not parse is redacted the same way, by its text).
pub fn redact_url(url: &str) -> String {
    let (scheme, rest) = match url.find("://") {
        Some(at) => url.split_at(at + 3),
        None => ("", url),
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{scheme}***{}", &rest[at..]),
        None => url.to_owned(),
    }
}

/// A node configuration that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// The URL does not parse.
    #[error("node url {url:?} is not a valid URL: {reason}")]
    InvalidUrl {
        /// The URL as given.
        url: String,
        /// What the parser said.
        reason: String,
    },
    /// The URL is not `http://` or `https://`.
    #[error("node url {0:?} must start with http:// or https://")]
    UnsupportedScheme(String),
    /// The password is empty.
    #[error("node password is empty")]
    EmptyPassword,
    /// A value that must be positive is zero.
    #[error("{0} must be greater than zero")]
    Zero(&'static str),
}

/// How to reconnect after the socket is lost: exponential backoff with full jitter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReconnectPolicy {
    /// The first delay's upper bound.
    pub min_delay: Duration,
    /// The largest delay's upper bound.
    pub max_delay: Duration,
    /// Give up after this many attempts in a row (`None`: never give up).
    pub max_attempts: Option<usize>,
}

impl Default for ReconnectPolicy {
    fn default() -> Self {
        Self {
            min_delay: Duration::from_millis(250),
            max_delay: Duration::from_secs(30),
            max_attempts: None,
        }
    }
}

/// How the client decides that a node that still holds the socket open has gone quiet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SilencePolicy {
    /// The node's `playerUpdateInterval` (Lavalink's default is 5 s).
    pub player_update_interval: Duration,
    /// How often the node sends stats (60 s on a real node).
    pub stats_interval: Duration,
    /// How many intervals may pass without traffic before the node counts as silent (ping
    /// intervals when pings are on).
    pub missed_intervals: u32,
    /// A WebSocket ping every this often, so a quiet but healthy node still shows signs of life.
    /// `None` disables pings.
    pub ping_interval: Option<Duration>,
    /// Real time to wait, after one last ping, for traffic before calling a node silent, so that
    /// a jump of the clock (a suspended host, an injected clock) is not mistaken for a hang.
    pub grace: Duration,
}

impl Default for SilencePolicy {
    fn default() -> Self {
        Self {
            player_update_interval: Duration::from_secs(5),
            stats_interval: Duration::from_secs(60),
            missed_intervals: 2,
            ping_interval: Some(Duration::from_secs(5)),
            grace: Duration::from_millis(500),
        }
    }
}

/// Everything a node client needs.
#[derive(Debug, Clone)]
pub struct NodeConfig {
    /// A short name for logs and metric labels.
    pub name: String,
    /// Base URL of the node's REST API, e.g. `http://127.0.0.1:2333`.
    pub url: Url,
    /// The node's password.
    pub password: Password,
    /// The bot's Discord user id (`User-Id` header).
    pub user_id: u64,
    /// `Client-Name` header, `name/version`.
    pub client_name: String,
    /// Timeout of each REST request and of the socket handshake.
    pub request_timeout: Duration,
    /// Enable resuming after `ready` with this timeout (`None`: leave resuming off).
    pub resume_timeout: Option<Duration>,
    /// A session to resume on the first connection (one this process did not create, e.g. handed
    /// over by a previous process).
    pub resume_session: Option<String>,
    /// Reconnection backoff.
    pub reconnect: ReconnectPolicy,
    /// Silence detection and keepalive pings.
    pub silence: SilencePolicy,
    /// Largest socket message accepted, in bytes.
    pub max_message_bytes: usize,
    /// Capacity of the event channel (the socket stops reading while it is full).
    pub event_buffer: usize,
}

impl NodeConfig {
    /// A configuration with defaults for everything but the node's identity.
    pub fn new(
        name: impl Into<String>,
        url: &str,
        password: impl Into<String>,
        user_id: u64,
    ) -> Result<Self, ConfigError> {
        let parsed = Url::parse(url).map_err(|e| ConfigError::InvalidUrl {
            url: redact_url(url),
            reason: e.to_string(),
        })?;
        let config = Self {
            name: name.into(),
            url: parsed,
            password: Password::new(password),
            user_id,
            client_name: concat!("DimbyBot/", env!("CARGO_PKG_VERSION")).to_owned(),
            request_timeout: Duration::from_secs(10),
            resume_timeout: Some(Duration::from_secs(60)),
            resume_session: None,
            reconnect: ReconnectPolicy::default(),
            silence: SilencePolicy::default(),
            max_message_bytes: 4 * 1024 * 1024,
            event_buffer: 1024,
        };
        config.validate()?;
        Ok(config)
    }

    /// Checks the fields that can be wrong.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !matches!(self.url.scheme(), "http" | "https") || self.url.host().is_none() {
            return Err(ConfigError::UnsupportedScheme(redact_url(
                self.url.as_str(),
            )));
        }
        if self.password.expose().is_empty() {
            return Err(ConfigError::EmptyPassword);
        }
        let zero = [
            (self.request_timeout.is_zero(), "request_timeout"),
            (self.max_message_bytes == 0, "max_message_bytes"),
            (self.event_buffer == 0, "event_buffer"),
            (
                self.silence.missed_intervals == 0,
                "silence.missed_intervals",
            ),
            (
                self.silence.player_update_interval.is_zero(),
                "silence.player_update_interval",
            ),
            (
                self.silence.stats_interval.is_zero(),
                "silence.stats_interval",
            ),
        ];
        if let Some((_, name)) = zero.into_iter().find(|(is_zero, _)| *is_zero) {
            return Err(ConfigError::Zero(name));
        }
        Ok(())
    }

    /// The REST URL of `path` (which starts without a slash).
    pub(crate) fn rest_url(&self, path: &str) -> String {
        let base = self.url.as_str().trim_end_matches('/');
        format!("{base}/{path}")
    }

    /// The socket URL.
    pub(crate) fn websocket_url(&self) -> String {
        let scheme = if self.url.scheme() == "https" {
            "wss"
        } else {
            "ws"
        };
        let rest = self.rest_url("v4/websocket");
        let without_scheme = rest.split_once("://").map_or(rest.as_str(), |(_, r)| r);
        format!("{scheme}://{without_scheme}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_derived_from_the_base() {
        let config = NodeConfig::new("n1", "http://127.0.0.1:2333/", "pw", 1).expect("config");
        assert_eq!(config.rest_url("v4/info"), "http://127.0.0.1:2333/v4/info");
        assert_eq!(config.websocket_url(), "ws://127.0.0.1:2333/v4/websocket");
        let tls = NodeConfig::new("n2", "https://lava.example:443", "pw", 1).expect("config");
        assert_eq!(tls.websocket_url(), "wss://lava.example/v4/websocket");
    }

    #[test]
    fn bad_configs_name_the_problem() {
        assert!(matches!(
            NodeConfig::new("n", "not a url", "pw", 1),
            Err(ConfigError::InvalidUrl { .. })
        ));
        assert!(matches!(
            NodeConfig::new("n", "ftp://127.0.0.1", "pw", 1),
            Err(ConfigError::UnsupportedScheme(_))
        ));
        assert_eq!(
            NodeConfig::new("n", "http://127.0.0.1", "", 1).err(),
            Some(ConfigError::EmptyPassword)
        );
        let mut config = NodeConfig::new("n", "http://127.0.0.1", "pw", 1).expect("config");
        config.request_timeout = Duration::ZERO;
        assert_eq!(config.validate(), Err(ConfigError::Zero("request_timeout")));
    }

    #[test]
    fn user_info_never_shows_in_url_errors() {
        assert_eq!(
            redact_url("http://user:hunter2@lava:2333/x@y"),
            "http://***@lava:2333/x@y"
        );
        assert_eq!(redact_url("http://lava:2333"), "http://lava:2333");
        assert_eq!(redact_url("user:hunter2@lava"), "***@lava");
        for url in [
            "ftp://user:hunter2@127.0.0.1",
            "http://user:hunter2@[::1",
            "http://user:hunter2@",
        ] {
            let error = NodeConfig::new("n", url, "pw", 1)
                .expect_err(url)
                .to_string();
            assert!(!error.contains("hunter2"), "{error}");
        }
    }

    #[test]
    fn the_password_never_shows_in_debug_output() {
        let config = NodeConfig::new("n", "http://127.0.0.1", "hunter2-secret", 1).expect("config");
        let debug = format!("{config:?}");
        assert!(!debug.contains("hunter2-secret"), "{debug}");
        assert!(debug.contains("***"));
    }
}
