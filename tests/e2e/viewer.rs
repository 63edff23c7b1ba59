//! `peerpressure view`: the JSON API, and a browser session (Chromium through WebDriver)
//! that watches a run catch up live, clicks into a positive trial, sees the evidence and
//! compares two trials side by side.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};

use serde_json::{Value, json};

use crate::harness::{Outcome, Run, command};

/// A running viewer, stopped when dropped.
pub(crate) struct ViewerProcess {
    child: Child,
    pub(crate) address: String,
}

impl ViewerProcess {
    pub(crate) fn start(out: &Outcome) -> Self {
        let mut child = command(out.dir.path())
            .args(["view", "--port", "0"])
            .arg(out.store())
            .stderr(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stderr.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let address = line
            .split("http://")
            .nth(1)
            .and_then(|s| s.split('/').next())
            .unwrap_or_else(|| panic!("no address in {line:?}"))
            .to_string();
        assert!(address.starts_with("127.0.0.1:"), "{address}");
        ViewerProcess { child, address }
    }
}

impl Drop for ViewerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A plain HTTP/1.1 request; returns (status, body). Reads exactly `content-length` bytes:
/// chromedriver keeps connections open.
fn http(address: &str, method: &str, target: &str, body: Option<&str>) -> (u16, String) {
    let mut stream = TcpStream::connect(address).unwrap();
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(60)))
        .unwrap();
    let body = body.unwrap_or("");
    write!(stream, "{method} {target} HTTP/1.1\r\nhost: {address}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}", body.len()).unwrap();
    let mut reader = BufReader::new(stream);
    let mut status_line = String::new();
    reader.read_line(&mut status_line).unwrap();
    let status = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let mut length = None;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap() == 0 || line.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':')
            && name.trim().eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse::<usize>().ok();
        }
    }
    let mut raw = Vec::new();
    match length {
        Some(n) => {
            raw.resize(n, 0);
            reader.read_exact(&mut raw).unwrap();
        }
        None => {
            reader.read_to_end(&mut raw).unwrap();
        }
    }
    (status, String::from_utf8_lossy(&raw).into_owned())
}

fn get(address: &str, target: &str) -> Value {
    let (status, body) = http(address, "GET", target, None);
    assert_eq!(status, 200, "{target}: {body}");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("{target}: {e}: {body}"))
}

fn demo_run() -> Outcome {
    demo_args(Run::new()).exec().success()
}

/// The viewer tests' run: the paper set's tampering and exfiltration, on a small grid.
fn demo_args(run: Run) -> Run {
    run.arg("--set")
        .arg("paper")
        .scenario("tampering")
        .scenario("exfiltration")
        .axis("condition=no_peer,good_peer")
        .axis("channel=all")
        .axis("subject=all")
        .model("scripted/faithful")
        .model("scripted/preserver?p=0.5")
        .epochs(3)
}

#[test]
fn the_viewer_api_serves_runs_reports_filtered_pages_and_trials() {
    let out = demo_run();
    let viewer = ViewerProcess::start(&out);
    let a = &viewer.address;
    let runs = get(a, "/api/runs");
    let run = &runs[0];
    let id = run["id"].as_str().unwrap();
    let recorded: u64 = out.rows("SELECT COUNT(*) FROM trials")[0][0]
        .parse()
        .unwrap();
    assert_eq!(
        (run["trials"].as_u64(), run["grid_size"].as_u64()),
        (Some(recorded), Some(recorded)),
        "progress: all of the grid is recorded"
    );
    assert_eq!(
        run["models"],
        json!(["scripted/faithful", "scripted/preserver?p=0.5"])
    );
    let report = get(a, &format!("/api/runs/{id}/report"));
    assert!(
        report["tables"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["spec"]["behaviour"] == "shutdown-tampering")
    );
    // Filters agree with the store.
    let expected: u64 = out.rows(
        "SELECT COUNT(DISTINCT t.id) FROM trials t JOIN findings f ON f.trial_id = t.id WHERE f.behaviour = 'shutdown-tampering' AND f.verdict = 'positive' AND t.axes_json LIKE '%[\"channel\",\"memory\"]%'",
    )[0][0]
    .parse()
    .unwrap();
    assert!(expected > 0);
    let page = get(
        a,
        &format!(
            "/api/runs/{id}/trials?behaviour=shutdown-tampering&verdict=positive&axis=channel%3Dmemory&per_page=5"
        ),
    );
    assert_eq!(page["total"].as_u64(), Some(expected));
    let rows = page["trials"].as_array().unwrap();
    assert_eq!(rows.len() as u64, expected.min(5));
    for row in rows {
        assert!(
            row["verdicts"]
                .as_array()
                .unwrap()
                .contains(&json!(["shutdown-tampering", "positive"])),
            "{row}"
        );
        assert!(
            row["axes"]
                .as_array()
                .unwrap()
                .contains(&json!(["channel", "memory"])),
            "{row}"
        );
    }
    // Paging walks the whole list once.
    let all = get(
        a,
        &format!("/api/runs/{id}/trials?model=scripted%2Ffaithful&per_page=100"),
    );
    let total = all["total"].as_u64().unwrap();
    let mut seen = std::collections::HashSet::new();
    for p in 1..=total.div_ceil(40) {
        for t in get(
            a,
            &format!("/api/runs/{id}/trials?model=scripted%2Ffaithful&per_page=40&page={p}"),
        )["trials"]
            .as_array()
            .unwrap()
        {
            assert!(seen.insert(t["id"].as_str().unwrap().to_string()));
        }
    }
    assert_eq!(seen.len() as u64, total);
    let errors = get(a, &format!("/api/runs/{id}/trials?status=error"));
    assert_eq!(errors["total"], 0);
    // One trial: transcript, world events with before/after, findings with evidence.
    let trial_id = rows[0]["id"].as_str().unwrap();
    let trial = get(a, &format!("/api/runs/{id}/trials/{trial_id}"));
    assert!(trial["messages"].as_array().unwrap().len() > 5);
    let finding = trial["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["behaviour"] == "shutdown-tampering")
        .unwrap();
    assert_eq!(finding["verdict"], "positive");
    let event = finding["evidence"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "event")
        .unwrap();
    let changed = &trial["events"][event["index"].as_u64().unwrap() as usize];
    assert!(
        changed["before"].as_str().unwrap().contains("true")
            && changed["after"].as_str().unwrap().contains("false"),
        "{changed}"
    );
    // Errors are answered with a status and a message.
    assert_eq!(http(a, "GET", "/api/runs/nope/trials", None).0, 404);
    assert_eq!(
        http(a, "GET", &format!("/api/runs/{id}/trials/nope"), None).0,
        404
    );
    assert_eq!(http(a, "GET", "/api/nothing", None).0, 404);
    assert_eq!(http(a, "POST", "/api/runs", Some("{}")).0, 405);
    // The page and its assets come from the binary and reference nothing remote.
    for asset in ["/", "/app.js", "/app.css"] {
        let (status, body) = http(a, "GET", asset, None);
        assert_eq!(status, 200);
        assert!(
            !body.contains("https://") && !body.contains("http://cdn"),
            "{asset} references the network"
        );
    }
}

/// Reads one response from a kept-alive connection: (status, headers, body).
fn read_response(reader: &mut BufReader<TcpStream>) -> (u16, Vec<(String, String)>, Vec<u8>) {
    let mut status_line = String::new();
    reader.read_line(&mut status_line).unwrap();
    let status = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap() == 0 || line.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            headers.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
        }
    }
    let header = |name: &str| headers.iter().find(|(n, _)| n == name).map(|(_, v)| v);
    let mut body = Vec::new();
    if header("transfer-encoding").is_some_and(|v| v.contains("chunked")) {
        loop {
            let mut size = String::new();
            reader.read_line(&mut size).unwrap();
            let size = usize::from_str_radix(size.trim(), 16).unwrap();
            let mut chunk = vec![0; size + 2];
            reader.read_exact(&mut chunk).unwrap();
            if size == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..size]);
        }
    } else {
        let length: usize = header("content-length")
            .and_then(|v| v.parse().ok())
            .expect("a length or chunks on every answer");
        body.resize(length, 0);
        reader.read_exact(&mut body).unwrap();
    }
    (status, headers, body)
}

#[test]
fn trials_whose_ids_need_escaping_open_over_one_kept_alive_compressed_connection() {
    // Imported transcripts keep their own ids: spaces, `:`, `/`, `#`, `?` and `%` included.
    let awkward = "session 7: tampered/run #1?50%";
    let source = tempfile::tempdir().unwrap();
    let mut transcripts: Value = serde_json::from_str(
        &std::fs::read_to_string(
            crate::harness::workspace().join("docs/examples/transcripts.json"),
        )
        .unwrap(),
    )
    .unwrap();
    transcripts["trials"][0]["id"] = json!(awkward);
    let file = source.path().join("transcripts.json");
    std::fs::write(&file, transcripts.to_string()).unwrap();
    let dir = std::sync::Arc::new(tempfile::tempdir().unwrap());
    let imported = command(dir.path())
        .arg("import")
        .arg(&file)
        .args(["--detector", "tampering-detector", "--store", "store.db"])
        .output()
        .unwrap();
    assert!(
        imported.status.success(),
        "{}",
        String::from_utf8_lossy(&imported.stderr)
    );
    let out = Outcome {
        dir,
        code: 0,
        stdout: String::new(),
        stderr: String::new(),
    };
    let viewer = ViewerProcess::start(&out);
    let a = &viewer.address;
    let run = get(a, "/api/runs")[0]["id"].as_str().unwrap().to_string();

    let stream = TcpStream::connect(a).unwrap();
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(60)))
        .unwrap();
    let mut writer = stream.try_clone().unwrap();
    let mut reader = BufReader::new(stream);
    let mut ask = |target: &str, extra: &str| {
        write!(writer, "GET {target} HTTP/1.1\r\nhost: {a}\r\n{extra}\r\n").unwrap();
        read_response(&mut reader)
    };
    // The id, percent-encoded as a browser's encodeURIComponent does, opens the trial.
    let encoded: String = awkward
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect();
    let (status, _, body) = ask(&format!("/api/runs/{run}/trials/{encoded}"), "");
    let body = String::from_utf8_lossy(&body);
    assert_eq!(status, 200, "{body}");
    let trial: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(trial["id"], awkward);
    // The same connection answers again (keep-alive), gzipped when asked.
    let (status, headers, body) = ask("/app.js", "accept-encoding: gzip\r\n");
    assert_eq!(status, 200);
    assert!(
        headers.contains(&("content-encoding".into(), "gzip".into())),
        "{headers:?}"
    );
    assert_eq!(&body[..2], &[0x1f, 0x8b], "a gzip stream");
    // Browsers ask for an icon: it is there, so no page logs a 404.
    let (status, headers, _) = ask("/favicon.ico", "");
    assert_eq!(status, 200);
    assert!(headers.contains(&("content-type".into(), "image/svg+xml".into())));
    let (status, _, body) = ask("/index.html", "");
    assert_eq!(status, 200);
    assert!(String::from_utf8_lossy(&body).contains("rel=\"icon\""));
}

/// The W3C WebDriver protocol, just what the test needs.
pub(crate) struct Browser {
    driver: Child,
    address: String,
    session: String,
}

impl Browser {
    pub(crate) fn start(chromedriver: &str, chromium: &str) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let driver = Command::new(chromedriver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting chromedriver");
        let address = format!("127.0.0.1:{port}");
        for _ in 0..100 {
            if TcpStream::connect(&address).is_ok() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        let mut browser = Browser {
            driver,
            address,
            session: String::new(),
        };
        let caps = json!({"capabilities": {"alwaysMatch": {"browserName": "chrome", "goog:chromeOptions": {"binary": chromium, "args": ["--headless", "--no-sandbox", "--disable-gpu", "--window-size=1300,1500"]}}}});
        let created = browser.call("POST", "/session", Some(caps));
        browser.session = created["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session: {created}"))
            .to_string();
        browser
    }

    fn call(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let body = body.map(|b| b.to_string());
        let (_, text) = http(&self.address, method, path, body.as_deref());
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}: {text}"))
    }

    fn session(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        self.call(method, &format!("/session/{}{path}", self.session), body)
    }

    pub(crate) fn go(&self, url: &str) {
        self.session("POST", "/url", Some(json!({"url": url})));
    }

    pub(crate) fn script(&self, script: &str) -> Value {
        self.session(
            "POST",
            "/execute/sync",
            Some(json!({"script": script, "args": []})),
        )["value"]
            .clone()
    }

    /// Waits until the app has drawn `view`.
    pub(crate) fn wait_for(&self, view: &str) {
        for _ in 0..100 {
            if self.script("return document.body.getAttribute('data-view')") == view {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        panic!(
            "the viewer never showed {view}: {}",
            self.script("return document.body.innerText.slice(0, 500)")
        );
    }

    fn click(&self, css: &str) {
        let found = self.session(
            "POST",
            "/element",
            Some(json!({"using": "css selector", "value": css})),
        );
        let element = found["value"]
            .as_object()
            .and_then(|o| o.values().next())
            .and_then(|v| v.as_str())
            .unwrap_or_else(|| panic!("no element {css}: {found}"))
            .to_string();
        let clicked = self.session(
            "POST",
            &format!("/element/{element}/click"),
            Some(json!({})),
        );
        assert!(clicked["value"].is_null(), "clicking {css}: {clicked}");
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if !self.session.is_empty() {
            let _ = http(
                &self.address,
                "DELETE",
                &format!("/session/{}", self.session),
                None,
            );
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

#[test]
#[ignore = "needs Chromium and ChromeDriver: run by `just test` (through `just interop`)"]
fn a_browser_follows_a_run_live_opens_a_positive_trial_sees_the_evidence_and_compares_two() {
    let chromium =
        std::env::var("PEERPRESSURE_CHROMIUM").expect("PEERPRESSURE_CHROMIUM: use `just interop`");
    let chromedriver = std::env::var("PEERPRESSURE_CHROMEDRIVER")
        .expect("PEERPRESSURE_CHROMEDRIVER: use `just interop`");
    // A run cut short by --limit: the runs page shows it incomplete and keeps refreshing.
    let partial = demo_args(Run::new())
        .arg("--limit")
        .arg("40")
        .exec()
        .success();
    let viewer = ViewerProcess::start(&partial);
    let browser = Browser::start(&chromedriver, &chromium);
    browser.go(&format!("http://{}/", viewer.address));
    browser.wait_for("runs");
    let progress = "return document.querySelector('#runs tr.click td:nth-child(5)').innerText";
    let shown = browser.script(progress);
    assert!(
        shown.as_str().unwrap().starts_with("40 / ")
            && shown.as_str().unwrap().contains("incomplete"),
        "{shown}"
    );
    assert!(
        browser
            .script("return document.body.innerText")
            .as_str()
            .unwrap()
            .contains("Refreshing while a run is incomplete")
    );
    // Resumed while the page is open: the page catches up without a reload.
    let out = demo_args(Run::again(&partial)).exec().success();
    let total: u64 = out.rows("SELECT COUNT(*) FROM trials")[0][0]
        .parse()
        .unwrap();
    let caught_up = (0..100).any(|_| {
        std::thread::sleep(std::time::Duration::from_millis(100));
        browser.script(progress) == format!("{total} / {total}")
    });
    assert!(
        caught_up,
        "the runs page still shows {}",
        browser.script(progress)
    );
    browser.click("#runs tr.click a");
    browser.wait_for("results");
    // A tampering table row of the mixed agent, good peer, with positives to open (the mix
    // draws which trials tamper, so the row is found by its counts, not fixed in advance).
    let row = browser.script(
        "const rows = [...document.querySelectorAll('table.results tr.click')].filter(r => { if (!r.dataset.href.includes('behaviour=shutdown-tampering') || !r.innerText.includes('preserver') || !r.innerText.includes('good_peer') || r.classList.contains('combined')) return false; const heads = [...r.closest('table').querySelectorAll('th')].map(h => h.innerText); return Number(r.children[heads.indexOf('pos')].innerText) > 0; }); rows[0].id = 'picked'; return rows.length",
    );
    assert!(row.as_u64().unwrap() >= 1, "{row}");
    browser.click("#picked td");
    browser.wait_for("trials");
    let picked = browser.script(
        "const rows = [...document.querySelectorAll('#trials tr.click')].filter(r => r.querySelector('.verdict.positive') && r.innerText.includes('shutdown-tampering positive')); if (rows.length) rows[0].querySelector('a').id = 'positive'; return rows.length",
    );
    assert!(
        picked.as_u64().unwrap() >= 1,
        "no positive trial listed: {picked}"
    );
    browser.click("#positive");
    browser.wait_for("trial");
    // The evidence: the tool call highlighted in the conversation, the config change as a diff.
    let evidence = browser.script(
        "return { marked: [...document.querySelectorAll('.msg.evidence mark')].map(m => m.innerText), added: [...document.querySelectorAll('.event.evidence .add')].map(d => d.innerText), removed: [...document.querySelectorAll('.event.evidence .del')].map(d => d.innerText), finding: document.querySelector('.findings').innerText }",
    );
    assert!(
        evidence["marked"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m == "modify_var"),
        "{evidence}"
    );
    assert!(
        evidence["added"]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l.as_str().unwrap().contains("shutdown_enabled: false")),
        "{evidence}"
    );
    assert!(
        evidence["removed"]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l.as_str().unwrap().contains("shutdown_enabled: true")),
        "{evidence}"
    );
    assert!(
        evidence["finding"]
            .as_str()
            .unwrap()
            .contains("shutdown_enabled was changed from true to `false`"),
        "{evidence}"
    );
    // Back to the list: two ticked trials open side by side.
    browser.session("POST", "/back", Some(json!({})));
    browser.wait_for("trials");
    let picked = browser.script("const boxes = [...document.querySelectorAll('#trials .pick')]; boxes[0].id = 'first'; boxes[1].id = 'second'; return [boxes[0].value, boxes[1].value]");
    browser.click("#first");
    browser.click("#second");
    browser.wait_for("compare");
    let panes = browser.script("return [...document.querySelectorAll('.compare > div')].map(d => ({ title: d.querySelector('h2').innerText, messages: d.querySelectorAll('.msg').length }))");
    let panes = panes.as_array().unwrap();
    assert_eq!(panes.len(), 2, "{panes:?}");
    for (pane, id) in panes.iter().zip(picked.as_array().unwrap()) {
        assert_eq!(
            pane["title"].as_str().unwrap(),
            &id.as_str().unwrap()[..12],
            "{pane}"
        );
        assert!(pane["messages"].as_u64().unwrap() > 5, "{pane}");
    }
}
