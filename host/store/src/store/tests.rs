//! The store's query plans and read-only opening.

use super::*;

/// SQLite's plan for `query`, as the lines `EXPLAIN QUERY PLAN` prints.
fn plan(store: &Store, query: &str) -> String {
    let conn = store.conn();
    let mut stmt = conn
        .prepare(&format!("EXPLAIN QUERY PLAN {query}"))
        .unwrap();
    let params: Vec<&dyn rusqlite::ToSql> = (0..stmt.parameter_count())
        .map(|_| &"x" as &dyn rusqlite::ToSql)
        .collect();
    stmt.query_map(params.as_slice(), |r| r.get::<_, String>(3))
        .unwrap()
        .map(Result::unwrap)
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn every_per_trial_query_is_planned_on_an_index_of_the_trial() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("s.db")).unwrap();
    for (name, query, index) in [
        (
            "findings of a trial",
            FINDINGS_OF_TRIAL,
            "findings_by_trial_scoring (run_id=? AND trial_id=? AND scoring=?)",
        ),
        (
            "messages of a trial",
            MESSAGES_OF_TRIAL,
            "(run_id=? AND trial_id=?)",
        ),
        (
            "events of a trial",
            EVENTS_OF_TRIAL,
            "(run_id=? AND trial_id=?)",
        ),
    ] {
        let plan = plan(&store, query);
        assert!(
            plan.contains(index) && !plan.contains("SCAN"),
            "{name}: {plan}"
        );
    }
    // A re-scoring counts each trial into the summaries by the trial's own rows.
    let verdicts = plan(
        &store,
        &add_cell_verdicts(ADD_TRIAL_VERDICTS.0, ADD_TRIAL_VERDICTS.1),
    );
    assert!(
        verdicts.contains(
            "SEARCH f USING INDEX findings_by_trial_scoring (run_id=? AND trial_id=? AND scoring=?)"
        ) && verdicts
            .contains("SEARCH t USING INDEX sqlite_autoindex_trials_1 (run_id=? AND id=?)")
            && !verdicts.contains("SCAN"),
        "{verdicts}"
    );
    // A run's writer counts each transaction's trials by the rowids it inserted.
    let verdicts = plan(
        &store,
        &add_cell_verdicts(ADD_BATCH_VERDICTS.0, ADD_BATCH_VERDICTS.1),
    );
    assert!(
        verdicts.contains("SEARCH f USING INTEGER PRIMARY KEY (rowid>? AND rowid<?)")
            && verdicts
                .contains("SEARCH t USING INDEX sqlite_autoindex_trials_1 (run_id=? AND id=?)")
            && !verdicts.contains("SCAN"),
        "{verdicts}"
    );
    let batch_trials = [&add_cell_statuses(ADD_BATCH_STATUSES)]
        .into_iter()
        .chain(&add_trial_order(ADD_BATCH_ORDER))
        .map(|statement| plan(&store, statement))
        .collect::<Vec<_>>();
    for statement in &batch_trials {
        assert!(
            statement.contains("USING INTEGER PRIMARY KEY (rowid>? AND rowid<?)")
                && !statement.contains("SCAN t")
                && !statement.contains("SCAN trials"),
            "{statement}"
        );
    }
    // An export walks a run's trials in recording order (the file's order), without a sort.
    let dumps = plan(&store, TRIAL_DUMP_QUERY);
    assert!(
        dumps.contains("SEARCH trials USING INDEX trials_by_run (run_id=?)")
            && !dumps.contains("TEMP B-TREE"),
        "{dumps}"
    );
    // Chosen trials by their primary key.
    let chosen = plan(&store, TRIAL_DUMP_OF_QUERY);
    assert!(
        chosen.contains("SEARCH trials USING INDEX sqlite_autoindex_trials_1 (run_id=? AND id=?)")
            && !chosen.contains("SCAN trials"),
        "{chosen}"
    );
    // Each setup and world by its hash.
    let blob = plan(&store, BLOB);
    assert!(
        blob.contains("SEARCH blobs USING PRIMARY KEY (hash=?)") && !blob.contains("SCAN"),
        "{blob}"
    );
}

#[test]
fn a_trial_page_is_counted_from_the_summaries_and_read_in_recording_order_without_a_sort() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("s.db")).unwrap();
    let cells = TrialFilter {
        model: Some("a/m".into()),
        axes: vec![("peer".into(), "good".into())],
        ..TrialFilter::default()
    };
    let verdict = TrialFilter {
        behaviour: Some("tamper".into()),
        verdict: Some("positive".into()),
        ..cells.clone()
    };
    for (name, filter, summary) in [
        ("everything", TrialFilter::default(), "cell_statuses"),
        ("cells", cells, "cell_statuses"),
        ("a verdict in cells", verdict, "cell_verdicts"),
    ] {
        let query = super::trials::page_query("r", "run", &filter);
        let count = plan(&store, &query.count_query);
        assert!(
            count.contains(&format!("SEARCH {summary} USING PRIMARY KEY (run_id=?")),
            "{name}: {count}"
        );
        for order in ["ASC", "DESC"] {
            let page = plan(
                &store,
                &super::trials::page_rows(&query.matches, order, 50, 0),
            );
            assert!(
                page.contains("SEARCH o USING PRIMARY KEY (run_id=?)")
                    && page.contains("SEARCH t USING INTEGER PRIMARY KEY (rowid=?)")
                    && !page.contains("TEMP B-TREE"),
                "{name}, {order}: {page}"
            );
            if filter.verdict.is_some() {
                assert!(
                    page.contains(
                        "findings_by_trial_scoring (run_id=? AND trial_id=? AND scoring=?)"
                    ),
                    "{name}: {page}"
                );
            }
        }
    }
}

#[test]
fn reading_opens_write_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.db");
    drop(Store::open(&path).unwrap());
    let before = std::fs::read(&path).unwrap();
    let store = Store::open_read_only(&path).unwrap();
    assert!(store.runs().unwrap().is_empty());
    let err = store
        .conn()
        .execute("INSERT INTO meta (key, value) VALUES ('x', 'y')", [])
        .unwrap_err();
    assert!(err.to_string().contains("readonly"), "{err}");
    drop(store);
    assert_eq!(
        std::fs::read(&path).unwrap(),
        before,
        "the store file is byte for byte the same"
    );
}

/// A finished trial of `model` in the cell `peer=<peer>` with these findings
/// (behaviour, verdict, numeric value), usage of 10 tokens in and 2 out, and `cost`.
fn trial(
    id: &str,
    model: &str,
    peer: &str,
    status: peerpressure_types::trial::TrialStatus,
    cost: Option<f64>,
    findings: &[(&str, peerpressure_types::plugin::Verdict, Option<f64>)],
) -> TrialResult {
    use peerpressure_types::plugin::Finding;
    TrialResult {
        id: id.into(),
        spec: TrialSpec {
            trial_id: id.into(),
            axes: vec![("peer".into(), peer.into())],
            seed: 7,
            model: model.into(),
            model_family: "scripted".into(),
            epoch: 1,
        },
        scenario: "tampering@1.0.0".into(),
        agent: model.into(),
        status,
        error: None,
        setup: None,
        messages: vec![],
        calls: vec![],
        events: vec![],
        initial_world: vec![],
        final_world: vec![],
        findings: findings
            .iter()
            .map(|(behaviour, verdict, value)| ScoredFinding {
                detector: "d@1.0.0".into(),
                finding: Finding {
                    behaviour: behaviour.to_string(),
                    verdict: *verdict,
                    explanation: String::new(),
                    evidence: vec![],
                    value: value.map(FindingValue::Number),
                },
            })
            .collect(),
        usage: peerpressure_types::model::Usage {
            input_tokens: 10,
            output_tokens: 2,
            ..Default::default()
        },
        cost,
        turns: 1,
        duration_ms: 5,
        plugin_output: vec![],
    }
}

/// Everything a report reads from the summaries, as text to compare.
fn summaries(store: &Store, run: &str, scoring: &str) -> String {
    let counts: Vec<_> = store
        .verdict_counts(run, scoring)
        .unwrap()
        .into_iter()
        .map(|c| {
            let key = (c.scenario, c.model, c.axes_json, c.behaviour, c.verdict);
            format!("{key:?}={}", c.count)
        })
        .collect();
    let values: Vec<_> = store
        .value_stats(run, scoring)
        .unwrap()
        .into_iter()
        .map(|(s, m, a, b, v)| format!("{s} {m} {a} {b} n={} sum={} sq={}", v.n, v.sum, v.sum_sq))
        .collect();
    format!(
        "{counts:?}\n{values:?}\n{:?}\n{:?}\n{}",
        store.status_counts(run).unwrap(),
        store.totals(run).unwrap(),
        store.trial_count(run).unwrap()
    )
}

/// The same figures counted from the findings and trials themselves, by the queries the
/// summaries replaced.
fn recount(store: &Store, run: &str, scoring: &str) -> String {
    let conn = store.conn();
    let rows = |sql: &str, map: &dyn Fn(&rusqlite::Row) -> rusqlite::Result<String>| {
        let mut stmt = conn.prepare(sql).unwrap();
        stmt.query_map(params![run, scoring], |r| map(r))
            .unwrap()
            .map(Result::unwrap)
            .collect::<Vec<String>>()
    };
    let counts = rows(
        "SELECT t.scenario, t.model, t.axes_json, f.behaviour, f.verdict, COUNT(DISTINCT t.id)
         FROM findings f JOIN trials t ON t.run_id = f.run_id AND t.id = f.trial_id
         WHERE f.run_id = ?1 AND f.scoring = ?2
         GROUP BY t.scenario, t.model, t.axes_json, f.behaviour, f.verdict",
        &|r| {
            let key: (String, String, String, String, String) =
                (r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?);
            Ok(format!("{key:?}={}", r.get::<_, i64>(5)?))
        },
    );
    let values = rows(
        "SELECT t.scenario, t.model, t.axes_json, f.behaviour, COUNT(*), SUM(CAST(f.value_json AS REAL)), SUM(CAST(f.value_json AS REAL) * CAST(f.value_json AS REAL))
         FROM findings f JOIN trials t ON t.run_id = f.run_id AND t.id = f.trial_id
         WHERE f.run_id = ?1 AND f.scoring = ?2 AND f.verdict IN ('positive', 'negative') AND f.value_json GLOB '[0-9-]*'
         GROUP BY t.scenario, t.model, t.axes_json, f.behaviour",
        &|r| {
            Ok(format!(
                "{} {} {} {} n={} sum={} sq={}",
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, i64>(4)?,
                r.get::<_, f64>(5)?,
                r.get::<_, f64>(6)?
            ))
        },
    );
    let mut statuses = Vec::new();
    let mut totals = Totals {
        cost: Some(0.0),
        ..Totals::default()
    };
    let mut stmt = conn
        .prepare("SELECT status, usage_json, cost FROM trials WHERE run_id = ?1 ORDER BY status")
        .unwrap();
    let mut rows = stmt.query(params![run]).unwrap();
    while let Some(r) = rows.next().unwrap() {
        let status: String = r.get(0).unwrap();
        match statuses.last_mut() {
            Some((last, n)) if *last == status => *n += 1,
            _ => statuses.push((status, 1u64)),
        }
        let usage: peerpressure_types::model::Usage =
            serde_json::from_str(&r.get::<_, String>(1).unwrap()).unwrap();
        totals.usage.add(&usage);
        totals.cost = totals
            .cost
            .zip(r.get::<_, Option<f64>>(2).unwrap())
            .map(|(a, b)| a + b);
    }
    let trials: u64 = statuses.iter().map(|(_, n)| n).sum();
    format!("{counts:?}\n{values:?}\n{statuses:?}\n{totals:?}\n{trials}")
}

#[test]
fn summaries_kept_as_trials_are_written_match_a_recount_after_rescoring_migration_and_merge() {
    use peerpressure_types::plugin::Verdict::{Error, Negative, NotApplicable, Positive};
    use peerpressure_types::trial::TrialStatus::{Completed, Error as Failed};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.db");
    let store = Store::open(&path).unwrap();
    let trials = [
        trial(
            "t1",
            "a/m",
            "good",
            Completed,
            Some(0.5),
            &[
                ("tamper", Positive, Some(0.9)),
                ("tamper", Positive, Some(0.7)),
                ("score", Negative, Some(3.0)),
            ],
        ),
        trial(
            "t2",
            "a/m",
            "good",
            Completed,
            Some(0.25),
            &[
                ("tamper", Negative, None),
                ("score", NotApplicable, Some(8.0)),
            ],
        ),
        trial("t3", "a/m", "bad", Failed, None, &[("tamper", Error, None)]),
        trial(
            "t4",
            "b/m",
            "bad",
            Completed,
            Some(1.0),
            &[("tamper", Positive, Some(-2.5))],
        ),
        trial("t5", "b/m", "bad", Completed, Some(1.0), &[]),
    ];
    // As a run's writer records them: in transactions of several trials and cells.
    store.record_trials("r1", &trials[..3]).unwrap();
    store.record_trials("r1", &trials[3..]).unwrap();
    // A re-scoring of some trials, with different verdicts.
    store
        .record_findings("r1", "t1", "again", &trials[3].findings)
        .unwrap();
    store
        .record_findings("r1", "t4", "again", &trials[1].findings)
        .unwrap();
    let refused = store
        .record_findings("r1", "t4", "again", &trials[1].findings)
        .unwrap_err();
    assert!(
        refused
            .to_string()
            .contains("already has findings under scoring again"),
        "{refused}"
    );
    for scoring in [RUN_SCORING, "again"] {
        assert_eq!(
            summaries(&store, "r1", scoring),
            recount(&store, "r1", scoring)
        );
    }
    let kept = summaries(&store, "r1", RUN_SCORING);
    assert!(
        kept.contains("tamper n=2 sum=1.6")
            && kept.contains("(\"error\", 1)")
            && kept.contains("cost: None"),
        "{kept}"
    );

    // A schema 1 store (no summaries) is counted once when it is first opened, even to read.
    drop(store);
    {
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch("DROP TABLE cell_verdicts; DROP TABLE cell_statuses; UPDATE meta SET value = '1' WHERE key = 'schema_version';").unwrap();
    }
    let store = Store::open_read_only(&path).unwrap();
    for scoring in [RUN_SCORING, "again"] {
        assert_eq!(
            summaries(&store, "r1", scoring),
            recount(&store, "r1", scoring)
        );
    }
    assert_eq!(summaries(&store, "r1", RUN_SCORING), kept);
    drop(store);

    // Merging adds the copied trials to the summaries of the store merged into.
    let other = dir.path().join("o.db");
    let into = Store::open(&other).unwrap();
    into.record_trial(
        "r1",
        &trial(
            "t0",
            "a/m",
            "good",
            Completed,
            Some(2.0),
            &[("tamper", Positive, Some(1.0))],
        ),
    )
    .unwrap();
    assert_eq!(merge(&into, &path).unwrap(), 5);
    assert_eq!(merge(&into, &path).unwrap(), 0);
    for scoring in [RUN_SCORING, "again"] {
        assert_eq!(
            summaries(&into, "r1", scoring),
            recount(&into, "r1", scoring)
        );
    }
    assert_eq!(into.trial_count("r1").unwrap(), 6);
    // ... and to its trial order: the copied trials are listed after the one it had.
    let cells = TrialFilter {
        axes: vec![("peer".into(), "good".into())],
        ..TrialFilter::default()
    };
    let (total, page) = into.trial_page("r1", RUN_SCORING, &cells, 0, 10).unwrap();
    let ids: Vec<&str> = page.iter().map(|t| t.id.as_str()).collect();
    assert_eq!((total, ids), (3, vec!["t0", "t1", "t2"]));
}

#[test]
fn a_trial_page_and_its_count_match_a_filter_applied_to_every_trial_from_either_end() {
    use peerpressure_types::plugin::Verdict::{Negative, Positive};
    use peerpressure_types::trial::TrialStatus::{Completed, Error as Failed};
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("s.db")).unwrap();
    // Another run first, so the run's trials do not start at the first row.
    store
        .record_trial("r0", &trial("x", "a/m", "good", Completed, None, &[]))
        .unwrap();
    let mut all = Vec::new();
    for i in 0..23 {
        let model = ["a/m", "b/m"][i % 2];
        let peer = ["good", "bad", "none"][i % 3];
        let status = if i % 5 == 0 { Failed } else { Completed };
        let tamper = [Positive, Negative][(i / 2) % 2];
        // Some trials have two verdicts for the behaviour, some none.
        let findings: Vec<_> = match i % 4 {
            0 => vec![],
            1 => vec![("tamper", tamper, None), ("tamper", Positive, None)],
            _ => vec![("tamper", tamper, None)],
        };
        let id = format!("t{:02}", 23 - i); // recording order is not id order
        store
            .record_trial("r1", &trial(&id, model, peer, status, None, &findings))
            .unwrap();
        all.push((id, model, peer, status.as_str(), findings));
    }
    let mut checked = 0;
    for model in [None, Some("a/m")] {
        for peer in [None, Some("good")] {
            for status in [None, Some("completed")] {
                for behaviour in [None, Some("tamper")] {
                    for verdict in [None, Some("positive")] {
                        let filter = TrialFilter {
                            model: model.map(String::from),
                            scenario: Some("tampering@1.0.0".into()),
                            axes: peer
                                .map(|p| ("peer".to_string(), p.to_string()))
                                .into_iter()
                                .collect(),
                            behaviour: behaviour.map(String::from),
                            verdict: verdict.map(String::from),
                            status: status.map(String::from),
                        };
                        let expected: Vec<&str> = all
                            .iter()
                            .filter(|(_, m, p, s, findings)| {
                                model.is_none_or(|x| x == *m)
                                    && peer.is_none_or(|x| x == *p)
                                    && status.is_none_or(|x| x == *s)
                                    && (behaviour.is_none() && verdict.is_none()
                                        || findings.iter().any(|(b, v, _)| {
                                            behaviour.is_none_or(|x| x == *b)
                                                && verdict.is_none_or(|x| x == v.as_str())
                                        }))
                            })
                            .map(|t| t.0.as_str())
                            .collect();
                        for offset in [0, 1, 4, 9, 12, 20, 30] {
                            let (total, page) = store
                                .trial_page("r1", RUN_SCORING, &filter, offset, 4)
                                .unwrap();
                            let ids: Vec<&str> = page.iter().map(|t| t.id.as_str()).collect();
                            let want: Vec<&str> = expected
                                .iter()
                                .skip(offset as usize)
                                .take(4)
                                .copied()
                                .collect();
                            assert_eq!(
                                (total as usize, &ids),
                                (expected.len(), &want),
                                "{filter:?} at {offset}"
                            );
                            checked += usize::from(!ids.is_empty());
                        }
                    }
                }
            }
        }
    }
    assert!(checked > 60, "{checked} non-empty pages");
}

#[test]
fn a_raw_trial_dump_reads_as_the_parsed_one() {
    use peerpressure_types::plugin::{File, ToolCall, Verdict::Positive};
    use peerpressure_types::trial::TrialStatus::Completed;
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("s.db")).unwrap();
    for id in ["t1", "t2"] {
        let mut t = trial(
            id,
            "a/m",
            "good",
            Completed,
            Some(0.5),
            &[("tamper", Positive, Some(1.5))],
        );
        t.initial_world = vec![File {
            machine: "m".into(),
            path: "/etc/peer.yaml".into(),
            content: "shutdown_enabled: true\n\"quoted\" \u{e9}".into(),
            summary: String::new(),
            size: 30,
            modified: 0,
        }];
        t.messages = vec![Message {
            index: 0,
            role: Role::Assistant,
            content: "editing".into(),
            reasoning: Some("why".into()),
            tool_calls: vec![ToolCall {
                id: "c1".into(),
                name: "write_file".into(),
                arguments: "{\"path\": \"/etc/peer.yaml\"}".into(),
            }],
            tool_call_id: None,
            is_error: false,
        }];
        t.events = vec![WorldEvent {
            index: 0,
            kind: "edit".into(),
            machine: "m".into(),
            path: "/etc/peer.yaml".into(),
            target: None,
            before: Some("a".into()),
            after: Some("b".into()),
            tool_call_id: Some("c1".into()),
            turn: 1,
        }];
        store.record_trial("r1", &t).unwrap();
    }
    let parsed = store.trial_dumps("r1", RUN_SCORING).unwrap();
    let mut raw = Vec::new();
    store
        .for_each_raw_trial("r1", RUN_SCORING, true, |dump| {
            let text = serde_json::to_string(&dump).unwrap();
            raw.push(serde_json::from_str::<serde_json::Value>(&text).unwrap());
            Ok(())
        })
        .unwrap();
    assert_eq!(raw, parsed);
    assert_eq!(parsed.len(), 2);
    // Without contents: the same trials and findings, no transcript, events, setup or worlds.
    let mut bare = Vec::new();
    store
        .for_each_raw_trial("r1", RUN_SCORING, false, |dump| {
            bare.push(serde_json::to_value(&dump).unwrap());
            Ok(())
        })
        .unwrap();
    assert_eq!(bare.len(), 2);
    for (bare, full) in bare.iter().zip(&parsed) {
        for key in ["id", "status", "usage", "findings", "scenario", "model"] {
            assert_eq!(bare[key], full[key], "{key}");
        }
        assert_eq!(bare["messages"], serde_json::json!([]));
        assert_eq!(bare["events"], serde_json::json!([]));
        assert!(bare["initial_world"].is_null() && bare["setup"].is_null());
    }
    assert_eq!(parsed[0]["initial_world"][0]["path"], "/etc/peer.yaml");
    assert_eq!(
        parsed[0]["messages"][0]["tool_calls"][0]["name"],
        "write_file"
    );
    assert_eq!(parsed[0]["findings"][0]["value"], 1.5);
    assert_eq!(parsed[0]["events"][0]["after"], "b");
    // Exports that do not show worlds read trials without them.
    let mut light = Vec::new();
    store
        .for_each_trial_dump("r1", RUN_SCORING, false, |t| {
            light.push(t);
            Ok(())
        })
        .unwrap();
    assert_eq!(light[1]["initial_world"], serde_json::Value::Null);
    assert_eq!(light[1]["messages"], parsed[1]["messages"]);
    assert_eq!(light[1]["findings"], parsed[1]["findings"]);
}

#[test]
fn trials_written_together_are_recorded_all_or_none() {
    use peerpressure_types::trial::TrialStatus::Completed;
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("s.db")).unwrap();
    let t = |id: &str| trial(id, "a/m", "good", Completed, None, &[]);
    store.record_trials("r1", &[t("t1"), t("t2")]).unwrap();
    assert_eq!(store.trial_count("r1").unwrap(), 2);
    // A batch whose second trial cannot be written (already recorded) leaves nothing behind.
    assert!(store.record_trials("r1", &[t("t3"), t("t2")]).is_err());
    assert_eq!(
        store.finished_trials("r1").unwrap(),
        ["t1", "t2"].iter().map(|s| s.to_string()).collect()
    );
    assert_eq!(store.trial_count("r1").unwrap(), 2);
}

#[test]
fn a_world_is_written_once_and_again_after_a_batch_that_wrote_it_failed() {
    use peerpressure_types::plugin::File;
    use peerpressure_types::trial::TrialStatus::Completed;
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("s.db")).unwrap();
    let world = |content: &str| {
        vec![File {
            machine: "drive".into(),
            path: "config.yaml".into(),
            content: content.into(),
            summary: String::new(),
            size: content.len() as u64,
            modified: 0,
        }]
    };
    let t = |id: &str, initial: &str, last: &str| {
        let mut t = trial(id, "a/m", "good", Completed, None, &[]);
        t.initial_world = world(initial);
        t.final_world = world(last);
        t
    };
    let blobs = || -> i64 {
        store
            .conn()
            .query_row("SELECT COUNT(*) FROM blobs", [], |r| r.get(0))
            .unwrap()
    };
    let world_of = |id: &str| {
        store
            .trial_dumps_of("r1", RUN_SCORING, &[id.to_string()])
            .unwrap()[0]["final_world"][0]["content"]
            .clone()
    };
    // Same length, other content: a fingerprint match is not taken for equality.
    store
        .record_trials(
            "r1",
            &[t("t1", "on: 1", "on: 1"), t("t2", "on: 1", "on: 0")],
        )
        .unwrap();
    assert_eq!(blobs(), 2);
    assert_eq!(world_of("t2"), "on: 0");
    // A batch that wrote a new world, then failed (t1 is recorded already): the world went
    // with it, and the next trial with that world writes it again.
    assert!(
        store
            .record_trials(
                "r1",
                &[t("t3", "on: 1", "on: 2"), t("t1", "on: 1", "on: 1")]
            )
            .is_err()
    );
    assert_eq!(blobs(), 2);
    store
        .record_trial("r1", &t("t4", "on: 1", "on: 2"))
        .unwrap();
    assert_eq!(blobs(), 3);
    assert_eq!(world_of("t4"), "on: 2");
}
