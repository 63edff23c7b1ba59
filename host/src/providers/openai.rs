//! OpenAI's Responses API, and the Chat Completions format that OpenAI and every
//! OpenAI-compatible service (Together, OpenRouter, DeepSeek, vLLM, Ollama...) speak.

use serde_json::{Value, json};

use super::http::StreamFold;
use super::{GenerationSettings, Parsed, Wire};
use crate::model::{GenerateRequest, Usage};
use crate::plugin::{Message, Role, ToolCall};

fn u64_at(v: &Value, path: &[&str]) -> u64 {
    path.iter()
        .try_fold(v, |acc, key| acc.get(key))
        .and_then(Value::as_u64)
        .unwrap_or(0)
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
        super::to_body(&body, request)
    }

    fn parse(&self, answer: &Value) -> Result<Parsed, String> {
        let output = answer
            .get("output")
            .and_then(Value::as_array)
            .ok_or("the answer has no `output` list")?;
        if answer["status"] == "incomplete"
            && answer["incomplete_details"]["reason"] == "content_filter"
        {
            return Err("the provider's content filter stopped the answer".into());
        }
        let mut message = Message::text(0, Role::Assistant, "");
        let mut reasoning: Vec<String> = Vec::new();
        for item in output {
            match item["type"].as_str() {
                Some("message") => {
                    for part in item["content"].as_array().into_iter().flatten() {
                        if let Some(text) =
                            part["text"].as_str().or_else(|| part["refusal"].as_str())
                        {
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
        Ok(Parsed {
            message,
            usage,
            provider_state: None,
        })
    }
}

#[derive(serde::Serialize)]
struct ChatBody<'a> {
    model: &'a str,
    messages: Vec<ChatMessage<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tools: Option<&'a serde_json::value::RawValue>,
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
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    stream: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    stream_options: Option<StreamOptions>,
}

#[derive(serde::Serialize)]
struct StreamOptions {
    /// The token counts arrive in a last event.
    include_usage: bool,
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
    pub tools_json: super::ToolsJson,
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
                content: (m.role != Role::Assistant || !m.content.is_empty())
                    .then_some(m.content.as_str()),
                tool_calls: (m.role == Role::Assistant && !m.tool_calls.is_empty()).then(|| {
                    m.tool_calls
                        .iter()
                        .map(|c| ChatToolCall {
                            id: &c.id,
                            kind: "function",
                            function: ChatFunction {
                                name: &c.name,
                                arguments: &c.arguments,
                            },
                        })
                        .collect()
                }),
                tool_call_id: (m.role == Role::Tool)
                    .then(|| m.tool_call_id.as_deref().unwrap_or_default()),
            })
            .collect();
        let tools = (!request.tools.is_empty()).then(|| {
            self.tools_json.get(request.tools, || {
                let owned: Vec<Value>;
                let schemas: &[Value] = if request.tool_schemas.len() == request.tools.len() {
                    request.tool_schemas
                } else {
                    owned = (0..request.tools.len())
                        .map(|i| super::schema_of(request, i))
                        .collect();
                    &owned
                };
                let tools: Vec<ChatTool<'_>> = request
                    .tools
                    .iter()
                    .zip(schemas)
                    .map(|(t, schema)| ChatTool {
                        kind: "function",
                        function: ChatToolFunction {
                            name: &t.name,
                            description: &t.description,
                            parameters: schema,
                        },
                    })
                    .collect();
                serde_json::to_string(&tools).expect("tools serialise")
            })
        });
        let body = ChatBody {
            model: &self.model,
            messages,
            tools: tools.as_deref(),
            temperature: settings.temperature,
            top_p: settings.top_p,
            max_tokens: settings
                .max_tokens
                .filter(|_| self.max_tokens_field == "max_tokens"),
            max_completion_tokens: settings
                .max_tokens
                .filter(|_| self.max_tokens_field == "max_completion_tokens"),
            seed: settings.seed,
            reasoning_effort: settings.reasoning_effort.as_deref(),
            stream: settings.stream == Some(true),
            stream_options: (settings.stream == Some(true)).then_some(StreamOptions {
                include_usage: true,
            }),
        };
        super::to_body(&body, request)
    }

    fn parse(&self, answer: &Value) -> Result<Parsed, String> {
        let choice = answer
            .get("choices")
            .and_then(|c| c.get(0))
            .ok_or("the answer has no `choices`")?;
        if choice["finish_reason"] == "content_filter" {
            return Err("the provider's content filter stopped the answer".into());
        }
        let m = &choice["message"];
        let mut message = Message::text(
            0,
            Role::Assistant,
            m["content"].as_str().unwrap_or_default(),
        );
        // DeepSeek and Together send `reasoning_content`; OpenRouter sends `reasoning`.
        message.reasoning = m["reasoning_content"]
            .as_str()
            .or_else(|| m["reasoning"].as_str())
            .filter(|r| !r.is_empty())
            .map(str::to_string);
        for c in m["tool_calls"].as_array().into_iter().flatten() {
            let arguments = match &c["function"]["arguments"] {
                Value::String(s) => s.clone(),
                Value::Null => String::new(),
                other => other.to_string(),
            };
            message.tool_calls.push(ToolCall {
                id: c["id"].as_str().unwrap_or_default().to_string(),
                name: c["function"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
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
        Ok(Parsed {
            message,
            usage,
            provider_state: None,
        })
    }

    fn stream_fold(&self) -> Option<fn() -> Box<dyn StreamFold>> {
        Some(|| Box::<ChatStream>::default())
    }
}

/// A streamed Chat Completions answer (`chat.completion.chunk` events), folded into the
/// `chat.completion` it stands for.
#[derive(Default)]
struct ChatStream {
    content: String,
    reasoning: String,
    /// By the delta's `index`: id, name, arguments.
    tool_calls: Vec<(String, String, String)>,
    finish_reason: Option<String>,
    usage: Option<Value>,
    pieces: u64,
}

impl StreamFold for ChatStream {
    fn push(&mut self, event: &Value) -> Result<(), String> {
        if let Some(usage) = event.get("usage").filter(|u| u.is_object()) {
            self.usage = Some(usage.clone());
        }
        let Some(choice) = event.get("choices").and_then(|c| c.get(0)) else {
            return Ok(());
        };
        let delta = &choice["delta"];
        // An event that carries generated text is one piece: servers stream about a token each.
        let mut generated = false;
        if let Some(text) = delta["content"].as_str().filter(|t| !t.is_empty()) {
            self.content.push_str(text);
            generated = true;
        }
        if let Some(text) = delta["reasoning_content"]
            .as_str()
            .or_else(|| delta["reasoning"].as_str())
            .filter(|t| !t.is_empty())
        {
            self.reasoning.push_str(text);
            generated = true;
        }
        for call in delta["tool_calls"].as_array().into_iter().flatten() {
            let index = call["index"]
                .as_u64()
                .map_or(self.tool_calls.len().saturating_sub(1), |i| i as usize);
            // Indices arrive in order; a far jump would only make room for calls never sent.
            if index > self.tool_calls.len() + 16 {
                return Err(format!(
                    "a streamed tool call has index {index} after {} calls",
                    self.tool_calls.len()
                ));
            }
            if self.tool_calls.len() <= index {
                self.tool_calls.resize_with(index + 1, Default::default);
            }
            let slot = &mut self.tool_calls[index];
            if let Some(id) = call["id"].as_str() {
                slot.0 = id.to_string();
            }
            if let Some(name) = call["function"]["name"].as_str() {
                slot.1.push_str(name);
            }
            if let Some(arguments) = call["function"]["arguments"].as_str() {
                slot.2.push_str(arguments);
            }
            generated = true;
        }
        self.pieces += u64::from(generated);
        if let Some(reason) = choice["finish_reason"].as_str() {
            self.finish_reason = Some(reason.to_string());
        }
        Ok(())
    }

    fn pieces(&self) -> u64 {
        self.pieces
    }

    fn finished(&self) -> bool {
        self.finish_reason.is_some()
    }

    fn finish(self: Box<Self>) -> Value {
        let tool_calls: Vec<Value> =
            self.tool_calls.into_iter().map(|(id, name, arguments)| json!({"id": id, "type": "function", "function": {"name": name, "arguments": arguments}})).collect();
        let mut message = json!({"role": "assistant", "content": self.content});
        if !self.reasoning.is_empty() {
            message["reasoning_content"] = json!(self.reasoning);
        }
        if !tool_calls.is_empty() {
            message["tool_calls"] = Value::Array(tool_calls);
        }
        json!({
            "object": "chat.completion",
            "choices": [{"index": 0, "finish_reason": self.finish_reason, "message": message}],
            "usage": self.usage.unwrap_or(Value::Null),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugin::ToolDefinition;

    /// A Chat Completions wire as for a local server (no key, `max_tokens`).
    fn local_wire() -> ChatCompletions {
        ChatCompletions {
            base_url: String::new(),
            model: "m".into(),
            api_key: None,
            max_tokens_field: "max_tokens",
            extra_headers: vec![],
            tools_json: Default::default(),
        }
    }

    fn tool(name: &str, parameters: &str) -> ToolDefinition {
        ToolDefinition {
            name: name.into(),
            description: format!("the \"{name}\" tool"),
            parameters: parameters.into(),
        }
    }

    /// The tools array is serialized once per tool list, into the bytes serializing it in
    /// place gave (response-cache keys depend on them), and never reused for other tools.
    #[test]
    fn tools_are_serialized_once_per_tool_list_into_the_same_bytes() {
        let wire = local_wire();
        let messages = [Message::text(0, Role::User, "go")];
        let body = |tools: &[ToolDefinition]| {
            let request = GenerateRequest {
                messages: &messages,
                provider_state: &[],
                tools,
                tool_schemas: &[],
                trial_id: "t",
                volatile: false,
            };
            String::from_utf8(wire.body(&request, &GenerationSettings::default())).unwrap()
        };
        let first = vec![
            tool(
                "read",
                r#"{"type":"object","properties":{"path":{"type":"string"}}}"#,
            ),
            tool("list", r#"{"type": "object"}"#),
        ];
        let second = vec![tool("read", r#"{"type":"object","required":["x"]}"#)];
        let in_place = |tools: &[ToolDefinition]| {
            let text = |s: &str| serde_json::to_string(s).unwrap();
            let list: Vec<String> = tools
                .iter()
                .map(|t| {
                    let schema = serde_json::from_str::<Value>(&t.parameters).unwrap();
                    format!(
                        r#"{{"type":"function","function":{{"name":{},"description":{},"parameters":{schema}}}}}"#,
                        text(&t.name),
                        text(&t.description)
                    )
                })
                .collect();
            format!(
                r#"{{"model":"m","messages":[{{"role":"user","content":"go"}}],"tools":[{}]}}"#,
                list.join(",")
            )
        };
        for _ in 0..2 {
            assert_eq!(body(&first), in_place(&first));
            assert_eq!(body(&second), in_place(&second));
        }
        assert_eq!(
            body(&[]),
            r#"{"model":"m","messages":[{"role":"user","content":"go"}]}"#
        );
        assert_eq!(wire.tools_json.built.len(), 2);
    }

    #[test]
    fn folds_a_streamed_answer_with_text_reasoning_and_tool_calls() {
        let events = [
            json!({"choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]}),
            json!({"choices": [{"index": 0, "delta": {"reasoning_content": "Think."}}]}),
            json!({"choices": [{"index": 0, "delta": {"content": "Let me "}}]}),
            json!({"choices": [{"index": 0, "delta": {"content": "look."}}]}),
            json!({"choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, "id": "c1", "type": "function", "function": {"name": "read_file", "arguments": ""}}]}}]}),
            json!({"choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, "function": {"arguments": "{\"path\":"}}]}}]}),
            json!({"choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, "function": {"arguments": "\"a.md\"}"}}]}}]}),
            json!({"choices": [{"index": 0, "delta": {"tool_calls": [{"index": 1, "id": "c2", "function": {"name": "list_files", "arguments": "{}"}}]}}]}),
            json!({"choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]}),
            json!({"choices": [], "usage": {"prompt_tokens": 12, "completion_tokens": 7}}),
        ];
        let mut fold = ChatStream::default();
        for (i, e) in events.iter().enumerate() {
            fold.push(e).unwrap();
            assert_eq!(fold.finished(), i >= 8, "event {i}");
        }
        assert_eq!(
            fold.pieces(),
            7,
            "one per event that carried generated text"
        );
        let answer = Box::new(fold).finish();
        let wire = local_wire();
        let parsed = wire.parse(&answer).unwrap();
        assert_eq!(parsed.message.content, "Let me look.");
        assert_eq!(parsed.message.reasoning.as_deref(), Some("Think."));
        let calls: Vec<(&str, &str, &str)> = parsed
            .message
            .tool_calls
            .iter()
            .map(|c| (c.id.as_str(), c.name.as_str(), c.arguments.as_str()))
            .collect();
        assert_eq!(
            calls,
            [
                ("c1", "read_file", "{\"path\":\"a.md\"}"),
                ("c2", "list_files", "{}")
            ]
        );
        assert_eq!(
            (parsed.usage.input_tokens, parsed.usage.output_tokens),
            (12, 7)
        );
    }
}
