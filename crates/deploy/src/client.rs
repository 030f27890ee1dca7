//! The client of one colour's deploy endpoints (`/admin/deploy/*`, see `admin::deploy`).

use std::time::{Duration, Instant};

use admin::deploy::{DeployState, GateReport, Phase, Signals};
use reqwest::StatusCode;

/// How long one request may take (the gate answers within its checks' bounds).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// How often a wait looks at the state again.
const POLL: Duration = Duration::from_millis(20);

/// Why a call to a colour failed. Never carries the token.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The colour did not answer (not running, wrong address).
    #[error("{url}: no answer: {cause}")]
    Unreachable {
        /// The endpoint.
        url: String,
        /// Why.
        cause: String,
    },
    /// The colour answered with an error status.
    #[error("{url}: {status}: {body}")]
    Refused {
        /// The endpoint.
        url: String,
        /// The status.
        status: u16,
        /// What it said.
        body: String,
    },
    /// The answer could not be read.
    #[error("{url}: unreadable answer: {cause}")]
    Unreadable {
        /// The endpoint.
        url: String,
        /// Why.
        cause: String,
    },
    /// A wait ran out.
    #[error("{what}: not within {bound:?} (last seen: {last})")]
    Timeout {
        /// What was awaited.
        what: String,
        /// The bound.
        bound: Duration,
        /// What was last seen.
        last: String,
    },
}

/// One colour's admin server.
#[derive(Clone)]
pub struct ColourClient {
    base: String,
    token: String,
    http: reqwest::Client,
}

impl std::fmt::Debug for ColourClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ColourClient")
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

impl ColourClient {
    /// A client of the admin server at `base` (`http://127.0.0.1:9101`), with the admin token.
    pub fn new(base: impl Into<String>, token: impl Into<String>) -> Self {
        Self {
            base: base.into().trim_end_matches('/').to_owned(),
            token: token.into(),
            http: reqwest::Client::builder()
                .timeout(REQUEST_TIMEOUT)
                .build()
                .unwrap_or_default(),
        }
    }

    /// The admin server's address.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// `GET /admin/deploy/state`.
    pub async fn state(&self) -> Result<DeployState, ClientError> {
        self.call(reqwest::Method::GET, "/admin/deploy/state", StatusCode::OK)
            .await
    }

    /// `GET /admin/deploy/gate`: runs the pre-cutover gate (standby only).
    pub async fn gate(&self) -> Result<GateReport, ClientError> {
        self.call(reqwest::Method::GET, "/admin/deploy/gate", StatusCode::OK)
            .await
    }

    /// `GET /admin/deploy/signals`: what the watch compares.
    pub async fn signals(&self) -> Result<Signals, ClientError> {
        self.call(
            reqwest::Method::GET,
            "/admin/deploy/signals",
            StatusCode::OK,
        )
        .await
    }

    /// `POST /admin/deploy/takeover` (standby only; accepted at once).
    pub async fn takeover(&self) -> Result<(), ClientError> {
        self.call::<serde_json::Value>(
            reqwest::Method::POST,
            "/admin/deploy/takeover",
            StatusCode::ACCEPTED,
        )
        .await
        .map(drop)
    }

    /// `POST /admin/deploy/handover` (serving only; accepted at once).
    pub async fn handover(&self) -> Result<(), ClientError> {
        self.call::<serde_json::Value>(
            reqwest::Method::POST,
            "/admin/deploy/handover",
            StatusCode::ACCEPTED,
        )
        .await
        .map(drop)
    }

    /// Whether `/readyz` says ready.
    pub async fn ready(&self) -> Result<bool, ClientError> {
        let url = format!("{}/readyz", self.base);
        let response = self
            .http
            .get(&url)
            .send()
            .await
            .map_err(|e| unreachable(&url, &e))?;
        Ok(response.status() == StatusCode::OK)
    }

    /// Waits until `done` holds for the state, within `bound`; a state that cannot be read yet
    /// (the process is starting) is waited through.
    pub async fn wait_for(
        &self,
        what: &str,
        bound: Duration,
        done: impl Fn(&DeployState) -> bool,
    ) -> Result<DeployState, ClientError> {
        let deadline = Instant::now() + bound;
        let mut last: String;
        loop {
            match self.state().await {
                Ok(state) if done(&state) => return Ok(state),
                Ok(state) => {
                    last = format!(
                        "{}{}",
                        state.phase.as_str(),
                        state
                            .last_error
                            .as_deref()
                            .map(|e| format!(", last error: {e}"))
                            .unwrap_or_default()
                    );
                }
                Err(error) => last = error.to_string(),
            }
            if Instant::now() >= deadline {
                return Err(ClientError::Timeout {
                    what: format!("{} {what}", self.base),
                    bound,
                    last,
                });
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Waits until the colour is in `phase`.
    pub async fn wait_phase(
        &self,
        phase: Phase,
        bound: Duration,
    ) -> Result<DeployState, ClientError> {
        self.wait_for(&format!("to be {}", phase.as_str()), bound, |state| {
            state.phase == phase
        })
        .await
    }

    async fn call<T: serde::de::DeserializeOwned>(
        &self,
        method: reqwest::Method,
        path: &str,
        expected: StatusCode,
    ) -> Result<T, ClientError> {
        let url = format!("{}{path}", self.base);
        let response = self
            .http
            .request(method, &url)
            .bearer_auth(&self.token)
            .send()
            .await
            .map_err(|e| unreachable(&url, &e))?;
        let status = response.status();
        let body = response.text().await.map_err(|e| ClientError::Unreadable {
            url: url.clone(),
            cause: e.to_string(),
        })?;
        if status != expected {
            return Err(ClientError::Refused {
                url,
                status: status.as_u16(),
                body: body.chars().take(1_000).collect(),
            });
        }
        serde_json::from_str(&body).map_err(|e| ClientError::Unreadable {
            url,
            cause: e.to_string(),
        })
    }
}

fn unreachable(url: &str, error: &reqwest::Error) -> ClientError {
    ClientError::Unreachable {
        url: url.to_owned(),
        cause: error.to_string(),
    }
}
