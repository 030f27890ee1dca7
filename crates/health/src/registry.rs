//! Running probes on their own tasks and caching what they found.

use std::collections::BTreeMap;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, SystemTime};

use clock::SharedClock;
use tokio::sync::broadcast;
use tokio::task::JoinHandle;

use crate::probe::{Observation, Probe, ProbeSpec, Severity, Status};

/// The cached outcome of a probe.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckResult {
    /// The probe.
    pub spec: ProbeSpec,
    /// Its status after the failure threshold: a failure below it reports `warn`.
    pub status: Status,
    /// What the last check observed.
    pub observation: Observation,
    /// Failures in a row.
    pub consecutive_failures: u32,
    /// When the last check finished (wall clock); `None` before the first.
    pub checked_at: Option<SystemTime>,
    /// How long the last check took.
    pub duration: Duration,
}

impl CheckResult {
    fn unchecked(spec: ProbeSpec) -> Self {
        Self {
            spec,
            status: Status::Warn,
            observation: Observation::with(Status::Warn, "not checked yet"),
            consecutive_failures: 0,
            checked_at: None,
            duration: Duration::ZERO,
        }
    }

    /// What this result contributes to the overall status: a warning-severity probe at most warns.
    pub fn weight(&self) -> Status {
        match (self.spec.severity, self.status) {
            (Severity::Warning, Status::Fail) => Status::Warn,
            (_, status) => status,
        }
    }
}

struct Inner {
    clock: SharedClock,
    results: RwLock<BTreeMap<String, CheckResult>>,
    updates: broadcast::Sender<CheckResult>,
}

/// The probes and their cached results. Cheap to clone.
#[derive(Clone)]
pub struct HealthRegistry {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for HealthRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HealthRegistry").finish_non_exhaustive()
    }
}

impl HealthRegistry {
    /// An empty registry whose probe beats follow `clock`.
    pub fn new(clock: SharedClock) -> Self {
        let (updates, _) = broadcast::channel(256);
        Self {
            inner: Arc::new(Inner {
                clock,
                results: RwLock::new(BTreeMap::new()),
                updates,
            }),
        }
    }

    /// Every result, ordered by key.
    pub fn results(&self) -> Vec<CheckResult> {
        self.inner
            .results
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
            .cloned()
            .collect()
    }

    /// The overall status: the worst weighted status of all probes (`pass` with none).
    pub fn status(&self) -> Status {
        self.results()
            .iter()
            .map(CheckResult::weight)
            .max()
            .unwrap_or(Status::Pass)
    }

    /// Every new result, as it is cached (for alerts and metrics).
    pub fn subscribe(&self) -> broadcast::Receiver<CheckResult> {
        self.inner.updates.subscribe()
    }

    /// Registers a probe (reported as `warn`, "not checked yet", until its first check).
    pub fn register(&self, probe: &Arc<dyn Probe>) {
        let spec = probe.spec().clone();
        self.inner
            .results
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(spec.key(), CheckResult::unchecked(spec));
    }

    /// Forgets a probe's result (its component went away).
    pub fn forget(&self, key: &str) {
        self.inner
            .results
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(key);
    }

    /// Forgets every result (the components went away: a process back in standby after its
    /// term, whose probes stopped with it).
    pub fn clear(&self) {
        self.inner
            .results
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }

    /// Registers `probe` and checks it now and then every interval, on its own task.
    pub fn spawn(&self, probe: Arc<dyn Probe>) -> JoinHandle<()> {
        self.register(&probe);
        let registry = self.clone();
        tokio::spawn(async move {
            loop {
                registry.check(probe.as_ref()).await;
                registry.inner.clock.sleep(probe.spec().interval).await;
            }
        })
    }

    /// Runs one check of `probe` (bounded by its timeout) and caches the result.
    pub async fn check(&self, probe: &dyn Probe) -> CheckResult {
        let spec = probe.spec();
        let started = self.inner.clock.now();
        let observation = match tokio::time::timeout(spec.timeout, probe.check()).await {
            Ok(observation) => observation,
            Err(_) => Observation::with(
                Status::Fail,
                format!("no answer within {} ms", spec.timeout.as_millis()),
            )
            .value(
                u64::try_from(spec.timeout.as_millis()).unwrap_or(u64::MAX),
                "ms",
            ),
        };
        let duration = self.inner.clock.since(started);
        let result = {
            let mut results = self
                .inner
                .results
                .write()
                .unwrap_or_else(PoisonError::into_inner);
            let previous = results
                .get(&spec.key())
                .map_or(0, |r| r.consecutive_failures);
            let consecutive_failures = if observation.status == Status::Fail {
                previous.saturating_add(1)
            } else {
                0
            };
            let status = match observation.status {
                Status::Fail if consecutive_failures < spec.failure_threshold => Status::Warn,
                status => status,
            };
            let result = CheckResult {
                spec: spec.clone(),
                status,
                observation,
                consecutive_failures,
                checked_at: Some(self.inner.clock.system_time()),
                duration,
            };
            results.insert(spec.key(), result.clone());
            result
        };
        if result.status != Status::Pass {
            tracing::debug!(
                probe = %spec.name, component = ?spec.component_id, status = result.status.as_str(),
                failures = result.consecutive_failures, output = ?result.observation.output,
                "health probe"
            );
        }
        // Nobody subscribed is fine.
        let _ = self.inner.updates.send(result.clone());
        result
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    /// A probe that answers from a script.
    struct Scripted {
        spec: ProbeSpec,
        answers: Mutex<Vec<Status>>,
    }

    #[async_trait::async_trait]
    impl Probe for Scripted {
        fn spec(&self) -> &ProbeSpec {
            &self.spec
        }
        async fn check(&self) -> Observation {
            let next = self
                .answers
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .pop();
            match next {
                Some(status) => Observation::with(status, "scripted"),
                None => std::future::pending().await,
            }
        }
    }

    fn scripted(spec: ProbeSpec, mut answers: Vec<Status>) -> Scripted {
        answers.reverse();
        Scripted {
            spec,
            answers: Mutex::new(answers),
        }
    }

    fn spec(name: &str) -> ProbeSpec {
        ProbeSpec::new(
            name,
            "component",
            Duration::from_secs(5),
            Duration::from_millis(50),
        )
    }

    #[tokio::test]
    async fn failures_count_only_past_the_threshold() {
        let registry = HealthRegistry::new(clock::ManualClock::new().shared());
        let probe = scripted(
            spec("lavalink:responseTime").threshold(2),
            vec![Status::Fail, Status::Fail, Status::Pass, Status::Fail],
        );
        assert_eq!(registry.check(&probe).await.status, Status::Warn, "1 of 2");
        let second = registry.check(&probe).await;
        assert_eq!(second.status, Status::Fail);
        assert_eq!(second.consecutive_failures, 2);
        assert_eq!(registry.status(), Status::Fail);
        assert_eq!(registry.check(&probe).await.status, Status::Pass);
        assert_eq!(
            registry.check(&probe).await.status,
            Status::Warn,
            "count restarted"
        );
    }

    #[tokio::test]
    async fn a_probe_that_never_answers_fails_at_its_timeout() {
        let registry = HealthRegistry::new(clock::ManualClock::new().shared());
        let probe = scripted(spec("store:responseTime"), Vec::new());
        let result = registry.check(&probe).await;
        assert_eq!(result.status, Status::Fail);
        assert_eq!(
            result.observation.observed_value,
            Some(serde_json::json!(50))
        );
    }

    #[tokio::test]
    async fn a_warning_probe_only_warns_and_unchecked_probes_warn() {
        let registry = HealthRegistry::new(clock::ManualClock::new().shared());
        let probe: Arc<dyn Probe> = Arc::new(scripted(
            spec("voice:connected").severity(Severity::Warning),
            vec![Status::Fail],
        ));
        registry.register(&probe);
        assert_eq!(registry.status(), Status::Warn, "not checked yet");
        registry.check(probe.as_ref()).await;
        assert_eq!(registry.results()[0].status, Status::Fail);
        assert_eq!(registry.status(), Status::Warn);
    }

    #[tokio::test]
    async fn spawned_probes_follow_the_clock() {
        let clock = clock::ManualClock::new();
        let registry = HealthRegistry::new(clock.shared());
        let mut updates = registry.subscribe();
        let _task = registry.spawn(Arc::new(scripted(
            spec("process:lag"),
            vec![Status::Pass, Status::Fail],
        )));
        let first = updates.recv().await.expect("first check");
        assert_eq!(first.status, Status::Pass);
        clock.advance(Duration::from_secs(5));
        let second = updates.recv().await.expect("second check");
        assert_eq!(second.status, Status::Fail);
    }
}
