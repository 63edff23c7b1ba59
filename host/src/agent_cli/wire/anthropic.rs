//! Anthropic Messages (Claude Code): `system` and `messages` of content blocks (`text`,
//! `thinking`, `tool_use`, `tool_result`), answered as `message_start`, one
//! `content_block_start`/`_delta`/`_stop` per block, `message_delta` with the stop reason
//! and usage, then `message_stop`.

use serde_json::{Value, json};

use super::{CliRequest, value_text};
use crate::model::Usage;
use crate::plugin::{Message, Role, ToolCall};

/// The text of a `system` or `content` field: a string, or blocks whose text counts.
fn blocks_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Array(blocks) => blocks
            .iter()
            .filter(|b| b["type"] == "text")
            .filter_map(|b| b["text"].as_str())
            .collect::<Vec<_>>()
            .join("\n"),
        _ => String::new(),
    }
}

pub fn parse(value: &Value) -> Result<CliRequest, String> {
    let mut out = Vec::new();
    let system = blocks_text(&value["system"]);
    if !system.is_empty() {
        out.push(Message::text(0, Role::System, system));
    }
    let messages = value["messages"]
        .as_array()
        .ok_or("the request has no `messages` array")?;
    for m in messages {
        let content = &m["content"];
        let blocks: Vec<Value> = match content {
            Value::String(s) => vec![json!({"type": "text", "text": s})],
            Value::Array(b) => b.clone(),
            _ => Vec::new(),
        };
        if m["role"] == "assistant" {
            let mut message = Message::text(0, Role::Assistant, "");
            let mut text = Vec::new();
            let mut thinking = Vec::new();
            for block in &blocks {
                match block["type"].as_str().unwrap_or_default() {
                    "text" => text.push(block["text"].as_str().unwrap_or_default().to_string()),
                    "thinking" => {
                        thinking.push(block["thinking"].as_str().unwrap_or_default().to_string())
                    }
                    "tool_use" => message.tool_calls.push(ToolCall {
                        id: block["id"].as_str().unwrap_or_default().to_string(),
                        name: block["name"].as_str().unwrap_or_default().to_string(),
                        arguments: block.get("input").cloned().unwrap_or(json!({})).to_string(),
                    }),
                    _ => {}
                }
            }
            message.content = text.join("");
            message.reasoning = (!thinking.is_empty()).then(|| thinking.join(""));
            out.push(message);
            continue;
        }
        let mut text = Vec::new();
        for block in &blocks {
            match block["type"].as_str().unwrap_or_default() {
                "text" => text.push(block["text"].as_str().unwrap_or_default().to_string()),
                "tool_result" => {
                    let result = match &block["content"] {
                        c @ Value::Array(_) => blocks_text(c),
                        other => value_text(other),
                    };
                    out.push(Message::tool_result(
                        0,
                        block["tool_use_id"].as_str().unwrap_or_default(),
                        result,
                        block["is_error"].as_bool().unwrap_or(false),
                    ));
                }
                _ => {}
            }
        }
        if !text.is_empty() {
            out.push(Message::text(0, Role::User, text.join("\n")));
        }
    }
    let mut request = CliRequest {
        messages: out,
        ..CliRequest::default()
    };
    for tool in value["tools"].as_array().into_iter().flatten() {
        // Server tools (web search...) have a `type` and no schema: not offered to the model.
        let (Some(name), Some(schema)) = (tool["name"].as_str(), tool.get("input_schema")) else {
            continue;
        };
        request.offer(name, &tool["description"], Some(schema));
    }
    Ok(request)
}

fn event(name: &str, data: Value) -> String {
    format!("event: {name}\ndata: {data}\n\n")
}

/// Each reply has its own message id: Claude Code merges consecutive messages sharing one.
pub fn render(model: &str, reply: &Message, usage: &Usage) -> String {
    let mut out = event(
        "message_start",
        json!({"type": "message_start", "message": {
            "id": format!("msg_peerpressure_{}", reply.index), "type": "message", "role": "assistant", "model": model,
            "content": [], "stop_reason": null, "stop_sequence": null,
            "usage": {"input_tokens": usage.input_tokens, "output_tokens": 0}
        }}),
    );
    let mut blocks: Vec<(Value, Value)> = Vec::new();
    if let Some(reasoning) = &reply.reasoning {
        blocks.push((
            json!({"type": "thinking", "thinking": "", "signature": ""}),
            json!({"type": "thinking_delta", "thinking": reasoning}),
        ));
    }
    if !reply.content.is_empty() || reply.tool_calls.is_empty() {
        blocks.push((
            json!({"type": "text", "text": ""}),
            json!({"type": "text_delta", "text": reply.content}),
        ));
    }
    for call in &reply.tool_calls {
        blocks.push((
            json!({"type": "tool_use", "id": call.id, "name": call.name, "input": {}}),
            json!({"type": "input_json_delta", "partial_json": call.arguments}),
        ));
    }
    for (index, (start, delta)) in blocks.into_iter().enumerate() {
        out += &event(
            "content_block_start",
            json!({"type": "content_block_start", "index": index, "content_block": start}),
        );
        out += &event(
            "content_block_delta",
            json!({"type": "content_block_delta", "index": index, "delta": delta}),
        );
        out += &event(
            "content_block_stop",
            json!({"type": "content_block_stop", "index": index}),
        );
    }
    let stop = if reply.tool_calls.is_empty() {
        "end_turn"
    } else {
        "tool_use"
    };
    out += &event(
        "message_delta",
        json!({"type": "message_delta", "delta": {"stop_reason": stop, "stop_sequence": null},
               "usage": {"output_tokens": usage.output_tokens}}),
    );
    out += &event("message_stop", json!({"type": "message_stop"}));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tool_use_and_results_read_back_and_stream_out() {
        let body = json!({
            "system": [{"type": "text", "text": "You are Claude Code."}],
            "messages": [
                {"role": "user", "content": "Do the task."},
                {"role": "assistant", "content": [
                    {"type": "thinking", "thinking": "hm", "signature": "s"},
                    {"type": "tool_use", "id": "toolu_1", "name": "Bash", "input": {"command": "ls"}}]},
                {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": [{"type": "text", "text": "a.txt"}]}]}
            ],
            "tools": [{"name": "Bash", "description": "Run", "input_schema": {"type": "object"}},
                      {"type": "web_search_20250305", "name": "web_search"}]
        });
        let r = parse(&body).unwrap();
        assert_eq!(r.messages.len(), 4);
        assert_eq!(r.messages[2].reasoning.as_deref(), Some("hm"));
        assert_eq!(
            r.messages[2].tool_calls[0].arguments,
            "{\"command\":\"ls\"}"
        );
        assert_eq!(r.messages[3].tool_call_id.as_deref(), Some("toolu_1"));
        assert_eq!(r.messages[3].content, "a.txt");
        assert_eq!(r.tools.len(), 1, "server tools are not the model's");

        let stream = render("claude", &r.messages[2], &Usage::default());
        let names: Vec<&str> = stream
            .lines()
            .filter_map(|l| l.strip_prefix("event: "))
            .collect();
        assert_eq!(names.first(), Some(&"message_start"));
        assert_eq!(names.last(), Some(&"message_stop"));
        assert!(stream.contains("\"stop_reason\":\"tool_use\""));
        assert!(stream.contains("\"partial_json\":\"{\\\"command\\\":\\\"ls\\\"}\""));
    }
}
