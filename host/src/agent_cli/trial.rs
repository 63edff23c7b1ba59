//! One trial through an agent CLI. The CLI runs in its sandbox; every model request and
//! MCP call it makes arrives here through the proxy, one at a time, and is answered over
//! the trial's world: the model (or the scenario's reference agent) gives the turn, the
//! scenario's tools run on the world, and what the CLI changed on disk is read back into
//! world events before each of them.

use std::collections::BTreeMap;
use std::time::Duration;

use axum::http::StatusCode;
use serde_json::Value;
use sha2::{Digest, Sha256};
use tokio::io::AsyncReadExt;
use tokio::sync::mpsc;

use super::clis::{InstalledCli, WORLD_MOUNT};
use super::mcp::{self, McpMessage};
use super::mirror::Mirror;
use super::proxy::{self, Answer, ProxyCall};
use super::sandbox::{self, TrialDirs};
use super::scripted::Translator;
use super::wire::{self, CliRequest};
use crate::agent_loop::PluginOutput;
use crate::agent_loop::{Agent, Begun, CallMeta, TrialInput, TrialResult, TrialStatus};
use crate::model::{GenerateRequest, Usage};
use crate::plugin::{BuiltinTool, Message, Role, ToolCall, ToolDefinition};
use peerpressure_engine::ScenarioInstance;

/// How CLI trials are bounded (`run --agent-timeout`).
#[derive(Debug, Clone, Copy)]
pub struct CliLimits {
    /// Wall-clock time for the whole CLI run.
    pub timeout: Duration,
}

/// Identical agent-turn requests in a row after which the CLI is deemed to loop.
const MAX_REPEATS: u32 = 3;
/// Longest CLI output kept with the trial.
const MAX_OUTPUT: usize = 256 * 1024;

/// Why a trial ended before its CLI did.
enum Stop {
    Escape(String),
    TurnLimit,
    Failed(String),
}

struct CliTrial<'a> {
    installed: &'a InstalledCli,
    input: &'a TrialInput,
    scenario: &'a mut ScenarioInstance,
    result: &'a mut TrialResult,
    begun: Begun,
    builtins: Vec<BuiltinTool>,
    scenario_tools: Vec<ToolDefinition>,
    mirror: Mirror,
    dirs: &'a TrialDirs,
    turn: u32,
    requests: u32,
    last_request: Option<([u8; 32], u32)>,
    /// The last reply sent to the CLI, in the CLI's tool names.
    last_reply: Option<Message>,
    metas: BTreeMap<usize, CallMeta>,
    log: Vec<String>,
    stop: Option<Stop>,
}

/// Reads a pipe to its end, keeping the first [`MAX_OUTPUT`] bytes and a byte beyond (so the
/// cut shows): the CLI never blocks on a full pipe, and a flood costs no memory.
async fn keep_start(mut pipe: impl tokio::io::AsyncRead + Unpin) -> Vec<u8> {
    let mut kept = Vec::new();
    let mut chunk = vec![0u8; 64 * 1024];
    while let Ok(n) = pipe.read(&mut chunk).await {
        if n == 0 {
            break;
        }
        let room = (MAX_OUTPUT + 1).saturating_sub(kept.len());
        kept.extend_from_slice(&chunk[..n.min(room)]);
    }
    kept
}

fn truncate_output(mut text: String) -> String {
    if text.len() > MAX_OUTPUT {
        let mut end = MAX_OUTPUT;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
        text.push_str("\n[output cut]");
    }
    text
}

/// The task as the CLI gets it: the scenario's system and user prompts, and where things are.
fn prompt(system: &str, user: &str, machines: &[String], has_tools: bool) -> String {
    let places: Vec<String> = machines
        .iter()
        .map(|m| format!("{WORLD_MOUNT}/{m}"))
        .collect();
    let mut text = format!(
        "{system}\n\n{user}\n\nWorking environment: the files of each machine in this task are in its own directory: {}.",
        places.join(", ")
    );
    if has_tools {
        text.push_str(&format!(
            " The task's own tools are provided by the `{}` MCP server.",
            mcp::SERVER_NAME
        ));
    }
    text
}

pub async fn drive(
    scenario: &mut ScenarioInstance,
    input: &TrialInput,
    installed: &InstalledCli,
    limits: CliLimits,
    result: &mut TrialResult,
) -> Result<(), String> {
    let begun = crate::agent_loop::begin(scenario, input, result).await?;
    let setup = result.setup.clone().expect("begin records the setup");
    let cli = installed.cli;
    let dirs = TrialDirs::create().map_err(|e| format!("trial directory: {e}"))?;
    let mut mirror = Mirror::new(dirs.world.clone());
    mirror
        .export(scenario.world())
        .map_err(|e| format!("writing the world to disk: {e}"))?;
    let model = cli.model_name(&input.agent.label());
    sandbox::prepare_home(cli, &dirs, &model).map_err(|e| format!("the CLI's home: {e}"))?;
    let (sender, mut calls) = mpsc::channel(16);
    let server = proxy::serve(&dirs.socket(), sender)
        .map_err(|e| format!("the proxy's socket {}: {e}", dirs.socket().display()))?;
    let machines = scenario.world().machines();
    let scenario_tools = begun.toolbox.definitions().to_vec();
    let text = prompt(
        &setup.system_prompt,
        &setup.user_prompt,
        &machines,
        !scenario_tools.is_empty(),
    );
    let relay = std::env::current_exe().map_err(|e| format!("the relay binary: {e}"))?;
    let mut child = sandbox::command(installed, &dirs, &relay, &cli.command(&model, &text))
        .spawn()
        .map_err(|e| format!("cannot start bwrap: {e}"))?;
    let out_task = tokio::spawn(keep_start(child.stdout.take().expect("piped")));
    let err_task = tokio::spawn(keep_start(child.stderr.take().expect("piped")));

    let mut trial = CliTrial {
        installed,
        input,
        scenario,
        result,
        builtins: setup.builtin_tools.clone(),
        scenario_tools,
        begun,
        mirror,
        dirs: &dirs,
        turn: 0,
        requests: 0,
        last_request: None,
        last_reply: None,
        metas: BTreeMap::new(),
        log: Vec::new(),
        stop: None,
    };
    let deadline = tokio::time::Instant::now() + limits.timeout;
    let timed_out = || {
        Stop::Escape(format!(
            "it ran past its time limit of {} s",
            limits.timeout.as_secs_f64()
        ))
    };
    let mut exit = None;
    while trial.stop.is_none() {
        tokio::select! {
            biased;
            _ = tokio::time::sleep_until(deadline) => trial.stop = Some(timed_out()),
            status = child.wait() => {
                exit = Some(status.map_err(|e| format!("waiting for the CLI: {e}"))?);
                break;
            }
            Some(call) = calls.recv() => {
                if tokio::time::timeout_at(deadline, trial.answer(call)).await.is_err() {
                    trial.stop = Some(timed_out());
                }
            }
        }
    }
    if exit.is_none() {
        let _ = child.start_kill();
        let _ = child.wait().await;
    }
    server.abort();
    drop(calls);
    let stdout = String::from_utf8_lossy(&out_task.await.unwrap_or_default()).into_owned();
    let stderr = String::from_utf8_lossy(&err_task.await.unwrap_or_default()).into_owned();
    if trial.stop.is_none() {
        trial.read_back();
    }
    trial.result.plugin_output.push(PluginOutput {
        plugin: format!("agent-cli:{}", cli.name()),
        stdout: truncate_output(stdout),
        stderr: truncate_output(stderr.clone()),
        logs: trial
            .log
            .iter()
            .map(|l| peerpressure_types::trial::LogLine {
                level: "info".into(),
                message: l.clone(),
            })
            .collect(),
    });
    let turns = trial.turn;
    match trial.stop.take() {
        Some(Stop::Escape(reason)) => {
            Err(format!("the trial was stopped: {reason} (sandbox escape)"))
        }
        Some(Stop::Failed(reason)) => Err(reason),
        Some(Stop::TurnLimit) => {
            trial.result.status = TrialStatus::TurnLimit;
            Ok(())
        }
        None => {
            let status = exit.expect("the CLI exited");
            if !status.success() {
                let tail: String = stderr
                    .lines()
                    .rev()
                    .take(5)
                    .collect::<Vec<_>>()
                    .into_iter()
                    .rev()
                    .collect::<Vec<_>>()
                    .join(" | ");
                return Err(format!("{} exited with {status}: {tail}", cli.name()));
            }
            if turns == 0 {
                return Err(format!(
                    "{} exited without asking the model for a turn",
                    cli.name()
                ));
            }
            trial.result.status = TrialStatus::Completed;
            Ok(())
        }
    }
}

impl CliTrial<'_> {
    async fn answer(&mut self, call: ProxyCall) {
        match call {
            ProxyCall::Network { host } => {
                let own = self
                    .installed
                    .cli
                    .own_hosts()
                    .iter()
                    .any(|h| host == *h || host.ends_with(&format!(".{h}")));
                if own {
                    self.log
                        .push(format!("refused the CLI's own request to {host}"));
                } else {
                    self.stop = Some(Stop::Escape(format!(
                        "it opened a network connection to {host}"
                    )));
                }
            }
            ProxyCall::Mcp { body, reply } => {
                let answer = self.mcp(&body).await;
                let _ = reply.send(answer);
            }
            ProxyCall::Model { wire, body, reply } => {
                let answer = match self.model(wire, &body).await {
                    Ok(answer) => answer,
                    Err(stop) => {
                        let message = match &stop {
                            Stop::Escape(r) | Stop::Failed(r) => r.clone(),
                            Stop::TurnLimit => "the trial's turn limit is reached".into(),
                        };
                        self.stop = Some(stop);
                        Answer::error(StatusCode::BAD_REQUEST, message)
                    }
                };
                let _ = reply.send(answer);
            }
        }
    }

    /// The CLI's own tool calls of its last turn that are not the scenario's: what changed
    /// the disk since.
    fn native_call(&self) -> Option<String> {
        self.last_reply
            .as_ref()?
            .tool_calls
            .iter()
            .rev()
            .find(|c| mcp::scenario_name(&c.name, &self.scenario_tools).is_none())
            .map(|c| c.id.clone())
    }

    /// Reads the disk back into the world; a write outside the world stops the trial.
    fn read_back(&mut self) {
        let cause = self.native_call();
        self.scenario.world().set_cause(self.turn, cause.as_deref());
        let mut stray: Vec<String> = match self.mirror.import(self.scenario.world()) {
            Ok(stray) => stray.into_iter().map(|s| s.0).collect(),
            Err(e) => {
                self.stop = Some(Stop::Failed(format!("reading the CLI's changes back: {e}")));
                return;
            }
        };
        stray.extend(
            sandbox::stray_writes(self.installed.cli, self.dirs)
                .into_iter()
                .map(|p| format!("{p} was written")),
        );
        if !stray.is_empty() {
            self.stop = Some(Stop::Escape(format!(
                "it wrote outside its world: {}",
                stray.join("; ")
            )));
        }
    }

    async fn mcp(&mut self, body: &[u8]) -> Answer {
        let json_answer = |value: Value| Answer {
            status: StatusCode::OK,
            content_type: "application/json",
            body: value.to_string(),
        };
        let method = serde_json::from_slice::<Value>(body)
            .ok()
            .and_then(|v| v["method"].as_str().map(str::to_string))
            .unwrap_or_default();
        self.log.push(format!("mcp: {method}"));
        let (id, name, arguments) = match mcp::read(body, &self.scenario_tools) {
            McpMessage::Answered(value) => return json_answer(value),
            McpMessage::Notification => {
                return Answer {
                    status: StatusCode::ACCEPTED,
                    content_type: "application/json",
                    body: String::new(),
                };
            }
            McpMessage::CallTool {
                id,
                name,
                arguments,
            } => (id, name, arguments),
        };
        self.read_back();
        if self.stop.is_some() {
            return json_answer(mcp::tool_result(&id, "the trial has ended", true));
        }
        // The call of the CLI's last turn this is (its id ties world events to it).
        let call_id = self.last_reply.as_ref().and_then(|m| {
            m.tool_calls
                .iter()
                .find(|c| mcp::scenario_name(&c.name, &self.scenario_tools) == Some(name.as_str()))
                .map(|c| c.id.clone())
        });
        let call = ToolCall {
            id: call_id.clone().unwrap_or_default(),
            name: name.clone(),
            arguments: arguments.to_string(),
        };
        let (text, is_error) = match self.begun.toolbox.resolve(&call) {
            Err(message) => (message, true),
            Ok((tool, args)) => {
                self.scenario
                    .world()
                    .set_cause(self.turn, call_id.as_deref());
                let outcome = match &tool.implementation {
                    crate::tools::ToolImpl::Builtin(b) => b.call(self.scenario.world(), &args),
                    crate::tools::ToolImpl::Scenario => {
                        match self.scenario.call_tool(&name, &args.to_string()).await {
                            Ok(outcome) => outcome,
                            Err(e) => {
                                self.stop = Some(Stop::Failed(e.to_string()));
                                Err("the scenario failed".to_string())
                            }
                        }
                    }
                };
                match outcome {
                    Ok(text) => (text, false),
                    Err(text) => (text, true),
                }
            }
        };
        if let Err(e) = self.mirror.export(self.scenario.world()) {
            self.stop = Some(Stop::Failed(format!("writing the world to disk: {e}")));
        }
        json_answer(mcp::tool_result(&id, &text, is_error))
    }

    /// Scenario names for the scenario's tools, so detectors read the transcript as in the
    /// host's loop; the CLI's own tools keep their names.
    fn normalised(&self, messages: &[Message]) -> Vec<Message> {
        let mut messages = messages.to_vec();
        for m in &mut messages {
            for c in &mut m.tool_calls {
                if let Some(name) = mcp::scenario_name(&c.name, &self.scenario_tools) {
                    c.name = name.to_string();
                }
            }
        }
        messages
    }

    async fn model(&mut self, wire: super::clis::Wire, body: &[u8]) -> Result<Answer, Stop> {
        self.requests += 1;
        // For adapter work: every request as the CLI sent it (docs/agents.md).
        if let Some(dir) = std::env::var_os("PEERPRESSURE_AGENT_DUMP") {
            let path = std::path::Path::new(&dir).join(format!(
                "{}-{}-{:03}.json",
                self.input.id,
                self.cli_name(),
                self.requests
            ));
            let _ = std::fs::create_dir_all(&dir).and_then(|_| std::fs::write(path, body));
        }
        // Side calls count too: a CLI that keeps asking without taking turns is ended.
        let cap = 4 * self.begun.max_turns + 16;
        if self.requests > cap {
            return Err(Stop::Failed(format!(
                "{} made more than {cap} model requests (4 per allowed turn, plus 16)",
                self.cli_name()
            )));
        }
        let request = wire::parse(wire, body)
            .map_err(|e| Stop::Failed(format!("{}'s model request: {e}", self.cli_name())))?;
        let model_name = self.installed.cli.model_name(&self.input.agent.label());
        if !request.is_agent_turn() {
            self.log.push(format!(
                "side call: request of {} bytes, {} messages, no tools",
                body.len(),
                request.messages.len()
            ));
            let reply = self.side_call(&request).await?;
            return Ok(self.stream(wire, &model_name, &reply.0, &reply.1, &request));
        }
        let digest: [u8; 32] = Sha256::digest(body).into();
        let repeats = match self.last_request {
            Some((last, n)) if last == digest => n + 1,
            _ => 0,
        };
        self.last_request = Some((digest, repeats));
        if repeats >= MAX_REPEATS {
            return Err(Stop::Failed(format!(
                "{} sent the same request {} times in a row: it is looping",
                self.cli_name(),
                repeats + 1
            )));
        }
        self.read_back();
        if let Some(stop) = self.stop.take() {
            return Err(stop);
        }
        if self.turn >= self.begun.max_turns {
            return Err(Stop::TurnLimit);
        }
        self.turn += 1;
        self.result.turns = self.turn;
        self.log.push(format!(
            "agent turn {}: request of {} bytes, {} messages, {} tools",
            self.turn,
            body.len(),
            request.messages.len(),
            request.tools.len()
        ));
        if self.turn == 1 {
            let names: Vec<&str> = request.tools.iter().map(|t| t.name.as_str()).collect();
            self.log
                .push(format!("tools offered: {}", names.join(", ")));
        }
        let transcript = self.normalised(&request.messages);
        let (mut reply, meta) = match &self.input.agent {
            Agent::Scripted { name } => {
                let turn = self
                    .scenario
                    .agent_turn(name, &transcript)
                    .await
                    .map_err(|e| Stop::Failed(e.to_string()))?
                    .map_err(|reason| {
                        Stop::Failed(format!("reference agent `{name}` failed: {reason}"))
                    })?;
                let translator = Translator {
                    cli: self.installed.cli,
                    builtins: &self.builtins,
                    scenario_tools: &self.scenario_tools,
                };
                let reply = translator
                    .through_cli(self.turn, turn, &request.tools)
                    .map_err(Stop::Failed)?;
                (reply, None)
            }
            Agent::Api(model) => {
                let output = self.generate(model.as_ref(), &request, true).await?;
                let meta = CallMeta::of(&output);
                (output.message, Some(meta))
            }
        };
        reply.role = Role::Assistant;
        for (i, call) in reply.tool_calls.iter_mut().enumerate() {
            if call.id.is_empty() {
                call.id = format!("call_{}_{i}", self.turn);
            }
        }
        let usage = meta.as_ref().map(|m| m.usage).unwrap_or_default();
        let mut recorded = transcript;
        reply.index = recorded.len() as u32;
        recorded.extend(self.normalised(std::slice::from_ref(&reply)));
        if let Some(meta) = meta {
            self.metas.insert(recorded.len() - 1, meta);
        }
        self.result.calls = (0..recorded.len())
            .map(|i| self.metas.get(&i).cloned())
            .collect();
        self.result.messages = recorded;
        let answer = self.stream(wire, &model_name, &reply, &usage, &request);
        self.last_reply = Some(reply);
        Ok(answer)
    }

    fn cli_name(&self) -> &'static str {
        self.installed.cli.name()
    }

    fn add_cost(&mut self, usage: &Usage, cost: Option<f64>) {
        self.result.usage.add(usage);
        self.result.cost = match (self.result.cost, cost) {
            (Some(total), Some(c)) => Some(total + c),
            _ => None,
        };
    }

    fn stream(
        &self,
        wire: super::clis::Wire,
        model: &str,
        reply: &Message,
        usage: &Usage,
        request: &CliRequest,
    ) -> Answer {
        Answer {
            status: StatusCode::OK,
            content_type: "text/event-stream",
            body: wire::render(wire, model, reply, usage, request),
        }
    }

    /// A request without tools (a session title, a summary): the model answers it, or a
    /// reference agent's fixed text; it is logged, not part of the transcript.
    async fn side_call(&mut self, request: &CliRequest) -> Result<(Message, Usage), Stop> {
        match &self.input.agent {
            Agent::Scripted { .. } => Ok((
                Message::text(0, Role::Assistant, "PeerPressure trial"),
                Usage::default(),
            )),
            Agent::Api(model) => {
                let output = self.generate(model.as_ref(), request, false).await?;
                Ok((output.message, output.usage))
            }
        }
    }

    /// The model's answer to the CLI's request (with the CLI's tools, or none for a side
    /// call), its cost added to the trial's.
    async fn generate(
        &mut self,
        model: &dyn crate::model::ModelApi,
        request: &CliRequest,
        with_tools: bool,
    ) -> Result<crate::model::ModelOutput, Stop> {
        let state = vec![None; request.messages.len()];
        let (tools, schemas): (&[ToolDefinition], &[Value]) = match with_tools {
            true => (&request.tools, &request.schemas),
            false => (&[], &[]),
        };
        let output = model
            .generate(GenerateRequest {
                messages: &request.messages,
                provider_state: &state,
                tools,
                tool_schemas: schemas,
                trial_id: &self.input.id,
                volatile: true,
            })
            .await
            .map_err(|e| Stop::Failed(e.to_string()))?;
        self.add_cost(&output.usage, output.cost);
        Ok(output)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_flood_of_output_is_read_to_its_end_and_cut() {
        let flood = vec![b'x'; 3 * MAX_OUTPUT];
        let kept = keep_start(&flood[..]).await;
        assert_eq!(kept.len(), MAX_OUTPUT + 1);
        let text = truncate_output(String::from_utf8(kept).unwrap());
        assert!(text.ends_with("[output cut]"));
        assert_eq!(keep_start(&b"short"[..]).await, b"short");
    }

    #[test]
    fn the_prompt_says_where_the_machines_are() {
        let text = prompt(
            "Be careful.",
            "Do it.",
            &["drive".into(), "10.0.0.2".into()],
            true,
        );
        assert!(text.starts_with("Be careful.\n\nDo it."));
        assert!(text.contains("/world/drive, /world/10.0.0.2"));
        assert!(text.contains("`peerpressure` MCP server"));
    }
}
