//! Reading trials back whole (transcript, events, worlds, findings), one at a time or a
//! page at a time.

use rusqlite::{OptionalExtension, params};
use serde_json::value::RawValue;

use super::*;

/// A recorded trial as the exports give it, with its stored JSON (axes, usage, setup, worlds,
/// tool calls, evidence) unparsed. Fields serialize in name order, as a `serde_json::Value`
/// of the same trial does, so the raw and the parsed dump list their keys alike.
#[derive(Debug, Serialize)]
pub struct TrialDump {
    pub agent: String,
    pub axes: Box<RawValue>,
    pub cost: Option<f64>,
    pub epoch: i64,
    pub error: Option<String>,
    pub events: Vec<EventDump>,
    pub final_world: Option<Blob>,
    pub findings: Vec<FindingDump>,
    pub id: String,
    pub initial_world: Option<Blob>,
    pub messages: Vec<MessageDump>,
    pub model: String,
    pub plugin_output: Box<RawValue>,
    pub scenario: String,
    pub seed: u64,
    pub setup: Option<Blob>,
    pub status: String,
    pub turns: i64,
    pub usage: Box<RawValue>,
}

/// A setup or world, stored once by its content hash.
#[derive(Debug)]
pub struct Blob {
    pub hash: String,
    pub json: Box<RawValue>,
}

impl Serialize for Blob {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.json.serialize(serializer)
    }
}

#[derive(Debug, Serialize)]
pub struct MessageDump {
    pub content: String,
    pub index: i64,
    pub is_error: bool,
    pub reasoning: Option<String>,
    pub role: String,
    pub tool_call_id: Option<String>,
    pub tool_calls: Box<RawValue>,
}

#[derive(Debug, Serialize)]
pub struct EventDump {
    pub after: Option<String>,
    pub before: Option<String>,
    pub index: i64,
    pub kind: String,
    pub machine: String,
    pub path: String,
    pub target: Option<String>,
    pub tool_call_id: Option<String>,
    pub turn: i64,
}

#[derive(Debug, Serialize)]
pub struct FindingDump {
    pub behaviour: String,
    pub detector: String,
    pub evidence: Box<RawValue>,
    pub explanation: String,
    pub value: Box<RawValue>,
    pub verdict: String,
}

/// Stored JSON as it is, or `null` when missing or unreadable (as the parsed dump has it).
fn raw(text: Option<String>) -> Box<RawValue> {
    text.and_then(|t| RawValue::from_string(t).ok())
        .unwrap_or_else(|| RawValue::from_string("null".into()).expect("null is JSON"))
}

/// One trial's rows of a per-trial statement, mapped; none unless `wanted`.
fn rows_of<T>(
    statement: &mut rusqlite::CachedStatement<'_>,
    params: impl rusqlite::Params,
    wanted: bool,
    map: impl FnMut(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
) -> rusqlite::Result<Vec<T>> {
    if !wanted {
        return Ok(Vec::new());
    }
    statement.query_map(params, map)?.collect()
}

impl Store {
    /// Every recorded trial of a run with its transcript, events and findings, in recording
    /// order.
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
        self.visit_dumps(run_id, scoring, only, true, |trial| {
            out.push(trial);
            Ok(())
        })?;
        Ok(out)
    }

    /// Calls `visit` with each trial of a run as [`Store::trial_dumps`] gives it, one at a time
    /// in recording order, so an export of a million trials holds one in memory (each per-trial query
    /// is planned on an index of the trial: see the query-plan test). Without `worlds` the
    /// initial and final worlds are left `null` (the CSV and Inspect exports do not show them,
    /// and building them is most of a dump's cost).
    pub fn for_each_trial_dump(
        &self,
        run_id: &str,
        scoring: &str,
        worlds: bool,
        visit: impl FnMut(serde_json::Value) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        self.visit_dumps(run_id, scoring, None, worlds, visit)
    }

    /// Calls `visit` with each trial of a run as stored, its JSON columns unparsed, one at a
    /// time in recording order: the JSONL export writes these through without building a tree.
    /// Without `contents` a trial's messages, events, setup and worlds are left empty: a pass
    /// that only counts trials and their findings then reads a small part of the store (the
    /// transcripts are most of it).
    pub fn for_each_raw_trial(
        &self,
        run_id: &str,
        scoring: &str,
        contents: bool,
        visit: impl FnMut(TrialDump) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        self.visit_raw(run_id, scoring, None, contents, visit)
    }

    fn visit_dumps(
        &self,
        run_id: &str,
        scoring: &str,
        only: Option<&[String]>,
        worlds: bool,
        mut visit: impl FnMut(serde_json::Value) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        // Trials of a cell share their setup and worlds: each distinct blob is parsed once
        // while it keeps coming (a small cache, emptied when full, keeps memory flat).
        let mut parsed: std::collections::HashMap<String, serde_json::Value> = Default::default();
        self.visit_raw(run_id, scoring, only, true, |mut dump| {
            let (initial, last) = (dump.initial_world.take(), dump.final_world.take());
            let mut blobs = vec![("setup", dump.setup.take())];
            if worlds {
                blobs.extend([("initial_world", initial), ("final_world", last)]);
            }
            let mut trial = serde_json::to_value(&dump).unwrap_or_default();
            for (field, blob) in blobs {
                let Some(blob) = blob else { continue };
                let value = match parsed.get(&blob.hash) {
                    Some(value) => value.clone(),
                    None => {
                        let value: serde_json::Value =
                            serde_json::from_str(blob.json.get()).unwrap_or_default();
                        if parsed.len() >= 256 {
                            parsed.clear();
                        }
                        parsed.insert(blob.hash, value.clone());
                        value
                    }
                };
                trial[field] = value;
            }
            visit(trial)
        })
    }

    fn visit_raw(
        &self,
        run_id: &str,
        scoring: &str,
        only: Option<&[String]>,
        contents: bool,
        mut visit: impl FnMut(TrialDump) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let conn = self.conn();
        let sql = |e| StoreError::Sql {
            path: self.path.clone(),
            source: e,
        };
        let only = only.map(|ids| serde_json::to_string(ids).unwrap_or_default());
        let mut trials = conn
            .prepare(match only {
                Some(_) => TRIAL_DUMP_OF_QUERY,
                None => TRIAL_DUMP_QUERY,
            })
            .map_err(sql)?;
        let mut messages = conn.prepare_cached(MESSAGES_OF_TRIAL).map_err(sql)?;
        let mut events = conn.prepare_cached(EVENTS_OF_TRIAL).map_err(sql)?;
        let mut findings = conn.prepare_cached(FINDINGS_OF_TRIAL).map_err(sql)?;
        let mut blob = conn.prepare_cached(BLOB).map_err(sql)?;
        // Setups and worlds repeat across a cell's trials: each is read once while it keeps
        // coming (a small cache, emptied when full, keeps memory flat).
        let mut read: std::collections::HashMap<String, Box<RawValue>> = Default::default();
        let mut blob_of = |hash: Option<String>| -> Result<Option<Blob>, StoreError> {
            let Some(hash) = hash.filter(|_| contents) else {
                return Ok(None);
            };
            let json = match read.get(&hash) {
                Some(json) => json.clone(),
                None => {
                    let text: Option<String> = blob
                        .query_row(params![hash], |r| r.get(0))
                        .optional()
                        .map_err(sql)?;
                    let json = raw(text);
                    if read.len() >= 256 {
                        read.clear();
                    }
                    read.insert(hash.clone(), json.clone());
                    json
                }
            };
            Ok(Some(Blob { hash, json }))
        };
        let mut rows = match &only {
            Some(ids) => trials.query(params![run_id, ids]),
            None => trials.query(params![run_id]),
        }
        .map_err(sql)?;
        while let Some(r) = rows.next().map_err(sql)? {
            let id: String = r.get(0).map_err(sql)?;
            let messages = rows_of(&mut messages, params![run_id, id], contents, |r| {
                Ok(MessageDump {
                    content: r.get(2)?,
                    index: r.get(0)?,
                    is_error: r.get(6)?,
                    reasoning: r.get(3)?,
                    role: r.get(1)?,
                    tool_call_id: r.get(5)?,
                    tool_calls: raw(r.get(4)?),
                })
            })
            .map_err(sql)?;
            let events = rows_of(&mut events, params![run_id, id], contents, |r| {
                Ok(EventDump {
                    after: r.get(6)?,
                    before: r.get(5)?,
                    index: r.get(0)?,
                    kind: r.get(1)?,
                    machine: r.get(2)?,
                    path: r.get(3)?,
                    target: r.get(4)?,
                    tool_call_id: r.get(7)?,
                    turn: r.get(8)?,
                })
            })
            .map_err(sql)?;
            let findings = rows_of(&mut findings, params![run_id, id, scoring], true, |r| {
                Ok(FindingDump {
                    behaviour: r.get(1)?,
                    detector: r.get(0)?,
                    evidence: raw(r.get(4)?),
                    explanation: r.get(3)?,
                    value: raw(r.get(5)?),
                    verdict: r.get(2)?,
                })
            })
            .map_err(sql)?;
            let dump = TrialDump {
                agent: r.get(3).map_err(sql)?,
                axes: raw(r.get(6).map_err(sql)?),
                cost: r.get(11).map_err(sql)?,
                epoch: r.get(4).map_err(sql)?,
                error: r.get(8).map_err(sql)?,
                events,
                final_world: blob_of(r.get(14).map_err(sql)?)?,
                findings,
                initial_world: blob_of(r.get(13).map_err(sql)?)?,
                messages,
                model: r.get(2).map_err(sql)?,
                plugin_output: raw(r.get(15).map_err(sql)?),
                scenario: r.get(1).map_err(sql)?,
                seed: r.get::<_, i64>(5).map_err(sql)? as u64,
                setup: blob_of(r.get(12).map_err(sql)?)?,
                status: r.get(7).map_err(sql)?,
                turns: r.get(9).map_err(sql)?,
                usage: raw(r.get(10).map_err(sql)?),
                id,
            };
            visit(dump)?;
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

    /// A page of a run's trials matching `filter`, in recording order, and how many match.
    ///
    /// At a million trials neither part may walk the run: the count comes from the per-cell
    /// summaries whenever the filter names only cell columns (or a behaviour with its
    /// verdict), and a page past the middle is read backwards from the end, so the first and
    /// the last pages read about `limit` matching trials each.
    pub fn trial_page(
        &self,
        run_id: &str,
        scoring: &str,
        filter: &TrialFilter,
        offset: u64,
        limit: u64,
    ) -> Result<(u64, Vec<TrialSummary>), StoreError> {
        let PageQuery {
            values,
            count_query,
            matches,
        } = page_query(run_id, scoring, filter);
        let mut conn = self.conn();
        let sql = |e| StoreError::Sql {
            path: self.path.clone(),
            source: e,
        };
        // One read transaction: the count and the page agree while a run is still writing.
        let tx = conn.transaction().map_err(sql)?;
        let total: i64 = {
            let mut stmt = tx.prepare(&count_query).map_err(sql)?;
            bind_named(&mut stmt, &values).map_err(sql)?;
            let mut rows = stmt.raw_query();
            rows.next()
                .map_err(sql)?
                .map(|r| r.get(0))
                .transpose()
                .map_err(sql)?
                .unwrap_or(0)
        };
        let total = total.max(0) as u64;
        let end = total.min(offset.saturating_add(limit));
        let (order, skip, take) = if offset >= total {
            ("ASC", 0, 0)
        } else if offset.saturating_mul(2) > total {
            ("DESC", total - end, end - offset)
        } else {
            ("ASC", offset, limit)
        };
        let mut rows: Vec<TrialSummary> = Vec::new();
        if take > 0 {
            let mut stmt = tx
                .prepare(&page_rows(&matches, order, take, skip))
                .map_err(sql)?;
            bind_named(&mut stmt, &values).map_err(sql)?;
            let mut found = stmt.raw_query();
            while let Some(r) = found.next().map_err(sql)? {
                rows.push(TrialSummary {
                    id: r.get(0).map_err(sql)?,
                    scenario: r.get(1).map_err(sql)?,
                    model: r.get(2).map_err(sql)?,
                    agent: r.get(3).map_err(sql)?,
                    epoch: r.get(4).map_err(sql)?,
                    axes: serde_json::from_str(&r.get::<_, String>(5).map_err(sql)?)
                        .unwrap_or_default(),
                    status: r.get(6).map_err(sql)?,
                    turns: r.get(7).map_err(sql)?,
                    cost: r.get(8).map_err(sql)?,
                    verdicts: Vec::new(),
                });
            }
        }
        if order == "DESC" {
            rows.reverse();
        }
        // The page's verdicts, by the per-trial index.
        let ids: Vec<&str> = rows.iter().map(|r| r.id.as_str()).collect();
        let mut verdicts = tx
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
        Ok((total, rows))
    }
}

/// The SQL of a page of trials: its named values, the count of matching trials and the
/// condition a trial must meet.
pub(super) struct PageQuery {
    values: Vec<(String, String)>,
    pub(super) count_query: String,
    pub(super) matches: String,
}

pub(super) fn page_query(run_id: &str, scoring: &str, filter: &TrialFilter) -> PageQuery {
    let mut values: Vec<(String, String)> = vec![(":run".into(), run_id.into())];
    // Conditions on a cell's columns: they hold on `trials` and on both summary tables.
    let mut cell = vec!["run_id = :run".to_string()];
    if let Some(m) = &filter.model {
        values.push((":model".into(), m.clone()));
        cell.push("model = :model".into());
    }
    if let Some(s) = &filter.scenario {
        values.push((":scenario".into(), s.clone()));
        cell.push("scenario = :scenario".into());
    }
    for (i, (k, v)) in filter.axes.iter().enumerate() {
        let pattern = serde_json::json!([k, v])
            .to_string()
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_");
        values.push((format!(":axis{i}"), format!("%{pattern}%")));
        cell.push(format!("axes_json LIKE :axis{i} ESCAPE '\\'"));
    }
    let cell = cell.join(" AND ");
    let status = filter.status.as_ref().map(|s| {
        values.push((":status".into(), s.clone()));
        " AND status = :status"
    });
    // Conditions on a finding of the trial, as (column, value).
    let mut on_finding: Vec<&str> = Vec::new();
    if filter.behaviour.is_some() || filter.verdict.is_some() {
        on_finding.push("scoring");
        values.push((":scoring".into(), scoring.into()));
        for (column, value) in [
            ("behaviour", &filter.behaviour),
            ("verdict", &filter.verdict),
        ] {
            if let Some(value) = value {
                on_finding.push(column);
                values.push((format!(":{column}"), value.clone()));
            }
        }
    }
    let finding_where = |prefix: &str| {
        on_finding
            .iter()
            .map(|c| format!("{prefix}{c} = :{c}"))
            .collect::<Vec<_>>()
            .join(" AND ")
    };
    let finding = finding_where("");
    let status = status.unwrap_or_default();
    let count_query = if finding.is_empty() {
        format!("SELECT COALESCE(SUM(trials), 0) FROM cell_statuses WHERE {cell}{status}")
    } else if filter.behaviour.is_some() && filter.verdict.is_some() && status.is_empty() {
        // A trial counts once per behaviour and verdict in the summaries.
        format!("SELECT COALESCE(SUM(trials), 0) FROM cell_verdicts WHERE {cell} AND {finding}")
    } else {
        format!(
            "SELECT COUNT(*) FROM trials WHERE {cell}{status}
             AND id IN (SELECT trial_id FROM findings WHERE run_id = :run AND {finding})"
        )
    };
    // The page walks `trial_order` (o, a few bytes a trial): its cell and status are checked
    // there, and only trials that pass are read (t) and checked on their own findings, so a
    // page stops at `limit` without reading the trials of other cells.
    let mut matches = "o.run_id = :run".to_string();
    if cell != "run_id = :run" {
        matches.push_str(&format!(
            " AND o.cell IN (SELECT id FROM cells WHERE {cell})"
        ));
    }
    if !status.is_empty() {
        matches.push_str(" AND o.status = :status");
    }
    if !finding.is_empty() {
        let finding = finding_where("f.");
        matches.push_str(&format!(
            " AND EXISTS (SELECT 1 FROM findings f INDEXED BY findings_by_trial_scoring
             WHERE f.run_id = o.run_id AND f.trial_id = t.id AND {finding})"
        ));
    }
    PageQuery {
        values,
        count_query,
        matches,
    }
}

/// A page of trials meeting `matches`, walking them in recording order (`ASC`) or back from
/// the last (`DESC`).
pub(super) fn page_rows(matches: &str, order: &str, take: u64, skip: u64) -> String {
    // CROSS JOIN keeps `trial_order` the outer loop.
    format!(
        "SELECT t.id, t.scenario, t.model, t.agent, t.epoch, t.axes_json, t.status, t.turns, t.cost
         FROM trial_order o CROSS JOIN trials t ON t.rowid = o.trial WHERE {matches}
         ORDER BY o.trial {order} LIMIT {take} OFFSET {skip}"
    )
}

/// Binds the named parameters (`:run`, ...) of `values` that `stmt` uses.
fn bind_named(
    stmt: &mut rusqlite::Statement<'_>,
    values: &[(String, String)],
) -> rusqlite::Result<()> {
    for (name, value) in values {
        if let Some(index) = stmt.parameter_index(name)? {
            stmt.raw_bind_parameter(index, value)?;
        }
    }
    Ok(())
}
