//! What one trial produced, as the agent loop hands it to the store.

use serde::{Deserialize, Serialize};

use crate::model::Usage;
use crate::plugin::{File, Finding, Message, TrialSetup, TrialSpec, WorldEvent};

/// Detector label for findings the host makes itself (a failed trial, materials read).
pub const HOST_DETECTOR: &str = "host";
/// The host's own behaviour: did the agent read the trial's materials at all.
pub const MATERIALS_READ: &str = "materials-read";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum TrialStatus {
    /// The agent ended the trial by answering without tool calls.
    Completed,
    /// The turn limit ended the trial.
    TurnLimit,
    /// The trial could not run to the end (plugin failure, model failure).
    Error,
}

impl TrialStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            TrialStatus::Completed => "completed",
            TrialStatus::TurnLimit => "turn-limit",
            TrialStatus::Error => "error",
        }
    }
}

/// A finding with the detector that made it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ScoredFinding {
    /// `name@version` of the detector, or `host`.
    pub detector: String,
    pub finding: Finding,
}

/// What a model call added to a message (assistant messages from API models only).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct CallMeta {
    pub usage: Usage,
    pub cost: Option<f64>,
    pub cached: bool,
    pub attempts: u32,
    /// Provider data replayed with the message on later turns.
    pub provider_state: Option<serde_json::Value>,
}

impl CallMeta {
    /// What a model call's output says about the call itself.
    pub fn of(output: &crate::model::ModelOutput) -> CallMeta {
        CallMeta {
            usage: output.usage,
            cost: output.cost,
            cached: output.cached,
            attempts: output.attempts,
            provider_state: output.provider_state.clone(),
        }
    }
}

/// Everything one trial produced.
pub struct TrialResult {
    pub id: String,
    pub spec: TrialSpec,
    /// `name@version` of the scenario.
    pub scenario: String,
    /// The agent that actually played (for mixed scripted models, the one drawn).
    pub agent: String,
    pub status: TrialStatus,
    pub error: Option<String>,
    pub setup: Option<TrialSetup>,
    pub messages: Vec<Message>,
    /// Aligned with `messages`: the model call behind each assistant message, if any.
    pub calls: Vec<Option<CallMeta>>,
    pub events: Vec<WorldEvent>,
    pub initial_world: Vec<File>,
    pub final_world: Vec<File>,
    pub findings: Vec<ScoredFinding>,
    pub usage: Usage,
    /// Dollars spent on the agent's calls; `None` when a model's price is unknown.
    pub cost: Option<f64>,
    pub turns: u32,
    pub duration_ms: u64,
    pub plugin_output: Vec<PluginOutput>,
}

/// A captured log line from a plugin.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LogLine {
    pub level: String,
    pub message: String,
}

/// What a plugin printed and logged during one trial.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct PluginOutput {
    pub plugin: String,
    pub stdout: String,
    pub stderr: String,
    pub logs: Vec<LogLine>,
}
