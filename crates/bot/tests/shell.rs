//! The music engine's effects carried out on stand-in nodes and a real SQLite store: the queue
//! advances on the node's TrackEnd, everything is written through, and a restart restores the
//! queue and plays on where it was.

use std::sync::Arc;
use std::time::Duration;

use bot::shell::Shell;
use clock::ManualClock;
use cluster::{Applied, Cluster, ClusterConfig, ClusterEvent};
use lavalink::model::{Event, GuildId, UpdatePlayer, VoiceState};
use music::{GuildPlayer, Notice};
use sim::lavalink::SimNode;
use tokio::sync::mpsc::UnboundedReceiver;

const GUILD: GuildId = GuildId(4242);
const USER: u64 = 77;
const EPOCH_MS: u64 = 1_800_000_000_000;

struct Rig {
    clock: ManualClock,
    node: SimNode,
    shell: Shell,
    events: UnboundedReceiver<ClusterEvent>,
    _dir: tempfile::TempDir,
}

impl Rig {
    fn now_ms(&self) -> u64 {
        EPOCH_MS + u64::try_from(self.clock.elapsed().as_millis()).expect("ms")
    }

    async fn track(&self, identifier: &str) -> lavalink::model::Track {
        let loaded = self
            .shell
            .cluster()
            .load_tracks(identifier)
            .await
            .expect("load");
        loaded.tracks()[0].clone()
    }

    /// The identifier the stand-in plays for the guild now.
    fn playing(&self) -> Option<String> {
        let session = self.node.sessions().first()?.id.clone();
        let player = self.node.player(&session, GUILD)?;
        Some(player.track?.info.identifier)
    }

    /// Feeds the guild's player events to `engine` until `stop` says so; returns all notices.
    async fn run_until(
        &mut self,
        engine: &mut GuildPlayer,
        mut stop: impl FnMut(&Event) -> bool,
    ) -> Vec<Notice> {
        let mut notices = Vec::new();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let event = tokio::time::timeout_at(deadline, self.events.recv())
                .await
                .expect("the awaited event within the guard")
                .expect("cluster alive");
            if let ClusterEvent::Player { guild, event, .. } = event
                && guild == GUILD
            {
                let effects = engine.on_event(&event, self.now_ms());
                let outcome = self.shell.apply(GUILD, effects).await.expect("apply");
                notices.extend(outcome.notices);
                if stop(&event) {
                    return notices;
                }
            }
        }
    }
}

async fn rig() -> Rig {
    let clock = ManualClock::new();
    let node = SimNode::start(sim::lavalink::NodeConfig::default().with_clock(clock.shared()))
        .await
        .expect("stand-in");
    let spec = test_support::node_spec(&node);
    let (cluster, mut events) =
        Cluster::start(ClusterConfig::new(1, vec![spec]), clock.shared()).expect("cluster");
    loop {
        if let Some(ClusterEvent::NodeReady { .. }) = events.recv().await {
            break;
        }
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let store = store::SqliteStore::open(&store::SqliteConfig::new(dir.path()))
        .await
        .expect("store");
    let voice = UpdatePlayer {
        voice: Some(VoiceState {
            token: "t".into(),
            endpoint: "sim-voice-eu-1.discord.media:443".into(),
            session_id: "s".into(),
            channel_id: Some("99".into()),
        }),
        ..UpdatePlayer::default()
    };
    assert!(matches!(
        cluster.update(GUILD, voice).await.expect("voice"),
        Applied::OnNode(_)
    ));
    Rig {
        clock,
        node,
        shell: Shell::new(cluster, Arc::new(store)),
        events,
        _dir: dir,
    }
}

#[tokio::test]
async fn the_queue_advances_on_track_end_and_survives_a_restart() {
    let mut rig = rig().await;
    let mut engine = GuildPlayer::new();
    let first = rig.track("sim:length:3000").await;
    let second = rig.track("sim:length:60000").await;
    let effects = engine
        .play(vec![first, second], USER, rig.now_ms())
        .expect("play");
    let answer = rig.shell.apply(GUILD, effects).await.expect("apply");
    assert_eq!(rig.playing().as_deref(), Some("sim:length:3000"));
    // The answer to /play says what plays now, so its TrackStart does not say it again.
    assert!(
        answer
            .notices
            .iter()
            .any(|n| n.to_string().starts_with("Now playing")),
        "{:?}",
        answer.notices
    );
    let started = rig
        .run_until(&mut engine, |e| matches!(e, Event::TrackStart(_)))
        .await;
    assert!(
        !started
            .iter()
            .any(|n| matches!(n, Notice::NowPlaying { .. })),
        "{started:?}"
    );

    // The first track ends: the engine advances and the node plays the second.
    rig.clock.advance(Duration::from_secs(3));
    rig.run_until(&mut engine, |e| matches!(e, Event::TrackStart(_)))
        .await;
    assert_eq!(rig.playing().as_deref(), Some("sim:length:60000"));
    let stored = rig
        .shell
        .store()
        .load_guild(GUILD.0)
        .await
        .expect("load")
        .expect("stored");
    assert_eq!(
        stored.current.map(|c| c.title),
        Some(engine.current().expect("current").info.title.clone())
    );
    assert!(stored.queue.is_empty());

    // Ten seconds in, the player reports its position; the engine writes it through.
    rig.clock.advance(Duration::from_secs(10));
    rig.node.settle().await;
    let position = rig
        .shell
        .cluster()
        .player(GUILD)
        .expect("player")
        .position_ms;
    let effects = engine.player_update(position, rig.now_ms());
    rig.shell.apply(GUILD, effects).await.expect("apply");

    // A new process: the engine comes back from the store and plays on from the saved position.
    let (restored, damaged) = rig
        .shell
        .restore(store::HandoverScope::whole(1))
        .await
        .expect("restore");
    assert_eq!(restored.len(), 1);
    assert!(damaged.is_empty());
    let mut again = restored.into_iter().next().expect("guild").player;
    assert_eq!(
        again.current().map(|e| e.info.identifier.clone()),
        engine.current().map(|e| e.info.identifier.clone())
    );
    let effects = again.resume_from_snapshot(rig.now_ms());
    rig.shell.apply(GUILD, effects).await.expect("apply");
    let saved = rig
        .shell
        .cluster()
        .player(GUILD)
        .expect("player")
        .record
        .position
        .position_ms;
    assert!(
        saved >= 9_000,
        "resumed near where it was ({position} ms), not from the start: {saved}"
    );
}
