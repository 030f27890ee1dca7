//! Injected time.
//!
//! Everything in DimbyBot that reasons about time (position extrapolation, silence detection, the
//! stand-ins' playback model) asks a [`Clock`] instead of calling `Instant::now()` directly. In
//! production that is [`SystemClock`]; in tests it is a [`ManualClock`] that moves only when the test
//! says so, which makes timing logic deterministic and fast without sleeping.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use tokio::sync::watch;

/// A boxed future returned by [`Clock::sleep_until`].
pub type Sleep = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// A monotonic clock.
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// The current monotonic instant.
    fn now(&self) -> Instant;

    /// A future that completes once [`Clock::now`] has reached `deadline`.
    fn sleep_until(&self, deadline: Instant) -> Sleep;

    /// A future that completes once `duration` has passed on this clock.
    fn sleep(&self, duration: Duration) -> Sleep {
        self.sleep_until(self.now() + duration)
    }
}

/// A shared handle to any clock.
pub type SharedClock = Arc<dyn Clock>;

/// The real monotonic clock, with tokio timers.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl SystemClock {
    /// A shared handle to the system clock.
    pub fn shared() -> SharedClock {
        Arc::new(Self)
    }
}

impl Clock for SystemClock {
    fn now(&self) -> Instant {
        Instant::now()
    }

    fn sleep_until(&self, deadline: Instant) -> Sleep {
        Box::pin(tokio::time::sleep_until(deadline.into()))
    }
}

/// A clock that only moves when [`ManualClock::advance`] is called.
///
/// Sleepers wake as soon as an advance carries the clock past their deadline, so a test can step
/// through minutes of simulated time in microseconds.
#[derive(Debug, Clone)]
pub struct ManualClock {
    inner: Arc<ManualInner>,
}

#[derive(Debug)]
struct ManualInner {
    origin: Instant,
    offset: Mutex<Duration>,
    changed: watch::Sender<Duration>,
}

impl ManualClock {
    /// A manual clock that starts at the current real instant and then stands still.
    pub fn new() -> Self {
        let (changed, _) = watch::channel(Duration::ZERO);
        Self {
            inner: Arc::new(ManualInner {
                origin: Instant::now(),
                offset: Mutex::new(Duration::ZERO),
                changed,
            }),
        }
    }

    /// A shared handle to this clock.
    pub fn shared(&self) -> SharedClock {
        Arc::new(self.clone())
    }

    /// Moves the clock forward by `by` and wakes every sleeper whose deadline has passed.
    pub fn advance(&self, by: Duration) {
        let mut offset = self
            .inner
            .offset
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        *offset += by;
        let now = *offset;
        drop(offset);
        self.inner.changed.send_replace(now);
    }

    /// How far the clock has been advanced since it was created.
    pub fn elapsed(&self) -> Duration {
        *self
            .inner
            .offset
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

impl Default for ManualClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Instant {
        self.inner.origin + self.elapsed()
    }

    fn sleep_until(&self, deadline: Instant) -> Sleep {
        let target = deadline.saturating_duration_since(self.inner.origin);
        let mut changed = self.inner.changed.subscribe();
        Box::pin(async move {
            // `wait_for` checks the current value first, so a deadline already passed returns at once.
            // The sender lives as long as any clock handle; if every handle is gone nothing can ever
            // advance again, and the sleeper simply never wakes, as a real sleeper past the end of time.
            if changed.wait_for(|now| *now >= target).await.is_err() {
                std::future::pending::<()>().await;
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn manual_sleep_wakes_only_after_advance_passes_deadline() {
        let clock = ManualClock::new();
        let start = clock.now();
        let mut sleeper = tokio::spawn(clock.sleep(Duration::from_secs(5)));
        clock.advance(Duration::from_secs(4));
        tokio::task::yield_now().await;
        assert!(
            tokio::time::timeout(Duration::from_millis(20), &mut sleeper)
                .await
                .is_err(),
            "woke before its deadline"
        );
        clock.advance(Duration::from_secs(1));
        sleeper.await.expect("sleeper task");
        assert_eq!(clock.now() - start, Duration::from_secs(5));
    }

    #[tokio::test]
    async fn manual_sleep_in_the_past_is_immediate() {
        let clock = ManualClock::new();
        clock.advance(Duration::from_secs(10));
        let past = clock
            .now()
            .checked_sub(Duration::from_secs(1))
            .expect("a second after the origin");
        clock.sleep_until(past).await;
    }
}
