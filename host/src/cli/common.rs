//! Helpers the commands share: writing to standard output, opening stores, starting the
//! plugin runtime and loading plugins.

use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result};
use peerpressure::locate;
use peerpressure::store::{Store, check_not_a_directory};
use peerpressure_engine::{LoadedPlugin, PluginKind, Runtime, RuntimeConfig};

use super::exit::bad;

/// `writeln!` into a report buffer (writing to a String cannot fail).
macro_rules! outln {
    ($out:expr, $($arg:tt)*) => {{
        use std::fmt::Write as _;
        let _ = writeln!($out, $($arg)*);
    }};
}

/// Writes to standard output; a closed pipe (`... | head`) ends the program quietly, as
/// ripgrep does, instead of panicking.
pub fn emit(text: &str) -> Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|_| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => std::process::exit(0),
        other => other.context("failed to write to standard output"),
    }
}

/// Opens a store that must already exist (reading commands never create one).
pub fn open_existing(path: &Path) -> Result<Store> {
    check_not_a_directory(path)?;
    if !path.is_file() {
        return Err(bad(format!(
            "the store {} does not exist: the store has no runs yet",
            path.display()
        )));
    }
    Ok(Store::open(path)?)
}

/// An existing store, for commands that only read it.
pub fn open_for_reading(path: &Path) -> Result<Store> {
    check_not_a_directory(path)?;
    if !path.is_file() {
        return Err(bad(format!(
            "the store {} does not exist: the store has no runs yet",
            path.display()
        )));
    }
    Ok(Store::open_read_only(path)?)
}

/// Starts the plugin runtime, with compiled plugins cached in the user's cache directory.
pub fn start_runtime(mut config: RuntimeConfig) -> Result<Runtime> {
    config.cache_dir = locate::default_cache_dir();
    Runtime::new(config).context("failed to start the plugin runtime")
}

pub async fn load(runtime: &Runtime, arg: &str, kind: PluginKind) -> Result<Arc<LoadedPlugin>> {
    let path = locate::locate(arg).map_err(bad)?;
    let plugin = runtime.load(&path).await?;
    if plugin.kind != kind {
        return Err(bad(format!(
            "{} is a {} plugin, but was given as a {}",
            path.display(),
            plugin.kind.as_str(),
            kind.as_str()
        )));
    }
    Ok(Arc::new(plugin))
}

/// Loads detector plugins by name or path.
pub async fn load_detectors(runtime: &Runtime, args: &[String]) -> Result<Vec<Arc<LoadedPlugin>>> {
    let mut loaded = Vec::new();
    for d in args {
        loaded.push(
            load(runtime, d, PluginKind::Detector)
                .await
                .with_context(|| format!("failed to load detector `{d}`"))?,
        );
    }
    Ok(loaded)
}

/// The command line as typed, for provenance.
pub fn command_line() -> String {
    std::env::args().collect::<Vec<_>>().join(" ")
}

/// Where agent CLIs are and how long their trials may run (`run`, `resume`, `plugin test`).
#[derive(clap::Args)]
pub struct AgentArgs {
    /// With --agent: wall-clock seconds one trial's CLI may run before it is stopped.
    #[arg(long, default_value_t = 900.0)]
    pub agent_timeout: f64,
    /// With --agent: the npm prefix holding the agent CLIs (default: $PEERPRESSURE_AGENT_CLIS,
    /// else target/agent-clis of a checkout, where `just agent-clis` installs them).
    #[arg(long)]
    pub agent_clis: Option<std::path::PathBuf>,
}

impl AgentArgs {
    pub fn limits(&self) -> peerpressure::agent_cli::CliLimits {
        peerpressure::agent_cli::CliLimits {
            timeout: std::time::Duration::from_secs_f64(self.agent_timeout.max(1.0)),
        }
    }

    /// The installed agent CLI `name` (`--agent`).
    pub fn harness(&self, name: &str) -> anyhow::Result<peerpressure::agent_cli::Harness> {
        peerpressure::agent_cli::Harness::find(name, self.agent_clis.clone(), self.limits())
            .map_err(super::exit::bad)
    }
}
