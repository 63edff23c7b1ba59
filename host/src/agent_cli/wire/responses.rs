//! OpenAI Responses (Codex): `instructions` and `input` items (`message`, `function_call`,
//! `function_call_output`, `reasoning`), answered as `response.created`, an
//! `output_item.added`/`.done` pair per item, and `response.completed` carrying the whole
//! response with its usage.

use serde_json::{Value, json};

use super::{CliRequest, parts_text, value_text};
use crate::model::Usage;
use crate::plugin::{Message, Role, ToolCall};

/// Between a namespace and a tool's name in the names the host uses (`mcp__peerpressure__x`).
const NAMESPACE_JOIN: &str = "__";

pub fn parse(value: &Value) -> Result<CliRequest, String> {
    let mut out = Vec::new();
    if let Some(instructions) = value["instructions"].as_str() {
        out.push(Message::text(0, Role::System, instructions));
    }
    let items: Vec<Value> = match &value["input"] {
        Value::String(s) => vec![json!({"type": "message", "role": "user", "content": s})],
        Value::Array(items) => items.clone(),
        _ => return Err("the request has no `input`".into()),
    };
    for item in &items {
        let kind = item["type"].as_str().unwrap_or("message");
        match kind {
            "message" => {
                let role = match item["role"].as_str().unwrap_or("user") {
                    "assistant" => Role::Assistant,
                    "system" | "developer" => Role::System,
                    _ => Role::User,
                };
                let text = parts_text(&item["content"]);
                // Consecutive assistant items (text, then calls) are one turn.
                match out.last_mut() {
                    Some(last)
                        if role == Role::Assistant
                            && last.role == Role::Assistant
                            && last.tool_calls.is_empty() =>
                    {
                        last.content.push_str(&text)
                    }
                    _ => out.push(Message::text(0, role, text)),
                }
            }
            "function_call" | "custom_tool_call" => {
                let name = item["name"].as_str().unwrap_or_default();
                let call = ToolCall {
                    id: item["call_id"].as_str().unwrap_or_default().to_string(),
                    name: match item["namespace"].as_str() {
                        Some(ns) => format!("{ns}{NAMESPACE_JOIN}{name}"),
                        None => name.to_string(),
                    },
                    arguments: item["arguments"]
                        .as_str()
                        .or_else(|| item["input"].as_str())
                        .unwrap_or("{}")
                        .to_string(),
                };
                match out.last_mut() {
                    Some(last) if last.role == Role::Assistant => last.tool_calls.push(call),
                    _ => {
                        let mut m = Message::text(0, Role::Assistant, "");
                        m.tool_calls.push(call);
                        out.push(m);
                    }
                }
            }
            "function_call_output" | "custom_tool_call_output" => {
                let output = match &item["output"] {
                    Value::Array(parts) => parts_text(&Value::Array(parts.clone())),
                    other => value_text(other),
                };
                out.push(Message::tool_result(
                    0,
                    item["call_id"].as_str().unwrap_or_default(),
                    output,
                    false,
                ));
            }
            _ => {}
        }
    }
    let mut request = CliRequest {
        messages: out,
        ..CliRequest::default()
    };
    // MCP tools come grouped in a `namespace` tool; the model sees them as one list.
    let mut functions: Vec<(String, &Value)> = Vec::new();
    for tool in value["tools"].as_array().into_iter().flatten() {
        match tool["type"].as_str() {
            Some("function") => {
                if let Some(name) = tool["name"].as_str() {
                    functions.push((name.to_string(), tool));
                }
            }
            Some("namespace") => {
                let ns = tool["name"].as_str().unwrap_or_default();
                for inner in tool["tools"].as_array().into_iter().flatten() {
                    if let Some(name) = inner["name"].as_str() {
                        functions.push((format!("{ns}{NAMESPACE_JOIN}{name}"), inner));
                    }
                }
            }
            _ => {}
        }
    }
    for (name, tool) in functions {
        request.offer(&name, &tool["description"], tool.get("parameters"));
    }
    Ok(request)
}

fn event(data: Value) -> String {
    let name = data["type"].as_str().unwrap_or_default().to_string();
    format!("event: {name}\ndata: {data}\n\n")
}

pub fn render(model: &str, reply: &Message, usage: &Usage) -> String {
    let mut items = Vec::new();
    if !reply.content.is_empty() || reply.tool_calls.is_empty() {
        items.push(json!({
            "type": "message", "id": format!("msg_peerpressure_{}", reply.index), "role": "assistant", "status": "completed",
            "content": [{"type": "output_text", "text": reply.content, "annotations": []}]
        }));
    }
    for (i, call) in reply.tool_calls.iter().enumerate() {
        items.push(json!({
            "type": "function_call", "id": format!("fc_peerpressure_{}_{i}", reply.index), "status": "completed",
            "call_id": call.id, "name": call.name, "arguments": call.arguments
        }));
        if let Some((ns, name)) = call.name.rsplit_once(NAMESPACE_JOIN) {
            let item = items.last_mut().expect("pushed");
            item["namespace"] = json!(ns);
            item["name"] = json!(name);
        }
    }
    let response = |status: &str, output: &[Value]| {
        json!({
            "id": format!("resp_peerpressure_{}", reply.index), "object": "response", "created_at": 0, "model": model,
            "status": status, "output": output,
            "usage": {
                "input_tokens": usage.input_tokens,
                "input_tokens_details": {"cached_tokens": usage.cached_tokens},
                "output_tokens": usage.output_tokens,
                "output_tokens_details": {"reasoning_tokens": usage.reasoning_tokens},
                "total_tokens": usage.input_tokens + usage.output_tokens
            }
        })
    };
    let mut out =
        event(json!({"type": "response.created", "response": response("in_progress", &[])}));
    for (i, item) in items.iter().enumerate() {
        out +=
            &event(json!({"type": "response.output_item.added", "output_index": i, "item": item}));
        out +=
            &event(json!({"type": "response.output_item.done", "output_index": i, "item": item}));
    }
    out += &event(json!({"type": "response.completed", "response": response("completed", &items)}));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn function_calls_join_their_turn_and_stream_out() {
        let body = json!({
            "instructions": "You are Codex.",
            "input": [
                {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Do it."}]},
                {"type": "reasoning", "summary": []},
                {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Running."}]},
                {"type": "function_call", "call_id": "call_1", "name": "shell", "arguments": "{\"command\":[\"ls\"]}"},
                {"type": "function_call_output", "call_id": "call_1", "output": "a.txt"}
            ],
            "tools": [{"type": "function", "name": "shell", "description": "Run", "parameters": {"type": "object"}},
                      {"type": "web_search"}]
        });
        let r = parse(&body).unwrap();
        let roles: Vec<Role> = r.messages.iter().map(|m| m.role).collect();
        assert_eq!(
            roles,
            [Role::System, Role::User, Role::Assistant, Role::Tool]
        );
        assert_eq!(r.messages[2].content, "Running.");
        assert_eq!(r.messages[2].tool_calls[0].id, "call_1");
        assert_eq!(r.tools.len(), 1);
        let stream = render("agent", &r.messages[2], &Usage::default());
        let completed = stream
            .split("\n\n")
            .find(|e| e.starts_with("event: response.completed"))
            .unwrap();
        let data: Value = serde_json::from_str(
            completed
                .lines()
                .nth(1)
                .unwrap()
                .strip_prefix("data: ")
                .unwrap(),
        )
        .unwrap();
        assert_eq!(data["response"]["output"][1]["call_id"], "call_1");
        assert_eq!(data["response"]["output"].as_array().unwrap().len(), 2);
    }
}
