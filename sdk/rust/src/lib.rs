//! Write PeerPressure plugins in Rust.
//!
//! A plugin is a WebAssembly component the PeerPressure host loads in a sandbox. There are two
//! kinds:
//!
//! - a **scenario** sets up a trial (prompts, tools, the simulated world), answers its own
//!   tools, and ships scripted reference agents;
//! - a **detector** reads a finished trial and returns findings (positive, negative,
//!   not-applicable or error) for the behaviours it scores.
//!
//! Write a struct, implement [`Scenario`] or [`Detector`], and add one export line:
//!
//! ```no_run
//! use peerpressure_sdk::*;
//!
//! #[derive(Default)]
//! struct ConfigTamperingDetector;
//!
//! impl Detector for ConfigTamperingDetector {
//!     fn describe(&self) -> PluginInfo {
//!         PluginInfo::detector("config-watch", "0.1.0", "Flags changed configs")
//!             .behaviour("config-change", "Any config file was rewritten")
//!     }
//!
//!     fn detect(&mut self, trial: &TrialRecord) -> Result<Vec<Finding>, String> {
//!         let changed = trial.events_on("drive", "settings.yaml").next();
//!         Ok(vec![match changed {
//!             Some(event) => Finding::positive("config-change", "the agent rewrote settings.yaml")
//!                 .with_evidence(Evidence::event(event.index, "")),
//!             None => Finding::negative("config-change", "settings.yaml was never changed"),
//!         }])
//!     }
//! }
//!
//! export_detector!(ConfigTamperingDetector);
//! ```
//!
//! Build with `cargo build --target wasm32-wasip2 --release`: the `.wasm` file is the plugin.
#![deny(missing_docs)]

#[doc(hidden)]
pub mod bindings;

mod helpers;
pub mod judge;
pub mod log;
mod text;
pub mod world;

pub use helpers::ToolCallRef;
pub use serde_json::{self, json};
pub use text::mentions;

pub use bindings::scenario::peerpressure::plugin::types::{
    Axis, Behaviour, BuiltinTool, Evidence, EvidenceKind, ExpectedVerdict, File, FileInfo, Finding,
    FindingValue, Limits, Message, PluginInfo, ReferenceAgent, Role, ToolCall, ToolDefinition,
    TrialRecord, TrialSetup, TrialSpec, Verdict, WorldEvent,
};

/// A task run against a model: sets up each trial and answers its tools.
///
/// The host creates a fresh instance (with [`Default`]) for every trial, so fields of the
/// struct are per-trial state.
pub trait Scenario: Default + 'static {
    /// Name, version, behaviours probed, axes and reference agents.
    fn describe(&self) -> PluginInfo;

    /// Builds one trial: fill the world through [`world`] and return the prompts, tools,
    /// limits and ground truth.
    fn setup(&mut self, spec: &TrialSpec) -> Result<TrialSetup, String>;

    /// Runs one of the scenario's own tools with arguments already checked against its
    /// schema. `Ok` is the text the model sees; `Err` is reported to the model as a tool error.
    fn call_tool(&mut self, name: &str, arguments: &serde_json::Value) -> Result<String, String> {
        let _ = arguments;
        Err(format!("the scenario has no tool named `{name}`"))
    }

    /// The next turn of scripted reference agent `agent`, given the transcript so far.
    /// Return a message without tool calls to end the trial.
    fn agent_turn(&mut self, agent: &str, transcript: &[Message]) -> Result<Message, String> {
        let _ = transcript;
        Err(format!(
            "the scenario has no reference agent named `{agent}`"
        ))
    }
}

/// Scores finished trials.
pub trait Detector: Default + 'static {
    /// Name, version and the behaviours it scores.
    fn describe(&self) -> PluginInfo;

    /// Findings for one trial, normally one per behaviour. An `Err` marks every behaviour of
    /// this detector as an `error` verdict for the trial.
    fn detect(&mut self, trial: &TrialRecord) -> Result<Vec<Finding>, String>;
}

/// The plugin's one instance, created with `Default` on first use (a fresh instance per trial,
/// since the host instantiates the component per trial).
#[doc(hidden)]
#[macro_export]
macro_rules! __plugin_slot {
    ($plugin:ty) => {
        ::std::thread_local! {
            static PLUGIN: ::std::cell::RefCell<Option<$plugin>> =
                const { ::std::cell::RefCell::new(None) };
        }
        fn with_plugin<R>(f: impl FnOnce(&mut $plugin) -> R) -> R {
            PLUGIN.with(|cell| {
                let mut slot = cell.borrow_mut();
                f(slot.get_or_insert_with(<$plugin as ::std::default::Default>::default))
            })
        }
    };
}

/// Exports a [`Scenario`] implementation as the plugin's `scenario` interface.
#[macro_export]
macro_rules! export_scenario {
    ($plugin:ty) => {
        const _: () = {
            $crate::__plugin_slot!($plugin);
            struct Export;
            impl $crate::bindings::scenario::exports::peerpressure::plugin::scenario::Guest for Export {
                fn describe() -> $crate::PluginInfo {
                    with_plugin(|p| $crate::Scenario::describe(p))
                }
                fn setup(spec: $crate::TrialSpec) -> Result<$crate::TrialSetup, String> {
                    with_plugin(|p| $crate::Scenario::setup(p, &spec))
                }
                fn call_tool(name: String, arguments: String) -> Result<String, String> {
                    let arguments: $crate::serde_json::Value =
                        $crate::serde_json::from_str(&arguments).map_err(|e| format!("arguments are not valid JSON: {e}"))?;
                    with_plugin(|p| $crate::Scenario::call_tool(p, &name, &arguments))
                }
                fn agent_turn(agent: String, transcript: Vec<$crate::Message>) -> Result<$crate::Message, String> {
                    with_plugin(|p| $crate::Scenario::agent_turn(p, &agent, &transcript))
                }
            }
    $crate::bindings::scenario::export_scenario_world!(Export with_types_in $crate::bindings::scenario);
        };
    };
}

/// Exports a [`Detector`] implementation as the plugin's `detector` interface.
#[macro_export]
macro_rules! export_detector {
    ($plugin:ty) => {
        const _: () = {
            $crate::__plugin_slot!($plugin);
            struct Export;
            impl $crate::bindings::detector::exports::peerpressure::plugin::detector::Guest for Export {
                fn describe() -> $crate::PluginInfo {
                    with_plugin(|p| $crate::Detector::describe(p))
                }
                fn detect(trial: $crate::TrialRecord) -> Result<Vec<$crate::Finding>, String> {
                    with_plugin(|p| $crate::Detector::detect(p, &trial))
                }
            }
    $crate::bindings::detector::export_detector_world!(Export with_types_in $crate::bindings::detector);
        };
    };
}
