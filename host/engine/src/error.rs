//! How a plugin fails: at load time ([`LoadError`], before anything is instantiated) or
//! during a call ([`PluginError`], a trap or a limit).

use std::path::PathBuf;

use peerpressure_types::error::{HasOrigin, Origin};

/// A plugin failed: trapped, hit a limit, or could not be instantiated.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{plugin} {phase}: {reason}")]
pub struct PluginError {
    /// `scenario tampering@0.1.0`.
    pub plugin: String,
    /// `setup`, `call-tool`, `detect`...
    pub phase: &'static str,
    pub reason: String,
}

/// Why a plugin file cannot be used. Nothing is instantiated before these checks pass.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("cannot read plugin {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not a WebAssembly file")]
    NotWasm { path: PathBuf },
    #[error(
        "{path} is a core WebAssembly module, not a component: build it for the wasm32-wasip2 target (or wrap it with `wasm-tools component new`)"
    )]
    CoreModule { path: PathBuf },
    #[error("{path} is not a valid WebAssembly component: {reason}")]
    Invalid { path: PathBuf, reason: String },
    #[error("{path} targets {found}, but this host supports peerpressure:plugin@{supported}")]
    UnsupportedVersion {
        path: PathBuf,
        found: String,
        supported: &'static str,
    },
    #[error(
        "{path} is not a PeerPressure plugin: it exports neither {scenario} nor {detector} (its exports: {exports})"
    )]
    WrongWorld {
        path: PathBuf,
        scenario: &'static str,
        detector: &'static str,
        exports: String,
    },
    #[error("{path} needs `{import}`, which the PeerPressure sandbox does not provide")]
    UnsupportedImport { path: PathBuf, import: String },
    #[error("{path}: {source}")]
    Describe { path: PathBuf, source: PluginError },
    #[error("{path}: describe() returned an unusable description: {reason}")]
    BadDescription { path: PathBuf, reason: String },
}

/// A plugin that cannot be loaded is always the input's fault (a path, a file, a build).
impl HasOrigin for LoadError {
    fn origin(&self) -> Origin {
        Origin::Input
    }
}
