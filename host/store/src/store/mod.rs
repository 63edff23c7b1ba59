//! The result store: one SQLite file holding runs (with provenance), trials, transcripts,
//! world events and findings.
//!
//! A trial is written in one transaction when it has finished, so a crash never leaves part of
//! a trial behind and a rerun finds exactly the trials that are complete.

use std::path::Path;
use std::sync::Mutex;

use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};

use peerpressure_types::error::{HasOrigin, Origin};
use peerpressure_types::memo::Memo;
use peerpressure_types::plugin::{
    Evidence, EvidenceKind, File, FindingValue, Message, Role, TrialRecord, TrialSetup, TrialSpec,
    WorldEvent,
};
pub use peerpressure_types::run::PluginRecord;
use peerpressure_types::trial::{ScoredFinding, TrialResult};

/// Bumped on every incompatible change of the tables below. Schema 2 keeps per-cell counts
/// ([`SUMMARIES`]) that every write must maintain, so a host that writes schema 1 must not
/// write to it; a schema 1 store is brought up to 2 by the first read-write open.
pub const SCHEMA_VERSION: i64 = 2;

/// Scoring id of the findings made while a run executed (re-scorings get their own).
pub const RUN_SCORING: &str = "run";

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot open the store {path}: {source}")]
    Open {
        path: String,
        source: rusqlite::Error,
    },
    #[error(
        "the store {path} was written by a newer PeerPressure (store schema {found}; this version reads up to {SCHEMA_VERSION}): upgrade PeerPressure to read it"
    )]
    TooNew { path: String, found: i64 },
    #[error("store {path}: {source}")]
    Sql {
        path: String,
        source: rusqlite::Error,
    },
    #[error("store {path}: {message}")]
    Data { path: String, message: String },
    #[error("the store {path} names a directory: give a file in it, e.g. {suggestion}")]
    Directory { path: String, suggestion: String },
}

impl HasOrigin for StoreError {
    fn origin(&self) -> Origin {
        match self {
            StoreError::Open { .. }
            | StoreError::TooNew { .. }
            | StoreError::Data { .. }
            | StoreError::Directory { .. } => Origin::Input,
            // A file that is not a store (or a damaged one) is the input; anything else
            // SQLite reports (a full disk, a lock) is a failure at work.
            StoreError::Sql { source, .. } => match source.sqlite_error_code() {
                Some(rusqlite::ErrorCode::NotADatabase | rusqlite::ErrorCode::DatabaseCorrupt) => {
                    Origin::Input
                }
                _ => Origin::Work,
            },
        }
    }
}

/// Value statistics of one cell: behaviour, scenario, model, axes (JSON), statistics.
pub type ValueRow = (String, String, String, String, crate::stats::ValueStats);

/// Refuses a store path that names a directory, existing or not (`results/`), before
/// anything is created: SQLite would otherwise make a file named like the directory.
pub fn check_not_a_directory(path: &Path) -> Result<(), StoreError> {
    let text = path.as_os_str().to_string_lossy();
    if path.is_dir() || text.ends_with('/') || text.ends_with(std::path::MAIN_SEPARATOR) {
        let suggestion = path.join("runs.db").display().to_string();
        return Err(StoreError::Directory {
            path: text.into_owned(),
            suggestion,
        });
    }
    Ok(())
}

/// What the viewer's trial list filters on; empty fields match everything.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct TrialFilter {
    pub model: Option<String>,
    pub scenario: Option<String>,
    /// `axis=value` pairs the trial must have.
    #[serde(default)]
    pub axes: Vec<(String, String)>,
    /// Trials with a finding for this behaviour (with `verdict`, that verdict).
    pub behaviour: Option<String>,
    pub verdict: Option<String>,
    /// `completed`, `turn-limit` or `error`.
    pub status: Option<String>,
}

/// One row of the viewer's trial list.
#[derive(Debug, Clone, Serialize)]
pub struct TrialSummary {
    pub id: String,
    pub scenario: String,
    pub model: String,
    pub agent: String,
    pub epoch: i64,
    pub axes: Vec<(String, String)>,
    pub status: String,
    pub turns: i64,
    pub cost: Option<f64>,
    /// `behaviour=verdict` for every finding of the scoring.
    pub verdicts: Vec<(String, String)>,
}

/// One finding of a scoring with its trial's identity.
#[derive(Debug, Clone)]
pub struct FindingIndexRow {
    pub trial: String,
    pub model: String,
    pub axes_json: String,
    pub behaviour: String,
    pub verdict: String,
    pub scenario: String,
}

/// A re-scoring of a run: which detectors and judge made it, and when.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ScoringRecord {
    pub id: String,
    pub created_at: String,
    pub host_version: String,
    pub detectors: Vec<PluginRecord>,
    pub judge: Option<String>,
    pub command: String,
}

/// A run and its provenance.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunRecord {
    pub id: String,
    pub created_at: String,
    pub host_version: String,
    pub seed: u64,
    pub epochs: u32,
    pub models: Vec<String>,
    /// The generation settings each API model ran with.
    #[serde(default)]
    pub model_settings:
        std::collections::BTreeMap<String, peerpressure_types::settings::GenerationSettings>,
    pub judge: Option<String>,
    pub axes: std::collections::BTreeMap<String, Vec<String>>,
    /// The plugin set (`name` and file) the run came from, if any.
    #[serde(default)]
    pub set: Option<String>,
    pub plugins: Vec<PluginRecord>,
    pub command: String,
    /// What `peerpressure resume` needs to rebuild the run.
    #[serde(default)]
    pub spec: Option<peerpressure_types::run::RunDefinition>,
    /// Tables and contrasts declared by the plugin set, computed by reports.
    #[serde(default, skip_serializing_if = "crate::analysis::Analysis::is_empty")]
    pub analysis: crate::analysis::Analysis,
    /// Trials in the whole grid, when known: with the recorded count, a run's progress.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grid_size: Option<u64>,
}

pub struct Store {
    path: String,
    conn: Mutex<Connection>,
    /// Setups and worlds this store has committed as blobs, with their hashes: a cell's
    /// trials repeat them, and serializing and hashing them again was most of the writer's
    /// own (non-SQLite) work. Blobs are never deleted, so a kept hash stays valid; it is
    /// cleared when a transaction that may have added one fails.
    written_setups: Memo<Fingerprinted<TrialSetup>, String>,
    written_worlds: Memo<Fingerprinted<Vec<File>>, String>,
}

/// A value with a cheap fingerprint (lengths), so looking for it among kept values
/// compares whole values only where the fingerprints agree.
struct Fingerprinted<T> {
    fingerprint: u64,
    value: T,
}

/// Kept blob hashes, of setups and of worlds each.
const WRITTEN_BLOBS_KEPT: usize = 16;

fn setup_fingerprint(s: &TrialSetup) -> u64 {
    [
        s.system_prompt.len(),
        s.user_prompt.len(),
        s.ground_truth.len(),
        s.tools.len(),
        s.builtin_tools.len(),
    ]
    .iter()
    .fold(0u64, |h, n| {
        h.wrapping_mul(1_000_003).wrapping_add(*n as u64)
    })
}

fn world_fingerprint(files: &[File]) -> u64 {
    files.iter().fold(files.len() as u64, |h, f| {
        h.wrapping_mul(1_000_003)
            .wrapping_add((f.path.len() + f.content.len()) as u64)
            .wrapping_add(f.modified as u64)
    })
}

/// Tables added after schema 1 that older readers can ignore.
const ADDITIVE: &str = "
CREATE INDEX IF NOT EXISTS trials_by_model ON trials (run_id, model);
-- a run's trials in recording order (an index ends with the rowid): the viewer's pages
CREATE INDEX IF NOT EXISTS trials_by_run ON trials (run_id);
CREATE INDEX IF NOT EXISTS findings_by_verdict ON findings (run_id, scoring, behaviour, verdict, trial_id);
-- one trial's findings under one scoring (exports, the viewer's trial page, report examples):
-- without it SQLite plans that lookup on findings_by_scoring and scans every trial's findings
CREATE INDEX IF NOT EXISTS findings_by_trial_scoring ON findings (run_id, trial_id, scoring);
CREATE TABLE IF NOT EXISTS scorings (
    run_id TEXT NOT NULL, id TEXT NOT NULL, created_at TEXT NOT NULL, record_json TEXT NOT NULL,
    PRIMARY KEY (run_id, id)
);
";

/// The tables of [`SUMMARIES`], dropped and counted afresh together.
const SUMMARY_TABLES: [&str; 4] = ["cell_verdicts", "cell_statuses", "trial_order", "cells"];

/// Whether every table in `names` exists.
fn tables_exist(conn: &Connection, names: &[&str]) -> rusqlite::Result<bool> {
    let list = serde_json::to_string(names).expect("names serialize");
    conn.query_row(
        "SELECT COUNT(*) = json_array_length(?1) FROM sqlite_master WHERE name IN (SELECT value FROM json_each(?1))",
        params![list],
        |r| r.get(0),
    )
}

/// Counts kept as trials and findings are written (schema 2), so a report of a million
/// trials reads a few hundred rows instead of grouping millions of findings by cell.
const SUMMARIES: &str = "
-- per cell (scenario, model, axes) of a scoring: trials with a finding of this behaviour and
-- verdict, and the count, sum and sum of squares of the numeric values of decided findings
CREATE TABLE IF NOT EXISTS cell_verdicts (
    run_id TEXT NOT NULL, scoring TEXT NOT NULL, scenario TEXT NOT NULL, model TEXT NOT NULL,
    axes_json TEXT NOT NULL, behaviour TEXT NOT NULL, verdict TEXT NOT NULL,
    trials INTEGER NOT NULL, value_n INTEGER NOT NULL, value_sum REAL NOT NULL, value_sum_sq REAL NOT NULL,
    PRIMARY KEY (run_id, scoring, scenario, model, axes_json, behaviour, verdict)
) WITHOUT ROWID;
-- per cell and trial status: trials, tokens, dollars and trials without a price
CREATE TABLE IF NOT EXISTS cell_statuses (
    run_id TEXT NOT NULL, scenario TEXT NOT NULL, model TEXT NOT NULL, axes_json TEXT NOT NULL,
    status TEXT NOT NULL, trials INTEGER NOT NULL,
    input_tokens INTEGER NOT NULL, output_tokens INTEGER NOT NULL,
    reasoning_tokens INTEGER NOT NULL, cached_tokens INTEGER NOT NULL,
    cost REAL NOT NULL, unpriced INTEGER NOT NULL,
    PRIMARY KEY (run_id, scenario, model, axes_json, status)
) WITHOUT ROWID;
-- a run's cells, numbered, and its trials in recording order (`trial` is the trials rowid)
-- with their cell and status: the viewer pages through these narrow rows, so skipping the
-- trials of other cells reads a few bytes a trial instead of the whole trial row
CREATE TABLE IF NOT EXISTS cells (
    id INTEGER PRIMARY KEY, run_id TEXT NOT NULL, scenario TEXT NOT NULL, model TEXT NOT NULL,
    axes_json TEXT NOT NULL, UNIQUE (run_id, scenario, model, axes_json)
);
CREATE TABLE IF NOT EXISTS trial_order (
    run_id TEXT NOT NULL, trial INTEGER NOT NULL, cell INTEGER NOT NULL, status TEXT NOT NULL,
    PRIMARY KEY (run_id, trial)
) WITHOUT ROWID;
";

/// Adds the trials that match `filter` (a condition on `trials`) to `cells` and `trial_order`.
fn add_trial_order(filter: &str) -> [String; 2] {
    [
        format!(
            "INSERT OR IGNORE INTO cells (run_id, scenario, model, axes_json)
             SELECT DISTINCT t.run_id, t.scenario, t.model, t.axes_json FROM trials t WHERE {filter}"
        ),
        format!(
            "INSERT INTO trial_order (run_id, trial, cell, status)
             SELECT t.run_id, t.rowid, c.id, t.status FROM trials t JOIN cells c
                 ON c.run_id = t.run_id AND c.scenario = t.scenario AND c.model = t.model AND c.axes_json = t.axes_json
             WHERE {filter} ORDER BY t.rowid"
        ),
    ]
}

/// Adds to [`SUMMARIES`] the findings that match `filter` (a condition on `findings f`),
/// each of whose trials must not have been counted before under the same scoring. `index`
/// says how to read findings (`INDEXED BY ...`, or `NOT INDEXED` for a rowid range):
/// planned otherwise on `findings_by_verdict`, a trial's lookup would scan every finding of
/// its run.
fn add_cell_verdicts(index: &str, filter: &str) -> String {
    format!(
        "INSERT INTO cell_verdicts (run_id, scoring, scenario, model, axes_json, behaviour, verdict, trials, value_n, value_sum, value_sum_sq)
         SELECT run_id, scoring, scenario, model, axes_json, behaviour, verdict,
                COUNT(DISTINCT trial_id), COUNT(x), TOTAL(x), TOTAL(x * x)
         FROM (SELECT f.run_id, f.scoring, t.scenario, t.model, t.axes_json, f.behaviour, f.verdict, f.trial_id,
                      CASE WHEN f.verdict IN ('positive', 'negative') AND f.value_json GLOB '[0-9-]*'
                           THEN CAST(f.value_json AS REAL) END AS x
               FROM findings f {index} JOIN trials t ON t.run_id = f.run_id AND t.id = f.trial_id
               WHERE {filter})
         WHERE true
         GROUP BY run_id, scoring, scenario, model, axes_json, behaviour, verdict
         ON CONFLICT (run_id, scoring, scenario, model, axes_json, behaviour, verdict) DO UPDATE SET
             trials = trials + excluded.trials, value_n = value_n + excluded.value_n,
             value_sum = value_sum + excluded.value_sum, value_sum_sq = value_sum_sq + excluded.value_sum_sq"
    )
}

/// Adds to `cell_statuses` the trials that match `filter` (a condition on `trials`).
fn add_cell_statuses(filter: &str) -> String {
    format!(
        "INSERT INTO cell_statuses (run_id, scenario, model, axes_json, status, trials, input_tokens, output_tokens, reasoning_tokens, cached_tokens, cost, unpriced)
         SELECT run_id, scenario, model, axes_json, status, COUNT(*),
                COALESCE(SUM(json_extract(usage_json, '$.input_tokens')), 0),
                COALESCE(SUM(json_extract(usage_json, '$.output_tokens')), 0),
                COALESCE(SUM(json_extract(usage_json, '$.reasoning_tokens')), 0),
                COALESCE(SUM(json_extract(usage_json, '$.cached_tokens')), 0),
                TOTAL(cost), SUM(cost IS NULL)
         FROM trials WHERE {filter}
         GROUP BY run_id, scenario, model, axes_json, status
         ON CONFLICT (run_id, scenario, model, axes_json, status) DO UPDATE SET
             trials = trials + excluded.trials,
             input_tokens = input_tokens + excluded.input_tokens,
             output_tokens = output_tokens + excluded.output_tokens,
             reasoning_tokens = reasoning_tokens + excluded.reasoning_tokens,
             cached_tokens = cached_tokens + excluded.cached_tokens,
             cost = cost + excluded.cost, unpriced = unpriced + excluded.unpriced"
    )
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
    id TEXT PRIMARY KEY,
    created_at TEXT NOT NULL,
    host_version TEXT NOT NULL,
    record_json TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS run_plugins (
    run_id TEXT NOT NULL, kind TEXT NOT NULL, name TEXT NOT NULL, version TEXT NOT NULL,
    interface_version TEXT NOT NULL, sha256 TEXT NOT NULL, size INTEGER NOT NULL, path TEXT NOT NULL,
    PRIMARY KEY (run_id, sha256)
);
CREATE TABLE IF NOT EXISTS trials (
    run_id TEXT NOT NULL,
    id TEXT NOT NULL,
    scenario TEXT NOT NULL,
    model TEXT NOT NULL,
    agent TEXT NOT NULL,
    epoch INTEGER NOT NULL,
    seed INTEGER NOT NULL,
    axes_json TEXT NOT NULL,
    status TEXT NOT NULL,
    error TEXT,
    turns INTEGER NOT NULL,
    duration_ms INTEGER NOT NULL,
    usage_json TEXT NOT NULL,
    cost REAL,
    -- content-addressed (blobs.hash): setups and worlds repeat across a cell's trials
    setup_blob TEXT,
    initial_world_blob TEXT NOT NULL,
    final_world_blob TEXT NOT NULL,
    plugin_output_json TEXT NOT NULL,
    finished_at TEXT NOT NULL,
    PRIMARY KEY (run_id, id)
);
CREATE TABLE IF NOT EXISTS messages (
    run_id TEXT NOT NULL, trial_id TEXT NOT NULL, idx INTEGER NOT NULL,
    role TEXT NOT NULL, content TEXT NOT NULL, reasoning TEXT, tool_calls_json TEXT NOT NULL,
    tool_call_id TEXT, is_error INTEGER NOT NULL,
    -- the model call behind an assistant message: usage, cost, cache hit, attempts
    call_json TEXT,
    PRIMARY KEY (run_id, trial_id, idx)
);
CREATE TABLE IF NOT EXISTS events (
    run_id TEXT NOT NULL, trial_id TEXT NOT NULL, idx INTEGER NOT NULL,
    kind TEXT NOT NULL, machine TEXT NOT NULL, path TEXT NOT NULL, target TEXT,
    before TEXT, after TEXT, tool_call_id TEXT, turn INTEGER NOT NULL,
    PRIMARY KEY (run_id, trial_id, idx)
);
CREATE TABLE IF NOT EXISTS findings (
    run_id TEXT NOT NULL, trial_id TEXT NOT NULL, scoring TEXT NOT NULL,
    detector TEXT NOT NULL, behaviour TEXT NOT NULL, verdict TEXT NOT NULL,
    explanation TEXT NOT NULL, evidence_json TEXT NOT NULL, value_json TEXT
);
CREATE TABLE IF NOT EXISTS blobs (hash TEXT PRIMARY KEY, data TEXT NOT NULL) WITHOUT ROWID;
-- trials with their setup and worlds as JSON, for people and tools querying the store
CREATE VIEW IF NOT EXISTS trial_details AS
    SELECT t.*, s.data AS setup_json, iw.data AS initial_world_json, fw.data AS final_world_json
    FROM trials t
    LEFT JOIN blobs s ON s.hash = t.setup_blob
    LEFT JOIN blobs iw ON iw.hash = t.initial_world_blob
    LEFT JOIN blobs fw ON fw.hash = t.final_world_blob;
CREATE INDEX IF NOT EXISTS findings_by_trial ON findings (run_id, trial_id);
CREATE INDEX IF NOT EXISTS findings_by_scoring ON findings (run_id, scoring, behaviour);
";

/// The store's schema version (`None` for a new file); a version newer than this host's
/// is refused, so an old host never misreads a newer store.
/// `query_failed` says how a failed query is reported (opening for reading or writing).
fn schema_version(
    conn: &Connection,
    shown: &str,
    query_failed: impl FnOnce(rusqlite::Error) -> StoreError,
) -> Result<Option<i64>, StoreError> {
    let found: Option<String> = conn
        .query_row(
            "SELECT value FROM meta WHERE key = 'schema_version'",
            [],
            |r| r.get(0),
        )
        .optional()
        .map_err(query_failed)?;
    match found.map(|v| v.parse::<i64>().unwrap_or(i64::MAX)) {
        Some(v) if v > SCHEMA_VERSION => Err(StoreError::TooNew {
            path: shown.to_string(),
            found: v,
        }),
        version => Ok(version),
    }
}

pub fn now_rfc3339() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let mut text = peerpressure_types::time::format_time(secs).replace(' ', "T");
    text.push_str(&format!(":{:02}Z", secs % 60));
    text
}

/// A run's trials with their setup and worlds, in recording order: the order their rows and
/// their messages', events' and findings' rows were written in, so a dump of a store larger
/// than memory reads the file front to back (in id order, which is random, each trial cost
/// several random reads: a million-trial CSV export ran at a few MB/s from a cold cache).
/// Setups and worlds come by content hash (blobs), so a dump parses each distinct one once.
const TRIAL_DUMP_QUERY: &str = "SELECT id, scenario, model, agent, epoch, seed, axes_json, status, error, turns, usage_json, cost, setup_blob, initial_world_blob, final_world_blob, plugin_output_json
     FROM trials INDEXED BY trials_by_run WHERE run_id = ?1 ORDER BY rowid";
/// [`TRIAL_DUMP_QUERY`] of the trials whose ids are in the JSON array `?2`, in id order.
const TRIAL_DUMP_OF_QUERY: &str = "SELECT id, scenario, model, agent, epoch, seed, axes_json, status, error, turns, usage_json, cost, setup_blob, initial_world_blob, final_world_blob, plugin_output_json
     FROM trials WHERE run_id = ?1 AND id IN (SELECT value FROM json_each(?2)) ORDER BY id";
/// Counting one trial's findings under a scoring into the summaries, as a re-scoring does
/// (planned on the trial).
const ADD_TRIAL_VERDICTS: (&str, &str) = (
    "INDEXED BY findings_by_trial_scoring",
    "f.run_id = ?1 AND f.trial_id = ?2 AND f.scoring = ?3",
);
/// Counting the trials a writer's transaction inserted, with their findings, into the
/// summaries and the trial order: once per transaction, by the rowids it inserted (a
/// transaction's rows are inserted in a row, so they are a range of the table's own key).
const ADD_BATCH_VERDICTS: (&str, &str) = ("NOT INDEXED", "f.rowid BETWEEN ?1 AND ?2");
const ADD_BATCH_STATUSES: &str = "rowid BETWEEN ?1 AND ?2";
const ADD_BATCH_ORDER: &str = "t.rowid BETWEEN ?1 AND ?2";
const BLOB: &str = "SELECT data FROM blobs WHERE hash = ?1";
/// One trial's transcript, events and findings: every export and trial page runs these per
/// trial, so each must be planned on an index that starts with the trial (tested below).
const MESSAGES_OF_TRIAL: &str = "SELECT idx, role, content, reasoning, tool_calls_json, tool_call_id, is_error FROM messages WHERE run_id = ?1 AND trial_id = ?2 ORDER BY idx";
const EVENTS_OF_TRIAL: &str = "SELECT idx, kind, machine, path, target, before, after, tool_call_id, turn FROM events WHERE run_id = ?1 AND trial_id = ?2 ORDER BY idx";
const FINDINGS_OF_TRIAL: &str = "SELECT detector, behaviour, verdict, explanation, evidence_json, value_json FROM findings WHERE run_id = ?1 AND trial_id = ?2 AND scoring = ?3";

impl Store {
    fn new(path: String, conn: Connection) -> Self {
        Store {
            path,
            conn: Mutex::new(conn),
            written_setups: Memo::new(WRITTEN_BLOBS_KEPT),
            written_worlds: Memo::new(WRITTEN_BLOBS_KEPT),
        }
    }

    /// Opens (creating if needed) a store file.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        check_not_a_directory(path)?;
        let shown = path.display().to_string();
        let open_err = |source| StoreError::Open {
            path: shown.clone(),
            source,
        };
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|e| {
                open_err(rusqlite::Error::InvalidPath(
                    format!("{}: {e}", parent.display()).into(),
                ))
            })?;
        }
        let conn = Connection::open(path).map_err(open_err)?;
        let sql = |source| StoreError::Sql {
            path: shown.clone(),
            source,
        };
        conn.busy_timeout(std::time::Duration::from_secs(30))
            .map_err(sql)?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(open_err)?;
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(sql)?;
        // A transaction's summary statements (INSERT ... SELECT ... ON CONFLICT) keep their
        // statement journals and sorts in memory instead of temporary files.
        conn.pragma_update(None, "temp_store", "MEMORY")
            .map_err(sql)?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);",
        )
        .map_err(open_err)?;
        let version = schema_version(&conn, &shown, sql)?;
        // Additive tables (readers that do not know them ignore them): created on every open.
        if version.is_none() {
            conn.execute_batch(SCHEMA).map_err(sql)?;
        }
        conn.execute_batch(ADDITIVE).map_err(sql)?;
        let complete = tables_exist(&conn, &SUMMARY_TABLES).map_err(sql)?;
        if version != Some(SCHEMA_VERSION) || !complete {
            // A new store, one of schema 1, or one from a development build of schema 2 that
            // lacked a summary: the summaries are counted afresh from what is recorded (once,
            // in one transaction with the version that says they are kept).
            let tx = conn.unchecked_transaction().map_err(sql)?;
            for table in SUMMARY_TABLES {
                tx.execute_batch(&format!("DROP TABLE IF EXISTS {table}"))
                    .map_err(sql)?;
            }
            tx.execute_batch(SUMMARIES).map_err(sql)?;
            for statement in add_trial_order("true") {
                tx.execute(&statement, []).map_err(sql)?;
            }
            tx.execute(
                &add_cell_verdicts("INDEXED BY findings_by_trial", "true"),
                [],
            )
            .map_err(sql)?;
            tx.execute(&add_cell_statuses("true"), []).map_err(sql)?;
            tx.execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES ('schema_version', ?1)",
                params![SCHEMA_VERSION.to_string()],
            )
            .map_err(sql)?;
            tx.commit().map_err(sql)?;
        }
        Ok(Store::new(shown, conn))
    }

    /// Opens an existing store for reading only: nothing is created, migrated or checkpointed,
    /// so `report`, `export`, `runs` and `view` never write to a store (or its write-ahead
    /// log) and can read one that a run is still writing. A store written by an older host
    /// (an older schema, or lacking a table added since) is brought up to date once, by a
    /// read-write open.
    pub fn open_read_only(path: &Path) -> Result<Self, StoreError> {
        use rusqlite::OpenFlags;
        let shown = path.display().to_string();
        let open_err = |source| StoreError::Open {
            path: shown.clone(),
            source,
        };
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
            | OpenFlags::SQLITE_OPEN_URI;
        let conn = Connection::open_with_flags(path, flags).map_err(open_err)?;
        let sql = |source| StoreError::Sql {
            path: shown.clone(),
            source,
        };
        conn.busy_timeout(std::time::Duration::from_secs(30))
            .map_err(sql)?;
        // Sorts and groupings of a report stay in memory instead of temporary files.
        conn.pragma_update(None, "temp_store", "MEMORY")
            .map_err(sql)?;
        let version = match schema_version(&conn, &shown, open_err)? {
            Some(version) => version,
            None => {
                return Err(StoreError::Open {
                    path: shown,
                    source: rusqlite::Error::InvalidQuery,
                });
            }
        };
        let current = version == SCHEMA_VERSION
            && tables_exist(
                &conn,
                &[
                    &["scorings", "findings_by_trial_scoring", "trials_by_run"][..],
                    &SUMMARY_TABLES[..],
                ]
                .concat(),
            )
            .map_err(sql)?;
        if !current {
            drop(conn);
            return Self::open(path);
        }
        Ok(Store::new(shown, conn))
    }

    fn sql(&self, source: rusqlite::Error) -> StoreError {
        StoreError::Sql {
            path: self.path.clone(),
            source,
        }
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// What a run's trials used in all.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Totals {
    pub usage: peerpressure_types::model::Usage,
    /// US dollars; `None` when some trial's price was unknown.
    pub cost: Option<f64>,
}

#[derive(Debug, Clone)]
pub struct VerdictCount {
    pub scenario: String,
    pub model: String,
    pub axes_json: String,
    pub behaviour: String,
    pub verdict: String,
    pub count: u64,
}

/// Evidence as stored and exported: `[{"kind": "event", "index": 3, "quote": "..."}]`.
pub fn evidence_json(evidence: &[Evidence]) -> String {
    let list: Vec<serde_json::Value> = evidence
        .iter()
        .map(|e| {
            let kind = match e.kind {
                EvidenceKind::Message => "message",
                EvidenceKind::Event => "event",
            };
            serde_json::json!({"kind": kind, "index": e.index, "quote": e.quote})
        })
        .collect();
    serde_json::Value::Array(list).to_string()
}

/// A finding's value as a bare JSON number or string.
pub fn value_json(value: &FindingValue) -> String {
    match value {
        FindingValue::Number(n) => serde_json::json!(n).to_string(),
        FindingValue::Text(t) => serde_json::json!(t).to_string(),
    }
}

/// Stores `data` once under its SHA-256 and returns the hash.
fn blob(tx: &rusqlite::Transaction<'_>, data: &str) -> Result<String, rusqlite::Error> {
    use sha2::Digest;
    let hash = hex::encode(sha2::Sha256::digest(data.as_bytes()));
    tx.prepare_cached("INSERT OR IGNORE INTO blobs (hash, data) VALUES (?1, ?2)")?
        .execute(params![hash, data])?;
    Ok(hash)
}

/// A host record as a JSON column.
fn json<T: Serialize + ?Sized>(value: &T) -> String {
    serde_json::to_string(value).expect("host records serialise to JSON")
}

mod read;
mod trials;
mod write;

#[cfg(test)]
mod tests;

pub use trials::{Blob, EventDump, FindingDump, MessageDump, TrialDump};
pub use write::merge;

/// A trial dump's axes as `axis=value` labels, in the scenario's order.
pub fn dump_axes(trial: &serde_json::Value) -> Vec<String> {
    trial["axes"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|a| {
            format!(
                "{}={}",
                a[0].as_str().unwrap_or(""),
                a[1].as_str().unwrap_or("")
            )
        })
        .collect()
}
