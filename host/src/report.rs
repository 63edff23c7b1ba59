//! Reports: per behaviour, one row per model x grid cell with counts, rate and 95% Wilson
//! interval. Errors and not-applicable verdicts have their own columns and never count as
//! negatives: the rate is positives / (positives + negatives).

use serde::Serialize;

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
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub run: RunRecord,
    pub scoring: String,
    /// Trials by status (`completed`, `turn-limit`, `error`).
    pub trials: Vec<(String, u64)>,
    pub cells: Vec<Cell>,
}

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the store has no run {0}")]
    NoSuchRun(String),
    #[error("the store has no runs yet")]
    Empty,
}

pub fn build(store: &Store, run_id: Option<&str>, scoring: &str) -> Result<Report, ReportError> {
    let run = store.run(run_id)?.ok_or_else(|| match run_id {
        Some(id) => ReportError::NoSuchRun(id.to_string()),
        None => ReportError::Empty,
    })?;
    let mut cells: Vec<Cell> = Vec::new();
    for row in store.verdict_counts(&run.id, scoring)? {
        let axes: Vec<(String, String)> = serde_json::from_str(&row.axes_json).unwrap_or_default();
        let position = cells.iter().position(|c| c.behaviour == row.behaviour && c.scenario == row.scenario && c.model == row.model && c.axes == axes);
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
    for cell in &mut cells {
        let decided = cell.positive + cell.negative;
        if decided > 0 {
            let (lo, hi) = wilson(cell.positive, decided, Z95);
            cell.rate = Some(cell.positive as f64 / decided as f64);
            cell.ci_low = Some(lo);
            cell.ci_high = Some(hi);
        }
        cell.low_n = decided < LOW_N;
    }
    let model_rank = |m: &str| run.models.iter().position(|x| x == m).unwrap_or(usize::MAX);
    cells.sort_by(|a, b| {
        (&a.behaviour, &a.scenario, model_rank(&a.model), &a.model, &a.axes).cmp(&(&b.behaviour, &b.scenario, model_rank(&b.model), &b.model, &b.axes))
    });
    Ok(Report { trials: store.status_counts(&run.id)?, run, scoring: scoring.to_string(), cells })
}

fn percent(x: Option<f64>) -> String {
    x.map_or("-".to_string(), |v| format!("{:.1}%", v * 100.0))
}

/// A plain-text table per behaviour, for terminals.
pub fn render_table(report: &Report) -> String {
    let mut out = String::new();
    let run = &report.run;
    out.push_str(&format!("Run {}  (host {}, seed {}, {} epoch(s), created {})\n", run.id, run.host_version, run.seed, run.epochs, run.created_at));
    let plugins: Vec<String> = run.plugins.iter().map(|p| format!("{} {}@{} [{}]", p.kind, p.name, p.version, &p.sha256[..12.min(p.sha256.len())])).collect();
    out.push_str(&format!("Plugins: {}\n", plugins.join(", ")));
    let trials: Vec<String> = report.trials.iter().map(|(s, n)| format!("{n} {s}")).collect();
    out.push_str(&format!("Trials: {}\n", if trials.is_empty() { "none".into() } else { trials.join(", ") }));
    let mut groups: Vec<(&str, &str)> = report.cells.iter().map(|c| (c.behaviour.as_str(), c.scenario.as_str())).collect();
    groups.dedup();
    let mut any_low = false;
    for (behaviour, scenario) in groups {
        let cells: Vec<&Cell> = report.cells.iter().filter(|c| c.behaviour == behaviour && c.scenario == scenario).collect();
        let axis_names: Vec<String> = cells[0].axes.iter().map(|(k, _)| k.clone()).collect();
        let mut header: Vec<String> = vec!["model".into()];
        header.extend(axis_names.iter().cloned());
        header.extend(["n", "pos", "neg", "n/a", "err", "rate", "95% CI"].map(String::from));
        let mut rows: Vec<Vec<String>> = vec![header];
        for c in &cells {
            let mut row = vec![c.model.clone()];
            row.extend(c.axes.iter().map(|(_, v)| v.clone()));
            let flag = if c.low_n { "!" } else { "" };
            any_low |= c.low_n;
            row.extend([
                format!("{}{flag}", c.n),
                c.positive.to_string(),
                c.negative.to_string(),
                c.not_applicable.to_string(),
                c.error.to_string(),
                percent(c.rate),
                match (c.ci_low, c.ci_high) {
                    (Some(lo), Some(hi)) => format!("[{}, {}]", percent(Some(lo)), percent(Some(hi))),
                    _ => "-".into(),
                },
            ]);
            rows.push(row);
        }
        let widths: Vec<usize> = (0..rows[0].len()).map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0)).collect();
        out.push_str(&format!("\n{behaviour}  (scenario {scenario})\n"));
        for (i, row) in rows.iter().enumerate() {
            let line: Vec<String> = row.iter().zip(&widths).map(|(cell, w)| format!("{cell:<w$}")).collect();
            out.push_str(line.join("  ").trim_end());
            out.push('\n');
            if i == 0 {
                out.push_str(&widths.iter().map(|w| "-".repeat(*w)).collect::<Vec<_>>().join("  "));
                out.push('\n');
            }
        }
    }
    if report.cells.is_empty() {
        out.push_str("\nNo findings recorded for this run yet.\n");
    }
    if any_low {
        out.push_str(&format!("\n! fewer than {LOW_N} decided trials (positive + negative): the interval is wide.\n"));
    }
    out.push_str("rate = positive / (positive + negative); errors and not-applicable trials are not counted as negatives.\n");
    out
}
