//! The Rust, Python and JavaScript SDKs expose the same interface: every host import of the
//! WIT has a wrapper in each, every trial helper and finding constructor one SDK has the
//! others have, and on the same trials the three answer alike.

use std::collections::{BTreeMap, BTreeSet};

use crate::harness::{Run, command, plugin, workspace};

fn read(path: &str) -> String {
    std::fs::read_to_string(workspace().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Every host import of the plugin interface, as `interface.function`.
fn wit_imports() -> BTreeSet<String> {
    let mut imports = BTreeSet::new();
    let mut interface = String::new();
    for line in read("wit/peerpressure-plugin@0.1.0/host.wit").lines() {
        let line = line.trim();
        if let Some(name) = line.strip_prefix("interface ") {
            interface = name.trim_end_matches(" {").trim().to_string();
        } else if let Some((name, rest)) = line.split_once(':')
            && rest.trim_start().starts_with("func")
        {
            imports.insert(format!("{interface}.{}", name.trim()));
        }
    }
    imports
}

/// Each host import and what wraps it in each SDK: (import, Rust, Python, JavaScript), as
/// text that must appear in the SDK's source. A new import fails the test until it is here.
const WRAPPERS: &[(&str, &str, &str, &str)] = &[
    (
        "log.log",
        "pub fn info(",
        "def log(",
        "export function log(",
    ),
    (
        "judge.complete",
        "pub fn complete(",
        "def judge(",
        "export function judge(",
    ),
    (
        "world-state.add-machine",
        "pub fn add_machine(",
        "def add_machine(",
        "addMachine:",
    ),
    (
        "world-state.list-machines",
        "pub fn machines(",
        "def machines(",
        "machines:",
    ),
    (
        "world-state.list-files",
        "pub fn list(",
        "def list(",
        "list:",
    ),
    (
        "world-state.read-file",
        "pub fn read(",
        "def read(",
        "read:",
    ),
    (
        "world-state.write-file",
        "pub fn write(",
        "def write(",
        "write:",
    ),
    (
        "world-state.append-file",
        "pub fn append(",
        "def append(",
        "append:",
    ),
    (
        "world-state.delete-file",
        "pub fn delete(",
        "def delete(",
        "delete:",
    ),
    (
        "world-state.copy-file",
        "pub fn copy(",
        "def copy(",
        "copy:",
    ),
    // `move` is a Rust keyword: the Rust SDK calls it `rename`.
    (
        "world-state.move-file",
        "pub fn rename(",
        "def move(",
        "move:",
    ),
    (
        "world-state.set-metadata",
        "pub fn set_metadata(",
        "def set_metadata(",
        "setMetadata:",
    ),
    ("world-state.now", "pub fn now(", "def now(", "now:"),
    (
        "world-state.set-clock",
        "pub fn set_clock(",
        "def set_clock(",
        "setClock:",
    ),
];

fn rust_sdk() -> String {
    [
        "lib.rs",
        "helpers.rs",
        "text.rs",
        "world.rs",
        "log.rs",
        "judge.rs",
    ]
    .iter()
    .map(|f| read(&format!("sdk/rust/src/{f}")))
    .collect()
}

fn python_sdk() -> String {
    read("sdk/python/peerpressure_sdk/__init__.py") + &read("sdk/python/peerpressure_sdk/_world.py")
}

fn js_sdk() -> String {
    ["peerpressure.js", "world.js", "judge.js"]
        .iter()
        .map(|f| read(&format!("sdk/js/{f}")))
        .collect()
}

#[test]
fn every_host_import_has_a_wrapper_in_every_sdk() {
    let mapped: BTreeSet<String> = WRAPPERS.iter().map(|w| w.0.to_string()).collect();
    assert_eq!(
        wit_imports(),
        mapped,
        "the WIT's host imports and this test's table differ: wrap the new import in every SDK"
    );
    let (rust, python, js) = (rust_sdk(), python_sdk(), js_sdk());
    let mut missing = Vec::new();
    for (import, r, p, j) in WRAPPERS {
        for (sdk, source, wrapper) in [
            ("Rust", &rust, r),
            ("Python", &python, p),
            ("JavaScript", &js, j),
        ] {
            if !source.contains(wrapper) {
                missing.push(format!("{sdk} lacks {import} (`{wrapper}`)"));
            }
        }
    }
    assert!(missing.is_empty(), "{}", missing.join("\n"));
}

fn snake(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars() {
        if c.is_ascii_uppercase() {
            out.push('_');
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// The text of the block that starts at the first line starting with `start` and ends at the
/// first later line that starts with `end`.
fn block<'a>(source: &'a str, start: &str, end: &str) -> Vec<&'a str> {
    let mut lines = source.lines().skip_while(|l| !l.starts_with(start));
    let first = lines.next().into_iter();
    first
        .chain(lines.take_while(|l| !l.starts_with(end)))
        .collect()
}

fn words_after(lines: &[&str], prefix: &str) -> BTreeSet<String> {
    lines
        .iter()
        .filter_map(|l| l.strip_prefix(prefix))
        .map(|rest| {
            rest.chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect::<String>()
        })
        .filter(|n| !n.is_empty())
        .map(|n| snake(&n))
        .collect()
}

/// Trial helpers, finding constructors and free helpers each SDK offers detectors.
fn rust_helpers() -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for file in ["helpers.rs", "text.rs"] {
        let source = read(&format!("sdk/rust/src/{file}"));
        let mut in_block = "";
        for line in source.lines() {
            if line.starts_with("impl ") {
                in_block = line;
            } else if line == "}" {
                in_block = "";
            } else if let Some(rest) = line.strip_prefix("    pub fn ") {
                let name: String = rest
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                if in_block.starts_with("impl TrialRecord") || in_block.starts_with("impl Finding")
                {
                    names.insert(name);
                }
            } else if let Some(rest) = line.strip_prefix("pub fn ") {
                names.insert(
                    rest.chars()
                        .take_while(|c| c.is_alphanumeric() || *c == '_')
                        .collect(),
                );
            }
        }
    }
    // Rust builds a finding's evidence and value with builder methods; Python and JavaScript
    // take them as arguments of the constructors.
    for builder in ["with_evidence", "with_number", "with_text"] {
        assert!(names.remove(builder), "{builder}");
    }
    names
}

fn python_helpers() -> BTreeSet<String> {
    let source = python_sdk();
    let trial = block(&source, "class Trial:", "# ---");
    let mut names = words_after(&trial, "    def ");
    names.retain(|n| !n.starts_with('_'));
    let trimmed: Vec<&str> = trial.iter().map(|l| l.trim()).collect();
    names.extend(
        words_after(&trimmed, "self.")
            .into_iter()
            .filter(|n| n == "ground_truth"),
    );
    let top: Vec<&str> = source.lines().filter(|l| l.starts_with("def ")).collect();
    for line in top {
        if line.contains("(behaviour: str") || line.starts_with("def mentions(") {
            names.extend(words_after(&[line], "def "));
        }
    }
    names
}

fn js_helpers() -> BTreeSet<String> {
    let source = read("sdk/js/peerpressure.js");
    let trial = block(&source, "export class Trial", "}\n");
    let trial: Vec<&str> = trial.into_iter().take_while(|l| *l != "}").collect();
    let mut names: BTreeSet<String> = trial
        .iter()
        .filter(|l| l.starts_with("  ") && !l.starts_with("   ") && l.trim_end().ends_with(") {"))
        .filter_map(|l| l.trim().split('(').next())
        .filter(|n| *n != "constructor")
        .map(snake)
        .collect();
    let trimmed: Vec<&str> = trial.iter().map(|l| l.trim()).collect();
    names.extend(
        words_after(&trimmed, "this.")
            .into_iter()
            .filter(|n| n == "ground_truth"),
    );
    for line in source.lines() {
        if line.starts_with("export const ") && line.contains("= (behaviour") {
            names.extend(words_after(&[line], "export const "));
        }
        if line.starts_with("export function mentions(") {
            names.insert("mentions".into());
        }
    }
    names
}

#[test]
fn every_sdk_has_the_helpers_the_others_have() {
    let sdks = [
        ("Rust", rust_helpers()),
        ("Python", python_helpers()),
        ("JavaScript", js_helpers()),
    ];
    let all: BTreeSet<String> = sdks.iter().flat_map(|(_, s)| s.iter().cloned()).collect();
    // The vocabulary the docs promise; a sanity check that extraction found it.
    for expected in [
        "find_text",
        "condensed_transcript",
        "unrecorded_world",
        "final_copies_of",
        "events_on",
        "judge_failed",
        "mentions",
        "ground_truth",
    ] {
        assert!(
            all.contains(expected),
            "{expected} not found in any SDK: {all:?}"
        );
    }
    let mut gaps = Vec::new();
    for (sdk, names) in &sdks {
        let lacks: Vec<&String> = all.difference(names).collect();
        if !lacks.is_empty() {
            gaps.push(format!("{sdk} lacks {lacks:?}"));
        }
    }
    assert!(gaps.is_empty(), "{}", gaps.join("\n"));
}

/// Every probe finding of a store: (trial, behaviour) -> detector -> value.
fn probe_values(store: &std::path::Path) -> BTreeMap<(String, String), BTreeMap<String, String>> {
    let db = rusqlite::Connection::open(store).unwrap();
    let mut stmt = db
        .prepare("SELECT trial_id, behaviour, detector, value_json FROM findings WHERE behaviour LIKE 'probe-%'")
        .unwrap();
    let mut out: BTreeMap<(String, String), BTreeMap<String, String>> = BTreeMap::new();
    let rows = stmt
        .query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, Option<String>>(3)?.unwrap_or_default(),
            ))
        })
        .unwrap();
    for row in rows {
        let (trial, behaviour, detector, value) = row.unwrap();
        out.entry((trial, behaviour))
            .or_default()
            .insert(detector, value);
    }
    out
}

fn assert_alike(values: &BTreeMap<(String, String), BTreeMap<String, String>>) {
    assert!(!values.is_empty());
    for ((trial, behaviour), by_detector) in values {
        assert_eq!(by_detector.len(), 3, "{trial} {behaviour}: {by_detector:?}");
        let distinct: BTreeSet<&String> = by_detector.values().collect();
        assert_eq!(
            distinct.len(),
            1,
            "{trial} {behaviour}: the SDKs differ: {by_detector:#?}"
        );
    }
}

fn probes(run: Run) -> Run {
    run.detector(&plugin("fixture_sdk_probe"))
        .detector(&plugin("sdk_probe_py"))
        .detector(&plugin("sdk_probe_js"))
}

#[test]
fn the_three_sdks_answer_alike_on_the_same_trials() {
    let exfiltration = probes(Run::new().scenario("exfiltration"))
        .axis("task=all")
        .axis("condition=no_peer,good_peer")
        .axis("subject=all")
        .model("scripted/faithful")
        .model("scripted/exfiltrator")
        .model("scripted/spare-weights")
        .model("scripted/admin-remover")
        .model("scripted/refuser")
        .exec()
        .success();
    let values = probe_values(&exfiltration.store());
    assert_alike(&values);
    // Not vacuous: the weights were followed to another server, text was found, the peer
    // was named, and some agent skipped the materials.
    let any = |behaviour: &str, test: &dyn Fn(&str) -> bool| {
        values
            .iter()
            .any(|((_, b), v)| b == behaviour && v.values().all(|x| test(x)))
    };
    // A file whose places at the end are not just where it started: copied or moved.
    let followed = |v: &str| {
        v.trim_matches('"').split(';').any(|entry| {
            let (file, rest) = entry.split_once('=').unwrap_or((entry, ""));
            let places = rest.split('#').next().unwrap_or("");
            !places.is_empty() && places != file
        })
    };
    assert!(any("probe-copies", &followed), "{values:#?}");
    assert!(any("probe-find-text", &|v| v != "\"none\"" && v != "none"));
    assert!(any("probe-mentions", &|v| v.contains("true")));
    let tampering = probes(Run::new().scenario("tampering"))
        .model("scripted/faithful")
        .model("scripted/tamperer")
        .model("scripted/config-rewriter")
        .model("scripted/key-remover")
        .model("scripted/refuser")
        .exec()
        .success();
    assert_alike(&probe_values(&tampering.store()));
    // Imported transcripts, one without its worlds: `unrecorded_world` answers in each SDK.
    let dir = tempfile::tempdir().unwrap();
    let mut transcripts: serde_json::Value =
        serde_json::from_str(&read("docs/examples/transcripts.json")).unwrap();
    transcripts["trials"][1]
        .as_object_mut()
        .unwrap()
        .remove("final_world");
    std::fs::write(dir.path().join("t.json"), transcripts.to_string()).unwrap();
    let imported = command(dir.path())
        .arg("import")
        .arg("t.json")
        .args(["--store", "store.db"])
        .args(["--detector", &plugin("fixture_sdk_probe")])
        .args(["--detector", &plugin("sdk_probe_py")])
        .args(["--detector", &plugin("sdk_probe_js")])
        .output()
        .unwrap();
    assert!(
        imported.status.success(),
        "{}",
        String::from_utf8_lossy(&imported.stderr)
    );
    let values = probe_values(&dir.path().join("store.db"));
    assert_alike(&values);
    assert!(
        values
            .iter()
            .any(|((_, b), v)| b == "probe-unrecorded"
                && v.values().all(|x| x.contains("not recorded"))),
        "{values:#?}"
    );
}
