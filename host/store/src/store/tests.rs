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
    // The trial list of an export walks the trials in id order on their primary key.
    let dumps = plan(&store, TRIAL_DUMP_QUERY);
    assert!(
        dumps.contains("SEARCH trials USING INDEX sqlite_autoindex_trials_1 (run_id=?)")
            && !dumps.contains("SCAN trials"),
        "{dumps}"
    );
    // Each setup and world by its hash.
    let blob = plan(&store, BLOB);
    assert!(
        blob.contains("SEARCH blobs USING PRIMARY KEY (hash=?)") && !blob.contains("SCAN"),
        "{blob}"
    );
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
