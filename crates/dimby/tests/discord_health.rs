//! The Discord shard probes and readiness against the Discord stand-in.

use std::time::Duration;

use admin::checks::{HealthContext, ProbeSettings, probes};
use cluster::{Cluster, ClusterConfig};
use health::{HealthRegistry, Status};
use test_support::discord_layer::setup;

async fn wait_status(registry: &HealthRegistry, check: &str, status: Status) {
    let mut updates = registry.subscribe();
    tokio::time::timeout(Duration::from_secs(15), async {
        loop {
            if registry
                .results()
                .iter()
                .any(|r| r.spec.name == check && r.status == status)
            {
                return;
            }
            let _ = updates.recv().await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("{check} never became {status:?}"));
}

#[tokio::test]
async fn shards_are_probed_and_gate_readiness() {
    let (sim, _guild, discord, _events) = setup().await;
    let (cluster, _cluster_events) = Cluster::start(
        ClusterConfig::new(1, Vec::new()),
        clock::SystemClock::shared(),
    )
    .expect("cluster");
    let registry = HealthRegistry::new(clock::SystemClock::shared());
    let context = HealthContext {
        registry: registry.clone(),
        cluster,
        store: None,
        discord: Some(discord.clone()),
        options: admin::checks::HealthOptions::default(),
    };
    context.start(ProbeSettings {
        interval: Duration::from_millis(50),
        timeout: Duration::from_secs(1),
        failure_threshold: 1,
    });
    wait_status(&registry, probes::SHARD_CONNECTED, Status::Pass).await;
    let parts = context.readiness();
    let discord_part = parts
        .iter()
        .find(|p| p.name == "discord")
        .expect("a discord part");
    assert!(discord_part.ready, "{discord_part:?}");

    // An invalid token is fatal: the shard stops, the probe fails and readiness says so.
    sim.faults().close_connections(4004);
    wait_status(&registry, probes::SHARD_CONNECTED, Status::Fail).await;
    let parts = context.readiness();
    assert!(
        !parts.iter().any(|p| p.name == "discord" && p.ready),
        "{parts:?}"
    );
}

#[tokio::test]
async fn the_control_channels_permissions_are_probed() {
    use twilight_model::channel::permission_overwrite::{
        PermissionOverwrite, PermissionOverwriteType,
    };
    use twilight_model::guild::Permissions;

    let (sim, guild, discord, _events) = setup().await;
    let (cluster, _cluster_events) = Cluster::start(
        ClusterConfig::new(1, Vec::new()),
        clock::SystemClock::shared(),
    )
    .expect("cluster");
    let probe = admin::checks::bot_probes::PermissionsProbe::new(
        discord.clone(),
        cluster,
        Some(guild.text_channel()),
        ProbeSettings::default(),
    );
    let pass = health::Probe::check(&probe).await;
    assert_eq!(pass.status, Status::Pass, "{pass:?}");

    // Someone takes Embed Links away from @everyone in the control channel.
    sim.set_channel_overwrite(
        guild.text_channel(),
        PermissionOverwrite {
            allow: Permissions::empty(),
            deny: Permissions::EMBED_LINKS,
            id: guild.everyone_role.cast(),
            kind: PermissionOverwriteType::Role,
        },
    )
    .expect("overwrite");
    let failed = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let observation = health::Probe::check(&probe).await;
            if observation.status == Status::Fail {
                return observation;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("the cache saw the overwrite and the probe failed");
    assert!(
        failed
            .output
            .as_deref()
            .is_some_and(|o| o.contains("control channel lacks") && o.contains("EMBED_LINKS")),
        "{failed:?}"
    );
}
