//! The records of the plugin interface (`wit/peerpressure-plugin@0.1.0`, interface `types`),
//! as plain Rust values.
//!
//! These are the host's data model: the same values flow between the agent loop, model
//! providers and the store. The engine converts them to and from the generated bindings
//! when it calls a plugin, so nothing above the engine depends on wasmtime. Field and variant
//! names match the generated ones, so their JSON in existing stores reads back unchanged.

use serde::{Deserialize, Serialize};

/// One axis of a scenario's experimental grid.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Axis {
    pub name: String,
    pub description: String,
    pub values: Vec<String>,
    pub default_value: String,
}

/// A behaviour a scenario probes or a detector scores.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Behaviour {
    pub id: String,
    pub description: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Verdict {
    Positive,
    Negative,
    NotApplicable,
    Error,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExpectedVerdict {
    pub behaviour: String,
    pub verdict: Verdict,
}

/// A scripted reference agent shipped with a scenario.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReferenceAgent {
    pub name: String,
    pub description: String,
    pub faithful: bool,
    pub expected: Vec<ExpectedVerdict>,
}

/// What a plugin says about itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PluginInfo {
    pub name: String,
    pub version: String,
    pub title: String,
    pub description: String,
    pub behaviours: Vec<Behaviour>,
    pub axes: Vec<Axis>,
    pub agents: Vec<ReferenceAgent>,
}

/// One trial's identity and position in the grid.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrialSpec {
    pub trial_id: String,
    pub axes: Vec<(String, String)>,
    pub seed: u64,
    pub model: String,
    pub model_family: String,
    pub epoch: u32,
}

/// A tool offered to the model; `parameters` is a JSON Schema, as text.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolDefinition {
    pub name: String,
    pub description: String,
    pub parameters: String,
}

/// A standard file tool the host implements over the world.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BuiltinTool {
    pub kind: String,
    pub name: String,
    pub description: String,
    pub machine: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Limits {
    pub max_turns: u32,
    pub max_tool_calls_per_turn: u32,
}

/// What a scenario's `setup` returns.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrialSetup {
    pub system_prompt: String,
    pub user_prompt: String,
    pub tools: Vec<ToolDefinition>,
    pub builtin_tools: Vec<BuiltinTool>,
    pub limits: Limits,
    pub ground_truth: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Role {
    System,
    User,
    Assistant,
    Tool,
}

/// A tool call as the model made it; `arguments` is the raw text the model sent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolCall {
    pub id: String,
    pub name: String,
    pub arguments: String,
}

/// One message of a transcript.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    pub index: u32,
    pub role: Role,
    pub content: String,
    pub reasoning: Option<String>,
    pub tool_calls: Vec<ToolCall>,
    pub tool_call_id: Option<String>,
    pub is_error: bool,
}

/// A file in the world.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct File {
    pub machine: String,
    pub path: String,
    pub content: String,
    pub summary: String,
    pub size: u64,
    pub modified: i64,
}

/// A file's metadata, as listings show it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FileInfo {
    pub path: String,
    pub summary: String,
    pub size: u64,
    pub modified: i64,
}

/// A change to the world, recorded by the host.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorldEvent {
    pub index: u32,
    pub kind: String,
    pub machine: String,
    pub path: String,
    pub target: Option<String>,
    pub before: Option<String>,
    pub after: Option<String>,
    pub tool_call_id: Option<String>,
    pub turn: u32,
}

/// Everything a detector sees about one finished trial.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrialRecord {
    pub spec: TrialSpec,
    pub scenario: String,
    pub setup: TrialSetup,
    pub messages: Vec<Message>,
    pub events: Vec<WorldEvent>,
    pub initial_world: Vec<File>,
    pub final_world: Vec<File>,
    pub outcome: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum EvidenceKind {
    Message,
    Event,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evidence {
    pub kind: EvidenceKind,
    pub index: u32,
    pub quote: String,
}

/// A value a detector extracted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum FindingValue {
    Number(f64),
    Text(String),
}

/// One detector result for one behaviour on one trial.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    pub behaviour: String,
    pub verdict: Verdict,
    pub explanation: String,
    pub evidence: Vec<Evidence>,
    pub value: Option<FindingValue>,
}

/// Why a world operation failed (interface `world-state`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum WorldError {
    NoSuchMachine(String),
    NoSuchFile(String),
    AlreadyExists(String),
    InvalidPath(String),
    Limit(String),
}

/// A detector's request to the run's judge model (interface `judge`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JudgeRequest {
    pub system: String,
    pub prompt: String,
    pub max_tokens: u32,
}

/// The interface version this host implements.
pub const INTERFACE_VERSION: &str = "0.1.0";
/// Export names that identify each plugin kind at this version.
pub const SCENARIO_EXPORT: &str = "peerpressure:plugin/scenario@0.1.0";
pub const DETECTOR_EXPORT: &str = "peerpressure:plugin/detector@0.1.0";
impl Verdict {
    /// The verdict's name in stores, reports and exports.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Positive => "positive",
            Verdict::Negative => "negative",
            Verdict::NotApplicable => "not-applicable",
            Verdict::Error => "error",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "positive" => Verdict::Positive,
            "negative" => Verdict::Negative,
            "not-applicable" => Verdict::NotApplicable,
            "error" => Verdict::Error,
            _ => return None,
        })
    }
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::System => "system",
            Role::User => "user",
            Role::Assistant => "assistant",
            Role::Tool => "tool",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "system" => Role::System,
            "user" => Role::User,
            "assistant" => Role::Assistant,
            "tool" => Role::Tool,
            _ => return None,
        })
    }
}

impl Message {
    pub fn text(index: u32, role: Role, content: impl Into<String>) -> Self {
        Message {
            index,
            role,
            content: content.into(),
            reasoning: None,
            tool_calls: Vec::new(),
            tool_call_id: None,
            is_error: false,
        }
    }

    pub fn tool_result(
        index: u32,
        call_id: &str,
        content: impl Into<String>,
        is_error: bool,
    ) -> Self {
        Message {
            tool_call_id: Some(call_id.to_string()),
            is_error,
            ..Message::text(index, Role::Tool, content)
        }
    }
}

impl WorldError {
    /// The error as a sentence for the model or a log.
    pub fn message(&self) -> String {
        match self {
            WorldError::NoSuchMachine(m) => format!("no such machine: {m}"),
            WorldError::NoSuchFile(p) => format!("no such file: {p}"),
            WorldError::AlreadyExists(p) => format!("already exists: {p}"),
            WorldError::InvalidPath(p) => format!("invalid path: {p}"),
            WorldError::Limit(m) => format!("limit reached: {m}"),
        }
    }
}
