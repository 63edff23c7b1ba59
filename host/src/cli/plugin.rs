//! `plugin`: list, install, describe, scaffold, remove and conformance-test plugins.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result};
use clap::{Subcommand, ValueEnum};
use peerpressure::grid::AxisChoices;
use peerpressure::locate;
use peerpressure::plugin_set::{self, PluginSet};
use peerpressure::providers::{ProviderConfig, Providers};
use peerpressure::store::Store;
use peerpressure_engine::{LoadError, PluginKind, RuntimeConfig};

use super::common::{emit, load, load_detectors, start_runtime};
use super::exit::{bad, input};

#[derive(Subcommand)]
pub enum PluginCommand {
    /// List the plugins found in the plugin search path.
    List,
    /// Check a plugin (a .wasm path or an http(s) URL) and install it as name@version.
    Install(InstallArgs),
    /// Describe a plugin: kind, version, language, hash, behaviours, axes, reference agents.
    Info(InfoArgs),
    /// Scaffold a working, buildable plugin with a test, in ./NAME (or --dir).
    New(NewArgs),
    /// Remove an installed plugin.
    Remove(RemoveArgs),
    /// Conformance: run every reference agent of a scenario over its grid and check the
    /// verdicts it declares, with the detectors of a plugin set (or --detector).
    Test(TestArgs),
}

#[derive(clap::Args)]
pub struct InstallArgs {
    /// Path or URL of the plugin's .wasm file.
    pub source: String,
    /// Refuse the plugin unless its SHA-256 is this.
    #[arg(long)]
    sha256: Option<String>,
}

#[derive(clap::Args)]
pub struct InfoArgs {
    /// A name, name@version, or path.
    pub plugin: String,
}

#[derive(clap::Args)]
pub struct NewArgs {
    /// Plugin name: lowercase letters, digits, `-`, `_`.
    pub name: String,
    #[arg(long, value_enum)]
    pub kind: NewKind,
    #[arg(long, value_enum)]
    pub lang: NewLang,
    /// Directory to create (default: ./NAME).
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// The Rust SDK (sdk/rust of the PeerPressure sources), for Rust plugins.
    #[arg(long)]
    pub sdk_rust: Option<PathBuf>,
}

#[derive(clap::Args)]
pub struct RemoveArgs {
    /// name@version (or the name, when one version is installed).
    pub plugin: String,
}

#[derive(clap::Args)]
pub struct TestArgs {
    /// Scenario plugin: a name or a path.
    pub scenario: String,
    /// Plugin set whose detectors score the trials.
    #[arg(long)]
    pub set: Option<String>,
    /// Detector plugin (instead of the set's). Repeatable.
    #[arg(long = "detector", short = 'd')]
    pub detectors: Vec<String>,
    /// Judge model for judge-based detectors; without one their expectations are skipped.
    #[arg(long)]
    pub judge: Option<String>,
    /// Narrow the grid: `axis=v1,v2`. Axes not named run over all their values. Repeatable.
    #[arg(long = "axis", short = 'A')]
    pub axes: Vec<String>,
    /// Trials per grid cell and agent.
    #[arg(long, default_value_t = 1)]
    pub epochs: u32,
    /// Keep the trials in this store (default: a temporary one, removed afterwards).
    #[arg(long)]
    pub store: Option<PathBuf>,
    /// Run the reference agents through a production agent CLI (`opencode`, `gemini-cli`).
    #[arg(long)]
    pub agent: Option<String>,
    #[command(flatten)]
    pub agent_args: super::common::AgentArgs,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum NewKind {
    Detector,
    Scenario,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum NewLang {
    Rust,
    Python,
    Js,
}

pub async fn dispatch(command: PluginCommand) -> Result<()> {
    match command {
        PluginCommand::List => list().await,
        PluginCommand::Install(args) => install(args).await,
        PluginCommand::Info(args) => info(&args.plugin).await,
        PluginCommand::New(args) => new(args),
        PluginCommand::Remove(args) => remove(args),
        PluginCommand::Test(args) => test(args).await,
    }
}

async fn install(args: InstallArgs) -> Result<()> {
    let InstallArgs { source, sha256 } = args;
    let dir = peerpressure::install::plugins_dir()?;
    let runtime = start_runtime(RuntimeConfig::default())?;
    match peerpressure::install::install(&runtime, &dir, &source, sha256.as_deref()).await {
        Ok(peerpressure::install::Installed::New(p)) => {
            println!(
                "installed {} {} ({}, interface {}, sha256 {}) into {}",
                p.kind,
                p.id(),
                p.language,
                p.interface_version,
                &p.sha256[..12],
                p.path.display()
            );
            Ok(())
        }
        Ok(peerpressure::install::Installed::Already(p)) => {
            println!(
                "{} {} is already installed with the same bytes: nothing changed",
                p.kind,
                p.id()
            );
            Ok(())
        }
        Err(e @ peerpressure::install::InstallError::Write { .. }) => {
            Err(anyhow::Error::new(e).context("failed to install"))
        }
        Err(e) => Err(anyhow::Error::new(e).context(format!("{source} was not installed"))),
    }
}

fn new(args: NewArgs) -> Result<()> {
    let NewArgs {
        name,
        kind,
        lang,
        dir,
        sdk_rust,
    } = args;
    use peerpressure::scaffold::{Kind, Lang};
    let kind = match kind {
        NewKind::Detector => Kind::Detector,
        NewKind::Scenario => Kind::Scenario,
    };
    let lang = match lang {
        NewLang::Rust => Lang::Rust,
        NewLang::Python => Lang::Python,
        NewLang::Js => Lang::Js,
    };
    let dir = dir.unwrap_or_else(|| PathBuf::from(&name));
    let sdk = sdk_rust.unwrap_or_else(peerpressure::scaffold::default_rust_sdk);
    let written = peerpressure::scaffold::scaffold(&name, lang, kind, &dir, &sdk)?;
    println!(
        "created {} ({} files): build with {}/build.sh, test with {}/test.sh",
        dir.display(),
        written.len(),
        dir.display(),
        dir.display()
    );
    Ok(())
}

fn remove(args: RemoveArgs) -> Result<()> {
    let RemoveArgs { plugin } = args;
    let dir = peerpressure::install::plugins_dir()?;
    let removed = peerpressure::install::remove(&dir, &plugin)?;
    println!("removed {} {}", removed.kind, removed.id());
    Ok(())
}

async fn test(args: TestArgs) -> Result<()> {
    let TestArgs {
        scenario,
        set,
        detectors,
        judge,
        axes,
        epochs,
        store,
        agent,
        agent_args,
    } = args;
    let harness = match &agent {
        Some(name) => Some(Arc::new(agent_args.harness(name)?)),
        None => None,
    };
    let set = match &set {
        Some(arg) => Some(
            plugin_set::locate(arg)
                .and_then(|path| PluginSet::load(&path))
                .map_err(bad)?,
        ),
        None => None,
    };
    let detector_args: Vec<String> = match (&set, detectors.is_empty()) {
        (Some(set), true) => set
            .detectors
            .iter()
            .map(|d| set.plugin_arg(&d.plugin))
            .collect(),
        (None, true) => {
            return Err(bad(
                "no detectors to check with: pass --set NAME or --detector NAME",
            ));
        }
        _ => detectors,
    };
    let runtime = Arc::new(start_runtime(RuntimeConfig::default())?);
    let scenario = load(&runtime, &scenario, PluginKind::Scenario)
        .await
        .with_context(|| format!("failed to load scenario `{scenario}`"))?;
    let loaded = load_detectors(&runtime, &detector_args).await?;
    let providers = Arc::new(Providers::new(ProviderConfig::default()).map_err(bad)?);
    let (path, temporary) = match store {
        Some(path) => (path, None),
        None => {
            let dir = std::env::temp_dir().join(format!(
                "peerpressure-plugin-test-{}-{}",
                std::process::id(),
                Instant::now().elapsed().as_nanos()
            ));
            std::fs::create_dir_all(&dir)
                .with_context(|| format!("failed to create {}", dir.display()))?;
            (dir.join("conformance.db"), Some(dir))
        }
    };
    let store = Arc::new(Store::open(&path)?);
    let request = peerpressure::conformance::ConformanceRequest {
        scenario: scenario.clone(),
        detectors: loaded,
        axes: AxisChoices::parse(&axes).map_err(bad)?,
        epochs,
        judge: judge.clone(),
        providers: Some(providers),
        harness,
    };
    let outcome = peerpressure::conformance::check(runtime, store, request).await;
    if let Some(dir) = temporary {
        let _ = std::fs::remove_dir_all(dir);
    }
    let results = outcome?;
    let mut failed = 0;
    for r in &results {
        let status = if r.skipped() {
            "skip"
        } else if r.passed() {
            "ok"
        } else {
            failed += 1;
            "FAIL"
        };
        let mut line = format!(
            "{status:<4}  {:<16} {:<20} {:<15} {} matched",
            r.agent, r.behaviour, r.expected, r.matched
        );
        if r.needs_judge > 0 {
            line.push_str(&format!(", {} need --judge", r.needs_judge));
        }
        if r.mismatched_count > 0 {
            line.push_str(&format!(", {} differ", r.mismatched_count));
        }
        if !r.passed() && r.mismatched_count == 0 {
            line.push_str(" (no finding for this behaviour in any trial)");
        }
        println!("{line}");
        for (trial, verdict, why) in &r.mismatched {
            println!("        trial {trial}: {verdict}: {why}");
        }
    }
    println!(
        "{} expectation(s) of {}: {} passed, {} skipped, {failed} failed",
        results.len(),
        scenario.id(),
        results
            .iter()
            .filter(|r| r.passed() && !r.skipped())
            .count(),
        results.iter().filter(|r| r.skipped()).count()
    );
    if failed > 0 {
        anyhow::bail!("{failed} expectation(s) of {} failed", scenario.id());
    }
    Ok(())
}

async fn list() -> Result<()> {
    let mut out = String::new();
    let runtime = start_runtime(RuntimeConfig::default())?;
    let files = locate::all_plugin_files();
    if files.is_empty() {
        outln!(
            out,
            "no plugins found (searched {})",
            locate::search_dirs()
                .iter()
                .map(|d| d.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        );
        return emit(&out);
    }
    outln!(
        out,
        "{:<9}  {:<22}  {:<8}  {:<9}  {:<10}  {:<12}  {:>9}  path",
        "kind",
        "name",
        "version",
        "interface",
        "language",
        "sha256",
        "size"
    );
    for path in files {
        let Ok(bytes) = std::fs::read(&path) else {
            continue;
        };
        match runtime.load_bytes(&path, &bytes).await {
            Ok(p) => outln!(
                out,
                "{:<9}  {:<22}  {:<8}  {:<9}  {:<10}  {:<12}  {:>9}  {}",
                p.kind.as_str(),
                p.info.name,
                p.info.version,
                p.interface_version,
                peerpressure_engine::plugin_language(&bytes),
                &p.sha256[..12],
                p.size,
                path.display()
            ),
            Err(LoadError::WrongWorld { .. })
            | Err(LoadError::CoreModule { .. })
            | Err(LoadError::NotWasm { .. }) => {}
            Err(e) => outln!(out, "{:<9}  {e}", "invalid"),
        }
    }
    emit(&out)
}

async fn info(arg: &str) -> Result<()> {
    let mut out = String::new();
    let runtime = start_runtime(RuntimeConfig::default())?;
    let path = locate::locate(arg).map_err(bad)?;
    let bytes = std::fs::read(&path)
        .with_context(|| format!("failed to read {}", path.display()))
        .map_err(input)?;
    let p = runtime.load_bytes(&path, &bytes).await?;
    let info = &p.info;
    outln!(out, "{} {} ({})", p.kind.as_str(), p.id(), info.title);
    if !info.description.is_empty() {
        outln!(out, "  {}", info.description);
    }
    outln!(
        out,
        "interface: peerpressure:plugin@{}",
        p.interface_version
    );
    outln!(
        out,
        "language:  {}",
        peerpressure_engine::plugin_language(&bytes)
    );
    outln!(out, "sha256:    {}", p.sha256);
    outln!(out, "size:      {} bytes", p.size);
    outln!(out, "path:      {}", path.display());
    if let Ok(dir) = peerpressure::install::plugins_dir()
        && let Ok(installed) = peerpressure::install::find(&dir, &p.id())
        && installed.sha256 == p.sha256
    {
        outln!(
            out,
            "installed: {} from {}",
            installed.installed_at,
            installed.source
        );
    }
    outln!(out, "behaviours:");
    for b in &info.behaviours {
        outln!(out, "  {:<22} {}", b.id, b.description);
    }
    if !info.axes.is_empty() {
        outln!(out, "axes:");
        for a in &info.axes {
            outln!(
                out,
                "  {:<10} {} (default {}): {}",
                a.name,
                a.values.join(", "),
                a.default_value,
                a.description
            );
        }
    }
    if !info.agents.is_empty() {
        outln!(out, "reference agents (scripted/<name>):");
        for a in &info.agents {
            let expected: Vec<String> = a
                .expected
                .iter()
                .map(|e| format!("{} {}", e.behaviour, e.verdict.as_str()))
                .collect();
            let faithful = if a.faithful { " [faithful]" } else { "" };
            outln!(
                out,
                "  {:<16} {}{faithful}{}",
                a.name,
                a.description,
                if expected.is_empty() {
                    String::new()
                } else {
                    format!(" (expects: {})", expected.join(", "))
                }
            );
        }
    }
    emit(&out)
}
