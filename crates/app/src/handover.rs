//! The handover between two bot processes through the store: the stopping one writes what its
//! successor needs (the gateway sessions, the Discord cache, the Lavalink sessions it detached),
//! and the successor takes the records at its start and resumes from them, so that listeners hear
//! no gap and no interaction goes unanswered.

use std::time::Duration;

/// How old a gateway record may be and still be resumed: Discord keeps a closed session for a
/// few minutes (it does not document how long); past this the successor identifies afresh.
pub const GATEWAY_RECORD_LIFE: Duration = Duration::from_secs(120);

/// What a successor takes over from its predecessor.
#[derive(Debug, Default)]
pub struct Predecessor {
    /// The shards' gateway sessions, to resume.
    pub shards: Vec<discord::ShardHandover>,
    /// The Discord cache, to replay for the resumed shards.
    pub cache: discord::CacheSnapshot,
    /// The Lavalink sessions left playing, to resume and adopt.
    pub lavalink: Vec<cluster::DetachedSession>,
}

impl Predecessor {
    /// Whether there is anything to take over.
    pub fn is_empty(&self) -> bool {
        self.shards.is_empty() && self.lavalink.is_empty()
    }

    /// Takes the handover records from the store (they are deleted as they are read: two
    /// processes never take the same one). Records too old to resume are left out and logged:
    /// gateway ones past [`GATEWAY_RECORD_LIFE`], Lavalink ones past the node's resume timeout.
    pub async fn take(
        store: &dyn store::Store,
        scope: store::HandoverScope,
        now_unix_ms: u64,
        lavalink_life: Duration,
    ) -> Result<Self, store::Error> {
        let fresh = |saved_at: u64, life: Duration| {
            now_unix_ms.saturating_sub(saved_at)
                <= u64::try_from(life.as_millis()).unwrap_or(u64::MAX)
        };
        let mut taken = Self::default();
        for record in store.take_gateway_sessions(scope).await? {
            if !fresh(record.saved_at_unix_ms, GATEWAY_RECORD_LIFE) {
                tracing::warn!(
                    shard = record.shard_id,
                    age_ms = now_unix_ms.saturating_sub(record.saved_at_unix_ms),
                    "a handed-over gateway session is too old to resume; the shard identifies afresh"
                );
                continue;
            }
            taken.shards.push(discord::ShardHandover {
                shard: record.shard_id,
                total: record.shard_total,
                session: Some(discord::Session::new(record.sequence, record.session_id)),
                resume_url: Some(record.resume_url),
            });
        }
        let cache = store.take_discord_cache(scope).await?;
        match cache {
            Some(_) if taken.shards.is_empty() => {
                tracing::info!("a handed-over Discord cache without sessions to resume is dropped");
            }
            Some(record) => match serde_json::from_str(&record.snapshot) {
                Ok(cache) => taken.cache = cache,
                Err(error) => tracing::warn!(
                    %error,
                    "the handed-over Discord cache cannot be read; the resumed shards start with an empty cache"
                ),
            },
            // A resumed session gets no GUILD_CREATE: without the cache its shard would not know
            // its guilds (the records of another scope, after the shards were split anew).
            None if !taken.shards.is_empty() => {
                tracing::warn!(
                    shards = taken.shards.len(),
                    %scope,
                    "handed-over gateway sessions came without a Discord cache for this scope; the shards identify afresh"
                );
                taken.shards.clear();
            }
            None => {}
        }
        for record in store.take_lavalink_sessions(scope).await? {
            if !fresh(record.saved_at_unix_ms, lavalink_life) {
                tracing::warn!(
                    node = %record.node,
                    age_ms = now_unix_ms.saturating_sub(record.saved_at_unix_ms),
                    "a handed-over Lavalink session is past its resume timeout; its players start again from the store"
                );
                continue;
            }
            taken.lavalink.push(cluster::DetachedSession {
                node: record.node,
                session_id: record.session_id,
            });
        }
        if !taken.is_empty() {
            tracing::info!(
                shards = taken.shards.len(),
                cached_guilds = taken.cache.len(),
                lavalink_sessions = taken.lavalink.len(),
                %scope,
                "taking over from a predecessor"
            );
        }
        Ok(taken)
    }
}

/// What a stopping process leaves its successor.
pub struct Records {
    /// The shards of the stopping process: its successor takes only these records.
    pub scope: store::HandoverScope,
    /// The Lavalink sessions it detached.
    pub lavalink: Vec<store::LavalinkSession>,
    /// The shards' sessions.
    pub gateway: Vec<store::GatewaySession>,
    /// Its Discord cache.
    pub cache: Option<store::DiscordCache>,
}

impl Records {
    /// The records of a handover stop: the detached Lavalink sessions, the shards closed
    /// resumably, and the cache as it was at the close.
    pub fn of(
        scope: store::HandoverScope,
        detached: Vec<cluster::DetachedSession>,
        shards: Vec<discord::ShardHandover>,
        cache: &discord::CacheSnapshot,
        saved_at_unix_ms: u64,
    ) -> Self {
        let gateway: Vec<store::GatewaySession> = shards
            .into_iter()
            .filter_map(|shard| {
                let session = shard.session?;
                Some(store::GatewaySession {
                    shard_id: shard.shard,
                    shard_total: shard.total,
                    session_id: session.id().to_owned(),
                    sequence: session.sequence(),
                    resume_url: shard.resume_url?,
                    saved_at_unix_ms,
                })
            })
            .collect();
        let cache = if gateway.is_empty() {
            None
        } else {
            match serde_json::to_string(cache) {
                Ok(snapshot) => Some(store::DiscordCache {
                    snapshot,
                    saved_at_unix_ms,
                }),
                Err(error) => {
                    tracing::error!(%error, "could not write the Discord cache for the successor");
                    None
                }
            }
        };
        Self {
            scope,
            lavalink: detached
                .into_iter()
                .map(|session| store::LavalinkSession {
                    node: session.node,
                    session_id: session.session_id,
                    saved_at_unix_ms,
                })
                .collect(),
            gateway,
            cache,
        }
    }

    /// Writes them; a record that cannot be written is logged and the others still are.
    pub async fn save(self, store: &dyn store::Store) {
        let (lavalink, gateway) = (self.lavalink.len(), self.gateway.len());
        for session in &self.lavalink {
            if let Err(error) = store.save_lavalink_session(self.scope, session).await {
                tracing::error!(node = %session.node, %error, "could not write a Lavalink handover record");
            }
        }
        for session in &self.gateway {
            if let Err(error) = store.save_gateway_session(session).await {
                tracing::error!(shard = session.shard_id, %error, "could not write a gateway handover record");
            }
        }
        let cache_bytes = self.cache.as_ref().map_or(0, |c| c.snapshot.len());
        if let Some(cache) = &self.cache
            && let Err(error) = store.save_discord_cache(self.scope, cache).await
        {
            tracing::error!(%error, "could not write the Discord cache handover record");
        }
        tracing::info!(
            lavalink,
            gateway,
            cache_bytes,
            scope = %self.scope,
            "handover records written for the successor"
        );
    }
}
