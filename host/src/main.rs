//! The `peerpressure` command line.
//!
//! Exit codes: 0 success; 1 the run or command failed while working (store or runtime
//! failure); 2 the input was unusable (bad arguments, plugin, axis value, model, store).

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand, ValueEnum};

use peerpressure::grid::AxisChoices;
use peerpressure::providers::{ProviderConfig, Providers};
use peerpressure::plugin_set::{self, PluginSet};
use peerpressure::run::{Progress, RunError, RunRequest, ScenarioRun};
use peerpressure::runtime::{LoadError, LoadedPlugin, PluginKind, Runtime, RuntimeConfig};
use peerpressure::store::{RUN_SCORING, Store};
use peerpressure::{locate, report};

#[derive(Parser)]
#[command(name = "peerpressure", version, about = "Peer-preservation safety evaluations of AI models, with sandboxed WebAssembly scenarios and detectors")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run scenarios against models and record every trial.
    Run(RunArgs),
    /// Print a run's results: per behaviour, rates with 95% Wilson intervals per cell.
    Report(ReportArgs),
    /// List the runs in a store.
    Runs {
        #[arg(long, default_value = "peerpressure.db", env = "PEERPRESSURE_STORE")]
        store: PathBuf,
    },
    /// Manage plugins.
    #[command(subcommand)]
    Plugin(PluginCommand),
}

#[derive(clap::Args)]
struct RunArgs {
    /// Plugin set: a name from `sets/` or a TOML file listing scenarios (with axes),
    /// detectors, models, epochs and per-model settings. Options given here override it.
    #[arg(long)]
    set: Option<String>,
    /// Scenario plugin: a bundled or installed name, or a path to a .wasm file. Repeatable.
    #[arg(long = "scenario", short = 's')]
    scenarios: Vec<String>,
    /// Detector plugin: a name or a path. Repeatable.
    #[arg(long = "detector", short = 'd')]
    detectors: Vec<String>,
    /// Model under test, `provider/model`; `scripted/<agent>[?p=P]` for reference agents. Repeatable.
    #[arg(long = "model", short = 'm')]
    models: Vec<String>,
    /// Axis values: `axis=v1,v2` or `axis=all`. Axes not named use their default value. Repeatable.
    #[arg(long = "axis", short = 'A')]
    axes: Vec<String>,
    /// Generation setting for API models, `key=value`: temperature, top_p, max_tokens, seed,
    /// reasoning_effort, thinking_budget, api (openai: responses|chat). Repeatable.
    #[arg(short = 'M', long = "model-setting")]
    model_settings: Vec<String>,
    /// Model that answers detectors' judge calls (at temperature 0), `provider/model`.
    #[arg(long)]
    judge: Option<String>,
    /// Fixed concurrent requests per provider (default: adaptive, starting at 10).
    #[arg(long)]
    max_connections: Option<usize>,
    /// Seconds for one HTTP attempt.
    #[arg(long, default_value_t = 180.0)]
    attempt_timeout: f64,
    /// Seconds for one model call, retries included.
    #[arg(long, default_value_t = 900.0)]
    timeout: f64,
    /// Retries of one model call (429, 5xx, timeouts, dropped connections).
    #[arg(long, default_value_t = 8)]
    max_retries: u32,
    /// Stop scheduling new trials once this many US dollars are spent.
    #[arg(long)]
    cost_limit: Option<f64>,
    /// TOML file of model prices (US dollars per million tokens) over the built-in table.
    #[arg(long)]
    prices: Option<PathBuf>,
    /// Cache model answers on disk (keyed on the full request and the trial id).
    #[arg(long)]
    cache: bool,
    /// Trials per grid cell (default: the set's, else 1).
    #[arg(long)]
    epochs: Option<u32>,
    /// Run seed; every trial's seed derives from it (default: the set's, else 0).
    #[arg(long)]
    seed: Option<u64>,
    /// Trials in flight at once.
    #[arg(long, default_value_t = 16)]
    max_trials: usize,
    /// SQLite file to record into (created if missing).
    #[arg(long, default_value = "peerpressure.db", env = "PEERPRESSURE_STORE")]
    store: PathBuf,
    /// Memory limit per plugin instance, MiB.
    #[arg(long, default_value_t = 256)]
    plugin_memory_mib: usize,
    /// Time limit per plugin call, seconds.
    #[arg(long, default_value_t = 30.0)]
    plugin_timeout: f64,
    /// Instruction budget per plugin call (deterministic, unlike the time limit). Off by default.
    #[arg(long)]
    plugin_fuel: Option<u64>,
    /// Print the report when the run finishes.
    #[arg(long)]
    report: bool,
}

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    Table,
    Json,
}

#[derive(clap::Args)]
struct ReportArgs {
    /// Run id (default: the newest run in the store).
    run: Option<String>,
    #[arg(long, default_value = "peerpressure.db", env = "PEERPRESSURE_STORE")]
    store: PathBuf,
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
}

#[derive(Subcommand)]
enum PluginCommand {
    /// List the plugins found in the plugin search path.
    List,
}

/// An error caused by the user's input (exit code 2), as opposed to a failure while working.
#[derive(Debug)]
struct InputError(anyhow::Error);

impl std::fmt::Display for InputError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:#}", self.0)
    }
}

impl std::error::Error for InputError {}

fn input(e: impl Into<anyhow::Error>) -> anyhow::Error {
    InputError(e.into()).into()
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("starting the async runtime");
    match runtime.block_on(dispatch(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            if error.downcast_ref::<InputError>().is_some() { ExitCode::from(2) } else { ExitCode::from(1) }
        }
    }
}

async fn dispatch(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Run(args) => run(args).await,
        Command::Report(args) => {
            let store = Store::open(&args.store).map_err(input)?;
            let report = report::build(&store, args.run.as_deref(), RUN_SCORING).map_err(input)?;
            match args.format {
                Format::Table => print!("{}", report::render_table(&report)),
                Format::Json => println!("{}", serde_json::to_string_pretty(&report).context("failed to encode the report")?),
            }
            Ok(())
        }
        Command::Runs { store } => {
            let store = Store::open(&store).map_err(input)?;
            for (id, created, trials) in store.runs().context("failed to list runs")? {
                println!("{id}  {created}  {trials} trials");
            }
            Ok(())
        }
        Command::Plugin(PluginCommand::List) => plugin_list().await,
    }
}

async fn load(runtime: &Runtime, arg: &str, kind: PluginKind) -> Result<Arc<LoadedPlugin>> {
    let path = locate::locate(arg).map_err(|e| input(anyhow::anyhow!(e)))?;
    let plugin = runtime.load(&path).await.map_err(input)?;
    if plugin.kind != kind {
        return Err(input(anyhow::anyhow!("{} is a {} plugin, but was given as a {}", path.display(), plugin.kind.as_str(), kind.as_str())));
    }
    Ok(Arc::new(plugin))
}

async fn run(args: RunArgs) -> Result<()> {
    let mut config = RuntimeConfig::default();
    config.limits.memory_bytes = args.plugin_memory_mib << 20;
    config.limits.call_timeout = std::time::Duration::from_secs_f64(args.plugin_timeout);
    config.limits.fuel = args.plugin_fuel;
    config.max_instances = (args.max_trials as u32 * 4).max(64);
    let runtime = Arc::new(Runtime::new(config).context("failed to start the plugin runtime")?);
    let set = match &args.set {
        Some(arg) => Some(plugin_set::locate(arg).and_then(|path| PluginSet::load(&path)).map_err(|e| input(anyhow::anyhow!(e)))?),
        None => None,
    };
    // Scenarios, detectors and models given on the command line replace the set's.
    let scenario_args: Vec<(String, AxisChoices)> = match (&set, args.scenarios.is_empty()) {
        (Some(set), true) => set.scenarios.iter().map(|s| (set.plugin_arg(&s.plugin), s.axes())).collect(),
        _ => args.scenarios.iter().map(|s| (s.clone(), AxisChoices::default())).collect(),
    };
    if scenario_args.is_empty() {
        return Err(input(anyhow::anyhow!("no scenario given: pass --scenario NAME or --set NAME")));
    }
    let detector_args: Vec<String> = match (&set, args.detectors.is_empty()) {
        (Some(set), true) => set.detectors.iter().map(|d| set.plugin_arg(&d.plugin)).collect(),
        _ => args.detectors.clone(),
    };
    let models = match (&set, args.models.is_empty()) {
        (Some(set), true) => set.models.clone(),
        _ => args.models.clone(),
    };
    let mut scenarios = Vec::new();
    for (s, axes) in scenario_args {
        let plugin = load(&runtime, &s, PluginKind::Scenario).await.with_context(|| format!("failed to load scenario `{s}`"))?;
        scenarios.push(ScenarioRun { plugin, axes });
    }
    let mut detectors = Vec::new();
    for d in &detector_args {
        detectors.push(load(&runtime, d, PluginKind::Detector).await.with_context(|| format!("failed to load detector `{d}`"))?);
    }
    let axes = AxisChoices::parse(&args.axes).map_err(|e| input(anyhow::anyhow!(e)))?;
    let mut provider_config = provider_config(&args)?;
    if let Some(set) = &set {
        provider_config.per_model = set.model_settings().map_err(|e| input(anyhow::anyhow!(e)))?;
    }
    let providers = Arc::new(Providers::new(provider_config).map_err(|e| input(anyhow::anyhow!(e)))?);
    let request = RunRequest {
        scenarios,
        detectors,
        models,
        axes,
        epochs: args.epochs.or(set.as_ref().and_then(|s| s.epochs)).unwrap_or(1),
        seed: args.seed.or(set.as_ref().and_then(|s| s.seed)).unwrap_or(0),
        max_trials: args.max_trials,
        command: std::env::args().collect::<Vec<_>>().join(" "),
        providers: Some(providers),
        judge: args.judge.clone().or(set.as_ref().and_then(|s| s.judge.clone())),
        cost_limit: args.cost_limit,
        set: set.as_ref().map(|s| format!("{} ({})", s.name, args.set.clone().unwrap_or_default())),
    };
    // Plan before touching the store, so bad input leaves nothing behind.
    let planned = peerpressure::run::plan(&request).map_err(input)?.len();
    let store = Arc::new(Store::open(&args.store).map_err(input)?);
    let interactive = std::io::stderr().is_terminal();
    eprintln!("planned {planned} trial(s); recording into {}", args.store.display());
    let show = move |p: &Progress| {
        if interactive {
            eprint!("\r{}/{} trials  ({} already recorded, {} errors, {} tokens, ${:.4})   ", p.done, p.total, p.skipped, p.errors, p.tokens, p.cost);
        }
    };
    let summary = peerpressure::run::execute(runtime, store.clone(), request, &show).await.map_err(|e| match e {
        RunError::Plan(_) => input(e),
        RunError::Store(_) => anyhow::Error::new(e).context("the run stopped: a trial could not be recorded"),
    })?;
    if interactive {
        eprintln!();
    }
    let p = &summary.progress;
    if p.stopped_by_cost_limit {
        eprintln!("the cost limit was reached: no new trials were started (rerun with a higher --cost-limit to continue)");
    }
    eprintln!(
        "run {}: {} trial(s) in {:.1} s: {} completed, {} hit the turn limit, {} errors, {} already recorded; {} tokens, ${:.4}",
        summary.run_id,
        p.total,
        summary.elapsed.as_secs_f64(),
        p.completed,
        p.turn_limit,
        p.errors,
        p.skipped,
        p.tokens,
        p.cost
    );
    if args.report {
        let report = report::build(&store, Some(&summary.run_id), RUN_SCORING).map_err(input)?;
        print!("{}", report::render_table(&report));
    } else {
        eprintln!("see the results with: peerpressure report {} --store {}", summary.run_id, args.store.display());
    }
    Ok(())
}

fn provider_config(args: &RunArgs) -> Result<ProviderConfig> {
    let mut config = ProviderConfig::default();
    config.settings.apply(&args.model_settings).map_err(|e| input(anyhow::anyhow!(e)))?;
    config.max_connections = args.max_connections;
    config.policy.attempt_timeout = std::time::Duration::from_secs_f64(args.attempt_timeout);
    config.policy.call_timeout = std::time::Duration::from_secs_f64(args.timeout);
    config.policy.max_retries = args.max_retries;
    if let Some(path) = &args.prices {
        let text = std::fs::read_to_string(path).with_context(|| format!("failed to read the price file {}", path.display())).map_err(input)?;
        config.prices.load_overrides(&text, &path.display().to_string()).map_err(|e| input(anyhow::anyhow!(e)))?;
    }
    if args.cache {
        let dir = peerpressure::runtime::default_cache_dir().context("no cache directory: set PEERPRESSURE_CACHE_DIR").map_err(input)?;
        config.cache = Some(dir.join("responses"));
    }
    Ok(config)
}

async fn plugin_list() -> Result<()> {
    let runtime = Runtime::new(RuntimeConfig::default()).context("failed to start the plugin runtime")?;
    let files = locate::all_plugin_files();
    if files.is_empty() {
        println!("no plugins found (searched {})", locate::search_dirs().iter().map(|d| d.display().to_string()).collect::<Vec<_>>().join(", "));
        return Ok(());
    }
    println!("{:<9}  {:<22}  {:<8}  {:<9}  {:<12}  {:>9}  path", "kind", "name", "version", "interface", "sha256", "size");
    for path in files {
        match runtime.load(&path).await {
            Ok(p) => println!(
                "{:<9}  {:<22}  {:<8}  {:<9}  {:<12}  {:>9}  {}",
                p.kind.as_str(),
                p.info.name,
                p.info.version,
                p.interface_version,
                &p.sha256[..12],
                p.size,
                path.display()
            ),
            Err(LoadError::WrongWorld { .. }) | Err(LoadError::CoreModule { .. }) | Err(LoadError::NotWasm { .. }) => {}
            Err(e) => println!("{:<9}  {e}", "invalid"),
        }
    }
    Ok(())
}
