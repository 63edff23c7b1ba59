//! Host-side bindings of the plugin interface, `wit/peerpressure-plugin@0.1.0`.
//!
//! The generated records (`Message`, `File`, `Finding`, ...) are the host's data model too:
//! the same values flow between plugins, the agent loop, model providers and the store.

pub mod scenario {
    wasmtime::component::bindgen!({
        path: "../wit/peerpressure-plugin@0.1.0",
        world: "scenario-plugin",
        imports: { default: trappable },
        exports: { default: async },
        additional_derives: [serde::Serialize, serde::Deserialize, PartialEq],
    });
}

pub mod detector {
    wasmtime::component::bindgen!({
        path: "../wit/peerpressure-plugin@0.1.0",
        world: "detector-plugin",
        imports: {
            "peerpressure:plugin/judge.complete": async | trappable,
            default: trappable,
        },
        exports: { default: async },
        with: {
            "peerpressure:plugin/types": super::scenario::peerpressure::plugin::types,
            "peerpressure:plugin/log": super::scenario::peerpressure::plugin::log,
        },
        additional_derives: [serde::Serialize, serde::Deserialize, PartialEq],
    });
}

pub use detector::peerpressure::plugin::judge::JudgeRequest;
pub use scenario::peerpressure::plugin::log::Level as LogLevel;
pub use scenario::peerpressure::plugin::types::*;
pub use scenario::peerpressure::plugin::world_state::WorldError;

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
