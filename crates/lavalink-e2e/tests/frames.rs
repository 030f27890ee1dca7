//! What the client does with frames a faithful node never sends: malformed JSON, unknown ops,
//! binary frames and oversized messages. A scripted socket server plays the node here, so each
//! frame is exactly what the test says.

use std::time::Duration;

use futures_util::SinkExt;
use lavalink::client::{Loss, NodeEvent};
use lavalink::model::MessageError;
use lavalink::{NodeClient, NodeConfig};
use lavalink_e2e::{GUARD, USER_ID, wait_for, wait_ready};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_websockets::Message;

/// The headers of each handshake the scripted server accepted.
type Handshakes = mpsc::UnboundedReceiver<http::HeaderMap>;

/// A server that accepts connections forever; on each it records the handshake headers and
/// sends `script(n)` (n counts connections from 0), then keeps the socket open.
async fn scripted(script: fn(usize) -> Vec<Message>) -> (String, Handshakes) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let (seen_tx, seen_rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        for n in 0.. {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let Ok((request, mut socket)) =
                tokio_websockets::ServerBuilder::new().accept(stream).await
            else {
                continue;
            };
            let _ = seen_tx.send(request.headers().clone());
            let seen_tx = seen_tx.clone();
            tokio::spawn(async move {
                for message in script(n) {
                    if socket.send(message).await.is_err() {
                        return;
                    }
                }
                // Hold the socket open (reading answers pings) until the client goes.
                while let Some(Ok(_)) = futures_util::StreamExt::next(&mut socket).await {}
                drop(seen_tx);
            });
        }
    });
    (url, seen_rx)
}

fn config(url: &str) -> NodeConfig {
    let mut config = NodeConfig::new("scripted", url, "pw", USER_ID).expect("config");
    config.resume_timeout = None;
    config.max_message_bytes = 1024;
    config.reconnect.min_delay = Duration::from_millis(1);
    config.reconnect.max_delay = Duration::from_millis(5);
    config
}

fn ready(id: &str) -> Message {
    Message::text(format!(
        r#"{{"op":"ready","resumed":false,"sessionId":"{id}"}}"#
    ))
}

#[tokio::test]
async fn bad_frames_are_reported_and_the_connection_is_kept() {
    let (url, _handshakes) = scripted(|_| {
        vec![
            ready("s1"),
            Message::text("{not json".to_owned()),
            Message::text(r#"{"op":"playerUpdate","guildId":"1","state":"nope"}"#.to_owned()),
            Message::text(r#"{"op":"fromTheFuture","x":1}"#.to_owned()),
            Message::binary(vec![1u8, 2, 3]),
            Message::text(
                r#"{"op":"playerUpdate","guildId":"1","state":{"time":1,"position":2,"connected":true,"ping":3}}"#
                    .to_owned(),
            ),
        ]
    })
    .await;
    let (client, mut events) = NodeClient::connect(config(&url), clock::SystemClock::shared());
    wait_ready(&mut events).await;

    let malformed = wait_for(&mut events, |e| match e {
        NodeEvent::BadMessage(error) => Some(matches!(error, MessageError::Malformed(_))),
        _ => None,
    })
    .await;
    assert!(malformed, "bad JSON is a Malformed error");
    let invalid = wait_for(&mut events, |e| match e {
        NodeEvent::BadMessage(MessageError::Invalid { kind, .. }) => Some(kind.clone()),
        _ => None,
    })
    .await;
    assert_eq!(invalid, "playerUpdate");
    let unknown = wait_for(&mut events, |e| match e {
        NodeEvent::Unknown(raw) => Some(raw.value["op"].clone()),
        _ => None,
    })
    .await;
    assert_eq!(unknown, "fromTheFuture");
    // The binary frame is ignored and the good message after it still arrives: the connection
    // survived everything above.
    let position = wait_for(&mut events, |e| match e {
        NodeEvent::PlayerUpdate(update) => Some(update.value.state.position),
        NodeEvent::Lost(loss) => panic!("connection dropped: {loss:?}"),
        _ => None,
    })
    .await;
    assert_eq!(position, 2);
    assert!(client.state().is_connected());
}

#[tokio::test]
async fn an_oversized_message_closes_and_the_client_resumes_its_session() {
    let (url, mut handshakes) = scripted(|n| {
        if n == 0 {
            vec![
                ready("s1"),
                Message::text(format!(r#"{{"op":"x","pad":"{}"}}"#, "a".repeat(4096))),
            ]
        } else {
            vec![ready("s1")]
        }
    })
    .await;
    let (_client, mut events) = NodeClient::connect(config(&url), clock::SystemClock::shared());
    wait_ready(&mut events).await;
    let loss = wait_for(&mut events, |e| match e {
        NodeEvent::Lost(loss) => Some(loss.clone()),
        _ => None,
    })
    .await;
    assert!(
        matches!(loss, Loss::FrameTooLarge { max: 1024, .. }),
        "{loss:?}"
    );
    wait_ready(&mut events).await;

    let first = tokio::time::timeout(GUARD, handshakes.recv())
        .await
        .expect("guard")
        .expect("first handshake");
    assert_eq!(
        first.get("authorization").map(http::HeaderValue::as_bytes),
        Some(&b"pw"[..])
    );
    assert_eq!(
        first.get("user-id").and_then(|v| v.to_str().ok()),
        Some(USER_ID.to_string().as_str())
    );
    assert!(
        first
            .get("client-name")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("DimbyBot/"))
    );
    assert!(first.get("session-id").is_none(), "nothing to resume yet");
    let second = tokio::time::timeout(GUARD, handshakes.recv())
        .await
        .expect("guard")
        .expect("second handshake");
    assert_eq!(
        second.get("session-id").and_then(|v| v.to_str().ok()),
        Some("s1"),
        "the reconnect asks to resume the session it had"
    );
}
