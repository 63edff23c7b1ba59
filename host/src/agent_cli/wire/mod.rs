//! The CLIs' model requests, read into the host's transcript form, and the host's replies
//! written back as the event streams the CLIs require (none of them accepts a plain JSON
//! answer: OpenCode re-requests in a loop, Gemini CLI fails).

use serde_json::Value;

use super::clis::Wire;
use crate::model::Usage;
use crate::plugin::{Message, ToolDefinition};

mod anthropic;
mod chat;
mod gemini;
mod responses;

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

    /// Adds a tool the CLI offers; a missing schema is an object with any properties.
    pub(crate) fn offer(&mut self, name: &str, description: &Value, schema: Option<&Value>) {
        let schema = schema
            .cloned()
            .unwrap_or(serde_json::json!({"type": "object"}));
        self.tools.push(ToolDefinition {
            name: name.to_string(),
            description: description.as_str().unwrap_or_default().to_string(),
            parameters: schema.to_string(),
        });
        self.schemas.push(schema);
    }
}

/// Text of a content field: a string, or parts of which the text ones count.
pub(crate) fn parts_text(content: &Value) -> String {
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

pub fn parse(wire: Wire, body: &[u8]) -> Result<CliRequest, String> {
    let value: Value =
        serde_json::from_slice(body).map_err(|e| format!("the request is not JSON: {e}"))?;
    let mut request = match wire {
        Wire::Chat => chat::parse(&value)?,
        Wire::Gemini => gemini::parse(&value)?,
        Wire::Anthropic => anthropic::parse(&value)?,
        Wire::Responses => responses::parse(&value)?,
    };
    for (i, m) in request.messages.iter_mut().enumerate() {
        m.index = i as u32;
    }
    Ok(request)
}

/// A JSON value as text: strings as they are, anything else as JSON.
pub(crate) fn value_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

pub(crate) fn sse(data: &Value) -> String {
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
        Wire::Chat => chat::render(model, reply, usage, request.include_usage),
        Wire::Gemini => gemini::render(model, reply, usage),
        Wire::Anthropic => anthropic::render(model, reply, usage),
        Wire::Responses => responses::render(model, reply, usage),
    }
}
