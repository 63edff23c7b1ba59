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
use crate::providers::Providers;
use crate::store::{PluginRecord, RunRecord, Store, StoreError};
use crate::trial::{Agent, TrialInput, TrialStatus, run_trial};

/// A scenario of a run with its own axis choices (from a plugin set).
#[derive(Clone)]
pub struct ScenarioRun {
    pub plugin: Arc<LoadedPlugin>,
    pub axes: AxisChoices,
}

pub struct RunRequest {
    pub scenarios: Vec<ScenarioRun>,
    pub detectors: Vec<Arc<LoadedPlugin>>,
    pub models: Vec<String>,
    /// `-A` choices, applied over every scenario's own.
    pub axes: AxisChoices,
    pub epochs: u32,
    pub seed: u64,
    /// Trials in flight at once.
    pub max_trials: usize,
    /// The command line, for provenance.
    pub command: String,
    /// HTTP providers for `provider/model` strings; `None` allows scripted agents only.
    pub providers: Option<Arc<Providers>>,
    /// `--judge provider/model`.
    pub judge: Option<String>,
    /// Stop scheduling new trials once this many dollars are spent.
    pub cost_limit: Option<f64>,
    /// The plugin set the run came from, for provenance.
    pub set: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct Progress {
    pub total: usize,
    pub done: usize,
    pub skipped: usize,
    pub completed: usize,
    pub turn_limit: usize,
    pub errors: usize,
    pub tokens: u64,
    /// Dollars spent by this invocation (agent and judge calls with known prices).
    pub cost: f64,
    /// Set when `--cost-limit` stopped the scheduling of new trials.
    pub stopped_by_cost_limit: bool,
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
    for s in &request.scenarios {
        h.update(&s.plugin.sha256);
        for (axis, values) in &s.axes.0 {
            h.update(axis);
            h.update(values.join(","));
        }
        h.update(b"\0");
    }
    for p in &request.detectors {
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
    for m in &request.models {
        h.update(settings_text(request, m));
    }
    h.update(request.judge.as_deref().unwrap_or(""));
    format!("run-{}", &hex::encode(h.finalize())[..12])
}

/// A model's generation settings, as canonical JSON (part of run and trial identity).
fn settings_text(request: &RunRequest, model: &str) -> String {
    if model.starts_with("scripted/") {
        return "{}".into();
    }
    request.providers.as_ref().map(|p| serde_json::to_string(&p.settings_for(model)).expect("settings serialise")).unwrap_or_else(|| "{}".into())
}

/// Plans the grid without running anything.
pub fn plan(request: &RunRequest) -> Result<Vec<PlannedTrial>, RunError> {
    if request.scenarios.is_empty() {
        return Err(RunError::Plan("no scenario given (--scenario NAME or PATH)".into()));
    }
    if request.models.is_empty() {
        return Err(RunError::Plan("no model given (--model provider/model, e.g. scripted/faithful)".into()));
    }
    let settings = |model: &str| settings_text(request, model);
    let grid = GridRequest { scenarios: &request.scenarios, models: &request.models, axes: &request.axes, epochs: request.epochs, seed: request.seed, settings: &settings };
    let resolve = |model: &str| -> Result<Agent, String> {
        let providers = request.providers.as_ref().ok_or_else(|| format!("model `{model}`: no providers are configured"))?;
        if request.cost_limit.is_some() && providers.price(model).is_none() {
            return Err(format!("--cost-limit needs a price for `{model}`: add it to a price file (--prices FILE)"));
        }
        Ok(Agent::Api(providers.resolve(model)?))
    };
    expand(&grid, &resolve).map_err(RunError::Plan)
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
    let judge = match (&request.judge, &request.providers) {
        (None, _) => None,
        (Some(model), Some(providers)) => Some(providers.resolve_judge(model).map_err(RunError::Plan)?),
        (Some(model), None) => return Err(RunError::Plan(format!("judge `{model}`: no providers are configured"))),
    };
    store.record_run(&RunRecord {
        id: id.clone(),
        created_at: crate::store::now_rfc3339(),
        host_version: crate::HOST_VERSION.to_string(),
        seed: request.seed,
        epochs: request.epochs,
        models: request.models.clone(),
        model_settings: match &request.providers {
            Some(p) => request.models.iter().filter(|m| !m.starts_with("scripted/")).map(|m| (m.clone(), p.settings_for(m))).collect(),
            None => Default::default(),
        },
        judge: request.judge.clone(),
        axes: request.axes.0.clone(),
        set: request.set.clone(),
        plugins: request.scenarios.iter().map(|s| &s.plugin).chain(&request.detectors).map(|p| plugin_record(p)).collect(),
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
        while tasks.len() < request.max_trials.max(1) && failure.is_none() && !progress.stopped_by_cost_limit {
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
                judge: judge.clone().map(|j| j as Arc<dyn crate::model::Judge>),
            };
            tasks.spawn(async move {
                let result = run_trial(&runtime, input).await;
                let outcome = (result.status, result.usage.input_tokens + result.usage.output_tokens, result.cost.unwrap_or(0.0));
                let recorded = store.record_trial(&run_id, &result);
                drop(permit);
                recorded.map(|_| outcome)
            });
        }
        let Some(joined) = tasks.join_next().await else { break };
        match joined {
            Ok(Ok((status, tokens, cost))) => {
                progress.done += 1;
                progress.tokens += tokens;
                progress.cost += cost;
                let judge_cost = judge.as_ref().map_or(0.0, |j| j.spent().1);
                if request.cost_limit.is_some_and(|limit| progress.cost + judge_cost >= limit) {
                    progress.stopped_by_cost_limit = true;
                }
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
