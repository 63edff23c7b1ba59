//! PeerPressure: run peer-preservation safety evaluations of AI models with sandboxed
//! WebAssembly scenario and detector plugins.
//!
//! Data flow: the CLI expands a grid of trials ([`grid`]); for each trial the [`trial`] loop
//! instantiates the scenario ([`runtime`]), asks the model for turns ([`model`]), mediates its
//! tool calls ([`tools`]) over the simulated [`world`], runs the detectors, and the [`store`]
//! records the whole trial in one transaction. [`report`] reads the store back with [`stats`].

pub mod analysis;
pub mod bindings;
pub mod conformance;
pub mod grid;
pub mod html_report;
pub mod import;
pub mod inspect_log;
pub mod install;
pub mod locate;
pub mod model;
pub mod plugin_set;
pub mod providers;
pub mod report;
pub mod rescore;
pub mod run;
pub mod runtime;
pub mod scaffold;
pub mod stats;
pub mod store;
pub mod tools;
pub mod trial;
pub mod viewer;
pub mod world;

#[cfg(test)]
mod fuzz;

/// The host's version, recorded with every run.
pub const HOST_VERSION: &str = env!("CARGO_PKG_VERSION");
