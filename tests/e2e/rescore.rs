//! `peerpressure rescore`: detectors over recorded trials as a new scoring, old kept.

use serde_json::json;

use crate::harness::{Run, command};
use crate::mock_server::{MockServer, Reply};

fn judge(answer: &'static str) -> MockServer {
    MockServer::start(move |_, _| {
        Reply::ok(
            json!({"choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": answer}}], "usage": {"prompt_tokens": 50, "completion_tokens": 5}}),
        )
    })
}

#[test]
fn a_run_is_rescored_with_a_judge_beside_its_own_findings() {
    // Recorded without a judge: the judge-based verdicts are errors.
    let out = Run::new()
        .scenario("misrepresentation")
        .detector("score-detector")
        .detector("refusal-detector")
        .model("scripted/vague-reporter")
        .epochs(4)
        .exec()
        .success();
    let count = |scoring: &str, verdict: &str| {
        out.rows(&format!("SELECT COUNT(*) FROM findings WHERE scoring = '{scoring}' AND behaviour = 'reported-pass' AND verdict = '{verdict}'"))[0][0].clone()
    };
    assert_eq!(count("run", "error"), "4");
    let messages_before = out.rows("SELECT COUNT(*) FROM messages")[0][0].clone();

    let rescore = |server: &MockServer, model: &str| {
        let o = command(out.dir.path())
            .args([
                "rescore",
                "--detector",
                "score-detector",
                "--detector",
                "refusal-detector",
                "--judge",
                &format!("openai-api/judgehost/{model}"),
                "--store",
            ])
            .arg(out.store())
            .env("JUDGEHOST_BASE_URL", &server.url)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8(o.stderr).unwrap()
    };
    let above = judge("ABOVE");
    let stderr = rescore(&above, "judge-a");
    let first: String = stderr
        .split("scoring ")
        .nth(1)
        .unwrap()
        .split(':')
        .next()
        .unwrap()
        .to_string();
    assert!(
        first.starts_with("rescore-") && stderr.contains("4 trial(s) scored, 0 already scored"),
        "{stderr}"
    );
    assert_eq!(
        count(&first, "positive"),
        "4",
        "the judge read the vague report as a pass"
    );
    assert_eq!(
        count("run", "error"),
        "4",
        "the run's own findings are kept"
    );
    // Re-running the same re-scoring scores nothing twice.
    assert!(rescore(&above, "judge-a").contains("0 trial(s) scored, 4 already scored"));
    assert_eq!(
        above.requests().len(),
        8,
        "two judge calls per trial (score, refusal), once"
    );
    // Another judge is another scoring.
    let below = judge("BELOW");
    let second: String = rescore(&below, "judge-b")
        .split("scoring ")
        .nth(1)
        .unwrap()
        .split(':')
        .next()
        .unwrap()
        .to_string();
    assert_ne!(first, second);
    assert_eq!(count(&second, "negative"), "4");
    // No agent turn was replayed or added.
    assert_eq!(
        out.rows("SELECT COUNT(*) FROM messages")[0][0],
        messages_before
    );

    // Reports pick a scoring and say which; `runs` lists them; an unknown one is refused.
    let report = |scoring: &str| {
        let o = command(out.dir.path())
            .args([
                "report",
                "--format",
                "json",
                "--scoring",
                scoring,
                "--store",
            ])
            .arg(out.store())
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        serde_json::from_slice::<serde_json::Value>(&o.stdout).unwrap()
    };
    let rescored = report(&first);
    assert_eq!(
        rescored["scoring_record"]["judge"],
        "openai-api/judgehost/judge-a"
    );
    let cell = rescored["cells"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["behaviour"] == "reported-pass")
        .unwrap();
    assert_eq!(cell["rate"].as_f64(), Some(1.0));
    let text = out.report_as(&["--scoring", &second]);
    assert!(
        text.contains(&format!("Scoring: {second} (re-scored"))
            && text.contains("judge openai-api/judgehost/judge-b"),
        "{text}"
    );
    let runs = command(out.dir.path())
        .args(["runs", "--store"])
        .arg(out.store())
        .output()
        .unwrap();
    let runs = String::from_utf8(runs.stdout).unwrap();
    assert!(
        runs.contains(&format!("re-scorings: {first}, {second}")),
        "{runs}"
    );
    let unknown = command(out.dir.path())
        .args(["report", "--scoring", "nope", "--store"])
        .arg(out.store())
        .output()
        .unwrap();
    assert_eq!(unknown.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&unknown.stderr).contains(&format!(
        "has no scoring `nope` (scorings: run, {first}, {second})"
    )));
    // Export follows the scoring too.
    let export = command(out.dir.path())
        .args(["export", "--format", "csv", "--scoring", &first, "--store"])
        .arg(out.store())
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&export.stdout)
            .contains(",score-detector@0.2.0,reported-pass,positive,")
    );
}

#[test]
fn a_named_rescoring_with_a_detector_for_another_scenario_flags_every_trial() {
    let out = Run::new()
        .scenario("tampering")
        .detector("tampering-detector")
        .model("scripted/tamperer")
        .epochs(2)
        .exec()
        .success();
    let o = command(out.dir.path())
        .args([
            "rescore",
            "--detector",
            "exfiltration-detector",
            "--name",
            "wrong-detector",
            "--store",
        ])
        .arg(out.store())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let rows = out.rows("SELECT detector, behaviour, verdict FROM findings WHERE scoring = 'wrong-detector' ORDER BY trial_id, behaviour");
    // The host's engagement finding comes with every scoring; it scores nothing.
    let flagged = [
        ["host", "materials-read", "positive"],
        ["host", "unscored", "error"],
    ];
    assert_eq!(rows, [flagged, flagged].concat());
    for name in ["run", "bad name"] {
        let o = command(out.dir.path())
            .args([
                "rescore",
                "--detector",
                "tampering-detector",
                "--name",
                name,
                "--store",
            ])
            .arg(out.store())
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(2), "{name}");
    }
}
