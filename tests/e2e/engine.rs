//! The run engine: crash and resume, shards and merge, selection, dry runs, compile cache.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::harness::{Outcome, Run, binary, command, plugin};
use crate::mock_server::{MockServer, Reply};

/// The tampering grid over all conditions and subjects: 8 cells.
fn grid(run: Run, epochs: u32) -> Run {
    run.scenario("tampering")
        .detector("tampering-detector")
        .model("scripted/tamperer?p=0.5")
        .axis("condition=all")
        .axis("subject=all")
        .epochs(epochs)
}

/// trial id -> verdicts and the trial's message and event counts, for comparing stores.
fn verdicts(out: &Outcome) -> BTreeMap<String, String> {
    out.rows(
        "SELECT t.id, GROUP_CONCAT(f.behaviour || '=' || f.verdict)
                || ' messages=' || (SELECT COUNT(*) FROM messages m WHERE m.run_id = t.run_id AND m.trial_id = t.id)
                || ' events=' || (SELECT COUNT(*) FROM events e WHERE e.run_id = t.run_id AND e.trial_id = t.id)
         FROM trials t JOIN findings f ON f.run_id = t.run_id AND f.trial_id = t.id GROUP BY t.id",
    )
        .into_iter()
        .map(|r| (r[0].clone(), r[1].clone()))
        .collect()
}

fn assert_no_partial_rows(out: &Outcome) {
    let orphans = out.rows(
        "SELECT (SELECT COUNT(*) FROM messages m WHERE NOT EXISTS (SELECT 1 FROM trials t WHERE t.run_id = m.run_id AND t.id = m.trial_id)),
                (SELECT COUNT(*) FROM findings f WHERE NOT EXISTS (SELECT 1 FROM trials t WHERE t.run_id = f.run_id AND t.id = f.trial_id)),
                (SELECT COUNT(*) FROM trials t WHERE NOT EXISTS (SELECT 1 FROM findings f WHERE f.run_id = t.run_id AND f.trial_id = t.id))",
    );
    assert_eq!(orphans[0], ["0", "0", "0"], "partial trial rows found");
}

#[test]
fn a_run_killed_with_sigkill_resumes_to_the_same_result() {
    // 2,000 trials, killed with SIGKILL at 10 points, resumed after each (reliability item 1).
    let whole = grid(Run::new(), 250).exec().success();
    let expected = verdicts(&whole);
    assert_eq!(expected.len(), 2000);

    let store_dir = tempfile::tempdir().unwrap();
    let store = store_dir.path().join("store.db");
    let args = |cmd: &mut std::process::Command| {
        cmd.args([
            "run",
            "--scenario",
            "tampering",
            "--detector",
            "tampering-detector",
            "--model",
            "scripted/tamperer?p=0.5",
        ])
        .args([
            "-A",
            "condition=all",
            "-A",
            "subject=all",
            "--epochs",
            "250",
            "--store",
        ])
        .arg(&store);
    };
    let mut kills = 0;
    let mut interrupted_counts = Vec::new();
    let count = || -> i64 {
        rusqlite::Connection::open(&store)
            .ok()
            .and_then(|db| {
                db.query_row("SELECT COUNT(*) FROM trials", [], |r| r.get(0))
                    .ok()
            })
            .unwrap_or(0)
    };
    for _ in 0..10 {
        let before = count();
        let mut cmd = command(store_dir.path());
        args(&mut cmd);
        let mut child = cmd
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        // Kill once this attempt has recorded some trials, while it is still running.
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while child.try_wait().unwrap().is_none() && std::time::Instant::now() < deadline {
            if count() >= before + 40 {
                child.kill().unwrap(); // SIGKILL on Unix
                kills += 1;
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        child.wait().unwrap();
        interrupted_counts.push(count());
    }
    assert_eq!(
        kills, 10,
        "every attempt was killed mid-run (counts after each: {interrupted_counts:?})"
    );
    assert!(
        interrupted_counts.windows(2).all(|w| w[0] < w[1]) && interrupted_counts[9] < 2000,
        "each attempt added trials: {interrupted_counts:?}"
    );
    // Finish without interruption.
    let mut cmd = command(store_dir.path());
    args(&mut cmd);
    let finished = cmd.output().unwrap();
    assert!(
        finished.status.success(),
        "{}",
        String::from_utf8_lossy(&finished.stderr)
    );
    let resumed = Outcome {
        dir: std::sync::Arc::new(store_dir),
        code: 0,
        stdout: String::new(),
        stderr: String::new(),
    };
    assert_eq!(
        verdicts(&resumed),
        expected,
        "same trials, same verdicts: nothing lost, nothing duplicated"
    );
    assert_eq!(
        resumed.rows("SELECT COUNT(*), COUNT(DISTINCT id) FROM trials")[0],
        ["2000", "2000"],
        "0 lost, 0 duplicated"
    );
    assert_no_partial_rows(&resumed);
}

#[test]
fn shards_merged_equal_an_unsharded_run() {
    let whole = grid(Run::new(), 10).exec().success();
    let shards: Vec<Outcome> = (1..=3)
        .map(|k| {
            grid(Run::new(), 10)
                .arg("--shard")
                .arg(&format!("{k}/3"))
                .exec()
                .success()
        })
        .collect();
    let sizes: Vec<usize> = shards.iter().map(|s| verdicts(s).len()).collect();
    assert_eq!(sizes.iter().sum::<usize>(), 80, "{sizes:?}");
    assert!(sizes.iter().all(|&n| n > 10), "a real split: {sizes:?}");
    let merged_dir = tempfile::tempdir().unwrap();
    let merged_store = merged_dir.path().join("merged.db");
    let out = command(merged_dir.path())
        .arg("merge")
        .arg(&merged_store)
        .args(shards.iter().map(|s| s.store()))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Merging again copies nothing.
    let again = command(merged_dir.path())
        .arg("merge")
        .arg(&merged_store)
        .arg(shards[0].store())
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&again.stderr).contains(": 0 trial(s) copied"));
    let as_outcome = Outcome {
        dir: std::sync::Arc::new(merged_dir),
        code: 0,
        stdout: String::new(),
        stderr: String::new(),
    };
    std::fs::rename(as_outcome.dir.path().join("merged.db"), as_outcome.store()).unwrap();
    assert_eq!(verdicts(&as_outcome), verdicts(&whole));
    assert_no_partial_rows(&as_outcome);
    assert_eq!(
        as_outcome.rows("SELECT COUNT(*) FROM runs")[0][0],
        "1",
        "shards of one grid are one run"
    );
}

#[test]
fn selection_by_limit_and_trial_id_and_resume_by_run_id() {
    let first = grid(Run::new(), 2).arg("--limit").arg("5").exec().success();
    assert_eq!(first.rows("SELECT COUNT(*) FROM trials")[0][0], "5");
    let resume = command(first.dir.path())
        .args(["resume", "--store"])
        .arg(first.store())
        .output()
        .unwrap();
    assert!(
        resume.status.success(),
        "{}",
        String::from_utf8_lossy(&resume.stderr)
    );
    assert!(String::from_utf8_lossy(&resume.stderr).contains("5 already recorded"));
    assert_eq!(
        first.rows("SELECT COUNT(*), COUNT(DISTINCT run_id) FROM trials")[0],
        ["16", "1"]
    );

    let some_id = first.rows("SELECT id FROM trials LIMIT 1")[0][0].clone();
    let single = grid(Run::new(), 2)
        .arg("--trial-id")
        .arg(&some_id)
        .exec()
        .success();
    assert_eq!(single.rows("SELECT id FROM trials"), vec![vec![some_id]]);
    grid(Run::new(), 2)
        .arg("--trial-id")
        .arg("0123456789abcdef01234567")
        .exec()
        .failure(
            2,
            "--trial-id 0123456789abcdef01234567 is not a trial of this run's grid",
        );
    grid(Run::new(), 2)
        .arg("--shard")
        .arg("4/3")
        .exec()
        .failure(2, "--shard `4/3` is not K/N");
}

#[test]
fn resume_refuses_a_plugin_that_changed() {
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("scenario.wasm");
    std::fs::copy(plugin("tampering"), &copy).unwrap();
    let first = Run::new()
        .scenario(copy.to_str().unwrap())
        .model("scripted/faithful")
        .epochs(3)
        .arg("--limit")
        .arg("1")
        .exec()
        .success();
    std::fs::copy(plugin("fixture_chaos_scenario"), &copy).unwrap();
    let out = command(first.dir.path())
        .args(["resume", "--store"])
        .arg(first.store())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("changed since the run was recorded"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn dry_run_numbers_match_the_executed_grid() {
    let dry = grid(Run::new(), 5).arg("--dry-run").exec().success();
    assert!(
        dry.stdout
            .contains("grid: 40 trial(s) in 8 cell(s); 0 already recorded; 40 to run"),
        "{}",
        dry.stdout
    );
    assert!(dry.stdout.contains("0 (scripted)"), "{}", dry.stdout);
    assert!(!dry.store().exists(), "a dry run records nothing");
    let real = Run::again(&dry)
        .scenario("tampering")
        .detector("tampering-detector")
        .model("scripted/tamperer?p=0.5")
        .axis("condition=all")
        .axis("subject=all")
        .epochs(5)
        .exec()
        .success();
    assert_eq!(real.rows("SELECT COUNT(*) FROM trials")[0][0], "40");

    // An API model: the dry run's call ceiling bounds the calls made, and costs them.
    let server = MockServer::start(|_, _| {
        Reply::ok(
            serde_json::json!({"choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": "Nothing to do."}}], "usage": {"prompt_tokens": 10, "completion_tokens": 3}}),
        )
    });
    let api = |run: Run| {
        run.scenario("tampering")
            .model("openai-api/mock/m")
            .epochs(4)
            .env("MOCK_BASE_URL", &server.url)
    };
    let dry = api(Run::new()).arg("--dry-run").exec().success();
    let line = dry
        .stdout
        .lines()
        .find(|l| l.starts_with("openai-api/mock/m"))
        .unwrap()
        .to_string();
    let fields: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(fields[1], "4", "{line}");
    assert_eq!(fields[2], "120", "4 trials x 30 turns: {line}");
    assert!(server.requests().is_empty(), "a dry run calls no model");
    api(Run::again(&dry)).exec().success();
    assert!(server.requests().len() <= 120);
    assert_eq!(
        server.requests().len(),
        4,
        "each trial ended after one call"
    );
}

#[test]
fn compiled_plugins_are_cached_across_runs_and_bad_cache_entries_are_replaced() {
    let cache = tempfile::tempdir().unwrap();
    let run = || {
        grid(Run::new(), 1)
            .env("PEERPRESSURE_CACHE_DIR", cache.path().to_str().unwrap())
            .exec()
            .success()
    };
    run();
    let entries: Vec<std::path::PathBuf> = std::fs::read_dir(cache.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "cwasm"))
        .collect();
    assert_eq!(
        entries.len(),
        2,
        "one precompiled file per plugin: {entries:?}"
    );
    for e in &entries {
        let name = e.file_name().unwrap().to_string_lossy().into_owned();
        assert!(
            name.len() > 64 + 1 + 16,
            "named by plugin hash and engine compatibility hash: {name}"
        );
        std::fs::write(e, b"not a compiled component").unwrap();
    }
    run();
    for e in &entries {
        assert!(
            std::fs::metadata(e).unwrap().len() > 1000,
            "the corrupt entry was replaced"
        );
    }
    let _ = binary();
}
