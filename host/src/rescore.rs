//! Re-scoring: detectors over a run's recorded trials, with no agent model call, recorded
//! as a new scoring of the run beside the findings it already has.
//!
//! A scoring's id is a hash of the detectors' bytes and the judge (or a name the user
//! gives), so running the same re-scoring again resumes it: trials already scored under it
//! are skipped.

use peerpressure_types::error::{HasOrigin, Origin};
use std::sync::Arc;

use futures::StreamExt;
use sha2::{Digest, Sha256};

use crate::agent_loop::{ScoredFinding, detect, materials_read, unscored};
use crate::model::Judge;
use crate::store::{RUN_SCORING, ScoringRecord, Store, StoreError};
use peerpressure_engine::{LoadedPlugin, Runtime};

#[derive(Debug, thiserror::Error)]
pub enum RescoreError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the store has no run {0}")]
    NoSuchRun(String),
    #[error("scoring id `{0}` is reserved for the findings made while the run executed")]
    Reserved(String),
    #[error("scoring id `{0}` may hold only letters, digits, `-`, `_` and `.`")]
    BadName(String),
}

impl HasOrigin for RescoreError {
    fn origin(&self) -> Origin {
        match self {
            RescoreError::Store(_) => Origin::Work,
            _ => Origin::Input,
        }
    }
}

pub struct RescoreRequest {
    pub run: Option<String>,
    pub detectors: Vec<Arc<LoadedPlugin>>,
    /// The judge's `provider/model`, for the record; `judge` answers its calls.
    pub judge_model: Option<String>,
    pub judge: Option<Arc<dyn Judge>>,
    /// A name for the scoring instead of the derived id.
    pub name: Option<String>,
    pub command: String,
    /// Trials scored at once.
    pub concurrency: usize,
}

pub struct RescoreSummary {
    pub run_id: String,
    pub scoring: String,
    pub scored: usize,
    pub skipped: usize,
}

/// The derived id of a scoring: detectors (by hash) and judge.
pub fn scoring_id(detectors: &[Arc<LoadedPlugin>], judge: Option<&str>) -> String {
    let mut h = Sha256::new();
    h.update(b"scoring-id-v1\0");
    for d in detectors {
        h.update(d.sha256.as_bytes());
        h.update(b"\0");
    }
    h.update(judge.unwrap_or("").as_bytes());
    format!("rescore-{}", &hex::encode(h.finalize())[..12])
}

pub async fn rescore(
    runtime: &Runtime,
    store: &Store,
    request: RescoreRequest,
) -> Result<RescoreSummary, RescoreError> {
    let run = store.run(request.run.as_deref())?.ok_or_else(|| {
        RescoreError::NoSuchRun(request.run.clone().unwrap_or_else(|| "(none yet)".into()))
    })?;
    let scoring = match &request.name {
        Some(name) if name == RUN_SCORING => return Err(RescoreError::Reserved(name.clone())),
        Some(name)
            if name.is_empty()
                || !name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)) =>
        {
            return Err(RescoreError::BadName(name.clone()));
        }
        Some(name) => name.clone(),
        None => scoring_id(&request.detectors, request.judge_model.as_deref()),
    };
    store.record_scoring(
        &run.id,
        &ScoringRecord {
            id: scoring.clone(),
            created_at: crate::store::now_rfc3339(),
            host_version: crate::HOST_VERSION.to_string(),
            detectors: request
                .detectors
                .iter()
                .map(|d| crate::scheduler::plugin_record(d))
                .collect(),
            judge: request.judge_model.clone(),
            command: request.command.clone(),
        },
    )?;
    let done = store.scored_trials(&run.id, &scoring)?;
    let records = store.trial_records(&run.id)?;
    let total = records.len();
    let todo: Vec<_> = records
        .into_iter()
        .filter(|(id, _)| !done.contains(id))
        .collect();
    let skipped = total - todo.len();
    let detectors = &request.detectors;
    let judge = &request.judge;
    let mut results = futures::stream::iter(todo)
        .map(|(id, record)| async move {
            let mut output = Vec::new();
            let mut findings = Vec::new();
            for d in detectors {
                let found = detect(
                    runtime,
                    d,
                    &record,
                    record.spec.seed,
                    judge.clone(),
                    &mut output,
                )
                .await;
                findings.extend(found.into_iter().map(|finding| ScoredFinding {
                    detector: d.id(),
                    finding,
                }));
            }
            findings.extend(unscored(detectors, &findings));
            findings.extend(materials_read(&record));
            (id, findings)
        })
        .buffer_unordered(request.concurrency.max(1));
    let mut scored = 0;
    while let Some((id, findings)) = results.next().await {
        store.record_findings(&run.id, &id, &scoring, &findings)?;
        scored += 1;
    }
    Ok(RescoreSummary {
        run_id: run.id,
        scoring,
        scored,
        skipped,
    })
}
