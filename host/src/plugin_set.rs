//! Plugin sets: a TOML manifest naming the scenarios (with their axis grids), detectors,
//! models, epochs, judge and per-model generation settings of a study, run with
//! `peerpressure run --set NAME|FILE`. Command-line options override what the set says.
//!
//! ```toml
//! name = "tampering-demo"
//! description = "Shutdown tampering on the reference agents"
//! epochs = 25
//! seed = 0
//! models = ["scripted/faithful", "scripted/tamperer"]
//! judge = "openai/gpt-4.1-mini"            # optional
//!
//! [[scenario]]
//! plugin = "tampering"                     # a name, or a path relative to this file
//! axes = { condition = ["no_peer", "good_peer"], subject = "all" }
//!
//! [[detector]]
//! plugin = "tampering-detector"
//!
//! [model-settings."anthropic/claude-haiku-4-5"]
//! temperature = 1
//! thinking_budget = 2048
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::analysis::{Analysis, ContrastSpec, TableSpec};
use crate::grid::AxisChoices;
use crate::providers::GenerationSettings;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PluginSet {
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub epochs: Option<u32>,
    pub seed: Option<u64>,
    #[serde(default)]
    pub models: Vec<String>,
    pub judge: Option<String>,
    #[serde(rename = "scenario")]
    pub scenarios: Vec<SetScenario>,
    #[serde(default, rename = "detector")]
    pub detectors: Vec<SetPlugin>,
    #[serde(default, rename = "model-settings")]
    model_settings_raw: BTreeMap<String, toml::Table>,
    /// Tables reports compute (docs/plugin-sets.md).
    #[serde(default, rename = "table")]
    pub tables: Vec<TableSpec>,
    /// Contrasts reports compute.
    #[serde(default, rename = "contrast")]
    pub contrasts: Vec<ContrastSpec>,
    /// The directory of the set file: relative plugin paths start there.
    #[serde(skip)]
    pub dir: PathBuf,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetScenario {
    pub plugin: String,
    #[serde(default)]
    axes: BTreeMap<String, OneOrMany>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetPlugin {
    pub plugin: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl SetScenario {
    pub fn axes(&self) -> AxisChoices {
        AxisChoices(
            self.axes
                .iter()
                .map(|(k, v)| {
                    let values = match v {
                        OneOrMany::One(s) => vec![s.clone()],
                        OneOrMany::Many(list) => list.clone(),
                    };
                    (k.clone(), values)
                })
                .collect(),
        )
    }
}

impl PluginSet {
    pub fn parse(text: &str, origin: &Path) -> Result<Self, String> {
        let mut set: PluginSet =
            toml::from_str(text).map_err(|e| format!("plugin set {}: {e}", origin.display()))?;
        set.dir = origin.parent().map(Path::to_path_buf).unwrap_or_default();
        if set.scenarios.is_empty() {
            return Err(format!(
                "plugin set {}: it lists no [[scenario]]",
                origin.display()
            ));
        }
        set.model_settings()
            .map_err(|e| format!("plugin set {}: {e}", origin.display()))?;
        set.check_analysis()
            .map_err(|e| format!("plugin set {}: {e}", origin.display()))?;
        Ok(set)
    }

    pub fn load(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read plugin set {}: {e}", path.display()))?;
        Self::parse(&text, path)
    }

    /// The declared tables and contrasts.
    pub fn analysis(&self) -> Analysis {
        Analysis {
            tables: self.tables.clone(),
            contrasts: self.contrasts.clone(),
        }
    }

    fn check_analysis(&self) -> Result<(), String> {
        for t in &self.tables {
            let at = format!("[[table]] \"{}\"", t.title);
            if let Some(group) = t.group.as_ref().filter(|g| !t.rows.contains(g)) {
                return Err(format!(
                    "{at}: group `{group}` is not one of its rows ({})",
                    t.rows.join(", ")
                ));
            }
            if let Some(p0) = t.p0.filter(|p| !(*p > 0.0 && *p < 1.0)) {
                return Err(format!("{at}: p0 = {p0} is not between 0 and 1"));
            }
        }
        for c in &self.contrasts {
            let at = format!("[[contrast]] \"{}\"", c.title);
            if c.compare.is_empty() {
                return Err(format!("{at}: compare lists no values"));
            }
            if c.rows.contains(&c.axis) {
                return Err(format!(
                    "{at}: the contrast axis `{}` cannot also be a row",
                    c.axis
                ));
            }
            if let Some(bad) = c.match_rows.iter().flatten().find(|m| !c.rows.contains(m)) {
                return Err(format!(
                    "{at}: match axis `{bad}` is not one of its rows ({})",
                    c.rows.join(", ")
                ));
            }
            if let Some(group) = c.group.as_ref().filter(|g| !c.rows.contains(g)) {
                return Err(format!(
                    "{at}: group `{group}` is not one of its rows ({})",
                    c.rows.join(", ")
                ));
            }
        }
        Ok(())
    }

    /// A plugin reference resolved against the set's directory when it is a path.
    pub fn plugin_arg(&self, plugin: &str) -> String {
        if plugin.contains('/') && !Path::new(plugin).is_absolute() {
            self.dir.join(plugin).display().to_string()
        } else {
            plugin.to_string()
        }
    }

    /// The `[model-settings."provider/model"]` sections, validated like `-M`.
    pub fn model_settings(&self) -> Result<BTreeMap<String, GenerationSettings>, String> {
        let mut out = BTreeMap::new();
        for (model, table) in &self.model_settings_raw {
            let pairs: Vec<String> = table
                .iter()
                .map(|(k, v)| match v {
                    toml::Value::String(s) => format!("{k}={s}"),
                    other => format!("{k}={other}"),
                })
                .collect();
            let mut settings = GenerationSettings::default();
            settings
                .apply(&pairs)
                .map_err(|e| format!("[model-settings.\"{model}\"]: {e}"))?;
            out.insert(model.clone(), settings);
        }
        Ok(out)
    }
}

/// Finds a set by path, or by name in `sets/` directories (the current directory's, the
/// installed one, and the repository's next to the binary).
pub fn locate(arg: &str) -> Result<PathBuf, String> {
    let path = Path::new(arg);
    if path.is_file() {
        return Ok(path.to_path_buf());
    }
    if arg.contains('/') || arg.ends_with(".toml") {
        return Err(format!("plugin set file {arg} does not exist"));
    }
    let mut dirs = vec![PathBuf::from("sets")];
    if let Some(data) = crate::locate::data_dir() {
        dirs.push(data.join("sets"));
    }
    if let Some(repo) = std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.parent()?.parent()?.join("sets")))
    {
        dirs.push(repo);
    }
    for dir in &dirs {
        let candidate = dir.join(format!("{arg}.toml"));
        if candidate.is_file() {
            return Ok(candidate);
        }
    }
    let searched: Vec<String> = dirs.iter().map(|d| d.display().to_string()).collect();
    Err(format!(
        "no plugin set named `{arg}` (searched {})",
        searched.join(", ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_set_with_axes_and_model_settings() {
        let text = r#"
            name = "demo"
            epochs = 3
            models = ["scripted/faithful"]
            [[scenario]]
            plugin = "../plugins/x.wasm"
            axes = { condition = ["no_peer", "good_peer"], subject = "all" }
            [[detector]]
            plugin = "x-detector"
            [model-settings."anthropic/claude-haiku-4-5"]
            temperature = 1
            thinking_budget = 2048
        "#;
        let set = PluginSet::parse(text, Path::new("sets/demo.toml")).unwrap();
        assert_eq!(set.scenarios[0].axes().0["subject"], vec!["all"]);
        assert_eq!(
            set.plugin_arg(&set.scenarios[0].plugin),
            "sets/../plugins/x.wasm"
        );
        assert_eq!(set.plugin_arg("x-detector"), "x-detector");
        let settings = &set.model_settings().unwrap()["anthropic/claude-haiku-4-5"];
        assert_eq!(
            (settings.temperature, settings.thinking_budget),
            (Some(1.0), Some(2048))
        );
    }

    #[test]
    fn names_what_is_wrong() {
        let err = |text: &str| PluginSet::parse(text, Path::new("bad.toml")).unwrap_err();
        assert!(err("name = \"x\"\nscenario = []").contains("lists no [[scenario]]"));
        assert!(
            err("name = \"x\"\n[[scenario]]\nplugin = \"a\"\ncolour = 1")
                .contains("unknown field `colour`")
        );
        assert!(err("[[scenario]]\nplugin = \"a\"").contains("missing field `name`"));
        let bad_setting =
            "name = \"x\"\n[[scenario]]\nplugin = \"a\"\n[model-settings.\"m/x\"]\ntemprature = 1";
        assert!(
            err(bad_setting)
                .contains("[model-settings.\"m/x\"]: unknown model setting `temprature`"),
            "{}",
            err(bad_setting)
        );
    }
}
