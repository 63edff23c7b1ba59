//! Gemini (`streamGenerateContent?alt=sse`, Gemini CLI): `contents` of `parts` with
//! `functionCall`/`functionResponse`, answered as whole `GenerateContentResponse` events.

use serde_json::{Value, json};

use super::{CliRequest, sse, value_text};
use crate::model::Usage;
use crate::plugin::{Message, Role, ToolCall};

pub fn parse(value: &Value) -> Result<CliRequest, String> {
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
            if let Some(name) = f["name"].as_str() {
                let schema = f
                    .get("parametersJsonSchema")
                    .or_else(|| f.get("parameters"));
                request.offer(name, &f["description"], schema);
            }
        }
    }
    Ok(request)
}

pub fn render(model: &str, reply: &Message, usage: &Usage) -> String {
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
        let r =
            super::super::parse(super::super::Wire::Gemini, body.to_string().as_bytes()).unwrap();
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
}
