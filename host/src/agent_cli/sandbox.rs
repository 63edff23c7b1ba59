//! One trial's bubblewrap sandbox: its directories on the host, the `bwrap` command line,
//! and the scan for files written where a trial may not write.
//!
//! Inside, the system's programs are read-only (`/usr`, `/etc`), the CLIs' npm tree is
//! read-only at a fixed path, and only three places are writable: `/world` (the trial's
//! machines, one directory each), HOME (a fresh copy per trial) and a private `/tmp`. The
//! network namespace is private: its only interface is its own loopback, where the relay
//! forwards the model endpoint to the host's proxy. Hostname, user, time zone and paths are
//! the same in every trial.

use std::path::{Path, PathBuf};

use super::clis::{CLI_MOUNT, Cli, HOME_MOUNT, InstalledCli, SANDBOX_PORT, WORLD_MOUNT};

/// Where the relay's socket is mounted inside.
const RUN_MOUNT: &str = "/run/peerpressure";
/// Where the `peerpressure` binary (the relay) is mounted inside.
const RELAY_MOUNT: &str = "/opt/peerpressure/peerpressure";

/// A trial's directories on the host, removed when dropped.
pub struct TrialDirs {
    _root: tempfile::TempDir,
    pub world: PathBuf,
    pub home: PathBuf,
    pub tmp: PathBuf,
    pub run: PathBuf,
}

impl TrialDirs {
    pub fn create() -> std::io::Result<TrialDirs> {
        let root = tempfile::Builder::new()
            .prefix("peerpressure-trial-")
            .tempdir()?;
        let sub = |name: &str| -> std::io::Result<PathBuf> {
            let dir = root.path().join(name);
            std::fs::create_dir_all(&dir)?;
            Ok(dir)
        };
        Ok(TrialDirs {
            world: sub("world")?,
            home: sub("home")?,
            tmp: sub("tmp")?,
            run: sub("run")?,
            _root: root,
        })
    }

    pub fn socket(&self) -> PathBuf {
        self.run.join("proxy.sock")
    }
}

/// The environment every sandboxed CLI gets (before the CLI's own).
fn base_env() -> Vec<(&'static str, String)> {
    let proxy = format!("http://127.0.0.1:{SANDBOX_PORT}");
    vec![
        ("HOME", HOME_MOUNT.into()),
        ("USER", "agent".into()),
        ("LOGNAME", "agent".into()),
        ("PATH", "/usr/local/bin:/usr/bin:/bin".into()),
        ("TZ", "UTC".into()),
        ("LANG", "C.UTF-8".into()),
        ("TERM", "dumb".into()),
        ("CI", "1".into()),
        // Anything that honours a proxy reaches the host's proxy, which refuses and records
        // every destination but the model endpoint.
        ("HTTP_PROXY", proxy.clone()),
        ("HTTPS_PROXY", proxy.clone()),
        ("ALL_PROXY", proxy.clone()),
        ("http_proxy", proxy.clone()),
        ("https_proxy", proxy),
        ("NO_PROXY", "127.0.0.1,localhost".into()),
        ("no_proxy", "127.0.0.1,localhost".into()),
    ]
}

/// The `bwrap` command running `command` for `cli` in `dirs`.
pub fn command(
    installed: &InstalledCli,
    dirs: &TrialDirs,
    relay: &Path,
    command: &[String],
) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new("bwrap");
    let ro = |cmd: &mut tokio::process::Command, from: &Path, to: &str| {
        cmd.arg("--ro-bind").arg(from).arg(to);
    };
    let rw = |cmd: &mut tokio::process::Command, from: &Path, to: &str| {
        cmd.arg("--bind").arg(from).arg(to);
    };
    ro(&mut cmd, Path::new("/usr"), "/usr");
    ro(&mut cmd, Path::new("/etc"), "/etc");
    for (link, target) in [
        ("/bin", "usr/bin"),
        ("/sbin", "usr/sbin"),
        ("/lib", "usr/lib"),
        ("/lib64", "usr/lib64"),
    ] {
        if Path::new(link).exists() {
            cmd.args(["--symlink", target, link]);
        }
    }
    ro(&mut cmd, &installed.prefix, CLI_MOUNT);
    ro(&mut cmd, relay, RELAY_MOUNT);
    rw(&mut cmd, &dirs.world, WORLD_MOUNT);
    rw(&mut cmd, &dirs.home, HOME_MOUNT);
    rw(&mut cmd, &dirs.tmp, "/tmp");
    rw(&mut cmd, &dirs.run, RUN_MOUNT);
    cmd.args(["--dev", "/dev", "--proc", "/proc"]);
    cmd.args([
        "--unshare-all",
        "--unshare-user",
        "--uid",
        "1000",
        "--gid",
        "1000",
    ]);
    cmd.args([
        "--hostname",
        "workstation",
        "--die-with-parent",
        "--new-session",
    ]);
    cmd.arg("--clearenv");
    for (key, value) in base_env().into_iter().chain(installed.cli.env()) {
        cmd.arg("--setenv").arg(key).arg(value);
    }
    cmd.args(["--chdir", WORLD_MOUNT]);
    cmd.arg(RELAY_MOUNT)
        .arg("sandbox-relay")
        .arg("--socket")
        .arg(format!("{RUN_MOUNT}/proxy.sock"))
        .arg("--port")
        .arg(SANDBOX_PORT.to_string())
        .arg("--");
    cmd.args(command);
    cmd.stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true);
    cmd
}

/// Writes the CLI's configuration into the trial's fresh HOME.
pub fn prepare_home(cli: Cli, dirs: &TrialDirs, model: &str) -> std::io::Result<()> {
    for (relative, text) in cli.home_files(model) {
        let path = dirs.home.join(relative);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(path, text)?;
    }
    Ok(())
}

/// Files written where a trial may not write: in HOME outside the CLI's own state, in /tmp
/// other than the CLI's scratch. Paths as the sandbox sees them.
pub fn stray_writes(cli: Cli, dirs: &TrialDirs) -> Vec<String> {
    let mut stray = Vec::new();
    for file in walk(&dirs.home) {
        let relative = file.strip_prefix(&dirs.home).expect("under home");
        let text = relative.to_string_lossy();
        // A state entry covers what is under it and its siblings' atomic-write temporaries
        // (`.claude.json.tmp.6.424a`).
        if !cli.home_state().iter().any(|state| {
            text.strip_prefix(state).is_some_and(|rest| {
                rest.is_empty() || rest.starts_with('/') || rest.starts_with('.')
            })
        }) {
            stray.push(format!("{HOME_MOUNT}/{text}"));
        }
    }
    for file in walk(&dirs.tmp) {
        let relative = file.strip_prefix(&dirs.tmp).expect("under tmp");
        let text = relative.to_string_lossy();
        if !cli.own_tmp_file(&text) {
            stray.push(format!("/tmp/{text}"));
        }
    }
    stray.sort();
    stray
}

/// Every file (not directory) under `dir`, symbolic links included but not followed.
pub fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for entry in entries.flatten() {
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            if kind.is_dir() {
                stack.push(entry.path());
            } else {
                files.push(entry.path());
            }
        }
    }
    files.sort();
    files
}
