//! Test-side clients for the stand-in: plain HTTP (reqwest) and a plain WebSocket
//! (tokio-websockets), never the project's own node client.

#![allow(dead_code, clippy::missing_panics_doc, clippy::must_use_candidate)]

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use http::{HeaderName, HeaderValue, Method};
use lavalink::model::{
    Event, IncomingMessage, PlayerUpdate, Stats, Track, VoiceState, WebSocketClosed,
};
use serde_json::{Value, json};
use sim::lavalink::{NodeConfig, SimNode};
use tokio::net::TcpStream;
use tokio_websockets::{MaybeTlsStream, Message, WebSocketStream};

/// The failure guard for every wait: generous, never a way to pass a test.
pub const GUARD: Duration = Duration::from_secs(10);

/// A guild used throughout.
pub const GUILD: u64 = 817_327_181_659_111_454;

/// A node on a manual clock, with its clock.
pub async fn manual_node() -> (SimNode, clock::ManualClock) {
    let clock = clock::ManualClock::new();
    let node = SimNode::start(NodeConfig::default().with_clock(clock.shared()))
        .await
        .expect("start node");
    (node, clock)
}

/// A REST answer.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: http::HeaderMap,
    pub text: String,
    pub body: Value,
}

/// REST calls with the node's password.
#[derive(Debug, Clone)]
pub struct Rest {
    http: reqwest::Client,
    base: String,
    password: Option<String>,
}

impl Rest {
    pub fn new(node: &SimNode) -> Self {
        Self::with_password(node, Some(node.password()))
    }

    pub fn with_password(node: &SimNode, password: Option<&str>) -> Self {
        Self {
            http: reqwest::Client::builder()
                .no_proxy()
                .timeout(GUARD)
                .build()
                .expect("http client"),
            base: node.rest_url(),
            password: password.map(str::to_owned),
        }
    }

    pub async fn try_call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Answer, reqwest::Error> {
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if let Some(password) = &self.password {
            request = request.header("Authorization", password);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().await?;
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Ok(Answer {
            status,
            headers,
            text,
            body,
        })
    }

    pub async fn call(&self, method: Method, path: &str, body: Option<Value>) -> Answer {
        self.try_call(method, path, body).await.expect("request")
    }

    pub async fn get(&self, path: &str) -> Answer {
        self.call(Method::GET, path, None).await
    }

    pub async fn patch(&self, path: &str, body: Value) -> Answer {
        self.call(Method::PATCH, path, Some(body)).await
    }

    pub async fn delete(&self, path: &str) -> Answer {
        self.call(Method::DELETE, path, None).await
    }

    /// Loads one track and answers it.
    pub async fn load_track(&self, identifier: &str) -> Track {
        let answer = self
            .get(&format!("/v4/loadtracks?identifier={}", encode(identifier)))
            .await;
        assert_eq!(answer.status, 200, "{}", answer.text);
        assert_eq!(answer.body["loadType"], "track", "{}", answer.text);
        serde_json::from_value(answer.body["data"].clone()).expect("track")
    }

    /// PATCHes a player.
    pub async fn update(&self, session: &str, guild: u64, body: Value) -> Answer {
        self.patch(&format!("/v4/sessions/{session}/players/{guild}"), body)
            .await
    }

    /// Gives a player a complete voice state.
    pub async fn connect_voice(&self, session: &str, guild: u64) -> Answer {
        let answer = self
            .update(session, guild, json!({ "voice": voice_json() }))
            .await;
        assert_eq!(answer.status, 200, "{}", answer.text);
        answer
    }

    /// Loads `identifier` and plays it on a connected player.
    pub async fn play(&self, session: &str, guild: u64, identifier: &str) -> Track {
        let track = self.load_track(identifier).await;
        let answer = self
            .update(
                session,
                guild,
                json!({ "track": { "encoded": track.encoded } }),
            )
            .await;
        assert_eq!(answer.status, 200, "{}", answer.text);
        track
    }
}

/// Percent-encodes a query value.
pub fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

pub fn voice() -> VoiceState {
    VoiceState {
        token: "token".into(),
        endpoint: "us-east1.discord.media:443".into(),
        session_id: "voice-session".into(),
        channel_id: Some("123456789012345678".into()),
    }
}

pub fn voice_json() -> Value {
    serde_json::to_value(voice()).expect("voice json")
}

/// A client socket.
pub struct Socket {
    pub stream: WebSocketStream<MaybeTlsStream<TcpStream>>,
    pub session_id: String,
    pub resumed: bool,
    pub resumed_header: Option<String>,
}

/// Opens a socket; answers the stream and the upgrade response.
pub async fn handshake(
    node: &SimNode,
    password: Option<&str>,
    user_id: Option<&str>,
    session_id: Option<&str>,
) -> Result<
    (
        WebSocketStream<MaybeTlsStream<TcpStream>>,
        http::Response<()>,
    ),
    tokio_websockets::Error,
> {
    let mut builder = tokio_websockets::ClientBuilder::new()
        .uri(&node.ws_url())
        .expect("uri");
    let headers = [
        ("authorization", password),
        ("user-id", user_id),
        ("session-id", session_id),
        ("client-name", Some("sim-tests/0.1")),
    ];
    for (name, value) in headers {
        if let Some(value) = value {
            builder = builder
                .add_header(
                    HeaderName::from_static(name),
                    HeaderValue::from_str(value).expect("header"),
                )
                .expect("add header");
        }
    }
    tokio::time::timeout(GUARD, builder.connect())
        .await
        .expect("handshake timed out")
}

/// Connects (resuming `session_id` if given) and reads `ready` (and, for a new session, the
/// first `stats`).
pub async fn connect_resuming(node: &SimNode, session_id: Option<&str>) -> Socket {
    let (stream, response) = handshake(node, Some(node.password()), Some("42"), session_id)
        .await
        .expect("handshake");
    let resumed_header = response
        .headers()
        .get("session-resumed")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let mut socket = Socket {
        stream,
        session_id: String::new(),
        resumed: false,
        resumed_header,
    };
    let IncomingMessage::Ready(ready) = socket.next().await else {
        panic!("first message is not ready");
    };
    socket.session_id = ready.session_id;
    socket.resumed = ready.resumed;
    if !ready.resumed {
        socket.stats().await;
    }
    socket
}

pub async fn connect(node: &SimNode) -> Socket {
    connect_resuming(node, None).await
}

impl Socket {
    /// The next frame, whatever it is (None: the stream ended).
    pub async fn frame(&mut self) -> Option<Result<Message, tokio_websockets::Error>> {
        tokio::time::timeout(GUARD, self.stream.next())
            .await
            .expect("no frame in time")
    }

    /// The next message.
    pub async fn next(&mut self) -> IncomingMessage {
        loop {
            let frame = self
                .frame()
                .await
                .expect("socket ended")
                .expect("socket error");
            if let Some(text) = frame.as_text() {
                return IncomingMessage::from_json(text).expect("valid message");
            }
            assert!(!frame.is_close(), "socket closed: {:?}", frame.as_close());
        }
    }

    /// The next message that matches.
    pub async fn until(
        &mut self,
        mut wanted: impl FnMut(&IncomingMessage) -> bool,
    ) -> IncomingMessage {
        loop {
            let message = self.next().await;
            if wanted(&message) {
                return message;
            }
        }
    }

    /// The next event, skipping stats and player updates.
    pub async fn event(&mut self) -> Event {
        match self.until(|m| matches!(m, IncomingMessage::Event(_))).await {
            IncomingMessage::Event(event) => event,
            _ => unreachable!(),
        }
    }

    /// The next player update, skipping stats (fails on an event).
    pub async fn update(&mut self) -> PlayerUpdate {
        loop {
            match self.next().await {
                IncomingMessage::PlayerUpdate(update) => return update,
                IncomingMessage::Stats(_) => {}
                other => panic!("expected playerUpdate, got {other:?}"),
            }
        }
    }

    /// The next stats, skipping everything else.
    pub async fn stats(&mut self) -> Stats {
        match self.until(|m| matches!(m, IncomingMessage::Stats(_))).await {
            IncomingMessage::Stats(stats) => stats,
            _ => unreachable!(),
        }
    }

    /// Reads until the node ends the socket: the code of its close frame, or `None` when the
    /// connection ended without one.
    pub async fn ended(&mut self) -> Option<u16> {
        loop {
            match self.frame().await {
                None | Some(Err(_)) => return None,
                Some(Ok(frame)) => {
                    if let Some((code, _)) = frame.as_close() {
                        return Some(u16::from(code));
                    }
                }
            }
        }
    }

    /// The next `WebSocketClosedEvent`, skipping stats and player updates (fails on another
    /// event).
    pub async fn voice_closed(&mut self) -> WebSocketClosed {
        match self.event().await {
            Event::WebSocketClosed(closed) => closed,
            other => panic!("expected WebSocketClosedEvent, got {other:?}"),
        }
    }

    /// Closes the socket from the client side and waits for the node's reply.
    pub async fn close(mut self) {
        let _ = self.stream.send(Message::close(None, "")).await;
        while let Ok(Some(Ok(_))) = tokio::time::timeout(GUARD, self.stream.next()).await {}
    }
}

/// The event type name.
pub fn kind(event: &Event) -> &'static str {
    match event {
        Event::TrackStart(_) => "start",
        Event::TrackEnd(_) => "end",
        Event::TrackException(_) => "exception",
        Event::TrackStuck(_) => "stuck",
        Event::WebSocketClosed(_) => "closed",
        Event::Unknown(_) => "unknown",
    }
}
