//! The plugin engine: the one crate that owns wasmtime.
//!
//! Laid out the way `spin-core` is:
//! - [`engine`]: the wasmtime engine, compilation and its cache, loading and checking a plugin;
//! - [`sandbox`]: what an instance may touch and the limits it runs under (deny-by-default);
//! - [`host_imports`]: what a plugin may call on the host (log, world, judge);
//! - [`inspect`]: what a component is, read from its bytes before it is compiled;
//! - [`instance`]: instances bound to one trial, with traps turned into [`PluginError`]s;
//! - [`world`] and [`tools`]: the simulated world and the tools the model calls on it.
//!
//! Above this crate nothing sees a generated binding: [`convert`] turns them into the plain
//! records of `peerpressure-types` at the boundary.

mod bindings;
pub mod convert;
pub mod engine;
pub mod error;
mod host_imports;
pub mod inspect;
pub mod instance;
pub mod limits;
pub mod plugin;
pub mod sandbox;
pub mod tools;
pub mod world;

pub use engine::Runtime;
pub use error::{LoadError, PluginError};
pub use inspect::plugin_language;
pub use instance::{DetectorInstance, ScenarioInstance};
pub use limits::{RuntimeConfig, SandboxLimits};
pub use plugin::{LoadedPlugin, PluginKind};
