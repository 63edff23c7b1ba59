//! PeerPressure's plain records, shared by every layer above them: the plugin interface's
//! data ([`plugin`]), the model traits ([`model`]), generation settings, trial results and
//! run definitions. No wasmtime, no SQLite, no HTTP: the store and reports build on this
//! alone.

pub mod error;
pub mod memo;
pub mod model;
pub mod plugin;
pub mod run;
pub mod settings;
pub mod time;
pub mod trial;

/// The host's version, recorded with every run.
pub const HOST_VERSION: &str = env!("CARGO_PKG_VERSION");
