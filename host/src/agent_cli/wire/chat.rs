//! OpenAI Chat Completions (OpenCode, Qwen Code): `messages` with `tool_calls`, answered as
//! `chat.completion.chunk` events, a usage chunk when asked, then `[DONE]`.

use serde_json::{Value, json};

use super::{CliRequest, parts_text, sse};
use crate::model::Usage;
use crate::plugin::{Message, Role, ToolCall};

pub fn parse(value: &Value) -> Result<CliRequest, String> {
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
        let mut message = Message::text(0, role, parts_text(&m["content"]));
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
        if let Some(name) = f["name"].as_str() {
            request.offer(name, &f["description"], f.get("parameters"));
        }
    }
    Ok(request)
}

pub fn render(model: &str, reply: &Message, usage: &Usage, include_usage: bool) -> String {
    let chunk = |choices: Value| json!({"id": format!("chatcmpl-peerpressure-{}", reply.index), "object": "chat.completion.chunk", "created": 0, "model": model, "choices": choices});
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
        let r = super::super::parse(super::super::Wire::Chat, body.to_string().as_bytes()).unwrap();
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
        let chat = render("agent", &reply, &usage, true);
        let events: Vec<&str> = chat.split("\n\n").filter(|e| !e.is_empty()).collect();
        assert_eq!(events.len(), 5);
        assert!(events[2].contains("\"finish_reason\":\"tool_calls\""));
        assert!(events[3].contains("\"total_tokens\":12"));
        assert_eq!(events[4], "data: [DONE]");
        let gemini = super::super::gemini::render("gemini-2.5-pro", &reply, &usage);
        let data: Value =
            serde_json::from_str(gemini.trim().strip_prefix("data: ").unwrap()).unwrap();
        assert_eq!(
            data["candidates"][0]["content"]["parts"][1]["functionCall"]["args"]["command"],
            "true"
        );
    }
}
