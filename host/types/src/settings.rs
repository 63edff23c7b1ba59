//! Generation settings (`-M key=value`): what is sent to a model, and so part of a run's
//! identity.

use serde::{Deserialize, Serialize};

/// Generation settings, from `-M key=value`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GenerationSettings {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// OpenAI-style effort: `minimal`, `low`, `medium`, `high`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reasoning_effort: Option<String>,
    /// Anthropic extended thinking / Gemini thinking budget, in tokens.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub thinking_budget: Option<u32>,
    /// `openai/` only: `responses` (default) or `chat`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api: Option<String>,
    /// Chat Completions only: ask for a streamed answer (on by default for the local-server
    /// providers, where it is what tells a runaway generation from a stall).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stream: Option<bool>,
}

pub const SETTING_KEYS: &[&str] = &[
    "temperature",
    "top_p",
    "max_tokens",
    "seed",
    "reasoning_effort",
    "thinking_budget",
    "api",
    "stream",
];

/// The answer's token cap when none is set: every API gets one, since a local server without
/// it lets a model that loops generate without end.
pub const DEFAULT_MAX_TOKENS: u32 = 4096;
/// Added to the default cap where it also counts reasoning tokens (OpenAI, Gemini, and any
/// model asked to reason) and no `thinking_budget` says how many.
pub const REASONING_HEADROOM: u32 = 16_384;
/// The providers that speak Chat Completions to a server the user runs: answers are streamed
/// there by default.
const LOCAL_SERVER_PROVIDERS: &[&str] = &["openai-api", "vllm", "ollama"];

impl GenerationSettings {
    /// Applies `key=value` pairs over these settings.
    pub fn apply(&mut self, pairs: &[String]) -> Result<(), String> {
        for pair in pairs {
            let (key, value) = pair
                .split_once('=')
                .ok_or_else(|| format!("model setting `{pair}` is not key=value"))?;
            let (key, value) = (key.trim(), value.trim());
            let bad = |what: &str| format!("model setting `{key}`: `{value}` is not {what}");
            match key {
                "temperature" => {
                    self.temperature = Some(value.parse().map_err(|_| bad("a number"))?)
                }
                "top_p" => self.top_p = Some(value.parse().map_err(|_| bad("a number"))?),
                "max_tokens" => {
                    self.max_tokens = Some(value.parse().map_err(|_| bad("a whole number"))?)
                }
                "seed" => self.seed = Some(value.parse().map_err(|_| bad("a whole number"))?),
                "thinking_budget" => {
                    self.thinking_budget = Some(value.parse().map_err(|_| bad("a whole number"))?)
                }
                "reasoning_effort" => {
                    if !["minimal", "low", "medium", "high", "none"].contains(&value) {
                        return Err(bad("one of minimal, low, medium, high, none"));
                    }
                    self.reasoning_effort = Some(value.to_string());
                }
                "api" => {
                    if !["responses", "chat"].contains(&value) {
                        return Err(bad("`responses` or `chat`"));
                    }
                    self.api = Some(value.to_string());
                }
                "stream" => {
                    self.stream = Some(match value {
                        "true" => true,
                        "false" => false,
                        _ => return Err(bad("`true` or `false`")),
                    })
                }
                _ => {
                    return Err(format!(
                        "unknown model setting `{key}` (known: {})",
                        SETTING_KEYS.join(", ")
                    ));
                }
            }
        }
        Ok(())
    }

    /// What `model` is sent: its per-model settings (from a plugin set), overridden field by
    /// field by the run's `-M` settings, with the provider's defaults filled in.
    pub fn for_model(
        overrides: &GenerationSettings,
        per_model: &std::collections::BTreeMap<String, GenerationSettings>,
        model: &str,
    ) -> GenerationSettings {
        let mut settings = per_model.get(model).cloned().unwrap_or_default();
        macro_rules! take {
            ($($f:ident),*) => { $( if overrides.$f.is_some() { settings.$f = overrides.$f.clone(); } )* };
        }
        take!(
            temperature,
            top_p,
            max_tokens,
            seed,
            reasoning_effort,
            thinking_budget,
            api,
            stream
        );
        if model.starts_with("scripted/") {
            return settings;
        }
        settings.with_defaults(model)
    }

    /// These settings with the defaults of `provider/model` filled in: what is sent, and so
    /// what a run records.
    pub fn with_defaults(mut self, model: &str) -> Self {
        let provider = model.split('/').next().unwrap_or_default();
        if self.max_tokens.is_none() {
            let reasons = matches!(provider, "openai" | "google")
                || self.reasoning_effort.is_some()
                || self.thinking_budget.is_some();
            let reasoning = if reasons {
                self.thinking_budget.unwrap_or(REASONING_HEADROOM)
            } else {
                0
            };
            self.max_tokens = Some(DEFAULT_MAX_TOKENS.saturating_add(reasoning));
        }
        if self.stream.is_none() && LOCAL_SERVER_PROVIDERS.contains(&provider) {
            self.stream = Some(true);
        }
        self
    }
}
