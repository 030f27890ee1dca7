//! `/metrics`: the Prometheus scrape endpoint. Prometheus text by default, OpenMetrics when the
//! scraper asks for it; behind HTTP basic auth or a bearer token when either is configured.
//! Served on the admin server, or on an address of its own (`metrics.listen`).

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine as _;
use telemetry::{Format, Metrics};

use super::AdminToken;

/// Who may scrape. With no credential configured, anyone may: the metrics hold no secret and no
/// user, guild or channel id.
#[derive(Debug, Clone, Default)]
pub struct ScrapeAuth {
    /// The `Authorization: Basic ...` value the scraper must send (base64 of `user:password`).
    basic: Option<AdminToken>,
    /// A bearer token the scraper may send instead.
    bearer: Option<AdminToken>,
}

impl ScrapeAuth {
    /// From the configured `user:password` and bearer token.
    pub fn new(basic_auth: Option<&str>, bearer_token: Option<&str>) -> Self {
        Self {
            basic: basic_auth.and_then(|credentials| {
                AdminToken::new(base64::engine::general_purpose::STANDARD.encode(credentials))
            }),
            bearer: bearer_token.and_then(AdminToken::new),
        }
    }

    fn required(&self) -> bool {
        self.basic.is_some() || self.bearer.is_some()
    }

    fn admits(&self, headers: &HeaderMap) -> bool {
        let Some(value) = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
        else {
            return false;
        };
        if let (Some(expected), Some(presented)) = (&self.basic, value.strip_prefix("Basic ")) {
            return expected.matches(presented.trim());
        }
        if let (Some(expected), Some(presented)) = (&self.bearer, value.strip_prefix("Bearer ")) {
            return expected.matches(presented.trim());
        }
        false
    }
}

#[derive(Clone)]
struct MetricsState {
    metrics: Metrics,
    auth: Arc<ScrapeAuth>,
}

/// A router serving `GET /metrics`.
pub fn router<S>(metrics: Metrics, auth: ScrapeAuth) -> Router<S> {
    Router::new()
        .route("/metrics", get(scrape))
        .with_state(MetricsState {
            metrics,
            auth: Arc::new(auth),
        })
}

async fn scrape(State(state): State<MetricsState>, headers: HeaderMap) -> Response {
    if state.auth.required() && !state.auth.admits(&headers) {
        let challenge = if state.auth.basic.is_some() {
            "Basic realm=\"dimby metrics\""
        } else {
            "Bearer"
        };
        return (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, challenge)],
            "metrics need credentials: see metrics.basic_auth / metrics.bearer_token\n",
        )
            .into_response();
    }
    let format = Format::negotiate(
        headers
            .get(header::ACCEPT)
            .and_then(|accept| accept.to_str().ok()),
    );
    let metrics = state.metrics.clone();
    // Encoding reads /proc and walks every family: keep it off the async workers.
    match tokio::task::spawn_blocking(move || metrics.encode(format)).await {
        Ok(body) => ([(header::CONTENT_TYPE, format.content_type())], body).into_response(),
        Err(error) => {
            tracing::error!(%error, "encoding metrics panicked");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "encoding metrics failed\n",
            )
                .into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use axum::http::{HeaderMap, HeaderValue, header};

    use super::ScrapeAuth;

    fn with(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_str(value).expect("header"),
        );
        headers
    }

    #[test]
    fn basic_and_bearer_credentials_are_checked() {
        let auth = ScrapeAuth::new(Some("prom:pw"), Some("tok"));
        assert!(auth.required());
        // base64("prom:pw") = cHJvbTpwdw==
        assert!(auth.admits(&with("Basic cHJvbTpwdw==")));
        assert!(!auth.admits(&with("Basic cHJvbTpwdg==")));
        assert!(auth.admits(&with("Bearer tok")));
        assert!(!auth.admits(&with("Bearer tok2")));
        assert!(!auth.admits(&HeaderMap::new()));
        assert!(!ScrapeAuth::default().required());
    }
}
