//! The HTTP server: the route table with its middleware, and an accept loop whose connections
//! all die at once when the node crashes (which `axum::serve` cannot do: its connections outlive
//! the server task, so pooled keep-alive connections would still be answered by a dead node).

use std::sync::Arc;

use axum::Router;
use axum::middleware::{from_fn, from_fn_with_state};
use axum::routing::{get, patch, post};
use tokio::net::TcpListener;
use tokio::sync::watch;

use super::control;
use super::faults;
use super::lyrics;
use super::node::{AppState, ReceivedRequest, Shared};
use super::rest;
use super::socket;

/// Every route of the node.
pub(crate) fn router(shared: AppState) -> Router {
    let mut lavalink = Router::new()
        .route("/version", get(rest::version))
        .route("/v4/info", get(rest::info))
        .route("/v4/stats", get(rest::stats))
        .route("/v4/loadtracks", get(rest::load_tracks))
        .route("/v4/decodetrack", get(rest::decode_track))
        .route("/v4/decodetracks", post(rest::decode_tracks))
        .route("/v4/sessions/{session_id}", patch(rest::update_session))
        .route("/v4/sessions/{session_id}/players", get(rest::players))
        .route(
            "/v4/sessions/{session_id}/players/{guild_id}",
            get(rest::player)
                .patch(rest::update_player)
                .delete(rest::destroy_player),
        );
    if shared.config.has_lyrics_plugin() {
        // LavaLyrics' `AudioLyricsRestHandler`; without the plugin these paths are unknown.
        lavalink = lavalink
            .route("/v4/lyrics", get(lyrics::track_lyrics))
            .route(
                "/v4/sessions/{session_id}/players/{guild_id}/track/lyrics",
                get(lyrics::player_lyrics),
            );
    }
    let lavalink = lavalink
        .fallback(rest::not_found)
        .layer(from_fn_with_state(
            Arc::clone(&shared),
            rest::serial_service,
        ))
        .layer(from_fn_with_state(Arc::clone(&shared), faults::error_rate))
        .layer(from_fn_with_state(Arc::clone(&shared), rest::authorize));
    let node = Router::new()
        .route("/v4/websocket", get(socket::handshake))
        .merge(lavalink)
        .layer(from_fn_with_state(
            Arc::clone(&shared),
            faults::hang_and_latency,
        ));
    Router::new()
        .merge(control::router(Arc::clone(&shared)))
        .merge(node)
        .layer(from_fn_with_state(Arc::clone(&shared), rest::error_body))
        .layer(from_fn(rest::api_version))
        .layer(from_fn_with_state(Arc::clone(&shared), record_request))
        .layer(from_fn_with_state(Arc::clone(&shared), dead_air))
        .with_state(shared)
}

/// A dead process answers nothing: a request that reaches a connection after the node crashed or
/// stopped (its connection task has not seen the kill switch yet) waits until the connection is
/// dropped, so the client sees the connection die, never an answer from beyond.
async fn dead_air(
    axum::extract::State(shared): axum::extract::State<AppState>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    if !shared.is_up() {
        std::future::pending::<()>().await;
    }
    next.run(request).await
}

/// The outermost layer: stamps each request as it arrives, for whoever listens
/// ([`super::SimNode::requests`]); nothing else changes.
async fn record_request(
    axum::extract::State(shared): axum::extract::State<AppState>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    if shared.requests.receiver_count() > 0 {
        #[allow(
            clippy::disallowed_methods,
            reason = "recordings are stamped in real time, to compare with other stand-ins' and the bot's"
        )]
        let at = std::time::Instant::now();
        // Nobody listening any more is fine.
        let _ = shared.requests.send(ReceivedRequest {
            at,
            method: request.method().as_str().to_owned(),
            path: request.uri().path().to_owned(),
            query: request.uri().query().map(str::to_owned),
        });
    }
    next.run(request).await
}

/// Accepts connections until the kill switch flips; each connection dies with it.
pub(crate) async fn accept_loop(
    listener: TcpListener,
    shared: Arc<Shared>,
    kill: watch::Receiver<bool>,
) {
    crate::net::serve_until_killed(listener, router(shared), kill).await;
}
