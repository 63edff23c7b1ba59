//! Writing: runs, trials (one transaction each), scorings and their findings, and merging
//! whole stores.

use std::sync::LazyLock;

use rusqlite::params;

use super::*;

// The summary statements every transaction runs, built once (they are the keys of the
// statement cache).
static ADD_BATCH_STATUSES_SQL: LazyLock<String> =
    LazyLock::new(|| add_cell_statuses(ADD_BATCH_STATUSES));
static ADD_BATCH_ORDER_SQL: LazyLock<[String; 2]> =
    LazyLock::new(|| add_trial_order(ADD_BATCH_ORDER));
static ADD_BATCH_VERDICTS_SQL: LazyLock<String> =
    LazyLock::new(|| add_cell_verdicts(ADD_BATCH_VERDICTS.0, ADD_BATCH_VERDICTS.1));

/// The first and last rowid of rows inserted one after another. Within one transaction they
/// are a range: SQLite gives a new row the largest rowid plus one, and the transaction holds
/// the store's write lock from its first insert to its commit.
#[derive(Default, Clone, Copy)]
struct Inserted(Option<(i64, i64)>);

impl Inserted {
    fn add(&mut self, rowid: i64) {
        self.extend(Inserted(Some((rowid, rowid))));
    }

    fn extend(&mut self, next: Inserted) {
        let Some((next_first, next_last)) = next.0 else {
            return;
        };
        debug_assert!(
            self.0.is_none_or(|(_, last)| next_first == last + 1),
            "rows inserted in a row: {:?} then {next_first}",
            self.0
        );
        self.0 = Some((self.0.map_or(next_first, |(first, _)| first), next_last));
    }
}

impl Store {
    /// Records a run (idempotent: a resumed run keeps its first record).
    pub fn record_run(&self, run: &RunRecord) -> Result<(), StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction().map_err(|e| self.sql(e))?;
        let json = serde_json::to_string(run).expect("run record serialises");
        tx.execute(
            "INSERT OR IGNORE INTO runs (id, created_at, host_version, record_json) VALUES (?1, ?2, ?3, ?4)",
            params![run.id, run.created_at, run.host_version, json],
        )
        .map_err(|e| self.sql(e))?;
        for p in &run.plugins {
            tx.execute(
                "INSERT OR IGNORE INTO run_plugins (run_id, kind, name, version, interface_version, sha256, size, path) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![run.id, p.kind, p.name, p.version, p.interface_version, p.sha256, p.size as i64, p.path],
            )
            .map_err(|e| self.sql(e))?;
        }
        tx.commit().map_err(|e| self.sql(e))
    }

    /// Writes a finished trial, with its transcript, events and findings, in one transaction.
    pub fn record_trial(&self, run_id: &str, t: &TrialResult) -> Result<(), StoreError> {
        self.record_trials(run_id, std::slice::from_ref(t))
    }

    /// Writes finished trials in one transaction: all of them or none. A run's writer hands
    /// over the trials that finished while it wrote the last ones, so under load a commit
    /// (and the index and table pages it rewrites) is shared by many trials.
    pub fn record_trials(&self, run_id: &str, trials: &[TrialResult]) -> Result<(), StoreError> {
        let mut conn = self.conn();
        let written = conn.transaction().map_err(|e| self.sql(e)).and_then(|tx| {
            let (mut inserted_trials, mut inserted_findings) =
                (Inserted::default(), Inserted::default());
            for t in trials {
                inserted_trials.add(self.insert_trial(&tx, run_id, t, &mut inserted_findings)?);
            }
            // The summaries and the trial order count the whole transaction's trials at once.
            if let Some((first, last)) = inserted_findings.0 {
                tx.prepare_cached(&ADD_BATCH_VERDICTS_SQL)
                    .and_then(|mut s| s.execute(params![first, last]))
                    .map_err(|e| self.sql(e))?;
            }
            if let Some((first, last)) = inserted_trials.0 {
                let statements =
                    std::iter::once(&*ADD_BATCH_STATUSES_SQL).chain(ADD_BATCH_ORDER_SQL.iter());
                for statement in statements {
                    tx.prepare_cached(statement)
                        .and_then(|mut s| s.execute(params![first, last]))
                        .map_err(|e| self.sql(e))?;
                }
            }
            tx.commit().map_err(|e| self.sql(e))
        });
        if written.is_err() {
            // Blobs this transaction wrote are rolled back with it.
            self.written_setups.clear();
            self.written_worlds.clear();
        }
        written
    }

    /// Inserts a trial's rows (not yet counted in the summaries); returns its rowid.
    fn insert_trial(
        &self,
        tx: &rusqlite::Transaction<'_>,
        run_id: &str,
        t: &TrialResult,
        inserted_findings: &mut Inserted,
    ) -> Result<i64, StoreError> {
        let setup = t
            .setup
            .as_ref()
            .map(|s| written_blob(tx, &self.written_setups, setup_fingerprint(s), s))
            .transpose()
            .map_err(|e| self.sql(e))?;
        let world_blob = |world: &[File]| {
            written_blob(tx, &self.written_worlds, world_fingerprint(world), world)
                .map_err(|e| self.sql(e))
        };
        let initial_world = world_blob(&t.initial_world)?;
        let final_world = world_blob(&t.final_world)?;
        tx.prepare_cached(
            "INSERT INTO trials (run_id, id, scenario, model, agent, epoch, seed, axes_json, status, error, turns, duration_ms,
                usage_json, cost, setup_blob, initial_world_blob, final_world_blob, plugin_output_json, finished_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19)",
        )
        .and_then(|mut insert| insert.execute(params![
                run_id,
                t.id,
                t.scenario,
                t.spec.model,
                t.agent,
                t.spec.epoch,
                t.spec.seed as i64,
                json(&t.spec.axes),
                t.status.as_str(),
                t.error,
                t.turns,
                t.duration_ms as i64,
                json(&t.usage),
                t.cost,
                setup,
                initial_world,
                final_world,
                json(&t.plugin_output),
                now_rfc3339(),
            ]))
        .map_err(|e| self.sql(e))?;
        // The trial's place in recording order, for `trial_order`.
        let rowid = tx.last_insert_rowid();
        {
            let mut stmt = tx
                .prepare_cached(
                    "INSERT INTO messages (run_id, trial_id, idx, role, content, reasoning, tool_calls_json, tool_call_id, is_error, call_json)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                )
                .map_err(|e| self.sql(e))?;
            for (i, m) in t.messages.iter().enumerate() {
                let call = t.calls.get(i).and_then(|c| c.as_ref()).map(json);
                stmt.execute(params![
                    run_id,
                    t.id,
                    m.index,
                    m.role.as_str(),
                    m.content,
                    m.reasoning,
                    json(&m.tool_calls),
                    m.tool_call_id,
                    m.is_error,
                    call
                ])
                .map_err(|e| self.sql(e))?;
            }
            let mut stmt = tx
                .prepare_cached(
                    "INSERT INTO events (run_id, trial_id, idx, kind, machine, path, target, before, after, tool_call_id, turn)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
                )
                .map_err(|e| self.sql(e))?;
            for e in &t.events {
                stmt.execute(params![
                    run_id,
                    t.id,
                    e.index,
                    e.kind,
                    e.machine,
                    e.path,
                    e.target,
                    e.before,
                    e.after,
                    e.tool_call_id,
                    e.turn
                ])
                .map_err(|e| self.sql(e))?;
            }
            inserted_findings.extend(
                insert_findings(tx, run_id, &t.id, RUN_SCORING, &t.findings)
                    .map_err(|e| self.sql(e))?,
            );
        }
        Ok(rowid)
    }

    /// Records a scoring of a run (idempotent: a resumed re-scoring keeps its first record).
    pub fn record_scoring(&self, run_id: &str, scoring: &ScoringRecord) -> Result<(), StoreError> {
        self.conn()
            .execute(
                "INSERT OR IGNORE INTO scorings (run_id, id, created_at, record_json) VALUES (?1, ?2, ?3, ?4)",
                params![run_id, scoring.id, scoring.created_at, json(scoring)],
            )
            .map_err(|e| self.sql(e))?;
        Ok(())
    }

    /// Records one trial's findings under a scoring, in one transaction. A trial is scored
    /// once under a scoring: a second recording is refused (it would count the trial twice).
    pub fn record_findings(
        &self,
        run_id: &str,
        trial_id: &str,
        scoring: &str,
        findings: &[ScoredFinding],
    ) -> Result<(), StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction().map_err(|e| self.sql(e))?;
        let scored: bool = tx
            .query_row(
                "SELECT EXISTS (SELECT 1 FROM findings WHERE run_id = ?1 AND trial_id = ?2 AND scoring = ?3)",
                params![run_id, trial_id, scoring],
                |r| r.get(0),
            )
            .map_err(|e| self.sql(e))?;
        if scored {
            return Err(StoreError::Data {
                path: self.path.clone(),
                message: format!(
                    "trial {trial_id} of run {run_id} already has findings under scoring {scoring}"
                ),
            });
        }
        insert_findings(&tx, run_id, trial_id, scoring, findings).map_err(|e| self.sql(e))?;
        if !findings.is_empty() {
            tx.prepare_cached(&add_cell_verdicts(
                ADD_TRIAL_VERDICTS.0,
                ADD_TRIAL_VERDICTS.1,
            ))
            .and_then(|mut s| s.execute(params![run_id, trial_id, scoring]))
            .map_err(|e| self.sql(e))?;
        }
        tx.commit().map_err(|e| self.sql(e))
    }
}

/// Copies into `into` every run and trial of the store at `from` that `into` lacks, in one
/// transaction. Returns the number of trials copied.
pub fn merge(into: &Store, from: &Path) -> Result<u64, StoreError> {
    let shown = from.display().to_string();
    {
        // Opening checks that it is a store of a version this host reads.
        let source = Store::open(from)?;
        let version: String = source
            .conn()
            .query_row(
                "SELECT value FROM meta WHERE key = 'schema_version'",
                [],
                |r| r.get(0),
            )
            .map_err(|e| source.sql(e))?;
        if version != SCHEMA_VERSION.to_string() {
            return Err(StoreError::Data {
                path: shown,
                message: format!("store schema {version}; merging needs schema {SCHEMA_VERSION}"),
            });
        }
    }
    let mut conn = into.conn();
    conn.execute(
        "ATTACH DATABASE ?1 AS src",
        params![from.display().to_string()],
    )
    .map_err(|e| into.sql(e))?;
    let result = (|| {
        let tx = conn.transaction()?;
        tx.execute_batch(
            "CREATE TEMP TABLE new_trials AS
                 SELECT run_id, id FROM src.trials t
                 WHERE NOT EXISTS (SELECT 1 FROM main.trials m WHERE m.run_id = t.run_id AND m.id = t.id);
             INSERT OR IGNORE INTO main.runs SELECT * FROM src.runs;
             INSERT OR IGNORE INTO main.run_plugins SELECT * FROM src.run_plugins;
             INSERT OR IGNORE INTO main.blobs SELECT b.* FROM src.blobs b
                 WHERE b.hash IN (SELECT t.setup_blob FROM src.trials t JOIN new_trials n ON n.run_id = t.run_id AND n.id = t.id
                                  UNION SELECT t.initial_world_blob FROM src.trials t JOIN new_trials n ON n.run_id = t.run_id AND n.id = t.id
                                  UNION SELECT t.final_world_blob FROM src.trials t JOIN new_trials n ON n.run_id = t.run_id AND n.id = t.id);
             INSERT INTO main.trials SELECT t.* FROM src.trials t JOIN new_trials n ON n.run_id = t.run_id AND n.id = t.id;
             INSERT INTO main.messages SELECT x.* FROM src.messages x JOIN new_trials n ON n.run_id = x.run_id AND n.id = x.trial_id;
             INSERT INTO main.events SELECT x.* FROM src.events x JOIN new_trials n ON n.run_id = x.run_id AND n.id = x.trial_id;
             INSERT INTO main.findings SELECT x.* FROM src.findings x JOIN new_trials n ON n.run_id = x.run_id AND n.id = x.trial_id;",
        )?;
        // The copied trials are counted into the summaries and the trial order.
        let is_new = "IN (SELECT run_id, id FROM new_trials)";
        tx.execute(
            &add_cell_verdicts(
                "INDEXED BY findings_by_trial",
                &format!("(f.run_id, f.trial_id) {is_new}"),
            ),
            [],
        )?;
        tx.execute(&add_cell_statuses(&format!("(run_id, id) {is_new}")), [])?;
        for statement in add_trial_order(&format!("(t.run_id, t.id) {is_new}")) {
            tx.execute(&statement, [])?;
        }
        let copied: i64 = tx.query_row("SELECT COUNT(*) FROM new_trials", [], |r| r.get(0))?;
        tx.execute_batch("DROP TABLE new_trials")?;
        tx.commit()?;
        Ok(copied as u64)
    })();
    let _ = conn.execute("DETACH DATABASE src", []);
    result.map_err(|source: rusqlite::Error| StoreError::Sql {
        path: shown,
        source,
    })
}

/// The blob hash of `value` (a setup or a world), written in `tx` unless `written` says this
/// store has written it before.
fn written_blob<T>(
    tx: &rusqlite::Transaction<'_>,
    written: &Memo<Fingerprinted<T::Owned>, String>,
    fingerprint: u64,
    value: &T,
) -> rusqlite::Result<String>
where
    T: ToOwned + Serialize + ?Sized,
    T::Owned: PartialEq<T>,
{
    written.get_or_try_build(
        |kept| kept.fingerprint == fingerprint && kept.value == *value,
        || Fingerprinted {
            fingerprint,
            value: value.to_owned(),
        },
        || blob(tx, &json(value)),
    )
}

/// Inserts one trial's findings under a scoring, inside the caller's transaction (which
/// counts them in the cell summaries); returns the rowids inserted.
fn insert_findings(
    tx: &rusqlite::Transaction<'_>,
    run_id: &str,
    trial_id: &str,
    scoring: &str,
    findings: &[ScoredFinding],
) -> rusqlite::Result<Inserted> {
    let mut inserted = Inserted::default();
    let mut stmt = tx.prepare_cached(
        "INSERT INTO findings (run_id, trial_id, scoring, detector, behaviour, verdict, explanation, evidence_json, value_json)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )?;
    for f in findings {
        stmt.execute(params![
            run_id,
            trial_id,
            scoring,
            f.detector,
            f.finding.behaviour,
            f.finding.verdict.as_str(),
            f.finding.explanation,
            evidence_json(&f.finding.evidence),
            f.finding.value.as_ref().map(value_json),
        ])?;
        inserted.add(tx.last_insert_rowid());
    }
    Ok(inserted)
}
