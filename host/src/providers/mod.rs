//! Model providers over HTTP, named by Inspect-style model strings.
//!
//! | model string | API | key / base URL variables |
//! |---|---|---|
//! | `openai/<model>` | Responses (`-M api=chat`: Chat Completions) | `OPENAI_API_KEY`, `OPENAI_BASE_URL` |
//! | `anthropic/<model>` | Messages | `ANTHROPIC_API_KEY`, `ANTHROPIC_BASE_URL` |
//! | `google/<model>` | Gemini generateContent | `GEMINI_API_KEY` or `GOOGLE_API_KEY`, `GEMINI_BASE_URL` |
//! | `openai-api/<service>/<model>` | Chat Completions | `<SERVICE>_API_KEY`, `<SERVICE>_BASE_URL` (required) |
//! | `together/`, `openrouter/`, `deepseek/`, `vllm/`, `ollama/` | Chat Completions | as above, with default base URLs |

pub mod anthropic;
pub mod cache;
pub mod google;
pub mod http;
pub mod limit;
pub mod openai;
pub mod pace;
pub mod prices;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use peerpressure_types::memo::Memo;
pub use peerpressure_types::settings::{
    DEFAULT_MAX_TOKENS, GenerationSettings, REASONING_HEADROOM, SETTING_KEYS,
};
use serde_json::Value;

use crate::model::{GenerateRequest, Judge, ModelApi, ModelError, ModelOutput, Usage};
use crate::plugin::{JudgeRequest, Message, Role};
use cache::ResponseCache;
use http::{Delivery, Endpoint, RetryPolicy};
use limit::AdaptiveLimit;
use pace::RatePacer;
use prices::{Price, PriceTable};

/// Streamed pieces allowed beyond `max_tokens` before a generation counts as a runaway the
/// server does not stop (servers may send a few pieces that are not tokens).
pub const RUNAWAY_SLACK: u64 = 64;

/// What a wire format makes of a successful answer.
pub struct Parsed {
    pub message: Message,
    pub usage: Usage,
    pub provider_state: Option<Value>,
}

/// One vendor's request and answer format.
pub trait Wire: Send + Sync {
    fn url(&self) -> String;
    fn headers(&self) -> Vec<(&'static str, String)>;
    /// The request body, serialized JSON.
    fn body(&self, request: &GenerateRequest<'_>, settings: &GenerationSettings) -> Vec<u8>;
    /// `Err` is an answer that cannot be used (content filter, unexpected shape).
    fn parse(&self, answer: &Value) -> Result<Parsed, String>;
    /// How this format's streamed answers fold into a whole one; `None` where PeerPressure
    /// does not stream the format.
    fn stream_fold(&self) -> Option<fn() -> Box<dyn http::StreamFold>> {
        None
    }
}

/// A wire's `tools` array, serialized once per distinct tool list: a run's trials offer the
/// same tools on every call, and their schemas are most of a request's JSON. The bytes are
/// those of serializing the array in place, so response-cache keys do not change.
pub struct ToolsJson {
    pub(crate) built: Memo<Vec<crate::plugin::ToolDefinition>, Arc<serde_json::value::RawValue>>,
}

impl Default for ToolsJson {
    fn default() -> Self {
        // One tool list per scenario of a run, usually.
        ToolsJson {
            built: Memo::new(16),
        }
    }
}

impl ToolsJson {
    /// The serialized array for `tools`, built by `build` the first time they are seen.
    pub fn get(
        &self,
        tools: &[crate::plugin::ToolDefinition],
        build: impl FnOnce() -> String,
    ) -> Arc<serde_json::value::RawValue> {
        self.built.get_or_build(
            |kept| kept.as_slice() == tools,
            || tools.to_vec(),
            || {
                serde_json::value::RawValue::from_string(build())
                    .expect("a serialized tools array is JSON")
                    .into()
            },
        )
    }
}

/// A request body serialized into a buffer sized for it up front: the body is rebuilt on
/// every call with the whole conversation so far, and growing the buffer by doubling copied
/// it several times over.
pub fn to_body(body: &impl serde::Serialize, request: &GenerateRequest<'_>) -> Vec<u8> {
    let text: usize = request
        .messages
        .iter()
        .map(|m| {
            m.content.len()
                + m.reasoning.as_ref().map_or(0, String::len)
                + m.tool_calls
                    .iter()
                    .map(|c| c.id.len() + c.name.len() + c.arguments.len() + 64)
                    .sum::<usize>()
                + 64
        })
        .sum();
    let tools: usize = request
        .tools
        .iter()
        .map(|t| t.name.len() + t.description.len() + t.parameters.len() + 64)
        .sum();
    // JSON escapes (newlines, quotes) make the body a little longer than its text.
    let mut out = Vec::with_capacity((text + tools) * 9 / 8 + 512);
    serde_json::to_writer(&mut out, body).expect("request bodies serialise");
    out
}

/// The parameters schema of the request's tool `i`: parsed once per trial by the toolbox,
/// parsed here only when the caller did not pass them.
pub fn schema_of(request: &GenerateRequest<'_>, i: usize) -> Value {
    request.tool_schemas.get(i).cloned().unwrap_or_else(|| {
        serde_json::from_str(&request.tools[i].parameters)
            .unwrap_or_else(|_| serde_json::json!({"type": "object"}))
    })
}

/// The name of the tool a call id refers to, from the assistant messages before it.
pub fn tool_name_for(messages: &[Message], call_id: &str) -> Option<String> {
    messages
        .iter()
        .rev()
        .filter(|m| m.role == Role::Assistant)
        .flat_map(|m| m.tool_calls.iter())
        .find(|c| c.id == call_id)
        .map(|c| c.name.clone())
}

/// A model behind an HTTP API.
pub struct HttpModel {
    name: String,
    wire: Box<dyn Wire>,
    /// The wire's URL as written (the response cache's key) and parsed once.
    url: String,
    target: reqwest::Url,
    endpoint: Endpoint,
    settings: GenerationSettings,
    price: Option<Price>,
    cache: Option<ResponseCache>,
}

#[async_trait]
impl ModelApi for HttpModel {
    fn name(&self) -> &str {
        &self.name
    }

    async fn generate(&self, request: GenerateRequest<'_>) -> Result<ModelOutput, ModelError> {
        let url = &self.url;
        let body = self.wire.body(&request, &self.settings);
        let key = self.cache.as_ref().map(|c| match request.volatile {
            false => c.key(url, &body, request.trial_id),
            true => c.key(url, &cache::normalised(&body), request.trial_id),
        });
        let cached = match (&self.cache, &key) {
            (Some(cache), Some(key)) => cache.get(key),
            _ => None,
        };
        let (answer, attempts, from_cache) = match cached {
            Some(answer) => (answer, 0, true),
            None => {
                let fold = self
                    .wire
                    .stream_fold()
                    .filter(|_| self.settings.stream == Some(true));
                let delivery = match &fold {
                    Some(fold) => Delivery::Streamed {
                        fold,
                        max_pieces: self
                            .settings
                            .max_tokens
                            .map(|n| u64::from(n) + RUNAWAY_SLACK),
                    },
                    None => Delivery::Whole,
                };
                let (answer, stats) = self
                    .endpoint
                    .post(&self.target, &self.wire.headers(), body, delivery)
                    .await?;
                (answer, stats.attempts, false)
            }
        };
        let parsed = self
            .wire
            .parse(&answer)
            .map_err(|message| ModelError::Refused {
                model: self.name.clone(),
                message,
            })?;
        if let (Some(cache), Some(key), false) = (&self.cache, &key, from_cache) {
            cache.put(key, &answer);
        }
        let cost = if from_cache {
            Some(0.0)
        } else {
            self.price.map(|p| p.cost(&parsed.usage))
        };
        Ok(ModelOutput {
            message: parsed.message,
            usage: parsed.usage,
            cost,
            provider_state: parsed.provider_state,
            cached: from_cache,
            attempts,
        })
    }
}

/// Everything the providers share in one run.
pub struct ProviderConfig {
    /// `-M` settings: apply to every API model, over its per-model settings.
    pub settings: GenerationSettings,
    /// Per-model settings (from a plugin set), by model string.
    pub per_model: std::collections::BTreeMap<String, GenerationSettings>,
    pub policy: RetryPolicy,
    /// Fixed connections per provider instead of the adaptive limit.
    pub max_connections: Option<usize>,
    /// Fixed requests per minute per provider instead of the learned pace.
    pub max_rpm: Option<f64>,
    pub prices: PriceTable,
    pub cache: Option<std::path::PathBuf>,
}

impl Default for ProviderConfig {
    fn default() -> Self {
        ProviderConfig {
            settings: GenerationSettings::default(),
            per_model: Default::default(),
            policy: RetryPolicy::default(),
            max_connections: None,
            max_rpm: None,
            prices: PriceTable::builtin(),
            cache: None,
        }
    }
}

/// Where keys and base URLs come from: the process environment, or a map in tests.
pub type EnvLookup = Box<dyn Fn(&str) -> Option<String> + Send + Sync>;

/// What one provider endpoint's calls share: how many may be in flight, and their pace.
type EndpointLimits = (Arc<AdaptiveLimit>, Arc<RatePacer>);

pub struct Providers {
    config: ProviderConfig,
    env: EnvLookup,
    client: reqwest::Client,
    /// One concurrency limit and one pace per provider endpoint, shared by its models.
    limits: Mutex<HashMap<String, EndpointLimits>>,
}

impl Providers {
    /// Providers configured from the process environment.
    pub fn new(config: ProviderConfig) -> Result<Self, String> {
        Self::with_env(config, Box::new(|name| std::env::var(name).ok()))
    }

    pub fn with_env(config: ProviderConfig, env: EnvLookup) -> Result<Self, String> {
        let client = reqwest::Client::builder()
            .user_agent(concat!("peerpressure/", env!("CARGO_PKG_VERSION")))
            // Small request writes must not wait for delayed ACKs (Nagle).
            .tcp_nodelay(true)
            // A model API answers where it is asked; a redirect is named as an error (see
            // `whole_answer`) instead of followed (following one parses every request's URL).
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| format!("failed to create the HTTP client: {e}"))?;
        Ok(Providers {
            config,
            env,
            client,
            limits: Mutex::new(HashMap::new()),
        })
    }

    fn env(&self, name: &str) -> Option<String> {
        (self.env)(name)
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    }

    fn require_key(&self, model: &str, names: &[&str]) -> Result<String, String> {
        names.iter().find_map(|n| self.env(n)).ok_or_else(|| {
            format!(
                "model `{model}` needs an API key: set {}",
                names.join(" or ")
            )
        })
    }

    pub fn config(&self) -> &ProviderConfig {
        &self.config
    }

    fn limits_for(&self, key: &str) -> EndpointLimits {
        let mut limits = self.limits.lock().expect("limits");
        limits
            .entry(key.to_string())
            .or_insert_with(|| {
                let concurrency = match self.config.max_connections {
                    Some(n) => AdaptiveLimit::fixed(n),
                    None => AdaptiveLimit::adaptive(),
                };
                let pace = match self.config.max_rpm {
                    Some(n) => RatePacer::fixed(n),
                    None => RatePacer::adaptive(),
                };
                (concurrency, Arc::new(pace))
            })
            .clone()
    }

    /// The price of a model string, if the table has it.
    pub fn price(&self, model: &str) -> Option<Price> {
        self.config.prices.get(model)
    }

    /// The settings a model runs with: its per-model settings, then `-M` over them.
    pub fn settings_for(&self, model: &str) -> GenerationSettings {
        GenerationSettings::for_model(&self.config.settings, &self.config.per_model, model)
    }

    /// Builds a client for `provider/model` with its settings.
    /// Fails (before any call) on unknown providers and missing keys or base URLs.
    pub fn resolve(&self, model: &str) -> Result<Arc<dyn ModelApi>, String> {
        self.resolve_with(model, self.settings_for(model))
    }

    /// The judge: the same provider rules, temperature 0, none of the agent's settings.
    pub fn resolve_judge(&self, model: &str) -> Result<Arc<ModelJudge>, String> {
        let settings = GenerationSettings {
            temperature: Some(0.0),
            ..GenerationSettings::default()
        }
        .with_defaults(model);
        Ok(Arc::new(ModelJudge::new(
            self.resolve_with(model, settings)?,
        )))
    }

    fn resolve_with(
        &self,
        model: &str,
        settings: GenerationSettings,
    ) -> Result<Arc<dyn ModelApi>, String> {
        let (provider, rest) = model
            .split_once('/')
            .ok_or_else(|| format!("model `{model}` is not of the form provider/model"))?;
        let env = |name: &str| self.env(name);
        let require_key = |model: &str, names: &[&str]| self.require_key(model, names);
        let chat = |base: String,
                    name: &str,
                    key: Option<String>,
                    field: &'static str,
                    headers: Vec<(&'static str, String)>|
         -> Box<dyn Wire> {
            Box::new(openai::ChatCompletions {
                base_url: base,
                model: name.to_string(),
                api_key: key,
                max_tokens_field: field,
                extra_headers: headers,
                tools_json: Default::default(),
            })
        };
        let (wire, limit_key, key): (Box<dyn Wire>, String, Option<String>) = match provider {
            "openai" => {
                let key = require_key(model, &["OPENAI_API_KEY"])?;
                let base =
                    env("OPENAI_BASE_URL").unwrap_or_else(|| "https://api.openai.com/v1".into());
                let wire: Box<dyn Wire> = if settings.api.as_deref() == Some("chat") {
                    chat(
                        base.clone(),
                        rest,
                        Some(key.clone()),
                        "max_completion_tokens",
                        vec![],
                    )
                } else {
                    Box::new(openai::Responses {
                        base_url: base.clone(),
                        model: rest.to_string(),
                        api_key: key.clone(),
                    })
                };
                (wire, base, Some(key))
            }
            "anthropic" => {
                let key = require_key(model, &["ANTHROPIC_API_KEY"])?;
                let base =
                    env("ANTHROPIC_BASE_URL").unwrap_or_else(|| "https://api.anthropic.com".into());
                (
                    Box::new(anthropic::Messages {
                        base_url: base.clone(),
                        model: rest.to_string(),
                        api_key: key.clone(),
                    }),
                    base,
                    Some(key),
                )
            }
            "google" => {
                let key = require_key(model, &["GEMINI_API_KEY", "GOOGLE_API_KEY"])?;
                let base = env("GEMINI_BASE_URL")
                    .or_else(|| env("GOOGLE_BASE_URL"))
                    .unwrap_or_else(|| "https://generativelanguage.googleapis.com".into());
                (
                    Box::new(google::GenerateContent {
                        base_url: base.clone(),
                        model: rest.to_string(),
                        api_key: key.clone(),
                    }),
                    base,
                    Some(key),
                )
            }
            "openai-api" => {
                let (service, name) = rest.split_once('/').ok_or_else(|| {
                    format!("model `{model}` must be openai-api/<service>/<model>")
                })?;
                let var = service.to_ascii_uppercase().replace(['-', '.'], "_");
                let base = env(&format!("{var}_BASE_URL")).ok_or_else(|| format!("model `{model}` needs {var}_BASE_URL (the service's OpenAI-compatible endpoint)"))?;
                let key = env(&format!("{var}_API_KEY"));
                (
                    chat(base.clone(), name, key.clone(), "max_tokens", vec![]),
                    base,
                    key,
                )
            }
            "together" | "openrouter" | "deepseek" | "vllm" | "ollama" => {
                let (var, default_base, needs_key) = match provider {
                    "together" => ("TOGETHER", "https://api.together.xyz/v1", true),
                    "openrouter" => ("OPENROUTER", "https://openrouter.ai/api/v1", true),
                    "deepseek" => ("DEEPSEEK", "https://api.deepseek.com/v1", true),
                    "vllm" => ("VLLM", "http://localhost:8000/v1", false),
                    _ => ("OLLAMA", "http://localhost:11434/v1", false),
                };
                let base =
                    env(&format!("{var}_BASE_URL")).unwrap_or_else(|| default_base.to_string());
                let key = if needs_key {
                    Some(require_key(model, &[&format!("{var}_API_KEY")])?)
                } else {
                    env(&format!("{var}_API_KEY"))
                };
                (
                    chat(base.clone(), rest, key.clone(), "max_tokens", vec![]),
                    base,
                    key,
                )
            }
            "scripted" => {
                return Err(format!(
                    "model `{model}` is a scripted reference agent, run by its scenario, not a provider"
                ));
            }
            other => {
                return Err(format!(
                    "model `{model}`: unknown provider `{other}` (known: openai, anthropic, google, openai-api, together, openrouter, deepseek, vllm, ollama, scripted)"
                ));
            }
        };
        if settings.stream == Some(true) && wire.stream_fold().is_none() {
            return Err(format!(
                "model `{model}`: -M stream=true works with Chat Completions APIs only (openai-api/..., vllm/, ollama/, together/..., or openai/ with -M api=chat)"
            ));
        }
        let url = wire.url();
        let target = reqwest::Url::parse(&url)
            .map_err(|e| e.to_string())
            .and_then(|u| match u.scheme() {
                "http" | "https" => Ok(u),
                _ => Err("not http or https".to_string()),
            })
            .map_err(|why| format!("model `{model}`: its endpoint `{url}` is not a URL ({why}): check the provider's base URL setting"))?;
        let (limit, pacer) = self.limits_for(&format!("{provider} {limit_key}"));
        let endpoint = Endpoint {
            client: self.client.clone(),
            limit,
            pacer,
            policy: self.config.policy.clone(),
            secrets: key.into_iter().collect(),
            label: model.to_string(),
        };
        Ok(Arc::new(HttpModel {
            name: model.to_string(),
            wire,
            url,
            target,
            endpoint,
            settings,
            price: self.config.prices.get(model),
            cache: self
                .config
                .cache
                .as_ref()
                .map(|dir| ResponseCache::new(dir.clone())),
        }))
    }
}

/// The run's judge: a model answering detectors' prompts at temperature 0.
pub struct ModelJudge {
    model: Arc<dyn ModelApi>,
    spent: Mutex<(Usage, f64)>,
}

impl ModelJudge {
    pub fn new(model: Arc<dyn ModelApi>) -> Self {
        ModelJudge {
            model,
            spent: Mutex::new((Usage::default(), 0.0)),
        }
    }

    pub fn name(&self) -> &str {
        self.model.name()
    }

    /// Tokens and dollars the judge has used so far.
    pub fn spent(&self) -> (Usage, f64) {
        *self.spent.lock().expect("judge usage")
    }
}

#[async_trait]
impl Judge for ModelJudge {
    async fn complete(&self, request: &JudgeRequest) -> Result<String, String> {
        let mut messages = Vec::new();
        if !request.system.is_empty() {
            messages.push(Message::text(0, Role::System, request.system.clone()));
        }
        messages.push(Message::text(
            messages.len() as u32,
            Role::User,
            request.prompt.clone(),
        ));
        let state = vec![None; messages.len()];
        let output = self
            .model
            .generate(GenerateRequest {
                messages: &messages,
                provider_state: &state,
                tools: &[],
                tool_schemas: &[],
                trial_id: "judge",
                volatile: false,
            })
            .await
            .map_err(|e| e.to_string())?;
        let mut spent = self.spent.lock().expect("judge usage");
        spent.0.add(&output.usage);
        spent.1 += output.cost.unwrap_or(0.0);
        Ok(output.message.content)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_model_settings() {
        let mut s = GenerationSettings::default();
        s.apply(&[
            "temperature=1".into(),
            "max_tokens=2048".into(),
            "reasoning_effort=low".into(),
            "api=chat".into(),
        ])
        .unwrap();
        assert_eq!(
            (
                s.temperature,
                s.max_tokens,
                s.reasoning_effort.as_deref(),
                s.api.as_deref()
            ),
            (Some(1.0), Some(2048), Some("low"), Some("chat"))
        );
        assert!(
            s.apply(&["temprature=1".into()])
                .unwrap_err()
                .contains("unknown model setting `temprature`")
        );
        assert!(
            s.apply(&["max_tokens=lots".into()])
                .unwrap_err()
                .contains("is not a whole number")
        );
        assert!(s.apply(&["reasoning_effort=extreme".into()]).is_err());
        assert!(
            s.apply(&["stream=yes".into()])
                .unwrap_err()
                .contains("`true` or `false`")
        );
    }

    #[test]
    fn every_api_model_gets_a_token_cap_and_local_servers_stream() {
        let plain = GenerationSettings::default();
        let local = plain.clone().with_defaults("openai-api/local/qwen");
        assert_eq!(
            (local.max_tokens, local.stream),
            (Some(DEFAULT_MAX_TOKENS), Some(true))
        );
        assert_eq!(plain.clone().with_defaults("vllm/m").stream, Some(true));
        let hosted = plain.clone().with_defaults("anthropic/claude");
        assert_eq!(
            (hosted.max_tokens, hosted.stream),
            (Some(DEFAULT_MAX_TOKENS), None)
        );
        // Where the cap counts reasoning, room is left for it.
        assert_eq!(
            plain.clone().with_defaults("openai/gpt-5").max_tokens,
            Some(DEFAULT_MAX_TOKENS + REASONING_HEADROOM)
        );
        let budget = GenerationSettings {
            thinking_budget: Some(2000),
            ..plain.clone()
        };
        assert_eq!(
            budget.with_defaults("anthropic/claude").max_tokens,
            Some(DEFAULT_MAX_TOKENS + 2000)
        );
        // What the user set stays.
        let set = GenerationSettings {
            max_tokens: Some(300),
            stream: Some(false),
            ..plain
        };
        assert_eq!(set.clone().with_defaults("ollama/llama3"), set);
    }
}
