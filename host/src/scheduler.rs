//! Running a grid: plan the trials, skip those already recorded, run the rest concurrently,
//! and record each as it finishes.
//!
//! A run's id is a hash of its definition (plugin hashes, models, axis choices, epochs, seed),
//! so running the same command again resumes the same run and runs only what is missing.

use peerpressure_types::error::{HasOrigin, Origin};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::grid::{AxisChoices, GridRequest, PlannedTrial, expand};
use crate::providers::Providers;
use crate::store::{PluginRecord, RunRecord, Store, StoreError};
use peerpressure_engine::{LoadedPlugin, Runtime};
use peerpressure_types::run::{DefinedPlugin, RunDefinition};

use crate::agent_loop::{Agent, TrialInput, TrialStatus, run_trial};

/// A scenario of a run with its own axis choices (from a plugin set).
#[derive(Clone)]
pub struct ScenarioRun {
    pub plugin: Arc<LoadedPlugin>,
    pub axes: AxisChoices,
}

/// A run to execute: its definition (its identity) with the plugins it names loaded, and how
/// this invocation executes it.
pub struct RunRequest {
    /// What the run is; recorded with it, hashed into its id, and all `resume` reads back.
    pub definition: RunDefinition,
    /// The definition's scenarios, loaded, with their axis choices.
    pub scenarios: Vec<ScenarioRun>,
    /// The definition's detectors, loaded.
    pub detectors: Vec<Arc<LoadedPlugin>>,
    /// Tables and contrasts for reports (from the plugin set; not part of the run's identity).
    pub analysis: crate::analysis::Analysis,
    pub execution: Execution,
}

/// How one invocation executes a run: none of it changes the run's id, so runs executed
/// differently (sharded, limited, with other concurrency) merge into one.
pub struct Execution {
    /// Trials in flight at once.
    pub max_trials: usize,
    /// The command line, for provenance.
    pub command: String,
    /// HTTP providers for `provider/model` strings (built from the definition's settings);
    /// `None` allows scripted agents only.
    pub providers: Option<Arc<Providers>>,
    /// Stop scheduling new trials once this many dollars are spent.
    pub cost_limit: Option<f64>,
    /// Which of the planned trials this invocation runs.
    pub selection: Selection,
    /// Trials in the whole grid (before `--shard`/`--limit`), recorded so viewers can show
    /// progress; `None` when unknown.
    pub grid_size: Option<usize>,
    /// The installed agent CLI of the definition's `harness`, with its limits.
    pub harness: Option<Arc<crate::agent_cli::Harness>>,
}

/// Narrows the planned trials: `--shard K/N`, `--trial-id`, `--limit`. Shards and limited
/// runs of one grid share the run id, so their stores merge into the whole run.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    pub limit: Option<usize>,
    pub trial_ids: Vec<String>,
    /// (k, n), 1-based: this is shard k of n.
    pub shard: Option<(u64, u64)>,
}

impl Selection {
    pub fn parse_shard(text: &str) -> Result<(u64, u64), String> {
        let bad = || format!("--shard `{text}` is not K/N with 1 <= K <= N");
        let (k, n) = text.split_once('/').ok_or_else(bad)?;
        let (k, n): (u64, u64) = (
            k.trim().parse().map_err(|_| bad())?,
            n.trim().parse().map_err(|_| bad())?,
        );
        if n == 0 || k == 0 || k > n {
            return Err(bad());
        }
        Ok((k, n))
    }

    /// The shard a trial belongs to, from its id: stable whatever else is in the grid.
    pub fn shard_of(trial_id: &str, n: u64) -> u64 {
        u64::from_str_radix(&trial_id[..12.min(trial_id.len())], 16).unwrap_or(0) % n + 1
    }

    pub fn apply(&self, trials: Vec<PlannedTrial>) -> Result<Vec<PlannedTrial>, String> {
        let mut trials = trials;
        if let Some((k, n)) = self.shard {
            trials.retain(|t| Self::shard_of(&t.id, n) == k);
        }
        if !self.trial_ids.is_empty() {
            if let Some(unknown) = self
                .trial_ids
                .iter()
                .find(|id| !trials.iter().any(|t| &t.id == *id))
            {
                return Err(format!(
                    "--trial-id {unknown} is not a trial of this run's grid{}",
                    if self.shard.is_some() {
                        " (and shard)"
                    } else {
                        ""
                    }
                ));
            }
            trials.retain(|t| self.trial_ids.contains(&t.id));
        }
        if let Some(limit) = self.limit {
            trials.truncate(limit);
        }
        Ok(trials)
    }
}

impl RunRequest {
    /// A request for `definition` run with these loaded plugins. The definition's plugin
    /// lists are taken from the plugins themselves (path, hash, axis choices), so the two
    /// cannot disagree.
    pub fn new(
        mut definition: RunDefinition,
        scenarios: Vec<ScenarioRun>,
        detectors: Vec<Arc<LoadedPlugin>>,
        analysis: crate::analysis::Analysis,
        execution: Execution,
    ) -> Self {
        definition.scenarios = scenarios
            .iter()
            .map(|s| DefinedPlugin {
                path: s.plugin.path.display().to_string(),
                sha256: s.plugin.sha256.clone(),
                axes: s.axes.0.clone(),
            })
            .collect();
        definition.detectors = detectors
            .iter()
            .map(|d| DefinedPlugin {
                path: d.path.display().to_string(),
                sha256: d.sha256.clone(),
                axes: Default::default(),
            })
            .collect();
        RunRequest {
            definition,
            scenarios,
            detectors,
            analysis,
            execution,
        }
    }

    /// The run's id, from its definition alone.
    pub fn run_id(&self) -> String {
        self.definition.run_id()
    }
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
    /// A trial task died (a panic in the host: a bug, not the user's input); the trials
    /// recorded so far are kept.
    #[error("a trial task failed: {0}")]
    Task(String),
}

impl HasOrigin for RunError {
    fn origin(&self) -> Origin {
        match self {
            RunError::Plan(_) => Origin::Input,
            RunError::Store(_) | RunError::Task(_) => Origin::Work,
        }
    }
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
        axes: p
            .info
            .axes
            .iter()
            .map(|a| (a.name.clone(), a.values.clone()))
            .collect(),
    }
}

/// Plans the grid without running anything.
pub fn plan(request: &RunRequest) -> Result<Vec<PlannedTrial>, RunError> {
    if request.scenarios.is_empty() {
        return Err(RunError::Plan(
            "no scenario given (--scenario NAME or PATH)".into(),
        ));
    }
    let definition = &request.definition;
    if definition.models.is_empty() {
        return Err(RunError::Plan(
            "no model given (--model provider/model, e.g. scripted/faithful)".into(),
        ));
    }
    let settings = |model: &str| definition.settings_text(model);
    let axes = AxisChoices(definition.axes.clone());
    let grid = GridRequest {
        scenarios: &request.scenarios,
        models: &definition.models,
        axes: &axes,
        epochs: definition.epochs,
        seed: definition.seed,
        settings: &settings,
    };
    let resolve = |model: &str| -> Result<Agent, String> {
        let providers = request
            .execution
            .providers
            .as_ref()
            .ok_or_else(|| format!("model `{model}`: no providers are configured"))?;
        if request.execution.cost_limit.is_some() && providers.price(model).is_none() {
            return Err(format!(
                "--cost-limit needs a price for `{model}`: add it to a price file (--prices FILE)"
            ));
        }
        Ok(Agent::Api(providers.resolve(model)?))
    };
    let mut trials = expand(&grid, &resolve).map_err(RunError::Plan)?;
    // Overlapping grid slices of one scenario (a set listing it twice) plan a cell twice,
    // with the same trial id: run it once.
    let mut seen = std::collections::HashSet::new();
    trials.retain(|t| seen.insert(t.id.clone()));
    Ok(trials)
}

/// Runs `trials` (from [`plan`], narrowed by the request's selection) and records them.
pub async fn execute(
    runtime: Arc<Runtime>,
    store: Arc<Store>,
    request: RunRequest,
    trials: Vec<PlannedTrial>,
    on_progress: &(dyn Fn(&Progress) + Sync),
) -> Result<RunSummary, RunError> {
    let started = Instant::now();
    let id = request.run_id();
    let (definition, execution) = (&request.definition, &request.execution);
    let judge = match (&definition.judge, &execution.providers) {
        (None, _) => None,
        (Some(model), Some(providers)) => {
            Some(providers.resolve_judge(model).map_err(RunError::Plan)?)
        }
        (Some(model), None) => {
            return Err(RunError::Plan(format!(
                "judge `{model}`: no providers are configured"
            )));
        }
    };
    store.record_run(&RunRecord {
        id: id.clone(),
        created_at: crate::store::now_rfc3339(),
        host_version: crate::HOST_VERSION.to_string(),
        seed: definition.seed,
        epochs: definition.epochs,
        models: definition.models.clone(),
        model_settings: definition
            .models
            .iter()
            .filter(|m| !m.starts_with("scripted/"))
            .map(|m| (m.clone(), definition.settings_for(m)))
            .collect(),
        judge: definition.judge.clone(),
        axes: definition.axes.clone(),
        set: definition.set.clone(),
        plugins: {
            // A set may list one scenario several times (one grid slice each): record it once.
            let mut plugins: Vec<PluginRecord> = Vec::new();
            for p in request
                .scenarios
                .iter()
                .map(|s| &s.plugin)
                .chain(&request.detectors)
            {
                if !plugins.iter().any(|r| r.sha256 == p.sha256) {
                    plugins.push(plugin_record(p));
                }
            }
            plugins
        },
        command: execution.command.clone(),
        spec: Some(definition.clone()),
        analysis: request.analysis.clone(),
        grid_size: execution.grid_size.map(|n| n as u64),
    })?;
    let done = store.finished_trials(&id)?;
    let mut progress = Progress {
        total: trials.len(),
        ..Progress::default()
    };
    let pending: Vec<PlannedTrial> = trials
        .into_iter()
        .filter(|t| !done.contains(&t.id))
        .collect();
    progress.skipped = progress.total - pending.len();
    progress.done = progress.skipped;
    on_progress(&progress);

    // One thread writes the store, so trials and the async workers never wait on disk. It
    // writes the trials waiting in the queue together, in one transaction (all or none of
    // them: a rerun still finds only whole trials), and commits at most every
    // COMMIT_INTERVAL: each commit rewrites the index and table pages it touched, so fewer,
    // larger ones cost less per trial. The bounded queue keeps memory flat if disk is slow.
    let (to_writer, mut queue) =
        tokio::sync::mpsc::channel::<crate::agent_loop::TrialResult>(WRITE_QUEUE);
    let write_error: Arc<std::sync::Mutex<Option<StoreError>>> = Arc::default();
    let writer = {
        let (store, run_id, write_error) = (store.clone(), id.clone(), write_error.clone());
        std::thread::Builder::new()
            .name("peerpressure-store".into())
            .spawn(move || {
                let mut last_commit = std::time::Instant::now() - COMMIT_INTERVAL;
                while let Some(first) = queue.blocking_recv() {
                    // Let more trials finish before writing, unless the run has ended.
                    if let Some(wait) = COMMIT_INTERVAL.checked_sub(last_commit.elapsed())
                        && !queue.is_closed()
                    {
                        std::thread::sleep(wait);
                    }
                    last_commit = std::time::Instant::now();
                    let mut batch = vec![first];
                    while batch.len() < WRITE_BATCH {
                        match queue.try_recv() {
                            Ok(next) => batch.push(next),
                            Err(_) => break,
                        }
                    }
                    if let Err(e) = store.record_trials(&run_id, &batch) {
                        *write_error.lock().expect("write error slot") = Some(e);
                        break;
                    }
                }
            })
            .expect("spawning the store writer")
    };
    let mut tasks = tokio::task::JoinSet::new();
    let mut pending = pending.into_iter();
    let mut failure: Option<RunError> = None;
    loop {
        if let Some(e) = write_error.lock().expect("write error slot").take() {
            // Losing results silently is worse than stopping: end the run, keep what is recorded.
            failure = failure.or(Some(RunError::Store(e)));
        }
        // Keep at most `max_trials` spawned so memory stays flat on huge grids.
        while tasks.len() < execution.max_trials.max(1)
            && failure.is_none()
            && !progress.stopped_by_cost_limit
        {
            let Some(trial) = pending.next() else { break };
            let runtime = runtime.clone();
            let to_writer = to_writer.clone();
            let input = TrialInput {
                id: trial.id,
                spec: trial.spec,
                scenario: trial.scenario,
                detectors: request.detectors.clone(),
                agent: trial.agent,
                judge: judge.clone().map(|j| j as Arc<dyn crate::model::Judge>),
                harness: request.execution.harness.clone(),
            };
            tasks.spawn(async move {
                // A failpoint for the test of how a host bug ends a run (debug builds only).
                #[cfg(debug_assertions)]
                if std::env::var_os("PEERPRESSURE_FAILPOINT_TRIAL_PANIC").is_some() {
                    panic!("failpoint: a trial task panicked");
                }
                let result = run_trial(&runtime, input).await;
                let outcome = (
                    result.status,
                    result.usage.input_tokens + result.usage.output_tokens,
                    result.cost.unwrap_or(0.0),
                );
                // A closed queue means the writer stopped on an error, reported above.
                to_writer
                    .send(result)
                    .await
                    .map(|_| outcome)
                    .map_err(|_| ())
            });
        }
        let Some(joined) = tasks.join_next().await else {
            break;
        };
        match joined {
            Ok(Ok((status, tokens, cost))) => {
                progress.done += 1;
                progress.tokens += tokens;
                progress.cost += cost;
                let judge_cost = judge.as_ref().map_or(0.0, |j| j.spent().1);
                if execution
                    .cost_limit
                    .is_some_and(|limit| progress.cost + judge_cost >= limit)
                {
                    progress.stopped_by_cost_limit = true;
                }
                match status {
                    TrialStatus::Completed => progress.completed += 1,
                    TrialStatus::TurnLimit => progress.turn_limit += 1,
                    TrialStatus::Error => progress.errors += 1,
                }
                on_progress(&progress);
            }
            Ok(Err(())) => {}
            Err(e) => failure = failure.or(Some(RunError::Task(e.to_string()))),
        }
    }
    drop(to_writer);
    writer.join().expect("the store writer does not panic");
    if let Some(e) = write_error.lock().expect("write error slot").take() {
        failure = failure.or(Some(RunError::Store(e)));
    }
    if let Some(e) = failure {
        return Err(e);
    }
    Ok(RunSummary {
        run_id: id,
        progress,
        elapsed: started.elapsed(),
    })
}

/// Finished trials waiting for the store writer, at most.
const WRITE_QUEUE: usize = 256;
/// Trials written in one transaction, at most (a few milliseconds of writing).
const WRITE_BATCH: usize = 256;
/// The least time between two commits of the store writer: a crash loses at most this much
/// of finished trials (a resumed run runs them again).
const COMMIT_INTERVAL: std::time::Duration = std::time::Duration::from_millis(50);
