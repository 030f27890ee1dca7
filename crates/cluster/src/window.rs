//! How many moves one target node is sent at once: a window that adapts to how fast the node
//! answers them.
//!
//! Real servers differ: Lavalink answers player PATCHes concurrently in milliseconds, while a
//! loaded NodeLink answers them one after another about half a second apart, so that a burst of
//! sixteen at once has the last answer after eight seconds, past any sensible timeout. The window
//! starts small, grows by one while answers come back about as fast as the fastest one seen (no
//! queue on the node), shrinks by one when they slow down as the node's queue grows (an estimate
//! in the manner of TCP Vegas: `limit * (latest - fastest) / latest` requests waiting there, less
//! a little jitter), and halves when a move gets no answer. A node that serves requests one at a
//! time settles at two or three in flight; one that answers at once gets the whole window. Moves beyond the window wait here, where they can still be sent to
//! another node, instead of in the node's queue.
//!
//! Everything headed for the node counts from the moment a target is picked (a [`Reservation`]),
//! so the next pick already sees it: a burst spreads over every eligible node instead of all
//! choosing the same one before any has been sent.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::sync::Notify;

/// Below this many requests estimated waiting at the node the window grows.
const GROW_BELOW: f64 = 1.0;
/// Above this many it shrinks.
const SHRINK_ABOVE: f64 = 2.0;
/// Answers this much slower than the fastest are not taken for a queue (jitter of a node that
/// answers in milliseconds).
const JITTER: Duration = Duration::from_millis(50);

/// A window's bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowConfig {
    /// Moves in flight at first.
    pub initial: usize,
    /// The most moves in flight at once, however fast the node answers.
    pub max: usize,
}

/// One target node's move window.
#[derive(Debug)]
pub struct MoveWindow {
    state: Mutex<WindowState>,
    changed: Notify,
}

#[derive(Debug)]
struct WindowState {
    max: usize,
    limit: f64,
    in_flight: usize,
    queued: usize,
    /// The fastest answer seen: the node's time for a request with nothing queued before it.
    fastest: Option<Duration>,
    /// A smoothed answer time.
    typical: Option<Duration>,
}

/// What became of one move sent through the window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The node answered (with success or a refusal) after this long.
    Answered(Duration),
    /// No answer: a timeout or a broken connection.
    NoAnswer,
}

/// A view of the window for selection and diagnostics.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WindowView {
    /// Moves allowed in flight now.
    pub limit: usize,
    /// Moves sent and not answered.
    pub in_flight: usize,
    /// Moves picked for this node and waiting for the window.
    pub queued: usize,
    /// How long a move picked now can expect to wait for its answer, from the typical answer
    /// time and the moves ahead of it.
    pub expected_wait: Duration,
}

impl MoveWindow {
    /// A window with these bounds.
    pub fn new(config: WindowConfig) -> Arc<Self> {
        let max = config.max.max(1);
        Arc::new(Self {
            state: Mutex::new(WindowState {
                max,
                limit: to_f64(config.initial.clamp(1, max)),
                in_flight: 0,
                queued: 0,
                fastest: None,
                typical: None,
            }),
            changed: Notify::new(),
        })
    }

    fn lock(&self) -> MutexGuard<'_, WindowState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Counts a move as headed here from now on. Not async: call it while the target is picked.
    pub fn reserve(self: &Arc<Self>) -> Reservation {
        self.lock().queued += 1;
        Reservation {
            window: Some(Arc::clone(self)),
        }
    }

    /// The window as selection sees it.
    pub fn view(&self) -> WindowView {
        let state = self.lock();
        let limit = state.whole_limit();
        let ahead = state.in_flight + state.queued;
        let typical = state.typical.unwrap_or(Duration::ZERO);
        // One more round of answers for every full window ahead of a new move.
        let rounds = u32::try_from(ahead / limit + 1).unwrap_or(u32::MAX);
        WindowView {
            limit,
            in_flight: state.in_flight,
            queued: state.queued,
            expected_wait: typical.saturating_mul(rounds),
        }
    }
}

impl WindowState {
    fn whole_limit(&self) -> usize {
        // The limit stays within 1..=max, so the cast is exact.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let limit = self.limit.floor() as usize;
        limit.clamp(1, self.max)
    }

    fn record(&mut self, outcome: Outcome) {
        let max = to_f64(self.max);
        match outcome {
            Outcome::NoAnswer => {
                self.limit = (self.limit / 2.0).max(1.0);
            }
            Outcome::Answered(latency) => {
                let fastest = self.fastest.map_or(latency, |fastest| fastest.min(latency));
                self.fastest = Some(fastest);
                self.typical = Some(self.typical.map_or(latency, |typical| {
                    typical.mul_f64(0.75) + latency.mul_f64(0.25)
                }));
                let waited = latency.saturating_sub(fastest).saturating_sub(JITTER);
                let queue = if latency.is_zero() {
                    0.0
                } else {
                    self.limit * waited.as_secs_f64() / latency.as_secs_f64()
                };
                if queue < GROW_BELOW {
                    self.limit = (self.limit + 1.0).min(max);
                } else if queue > SHRINK_ABOVE {
                    self.limit = (self.limit - 1.0).max(1.0);
                }
            }
        }
    }
}

/// A move headed for a node, waiting for room in its window. Dropping it gives the place up.
#[derive(Debug)]
pub struct Reservation {
    window: Option<Arc<MoveWindow>>,
}

impl Reservation {
    /// Waits until the window has room, then counts the move as in flight.
    pub async fn ready(mut self) -> Permit {
        let Some(window) = self.window.take() else {
            unreachable!("a reservation is used once")
        };
        loop {
            let changed = window.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            {
                let mut state = window.lock();
                if state.in_flight < state.whole_limit() {
                    state.queued = state.queued.saturating_sub(1);
                    state.in_flight += 1;
                    break;
                }
            }
            changed.await;
        }
        Permit {
            window: Some(window),
        }
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        if let Some(window) = self.window.take() {
            {
                let mut state = window.lock();
                state.queued = state.queued.saturating_sub(1);
            }
            window.changed.notify_waiters();
        }
    }
}

/// A move in flight. Report how it went with [`Permit::finish`]; dropping it frees the place
/// without teaching the window anything (the move was cancelled).
#[derive(Debug)]
pub struct Permit {
    window: Option<Arc<MoveWindow>>,
}

impl Permit {
    /// Frees the place and adapts the window to how the node answered.
    pub fn finish(mut self, outcome: Outcome) {
        if let Some(window) = self.window.take() {
            {
                let mut state = window.lock();
                state.in_flight = state.in_flight.saturating_sub(1);
                state.record(outcome);
            }
            window.changed.notify_waiters();
        }
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        if let Some(window) = self.window.take() {
            {
                let mut state = window.lock();
                state.in_flight = state.in_flight.saturating_sub(1);
            }
            window.changed.notify_waiters();
        }
    }
}

/// When a request that the window measures went out. A node's answer time is real latency: the
/// window adapts to how fast the node answers, whatever clock runs the cluster (a manual clock in
/// tests stands still while the request is on the wire).
#[derive(Debug, Clone, Copy)]
pub struct Sent(std::time::Instant);

impl Sent {
    /// Now, on the real clock.
    #[allow(
        clippy::disallowed_methods,
        reason = "a node's answer time is real latency"
    )]
    pub fn now() -> Self {
        Self(std::time::Instant::now())
    }

    /// How long the answer took, on the real clock.
    #[allow(
        clippy::disallowed_methods,
        reason = "a node's answer time is real latency"
    )]
    pub fn answered_after(self) -> Duration {
        self.0.elapsed()
    }
}

/// What a PATCH's result teaches the window: an answer (also an error status or an unreadable
/// body) after `latency`, or none (a timeout, a broken connection).
pub fn outcome_of<T>(
    result: &Result<T, lavalink::client::RestError>,
    latency: Duration,
) -> Outcome {
    use lavalink::client::RestError;
    match result {
        Ok(_) | Err(RestError::Api { .. } | RestError::Decode { .. }) => Outcome::Answered(latency),
        Err(_) => Outcome::NoAnswer,
    }
}

fn to_f64(n: usize) -> f64 {
    // Window sizes are tiny: exact.
    #[allow(clippy::cast_precision_loss)]
    let n = n as f64;
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONFIG: WindowConfig = WindowConfig {
        initial: 4,
        max: 16,
    };

    /// Plays `answers` answers of a node that serves requests one after another, `service`
    /// each, while the window is kept full: after the first, every request waits for the whole
    /// window ahead of it.
    fn serial_node(window: &MoveWindow, answers: usize, service: Duration) -> usize {
        window.lock().record(Outcome::Answered(service));
        for _ in 0..answers {
            let limit = window.lock().whole_limit();
            let latency = service * u32::try_from(limit).expect("small");
            window.lock().record(Outcome::Answered(latency));
        }
        window.lock().whole_limit()
    }

    #[test]
    fn a_node_that_answers_at_once_gets_the_whole_window() {
        let window = MoveWindow::new(CONFIG);
        for _ in 0..40 {
            window
                .lock()
                .record(Outcome::Answered(Duration::from_millis(5)));
        }
        assert_eq!(window.view().limit, 16);
    }

    #[test]
    fn a_node_that_answers_one_after_another_gets_a_small_window() {
        let window = MoveWindow::new(CONFIG);
        let limit = serial_node(&window, 100, Duration::from_millis(550));
        // Every request beyond the first waits at the node: a window of three keeps the last
        // answer within 1.65 s instead of 8.8 s for sixteen.
        assert!((1..=3).contains(&limit), "limit {limit}");
    }

    #[test]
    fn jitter_of_a_fast_node_does_not_shrink_its_window() {
        let window = MoveWindow::new(CONFIG);
        for round in 0..60_u64 {
            let latency = Duration::from_millis(3 + (round * 7) % 40);
            window.lock().record(Outcome::Answered(latency));
        }
        assert_eq!(window.view().limit, 16);
    }

    #[test]
    fn no_answer_halves_the_window() {
        let window = MoveWindow::new(CONFIG);
        for _ in 0..20 {
            window
                .lock()
                .record(Outcome::Answered(Duration::from_millis(5)));
        }
        assert_eq!(window.view().limit, 16);
        window.lock().record(Outcome::NoAnswer);
        assert_eq!(window.view().limit, 8);
        for _ in 0..10 {
            window.lock().record(Outcome::NoAnswer);
        }
        assert_eq!(window.view().limit, 1, "never below one");
    }

    #[test]
    fn reservations_count_at_once_and_give_their_place_back() {
        let window = MoveWindow::new(CONFIG);
        let a = window.reserve();
        let b = window.reserve();
        assert_eq!(window.view().queued, 2);
        drop(a);
        assert_eq!(window.view().queued, 1);
        drop(b);
        assert_eq!(window.view().queued, 0);
    }

    #[tokio::test]
    async fn moves_beyond_the_window_wait_for_an_answer() {
        let window = MoveWindow::new(WindowConfig { initial: 1, max: 4 });
        let first = window.reserve().ready().await;
        let second = window.reserve();
        let waiting = tokio::spawn(second.ready());
        tokio::task::yield_now().await;
        assert_eq!(window.view().in_flight, 1);
        assert_eq!(window.view().queued, 1);
        assert!(!waiting.is_finished());
        first.finish(Outcome::Answered(Duration::from_millis(5)));
        let second = waiting.await.expect("the second move goes");
        assert_eq!(window.view().in_flight, 1);
        assert_eq!(window.view().queued, 0);
        drop(second);
        assert_eq!(window.view().in_flight, 0);
    }

    #[test]
    fn expected_wait_grows_with_the_moves_ahead() {
        let window = MoveWindow::new(WindowConfig { initial: 1, max: 1 });
        window
            .lock()
            .record(Outcome::Answered(Duration::from_millis(500)));
        assert_eq!(window.view().expected_wait, Duration::from_millis(500));
        let _a = window.reserve();
        let _b = window.reserve();
        assert_eq!(window.view().expected_wait, Duration::from_millis(1500));
    }
}
