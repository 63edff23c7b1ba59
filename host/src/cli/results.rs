//! Reading results: `report`, `runs`, `view`, `export` and `merge`. Every command here but
//! `merge` opens the store read-only.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::ValueEnum;
use peerpressure::plugin_set::{self, PluginSet};
use peerpressure::report;
use peerpressure::store::{RUN_SCORING, Store};

use super::common::{emit, open_for_reading};
use super::exit::{bad, input};

#[derive(clap::Args)]
pub struct ReportArgs {
    /// Run id (default: the newest run in the store).
    pub run: Option<String>,
    #[arg(long, default_value = "peerpressure.db", env = "PEERPRESSURE_STORE")]
    pub store: PathBuf,
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// Compute the tables and contrasts of this plugin set instead of the run's own.
    #[arg(long)]
    pub set: Option<String>,
    /// Which findings to count: `run` (made while the run executed) or a re-scoring's id.
    #[arg(long, default_value = RUN_SCORING)]
    pub scoring: String,
    /// Also print every grid cell (always shown when the run declares no tables).
    #[arg(long)]
    pub cells: bool,
    /// Which trials the rates count: `decided` (positive + negative) or `all` scored trials,
    /// counting not-applicable ones as negatives, as the paper does.
    #[arg(long, default_value = "decided",
        value_parser = clap::builder::TypedValueParser::map(clap::builder::PossibleValuesParser::new(report::Denominator::NAMES),
            |name| name.parse::<report::Denominator>().expect("a listed name")))]
    pub denominator: report::Denominator,
    /// Write the report to this file instead of standard output.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum Format {
    Table,
    Markdown,
    Csv,
    Json,
    /// One self-contained page with plots and example transcripts (use --out FILE).
    Html,
}

#[derive(Clone, Copy, PartialEq, ValueEnum)]
pub enum ExportFormat {
    /// One trial per line: spec, setup, transcript, world events and findings.
    Jsonl,
    /// One finding per row.
    Csv,
    /// Inspect's evaluation log (JSON), one file per scenario and model, into the --out directory.
    Inspect,
}

#[derive(clap::Args)]
pub struct ViewArgs {
    /// The store to show.
    #[arg(default_value = "peerpressure.db", env = "PEERPRESSURE_STORE")]
    pub store: PathBuf,
    /// Port on 127.0.0.1 (0: any free port; the address is printed).
    #[arg(long, default_value_t = 7878)]
    pub port: u16,
}

#[derive(clap::Args)]
pub struct RunsArgs {
    #[arg(long, default_value = "peerpressure.db", env = "PEERPRESSURE_STORE")]
    pub store: PathBuf,
}

#[derive(clap::Args)]
pub struct ExportArgs {
    /// Run id (default: the newest run in the store).
    pub run: Option<String>,
    #[arg(long, default_value = "peerpressure.db", env = "PEERPRESSURE_STORE")]
    pub store: PathBuf,
    #[arg(long, value_enum, default_value_t = ExportFormat::Jsonl)]
    pub format: ExportFormat,
    /// Which findings to export: `run` or a re-scoring's id.
    #[arg(long, default_value = RUN_SCORING)]
    pub scoring: String,
    /// File to write (default: standard output).
    #[arg(long)]
    pub out: Option<PathBuf>,
}

#[derive(clap::Args)]
pub struct MergeArgs {
    /// The store to merge into (created if missing).
    pub into: PathBuf,
    /// Stores to copy from.
    #[arg(required = true)]
    pub from: Vec<PathBuf>,
}

pub fn report(args: ReportArgs) -> Result<()> {
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
    )?;
    let text = match args.format {
        Format::Table => report::render_table(&report, args.cells),
        Format::Markdown => report::render_markdown(&report, args.cells),
        Format::Csv => report::render_csv(&report),
        Format::Json => format!(
            "{}\n",
            serde_json::to_string_pretty(&report).context("failed to encode the report")?
        ),
        Format::Html => {
            let examples = peerpressure::html_report::collect_examples(&store, &report, args.cells)
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

pub async fn view(args: ViewArgs) -> Result<()> {
    let ViewArgs { store, port } = args;
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

pub fn runs(args: RunsArgs) -> Result<()> {
    let RunsArgs { store } = args;
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

pub fn merge(args: MergeArgs) -> Result<()> {
    let MergeArgs { into, from } = args;
    for source in &from {
        if !source.is_file() {
            return Err(bad(format!("store {} does not exist", source.display())));
        }
    }
    let target = Store::open(&into)?;
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

pub fn export(args: ExportArgs) -> Result<()> {
    let ExportArgs {
        run,
        store,
        format,
        scoring,
        out,
    } = args;
    let store = open_for_reading(&store)?;
    let record = store.run(run.as_deref())?.ok_or_else(|| {
        bad(format!(
            "the store has no run {}",
            run.as_deref().unwrap_or("yet")
        ))
    })?;
    if scoring != RUN_SCORING && !store.scorings(&record.id)?.iter().any(|s| s.id == scoring) {
        return Err(bad(format!(
            "run {} has no scoring `{scoring}` (see: peerpressure runs)",
            record.id
        )));
    }
    if format == ExportFormat::Inspect {
        // Inspect logs hold a scenario and model's samples in one JSON document, whose header
        // (read before the samples) counts them: one pass counts, a second writes.
        let dir = out.ok_or_else(|| bad("--format inspect writes one log per scenario and model: name a directory with --out DIR"))?;
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("failed to create {}", dir.display()))?;
        let mut logs = peerpressure::inspect_log::InspectLogs::default();
        // The count needs no transcripts: the first pass reads a small part of the store.
        each_raw_trial(&store, &record.id, &scoring, false, |trial| {
            logs.count(&trial);
            Ok(())
        })?;
        let mut open = logs
            .create(&record, &dir)
            .with_context(|| format!("failed to create the logs in {}", dir.display()))?;
        each_trial(&store, &record.id, &scoring, |trial| open.write(&trial))
            .with_context(|| format!("failed to write the logs in {}", dir.display()))?;
        for path in open
            .finish()
            .with_context(|| format!("failed to write the logs in {}", dir.display()))?
        {
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

/// Writes a run's trials as JSONL, or its findings as CSV (one row per finding), trial by
/// trial: one trial is read, written and dropped at a time.
fn stream_export(
    store: &Store,
    run: &str,
    scoring: &str,
    csv: bool,
    sink: &mut dyn std::io::Write,
) -> Result<()> {
    if csv {
        let mut rows = csv::Writer::from_writer(sink);
        rows.write_record(FINDINGS_CSV_HEADER)?;
        each_trial(store, run, scoring, |trial| {
            write_findings(&mut rows, run, &trial)
        })?;
        rows.flush()?;
    } else {
        // The stored JSON (setups, worlds, tool calls) is written through as it is.
        #[derive(serde::Serialize)]
        struct Line<'a> {
            run: &'a str,
            trial: &'a peerpressure::store::TrialDump,
        }
        each_raw_trial(store, run, scoring, true, |trial| {
            serde_json::to_writer(&mut *sink, &Line { run, trial: &trial })
                .map_err(std::io::Error::from)?;
            sink.write_all(b"\n")
        })?;
    }
    Ok(())
}

/// Hands each trial of the run to `write` (without its worlds: no export that parses trials
/// shows them), and stops reading at the first write that fails (a closed pipe, a full
/// disk), returning that write's error.
fn each_trial(
    store: &Store,
    run: &str,
    scoring: &str,
    write: impl FnMut(serde_json::Value) -> std::io::Result<()>,
) -> Result<()> {
    stop_at_failed_write(write, |visit| {
        store.for_each_trial_dump(run, scoring, false, visit)
    })
}

/// [`each_trial`] with each trial's stored JSON unparsed.
fn each_raw_trial(
    store: &Store,
    run: &str,
    scoring: &str,
    contents: bool,
    write: impl FnMut(peerpressure::store::TrialDump) -> std::io::Result<()>,
) -> Result<()> {
    stop_at_failed_write(write, |visit| {
        store.for_each_raw_trial(run, scoring, contents, visit)
    })
}

/// Runs `read`, handing what it visits to `write`: the first write that fails stops the
/// read, and its error is returned.
fn stop_at_failed_write<T>(
    mut write: impl FnMut(T) -> std::io::Result<()>,
    read: impl FnOnce(
        &mut dyn FnMut(T) -> Result<(), peerpressure::store::StoreError>,
    ) -> Result<(), peerpressure::store::StoreError>,
) -> Result<()> {
    let mut failed: Option<std::io::Error> = None;
    let read = read(&mut |trial| {
        write(trial).map_err(|e| {
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

const FINDINGS_CSV_HEADER: [&str; 12] = [
    "run",
    "trial",
    "scenario",
    "model",
    "axes",
    "epoch",
    "status",
    "detector",
    "behaviour",
    "verdict",
    "value",
    "explanation",
];

/// One trial's findings as CSV rows, with the trial's identity on each.
fn write_findings<W: std::io::Write>(
    rows: &mut csv::Writer<W>,
    run: &str,
    t: &serde_json::Value,
) -> std::io::Result<()> {
    let field = |v: &serde_json::Value| match v {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Null => String::new(),
        other => other.to_string(),
    };
    let axes = peerpressure::store::dump_axes(t);
    let axes = axes.join(";");
    for f in t["findings"].as_array().into_iter().flatten() {
        rows.write_record([
            run.to_string(),
            field(&t["id"]),
            field(&t["scenario"]),
            field(&t["model"]),
            axes.clone(),
            field(&t["epoch"]),
            field(&t["status"]),
            field(&f["detector"]),
            field(&f["behaviour"]),
            field(&f["verdict"]),
            field(&f["value"]),
            field(&f["explanation"]),
        ])?;
    }
    Ok(())
}
