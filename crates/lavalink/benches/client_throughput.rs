//! How much CPU the client needs to take a stream of playerUpdates from one node.
//!
//! A minimal socket server (tokio-websockets' server side, no Lavalink logic) sends `ready` and then
//! batches of pre-serialized playerUpdates as fast as the connection takes them; the measured time
//! is from the first frame of a batch being written to the last event leaving the client's channel,
//! i.e. socket read, frame decode, message parse, receive stamp and channel hand-off. The printed
//! figure converts that into the share of one core needed for 10,000 playerUpdates a second.

#![allow(clippy::disallowed_methods, reason = "a benchmark measures real time")]
// criterion's macros generate undocumented items.
#![allow(missing_docs)]

use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use futures_util::SinkExt;
use lavalink::client::SilencePolicy;
use lavalink::{NodeClient, NodeConfig, NodeEvent};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_websockets::Message;

const BATCH: usize = 10_000;

fn player_update(i: usize) -> String {
    format!(
        r#"{{"op":"playerUpdate","guildId":"{}","state":{{"time":1700000000000,"position":{},"connected":true,"ping":12}}}}"#,
        817_327_181_659_111_454u64 + (i as u64 % 1000),
        i * 20
    )
}

fn bench_player_updates(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let (batches_tx, mut events, _client) = runtime.block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (batches_tx, mut batches_rx) = mpsc::channel::<usize>(1);
        tokio::spawn(async move {
            let (stream, _) = listener.accept().await.expect("accept");
            let (_request, mut socket) = tokio_websockets::ServerBuilder::new()
                .accept(stream)
                .await
                .expect("handshake");
            socket
                .send(Message::text(
                    r#"{"op":"ready","resumed":false,"sessionId":"bench"}"#.to_owned(),
                ))
                .await
                .expect("ready");
            let frames: Vec<String> = (0..BATCH).map(player_update).collect();
            while let Some(count) = batches_rx.recv().await {
                for frame in frames.iter().take(count) {
                    socket
                        .feed(Message::text(frame.clone()))
                        .await
                        .expect("feed");
                }
                socket.flush().await.expect("flush");
            }
        });
        let mut config =
            NodeConfig::new("bench", &format!("http://{addr}"), "pw", 1).expect("config");
        config.resume_timeout = None;
        config.silence = SilencePolicy {
            ping_interval: None,
            ..SilencePolicy::default()
        };
        config.event_buffer = 4096;
        let (client, mut events) = NodeClient::connect(config, clock::SystemClock::shared());
        loop {
            match events.recv().await {
                Some(NodeEvent::Ready { .. }) => break,
                Some(_) => {}
                None => panic!("client stopped before ready"),
            }
        }
        (batches_tx, events, client)
    });

    let mut group = c.benchmark_group("client");
    group.throughput(Throughput::Elements(BATCH as u64));
    group.measurement_time(Duration::from_secs(8));
    group.sample_size(20);
    let mut per_message = Vec::new();
    group.bench_function("player_updates_10k", |b| {
        b.iter_custom(|iters| {
            runtime.block_on(async {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let started = Instant::now();
                    batches_tx.send(BATCH).await.expect("server");
                    let mut seen = 0;
                    while seen < BATCH {
                        match events.recv().await {
                            Some(NodeEvent::PlayerUpdate(_)) => seen += 1,
                            Some(other) => panic!("unexpected event {other:?}"),
                            None => panic!("client stopped"),
                        }
                    }
                    let elapsed = started.elapsed();
                    per_message.push(
                        elapsed.as_secs_f64() / f64::from(u32::try_from(BATCH).unwrap_or(u32::MAX)),
                    );
                    total += elapsed;
                }
                total
            })
        });
    });
    group.finish();
    per_message.sort_by(f64::total_cmp);
    if let Some(median) = per_message.get(per_message.len() / 2) {
        println!(
            "client: {:.2} µs per playerUpdate (median) -> {:.2}% of one core at 10,000 playerUpdates/s (target < 5%)",
            median * 1e6,
            median * 10_000.0 * 100.0
        );
    }
}

criterion_group!(benches, bench_player_updates);
criterion_main!(benches);
