//! The HTTP side shared by every provider: per-attempt and per-call timeouts, retries with
//! exponential backoff and jitter for 429, 5xx, timeouts, dropped connections and truncated
//! bodies, `Retry-After` honoured, the adaptive concurrency limit, and secret redaction.

use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::{RngExt, SeedableRng};
use serde_json::Value;

use super::limit::AdaptiveLimit;
use crate::model::ModelError;

#[derive(Debug, Clone)]
pub struct RetryPolicy {
    pub attempt_timeout: Duration,
    pub call_timeout: Duration,
    pub max_retries: u32,
    pub backoff_base: Duration,
    pub backoff_max: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempt_timeout: Duration::from_secs(180),
            call_timeout: Duration::from_secs(900),
            max_retries: 8,
            backoff_base: Duration::from_secs(1),
            backoff_max: Duration::from_secs(120),
        }
    }
}

/// What one call cost in attempts, for the record.
#[derive(Debug, Clone, Default)]
pub struct CallStats {
    pub attempts: u32,
    pub retry_reasons: Vec<String>,
}

pub struct Endpoint {
    pub client: reqwest::Client,
    pub limit: Arc<AdaptiveLimit>,
    pub policy: RetryPolicy,
    /// Values that must never appear in an error message (API keys).
    pub secrets: Vec<String>,
    /// `provider/model`, for messages.
    pub label: String,
}

/// Replaces secrets, and anything shaped like a common API key, with `[redacted]`.
pub fn redact(text: &str, secrets: &[String]) -> String {
    let mut out = text.to_string();
    for s in secrets.iter().filter(|s| s.len() >= 4) {
        out = out.replace(s.as_str(), "[redacted]");
    }
    // Key shapes: OpenAI/Anthropic/most gateways `sk-...`, Google `AIza...`, bearer tokens.
    let mut result = String::with_capacity(out.len());
    let mut rest = out.as_str();
    'scan: while !rest.is_empty() {
        for prefix in ["sk-", "AIza", "Bearer "] {
            if let Some(tail) = rest.strip_prefix(prefix) {
                let len = tail.find(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')).unwrap_or(tail.len());
                if len >= 8 {
                    result.push_str("[redacted]");
                    rest = &tail[len..];
                    continue 'scan;
                }
            }
        }
        let c = rest.chars().next().expect("non-empty");
        result.push(c);
        rest = &rest[c.len_utf8()..];
    }
    result
}

/// `Retry-After` (seconds) or `retry-after-ms`, if present.
fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    if let Some(ms) = headers.get("retry-after-ms").and_then(|v| v.to_str().ok()).and_then(|v| v.trim().parse::<f64>().ok()) {
        return Some(Duration::from_secs_f64(ms.max(0.0) / 1000.0));
    }
    headers.get("retry-after").and_then(|v| v.to_str().ok()).and_then(|v| v.trim().parse::<f64>().ok()).map(|s| Duration::from_secs_f64(s.max(0.0)))
}

/// The provider's own error message from an error body, whatever the vendor's shape.
pub fn error_message(body: &str) -> String {
    let parsed: Option<Value> = serde_json::from_str(body).ok();
    let from_json = parsed.as_ref().and_then(|v| {
        let e = v.get("error").unwrap_or(v);
        e.get("message").and_then(Value::as_str).map(str::to_string).or_else(|| e.as_str().map(str::to_string))
    });
    from_json.unwrap_or_else(|| body.chars().take(300).collect::<String>().trim().to_string())
}

enum Attempt {
    Done(Value),
    Retry { reason: String, wait: Option<Duration> },
    Fatal(String),
}

impl Endpoint {
    fn backoff(&self, attempt: u32, rng: &mut rand::rngs::StdRng) -> Duration {
        let exp = self.policy.backoff_base.as_secs_f64() * 2f64.powi(attempt as i32);
        let capped = exp.min(self.policy.backoff_max.as_secs_f64());
        // Full jitter: spread retries of many trials so they do not arrive together.
        Duration::from_secs_f64(capped * (0.5 + 0.5 * rng.random::<f64>()))
    }

    /// POSTs JSON and returns the JSON answer, retrying what can be retried.
    pub async fn post_json(&self, url: &str, headers: &[(&str, String)], encoded: Vec<u8>) -> Result<(Value, CallStats), ModelError> {
        let started = Instant::now();
        let mut stats = CallStats::default();
        let encoded = bytes::Bytes::from(encoded);
        // Jitter only needs to differ between concurrent calls, not to be unpredictable.
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
        let mut rng = rand::rngs::StdRng::seed_from_u64(u64::from(nanos) ^ (encoded.len() as u64).rotate_left(32));
        loop {
            stats.attempts += 1;
            let outcome = {
                let _permit = self.limit.acquire().await;
                self.attempt(url, headers, &encoded).await
            };
            match outcome {
                Attempt::Done(value) => {
                    self.limit.on_success();
                    return Ok((value, stats));
                }
                Attempt::Fatal(message) => {
                    return Err(ModelError::Refused { model: self.label.clone(), message: redact(&message, &self.secrets) });
                }
                Attempt::Retry { reason, wait } => {
                    let reason = redact(&reason, &self.secrets);
                    stats.retry_reasons.push(reason.clone());
                    let delay = wait.unwrap_or_else(|| self.backoff(stats.attempts - 1, &mut rng));
                    let out_of_time = started.elapsed() + delay > self.policy.call_timeout;
                    if stats.attempts > self.policy.max_retries || out_of_time {
                        let why = if out_of_time { "the call's time limit would be exceeded" } else { "no retries left" };
                        return Err(ModelError::Failed {
                            model: self.label.clone(),
                            message: format!("gave up after {} attempt(s) ({why}); last error: {reason}", stats.attempts),
                        });
                    }
                    tokio::time::sleep(delay).await;
                }
            }
        }
    }

    async fn attempt(&self, url: &str, headers: &[(&str, String)], body: &bytes::Bytes) -> Attempt {
        // Bytes clones share the buffer: a retry re-sends without copying the body.
        let mut request = self.client.post(url).header("content-type", "application/json").body(body.clone());
        for (k, v) in headers {
            request = request.header(*k, v);
        }
        let sent = tokio::time::timeout(self.policy.attempt_timeout, async {
            let response = request.send().await?;
            let status = response.status();
            let headers = response.headers().clone();
            let bytes = response.bytes().await?;
            Ok::<_, reqwest::Error>((status, headers, bytes))
        })
        .await;
        let (status, headers, bytes) = match sent {
            Err(_) => return Attempt::Retry { reason: format!("no complete answer within {} s", self.policy.attempt_timeout.as_secs_f64()), wait: None },
            Ok(Err(e)) => return Attempt::Retry { reason: format!("connection failed: {}", error_chain(&e)), wait: None },
            Ok(Ok(parts)) => parts,
        };
        let text = String::from_utf8_lossy(&bytes);
        let code = status.as_u16();
        if status.is_success() {
            return match serde_json::from_slice::<Value>(&bytes) {
                Ok(v) => Attempt::Done(v),
                Err(e) => Attempt::Retry { reason: format!("the answer is not valid JSON ({e}); it may have been cut off"), wait: None },
            };
        }
        let message = format!("HTTP {code}: {}", error_message(&text));
        match code {
            429 => {
                self.limit.on_rate_limit();
                Attempt::Retry { reason: message, wait: retry_after(&headers) }
            }
            408 | 409 | 500..=599 => Attempt::Retry { reason: message, wait: retry_after(&headers) },
            _ => Attempt::Fatal(message),
        }
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_secrets_and_key_shapes() {
        let text = "bad key sk-proj-abcdef123456 and AIzaSyAbcdefgh123 and Bearer abcdefghijk, custom s3cr3t-value";
        let out = redact(text, &["s3cr3t-value".to_string()]);
        assert_eq!(out, "bad key [redacted] and [redacted] and [redacted], custom [redacted]");
        assert_eq!(redact("sk-1 is short", &[]), "sk-1 is short");
    }

    #[test]
    fn extracts_vendor_error_messages() {
        assert_eq!(error_message(r#"{"error":{"message":"Invalid model","type":"invalid_request_error"}}"#), "Invalid model");
        assert_eq!(error_message(r#"{"type":"error","error":{"type":"invalid_request_error","message":"max_tokens: required"}}"#), "max_tokens: required");
        assert_eq!(error_message(r#"{"error":{"code":400,"message":"API key not valid","status":"INVALID_ARGUMENT"}}"#), "API key not valid");
        assert_eq!(error_message("upstream broke"), "upstream broke");
    }
}
