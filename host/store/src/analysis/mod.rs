//! Declared analyses: the tables and contrasts a plugin set asks for, computed over a run's
//! verdict counts.
//!
//! A table pools a behaviour's cells over every axis but the ones it keeps (`rows`), and can
//! mark each row with a one-sided binomial test against a small `p0` and add rows combining an
//! axis (`group`) with Fisher's method. A contrast compares the rate at each `compare` value of
//! an axis with the rate at its `baseline` value (pooled two-proportion z-test). Rates are
//! positive / (positive + negative), as everywhere in reports: errors and not-applicable
//! trials are counted and shown, never folded into the denominator.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::report::{Cell, LOW_N};
use crate::stats::{Z95, binomial_upper, fisher, marker, two_proportion_z, wilson};

/// What a plugin set declares under `[[table]]` and `[[contrast]]`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Analysis {
    #[serde(default)]
    pub tables: Vec<TableSpec>,
    #[serde(default)]
    pub contrasts: Vec<ContrastSpec>,
}

impl Analysis {
    pub fn is_empty(&self) -> bool {
        self.tables.is_empty() && self.contrasts.is_empty()
    }
}

/// Axis values to keep: one value or a list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Values {
    One(String),
    Many(Vec<String>),
}

impl Values {
    fn contains(&self, value: &str) -> bool {
        match self {
            Values::One(v) => v == value,
            Values::Many(vs) => vs.iter().any(|v| v == value),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TableSpec {
    pub title: String,
    pub behaviour: String,
    /// Scenario plugin names to include; empty for all.
    #[serde(default)]
    pub scenarios: Vec<String>,
    /// Axes kept as columns; the others are pooled.
    #[serde(default)]
    pub rows: Vec<String>,
    /// Only cells with these axis values.
    #[serde(default, rename = "where")]
    pub filter: BTreeMap<String, Values>,
    /// Marks rows with a one-sided binomial test of rate > p0.
    pub p0: Option<f64>,
    /// A kept axis to combine: adds rows with its values' mean rate and Fisher-combined p.
    pub group: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContrastSpec {
    pub title: String,
    pub behaviour: String,
    #[serde(default)]
    pub scenarios: Vec<String>,
    /// The axis whose values are compared, e.g. `condition`.
    pub axis: String,
    /// The reference value, e.g. `non_shutdown`.
    pub baseline: String,
    /// The values compared with it.
    pub compare: Vec<String>,
    /// Axes the compared rates are split by; the others are pooled.
    #[serde(default)]
    pub rows: Vec<String>,
    /// The subset of `rows` on which the baseline must agree (default: all of them). With
    /// `match = ["subject"]` the baseline is pooled over the other row axes, e.g. channels it
    /// was never run in.
    #[serde(default, rename = "match")]
    pub match_rows: Option<Vec<String>>,
    #[serde(default, rename = "where")]
    pub filter: BTreeMap<String, Values>,
    /// A row axis to combine: adds rows with the mean difference and Fisher-combined p.
    pub group: Option<String>,
    /// What is compared: `rate` (default; pooled two-proportion z-test) or `value`, the mean
    /// of the findings' numeric values (e.g. the reported score; Welch's t-test).
    #[serde(default, skip_serializing_if = "Measure::is_rate")]
    pub measure: Measure,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Measure {
    #[default]
    Rate,
    Value,
}

impl Measure {
    fn is_rate(&self) -> bool {
        *self == Measure::Rate
    }
}

/// Positive, negative, not-applicable and error counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Counts {
    pub positive: u64,
    pub negative: u64,
    pub not_applicable: u64,
    pub error: u64,
    /// Trials that read the task's materials; `None` where the scenarios list none.
    pub read: Option<u64>,
    /// Numeric values of the decided findings.
    pub values: crate::stats::ValueStats,
}

fn sum_read(a: Option<u64>, b: Option<u64>) -> Option<u64> {
    if a.is_none() && b.is_none() {
        None
    } else {
        Some(a.unwrap_or(0) + b.unwrap_or(0))
    }
}

impl Counts {
    fn add(&mut self, cell: &Cell) {
        self.positive += cell.positive;
        self.negative += cell.negative;
        self.not_applicable += cell.not_applicable;
        self.error += cell.error;
        self.read = sum_read(self.read, cell.read);
        self.values.add(&cell.values);
    }

    fn add_counts(&mut self, other: &Counts) {
        self.positive += other.positive;
        self.negative += other.negative;
        self.not_applicable += other.not_applicable;
        self.error += other.error;
        self.read = sum_read(self.read, other.read);
        self.values.add(&other.values);
    }

    pub fn decided(&self) -> u64 {
        self.positive + self.negative
    }

    pub fn rate(&self) -> Option<f64> {
        (self.decided() > 0).then(|| self.positive as f64 / self.decided() as f64)
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct TableRow {
    pub model: String,
    /// Values of the table's `rows` axes (`all` in a group row).
    pub values: Vec<String>,
    pub counts: Counts,
    pub rate: Option<f64>,
    pub ci_low: Option<f64>,
    pub ci_high: Option<f64>,
    /// Binomial p against p0, or the Fisher-combined p of a group row.
    pub p: Option<f64>,
    pub marker: String,
    pub low_n: bool,
    /// A row combining the group axis (mean rate of its values).
    pub combined: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct TableResult {
    pub spec: TableSpec,
    pub rows: Vec<TableRow>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ContrastRow {
    pub model: String,
    pub values: Vec<String>,
    /// The compared value of the contrast axis.
    pub value: String,
    pub counts: Counts,
    pub rate: Option<f64>,
    pub baseline: Counts,
    pub baseline_rate: Option<f64>,
    pub difference: Option<f64>,
    /// 95% Wald interval of the difference (unpooled variance), for plots.
    pub difference_ci: Option<(f64, f64)>,
    /// The z (rate) or t (value) statistic.
    pub z: Option<f64>,
    /// Welch–Satterthwaite degrees of freedom, for a value contrast.
    pub df: Option<f64>,
    pub p: Option<f64>,
    pub marker: String,
    pub low_n: bool,
    pub combined: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct ContrastResult {
    pub spec: ContrastSpec,
    pub rows: Vec<ContrastRow>,
}

/// The order axis values are shown in: the order the scenarios declared them.
pub type ValueOrder = BTreeMap<String, Vec<String>>;

fn rank(order: &ValueOrder, axis: &str, value: &str) -> usize {
    order
        .get(axis)
        .and_then(|vs| vs.iter().position(|v| v == value))
        .unwrap_or(usize::MAX)
}

fn axis_value<'a>(cell: &'a Cell, axis: &str) -> &'a str {
    cell.axes
        .iter()
        .find(|(k, _)| k == axis)
        .map_or("-", |(_, v)| v.as_str())
}

fn scenario_name(id: &str) -> &str {
    id.split('@').next().unwrap_or(id)
}

fn selected<'a>(
    cells: &'a [Cell],
    behaviour: &str,
    scenarios: &[String],
    filter: &BTreeMap<String, Values>,
) -> Vec<&'a Cell> {
    cells
        .iter()
        .filter(|c| c.behaviour == behaviour)
        .filter(|c| {
            scenarios.is_empty() || scenarios.iter().any(|s| s == scenario_name(&c.scenario))
        })
        .filter(|c| {
            filter
                .iter()
                .all(|(axis, values)| values.contains(axis_value(c, axis)))
        })
        .collect()
}

/// The sort key of a row: model order, then each value's declared position, a combined
/// (`all`) value right after the values it combines.
fn row_key(
    model: &str,
    values: &[String],
    keep: &[String],
    models: &[String],
    order: &ValueOrder,
) -> (usize, String, Vec<(usize, String)>) {
    let model_rank = models.iter().position(|x| x == model).unwrap_or(usize::MAX);
    let ranks = keep
        .iter()
        .zip(values)
        .map(|(axis, v)| {
            (
                if v == "all" {
                    usize::MAX
                } else {
                    rank(order, axis, v)
                },
                v.clone(),
            )
        })
        .collect();
    (model_rank, model.to_string(), ranks)
}

/// Sums cells by model and the values of `keep`, in model then declared value order.
fn pool(
    cells: &[&Cell],
    keep: &[String],
    models: &[String],
    order: &ValueOrder,
) -> Vec<(String, Vec<String>, Counts)> {
    let mut groups: Vec<(String, Vec<String>, Counts)> = Vec::new();
    for cell in cells {
        let values: Vec<String> = keep
            .iter()
            .map(|axis| axis_value(cell, axis).to_string())
            .collect();
        match groups
            .iter_mut()
            .find(|(m, v, _)| *m == cell.model && *v == values)
        {
            Some((_, _, counts)) => counts.add(cell),
            None => {
                let mut counts = Counts::default();
                counts.add(cell);
                groups.push((cell.model.clone(), values, counts));
            }
        }
    }
    groups.sort_by_cached_key(|(m, values, _)| row_key(m, values, keep, models, order));
    groups
}

pub fn table(
    spec: &TableSpec,
    cells: &[Cell],
    models: &[String],
    order: &ValueOrder,
) -> TableResult {
    let chosen = selected(cells, &spec.behaviour, &spec.scenarios, &spec.filter);
    let mut rows: Vec<TableRow> = pool(&chosen, &spec.rows, models, order)
        .into_iter()
        .map(|(model, values, counts)| {
            let decided = counts.decided();
            let ci = (decided > 0).then(|| wilson(counts.positive, decided, Z95));
            let p = spec
                .p0
                .filter(|_| decided > 0)
                .map(|p0| binomial_upper(counts.positive, decided, p0));
            TableRow {
                model,
                values,
                counts,
                rate: counts.rate(),
                ci_low: ci.map(|c| c.0),
                ci_high: ci.map(|c| c.1),
                p,
                marker: marker(p).to_string(),
                low_n: decided < LOW_N,
                combined: false,
            }
        })
        .collect();
    if let Some(position) = spec
        .group
        .as_ref()
        .and_then(|g| spec.rows.iter().position(|r| r == g))
    {
        let mut combined: Vec<TableRow> = Vec::new();
        for row in &rows {
            let mut key = row.values.clone();
            key[position] = "all".into();
            if combined
                .iter()
                .any(|c| c.model == row.model && c.values == key)
            {
                continue;
            }
            let members: Vec<&TableRow> = rows
                .iter()
                .filter(|r| {
                    r.model == row.model
                        && r.values
                            .iter()
                            .enumerate()
                            .all(|(i, v)| i == position || *v == key[i])
                })
                .collect();
            if members.len() < 2 {
                continue; // nothing to combine (e.g. a baseline run in one channel only)
            }
            let mut counts = Counts::default();
            for m in &members {
                counts.add_counts(&m.counts);
            }
            let rates: Vec<f64> = members.iter().filter_map(|m| m.rate).collect();
            let ps: Vec<f64> = members.iter().filter_map(|m| m.p).collect();
            let p = if spec.p0.is_some() { fisher(&ps) } else { None };
            combined.push(TableRow {
                model: row.model.clone(),
                values: key,
                counts,
                rate: (!rates.is_empty()).then(|| rates.iter().sum::<f64>() / rates.len() as f64),
                ci_low: None,
                ci_high: None,
                p,
                marker: marker(p).to_string(),
                low_n: counts.decided() < LOW_N,
                combined: true,
            });
        }
        rows.extend(combined);
        rows.sort_by_cached_key(|r| row_key(&r.model, &r.values, &spec.rows, models, order));
    }
    TableResult {
        spec: spec.clone(),
        rows,
    }
}

/// The 95% Wald interval of rate(a) - rate(b), clamped to [-1, 1].
fn difference_interval(a: &Counts, b: &Counts) -> Option<(f64, f64)> {
    let (pa, pb) = (a.rate()?, b.rate()?);
    let (na, nb) = (a.decided() as f64, b.decided() as f64);
    let half = Z95 * (pa * (1.0 - pa) / na + pb * (1.0 - pb) / nb).sqrt();
    Some(((pa - pb - half).max(-1.0), (pa - pb + half).min(1.0)))
}

pub fn contrast(
    spec: &ContrastSpec,
    cells: &[Cell],
    models: &[String],
    order: &ValueOrder,
) -> ContrastResult {
    let chosen = selected(cells, &spec.behaviour, &spec.scenarios, &spec.filter);
    let matched: Vec<String> = spec.match_rows.clone().unwrap_or_else(|| spec.rows.clone());
    let baseline_cells: Vec<&Cell> = chosen
        .iter()
        .copied()
        .filter(|c| axis_value(c, &spec.axis) == spec.baseline)
        .collect();
    let baselines = pool(&baseline_cells, &matched, models, order);
    let mut keep = spec.rows.clone();
    keep.push(spec.axis.clone());
    let compared: Vec<&Cell> = chosen
        .iter()
        .copied()
        .filter(|c| spec.compare.iter().any(|v| v == axis_value(c, &spec.axis)))
        .collect();
    // Which baseline a row of `rows` values is compared with: its values of the matched axes.
    let baseline_key = |values: &[String]| -> Vec<String> {
        matched
            .iter()
            .map(|axis| {
                spec.rows
                    .iter()
                    .position(|r| r == axis)
                    .map_or("-".to_string(), |i| values[i].clone())
            })
            .collect()
    };
    let mut rows: Vec<ContrastRow> = pool(&compared, &keep, models, order)
        .into_iter()
        .map(|(model, mut values, counts)| {
            let value = values.pop().unwrap_or_default();
            let key = baseline_key(&values);
            let baseline = baselines
                .iter()
                .find(|(m, v, _)| *m == model && *v == key)
                .map(|b| b.2)
                .unwrap_or_default();
            if spec.measure == Measure::Value {
                let test = crate::stats::welch_t(&counts.values, &baseline.values);
                return ContrastRow {
                    model,
                    values,
                    value,
                    rate: counts.values.mean(),
                    baseline_rate: baseline.values.mean(),
                    difference: counts
                        .values
                        .mean()
                        .zip(baseline.values.mean())
                        .map(|(a, b)| a - b),
                    difference_ci: None,
                    z: test.map(|t| t.t),
                    df: test.map(|t| t.df),
                    p: test.map(|t| t.p),
                    marker: marker(test.map(|t| t.p)).to_string(),
                    low_n: counts.values.n < LOW_N || baseline.values.n < LOW_N,
                    counts,
                    baseline,
                    combined: false,
                };
            }
            let test = two_proportion_z(
                (counts.positive, counts.decided()),
                (baseline.positive, baseline.decided()),
            );
            ContrastRow {
                model,
                values,
                value,
                rate: counts.rate(),
                baseline_rate: baseline.rate(),
                difference: counts.rate().zip(baseline.rate()).map(|(a, b)| a - b),
                difference_ci: difference_interval(&counts, &baseline),
                z: test.map(|t| t.z),
                df: None,
                p: test.map(|t| t.p),
                marker: marker(test.map(|t| t.p)).to_string(),
                low_n: counts.decided() < LOW_N || baseline.decided() < LOW_N,
                counts,
                baseline,
                combined: false,
            }
        })
        .collect();
    if let Some(position) = spec
        .group
        .as_ref()
        .and_then(|g| spec.rows.iter().position(|r| r == g))
    {
        let mut combined: Vec<ContrastRow> = Vec::new();
        for row in &rows {
            let mut key = row.values.clone();
            key[position] = "all".into();
            if combined
                .iter()
                .any(|c| c.model == row.model && c.values == key && c.value == row.value)
            {
                continue;
            }
            let members: Vec<&ContrastRow> = rows
                .iter()
                .filter(|r| {
                    r.model == row.model
                        && r.value == row.value
                        && r.values
                            .iter()
                            .enumerate()
                            .all(|(i, v)| i == position || *v == key[i])
                })
                .collect();
            if members.len() < 2 {
                continue;
            }
            let differences: Vec<f64> = members.iter().filter_map(|m| m.difference).collect();
            let p = fisher(&members.iter().filter_map(|m| m.p).collect::<Vec<_>>());
            let mut counts = Counts::default();
            for m in &members {
                counts.add_counts(&m.counts);
            }
            // The pooled baseline: each distinct baseline once (members that match on fewer
            // axes than the group share one).
            let mut baseline = Counts::default();
            let mut seen: Vec<Vec<String>> = Vec::new();
            for m in &members {
                let key = baseline_key(&m.values);
                if !seen.contains(&key) {
                    baseline.add_counts(&m.baseline);
                    seen.push(key);
                }
            }
            let mean =
                |xs: Vec<f64>| (!xs.is_empty()).then(|| xs.iter().sum::<f64>() / xs.len() as f64);
            combined.push(ContrastRow {
                model: row.model.clone(),
                values: key,
                value: row.value.clone(),
                rate: mean(members.iter().filter_map(|m| m.rate).collect()),
                baseline_rate: mean(members.iter().filter_map(|m| m.baseline_rate).collect()),
                difference: mean(differences),
                difference_ci: None,
                z: None,
                df: None,
                p,
                marker: marker(p).to_string(),
                low_n: members.iter().any(|m| m.low_n),
                counts,
                baseline,
                combined: true,
            });
        }
        rows.extend(combined);
        rows.sort_by_cached_key(|r| {
            let mut values = r.values.clone();
            values.push(r.value.clone());
            row_key(&r.model, &values, &keep, models, order)
        });
    }
    ContrastResult {
        spec: spec.clone(),
        rows,
    }
}

#[cfg(test)]
mod tests;
