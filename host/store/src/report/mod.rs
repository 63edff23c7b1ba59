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

mod formats;
mod text;

pub use formats::{render_csv, render_markdown};
pub use text::{contrast_table, denominator_line, engagement_line, render_table};
