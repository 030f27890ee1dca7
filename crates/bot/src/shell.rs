//! Carrying out the music engine's effects: player updates go to the cluster, state changes to the
//! store (first, so a crash between effects restores to the new state), notices back to the caller.
//! Also the way back: restoring every guild's engine from the store at start.

use std::sync::Arc;

use cluster::{Applied, Cluster, ClusterError};
use lavalink::model::{Filters, GuildId, UpdatePlayer, UpdatePlayerTrack};
use music::{Effect, Entry, GuildPlayer, Notice, Snapshot, StoreOp};
use store::{PositionWrite, Store};

/// What carrying out a batch of effects produced.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Notices for the users, in order.
    pub notices: Vec<Notice>,
    /// The engine asked to leave the voice channel (the player is already destroyed).
    pub disconnect: bool,
    /// No Lavalink node could take the player: its state is kept and playback starts by itself
    /// when a node returns ("audio nodes are unavailable, your queue is kept").
    pub nodes_unavailable: bool,
    /// The effects could not be carried out (set by the caller that got the error).
    pub failed: bool,
    /// The queue ended with autoplay on: find a track related to this entry.
    pub autoplay: Option<Entry>,
}

/// An effect that could not be carried out.
#[derive(Debug, thiserror::Error)]
pub enum ShellError {
    /// The cluster refused a player update.
    #[error("audio node error: {0}")]
    Cluster(ClusterError),
    /// The store failed.
    #[error("store error: {0}")]
    Store(store::Error),
}

// The cause is part of the message (printed once), so it is not also returned as `source()`.
impl From<ClusterError> for ShellError {
    fn from(error: ClusterError) -> Self {
        Self::Cluster(error)
    }
}

impl From<store::Error> for ShellError {
    fn from(error: store::Error) -> Self {
        Self::Store(error)
    }
}

impl ShellError {
    /// What a listener is told: what failed, in words, without the internals (those go to the
    /// log and the metrics).
    pub fn for_listeners(&self) -> &'static str {
        match self {
            Self::Cluster(_) => {
                "Something went wrong talking to the audio node: try again in a moment."
            }
            Self::Store(_) => {
                "Something went wrong saving the queue: the change was not kept. Try again in a moment."
            }
        }
    }
}

/// Carries out effects for any guild.
#[derive(Clone)]
pub struct Shell {
    cluster: Cluster,
    store: Arc<dyn Store>,
}

impl std::fmt::Debug for Shell {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shell").finish_non_exhaustive()
    }
}

impl Shell {
    /// A shell over the cluster and the store.
    pub fn new(cluster: Cluster, store: Arc<dyn Store>) -> Self {
        Self { cluster, store }
    }

    /// The cluster.
    pub fn cluster(&self) -> &Cluster {
        &self.cluster
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// Carries out `effects` for `guild`, in order; stops at the first that fails.
    pub async fn apply(&self, guild: GuildId, effects: Vec<Effect>) -> Result<Outcome, ShellError> {
        let mut outcome = Outcome::default();
        for effect in effects {
            match effect {
                Effect::Persist(op) => self.persist(guild, op).await?,
                Effect::Notify(notice) => outcome.notices.push(notice),
                Effect::Autoplay { seed } => outcome.autoplay = Some(seed),
                Effect::Disconnect => {
                    self.cluster.destroy(guild).await?;
                    outcome.disconnect = true;
                }
                player => {
                    let update = player_update(player);
                    // Kept: no node has the player yet. That is only news when no node could take
                    // it at all (not merely because the voice connection is still on its way).
                    if self.cluster.update(guild, update).await? == Applied::Kept
                        && !self.cluster.has_eligible_node()
                    {
                        outcome.nodes_unavailable = true;
                    }
                }
            }
        }
        Ok(outcome)
    }

    /// The position write that `effects` stand for when they are nothing but position saves (what
    /// [`GuildPlayer::player_update`] returns), or `None` for anything else (to carry out with
    /// [`Shell::apply`], in order). The position tick collects these from every playing guild
    /// and writes them with one [`Shell::save_positions`].
    pub fn position_write(guild: GuildId, effects: &[Effect]) -> Option<PositionWrite> {
        let mut write = None;
        for effect in effects {
            match effect {
                Effect::Persist(StoreOp::SavePosition { position, paused }) => {
                    write = Some(PositionWrite::new(guild.0, *position, *paused));
                }
                _ => return None,
            }
        }
        write
    }

    /// Writes the position saves of many guilds in one store call ([`Store::save_positions`]: a
    /// guild the store holds a newer position for is left alone); returns how many were written.
    pub async fn save_positions(&self, writes: &[PositionWrite]) -> Result<usize, store::Error> {
        self.store.save_positions(writes).await
    }

    async fn persist(&self, guild: GuildId, op: StoreOp) -> Result<(), store::Error> {
        let g = guild.0;
        match op {
            StoreOp::Enqueue { entries, at } => {
                let entries: Vec<_> = entries.iter().map(to_store).collect();
                self.store.enqueue(g, &entries, at).await.map(drop)
            }
            StoreOp::Remove { index } => self.store.remove(g, index).await.map(drop),
            StoreOp::Move { from, to } => self.store.move_entry(g, from, to).await,
            StoreOp::ClearQueue => self.store.clear_queue(g).await.map(drop),
            StoreOp::ReplaceQueue(entries) => {
                let entries: Vec<_> = entries.iter().map(to_store).collect();
                self.store.replace_queue(g, &entries).await
            }
            StoreOp::SetCurrent { entry, position } => {
                let entry = entry.as_ref().map(to_store);
                self.store.set_current(g, entry.as_ref(), position).await
            }
            StoreOp::Advance {
                finished,
                at_unix_ms,
            } => self.store.advance(g, finished, at_unix_ms).await.map(drop),
            StoreOp::SavePosition { position, paused } => self
                .store
                .save_position(g, position, paused)
                .await
                .map(drop),
            StoreOp::SetVolume(volume) => self.store.set_volume(g, volume).await,
            StoreOp::SetLoop(mode) => self.store.set_loop(g, mode).await,
            StoreOp::SetFilters(filters) => self.store.set_filters(g, &filters).await,
            StoreOp::SetStay(stay) => self.store.set_stay(g, stay).await,
            StoreOp::SetAutoplay(autoplay) => self.store.set_autoplay(g, autoplay).await,
            StoreOp::AddHistory {
                entry,
                played_at_unix_ms,
            } => self
                .store
                .add_history(g, &to_store(&entry), played_at_unix_ms)
                .await
                .map(drop),
            StoreOp::RemoveHistory { id } => self.store.remove_history(g, id).await.map(drop),
            StoreOp::ForgetGuild => self.store.forget_guild(g).await.map(drop),
        }
    }

    /// Every stored guild on the shards of `scope` with its engine restored (not yet playing: call
    /// [`GuildPlayer::resume_from_snapshot`] once the voice connection is back), its voice channel
    /// and its text channel; and apart, the guilds whose stored rows are damaged (not restored).
    pub async fn restore(
        &self,
        scope: store::HandoverScope,
    ) -> Result<(Vec<Restored>, Vec<store::Damaged>), store::Error> {
        let loaded = self.store.load_guilds(scope).await?;
        Ok((loaded.guilds.iter().map(restored).collect(), loaded.damaged))
    }
}

/// An entry as the store keeps it, back as the engine's (`None`, logged, when its track no longer
/// decodes).
pub fn from_store(guild: u64, e: &store::QueueEntry) -> Option<Entry> {
    let decoded = Entry::decode(&e.track, e.requester_id, e.added_at_unix_ms);
    if let Err(error) = &decoded {
        tracing::error!(guild, %error, "a stored track no longer decodes; it is dropped");
    }
    decoded.ok()
}

/// One guild as it was stored.
#[derive(Debug)]
pub struct Restored {
    /// The guild.
    pub guild: GuildId,
    /// Its engine, at the stored state.
    pub player: GuildPlayer,
    /// The voice channel the bot was in.
    pub voice_channel: Option<u64>,
    /// The text channel it reported to.
    pub text_channel: Option<u64>,
    /// `/play` requests waiting for a Lavalink node.
    pub waiting: Vec<store::WaitingRequest>,
    /// The now-playing panel's message.
    pub panel: Option<store::PanelMessage>,
}

fn restored(state: &store::GuildState) -> Restored {
    let entry = |e: &store::QueueEntry| from_store(state.guild_id, e);
    let snapshot = Snapshot {
        queue: state.queue.iter().filter_map(entry).collect(),
        current: state.current.as_ref().and_then(entry),
        position: state.position,
        paused: state.paused,
        volume: state.volume,
        loop_mode: state.loop_mode,
        filters: state.filters.clone(),
        stay: state.stay,
        autoplay: state.autoplay,
    };
    Restored {
        guild: GuildId(state.guild_id),
        player: GuildPlayer::restore(snapshot),
        voice_channel: state.voice_channel_id,
        text_channel: state.text_channel_id,
        waiting: state.waiting.clone(),
        panel: state.panel,
    }
}

/// The player update an effect stands for.
fn player_update(effect: Effect) -> UpdatePlayer {
    match effect {
        Effect::Play {
            entry,
            position_ms,
            paused,
            volume,
            filters,
            play_id,
        } => UpdatePlayer {
            track: Some(Some(UpdatePlayerTrack {
                encoded: Some(Some(entry.encoded)),
                identifier: None,
                user_data: Some(music::play_user_data(play_id)),
            })),
            position: Some(position_ms),
            paused: Some(paused),
            volume: Some(i64::from(volume)),
            // A new player starts without filters; one that has them is sent them whole.
            filters: (filters != Filters::default()).then_some(filters),
            ..UpdatePlayer::default()
        },
        Effect::Stop => UpdatePlayer {
            track: Some(Some(UpdatePlayerTrack::stop())),
            ..UpdatePlayer::default()
        },
        Effect::Pause(paused) => UpdatePlayer {
            paused: Some(paused),
            ..UpdatePlayer::default()
        },
        Effect::Seek(position) => UpdatePlayer {
            position: Some(position),
            ..UpdatePlayer::default()
        },
        Effect::SetVolume(volume) => UpdatePlayer {
            volume: Some(i64::from(volume)),
            ..UpdatePlayer::default()
        },
        Effect::SetFilters(filters) => UpdatePlayer {
            filters: Some(filters),
            ..UpdatePlayer::default()
        },
        Effect::Persist(_) | Effect::Notify(_) | Effect::Disconnect | Effect::Autoplay { .. } => {
            UpdatePlayer::default()
        }
    }
}

/// An entry as the store keeps it.
pub fn to_store(entry: &Entry) -> store::QueueEntry {
    store::QueueEntry {
        track: entry.encoded.clone(),
        requester_id: entry.requester_id,
        title: entry.info.title.clone(),
        author: entry.info.author.clone(),
        // A server that does not know the length says -1: kept as 0 (the column is unsigned).
        length_ms: u64::try_from(entry.info.length).unwrap_or(0),
        uri: entry.info.uri.clone(),
        added_at_unix_ms: entry.added_at_unix_ms,
    }
}

#[cfg(test)]
mod tests {
    use cluster::ClusterError;
    use lavalink::client::{Endpoint, RestError};
    use music::{Effect, Notice, PositionSnapshot, StoreOp};
    use store::PositionWrite;

    use super::{GuildId, Shell, ShellError};

    /// An error as `anyhow`'s `{:#}` prints it: its message, then each source's after ": ".
    fn chain(error: &(dyn std::error::Error + 'static)) -> String {
        std::iter::successors(Some(error), |e| e.source())
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(": ")
    }

    /// Each cause is printed once through the layers (shell, cluster, node client, store), so a
    /// log line or an `anyhow` chain never repeats one.
    #[test]
    fn every_cause_is_printed_once() {
        let serde = serde_json::from_str::<u8>("[]").expect_err("not a number");
        let said = serde.to_string();
        let cluster = ShellError::from(ClusterError::Node {
            node: "a".into(),
            cause: RestError::Decode {
                endpoint: Endpoint::LoadTracks,
                cause: serde,
            },
        });
        let printed = chain(&cluster);
        assert_eq!(printed.matches(&said).count(), 1, "{printed}");
        assert!(
            printed.starts_with("audio node error: node a: "),
            "{printed}"
        );

        let store = ShellError::from(store::Error::Database {
            operation: "enqueue",
            guild_id: Some(7),
            cause: sqlx::Error::RowNotFound,
        });
        let said = sqlx::Error::RowNotFound.to_string();
        let printed = chain(&store);
        assert_eq!(printed.matches(&said).count(), 1, "{printed}");
    }

    fn save(position_ms: u64, at: u64, paused: bool) -> Effect {
        Effect::Persist(StoreOp::SavePosition {
            position: PositionSnapshot::new(position_ms, at),
            paused,
        })
    }

    #[test]
    fn only_position_saves_become_a_position_write() {
        let guild = GuildId(7);
        assert_eq!(
            Shell::position_write(guild, &[save(1_000, 5, false)]),
            Some(PositionWrite::new(
                7,
                PositionSnapshot::new(1_000, 5),
                false
            ))
        );
        // The last save is what the store ends up with.
        assert_eq!(
            Shell::position_write(guild, &[save(1, 1, true), save(2, 2, false)]),
            Some(PositionWrite::new(7, PositionSnapshot::new(2, 2), false))
        );
        assert_eq!(Shell::position_write(guild, &[]), None);
        // Anything else goes through `apply`, in order, saves included.
        assert_eq!(
            Shell::position_write(guild, &[save(1, 1, false), Effect::Pause(true)]),
            None
        );
        assert_eq!(
            Shell::position_write(
                guild,
                &[save(1, 1, false), Effect::Notify(Notice::QueueFinished)]
            ),
            None
        );
    }
}
