//! The viewer's JSON API:
//! - `GET /api/runs`: every run with its models, set, progress, trial counts and cost;
//! - `GET /api/runs/{run}/report?scoring=`: the report (tables, contrasts, cells);
//! - `GET /api/runs/{run}/trials?model=&scenario=&axis=k=v&behaviour=&verdict=&status=&page=&per_page=`:
//!   a page of trial summaries and the number that match;
//! - `GET /api/runs/{run}/trials/{trial}?scoring=`: one whole trial.

use std::sync::Arc;

use serde_json::json;

use super::{Response, Viewer};
use crate::store::{RUN_SCORING, TrialFilter};

const MAX_PER_PAGE: u64 = 500;

pub fn route(viewer: &Viewer, path: &str, query: &[(String, String)]) -> Response {
    let param = |name: &str| {
        query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .filter(|v| !v.is_empty())
    };
    let scoring = param("scoring").unwrap_or_else(|| RUN_SCORING.to_string());
    let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
    let result = match parts.as_slice() {
        ["runs"] => runs(viewer),
        ["runs", run, "report"] => report(viewer, run, &scoring),
        ["runs", run, "trials"] => {
            let filter = TrialFilter {
                model: param("model"),
                scenario: param("scenario"),
                axes: query
                    .iter()
                    .filter(|(k, _)| k == "axis")
                    .filter_map(|(_, v)| {
                        v.split_once('=')
                            .map(|(a, b)| (a.to_string(), b.to_string()))
                    })
                    .collect(),
                behaviour: param("behaviour"),
                verdict: param("verdict"),
                status: param("status"),
            };
            let page: u64 = param("page")
                .and_then(|p| p.parse().ok())
                .unwrap_or(1)
                .max(1);
            let per_page: u64 = param("per_page")
                .and_then(|p| p.parse().ok())
                .unwrap_or(50)
                .clamp(1, MAX_PER_PAGE);
            trials(viewer, run, &scoring, &filter, page, per_page)
        }
        ["runs", run, "trials", trial] => trial_detail(viewer, run, trial, &scoring),
        _ => return Response::error(404, &format!("no API /api/{path}")),
    };
    match result {
        Ok(body) => Response::json(200, body),
        Err((status, message)) => Response::error(status, &message),
    }
}

type Answer = Result<String, (u16, String)>;

fn internal(e: impl std::fmt::Display) -> (u16, String) {
    (500, e.to_string())
}

fn runs(viewer: &Viewer) -> Answer {
    let store = &viewer.store;
    let mut out = Vec::new();
    for (id, created, trials) in store.runs().map_err(internal)? {
        let Some(record) = store.run(Some(&id)).map_err(internal)? else {
            continue;
        };
        let totals = store.totals(&id).map_err(internal)?;
        let scorings: Vec<String> = store
            .scorings(&id)
            .map_err(internal)?
            .into_iter()
            .map(|s| s.id)
            .collect();
        out.push(json!({
            "id": id,
            "created_at": created,
            "models": record.models,
            "set": record.set,
            "judge": record.judge,
            "trials": trials,
            "grid_size": record.grid_size,
            "statuses": store.status_counts(&id).map_err(internal)?,
            "cost": totals.cost,
            "tokens": totals.usage.input_tokens + totals.usage.output_tokens,
            "scorings": scorings,
            "plugins": record.plugins.iter().map(|p| format!("{}@{}", p.name, p.version)).collect::<Vec<_>>(),
        }));
    }
    Ok(serde_json::to_string(&out).map_err(internal)?)
}

fn report(viewer: &Viewer, run: &str, scoring: &str) -> Answer {
    let count = viewer.store.trial_count(run).map_err(internal)?;
    let key = (run.to_string(), scoring.to_string(), count);
    if let Some(cached) = viewer
        .reports
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .get(&key)
    {
        return Ok(cached.as_ref().clone());
    }
    let report = crate::report::build(&viewer.store, Some(run), scoring, None)
        .map_err(|e| (404, e.to_string()))?;
    let body = Arc::new(serde_json::to_string(&report).map_err(internal)?);
    let mut cache = viewer.reports.lock().unwrap_or_else(|p| p.into_inner());
    cache.retain(|(r, s, _), _| !(r == run && s == scoring));
    cache.insert(key, body.clone());
    Ok(body.as_ref().clone())
}

fn trials(
    viewer: &Viewer,
    run: &str,
    scoring: &str,
    filter: &TrialFilter,
    page: u64,
    per_page: u64,
) -> Answer {
    if viewer.store.run(Some(run)).map_err(internal)?.is_none() {
        return Err((404, format!("the store has no run {run}")));
    }
    let (total, rows) = viewer
        .store
        .trial_page(run, scoring, filter, (page - 1) * per_page, per_page)
        .map_err(internal)?;
    Ok(json!({"total": total, "page": page, "per_page": per_page, "trials": rows}).to_string())
}

fn trial_detail(viewer: &Viewer, run: &str, trial: &str, scoring: &str) -> Answer {
    let dumps = viewer
        .store
        .trial_dumps_of(run, scoring, &[trial.to_string()])
        .map_err(internal)?;
    let Some(dump) = dumps.into_iter().next() else {
        return Err((404, format!("run {run} has no trial {trial}")));
    };
    Ok(dump.to_string())
}
