//! A small builder DSL over the `peerpressure` binary: `Run::new().scenario(..).model(..).exec()`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use serde_json::Value;

pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

/// The host binary, built by `cargo build` (which `just test` runs first).
pub fn binary() -> PathBuf {
    let path = std::env::var_os("PEERPRESSURE_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join("target/debug/peerpressure"));
    assert!(
        path.is_file(),
        "{} is missing: run `just test` (or `cargo build` first)",
        path.display()
    );
    path
}

/// A plugin built by `just plugins`, by its file stem: a bundled plugin, or a test fixture
/// (kept in `target/test-fixtures`, out of the bundled plugins' directory).
pub fn plugin(stem: &str) -> String {
    let fixture = workspace()
        .join("target/test-fixtures")
        .join(format!("{stem}.wasm"));
    let path = if fixture.is_file() {
        fixture
    } else {
        workspace()
            .join("target/wasm32-wasip2/release")
            .join(format!("{stem}.wasm"))
    };
    assert!(
        path.is_file(),
        "{} is missing: run `just plugins` first",
        path.display()
    );
    path.display().to_string()
}

pub fn command(dir: &Path) -> Command {
    let mut cmd = Command::new(binary());
    cmd.current_dir(dir)
        // Compiled plugins are cached across tests; the cache key includes the plugin hash.
        .env(
            "PEERPRESSURE_CACHE_DIR",
            workspace().join("target/test-plugin-cache"),
        )
        .env("PEERPRESSURE_HOME", dir.join("home"))
        .env_remove("PEERPRESSURE_STORE")
        .env_remove("PEERPRESSURE_PLUGIN_PATH");
    cmd
}

pub struct Run {
    dir: Arc<tempfile::TempDir>,
    args: Vec<String>,
    env: Vec<(String, String)>,
}

pub struct Outcome {
    pub dir: Arc<tempfile::TempDir>,
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn new() -> Self {
        Run {
            dir: Arc::new(tempfile::tempdir().expect("temp dir")),
            args: vec!["run".into()],
            env: Vec::new(),
        }
    }

    /// Another subcommand (e.g. `["plugin", "test", "tampering"]`), with this builder's
    /// directory, environment and `--store`.
    pub fn subcommand(args: &[&str]) -> Self {
        Run {
            dir: Arc::new(tempfile::tempdir().expect("temp dir")),
            args: args.iter().map(|a| a.to_string()).collect(),
            env: Vec::new(),
        }
    }

    /// Another run into the same directory and store.
    pub fn again(outcome: &Outcome) -> Self {
        Run {
            dir: outcome.dir.clone(),
            args: vec!["run".into()],
            env: Vec::new(),
        }
    }

    fn push(mut self, flag: &str, value: &str) -> Self {
        self.args.push(flag.into());
        self.args.push(value.into());
        self
    }

    pub fn scenario(self, s: &str) -> Self {
        self.push("--scenario", s)
    }
    pub fn detector(self, d: &str) -> Self {
        self.push("--detector", d)
    }
    pub fn model(self, m: &str) -> Self {
        self.push("--model", m)
    }
    pub fn axis(self, a: &str) -> Self {
        self.push("-A", a)
    }
    pub fn epochs(self, n: u32) -> Self {
        self.push("--epochs", &n.to_string())
    }
    pub fn seed(self, n: u64) -> Self {
        self.push("--seed", &n.to_string())
    }
    pub fn arg(mut self, a: &str) -> Self {
        self.args.push(a.into());
        self
    }
    pub fn env(mut self, k: &str, v: &str) -> Self {
        self.env.push((k.into(), v.into()));
        self
    }

    /// The chaos fixtures, with tight limits so violations show quickly.
    pub fn chaos(self) -> Self {
        self.scenario(&plugin("fixture_chaos_scenario"))
            .detector(&plugin("fixture_chaos_detector"))
            .push("--plugin-timeout", "1")
            .push("--plugin-memory-mib", "64")
    }

    pub fn exec(self) -> Outcome {
        let store = self.dir.path().join("store.db");
        let mut cmd = command(self.dir.path());
        cmd.args(&self.args).arg("--store").arg(&store);
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        let out = cmd.output().expect("running peerpressure");
        Outcome {
            dir: self.dir,
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}

impl Outcome {
    pub fn store(&self) -> PathBuf {
        self.dir.path().join("store.db")
    }

    #[track_caller]
    pub fn success(self) -> Self {
        assert_eq!(
            self.code, 0,
            "peerpressure failed:\nstdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self
    }

    #[track_caller]
    pub fn failure(self, code: i32, message: &str) -> Self {
        assert_eq!(
            self.code, code,
            "expected exit {code}:\nstdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        assert!(
            self.stderr.contains(message),
            "stderr lacks {message:?}:\n{}",
            self.stderr
        );
        self
    }

    pub fn report(&self) -> Value {
        serde_json::from_str(&self.report_as(&["--format", "json"])).expect("report is JSON")
    }

    /// `peerpressure report ARGS --store STORE`, its standard output.
    pub fn report_as(&self, args: &[&str]) -> String {
        let out = command(self.dir.path())
            .arg("report")
            .args(args)
            .arg("--store")
            .arg(self.store())
            .output()
            .expect("report");
        assert!(
            out.status.success(),
            "report failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("report is UTF-8")
    }

    pub fn db(&self) -> rusqlite::Connection {
        rusqlite::Connection::open(self.store()).expect("store opens")
    }

    /// Rows of a query as strings, for compact assertions.
    pub fn rows(&self, sql: &str) -> Vec<Vec<String>> {
        let db = self.db();
        let mut stmt = db.prepare(sql).expect("query prepares");
        let n = stmt.column_count();
        stmt.query_map([], |r| {
            (0..n)
                .map(|i| {
                    Ok(match r.get_ref(i)? {
                        rusqlite::types::ValueRef::Null => "NULL".to_string(),
                        rusqlite::types::ValueRef::Integer(x) => x.to_string(),
                        rusqlite::types::ValueRef::Real(x) => x.to_string(),
                        rusqlite::types::ValueRef::Text(t) => {
                            String::from_utf8_lossy(t).into_owned()
                        }
                        rusqlite::types::ValueRef::Blob(_) => "<blob>".to_string(),
                    })
                })
                .collect()
        })
        .expect("query runs")
        .collect::<Result<_, _>>()
        .expect("rows read")
    }

    /// The ground truth a chaos trial recorded, by mode.
    pub fn ground_truth(&self, mode: &str) -> Value {
        let rows = self.rows(&format!(
            "SELECT setup_json FROM trial_details WHERE axes_json = '[[\"mode\",\"{mode}\"]]'"
        ));
        let setup: Value = serde_json::from_str(&rows[0][0]).expect("setup JSON");
        serde_json::from_str(setup["ground_truth"].as_str().expect("ground truth text"))
            .expect("ground truth JSON")
    }

    pub fn trial_error(&self, mode: &str) -> String {
        self.rows(&format!(
            "SELECT status, error FROM trials WHERE axes_json = '[[\"mode\",\"{mode}\"]]'"
        ))[0]
            .join(": ")
    }
}

/// Cells of a report for one model.
pub fn cells<'a>(report: &'a Value, model: &'a str) -> impl Iterator<Item = &'a Value> + 'a {
    report["cells"]
        .as_array()
        .expect("cells")
        .iter()
        .filter(move |c| c["model"] == model)
}
