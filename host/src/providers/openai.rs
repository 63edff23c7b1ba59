//! OpenAI's Responses API, and the Chat Completions format that OpenAI and every
//! OpenAI-compatible service (Together, OpenRouter, DeepSeek, vLLM, Ollama...) speak.

use serde_json::{Value, json};

use super::{GenerationSettings, Parsed, Wire};
use crate::bindings::{Message, Role, ToolCall};
use crate::model::{GenerateRequest, Usage};

fn u64_at(v: &Value, path: &[&str]) -> u64 {
    path.iter().fold(Some(v), |acc, key| acc.and_then(|x| x.get(key))).and_then(Value::as_u64).unwrap_or(0)
}

/// `POST {base}/responses`.
pub struct Responses {
    pub base_url: String,
    pub model: String,
    pub api_key: String,
}

impl Wire for Responses {
    fn url(&self) -> String {
        format!("{}/responses", self.base_url.trim_end_matches('/'))
    }

    fn headers(&self) -> Vec<(&'static str, String)> {
        vec![("authorization", format!("Bearer {}", self.api_key))]
    }

    fn body(&self, request: &GenerateRequest<'_>, settings: &GenerationSettings) -> Value {
        let mut input = Vec::new();
        for m in request.messages {
            match m.role {
                Role::System => input.push(json!({"role": "system", "content": m.content})),
                Role::User => input.push(json!({"role": "user", "content": m.content})),
                Role::Assistant => {
                    if !m.content.is_empty() {
                        input.push(json!({"role": "assistant", "content": m.content}));
                    }
                    for c in &m.tool_calls {
                        input.push(json!({"type": "function_call", "call_id": c.id, "name": c.name, "arguments": c.arguments}));
                    }
                }
                Role::Tool => input.push(json!({
                    "type": "function_call_output",
                    "call_id": m.tool_call_id.clone().unwrap_or_default(),
                    "output": m.content,
                })),
            }
        }
        let tools: Vec<Value> = request
            .tools
            .iter()
            .map(|t| json!({"type": "function", "name": t.name, "description": t.description, "parameters": super::schema_of(t), "strict": false}))
            .collect();
        let mut body = json!({"model": self.model, "input": input, "store": false});
        if !tools.is_empty() {
            body["tools"] = Value::Array(tools);
        }
        if let Some(t) = settings.temperature {
            body["temperature"] = json!(t);
        }
        if let Some(p) = settings.top_p {
            body["top_p"] = json!(p);
        }
        if let Some(n) = settings.max_tokens {
            body["max_output_tokens"] = json!(n);
        }
        if let Some(effort) = &settings.reasoning_effort {
            // Ask for summaries: the visible reasoning is what refusal analysis reads.
            body["reasoning"] = json!({"effort": effort, "summary": "auto"});
        }
        body
    }

    fn parse(&self, answer: &Value) -> Result<Parsed, String> {
        let output = answer.get("output").and_then(Value::as_array).ok_or("the answer has no `output` list")?;
        if answer["status"] == "incomplete" && answer["incomplete_details"]["reason"] == "content_filter" {
            return Err("the provider's content filter stopped the answer".into());
        }
        let mut message = Message::text(0, Role::Assistant, "");
        let mut reasoning: Vec<String> = Vec::new();
        for item in output {
            match item["type"].as_str() {
                Some("message") => {
                    for part in item["content"].as_array().into_iter().flatten() {
                        if let Some(text) = part["text"].as_str().or_else(|| part["refusal"].as_str()) {
                            message.content.push_str(text);
                        }
                    }
                }
                Some("function_call") => message.tool_calls.push(ToolCall {
                    id: item["call_id"].as_str().unwrap_or_default().to_string(),
                    name: item["name"].as_str().unwrap_or_default().to_string(),
                    arguments: item["arguments"].as_str().unwrap_or_default().to_string(),
                }),
                Some("reasoning") => {
                    for s in item["summary"].as_array().into_iter().flatten() {
                        if let Some(text) = s["text"].as_str() {
                            reasoning.push(text.to_string());
                        }
                    }
                }
                _ => {}
            }
        }
        if !reasoning.is_empty() {
            message.reasoning = Some(reasoning.join("\n\n"));
        }
        let u = &answer["usage"];
        let usage = Usage {
            input_tokens: u64_at(u, &["input_tokens"]),
            output_tokens: u64_at(u, &["output_tokens"]),
            reasoning_tokens: u64_at(u, &["output_tokens_details", "reasoning_tokens"]),
            cached_tokens: u64_at(u, &["input_tokens_details", "cached_tokens"]),
        };
        Ok(Parsed { message, usage, provider_state: None })
    }
}

/// `POST {base}/chat/completions`.
pub struct ChatCompletions {
    pub base_url: String,
    pub model: String,
    /// `None` for local servers that need no key.
    pub api_key: Option<String>,
    /// OpenAI itself wants `max_completion_tokens`; compatible services want `max_tokens`.
    pub max_tokens_field: &'static str,
    pub extra_headers: Vec<(&'static str, String)>,
}

impl Wire for ChatCompletions {
    fn url(&self) -> String {
        format!("{}/chat/completions", self.base_url.trim_end_matches('/'))
    }

    fn headers(&self) -> Vec<(&'static str, String)> {
        let mut h = self.extra_headers.clone();
        if let Some(key) = &self.api_key {
            h.push(("authorization", format!("Bearer {key}")));
        }
        h
    }

    fn body(&self, request: &GenerateRequest<'_>, settings: &GenerationSettings) -> Value {
        let messages: Vec<Value> = request
            .messages
            .iter()
            .map(|m| match m.role {
                Role::System => json!({"role": "system", "content": m.content}),
                Role::User => json!({"role": "user", "content": m.content}),
                Role::Assistant => {
                    let mut v = json!({"role": "assistant", "content": if m.content.is_empty() { Value::Null } else { json!(m.content) }});
                    if !m.tool_calls.is_empty() {
                        v["tool_calls"] = m
                            .tool_calls
                            .iter()
                            .map(|c| json!({"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}))
                            .collect();
                    }
                    v
                }
                Role::Tool => json!({"role": "tool", "tool_call_id": m.tool_call_id.clone().unwrap_or_default(), "content": m.content}),
            })
            .collect();
        let mut body = json!({"model": self.model, "messages": messages});
        if !request.tools.is_empty() {
            body["tools"] = request
                .tools
                .iter()
                .map(|t| json!({"type": "function", "function": {"name": t.name, "description": t.description, "parameters": super::schema_of(t)}}))
                .collect();
        }
        if let Some(t) = settings.temperature {
            body["temperature"] = json!(t);
        }
        if let Some(p) = settings.top_p {
            body["top_p"] = json!(p);
        }
        if let Some(n) = settings.max_tokens {
            body[self.max_tokens_field] = json!(n);
        }
        if let Some(seed) = settings.seed {
            body["seed"] = json!(seed);
        }
        if let Some(effort) = &settings.reasoning_effort {
            body["reasoning_effort"] = json!(effort);
        }
        body
    }

    fn parse(&self, answer: &Value) -> Result<Parsed, String> {
        let choice = answer.get("choices").and_then(|c| c.get(0)).ok_or("the answer has no `choices`")?;
        if choice["finish_reason"] == "content_filter" {
            return Err("the provider's content filter stopped the answer".into());
        }
        let m = &choice["message"];
        let mut message = Message::text(0, Role::Assistant, m["content"].as_str().unwrap_or_default());
        // DeepSeek and Together send `reasoning_content`; OpenRouter sends `reasoning`.
        message.reasoning = m["reasoning_content"].as_str().or_else(|| m["reasoning"].as_str()).filter(|r| !r.is_empty()).map(str::to_string);
        for c in m["tool_calls"].as_array().into_iter().flatten() {
            let arguments = match &c["function"]["arguments"] {
                Value::String(s) => s.clone(),
                Value::Null => String::new(),
                other => other.to_string(),
            };
            message.tool_calls.push(ToolCall {
                id: c["id"].as_str().unwrap_or_default().to_string(),
                name: c["function"]["name"].as_str().unwrap_or_default().to_string(),
                arguments,
            });
        }
        let u = &answer["usage"];
        let usage = Usage {
            input_tokens: u64_at(u, &["prompt_tokens"]),
            output_tokens: u64_at(u, &["completion_tokens"]),
            reasoning_tokens: u64_at(u, &["completion_tokens_details", "reasoning_tokens"]),
            cached_tokens: u64_at(u, &["prompt_tokens_details", "cached_tokens"]),
        };
        Ok(Parsed { message, usage, provider_state: None })
    }
}
