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
use peerpressure_types::plugin::{
    Evidence, EvidenceKind, FindingValue, Message, Role, TrialRecord, TrialSpec, WorldEvent,
};
pub use peerpressure_types::run::PluginRecord;
use peerpressure_types::trial::{ScoredFinding, TrialResult};

/// Bumped on every incompatible change of the tables below.
pub const SCHEMA_VERSION: i64 = 1;

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
}

/// Tables added after schema 1 that older readers can ignore.
const ADDITIVE: &str = "
CREATE INDEX IF NOT EXISTS trials_by_model ON trials (run_id, model);
CREATE INDEX IF NOT EXISTS findings_by_verdict ON findings (run_id, scoring, behaviour, verdict, trial_id);
-- one trial's findings under one scoring (exports, the viewer's trial page, report examples):
-- without it SQLite plans that lookup on findings_by_scoring and scans every trial's findings
CREATE INDEX IF NOT EXISTS findings_by_trial_scoring ON findings (run_id, trial_id, scoring);
CREATE TABLE IF NOT EXISTS scorings (
    run_id TEXT NOT NULL, id TEXT NOT NULL, created_at TEXT NOT NULL, record_json TEXT NOT NULL,
    PRIMARY KEY (run_id, id)
);
";

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

pub fn now_rfc3339() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let mut text = peerpressure_types::time::format_time(secs).replace(' ', "T");
    text.push_str(&format!(":{:02}Z", secs % 60));
    text
}

/// A run's trials with their setup and worlds, in id order (optionally only some ids).
const TRIAL_DUMP_QUERY: &str = "SELECT id, scenario, model, agent, epoch, seed, axes_json, status, error, turns, usage_json, cost, setup_json, initial_world_json, final_world_json
     FROM trial_details WHERE run_id = ?1 AND (?2 IS NULL OR id IN (SELECT value FROM json_each(?2))) ORDER BY id";
/// One trial's transcript, events and findings: every export and trial page runs these per
/// trial, so each must be planned on an index that starts with the trial (tested below).
const MESSAGES_OF_TRIAL: &str = "SELECT idx, role, content, reasoning, tool_calls_json, tool_call_id, is_error FROM messages WHERE run_id = ?1 AND trial_id = ?2 ORDER BY idx";
const EVENTS_OF_TRIAL: &str = "SELECT idx, kind, machine, path, target, before, after, tool_call_id, turn FROM events WHERE run_id = ?1 AND trial_id = ?2 ORDER BY idx";
const FINDINGS_OF_TRIAL: &str = "SELECT detector, behaviour, verdict, explanation, evidence_json, value_json FROM findings WHERE run_id = ?1 AND trial_id = ?2 AND scoring = ?3";

impl Store {
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
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);",
        )
        .map_err(open_err)?;
        let found: Option<String> = conn
            .query_row(
                "SELECT value FROM meta WHERE key = 'schema_version'",
                [],
                |r| r.get(0),
            )
            .optional()
            .map_err(sql)?;
        match found.map(|v| v.parse::<i64>().unwrap_or(i64::MAX)) {
            Some(v) if v > SCHEMA_VERSION => {
                return Err(StoreError::TooNew {
                    path: shown,
                    found: v,
                });
            }
            Some(_) => {}
            None => {
                conn.execute_batch(SCHEMA).map_err(sql)?;
                conn.execute(
                    "INSERT OR REPLACE INTO meta (key, value) VALUES ('schema_version', ?1)",
                    params![SCHEMA_VERSION.to_string()],
                )
                .map_err(sql)?;
            }
        }
        // Additive tables (readers that do not know them ignore them): created on every open.
        conn.execute_batch(ADDITIVE).map_err(sql)?;
        Ok(Store {
            path: shown,
            conn: Mutex::new(conn),
        })
    }

    /// Opens an existing store for reading only: nothing is created, migrated or checkpointed,
    /// so `report`, `export`, `runs` and `view` never write to a store (or its write-ahead
    /// log) and can read one that a run is still writing. A store written by an older host
    /// that lacks a table added since is brought up to date once, by a read-write open.
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
        let found: Option<String> = conn
            .query_row(
                "SELECT value FROM meta WHERE key = 'schema_version'",
                [],
                |r| r.get(0),
            )
            .optional()
            .map_err(open_err)?;
        match found.map(|v| v.parse::<i64>().unwrap_or(i64::MAX)) {
            Some(v) if v > SCHEMA_VERSION => {
                return Err(StoreError::TooNew {
                    path: shown,
                    found: v,
                });
            }
            Some(_) => {}
            None => {
                return Err(StoreError::Open {
                    path: shown,
                    source: rusqlite::Error::InvalidQuery,
                });
            }
        }
        let current: bool = conn
            .query_row("SELECT COUNT(*) = 2 FROM sqlite_master WHERE name IN ('scorings', 'findings_by_trial_scoring')", [], |r| r.get(0))
            .map_err(sql)?;
        if !current {
            drop(conn);
            return Self::open(path);
        }
        Ok(Store {
            path: shown,
            conn: Mutex::new(conn),
        })
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

    /// Ids of the trials of `run_id` already recorded.
    pub fn finished_trials(
        &self,
        run_id: &str,
    ) -> Result<std::collections::HashSet<String>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare("SELECT id FROM trials WHERE run_id = ?1")
            .map_err(|e| self.sql(e))?;
        let ids = stmt
            .query_map(params![run_id], |r| r.get::<_, String>(0))
            .map_err(|e| self.sql(e))?
            .collect::<Result<_, _>>()
            .map_err(|e| self.sql(e))?;
        Ok(ids)
    }

    /// Writes a finished trial, with its transcript, events and findings, in one transaction.
    pub fn record_trial(&self, run_id: &str, t: &TrialResult) -> Result<(), StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction().map_err(|e| self.sql(e))?;
        let setup = t
            .setup
            .as_ref()
            .map(|s| blob(&tx, &json(s)))
            .transpose()
            .map_err(|e| self.sql(e))?;
        let initial_world = blob(&tx, &json(&t.initial_world)).map_err(|e| self.sql(e))?;
        let final_world = blob(&tx, &json(&t.final_world)).map_err(|e| self.sql(e))?;
        tx.execute(
            "INSERT INTO trials (run_id, id, scenario, model, agent, epoch, seed, axes_json, status, error, turns, duration_ms,
                usage_json, cost, setup_blob, initial_world_blob, final_world_blob, plugin_output_json, finished_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19)",
            params![
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
            ],
        )
        .map_err(|e| self.sql(e))?;
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
            insert_findings(&tx, run_id, &t.id, RUN_SCORING, &t.findings)
                .map_err(|e| self.sql(e))?;
        }
        tx.commit().map_err(|e| self.sql(e))
    }

    /// A run's record, or the newest run when `id` is `None`.
    pub fn run(&self, id: Option<&str>) -> Result<Option<RunRecord>, StoreError> {
        let conn = self.conn();
        let json: Option<String> = match id {
            Some(id) => conn.query_row(
                "SELECT record_json FROM runs WHERE id = ?1",
                params![id],
                |r| r.get(0),
            ),
            None => conn.query_row(
                "SELECT record_json FROM runs ORDER BY created_at DESC, rowid DESC LIMIT 1",
                [],
                |r| r.get(0),
            ),
        }
        .optional()
        .map_err(|e| self.sql(e))?;
        json.map(|j| {
            serde_json::from_str(&j).map_err(|e| StoreError::Data {
                path: self.path.clone(),
                message: format!("run record: {e}"),
            })
        })
        .transpose()
    }

    pub fn runs(&self) -> Result<Vec<(String, String, i64)>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare("SELECT r.id, r.created_at, (SELECT COUNT(*) FROM trials t WHERE t.run_id = r.id) FROM runs r ORDER BY r.created_at, r.rowid")
            .map_err(|e| self.sql(e))?;
        let rows = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .map_err(|e| self.sql(e))?
            .collect::<Result<_, _>>()
            .map_err(|e| self.sql(e))?;
        Ok(rows)
    }

    /// Count, sum and sum of squares of the numeric values of decided findings (a reported
    /// score), per (scenario, model, axes, behaviour), for one scoring of a run.
    pub fn value_stats(&self, run_id: &str, scoring: &str) -> Result<Vec<ValueRow>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare(
                "SELECT t.scenario, t.model, t.axes_json, f.behaviour, COUNT(*), SUM(CAST(f.value_json AS REAL)), SUM(CAST(f.value_json AS REAL) * CAST(f.value_json AS REAL))
                 FROM findings f JOIN trials t ON t.run_id = f.run_id AND t.id = f.trial_id
                 WHERE f.run_id = ?1 AND f.scoring = ?2 AND f.verdict IN ('positive', 'negative') AND f.value_json GLOB '[0-9-]*'
                 GROUP BY t.scenario, t.model, t.axes_json, f.behaviour",
            )
            .map_err(|e| self.sql(e))?;
        let rows = stmt
            .query_map(params![run_id, scoring], |r| {
                let stats = crate::stats::ValueStats {
                    n: r.get::<_, i64>(4)? as u64,
                    sum: r.get(5)?,
                    sum_sq: r.get(6)?,
                };
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, stats))
            })
            .map_err(|e| self.sql(e))?
            .collect::<Result<_, _>>()
            .map_err(|e| self.sql(e))?;
        Ok(rows)
    }

    /// Verdict counts per (scenario, model, axes, behaviour) for one scoring of a run.
    pub fn verdict_counts(
        &self,
        run_id: &str,
        scoring: &str,
    ) -> Result<Vec<VerdictCount>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare(
                "SELECT t.scenario, t.model, t.axes_json, f.behaviour, f.verdict, COUNT(DISTINCT t.id)
                 FROM findings f JOIN trials t ON t.run_id = f.run_id AND t.id = f.trial_id
                 WHERE f.run_id = ?1 AND f.scoring = ?2
                 GROUP BY t.scenario, t.model, t.axes_json, f.behaviour, f.verdict",
            )
            .map_err(|e| self.sql(e))?;
        let rows = stmt
            .query_map(params![run_id, scoring], |r| {
                Ok(VerdictCount {
                    scenario: r.get(0)?,
                    model: r.get(1)?,
                    axes_json: r.get(2)?,
                    behaviour: r.get(3)?,
                    verdict: r.get(4)?,
                    count: r.get::<_, i64>(5)? as u64,
                })
            })
            .map_err(|e| self.sql(e))?
            .collect::<Result<_, _>>()
            .map_err(|e| self.sql(e))?;
        Ok(rows)
    }

    /// Tokens and dollars a run's trials used; cost is `None` if any trial's price was unknown.
    pub fn totals(&self, run_id: &str) -> Result<Totals, StoreError> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare("SELECT usage_json, cost FROM trials WHERE run_id = ?1")
            .map_err(|e| self.sql(e))?;
        let mut totals = Totals {
            cost: Some(0.0),
            ..Totals::default()
        };
        let rows = stmt
            .query_map(params![run_id], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, Option<f64>>(1)?))
            })
            .map_err(|e| self.sql(e))?;
        for row in rows {
            let (usage, cost) = row.map_err(|e| self.sql(e))?;
            let usage: peerpressure_types::model::Usage =
                serde_json::from_str(&usage).unwrap_or_default();
            totals.usage.add(&usage);
            totals.cost = totals.cost.zip(cost).map(|(a, b)| a + b);
        }
        Ok(totals)
    }

    /// Every recorded trial of a run with its transcript, events and findings, in id order.
    pub fn trial_dumps(
        &self,
        run_id: &str,
        scoring: &str,
    ) -> Result<Vec<serde_json::Value>, StoreError> {
        self.dumps(run_id, scoring, None)
    }

    /// [`Store::trial_dumps`] of the given trials only.
    pub fn trial_dumps_of(
        &self,
        run_id: &str,
        scoring: &str,
        ids: &[String],
    ) -> Result<Vec<serde_json::Value>, StoreError> {
        self.dumps(run_id, scoring, Some(ids))
    }

    fn dumps(
        &self,
        run_id: &str,
        scoring: &str,
        only: Option<&[String]>,
    ) -> Result<Vec<serde_json::Value>, StoreError> {
        let mut out = Vec::new();
        self.visit_dumps(run_id, scoring, only, |trial| {
            out.push(trial);
            Ok(())
        })?;
        Ok(out)
    }

    /// Calls `visit` with each trial of a run as [`Store::trial_dumps`] gives it, one at a time
    /// in id order, so an export of a million trials holds one in memory (each per-trial query
    /// is planned on an index of the trial: see the query-plan test).
    pub fn for_each_trial_dump(
        &self,
        run_id: &str,
        scoring: &str,
        visit: impl FnMut(serde_json::Value) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        self.visit_dumps(run_id, scoring, None, visit)
    }

    fn visit_dumps(
        &self,
        run_id: &str,
        scoring: &str,
        only: Option<&[String]>,
        mut visit: impl FnMut(serde_json::Value) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let conn = self.conn();
        let sql = |e| StoreError::Sql {
            path: self.path.clone(),
            source: e,
        };
        let only = only.map(|ids| serde_json::to_string(ids).unwrap_or_default());
        let mut trials = conn.prepare(TRIAL_DUMP_QUERY).map_err(sql)?;
        let parse = |text: Option<String>| {
            text.and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
                .unwrap_or(serde_json::Value::Null)
        };
        let mut messages = conn.prepare_cached(MESSAGES_OF_TRIAL).map_err(sql)?;
        let mut events = conn.prepare_cached(EVENTS_OF_TRIAL).map_err(sql)?;
        let mut findings = conn.prepare_cached(FINDINGS_OF_TRIAL).map_err(sql)?;
        let mut rows = trials.query(params![run_id, only]).map_err(sql)?;
        while let Some(r) = rows.next().map_err(sql)? {
            let mut trial = serde_json::json!({
                "id": r.get::<_, String>(0).map_err(sql)?, "scenario": r.get::<_, String>(1).map_err(sql)?, "model": r.get::<_, String>(2).map_err(sql)?,
                "agent": r.get::<_, String>(3).map_err(sql)?, "epoch": r.get::<_, i64>(4).map_err(sql)?, "seed": r.get::<_, i64>(5).map_err(sql)? as u64,
                "axes": parse(r.get(6).map_err(sql)?), "status": r.get::<_, String>(7).map_err(sql)?, "error": r.get::<_, Option<String>>(8).map_err(sql)?,
                "turns": r.get::<_, i64>(9).map_err(sql)?, "usage": parse(r.get(10).map_err(sql)?), "cost": r.get::<_, Option<f64>>(11).map_err(sql)?,
                "setup": parse(r.get(12).map_err(sql)?), "initial_world": parse(r.get(13).map_err(sql)?), "final_world": parse(r.get(14).map_err(sql)?),
            });
            let id = trial["id"].as_str().unwrap_or_default().to_string();
            trial["messages"] = messages
                .query_map(params![run_id, id], |r| {
                    Ok(serde_json::json!({"index": r.get::<_, i64>(0)?, "role": r.get::<_, String>(1)?, "content": r.get::<_, String>(2)?,
                        "reasoning": r.get::<_, Option<String>>(3)?, "tool_calls": parse(r.get(4)?), "tool_call_id": r.get::<_, Option<String>>(5)?,
                        "is_error": r.get::<_, bool>(6)?}))
                })
                .map_err(sql)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(sql)?
                .into();
            trial["events"] = events
                .query_map(params![run_id, id], |r| {
                    Ok(serde_json::json!({"index": r.get::<_, i64>(0)?, "kind": r.get::<_, String>(1)?, "machine": r.get::<_, String>(2)?,
                        "path": r.get::<_, String>(3)?, "target": r.get::<_, Option<String>>(4)?, "before": r.get::<_, Option<String>>(5)?,
                        "after": r.get::<_, Option<String>>(6)?, "tool_call_id": r.get::<_, Option<String>>(7)?, "turn": r.get::<_, i64>(8)?}))
                })
                .map_err(sql)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(sql)?
                .into();
            trial["findings"] = findings
                .query_map(params![run_id, id, scoring], |r| {
                    Ok(serde_json::json!({"detector": r.get::<_, String>(0)?, "behaviour": r.get::<_, String>(1)?, "verdict": r.get::<_, String>(2)?,
                        "explanation": r.get::<_, String>(3)?, "evidence": parse(r.get(4)?), "value": parse(r.get(5)?)}))
                })
                .map_err(sql)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(sql)?
                .into();
            visit(trial)?;
        }
        Ok(())
    }

    /// The recorded trials of a run as detectors see them, for re-scoring: (id, record).
    /// Trials that failed before their setup was recorded have nothing to score and are left out.
    pub fn trial_records(&self, run_id: &str) -> Result<Vec<(String, TrialRecord)>, StoreError> {
        let conn = self.conn();
        let sql = |e| StoreError::Sql {
            path: self.path.clone(),
            source: e,
        };
        let data = |message: String| StoreError::Data {
            path: self.path.clone(),
            message,
        };
        let mut trials = conn
            .prepare(
                "SELECT id, scenario, model, epoch, seed, axes_json, status, setup_json, initial_world_json, final_world_json
                 FROM trial_details WHERE run_id = ?1 AND setup_json IS NOT NULL ORDER BY id",
            )
            .map_err(sql)?;
        type Row = (
            String,
            String,
            String,
            i64,
            i64,
            String,
            String,
            String,
            String,
            String,
        );
        let rows: Vec<Row> = trials
            .query_map(params![run_id], |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                    r.get(6)?,
                    r.get(7)?,
                    r.get(8)?,
                    r.get(9)?,
                ))
            })
            .map_err(sql)?
            .collect::<Result<_, _>>()
            .map_err(sql)?;
        let mut messages = conn.prepare_cached(MESSAGES_OF_TRIAL).map_err(sql)?;
        let mut events = conn.prepare_cached(EVENTS_OF_TRIAL).map_err(sql)?;
        let mut out = Vec::with_capacity(rows.len());
        for (id, scenario, model, epoch, seed, axes, status, setup, initial, last) in rows {
            let parse_err = |what: &str, e: serde_json::Error| {
                data(format!("trial {id}: its {what} is not readable: {e}"))
            };
            let messages: Vec<Message> = messages
                .query_map(params![run_id, id], |r| {
                    let role: String = r.get(1)?;
                    let calls: String = r.get(4)?;
                    Ok((
                        r.get::<_, i64>(0)?,
                        role,
                        r.get::<_, String>(2)?,
                        r.get::<_, Option<String>>(3)?,
                        calls,
                        r.get::<_, Option<String>>(5)?,
                        r.get::<_, bool>(6)?,
                    ))
                })
                .map_err(sql)?
                .map(|row| {
                    let (index, role, content, reasoning, calls, tool_call_id, is_error) =
                        row.map_err(sql)?;
                    let role = Role::parse(&role).ok_or_else(|| {
                        data(format!("trial {id}: message {index} has role `{role}`"))
                    })?;
                    let tool_calls =
                        serde_json::from_str(&calls).map_err(|e| parse_err("tool calls", e))?;
                    Ok(Message {
                        index: index as u32,
                        role,
                        content,
                        reasoning,
                        tool_calls,
                        tool_call_id,
                        is_error,
                    })
                })
                .collect::<Result<_, StoreError>>()?;
            let events: Vec<WorldEvent> = events
                .query_map(params![run_id, id], |r| {
                    Ok(WorldEvent {
                        index: r.get::<_, i64>(0)? as u32,
                        kind: r.get(1)?,
                        machine: r.get(2)?,
                        path: r.get(3)?,
                        target: r.get(4)?,
                        before: r.get(5)?,
                        after: r.get(6)?,
                        tool_call_id: r.get(7)?,
                        turn: r.get::<_, i64>(8)? as u32,
                    })
                })
                .map_err(sql)?
                .collect::<Result<_, _>>()
                .map_err(sql)?;
            let record = TrialRecord {
                spec: TrialSpec {
                    trial_id: id.clone(),
                    axes: serde_json::from_str(&axes).map_err(|e| parse_err("axes", e))?,
                    seed: seed as u64,
                    model_family: peerpressure_types::model::model_family(&model),
                    model,
                    epoch: epoch as u32,
                },
                scenario,
                setup: serde_json::from_str(&setup).map_err(|e| parse_err("setup", e))?,
                messages,
                events,
                initial_world: serde_json::from_str(&initial)
                    .map_err(|e| parse_err("initial world", e))?,
                final_world: serde_json::from_str(&last)
                    .map_err(|e| parse_err("final world", e))?,
                outcome: status,
            };
            out.push((id, record));
        }
        Ok(out)
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

    /// The re-scorings of a run, oldest first.
    pub fn scorings(&self, run_id: &str) -> Result<Vec<ScoringRecord>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare(
                "SELECT record_json FROM scorings WHERE run_id = ?1 ORDER BY created_at, rowid",
            )
            .map_err(|e| self.sql(e))?;
        let texts: Vec<String> = stmt
            .query_map(params![run_id], |r| r.get(0))
            .map_err(|e| self.sql(e))?
            .collect::<Result<_, _>>()
            .map_err(|e| self.sql(e))?;
        texts
            .iter()
            .map(|t| {
                serde_json::from_str(t).map_err(|e| StoreError::Data {
                    path: self.path.clone(),
                    message: format!("a scoring record is not readable: {e}"),
                })
            })
            .collect()
    }

    /// Trials of a run that already have findings under `scoring`.
    pub fn scored_trials(
        &self,
        run_id: &str,
        scoring: &str,
    ) -> Result<std::collections::HashSet<String>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare("SELECT DISTINCT trial_id FROM findings WHERE run_id = ?1 AND scoring = ?2")
            .map_err(|e| self.sql(e))?;
        let ids = stmt
            .query_map(params![run_id, scoring], |r| r.get(0))
            .map_err(|e| self.sql(e))?
            .collect::<Result<_, _>>()
            .map_err(|e| self.sql(e))?;
        Ok(ids)
    }

    /// Records one trial's findings under a scoring, in one transaction.
    pub fn record_findings(
        &self,
        run_id: &str,
        trial_id: &str,
        scoring: &str,
        findings: &[ScoredFinding],
    ) -> Result<(), StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction().map_err(|e| self.sql(e))?;
        insert_findings(&tx, run_id, trial_id, scoring, findings).map_err(|e| self.sql(e))?;
        tx.commit().map_err(|e| self.sql(e))
    }

    /// One row per finding of a scoring, for picking example trials of a report's rows.
    pub fn finding_index(
        &self,
        run_id: &str,
        scoring: &str,
    ) -> Result<Vec<FindingIndexRow>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare(
                "SELECT t.id, t.model, t.axes_json, f.behaviour, f.verdict, t.scenario FROM findings f JOIN trials t ON t.run_id = f.run_id AND t.id = f.trial_id
                 WHERE f.run_id = ?1 AND f.scoring = ?2 ORDER BY t.id",
            )
            .map_err(|e| self.sql(e))?;
        let rows = stmt
            .query_map(params![run_id, scoring], |r| {
                Ok(FindingIndexRow {
                    trial: r.get(0)?,
                    model: r.get(1)?,
                    axes_json: r.get(2)?,
                    behaviour: r.get(3)?,
                    verdict: r.get(4)?,
                    scenario: r.get(5)?,
                })
            })
            .map_err(|e| self.sql(e))?
            .collect::<Result<_, _>>()
            .map_err(|e| self.sql(e))?;
        Ok(rows)
    }

    /// A page of a run's trials matching `filter`, in recording order, and how many match.
    pub fn trial_page(
        &self,
        run_id: &str,
        scoring: &str,
        filter: &TrialFilter,
        offset: u64,
        limit: u64,
    ) -> Result<(u64, Vec<TrialSummary>), StoreError> {
        let mut clauses = vec!["t.run_id = ?1".to_string()];
        let mut args: Vec<String> = vec![run_id.to_string()];
        let mut push = |clause: &str, value: String| {
            args.push(value);
            clauses.push(clause.replace('?', &format!("?{}", args.len())));
        };
        if let Some(m) = &filter.model {
            push("t.model = ?", m.clone());
        }
        if let Some(s) = &filter.scenario {
            push("t.scenario = ?", s.clone());
        }
        if let Some(s) = &filter.status {
            push("t.status = ?", s.clone());
        }
        for (k, v) in &filter.axes {
            push(
                "t.axes_json LIKE ? ESCAPE '\\'",
                format!(
                    "%{}%",
                    serde_json::json!([k, v])
                        .to_string()
                        .replace('\\', "\\\\")
                        .replace('%', "\\%")
                        .replace('_', "\\_")
                ),
            );
        }
        // Verdict filters as one `IN` set: SQLite builds it once, instead of a correlated
        // lookup per trial.
        if filter.behaviour.is_some() || filter.verdict.is_some() {
            args.push(scoring.to_string());
            let mut inner = format!(
                "SELECT trial_id FROM findings WHERE run_id = ?1 AND scoring = ?{}",
                args.len()
            );
            if let Some(b) = &filter.behaviour {
                args.push(b.clone());
                inner.push_str(&format!(" AND behaviour = ?{}", args.len()));
            }
            if let Some(v) = &filter.verdict {
                args.push(v.clone());
                inner.push_str(&format!(" AND verdict = ?{}", args.len()));
            }
            clauses.push(format!("t.id IN ({inner})"));
        }
        let conn = self.conn();
        let sql = |e| StoreError::Sql {
            path: self.path.clone(),
            source: e,
        };
        let condition = clauses.join(" AND ");
        let total: i64 = conn
            .query_row(
                &format!("SELECT COUNT(*) FROM trials t WHERE {condition}"),
                rusqlite::params_from_iter(args.iter()),
                |r| r.get(0),
            )
            .map_err(sql)?;
        let mut stmt = conn
            .prepare(&format!(
                "SELECT t.id, t.scenario, t.model, t.agent, t.epoch, t.axes_json, t.status, t.turns, t.cost
                 FROM trials t WHERE {condition} ORDER BY t.rowid LIMIT {limit} OFFSET {offset}"
            ))
            .map_err(sql)?;
        let mut rows: Vec<TrialSummary> = stmt
            .query_map(rusqlite::params_from_iter(args.iter()), |r| {
                Ok(TrialSummary {
                    id: r.get(0)?,
                    scenario: r.get(1)?,
                    model: r.get(2)?,
                    agent: r.get(3)?,
                    epoch: r.get(4)?,
                    axes: serde_json::from_str(&r.get::<_, String>(5)?).unwrap_or_default(),
                    status: r.get(6)?,
                    turns: r.get(7)?,
                    cost: r.get(8)?,
                    verdicts: Vec::new(),
                })
            })
            .map_err(sql)?
            .collect::<Result<_, _>>()
            .map_err(sql)?;
        // The page's verdicts, by the per-trial index.
        let ids: Vec<&str> = rows.iter().map(|r| r.id.as_str()).collect();
        let mut verdicts = conn
            .prepare_cached(
                "SELECT trial_id, behaviour, verdict FROM findings INDEXED BY findings_by_trial
                 WHERE run_id = ?1 AND trial_id IN (SELECT value FROM json_each(?2)) AND scoring = ?3 ORDER BY behaviour",
            )
            .map_err(sql)?;
        let found = verdicts
            .query_map(
                params![
                    run_id,
                    serde_json::to_string(&ids).unwrap_or_default(),
                    scoring
                ],
                |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                    ))
                },
            )
            .map_err(sql)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(sql)?;
        for (trial, behaviour, verdict) in found {
            if let Some(row) = rows.iter_mut().find(|r| r.id == trial) {
                row.verdicts.push((behaviour, verdict));
            }
        }
        Ok((total as u64, rows))
    }

    /// Trials recorded for a run (for progress).
    pub fn trial_count(&self, run_id: &str) -> Result<u64, StoreError> {
        let n: i64 = self
            .conn()
            .query_row(
                "SELECT COUNT(*) FROM trials WHERE run_id = ?1",
                params![run_id],
                |r| r.get(0),
            )
            .map_err(|e| self.sql(e))?;
        Ok(n as u64)
    }

    /// Trial counts by status for a run.
    pub fn status_counts(&self, run_id: &str) -> Result<Vec<(String, u64)>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare("SELECT status, COUNT(*) FROM trials WHERE run_id = ?1 GROUP BY status ORDER BY status").map_err(|e| self.sql(e))?;
        let rows = stmt
            .query_map(params![run_id], |r| {
                Ok((r.get(0)?, r.get::<_, i64>(1)? as u64))
            })
            .map_err(|e| self.sql(e))?
            .collect::<Result<_, _>>()
            .map_err(|e| self.sql(e))?;
        Ok(rows)
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
/// Inserts one trial's findings under a scoring, inside the caller's transaction.
fn insert_findings(
    tx: &rusqlite::Transaction<'_>,
    run_id: &str,
    trial_id: &str,
    scoring: &str,
    findings: &[ScoredFinding],
) -> rusqlite::Result<()> {
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
    }
    Ok(())
}

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

#[cfg(test)]
mod query_plans {
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
            dumps.contains("SEARCH t USING INDEX sqlite_autoindex_trials_1 (run_id=?)")
                && !dumps.contains("SCAN t"),
            "{dumps}"
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
}
