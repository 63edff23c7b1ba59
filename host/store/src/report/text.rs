//! The plain-text report: aligned tables, captions and the lines under them.

use super::*;

pub(super) fn percent(x: Option<f64>) -> String {
    x.map_or("-".to_string(), |v| format!("{:.1}%", v * 100.0))
}

/// Columns padded to a common width, with a rule under the header row.
pub(super) fn aligned(rows: &[Vec<String>]) -> String {
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
pub(super) fn show_cells(report: &Report, cells: bool) -> bool {
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

pub(super) fn read_text(read: Option<u64>) -> String {
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

/// The models, the generation settings each API model ran with, the judge, and the agent
/// CLI the models ran in.
pub(super) fn model_lines(run: &RunRecord) -> Vec<String> {
    let mut lines = vec![format!("Models: {}", run.models.join(", "))];
    for (model, settings) in &run.model_settings {
        lines.push(format!(
            "Settings of {model}: {}",
            serde_json::to_string(settings).unwrap_or_default()
        ));
    }
    lines.push(format!("Judge: {}", run.judge.as_deref().unwrap_or("none")));
    if let Some(h) = run.spec.as_ref().and_then(|s| s.harness.as_ref()) {
        lines.push(format!(
            "Agent CLI: {} {} (sha256 {}), in a bubblewrap sandbox",
            h.name,
            h.version,
            &h.sha256[..12.min(h.sha256.len())]
        ));
    }
    lines
}

/// Which findings the report counts, when they are a re-scoring's.
pub(super) fn scoring_line(report: &Report) -> Option<String> {
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

pub(super) fn totals_line(report: &Report) -> String {
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

pub(super) fn interval(c: &Cell) -> String {
    match (c.ci_low, c.ci_high) {
        (Some(lo), Some(hi)) => format!("[{}, {}]", percent(Some(lo)), percent(Some(hi))),
        _ => "-".into(),
    }
}

/// One line saying what a declared table shows.
pub(super) fn analysis_table_caption(table: &TableResult) -> String {
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

pub(super) fn contrast_caption(contrast: &ContrastResult) -> String {
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

pub(super) fn values_text(values: &crate::analysis::Values) -> String {
    match values {
        crate::analysis::Values::One(v) => v.clone(),
        crate::analysis::Values::Many(vs) => vs.join("|"),
    }
}

pub(super) fn p_text(p: Option<f64>) -> String {
    match p {
        None => "-".into(),
        Some(p) if p < 0.0001 => "<0.0001".into(),
        Some(p) => format!("{p:.4}"),
    }
}

pub(super) fn signed_points(x: Option<f64>) -> String {
    x.map_or("-".into(), |v| format!("{:+.1} pp", v * 100.0))
}

/// Header and rows of a declared table, and whether any row has a low n.
pub(super) fn analysis_table_rows(table: &TableResult) -> (Vec<Vec<String>>, bool) {
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

pub(super) fn contrast_rows(contrast: &ContrastResult) -> (Vec<Vec<String>>, bool) {
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
pub(super) fn value_contrast_rows(contrast: &ContrastResult) -> (Vec<Vec<String>>, bool) {
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
