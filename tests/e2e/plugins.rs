//! Plugin management: install (path, URL, hash), the checks that refuse bad plugins before
//! anything is written, info, list, remove, and runs by installed name@version.

use std::path::{Path, PathBuf};

use crate::harness::{command, plugin};
use crate::mock_server::{MockServer, Reply};

struct Home {
    dir: tempfile::TempDir,
}

impl Home {
    fn new() -> Self {
        Home {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn plugins(&self) -> PathBuf {
        self.dir.path().join("home/plugins")
    }

    /// Runs `peerpressure ARGS`; returns (exit code, stdout, stderr).
    fn run(&self, args: &[&str]) -> (i32, String, String) {
        let out = command(self.dir.path()).args(args).output().unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    fn installed(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(self.plugins())
            .map(|d| {
                d.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names
    }

    #[track_caller]
    fn refused(&self, source: &str, extra: &[&str], message: &str) {
        let mut args = vec!["plugin", "install", source];
        args.extend_from_slice(extra);
        let (code, _, stderr) = self.run(&args);
        assert_eq!(code, 2, "{source}: {stderr}");
        assert!(
            stderr.contains(message),
            "{source}: stderr lacks {message:?}:\n{stderr}"
        );
        assert!(
            self.installed().iter().all(|f| !f.ends_with(".partial")),
            "a refused install left a partial file"
        );
    }
}

/// A plugin's SHA-256, as `plugin info` prints it.
fn sha256(home: &Home, path: &Path) -> String {
    let (_, info, _) = home.run(&["plugin", "info", path.to_str().unwrap()]);
    info.lines()
        .find_map(|l| l.strip_prefix("sha256:"))
        .unwrap()
        .trim()
        .to_string()
}

#[test]
fn a_plugin_is_installed_described_run_by_name_and_removed() {
    let home = Home::new();
    let source = plugin("score_crosscheck");
    let (code, stdout, stderr) = home.run(&[
        "plugin",
        "install",
        &source,
        "--sha256",
        &sha256(&home, Path::new(&source)),
    ]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.contains("installed detector score-crosscheck@0.2.0 (JavaScript, interface 0.1.0"),
        "{stdout}"
    );
    assert_eq!(
        home.installed(),
        ["score-crosscheck@0.2.0.json", "score-crosscheck@0.2.0.wasm"]
    );
    let record: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(home.plugins().join("score-crosscheck@0.2.0.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(
        (
            record["kind"].as_str(),
            record["language"].as_str(),
            record["source"].as_str()
        ),
        (Some("detector"), Some("JavaScript"), Some(source.as_str()))
    );
    // Installing the same bytes again changes nothing.
    let (code, stdout, _) = home.run(&["plugin", "install", &source]);
    assert_eq!(code, 0);
    assert!(
        stdout.contains("already installed with the same bytes"),
        "{stdout}"
    );
    // info and list know it, with its language.
    let (_, info, _) = home.run(&["plugin", "info", "score-crosscheck@0.2.0"]);
    assert!(
        info.contains("detector score-crosscheck@0.2.0")
            && info.contains("language:  JavaScript")
            && info.contains("misreported-score")
            && info.contains("installed: "),
        "{info}"
    );
    let (_, list, _) = home.run(&["plugin", "list"]);
    let row = list
        .lines()
        .find(|l| l.contains("score-crosscheck") && l.contains("home/plugins"))
        .unwrap_or_else(|| panic!("{list}"));
    assert!(row.contains("JavaScript"), "{row}");
    let (_, list, _) = home.run(&["plugin", "list"]);
    assert!(
        list.lines()
            .any(|l| l.contains("objection-detector") && l.contains("Python")),
        "{list}"
    );
    assert!(
        list.lines()
            .any(|l| l.contains("tampering-detector") && l.contains("Rust")),
        "{list}"
    );
    // A run names it by name@version, and by name alone.
    for name in ["score-crosscheck@0.2.0", "score-crosscheck"] {
        let (code, _, stderr) = home.run(&[
            "run",
            "--scenario",
            "misrepresentation",
            "--detector",
            name,
            "--model",
            "scripted/inflater",
            "--store",
            "s.db",
        ]);
        assert_eq!(code, 0, "{name}: {stderr}");
    }
    let db = rusqlite::Connection::open(home.dir.path().join("s.db")).unwrap();
    let path: String = db
        .query_row(
            "SELECT path FROM run_plugins WHERE name = 'score-crosscheck'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(
        path.ends_with("home/plugins/score-crosscheck@0.2.0.wasm"),
        "{path}"
    );
    // remove takes it away; a second remove says it is not there.
    let (code, stdout, _) = home.run(&["plugin", "remove", "score-crosscheck"]);
    assert_eq!(
        (code, stdout.trim()),
        (0, "removed detector score-crosscheck@0.2.0")
    );
    assert!(home.installed().is_empty());
    let (code, _, stderr) = home.run(&["plugin", "remove", "score-crosscheck@0.2.0"]);
    assert_eq!(code, 2);
    assert!(
        stderr.contains("no installed plugin `score-crosscheck@0.2.0`"),
        "{stderr}"
    );
}

#[test]
fn a_plugin_is_installed_from_a_url() {
    let home = Home::new();
    let bytes = std::fs::read(plugin("objection_detector")).unwrap();
    let served = bytes.clone();
    let server = MockServer::start(move |request, _| {
        if request.path == "/objection.wasm" {
            Reply::Bytes(served.clone())
        } else {
            Reply::status(404, "{}")
        }
    });
    let url = format!("{}/objection.wasm", server.url);
    let (code, stdout, stderr) = home.run(&["plugin", "install", &url]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.contains("installed detector objection-detector@0.1.0 (Python"),
        "{stdout}"
    );
    let record =
        std::fs::read_to_string(home.plugins().join("objection-detector@0.1.0.json")).unwrap();
    assert!(record.contains(&url));
    assert_eq!(
        std::fs::read(home.plugins().join("objection-detector@0.1.0.wasm")).unwrap(),
        bytes
    );
    home.refused(
        &format!("{}/missing.wasm", server.url),
        &[],
        "the server answered 404",
    );
}

#[test]
fn bad_plugins_are_refused_before_anything_is_written() {
    let home = Home::new();
    let dir = home.dir.path();
    let write = |name: &str, bytes: &[u8]| {
        let path = dir.join(name);
        std::fs::write(&path, bytes).unwrap();
        path.display().to_string()
    };
    home.refused(
        &write("notes.wasm", b"not wasm at all"),
        &[],
        "is not a WebAssembly file",
    );
    home.refused(
        &write("core.wasm", b"\0asm\x01\0\0\0"),
        &[],
        "is a core WebAssembly module, not a component",
    );
    // An empty component: valid, but of no PeerPressure world.
    home.refused(&write("empty.wasm", b"\0asm\x0d\0\x01\0"), &[], "is not a PeerPressure plugin: it exports neither peerpressure:plugin/scenario@0.1.0 nor peerpressure:plugin/detector@0.1.0");
    home.refused(
        &plugin("js_future_interface"),
        &[],
        "targets peerpressure:plugin@0.2.0, but this host supports peerpressure:plugin@0.1.0",
    );
    home.refused(&plugin("js_describe_traps"), &[], "describe");
    home.refused(
        &plugin("js_describe_nonsense"),
        &[],
        "describe() returned an unusable description",
    );
    home.refused(
        &plugin("tampering"),
        &["--sha256", &"0".repeat(64)],
        "but --sha256 expected 0000",
    );
    home.refused(
        &dir.join("absent.wasm").display().to_string(),
        &[],
        "cannot read",
    );
    assert!(home.installed().is_empty(), "{:?}", home.installed());
    // A different build under the same name@version is refused; the first stays.
    let (code, _, stderr) = home.run(&["plugin", "install", &plugin("tampering")]);
    assert_eq!(code, 0, "{stderr}");
    let mut altered = std::fs::read(plugin("tampering")).unwrap();
    // A custom section at the end changes the hash, not the plugin.
    altered.extend_from_slice(&[0x00, 0x05, 0x04, b'n', b'o', b't', b'e']);
    home.refused(
        &write("tampering-rebuilt.wasm", &altered),
        &[],
        "tampering@0.2.0 is already installed with a different hash",
    );
    assert_eq!(
        home.installed(),
        ["tampering@0.2.0.json", "tampering@0.2.0.wasm"]
    );
}
