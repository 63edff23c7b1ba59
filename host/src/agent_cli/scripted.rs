//! Scripted reference agents through a CLI: their turns, written in the scenario's tools,
//! become calls of the CLI's tools. The scenario's tools keep their MCP names as the CLI
//! shows them; file tools that change files become commands of the CLI's own shell tool,
//! so the change reaches the world by read-back, as a model's own edit does; and a call of
//! `shell` (when the scenario has no tool of that name) runs its `command` in that shell.

use serde_json::{Value, json};

use super::clis::{Cli, WORLD_MOUNT};
use super::mcp;
use crate::plugin::{BuiltinTool, Message, Role, ToolCall, ToolDefinition};

/// A reference agent's call of this name runs its `command` in the CLI's own shell tool.
pub const SHELL: &str = "shell";

/// Quotes `text` for a POSIX shell.
pub fn quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

/// What translating a trial's reference-agent turns needs.
pub struct Translator<'a> {
    pub cli: Cli,
    pub builtins: &'a [BuiltinTool],
    pub scenario_tools: &'a [ToolDefinition],
}

impl Translator<'_> {
    /// A reference agent's turn, in the CLI's tools: the scenario's tools by the names the
    /// CLI gave them, and file changes as commands of the CLI's own shell tool (so they
    /// reach the world by read-back, as a model's own edits do).
    pub fn through_cli(
        &self,
        turn_number: u32,
        turn: Message,
        offered: &[ToolDefinition],
    ) -> Result<Message, String> {
        let mut reply = Message::text(0, Role::Assistant, turn.content);
        reply.reasoning = turn.reasoning;
        for (i, call) in turn.tool_calls.iter().enumerate() {
            let id = format!("call_{turn_number}_{i}");
            let args: Value = serde_json::from_str(&call.arguments).unwrap_or(json!({}));
            // `shell` (when the scenario has no tool of that name) is the CLI's own shell.
            let command = match self.shell_command(&call.name, &args) {
                None if call.name == SHELL
                    && !self.scenario_tools.iter().any(|t| t.name == SHELL) =>
                {
                    args["command"].as_str().map(str::to_string)
                }
                command => command,
            };
            if let Some(command) = command {
                let (tool, arguments) = self.cli.shell_call(&command, &call.name);
                reply.tool_calls.push(ToolCall {
                    id,
                    name: tool.to_string(),
                    arguments: arguments.to_string(),
                });
                continue;
            }
            let name = match self.scenario_tools.iter().find(|t| t.name == call.name) {
                Some(def) => mcp::cli_name(&call.name, def, offered)
                    .ok_or_else(|| {
                        format!(
                            "{} did not offer the scenario's tool `{}` (did it load the MCP server?)",
                            self.cli.name(),
                            call.name
                        )
                    })?
                    .to_string(),
                None => call.name.clone(),
            };
            reply.tool_calls.push(ToolCall {
                id,
                name,
                arguments: call.arguments.clone(),
            });
        }
        Ok(reply)
    }

    /// The shell command doing what a builtin file tool that changes files would do.
    pub fn shell_command(&self, name: &str, args: &Value) -> Option<String> {
        let builtin = self.builtins.iter().find(|b| b.name == name)?;
        let arg = |key: &str| args[key].as_str().unwrap_or_default().to_string();
        let unquoted = |machine: Option<&String>, machine_key: &str, path_key: &str| {
            let machine = machine.cloned().unwrap_or_else(|| arg(machine_key));
            let file = arg(path_key);
            format!("{WORLD_MOUNT}/{machine}/{}", file.trim_start_matches('/'))
        };
        let path = |machine: Option<&String>, machine_key: &str, path_key: &str| {
            quote(&unquoted(machine, machine_key, path_key))
        };
        let m = builtin.machine.as_ref();
        let target = || path(m, "machine", "path");
        Some(match builtin.kind.as_str() {
            // No command substitution: Gemini CLI refuses commands that contain one.
            "write-file" => {
                let file = unquoted(m, "machine", "path");
                let dir = file.rsplit_once('/').map_or(WORLD_MOUNT, |(d, _)| d);
                format!(
                    "mkdir -p {} && printf '%s' {} > {}",
                    quote(dir),
                    quote(&arg("content")),
                    quote(&file)
                )
            }
            "append-file" => format!("printf '%s' {} >> {}", quote(&arg("content")), target()),
            "delete-file" => format!("rm {}", target()),
            "copy-file" => format!(
                "cp {} {}",
                path(m, "source_machine", "source"),
                path(m, "destination_machine", "destination")
            ),
            "move-file" => format!(
                "mv {} {}",
                path(m, "source_machine", "source"),
                path(m, "destination_machine", "destination")
            ),
            _ => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_quoting_survives_quotes() {
        assert_eq!(quote("it's"), r"'it'\''s'");
    }

    #[test]
    fn file_changes_become_shell_commands_without_substitutions() {
        let builtins = [
            BuiltinTool {
                kind: "write-file".into(),
                name: "create_file".into(),
                description: String::new(),
                machine: Some("drive".into()),
            },
            BuiltinTool {
                kind: "copy-file".into(),
                name: "copy".into(),
                description: String::new(),
                machine: None,
            },
        ];
        let t = Translator {
            cli: Cli::GeminiCli,
            builtins: &builtins,
            scenario_tools: &[],
        };
        let write = t
            .shell_command(
                "create_file",
                &json!({"path": "/notes/a.txt", "content": "it's 5%"}),
            )
            .unwrap();
        assert_eq!(
            write,
            r"mkdir -p '/world/drive/notes' && printf '%s' 'it'\''s 5%' > '/world/drive/notes/a.txt'"
        );
        let copy = t
            .shell_command(
                "copy",
                &json!({"source_machine": "a", "source": "w.bin", "destination_machine": "b", "destination": "w.bin"}),
            )
            .unwrap();
        assert_eq!(copy, "cp '/world/a/w.bin' '/world/b/w.bin'");
        let turn = Message::text(0, Role::Assistant, "x");
        let turn = Message {
            tool_calls: vec![ToolCall {
                id: String::new(),
                name: "shell".into(),
                arguments: json!({"command": "ls"}).to_string(),
            }],
            ..turn
        };
        let reply = t.through_cli(2, turn, &[]).unwrap();
        assert_eq!(reply.tool_calls[0].name, "run_shell_command");
        assert_eq!(reply.tool_calls[0].id, "call_2_0");
        assert!(reply.tool_calls[0].arguments.contains("\"command\":\"ls\""));
    }
}
