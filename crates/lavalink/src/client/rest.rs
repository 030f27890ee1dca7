//! The node's REST API: one method per endpoint, a timeout per request, latency per endpoint.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::config::NodeConfig;
use crate::model::{
    ErrorResponse, GuildId, Info, LoadResult, Lyrics, Player, SessionInfo, Stats, Track,
    UpdatePlayer, UpdateSession,
};

/// A REST endpoint, as a bounded label for logs and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Endpoint {
    /// `GET /version`
    Version,
    /// `GET /v4/info`
    Info,
    /// `GET /v4/stats`
    Stats,
    /// `GET /v4/loadtracks`
    LoadTracks,
    /// `GET /v4/decodetrack`
    DecodeTrack,
    /// `POST /v4/decodetracks`
    DecodeTracks,
    /// `PATCH /v4/sessions/{id}`
    UpdateSession,
    /// `GET /v4/sessions/{id}/players`
    Players,
    /// `GET /v4/sessions/{id}/players/{guild}`
    Player,
    /// `PATCH /v4/sessions/{id}/players/{guild}`
    UpdatePlayer,
    /// `DELETE /v4/sessions/{id}/players/{guild}`
    DestroyPlayer,
    /// `GET /v4/lyrics` (the LavaLyrics plugin)
    Lyrics,
}

impl Endpoint {
    /// Every endpoint.
    pub const ALL: [Self; 12] = [
        Self::Version,
        Self::Info,
        Self::Stats,
        Self::LoadTracks,
        Self::DecodeTrack,
        Self::DecodeTracks,
        Self::UpdateSession,
        Self::Players,
        Self::Player,
        Self::UpdatePlayer,
        Self::DestroyPlayer,
        Self::Lyrics,
    ];

    /// A stable snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Version => "version",
            Self::Info => "info",
            Self::Stats => "stats",
            Self::LoadTracks => "load_tracks",
            Self::DecodeTrack => "decode_track",
            Self::DecodeTracks => "decode_tracks",
            Self::UpdateSession => "update_session",
            Self::Players => "players",
            Self::Player => "player",
            Self::UpdatePlayer => "update_player",
            Self::DestroyPlayer => "destroy_player",
            Self::Lyrics => "lyrics",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// A failed REST call.
#[derive(Debug, thiserror::Error)]
pub enum RestError {
    /// No answer within the request timeout.
    #[error("{endpoint:?}: no answer within {after:?}")]
    Timeout {
        /// The endpoint called.
        endpoint: Endpoint,
        /// The timeout.
        after: Duration,
    },
    /// The request did not reach the node or the answer broke off.
    #[error("{endpoint:?}: transport error: {cause}")]
    Transport {
        /// The endpoint called.
        endpoint: Endpoint,
        /// What reqwest said.
        cause: reqwest::Error,
    },
    /// The node refused the password (401 missing, 403 wrong).
    #[error("{endpoint:?}: the node refused the password (HTTP {status})")]
    Unauthorized {
        /// The endpoint called.
        endpoint: Endpoint,
        /// 401 or 403.
        status: u16,
    },
    /// The node answered with an error status.
    #[error("{endpoint:?}: HTTP {status}: {message}")]
    Api {
        /// The endpoint called.
        endpoint: Endpoint,
        /// The HTTP status.
        status: u16,
        /// The message of Lavalink's error body, or the raw body when it was not one.
        message: String,
        /// The parsed error body, when it was one.
        body: Option<Box<ErrorResponse>>,
    },
    /// A 2xx answer whose body does not match the protocol.
    #[error("{endpoint:?}: unexpected answer: {cause}")]
    Decode {
        /// The endpoint called.
        endpoint: Endpoint,
        /// What serde said.
        cause: serde_json::Error,
    },
    /// The call needs a session and the socket has not received `ready` yet.
    #[error("{endpoint:?}: no session yet (the socket is not ready)")]
    NoSession {
        /// The endpoint called.
        endpoint: Endpoint,
    },
}

impl RestError {
    /// The HTTP status, when the node answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Unauthorized { status, .. } | Self::Api { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// Whether the node answered 404 (unknown session or player).
    pub fn is_not_found(&self) -> bool {
        self.status() == Some(404)
    }

    /// Whether the node may have carried the request out although the call failed: no answer
    /// came (a server keeps working on a request whose client gave up), or an answer came that
    /// could not be read, or an error answer (a node may apply part of a player update before
    /// it fails on the track). A refused password, a missing session or a connection that was
    /// never made rule it out.
    pub fn may_have_been_applied(&self) -> bool {
        match self {
            Self::Unauthorized { .. } | Self::NoSession { .. } => false,
            Self::Transport { cause, .. } => !cause.is_connect(),
            Self::Timeout { .. } | Self::Api { .. } | Self::Decode { .. } => true,
        }
    }

    /// A bounded label for metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Timeout { .. } => "timeout",
            Self::Transport { .. } => "transport",
            Self::Unauthorized { .. } => "unauthorized",
            Self::Api { .. } => "api",
            Self::Decode { .. } => "decode",
            Self::NoSession { .. } => "no_session",
        }
    }
}

/// Upper bounds of the latency histogram's buckets, in microseconds (the last bucket is
/// unbounded): 1 ms to 10 s, a Prometheus-style spread for a REST API on the same network.
pub const LATENCY_BUCKETS_MICROS: [u64; 12] = [
    1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000, 1_000_000, 2_500_000,
    10_000_000,
];

/// Latency figures of one endpoint since the client started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LatencySnapshot {
    /// Calls that got an answer (any status).
    pub answered: u64,
    /// Calls that failed without an answer (timeout, transport).
    pub failed: u64,
    /// Latency of the most recent answered call.
    pub last: Duration,
    /// Sum of the latencies of answered calls.
    pub total: Duration,
    /// Answered calls per bucket of [`LATENCY_BUCKETS_MICROS`] (not cumulative); the extra last
    /// entry counts calls slower than the last bound.
    pub buckets: [u64; LATENCY_BUCKETS_MICROS.len() + 1],
}

#[derive(Debug, Default)]
struct EndpointLatency {
    answered: AtomicU64,
    failed: AtomicU64,
    last_micros: AtomicU64,
    total_micros: AtomicU64,
    buckets: [AtomicU64; LATENCY_BUCKETS_MICROS.len() + 1],
}

impl EndpointLatency {
    fn record(&self, micros: u64) {
        self.answered.fetch_add(1, Ordering::Relaxed);
        self.last_micros.store(micros, Ordering::Relaxed);
        self.total_micros.fetch_add(micros, Ordering::Relaxed);
        let bucket = LATENCY_BUCKETS_MICROS.partition_point(|&bound| bound < micros);
        self.buckets[bucket].fetch_add(1, Ordering::Relaxed);
    }
}

/// The node's REST API. Session-scoped calls take the session id explicitly, so the same handle
/// serves a session handed over from another process.
#[derive(Debug, Clone)]
pub struct Rest {
    inner: Arc<RestInner>,
}

#[derive(Debug)]
struct RestInner {
    config: NodeConfig,
    http: reqwest::Client,
    latency: [EndpointLatency; Endpoint::ALL.len()],
}

impl Rest {
    /// A REST handle for the configured node.
    pub fn new(config: NodeConfig) -> Self {
        let http = reqwest::Client::builder()
            .no_proxy()
            .user_agent(config.client_name.clone())
            .build()
            .unwrap_or_default();
        Self {
            inner: Arc::new(RestInner {
                config,
                http,
                latency: Default::default(),
            }),
        }
    }

    /// The configuration this handle was made with.
    pub fn config(&self) -> &NodeConfig {
        &self.inner.config
    }

    /// Latency figures of one endpoint.
    pub fn latency(&self, endpoint: Endpoint) -> LatencySnapshot {
        let l = &self.inner.latency[endpoint.index()];
        LatencySnapshot {
            answered: l.answered.load(Ordering::Relaxed),
            failed: l.failed.load(Ordering::Relaxed),
            last: Duration::from_micros(l.last_micros.load(Ordering::Relaxed)),
            total: Duration::from_micros(l.total_micros.load(Ordering::Relaxed)),
            buckets: std::array::from_fn(|i| l.buckets[i].load(Ordering::Relaxed)),
        }
    }

    /// `GET /version`: the server version as plain text.
    pub async fn version(&self) -> Result<String, RestError> {
        let endpoint = Endpoint::Version;
        let response = self
            .send(endpoint, Method::GET, "version", &[], None::<&()>)
            .await?;
        let bytes = self.body_bytes(endpoint, response).await?;
        Ok(String::from_utf8_lossy(&bytes).trim().to_owned())
    }

    /// `GET /v4/info`.
    pub async fn info(&self) -> Result<Info, RestError> {
        self.json(Endpoint::Info, Method::GET, "v4/info", &[], None::<&()>)
            .await
    }

    /// `GET /v4/lyrics?track=&skipTrackSource=false` (the LavaLyrics plugin): the lyrics of an
    /// encoded track, or `None` when none were found (204). A node without the plugin answers
    /// 404, an [`RestError::Api`].
    pub async fn lyrics(&self, encoded: &str) -> Result<Option<Lyrics>, RestError> {
        let endpoint = Endpoint::Lyrics;
        let response = self
            .send(
                endpoint,
                Method::GET,
                "v4/lyrics",
                &[("track", encoded), ("skipTrackSource", "false")],
                None::<&()>,
            )
            .await?;
        if response.status() == StatusCode::NO_CONTENT {
            return Ok(None);
        }
        let bytes = self.body_bytes(endpoint, response).await?;
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|cause| RestError::Decode { endpoint, cause })
    }

    /// `GET /v4/stats` (frameStats is always null here).
    pub async fn stats(&self) -> Result<Stats, RestError> {
        self.json(Endpoint::Stats, Method::GET, "v4/stats", &[], None::<&()>)
            .await
    }

    /// `GET /v4/loadtracks?identifier=`.
    pub async fn load_tracks(&self, identifier: &str) -> Result<LoadResult, RestError> {
        self.json(
            Endpoint::LoadTracks,
            Method::GET,
            "v4/loadtracks",
            &[("identifier", identifier)],
            None::<&()>,
        )
        .await
    }

    /// `GET /v4/decodetrack?encodedTrack=`.
    pub async fn decode_track(&self, encoded: &str) -> Result<Track, RestError> {
        self.json(
            Endpoint::DecodeTrack,
            Method::GET,
            "v4/decodetrack",
            &[("encodedTrack", encoded)],
            None::<&()>,
        )
        .await
    }

    /// `POST /v4/decodetracks`.
    pub async fn decode_tracks(&self, encoded: &[String]) -> Result<Vec<Track>, RestError> {
        self.json(
            Endpoint::DecodeTracks,
            Method::POST,
            "v4/decodetracks",
            &[],
            Some(encoded),
        )
        .await
    }

    /// `PATCH /v4/sessions/{session}`.
    pub async fn update_session(
        &self,
        session: &str,
        update: &UpdateSession,
    ) -> Result<SessionInfo, RestError> {
        self.json(
            Endpoint::UpdateSession,
            Method::PATCH,
            &format!("v4/sessions/{session}"),
            &[],
            Some(update),
        )
        .await
    }

    /// `GET /v4/sessions/{session}/players`.
    pub async fn players(&self, session: &str) -> Result<Vec<Player>, RestError> {
        self.json(
            Endpoint::Players,
            Method::GET,
            &format!("v4/sessions/{session}/players"),
            &[],
            None::<&()>,
        )
        .await
    }

    /// `GET /v4/sessions/{session}/players/{guild}` (404 when there is none).
    pub async fn player(&self, session: &str, guild: GuildId) -> Result<Player, RestError> {
        self.json(
            Endpoint::Player,
            Method::GET,
            &format!("v4/sessions/{session}/players/{guild}"),
            &[],
            None::<&()>,
        )
        .await
    }

    /// `PATCH /v4/sessions/{session}/players/{guild}[?noReplace=true]`; creates the player if needed.
    pub async fn update_player(
        &self,
        session: &str,
        guild: GuildId,
        update: &UpdatePlayer,
        no_replace: bool,
    ) -> Result<Player, RestError> {
        let query: &[(&str, &str)] = if no_replace {
            &[("noReplace", "true")]
        } else {
            &[]
        };
        self.json(
            Endpoint::UpdatePlayer,
            Method::PATCH,
            &format!("v4/sessions/{session}/players/{guild}"),
            query,
            Some(update),
        )
        .await
    }

    /// `DELETE /v4/sessions/{session}/players/{guild}`.
    pub async fn destroy_player(&self, session: &str, guild: GuildId) -> Result<(), RestError> {
        self.send(
            Endpoint::DestroyPlayer,
            Method::DELETE,
            &format!("v4/sessions/{session}/players/{guild}"),
            &[],
            None::<&()>,
        )
        .await
        .map(drop)
    }

    async fn json<T: DeserializeOwned, B: Serialize + ?Sized>(
        &self,
        endpoint: Endpoint,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        body: Option<&B>,
    ) -> Result<T, RestError> {
        let response = self.send(endpoint, method, path, query, body).await?;
        let bytes = self.body_bytes(endpoint, response).await?;
        serde_json::from_slice(&bytes).map_err(|cause| RestError::Decode { endpoint, cause })
    }

    async fn body_bytes(
        &self,
        endpoint: Endpoint,
        response: reqwest::Response,
    ) -> Result<bytes::Bytes, RestError> {
        response
            .bytes()
            .await
            .map_err(|cause| self.transport_error(endpoint, cause))
    }

    /// Sends one request and turns every non-2xx answer into a typed error.
    async fn send<B: Serialize + ?Sized>(
        &self,
        endpoint: Endpoint,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        body: Option<&B>,
    ) -> Result<reqwest::Response, RestError> {
        let config = &self.inner.config;
        let mut request = self
            .inner
            .http
            .request(method, config.rest_url(path))
            .timeout(config.request_timeout)
            .header("Authorization", config.password.expose());
        if !query.is_empty() {
            request = request.query(query);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        // A request's latency is real time, whatever clock the client is given.
        #[allow(
            clippy::disallowed_methods,
            reason = "a request's latency is real time"
        )]
        let started = Instant::now();
        let result = request.send().await;
        let latency = &self.inner.latency[endpoint.index()];
        let response = match result {
            Ok(response) => {
                #[allow(
                    clippy::disallowed_methods,
                    reason = "a request's latency is real time"
                )]
                let micros = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
                latency.record(micros);
                response
            }
            Err(cause) => {
                latency.failed.fetch_add(1, Ordering::Relaxed);
                return Err(self.transport_error(endpoint, cause));
            }
        };
        tracing::trace!(
            node = %config.name,
            endpoint = endpoint.as_str(),
            status = response.status().as_u16(),
            latency_us = latency.last_micros.load(Ordering::Relaxed),
            "lavalink rest call"
        );
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        if matches!(status, StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN) {
            return Err(RestError::Unauthorized {
                endpoint,
                status: status.as_u16(),
            });
        }
        let bytes = self.body_bytes(endpoint, response).await?;
        let body = serde_json::from_slice::<ErrorResponse>(&bytes).ok();
        let message = body.as_ref().map_or_else(
            || String::from_utf8_lossy(&bytes).chars().take(500).collect(),
            |b| b.message.clone(),
        );
        Err(RestError::Api {
            endpoint,
            status: status.as_u16(),
            message,
            body: body.map(Box::new),
        })
    }

    fn transport_error(&self, endpoint: Endpoint, cause: reqwest::Error) -> RestError {
        if cause.is_timeout() {
            RestError::Timeout {
                endpoint,
                after: self.inner.config.request_timeout,
            }
        } else {
            // reqwest's message names the URL, and a node URL may carry `user:password@`.
            RestError::Transport {
                endpoint,
                cause: cause.without_url(),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{EndpointLatency, LATENCY_BUCKETS_MICROS, Ordering};

    #[test]
    fn latency_lands_in_the_bucket_whose_bound_it_does_not_exceed() {
        let latency = EndpointLatency::default();
        latency.record(1_000); // exactly the first bound: le="0.001"
        latency.record(1_001);
        latency.record(20_000_000); // past the last bound
        let counts: Vec<u64> = latency
            .buckets
            .iter()
            .map(|b| b.load(Ordering::Relaxed))
            .collect();
        assert_eq!(counts[0], 1);
        assert_eq!(counts[1], 1);
        assert_eq!(counts[LATENCY_BUCKETS_MICROS.len()], 1);
        assert_eq!(counts.iter().sum::<u64>(), 3);
        assert_eq!(latency.total_micros.load(Ordering::Relaxed), 20_002_001);
    }
}
