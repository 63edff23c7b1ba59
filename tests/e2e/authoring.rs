//! docs/authoring.md, executed: every ```sh block of the tutorial runs in order, as a
//! newcomer would type it, then the scaffolds the tutorial does not walk through are built
//! and tested too. Needs the toolchains `just plugins` installs under target/toolchains.

use std::path::Path;
use std::process::Command;

use crate::harness::{binary, workspace};

fn shell_blocks(markdown: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in markdown.lines() {
        match (&mut current, line.trim_start()) {
            (None, "```sh") => current = Some(String::new()),
            (Some(block), "```") => {
                blocks.push(std::mem::take(block));
                current = None;
            }
            (Some(block), _) => {
                block.push_str(line);
                block.push('\n');
            }
            _ => {}
        }
    }
    blocks
}

/// A shell in `dir` where `peerpressure` is our binary and the toolchains are the pinned ones.
fn shell(dir: &Path, script: &str) -> (bool, String) {
    let bin_dir = dir.join("bin");
    std::fs::create_dir_all(&bin_dir).unwrap();
    let link = bin_dir.join("peerpressure");
    if !link.exists() {
        std::os::unix::fs::symlink(binary(), &link).unwrap();
    }
    let tools = workspace().join("target/toolchains");
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = Command::new("bash")
        .args(["-euo", "pipefail", "-c", script])
        .current_dir(dir)
        .env("PATH", path)
        .env("PEERPRESSURE", &link)
        .env("PEERPRESSURE_HOME", dir.join("home"))
        .env(
            "PEERPRESSURE_CACHE_DIR",
            workspace().join("target/test-plugin-cache"),
        )
        .env(
            "CARGO_TARGET_DIR",
            workspace().join("target/scaffold-target"),
        )
        .env("COMPONENTIZE_PY", tools.join("venv/bin/componentize-py"))
        .env(
            "COMPONENTIZE_QJS",
            tools.join("node_modules/.bin/componentize-qjs"),
        )
        .env_remove("PEERPRESSURE_STORE")
        .env_remove("PEERPRESSURE_PLUGIN_PATH")
        .output()
        .expect("running bash");
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[test]
fn the_authoring_tutorial_runs_as_written() {
    let doc = std::fs::read_to_string(workspace().join("docs/authoring.md")).unwrap();
    let blocks = shell_blocks(&doc);
    assert!(blocks.len() >= 6, "{} shell blocks", blocks.len());
    let dir = tempfile::tempdir().unwrap();
    let mut transcript = String::new();
    for block in &blocks {
        let (ok, output) = shell(dir.path(), block);
        transcript.push_str(&format!("$ {block}{output}\n"));
        assert!(ok, "a tutorial step failed:\n{block}\n{output}");
    }
    // What the newcomer sees at the end of each tutorial.
    for needle in [
        "ok: refusal-words finds the refusal and only the refusal",
        "installed detector refusal-words@0.1.0 (Python",
        "ok: refusal-words-js finds the refusal and only the refusal",
        "installed detector refusal-words-js@0.1.0 (JavaScript",
        "ok: refusal-words-rs finds the refusal and only the refusal",
        "installed detector refusal-words-rs@0.1.0 (Rust",
        "2 expectation(s) of switch-task@0.1.0: 2 passed, 0 skipped, 0 failed",
        "Scoring: with-refusal-words (re-scored",
    ] {
        assert!(
            transcript.contains(needle),
            "the tutorial's output lacks {needle:?}:\n{transcript}"
        );
    }
    // The installed detector found the refusing half of the mixed agent in the recorded run.
    let db = rusqlite::Connection::open(dir.path().join("tutorial.db")).unwrap();
    let (positive, negative): (i64, i64) = db
        .query_row(
            "SELECT SUM(verdict = 'positive'), SUM(verdict = 'negative') FROM findings WHERE behaviour = 'refusal-words' AND scoring = 'run'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    let refusers: i64 = db
        .query_row(
            "SELECT COUNT(*) FROM trials WHERE agent = 'scripted/refuser'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(
        (positive, positive + negative),
        (refusers, 10),
        "one positive per refusing trial"
    );
    assert!(refusers > 0 && refusers < 10, "{refusers}");
}

#[test]
fn every_scaffold_builds_and_passes_its_own_test() {
    // The tutorial covers Python, JavaScript and Rust detectors and a Python scenario; the
    // other two scenario scaffolds are checked here.
    let dir = tempfile::tempdir().unwrap();
    for lang in ["js", "rust"] {
        let name = format!("{lang}-switch");
        let (ok, output) = shell(
            dir.path(),
            &format!(
                "peerpressure plugin new --kind scenario --lang {lang} {name}\n{name}/test.sh"
            ),
        );
        assert!(
            ok && output.contains(&format!("2 expectation(s) of {name}@0.1.0: 2 passed")),
            "{lang}:\n{output}"
        );
    }
    // Scaffolding refuses bad names and existing directories.
    let (ok, output) = shell(
        dir.path(),
        "peerpressure plugin new --kind detector --lang js Bad_Name",
    );
    assert!(!ok && output.contains("must be lowercase"), "{output}");
    let (ok, output) = shell(
        dir.path(),
        "peerpressure plugin new --kind detector --lang js js-switch",
    );
    assert!(!ok && output.contains("already exists"), "{output}");
}
