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

    fn body(&self, request: &GenerateRequest<'_>, settings: &GenerationSettings) -> Vec<u8> {
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
        let tools: Vec<Value> = request.tools.iter().enumerate().map(|(i, t)| json!({"type": "function", "name": t.name, "description": t.description, "parameters": super::schema_of(request, i), "strict": false}))
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
        serde_json::to_vec(&body).expect("request bodies serialise")
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

#[derive(serde::Serialize)]
struct ChatBody<'a> {
    model: &'a str,
    messages: Vec<ChatMessage<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tools: Vec<ChatTool<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    temperature: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    top_p: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_tokens: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_completion_tokens: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    seed: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reasoning_effort: Option<&'a str>,
}

#[derive(serde::Serialize)]
struct ChatMessage<'a> {
    role: &'a str,
    /// `null` for an assistant turn that only calls tools.
    content: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_calls: Option<Vec<ChatToolCall<'a>>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_call_id: Option<&'a str>,
}

#[derive(serde::Serialize)]
struct ChatToolCall<'a> {
    id: &'a str,
    #[serde(rename = "type")]
    kind: &'a str,
    function: ChatFunction<'a>,
}

#[derive(serde::Serialize)]
struct ChatFunction<'a> {
    name: &'a str,
    arguments: &'a str,
}

#[derive(serde::Serialize)]
struct ChatTool<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    function: ChatToolFunction<'a>,
}

#[derive(serde::Serialize)]
struct ChatToolFunction<'a> {
    name: &'a str,
    description: &'a str,
    parameters: &'a Value,
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

    fn body(&self, request: &GenerateRequest<'_>, settings: &GenerationSettings) -> Vec<u8> {
        // Serialized from borrowed structs: this body is rebuilt on every turn of every trial.
        let messages: Vec<ChatMessage<'_>> = request
            .messages
            .iter()
            .map(|m| ChatMessage {
                role: m.role.as_str(),
                content: (m.role != Role::Assistant || !m.content.is_empty()).then_some(m.content.as_str()),
                tool_calls: (m.role == Role::Assistant && !m.tool_calls.is_empty()).then(|| {
                    m.tool_calls.iter().map(|c| ChatToolCall { id: &c.id, kind: "function", function: ChatFunction { name: &c.name, arguments: &c.arguments } }).collect()
                }),
                tool_call_id: (m.role == Role::Tool).then(|| m.tool_call_id.as_deref().unwrap_or_default()),
            })
            .collect();
        let owned: Vec<Value>;
        let schemas: &[Value] = if request.tool_schemas.len() == request.tools.len() {
            request.tool_schemas
        } else {
            owned = (0..request.tools.len()).map(|i| super::schema_of(request, i)).collect();
            &owned
        };
        let tools: Vec<ChatTool<'_>> = request
            .tools
            .iter()
            .zip(schemas)
            .map(|(t, schema)| ChatTool { kind: "function", function: ChatToolFunction { name: &t.name, description: &t.description, parameters: schema } })
            .collect();
        let body = ChatBody {
            model: &self.model,
            messages,
            tools,
            temperature: settings.temperature,
            top_p: settings.top_p,
            max_tokens: settings.max_tokens.filter(|_| self.max_tokens_field == "max_tokens"),
            max_completion_tokens: settings.max_tokens.filter(|_| self.max_tokens_field == "max_completion_tokens"),
            seed: settings.seed,
            reasoning_effort: settings.reasoning_effort.as_deref(),
        };
        serde_json::to_vec(&body).expect("request bodies serialise")
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
