//! `dimby deploy`: a whole blue-green deploy, recorded step by step in the store's ledger. The
//! serving colour is found by asking both; the other colour is started in standby with the new
//! build, gated, cut over to, and watched; a failing signal during the watch hands back to the old
//! colour, which stayed warm. `rollback` does that hand-back by hand at any time.

use std::time::{Duration, Instant};

use admin::deploy::{GateReport, Phase, Signals};
use serde::{Deserialize, Serialize};
use store::{Colour, ColourBuild, DeployState, DeployStep, NewDeploy, StepOutcome, Store};

use crate::client::ColourClient;
use crate::cutover::{CutoverError, CutoverReport, cutover};
use crate::watch::{WatchOutcome, WatchRules, watch};

/// One colour's slot on the host.
#[derive(Debug, Clone)]
pub struct Slot {
    /// Which colour.
    pub colour: Colour,
    /// Its admin server.
    pub client: ColourClient,
    /// The command that starts it in standby (`systemctl start dimby@green`, a script...).
    pub start: Vec<String>,
    /// The command that stops it.
    pub stop: Vec<String>,
    /// The command that installs the new build in this slot (copies the binary to where `start`
    /// runs it), run by a deploy between the candidate's `stop` and `start`, with
    /// `DIMBY_DEPLOY_COLOUR`, `DIMBY_DEPLOY_VERSION` and `DIMBY_DEPLOY_COMMIT` in its environment.
    /// Empty: the slot's `start` already runs the new build. Never run by a rollback or a resume.
    pub prepare: Vec<String>,
    /// The binary it runs (recorded in the ledger for a later rollback).
    pub binary: String,
    /// The config file it runs with (recorded in the ledger).
    pub config: String,
}

/// What a deploy needs.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The new build's version.
    pub version: String,
    /// The new build's commit.
    pub commit: String,
    /// The two slots.
    pub blue: Slot,
    /// The two slots.
    pub green: Slot,
    /// How long the candidate may take to reach standby and how long its gate may take.
    pub gate_bound: Duration,
    /// How long each step of a cutover may take.
    pub step_bound: Duration,
    /// The post-cutover watch.
    pub watch: WatchRules,
}

impl Plan {
    fn slot(&self, colour: Colour) -> &Slot {
        match colour {
            Colour::Blue => &self.blue,
            Colour::Green => &self.green,
        }
    }
}

/// How a deploy ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Ending {
    /// The new colour serves.
    Promoted,
    /// The new colour failed before the cutover; the old one never noticed.
    Rejected,
    /// The new colour served and was rolled back.
    RolledBack,
    /// The deploy itself could not go on.
    Failed,
}

impl Ending {
    fn state(self) -> DeployState {
        match self {
            Self::Promoted => DeployState::Promoted,
            Self::Rejected => DeployState::Rejected,
            Self::RolledBack => DeployState::RolledBack,
            Self::Failed => DeployState::Failed,
        }
    }

    /// Its name.
    pub fn as_str(self) -> &'static str {
        self.state().as_str()
    }
}

/// One step as the report shows it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StepLine {
    /// What.
    pub step: String,
    /// `ok`, `failed` or `info`.
    pub outcome: String,
    /// In words.
    pub detail: String,
    /// Since the deploy began, ms.
    pub at_ms: u64,
}

/// What a deploy did: the summary's material.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DeployReport {
    /// The ledger's id (`None` when the ledger could not begin it).
    pub id: Option<u64>,
    /// The colour serving before (`None`: none was).
    pub from: Option<String>,
    /// The colour the new build went to.
    pub to: String,
    /// The new build.
    pub version: String,
    /// Its commit.
    pub commit: String,
    /// How it ended.
    pub ending: Ending,
    /// Why, in words.
    pub reason: String,
    /// The colour serving at the end.
    pub serving: Option<String>,
    /// Every step.
    pub steps: Vec<StepLine>,
    /// The gate's report.
    pub gate: Option<GateReport>,
    /// How long the gate took, ms.
    pub gate_ms: Option<u64>,
    /// The old colour's signals before the cutover.
    pub before: Option<Signals>,
    /// The cutover.
    pub cutover: Option<CutoverReport>,
    /// The watch.
    pub watch: Option<WatchOutcome>,
    /// The rollback's cutover, if there was one.
    pub rollback: Option<CutoverReport>,
    /// From the first failing signal to the old colour serving again, ms.
    pub rollback_after_failing_ms: Option<u64>,
    /// The whole deploy, ms.
    pub total_ms: u64,
}

/// Why a deploy could not be run at all.
#[derive(Debug, thiserror::Error)]
pub enum DeployError {
    /// Both colours serve: a state the orchestrator will not guess its way out of.
    #[error("both colours serve; stop one by hand (see docs/runbooks/deploys.md) and deploy again")]
    BothServing,
    /// The ledger refused.
    #[error("the deploy ledger: {0}")]
    Ledger(#[from] store::Error),
}

/// The deploy as it goes: the ledger and the report written together.
struct Run<'a> {
    store: &'a dyn Store,
    id: u64,
    began: Instant,
    /// The bound on each slot command (`plan.step_bound`).
    command_bound: Duration,
    report: DeployReport,
}

impl<'a> Run<'a> {
    /// Begins the deploy in the ledger.
    async fn begin(
        plan: &Plan,
        store: &'a dyn Store,
        active: Option<Colour>,
        target: Colour,
    ) -> Result<Self, DeployError> {
        let began = Instant::now();
        let id = store
            .begin_deploy(&NewDeploy {
                started_at_ms: now_unix_ms(),
                from_colour: active,
                to_colour: target,
                version: plan.version.clone(),
                commit: plan.commit.clone(),
            })
            .await?;
        Ok(Self {
            store,
            id,
            began,
            command_bound: plan.step_bound,
            report: DeployReport {
                id: Some(id),
                from: active.map(|c| c.as_str().to_owned()),
                to: target.as_str().to_owned(),
                version: plan.version.clone(),
                commit: plan.commit.clone(),
                ending: Ending::Failed,
                reason: String::new(),
                serving: active.map(|c| c.as_str().to_owned()),
                steps: Vec::new(),
                gate: None,
                gate_ms: None,
                before: None,
                cutover: None,
                watch: None,
                rollback: None,
                rollback_after_failing_ms: None,
                total_ms: 0,
            },
        })
    }

    async fn step(&mut self, step: &str, outcome: StepOutcome, detail: impl Into<String>) {
        let detail = detail.into();
        tracing::info!(deploy = self.id, step, outcome = outcome.as_str(), %detail, "deploy step");
        let recorded = self
            .store
            .record_deploy_step(
                self.id,
                &DeployStep {
                    at_ms: now_unix_ms(),
                    step: step.to_owned(),
                    outcome,
                    detail: detail.clone(),
                },
            )
            .await;
        if let Err(error) = recorded {
            tracing::error!(deploy = self.id, %error, "could not record a deploy step");
        }
        self.report.steps.push(StepLine {
            step: step.to_owned(),
            outcome: outcome.as_str().to_owned(),
            detail,
            at_ms: millis(self.began.elapsed()),
        });
    }

    async fn state(&self, state: DeployState) {
        if let Err(error) = self
            .store
            .set_deploy_state(self.id, state, now_unix_ms())
            .await
        {
            tracing::error!(deploy = self.id, %error, "could not record the deploy's state");
        }
    }

    async fn finish(mut self, ending: Ending, reason: impl Into<String>) -> DeployReport {
        self.report.ending = ending;
        self.report.reason = reason.into();
        self.report.total_ms = millis(self.began.elapsed());
        if let Err(error) = self
            .store
            .finish_deploy(
                self.id,
                ending.state(),
                Some(&self.report.reason),
                now_unix_ms(),
            )
            .await
        {
            tracing::error!(deploy = self.id, %error, "could not record the deploy's end");
        }
        tracing::info!(
            deploy = self.id,
            ending = ending.as_str(),
            reason = %self.report.reason,
            "deploy finished"
        );
        self.report
    }
}

/// Deploys `plan`'s build: see the module docs.
pub async fn deploy(plan: &Plan, store: &dyn Store) -> Result<DeployReport, DeployError> {
    let active = serving_colour(plan).await?;
    let target = active.map_or(Colour::Blue, Colour::other);
    let mut run = Run::begin(plan, store, active, target).await?;
    run.step(
        "active colour",
        StepOutcome::Info,
        active.map_or_else(
            || "none serves: a first deploy".to_owned(),
            |c| format!("{c} serves; the new build goes to {target}"),
        ),
    )
    .await;
    let candidate = plan.slot(target);
    if let Err(reason) = start_candidate(&mut run, plan, candidate).await {
        let _ = run_command(&candidate.stop, plan.step_bound, &[]).await;
        return Ok(run.finish(Ending::Rejected, reason).await);
    }
    run.state(DeployState::Gating).await;
    if let Err(reason) = gate(&mut run, plan, candidate).await {
        return Ok(reject(run, candidate, reason).await);
    }
    run.state(DeployState::CutOver).await;
    let Some(active) = active else {
        // Nothing serves: the candidate takes over whatever the store has.
        return Ok(first_takeover(run, plan, candidate).await);
    };
    let old = plan.slot(active);
    run.report.before = old.client.signals().await.ok();
    let start = candidate.client.signals().await.ok();
    let forth = match cutover(&old.client, &candidate.client, plan.step_bound).await {
        Ok(report) => report,
        Err(error) => return Ok(failed_cutover(run, candidate, active, &error).await),
    };
    run.step(
        &format!("cut over to {target}"),
        StepOutcome::Ok,
        format!(
            "{} ms without a serving process (handover {} ms, takeover {} ms); {} of {} guilds played on",
            forth.total_ms,
            forth.handover_ms,
            forth.takeover_ms,
            forth.to.last_takeover.as_ref().map_or(0, |t| t.playing_on),
            forth.to.last_takeover.as_ref().map_or(0, |t| t.guilds)
        ),
    )
    .await;
    run.report.cutover = Some(forth);
    run.report.serving = Some(target.as_str().to_owned());

    run.state(DeployState::Watching).await;
    let baseline = run.report.before.clone().unwrap_or_default();
    let watched = watch(&candidate.client, start, &baseline, &plan.watch).await;
    let (failing, failing_since) = (watched.failing.clone(), watched.failing_since);
    run.report.watch = Some(watched);
    match failing {
        None => {
            run.step(
                "watch",
                StepOutcome::Ok,
                format!("healthy for {:?}", plan.watch.duration),
            )
            .await;
            Ok(promote(run, plan, target).await)
        }
        Some(signal) => {
            run.step("watch", StepOutcome::Failed, &signal).await;
            Ok(roll_back(run, plan, target, active, &signal, failing_since).await)
        }
    }
}

/// The candidate: stopped (it may run the previous build, warm), started in standby; the reason
/// when it does not get there.
async fn start_candidate(run: &mut Run<'_>, plan: &Plan, candidate: &Slot) -> Result<(), String> {
    let step = format!("start {}", candidate.colour);
    if let Err(error) = run_command(&candidate.stop, plan.step_bound, &[]).await {
        tracing::info!(colour = %candidate.colour, %error, "stopping the candidate's previous process failed (it may not have run)");
    }
    if !candidate.prepare.is_empty() {
        let prepare = format!("prepare {}", candidate.colour);
        let env = [
            ("DIMBY_DEPLOY_COLOUR", candidate.colour.as_str()),
            ("DIMBY_DEPLOY_VERSION", plan.version.as_str()),
            ("DIMBY_DEPLOY_COMMIT", plan.commit.as_str()),
        ];
        if let Err(detail) = run_command(&candidate.prepare, plan.step_bound, &env).await {
            run.step(&prepare, StepOutcome::Failed, &detail).await;
            return Err(format!("preparing {}: {detail}", candidate.colour));
        }
        run.step(&prepare, StepOutcome::Ok, "installed").await;
    }
    if let Err(detail) = run_command(&candidate.start, plan.step_bound, &[]).await {
        run.step(&step, StepOutcome::Failed, &detail).await;
        return Err(detail);
    }
    match candidate
        .client
        .wait_phase(Phase::Standby, plan.gate_bound)
        .await
    {
        Ok(state) => {
            run.step(
                &step,
                StepOutcome::Ok,
                format!(
                    "in standby: version {} commit {}",
                    state.version, state.commit
                ),
            )
            .await;
            check_commit(run, candidate, &state.commit, &plan.commit).await
        }
        Err(error) => {
            let detail = format!("did not reach standby: {error}");
            run.step(&step, StepOutcome::Failed, &detail).await;
            Err(detail)
        }
    }
}

/// The candidate runs the build being deployed: the commit it was built from is the one given
/// (either may be the other's abbreviation). A candidate that cannot tell its commit (`unknown`)
/// is let through with a note; another commit is refused: its slot's `prepare` (or `start`)
/// did not install the new build, and promoting it would record a build that does not run.
async fn check_commit(
    run: &mut Run<'_>,
    candidate: &Slot,
    running: &str,
    deploying: &str,
) -> Result<(), String> {
    let step = format!("commit of {}", candidate.colour);
    if running == UNKNOWN_COMMIT {
        run.step(
            &step,
            StepOutcome::Info,
            format!("the candidate does not know its commit: not compared with {deploying}"),
        )
        .await;
        return Ok(());
    }
    if commits_match(running, deploying) {
        run.step(&step, StepOutcome::Ok, format!("runs {running}"))
            .await;
        return Ok(());
    }
    let detail = format!(
        "{} runs commit {running}, not {deploying}: its slot's prepare or start did not install \
         the new build",
        candidate.colour
    );
    run.step(&step, StepOutcome::Failed, &detail).await;
    Err(detail)
}

/// What a build that cannot tell its commit says.
const UNKNOWN_COMMIT: &str = "unknown";

/// Whether two commit names name the same commit: equal, or one abbreviates the other (at least
/// 7 characters, as git abbreviates).
fn commits_match(a: &str, b: &str) -> bool {
    let (short, long) = if a.len() <= b.len() { (a, b) } else { (b, a) };
    short == long || (short.len() >= 7 && long.starts_with(short))
}

/// Runs the candidate's gate, each check a step; the reason when it does not pass.
async fn gate(run: &mut Run<'_>, plan: &Plan, candidate: &Slot) -> Result<(), String> {
    let began = Instant::now();
    let gate = tokio::time::timeout(plan.gate_bound, candidate.client.gate()).await;
    run.report.gate_ms = Some(millis(began.elapsed()));
    let gate = match gate {
        Ok(Ok(gate)) => gate,
        Ok(Err(error)) => return Err(format!("the gate could not run: {error}")),
        Err(_) => {
            return Err(format!("the gate took longer than {:?}", plan.gate_bound));
        }
    };
    for check in &gate.checks {
        let outcome = if check.passed {
            StepOutcome::Ok
        } else {
            StepOutcome::Failed
        };
        run.step(
            &format!("gate: {}", check.name),
            outcome,
            format!("{} ({} ms)", check.detail, check.took_ms),
        )
        .await;
    }
    let failed: Vec<String> = gate
        .checks
        .iter()
        .filter(|c| !c.passed)
        .map(|c| format!("{}: {}", c.name, c.detail))
        .collect();
    let passed = gate.passed;
    run.report.gate = Some(gate);
    if passed {
        Ok(())
    } else {
        Err(format!("the gate failed: {}", failed.join("; ")))
    }
}

/// Hands back from `target` to the warm `active` after a failing signal.
async fn roll_back(
    mut run: Run<'_>,
    plan: &Plan,
    target: Colour,
    active: Colour,
    signal: &str,
    failing_since: Option<Instant>,
) -> DeployReport {
    let (new, old) = (plan.slot(target), plan.slot(active));
    match cutover(&new.client, &old.client, plan.step_bound).await {
        Ok(back) => {
            let after = failing_since.map(|at| millis(at.elapsed()));
            run.report.rollback_after_failing_ms = after;
            run.step(
                &format!("roll back to {active}"),
                StepOutcome::Ok,
                format!(
                    "{active} serves again {} ms after the first failing signal",
                    after.unwrap_or(0)
                ),
            )
            .await;
            run.report.rollback = Some(back);
            run.report.serving = Some(active.as_str().to_owned());
            stop(&mut run, new).await;
            run.finish(Ending::RolledBack, format!("after the cutover: {signal}"))
                .await
        }
        Err(error) => {
            run.step(
                &format!("roll back to {active}"),
                StepOutcome::Failed,
                error.to_string(),
            )
            .await;
            run.report.serving = None;
            run.finish(
                Ending::Failed,
                format!("after the cutover: {signal}; the rollback failed: {error}"),
            )
            .await
        }
    }
}

/// The new colour stays: recorded as the active one with its build.
async fn promote(mut run: Run<'_>, plan: &Plan, target: Colour) -> DeployReport {
    let slot = plan.slot(target);
    let build = ColourBuild {
        colour: target,
        version: plan.version.clone(),
        commit: plan.commit.clone(),
        binary: slot.binary.clone(),
        config: slot.config.clone(),
        admin_url: slot.client.base().to_owned(),
        recorded_at_ms: now_unix_ms(),
    };
    match run.store.set_active_colour(&build).await {
        Ok(()) => {
            run.step(
                "promote",
                StepOutcome::Ok,
                format!("{target} is the active colour"),
            )
            .await;
        }
        Err(error) => {
            run.step("promote", StepOutcome::Failed, error.to_string())
                .await;
        }
    }
    run.finish(
        Ending::Promoted,
        format!("{target} serves {}", plan.version),
    )
    .await
}

/// A first deploy: nothing served, the candidate takes over what the store has.
async fn first_takeover(mut run: Run<'_>, plan: &Plan, candidate: &Slot) -> DeployReport {
    let target = candidate.colour;
    let taken = async {
        candidate
            .client
            .takeover()
            .await
            .map_err(|e| e.to_string())?;
        candidate
            .client
            .wait_phase(Phase::Serving, plan.step_bound)
            .await
            .map_err(|e| e.to_string())?;
        // Serving is not ready yet: a first takeover identifies its shards (Discord spaces
        // identifies 5 s apart per bucket, the gate's voice probe having just used one) and
        // joins voice again. Promoted only once /readyz says so.
        wait_ready(&candidate.client, plan.gate_bound).await
    }
    .await;
    match taken {
        Ok(()) => {
            run.step(
                &format!("take over in {target}"),
                StepOutcome::Ok,
                "serving and ready",
            )
            .await;
            run.report.serving = Some(target.as_str().to_owned());
            promote(run, plan, target).await
        }
        Err(detail) => {
            run.step(
                &format!("take over in {target}"),
                StepOutcome::Failed,
                &detail,
            )
            .await;
            run.finish(Ending::Failed, detail).await
        }
    }
}

/// Waits until the colour's `/readyz` answers 200, within `bound`.
async fn wait_ready(client: &ColourClient, bound: Duration) -> Result<(), String> {
    let deadline = Instant::now() + bound;
    loop {
        if matches!(client.ready().await, Ok(true)) {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(format!("serving, but not ready within {bound:?} (/readyz)"));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The candidate failed before the cutover: stopped, the old colour untouched.
async fn reject(mut run: Run<'_>, candidate: &Slot, reason: String) -> DeployReport {
    stop(&mut run, candidate).await;
    run.finish(Ending::Rejected, reason).await
}

/// The cutover itself failed.
async fn failed_cutover(
    mut run: Run<'_>,
    candidate: &Slot,
    active: Colour,
    error: &CutoverError,
) -> DeployReport {
    run.step(
        &format!("cut over to {}", candidate.colour),
        StepOutcome::Failed,
        error.to_string(),
    )
    .await;
    let ending = match error {
        CutoverError::NotReady(_) | CutoverError::Handover(_) => Ending::Rejected,
        CutoverError::Takeover { restored: true, .. } => Ending::RolledBack,
        CutoverError::Takeover {
            restored: false, ..
        } => Ending::Failed,
    };
    if ending == Ending::Failed {
        run.report.serving = None;
    } else {
        run.report.serving = Some(active.as_str().to_owned());
        let _ = run_command(&candidate.stop, run.command_bound, &[]).await;
    }
    run.finish(ending, error.to_string()).await
}

/// `dimby deploy rollback`: the serving colour hands back to the other, which is started (in
/// standby, from its slot's command) if it does not run. The ledger's active colour follows
/// when it knows the other colour's build.
pub async fn rollback(plan: &Plan, store: &dyn Store) -> Result<CutoverReport, String> {
    let active = serving_colour(plan)
        .await
        .map_err(|e| e.to_string())?
        .ok_or("no colour serves: nothing to roll back")?;
    let (from, to) = (plan.slot(active), plan.slot(active.other()));
    if !matches!(to.client.state().await, Ok(state) if state.phase == Phase::Standby) {
        run_command(&to.start, plan.step_bound, &[]).await?;
        to.client
            .wait_phase(Phase::Standby, plan.gate_bound)
            .await
            .map_err(|e| e.to_string())?;
    }
    let report = cutover(&from.client, &to.client, plan.step_bound)
        .await
        .map_err(|e| e.to_string())?;
    match store.colour_build(to.colour).await {
        Ok(Some(build)) => {
            if let Err(error) = store.set_active_colour(&build).await {
                tracing::error!(%error, "could not record the active colour after the rollback");
            }
        }
        Ok(None) => {
            tracing::warn!(colour = %to.colour, "the ledger has no build of this colour: its active colour is unchanged");
        }
        Err(error) => tracing::error!(%error, "could not read the ledger after the rollback"),
    }
    Ok(report)
}

/// `dimby deploy resume` (at boot, when both colours start in standby): when no colour serves,
/// the ledger's active colour (blue if the ledger has none) takes over. Returns the colour that
/// took over, `None` when one already served.
pub async fn resume(plan: &Plan, store: &dyn Store) -> Result<Option<Colour>, String> {
    if let Some(serving) = serving_colour(plan).await.map_err(|e| e.to_string())? {
        tracing::info!(colour = %serving, "a colour serves already: nothing to resume");
        return Ok(None);
    }
    let colour = store
        .active_colour()
        .await
        .map_err(|e| format!("the deploy ledger: {e}"))?
        .map_or(Colour::Blue, |build| build.colour);
    let slot = plan.slot(colour);
    slot.client
        .wait_phase(Phase::Standby, plan.gate_bound)
        .await
        .map_err(|e| e.to_string())?;
    slot.client.takeover().await.map_err(|e| e.to_string())?;
    slot.client
        .wait_phase(Phase::Serving, plan.step_bound)
        .await
        .map_err(|e| e.to_string())?;
    Ok(Some(colour))
}

/// Which colour serves, by asking both.
pub async fn serving_colour(plan: &Plan) -> Result<Option<Colour>, DeployError> {
    let mut serving = Vec::new();
    for slot in [&plan.blue, &plan.green] {
        if let Ok(state) = slot.client.state().await
            && state.phase == Phase::Serving
        {
            serving.push(slot.colour);
        }
    }
    match serving.as_slice() {
        [] => Ok(None),
        [one] => Ok(Some(*one)),
        _ => Err(DeployError::BothServing),
    }
}

/// Stops a slot's build and records the step.
async fn stop(run: &mut Run<'_>, slot: &Slot) {
    let stopped = run_command(&slot.stop, run.command_bound, &[]).await;
    let outcome = if stopped.is_ok() {
        StepOutcome::Ok
    } else {
        StepOutcome::Failed
    };
    run.step(
        &format!("stop {}", slot.colour),
        outcome,
        stopped.err().unwrap_or_default(),
    )
    .await;
}

/// Runs a slot's command with `env` added to its environment, for at most `bound` (then it is
/// killed); its failure in words.
async fn run_command(
    command: &[String],
    bound: Duration,
    env: &[(&str, &str)],
) -> Result<(), String> {
    let Some((program, args)) = command.split_first() else {
        return Err("no command configured".to_owned());
    };
    let output = tokio::process::Command::new(program)
        .args(args)
        .envs(env.iter().copied())
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(bound, output)
        .await
        .map_err(|_| format!("{program} did not finish within {bound:?}"))?
        .map_err(|e| format!("{program}: {e}"))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{program} exited with {}: {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        ))
    }
}

fn now_unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, millis)
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::commits_match;

    #[test]
    fn a_commit_matches_itself_and_its_abbreviations_only() {
        let full = "ed2117f6d5064c3f5b0a1e2d3c4b5a6978695a4b";
        assert!(commits_match(full, full));
        assert!(commits_match("ed2117f6d506", full));
        assert!(commits_match(full, "ed2117f"));
        assert!(!commits_match("ed2117", full), "too short to say");
        assert!(!commits_match("d655c7f1a2b3", full));
        assert!(!commits_match("ed2117f6d507", "ed2117f6d506"));
    }
}
