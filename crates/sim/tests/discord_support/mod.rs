//! Shared helpers of the Discord stand-in tests: the bot's production path (twilight-gateway and
//! twilight-http pointed at the stand-in) and a raw WebSocket client for what twilight cannot
//! show (other compressions, close codes).

#![allow(dead_code, clippy::missing_panics_doc)]

use std::future::Future;
use std::time::Duration;

use flate2::{Decompress, FlushDecompress};
use futures_util::{SinkExt, StreamExt};
use sim::discord::{DiscordConfig, DiscordSim};
use tokio::net::TcpStream;
use tokio_websockets::{ClientBuilder, MaybeTlsStream, Message, WebSocketStream};
use twilight_gateway::queue::InMemoryQueue;
use twilight_gateway::{ConfigBuilder, Event, EventTypeFlags, Intents, Shard, ShardId};

/// The guard on every wait: long enough never to fire on a healthy run.
pub const GUARD: Duration = Duration::from_secs(10);

/// twilight needs a rustls crypto provider even for plain `ws://` and `http://`.
pub fn install_crypto() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// A stand-in with a short heartbeat interval, so heartbeats happen within a test.
pub async fn start(config: DiscordConfig) -> DiscordSim {
    install_crypto();
    DiscordSim::start(config).await.expect("stand-in starts")
}

/// A twilight shard pointed at the stand-in (no identify queue delay).
pub fn shard(sim: &DiscordSim, intents: Intents) -> Shard<InMemoryQueue> {
    shard_with_token(sim, sim.token(), intents)
}

/// A twilight shard with a given token.
pub fn shard_with_token(sim: &DiscordSim, token: &str, intents: Intents) -> Shard<InMemoryQueue> {
    install_crypto();
    let config = ConfigBuilder::new(token.to_owned(), intents)
        .proxy_url(sim.gateway_url())
        .queue(InMemoryQueue::new(0, 1000, Duration::ZERO, 1000))
        .build();
    Shard::with_config(ShardId::ONE, config)
}

/// A twilight-http client pointed at the stand-in.
pub fn http(sim: &DiscordSim) -> twilight_http::Client {
    install_crypto();
    twilight_http::Client::builder()
        .token(sim.token().to_owned())
        .proxy(sim.rest_addr().to_string(), true)
        .build()
}

/// Polls the shard until `pick` returns something (errors in between are skipped, as a bot's
/// loop does), with the guard as a failure.
pub async fn wait_event<S, T>(
    shard: &mut S,
    what: &str,
    mut pick: impl FnMut(&Event) -> Option<T>,
) -> T
where
    S: twilight_gateway::StreamExt + Unpin,
    S: futures_util::Stream<
            Item = Result<twilight_gateway::Message, twilight_gateway::error::ReceiveMessageError>,
        >,
{
    guard(what, async {
        loop {
            match shard.next_event(EventTypeFlags::all()).await {
                Some(Ok(event)) => {
                    if let Some(found) = pick(&event) {
                        return found;
                    }
                }
                Some(Err(error)) => eprintln!("shard error (skipped): {error}"),
                None => panic!("the shard ended while waiting for {what}"),
            }
        }
    })
    .await
}

/// Runs `future` under the guard.
pub async fn guard<T>(what: &str, future: impl Future<Output = T>) -> T {
    tokio::time::timeout(GUARD, future)
        .await
        .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
}

/// A raw gateway client.
pub struct RawClient {
    pub ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    pub compression: Option<&'static str>,
    inflate: Decompress,
    zstd: zstd::zstd_safe::DCtx<'static>,
}

impl RawClient {
    /// Connects with a query (`v=10&encoding=json` plus `compress` when given).
    pub async fn connect(sim: &DiscordSim, compression: Option<&'static str>) -> Self {
        let mut query = String::from("v=10&encoding=json");
        if let Some(compress) = compression {
            query.push_str("&compress=");
            query.push_str(compress);
        }
        Self::connect_query(sim, &query, compression).await
    }

    /// Connects with a raw query string.
    pub async fn connect_query(
        sim: &DiscordSim,
        query: &str,
        compression: Option<&'static str>,
    ) -> Self {
        let url = format!("{}/?{query}", sim.gateway_url());
        let (ws, _) = guard("the WebSocket handshake", async {
            ClientBuilder::new()
                .uri(&url)
                .expect("valid URL")
                .connect()
                .await
                .expect("connects")
        })
        .await;
        Self {
            ws,
            compression,
            inflate: Decompress::new(true),
            zstd: zstd::zstd_safe::DCtx::create(),
        }
    }

    /// Sends a JSON payload as a text frame.
    pub async fn send(&mut self, payload: &serde_json::Value) {
        self.ws
            .send(Message::text(payload.to_string()))
            .await
            .expect("send");
    }

    /// The next message: `Ok(json)` for a payload, `Err(code)` for a close frame.
    pub async fn next(&mut self) -> Result<serde_json::Value, Option<u16>> {
        let message = guard("a gateway message", self.ws.next())
            .await
            .expect("the connection stays open until a close frame")
            .expect("a WebSocket message");
        if let Some((code, _)) = message.as_close() {
            return Err(Some(u16::from(code)));
        }
        let bytes: Vec<u8> = message.as_payload().to_vec();
        let text = match self.compression {
            None => {
                assert!(message.is_text(), "uncompressed messages are text frames");
                String::from_utf8(bytes).expect("utf-8")
            }
            Some("zlib-stream") => {
                assert!(message.is_binary());
                assert!(bytes.ends_with(&[0, 0, 0xff, 0xff]), "Z_SYNC_FLUSH marker");
                let mut out = Vec::with_capacity(bytes.len() * 8 + 1024);
                self.inflate
                    .decompress_vec(&bytes, &mut out, FlushDecompress::Sync)
                    .expect("inflate");
                String::from_utf8(out).expect("utf-8")
            }
            Some(_) => {
                assert!(message.is_binary());
                let mut buffer = vec![0_u8; bytes.len() * 16 + 64 * 1024];
                let mut output = zstd::zstd_safe::OutBuffer::around(buffer.as_mut_slice());
                let mut input = zstd::zstd_safe::InBuffer::around(&bytes);
                self.zstd
                    .decompress_stream(&mut output, &mut input)
                    .expect("zstd");
                let len = output.pos();
                String::from_utf8(buffer[..len].to_vec()).expect("utf-8")
            }
        };
        Ok(serde_json::from_str(&text).expect("JSON payload"))
    }

    /// The next payload (a close frame fails the test).
    pub async fn payload(&mut self) -> serde_json::Value {
        self.next().await.expect("a payload, not a close frame")
    }

    /// Reads until a close frame and returns its code.
    pub async fn close_code(&mut self) -> Option<u16> {
        loop {
            if let Err(code) = self.next().await {
                return code;
            }
        }
    }

    /// Reads until a dispatch named `name`.
    pub async fn dispatch(&mut self, name: &str) -> serde_json::Value {
        loop {
            let payload = self.payload().await;
            if payload["t"] == name {
                return payload;
            }
        }
    }
}

/// A minimal Identify.
pub fn identify(token: &str, intents: u64) -> serde_json::Value {
    serde_json::json!({
        "op": 2,
        "d": {
            "token": token,
            "intents": intents,
            "properties": {"os": "linux", "browser": "raw", "device": "raw"},
        },
    })
}
