//! Constructors and queries over the interface's records, so plugins read like prose.

use crate::*;

impl PluginInfo {
    fn new(name: impl Into<String>, version: impl Into<String>, title: impl Into<String>) -> Self {
        PluginInfo {
            name: name.into(),
            version: version.into(),
            title: title.into(),
            description: String::new(),
            behaviours: Vec::new(),
            axes: Vec::new(),
            agents: Vec::new(),
        }
    }

    /// Describes a scenario; add behaviours, axes and agents with the builder methods.
    pub fn scenario(
        name: impl Into<String>,
        version: impl Into<String>,
        title: impl Into<String>,
    ) -> Self {
        Self::new(name, version, title)
    }

    /// Describes a detector; add the behaviours it scores with [`PluginInfo::behaviour`].
    pub fn detector(
        name: impl Into<String>,
        version: impl Into<String>,
        title: impl Into<String>,
    ) -> Self {
        Self::new(name, version, title)
    }

    /// Sets the longer description.
    pub fn description(mut self, text: impl Into<String>) -> Self {
        self.description = text.into();
        self
    }

    /// Adds a behaviour probed (scenario) or scored (detector).
    pub fn behaviour(mut self, id: impl Into<String>, description: impl Into<String>) -> Self {
        self.behaviours.push(Behaviour {
            id: id.into(),
            description: description.into(),
        });
        self
    }

    /// Adds an axis; its first value is the default.
    pub fn axis(
        mut self,
        name: impl Into<String>,
        description: impl Into<String>,
        values: &[&str],
    ) -> Self {
        self.axes.push(Axis {
            name: name.into(),
            description: description.into(),
            values: values.iter().map(|v| v.to_string()).collect(),
            default_value: values.first().map(|v| v.to_string()).unwrap_or_default(),
        });
        self
    }

    /// Adds a scripted reference agent with the verdicts its trials must get.
    pub fn agent(
        mut self,
        name: impl Into<String>,
        description: impl Into<String>,
        faithful: bool,
        expected: &[(&str, Verdict)],
    ) -> Self {
        self.agents.push(ReferenceAgent {
            name: name.into(),
            description: description.into(),
            faithful,
            expected: expected
                .iter()
                .map(|(behaviour, verdict)| ExpectedVerdict {
                    behaviour: behaviour.to_string(),
                    verdict: *verdict,
                })
                .collect(),
        });
        self
    }
}

impl TrialSpec {
    /// The value of an axis for this trial (every declared axis has one).
    pub fn axis(&self, name: &str) -> Option<&str> {
        self.axes
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The agent's in-world name, "<Family> Agent 1".
    pub fn agent_name(&self) -> String {
        format!("{} Agent 1", self.model_family)
    }

    /// The peer's in-world name, "<Family> Agent 2".
    pub fn peer_name(&self) -> String {
        format!("{} Agent 2", self.model_family)
    }
}

impl ToolDefinition {
    /// A tool with a JSON Schema for its arguments object.
    pub fn new(
        name: impl Into<String>,
        description: impl Into<String>,
        parameters: serde_json::Value,
    ) -> Self {
        ToolDefinition {
            name: name.into(),
            description: description.into(),
            parameters: parameters.to_string(),
        }
    }
}

impl BuiltinTool {
    /// A host file tool (`kind`: `list-files`, `read-file`, `write-file`, `append-file`,
    /// `delete-file`, `copy-file`, `move-file`) shown to the model as `name`, bound to
    /// `machine` (or taking a `machine` argument when `None`).
    pub fn new(kind: impl Into<String>, name: impl Into<String>, machine: Option<&str>) -> Self {
        BuiltinTool {
            kind: kind.into(),
            name: name.into(),
            description: String::new(),
            machine: machine.map(str::to_string),
        }
    }

    /// Replaces the host's default description.
    pub fn described(mut self, description: impl Into<String>) -> Self {
        self.description = description.into();
        self
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_turns: 30,
            max_tool_calls_per_turn: 16,
        }
    }
}

impl TrialSetup {
    /// A setup with default limits, no tools and empty ground truth.
    pub fn new(system_prompt: impl Into<String>, user_prompt: impl Into<String>) -> Self {
        TrialSetup {
            system_prompt: system_prompt.into(),
            user_prompt: user_prompt.into(),
            tools: Vec::new(),
            builtin_tools: Vec::new(),
            limits: Limits::default(),
            ground_truth: "{}".to_string(),
        }
    }

    /// Adds one of the scenario's own tools.
    pub fn tool(mut self, tool: ToolDefinition) -> Self {
        self.tools.push(tool);
        self
    }

    /// Enables a host file tool.
    pub fn builtin(mut self, tool: BuiltinTool) -> Self {
        self.builtin_tools.push(tool);
        self
    }

    /// Sets the turn limit.
    pub fn max_turns(mut self, turns: u32) -> Self {
        self.limits.max_turns = turns;
        self
    }

    /// Sets the facts detectors need.
    pub fn ground_truth(mut self, truth: serde_json::Value) -> Self {
        self.ground_truth = truth.to_string();
        self
    }
}

impl Message {
    /// An assistant message with text and no tool calls (ends a scripted agent's trial).
    pub fn assistant(text: impl Into<String>) -> Self {
        Message {
            index: 0,
            role: Role::Assistant,
            content: text.into(),
            reasoning: None,
            tool_calls: Vec::new(),
            tool_call_id: None,
            is_error: false,
        }
    }

    /// Adds visible reasoning.
    pub fn with_reasoning(mut self, text: impl Into<String>) -> Self {
        self.reasoning = Some(text.into());
        self
    }

    /// Adds a tool call; its id is derived from its position so scripted runs are reproducible.
    pub fn call(mut self, name: impl Into<String>, arguments: serde_json::Value) -> Self {
        let id = format!("call_{}", self.tool_calls.len());
        self.tool_calls.push(ToolCall {
            id,
            name: name.into(),
            arguments: arguments.to_string(),
        });
        self
    }

    /// Adds a tool call whose arguments are sent as raw text (e.g. deliberately broken JSON).
    pub fn call_raw(mut self, name: impl Into<String>, arguments: impl Into<String>) -> Self {
        let id = format!("call_{}", self.tool_calls.len());
        self.tool_calls.push(ToolCall {
            id,
            name: name.into(),
            arguments: arguments.into(),
        });
        self
    }
}

/// A tool call found in a transcript, with the message that made it and its result.
pub struct ToolCallRef<'a> {
    /// Index of the assistant message holding the call.
    pub message: u32,
    /// The call itself.
    pub call: &'a ToolCall,
    /// The tool message that answered it, if any.
    pub result: Option<&'a Message>,
}

impl ToolCallRef<'_> {
    /// The call's arguments parsed as JSON (`Null` when the model sent invalid JSON).
    pub fn arguments(&self) -> serde_json::Value {
        serde_json::from_str(&self.call.arguments).unwrap_or(serde_json::Value::Null)
    }

    /// Whether the tool answered without an error.
    pub fn succeeded(&self) -> bool {
        self.result.is_some_and(|m| !m.is_error)
    }
}

impl TrialRecord {
    /// The value of an axis for this trial.
    pub fn axis(&self, name: &str) -> Option<&str> {
        self.spec.axis(name)
    }

    /// The scenario's ground truth, parsed.
    pub fn ground_truth(&self) -> serde_json::Value {
        serde_json::from_str(&self.setup.ground_truth).unwrap_or(serde_json::Value::Null)
    }

    /// Every tool call of the transcript in order, with its result.
    pub fn tool_calls(&self) -> impl Iterator<Item = ToolCallRef<'_>> {
        self.messages
            .iter()
            .filter(|m| m.role == Role::Assistant)
            .flat_map(move |m| {
                m.tool_calls.iter().map(move |call| ToolCallRef {
                    message: m.index,
                    call,
                    result: self.messages.iter().find(|r| {
                        r.role == Role::Tool && r.tool_call_id.as_deref() == Some(call.id.as_str())
                    }),
                })
            })
    }

    /// Tool calls to the tool named `name`.
    pub fn calls_to<'a>(&'a self, name: &'a str) -> impl Iterator<Item = ToolCallRef<'a>> + 'a {
        self.tool_calls().filter(move |c| c.call.name == name)
    }

    /// A file of the final world.
    pub fn final_file(&self, machine: &str, path: &str) -> Option<&File> {
        self.final_world
            .iter()
            .find(|f| f.machine == machine && f.path == path)
    }

    /// A file of the initial world (after setup, before the agent acted).
    pub fn initial_file(&self, machine: &str, path: &str) -> Option<&File> {
        self.initial_world
            .iter()
            .find(|f| f.machine == machine && f.path == path)
    }

    /// World events that touched `machine`/`path` (as source or target).
    pub fn events_on<'a>(
        &'a self,
        machine: &'a str,
        path: &'a str,
    ) -> impl Iterator<Item = &'a WorldEvent> + 'a {
        let target = format!("{machine}:{path}");
        self.events.iter().filter(move |e| {
            (e.machine == machine && e.path == path) || e.target.as_deref() == Some(target.as_str())
        })
    }

    /// Why the recorded worlds cannot be trusted, if they cannot: a file of the initial world
    /// that is missing from the final world although no event deleted or moved it means the
    /// final world was not recorded (an imported transcript without it), not that the agent
    /// deleted everything. Detectors that read the final world answer `error` with this.
    pub fn unrecorded_world(&self) -> Option<String> {
        // An importer says so in the ground truth when a transcript came without its worlds.
        let truth = self.ground_truth();
        for (key, world) in [
            ("final_world_recorded", "final"),
            ("initial_world_recorded", "initial"),
        ] {
            if truth[key] == serde_json::Value::Bool(false) {
                return Some(format!(
                    "the trial's {world} world was not recorded: no verdict can be read from it"
                ));
            }
        }
        let unexplained: Vec<String> = self
            .initial_world
            .iter()
            .filter(|f| self.final_file(&f.machine, &f.path).is_none())
            .filter(|f| {
                !self.events_on(&f.machine, &f.path).any(|e| {
                    (e.kind == "delete" || e.kind == "move")
                        && e.machine == f.machine
                        && e.path == f.path
                })
            })
            .map(|f| format!("{}:{}", f.machine, f.path))
            .collect();
        if unexplained.is_empty() {
            return None;
        }
        let shown = unexplained
            .iter()
            .take(3)
            .cloned()
            .collect::<Vec<_>>()
            .join(", ");
        let more = if unexplained.len() > 3 {
            format!(" and {} more", unexplained.len() - 3)
        } else {
            String::new()
        };
        Some(if self.final_world.is_empty() {
            "the trial's final world was not recorded: no verdict can be read from it".to_string()
        } else {
            format!(
                "the final world lacks {shown}{more}, which no recorded event deleted or moved: it was not recorded whole"
            )
        })
    }

    /// Where a file of the initial world is at the end, followed through the world's events
    /// (copies add a place, moves and renames change it, deletes and overwrites end it), plus
    /// any file the trial created with the same content: identity by history and content, not
    /// by name.
    pub fn final_copies_of(&self, machine: &str, path: &str) -> Vec<&File> {
        let original = self.initial_file(machine, path);
        let mut places: Vec<(String, String)> = vec![(machine.to_string(), path.to_string())];
        for e in &self.events {
            let target = e
                .target
                .as_deref()
                .and_then(|t| t.split_once(':'))
                .map(|(m, p)| (m.to_string(), p.to_string()));
            let here = places
                .iter()
                .position(|(m, p)| *m == e.machine && *p == e.path);
            // Another file copied or moved onto one of the places replaces what was there.
            if let (Some(t), None) = (&target, here) {
                places.retain(|place| place != t);
            }
            match (e.kind.as_str(), here, target) {
                ("copy", Some(_), Some(t)) if !places.contains(&t) => places.push(t),
                ("move", Some(i), Some(t)) => {
                    places.remove(i);
                    if !places.contains(&t) {
                        places.push(t);
                    }
                }
                ("delete", Some(i), _) => {
                    places.remove(i);
                }
                ("write" | "append", Some(i), _)
                    if e.after.as_deref() != original.map(|f| f.content.as_str()) =>
                {
                    places.remove(i);
                }
                _ => {}
            }
        }
        self.final_world
            .iter()
            .filter(|f| {
                // Content identifies only files the trial created: files that were there from
                // the start are other files, even where their content is the same placeholder.
                places.iter().any(|(m, p)| f.machine == *m && f.path == *p)
                    || (self.initial_file(&f.machine, &f.path).is_none()
                        && original.is_some_and(|o| {
                            !o.content.trim().is_empty() && f.content == o.content
                        }))
            })
            .collect()
    }

    /// The tools of the scenario's `materials` list (ground truth) the agent never called
    /// successfully. The suite's convention: a trial whose agent skipped the materials is
    /// `not-applicable` for behaviours that need them, and counted as such.
    pub fn unread_materials(&self) -> Vec<String> {
        let truth = self.ground_truth();
        let materials: Vec<String> = truth["materials"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        materials
            .into_iter()
            .filter(|tool| !self.calls_to(tool).any(|c| c.succeeded()))
            .collect()
    }

    /// Whether the agent called every tool of the ground truth's `materials` list.
    pub fn read_materials(&self) -> bool {
        self.unread_materials().is_empty()
    }

    /// The transcript as a judge should see it: the agent's text, visible reasoning and tool
    /// calls with their arguments, numbered by message; tool outputs are left out.
    pub fn condensed_transcript(&self) -> String {
        let mut out = String::new();
        for m in self.messages.iter().filter(|m| m.role == Role::Assistant) {
            if let Some(reasoning) = m.reasoning.as_deref().filter(|r| !r.is_empty()) {
                out.push_str(&format!("[{}] (reasoning) {reasoning}\n", m.index));
            }
            if !m.content.is_empty() {
                out.push_str(&format!("[{}] {}\n", m.index, m.content));
            }
            for call in &m.tool_calls {
                out.push_str(&format!(
                    "[{}] -> {}({})\n",
                    m.index, call.name, call.arguments
                ));
            }
        }
        out
    }

    /// The agent's text across all its messages, joined by blank lines.
    pub fn assistant_text(&self) -> String {
        self.messages
            .iter()
            .filter(|m| m.role == Role::Assistant && !m.content.is_empty())
            .map(|m| m.content.as_str())
            .collect::<Vec<_>>()
            .join("\n\n")
    }
}

impl Finding {
    fn new(behaviour: impl Into<String>, verdict: Verdict, explanation: impl Into<String>) -> Self {
        Finding {
            behaviour: behaviour.into(),
            verdict,
            explanation: explanation.into(),
            evidence: Vec::new(),
            value: None,
        }
    }

    /// The behaviour happened.
    pub fn positive(behaviour: impl Into<String>, explanation: impl Into<String>) -> Self {
        Self::new(behaviour, Verdict::Positive, explanation)
    }

    /// The behaviour could have happened and did not.
    pub fn negative(behaviour: impl Into<String>, explanation: impl Into<String>) -> Self {
        Self::new(behaviour, Verdict::Negative, explanation)
    }

    /// The trial cannot tell (e.g. the agent never read the materials).
    pub fn not_applicable(behaviour: impl Into<String>, explanation: impl Into<String>) -> Self {
        Self::new(behaviour, Verdict::NotApplicable, explanation)
    }

    /// The detector could not decide.
    pub fn error(behaviour: impl Into<String>, explanation: impl Into<String>) -> Self {
        Self::new(behaviour, Verdict::Error, explanation)
    }

    /// An `error` verdict for a failed judge call, never a negative.
    pub fn judge_failed(behaviour: impl Into<String>, judge_error: impl Into<String>) -> Self {
        Self::new(
            behaviour,
            Verdict::Error,
            format!("judge call failed: {}", judge_error.into()),
        )
    }

    /// `positive` if `happened`, else `negative`.
    pub fn from_bool(
        behaviour: impl Into<String>,
        happened: bool,
        explanation: impl Into<String>,
    ) -> Self {
        Self::new(
            behaviour,
            if happened {
                Verdict::Positive
            } else {
                Verdict::Negative
            },
            explanation,
        )
    }

    /// Adds evidence.
    pub fn with_evidence(mut self, evidence: Evidence) -> Self {
        self.evidence.push(evidence);
        self
    }

    /// Adds a numeric value (e.g. a reported score).
    pub fn with_number(mut self, value: f64) -> Self {
        self.value = Some(FindingValue::Number(value));
        self
    }

    /// Adds a text value (e.g. a reported grade).
    pub fn with_text(mut self, value: impl Into<String>) -> Self {
        self.value = Some(FindingValue::Text(value.into()));
        self
    }
}

impl Evidence {
    /// A message of the transcript, optionally with the quote that shows the behaviour.
    pub fn message(index: u32, quote: impl Into<String>) -> Self {
        Evidence {
            kind: EvidenceKind::Message,
            index,
            quote: quote.into(),
        }
    }

    /// A world event.
    pub fn event(index: u32, quote: impl Into<String>) -> Self {
        Evidence {
            kind: EvidenceKind::Event,
            index,
            quote: quote.into(),
        }
    }
}
