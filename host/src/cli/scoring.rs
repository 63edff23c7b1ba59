//! Scoring recorded transcripts: `rescore` (detectors over a recorded run again, as a new
//! scoring) and `import` (transcripts recorded elsewhere, scored and recorded as a run).

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result};
use peerpressure::providers::{ProviderConfig, Providers};
use peerpressure::store::Store;
use peerpressure_engine::RuntimeConfig;
use peerpressure_types::model::Judge;

use super::common::{command_line, load_detectors, open_existing, start_runtime};
use super::exit::{bad, input};

#[derive(clap::Args)]
pub struct RescoreArgs {
    /// Run id (default: the newest run in the store).
    pub run: Option<String>,
    /// Detector plugin: a name or a path. Repeatable.
    #[arg(long = "detector", short = 'd', required = true)]
    pub detectors: Vec<String>,
    /// Model that answers detectors' judge calls (at temperature 0), `provider/model`.
    #[arg(long)]
    pub judge: Option<String>,
    /// Name the scoring (default: an id derived from the detectors and the judge).
    #[arg(long)]
    pub name: Option<String>,
    /// Trials scored at once.
    #[arg(long, default_value_t = 16)]
    pub max_trials: usize,
    #[arg(long, default_value = "peerpressure.db", env = "PEERPRESSURE_STORE")]
    pub store: PathBuf,
}

#[derive(clap::Args)]
pub struct ImportArgs {
    /// A transcript file in the `peerpressure-transcripts/1` format (docs/import.md).
    pub file: PathBuf,
    /// Detector plugin: a name or a path. Repeatable.
    #[arg(long = "detector", short = 'd', required = true)]
    pub detectors: Vec<String>,
    /// Model that answers detectors' judge calls, `provider/model`.
    #[arg(long)]
    pub judge: Option<String>,
    #[arg(long, default_value = "peerpressure.db", env = "PEERPRESSURE_STORE")]
    pub store: PathBuf,
}

/// The judge model for detectors' judge calls, if one is named.
fn judge(model: Option<&str>) -> Result<Option<Arc<dyn Judge>>> {
    let Some(model) = model else {
        return Ok(None);
    };
    let providers = Providers::new(ProviderConfig::default()).map_err(bad)?;
    Ok(Some(
        providers.resolve_judge(model).map_err(bad)? as Arc<dyn Judge>
    ))
}

pub async fn rescore(args: RescoreArgs) -> Result<()> {
    let RescoreArgs {
        run,
        detectors,
        judge: judge_model,
        name,
        max_trials,
        store,
    } = args;
    let store = open_existing(&store)?;
    let runtime = start_runtime(RuntimeConfig::default())?;
    let detectors = load_detectors(&runtime, &detectors).await?;
    let request = peerpressure::rescore::RescoreRequest {
        run,
        detectors,
        judge: judge(judge_model.as_deref())?,
        judge_model,
        name,
        command: command_line(),
        concurrency: max_trials,
    };
    let summary = peerpressure::rescore::rescore(&runtime, &store, request)
        .await
        .map_err(|e| match e {
            peerpressure::rescore::RescoreError::Store(_) => anyhow::Error::new(e)
                .context("the re-scoring stopped: findings could not be recorded"),
            other => other.into(),
        })?;
    eprintln!(
        "run {}: scoring {}: {} trial(s) scored, {} already scored; see it with: peerpressure report {} --scoring {}",
        summary.run_id,
        summary.scoring,
        summary.scored,
        summary.skipped,
        summary.run_id,
        summary.scoring
    );
    Ok(())
}

pub async fn import(args: ImportArgs) -> Result<()> {
    let ImportArgs {
        file,
        detectors,
        judge: judge_model,
        store,
    } = args;
    let text = std::fs::read_to_string(&file)
        .with_context(|| format!("failed to read {}", file.display()))
        .map_err(input)?;
    let runtime = start_runtime(RuntimeConfig::default())?;
    let detectors = load_detectors(&runtime, &detectors).await?;
    // Check the file before creating anything.
    peerpressure::import::parse(&text, "").map_err(|e| bad(format!("{}: {e}", file.display())))?;
    let judge = judge(judge_model.as_deref())?
        .map(|client| (judge_model.clone().unwrap_or_default(), client));
    let target = Store::open(&store)?;
    let summary = peerpressure::import::import(
        &runtime,
        &target,
        &text,
        &file.display().to_string(),
        &detectors,
        judge,
        &command_line(),
    )
    .await
    .map_err(|e| match e {
        peerpressure::import::ImportError::Format(_) => e.into(),
        other => anyhow::Error::new(other).context("failed to record the imported trials"),
    })?;
    eprintln!(
        "run {}: {} trial(s) imported and scored, {} already recorded; see them with: peerpressure report {} --store {}",
        summary.run_id,
        summary.trials,
        summary.skipped,
        summary.run_id,
        store.display()
    );
    Ok(())
}
