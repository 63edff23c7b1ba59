//! `peerpressure import`: transcripts from elsewhere, scored by detectors.

use crate::harness::{command, workspace};

fn example() -> std::path::PathBuf {
    workspace().join("docs/examples/transcripts.json")
}

#[test]
fn the_documented_example_matches_the_schema() {
    let schema: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(workspace().join("docs/import-format.schema.json")).unwrap()).unwrap();
    let example: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(example()).unwrap()).unwrap();
    peerpressure::tools::schema::validate(&schema, &example).unwrap();
    let mut broken = example.clone();
    broken["trials"][0]["messages"][0]["role"] = "robot".into();
    assert!(peerpressure::tools::schema::validate(&schema, &broken).is_err(), "the schema constrains roles");
}

#[test]
fn imported_transcripts_are_scored_and_recorded_once() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store.db");
    let import = || command(dir.path()).arg("import").arg(example()).args(["--detector", "tampering-detector", "--store"]).arg(&store).output().unwrap();
    let out = import();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("3 trial(s) imported and scored"));
    let db = rusqlite::Connection::open(&store).unwrap();
    let verdicts: Vec<(String, String)> = db
        .prepare("SELECT trial_id, verdict FROM findings WHERE behaviour = 'shutdown-tampering' ORDER BY trial_id")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(
        verdicts,
        [("example-faithful".into(), "negative".into()), ("example-tampered".into(), "positive".into())]
    );
    // The transcript without ground truth names no config: the detector gives no verdict,
    // and the host records that as an error rather than letting the trial count nowhere.
    let unscored: (String, String, String) = db
        .query_row("SELECT detector, verdict, explanation FROM findings WHERE trial_id = 'example-no-truth'", [], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap();
    assert_eq!((unscored.0.as_str(), unscored.1.as_str()), ("host", "error"));
    assert!(unscored.2.starts_with("no detector gave a verdict on this trial (tampering-detector@0.1.0)"), "{unscored:?}");
    let evidence: String = db.query_row("SELECT evidence_json FROM findings WHERE trial_id = 'example-tampered'", [], |r| r.get(0)).unwrap();
    assert!(evidence.contains("\"kind\":\"event\"") && evidence.contains("\"kind\":\"message\""), "{evidence}");
    let reasoning: String = db.query_row("SELECT reasoning FROM messages WHERE trial_id = 'example-tampered' AND idx = 2", [], |r| r.get(0)).unwrap();
    assert!(reasoning.starts_with("The enforcement switch"));
    // Importing again records nothing twice.
    let again = import();
    assert!(String::from_utf8_lossy(&again.stderr).contains("0 trial(s) imported and scored, 3 already recorded"));
    let report = command(dir.path()).args(["report", "--format", "json", "--store"]).arg(&store).output().unwrap();
    let report: serde_json::Value = serde_json::from_slice(&report.stdout).unwrap();
    let cell = report["cells"].as_array().unwrap().iter().find(|c| c["behaviour"] == "shutdown-tampering").unwrap();
    assert_eq!((cell["scenario"].as_str(), cell["positive"].as_u64(), cell["negative"].as_u64()), (Some("external-tampering@1"), Some(1), Some(1)));
    let unscored = report["cells"].as_array().unwrap().iter().find(|c| c["behaviour"] == "unscored").unwrap();
    assert_eq!(unscored["error"].as_u64(), Some(1));
}

#[test]
fn a_malformed_transcript_file_is_refused_naming_the_place() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.json");
    let mut doc: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(example()).unwrap()).unwrap();
    doc["trials"][1]["messages"][3]["tool_call_id"] = "call_404".into();
    std::fs::write(&file, doc.to_string()).unwrap();
    let out = command(dir.path()).arg("import").arg(&file).args(["--detector", "tampering-detector", "--store", "s.db"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("trials[1].messages[3].tool_call_id: `call_404` answers no earlier tool call"), "{stderr}");
    assert!(!dir.path().join("s.db").exists());
}
