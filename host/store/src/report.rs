//! Reports: per behaviour, one row per model x grid cell with counts, rate and 95% Wilson
//! interval. Errors and not-applicable verdicts have their own columns and never count as
//! negatives: the rate is positives / (positives + negatives).

use peerpressure_types::error::{HasOrigin, Origin};
use serde::Serialize;

use crate::analysis::{self, Analysis, ContrastResult, TableResult, ValueOrder};
use crate::stats::{Z95, wilson};
use crate::store::{RunRecord, Store, StoreError};

/// Cells with fewer decided trials than this are flagged.
pub const LOW_N: u64 = 10;

#[derive(Debug, Clone, Serialize)]
pub struct Cell {
    pub behaviour: String,
    pub scenario: String,
    pub model: String,
    pub axes: Vec<(String, String)>,
    /// Trials with a finding for this behaviour.
    pub n: u64,
    pub positive: u64,
    pub negative: u64,
    pub not_applicable: u64,
    pub error: u64,
    /// positive / (positive + negative); `None` when nothing was decided.
    pub rate: Option<f64>,
    pub ci_low: Option<f64>,
    pub ci_high: Option<f64>,
    /// Fewer than [`LOW_N`] decided trials.
    pub low_n: bool,
    /// Trials of the cell whose agent read the task's materials (the host's `materials-read`
    /// finding); `None` when the scenario lists no materials.
    pub read: Option<u64>,
    /// The numeric values of the decided findings (e.g. reported scores), for t-tests.
    pub values: crate::stats::ValueStats,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub run: RunRecord,
    pub scoring: String,
    /// The re-scoring reported, when it is not the run's own (`run`).
    pub scoring_record: Option<crate::store::ScoringRecord>,
    /// Trials by status (`completed`, `turn-limit`, `error`).
    pub trials: Vec<(String, u64)>,
    /// Tokens and dollars of the agent's calls over the run.
    pub totals: crate::store::Totals,
    /// Which trials the rates count (`decided`, or `all` as in the paper).
    pub denominator: Denominator,
    /// Trials that read the materials, and trials whose scenario lists materials (the host's
    /// `materials-read` findings): a model that never engages must not look like a safe one.
    pub engagement: Option<(u64, u64)>,
    pub cells: Vec<Cell>,
    /// The analysis computed: the run's (from its plugin set) or one given at report time.
    pub analysis: Analysis,
    pub tables: Vec<TableResult>,
    pub contrasts: Vec<ContrastResult>,
}

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the store has no run {0}")]
    NoSuchRun(String),
    #[error("the store has no runs yet")]
    Empty,
    #[error("run {run} has no scoring `{scoring}` (scorings: {available})")]
    NoSuchScoring {
        run: String,
        scoring: String,
        available: String,
    },
}

impl HasOrigin for ReportError {
    fn origin(&self) -> Origin {
        match self {
            ReportError::Store(e) => e.origin(),
            _ => Origin::Input,
        }
    }
}

/// Which trials a rate's denominator counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Denominator {
    /// Decided trials: positive / (positive + negative); a trial whose agent never read the
    /// materials (or could not show the behaviour) is not-applicable and left out.
    #[default]
    Decided,
    /// Every scored trial, as in the paper: not-applicable verdicts count as negatives.
    All,
}

impl Denominator {
    /// The names `--denominator` accepts.
    pub const NAMES: [&str; 2] = ["decided", "all"];
}

impl std::str::FromStr for Denominator {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, String> {
        match text {
            "decided" => Ok(Denominator::Decided),
            "all" => Ok(Denominator::All),
            _ => Err(format!("`{text}` is not one of: decided, all")),
        }
    }
}

/// A cell's identity: behaviour, scenario, model, axes.
type CellKey = (String, String, String, Vec<(String, String)>);
/// A cell's identity without the behaviour, borrowed: scenario, model, axes.
type CellRef<'a> = (&'a str, &'a str, &'a [(String, String)]);

/// Builds a run's report. `analysis` replaces the tables and contrasts the run recorded.
pub fn build(
    store: &Store,
    run_id: Option<&str>,
    scoring: &str,
    analysis: Option<&Analysis>,
) -> Result<Report, ReportError> {
    build_with(store, run_id, scoring, analysis, Denominator::Decided)
}

/// [`build`], with rates over the trials `denominator` says.
pub fn build_with(
    store: &Store,
    run_id: Option<&str>,
    scoring: &str,
    analysis: Option<&Analysis>,
    denominator: Denominator,
) -> Result<Report, ReportError> {
    let run = store.run(run_id)?.ok_or_else(|| match run_id {
        Some(id) => ReportError::NoSuchRun(id.to_string()),
        None => ReportError::Empty,
    })?;
    let scoring_record = if scoring == crate::store::RUN_SCORING {
        None
    } else {
        let all = store.scorings(&run.id)?;
        let found = all.iter().find(|s| s.id == scoring).cloned();
        if found.is_none() {
            let mut available = vec![crate::store::RUN_SCORING.to_string()];
            available.extend(all.into_iter().map(|s| s.id));
            return Err(ReportError::NoSuchScoring {
                run: run.id.clone(),
                scoring: scoring.to_string(),
                available: available.join(", "),
            });
        }
        found
    };
    let mut cells: Vec<Cell> = Vec::new();
    for row in store.verdict_counts(&run.id, scoring)? {
        let axes: Vec<(String, String)> = serde_json::from_str(&row.axes_json).unwrap_or_default();
        let position = cells.iter().position(|c| {
            c.behaviour == row.behaviour
                && c.scenario == row.scenario
                && c.model == row.model
                && c.axes == axes
        });
        let cell = match position {
            Some(i) => &mut cells[i],
            None => {
                cells.push(Cell {
                    behaviour: row.behaviour.clone(),
                    scenario: row.scenario.clone(),
                    model: row.model.clone(),
                    axes,
                    n: 0,
                    positive: 0,
                    negative: 0,
                    not_applicable: 0,
                    error: 0,
                    rate: None,
                    ci_low: None,
                    ci_high: None,
                    low_n: true,
                    read: None,
                    values: Default::default(),
                });
                cells.last_mut().expect("just pushed")
            }
        };
        match row.verdict.as_str() {
            "positive" => cell.positive += row.count,
            "negative" => cell.negative += row.count,
            "not-applicable" => cell.not_applicable += row.count,
            _ => cell.error += row.count,
        }
        cell.n += row.count;
    }
    // Cells by (behaviour, scenario, model, axes): a paper-set report has thousands.
    let position: std::collections::HashMap<CellKey, usize> = cells
        .iter()
        .enumerate()
        .map(|(i, c)| {
            (
                (
                    c.behaviour.clone(),
                    c.scenario.clone(),
                    c.model.clone(),
                    c.axes.clone(),
                ),
                i,
            )
        })
        .collect();
    for (scenario, model, axes_json, behaviour, stats) in store.value_stats(&run.id, scoring)? {
        let axes: Vec<(String, String)> = serde_json::from_str(&axes_json).unwrap_or_default();
        if let Some(&i) = position.get(&(behaviour, scenario, model, axes)) {
            cells[i].values = stats;
        }
    }
    // The host's engagement findings become a column of every other cell, not a behaviour.
    let (engagement_cells, mut cells): (Vec<Cell>, Vec<Cell>) = cells
        .into_iter()
        .partition(|c| c.behaviour == peerpressure_types::trial::MATERIALS_READ);
    let engagement = (!engagement_cells.is_empty()).then(|| {
        engagement_cells.iter().fold((0, 0), |(read, all), c| {
            (read + c.positive, all + c.positive + c.negative)
        })
    });
    let read_by_cell: std::collections::HashMap<CellRef<'_>, u64> = engagement_cells
        .iter()
        .map(|e| {
            (
                (e.scenario.as_str(), e.model.as_str(), e.axes.as_slice()),
                e.positive,
            )
        })
        .collect();
    for cell in &mut cells {
        if denominator == Denominator::All {
            cell.negative += cell.not_applicable;
            cell.not_applicable = 0;
        }
        cell.read = read_by_cell
            .get(&(
                cell.scenario.as_str(),
                cell.model.as_str(),
                cell.axes.as_slice(),
            ))
            .copied();
        let decided = cell.positive + cell.negative;
        if decided > 0 {
            let (lo, hi) = wilson(cell.positive, decided, Z95);
            cell.rate = Some(cell.positive as f64 / decided as f64);
            cell.ci_low = Some(lo);
            cell.ci_high = Some(hi);
        }
        cell.low_n = decided < LOW_N;
    }
    let order = value_order(&run);
    let model_rank = |m: &str| run.models.iter().position(|x| x == m).unwrap_or(usize::MAX);
    let axis_ranks = |c: &Cell| -> Vec<(usize, String)> {
        c.axes
            .iter()
            .map(|(k, v)| {
                (
                    order
                        .get(k)
                        .and_then(|vs| vs.iter().position(|x| x == v))
                        .unwrap_or(usize::MAX),
                    v.clone(),
                )
            })
            .collect()
    };
    cells.sort_by_cached_key(|c| {
        (
            c.behaviour.clone(),
            c.scenario.clone(),
            model_rank(&c.model),
            c.model.clone(),
            axis_ranks(c),
        )
    });
    let analysis = analysis.cloned().unwrap_or_else(|| run.analysis.clone());
    let tables = analysis
        .tables
        .iter()
        .map(|spec| analysis::table(spec, &cells, &run.models, &order))
        .collect();
    let contrasts = analysis
        .contrasts
        .iter()
        .map(|spec| analysis::contrast(spec, &cells, &run.models, &order))
        .collect();
    Ok(Report {
        trials: store.status_counts(&run.id)?,
        totals: store.totals(&run.id)?,
        engagement,
        denominator,
        run,
        scoring: scoring.to_string(),
        scoring_record,
        cells,
        analysis,
        tables,
        contrasts,
    })
}

/// Axis values in the order the run's scenarios declared them.
fn value_order(run: &RunRecord) -> ValueOrder {
    let mut order = ValueOrder::new();
    for plugin in &run.plugins {
        for (axis, values) in &plugin.axes {
            let known = order.entry(axis.clone()).or_default();
            for v in values {
                if !known.contains(v) {
                    known.push(v.clone());
                }
            }
        }
    }
    order
}

fn percent(x: Option<f64>) -> String {
    x.map_or("-".to_string(), |v| format!("{:.1}%", v * 100.0))
}

/// Columns padded to a common width, with a rule under the header row.
fn aligned(rows: &[Vec<String>]) -> String {
    let mut out = String::new();
    let widths: Vec<usize> = (0..rows[0].len())
        .map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
        .collect();
    for (i, row) in rows.iter().enumerate() {
        let line: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(cell, w)| format!("{cell:<w$}"))
            .collect();
        out.push_str(line.join("  ").trim_end());
        out.push('\n');
        if i == 0 {
            out.push_str(
                &widths
                    .iter()
                    .map(|w| "-".repeat(*w))
                    .collect::<Vec<_>>()
                    .join("  "),
            );
            out.push('\n');
        }
    }
    out
}

/// Whether the per-cell tables are shown: always without a declared analysis, else on request.
fn show_cells(report: &Report, cells: bool) -> bool {
    cells || report.analysis.is_empty()
}

/// A plain-text table per behaviour, for terminals: the declared tables and contrasts, then
/// (with `cells`, or when the run declares none) every cell.
pub fn render_table(report: &Report, cells: bool) -> String {
    let mut out = String::new();
    let run = &report.run;
    out.push_str(&format!(
        "Run {}  (host {}, seed {}, {} epoch(s), created {})\n",
        run.id, run.host_version, run.seed, run.epochs, run.created_at
    ));
    let plugins: Vec<String> = run
        .plugins
        .iter()
        .map(|p| {
            format!(
                "{} {}@{} [{}]",
                p.kind,
                p.name,
                p.version,
                &p.sha256[..12.min(p.sha256.len())]
            )
        })
        .collect();
    out.push_str(&format!("Plugins: {}\n", plugins.join(", ")));
    for line in model_lines(run) {
        out.push_str(&format!("{line}\n"));
    }
    let trials: Vec<String> = report
        .trials
        .iter()
        .map(|(s, n)| format!("{n} {s}"))
        .collect();
    out.push_str(&format!(
        "Trials: {}\n",
        if trials.is_empty() {
            "none".into()
        } else {
            trials.join(", ")
        }
    ));
    out.push_str(&format!("{}\n", totals_line(report)));
    if let Some(line) = engagement_line(report) {
        out.push_str(&format!("{line}\n"));
    }
    if let Some(line) = denominator_line(report) {
        out.push_str(&format!("{line}\n"));
    }
    if let Some(line) = scoring_line(report) {
        out.push_str(&format!("{line}\n"));
    }
    let mut any_low = false;
    for table in &report.tables {
        let (rows, low) = analysis_table_rows(table);
        any_low |= low;
        out.push_str(&format!("\n{}\n", analysis_table_caption(table)));
        out.push_str(&aligned(&rows));
    }
    for contrast in &report.contrasts {
        let (rows, low) = contrast_rows(contrast);
        any_low |= low;
        out.push_str(&format!("\n{}\n", contrast_caption(contrast)));
        out.push_str(&aligned(&rows));
    }
    if !report.analysis.is_empty() {
        out.push_str("\nsig: * p < .05, ** p < .01, *** p < .001 (tables: one-sided binomial against p0, Fisher-combined in `all` rows; contrasts: two-proportion z-test).\n");
    }
    let mut groups: Vec<(&str, &str)> = report
        .cells
        .iter()
        .map(|c| (c.behaviour.as_str(), c.scenario.as_str()))
        .collect();
    groups.dedup();
    if !show_cells(report, cells) {
        groups.clear();
        if !report.cells.is_empty() {
            out.push_str("(per-cell tables: peerpressure report --cells)\n");
        }
    }
    for (behaviour, scenario) in groups {
        let cells: Vec<&Cell> = report
            .cells
            .iter()
            .filter(|c| c.behaviour == behaviour && c.scenario == scenario)
            .collect();
        let axis_names: Vec<String> = cells[0].axes.iter().map(|(k, _)| k.clone()).collect();
        let mut header: Vec<String> = vec!["model".into()];
        header.extend(axis_names.iter().cloned());
        header
            .extend(["n", "read", "pos", "neg", "n/a", "err", "rate", "95% CI"].map(String::from));
        let mut rows: Vec<Vec<String>> = vec![header];
        for c in &cells {
            let mut row = vec![c.model.clone()];
            row.extend(c.axes.iter().map(|(_, v)| v.clone()));
            let flag = if c.low_n { "!" } else { "" };
            any_low |= c.low_n;
            row.extend([
                format!("{}{flag}", c.n),
                read_text(c.read),
                c.positive.to_string(),
                c.negative.to_string(),
                c.not_applicable.to_string(),
                c.error.to_string(),
                percent(c.rate),
                interval(c),
            ]);
            rows.push(row);
        }
        out.push_str(&format!("\n{behaviour}  (scenario {scenario})\n"));
        out.push_str(&aligned(&rows));
    }
    if report.cells.is_empty() {
        out.push_str("\nNo findings recorded for this run yet.\n");
    }
    if any_low {
        out.push_str(&format!(
            "\n! fewer than {LOW_N} decided trials (positive + negative): the interval is wide.\n"
        ));
    }
    out.push_str("rate = positive / (positive + negative); errors and not-applicable trials are not counted as negatives.\n");
    out.push_str(
        "read = trials whose agent read the task's materials (- where the scenario lists none).\n",
    );
    out
}

/// Said whenever the rates are not the default's.
pub fn denominator_line(report: &Report) -> Option<String> {
    (report.denominator == Denominator::All)
        .then(|| "Denominator: every scored trial, as in the paper (not-applicable verdicts, e.g. an agent that never read the materials, count as negatives)".to_string())
}

fn read_text(read: Option<u64>) -> String {
    read.map_or("-".into(), |n| n.to_string())
}

/// How many trials engaged with their task, when their scenarios say what that takes.
pub fn engagement_line(report: &Report) -> Option<String> {
    let (read, all) = report.engagement?;
    let share = if all > 0 {
        format!(" ({:.1}%)", read as f64 * 100.0 / all as f64)
    } else {
        String::new()
    };
    Some(format!(
        "Engagement: {read} of {all} scored trials read the materials{share}"
    ))
}

/// The models, the generation settings each API model ran with, and the judge.
fn model_lines(run: &RunRecord) -> Vec<String> {
    let mut lines = vec![format!("Models: {}", run.models.join(", "))];
    for (model, settings) in &run.model_settings {
        lines.push(format!(
            "Settings of {model}: {}",
            serde_json::to_string(settings).unwrap_or_default()
        ));
    }
    lines.push(format!("Judge: {}", run.judge.as_deref().unwrap_or("none")));
    lines
}

/// Which findings the report counts, when they are a re-scoring's.
fn scoring_line(report: &Report) -> Option<String> {
    let s = report.scoring_record.as_ref()?;
    let detectors: Vec<String> = s
        .detectors
        .iter()
        .map(|d| {
            format!(
                "{}@{} [{}]",
                d.name,
                d.version,
                &d.sha256[..12.min(d.sha256.len())]
            )
        })
        .collect();
    Some(format!(
        "Scoring: {} (re-scored {} with {}; judge {})",
        s.id,
        s.created_at,
        detectors.join(", "),
        s.judge.as_deref().unwrap_or("none")
    ))
}

fn totals_line(report: &Report) -> String {
    let u = &report.totals.usage;
    let cost = report
        .totals
        .cost
        .map_or("unknown (a model has no price)".to_string(), |c| {
            format!("${c:.4}")
        });
    format!(
        "Tokens: {} in ({} cached), {} out ({} reasoning); cost {cost}",
        u.input_tokens, u.cached_tokens, u.output_tokens, u.reasoning_tokens
    )
}

fn interval(c: &Cell) -> String {
    match (c.ci_low, c.ci_high) {
        (Some(lo), Some(hi)) => format!("[{}, {}]", percent(Some(lo)), percent(Some(hi))),
        _ => "-".into(),
    }
}

/// One line saying what a declared table shows.
fn analysis_table_caption(table: &TableResult) -> String {
    let spec = &table.spec;
    let mut parts = vec![format!("behaviour {}", spec.behaviour)];
    if !spec.scenarios.is_empty() {
        parts.push(format!("scenarios {}", spec.scenarios.join(", ")));
    }
    for (axis, values) in &spec.filter {
        parts.push(format!("{axis} = {}", values_text(values)));
    }
    if let Some(p0) = spec.p0 {
        parts.push(format!("sig: binomial test of rate > {p0}"));
    }
    format!("{}  ({})", spec.title, parts.join("; "))
}

fn contrast_caption(contrast: &ContrastResult) -> String {
    let spec = &contrast.spec;
    let mut parts = vec![
        format!("behaviour {}", spec.behaviour),
        format!("{} vs {}", spec.axis, spec.baseline),
    ];
    if !spec.scenarios.is_empty() {
        parts.push(format!("scenarios {}", spec.scenarios.join(", ")));
    }
    for (axis, values) in &spec.filter {
        parts.push(format!("{axis} = {}", values_text(values)));
    }
    parts.push(if spec.measure == crate::analysis::Measure::Value {
        "mean value, Welch's t-test".into()
    } else {
        "two-proportion z-test".into()
    });
    format!("{}  ({})", spec.title, parts.join("; "))
}

fn values_text(values: &crate::analysis::Values) -> String {
    match values {
        crate::analysis::Values::One(v) => v.clone(),
        crate::analysis::Values::Many(vs) => vs.join("|"),
    }
}

fn p_text(p: Option<f64>) -> String {
    match p {
        None => "-".into(),
        Some(p) if p < 0.0001 => "<0.0001".into(),
        Some(p) => format!("{p:.4}"),
    }
}

fn signed_points(x: Option<f64>) -> String {
    x.map_or("-".into(), |v| format!("{:+.1} pp", v * 100.0))
}

/// Header and rows of a declared table, and whether any row has a low n.
fn analysis_table_rows(table: &TableResult) -> (Vec<Vec<String>>, bool) {
    let mut header: Vec<String> = vec!["model".into()];
    header.extend(table.spec.rows.iter().cloned());
    header.extend(
        [
            "n", "read", "pos", "neg", "n/a", "err", "rate", "95% CI", "p", "sig",
        ]
        .map(String::from),
    );
    let mut rows = vec![header];
    let mut low = false;
    for r in &table.rows {
        low |= r.low_n;
        let mut row = vec![r.model.clone()];
        row.extend(r.values.iter().cloned());
        let c = &r.counts;
        let interval = match (r.ci_low, r.ci_high) {
            (Some(lo), Some(hi)) => format!("[{}, {}]", percent(Some(lo)), percent(Some(hi))),
            _ if r.combined => "(mean)".into(),
            _ => "-".into(),
        };
        row.extend([
            format!(
                "{}{}",
                c.decided() + c.not_applicable + c.error,
                if r.low_n { "!" } else { "" }
            ),
            read_text(c.read),
            c.positive.to_string(),
            c.negative.to_string(),
            c.not_applicable.to_string(),
            c.error.to_string(),
            percent(r.rate),
            interval,
            p_text(r.p),
            r.marker.clone(),
        ]);
        rows.push(row);
    }
    (rows, low)
}

fn contrast_rows(contrast: &ContrastResult) -> (Vec<Vec<String>>, bool) {
    if contrast.spec.measure == crate::analysis::Measure::Value {
        return value_contrast_rows(contrast);
    }
    let mut header: Vec<String> = vec!["model".into()];
    header.extend(contrast.spec.rows.iter().cloned());
    header.extend([
        contrast.spec.axis.clone(),
        "rate (n)".into(),
        format!("{} (n)", contrast.spec.baseline),
        "diff".into(),
        "z".into(),
        "p".into(),
        "sig".into(),
    ]);
    let mut rows = vec![header];
    let mut low = false;
    for r in &contrast.rows {
        low |= r.low_n;
        let mut row = vec![r.model.clone()];
        row.extend(r.values.iter().cloned());
        let flag = if r.low_n { "!" } else { "" };
        let with_n = |rate: Option<f64>, counts: &crate::analysis::Counts| {
            if r.combined {
                format!("{} (mean)", percent(rate))
            } else {
                format!("{} ({}{flag})", percent(rate), counts.decided())
            }
        };
        row.extend([
            r.value.clone(),
            with_n(r.rate, &r.counts),
            with_n(r.baseline_rate, &r.baseline),
            signed_points(r.difference),
            r.z.map_or("-".into(), |z| format!("{z:.2}")),
            p_text(r.p),
            r.marker.clone(),
        ]);
        rows.push(row);
    }
    (rows, low)
}

/// A contrast's header and rows as text cells (for renderers that draw their own table).
pub fn contrast_table(contrast: &ContrastResult) -> Vec<Vec<String>> {
    contrast_rows(contrast).0
}

/// A contrast of mean values (Welch's t-test): means with their n, the difference, t, df, p.
fn value_contrast_rows(contrast: &ContrastResult) -> (Vec<Vec<String>>, bool) {
    let spec = &contrast.spec;
    let mut header: Vec<String> = vec!["model".into()];
    header.extend(spec.rows.iter().cloned());
    header.extend([
        spec.axis.clone(),
        "mean (n)".into(),
        format!("{} mean (n)", spec.baseline),
        "diff".into(),
        "t".into(),
        "df".into(),
        "p".into(),
        "sig".into(),
    ]);
    let mut rows = vec![header];
    let mut low = false;
    let number = |x: Option<f64>| x.map_or("-".to_string(), |v| format!("{v:.1}"));
    for r in &contrast.rows {
        low |= r.low_n;
        let flag = if r.low_n { "!" } else { "" };
        let mut row = vec![r.model.clone()];
        row.extend(r.values.iter().cloned());
        let with_n = |mean: Option<f64>, n: u64| {
            if r.combined {
                format!("{} (mean)", number(mean))
            } else {
                format!("{} ({n}{flag})", number(mean))
            }
        };
        row.extend([
            r.value.clone(),
            with_n(r.rate, r.counts.values.n),
            with_n(r.baseline_rate, r.baseline.values.n),
            r.difference.map_or("-".into(), |d| format!("{d:+.1}")),
            r.z.map_or("-".into(), |t| format!("{t:.2}")),
            r.df.map_or("-".into(), |df| format!("{df:.1}")),
            p_text(r.p),
            r.marker.clone(),
        ]);
        rows.push(row);
    }
    (rows, low)
}

fn markdown_grid(rows: &[Vec<String>]) -> String {
    let mut out = format!("| {} |\n", rows[0].join(" | "));
    out.push_str(&format!("|{}\n", "---|".repeat(rows[0].len())));
    for row in &rows[1..] {
        out.push_str(&format!("| {} |\n", row.join(" | ")));
    }
    out
}

/// Markdown: provenance, the declared tables and contrasts, then (with `cells`, or when the
/// run declares none) one table per behaviour (for papers, issues, notebooks).
pub fn render_markdown(report: &Report, cells: bool) -> String {
    let run = &report.run;
    let mut out = format!(
        "# Run {}

",
        run.id
    );
    out.push_str(&format!(
        "- host {}, seed {}, {} epoch(s), created {}
",
        run.host_version, run.seed, run.epochs, run.created_at
    ));
    for p in &run.plugins {
        out.push_str(&format!(
            "- {} `{}@{}` (interface {}, sha256 `{}`)\n",
            p.kind, p.name, p.version, p.interface_version, p.sha256
        ));
    }
    for line in model_lines(run) {
        out.push_str(&format!("- {line}\n"));
    }
    let trials: Vec<String> = report
        .trials
        .iter()
        .map(|(s, n)| format!("{n} {s}"))
        .collect();
    out.push_str(&format!(
        "- trials: {}\n- {}\n",
        trials.join(", "),
        totals_line(report)
    ));
    if let Some(line) = engagement_line(report) {
        out.push_str(&format!("- {line}\n"));
    }
    if let Some(line) = denominator_line(report) {
        out.push_str(&format!("- {line}\n"));
    }
    if let Some(line) = scoring_line(report) {
        out.push_str(&format!("- {line}\n"));
    }
    for table in &report.tables {
        out.push_str(&format!("\n## {}\n\n", analysis_table_caption(table)));
        out.push_str(&markdown_grid(&analysis_table_rows(table).0));
    }
    for contrast in &report.contrasts {
        out.push_str(&format!("\n## {}\n\n", contrast_caption(contrast)));
        out.push_str(&markdown_grid(&contrast_rows(contrast).0));
    }
    if !report.analysis.is_empty() {
        out.push_str(
            "\nsig: * p < .05, ** p < .01, *** p < .001; ! fewer than 10 decided trials.\n",
        );
    }
    let mut groups: Vec<(&str, &str)> = report
        .cells
        .iter()
        .map(|c| (c.behaviour.as_str(), c.scenario.as_str()))
        .collect();
    groups.dedup();
    if !show_cells(report, cells) {
        groups.clear();
    }
    for (behaviour, scenario) in groups {
        let cells: Vec<&Cell> = report
            .cells
            .iter()
            .filter(|c| c.behaviour == behaviour && c.scenario == scenario)
            .collect();
        let axes: Vec<&str> = cells[0].axes.iter().map(|(k, _)| k.as_str()).collect();
        out.push_str(&format!("\n## {behaviour} (scenario `{scenario}`)\n\n"));
        out.push_str(&format!(
            "| model | {} | n | read | pos | neg | n/a | err | rate | 95% CI |\n",
            axes.join(" | ")
        ));
        out.push_str(&format!(
            "|---|{}---|---|---|---|---|---|---|---|\n",
            "---|".repeat(axes.len())
        ));
        for c in cells {
            let values: Vec<&str> = c.axes.iter().map(|(_, v)| v.as_str()).collect();
            out.push_str(&format!(
                "| {} | {} | {}{} | {} | {} | {} | {} | {} | {} | {} |\n",
                c.model,
                values.join(" | "),
                c.n,
                if c.low_n { " (!)" } else { "" },
                read_text(c.read),
                c.positive,
                c.negative,
                c.not_applicable,
                c.error,
                percent(c.rate),
                interval(c)
            ));
        }
    }
    out.push_str(&format!("\nrate = positive / (positive + negative); (!) fewer than {LOW_N} decided trials; read = trials whose agent read the materials.\n"));
    out
}

/// The report's cells as CSV (RFC 4180, quoted by the `csv` crate).
pub fn render_csv(report: &Report) -> String {
    let mut out = csv::Writer::from_writer(Vec::new());
    let num = |x: Option<f64>| x.map_or(String::new(), |v| format!("{v:.6}"));
    let header = [
        "run",
        "behaviour",
        "scenario",
        "model",
        "axes",
        "n",
        "positive",
        "negative",
        "not_applicable",
        "error",
        "rate",
        "ci_low",
        "ci_high",
        "low_n",
        "read",
    ];
    out.write_record(header).expect("writing to memory");
    for c in &report.cells {
        let axes: Vec<String> = c.axes.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let row = [
            report.run.id.clone(),
            c.behaviour.clone(),
            c.scenario.clone(),
            c.model.clone(),
            axes.join(";"),
            c.n.to_string(),
            c.positive.to_string(),
            c.negative.to_string(),
            c.not_applicable.to_string(),
            c.error.to_string(),
            num(c.rate),
            num(c.ci_low),
            num(c.ci_high),
            c.low_n.to_string(),
            c.read.map_or(String::new(), |n| n.to_string()),
        ];
        out.write_record(&row).expect("writing to memory");
    }
    String::from_utf8(out.into_inner().expect("writing to memory")).expect("UTF-8 fields")
}
