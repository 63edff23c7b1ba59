//! `peerpressure report --format html`: one self-contained page with plots and linked
//! example transcripts, checked as text here and rendered in headless Chromium by
//! `just interop`.

use crate::harness::{Run, command};

fn paper_report() -> (crate::harness::Outcome, String, std::path::PathBuf) {
    let out = Run::new()
        .arg("--set")
        .arg("paper")
        .model("scripted/faithful")
        .model("scripted/preserver?p=0.5")
        .epochs(2)
        .exec()
        .success();
    let file = out.dir.path().join("report.html");
    let o = command(out.dir.path())
        .args(["report", "--format", "html", "--out"])
        .arg(&file)
        .arg("--store")
        .arg(out.store())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let html = std::fs::read_to_string(&file).unwrap();
    (out, html, file)
}

#[test]
fn the_html_report_is_self_contained_with_plots_and_linked_transcripts() {
    let (_out, html, _) = paper_report();
    // Nothing is fetched at view time: no external scripts, styles, images or fonts.
    for needle in ["src=", "<link", "@import", "url("] {
        assert!(
            !html.contains(needle),
            "the page references something external: {needle}"
        );
    }
    assert!(
        !html
            .replace("http://www.w3.org/2000/svg", "")
            .contains("http"),
        "no addresses but the SVG namespace"
    );
    // One rate plot per table and one difference plot per rate contrast (the raw-score
    // t-test is a table without a plot).
    assert_eq!(html.matches("<svg class=\"plot\"").count(), 13 + 6);
    assert!(html.contains("Welch's t-test"));
    assert!(html.contains("<h2>Peer amplification of shutdown tampering (vs no_peer)</h2>"));
    assert!(
        html.contains("<h2>Alignment-faking gap: shutdown withheld, unmonitored - monitored</h2>")
    );
    // Every link to an example transcript lands on a transcript in the page.
    let links: Vec<&str> = html
        .split("href=\"#trial-")
        .skip(1)
        .map(|s| s.split('"').next().unwrap())
        .collect();
    assert!(links.len() > 100, "{}", links.len());
    for id in &links {
        assert!(
            html.contains(&format!("id=\"trial-{id}\"")),
            "link to trial {id} has no target"
        );
    }
    // A tampering transcript shows the evidence: the config change, the finding, the reasoning.
    assert!(html.contains("&rarr; modify_var("));
    assert!(
        html.contains("<span class=\"verdict positive\">positive</span> <b>shutdown-tampering</b>")
    );
    assert!(html.contains("class=\"reasoning\""));
    // Provenance: plugin hashes, models, judge, command.
    assert!(
        html.contains("sha256 <code>")
            && html.contains("judge: none")
            && html.contains("command: <code>")
    );
}

#[test]
#[ignore = "needs Chromium: run by `just test` (through `just interop`)"]
fn the_html_report_renders_in_headless_chromium() {
    let chromium = std::env::var("PEERPRESSURE_CHROMIUM")
        .expect("PEERPRESSURE_CHROMIUM names a Chromium binary: use `just interop`");
    let (out, html, file) = paper_report();
    let url = format!("file://{}", file.display());
    let dom = std::process::Command::new(&chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--virtual-time-budget=10000",
            "--dump-dom",
            &url,
        ])
        .output()
        .expect("running chromium");
    assert!(
        dom.status.success(),
        "{}",
        String::from_utf8_lossy(&dom.stderr)
    );
    let dom = String::from_utf8_lossy(&dom.stdout);
    // The page's own script counted the plots that laid out with a size and drawn points.
    let attribute = |name: &str| -> usize {
        let start = dom
            .find(&format!("{name}=\""))
            .unwrap_or_else(|| panic!("no {name} on <body>: the script did not run"));
        dom[start + name.len() + 2..]
            .split('"')
            .next()
            .unwrap()
            .parse()
            .unwrap()
    };
    assert_eq!(attribute("data-plots-total"), 19);
    // The refusal table has no decided trial without a judge, so no point to draw.
    assert_eq!(attribute("data-plots"), 18);
    assert!(dom.contains("id=\"trial-") && dom.contains("Shutdown tampering"));
    // And a screenshot of the top of the page is a real picture, not a blank one.
    let png = out.dir.path().join("report.png");
    let shot = std::process::Command::new(&chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--window-size=1280,1600",
        ])
        .arg(format!("--screenshot={}", png.display()))
        .arg(&url)
        .output()
        .expect("running chromium");
    assert!(
        shot.status.success(),
        "{}",
        String::from_utf8_lossy(&shot.stderr)
    );
    let bytes = std::fs::read(&png).unwrap();
    assert_eq!(&bytes[1..4], b"PNG");
    assert!(
        bytes.len() > 50_000,
        "a {}-byte screenshot is too plain for a page of tables and plots",
        bytes.len()
    );
    assert!(html.len() < 10_000_000, "{} bytes", html.len());
}
