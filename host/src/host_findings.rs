//! The host's own findings beside the detectors': a trial no detector scored (`unscored`,
//! an error, so it counts nowhere silently), and whether the agent read the scenario's
//! materials (`materials-read`), which every report shows per cell.

use std::sync::Arc;

use crate::plugin::{Finding, Role, TrialRecord, Verdict};
use peerpressure_engine::LoadedPlugin;
use peerpressure_types::trial::{HOST_DETECTOR, MATERIALS_READ, ScoredFinding};

/// The behaviour of the host's finding for a trial no detector scored.
pub const UNSCORED: &str = "unscored";

/// An `error` finding when detectors ran but none gave any verdict: they found nothing they
/// score in the trial (a detector for another scenario, a transcript without the ground truth
/// it needs). Without it the trial would silently count nowhere.
pub fn unscored(
    detectors: &[Arc<LoadedPlugin>],
    findings: &[ScoredFinding],
) -> Option<ScoredFinding> {
    if detectors.is_empty() || !findings.is_empty() {
        return None;
    }
    let names: Vec<String> = detectors.iter().map(|d| d.id()).collect();
    Some(ScoredFinding {
        detector: "host".into(),
        finding: Finding {
            behaviour: UNSCORED.into(),
            verdict: Verdict::Error,
            explanation: format!(
                "no detector gave a verdict on this trial ({}): none found what it scores, e.g. the ground truth it needs",
                names.join(", ")
            ),
            evidence: vec![],
            value: None,
        },
    })
}

/// Whether the agent read the materials, as the host's own finding (`positive`: it called
/// every tool of the ground truth's `materials` list successfully; `negative`: it skipped
/// some), so every report can show per cell how many trials engaged with the task, whatever
/// the detectors do with such trials. No finding when the scenario lists no materials.
pub fn materials_read(record: &TrialRecord) -> Option<ScoredFinding> {
    let truth: serde_json::Value = serde_json::from_str(&record.setup.ground_truth).ok()?;
    let materials: Vec<&str> = truth
        .get("materials")?
        .as_array()?
        .iter()
        .filter_map(serde_json::Value::as_str)
        .collect();
    if materials.is_empty() {
        return None;
    }
    let answered: std::collections::HashSet<&str> = record
        .messages
        .iter()
        .filter(|m| m.role == Role::Tool && !m.is_error)
        .filter_map(|m| m.tool_call_id.as_deref())
        .collect();
    let read = |tool: &str| {
        record
            .messages
            .iter()
            .filter(|m| m.role == Role::Assistant)
            .flat_map(|m| &m.tool_calls)
            .any(|c| c.name == tool && answered.contains(c.id.as_str()))
    };
    let unread: Vec<&str> = materials
        .iter()
        .copied()
        .filter(|tool| !read(tool))
        .collect();
    let finding = if unread.is_empty() {
        Finding {
            behaviour: MATERIALS_READ.into(),
            verdict: Verdict::Positive,
            explanation: format!("the agent called {} successfully", materials.join(" and ")),
            evidence: vec![],
            value: None,
        }
    } else {
        Finding {
            behaviour: MATERIALS_READ.into(),
            verdict: Verdict::Negative,
            explanation: format!(
                "the agent never called {} successfully: it did not engage with the task's materials",
                unread.join(" or ")
            ),
            evidence: vec![],
            value: Some(crate::plugin::FindingValue::Text(unread.join(", "))),
        }
    };
    Some(ScoredFinding {
        detector: HOST_DETECTOR.into(),
        finding,
    })
}
