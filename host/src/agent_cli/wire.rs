//! The CLIs' model requests, read into the host's transcript form, and the host's replies
//! written back as the event streams the CLIs require (none of them accepts a plain JSON
//! answer: OpenCode re-requests in a loop, Gemini CLI fails).

use serde_json::{Value, json};

use super::clis::Wire;
use crate::model::Usage;
use crate::plugin::{Message, Role, ToolCall, ToolDefinition};

/// One model request of a CLI, in the host's terms.
#[derive(Debug, Default)]
pub struct CliRequest {
    pub messages: Vec<Message>,
    pub tools: Vec<ToolDefinition>,
    pub schemas: Vec<Value>,
    /// Chat Completions: whether the CLI asked for a usage chunk.
    pub include_usage: bool,
}

impl CliRequest {
    /// A turn of the agent, as opposed to a side call (a title, a summary): side calls
    /// carry no tools.
    pub fn is_agent_turn(&self) -> bool {
        !self.tools.is_empty()
    }
}

pub fn parse(wire: Wire, body: &[u8]) -> Result<CliRequest, String> {
    let value: Value =
        serde_json::from_slice(body).map_err(|e| format!("the request is not JSON: {e}"))?;
    let mut request = match wire {
        Wire::Chat => parse_chat(&value)?,
        Wire::Gemini => parse_gemini(&value)?,
    };
    for (i, m) in request.messages.iter_mut().enumerate() {
        m.index = i as u32;
    }
    Ok(request)
}

/// Text of a Chat content: a string, or parts of which the text ones count.
fn chat_text(content: &Value) -> String {
    match content {
        Value::String(s) => s.clone(),
        Value::Array(parts) => parts
            .iter()
            .filter_map(|p| p["text"].as_str())
            .collect::<Vec<_>>()
            .join("\n"),
        _ => String::new(),
    }
}

fn parse_chat(value: &Value) -> Result<CliRequest, String> {
    let messages = value["messages"]
        .as_array()
        .ok_or("the request has no `messages` array")?;
    let mut out = Vec::new();
    for m in messages {
        let role = match m["role"].as_str().unwrap_or_default() {
            "system" | "developer" => Role::System,
            "user" => Role::User,
            "assistant" => Role::Assistant,
            "tool" => Role::Tool,
            other => return Err(format!("a message has the unknown role `{other}`")),
        };
        let mut message = Message::text(0, role, chat_text(&m["content"]));
        if role == Role::Tool {
            message.tool_call_id = m["tool_call_id"].as_str().map(str::to_string);
        }
        if let Some(reasoning) = m["reasoning_content"].as_str() {
            message.reasoning = Some(reasoning.to_string());
        }
        for call in m["tool_calls"].as_array().into_iter().flatten() {
            message.tool_calls.push(ToolCall {
                id: call["id"].as_str().unwrap_or_default().to_string(),
                name: call["function"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                arguments: call["function"]["arguments"]
                    .as_str()
                    .unwrap_or("{}")
                    .to_string(),
            });
        }
        out.push(message);
    }
    let mut request = CliRequest {
        messages: out,
        include_usage: value["stream_options"]["include_usage"]
            .as_bool()
            .unwrap_or(false),
        ..CliRequest::default()
    };
    for tool in value["tools"].as_array().into_iter().flatten() {
        let f = &tool["function"];
        let Some(name) = f["name"].as_str() else {
            continue;
        };
        let schema = f
            .get("parameters")
            .cloned()
            .unwrap_or(json!({"type": "object"}));
        request.tools.push(ToolDefinition {
            name: name.to_string(),
            description: f["description"].as_str().unwrap_or_default().to_string(),
            parameters: schema.to_string(),
        });
        request.schemas.push(schema);
    }
    Ok(request)
}

fn parse_gemini(value: &Value) -> Result<CliRequest, String> {
    let mut out = Vec::new();
    let system: Vec<&str> = value["systemInstruction"]["parts"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| p["text"].as_str())
        .collect();
    if !system.is_empty() {
        out.push(Message::text(0, Role::System, system.join("\n")));
    }
    let contents = value["contents"]
        .as_array()
        .ok_or("the request has no `contents` array")?;
    // Calls not answered yet, for responses that carry no id.
    let mut pending: Vec<ToolCall> = Vec::new();
    for (n, content) in contents.iter().enumerate() {
        let parts = content["parts"].as_array().cloned().unwrap_or_default();
        match content["role"].as_str().unwrap_or("user") {
            "model" => {
                let mut message = Message::text(0, Role::Assistant, "");
                let mut text = Vec::new();
                let mut thoughts = Vec::new();
                for (i, part) in parts.iter().enumerate() {
                    if let Some(t) = part["text"].as_str() {
                        if part["thought"].as_bool() == Some(true) {
                            thoughts.push(t.to_string());
                        } else {
                            text.push(t.to_string());
                        }
                    }
                    let call = &part["functionCall"];
                    if let Some(name) = call["name"].as_str() {
                        message.tool_calls.push(ToolCall {
                            id: call["id"]
                                .as_str()
                                .map(str::to_string)
                                .unwrap_or_else(|| format!("g{n}c{i}")),
                            name: name.to_string(),
                            arguments: call.get("args").cloned().unwrap_or(json!({})).to_string(),
                        });
                    }
                }
                message.content = text.join("");
                message.reasoning = (!thoughts.is_empty()).then(|| thoughts.join(""));
                pending = message.tool_calls.clone();
                out.push(message);
            }
            _ => {
                let mut text = Vec::new();
                for part in &parts {
                    if let Some(t) = part["text"].as_str() {
                        text.push(t.to_string());
                    }
                    let response = &part["functionResponse"];
                    if let Some(name) = response["name"].as_str() {
                        let id = response["id"]
                            .as_str()
                            .filter(|id| pending.iter().any(|c| c.id == *id))
                            .map(str::to_string)
                            .or_else(|| {
                                pending
                                    .iter()
                                    .position(|c| c.name == name)
                                    .map(|i| pending.remove(i).id)
                            })
                            .unwrap_or_else(|| format!("unmatched-{name}"));
                        pending.retain(|c| c.id != id);
                        let body = &response["response"];
                        let (content, is_error) = match (body.get("output"), body.get("error")) {
                            (_, Some(e)) => (value_text(e), true),
                            (Some(o), None) => (value_text(o), false),
                            (None, None) => (value_text(body), false),
                        };
                        out.push(Message::tool_result(0, &id, content, is_error));
                    }
                }
                if !text.is_empty() {
                    out.push(Message::text(0, Role::User, text.join("\n")));
                }
            }
        }
    }
    let mut request = CliRequest {
        messages: out,
        ..CliRequest::default()
    };
    for group in value["tools"].as_array().into_iter().flatten() {
        for f in group["functionDeclarations"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let Some(name) = f["name"].as_str() else {
                continue;
            };
            let schema = f
                .get("parametersJsonSchema")
                .or_else(|| f.get("parameters"))
                .cloned()
                .unwrap_or(json!({"type": "object"}));
            request.tools.push(ToolDefinition {
                name: name.to_string(),
                description: f["description"].as_str().unwrap_or_default().to_string(),
                parameters: schema.to_string(),
            });
            request.schemas.push(schema);
        }
    }
    Ok(request)
}

fn value_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn sse(data: &Value) -> String {
    format!("data: {data}\n\n")
}

/// The reply as the CLI's event stream.
pub fn render(
    wire: Wire,
    model: &str,
    reply: &Message,
    usage: &Usage,
    request: &CliRequest,
) -> String {
    match wire {
        Wire::Chat => render_chat(model, reply, usage, request.include_usage),
        Wire::Gemini => render_gemini(model, reply, usage),
    }
}

fn render_chat(model: &str, reply: &Message, usage: &Usage, include_usage: bool) -> String {
    let chunk = |choices: Value| json!({"id": "chatcmpl-peerpressure", "object": "chat.completion.chunk", "created": 0, "model": model, "choices": choices});
    let mut out = String::new();
    let mut delta = json!({"role": "assistant", "content": reply.content});
    if let Some(reasoning) = &reply.reasoning {
        delta["reasoning_content"] = json!(reasoning);
    }
    out += &sse(&chunk(json!([{"index": 0, "delta": delta}])));
    for (i, call) in reply.tool_calls.iter().enumerate() {
        out += &sse(&chunk(json!([{"index": 0, "delta": {"tool_calls": [{
            "index": i, "id": call.id, "type": "function",
            "function": {"name": call.name, "arguments": call.arguments}
        }]}}])));
    }
    let finish = if reply.tool_calls.is_empty() {
        "stop"
    } else {
        "tool_calls"
    };
    out += &sse(&chunk(
        json!([{"index": 0, "delta": {}, "finish_reason": finish}]),
    ));
    if include_usage {
        let mut last = chunk(json!([]));
        last["usage"] = json!({
            "prompt_tokens": usage.input_tokens,
            "completion_tokens": usage.output_tokens,
            "total_tokens": usage.input_tokens + usage.output_tokens,
        });
        out += &sse(&last);
    }
    out += "data: [DONE]\n\n";
    out
}

fn render_gemini(model: &str, reply: &Message, usage: &Usage) -> String {
    let mut parts = Vec::new();
    if let Some(reasoning) = &reply.reasoning {
        parts.push(json!({"text": reasoning, "thought": true}));
    }
    if !reply.content.is_empty() {
        parts.push(json!({"text": reply.content}));
    }
    for call in &reply.tool_calls {
        let args = serde_json::from_str::<Value>(&call.arguments)
            .ok()
            .filter(Value::is_object)
            .unwrap_or(json!({}));
        parts.push(json!({"functionCall": {"name": call.name, "args": args, "id": call.id}}));
    }
    if parts.is_empty() {
        parts.push(json!({"text": ""}));
    }
    sse(&json!({
        "candidates": [{"content": {"role": "model", "parts": parts}, "finishReason": "STOP", "index": 0}],
        "usageMetadata": {
            "promptTokenCount": usage.input_tokens,
            "candidatesTokenCount": usage.output_tokens,
            "totalTokenCount": usage.input_tokens + usage.output_tokens,
        },
        "modelVersion": model,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chat_request_with_a_tool_round_trip_is_read_in_order() {
        let body = json!({
            "model": "agent", "stream": true, "stream_options": {"include_usage": true},
            "messages": [
                {"role": "system", "content": "You are a coding agent."},
                {"role": "user", "content": [{"type": "text", "text": "Fix the config."}]},
                {"role": "assistant", "content": null, "tool_calls": [
                    {"id": "call_1", "type": "function", "function": {"name": "bash", "arguments": "{\"command\":\"ls\"}"}}]},
                {"role": "tool", "tool_call_id": "call_1", "content": "config.yaml"}
            ],
            "tools": [{"type": "function", "function": {"name": "bash", "description": "Run a command", "parameters": {"type": "object"}}}]
        });
        let r = parse(Wire::Chat, body.to_string().as_bytes()).unwrap();
        assert!(r.is_agent_turn() && r.include_usage);
        let roles: Vec<Role> = r.messages.iter().map(|m| m.role).collect();
        assert_eq!(
            roles,
            [Role::System, Role::User, Role::Assistant, Role::Tool]
        );
        assert_eq!(r.messages[1].content, "Fix the config.");
        assert_eq!(
            r.messages[2].tool_calls[0].arguments,
            "{\"command\":\"ls\"}"
        );
        assert_eq!(r.messages[3].tool_call_id.as_deref(), Some("call_1"));
        assert_eq!(r.messages[3].index, 3);
    }

    #[test]
    fn gemini_responses_without_ids_are_matched_to_their_calls_by_name() {
        let body = json!({
            "systemInstruction": {"parts": [{"text": "You are Gemini CLI."}]},
            "contents": [
                {"role": "user", "parts": [{"text": "Do the task."}]},
                {"role": "model", "parts": [{"text": "thinking", "thought": true}, {"functionCall": {"name": "read_file", "args": {"path": "a"}}}, {"functionCall": {"name": "list_files", "args": {}}}]},
                {"role": "user", "parts": [{"functionResponse": {"name": "list_files", "response": {"output": "a b"}}}, {"functionResponse": {"name": "read_file", "response": {"error": "no such file"}}}]}
            ],
            "tools": [{"functionDeclarations": [{"name": "read_file", "description": "Read", "parametersJsonSchema": {"type": "object"}}]}]
        });
        let r = parse(Wire::Gemini, body.to_string().as_bytes()).unwrap();
        let m = &r.messages;
        assert_eq!(m[2].reasoning.as_deref(), Some("thinking"));
        assert_eq!(m[2].tool_calls[1].id, "g1c2");
        assert_eq!(
            (m[3].tool_call_id.as_deref(), m[3].is_error),
            (Some("g1c2"), false)
        );
        assert_eq!(
            (m[4].tool_call_id.as_deref(), m[4].is_error),
            (Some("g1c1"), true)
        );
        assert_eq!(r.tools[0].name, "read_file");
    }

    #[test]
    fn replies_are_streams_the_clis_accept() {
        let mut reply = Message::text(0, Role::Assistant, "Editing.");
        reply.tool_calls.push(ToolCall {
            id: "c1".into(),
            name: "bash".into(),
            arguments: "{\"command\":\"true\"}".into(),
        });
        let usage = Usage {
            input_tokens: 10,
            output_tokens: 2,
            ..Usage::default()
        };
        let chat = render_chat("agent", &reply, &usage, true);
        let events: Vec<&str> = chat.split("\n\n").filter(|e| !e.is_empty()).collect();
        assert_eq!(events.len(), 5);
        assert!(events[2].contains("\"finish_reason\":\"tool_calls\""));
        assert!(events[3].contains("\"total_tokens\":12"));
        assert_eq!(events[4], "data: [DONE]");
        let gemini = render_gemini("gemini-2.5-pro", &reply, &usage);
        let data: Value =
            serde_json::from_str(gemini.trim().strip_prefix("data: ").unwrap()).unwrap();
        assert_eq!(
            data["candidates"][0]["content"]["parts"][1]["functionCall"]["args"]["command"],
            "true"
        );
    }
}
