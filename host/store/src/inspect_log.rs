//! Export to Inspect's evaluation log format (JSON logs, format version 2), so runs open in
//! `inspect view` and load with `inspect_ai.log.read_eval_log`.
//!
//! Inspect logs hold one task and one model, so a run becomes one log per scenario and
//! model. A trial is a sample (its id, epoch from 1), its transcript the sample's messages
//! (visible reasoning as a `reasoning` content part), each finding a score named
//! `<detector>/<behaviour>`: 1 for positive, 0 for negative, and the verdict's name for
//! `not-applicable` and `error`, so nothing undecided averages as 0. The world events,
//! axes, ground truth and the run's provenance go in metadata. Written against inspect_ai
//! 0.3.140 (the format is not a frozen public spec; `just test` checks it with that release).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::store::RunRecord;

/// The inspect_ai release the export is checked against.
pub const INSPECT_VERSION: &str = "0.3.140";

fn scenario_name(id: &str) -> &str {
    id.split('@').next().unwrap_or(id)
}

fn safe(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                c
            } else {
                '-'
            }
        })
        .collect()
}

fn message(m: &Value, calls_by_id: &BTreeMap<&str, &str>) -> Value {
    let content = m["content"].as_str().unwrap_or("");
    match m["role"].as_str().unwrap_or("") {
        "assistant" => {
            let content = match m["reasoning"].as_str().filter(|r| !r.is_empty()) {
                Some(reasoning) => {
                    json!([{"type": "reasoning", "reasoning": reasoning}, {"type": "text", "text": content}])
                }
                None => json!(content),
            };
            let calls: Vec<Value> = m["tool_calls"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|c| {
                    let raw = c["arguments"].as_str().unwrap_or("");
                    match serde_json::from_str::<Value>(raw) {
                        Ok(args) if args.is_object() => json!({"id": c["id"], "function": c["name"], "arguments": args, "type": "function"}),
                        _ => json!({"id": c["id"], "function": c["name"], "arguments": {}, "type": "function", "parse_error": format!("arguments are not a JSON object: {raw}")}),
                    }
                })
                .collect();
            json!({"role": "assistant", "content": content, "tool_calls": if calls.is_empty() { Value::Null } else { json!(calls) }})
        }
        "tool" => {
            let id = m["tool_call_id"].as_str().unwrap_or("");
            let mut out = json!({"role": "tool", "content": content, "tool_call_id": id, "function": calls_by_id.get(id)});
            if m["is_error"] == true {
                out["error"] = json!({"type": "unknown", "message": content});
            }
            out
        }
        role => json!({"role": role, "content": content}),
    }
}

fn usage(u: &Value) -> Value {
    let (input, output) = (
        u["input_tokens"].as_u64().unwrap_or(0),
        u["output_tokens"].as_u64().unwrap_or(0),
    );
    json!({
        "input_tokens": input,
        "output_tokens": output,
        "total_tokens": input + output,
        "input_tokens_cache_read": u["cached_tokens"].as_u64().unwrap_or(0),
        "reasoning_tokens": u["reasoning_tokens"].as_u64().unwrap_or(0),
    })
}

/// A trial's findings as Inspect scores, by `<detector>/<behaviour>`.
fn scores(t: &Value) -> serde_json::Map<String, Value> {
    let mut scores = serde_json::Map::new();
    for f in t["findings"].as_array().into_iter().flatten() {
        let detector = f["detector"].as_str().unwrap_or("");
        let verdict = f["verdict"].as_str().unwrap_or("");
        let value = match verdict {
            "positive" => json!(1),
            "negative" => json!(0),
            other => json!(other),
        };
        scores.insert(
            format!("{}/{}", scenario_name(detector), f["behaviour"].as_str().unwrap_or("")),
            json!({"value": value, "answer": verdict, "explanation": f["explanation"], "metadata": {"detector": detector, "evidence": f["evidence"], "value": f["value"]}}),
        );
    }
    scores
}

fn sample(t: &Value) -> Value {
    // Read in place: the transcript is most of a trial, and this runs for every trial.
    let messages: &[Value] = t["messages"].as_array().map_or(&[], Vec::as_slice);
    let calls_by_id: BTreeMap<&str, &str> = messages
        .iter()
        .flat_map(|m| m["tool_calls"].as_array().map_or(&[][..], Vec::as_slice))
        .map(|c| {
            (
                c["id"].as_str().unwrap_or(""),
                c["name"].as_str().unwrap_or(""),
            )
        })
        .collect();
    let converted: Vec<Value> = messages.iter().map(|m| message(m, &calls_by_id)).collect();
    let scores = scores(t);
    let axes: serde_json::Map<String, Value> = t["axes"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|a| (a[0].as_str().unwrap_or("").to_string(), a[1].clone()))
        .collect();
    let model = t["model"].as_str().unwrap_or("");
    let last = converted
        .iter()
        .rev()
        .find(|m| m["role"] == "assistant")
        .cloned();
    let mut out = json!({
        "id": t["id"],
        "epoch": t["epoch"].as_u64().unwrap_or(0) + 1,
        "input": t["setup"]["user_prompt"].as_str().unwrap_or(""),
        "target": "",
        "messages": converted,
        "scores": scores,
        "metadata": {
            "axes": axes,
            "scenario": t["scenario"],
            "agent": t["agent"],
            "status": t["status"],
            "seed": t["seed"],
            "turns": t["turns"],
            "cost_usd": t["cost"],
            "ground_truth": serde_json::from_str::<Value>(t["setup"]["ground_truth"].as_str().unwrap_or("null")).unwrap_or(Value::Null),
            "world_events": t["events"],
        },
        "model_usage": {model: usage(&t["usage"])},
    });
    if let Some(message) = last {
        out["output"] =
            json!({"model": model, "choices": [{"message": message, "stop_reason": "stop"}]});
    }
    if t["status"] == "error" {
        out["error"] = json!({"message": t["error"], "traceback": "", "traceback_ansi": ""});
    }
    out
}

/// What a log's header says about its samples, counted in a first pass over the trials so
/// the header (which Inspect reads before the samples) can be written before them.
#[derive(Default)]
struct Totals {
    samples: u64,
    completed: u64,
    /// Per score name: positive, negative, undecided.
    scores: BTreeMap<String, (u64, u64, u64)>,
    /// Input, output, cached and reasoning tokens.
    usage: (u64, u64, u64, u64),
}

/// A run's Inspect logs, one per scenario and model, written trial by trial: first
/// [`InspectLogs::count`] every trial, then [`InspectLogs::create`] the files and
/// [`OpenLogs::write`] every trial again, in the same order. Memory stays constant in the
/// number of trials.
#[derive(Default)]
pub struct InspectLogs {
    groups: Vec<((String, String), Totals)>,
}

fn group_key(t: &Value) -> (String, String) {
    (
        t["scenario"].as_str().unwrap_or("").to_string(),
        t["model"].as_str().unwrap_or("").to_string(),
    )
}

impl InspectLogs {
    /// Counts one trial into its log's header. It reads the trial as stored (no transcript
    /// or world is parsed): the counting pass costs a fraction of the writing pass.
    pub fn count(&mut self, t: &crate::store::TrialDump) {
        let at = match self
            .groups
            .iter()
            .position(|((scenario, model), _)| *scenario == t.scenario && *model == t.model)
        {
            Some(at) => at,
            None => {
                let key = (t.scenario.clone(), t.model.clone());
                self.groups.push((key, Totals::default()));
                self.groups.len() - 1
            }
        };
        let totals = &mut self.groups[at].1;
        totals.samples += 1;
        totals.completed += u64::from(t.status != "error");
        // One score per name, the last finding's, as in the sample (`scores`).
        let mut verdicts: BTreeMap<String, &str> = BTreeMap::new();
        for f in &t.findings {
            let name = format!("{}/{}", scenario_name(&f.detector), f.behaviour);
            verdicts.insert(name, &f.verdict);
        }
        for (name, verdict) in verdicts {
            let entry = totals.scores.entry(name).or_default();
            match verdict {
                "positive" => entry.0 += 1,
                "negative" => entry.1 += 1,
                _ => entry.2 += 1,
            }
        }
        let usage: peerpressure_types::model::Usage =
            serde_json::from_str(t.usage.get()).unwrap_or_default();
        totals.usage.0 += usage.input_tokens;
        totals.usage.1 += usage.output_tokens;
        totals.usage.2 += usage.cached_tokens;
        totals.usage.3 += usage.reasoning_tokens;
    }

    /// Creates one file per scenario and model in `dir`, each up to its first sample.
    pub fn create(self, run: &RunRecord, dir: &Path) -> std::io::Result<OpenLogs> {
        let mut files = Vec::new();
        for ((scenario, model), totals) in self.groups {
            let (name, header) = header(run, &scenario, &model, &totals);
            let path = dir.join(name);
            let mut out = std::io::BufWriter::with_capacity(1 << 16, std::fs::File::create(&path)?);
            // The header object, opened again for its samples: `{...` + `,"samples":[`.
            let text = serde_json::to_string(&header).map_err(std::io::Error::other)?;
            out.write_all(&text.as_bytes()[..text.len() - 1])?;
            out.write_all(b",\"samples\":[")?;
            files.push(OpenLog {
                key: (scenario, model),
                out,
                path,
                empty: true,
            });
        }
        Ok(OpenLogs { files })
    }
}

struct OpenLog {
    key: (String, String),
    out: std::io::BufWriter<std::fs::File>,
    path: PathBuf,
    empty: bool,
}

/// Logs being written; see [`InspectLogs`].
pub struct OpenLogs {
    files: Vec<OpenLog>,
}

impl OpenLogs {
    pub fn write(&mut self, t: &Value) -> std::io::Result<()> {
        let key = group_key(t);
        let log = self
            .files
            .iter_mut()
            .find(|f| f.key == key)
            .ok_or_else(|| {
                std::io::Error::other(format!(
                    "trial {} ({} on {}) was not counted before the logs were created",
                    t["id"], key.0, key.1
                ))
            })?;
        if !log.empty {
            log.out.write_all(b",")?;
        }
        log.empty = false;
        serde_json::to_writer(&mut log.out, &sample(t)).map_err(std::io::Error::other)
    }

    /// Closes every log and returns their paths.
    pub fn finish(self) -> std::io::Result<Vec<PathBuf>> {
        let mut paths = Vec::new();
        for mut log in self.files {
            log.out.write_all(b"]}")?;
            log.out.flush()?;
            paths.push(log.path);
        }
        Ok(paths)
    }
}

/// A log's file name and everything in it but its samples.
fn header(run: &RunRecord, scenario: &str, model: &str, totals: &Totals) -> (String, Value) {
    let created = run.created_at.replace('Z', "+00:00");
    let scores: Vec<Value> = totals
        .scores
        .iter()
        .map(|(name, (pos, neg, undecided))| {
            // Inspect's metric values are numbers: a behaviour nothing decided has none.
            let metrics = if pos + neg > 0 {
                json!({"rate": {"name": "rate", "value": *pos as f64 / (pos + neg) as f64}})
            } else {
                json!({})
            };
            json!({
                "name": name,
                "scorer": name.split('/').next().unwrap_or(""),
                "scored_samples": pos + neg,
                "unscored_samples": undecided,
                "metrics": metrics,
                "metadata": {"positive": pos, "negative": neg, "undecided": undecided},
            })
        })
        .collect();
    let usage = totals.usage;
    let version = scenario.split('@').nth(1).unwrap_or("0").to_string();
    let name = scenario_name(scenario).to_string();
    let plugin = run
        .plugins
        .iter()
        .find(|p| format!("{}@{}", p.name, p.version) == scenario);
    let log = json!({
        "version": 2,
        "status": "success",
        "eval": {
            "eval_id": format!("{}-{}-{}", run.id, safe(&name), safe(model)),
            "run_id": run.id,
            "created": created,
            "task": format!("peerpressure/{name}"),
            "task_id": format!("{}:{}", run.id, scenario),
            "task_version": version,
            // Without `sample_ids` (optional in Inspect): the samples carry their ids, and a
            // list of every id would grow with the run.
            "dataset": {"name": scenario, "samples": totals.samples},
            "model": model,
            "config": {"epochs": run.epochs},
            "packages": {"peerpressure": run.host_version},
            "metadata": {
                "peerpressure": {
                    "host_version": run.host_version,
                    "run_id": run.id,
                    "seed": run.seed,
                    "set": run.set,
                    "judge": run.judge,
                    "command": run.command,
                    "scenario_sha256": plugin.map(|p| p.sha256.clone()),
                    "plugins": run.plugins.iter().map(|p| json!({"kind": p.kind, "name": p.name, "version": p.version, "sha256": p.sha256})).collect::<Vec<_>>(),
                    "model_settings": run.model_settings.get(model),
                }
            },
        },
        "results": {"total_samples": totals.samples, "completed_samples": totals.completed, "scores": scores},
        "stats": {
            "started_at": created,
            "completed_at": created,
            "model_usage": {model: {
                "input_tokens": usage.0,
                "output_tokens": usage.1,
                "total_tokens": usage.0 + usage.1,
                "input_tokens_cache_read": usage.2,
                "reasoning_tokens": usage.3,
            }},
        },
    });
    let file = format!(
        "{}_{}_{}_{}.json",
        safe(&created),
        safe(&name),
        safe(model),
        &run.id
    );
    (file, log)
}
