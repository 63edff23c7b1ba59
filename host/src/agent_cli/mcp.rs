//! The scenario's own tools as an MCP server (streamable HTTP, JSON answers): every CLI
//! speaks MCP, so a scenario's tools (`view_sheet`, the server tools...) reach the model
//! under their own names and their calls stay world events, as in the host's loop.

use serde_json::{Value, json};

use crate::plugin::ToolDefinition;

/// The server's name, the prefix the CLIs give its tools (`peerpressure_view_sheet`).
pub const SERVER_NAME: &str = "peerpressure";
const PROTOCOL_VERSION: &str = "2025-06-18";

/// One JSON-RPC message from the CLI.
pub enum McpMessage {
    /// A request the server answers without the world.
    Answered(Value),
    /// A notification: no answer.
    Notification,
    /// `tools/call`: answered by the trial.
    CallTool {
        id: Value,
        name: String,
        arguments: Value,
    },
}

fn result(id: &Value, result: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "result": result})
}

fn error(id: &Value, code: i64, message: &str) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message}})
}

/// Reads one message; `tools` are the scenario's, offered by `tools/list`.
pub fn read(body: &[u8], tools: &[ToolDefinition]) -> McpMessage {
    let Ok(message) = serde_json::from_slice::<Value>(body) else {
        return McpMessage::Answered(error(&Value::Null, -32700, "parse error"));
    };
    let Some(id) = message.get("id").cloned() else {
        return McpMessage::Notification;
    };
    let method = message["method"].as_str().unwrap_or_default();
    match method {
        "initialize" => {
            let version = message["params"]["protocolVersion"]
                .as_str()
                .unwrap_or(PROTOCOL_VERSION);
            McpMessage::Answered(result(
                &id,
                json!({
                    "protocolVersion": version,
                    "capabilities": {"tools": {"listChanged": false}},
                    "serverInfo": {"name": SERVER_NAME, "version": crate::HOST_VERSION},
                }),
            ))
        }
        "ping" => McpMessage::Answered(result(&id, json!({}))),
        "tools/list" => McpMessage::Answered(result(
            &id,
            json!({"tools": tools.iter().map(|t| json!({
                "name": t.name,
                "description": t.description,
                "inputSchema": serde_json::from_str::<Value>(&t.parameters).unwrap_or(json!({"type": "object"})),
            })).collect::<Vec<_>>()}),
        )),
        "tools/call" => McpMessage::CallTool {
            id,
            name: message["params"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
            arguments: message["params"]
                .get("arguments")
                .cloned()
                .unwrap_or(json!({})),
        },
        "resources/list" => McpMessage::Answered(result(&id, json!({"resources": []}))),
        "prompts/list" => McpMessage::Answered(result(&id, json!({"prompts": []}))),
        other => McpMessage::Answered(error(&id, -32601, &format!("method `{other}` not found"))),
    }
}

/// The answer to a `tools/call`.
pub fn tool_result(id: &Value, text: &str, is_error: bool) -> Value {
    result(
        id,
        json!({"content": [{"type": "text", "text": text}], "isError": is_error}),
    )
}

/// The scenario tool a CLI's tool name stands for: the CLIs prefix MCP tools with the
/// server's name (`peerpressure_x`, `mcp__peerpressure__x`, ...), or keep the bare name
/// when it is free.
pub fn scenario_name<'a>(cli_name: &str, scenario_tools: &'a [ToolDefinition]) -> Option<&'a str> {
    scenario_tools.iter().map(|t| t.name.as_str()).find(|name| {
        cli_name == *name
            || cli_name
                .strip_suffix(name)
                .is_some_and(|prefix| prefix.contains(SERVER_NAME) && prefix.ends_with('_'))
    })
}

/// The CLI's name for the scenario tool `name`, among the tools the CLI offered the model.
/// A bare name counts only when its description is the scenario's (the CLI's own tool of
/// that name is another tool).
pub fn cli_name<'a>(
    name: &str,
    scenario_tool: &ToolDefinition,
    offered: &'a [ToolDefinition],
) -> Option<&'a str> {
    offered
        .iter()
        .find(|t| {
            t.name
                .strip_suffix(name)
                .is_some_and(|prefix| prefix.contains(SERVER_NAME) && prefix.ends_with('_'))
        })
        .or_else(|| {
            offered
                .iter()
                .find(|t| t.name == name && t.description.contains(&scenario_tool.description))
        })
        .map(|t| t.name.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tool(name: &str, description: &str) -> ToolDefinition {
        ToolDefinition {
            name: name.into(),
            description: description.into(),
            parameters: "{}".into(),
        }
    }

    #[test]
    fn names_map_between_the_scenario_and_each_cli() {
        let ours = [tool("read_file", "Read a file's content.")];
        let opencode = [
            tool("read", "Read"),
            tool("peerpressure_read_file", "Read a file's content."),
        ];
        let gemini = [
            tool("read_file", "Gemini's own reader"),
            tool("mcp_peerpressure_read_file", "Read a file's content."),
        ];
        let bare = [tool(
            "read_file",
            "Read a file's content. (peerpressure MCP Server)",
        )];
        for offered in [&opencode[..], &gemini[..]] {
            let name = cli_name("read_file", &ours[0], offered).unwrap();
            assert!(name.ends_with("peerpressure_read_file"));
            assert_eq!(scenario_name(name, &ours), Some("read_file"));
        }
        assert_eq!(cli_name("read_file", &ours[0], &bare), Some("read_file"));
        assert_eq!(cli_name("read_file", &ours[0], &gemini[..1]), None);
        assert_eq!(scenario_name("bash", &ours), None);
    }

    #[test]
    fn the_handshake_and_tool_list_follow_the_protocol() {
        let tools = [tool("view_sheet", "Show a sheet.")];
        let init = br#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-03-26"}}"#;
        let McpMessage::Answered(answer) = read(init, &tools) else {
            panic!("initialize is answered")
        };
        assert_eq!(answer["result"]["protocolVersion"], "2025-03-26");
        assert!(matches!(
            read(
                br#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#,
                &tools
            ),
            McpMessage::Notification
        ));
        let McpMessage::Answered(list) =
            read(br#"{"jsonrpc":"2.0","id":2,"method":"tools/list"}"#, &tools)
        else {
            panic!("tools/list is answered")
        };
        assert_eq!(list["result"]["tools"][0]["name"], "view_sheet");
        let call = br#"{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"view_sheet","arguments":{"sheet":"Q3"}}}"#;
        let McpMessage::CallTool {
            name, arguments, ..
        } = read(call, &tools)
        else {
            panic!("tools/call goes to the trial")
        };
        assert_eq!(
            (name.as_str(), &arguments["sheet"]),
            ("view_sheet", &json!("Q3"))
        );
    }
}
