//! The sandbox: limits obeyed and violated in pairs, crashes contained, WASI denied.

use std::time::Instant;

use crate::harness::{Run, plugin};

#[test]
fn time_limit_obeyed_and_violated() {
    let started = Instant::now();
    let out = Run::new()
        .chaos()
        .model("scripted/polite")
        .axis("mode=spin-short,spin-forever,loop-tool,calm")
        .exec()
        .success();
    assert!(
        started.elapsed().as_secs() < 30,
        "limits took {:?}",
        started.elapsed()
    );
    assert_eq!(out.trial_error("spin-short"), "completed: NULL");
    assert_eq!(
        out.trial_error("spin-forever"),
        "error: scenario chaos@0.1.0 setup: exceeded its time limit (1 s per call)"
    );
    assert_eq!(
        out.trial_error("loop-tool"),
        "error: scenario chaos@0.1.0 call-tool: exceeded its time limit (1 s per call)"
    );
    assert_eq!(
        out.trial_error("calm"),
        "completed: NULL",
        "the other trials of the run finish"
    );
}

#[test]
fn memory_limit_obeyed_and_violated() {
    let out = Run::new()
        .chaos()
        .model("scripted/polite")
        .axis("mode=alloc-small,alloc-huge")
        .exec()
        .success();
    assert_eq!(out.trial_error("alloc-small"), "completed: NULL");
    assert_eq!(
        out.trial_error("alloc-huge"),
        "error: scenario chaos@0.1.0 setup: ran out of memory (limit 64 MiB)"
    );
}

#[test]
fn panics_are_contained_and_reported_with_their_message() {
    let out = Run::new()
        .chaos()
        .model("scripted/polite")
        .axis("mode=panic-setup,panic-tool,calm")
        .exec()
        .success();
    let setup = out.trial_error("panic-setup");
    assert!(
        setup.starts_with("error: scenario chaos@0.1.0 setup: crashed (panic or abort)"),
        "{setup}"
    );
    assert!(
        setup.contains("chaos fixture panicked in setup on purpose"),
        "{setup}"
    );
    assert!(!setup.contains("RUST_BACKTRACE"), "{setup}");
    assert!(
        out.trial_error("panic-tool")
            .contains("call-tool: crashed (panic or abort)")
    );
    assert_eq!(out.trial_error("calm"), "completed: NULL");
    // A failed trial is an error for the scenario's behaviours, never a negative.
    let findings = out.rows("SELECT t.axes_json, f.detector, f.verdict FROM findings f JOIN trials t ON t.id = f.trial_id WHERE t.status = 'error'");
    assert_eq!(findings.len(), 2);
    assert!(
        findings.iter().all(|f| f[1] == "host" && f[2] == "error"),
        "{findings:?}"
    );
}

#[test]
fn wasi_is_denied_and_clock_and_random_are_deterministic() {
    let probe = |seed: u64| {
        let out = Run::new()
            .chaos()
            .model("scripted/polite")
            .axis("mode=sandbox-probe")
            .seed(seed)
            .env("PEERPRESSURE_TEST_CANARY", "sk-canary-should-not-leak")
            .exec()
            .success();
        out.ground_truth("sandbox-probe")["probe"].clone()
    };
    let p = probe(1);
    for key in ["file", "dir", "socket"] {
        assert!(p[key].as_str().unwrap().starts_with("denied"), "{key}: {p}");
    }
    assert_eq!(
        p["env"],
        serde_json::json!([]),
        "no environment variables reach plugins"
    );
    assert_eq!(p["args"], 0);
    assert_eq!(p["clock"], 1_767_225_600, "the wall clock is fixed");
    assert_eq!(
        probe(1)["hash_order"],
        p["hash_order"],
        "same seed, same randomness"
    );
    assert_ne!(
        probe(2)["hash_order"],
        p["hash_order"],
        "another seed, other randomness"
    );
}

#[test]
fn world_limits_and_path_escapes_are_refused() {
    let out = Run::new()
        .chaos()
        .model("scripted/polite")
        .axis("mode=world-small,world-huge,world-escape")
        .exec()
        .success();
    assert_eq!(out.trial_error("world-small"), "completed: NULL");
    let huge = out.ground_truth("world-huge");
    assert!(
        huge["world_error"]
            .as_str()
            .unwrap()
            .starts_with("limit reached: the world holds at most"),
        "{huge}"
    );
    let escape = out.ground_truth("world-escape");
    assert_eq!(escape["world_error"], "invalid path: ../../etc/passwd");
}

#[test]
fn detector_failures_are_errors_never_negatives() {
    let out = Run::new()
        .chaos()
        .model("scripted/polite")
        .axis("mode=detect-panic,detect-loop,detect-error,calm")
        .exec()
        .success();
    let verdicts = out.rows(
        "SELECT t.axes_json, f.verdict, f.explanation FROM findings f JOIN trials t ON t.id = f.trial_id ORDER BY t.axes_json",
    );
    let by_mode = |mode: &str| {
        verdicts
            .iter()
            .find(|v| v[0].contains(mode))
            .unwrap_or_else(|| panic!("no finding for {mode}"))
            .clone()
    };
    assert_eq!(by_mode("\"calm\"")[1], "positive");
    let panic = by_mode("detect-panic");
    assert_eq!(panic[1], "error");
    assert!(
        panic[2].contains("detector chaos-detector@0.1.0 detect: crashed (panic or abort)"),
        "{panic:?}"
    );
    assert_eq!(
        by_mode("detect-loop")[2],
        "detector chaos-detector@0.1.0 detect: exceeded its time limit (1 s per call)"
    );
    assert_eq!(
        by_mode("detect-error")[2],
        "detector chaos-detector@0.1.0 failed: chaos detector refused on purpose"
    );
    let report = out.report();
    let errors: u64 = report["cells"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["error"].as_u64().unwrap())
        .sum();
    let negatives: u64 = report["cells"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["negative"].as_u64().unwrap())
        .sum();
    assert_eq!((errors, negatives), (3, 0));
}

#[test]
fn fuel_limit_obeyed_and_violated() {
    let out = Run::new()
        .scenario(&plugin("fixture_chaos_scenario"))
        .model("scripted/polite")
        .axis("mode=spin-short,spin-forever")
        .arg("--plugin-fuel")
        .arg("500000000")
        .exec()
        .success();
    assert_eq!(out.trial_error("spin-short"), "completed: NULL");
    assert_eq!(
        out.trial_error("spin-forever"),
        "error: scenario chaos@0.1.0 setup: ran out of fuel (limit 500000000 units per call)"
    );
}

#[test]
fn plugin_output_and_logs_are_captured_into_the_trial() {
    let out = Run::new()
        .chaos()
        .model("scripted/polite")
        .axis("mode=calm")
        .exec()
        .success();
    let captured = out.rows("SELECT plugin_output_json FROM trials")[0][0].clone();
    let outputs: serde_json::Value = serde_json::from_str(&captured).unwrap();
    let scenario = &outputs[0];
    assert_eq!(scenario["plugin"], "scenario chaos@0.1.0");
    assert_eq!(scenario["stdout"], "chaos says hello on stdout\n");
    assert_eq!(scenario["stderr"], "chaos says hello on stderr\n");
    assert_eq!(
        scenario["logs"][0],
        serde_json::json!({"level": "info", "message": "chaos says hello through the log import"})
    );
    assert_eq!(outputs[1]["plugin"], "detector chaos-detector@0.1.0");
}

#[test]
fn a_judge_call_without_a_judge_is_an_error_finding() {
    let out = Run::new()
        .chaos()
        .model("scripted/polite")
        .axis("mode=detect-judge")
        .exec()
        .success();
    let finding = out.rows("SELECT verdict, explanation FROM findings");
    assert_eq!(finding[0][0], "error");
    assert!(
        finding[0][1].starts_with("judge call failed: no judge model is configured"),
        "{finding:?}"
    );
}

#[test]
fn hostile_answers_are_cut_refused_or_reported() {
    let out = Run::new()
        .scenario(&plugin("fixture_chaos_scenario"))
        .detector(&plugin("fixture_chaos_detector"))
        .model("scripted/polite")
        .axis("mode=huge-string,invalid-utf8,bad-truth,bad-schema,calm")
        .arg("--plugin-memory-mib")
        .arg("512")
        .exec()
        .success();
    // 100 MB from a tool: the model sees the first 64 KiB and a note; the trial goes on.
    let huge = out.rows("SELECT m.content FROM messages m JOIN trials t ON t.id = m.trial_id WHERE t.axes_json LIKE '%huge-string%' AND m.role = 'tool'");
    assert!(
        huge[0][0].len() < 70_000
            && huge[0][0].ends_with("[output cut: 65536 of 104857600 bytes shown]"),
        "{}",
        &huge[0][0][65_530..]
    );
    assert_eq!(out.trial_error("huge-string"), "completed: NULL");
    let utf8 = out.trial_error("invalid-utf8");
    assert!(
        utf8.starts_with("error: scenario chaos@0.1.0 call-tool:")
            && utf8.to_lowercase().contains("utf-8"),
        "{utf8}"
    );
    assert_eq!(
        out.trial_error("bad-truth")
            .split(": ground truth is not JSON")
            .next(),
        Some("error: scenario chaos@0.1.0 setup")
    );
    assert!(
        out.trial_error("bad-schema")
            .contains("setup: tool `echo` has a parameters schema that is not JSON"),
        "{}",
        out.trial_error("bad-schema")
    );
    assert_eq!(
        out.trial_error("calm"),
        "completed: NULL",
        "the other trials of the run finish"
    );
}

#[test]
fn the_hosts_memory_stays_bounded_under_hostile_plugins() {
    // Peak RSS of the whole host process while plugins return 100 MB strings, loop, and
    // exhaust their memory, measured with wait4 on the child.
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = crate::harness::command(dir.path());
    cmd.args([
        "run",
        "--scenario",
        &plugin("fixture_chaos_scenario"),
        "--model",
        "scripted/polite",
        "--store",
        "s.db",
    ])
    .args([
        "-A",
        "mode=huge-string,alloc-huge,spin-forever,world-huge,calm",
        "--epochs",
        "4",
        "--plugin-timeout",
        "1",
    ])
    .args(["--max-trials", "2", "--plugin-memory-mib", "128"])
    .stdout(std::process::Stdio::null())
    .stderr(std::process::Stdio::null());
    // Reaped by wait4 below, which also gives its peak memory.
    #[allow(clippy::zombie_processes)]
    let child = cmd.spawn().unwrap();
    let mut status = 0;
    // SAFETY: rusage is plain data filled by the kernel; the pid is our own child.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let pid = unsafe { libc::wait4(child.id() as i32, &mut status, 0, &mut usage) };
    assert!(pid > 0 && libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0);
    let peak_mib = usage.ru_maxrss / 1024;
    // 20 hostile trials, 2 at a time, 128 MiB per plugin: at most the plugins' own memory plus
    // two transient copies of what they return (lifting, then cutting), per trial in flight,
    // over the host's base. It does not grow with the number of trials: failed instances are
    // dropped, long answers cut. (Typically about 525 MiB; more under CPU contention, when
    // freed memory is returned to the system later.)
    let bound = 2 * (128 + 2 * 128) + 100;
    assert!(
        peak_mib < bound,
        "peak RSS {peak_mib} MiB, bound {bound} MiB"
    );
    eprintln!("peak RSS {peak_mib} MiB (bound {bound} MiB)");
}

#[test]
fn a_detectors_oversized_answer_is_cut_and_the_cut_recorded() {
    // Default plugin limits: the detector has room to build its 48 MiB answer.
    let out = Run::new()
        .scenario(&crate::harness::plugin("fixture_chaos_scenario"))
        .detector(&crate::harness::plugin("fixture_chaos_detector"))
        .model("scripted/polite")
        .axis("mode=detect-huge")
        .epochs(2)
        .exec()
        .success();
    let findings = out.rows("SELECT COUNT(*), MAX(LENGTH(explanation)), MAX(LENGTH(evidence_json)) FROM findings WHERE detector LIKE 'chaos-detector%'");
    // Per trial: the first 256 findings, and an error saying how many were dropped.
    assert_eq!(findings[0][0], "514", "{findings:?}");
    assert!(
        findings[0][1].parse::<usize>().unwrap() < 4_500,
        "{findings:?}"
    );
    assert!(
        findings[0][2].parse::<usize>().unwrap() < 80_000,
        "64 evidence items of at most 1 KiB: {findings:?}"
    );
    let cut = out.rows("SELECT explanation FROM findings WHERE verdict = 'positive' LIMIT 1");
    assert!(cut[0][0].ends_with("[truncated by the host: 1000 evidence items, 64 kept; 64 evidence quote(s) cut to 1024 bytes; explanation of 50331648 bytes cut to 4096]"), "{}", &cut[0][0][4000..]);
    let dropped = out.rows("SELECT explanation FROM findings WHERE verdict = 'error'");
    assert!(dropped.iter().all(|d| d[0] == "detector chaos-detector@0.1.0 returned 1001 findings; the host keeps the first 256"), "{dropped:?}");
    // Two trials, a store of a few hundred KiB, not 100 MB.
    let size = std::fs::metadata(out.store()).unwrap().len()
        + std::fs::metadata(out.store().with_extension("db-wal")).map_or(0, |m| m.len());
    assert!(size < 4 << 20, "store of {size} bytes");
}
