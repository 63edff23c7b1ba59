//! `run` and `resume`: build a run from its definition, plan it, execute it with progress,
//! and print its summary.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use peerpressure::grid::AxisChoices;
use peerpressure::plugin_set::{self, PluginSet};
use peerpressure::providers::{GenerationSettings, ProviderConfig, Providers};
use peerpressure::report;
use peerpressure::scheduler::{Execution, Progress, RunError, RunRequest, ScenarioRun, Selection};
use peerpressure::store::{RUN_SCORING, Store};
use peerpressure_engine::{LoadedPlugin, PluginKind, Runtime, RuntimeConfig};
use peerpressure_types::run::RunDefinition;

use super::common::{AgentArgs, command_line, emit, load, open_existing, start_runtime};
use super::exit::{bad, input};
use super::progress::ProgressReporter;

#[derive(clap::Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub definition: DefinitionArgs,
    #[command(flatten)]
    pub exec: ExecArgs,
}

#[derive(clap::Args)]
pub struct ResumeArgs {
    /// Run id (default: the newest run in the store).
    pub run: Option<String>,
    #[command(flatten)]
    pub exec: ExecArgs,
}

/// What defines a run: its plugins, grid, models and settings.
#[derive(clap::Args)]
pub struct DefinitionArgs {
    /// Plugin set: a name from `sets/` or a TOML file listing scenarios (with axes),
    /// detectors, models, epochs and per-model settings. Options given here override it.
    #[arg(long)]
    pub set: Option<String>,
    /// Scenario plugin: a bundled or installed name, or a path to a .wasm file. Repeatable.
    #[arg(long = "scenario", short = 's')]
    pub scenarios: Vec<String>,
    /// Detector plugin: a name or a path. Repeatable.
    #[arg(long = "detector", short = 'd')]
    pub detectors: Vec<String>,
    /// Model under test, `provider/model`; `scripted/<agent>[?p=P]` for reference agents. Repeatable.
    #[arg(long = "model", short = 'm')]
    pub models: Vec<String>,
    /// Axis values: `axis=v1,v2` or `axis=all`. Axes not named use their default value. Repeatable.
    #[arg(long = "axis", short = 'A')]
    pub axes: Vec<String>,
    /// Generation setting for API models, `key=value`: temperature, top_p, max_tokens, seed,
    /// reasoning_effort, thinking_budget, api (openai: responses|chat). Repeatable.
    #[arg(short = 'M', long = "model-setting")]
    pub model_settings: Vec<String>,
    /// Model that answers detectors' judge calls (at temperature 0), `provider/model`.
    #[arg(long)]
    pub judge: Option<String>,
    /// Trials per grid cell (default: the set's, else 1).
    #[arg(long)]
    pub epochs: Option<u32>,
    /// Run seed; every trial's seed derives from it (default: the set's, else 0).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Run the models inside a production agent CLI (`opencode`, `gemini-cli`) in a
    /// bubblewrap sandbox, instead of PeerPressure's own agent loop (docs/agents.md).
    #[arg(long)]
    pub agent: Option<String>,
}

/// How this invocation runs: store, limits, selection, providers' HTTP behaviour.
#[derive(clap::Args)]
pub struct ExecArgs {
    /// SQLite file to record into (created if missing).
    #[arg(long, default_value = "peerpressure.db", env = "PEERPRESSURE_STORE")]
    pub store: PathBuf,
    /// Trials in flight at once.
    #[arg(long, default_value_t = 16)]
    pub max_trials: usize,
    /// Run at most this many of the planned trials (in grid order).
    #[arg(long)]
    pub limit: Option<usize>,
    /// Run only this trial. Repeatable.
    #[arg(long = "trial-id")]
    pub trial_ids: Vec<String>,
    /// Run shard K of N (1-based): a deterministic split of the grid by trial id.
    #[arg(long)]
    pub shard: Option<String>,
    /// Print the grid size, model calls and estimated cost, and stop before any call.
    #[arg(long)]
    pub dry_run: bool,
    /// Memory limit per plugin instance, MiB.
    #[arg(long, default_value_t = 256)]
    pub plugin_memory_mib: usize,
    /// Time limit per plugin call, seconds.
    #[arg(long, default_value_t = 30.0)]
    pub plugin_timeout: f64,
    /// Instruction budget per plugin call (deterministic, unlike the time limit). Off by default.
    #[arg(long)]
    pub plugin_fuel: Option<u64>,
    /// Fixed concurrent requests per provider (default: adaptive, starting at 10).
    #[arg(long)]
    pub max_connections: Option<usize>,
    /// Requests per minute per provider, evenly spaced (default: paced at the rate learned
    /// from the provider's 429s).
    #[arg(long, value_parser = positive_rate)]
    pub max_rpm: Option<f64>,
    /// Seconds for one HTTP attempt.
    #[arg(long, default_value_t = 180.0)]
    pub attempt_timeout: f64,
    /// Seconds for one model call, retries included.
    #[arg(long, default_value_t = 900.0)]
    pub timeout: f64,
    /// Retries of one model call (429, 5xx, timeouts, dropped connections).
    #[arg(long, default_value_t = 8)]
    pub max_retries: u32,
    /// Stop scheduling new trials once this invocation has spent this many US dollars.
    #[arg(long)]
    pub cost_limit: Option<f64>,
    /// TOML file of model prices (US dollars per million tokens) over the built-in table.
    #[arg(long)]
    pub prices: Option<PathBuf>,
    /// Cache model answers on disk (keyed on the full request and the trial id).
    #[arg(long)]
    pub cache: bool,
    /// Print the report when the run finishes.
    #[arg(long)]
    pub report: bool,
    /// Off a terminal (logs, CI): seconds between progress lines on standard error.
    #[arg(long, default_value_t = 30.0)]
    pub progress_interval: f64,
    #[command(flatten)]
    pub agent: AgentArgs,
}

pub async fn run(args: RunArgs) -> Result<()> {
    let RunArgs { definition, exec } = args;
    // A store path that names a directory is refused before any work.
    peerpressure::store::check_not_a_directory(&exec.store)?;
    let runtime = Arc::new(start_runtime(runtime_config(&exec))?);
    let request = request_from_args(&runtime, definition, &exec).await?;
    execute(runtime, request, &exec).await
}

pub async fn resume(args: ResumeArgs) -> Result<()> {
    let ResumeArgs { run, exec } = args;
    let store = open_existing(&exec.store)?;
    let record = store.run(run.as_deref())?.ok_or_else(|| {
        bad(format!(
            "{} has no run {}",
            exec.store.display(),
            run.as_deref().unwrap_or("yet")
        ))
    })?;
    let spec = record.spec.clone().ok_or_else(|| {
        bad(format!(
            "run {} has no recorded definition to resume from",
            record.id
        ))
    })?;
    let runtime = Arc::new(start_runtime(runtime_config(&exec))?);
    let request = request_from_spec(&runtime, spec, record.analysis.clone(), &exec).await?;
    if request.run_id() != record.id {
        return Err(bad(format!(
            "run {} cannot be rebuilt exactly from its record (its plugins or settings differ)",
            record.id
        )));
    }
    execute(runtime, request, &exec).await
}

fn runtime_config(exec: &ExecArgs) -> RuntimeConfig {
    let mut config = RuntimeConfig::default();
    config.limits.memory_bytes = exec.plugin_memory_mib << 20;
    config.limits.call_timeout = std::time::Duration::from_secs_f64(exec.plugin_timeout);
    config.limits.fuel = exec.plugin_fuel;
    config.max_instances = (exec.max_trials as u32 * 4).max(64);
    config
}

fn provider_config(
    exec: &ExecArgs,
    settings: GenerationSettings,
    per_model: std::collections::BTreeMap<String, GenerationSettings>,
) -> Result<ProviderConfig> {
    let mut config = ProviderConfig {
        settings,
        per_model,
        ..ProviderConfig::default()
    };
    config.max_connections = exec.max_connections;
    config.max_rpm = exec.max_rpm;
    config.policy.attempt_timeout = std::time::Duration::from_secs_f64(exec.attempt_timeout);
    config.policy.call_timeout = std::time::Duration::from_secs_f64(exec.timeout);
    config.policy.max_retries = exec.max_retries;
    if let Some(path) = &exec.prices {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("failed to read the price file {}", path.display()))
            .map_err(input)?;
        config
            .prices
            .load_overrides(&text, &path.display().to_string())
            .map_err(bad)?;
    }
    if exec.cache {
        let dir = peerpressure::locate::default_cache_dir()
            .context("no cache directory: set PEERPRESSURE_CACHE_DIR")
            .map_err(input)?;
        config.cache = Some(dir.join("responses"));
    }
    Ok(config)
}

fn selection(exec: &ExecArgs) -> Result<Selection> {
    Ok(Selection {
        limit: exec.limit,
        trial_ids: exec.trial_ids.clone(),
        shard: exec
            .shard
            .as_deref()
            .map(Selection::parse_shard)
            .transpose()
            .map_err(bad)?,
    })
}

async fn request_from_args(
    runtime: &Runtime,
    def: DefinitionArgs,
    exec: &ExecArgs,
) -> Result<RunRequest> {
    let set = match &def.set {
        Some(arg) => Some(
            plugin_set::locate(arg)
                .and_then(|path| PluginSet::load(&path))
                .map_err(bad)?,
        ),
        None => None,
    };
    // Scenarios, detectors and models given on the command line replace the set's.
    let scenario_args: Vec<(String, AxisChoices)> = match (&set, def.scenarios.is_empty()) {
        (Some(set), true) => set
            .scenarios
            .iter()
            .map(|s| (set.plugin_arg(&s.plugin), s.axes()))
            .collect(),
        _ => def
            .scenarios
            .iter()
            .map(|s| (s.clone(), AxisChoices::default()))
            .collect(),
    };
    if scenario_args.is_empty() {
        return Err(bad("no scenario given: pass --scenario NAME or --set NAME"));
    }
    let detector_args: Vec<String> = match (&set, def.detectors.is_empty()) {
        (Some(set), true) => set
            .detectors
            .iter()
            .map(|d| set.plugin_arg(&d.plugin))
            .collect(),
        _ => def.detectors.clone(),
    };
    let models = match (&set, def.models.is_empty()) {
        (Some(set), true) => set.models.clone(),
        _ => def.models.clone(),
    };
    let mut scenarios = Vec::new();
    for (s, axes) in scenario_args {
        let plugin = load(runtime, &s, PluginKind::Scenario)
            .await
            .with_context(|| format!("failed to load scenario `{s}`"))?;
        scenarios.push(ScenarioRun { plugin, axes });
    }
    let mut detectors = Vec::new();
    for d in &detector_args {
        detectors.push(
            load(runtime, d, PluginKind::Detector)
                .await
                .with_context(|| format!("failed to load detector `{d}`"))?,
        );
    }
    let axes = AxisChoices::parse(&def.axes).map_err(bad)?;
    let mut settings = GenerationSettings::default();
    settings.apply(&def.model_settings).map_err(bad)?;
    let per_model = match &set {
        Some(set) => set.model_settings().map_err(bad)?,
        None => Default::default(),
    };
    let definition = RunDefinition {
        models,
        axes: axes.0,
        epochs: def
            .epochs
            .or(set.as_ref().and_then(|s| s.epochs))
            .unwrap_or(1),
        seed: def.seed.or(set.as_ref().and_then(|s| s.seed)).unwrap_or(0),
        settings,
        per_model_settings: per_model,
        judge: def
            .judge
            .clone()
            .or(set.as_ref().and_then(|s| s.judge.clone())),
        set: set
            .as_ref()
            .map(|s| format!("{} ({})", s.name, def.set.clone().unwrap_or_default())),
        harness: match def.agent.as_deref() {
            None | Some("host") => None,
            Some(name) => Some(exec.agent.harness(name)?.installed.record),
        },
        ..RunDefinition::default()
    };
    let analysis = set.as_ref().map(PluginSet::analysis).unwrap_or_default();
    let execution = execution(exec, &definition)?;
    Ok(RunRequest::new(
        definition, scenarios, detectors, analysis, execution,
    ))
}

/// How this invocation executes `definition`: its providers (with the definition's
/// settings) and the execution flags.
fn execution(exec: &ExecArgs, definition: &RunDefinition) -> Result<Execution> {
    let providers = Providers::new(provider_config(
        exec,
        definition.settings.clone(),
        definition.per_model_settings.clone(),
    )?)
    .map_err(bad)?;
    let harness = match &definition.harness {
        None => None,
        Some(recorded) => Some(Arc::new(
            peerpressure::agent_cli::Harness::recorded(
                recorded,
                exec.agent.agent_clis.clone(),
                exec.agent.limits(),
            )
            .map_err(bad)?,
        )),
    };
    Ok(Execution {
        harness,
        max_trials: exec.max_trials,
        command: command_line(),
        providers: Some(Arc::new(providers)),
        cost_limit: exec.cost_limit,
        selection: selection(exec)?,
        grid_size: None,
    })
}

/// Rebuilds a run from its record; every plugin must still have the recorded hash.
async fn request_from_spec(
    runtime: &Runtime,
    spec: RunDefinition,
    analysis: peerpressure::analysis::Analysis,
    exec: &ExecArgs,
) -> Result<RunRequest> {
    let check = |plugin: &LoadedPlugin, expected: &str| -> Result<()> {
        if plugin.sha256 != expected {
            return Err(bad(format!(
                "{} changed since the run was recorded (sha256 {} now, {} then): restore it or start a new run",
                plugin.path.display(),
                &plugin.sha256[..12],
                &expected[..12.min(expected.len())]
            )));
        }
        Ok(())
    };
    let mut scenarios = Vec::new();
    for s in &spec.scenarios {
        let plugin = load(runtime, &s.path, PluginKind::Scenario).await?;
        check(&plugin, &s.sha256)?;
        scenarios.push(ScenarioRun {
            plugin,
            axes: AxisChoices(s.axes.clone()),
        });
    }
    let mut detectors = Vec::new();
    for d in &spec.detectors {
        let plugin = load(runtime, &d.path, PluginKind::Detector).await?;
        check(&plugin, &d.sha256)?;
        detectors.push(plugin);
    }
    let execution = execution(exec, &spec)?;
    Ok(RunRequest::new(
        spec, scenarios, detectors, analysis, execution,
    ))
}

async fn execute(runtime: Arc<Runtime>, mut request: RunRequest, exec: &ExecArgs) -> Result<()> {
    // Plan before touching the store, so bad input leaves nothing behind.
    let planned = peerpressure::scheduler::plan(&request)?;
    request.execution.grid_size = Some(planned.len());
    let selected = request.execution.selection.apply(planned).map_err(bad)?;
    if exec.dry_run {
        let recorded = if exec.store.is_file() {
            Store::open(&exec.store)?.finished_trials(&request.run_id())?
        } else {
            Default::default()
        };
        let estimate =
            peerpressure::estimate::estimate(&runtime, &request, &selected, &recorded).await?;
        print!("{}", estimate.render(&request.run_id()));
        return Ok(());
    }
    let store = Arc::new(Store::open(&exec.store)?);
    eprintln!(
        "planned {} trial(s); recording into {}",
        selected.len(),
        exec.store.display()
    );
    let progress = ProgressReporter::new(
        selected.len(),
        std::io::stderr().is_terminal(),
        Duration::from_secs_f64(exec.progress_interval.max(0.0)),
    );
    let show = |p: &Progress| progress.update(p);
    let summary =
        peerpressure::scheduler::execute(runtime, store.clone(), request, selected, &show)
            .await
            .map_err(|e| {
                let why = match e {
                    RunError::Plan(_) => "the run could not be planned",
                    RunError::Task(_) => {
                        "the run stopped: PeerPressure itself failed (please report it)"
                    }
                    RunError::Store(_) => "the run stopped: a trial could not be recorded",
                };
                anyhow::Error::new(e).context(why)
            })?;
    progress.finish();
    let p = &summary.progress;
    if p.stopped_by_cost_limit {
        eprintln!(
            "the cost limit was reached: no new trials were started (rerun with a higher --cost-limit to continue)"
        );
    }
    eprintln!(
        "run {}: {} trial(s) in {:.2} s: {} completed, {} hit the turn limit, {} errors, {} already recorded; {} tokens, ${:.4}",
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
    if exec.report {
        let report = report::build(&store, Some(&summary.run_id), RUN_SCORING, None)?;
        emit(&report::render_table(&report, false))?;
    } else {
        eprintln!(
            "see the results with: peerpressure report {} --store {}",
            summary.run_id,
            exec.store.display()
        );
    }
    Ok(())
}

/// `--max-rpm`: a number of requests per minute above zero.
fn positive_rate(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(n) if n.is_finite() && n > 0.0 => Ok(n),
        _ => Err(format!(
            "`{text}` is not a number of requests per minute above zero"
        )),
    }
}
