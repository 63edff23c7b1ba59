//! `peerpressure import`: transcripts recorded elsewhere (other harnesses, released datasets)
//! scored by detectors and recorded as a run. The format is documented in docs/import.md and
//! by the JSON Schema `docs/import-format.schema.json`.

use peerpressure_types::error::{HasOrigin, Origin};
use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use serde::Deserialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::agent_loop::{ScoredFinding, TrialResult, TrialStatus};
use crate::model::{Judge, Usage, model_family};
use crate::plugin::{
    File, Limits, Message, Role, ToolCall, ToolDefinition, TrialRecord, TrialSetup, TrialSpec,
    WorldEvent,
};
use crate::store::{RunRecord, Store, StoreError};
use peerpressure_engine::{LoadedPlugin, Runtime};

/// The `format` value of files this version reads.
pub const FORMAT: &str = "peerpressure-transcripts/1";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ImportFile {
    format: String,
    #[serde(default)]
    source: String,
    trials: Vec<ImportTrial>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ImportTrial {
    id: Option<String>,
    model: String,
    #[serde(default = "default_scenario")]
    scenario: String,
    #[serde(default)]
    axes: BTreeMap<String, String>,
    #[serde(default)]
    epoch: u32,
    #[serde(default = "empty_object")]
    ground_truth: Value,
    #[serde(default)]
    tools: Vec<ImportTool>,
    messages: Vec<ImportMessage>,
    /// Absent or `null`: not recorded (the ground truth then says so to detectors).
    #[serde(default)]
    initial_world: Option<Vec<ImportFileEntry>>,
    #[serde(default)]
    final_world: Option<Vec<ImportFileEntry>>,
    #[serde(default)]
    events: Vec<ImportEvent>,
}

fn default_scenario() -> String {
    "imported".into()
}

fn empty_object() -> Value {
    Value::Object(Default::default())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ImportTool {
    name: String,
    #[serde(default)]
    description: String,
    #[serde(default = "empty_object")]
    parameters: Value,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ImportMessage {
    role: String,
    #[serde(default)]
    content: String,
    reasoning: Option<String>,
    #[serde(default)]
    tool_calls: Vec<ImportCall>,
    tool_call_id: Option<String>,
    #[serde(default)]
    is_error: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ImportCall {
    id: String,
    name: String,
    /// Text as the model sent it, or a JSON object.
    #[serde(default = "empty_object")]
    arguments: Value,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ImportFileEntry {
    machine: String,
    path: String,
    #[serde(default)]
    content: String,
    #[serde(default)]
    summary: String,
    size: Option<u64>,
    #[serde(default)]
    modified: i64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ImportEvent {
    kind: String,
    machine: String,
    path: String,
    target: Option<String>,
    before: Option<String>,
    after: Option<String>,
    tool_call_id: Option<String>,
    #[serde(default)]
    turn: u32,
}

/// A validated imported trial, ready for the detectors.
pub struct Imported {
    pub id: String,
    pub record: TrialRecord,
}

fn files(entries: Vec<ImportFileEntry>) -> Vec<File> {
    entries
        .into_iter()
        .map(|f| File {
            size: f.size.unwrap_or(f.content.len() as u64),
            machine: f.machine,
            path: f.path,
            content: f.content,
            summary: f.summary,
            modified: f.modified,
        })
        .collect()
}

/// Parses and checks a file; errors name the trial and the field.
pub fn parse(text: &str, file_sha256: &str) -> Result<Vec<Imported>, String> {
    let file: ImportFile =
        serde_json::from_str(text).map_err(|e| format!("not a transcript file: {e}"))?;
    if file.format != FORMAT {
        return Err(format!(
            "format is `{}`; this version reads `{FORMAT}`",
            file.format.chars().take(60).collect::<String>()
        ));
    }
    let _ = file.source;
    let mut ids = HashSet::new();
    let mut out = Vec::new();
    for (n, t) in file.trials.into_iter().enumerate() {
        let at = |field: &str| format!("trials[{n}].{field}");
        if crate::model::parse_model(&t.model).is_err() {
            return Err(format!(
                "{}: `{}` is not a provider/model string",
                at("model"),
                t.model
            ));
        }
        let id = t.id.clone().unwrap_or_else(|| {
            let mut h = Sha256::new();
            h.update(file_sha256);
            h.update(n.to_le_bytes());
            hex::encode(&h.finalize()[..12])
        });
        if id.is_empty() || id.len() > 128 || !ids.insert(id.clone()) {
            return Err(format!(
                "{}: `{id}` is empty, too long or used twice",
                at("id")
            ));
        }
        if !t.ground_truth.is_object() {
            return Err(format!("{}: must be a JSON object", at("ground_truth")));
        }
        // A world the file does not give was not recorded: detectors must not read it as empty.
        let mut t = t;
        for (key, given) in [
            ("initial_world_recorded", t.initial_world.is_some()),
            ("final_world_recorded", t.final_world.is_some()),
        ] {
            if !given && t.ground_truth.get(key).is_none() {
                t.ground_truth[key] = Value::Bool(false);
            }
        }
        let mut tools = Vec::new();
        for (i, tool) in t.tools.iter().enumerate() {
            if !tool.parameters.is_object() {
                return Err(format!(
                    "{}: must be a JSON Schema object",
                    at(&format!("tools[{i}].parameters"))
                ));
            }
            tools.push(ToolDefinition {
                name: tool.name.clone(),
                description: tool.description.clone(),
                parameters: tool.parameters.to_string(),
            });
        }
        let mut messages = Vec::new();
        let mut call_ids = HashSet::new();
        for (i, m) in t.messages.into_iter().enumerate() {
            let role = match m.role.as_str() {
                "system" => Role::System,
                "user" => Role::User,
                "assistant" => Role::Assistant,
                "tool" => Role::Tool,
                other => {
                    return Err(format!(
                        "{}: `{other}` is not system, user, assistant or tool",
                        at(&format!("messages[{i}].role"))
                    ));
                }
            };
            if role != Role::Assistant && !m.tool_calls.is_empty() {
                return Err(format!(
                    "{}: only assistant messages make tool calls",
                    at(&format!("messages[{i}].tool_calls"))
                ));
            }
            let tool_call_id = match (role, m.tool_call_id) {
                (Role::Tool, Some(id)) if call_ids.contains(&id) => Some(id),
                (Role::Tool, other) => {
                    return Err(format!(
                        "{}: `{}` answers no earlier tool call",
                        at(&format!("messages[{i}].tool_call_id")),
                        other.unwrap_or_default()
                    ));
                }
                (_, _) => None,
            };
            let tool_calls: Vec<ToolCall> = m
                .tool_calls
                .into_iter()
                .map(|c| {
                    call_ids.insert(c.id.clone());
                    let arguments = match c.arguments {
                        Value::String(s) => s,
                        other => other.to_string(),
                    };
                    ToolCall {
                        id: c.id,
                        name: c.name,
                        arguments,
                    }
                })
                .collect();
            messages.push(Message {
                index: i as u32,
                role,
                content: m.content,
                reasoning: m.reasoning,
                tool_calls,
                tool_call_id,
                is_error: m.is_error && role == Role::Tool,
            });
        }
        let first = |role: Role| {
            messages
                .iter()
                .find(|m| m.role == role)
                .map(|m| m.content.clone())
                .unwrap_or_default()
        };
        let setup = TrialSetup {
            system_prompt: first(Role::System),
            user_prompt: first(Role::User),
            tools,
            builtin_tools: vec![],
            limits: Limits {
                max_turns: messages
                    .iter()
                    .filter(|m| m.role == Role::Assistant)
                    .count() as u32,
                max_tool_calls_per_turn: 0,
            },
            ground_truth: t.ground_truth.to_string(),
        };
        let events = t
            .events
            .into_iter()
            .enumerate()
            .map(|(i, e)| WorldEvent {
                index: i as u32,
                kind: e.kind,
                machine: e.machine,
                path: e.path,
                target: e.target,
                before: e.before,
                after: e.after,
                tool_call_id: e.tool_call_id,
                turn: e.turn,
            })
            .collect();
        let axes: Vec<(String, String)> = t.axes.into_iter().collect();
        let record = TrialRecord {
            spec: TrialSpec {
                trial_id: id.clone(),
                axes,
                seed: 0,
                model: t.model.clone(),
                model_family: model_family(&t.model),
                epoch: t.epoch,
            },
            scenario: t.scenario,
            setup,
            messages,
            events,
            initial_world: files(t.initial_world.unwrap_or_default()),
            final_world: files(t.final_world.unwrap_or_default()),
            outcome: "completed".into(),
        };
        out.push(Imported { id, record });
    }
    if out.is_empty() {
        return Err("the file holds no trials".into());
    }
    Ok(out)
}

pub struct ImportSummary {
    pub run_id: String,
    pub trials: usize,
    pub skipped: usize,
}

/// Scores imported trials with `detectors` and records them as one run.
pub async fn import(
    runtime: &Runtime,
    store: &Store,
    text: &str,
    origin: &str,
    detectors: &[Arc<LoadedPlugin>],
    judge: Option<(String, Arc<dyn Judge>)>,
    command: &str,
) -> Result<ImportSummary, ImportError> {
    let (judge_name, judge) = match judge {
        Some((name, judge)) => (Some(name), Some(judge)),
        None => (None, None),
    };
    let sha = hex::encode(Sha256::digest(text.as_bytes()));
    let trials = parse(text, &sha).map_err(|e| ImportError::Format(format!("{origin}: {e}")))?;
    let mut h = Sha256::new();
    h.update(b"import-v1\0");
    h.update(&sha);
    for d in detectors {
        h.update(&d.sha256);
    }
    // The judge decides verdicts, so it is part of the run (imports without one keep their ids).
    if let Some(name) = &judge_name {
        h.update(b"\0judge\0");
        h.update(name.as_bytes());
    }
    let run_id = format!("import-{}", &hex::encode(h.finalize())[..12]);
    let mut models: Vec<String> = Vec::new();
    for t in &trials {
        if !models.contains(&t.record.spec.model) {
            models.push(t.record.spec.model.clone());
        }
    }
    store.record_run(&RunRecord {
        id: run_id.clone(),
        created_at: crate::store::now_rfc3339(),
        host_version: crate::HOST_VERSION.to_string(),
        seed: 0,
        epochs: 1,
        models,
        model_settings: Default::default(),
        judge: judge_name.clone(),
        axes: Default::default(),
        set: Some(format!("imported from {origin} (sha256 {sha})")),
        plugins: detectors
            .iter()
            .map(|d| crate::scheduler::plugin_record(d))
            .collect(),
        command: command.to_string(),
        spec: None,
        analysis: Default::default(),
        grid_size: Some(trials.len() as u64),
    })?;
    let done = store.finished_trials(&run_id)?;
    let mut summary = ImportSummary {
        run_id: run_id.clone(),
        trials: 0,
        skipped: 0,
    };
    for t in trials {
        if done.contains(&t.id) {
            summary.skipped += 1;
            continue;
        }
        let mut output = Vec::new();
        let mut findings = Vec::new();
        for d in detectors {
            let found =
                crate::agent_loop::detect(runtime, d, &t.record, 0, judge.clone(), &mut output)
                    .await;
            findings.extend(found.into_iter().map(|finding| ScoredFinding {
                detector: d.id(),
                finding,
            }));
        }
        findings.extend(crate::agent_loop::unscored(detectors, &findings));
        findings.extend(crate::agent_loop::materials_read(&t.record));
        let r = t.record;
        let result = TrialResult {
            id: t.id,
            spec: r.spec,
            scenario: r.scenario,
            agent: "imported".into(),
            status: TrialStatus::Completed,
            error: None,
            setup: Some(r.setup),
            calls: vec![None; r.messages.len()],
            messages: r.messages,
            events: r.events,
            initial_world: r.initial_world,
            final_world: r.final_world,
            findings,
            usage: Usage::default(),
            cost: None,
            turns: 0,
            duration_ms: 0,
            plugin_output: output,
        };
        store.record_trial(&run_id, &result)?;
        summary.trials += 1;
    }
    Ok(summary)
}

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("{0}")]
    Format(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl HasOrigin for ImportError {
    fn origin(&self) -> Origin {
        match self {
            ImportError::Format(_) => Origin::Input,
            ImportError::Store(_) => Origin::Work,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(trial: Value) -> String {
        serde_json::json!({"format": FORMAT, "trials": [trial]}).to_string()
    }

    #[test]
    fn names_the_trial_and_field_that_is_wrong() {
        let base = serde_json::json!({"model": "openai/gpt-x", "messages": [{"role": "user", "content": "hi"}]});
        assert!(parse(&file(base.clone()), "x").is_ok());
        let cases = [
            (
                serde_json::json!({"model": "gpt-x", "messages": []}),
                "trials[0].model: `gpt-x` is not a provider/model string",
            ),
            (
                serde_json::json!({"model": "a/b", "messages": [{"role": "robot"}]}),
                "trials[0].messages[0].role: `robot` is not",
            ),
            (
                serde_json::json!({"model": "a/b", "messages": [{"role": "tool", "tool_call_id": "c9"}]}),
                "trials[0].messages[0].tool_call_id: `c9` answers no earlier tool call",
            ),
            (
                serde_json::json!({"model": "a/b", "messages": [], "ground_truth": [1]}),
                "trials[0].ground_truth: must be a JSON object",
            ),
            (
                serde_json::json!({"model": "a/b", "messages": [], "colour": 1}),
                "unknown field `colour`",
            ),
        ];
        for (trial, expected) in cases {
            let err = parse(&file(trial), "x").err().unwrap();
            assert!(err.contains(expected), "{err}");
        }
        assert!(
            parse(r#"{"format": "other/2", "trials": []}"#, "x")
                .err()
                .unwrap()
                .contains("this version reads `peerpressure-transcripts/1`")
        );
    }
}
