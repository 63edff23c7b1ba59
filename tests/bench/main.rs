//! `just bench`: measures the release host on three workloads and prints each figure with the
//! baseline it is compared against. Not a test: nothing here asserts a speed.
//!
//! 1. Throughput: 1,000 trials of the tampering scenario, each 6 model calls and 5 tool calls,
//!    against a local mock OpenAI-compatible server answering at once; scenario and detector
//!    instantiated per trial; everything recorded in SQLite. Baselines, both measured in this
//!    run: the same workload on the scripted reference agent (the host without HTTP), and
//!    Inspect (target/inspect-venv) sending the same prompts, tools and tool results to the
//!    same mock server, which runs in this bench process, outside both harnesses.
//! 2. Latency-bound efficiency: the mock answers after 100 ms, 256 and then 1,024 trials in
//!    flight; trials/s of the whole process against the ideal in_flight / (calls per trial x
//!    latency), and peak RSS per trial in flight from the pair.
//! 3. Scale: 100,000 recorded trials: store size, and `peerpressure report` time (target < 5 s).
//! 4. Rate limits: a mock allowing N requests a minute (a token bucket, as vendors describe
//!    theirs) refuses the rest with 429 and Retry-After; the rate sustained against N and the
//!    share of requests refused.
//!
//! Usage: peerpressure-bench [--quick] [--out FILE]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use peerpressure_tests::mock_server::{MockServer, Reply, Request, TokenBucket};
use serde_json::json;

/// The inspect_ai of `just interop` (the justfile's `inspect_version`), in target/inspect-venv.
const INSPECT_VERSION: &str = "0.3.140";

/// The Inspect side's workload, from a request PeerPressure sent with all five tool results:
/// its system and user prompts, its tools, and each tool's result.
fn inspect_workload(raw: &str) -> serde_json::Value {
    let body: serde_json::Value = serde_json::from_str(raw).expect("the request is JSON");
    let messages = body["messages"].as_array().expect("messages");
    let mut names = std::collections::HashMap::new();
    let mut results = serde_json::Map::new();
    for m in messages {
        for call in m["tool_calls"].as_array().into_iter().flatten() {
            names.insert(
                call["id"].as_str().unwrap_or_default().to_string(),
                call["function"]["name"].clone(),
            );
        }
        if m["role"] == "tool" {
            let id = m["tool_call_id"].as_str().unwrap_or_default();
            if let Some(serde_json::Value::String(name)) = names.get(id) {
                results.insert(name.clone(), m["content"].clone());
            }
        }
    }
    let tools: Vec<serde_json::Value> = body["tools"]
        .as_array()
        .expect("tools")
        .iter()
        .map(|t| json!({"name": t["function"]["name"], "description": t["function"]["description"], "parameters": t["function"]["parameters"]}))
        .collect();
    json!({
        "system_prompt": messages[0]["content"],
        "user_prompt": messages[1]["content"],
        "tools": tools,
        "results": results,
    })
}

/// Inspect running `samples` samples of the workload against the mock at `url`.
fn measure_inspect(dir: &Path, workload: &Path, samples: usize, url: &str) -> Measured {
    let inspect = workspace().join("target/inspect-venv/bin/inspect");
    assert!(
        inspect.is_file(),
        "{} is missing: `just bench` installs it",
        inspect.display()
    );
    // Inspect takes a task file by a path relative to where it runs.
    std::fs::copy(
        workspace().join("tests/bench/inspect_workload.py"),
        dir.join("inspect_workload.py"),
    )
    .expect("copy the Inspect task");
    measure_program(
        &inspect,
        dir,
        &args(&[
            "eval",
            "inspect_workload.py",
            "-T",
            &format!("workload={}", workload.display()),
            "-T",
            &format!("samples={samples}"),
            "--model",
            "openai-api/mock/bench",
            "--max-connections",
            "32",
            "--max-samples",
            "32",
            "--log-dir",
            dir.join("inspect-logs").to_str().unwrap(),
            "--display",
            "none",
        ]),
        &[
            ("MOCK_BASE_URL", format!("{url}/v1")),
            ("MOCK_API_KEY", "bench".into()),
        ],
    )
}

struct Measured {
    wall: Duration,
    /// The run's own time from its summary line (planning and trials, without process start
    /// and plugin loading); the wall time for other commands.
    run: Duration,
    peak_rss_kib: i64,
    cpu: Duration,
}

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// Runs the release host with `args` and reaps it with wait4 for exact peak RSS and CPU time.
fn measure(dir: &Path, args: &[String], env: &[(&str, String)]) -> Measured {
    let bin = workspace().join("target/release/peerpressure");
    assert!(
        bin.is_file(),
        "{} is missing: `just bench` builds it",
        bin.display()
    );
    measure_program(&bin, dir, args, env)
}

/// Runs `program` to the end and measures it as a user would: wall time from spawn to exit,
/// its CPU time and peak RSS (children included, as `wait4` reports them).
fn measure_program(
    program: &Path,
    dir: &Path,
    args: &[String],
    env: &[(&str, String)],
) -> Measured {
    let mut cmd = Command::new(program);
    cmd.current_dir(dir)
        .args(args)
        .env("PEERPRESSURE_CACHE_DIR", dir.join("cache"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let started = Instant::now();
    // Reaped by wait4 below, which also gives its CPU time and peak memory.
    #[allow(clippy::zombie_processes)]
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("start {}: {e}", program.display()));
    let stderr = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || std::io::read_to_string(stderr).unwrap_or_default());
    // Peak RSS from the child's own VmHWM, polled: `wait4`'s ru_maxrss starts from this
    // (bench) process's RSS, since Linux carries the spawning process's high-water mark into
    // the child at exec. A peak in the last few milliseconds before exit can be missed.
    let pid = child.id();
    let exited = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let done = exited.clone();
    let poller = std::thread::spawn(move || {
        let mut peak = 0;
        while !done.load(std::sync::atomic::Ordering::Relaxed) {
            peak = peak.max(vm_hwm_kib(pid).unwrap_or(0));
            std::thread::sleep(Duration::from_millis(5));
        }
        peak
    });
    let mut status = 0;
    // SAFETY: rusage is plain data filled by the kernel; the pid is our own child.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // Wait for the exit without reaping, so the pid is not reused while the poller reads it.
    // SAFETY: siginfo is plain data; the pid is our own child.
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    unsafe { libc::waitid(libc::P_PID, pid, &mut info, libc::WEXITED | libc::WNOWAIT) };
    let wall = started.elapsed();
    exited.store(true, std::sync::atomic::Ordering::Relaxed);
    let peak_rss_kib = poller.join().unwrap();
    let pid = unsafe { libc::wait4(pid as i32, &mut status, 0, &mut usage) };
    let text = reader.join().unwrap();
    assert!(
        pid > 0 && libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "{} failed:\n{text}",
        program.display()
    );
    let tv = |t: libc::timeval| {
        Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64)
    };
    let run = text
        .lines()
        .find_map(|l| {
            l.strip_prefix("run ")
                .and_then(|rest| rest.split(" trial(s) in ").nth(1))
                .and_then(|t| t.split(' ').next())
                .and_then(|s| s.parse::<f64>().ok())
        })
        .map_or(wall, Duration::from_secs_f64);
    Measured {
        wall,
        run,
        peak_rss_kib,
        cpu: tv(usage.ru_utime) + tv(usage.ru_stime),
    }
}

/// The mock model: five tool calls over the tampering task, then a final answer (6 calls).
/// Tool results are counted in the raw body: the lean server does not parse it. The six
/// answers are written once: the mock stands in for a server on another machine, so what it
/// spends per request is CPU taken from the host it measures.
fn scripted_model(r: &Request) -> Reply {
    static ANSWERS: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
    let answers = ANSWERS.get_or_init(|| (0..6).map(scripted_answer).collect());
    Reply::Json {
        status: 200,
        headers: vec![],
        body: answers[tool_results(&r.raw).min(5)].clone(),
    }
}

/// The scripted model's answer once `done` tool results are in the conversation.
fn scripted_answer(done: usize) -> String {
    let call = |name: &str, args: serde_json::Value| json!({"role": "assistant", "content": null, "tool_calls": [{"id": format!("call_{done}"), "type": "function", "function": {"name": name, "arguments": args.to_string()}}]});
    let message = match done {
        0 => call("list_files", json!({})),
        1 => call(
            "read_file",
            json!({"path": "company_operations_policy.docx"}),
        ),
        2 => call("view_sheet", json!({"sheet": "Evaluation data"})),
        3 => call("view_config", json!({"filename": "shutdown_config.yaml"})),
        4 => call(
            "create_file",
            json!({"path": "evaluation_report.docx", "content": "Accuracy: 60%\nIncorrect: 3, 5, 7, 9\n"}),
        ),
        _ => json!({"role": "assistant", "content": "The review is filed."}),
    };
    json!({"id": "chatcmpl-bench", "object": "chat.completion", "created": 0, "model": "bench", "choices": [{"index": 0, "finish_reason": "stop", "message": message}], "usage": {"prompt_tokens": 900, "completion_tokens": 40, "total_tokens": 940}}).to_string()
}

/// Tool results in a raw Chat Completions body, in one pass: `"role":"tool"` as Rust writes
/// it and `"role": "tool"` as Python does (the Inspect side of figure 1).
fn tool_results(raw: &str) -> usize {
    raw.match_indices("\"role\":")
        .filter(|(at, key)| raw[at + key.len()..].trim_start().starts_with("\"tool\""))
        .count()
}

/// A process's peak resident memory so far (`VmHWM`), in KiB; `None` until it has exec'd
/// its program (a child not yet past exec still has the bench's name, and a few KiB).
fn vm_hwm_kib(pid: u32) -> Option<i64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let name = status.lines().find_map(|l| l.strip_prefix("Name:"))?.trim();
    if name == own_name() {
        return None;
    }
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}

/// This process's name as `/proc/PID/status` gives it (at most 15 bytes).
fn own_name() -> &'static str {
    static NAME: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    NAME.get_or_init(|| {
        std::fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|s| {
                s.lines()
                    .find_map(|l| l.strip_prefix("Name:"))
                    .map(|n| n.trim().to_string())
            })
            .unwrap_or_default()
    })
}

/// CPU time this process (the mock server) has used so far.
fn own_cpu() -> Duration {
    // SAFETY: rusage is plain data filled by the kernel.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    let tv = |t: libc::timeval| {
        Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64)
    };
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

/// The bench's grid: the tampering scenario and detector over the 8 cells of condition x
/// subject (16 with channel), `trials / 8` epochs.
fn tampering_grid(trials: usize) -> Vec<String> {
    let epochs = (trials / 8).to_string();
    args(&[
        "--scenario",
        "tampering",
        "--detector",
        "tampering-detector",
        "-A",
        "condition=all",
        "-A",
        "subject=all",
        "--epochs",
        &epochs,
    ])
}

fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

fn mib(kib: i64) -> f64 {
    kib as f64 / 1024.0
}

const USAGE: &str = "usage: peerpressure-bench [--quick] [--only throughput|latency|scale|ratelimit] [--in-flight N] [--trials N] [--scale N] [--out FILE] [--keep] [--skip-inspect] [--dir DIR [--reuse]]";

/// Refuses what it does not know before measuring anything (and before the work folder is
/// cleaned up): a mistyped flag must not cost a whole bench run.
fn check_args() {
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--quick" | "--keep" | "--skip-inspect" | "--reuse" => {}
            "--only" | "--in-flight" | "--trials" | "--out" | "--scale" | "--dir" => {
                if args.next().is_none() {
                    eprintln!("{arg} needs a value\n{USAGE}");
                    std::process::exit(2);
                }
            }
            "--help" | "-h" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            other => {
                eprintln!("unknown argument `{other}`\n{USAGE}");
                std::process::exit(2);
            }
        }
    }
}

fn main() {
    check_args();
    let quick = std::env::args().any(|a| a == "--quick");
    let out_file = std::env::args().skip_while(|a| a != "--out").nth(1);
    // `--only latency` and `--in-flight N` are for investigating one figure.
    let only = std::env::args().skip_while(|a| a != "--only").nth(1);
    let runs = |figure: &str| only.as_deref().is_none_or(|o| o == figure);
    let in_flight: Option<usize> = std::env::args()
        .skip_while(|a| a != "--in-flight")
        .nth(1)
        .map(|n| n.parse().expect("--in-flight N"));
    let dir = tempfile_dir();
    let mut report = String::new();
    let mut say = |line: String| {
        println!("{line}");
        report.push_str(&line);
        report.push('\n');
    };
    let trials = if quick { 200 } else { 1_000 };
    let grid = tampering_grid(trials);

    // Warm the compile cache so no figure includes compiling the plugins.
    let _ = measure(
        &dir,
        &[args(&[
            "run",
            "--store",
            "warm.db",
            "--model",
            "scripted/faithful",
            "--scenario",
            "tampering",
            "--detector",
            "tampering-detector",
        ])]
        .concat(),
        &[],
    );

    say(format!(
        "PeerPressure {} benchmark, {} cores",
        env!("CARGO_PKG_VERSION"),
        std::thread::available_parallelism().map_or(0, |n| n.get())
    ));
    say(String::new());

    // 1. Throughput.
    if runs("throughput") {
        let baseline = measure(
            &dir,
            &[
                args(&[
                    "run",
                    "--store",
                    "scripted.db",
                    "--model",
                    "scripted/faithful",
                    "--max-trials",
                    "32",
                ]),
                grid.clone(),
            ]
            .concat(),
            &[],
        );
        // One request with all five tool results: the prompts, tools and results PeerPressure
        // sent, which the Inspect side sends too.
        let sample: std::sync::Arc<std::sync::Mutex<Option<String>>> = Default::default();
        let keep = sample.clone();
        let server = MockServer::start_lean(move |r, _| {
            let reply = scripted_model(r);
            if tool_results(&r.raw) == 5 {
                keep.lock().unwrap().get_or_insert_with(|| r.raw.clone());
            }
            reply
        });
        let env = [("MOCK_BASE_URL", format!("{}/v1", server.url))];
        let http = measure(
            &dir,
            &[
                args(&[
                    "run",
                    "--store",
                    "http.db",
                    "--model",
                    "openai-api/mock/bench",
                    "-M",
                    "stream=false",
                    "--max-trials",
                    "32",
                    "--max-connections",
                    "64",
                ]),
                grid.clone(),
            ]
            .concat(),
            &env,
        );
        assert_eq!(
            server.request_count(),
            trials * 6,
            "each trial made 6 model calls"
        );
        let sent = sample
            .lock()
            .unwrap()
            .clone()
            .expect("a request with five tool results");
        let workload = dir.join("inspect-workload.json");
        std::fs::write(&workload, inspect_workload(&sent).to_string()).unwrap();
        // `--skip-inspect` is for investigating the host's side alone; figure 1 needs both.
        let inspect = (!std::env::args().any(|a| a == "--skip-inspect")).then(|| {
            let before = server.request_count();
            let inspect = measure_inspect(&dir, &workload, trials, &server.url);
            assert_eq!(
                server.request_count() - before,
                trials * 6,
                "each Inspect sample made 6 model calls"
            );
            inspect
        });
        drop(server);
        let rate = |m: &Measured| trials as f64 / m.wall.as_secs_f64();
        let per_trial_ms = |m: &Measured| m.cpu.as_secs_f64() * 1000.0 / trials as f64;
        say(format!(
            "1. Throughput: {trials} trials x (6 model calls + 5 tool calls), plugins instantiated per trial, recorded in SQLite"
        ));
        say(format!(
            "   HTTP (mock OpenAI-compatible server): {:.0} trials/s, peak RSS {:.1} MiB, CPU {:.2} ms/trial",
            rate(&http),
            mib(http.peak_rss_kib),
            per_trial_ms(&http)
        ));
        say(format!(
            "   baseline, same run: scripted agent (no HTTP): {:.0} trials/s, peak RSS {:.1} MiB, CPU {:.2} ms/trial -> HTTP path at {:.2}x its rate",
            rate(&baseline),
            mib(baseline.peak_rss_kib),
            per_trial_ms(&baseline),
            rate(&http) / rate(&baseline)
        ));
        if let Some(inspect) = inspect {
            say(format!(
                "   baseline, same run: Inspect {INSPECT_VERSION} on the same workload (same prompts, tools, tool results, mock server, 32 in flight): {:.1} samples/s, peak RSS {:.1} MiB, CPU {:.2} ms/sample",
                rate(&inspect),
                mib(inspect.peak_rss_kib),
                per_trial_ms(&inspect)
            ));
            say(format!(
                "   -> PeerPressure at {:.0}x Inspect's rate, {:.3}x its peak RSS, {:.4}x its CPU per sample (whole processes, start-up included)",
                rate(&http) / rate(&inspect),
                mib(http.peak_rss_kib) / mib(inspect.peak_rss_kib),
                per_trial_ms(&http) / per_trial_ms(&inspect)
            ));
        }
        say(String::new());
    }

    // 2. Latency-bound efficiency, whole processes, at two loads: memory per trial in flight
    // is the slope between them.
    if runs("latency") {
        let latency = Duration::from_millis(100);
        let loads: Vec<usize> = match in_flight {
            Some(n) => vec![n],
            None => vec![256, 1_024],
        };
        let mut peaks = Vec::new();
        for in_flight in loads {
            // Eight trials per slot (four with --quick), unless --trials says otherwise.
            let latency_trials = std::env::args()
                .skip_while(|a| a != "--trials")
                .nth(1)
                .map_or(in_flight * if quick { 4 } else { 8 }, |n| {
                    n.parse().expect("--trials N")
                });
            let server = MockServer::start_lean(move |r, _| {
                std::thread::sleep(latency);
                scripted_model(r)
            });
            let env = [("MOCK_BASE_URL", format!("{}/v1", server.url))];
            let in_flight_text = in_flight.to_string();
            let server_cpu_before = own_cpu();
            let slow = measure(
                &dir,
                &[
                    args(&[
                        "run",
                        "--store",
                        &format!("latency-{in_flight}.db"),
                        "--model",
                        "openai-api/mock/slow",
                        "-M",
                        "stream=false",
                        "--max-trials",
                        &in_flight_text,
                        "--max-connections",
                        &in_flight_text,
                    ]),
                    tampering_grid(latency_trials),
                ]
                .concat(),
                &env,
            );
            let server_cpu = own_cpu() - server_cpu_before;
            drop(server);
            let ideal = in_flight as f64 / (6.0 * latency.as_secs_f64());
            let whole = latency_trials as f64 / slow.wall.as_secs_f64();
            let over_run = latency_trials as f64 / slow.run.as_secs_f64();
            let target = if in_flight <= 256 { 0.95 } else { 0.90 };
            say(format!(
                "2. Latency-bound: {latency_trials} trials, {in_flight} in flight, every model call answered after {} ms",
                latency.as_millis()
            ));
            say(format!(
                "   whole process (start-up, plugin loading and planning included): {whole:.1} trials/s in {:.2} s; baseline, ideal: {in_flight} / (6 calls x {:.1} s) = {ideal:.1} trials/s -> efficiency {:.3} (target >= {target:.2})",
                slow.wall.as_secs_f64(),
                latency.as_secs_f64(),
                whole / ideal
            ));
            say(format!(
                "   over the run alone (the host's own timer): {over_run:.1} trials/s -> {:.3}; peak RSS {:.1} MiB, CPU {:.2} ms/trial (mock server: {:.2} ms/trial)",
                over_run / ideal,
                mib(slow.peak_rss_kib),
                slow.cpu.as_secs_f64() * 1000.0 / latency_trials as f64,
                server_cpu.as_secs_f64() * 1000.0 / latency_trials as f64
            ));
            peaks.push((in_flight, slow.peak_rss_kib));
        }
        if let [(low, low_rss), (high, high_rss)] = peaks[..] {
            say(format!(
                "   memory per trial in flight, (peak RSS at {high} - at {low}) / {}: {:.3} MiB (target <= 0.15)",
                high - low,
                mib(high_rss - low_rss) / (high - low) as f64
            ));
        }
        say(String::new());
    }

    // 3. Scale.
    if runs("scale") {
        // `--scale N` for another size (the 1,000,000 takes the scripted agents
        // about ten minutes and 9 GB of disk).
        let scale_trials: usize = std::env::args()
            .skip_while(|a| a != "--scale")
            .nth(1)
            .map_or(if quick { 10_000 } else { 100_000 }, |n| {
                n.parse().expect("--scale N")
            });
        let scale_grid = tampering_grid(scale_trials);
        // `--reuse` (with `--dir`) measures a store an earlier bench filled and kept.
        let reused = std::env::args().any(|a| a == "--reuse") && dir.join("scale.db").is_file();
        let fill = (!reused).then(|| {
            measure(
                &dir,
                &[
                    args(&[
                        "run",
                        "--store",
                        "scale.db",
                        "--model",
                        "scripted/faithful",
                        "--max-trials",
                        "32",
                    ]),
                    scale_grid.clone(),
                ]
                .concat(),
                &[],
            )
        });
        let size: u64 = ["scale.db", "scale.db-wal"]
            .iter()
            .filter_map(|f| std::fs::metadata(dir.join(f)).ok())
            .map(|m| m.len())
            .sum();
        let report_run = measure(&dir, &args(&["report", "--store", "scale.db"]), &[]);
        say(match &fill {
            Some(fill) => format!(
                "3. Scale: {scale_trials} recorded trials (filled at {:.0} trials/s)",
                scale_trials as f64 / fill.wall.as_secs_f64()
            ),
            None => format!(
                "3. Scale: {scale_trials} recorded trials (a store kept from an earlier bench, not filled in this run)"
            ),
        });
        say(format!(
            "   store {:.1} MiB ({:.1} KiB per trial); `peerpressure report` {:.2} s, peak RSS {}; baseline, target: 5 s -> {:.1}x under it",
            size as f64 / 1048576.0,
            size as f64 / 1024.0 / scale_trials as f64,
            report_run.wall.as_secs_f64(),
            // A process that ends within the first 5 ms poll leaves no sample.
            if report_run.peak_rss_kib > 0 {
                format!("{:.1} MiB", mib(report_run.peak_rss_kib))
            } else {
                "not sampled (it ended before the first poll)".to_string()
            },
            5.0 / report_run.wall.as_secs_f64()
        ));
        // Exports stream: time and peak RSS of each format over the whole store.
        for (format, target) in [
            ("jsonl", "export.jsonl"),
            ("csv", "export.csv"),
            ("inspect", "inspect-export"),
        ] {
            let export = measure(
                &dir,
                &args(&[
                    "export", "--store", "scale.db", "--format", format, "--out", target,
                ]),
                &[],
            );
            let written: u64 = match std::fs::read_dir(dir.join(target)) {
                Ok(files) => files
                    .filter_map(|f| f.ok()?.metadata().ok())
                    .map(|m| m.len())
                    .sum(),
                Err(_) => std::fs::metadata(dir.join(target)).map_or(0, |m| m.len()),
            };
            say(format!(
                "   `export --format {format:<7}` {:>6.2} s ({:.0} trials/s, {:.0} MiB written), peak RSS {:.1} MiB; targets: 100,000 trials in < 15 s, <= 100 MiB",
                export.wall.as_secs_f64(),
                scale_trials as f64 / export.wall.as_secs_f64(),
                written as f64 / 1048576.0,
                mib(export.peak_rss_kib)
            ));
            // Gigabytes at a million trials: gone before the next export writes its own.
            let _ = std::fs::remove_file(dir.join(target));
            let _ = std::fs::remove_dir_all(dir.join(target));
        }
        // The viewer over the same store: each request's time, against `peerpressure report`.
        let mut viewer = Command::new(workspace().join("target/release/peerpressure"))
            .current_dir(&dir)
            .args(["view", "scale.db", "--port", "0"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("start the viewer");
        let mut line = String::new();
        std::io::BufRead::read_line(
            &mut std::io::BufReader::new(viewer.stderr.take().unwrap()),
            &mut line,
        )
        .unwrap();
        let address = line
            .split("http://")
            .nth(1)
            .and_then(|s| s.split('/').next())
            .expect("viewer address")
            .to_string();
        let run_id = {
            let (_, body) = http_get(&address, "/api/runs");
            let runs: serde_json::Value = serde_json::from_str(&body).unwrap();
            runs[0]["id"].as_str().unwrap().to_string()
        };
        let pages = (scale_trials / 50).to_string();
        let filtered = "behaviour=shutdown-tampering&verdict=negative&axis=condition%3Dgood_peer";
        let requests = [
            ("runs list", "/api/runs".to_string()),
            (
                "report, first (built)",
                format!("/api/runs/{run_id}/report"),
            ),
            (
                "report, again (cached)",
                format!("/api/runs/{run_id}/report"),
            ),
            (
                "trials, first page",
                format!("/api/runs/{run_id}/trials?per_page=50"),
            ),
            (
                "trials, last page",
                format!("/api/runs/{run_id}/trials?per_page=50&page={pages}"),
            ),
            (
                "trials, filtered by verdict and axis",
                format!("/api/runs/{run_id}/trials?{filtered}&per_page=50"),
            ),
            (
                "trials, filtered, last page",
                format!("/api/runs/{run_id}/trials?{filtered}&per_page=50&page=LAST"),
            ),
        ];
        say("   viewer on this store (`peerpressure view`), request time (the issue's target for the first page and the last filtered page: < 500 ms):".to_string());
        let mut first_trial = String::new();
        let mut filtered_pages = 1;
        for (label, target) in &requests {
            let target = target.replace("LAST", &filtered_pages.to_string());
            let started = Instant::now();
            let (status, body) = http_get(&address, &target);
            let took = started.elapsed();
            assert_eq!(status, 200, "{target}: {body}");
            let page: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
            if first_trial.is_empty() && target.contains("/trials?") {
                first_trial = page["trials"][0]["id"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string();
            }
            if target.contains(filtered) {
                filtered_pages = page["total"].as_u64().unwrap_or(0).div_ceil(50).max(1);
            }
            say(format!(
                "     {label:<40} {:>8.1} ms",
                took.as_secs_f64() * 1000.0
            ));
        }
        let started = Instant::now();
        let (status, _) = http_get(
            &address,
            &format!("/api/runs/{run_id}/trials/{first_trial}"),
        );
        assert_eq!(status, 200);
        say(format!(
            "     {:<40} {:>8.1} ms",
            "one trial",
            started.elapsed().as_secs_f64() * 1000.0
        ));
        let peak = vm_hwm_kib(viewer.id()).unwrap_or(0);
        say(format!(
            "     viewer peak RSS after these requests: {:.1} MiB",
            mib(peak)
        ));
        let _ = viewer.kill();
        let _ = viewer.wait();
    }
    // 4. A rate-limited provider: learned from its 429s alone, then one that advertises its
    // limit on every answer (as OpenAI's and Anthropic's do), with answers fast and slow.
    if runs("ratelimit") {
        let per_minute = 2_400.0;
        let scale = if quick { 4 } else { 1 };
        for (what, advertise, latency_ms, limited_trials, in_flight) in [
            ("limit learned from 429s", false, 100, 800 / scale, 64),
            (
                "limit advertised on every answer",
                true,
                100,
                800 / scale,
                64,
            ),
            (
                "limit advertised, slow answers",
                true,
                5_000,
                1_600 / scale,
                256,
            ),
        ] {
            let bucket = TokenBucket::new(per_minute, per_minute / 60.0);
            let bucket = std::sync::Arc::new(if advertise {
                bucket.advertising()
            } else {
                bucket
            });
            let limit = bucket.clone();
            let latency = Duration::from_millis(latency_ms);
            let server = MockServer::start_lean(move |r, _| {
                if advertise {
                    // Counted as it arrives and refused at once, as vendors do.
                    limit.serve(|| {
                        std::thread::sleep(latency);
                        scripted_model(r)
                    })
                } else {
                    // As in every earlier bench: counted when the answer is due.
                    std::thread::sleep(latency);
                    limit.take().unwrap_or_else(|| scripted_model(r))
                }
            });
            let env = [("MOCK_BASE_URL", format!("{}/v1", server.url))];
            let limited = measure(
                &dir,
                &[
                    args(&[
                        "run",
                        "--store",
                        &format!("ratelimit-{advertise}-{latency_ms}.db"),
                        "--model",
                        "openai-api/mock/limited",
                        "-M",
                        "stream=false",
                        "--max-trials",
                        &in_flight.to_string(),
                    ]),
                    tampering_grid(limited_trials),
                ]
                .concat(),
                &env,
            );
            let requests = server.request_count();
            let refused = bucket.refused();
            let settle = Duration::from_secs(10);
            let (refused_later, requests_later) = bucket.refused_after(settle);
            drop(server);
            let answered = requests - refused;
            assert_eq!(
                answered,
                limited_trials * 6,
                "each trial made 6 model calls"
            );
            let sustained = answered as f64 / limited.wall.as_secs_f64() * 60.0;
            say(format!(
                "4. Rate-limited provider, {what}: {limited_trials} trials ({answered} model calls), {in_flight} in flight, a mock allowing {per_minute:.0} requests a minute (token bucket of {:.0}, 429 + Retry-After beyond), answers after {} ms",
                per_minute / 60.0,
                latency.as_millis()
            ));
            say(format!(
                "   sustained {sustained:.0} requests a minute over the whole process ({:.1} s); baseline, the limit: {per_minute:.0} -> {:.3} of it (target >= 0.95); refused {refused} of {requests} requests ({:.2}%, target <= 1%)",
                limited.wall.as_secs_f64(),
                sustained / per_minute,
                refused as f64 * 100.0 / requests as f64
            ));
            say(format!(
                "   after the first {} s: refused {refused_later} of {requests_later} ({:.2}%)",
                settle.as_secs(),
                refused_later as f64 * 100.0 / requests_later.max(1) as f64
            ));
            // A trial of slow calls is long (6 x 5 s), so the run's ends weigh: the rate
            // between them says what the pace holds.
            let (_, last) = bucket.passed_between(Duration::ZERO, Duration::MAX);
            let tail = Duration::from_millis(6 * latency_ms);
            if let Some(end) = last.checked_sub(tail).filter(|end| *end > settle * 2) {
                let (passed, _) = bucket.passed_between(settle, end);
                let rate = passed as f64 / (end - settle).as_secs_f64() * 60.0;
                say(format!(
                    "   from {} s to {:.0} s (the last trial's length before the last request): {rate:.0} a minute -> {:.3} of the limit",
                    settle.as_secs(),
                    end.as_secs_f64(),
                    rate / per_minute
                ));
            }
        }
        say(String::new());
    }
    if let Some(path) = out_file {
        std::fs::write(&path, &report).expect("write the results");
    }
    if !std::env::args().any(|a| a == "--keep") {
        let _ = std::fs::remove_dir_all(&dir);
    }
}

/// GET over plain HTTP/1.1 (the viewer closes each connection): (status, body).
fn http_get(address: &str, target: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(address).expect("connect to the viewer");
    write!(
        stream,
        "GET {target} HTTP/1.1\r\nhost: {address}\r\nconnection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = String::new();
    stream.read_to_string(&mut raw).unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
    (
        head.split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0),
        body.to_string(),
    )
}

/// The work folder, emptied first (unless `--reuse`): `target/bench`, or `--dir DIR` (two
/// benches at once each need their own).
fn tempfile_dir() -> PathBuf {
    let dir = std::env::args()
        .skip_while(|a| a != "--dir")
        .nth(1)
        .map_or_else(|| workspace().join("target/bench"), PathBuf::from);
    if !std::env::args().any(|a| a == "--reuse") {
        let _ = std::fs::remove_dir_all(&dir);
    }
    std::fs::create_dir_all(&dir).unwrap();
    // The bench runs from target/bench so `tampering` resolves to the bundled plugins.
    dir
}
