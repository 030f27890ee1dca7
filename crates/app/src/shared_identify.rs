//! The shared identify queue's slots, kept in the store: every process of the application (each
//! running its own shards, on one host with SQLite or on many with PostgreSQL) reserves its
//! identifies in the same table, so that together they keep Discord's one identify per 5 s per
//! bucket. The store is the one place all of them reach already; a queue service of its own
//! would be one more thing to run and keep available (docs/scaling.md, "Identify queue").

use std::sync::Arc;
use std::time::Duration;

use discord::identify::{IdentifySlots, SlotFuture};

/// [`IdentifySlots`] in the store, on this host's clock.
pub struct StoreSlots {
    store: Arc<dyn store::Store>,
}

impl StoreSlots {
    /// Slots in `store`.
    pub fn new(store: Arc<dyn store::Store>) -> Self {
        Self { store }
    }
}

impl IdentifySlots for StoreSlots {
    fn reserve(&self, bucket: u32, spacing: Duration) -> SlotFuture<'_> {
        Box::pin(async move {
            let now = super::serve::now_unix_ms();
            let spacing_ms = u64::try_from(spacing.as_millis()).unwrap_or(u64::MAX);
            let at = self
                .store
                .reserve_identify(bucket, now, spacing_ms)
                .await
                .map_err(|error| error.to_string())?;
            Ok(Duration::from_millis(at.saturating_sub(now)))
        })
    }
}
