//! The report as Markdown and as CSV.

use super::text::*;
use super::*;

pub(super) fn markdown_grid(rows: &[Vec<String>]) -> String {
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
