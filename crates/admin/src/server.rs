//! The admin server's connection handling: HTTP/1 with a header-read timeout, an idle timeout and
//! a cap on open connections, so that idle or half-sent requests cannot starve it (a few hundred
//! of them used to exhaust a low fd limit and make `/livez` time out).
//!
//! At the cap a new connection takes the place of the oldest connection that has no request in
//! flight (idle, or still sending its headers); only when every connection is busy is the new one
//! closed at once. So `/livez` keeps answering while the server is flooded with idle sockets.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::Router;
use hyper::body::Incoming;
use hyper::service::Service as _;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tokio::time::Instant;

/// How the admin server treats connections (`admin.header_read_timeout`, `admin.idle_timeout`,
/// `admin.max_connections`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerLimits {
    /// A request's headers must arrive within this time of the connection's first byte being
    /// awaited, or the connection is closed.
    pub header_read_timeout: Duration,
    /// A connection with no request in flight for this long is closed.
    pub idle_timeout: Duration,
    /// The most connections open at once.
    pub max_connections: usize,
}

impl Default for ServerLimits {
    fn default() -> Self {
        Self {
            header_read_timeout: Duration::from_secs(5),
            idle_timeout: Duration::from_secs(60),
            max_connections: 256,
        }
    }
}

/// What one connection is doing, for the idle timeout and for shedding at the cap.
struct Activity {
    in_flight: AtomicUsize,
    last: Mutex<Instant>,
    changed: Notify,
}

impl Activity {
    fn new() -> Self {
        Self {
            in_flight: AtomicUsize::new(0),
            last: Mutex::new(Instant::now()),
            changed: Notify::new(),
        }
    }

    fn touch(&self) {
        *self.last.lock().unwrap_or_else(PoisonError::into_inner) = Instant::now();
        self.changed.notify_waiters();
    }

    fn begin(&self) {
        self.in_flight.fetch_add(1, Ordering::SeqCst);
        self.touch();
    }

    fn end(&self) {
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
        self.touch();
    }

    fn idle(&self) -> bool {
        self.in_flight.load(Ordering::SeqCst) == 0
    }

    /// Completes once the connection has had no request in flight for `limit`.
    async fn idle_for(&self, limit: Duration) {
        loop {
            let changed = self.changed.notified();
            if self.idle() {
                let deadline = *self.last.lock().unwrap_or_else(PoisonError::into_inner) + limit;
                tokio::select! {
                    () = tokio::time::sleep_until(deadline) => {
                        let last = *self.last.lock().unwrap_or_else(PoisonError::into_inner);
                        if self.idle() && last + limit <= Instant::now() {
                            return;
                        }
                    }
                    () = changed => {}
                }
            } else {
                changed.await;
            }
        }
    }
}

/// The open connections, oldest first.
#[derive(Default)]
struct Open {
    connections: BTreeMap<u64, (Arc<Activity>, tokio::task::AbortHandle)>,
}

impl Open {
    /// Closes the oldest connection with no request in flight; false when every one is busy.
    fn shed_oldest_idle(&mut self) -> bool {
        let oldest = self
            .connections
            .iter()
            .find(|(_, (activity, _))| activity.idle())
            .map(|(id, _)| *id);
        match oldest.and_then(|id| self.connections.remove(&id)) {
            Some((_, task)) => {
                task.abort();
                true
            }
            None => false,
        }
    }
}

/// Removes a connection from the open set however its task ends (finished or aborted).
struct Registered {
    open: Arc<Mutex<Open>>,
    id: u64,
}

impl Drop for Registered {
    fn drop(&mut self) {
        self.open
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .connections
            .remove(&self.id);
    }
}

/// What the cap did to a connection: one typed event, counted in the metrics and logged (the
/// first time, then every hundredth, so a flood of idle sockets does not flood the log too).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pressure {
    /// At the cap, the oldest idle connection was closed to make room.
    Shed,
    /// At the cap with every connection busy: a new one was closed at once.
    Refused,
    /// Accepting failed (out of file descriptors, typically).
    AcceptFailed,
}

#[derive(Default)]
struct PressureLog {
    counts: [u64; 3],
    metrics: Option<telemetry::Metrics>,
}

impl PressureLog {
    fn record(&mut self, event: Pressure, limits: &ServerLimits, error: Option<&std::io::Error>) {
        if let Some(metrics) = &self.metrics {
            metrics.record_admin_pressure(match event {
                Pressure::Shed => telemetry::AdminPressure::Shed,
                Pressure::Refused => telemetry::AdminPressure::Refused,
                Pressure::AcceptFailed => telemetry::AdminPressure::AcceptFailed,
            });
        }
        let count = &mut self.counts[event as usize];
        *count += 1;
        if *count != 1 && !count.is_multiple_of(100) {
            return;
        }
        let (count, max) = (*count, limits.max_connections);
        match event {
            Pressure::Shed => tracing::warn!(
                count,
                max,
                "admin server at its connection cap: closed the oldest idle connection (admin.max_connections)"
            ),
            Pressure::Refused => tracing::warn!(
                count,
                max,
                "admin server at its connection cap with every connection busy: closed a new one"
            ),
            Pressure::AcceptFailed => tracing::warn!(
                count, error = ?error.map(ToString::to_string),
                "admin server cannot accept a connection; closing the oldest idle one"
            ),
        }
    }
}

/// Serves `router` on `listener` within `limits` until the task is aborted.
pub(super) async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ServerLimits,
    metrics: Option<telemetry::Metrics>,
) {
    let open = Arc::new(Mutex::new(Open::default()));
    let mut pressure = PressureLog {
        metrics,
        ..PressureLog::default()
    };
    let mut next_id = 0u64;
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(error) => {
                // Out of file descriptors, typically: make room and try again.
                let shed = open
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .shed_oldest_idle();
                pressure.record(Pressure::AcceptFailed, &limits, Some(&error));
                if !shed {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                continue;
            }
        };
        let activity = Arc::new(Activity::new());
        let id = next_id;
        next_id += 1;
        let mut guard = open.lock().unwrap_or_else(PoisonError::into_inner);
        if guard.connections.len() >= limits.max_connections {
            if guard.shed_oldest_idle() {
                pressure.record(Pressure::Shed, &limits, None);
            } else {
                drop(guard);
                pressure.record(Pressure::Refused, &limits, None);
                continue;
            }
        }
        let task = tokio::spawn(connection(
            stream,
            router.clone(),
            limits,
            Arc::clone(&activity),
            Registered {
                open: Arc::clone(&open),
                id,
            },
        ));
        guard
            .connections
            .insert(id, (activity, task.abort_handle()));
    }
}

/// One connection: HTTP/1 with the header-read timeout, closed after the idle timeout.
async fn connection(
    stream: tokio::net::TcpStream,
    router: Router,
    limits: ServerLimits,
    activity: Arc<Activity>,
    _registered: Registered,
) {
    let inner = TowerToHyperService::new(router);
    let counted = Arc::clone(&activity);
    let service = hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
        counted.begin();
        let response = inner.call(request);
        let counted = Arc::clone(&counted);
        async move {
            let response = response.await;
            counted.end();
            response
        }
    });
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .serve_connection(TokioIo::new(stream), service);
    tokio::select! {
        result = conn => {
            if let Err(error) = result {
                tracing::debug!(%error, "admin server: connection closed");
            }
        }
        () = activity.idle_for(limits.idle_timeout) => {
            tracing::debug!("admin server: idle connection closed");
        }
    }
}
