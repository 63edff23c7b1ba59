//! The HTML report: one self-contained file (no network at view time) with the provenance,
//! the tables, plots a researcher would otherwise draw by hand, and example transcripts
//! linked from each row.
//!
//! Plots are inline SVG: per table, each row's rate with its 95% interval; per contrast, each
//! difference with its 95% interval around zero (peer amplification, the alignment-faking
//! gap). A few lines of script only measure the plots after layout (`data-plots` on the
//! body), so a headless browser can check the page rendered.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write;

use serde_json::Value;

use crate::analysis::{ContrastResult, TableResult};
use crate::report::{Cell, Report};
use crate::store::{FindingIndexRow, Store, StoreError};

/// Example trials shown per row: one of each verdict, positives first.
const EXAMPLES_PER_ROW: usize = 2;
/// A cap on transcripts in one file, so a 100,000-trial run still gives a readable page.
const MAX_EXAMPLES: usize = 300;
/// Tool outputs and file contents are cut to this many characters in transcripts.
const CLIP: usize = 1500;

const PALETTE: &[&str] = &[
    "#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2",
];

fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn clip(text: &str) -> String {
    if text.chars().count() <= CLIP {
        return text.to_string();
    }
    let cut: String = text.chars().take(CLIP).collect();
    format!(
        "{cut}\n[... {} more characters]",
        text.chars().count() - CLIP
    )
}

fn percent(x: Option<f64>) -> String {
    x.map_or("-".into(), |v| format!("{:.1}%", v * 100.0))
}

/// Example trials for the report's rows, by anchor.
#[derive(Default)]
pub struct Examples {
    rows: HashMap<String, Vec<String>>,
    trials: BTreeMap<String, Value>,
}

/// A row a reader can click: its anchor and what its trials must match.
struct RowKey<'a> {
    anchor: String,
    behaviour: &'a str,
    scenarios: Vec<String>,
    model: &'a str,
    axes: Vec<(String, String)>,
}

fn axes_of(json: &str) -> Vec<(String, String)> {
    serde_json::from_str(json).unwrap_or_default()
}

fn table_anchor(t: usize, r: usize) -> String {
    format!("t{t}-r{r}")
}

fn cell_anchor(i: usize) -> String {
    format!("c{i}")
}

fn row_keys<'a>(report: &'a Report, cells: bool) -> Vec<RowKey<'a>> {
    let mut keys = Vec::new();
    for (ti, table) in report.tables.iter().enumerate() {
        for (ri, row) in table.rows.iter().enumerate().filter(|(_, r)| !r.combined) {
            let mut axes: Vec<(String, String)> = table
                .spec
                .rows
                .iter()
                .cloned()
                .zip(row.values.iter().cloned())
                .collect();
            axes.retain(|(_, v)| v != "-");
            keys.push(RowKey {
                anchor: table_anchor(ti, ri),
                behaviour: &table.spec.behaviour,
                scenarios: table.spec.scenarios.clone(),
                model: &row.model,
                axes,
            });
        }
    }
    if cells || report.analysis.is_empty() {
        for (i, c) in report.cells.iter().enumerate() {
            keys.push(RowKey {
                anchor: cell_anchor(i),
                behaviour: &c.behaviour,
                scenarios: vec![c.scenario.clone()],
                model: &c.model,
                axes: c.axes.clone(),
            });
        }
    }
    keys
}

fn matches(
    key: &RowKey<'_>,
    row: &FindingIndexRow,
    filter: &BTreeMap<String, crate::analysis::Values>,
) -> bool {
    if row.behaviour != key.behaviour || row.model != key.model {
        return false;
    }
    let name = row.scenario.split('@').next().unwrap_or("");
    if !key.scenarios.is_empty()
        && !key
            .scenarios
            .iter()
            .any(|s| s == &row.scenario || s == name)
    {
        return false;
    }
    let axes = axes_of(&row.axes_json);
    let value = |axis: &str| {
        axes.iter()
            .find(|(k, _)| k == axis)
            .map(|(_, v)| v.as_str())
    };
    key.axes.iter().all(|(k, v)| value(k) == Some(v.as_str()))
        && filter.iter().all(|(k, values)| {
            value(k).is_some_and(|v| match values {
                crate::analysis::Values::One(x) => x == v,
                crate::analysis::Values::Many(xs) => xs.iter().any(|x| x == v),
            })
        })
}

/// Picks example trials for every clickable row and loads them.
pub fn collect_examples(
    store: &Store,
    report: &Report,
    cells: bool,
) -> Result<Examples, StoreError> {
    let index = store.finding_index(&report.run.id, &report.scoring)?;
    let filters: HashMap<String, &BTreeMap<String, crate::analysis::Values>> = report
        .tables
        .iter()
        .enumerate()
        .flat_map(|(ti, t)| {
            t.rows
                .iter()
                .enumerate()
                .map(move |(ri, _)| (table_anchor(ti, ri), &t.spec.filter))
        })
        .collect();
    let empty = BTreeMap::new();
    let mut examples = Examples::default();
    let mut chosen: Vec<String> = Vec::new();
    for key in row_keys(report, cells) {
        if chosen.len() >= MAX_EXAMPLES {
            break;
        }
        let filter = filters.get(&key.anchor).copied().unwrap_or(&empty);
        let mut picked: Vec<String> = Vec::new();
        for verdict in ["positive", "negative", "error", "not-applicable"] {
            if picked.len() >= EXAMPLES_PER_ROW {
                break;
            }
            if let Some(row) = index
                .iter()
                .find(|r| r.verdict == verdict && matches(&key, r, filter))
            {
                picked.push(row.trial.clone());
            }
        }
        chosen.extend(picked.iter().cloned());
        examples.rows.insert(key.anchor, picked);
    }
    chosen.sort();
    chosen.dedup();
    for dump in store.trial_dumps_of(&report.run.id, &report.scoring, &chosen)? {
        if let Some(id) = dump["id"].as_str() {
            examples.trials.insert(id.to_string(), dump);
        }
    }
    Ok(examples)
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:2em;max-width:1200px;color:#222}
table{border-collapse:collapse;margin:.5em 0 1.5em;font-size:13px}td,th{border:1px solid #ccc;padding:2px 6px;text-align:left}
th{background:#f3f3f3}tr.combined td{font-style:italic;background:#fafafa}.low{color:#b00}
.verdict{padding:0 4px;border-radius:3px;font-size:12px}.positive{background:#fdd}.negative{background:#dfd}.error{background:#fe9}.not-applicable{background:#eee}
.msg{border-left:3px solid #ccc;margin:.4em 0;padding:.2em .6em}.msg.assistant{border-color:#1f77b4}.msg.tool{border-color:#999}.msg.error{border-color:#d62728}
.role{font-size:11px;color:#666}.reasoning{font-style:italic;color:#555;white-space:pre-wrap}pre{white-space:pre-wrap;margin:.2em 0;font-size:12px}
pre.call{color:#1f4f8f}.trial{border-top:2px solid #888;margin-top:2em}.meta{color:#555;font-size:13px}";

/// Renders the report as one self-contained HTML page.
pub fn render(report: &Report, examples: &Examples, cells: bool) -> String {
    let run = &report.run;
    let colours = model_colours(report);
    let mut out = String::new();
    let _ = write!(
        out,
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>PeerPressure run {}</title><style>{STYLE}</style></head><body>",
        esc(&run.id)
    );
    let _ = write!(
        out,
        "<h1>Run {}</h1><ul class=\"provenance\">",
        esc(&run.id)
    );
    let _ = write!(
        out,
        "<li>host {}, seed {}, {} epoch(s), created {}</li>",
        esc(&run.host_version),
        run.seed,
        run.epochs,
        esc(&run.created_at)
    );
    for p in &run.plugins {
        let _ = write!(
            out,
            "<li>{} <code>{}@{}</code> (interface {}, sha256 <code>{}</code>)</li>",
            esc(&p.kind),
            esc(&p.name),
            esc(&p.version),
            esc(&p.interface_version),
            esc(&p.sha256)
        );
    }
    let _ = write!(out, "<li>models: {}</li>", esc(&run.models.join(", ")));
    for (model, settings) in &run.model_settings {
        let _ = write!(
            out,
            "<li>settings of {}: <code>{}</code></li>",
            esc(model),
            esc(&serde_json::to_string(settings).unwrap_or_default())
        );
    }
    let _ = write!(
        out,
        "<li>judge: {}</li>",
        esc(run.judge.as_deref().unwrap_or("none"))
    );
    if let Some(set) = &run.set {
        let _ = write!(out, "<li>plugin set: {}</li>", esc(set));
    }
    let trials: Vec<String> = report
        .trials
        .iter()
        .map(|(s, n)| format!("{n} {s}"))
        .collect();
    let u = &report.totals.usage;
    let _ = write!(
        out,
        "<li>trials: {}</li><li>tokens: {} in ({} cached), {} out ({} reasoning); cost {}</li>",
        esc(&trials.join(", ")),
        u.input_tokens,
        u.cached_tokens,
        u.output_tokens,
        u.reasoning_tokens,
        report
            .totals
            .cost
            .map_or("unknown".to_string(), |c| format!("${c:.4}"))
    );
    for line in [
        crate::report::engagement_line(report),
        crate::report::denominator_line(report),
    ]
    .into_iter()
    .flatten()
    {
        let _ = write!(out, "<li>{}</li>", esc(&line));
    }
    let _ = write!(
        out,
        "<li>scoring: {}</li><li>command: <code>{}</code></li></ul>",
        esc(&report.scoring),
        esc(&run.command)
    );
    out.push_str("<p>rate = positive / (positive + negative), with its 95% Wilson interval; errors and not-applicable trials have their own columns and never count as negatives. <span class=\"low\">!</span> marks fewer than 10 decided trials. sig: * p &lt; .05, ** p &lt; .01, *** p &lt; .001. Links in the last column open example transcripts.</p>");

    for (ti, table) in report.tables.iter().enumerate() {
        let _ = write!(
            out,
            "<h2>{}</h2><p>behaviour <code>{}</code>",
            esc(&table.spec.title),
            esc(&table.spec.behaviour)
        );
        if let Some(p0) = table.spec.p0 {
            let _ = write!(out, "; one-sided binomial test of rate &gt; {p0}");
        }
        out.push_str("</p>");
        out.push_str(&rate_plot(table, &colours));
        out.push_str("<table><tr><th>model</th>");
        for axis in &table.spec.rows {
            let _ = write!(out, "<th>{}</th>", esc(axis));
        }
        out.push_str("<th>n</th><th>read</th><th>pos</th><th>neg</th><th>n/a</th><th>err</th><th>rate</th><th>95% CI</th><th>p</th><th>sig</th><th>examples</th></tr>");
        for (ri, r) in table.rows.iter().enumerate() {
            let c = &r.counts;
            let _ = write!(
                out,
                "<tr id=\"{}\"{}><td>{}</td>",
                table_anchor(ti, ri),
                if r.combined {
                    " class=\"combined\""
                } else {
                    ""
                },
                esc(&r.model)
            );
            for v in &r.values {
                let _ = write!(out, "<td>{}</td>", esc(v));
            }
            let interval = match (r.ci_low, r.ci_high) {
                (Some(lo), Some(hi)) => format!("[{}, {}]", percent(Some(lo)), percent(Some(hi))),
                _ if r.combined => "(mean)".into(),
                _ => "-".into(),
            };
            let _ = write!(
                out,
                "<td>{}{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                c.decided() + c.not_applicable + c.error,
                if r.low_n {
                    " <span class=\"low\">!</span>"
                } else {
                    ""
                },
                c.read.map_or("-".into(), |n| n.to_string()),
                c.positive,
                c.negative,
                c.not_applicable,
                c.error,
                percent(r.rate),
                interval,
                r.p.map_or("-".into(), |p| format!("{p:.4}")),
                esc(&r.marker),
                example_links(examples, &table_anchor(ti, ri))
            );
        }
        out.push_str("</table>");
    }
    for contrast in &report.contrasts {
        let spec = &contrast.spec;
        if spec.measure == crate::analysis::Measure::Value {
            // Mean values (e.g. reported scores): the same rows as the text report.
            let _ = write!(
                out,
                "<h2>{}</h2><p>behaviour <code>{}</code>: mean value, {} vs <code>{}</code>, Welch's t-test.</p><table>",
                esc(&spec.title),
                esc(&spec.behaviour),
                esc(&spec.axis),
                esc(&spec.baseline)
            );
            let rows = crate::report::contrast_table(contrast);
            for (i, row) in rows.iter().enumerate() {
                let cell = if i == 0 { "th" } else { "td" };
                out.push_str("<tr>");
                for v in row {
                    let _ = write!(out, "<{cell}>{}</{cell}>", esc(v));
                }
                out.push_str("</tr>");
            }
            out.push_str("</table>");
            continue;
        }
        let _ = write!(
            out,
            "<h2>{}</h2><p>behaviour <code>{}</code>: {} vs <code>{}</code>, pooled two-proportion z-test; the plot shows each difference with its 95% interval.</p>",
            esc(&spec.title),
            esc(&spec.behaviour),
            esc(&spec.axis),
            esc(&spec.baseline)
        );
        out.push_str(&contrast_plot(contrast, &colours));
        out.push_str("<table><tr><th>model</th>");
        for axis in &spec.rows {
            let _ = write!(out, "<th>{}</th>", esc(axis));
        }
        let _ = write!(
            out,
            "<th>{}</th><th>rate (n)</th><th>{} (n)</th><th>diff</th><th>z</th><th>p</th><th>sig</th></tr>",
            esc(&spec.axis),
            esc(&spec.baseline)
        );
        for r in &contrast.rows {
            let _ = write!(
                out,
                "<tr{}><td>{}</td>",
                if r.combined {
                    " class=\"combined\""
                } else {
                    ""
                },
                esc(&r.model)
            );
            for v in &r.values {
                let _ = write!(out, "<td>{}</td>", esc(v));
            }
            let n = |rate: Option<f64>, decided: u64| {
                if r.combined {
                    format!("{} (mean)", percent(rate))
                } else {
                    format!("{} ({decided})", percent(rate))
                }
            };
            let _ = write!(
                out,
                "<td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(&r.value),
                n(r.rate, r.counts.decided()),
                n(r.baseline_rate, r.baseline.decided()),
                r.difference
                    .map_or("-".into(), |d| format!("{:+.1} pp", d * 100.0)),
                r.z.map_or("-".into(), |z| format!("{z:.2}")),
                r.p.map_or("-".into(), |p| format!("{p:.4}")),
                esc(&r.marker)
            );
        }
        out.push_str("</table>");
    }
    if cells || report.analysis.is_empty() {
        let mut groups: Vec<(&str, &str)> = report
            .cells
            .iter()
            .map(|c| (c.behaviour.as_str(), c.scenario.as_str()))
            .collect();
        groups.dedup();
        for (behaviour, scenario) in groups {
            let indexed: Vec<(usize, &Cell)> = report
                .cells
                .iter()
                .enumerate()
                .filter(|(_, c)| c.behaviour == behaviour && c.scenario == scenario)
                .collect();
            let _ = write!(
                out,
                "<h2>{} <small>(scenario {})</small></h2>",
                esc(behaviour),
                esc(scenario)
            );
            out.push_str(&cells_plot(
                &indexed.iter().map(|(_, c)| *c).collect::<Vec<_>>(),
                &colours,
            ));
            out.push_str("<table><tr><th>model</th>");
            for (axis, _) in &indexed[0].1.axes {
                let _ = write!(out, "<th>{}</th>", esc(axis));
            }
            out.push_str("<th>n</th><th>read</th><th>pos</th><th>neg</th><th>n/a</th><th>err</th><th>rate</th><th>95% CI</th><th>examples</th></tr>");
            for (i, c) in indexed {
                let _ = write!(
                    out,
                    "<tr id=\"{}\"><td>{}</td>",
                    cell_anchor(i),
                    esc(&c.model)
                );
                for (_, v) in &c.axes {
                    let _ = write!(out, "<td>{}</td>", esc(v));
                }
                let interval = match (c.ci_low, c.ci_high) {
                    (Some(lo), Some(hi)) => {
                        format!("[{}, {}]", percent(Some(lo)), percent(Some(hi)))
                    }
                    _ => "-".into(),
                };
                let _ = write!(
                    out,
                    "<td>{}{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{interval}</td><td>{}</td></tr>",
                    c.n,
                    if c.low_n {
                        " <span class=\"low\">!</span>"
                    } else {
                        ""
                    },
                    c.read.map_or("-".into(), |n| n.to_string()),
                    c.positive,
                    c.negative,
                    c.not_applicable,
                    c.error,
                    percent(c.rate),
                    example_links(examples, &cell_anchor(i))
                );
            }
            out.push_str("</table>");
        }
    }
    if !examples.trials.is_empty() {
        let _ = write!(
            out,
            "<h2>Example transcripts</h2><p>{} trial(s): for each row, one trial per verdict it has (positive first), up to {EXAMPLES_PER_ROW}.</p>",
            examples.trials.len()
        );
        for t in examples.trials.values() {
            out.push_str(&transcript(t));
        }
    }
    // Measures every plot after layout, so a headless browser can tell the page rendered.
    out.push_str("<script>window.addEventListener('load',function(){var n=0;document.querySelectorAll('svg.plot').forEach(function(s){var b=s.getBoundingClientRect();if(b.width>0&&b.height>0&&s.querySelectorAll('circle.point').length>0)n++;});document.body.setAttribute('data-plots',String(n));document.body.setAttribute('data-plots-total',String(document.querySelectorAll('svg.plot').length));});</script>");
    out.push_str("</body></html>\n");
    out
}

mod plots;
mod transcript;

use plots::*;
use transcript::*;
