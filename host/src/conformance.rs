//! `peerpressure plugin test`: runs every reference agent of a scenario over its grid,
//! scores the trials with the given detectors, and checks the verdicts the scenario declares
//! for each agent.
//!
//! An expectation holds when every finding for its behaviour on the agent's trials has the
//! expected verdict and at least one such finding exists (a behaviour that only applies to
//! part of the grid, like the deletion task's, is checked where it applies). A judge
//! failure caused by running without `--judge` is reported as needing a judge, not as a
//! mismatch; any other difference fails the test.

use peerpressure_types::error::{HasOrigin, Origin};
use std::sync::Arc;

use crate::grid::AxisChoices;
use crate::providers::Providers;
use crate::scheduler::{Execution, RunError, RunRequest, ScenarioRun, Selection};
use crate::store::{RUN_SCORING, Store, StoreError};
use peerpressure_engine::{LoadedPlugin, Runtime};
use peerpressure_types::run::RunDefinition;

/// The outcome of one expected verdict of one agent.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Expectation {
    pub agent: String,
    pub behaviour: String,
    pub expected: String,
    /// Findings with the expected verdict.
    pub matched: u64,
    /// Findings with another verdict: (trial id, verdict, explanation), the first few.
    pub mismatched: Vec<(String, String, String)>,
    pub mismatched_count: u64,
    /// Judge errors caused by the missing `--judge`.
    pub needs_judge: u64,
}

impl Expectation {
    pub fn passed(&self) -> bool {
        self.mismatched_count == 0 && (self.matched > 0 || self.needs_judge > 0)
    }

    /// Only the missing judge stands between this expectation and a verdict.
    pub fn skipped(&self) -> bool {
        self.mismatched_count == 0 && self.matched == 0 && self.needs_judge > 0
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConformanceError {
    #[error(transparent)]
    Run(#[from] RunError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("scenario {0} ships no reference agents to test")]
    NoAgents(String),
    #[error(
        "no detector of this test scores `{behaviour}`, which the scenario expects for agent `{agent}` (detectors: {detectors})"
    )]
    Unscored {
        agent: String,
        behaviour: String,
        detectors: String,
    },
}

impl HasOrigin for ConformanceError {
    fn origin(&self) -> Origin {
        match self {
            ConformanceError::Run(e) => e.origin(),
            ConformanceError::Store(_) => Origin::Work,
            _ => Origin::Input,
        }
    }
}

pub struct ConformanceRequest {
    pub scenario: Arc<LoadedPlugin>,
    pub detectors: Vec<Arc<LoadedPlugin>>,
    /// Axis choices; axes not named run over all their values.
    pub axes: AxisChoices,
    pub epochs: u32,
    pub judge: Option<String>,
    pub providers: Option<Arc<Providers>>,
    /// The agent CLI the reference agents run through; `None` for the host's loop.
    pub harness: Option<Arc<crate::agent_cli::Harness>>,
}

/// Runs the check, recording the trials in `store`.
pub async fn check(
    runtime: Arc<Runtime>,
    store: Arc<Store>,
    request: ConformanceRequest,
) -> Result<Vec<Expectation>, ConformanceError> {
    let info = &request.scenario.info;
    if info.agents.is_empty() {
        return Err(ConformanceError::NoAgents(request.scenario.id()));
    }
    let scored: Vec<&str> = request
        .detectors
        .iter()
        .flat_map(|d| d.info.behaviours.iter().map(|b| b.id.as_str()))
        .collect();
    for agent in &info.agents {
        if let Some(e) = agent
            .expected
            .iter()
            .find(|e| !scored.contains(&e.behaviour.as_str()))
        {
            return Err(ConformanceError::Unscored {
                agent: agent.name.clone(),
                behaviour: e.behaviour.clone(),
                detectors: request
                    .detectors
                    .iter()
                    .map(|d| d.id())
                    .collect::<Vec<_>>()
                    .join(", "),
            });
        }
    }
    let mut axes = request.axes.clone();
    for axis in &info.axes {
        axes.0
            .entry(axis.name.clone())
            .or_insert_with(|| vec!["all".to_string()]);
    }
    let definition = RunDefinition {
        models: info
            .agents
            .iter()
            .map(|a| format!("scripted/{}", a.name))
            .collect(),
        axes: axes.0,
        epochs: request.epochs,
        seed: 0,
        judge: request.judge.clone(),
        harness: request.harness.as_ref().map(|h| h.installed.record.clone()),
        ..RunDefinition::default()
    };
    let run = RunRequest::new(
        definition,
        vec![ScenarioRun {
            plugin: request.scenario.clone(),
            axes: AxisChoices::default(),
        }],
        request.detectors.clone(),
        Default::default(),
        Execution {
            // Agent CLIs are whole programs: two at a time per core is what a laptop holds.
            max_trials: if request.harness.is_some() { 4 } else { 16 },
            command: "peerpressure plugin test".into(),
            providers: request.providers.clone(),
            cost_limit: None,
            selection: Selection::default(),
            grid_size: None,
            harness: request.harness.clone(),
        },
    );
    let planned = crate::scheduler::plan(&run)?;
    let summary = crate::scheduler::execute(runtime, store.clone(), run, planned, &|_| {}).await?;
    let trials = store.trial_dumps(&summary.run_id, RUN_SCORING)?;
    let mut results = Vec::new();
    for agent in &info.agents {
        let model = format!("scripted/{}", agent.name);
        for expected in &agent.expected {
            let want = expected.verdict.as_str();
            let mut result = Expectation {
                agent: agent.name.clone(),
                behaviour: expected.behaviour.clone(),
                expected: want.to_string(),
                matched: 0,
                mismatched: Vec::new(),
                mismatched_count: 0,
                needs_judge: 0,
            };
            for trial in trials.iter().filter(|t| t["model"] == model.as_str()) {
                if trial["status"] == "error" {
                    result.mismatched_count += 1;
                    if result.mismatched.len() < 3 {
                        result.mismatched.push((
                            trial["id"].as_str().unwrap_or("").into(),
                            "trial error".into(),
                            trial["error"].as_str().unwrap_or("").into(),
                        ));
                    }
                    continue;
                }
                for finding in trial["findings"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter(|f| f["behaviour"] == expected.behaviour.as_str())
                {
                    let verdict = finding["verdict"].as_str().unwrap_or("");
                    let explanation = finding["explanation"].as_str().unwrap_or("");
                    if verdict == want {
                        result.matched += 1;
                    } else if verdict == "error"
                        && request.judge.is_none()
                        && explanation.contains("no judge model is configured")
                    {
                        result.needs_judge += 1;
                    } else {
                        result.mismatched_count += 1;
                        if result.mismatched.len() < 3 {
                            result.mismatched.push((
                                trial["id"].as_str().unwrap_or("").into(),
                                verdict.into(),
                                explanation.into(),
                            ));
                        }
                    }
                }
            }
            results.push(result);
        }
    }
    Ok(results)
}
