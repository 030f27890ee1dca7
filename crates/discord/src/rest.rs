//! The REST side of the Discord layer: twilight's client, with every call observed.
//!
//! [`Rest::send`] is the one way the layer calls Discord's REST API. It times the call and, through
//! twilight's pre-flight hook (run each time a request has cleared the rate limiter and is about
//! to go out), sees how long the request waited on the rate limiter and how many 429 answers
//! twilight waited out and retried. Each finished call becomes one [`DiscordRestCall`]: a log line
//! here and the `dimby_discord_rest_*` metrics.

use std::future::IntoFuture;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use telemetry::{DiscordRestCall, DiscordRoute, Metrics};
use twilight_http::Client;
use twilight_http::error::ErrorType;
use twilight_http::response::{Response, ResponseFuture};

/// Twilight's REST client and where its calls are reported. Cheap to clone.
#[derive(Clone, Debug)]
pub(crate) struct Rest {
    client: Arc<Client>,
    metrics: Option<Metrics>,
}

impl Rest {
    pub(crate) fn new(client: Client, metrics: Option<Metrics>) -> Self {
        Self {
            client: Arc::new(client),
            metrics,
        }
    }

    /// The client, to build a request with; send it with [`Rest::send`].
    pub(crate) fn client(&self) -> &Client {
        &self.client
    }

    /// Sends `request` (a twilight request builder), reporting it as a call to `route`.
    pub(crate) async fn send<T, R>(
        &self,
        route: DiscordRoute,
        request: R,
    ) -> Result<Response<T>, twilight_http::Error>
    where
        T: Unpin,
        R: IntoFuture<
                Output = Result<Response<T>, twilight_http::Error>,
                IntoFuture = ResponseFuture<T>,
            >,
    {
        let issued = Instant::now();
        let attempts = Arc::new(Mutex::new(Attempts::default()));
        let mut future = request.into_future();
        let seen = Arc::clone(&attempts);
        // Called after each permit from the rate limiter, right before the request goes out: once,
        // plus once more per 429 answer twilight waits out. No rate limiter, no call.
        future.set_pre_flight(move || {
            let mut attempts = seen.lock().unwrap_or_else(PoisonError::into_inner);
            attempts.sent += 1;
            attempts.last_sent = Some(Instant::now());
            true
        });
        let result = future.await;
        let attempts = *attempts.lock().unwrap_or_else(PoisonError::into_inner);
        let status = match &result {
            Ok(response) => Some(response.status().get()),
            Err(error) => match error.kind() {
                ErrorType::Response { status, .. } => Some(status.get()),
                _ => None,
            },
        };
        let call = DiscordRestCall {
            route,
            status,
            elapsed: issued.elapsed(),
            waited: attempts.last_sent.map_or(Duration::ZERO, |sent| {
                sent.saturating_duration_since(issued)
            }),
            rate_limited: attempts.sent.saturating_sub(1),
        };
        report(&call, result.as_ref().err());
        if let Some(metrics) = &self.metrics {
            metrics.record_discord_rest(&call);
        }
        result
    }
}

/// What the pre-flight hook saw of one call.
#[derive(Clone, Copy, Debug, Default)]
struct Attempts {
    /// Times the request went out.
    sent: u32,
    /// When it last went out.
    last_sent: Option<Instant>,
}

/// The log line of a call: debug when it went well, a warning when Discord refused it, limited
/// it, failed or did not answer. Never the URL: interaction routes carry a token.
fn report(call: &DiscordRestCall, error: Option<&twilight_http::Error>) {
    let route = call.route.as_str();
    let elapsed_ms = millis(call.elapsed);
    let waited_ms = millis(call.waited);
    match (call.status, error) {
        (Some(status), None) if call.rate_limited == 0 => {
            tracing::debug!(route, status, elapsed_ms, waited_ms, "discord REST call");
        }
        (Some(status), None) => tracing::warn!(
            route,
            status,
            elapsed_ms,
            waited_ms,
            rate_limited = call.rate_limited,
            "discord REST call was rate limited (429) and retried"
        ),
        (status, Some(error)) => tracing::warn!(
            route,
            status,
            elapsed_ms,
            waited_ms,
            rate_limited = call.rate_limited,
            error = error_kind(error),
            "discord REST call failed"
        ),
        (None, None) => {}
    }
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// A short, token-free name for what went wrong.
fn error_kind(error: &twilight_http::Error) -> &'static str {
    match error.kind() {
        ErrorType::Response { .. } => "error answer",
        ErrorType::RequestTimedOut => "timed out",
        ErrorType::RequestError => "no answer (connection)",
        ErrorType::RequestCanceled => "canceled",
        ErrorType::Parsing { .. } => "unreadable answer",
        ErrorType::Unauthorized => "token invalidated by an earlier 401",
        _ => "request not built",
    }
}
