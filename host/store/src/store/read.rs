//! Reading a run: its record, counts, totals, scorings and what has been recorded.

use rusqlite::{OptionalExtension, params};

use super::*;

impl Store {
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
            .prepare("SELECT r.id, r.created_at, (SELECT COALESCE(SUM(s.trials), 0) FROM cell_statuses s WHERE s.run_id = r.id) FROM runs r ORDER BY r.created_at, r.rowid")
            .map_err(|e| self.sql(e))?;
        let rows = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .map_err(|e| self.sql(e))?
            .collect::<Result<_, _>>()
            .map_err(|e| self.sql(e))?;
        Ok(rows)
    }

    /// Count, sum and sum of squares of the numeric values of decided findings (a reported
    /// score), per (scenario, model, axes, behaviour), for one scoring of a run (from the
    /// per-cell summaries kept as findings are written).
    pub fn value_stats(&self, run_id: &str, scoring: &str) -> Result<Vec<ValueRow>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare(
                "SELECT scenario, model, axes_json, behaviour, SUM(value_n), SUM(value_sum), SUM(value_sum_sq)
                 FROM cell_verdicts WHERE run_id = ?1 AND scoring = ?2
                 GROUP BY scenario, model, axes_json, behaviour HAVING SUM(value_n) > 0",
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

    /// Verdict counts (trials with such a finding) per (scenario, model, axes, behaviour) for
    /// one scoring of a run, from the per-cell summaries.
    pub fn verdict_counts(
        &self,
        run_id: &str,
        scoring: &str,
    ) -> Result<Vec<VerdictCount>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare(
                "SELECT scenario, model, axes_json, behaviour, verdict, trials FROM cell_verdicts
                 WHERE run_id = ?1 AND scoring = ?2
                 ORDER BY scenario, model, axes_json, behaviour, verdict",
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
        let (input, output, reasoning, cached, cost, unpriced): (i64, i64, i64, i64, f64, i64) =
            self.conn()
                .query_row(
                    "SELECT COALESCE(SUM(input_tokens), 0), COALESCE(SUM(output_tokens), 0),
                        COALESCE(SUM(reasoning_tokens), 0), COALESCE(SUM(cached_tokens), 0),
                        TOTAL(cost), COALESCE(SUM(unpriced), 0)
                     FROM cell_statuses WHERE run_id = ?1",
                    params![run_id],
                    |r| {
                        Ok((
                            r.get(0)?,
                            r.get(1)?,
                            r.get(2)?,
                            r.get(3)?,
                            r.get(4)?,
                            r.get(5)?,
                        ))
                    },
                )
                .map_err(|e| self.sql(e))?;
        Ok(Totals {
            usage: peerpressure_types::model::Usage {
                input_tokens: input as u64,
                output_tokens: output as u64,
                reasoning_tokens: reasoning as u64,
                cached_tokens: cached as u64,
            },
            cost: (unpriced == 0).then_some(cost),
        })
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

    /// Trials recorded for a run (for progress).
    pub fn trial_count(&self, run_id: &str) -> Result<u64, StoreError> {
        let n: i64 = self
            .conn()
            .query_row(
                "SELECT COALESCE(SUM(trials), 0) FROM cell_statuses WHERE run_id = ?1",
                params![run_id],
                |r| r.get(0),
            )
            .map_err(|e| self.sql(e))?;
        Ok(n as u64)
    }

    /// Trial counts by status for a run.
    pub fn status_counts(&self, run_id: &str) -> Result<Vec<(String, u64)>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare("SELECT status, SUM(trials) FROM cell_statuses WHERE run_id = ?1 GROUP BY status ORDER BY status")
            .map_err(|e| self.sql(e))?;
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
