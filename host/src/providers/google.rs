//! Google's Gemini API: `POST {base}/v1beta/models/{model}:generateContent` with function
//! declarations, calls and responses, and thought summaries. The model's content (with its
//! thought signatures) is replayed verbatim on later turns.

use serde_json::{Value, json};

use super::{GenerationSettings, Parsed, Wire, tool_name_for};
use crate::model::{GenerateRequest, Usage};
use crate::plugin::{Message, Role, ToolCall};

pub struct GenerateContent {
    pub base_url: String,
    pub model: String,
    pub api_key: String,
}

impl Wire for GenerateContent {
    fn url(&self) -> String {
        format!(
            "{}/v1beta/models/{}:generateContent",
            self.base_url.trim_end_matches('/'),
            self.model
        )
    }

    fn headers(&self) -> Vec<(&'static str, String)> {
        vec![("x-goog-api-key", self.api_key.clone())]
    }

    fn body(&self, request: &GenerateRequest<'_>, settings: &GenerationSettings) -> Vec<u8> {
        let mut system = Vec::new();
        let mut contents: Vec<Value> = Vec::new();
        let push_user = |contents: &mut Vec<Value>, part: Value| match contents.last_mut() {
            Some(last) if last["role"] == "user" => {
                last["parts"].as_array_mut().expect("parts").push(part)
            }
            _ => contents.push(json!({"role": "user", "parts": [part]})),
        };
        for (i, m) in request.messages.iter().enumerate() {
            match m.role {
                Role::System => system.push(m.content.clone()),
                Role::User => push_user(&mut contents, json!({"text": m.content})),
                Role::Tool => {
                    let id = m.tool_call_id.clone().unwrap_or_default();
                    let name = tool_name_for(&request.messages[..i], &id).unwrap_or_default();
                    let key = if m.is_error { "error" } else { "content" };
                    push_user(
                        &mut contents,
                        json!({"functionResponse": {"name": name, "response": {key: m.content}}}),
                    );
                }
                Role::Assistant => {
                    let replay = request
                        .provider_state
                        .get(i)
                        .and_then(|s| s.as_ref())
                        .and_then(|s| s.get("content"))
                        .cloned();
                    contents.push(replay.unwrap_or_else(|| {
                        let mut parts = Vec::new();
                        if !m.content.is_empty() {
                            parts.push(json!({"text": m.content}));
                        }
                        for c in &m.tool_calls {
                            let args: Value =
                                serde_json::from_str(&c.arguments).unwrap_or_else(|_| json!({}));
                            parts.push(json!({"functionCall": {"name": c.name, "args": args}}));
                        }
                        json!({"role": "model", "parts": parts})
                    }));
                }
            }
        }
        let mut body = json!({"contents": contents});
        if !system.is_empty() {
            body["systemInstruction"] = json!({"parts": [{"text": system.join("\n\n")}]});
        }
        if !request.tools.is_empty() {
            let declarations: Vec<Value> = request.tools.iter().enumerate().map(|(i, t)| json!({"name": t.name, "description": t.description, "parametersJsonSchema": super::schema_of(request, i)}))
                .collect();
            body["tools"] = json!([{"functionDeclarations": declarations}]);
        }
        let mut config = json!({"thinkingConfig": {"includeThoughts": true}});
        if let Some(b) = settings.thinking_budget {
            config["thinkingConfig"]["thinkingBudget"] = json!(b);
        }
        if let Some(t) = settings.temperature {
            config["temperature"] = json!(t);
        }
        if let Some(p) = settings.top_p {
            config["topP"] = json!(p);
        }
        if let Some(n) = settings.max_tokens {
            config["maxOutputTokens"] = json!(n);
        }
        if let Some(s) = settings.seed {
            config["seed"] = json!(s);
        }
        body["generationConfig"] = config;
        super::to_body(&body, request)
    }

    fn parse(&self, answer: &Value) -> Result<Parsed, String> {
        if let Some(reason) = answer["promptFeedback"]["blockReason"].as_str() {
            return Err(format!("the provider blocked the prompt ({reason})"));
        }
        let candidate = answer
            .get("candidates")
            .and_then(|c| c.get(0))
            .ok_or("the answer has no `candidates`")?;
        let parts = candidate["content"]["parts"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let finish = candidate["finishReason"].as_str().unwrap_or_default();
        if parts.is_empty()
            && matches!(
                finish,
                "SAFETY" | "PROHIBITED_CONTENT" | "BLOCKLIST" | "SPII" | "RECITATION"
            )
        {
            return Err(format!(
                "the provider's safety system stopped the answer (finishReason: {finish})"
            ));
        }
        let mut message = Message::text(0, Role::Assistant, "");
        let mut thoughts = Vec::new();
        for (i, part) in parts.iter().enumerate() {
            if let Some(call) = part.get("functionCall") {
                message.tool_calls.push(ToolCall {
                    id: call["id"]
                        .as_str()
                        .map(str::to_string)
                        .unwrap_or_else(|| format!("call_{i}")),
                    name: call["name"].as_str().unwrap_or_default().to_string(),
                    arguments: call
                        .get("args")
                        .cloned()
                        .unwrap_or_else(|| json!({}))
                        .to_string(),
                });
            } else if let Some(text) = part["text"].as_str() {
                if part["thought"] == true {
                    thoughts.push(text.to_string());
                } else {
                    message.content.push_str(text);
                }
            }
        }
        if !thoughts.is_empty() {
            message.reasoning = Some(thoughts.join("\n\n"));
        }
        let u = &answer["usageMetadata"];
        let get = |k: &str| u.get(k).and_then(Value::as_u64).unwrap_or(0);
        let usage = Usage {
            input_tokens: get("promptTokenCount"),
            // Thinking is billed as output; keep output_tokens the billed total across providers.
            output_tokens: get("candidatesTokenCount") + get("thoughtsTokenCount"),
            reasoning_tokens: get("thoughtsTokenCount"),
            cached_tokens: get("cachedContentTokenCount"),
        };
        let state = Some(json!({"content": candidate["content"]}));
        Ok(Parsed {
            message,
            usage,
            provider_state: state,
        })
    }
}
