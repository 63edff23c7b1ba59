//! The `peerpressure` command line.
//!
//! Exit codes: 0 success; 1 the run or command failed while working (store or runtime
//! failure); 2 the input was unusable (bad arguments, plugin, axis value, model, store).

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand, ValueEnum};

use peerpressure::grid::AxisChoices;
use peerpressure::plugin_set::{self, PluginSet};
use peerpressure::providers::{GenerationSettings, ProviderConfig, Providers};
use peerpressure::run::{Progress, RunError, RunRequest, RunSpec, ScenarioRun, Selection};
use peerpressure::runtime::{LoadError, LoadedPlugin, PluginKind, Runtime, RuntimeConfig};
use peerpressure::store::{RUN_SCORING, Store};
use peerpressure::{locate, report};

// The host allocates heavily (transcripts, JSON, component values); mimalloc measured
// faster than glibc's allocator on `just bench` (docs/performance.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "peerpressure",
    version,
    about = "Peer-preservation safety evaluations of AI models, with sandboxed WebAssembly scenarios and detectors"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run scenarios against models and record every trial; rerunning the command resumes it.
    Run {
        #[command(flatten)]
        definition: DefinitionArgs,
        #[command(flatten)]
        exec: ExecArgs,
    },
    /// Run what is missing from a recorded run, with the plugins and settings it recorded.
    Resume {
        /// Run id (default: the newest run in the store).
        run: Option<String>,
        #[command(flatten)]
        exec: ExecArgs,
    },
    /// Print a run's results: per behaviour, rates with 95% Wilson intervals per cell.
    Report(ReportArgs),
    /// Run detectors over a recorded run again (no agent model calls), as a new scoring kept
    /// beside the old; `report --scoring ID` shows it.
    Rescore {
        /// Run id (default: the newest run in the store).
        run: Option<String>,
        /// Detector plugin: a name or a path. Repeatable.
        #[arg(long = "detector", short = 'd', required = true)]
        detectors: Vec<String>,
        /// Model that answers detectors' judge calls (at temperature 0), `provider/model`.
        #[arg(long)]
        judge: Option<String>,
        /// Name the scoring (default: an id derived from the detectors and the judge).
        #[arg(long)]
        name: Option<String>,
        /// Trials scored at once.
        #[arg(long, default_value_t = 16)]
        max_trials: usize,
        #[arg(long, default_value = "peerpressure.db", env = "PEERPRESSURE_STORE")]
        store: PathBuf,
    },
    /// Browse runs, results and transcripts in a local web app (127.0.0.1 only, works offline).
    View {
        /// The store to show.
        #[arg(default_value = "peerpressure.db", env = "PEERPRESSURE_STORE")]
        store: PathBuf,
        /// Port on 127.0.0.1 (0: any free port; the address is printed).
        #[arg(long, default_value_t = 7878)]
        port: u16,
    },
    /// List the runs in a store.
    Runs {
        #[arg(long, default_value = "peerpressure.db", env = "PEERPRESSURE_STORE")]
        store: PathBuf,
    },
    /// Score transcripts recorded elsewhere with detectors, and record them as a run.
    Import {
        /// A transcript file in the `peerpressure-transcripts/1` format (docs/import.md).
        file: PathBuf,
        /// Detector plugin: a name or a path. Repeatable.
        #[arg(long = "detector", short = 'd', required = true)]
        detectors: Vec<String>,
        /// Model that answers detectors' judge calls, `provider/model`.
        #[arg(long)]
        judge: Option<String>,
        #[arg(long, default_value = "peerpressure.db", env = "PEERPRESSURE_STORE")]
        store: PathBuf,
    },
    /// Export a run's trials for other tools: JSONL (whole trials) or CSV (findings).
    Export {
        /// Run id (default: the newest run in the store).
        run: Option<String>,
        #[arg(long, default_value = "peerpressure.db", env = "PEERPRESSURE_STORE")]
        store: PathBuf,
        #[arg(long, value_enum, default_value_t = ExportFormat::Jsonl)]
        format: ExportFormat,
        /// Which findings to export: `run` or a re-scoring's id.
        #[arg(long, default_value = RUN_SCORING)]
        scoring: String,
        /// File to write (default: standard output).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Copy the runs and trials of other stores (e.g. shards) into one store.
    Merge {
        /// The store to merge into (created if missing).
        into: PathBuf,
        /// Stores to copy from.
        #[arg(required = true)]
        from: Vec<PathBuf>,
    },
    /// Manage plugins.
    #[command(subcommand)]
    Plugin(PluginCommand),
}

/// What defines a run: its plugins, grid, models and settings.
#[derive(clap::Args)]
struct DefinitionArgs {
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
    /// Trials per grid cell (default: the set's, else 1).
    #[arg(long)]
    epochs: Option<u32>,
    /// Run seed; every trial's seed derives from it (default: the set's, else 0).
    #[arg(long)]
    seed: Option<u64>,
}

/// How this invocation runs: store, limits, selection, providers' HTTP behaviour.
#[derive(clap::Args)]
struct ExecArgs {
    /// SQLite file to record into (created if missing).
    #[arg(long, default_value = "peerpressure.db", env = "PEERPRESSURE_STORE")]
    store: PathBuf,
    /// Trials in flight at once.
    #[arg(long, default_value_t = 16)]
    max_trials: usize,
    /// Run at most this many of the planned trials (in grid order).
    #[arg(long)]
    limit: Option<usize>,
    /// Run only this trial. Repeatable.
    #[arg(long = "trial-id")]
    trial_ids: Vec<String>,
    /// Run shard K of N (1-based): a deterministic split of the grid by trial id.
    #[arg(long)]
    shard: Option<String>,
    /// Print the grid size, model calls and estimated cost, and stop before any call.
    #[arg(long)]
    dry_run: bool,
    /// Memory limit per plugin instance, MiB.
    #[arg(long, default_value_t = 256)]
    plugin_memory_mib: usize,
    /// Time limit per plugin call, seconds.
    #[arg(long, default_value_t = 30.0)]
    plugin_timeout: f64,
    /// Instruction budget per plugin call (deterministic, unlike the time limit). Off by default.
    #[arg(long)]
    plugin_fuel: Option<u64>,
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
    /// Stop scheduling new trials once this invocation has spent this many US dollars.
    #[arg(long)]
    cost_limit: Option<f64>,
    /// TOML file of model prices (US dollars per million tokens) over the built-in table.
    #[arg(long)]
    prices: Option<PathBuf>,
    /// Cache model answers on disk (keyed on the full request and the trial id).
    #[arg(long)]
    cache: bool,
    /// Print the report when the run finishes.
    #[arg(long)]
    report: bool,
}

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    Table,
    Markdown,
    Csv,
    Json,
    /// One self-contained page with plots and example transcripts (use --out FILE).
    Html,
}

#[derive(Clone, Copy, ValueEnum)]
enum NewKind {
    Detector,
    Scenario,
}

#[derive(Clone, Copy, ValueEnum)]
enum NewLang {
    Rust,
    Python,
    Js,
}

#[derive(Clone, Copy, PartialEq, ValueEnum)]
enum ExportFormat {
    /// One trial per line: spec, setup, transcript, world events and findings.
    Jsonl,
    /// One finding per row.
    Csv,
    /// Inspect's evaluation log (JSON), one file per scenario and model, into the --out directory.
    Inspect,
}

#[derive(clap::Args)]
struct ReportArgs {
    /// Run id (default: the newest run in the store).
    run: Option<String>,
    #[arg(long, default_value = "peerpressure.db", env = "PEERPRESSURE_STORE")]
    store: PathBuf,
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
    /// Compute the tables and contrasts of this plugin set instead of the run's own.
    #[arg(long)]
    set: Option<String>,
    /// Which findings to count: `run` (made while the run executed) or a re-scoring's id.
    #[arg(long, default_value = RUN_SCORING)]
    scoring: String,
    /// Also print every grid cell (always shown when the run declares no tables).
    #[arg(long)]
    cells: bool,
    /// Which trials the rates count: `decided` (positive + negative) or `all` scored trials,
    /// counting not-applicable ones as negatives, as the paper does.
    #[arg(long, value_enum, default_value_t = report::Denominator::Decided)]
    denominator: report::Denominator,
    /// Write the report to this file instead of standard output.
    #[arg(long)]
    out: Option<PathBuf>,
}

#[derive(Subcommand)]
enum PluginCommand {
    /// List the plugins found in the plugin search path.
    List,
    /// Check a plugin (a .wasm path or an http(s) URL) and install it as name@version.
    Install {
        /// Path or URL of the plugin's .wasm file.
        source: String,
        /// Refuse the plugin unless its SHA-256 is this.
        #[arg(long)]
        sha256: Option<String>,
    },
    /// Describe a plugin: kind, version, language, hash, behaviours, axes, reference agents.
    Info {
        /// A name, name@version, or path.
        plugin: String,
    },
    /// Scaffold a working, buildable plugin with a test, in ./NAME (or --dir).
    New {
        /// Plugin name: lowercase letters, digits, `-`, `_`.
        name: String,
        #[arg(long, value_enum)]
        kind: NewKind,
        #[arg(long, value_enum)]
        lang: NewLang,
        /// Directory to create (default: ./NAME).
        #[arg(long)]
        dir: Option<PathBuf>,
        /// The Rust SDK (sdk/rust of the PeerPressure sources), for Rust plugins.
        #[arg(long)]
        sdk_rust: Option<PathBuf>,
    },
    /// Remove an installed plugin.
    Remove {
        /// name@version (or the name, when one version is installed).
        plugin: String,
    },
    /// Conformance: run every reference agent of a scenario over its grid and check the
    /// verdicts it declares, with the detectors of a plugin set (or --detector).
    Test {
        /// Scenario plugin: a name or a path.
        scenario: String,
        /// Plugin set whose detectors score the trials.
        #[arg(long)]
        set: Option<String>,
        /// Detector plugin (instead of the set's). Repeatable.
        #[arg(long = "detector", short = 'd')]
        detectors: Vec<String>,
        /// Judge model for judge-based detectors; without one their expectations are skipped.
        #[arg(long)]
        judge: Option<String>,
        /// Narrow the grid: `axis=v1,v2`. Axes not named run over all their values. Repeatable.
        #[arg(long = "axis", short = 'A')]
        axes: Vec<String>,
        /// Trials per grid cell and agent.
        #[arg(long, default_value_t = 1)]
        epochs: u32,
        /// Keep the trials in this store (default: a temporary one, removed afterwards).
        #[arg(long)]
        store: Option<PathBuf>,
    },
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

fn bad(message: impl std::fmt::Display) -> anyhow::Error {
    input(anyhow::anyhow!("{message}"))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("starting the async runtime");
    match runtime.block_on(dispatch(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            if error.downcast_ref::<InputError>().is_some() {
                ExitCode::from(2)
            } else {
                ExitCode::from(1)
            }
        }
    }
}

async fn dispatch(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Run { definition, exec } => {
            // A store path that names a directory is refused before any work.
            peerpressure::store::check_not_a_directory(&exec.store).map_err(input)?;
            let runtime = Arc::new(
                Runtime::new(runtime_config(&exec))
                    .context("failed to start the plugin runtime")?,
            );
            let request = request_from_args(&runtime, definition, &exec).await?;
            execute(runtime, request, &exec).await
        }
        Command::Resume { run, exec } => {
            let store = open_existing(&exec.store)?;
            let record = store.run(run.as_deref()).map_err(input)?.ok_or_else(|| {
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
            let runtime = Arc::new(
                Runtime::new(runtime_config(&exec))
                    .context("failed to start the plugin runtime")?,
            );
            let request = request_from_spec(&runtime, spec, record.analysis.clone(), &exec).await?;
            if peerpressure::run::run_id(&request) != record.id {
                return Err(bad(format!(
                    "run {} cannot be rebuilt exactly from its record (its plugins or settings differ)",
                    record.id
                )));
            }
            execute(runtime, request, &exec).await
        }
        Command::Report(args) => {
            let store = open_for_reading(&args.store)?;
            let analysis = match &args.set {
                Some(arg) => Some(
                    plugin_set::locate(arg)
                        .and_then(|path| PluginSet::load(&path))
                        .map_err(bad)?
                        .analysis(),
                ),
                None => None,
            };
            let report = report::build_with(
                &store,
                args.run.as_deref(),
                &args.scoring,
                analysis.as_ref(),
                args.denominator,
            )
            .map_err(input)?;
            let text = match args.format {
                Format::Table => report::render_table(&report, args.cells),
                Format::Markdown => report::render_markdown(&report, args.cells),
                Format::Csv => report::render_csv(&report),
                Format::Json => format!(
                    "{}\n",
                    serde_json::to_string_pretty(&report).context("failed to encode the report")?
                ),
                Format::Html => {
                    let examples =
                        peerpressure::html_report::collect_examples(&store, &report, args.cells)
                            .context("failed to read example trials")?;
                    peerpressure::html_report::render(&report, &examples, args.cells)
                }
            };
            match &args.out {
                Some(path) => {
                    std::fs::write(path, text)
                        .with_context(|| format!("failed to write {}", path.display()))?;
                    eprintln!("wrote {}", path.display());
                }
                None => emit(&text)?,
            }
            Ok(())
        }
        Command::View { store, port } => {
            let opened = open_for_reading(&store)?;
            let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
                .await
                .with_context(|| format!("failed to listen on 127.0.0.1:{port}"))
                .map_err(input)?;
            let address = listener
                .local_addr()
                .context("failed to read the listening address")?;
            eprintln!(
                "PeerPressure viewer: http://{address}/ (store {}); stop with Ctrl-C",
                store.display()
            );
            peerpressure::viewer::Viewer::new(opened)
                .serve(listener)
                .await
                .context("the viewer stopped")?;
            Ok(())
        }
        Command::Runs { store } => {
            let store = open_for_reading(&store)?;
            for (id, created, trials) in store.runs().context("failed to list runs")? {
                let scorings: Vec<String> = store
                    .scorings(&id)
                    .context("failed to list scorings")?
                    .into_iter()
                    .map(|s| s.id)
                    .collect();
                let rescored = if scorings.is_empty() {
                    String::new()
                } else {
                    format!("  re-scorings: {}", scorings.join(", "))
                };
                println!("{id}  {created}  {trials} trials{rescored}");
            }
            Ok(())
        }
        Command::Rescore {
            run,
            detectors,
            judge,
            name,
            max_trials,
            store,
        } => {
            let store = open_existing(&store)?;
            let runtime = Runtime::new(RuntimeConfig::default())
                .context("failed to start the plugin runtime")?;
            let mut loaded = Vec::new();
            for d in &detectors {
                loaded.push(
                    load(&runtime, d, PluginKind::Detector)
                        .await
                        .with_context(|| format!("failed to load detector `{d}`"))?,
                );
            }
            let judge_client = match &judge {
                Some(model) => {
                    let providers = Providers::new(ProviderConfig::default()).map_err(bad)?;
                    Some(providers.resolve_judge(model).map_err(bad)?
                        as Arc<dyn peerpressure::model::Judge>)
                }
                None => None,
            };
            let request = peerpressure::rescore::RescoreRequest {
                run,
                detectors: loaded,
                judge_model: judge,
                judge: judge_client,
                name,
                command: std::env::args().collect::<Vec<_>>().join(" "),
                concurrency: max_trials,
            };
            let summary = peerpressure::rescore::rescore(&runtime, &store, request)
                .await
                .map_err(|e| match e {
                    peerpressure::rescore::RescoreError::Store(_) => anyhow::Error::new(e)
                        .context("the re-scoring stopped: findings could not be recorded"),
                    other => input(other),
                })?;
            eprintln!(
                "run {}: scoring {}: {} trial(s) scored, {} already scored; see it with: peerpressure report {} --scoring {}",
                summary.run_id,
                summary.scoring,
                summary.scored,
                summary.skipped,
                summary.run_id,
                summary.scoring
            );
            Ok(())
        }
        Command::Merge { into, from } => {
            for source in &from {
                if !source.is_file() {
                    return Err(bad(format!("store {} does not exist", source.display())));
                }
            }
            let target = Store::open(&into).map_err(input)?;
            for source in &from {
                let copied = peerpressure::store::merge(&target, source)
                    .with_context(|| format!("failed to merge {}", source.display()))?;
                eprintln!(
                    "{}: {copied} trial(s) copied into {}",
                    source.display(),
                    into.display()
                );
            }
            Ok(())
        }
        Command::Import {
            file,
            detectors,
            judge,
            store,
        } => {
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("failed to read {}", file.display()))
                .map_err(input)?;
            let runtime = Runtime::new(RuntimeConfig::default())
                .context("failed to start the plugin runtime")?;
            let mut loaded = Vec::new();
            for d in &detectors {
                loaded.push(
                    load(&runtime, d, PluginKind::Detector)
                        .await
                        .with_context(|| format!("failed to load detector `{d}`"))?,
                );
            }
            // Check the file before creating anything.
            peerpressure::import::parse(&text, "")
                .map_err(|e| bad(format!("{}: {e}", file.display())))?;
            let judge = match &judge {
                Some(model) => {
                    let providers = Providers::new(ProviderConfig::default()).map_err(bad)?;
                    Some((
                        model.clone(),
                        providers.resolve_judge(model).map_err(bad)?
                            as Arc<dyn peerpressure::model::Judge>,
                    ))
                }
                None => None,
            };
            let target = Store::open(&store).map_err(input)?;
            let command = std::env::args().collect::<Vec<_>>().join(" ");
            let summary = peerpressure::import::import(
                &runtime,
                &target,
                &text,
                &file.display().to_string(),
                &loaded,
                judge,
                &command,
            )
            .await
            .map_err(|e| match e {
                peerpressure::import::ImportError::Format(_) => input(e),
                other => anyhow::Error::new(other).context("failed to record the imported trials"),
            })?;
            eprintln!(
                "run {}: {} trial(s) imported and scored, {} already recorded; see them with: peerpressure report {} --store {}",
                summary.run_id,
                summary.trials,
                summary.skipped,
                summary.run_id,
                store.display()
            );
            Ok(())
        }
        Command::Export {
            run,
            store,
            format,
            scoring,
            out,
        } => {
            let store = open_for_reading(&store)?;
            let record = store.run(run.as_deref()).map_err(input)?.ok_or_else(|| {
                bad(format!(
                    "the store has no run {}",
                    run.as_deref().unwrap_or("yet")
                ))
            })?;
            if scoring != RUN_SCORING
                && !store
                    .scorings(&record.id)
                    .map_err(input)?
                    .iter()
                    .any(|s| s.id == scoring)
            {
                return Err(bad(format!(
                    "run {} has no scoring `{scoring}` (see: peerpressure runs)",
                    record.id
                )));
            }
            if format == ExportFormat::Inspect {
                // Inspect logs hold a scenario and model's samples in one JSON document.
                let trials = store
                    .trial_dumps(&record.id, &scoring)
                    .context("failed to read the run's trials")?;
                let dir = out.ok_or_else(|| bad("--format inspect writes one log per scenario and model: name a directory with --out DIR"))?;
                std::fs::create_dir_all(&dir)
                    .with_context(|| format!("failed to create {}", dir.display()))?;
                for (name, log) in peerpressure::inspect_log::logs(&record, &trials) {
                    let path = dir.join(&name);
                    std::fs::write(
                        &path,
                        serde_json::to_string(&log).context("failed to encode an Inspect log")?,
                    )
                    .with_context(|| format!("failed to write {}", path.display()))?;
                    eprintln!("wrote {}", path.display());
                }
                return Ok(());
            }
            // JSONL and CSV stream: one trial is read, written and dropped at a time.
            use std::io::Write;
            let sink: Box<dyn Write> = match &out {
                Some(path) => Box::new(
                    std::fs::File::create(path)
                        .with_context(|| format!("failed to write {}", path.display()))?,
                ),
                None => Box::new(std::io::stdout().lock()),
            };
            let mut sink = std::io::BufWriter::with_capacity(1 << 16, sink);
            let written = stream_export(
                &store,
                &record.id,
                &scoring,
                format == ExportFormat::Csv,
                &mut sink,
            )
            .and_then(|()| sink.flush().map_err(anyhow::Error::from));
            match written {
                // A reader that stops early (`| head`) ends the export quietly.
                Err(e)
                    if e.chain().any(|c| {
                        c.downcast_ref::<std::io::Error>()
                            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
                    }) =>
                {
                    std::process::exit(0)
                }
                other => other.with_context(|| match &out {
                    Some(path) => format!("failed to export to {}", path.display()),
                    None => "failed to export to standard output".to_string(),
                }),
            }
        }
        Command::Plugin(PluginCommand::List) => plugin_list().await,
        Command::Plugin(PluginCommand::Install { source, sha256 }) => {
            let dir = peerpressure::install::plugins_dir().map_err(input)?;
            let runtime = Runtime::new(RuntimeConfig::default())
                .context("failed to start the plugin runtime")?;
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
                Err(e) => Err(input(
                    anyhow::Error::new(e).context(format!("{source} was not installed")),
                )),
            }
        }
        Command::Plugin(PluginCommand::Info { plugin }) => plugin_info(&plugin).await,
        Command::Plugin(PluginCommand::New {
            name,
            kind,
            lang,
            dir,
            sdk_rust,
        }) => {
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
            let written = peerpressure::scaffold::scaffold(&name, lang, kind, &dir, &sdk).map_err(
                |e| match e {
                    peerpressure::scaffold::ScaffoldError::Write { .. } => anyhow::Error::new(e),
                    other => input(other),
                },
            )?;
            println!(
                "created {} ({} files): build with {}/build.sh, test with {}/test.sh",
                dir.display(),
                written.len(),
                dir.display(),
                dir.display()
            );
            Ok(())
        }
        Command::Plugin(PluginCommand::Remove { plugin }) => {
            let dir = peerpressure::install::plugins_dir().map_err(input)?;
            let removed = peerpressure::install::remove(&dir, &plugin).map_err(|e| match e {
                peerpressure::install::InstallError::Write { .. } => anyhow::Error::new(e),
                other => input(other),
            })?;
            println!("removed {} {}", removed.kind, removed.id());
            Ok(())
        }
        Command::Plugin(PluginCommand::Test {
            scenario,
            set,
            detectors,
            judge,
            axes,
            epochs,
            store,
        }) => plugin_test(scenario, set, detectors, judge, axes, epochs, store).await,
    }
}

/// `writeln!` into a report buffer (writing to a String cannot fail).
macro_rules! outln {
    ($out:expr, $($arg:tt)*) => {{
        use std::fmt::Write as _;
        let _ = writeln!($out, $($arg)*);
    }};
}

/// Writes to standard output; a closed pipe (`... | head`) ends the program quietly, as
/// ripgrep does, instead of panicking.
fn emit(text: &str) -> Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|_| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => std::process::exit(0),
        other => other.context("failed to write to standard output"),
    }
}

/// Opens a store that must already exist (reading commands never create one).
fn open_existing(path: &std::path::Path) -> Result<Store> {
    peerpressure::store::check_not_a_directory(path).map_err(input)?;
    if !path.is_file() {
        return Err(bad(format!(
            "the store {} does not exist: the store has no runs yet",
            path.display()
        )));
    }
    Store::open(path).map_err(input)
}

/// An existing store, for commands that only read it.
fn open_for_reading(path: &std::path::Path) -> Result<Store> {
    peerpressure::store::check_not_a_directory(path).map_err(input)?;
    if !path.is_file() {
        return Err(bad(format!(
            "the store {} does not exist: the store has no runs yet",
            path.display()
        )));
    }
    Store::open_read_only(path).map_err(input)
}

fn runtime_config(exec: &ExecArgs) -> RuntimeConfig {
    let mut config = RuntimeConfig::default();
    config.limits.memory_bytes = exec.plugin_memory_mib << 20;
    config.limits.call_timeout = std::time::Duration::from_secs_f64(exec.plugin_timeout);
    config.limits.fuel = exec.plugin_fuel;
    config.max_instances = (exec.max_trials as u32 * 4).max(64);
    config
}

async fn load(runtime: &Runtime, arg: &str, kind: PluginKind) -> Result<Arc<LoadedPlugin>> {
    let path = locate::locate(arg).map_err(bad)?;
    let plugin = runtime.load(&path).await.map_err(input)?;
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
        let dir = peerpressure::runtime::default_cache_dir()
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
    let providers =
        Arc::new(Providers::new(provider_config(exec, settings, per_model)?).map_err(bad)?);
    Ok(RunRequest {
        scenarios,
        detectors,
        models,
        axes,
        epochs: def
            .epochs
            .or(set.as_ref().and_then(|s| s.epochs))
            .unwrap_or(1),
        seed: def.seed.or(set.as_ref().and_then(|s| s.seed)).unwrap_or(0),
        max_trials: exec.max_trials,
        command: std::env::args().collect::<Vec<_>>().join(" "),
        providers: Some(providers),
        judge: def
            .judge
            .clone()
            .or(set.as_ref().and_then(|s| s.judge.clone())),
        cost_limit: exec.cost_limit,
        set: set
            .as_ref()
            .map(|s| format!("{} ({})", s.name, def.set.clone().unwrap_or_default())),
        selection: selection(exec)?,
        analysis: set.as_ref().map(PluginSet::analysis).unwrap_or_default(),
        grid_size: None,
    })
}

/// Rebuilds a run from its record; every plugin must still have the recorded hash.
async fn request_from_spec(
    runtime: &Runtime,
    spec: RunSpec,
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
    let providers = Arc::new(
        Providers::new(provider_config(
            exec,
            spec.settings.clone(),
            spec.per_model_settings.clone(),
        )?)
        .map_err(bad)?,
    );
    Ok(RunRequest {
        scenarios,
        detectors,
        models: spec.models.clone(),
        axes: AxisChoices(spec.axes.clone()),
        epochs: spec.epochs,
        seed: spec.seed,
        max_trials: exec.max_trials,
        command: std::env::args().collect::<Vec<_>>().join(" "),
        providers: Some(providers),
        judge: spec.judge.clone(),
        cost_limit: exec.cost_limit,
        set: spec.set.clone(),
        selection: selection(exec)?,
        analysis,
        grid_size: None,
    })
}

async fn execute(runtime: Arc<Runtime>, mut request: RunRequest, exec: &ExecArgs) -> Result<()> {
    // Plan before touching the store, so bad input leaves nothing behind.
    let planned = peerpressure::run::plan(&request).map_err(input)?;
    request.grid_size = Some(planned.len());
    let selected = request.selection.apply(planned).map_err(bad)?;
    if exec.dry_run {
        let recorded = if exec.store.is_file() {
            Store::open(&exec.store)
                .map_err(input)?
                .finished_trials(&peerpressure::run::run_id(&request))
                .map_err(input)?
        } else {
            Default::default()
        };
        let estimate = peerpressure::run::estimate(&runtime, &request, &selected, &recorded)
            .await
            .map_err(input)?;
        print!("{}", estimate.render(&peerpressure::run::run_id(&request)));
        return Ok(());
    }
    let store = Arc::new(Store::open(&exec.store).map_err(input)?);
    let interactive = std::io::stderr().is_terminal();
    eprintln!(
        "planned {} trial(s); recording into {}",
        selected.len(),
        exec.store.display()
    );
    let started = Instant::now();
    let first_done = std::sync::Mutex::new(None::<usize>);
    let show = move |p: &Progress| {
        if !interactive {
            return;
        }
        let base = *first_done.lock().expect("progress").get_or_insert(p.done);
        let ran = p.done - base;
        let eta = if ran > 0 {
            format!(
                "{:.0} s",
                started.elapsed().as_secs_f64() / ran as f64 * (p.total - p.done) as f64
            )
        } else {
            "?".into()
        };
        let width = 30;
        let filled = if p.total > 0 {
            p.done * width / p.total
        } else {
            width
        };
        eprint!(
            "\r[{}{}] {}/{} trials, {} errors, ETA {eta}, {} tokens, ${:.4}   ",
            "#".repeat(filled),
            " ".repeat(width - filled),
            p.done,
            p.total,
            p.errors,
            p.tokens,
            p.cost
        );
    };
    let summary = peerpressure::run::execute(runtime, store.clone(), request, selected, &show)
        .await
        .map_err(|e| match e {
            RunError::Plan(_) => input(e),
            RunError::Task(_) => anyhow::Error::new(e)
                .context("the run stopped: PeerPressure itself failed (please report it)"),
            RunError::Store(_) => {
                anyhow::Error::new(e).context("the run stopped: a trial could not be recorded")
            }
        })?;
    if interactive {
        eprintln!();
    }
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
        let report =
            report::build(&store, Some(&summary.run_id), RUN_SCORING, None).map_err(input)?;
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

/// One row per finding, with the trial's identity.
/// Writes a run's trials as JSONL, or its findings as CSV, trial by trial.
fn stream_export(
    store: &Store,
    run: &str,
    scoring: &str,
    csv: bool,
    sink: &mut dyn std::io::Write,
) -> Result<()> {
    if csv {
        sink.write_all(FINDINGS_CSV_HEADER.as_bytes())?;
    }
    let mut failed: Option<std::io::Error> = None;
    let read = store.for_each_trial_dump(run, scoring, |trial| {
        let written = if csv {
            sink.write_all(findings_csv_rows(run, &trial).as_bytes())
        } else {
            serde_json::to_writer(&mut *sink, &serde_json::json!({"run": run, "trial": trial}))
                .map_err(|e| {
                    e.io_error_kind()
                        .map_or_else(|| std::io::Error::other(e), std::io::Error::from)
                })
                .and_then(|()| sink.write_all(b"\n"))
        };
        // Stop reading at the first write that fails (a closed pipe, a full disk).
        written.map_err(|e| {
            let message = e.to_string();
            failed = Some(e);
            peerpressure::store::StoreError::Data {
                path: String::new(),
                message,
            }
        })
    });
    if let Some(e) = failed {
        return Err(e.into());
    }
    read.context("failed to read the run's trials")
}

const FINDINGS_CSV_HEADER: &str =
    "run,trial,scenario,model,axes,epoch,status,detector,behaviour,verdict,value,explanation\n";

/// One trial's findings as CSV rows.
fn findings_csv_rows(run: &str, t: &serde_json::Value) -> String {
    let field = |v: &serde_json::Value| {
        let text = match v {
            serde_json::Value::String(s) => s.clone(),
            serde_json::Value::Null => String::new(),
            other => other.to_string(),
        };
        if text.contains([',', '"', '\n']) {
            format!("\"{}\"", text.replace('"', "\"\""))
        } else {
            text
        }
    };
    let mut out = String::new();
    {
        let axes: Vec<String> = t["axes"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|a| {
                format!(
                    "{}={}",
                    a[0].as_str().unwrap_or(""),
                    a[1].as_str().unwrap_or("")
                )
            })
            .collect();
        for f in t["findings"].as_array().into_iter().flatten() {
            let row = [
                field(&run.into()),
                field(&t["id"]),
                field(&t["scenario"]),
                field(&t["model"]),
                field(&axes.join(";").into()),
                field(&t["epoch"]),
                field(&t["status"]),
                field(&f["detector"]),
                field(&f["behaviour"]),
                field(&f["verdict"]),
                field(&f["value"]),
                field(&f["explanation"]),
            ];
            out.push_str(&row.join(","));
            out.push('\n');
        }
    }
    out
}

async fn plugin_test(
    scenario: String,
    set: Option<String>,
    detectors: Vec<String>,
    judge: Option<String>,
    axes: Vec<String>,
    epochs: u32,
    store: Option<PathBuf>,
) -> Result<()> {
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
    let runtime = Arc::new(
        Runtime::new(RuntimeConfig::default()).context("failed to start the plugin runtime")?,
    );
    let scenario = load(&runtime, &scenario, PluginKind::Scenario)
        .await
        .with_context(|| format!("failed to load scenario `{scenario}`"))?;
    let mut loaded = Vec::new();
    for d in &detector_args {
        loaded.push(
            load(&runtime, d, PluginKind::Detector)
                .await
                .with_context(|| format!("failed to load detector `{d}`"))?,
        );
    }
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
    let store = Arc::new(Store::open(&path).map_err(input)?);
    let request = peerpressure::conformance::ConformanceRequest {
        scenario: scenario.clone(),
        detectors: loaded,
        axes: AxisChoices::parse(&axes).map_err(bad)?,
        epochs,
        judge: judge.clone(),
        providers: Some(providers),
    };
    let outcome = peerpressure::conformance::check(runtime, store, request).await;
    if let Some(dir) = temporary {
        let _ = std::fs::remove_dir_all(dir);
    }
    let results = outcome.map_err(|e| match e {
        peerpressure::conformance::ConformanceError::Store(_) => anyhow::Error::new(e),
        other => input(other),
    })?;
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

async fn plugin_list() -> Result<()> {
    let mut out = String::new();
    let runtime =
        Runtime::new(RuntimeConfig::default()).context("failed to start the plugin runtime")?;
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
                peerpressure::runtime::plugin_language(&bytes),
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

async fn plugin_info(arg: &str) -> Result<()> {
    let mut out = String::new();
    let runtime =
        Runtime::new(RuntimeConfig::default()).context("failed to start the plugin runtime")?;
    let path = locate::locate(arg).map_err(bad)?;
    let bytes = std::fs::read(&path)
        .with_context(|| format!("failed to read {}", path.display()))
        .map_err(input)?;
    let p = runtime.load_bytes(&path, &bytes).await.map_err(input)?;
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
        peerpressure::runtime::plugin_language(&bytes)
    );
    outln!(out, "sha256:    {}", p.sha256);
    outln!(out, "size:      {} bytes", p.size);
    outln!(out, "path:      {}", path.display());
    if let Ok(dir) = peerpressure::install::plugins_dir() {
        if let Ok(installed) = peerpressure::install::find(&dir, &p.id()) {
            if installed.sha256 == p.sha256 {
                outln!(
                    out,
                    "installed: {} from {}",
                    installed.installed_at,
                    installed.source
                );
            }
        }
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
