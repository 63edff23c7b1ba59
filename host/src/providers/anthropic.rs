//! Anthropic's Messages API: `POST {base}/v1/messages`, tool_use / tool_result blocks, and
//! extended thinking kept in the transcript and replayed (with its signature) on later turns.

use serde_json::{Value, json};

use super::{DEFAULT_MAX_TOKENS, GenerationSettings, Parsed, Wire};
use crate::model::{GenerateRequest, Usage};
use crate::plugin::{Message, Role, ToolCall};

pub const API_VERSION: &str = "2023-06-01";

pub struct Messages {
    pub base_url: String,
    pub model: String,
    pub api_key: String,
}

impl Wire for Messages {
    fn url(&self) -> String {
        format!("{}/v1/messages", self.base_url.trim_end_matches('/'))
    }

    fn headers(&self) -> Vec<(&'static str, String)> {
        vec![
            ("x-api-key", self.api_key.clone()),
            ("anthropic-version", API_VERSION.to_string()),
        ]
    }

    fn body(&self, request: &GenerateRequest<'_>, settings: &GenerationSettings) -> Vec<u8> {
        let mut system = Vec::new();
        let mut messages: Vec<Value> = Vec::new();
        // Consecutive user-side blocks (tool results, then text) must share one user message.
        let push_user = |messages: &mut Vec<Value>, block: Value| match messages.last_mut() {
            Some(last) if last["role"] == "user" => last["content"]
                .as_array_mut()
                .expect("content list")
                .push(block),
            _ => messages.push(json!({"role": "user", "content": [block]})),
        };
        for (i, m) in request.messages.iter().enumerate() {
            match m.role {
                Role::System => system.push(m.content.clone()),
                Role::User => push_user(&mut messages, json!({"type": "text", "text": m.content})),
                Role::Tool => push_user(
                    &mut messages,
                    json!({"type": "tool_result", "tool_use_id": m.tool_call_id.clone().unwrap_or_default(), "content": m.content, "is_error": m.is_error}),
                ),
                Role::Assistant => {
                    let replay = request
                        .provider_state
                        .get(i)
                        .and_then(|s| s.as_ref())
                        .and_then(|s| s.get("content"))
                        .cloned();
                    let content = replay.unwrap_or_else(|| {
                        let mut blocks = Vec::new();
                        if !m.content.is_empty() {
                            blocks.push(json!({"type": "text", "text": m.content}));
                        }
                        for c in &m.tool_calls {
                            let input: Value = serde_json::from_str(&c.arguments).unwrap_or_else(|_| json!({}));
                            blocks.push(json!({"type": "tool_use", "id": c.id, "name": c.name, "input": input}));
                        }
                        Value::Array(blocks)
                    });
                    messages.push(json!({"role": "assistant", "content": content}));
                }
            }
        }
        let budget = settings.thinking_budget;
        let max_tokens = settings
            .max_tokens
            .unwrap_or(DEFAULT_MAX_TOKENS + budget.unwrap_or(0));
        let mut body = json!({"model": self.model, "max_tokens": max_tokens, "messages": messages});
        if !system.is_empty() {
            body["system"] = json!(system.join("\n\n"));
        }
        if !request.tools.is_empty() {
            body["tools"] = request.tools.iter().enumerate().map(|(i, t)| json!({"name": t.name, "description": t.description, "input_schema": super::schema_of(request, i)})).collect();
        }
        if let Some(b) = budget {
            body["thinking"] = json!({"type": "enabled", "budget_tokens": b});
        }
        if let Some(t) = settings.temperature {
            body["temperature"] = json!(t);
        }
        if let Some(p) = settings.top_p {
            body["top_p"] = json!(p);
        }
        super::to_body(&body, request)
    }

    fn parse(&self, answer: &Value) -> Result<Parsed, String> {
        let content = answer
            .get("content")
            .and_then(Value::as_array)
            .ok_or("the answer has no `content` list")?;
        if answer["stop_reason"] == "refusal" {
            return Err(
                "the provider's safety system stopped the answer (stop_reason: refusal)".into(),
            );
        }
        let mut message = Message::text(0, Role::Assistant, "");
        let mut thinking = Vec::new();
        for block in content {
            match block["type"].as_str() {
                Some("text") => message
                    .content
                    .push_str(block["text"].as_str().unwrap_or_default()),
                Some("thinking") => {
                    thinking.push(block["thinking"].as_str().unwrap_or_default().to_string())
                }
                Some("redacted_thinking") => {
                    thinking.push("[thinking redacted by the provider]".to_string())
                }
                Some("tool_use") => message.tool_calls.push(ToolCall {
                    id: block["id"].as_str().unwrap_or_default().to_string(),
                    name: block["name"].as_str().unwrap_or_default().to_string(),
                    arguments: block["input"].to_string(),
                }),
                _ => {}
            }
        }
        if !thinking.is_empty() {
            message.reasoning = Some(thinking.join("\n\n"));
        }
        let u = &answer["usage"];
        let get = |k: &str| u.get(k).and_then(Value::as_u64).unwrap_or(0);
        let usage = Usage {
            input_tokens: get("input_tokens")
                + get("cache_read_input_tokens")
                + get("cache_creation_input_tokens"),
            output_tokens: get("output_tokens"),
            reasoning_tokens: 0,
            cached_tokens: get("cache_read_input_tokens"),
        };
        // Thinking blocks carry signatures the API checks when they come back.
        let state = (!thinking.is_empty()).then(|| json!({"content": content}));
        Ok(Parsed {
            message,
            usage,
            provider_state: state,
        })
    }
}
