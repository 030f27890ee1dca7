//! The gate's `voice_probe` check (`[deploy.probe]`): the candidate joins the staging guild's
//! voice channel on a gateway session of its own, plays the probe track there on the first
//! enabled Lavalink node (a session of its own too), and passes when the player is connected and
//! its position advances by half the listening time at least. Whatever happens, the player is
//! destroyed, the node's session closed and the voice channel left.

use std::time::Duration;

use clock::Clock as _;

use super::Found;
use crate::config::ProbeConfig;

/// How long joining voice and opening the node's session may each take.
const STEP_BOUND: Duration = Duration::from_secs(10);

/// How often the player is read while listening.
const READ_EVERY: Duration = Duration::from_millis(250);

/// The whole check's bound: joining, connecting, loading, listening, cleaning up.
pub(super) fn bound(probe: &ProbeConfig) -> Duration {
    probe.listen + STEP_BOUND * 4
}

/// Runs the probe on the first of `nodes` (the enabled ones whose own check passed).
pub(super) async fn check(
    standby: &discord::Standby,
    nodes: &[cluster::NodeSpec],
    probe: &ProbeConfig,
) -> Found<()> {
    let Some(node) = nodes.iter().find(|node| node.enabled) else {
        return Found::fail(
            "not run: no enabled Lavalink node passed its check to play the probe track on",
        );
    };
    let (Some(guild), Some(channel)) = (
        discord::GuildId::new_checked(probe.guild),
        discord::ChannelId::new_checked(probe.voice_channel),
    ) else {
        return Found::fail("deploy.probe.guild and voice_channel must not be 0");
    };
    let voice = match standby.voice_probe(guild, channel, STEP_BOUND).await {
        Ok(voice) => voice,
        Err(error) => return Found::fail(error.to_string()),
    };
    let found = play(
        standby.bot_user().get(),
        node,
        guild.get(),
        &voice.voice,
        probe,
    )
    .await;
    voice.leave(STEP_BOUND).await;
    found
}

/// The node's part: a session, the track, the listening, the cleanup.
async fn play(
    user: u64,
    node: &cluster::NodeSpec,
    guild: u64,
    voice: &lavalink::model::VoiceState,
    probe: &ProbeConfig,
) -> Found<()> {
    let config = match lavalink::NodeConfig::new(&node.name, &node.url, &node.password, user) {
        Ok(config) => config,
        Err(error) => {
            return Found::fail(format!(
                "{}: its configuration is refused: {error}",
                node.name
            ));
        }
    };
    let (client, _events) =
        lavalink::client::NodeClient::connect(config, clock::SystemClock::shared());
    let mut state = client.watch_state();
    let connected = tokio::time::timeout(STEP_BOUND, async {
        state
            .wait_for(lavalink::client::ConnectionState::is_connected)
            .await
            .is_ok()
    })
    .await;
    let found = if connected == Ok(true) {
        listen(
            &client,
            &node.name,
            lavalink::model::GuildId(guild),
            voice,
            probe,
        )
        .await
    } else {
        Found::fail(format!("{}: no session within {STEP_BOUND:?}", node.name))
    };
    let _ = tokio::time::timeout(STEP_BOUND, client.close()).await;
    found
}

/// Loads and plays the probe track, then reads the player until it advanced enough or the
/// listening time is up; destroys the player.
async fn listen(
    client: &lavalink::client::NodeClient,
    node: &str,
    guild: lavalink::model::GuildId,
    voice: &lavalink::model::VoiceState,
    probe: &ProbeConfig,
) -> Found<()> {
    let loaded = match client.rest().load_tracks(&probe.track).await {
        Ok(loaded) => loaded,
        Err(error) => return Found::fail(format!("{node}: loading the probe track: {error}")),
    };
    let track = match loaded {
        lavalink::model::LoadResult::Track(track) => track,
        lavalink::model::LoadResult::Search(tracks) => match tracks.into_iter().next() {
            Some(track) => track,
            None => return Found::fail(format!("{node}: the probe track found nothing")),
        },
        lavalink::model::LoadResult::Playlist(playlist) => match playlist.tracks.into_iter().next()
        {
            Some(track) => track,
            None => return Found::fail(format!("{node}: the probe track is an empty playlist")),
        },
        other => {
            return Found::fail(format!(
                "{node}: the probe track did not load ({})",
                other.load_type()
            ));
        }
    };
    let update = lavalink::model::UpdatePlayer {
        track: Some(Some(lavalink::model::UpdatePlayerTrack::encoded(
            track.encoded,
        ))),
        voice: Some(voice.clone()),
        ..lavalink::model::UpdatePlayer::default()
    };
    if let Err(error) = client.update_player(guild, &update, false).await {
        return Found::fail(format!("{node}: playing the probe track: {error}"));
    }
    let found = advancing(client, node, guild, probe.listen).await;
    if let Err(error) = client.destroy_player(guild).await {
        tracing::warn!(%error, node, "the voice probe's player could not be destroyed");
    }
    found
}

/// Reads the player for `listen`: passes once it is connected and its position went forward by
/// half of `listen` since the first connected reading.
async fn advancing(
    client: &lavalink::client::NodeClient,
    node: &str,
    guild: lavalink::model::GuildId,
    listen: Duration,
) -> Found<()> {
    let clock = clock::SystemClock;
    let began = clock.now();
    let needed = u64::try_from((listen / 2).as_millis()).unwrap_or(u64::MAX);
    let mut first: Option<u64> = None;
    let mut last = String::from("no reading");
    while clock.now() - began < listen {
        match client.player(guild).await {
            Ok(player) if player.state.connected && player.track.is_some() && !player.paused => {
                let position = player.state.position;
                let start = *first.get_or_insert(position);
                if position >= start + needed {
                    return Found::pass(
                        format!(
                            "{node}: connected in the staging channel, the probe track advanced {} ms",
                            position - start
                        ),
                        None,
                    );
                }
                last = format!("connected, advanced {} ms", position.saturating_sub(start));
            }
            Ok(player) => {
                last = format!(
                    "connected {}, track {}, paused {}",
                    player.state.connected,
                    player.track.is_some(),
                    player.paused
                );
            }
            Err(error) => last = format!("reading the player: {error}"),
        }
        clock.sleep(READ_EVERY).await;
    }
    Found::fail(format!(
        "{node}: the probe track did not advance {needed} ms within {listen:?} (last: {last})"
    ))
}
