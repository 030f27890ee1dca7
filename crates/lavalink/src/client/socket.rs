//! The socket task: connect with the required headers, read messages in order, watch for silence,
//! classify every loss, and reconnect with exponential backoff and full jitter.

use std::sync::Arc;
use std::time::{Duration, Instant};

use backon::{BackoffBuilder, ExponentialBuilder};
use futures_util::{SinkExt, StreamExt};
use http::{HeaderName, HeaderValue};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio_websockets::{CloseCode, Limits, MaybeTlsStream, Message, WebSocketStream};

use super::events::{Loss, NodeEvent, Received, StopReason};
use super::{ConnectionState, Control, Shared};
use crate::model::{Event, IncomingMessage, UpdateSession};

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// How one connection ended.
enum Ended {
    /// Lost; reconnect unless terminal. `was_ready` resets the backoff.
    Lost { loss: Loss, was_ready: bool },
    /// Stopped on purpose or because nobody listens any more.
    Stopped(StopReason),
}

/// Runs until the client stops.
pub(super) async fn run(
    shared: Arc<Shared>,
    events: mpsc::Sender<NodeEvent>,
    mut control: mpsc::Receiver<Control>,
) {
    let policy = shared.rest.config().reconnect;
    let new_backoff = || {
        ExponentialBuilder::default()
            .with_min_delay(policy.min_delay)
            .with_max_delay(policy.max_delay)
            .without_max_times()
            .build()
    };
    let mut backoff = new_backoff();
    let mut attempt = 0usize;
    let reason = loop {
        shared.set_state(ConnectionState::Connecting { attempt });
        let ended = connect_and_read(&shared, &events, &mut control).await;
        let loss = match ended {
            Ended::Stopped(reason) => break reason,
            Ended::Lost { loss, was_ready } => {
                if was_ready {
                    backoff = new_backoff();
                    attempt = 0;
                }
                loss
            }
        };
        let terminal = match &loss {
            Loss::AuthRefused { status } => Some(StopReason::AuthRefused { status: *status }),
            _ => None,
        };
        shared.log_loss(&loss);
        shared.set_state(ConnectionState::Disconnected { loss: loss.clone() });
        if events.send(NodeEvent::Lost(loss)).await.is_err() {
            break StopReason::ReceiverDropped;
        }
        if let Some(reason) = terminal {
            break reason;
        }
        attempt += 1;
        if policy.max_attempts.is_some_and(|max| attempt > max) {
            break StopReason::GaveUp {
                attempts: attempt - 1,
            };
        }
        let ceiling = backoff.next().unwrap_or(policy.max_delay);
        let delay = ceiling.mul_f64(fastrand::f64());
        if events
            .send(NodeEvent::Reconnecting { attempt, delay })
            .await
            .is_err()
        {
            break StopReason::ReceiverDropped;
        }
        tokio::select! {
            () = shared.clock.sleep(delay) => {}
            command = control.recv() => match command {
                Some(Control::Close) | None => break StopReason::Closed,
                Some(Control::Detach) => break StopReason::Detached { session_id: shared.session_id() },
            },
        }
    };
    tracing::info!(node = %shared.rest.config().name, ?reason, "lavalink client stopped");
    shared.set_state(ConnectionState::Stopped(reason.clone()));
    // The receiver may be gone already; that is fine when stopping.
    let _ = events.send(NodeEvent::Stopped(reason)).await;
}

/// One connection: handshake, then read until it ends.
async fn connect_and_read(
    shared: &Arc<Shared>,
    events: &mpsc::Sender<NodeEvent>,
    control: &mut mpsc::Receiver<Control>,
) -> Ended {
    let config = shared.rest.config();
    let handshake = tokio::time::timeout(config.request_timeout, handshake(shared));
    let (mut socket, header_resumed) = tokio::select! {
        result = handshake => match result {
            Ok(Ok(connected)) => connected,
            Ok(Err(loss)) => return Ended::Lost { loss, was_ready: false },
            Err(_) => return Ended::Lost {
                loss: Loss::HandshakeRefused {
                    status: None,
                    error: format!("no handshake answer within {:?}", config.request_timeout),
                },
                was_ready: false,
            },
        },
        command = control.recv() => return stop_without_socket(shared, command),
    };
    tracing::debug!(node = %config.name, header_resumed, "lavalink socket open");

    let silence = config.silence;
    let mut last_traffic = shared.clock.now();
    let mut next_ping = silence.ping_interval.map(|every| last_traffic + every);
    let mut was_ready = false;
    loop {
        let silent_at = last_traffic + shared.quiet_limit();
        let wake_at = next_ping.map_or(silent_at, |ping_at| ping_at.min(silent_at));
        let message = tokio::select! {
            biased;
            command = control.recv() => {
                return stop_with_socket(shared, &mut socket, command).await;
            }
            message = socket.next() => message,
            () = shared.clock.sleep_until(wake_at) => {
                let now = shared.clock.now();
                if now < silent_at {
                    if let Some(every) = silence.ping_interval {
                        // A failed ping shows up as an error on the next read.
                        let _ = socket.send(Message::ping(bytes::Bytes::new())).await;
                        next_ping = Some(now + every);
                    }
                    continue;
                }
                // Before calling the node silent, ask once more and take whatever is already on
                // its way: the clock may have jumped (an injected clock, a suspended host) while
                // messages sat unread.
                if silence.ping_interval.is_some() {
                    let _ = socket.send(Message::ping(bytes::Bytes::new())).await;
                }
                match tokio::time::timeout(silence.grace, socket.next()).await {
                    Ok(message) => message,
                    Err(_) => {
                        return Ended::Lost {
                            loss: Loss::Silence {
                                quiet_for: now.saturating_duration_since(last_traffic),
                                expected_reporting: shared.reporting_count(),
                            },
                            was_ready,
                        };
                    }
                }
            }
        };
        let now = shared.clock.now();
        let message = match message {
            None => {
                return Ended::Lost {
                    loss: Loss::Reset {
                        error: "connection closed without a close frame".into(),
                    },
                    was_ready,
                };
            }
            Some(Err(error)) => {
                return Ended::Lost {
                    loss: classify_error(&error),
                    was_ready,
                };
            }
            Some(Ok(message)) => message,
        };
        last_traffic = now;
        shared.on_traffic(now);
        if let Some((code, reason)) = message.as_close() {
            return Ended::Lost {
                loss: classify_close(code, reason),
                was_ready,
            };
        }
        let Some(text) = message.as_text() else {
            if message.is_binary() {
                tracing::warn!(node = %config.name, "lavalink sent a binary message; ignored");
            }
            continue;
        };
        match handle_text(shared, events, text, now).await {
            Ok(ready) => was_ready |= ready,
            Err(()) => return Ended::Stopped(StopReason::ReceiverDropped),
        }
    }
}

/// Opens the socket with Lavalink's headers. Returns the socket and whether `Session-Resumed` said so.
async fn handshake(shared: &Arc<Shared>) -> Result<(Socket, bool), Loss> {
    let config = shared.rest.config();
    let header = |name: &'static str, value: &str| {
        HeaderValue::from_str(value).map(|v| (HeaderName::from_static(name), v))
    };
    let mut headers = vec![
        header("authorization", config.password.expose()),
        header("user-id", &config.user_id.to_string()),
        header("client-name", &config.client_name),
    ];
    if let Some(session) = shared.session_id() {
        headers.push(header("session-id", &session));
    }
    let refused = |error: String| Loss::HandshakeRefused {
        status: None,
        error,
    };
    let mut builder = tokio_websockets::ClientBuilder::new()
        .uri(&config.websocket_url())
        .map_err(|e| refused(format!("invalid socket url: {e}")))?
        .limits(Limits::default().max_payload_len(Some(config.max_message_bytes)));
    for entry in headers {
        let (name, value) = entry.map_err(|_| {
            refused("a header value is not valid HTTP (check the password and client name)".into())
        })?;
        builder = builder
            .add_header(name, value)
            .map_err(|e| refused(e.to_string()))?;
    }
    let (socket, response) = builder.connect().await.map_err(|error| match error {
        tokio_websockets::Error::Upgrade(
            tokio_websockets::upgrade::Error::DidNotSwitchProtocols(status),
        ) if status == 401 || status == 403 => Loss::AuthRefused { status },
        tokio_websockets::Error::Upgrade(
            tokio_websockets::upgrade::Error::DidNotSwitchProtocols(status),
        ) => Loss::HandshakeRefused {
            status: Some(status),
            error: format!("the node answered HTTP {status} instead of switching protocols"),
        },
        tokio_websockets::Error::Io(io) if io.kind() == std::io::ErrorKind::ConnectionRefused => {
            Loss::ConnectionRefused {
                error: io.to_string(),
            }
        }
        other => refused(other.to_string()),
    })?;
    let resumed = response
        .headers()
        .get("session-resumed")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("true"));
    Ok((socket, resumed))
}

/// Handles one text message. `Ok(true)` when it was `ready`; `Err` when nobody listens any more.
async fn handle_text(
    shared: &Arc<Shared>,
    events: &mpsc::Sender<NodeEvent>,
    text: &str,
    at: Instant,
) -> Result<bool, ()> {
    let name = &shared.rest.config().name;
    let event = match IncomingMessage::from_json(text) {
        Ok(IncomingMessage::Ready(ready)) => {
            tracing::info!(node = %name, resumed = ready.resumed, "lavalink session ready");
            shared.on_ready(&ready.session_id, ready.resumed);
            events
                .send(NodeEvent::Ready {
                    session_id: ready.session_id.clone(),
                    resumed: ready.resumed,
                })
                .await
                .map_err(drop)?;
            if let Some(timeout) = shared.rest.config().resume_timeout {
                // On its own task, so that reading (and stamping receive times) never waits on REST.
                tokio::spawn(enable_resuming(
                    shared.rest.clone(),
                    ready.session_id,
                    timeout,
                    events.clone(),
                ));
            }
            return Ok(true);
        }
        Ok(IncomingMessage::PlayerUpdate(update)) => {
            shared.mark_reporting(update.guild_id, true);
            NodeEvent::PlayerUpdate(Received { at, value: update })
        }
        Ok(IncomingMessage::Stats(stats)) => {
            shared.on_stats(Received { at, value: stats });
            NodeEvent::Stats(Received { at, value: stats })
        }
        Ok(IncomingMessage::Event(event)) => {
            match &event {
                Event::TrackStart(e) => shared.mark_reporting(e.guild_id, true),
                Event::TrackEnd(e) => shared.mark_reporting(e.guild_id, false),
                _ => {}
            }
            NodeEvent::Event(Received { at, value: event })
        }
        Ok(IncomingMessage::Unknown(raw)) => {
            tracing::debug!(node = %name, "lavalink sent an unknown op; ignored");
            NodeEvent::Unknown(Received { at, value: raw })
        }
        Err(error) => {
            tracing::warn!(node = %name, %error, len = text.len(), "malformed lavalink message dropped");
            NodeEvent::BadMessage(error)
        }
    };
    events.send(event).await.map_err(drop)?;
    Ok(false)
}

/// Turns resuming on for a new session and reports how that went.
async fn enable_resuming(
    rest: super::Rest,
    session_id: String,
    timeout: Duration,
    events: mpsc::Sender<NodeEvent>,
) {
    let update = UpdateSession {
        resuming: Some(true),
        timeout: Some(timeout.as_secs().max(1)),
    };
    let event = match rest.update_session(&session_id, &update).await {
        Ok(info) => NodeEvent::ResumeEnabled(info),
        Err(error) => {
            tracing::warn!(node = %rest.config().name, %error, "could not enable resuming");
            NodeEvent::ResumeConfigFailed(error)
        }
    };
    // Nobody listening means the client is stopping; nothing to report to.
    let _ = events.send(event).await;
}

fn classify_close(code: CloseCode, reason: &str) -> Loss {
    let code = u16::from(code);
    if code == 1000 || code == 1001 {
        Loss::GracefulClose {
            code,
            reason: reason.to_owned(),
        }
    } else {
        Loss::AbnormalClose {
            code,
            reason: reason.to_owned(),
        }
    }
}

fn classify_error(error: &tokio_websockets::Error) -> Loss {
    match error {
        tokio_websockets::Error::PayloadTooLong { len, max_len } => Loss::FrameTooLarge {
            len: *len,
            max: *max_len,
        },
        other => Loss::Reset {
            error: other.to_string(),
        },
    }
}

#[allow(clippy::needless_pass_by_value)]
fn stop_without_socket(shared: &Arc<Shared>, command: Option<Control>) -> Ended {
    Ended::Stopped(match command {
        Some(Control::Detach) => StopReason::Detached {
            session_id: shared.session_id(),
        },
        Some(Control::Close) | None => StopReason::Closed,
    })
}

async fn stop_with_socket(
    shared: &Arc<Shared>,
    socket: &mut Socket,
    command: Option<Control>,
) -> Ended {
    let reason = match command {
        Some(Control::Detach) => StopReason::Detached {
            session_id: shared.session_id(),
        },
        Some(Control::Close) | None => {
            // Turn resuming off first so that closing the socket ends the session and its players.
            if let Some(session) = shared.session_id() {
                let update = UpdateSession {
                    resuming: Some(false),
                    timeout: None,
                };
                if let Err(error) = shared.rest.update_session(&session, &update).await {
                    tracing::debug!(node = %shared.rest.config().name, %error, "could not disable resuming before close");
                }
            }
            StopReason::Closed
        }
    };
    // The node may already be gone; closing is best effort.
    let _ = socket
        .send(Message::close(
            Some(CloseCode::NORMAL_CLOSURE),
            "client closing",
        ))
        .await;
    let _ = tokio::time::timeout(Duration::from_secs(1), socket.close()).await;
    Ended::Stopped(reason)
}
