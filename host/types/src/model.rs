//! Models: the agent under test and the judge detectors call.
//!
//! A model string is `provider/model`, as in Inspect. `scripted/<agent>` names a reference agent
//! shipped by the scenario itself; `scripted/<agent>?p=0.3` plays `<agent>` in 30% of trials
//! (drawn from the trial's seed) and the scenario's faithful agent otherwise.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::plugin::{JudgeRequest, Message, ToolDefinition};

/// Token counts of one call or summed over a trial.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub reasoning_tokens: u64,
    pub cached_tokens: u64,
}

impl Usage {
    pub fn add(&mut self, other: &Usage) {
        self.input_tokens += other.input_tokens;
        self.output_tokens += other.output_tokens;
        self.reasoning_tokens += other.reasoning_tokens;
        self.cached_tokens += other.cached_tokens;
    }
}

/// One model call: the conversation so far and the tools on offer.
pub struct GenerateRequest<'a> {
    pub messages: &'a [Message],
    /// Per message, what the provider returned beyond the interface's fields (signed thinking
    /// blocks, thought signatures) so it can be replayed verbatim; `None` for most messages.
    pub provider_state: &'a [Option<serde_json::Value>],
    pub tools: &'a [ToolDefinition],
    /// The tools' parameter schemas, parsed (same order as `tools`; may be empty, then the
    /// providers parse `tools[i].parameters` themselves).
    pub tool_schemas: &'a [serde_json::Value],
    /// The trial's id: part of the response-cache key.
    pub trial_id: &'a str,
    /// The request carries ids, dates and timings that change from run to run (an agent
    /// CLI's): the response cache keys on it with those normalised.
    pub volatile: bool,
}

/// The assistant's turn (text, reasoning, tool calls) and what it cost.
#[derive(Debug, Clone)]
pub struct ModelOutput {
    pub message: Message,
    pub usage: Usage,
    /// Cost in US dollars, when the model's price is known (0 for a cache hit).
    pub cost: Option<f64>,
    /// Provider data to replay with this message on later turns.
    pub provider_state: Option<serde_json::Value>,
    /// Answered from the response cache.
    pub cached: bool,
    /// HTTP attempts this call took (1 without retries).
    pub attempts: u32,
}

#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// The provider answered with an error that retrying will not fix.
    #[error("{model}: the provider refused the request: {message}")]
    Refused { model: String, message: String },
    /// Retries were exhausted or the call timed out.
    #[error("{model}: {message}")]
    Failed { model: String, message: String },
}

/// A model reached over an API. The HTTP providers implement this.
#[async_trait]
pub trait ModelApi: Send + Sync {
    /// `provider/model`.
    fn name(&self) -> &str;
    async fn generate(&self, request: GenerateRequest<'_>) -> Result<ModelOutput, ModelError>;
}

/// The judge detectors reach through the `judge` import.
#[async_trait]
pub trait Judge: Send + Sync {
    async fn complete(&self, request: &JudgeRequest) -> Result<String, String>;
}

/// What a `--model` string names.
#[derive(Debug, Clone, PartialEq)]
pub enum ModelSpec {
    /// A reference agent of the scenario; with `p`, mixed with the faithful agent.
    Scripted { agent: String, p: Option<f64> },
    /// A model behind a provider's API.
    Provider { provider: String, model: String },
}

/// Parses `provider/model`, `scripted/<agent>` and `scripted/<agent>?p=<probability>`.
pub fn parse_model(text: &str) -> Result<ModelSpec, String> {
    let (provider, rest) = text
        .split_once('/')
        .filter(|(p, r)| !p.is_empty() && !r.is_empty())
        .ok_or_else(|| {
            format!("model `{text}` is not of the form provider/model (e.g. scripted/faithful)")
        })?;
    if provider != "scripted" {
        return Ok(ModelSpec::Provider {
            provider: provider.to_string(),
            model: rest.to_string(),
        });
    }
    let (agent, query) = match rest.split_once('?') {
        Some((a, q)) => (a, Some(q)),
        None => (rest, None),
    };
    if agent.is_empty()
        || !agent
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(format!(
            "model `{text}`: `{agent}` is not a reference agent name"
        ));
    }
    let p = match query {
        None => None,
        Some(q) => {
            let value = q
                .strip_prefix("p=")
                .ok_or_else(|| format!("model `{text}`: the only option is p=<probability>"))?;
            let p: f64 = value
                .parse()
                .map_err(|_| format!("model `{text}`: p must be a number between 0 and 1"))?;
            if !(0.0..=1.0).contains(&p) {
                return Err(format!("model `{text}`: p must be between 0 and 1"));
            }
            Some(p)
        }
    };
    Ok(ModelSpec::Scripted {
        agent: agent.to_string(),
        p,
    })
}

/// The family name scenarios use for in-world agent names ("<Family> Agent 1").
pub fn model_family(model: &str) -> String {
    let lower = model.to_ascii_lowercase();
    let families = [
        ("scripted/", "Reference"),
        ("gemini", "Gemini"),
        ("gemma", "Gemma"),
        ("claude", "Claude"),
        ("gpt", "ChatGPT"),
        ("openai/o", "ChatGPT"),
        ("deepseek", "DeepSeek"),
        ("kimi", "Kimi"),
        ("moonshot", "Kimi"),
        ("glm", "GLM"),
        ("qwen", "Qwen"),
        ("llama", "Llama"),
        ("mistral", "Mistral"),
        ("grok", "Grok"),
    ];
    families
        .iter()
        .find(|(needle, _)| lower.contains(needle))
        .map(|(_, family)| family.to_string())
        .unwrap_or_else(|| {
            // Unknown: the model name's first word, capitalised ("acme/zephyr-7b" -> "Zephyr").
            let name = model.rsplit('/').next().unwrap_or(model);
            let word: String = name
                .chars()
                .take_while(|c| c.is_ascii_alphabetic())
                .collect();
            let mut chars = word.chars();
            match chars.next() {
                Some(first) => first.to_ascii_uppercase().to_string() + chars.as_str(),
                None => "Assistant".to_string(),
            }
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_model_strings() {
        assert_eq!(
            parse_model("scripted/faithful").unwrap(),
            ModelSpec::Scripted {
                agent: "faithful".into(),
                p: None
            }
        );
        assert_eq!(
            parse_model("scripted/tamperer?p=0.3").unwrap(),
            ModelSpec::Scripted {
                agent: "tamperer".into(),
                p: Some(0.3)
            }
        );
        assert_eq!(
            parse_model("openai-api/together/meta/llama").unwrap(),
            ModelSpec::Provider {
                provider: "openai-api".into(),
                model: "together/meta/llama".into()
            }
        );
        for bad in [
            "gpt-4",
            "/x",
            "scripted/",
            "scripted/a?p=2",
            "scripted/a?q=1",
            "scripted/a b",
        ] {
            assert!(parse_model(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn derives_families_for_agent_names() {
        assert_eq!(model_family("google/gemini-3-flash"), "Gemini");
        assert_eq!(model_family("openai/gpt-5.2"), "ChatGPT");
        assert_eq!(model_family("anthropic/claude-haiku-4-5"), "Claude");
        assert_eq!(model_family("together/zai-org/GLM-4.7"), "GLM");
        assert_eq!(model_family("scripted/faithful"), "Reference");
        assert_eq!(model_family("acme/zephyr-7b"), "Zephyr");
    }
}
