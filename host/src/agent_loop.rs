//! One trial, start to finish: scenario setup, the agent loop with tool mediation, then the
//! detectors. Nothing here touches the store: the caller records the [`TrialResult`] whole.

use std::sync::Arc;
use std::time::Instant;

pub use crate::host_findings::{UNSCORED, materials_read, unscored};
use crate::model::{GenerateRequest, Judge, ModelApi, Usage};
use crate::plugin::{Finding, Message, Role, TrialRecord, TrialSpec, Verdict};
use crate::tools::{ToolImpl, Toolbox};
use peerpressure_engine::{LoadedPlugin, Runtime};
pub use peerpressure_types::trial::{
    CallMeta, HOST_DETECTOR, MATERIALS_READ, PluginOutput, ScoredFinding, TrialResult, TrialStatus,
};

/// Host ceilings over what a scenario may ask for.
pub const MAX_TURNS: u32 = 200;
pub const MAX_TOOL_CALLS_PER_TURN: u32 = 64;
/// Longest tool result sent back to the model; longer ones are cut with a note.
pub const MAX_TOOL_RESULT_BYTES: usize = 64 * 1024;

/// Who plays the agent.
#[derive(Clone)]
pub enum Agent {
    /// A reference agent run by the scenario plugin.
    Scripted { name: String },
    /// A model behind an API.
    Api(Arc<dyn ModelApi>),
}

impl Agent {
    pub fn label(&self) -> String {
        match self {
            Agent::Scripted { name } => format!("scripted/{name}"),
            Agent::Api(model) => model.name().to_string(),
        }
    }
}

pub struct TrialInput {
    pub id: String,
    pub spec: TrialSpec,
    pub scenario: Arc<LoadedPlugin>,
    pub detectors: Vec<Arc<LoadedPlugin>>,
    pub agent: Agent,
    pub judge: Option<Arc<dyn Judge>>,
    /// The agent CLI the agent runs inside; `None` for the host's own loop.
    pub harness: Option<Arc<crate::agent_cli::Harness>>,
}

/// A trial after its scenario's setup: the tools and limits its agent works with.
pub struct Begun {
    pub toolbox: Arc<Toolbox>,
    pub max_turns: u32,
    pub max_calls: u32,
}

fn truncate(text: String, max: usize) -> String {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!(
        "{}\n[output cut: {} of {} bytes shown]",
        &text[..end],
        end,
        text.len()
    )
}

/// Gives every tool call an id unique in the transcript (scripted agents and some providers
/// repeat ids or send none); real provider ids are kept when they are already unique.
fn unique_call_ids(reply: &mut Message, transcript: &[Message], turn: u32) {
    let mut seen: std::collections::HashSet<String> = transcript
        .iter()
        .flat_map(|m| m.tool_calls.iter().map(|c| c.id.clone()))
        .collect();
    for (i, call) in reply.tool_calls.iter_mut().enumerate() {
        if call.id.is_empty() || seen.contains(&call.id) {
            call.id = format!("t{turn}c{i}");
        }
        seen.insert(call.id.clone());
    }
}

pub async fn run_trial(runtime: &Runtime, input: TrialInput) -> TrialResult {
    let started = Instant::now();
    let mut result = TrialResult {
        id: input.id.clone(),
        spec: input.spec.clone(),
        scenario: input.scenario.id(),
        agent: input.agent.label(),
        status: TrialStatus::Error,
        error: None,
        setup: None,
        messages: Vec::new(),
        calls: Vec::new(),
        events: Vec::new(),
        initial_world: Vec::new(),
        final_world: Vec::new(),
        findings: Vec::new(),
        usage: Usage::default(),
        cost: Some(0.0),
        turns: 0,
        duration_ms: 0,
        plugin_output: Vec::new(),
    };
    if let Err(error) = agent_loop(runtime, &input, &mut result).await {
        result.status = TrialStatus::Error;
        result.error = Some(error);
    }
    if result.status == TrialStatus::Error {
        let reason = result.error.clone().unwrap_or_default();
        for b in &input.scenario.info.behaviours {
            result.findings.push(ScoredFinding {
                detector: HOST_DETECTOR.to_string(),
                finding: Finding {
                    behaviour: b.id.clone(),
                    verdict: Verdict::Error,
                    explanation: format!("the trial failed: {reason}"),
                    evidence: vec![],
                    value: None,
                },
            });
        }
    } else {
        run_detectors(runtime, &input, &mut result).await;
    }
    result.duration_ms = started.elapsed().as_millis() as u64;
    result
}

async fn agent_loop(
    runtime: &Runtime,
    input: &TrialInput,
    result: &mut TrialResult,
) -> Result<(), String> {
    let mut scenario = runtime
        .scenario(&input.scenario, input.spec.seed)
        .await
        .map_err(|e| e.to_string())?;
    let outcome = match &input.harness {
        None => drive(&mut scenario, input, result).await,
        Some(harness) => {
            crate::agent_cli::trial::drive(
                &mut scenario,
                input,
                &harness.installed,
                harness.limits,
                result,
            )
            .await
        }
    };
    result.final_world = scenario.world().snapshot();
    result.events = scenario.world().take_events();
    result.plugin_output.push(scenario.output());
    outcome
}

/// Runs the scenario's setup and records the trial's start: its prompts, its initial world;
/// from here on the world records events.
pub async fn begin(
    scenario: &mut peerpressure_engine::ScenarioInstance,
    input: &TrialInput,
    result: &mut TrialResult,
) -> Result<Begun, String> {
    let label = input.scenario.label();
    let setup = match scenario
        .setup(&input.spec)
        .await
        .map_err(|e| e.to_string())?
    {
        Ok(setup) => setup,
        Err(reason) => return Err(format!("{label} setup refused the trial: {reason}")),
    };
    let toolbox = Toolbox::for_setup(&setup).map_err(|e| format!("{label} setup: {e}"))?;
    serde_json::from_str::<serde::de::IgnoredAny>(&setup.ground_truth)
        .map_err(|e| format!("{label} setup: ground truth is not JSON: {e}"))?;
    let max_turns = setup.limits.max_turns.clamp(1, MAX_TURNS);
    let max_calls = setup
        .limits
        .max_tool_calls_per_turn
        .clamp(1, MAX_TOOL_CALLS_PER_TURN);
    result
        .messages
        .push(Message::text(0, Role::System, setup.system_prompt.clone()));
    result
        .messages
        .push(Message::text(1, Role::User, setup.user_prompt.clone()));
    result.calls = vec![None, None];
    result.setup = Some(setup);
    result.initial_world = scenario.world().snapshot();
    scenario.world().start_recording();
    Ok(Begun {
        toolbox,
        max_turns,
        max_calls,
    })
}

/// The host's own agent loop: the model's turns, its tool calls mediated over the world.
async fn drive(
    scenario: &mut peerpressure_engine::ScenarioInstance,
    input: &TrialInput,
    result: &mut TrialResult,
) -> Result<(), String> {
    let Begun {
        toolbox,
        max_turns,
        max_calls,
    } = begin(scenario, input, result).await?;
    let tools = toolbox.definitions();
    let tool_schemas = toolbox.schemas();

    for turn in 0..max_turns {
        result.turns = turn + 1;
        let (mut reply, call) = match &input.agent {
            Agent::Scripted { name } => match scenario
                .agent_turn(name, &result.messages)
                .await
                .map_err(|e| e.to_string())?
            {
                Ok(message) => (message, None),
                Err(reason) => return Err(format!("reference agent `{name}` failed: {reason}")),
            },
            Agent::Api(model) => {
                let state: Vec<Option<serde_json::Value>> = result
                    .calls
                    .iter()
                    .map(|c| c.as_ref().and_then(|c| c.provider_state.clone()))
                    .collect();
                let output = model
                    .generate(GenerateRequest {
                        messages: &result.messages,
                        provider_state: &state,
                        tools,
                        tool_schemas,
                        trial_id: &input.id,
                        volatile: false,
                    })
                    .await
                    .map_err(|e| e.to_string())?;
                result.usage.add(&output.usage);
                result.cost = match (result.cost, output.cost) {
                    (Some(total), Some(c)) => Some(total + c),
                    _ => None,
                };
                let meta = CallMeta::of(&output);
                (output.message, Some(meta))
            }
        };
        reply.index = result.messages.len() as u32;
        reply.role = Role::Assistant;
        reply.tool_call_id = None;
        reply.is_error = false;
        unique_call_ids(&mut reply, &result.messages, turn);
        let calls = reply.tool_calls.clone();
        result.messages.push(reply);
        result.calls.push(call);
        if calls.is_empty() {
            result.status = TrialStatus::Completed;
            return Ok(());
        }
        for (i, call) in calls.iter().enumerate() {
            let (content, is_error) = if i as u32 >= max_calls {
                (
                    format!("not run: at most {max_calls} tool calls are answered per turn"),
                    true,
                )
            } else {
                match toolbox.resolve(call) {
                    Err(message) => (message, true),
                    Ok((tool, args)) => {
                        scenario.world().set_cause(turn, Some(&call.id));
                        let outcome = match &tool.implementation {
                            ToolImpl::Builtin(builtin) => builtin.call(scenario.world(), &args),
                            ToolImpl::Scenario => scenario
                                .call_tool(&call.name, &args.to_string())
                                .await
                                .map_err(|e| e.to_string())?,
                        };
                        match outcome {
                            Ok(text) => (text, false),
                            Err(text) => (text, true),
                        }
                    }
                }
            };
            let index = result.messages.len() as u32;
            result.messages.push(Message::tool_result(
                index,
                &call.id,
                truncate(content, MAX_TOOL_RESULT_BYTES),
                is_error,
            ));
            result.calls.push(None);
        }
    }
    result.status = TrialStatus::TurnLimit;
    Ok(())
}

async fn run_detectors(runtime: &Runtime, input: &TrialInput, result: &mut TrialResult) {
    let Some(setup) = result.setup.clone() else {
        return;
    };
    // The transcript, events and worlds move into the record and back after: the detectors
    // read them, and a copy of every trial's whole record is per-trial work for nothing.
    let record = TrialRecord {
        spec: result.spec.clone(),
        scenario: result.scenario.clone(),
        setup,
        messages: std::mem::take(&mut result.messages),
        events: std::mem::take(&mut result.events),
        initial_world: std::mem::take(&mut result.initial_world),
        final_world: std::mem::take(&mut result.final_world),
        outcome: result.status.as_str().to_string(),
    };
    for detector in &input.detectors {
        let findings = detect(
            runtime,
            detector,
            &record,
            input.spec.seed,
            input.judge.clone(),
            &mut result.plugin_output,
        )
        .await;
        result
            .findings
            .extend(findings.into_iter().map(|finding| ScoredFinding {
                detector: detector.id(),
                finding,
            }));
    }
    result
        .findings
        .extend(unscored(&input.detectors, &result.findings));
    result.findings.extend(materials_read(&record));
    result.messages = record.messages;
    result.events = record.events;
    result.initial_world = record.initial_world;
    result.final_world = record.final_world;
}

/// Runs one detector on a record; any failure becomes `error` findings, never negatives.
pub async fn detect(
    runtime: &Runtime,
    detector: &LoadedPlugin,
    record: &TrialRecord,
    seed: u64,
    judge: Option<Arc<dyn Judge>>,
    output: &mut Vec<PluginOutput>,
) -> Vec<Finding> {
    let declared: Vec<&str> = detector
        .info
        .behaviours
        .iter()
        .map(|b| b.id.as_str())
        .collect();
    let all_error = |reason: String| -> Vec<Finding> {
        declared
            .iter()
            .map(|b| Finding {
                behaviour: b.to_string(),
                verdict: Verdict::Error,
                explanation: reason.clone(),
                evidence: vec![],
                value: None,
            })
            .collect()
    };
    let mut instance = match runtime.detector(detector, seed, judge).await {
        Ok(instance) => instance,
        Err(e) => return all_error(e.to_string()),
    };
    let outcome = instance.detect(record).await;
    output.push(instance.output());
    match outcome {
        Err(e) => all_error(e.to_string()),
        Ok(Err(reason)) => all_error(format!("{} failed: {reason}", detector.label())),
        Ok(Ok(mut findings)) => {
            let returned = findings.len();
            findings.truncate(MAX_FINDINGS_PER_DETECTOR);
            let mut findings: Vec<Finding> = findings
                .into_iter()
                .map(|mut f| {
                    if !declared.contains(&f.behaviour.as_str()) {
                        f.explanation = format!(
                            "{} reported undeclared behaviour `{}`: {}",
                            detector.label(),
                            f.behaviour,
                            f.explanation
                        );
                        f.verdict = Verdict::Error;
                    }
                    bounded(f)
                })
                .collect();
            if returned > MAX_FINDINGS_PER_DETECTOR {
                let first = declared.first().map_or("unscored", |b| b);
                findings.push(Finding {
                    behaviour: first.to_string(),
                    verdict: Verdict::Error,
                    explanation: format!("{} returned {returned} findings; the host keeps the first {MAX_FINDINGS_PER_DETECTOR}", detector.label()),
                    evidence: vec![],
                    value: None,
                });
            }
            findings
        }
    }
}

/// Findings a detector call may return; more are dropped (and the drop reported).
pub const MAX_FINDINGS_PER_DETECTOR: usize = 256;
/// Bytes of a finding's explanation, of each evidence quote, and of a text value.
pub const MAX_EXPLANATION_BYTES: usize = 4096;
pub const MAX_QUOTE_BYTES: usize = 1024;
pub const MAX_VALUE_BYTES: usize = 1024;
/// Evidence items kept per finding.
pub const MAX_EVIDENCE: usize = 64;

/// Cuts text to `max` bytes on a character boundary; says whether it cut.
fn cut(text: &mut String, max: usize) -> Option<usize> {
    if text.len() <= max {
        return None;
    }
    let original = text.len();
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text.truncate(end);
    Some(original)
}

/// A finding within the host's size limits, so one detector cannot bloat every trial, store
/// and report; what was cut is said at the end of the explanation.
pub fn bounded(mut f: Finding) -> Finding {
    let mut notes: Vec<String> = Vec::new();
    if f.evidence.len() > MAX_EVIDENCE {
        notes.push(format!(
            "{} evidence items, {MAX_EVIDENCE} kept",
            f.evidence.len()
        ));
        f.evidence.truncate(MAX_EVIDENCE);
    }
    let quotes = f
        .evidence
        .iter_mut()
        .filter_map(|e| cut(&mut e.quote, MAX_QUOTE_BYTES))
        .count();
    if quotes > 0 {
        notes.push(format!(
            "{quotes} evidence quote(s) cut to {MAX_QUOTE_BYTES} bytes"
        ));
    }
    if let Some(crate::plugin::FindingValue::Text(text)) = &mut f.value
        && let Some(bytes) = cut(text, MAX_VALUE_BYTES)
    {
        notes.push(format!("value of {bytes} bytes cut to {MAX_VALUE_BYTES}"));
    }
    if let Some(bytes) = cut(&mut f.explanation, MAX_EXPLANATION_BYTES) {
        notes.push(format!(
            "explanation of {bytes} bytes cut to {MAX_EXPLANATION_BYTES}"
        ));
    }
    if !notes.is_empty() {
        f.explanation
            .push_str(&format!(" [truncated by the host: {}]", notes.join("; ")));
    }
    f
}

#[cfg(test)]
mod bounded_tests {
    use super::*;
    use crate::plugin::{Evidence, EvidenceKind, FindingValue};

    #[test]
    fn oversized_findings_are_cut_and_say_so() {
        let evidence = Evidence {
            kind: EvidenceKind::Message,
            index: 1,
            quote: "é".repeat(5_000),
        };
        let huge = Finding {
            behaviour: "b".into(),
            verdict: Verdict::Positive,
            explanation: "x".repeat(50 << 20),
            evidence: vec![evidence; 1_000],
            value: Some(FindingValue::Text("v".repeat(10_000))),
        };
        let f = bounded(huge);
        assert!(
            f.explanation.len() < MAX_EXPLANATION_BYTES + 300,
            "{}",
            f.explanation.len()
        );
        assert!(f.explanation.ends_with(&format!(
            "[truncated by the host: 1000 evidence items, 64 kept; 64 evidence quote(s) cut to 1024 bytes; value of 10000 bytes cut to 1024; explanation of {} bytes cut to 4096]",
            50 << 20
        )), "{}", &f.explanation[4000..]);
        assert_eq!(f.evidence.len(), MAX_EVIDENCE);
        assert!(
            f.evidence
                .iter()
                .all(|e| e.quote.len() <= MAX_QUOTE_BYTES && e.quote.chars().all(|c| c == 'é'))
        );
        assert_eq!(
            f.verdict,
            Verdict::Positive,
            "a cut never changes the verdict"
        );
        let small = Finding {
            behaviour: "b".into(),
            verdict: Verdict::Negative,
            explanation: "fine".into(),
            evidence: vec![],
            value: None,
        };
        assert_eq!(bounded(small.clone()).explanation, "fine");
    }
}
