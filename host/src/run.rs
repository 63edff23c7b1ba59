//! Running a grid: plan the trials, skip those already recorded, run the rest concurrently,
//! and record each as it finishes.
//!
//! A run's id is a hash of its definition (plugin hashes, models, axis choices, epochs, seed),
//! so running the same command again resumes the same run and runs only what is missing.

use std::sync::Arc;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use crate::grid::{AxisChoices, GridRequest, PlannedTrial, expand};
use crate::runtime::{LoadedPlugin, Runtime};
use crate::store::{PluginRecord, RunRecord, Store, StoreError};
use crate::trial::{Agent, TrialInput, TrialStatus, run_trial};

pub struct RunRequest {
    pub scenarios: Vec<Arc<LoadedPlugin>>,
    pub detectors: Vec<Arc<LoadedPlugin>>,
    pub models: Vec<String>,
    pub axes: AxisChoices,
    pub epochs: u32,
    pub seed: u64,
    /// Trials in flight at once.
    pub max_trials: usize,
    /// The command line, for provenance.
    pub command: String,
}

#[derive(Debug, Clone, Default)]
pub struct Progress {
    pub total: usize,
    pub done: usize,
    pub skipped: usize,
    pub completed: usize,
    pub turn_limit: usize,
    pub errors: usize,
}

#[derive(Debug, Clone)]
pub struct RunSummary {
    pub run_id: String,
    pub progress: Progress,
    pub elapsed: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The request cannot be planned (unknown axis value, unknown agent, unsupported model).
    #[error("{0}")]
    Plan(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Resolves `provider/model` strings to API clients. This build has no HTTP providers yet.
fn resolve_api(model: &str, provider: &str, _name: &str) -> Result<Agent, String> {
    Err(format!(
        "model `{model}`: provider `{provider}` is not available in PeerPressure {}; this version runs the scenarios' \
         scripted reference agents (`scripted/<agent>`)",
        crate::HOST_VERSION
    ))
}

pub fn plugin_record(p: &LoadedPlugin) -> PluginRecord {
    PluginRecord {
        kind: p.kind.as_str().to_string(),
        name: p.info.name.clone(),
        version: p.info.version.clone(),
        interface_version: p.interface_version.to_string(),
        sha256: p.sha256.clone(),
        size: p.size,
        path: p.path.display().to_string(),
    }
}

/// The run's id: a hash of everything that defines its trials and their scoring.
pub fn run_id(request: &RunRequest) -> String {
    let mut h = Sha256::new();
    h.update(b"run-id-v1\0");
    for p in request.scenarios.iter().chain(&request.detectors) {
        h.update(p.kind.as_str());
        h.update(&p.sha256);
        h.update(b"\0");
    }
    for m in &request.models {
        h.update(m);
        h.update(b"\0");
    }
    for (axis, values) in &request.axes.0 {
        h.update(axis);
        h.update(values.join(","));
        h.update(b"\0");
    }
    h.update(request.epochs.to_le_bytes());
    h.update(request.seed.to_le_bytes());
    format!("run-{}", &hex::encode(h.finalize())[..12])
}

/// Plans the grid without running anything.
pub fn plan(request: &RunRequest) -> Result<Vec<PlannedTrial>, RunError> {
    if request.scenarios.is_empty() {
        return Err(RunError::Plan("no scenario given (--scenario NAME or PATH)".into()));
    }
    if request.models.is_empty() {
        return Err(RunError::Plan("no model given (--model provider/model, e.g. scripted/faithful)".into()));
    }
    let grid = GridRequest { scenarios: &request.scenarios, models: &request.models, axes: &request.axes, epochs: request.epochs, seed: request.seed };
    expand(&grid, &resolve_api).map_err(RunError::Plan)
}

pub async fn execute(
    runtime: Arc<Runtime>,
    store: Arc<Store>,
    request: RunRequest,
    on_progress: &(dyn Fn(&Progress) + Sync),
) -> Result<RunSummary, RunError> {
    let started = Instant::now();
    let trials = plan(&request)?;
    let id = run_id(&request);
    store.record_run(&RunRecord {
        id: id.clone(),
        created_at: crate::store::now_rfc3339(),
        host_version: crate::HOST_VERSION.to_string(),
        seed: request.seed,
        epochs: request.epochs,
        models: request.models.clone(),
        judge: None,
        axes: request.axes.0.clone(),
        plugins: request.scenarios.iter().chain(&request.detectors).map(|p| plugin_record(p)).collect(),
        command: request.command.clone(),
    })?;
    let done = store.finished_trials(&id)?;
    let mut progress = Progress { total: trials.len(), ..Progress::default() };
    let pending: Vec<PlannedTrial> = trials.into_iter().filter(|t| !done.contains(&t.id)).collect();
    progress.skipped = progress.total - pending.len();
    progress.done = progress.skipped;
    on_progress(&progress);

    let limit = Arc::new(tokio::sync::Semaphore::new(request.max_trials.max(1)));
    let mut tasks = tokio::task::JoinSet::new();
    let mut pending = pending.into_iter();
    let mut failure: Option<RunError> = None;
    loop {
        // Keep at most `max_trials` spawned so memory stays flat on huge grids.
        while tasks.len() < request.max_trials.max(1) && failure.is_none() {
            let Some(trial) = pending.next() else { break };
            let permit = limit.clone().acquire_owned().await.expect("semaphore is never closed");
            let runtime = runtime.clone();
            let store = store.clone();
            let run_id = id.clone();
            let input = TrialInput {
                id: trial.id,
                spec: trial.spec,
                scenario: trial.scenario,
                detectors: request.detectors.clone(),
                agent: trial.agent,
                judge: None,
            };
            tasks.spawn(async move {
                let result = run_trial(&runtime, input).await;
                let status = result.status;
                let recorded = store.record_trial(&run_id, &result);
                drop(permit);
                recorded.map(|_| status)
            });
        }
        let Some(joined) = tasks.join_next().await else { break };
        match joined {
            Ok(Ok(status)) => {
                progress.done += 1;
                match status {
                    TrialStatus::Completed => progress.completed += 1,
                    TrialStatus::TurnLimit => progress.turn_limit += 1,
                    TrialStatus::Error => progress.errors += 1,
                }
                on_progress(&progress);
            }
            // Losing results silently is worse than stopping: end the run, keep what is recorded.
            Ok(Err(e)) => failure = failure.or(Some(RunError::Store(e))),
            Err(e) => failure = failure.or(Some(RunError::Plan(format!("a trial task failed: {e}")))),
        }
    }
    if let Some(e) = failure {
        return Err(e);
    }
    Ok(RunSummary { run_id: id, progress, elapsed: started.elapsed() })
}
