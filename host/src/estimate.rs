//! `run --dry-run`: the grid's size and an upper bound on model calls and cost, per model,
//! from each scenario's setup (no model is called, nothing is recorded).

use peerpressure_engine::Runtime;

use crate::agent_loop::Agent;
use crate::grid::PlannedTrial;
use crate::scheduler::{RunError, RunRequest};

/// What `--dry-run` reports: the grid and an upper bound on calls and cost, per model.
pub struct Estimate {
    pub trials: usize,
    pub cells: usize,
    pub recorded: usize,
    pub models: Vec<ModelEstimate>,
}

pub struct ModelEstimate {
    pub model: String,
    /// Trials of this model still to run.
    pub trials: usize,
    /// Model calls if every trial used its whole turn limit (0 for scripted agents).
    pub max_calls: u64,
    /// Dollars for those calls; `None` without a price.
    pub max_cost: Option<f64>,
}

/// Tokens assumed per turn for the cost ceiling: each turn's answer, and what each earlier
/// turn adds to the next call's input.
pub const ESTIMATE_TOKENS_PER_TURN: u64 = 400;

/// Runs each scenario's setup once (no model calls) to learn its turn limit and prompt size,
/// and bounds the calls and cost of the trials not yet recorded.
pub async fn estimate(
    runtime: &Runtime,
    request: &RunRequest,
    trials: &[PlannedTrial],
    recorded: &std::collections::HashSet<String>,
) -> Result<Estimate, RunError> {
    let mut shapes: std::collections::HashMap<String, (u64, u64)> =
        std::collections::HashMap::new();
    for trial in trials {
        let key = trial.scenario.sha256.clone();
        if shapes.contains_key(&key) {
            continue;
        }
        let mut instance = runtime
            .scenario(&trial.scenario, trial.spec.seed)
            .await
            .map_err(|e| RunError::Plan(e.to_string()))?;
        let setup = instance
            .setup(&trial.spec)
            .await
            .map_err(|e| RunError::Plan(e.to_string()))?
            .map_err(|e| {
                RunError::Plan(format!(
                    "{} setup refused the trial: {e}",
                    trial.scenario.label()
                ))
            })?;
        let tools: usize = setup
            .tools
            .iter()
            .map(|t| t.name.len() + t.description.len() + t.parameters.len())
            .sum::<usize>()
            + setup.builtin_tools.len() * 200;
        let opening = ((setup.system_prompt.len() + setup.user_prompt.len() + tools) / 4) as u64;
        shapes.insert(
            key,
            (
                u64::from(
                    setup
                        .limits
                        .max_turns
                        .clamp(1, crate::agent_loop::MAX_TURNS),
                ),
                opening,
            ),
        );
    }
    let mut models: Vec<ModelEstimate> = request
        .definition
        .models
        .iter()
        .map(|m| ModelEstimate {
            model: m.clone(),
            trials: 0,
            max_calls: 0,
            max_cost: Some(0.0),
        })
        .collect();
    for trial in trials.iter().filter(|t| !recorded.contains(&t.id)) {
        let Some(entry) = models.iter_mut().find(|m| m.model == trial.spec.model) else {
            continue;
        };
        entry.trials += 1;
        if matches!(trial.agent, Agent::Scripted { .. }) {
            continue;
        }
        let (turns, opening) = shapes[&trial.scenario.sha256];
        entry.max_calls += turns;
        let input = opening * turns + ESTIMATE_TOKENS_PER_TURN * turns * (turns - 1) / 2;
        let usage = crate::model::Usage {
            input_tokens: input,
            output_tokens: ESTIMATE_TOKENS_PER_TURN * turns,
            ..Default::default()
        };
        let price = request
            .execution
            .providers
            .as_ref()
            .and_then(|p| p.price(&entry.model));
        entry.max_cost = match (entry.max_cost, price) {
            (Some(total), Some(price)) => Some(total + price.cost(&usage)),
            _ => None,
        };
    }
    let cells: std::collections::HashSet<(String, String, String)> = trials
        .iter()
        .map(|t| {
            (
                t.scenario.sha256.clone(),
                t.spec.model.clone(),
                format!("{:?}", t.spec.axes),
            )
        })
        .collect();
    Ok(Estimate {
        trials: trials.len(),
        cells: cells.len(),
        recorded: trials.iter().filter(|t| recorded.contains(&t.id)).count(),
        models,
    })
}

impl Estimate {
    pub fn render(&self, run_id: &str) -> String {
        let mut out =
            format!("run {run_id} (dry run: no model was called and nothing was recorded)\n");
        out.push_str(&format!(
            "grid: {} trial(s) in {} cell(s); {} already recorded; {} to run\n\n",
            self.trials,
            self.cells,
            self.recorded,
            self.trials - self.recorded
        ));
        let width = self
            .models
            .iter()
            .map(|m| m.model.len())
            .max()
            .unwrap_or(5)
            .max(5);
        out.push_str(&format!(
            "{:<width$}  {:>7}  {:>21}  {:>14}\n",
            "model", "trials", "model calls (at most)", "cost (at most)"
        ));
        let mut total = Some(0.0);
        for m in &self.models {
            let calls = if m.model.starts_with("scripted/") {
                "0 (scripted)".to_string()
            } else {
                m.max_calls.to_string()
            };
            let cost = match m.max_cost {
                Some(c) => format!("${c:.2}"),
                None => "unknown price".to_string(),
            };
            total = total.zip(m.max_cost).map(|(a, b)| a + b);
            out.push_str(&format!(
                "{:<width$}  {:>7}  {:>21}  {:>14}\n",
                m.model, m.trials, calls, cost
            ));
        }
        if let Some(t) = total {
            out.push_str(&format!("\ntotal cost at most ${t:.2}"));
        }
        out.push_str(&format!(
            "\nceiling: every trial uses its whole turn limit; each turn writes {ESTIMATE_TOKENS_PER_TURN} tokens and adds as many to the next call's input. Judge calls are not included.\n"
        ));
        out
    }
}
