//! Inline SVG plots: forest plots of rates and of contrasts, per model colour.

use super::*;

/// One line of a forest plot: label, n, point, interval, colour.
pub(super) type ForestItem<'a> = (String, usize, Option<f64>, Option<(f64, f64)>, &'a str);

/// A forest plot: one line per item, a point and an interval on a linear axis.
pub(super) struct Forest<'a> {
    items: Vec<ForestItem<'a>>,
    domain: (f64, f64),
    ticks: &'a [f64],
    tick_label: fn(f64) -> String,
    zero_line: bool,
}

pub(super) fn forest(plot: &Forest<'_>) -> String {
    let (label_width, plot_width, row_height, top, bottom) = (330.0, 440.0, 16.0, 10.0, 28.0);
    let height = top + bottom + row_height * plot.items.len() as f64;
    let x =
        |v: f64| label_width + (v - plot.domain.0) / (plot.domain.1 - plot.domain.0) * plot_width;
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg class="plot" xmlns="http://www.w3.org/2000/svg" width="{w}" height="{height}" viewBox="0 0 {w} {height}" role="img">"#,
        w = label_width + plot_width + 70.0
    );
    for tick in plot.ticks {
        let tx = x(*tick);
        let _ = write!(
            svg,
            r##"<line x1="{tx}" y1="{top}" x2="{tx}" y2="{}" stroke="#ddd"/>"##,
            height - bottom
        );
        let _ = write!(
            svg,
            r##"<text x="{tx}" y="{}" font-size="10" text-anchor="middle" fill="#555">{}</text>"##,
            height - bottom + 14.0,
            (plot.tick_label)(*tick)
        );
    }
    if plot.zero_line {
        let zx = x(0.0);
        let _ = write!(
            svg,
            r##"<line x1="{zx}" y1="{top}" x2="{zx}" y2="{}" stroke="#333"/>"##,
            height - bottom
        );
    }
    for (i, (label, colour, point, interval, mark)) in plot.items.iter().enumerate() {
        let y = top + row_height * (i as f64 + 0.5);
        let colour = PALETTE[colour % PALETTE.len()];
        let _ = write!(
            svg,
            r##"<text x="{}" y="{}" font-size="10" text-anchor="end" fill="#222">{}</text>"##,
            label_width - 6.0,
            y + 3.5,
            esc(label)
        );
        if let Some((lo, hi)) = interval {
            let _ = write!(
                svg,
                r#"<line class="ci" x1="{}" y1="{y}" x2="{}" y2="{y}" stroke="{colour}" stroke-width="2"/>"#,
                x(*lo),
                x(*hi)
            );
        }
        if let Some(p) = point {
            let _ = write!(
                svg,
                r#"<circle class="point" cx="{}" cy="{y}" r="3.5" fill="{colour}"/>"#,
                x(*p)
            );
        }
        if !mark.is_empty() {
            let _ = write!(
                svg,
                r##"<text x="{}" y="{}" font-size="10" fill="#222">{}</text>"##,
                label_width + plot_width + 6.0,
                y + 3.5,
                esc(mark)
            );
        }
    }
    svg.push_str("</svg>");
    svg
}

pub(super) fn model_colours(report: &Report) -> HashMap<String, usize> {
    let mut colours: HashMap<String, usize> = report
        .run
        .models
        .iter()
        .enumerate()
        .map(|(i, m)| (m.clone(), i))
        .collect();
    for c in &report.cells {
        let next = colours.len();
        colours.entry(c.model.clone()).or_insert(next);
    }
    colours
}

pub(super) fn rate_plot(table: &TableResult, colours: &HashMap<String, usize>) -> String {
    let items = table
        .rows
        .iter()
        .filter(|r| !r.combined)
        .map(|r| {
            (
                format!("{}  {}", r.model, r.values.join(" / ")),
                colours.get(&r.model).copied().unwrap_or(0),
                r.rate,
                r.ci_low.zip(r.ci_high),
                r.marker.as_str(),
            )
        })
        .collect();
    forest(&Forest {
        items,
        domain: (0.0, 1.0),
        ticks: &[0.0, 0.25, 0.5, 0.75, 1.0],
        tick_label: |v| format!("{:.0}%", v * 100.0),
        zero_line: false,
    })
}

pub(super) fn contrast_plot(contrast: &ContrastResult, colours: &HashMap<String, usize>) -> String {
    let items = contrast
        .rows
        .iter()
        .filter(|r| !r.combined)
        .map(|r| {
            let mut label = vec![r.model.clone()];
            label.extend(r.values.iter().cloned());
            label.push(r.value.clone());
            (
                label.join("  "),
                colours.get(&r.model).copied().unwrap_or(0),
                r.difference,
                r.difference_ci,
                r.marker.as_str(),
            )
        })
        .collect();
    forest(&Forest {
        items,
        domain: (-1.0, 1.0),
        ticks: &[-1.0, -0.5, 0.0, 0.5, 1.0],
        tick_label: |v| format!("{:+.0} pp", v * 100.0),
        zero_line: true,
    })
}

pub(super) fn cells_plot(cells: &[&Cell], colours: &HashMap<String, usize>) -> String {
    let items = cells
        .iter()
        .map(|c| {
            let values: Vec<&str> = c.axes.iter().map(|(_, v)| v.as_str()).collect();
            (
                format!("{}  {}", c.model, values.join(" / ")),
                colours.get(&c.model).copied().unwrap_or(0),
                c.rate,
                c.ci_low.zip(c.ci_high),
                "",
            )
        })
        .collect();
    forest(&Forest {
        items,
        domain: (0.0, 1.0),
        ticks: &[0.0, 0.25, 0.5, 0.75, 1.0],
        tick_label: |v| format!("{:.0}%", v * 100.0),
        zero_line: false,
    })
}
