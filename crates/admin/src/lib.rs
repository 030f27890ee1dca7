//! The admin HTTP server: the node API (`/admin/nodes`), health (`/livez`, `/readyz`, `/healthz`),
//! `/metrics` (unless it has its own address) and the profilers (`/debug/pprof/*`), on a
//! connection loop that cannot be starved (`server`). Everything under `/admin` needs
//! `Authorization: Bearer <admin token>`; with no token configured the admin API refuses every call
//! rather than run open.
//!
//! Beside the server: the bot's health probes, readiness and alerting ([`checks`]), on the
//! `health` crate's framework, and the profilers behind `/debug/pprof` ([`profiling`], with the
//! `profiling` feature).

pub mod allow;
mod auth;
pub mod checks;
pub mod deploy;
mod health_endpoints;
pub mod metrics;
mod nodes;
pub mod pprof;
pub mod profiling;
mod secret;
mod server;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use cluster::Cluster;
use tokio::net::TcpListener;

pub use allow::NodeHosts;
pub use auth::AdminToken;
pub use secret::Secret;
pub use server::ServerLimits;

/// What the admin endpoints work on.
#[derive(Clone)]
pub struct AdminState {
    /// The Lavalink cluster.
    pub cluster: Cluster,
    /// The token callers must present; `None` disables the admin API.
    pub token: Option<Arc<AdminToken>>,
    /// Probes and readiness; `None` before they run.
    pub health: Option<crate::checks::HealthContext>,
    /// The hosts `POST /admin/nodes` may name (`admin.node_hosts`).
    pub node_hosts: Arc<NodeHosts>,
}

/// The admin router.
pub fn router(state: AdminState) -> Router {
    let admin = nodes::router(state.clone()).layer(axum::middleware::from_fn_with_state(
        state.clone(),
        auth::require_token,
    ));
    Router::new()
        .merge(health_endpoints::router(state.clone()))
        .nest("/admin", admin)
        .with_state(state)
}

/// A running admin server.
pub struct AdminServer {
    addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl AdminServer {
    /// Binds `listen` (port 0 picks a free port) and serves `router` until dropped or stopped,
    /// with the default [`ServerLimits`].
    pub async fn start(listen: SocketAddr, router: Router) -> std::io::Result<Self> {
        Self::start_with(listen, router, ServerLimits::default()).await
    }

    /// As [`AdminServer::start`], within `limits`.
    pub async fn start_with(
        listen: SocketAddr,
        router: Router,
        limits: ServerLimits,
    ) -> std::io::Result<Self> {
        Self::bind(listen, router, limits, None).await
    }

    /// As [`AdminServer::start_with`], counting the connections it closes under pressure in
    /// `metrics` (`dimby_admin_connections_closed_total`).
    pub async fn observed(
        listen: SocketAddr,
        router: Router,
        limits: ServerLimits,
        metrics: telemetry::Metrics,
    ) -> std::io::Result<Self> {
        Self::bind(listen, router, limits, Some(metrics)).await
    }

    async fn bind(
        listen: SocketAddr,
        router: Router,
        limits: ServerLimits,
        metrics: Option<telemetry::Metrics>,
    ) -> std::io::Result<Self> {
        let listener = TcpListener::bind(listen).await?;
        let addr = listener.local_addr()?;
        let task = tokio::spawn(server::serve(listener, router, limits, metrics));
        tracing::info!(%addr, "admin server listening");
        Ok(Self { addr, task })
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops serving.
    pub fn stop(self) {
        self.task.abort();
    }
}
