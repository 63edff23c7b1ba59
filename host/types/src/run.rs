//! What defines a run, recorded with it for provenance and so `resume` can rebuild it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::settings::GenerationSettings;

/// A plugin used by a run, as recorded for provenance.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PluginRecord {
    pub kind: String,
    pub name: String,
    pub version: String,
    pub interface_version: String,
    pub sha256: String,
    pub size: u64,
    pub path: String,
    /// A scenario's axes and their values, in declaration order (reports show them so).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub axes: Vec<(String, Vec<String>)>,
}

/// Everything that defines a run (its identity, as Inspect's `EvalSpec`), recorded so
/// `peerpressure resume RUN` can rebuild it. How a run is executed (concurrency, limits,
/// store, which trials) is not part of it.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RunDefinition {
    pub scenarios: Vec<DefinedPlugin>,
    pub detectors: Vec<DefinedPlugin>,
    pub models: Vec<String>,
    pub axes: BTreeMap<String, Vec<String>>,
    pub epochs: u32,
    pub seed: u64,
    pub settings: GenerationSettings,
    pub per_model_settings: BTreeMap<String, GenerationSettings>,
    pub judge: Option<String>,
    pub set: Option<String>,
    /// The production agent CLI the models run inside (`--agent`); `None` for the host's own
    /// agent loop. Part of the run's and its trials' identity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub harness: Option<HarnessRecord>,
}

/// A production agent CLI as recorded with a run: which one, which release, which binary.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct HarnessRecord {
    /// The harness name given to `--agent` (`opencode`, `gemini-cli`, ...).
    pub name: String,
    /// The release, as the CLI's `--version` printed it.
    pub version: String,
    /// SHA-256 of the CLI's entry file (the binary or the bundled script).
    pub sha256: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DefinedPlugin {
    pub path: String,
    pub sha256: String,
    #[serde(default)]
    pub axes: BTreeMap<String, Vec<String>>,
}

impl RunDefinition {
    /// What `model` is sent: a hash input of the run's and its trials' identity.
    pub fn settings_for(&self, model: &str) -> GenerationSettings {
        GenerationSettings::for_model(&self.settings, &self.per_model_settings, model)
    }

    /// A model's settings as canonical JSON (`{}` for scripted agents), with the agent CLI
    /// when there is one: trials run through a CLI are other trials than the host loop's.
    pub fn settings_text(&self, model: &str) -> String {
        let settings = if model.starts_with("scripted/") {
            "{}".to_string()
        } else {
            serde_json::to_string(&self.settings_for(model)).expect("settings serialise")
        };
        match &self.harness {
            None => settings,
            Some(h) => format!("{settings} harness={}@{} {}", h.name, h.version, h.sha256),
        }
    }

    /// The run's id: a hash of everything that defines its trials and their scoring.
    pub fn run_id(&self) -> String {
        let mut h = Sha256::new();
        h.update(b"run-id-v1\0");
        for s in &self.scenarios {
            h.update(&s.sha256);
            for (axis, values) in &s.axes {
                h.update(axis);
                h.update(values.join(","));
            }
            h.update(b"\0");
        }
        for p in &self.detectors {
            h.update("detector");
            h.update(&p.sha256);
            h.update(b"\0");
        }
        for m in &self.models {
            h.update(m);
            h.update(b"\0");
        }
        for (axis, values) in &self.axes {
            h.update(axis);
            h.update(values.join(","));
            h.update(b"\0");
        }
        h.update(self.epochs.to_le_bytes());
        h.update(self.seed.to_le_bytes());
        for m in &self.models {
            h.update(self.settings_text(m));
        }
        h.update(self.judge.as_deref().unwrap_or(""));
        format!("run-{}", &hex::encode(h.finalize())[..12])
    }
}
