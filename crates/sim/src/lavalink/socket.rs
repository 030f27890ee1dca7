//! The event socket `GET /v4/websocket`: the handshake checks of Lavalink's
//! `HandshakeInterceptorImpl`, then one writer task per connection.

use axum::extract::State;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::{SinkExt, StreamExt};
use tokio::sync::{mpsc, oneshot, watch};

use super::node::{AppState, Shared, flipped};
use super::session::{Cut, Hello, Outbound, Writer};

/// The handshake: wrong or missing password 401, missing `User-Id` 400, and the response
/// header `Session-Resumed` on every successful upgrade.
pub(crate) async fn handshake(
    State(shared): State<AppState>,
    headers: HeaderMap,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    let password = headers
        .get(header::AUTHORIZATION)
        .map(HeaderValue::as_bytes);
    if password != Some(shared.config.password.as_bytes()) {
        tracing::warn!(node = shared.config.name, "socket authentication failed");
        return StatusCode::UNAUTHORIZED.into_response();
    }
    let text = |name: &str| {
        headers
            .get(name)
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned)
    };
    let Some(user_id) = text("User-Id")
        .and_then(|id| id.parse::<u64>().ok())
        .filter(|id| *id != 0)
    else {
        tracing::warn!(node = shared.config.name, "missing User-Id header");
        return StatusCode::BAD_REQUEST.into_response();
    };
    let session_id = text("Session-Id");
    let resumable = session_id
        .as_deref()
        .is_some_and(|id| shared.with_state(|state, _| state.can_resume(id)));
    let upgrade = match upgrade {
        Ok(upgrade) => upgrade,
        Err(rejection) => return rejection.into_response(),
    };
    let hello = Hello {
        user_id,
        client_name: text("Client-Name"),
        session_id: session_id.filter(|_| resumable),
    };
    let kill = shared.kill_switch();
    let mut response = upgrade.on_upgrade(move |socket| run(shared, socket, hello, kill));
    response.headers_mut().insert(
        "Session-Resumed",
        HeaderValue::from_static(if resumable { "true" } else { "false" }),
    );
    response
}

/// Counts open sockets for a graceful shutdown to wait on.
struct OpenSocket<'a>(&'a Shared);

impl<'a> OpenSocket<'a> {
    fn new(shared: &'a Shared) -> Self {
        shared.sockets.send_modify(|open| *open += 1);
        Self(shared)
    }
}

impl Drop for OpenSocket<'_> {
    fn drop(&mut self) {
        self.0
            .sockets
            .send_modify(|open| *open = open.saturating_sub(1));
    }
}

/// How a connection ended.
enum End {
    /// The node crashed: no close frame, no session bookkeeping (it is all gone).
    Killed,
    /// The client went away or the node closed the socket.
    Closed,
    /// The client sent a close frame (answered once the session is detached, so a client that
    /// saw the answer knows the node is done with the socket).
    ClientClosed,
    /// The node cut the connection (a dropped-connections fault); the session was already
    /// detached or destroyed when the cut was ordered.
    Cut,
}

async fn run(shared: AppState, socket: WebSocket, hello: Hello, mut kill: watch::Receiver<bool>) {
    let _open = OpenSocket::new(&shared);
    let conn = shared.next_conn();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let (cut, mut cut_order) = oneshot::channel();
    let writer = Writer { tx, cut };
    let (session_id, resumed) =
        shared.with_state(|state, now| state.attach(&hello, conn, writer, now));
    tracing::info!(
        node = shared.config.name,
        session = session_id,
        resumed,
        client = hello.client_name.as_deref().unwrap_or("-"),
        "socket connected"
    );
    let (mut sink, mut stream) = socket.split();
    let mut hang_flag = shared.hang_flag();
    // Dropped unused when the session lets go of the link (then the queue ends the socket).
    let mut cut_armed = true;
    let end = loop {
        let hung = *hang_flag.borrow_and_update();
        tokio::select! {
            // A crash, then a cut, win over anything still queued.
            biased;
            () = flipped(&mut kill) => break End::Killed,
            cut = &mut cut_order, if cut_armed => match cut {
                Ok(Cut::Reset) => break End::Cut,
                Ok(Cut::Close(code)) => {
                    let frame = CloseFrame { code, reason: "".into() };
                    // The peer may already be gone; the connection ends either way.
                    let _ = sink.send(Message::Close(Some(frame))).await;
                    break End::Cut;
                }
                Err(_) => cut_armed = false,
            },
            changed = hang_flag.changed() => if changed.is_err() { break End::Killed },
            outbound = rx.recv(), if !hung => match outbound {
                Some(Outbound::Message(message)) => {
                    let latency = shared.faults().latency;
                    if !latency.is_zero() {
                        tokio::time::sleep(latency).await;
                    }
                    if sink.send(Message::Text(message.to_json().into())).await.is_err() {
                        shared.done_with(1);
                        break End::Closed;
                    }
                    shared.written(&session_id, *message);
                }
                Some(Outbound::Close(code, reason)) => {
                    let frame = CloseFrame { code, reason: reason.into() };
                    // The peer may already be gone; the socket ends either way.
                    let _ = sink.send(Message::Close(Some(frame))).await;
                    break End::Closed;
                }
                None => break End::Closed,
            },
            incoming = stream.next(), if !hung => match incoming {
                Some(Ok(Message::Text(_) | Message::Binary(_))) => {
                    tracing::warn!("Lavalink v4 does not support websocket messages. Please use the REST api.");
                }
                Some(Ok(Message::Close(_))) => break End::ClientClosed,
                None | Some(Err(_)) => break End::Closed,
                Some(Ok(_)) => {}
            },
        }
    };
    rx.close();
    let mut unsent = 0;
    while rx.try_recv().is_ok() {
        unsent += 1;
    }
    shared.done_with(unsent);
    match end {
        End::Killed => {
            tracing::debug!(session = session_id, "socket dropped by crash");
        }
        End::Cut => {
            tracing::debug!(
                session = session_id,
                "socket cut by a dropped-connections fault"
            );
        }
        End::Closed | End::ClientClosed => {
            tracing::info!(
                node = shared.config.name,
                session = session_id,
                "socket closed"
            );
            shared.with_state(|state, now| state.detach(&session_id, conn, now));
            if matches!(end, End::ClientClosed) {
                // Flushes the close reply; the peer may be gone already.
                let _ = sink.close().await;
            }
        }
    }
}
