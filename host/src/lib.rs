//! PeerPressure: run peer-preservation safety evaluations of AI models with sandboxed
//! WebAssembly scenario and detector plugins.
//!
//! This crate is the `peerpressure` binary's library: what runs trials and talks to models.
//! It sits on three lower crates whose dependencies only point down:
//! `peerpressure-types` (plain records), `peerpressure-engine` (wasmtime, the sandbox, the
//! world and tools) and `peerpressure-store` (the store, reports, statistics, exports).
//!
//! Data flow: the CLI (`src/cli/`) expands a grid of trials ([`grid`]); the [`scheduler`]
//! runs them concurrently; for each trial the [`agent_loop`] instantiates the scenario in the
//! engine, asks the model for turns ([`providers`]), mediates its tool calls ([`tools`]) over
//! the simulated [`world`], runs the detectors, and the [`store`] records the whole trial in
//! one transaction. [`report`] reads the store back with [`stats`].

pub mod agent_cli;
pub mod agent_loop;
pub mod conformance;
pub mod estimate;
pub mod grid;
pub mod host_findings;
pub mod import;
pub mod install;
pub mod locate;
pub mod plugin_set;
pub mod providers;
pub mod rescore;
pub mod scaffold;
pub mod scheduler;
pub mod viewer;

#[cfg(test)]
mod fuzz;

// The layers below, under the names the rest of this crate uses.
pub use peerpressure_engine::{tools, world};
pub use peerpressure_store::{analysis, html_report, inspect_log, report, stats, store};
pub use peerpressure_types::{HOST_VERSION, model, plugin};
