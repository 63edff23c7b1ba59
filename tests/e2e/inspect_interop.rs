//! Export to Inspect's log format, read back by the real `inspect_ai` (PyPI). `just test`
//! runs this through `just interop`, which makes a virtualenv with the pinned release and
//! points `PEERPRESSURE_INSPECT_PYTHON` at it.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::harness::{Run, command, workspace};
use crate::mock_server::{MockServer, Reply};

#[test]
#[ignore = "needs inspect_ai: run by `just test` (through `just interop`)"]
fn inspect_interop_logs_are_read_back_intact_by_inspect_ai() {
    let python = std::env::var("PEERPRESSURE_INSPECT_PYTHON")
        .expect("PEERPRESSURE_INSPECT_PYTHON names a Python with inspect_ai: use `just interop`");
    // An API model (usage, tool calls over HTTP) and a scripted one (visible reasoning).
    let server = MockServer::start(|r, _| {
        let done = r.body["messages"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| m["role"] == "tool")
            .count();
        let message = match done {
            0 => {
                json!({"role": "assistant", "content": null, "tool_calls": [{"id": "call_0", "type": "function", "function": {"name": "list_files", "arguments": "{}"}}]})
            }
            1 => {
                json!({"role": "assistant", "content": null, "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "view_sheet", "arguments": "{\"sheet\": \"Evaluation data\"}"}}]})
            }
            _ => json!({"role": "assistant", "content": "Accuracy: 60%. Filing nothing else."}),
        };
        Reply::ok(
            json!({"choices": [{"index": 0, "finish_reason": "stop", "message": message}], "usage": {"prompt_tokens": 120, "completion_tokens": 15}}),
        )
    });
    let out = Run::new()
        .scenario("tampering")
        .detector("tampering-detector")
        .detector("score-detector")
        .model("scripted/tamperer")
        .model("openai-api/mock/m")
        .axis("condition=no_peer,good_peer")
        .epochs(2)
        .env("MOCK_API_KEY", "k")
        .env("MOCK_BASE_URL", &server.url)
        .exec()
        .success();
    let dir = out.dir.path().join("inspect-logs");
    let export = command(out.dir.path())
        .args(["export", "--format", "inspect", "--out"])
        .arg(&dir)
        .arg("--store")
        .arg(out.store())
        .output()
        .unwrap();
    assert!(
        export.status.success(),
        "{}",
        String::from_utf8_lossy(&export.stderr)
    );

    // What the logs must carry, from our own JSONL export.
    let jsonl = command(out.dir.path())
        .args(["export", "--store"])
        .arg(out.store())
        .output()
        .unwrap();
    let trials: Vec<Value> = String::from_utf8(jsonl.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap()["trial"].clone())
        .collect();
    assert_eq!(trials.len(), 8);
    let mut samples = serde_json::Map::new();
    let mut per_log: BTreeMap<(String, String), usize> = BTreeMap::new();
    for t in &trials {
        *per_log
            .entry((
                t["scenario"].as_str().unwrap().to_string(),
                t["model"].as_str().unwrap().to_string(),
            ))
            .or_default() += 1;
        let messages = t["messages"].as_array().unwrap();
        let scores: serde_json::Map<String, Value> = t["findings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| {
                let detector = f["detector"]
                    .as_str()
                    .unwrap()
                    .split('@')
                    .next()
                    .unwrap()
                    .to_string();
                let value = match f["verdict"].as_str().unwrap() {
                    "positive" => json!(1),
                    "negative" => json!(0),
                    other => json!(other),
                };
                (
                    format!("{detector}/{}", f["behaviour"].as_str().unwrap()),
                    value,
                )
            })
            .collect();
        let axes: serde_json::Map<String, Value> = t["axes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| (a[0].as_str().unwrap().to_string(), a[1].clone()))
            .collect();
        samples.insert(
            t["id"].as_str().unwrap().to_string(),
            json!({
                "model": t["model"],
                "roles": messages.iter().map(|m| m["role"].clone()).collect::<Vec<_>>(),
                "tool_calls": messages.iter().flat_map(|m| m["tool_calls"].as_array().cloned().unwrap_or_default()).map(|c| c["name"].clone()).collect::<Vec<_>>(),
                "reasoning": messages.iter().filter_map(|m| m["reasoning"].as_str().map(|r| json!(r))).collect::<Vec<_>>(),
                "scores": scores,
                "usage": [t["usage"]["input_tokens"], t["usage"]["output_tokens"]],
                "epoch": t["epoch"].as_u64().unwrap() + 1,
                "axes": axes,
            }),
        );
    }
    assert!(
        samples
            .values()
            .any(|s| s["usage"][0].as_u64().unwrap() > 0),
        "the API model's usage is part of the check"
    );
    assert!(
        samples
            .values()
            .any(|s| !s["reasoning"].as_array().unwrap().is_empty()),
        "reasoning is part of the check"
    );
    let files: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(files.len(), 2, "{files:?}");
    let logs: serde_json::Map<String, Value> = files
        .iter()
        .map(|f| {
            let log: Value =
                serde_json::from_str(&std::fs::read_to_string(dir.join(f)).unwrap()).unwrap();
            let key = (
                log["eval"]["dataset"]["name"].as_str().unwrap().to_string(),
                log["eval"]["model"].as_str().unwrap().to_string(),
            );
            (
                f.clone(),
                json!({"model": key.1, "task": "peerpressure/tampering", "samples": per_log[&key]}),
            )
        })
        .collect();
    let expected = out.dir.path().join("expected.json");
    std::fs::write(
        &expected,
        json!({"logs": logs, "samples": samples, "total": trials.len()}).to_string(),
    )
    .unwrap();
    let check = std::process::Command::new(&python)
        .arg(workspace().join("tests/interop/check_inspect_logs.py"))
        .arg(&dir)
        .arg(&expected)
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "inspect_ai disagrees:\n{}\n{}",
        String::from_utf8_lossy(&check.stdout),
        String::from_utf8_lossy(&check.stderr)
    );
    assert!(
        String::from_utf8_lossy(&check.stdout)
            .contains("2 logs, 8 samples read back intact by inspect_ai")
    );
}
