//! The viewer's JSON API:
//! - `GET /api/runs`: every run with its models, set, progress, trial counts and cost;
//! - `GET /api/runs/{run}/report?scoring=`: the report (tables, contrasts, cells);
//! - `GET /api/runs/{run}/trials?model=&scenario=&axis=k=v&behaviour=&verdict=&status=&page=&per_page=`:
//!   a page of trial summaries and the number that match;
//! - `GET /api/runs/{run}/trials/{trial}?scoring=`: one whole trial.

use std::sync::Arc;

use serde_json::json;

use axum::Router;
use axum::extract::{Path, RawQuery};
use axum::routing::get;

use super::{Response, Viewer, query_pairs};
use crate::store::{RUN_SCORING, TrialFilter};

const MAX_PER_PAGE: u64 = 500;

type Shared = axum::extract::State<Arc<Viewer>>;

/// The API's routes, under `/api`. Path segments arrive percent-decoded, so trial ids with
/// spaces, `:` or `/`-free punctuation (imported transcripts) open like any other.
pub fn routes() -> Router<Arc<Viewer>> {
    Router::new()
        .route(
            "/runs",
            get(|axum::extract::State(v): Shared| answer(move || runs(&v))),
        )
        .route(
            "/runs/{run}/report",
            get(
                |axum::extract::State(v): Shared,
                 Path(run): Path<String>,
                 RawQuery(q): RawQuery| {
                    answer(move || report(&v, &run, &scoring(&query_pairs(q.as_deref()))))
                },
            ),
        )
        .route(
            "/runs/{run}/trials",
            get(
                |axum::extract::State(v): Shared,
                 Path(run): Path<String>,
                 RawQuery(q): RawQuery| {
                    answer(move || trial_page(&v, &run, &query_pairs(q.as_deref())))
                },
            ),
        )
        .route(
            "/runs/{run}/trials/{trial}",
            get(
                |axum::extract::State(v): Shared,
                 Path((run, trial)): Path<(String, String)>,
                 RawQuery(q): RawQuery| {
                    answer(move || {
                        trial_detail(&v, &run, &trial, &scoring(&query_pairs(q.as_deref())))
                    })
                },
            ),
        )
        .fallback(|uri: axum::http::Uri| async move {
            Response::error(404, &format!("no API /api{}", uri.path()))
        })
}

/// Runs a store read on a blocking thread and turns its answer into a response.
async fn answer(read: impl FnOnce() -> Answer + Send + 'static) -> Response {
    match tokio::task::spawn_blocking(read).await {
        Ok(Ok(body)) => Response::json(200, body),
        Ok(Err((status, message))) => Response::error(status, &message),
        Err(e) => Response::error(500, &e.to_string()),
    }
}

fn param(query: &[(String, String)], name: &str) -> Option<String> {
    query
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.clone())
        .filter(|v| !v.is_empty())
}

fn scoring(query: &[(String, String)]) -> String {
    param(query, "scoring").unwrap_or_else(|| RUN_SCORING.to_string())
}

fn trial_page(viewer: &Viewer, run: &str, query: &[(String, String)]) -> Answer {
    let filter = TrialFilter {
        model: param(query, "model"),
        scenario: param(query, "scenario"),
        axes: query
            .iter()
            .filter(|(k, _)| k == "axis")
            .filter_map(|(_, v)| {
                v.split_once('=')
                    .map(|(a, b)| (a.to_string(), b.to_string()))
            })
            .collect(),
        behaviour: param(query, "behaviour"),
        verdict: param(query, "verdict"),
        status: param(query, "status"),
    };
    let page: u64 = param(query, "page")
        .and_then(|p| p.parse().ok())
        .unwrap_or(1)
        .max(1);
    let per_page: u64 = param(query, "per_page")
        .and_then(|p| p.parse().ok())
        .unwrap_or(50)
        .clamp(1, MAX_PER_PAGE);
    trials(viewer, run, &scoring(query), &filter, page, per_page)
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
    serde_json::to_string(&out).map_err(internal)
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
