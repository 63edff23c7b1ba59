//! A loaded plugin: compiled, checked and described, ready to instantiate once per trial.

use std::path::PathBuf;

use peerpressure_types::plugin::PluginInfo;

use crate::bindings::detector::DetectorPluginPre;
use crate::bindings::scenario::ScenarioPluginPre;
use crate::sandbox::PluginState;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PluginKind {
    Scenario,
    Detector,
}

impl PluginKind {
    pub fn as_str(self) -> &'static str {
        match self {
            PluginKind::Scenario => "scenario",
            PluginKind::Detector => "detector",
        }
    }
}

pub(crate) enum PluginPre {
    Scenario(ScenarioPluginPre<PluginState>),
    Detector(DetectorPluginPre<PluginState>),
}

/// A compiled, checked plugin, ready to instantiate once per trial.
pub struct LoadedPlugin {
    pub kind: PluginKind,
    pub info: PluginInfo,
    pub sha256: String,
    pub path: PathBuf,
    pub size: u64,
    pub interface_version: &'static str,
    pub(crate) pre: PluginPre,
}

impl LoadedPlugin {
    /// `scenario tampering@0.1.0`: how errors name the plugin.
    pub fn label(&self) -> String {
        format!("{} {}", self.kind.as_str(), self.id())
    }

    /// `tampering@0.1.0`.
    pub fn id(&self) -> String {
        format!("{}@{}", self.info.name, self.info.version)
    }
}
