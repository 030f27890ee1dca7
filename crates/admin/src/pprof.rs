//! `/debug/pprof/*`: profiles of the running bot, in the shapes pprof tooling and Grafana
//! Pyroscope read, on the admin server and behind the admin token.
//!
//! - `GET /debug/pprof/profile?seconds=N[&format=flamegraph]`: a CPU profile of the next N seconds
//!   (default 30, at most `profiling.max_seconds`), pprof's gzipped protobuf or an SVG flamegraph.
//!   One at a time: 409 while one is being taken.
//! - `GET /debug/pprof/heap[?format=flamegraph]`: the live heap as jemalloc sampled it.
//! - `POST /debug/pprof/heap/activate`, `POST /debug/pprof/heap/deactivate`: heap sampling on/off.
//! - `GET /debug/pprof/allocs`: the allocator's statistics as JSON.
//!
//! Off (404) unless `profiling.enabled`; a build without the `profiling` feature answers 501 to
//! the profiles (the allocator statistics need no feature).

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{RawQuery, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::json;

use super::AdminToken;
use super::auth;
use super::nodes::error;
use crate::profiling::{self, ProfilingError};

/// A CPU profile's length when the request does not say.
pub const DEFAULT_SECONDS: u64 = 30;

/// What the profiling endpoints need.
#[derive(Debug, Clone)]
pub struct PprofSettings {
    /// Serve them at all (`profiling.enabled`).
    pub enabled: bool,
    /// The longest CPU profile a request may ask for (`profiling.max_seconds`).
    pub max_seconds: u64,
    /// The admin token callers must present; `None` refuses every call.
    pub token: Option<Arc<AdminToken>>,
}

/// A router serving `/debug/pprof/*`, to merge into the admin server's.
pub fn router<S>(settings: PprofSettings) -> Router<S> {
    Router::new()
        .route("/debug/pprof/profile", get(cpu))
        .route("/debug/pprof/heap", get(heap))
        .route("/debug/pprof/heap/activate", post(activate))
        .route("/debug/pprof/heap/deactivate", post(deactivate))
        .route("/debug/pprof/allocs", get(allocs))
        .layer(axum::middleware::from_fn_with_state(settings.clone(), gate))
        .with_state(settings)
}

/// The admin token first, then whether profiling is enabled at all.
async fn gate(State(settings): State<PprofSettings>, request: Request, next: Next) -> Response {
    if let Err(refusal) = auth::check(settings.token.as_deref(), request.headers()) {
        return refusal.response();
    }
    if !settings.enabled {
        return error(
            StatusCode::NOT_FOUND,
            "profiling is disabled: set profiling.enabled = true (DIMBY_PROFILING__ENABLED=true)",
        );
    }
    next.run(request).await
}

fn refusal(e: &ProfilingError) -> Response {
    let status = match e {
        ProfilingError::NotBuilt => StatusCode::NOT_IMPLEMENTED,
        ProfilingError::Busy | ProfilingError::HeapInactive => StatusCode::CONFLICT,
        ProfilingError::HeapUnavailable => StatusCode::SERVICE_UNAVAILABLE,
        ProfilingError::Profiler(_) | ProfilingError::Decode(_) | ProfilingError::Io(_) => {
            StatusCode::INTERNAL_SERVER_ERROR
        }
    };
    if status == StatusCode::INTERNAL_SERVER_ERROR {
        tracing::warn!(error = %e, "profiling failed");
    }
    error(status, e.to_string())
}

fn query(raw: Option<&str>) -> HashMap<String, String> {
    url::form_urlencoded::parse(raw.unwrap_or_default().as_bytes())
        .into_owned()
        .collect()
}

/// `format=`: pprof (the default) or a flamegraph.
fn wants_flamegraph(params: &HashMap<String, String>) -> Result<bool, String> {
    match params.get("format").map(String::as_str) {
        None | Some("pprof" | "proto") => Ok(false),
        Some("flamegraph" | "svg") => Ok(true),
        Some(other) => Err(format!(
            "format={other:?}: use pprof (the default) or flamegraph"
        )),
    }
}

/// `seconds=`: 1 to the cap.
fn seconds(params: &HashMap<String, String>, max: u64) -> Result<u64, String> {
    let Some(raw) = params.get("seconds") else {
        return Ok(DEFAULT_SECONDS.min(max));
    };
    match raw.parse::<u64>() {
        Ok(seconds) if (1..=max).contains(&seconds) => Ok(seconds),
        _ => Err(format!(
            "seconds={raw:?}: must be a whole number from 1 to {max} (the cap, profiling.max_seconds)"
        )),
    }
}

fn profile_body(bytes: Vec<u8>, svg: bool, name: &str) -> Response {
    if svg {
        ([(header::CONTENT_TYPE, "image/svg+xml")], bytes).into_response()
    } else {
        (
            [
                (header::CONTENT_TYPE, "application/octet-stream".to_owned()),
                (
                    header::CONTENT_DISPOSITION,
                    format!("attachment; filename=\"{name}.pb.gz\""),
                ),
            ],
            bytes,
        )
            .into_response()
    }
}

async fn cpu(State(settings): State<PprofSettings>, RawQuery(raw): RawQuery) -> Response {
    if !profiling::BUILT_WITH_PROFILING {
        return refusal(&ProfilingError::NotBuilt);
    }
    let params = query(raw.as_deref());
    let svg = match wants_flamegraph(&params) {
        Ok(svg) => svg,
        Err(message) => return error(StatusCode::BAD_REQUEST, message),
    };
    let seconds = match seconds(&params, settings.max_seconds) {
        Ok(seconds) => seconds,
        Err(message) => return error(StatusCode::BAD_REQUEST, message),
    };
    match take_cpu(seconds, svg).await {
        Ok(bytes) => profile_body(bytes, svg, "cpu"),
        Err(e) => refusal(&e),
    }
}

#[cfg(feature = "profiling")]
async fn take_cpu(seconds: u64, svg: bool) -> Result<Vec<u8>, ProfilingError> {
    use profiling::cpu::CpuProfiler;
    let profiler = CpuProfiler::start(profiling::CPU_FREQUENCY_HZ)?;
    tracing::info!(seconds, "CPU profile started through the admin API");
    // Dropping the request drops the profiler: it stops and the slot is free again.
    tokio::time::sleep(std::time::Duration::from_secs(seconds)).await;
    tokio::task::spawn_blocking(move || {
        let profile = profiler.finish()?;
        if svg {
            profile.flamegraph_svg()
        } else {
            profile.pprof_gz()
        }
    })
    .await
    .map_err(|e| ProfilingError::Profiler(format!("the profile task failed: {e}")))?
}

#[cfg(not(feature = "profiling"))]
#[allow(clippy::unused_async)]
async fn take_cpu(_seconds: u64, _svg: bool) -> Result<Vec<u8>, ProfilingError> {
    Err(ProfilingError::NotBuilt)
}

async fn heap(RawQuery(raw): RawQuery) -> Response {
    if !profiling::BUILT_WITH_PROFILING {
        return refusal(&ProfilingError::NotBuilt);
    }
    let svg = match wants_flamegraph(&query(raw.as_deref())) {
        Ok(svg) => svg,
        Err(message) => return error(StatusCode::BAD_REQUEST, message),
    };
    match take_heap(svg).await {
        Ok(bytes) => profile_body(bytes, svg, "heap"),
        Err(e) => refusal(&e),
    }
}

#[cfg(feature = "profiling")]
async fn take_heap(svg: bool) -> Result<Vec<u8>, ProfilingError> {
    use profiling::heap::{HeapFormat, dump};
    dump(if svg {
        HeapFormat::Flamegraph
    } else {
        HeapFormat::Pprof
    })
    .await
}

#[cfg(not(feature = "profiling"))]
#[allow(clippy::unused_async)]
async fn take_heap(_svg: bool) -> Result<Vec<u8>, ProfilingError> {
    Err(ProfilingError::NotBuilt)
}

async fn activate() -> Response {
    switch_heap(true).await
}

async fn deactivate() -> Response {
    switch_heap(false).await
}

#[cfg_attr(not(feature = "profiling"), allow(clippy::unused_async))]
async fn switch_heap(active: bool) -> Response {
    #[cfg(feature = "profiling")]
    let outcome = profiling::heap::set_active(active).await;
    #[cfg(not(feature = "profiling"))]
    let outcome: Result<(), ProfilingError> = Err(ProfilingError::NotBuilt);
    match outcome {
        Ok(()) => Json(json!({ "heap_sampling": active })).into_response(),
        Err(e) => refusal(&e),
    }
}

async fn allocs() -> Response {
    match tokio::task::spawn_blocking(profiling::allocator_stats).await {
        Ok(Ok(stats)) => {
            #[cfg(feature = "profiling")]
            let sampling = profiling::heap::active().await;
            #[cfg(not(feature = "profiling"))]
            let sampling: Option<bool> = None;
            let mut body = serde_json::to_value(stats).unwrap_or_default();
            if let Some(object) = body.as_object_mut() {
                object.insert("heap_sampling_active".into(), json!(sampling));
                object.insert(
                    "profiling_built".into(),
                    json!(profiling::BUILT_WITH_PROFILING),
                );
            }
            Json(body).into_response()
        }
        Ok(Err(e)) => refusal(&e),
        Err(e) => refusal(&ProfilingError::Profiler(e.to_string())),
    }
}
