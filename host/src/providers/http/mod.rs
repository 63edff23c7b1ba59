//! The HTTP side shared by every provider: per-attempt and per-call timeouts, retries with
//! exponential backoff and jitter for 429, 5xx, timeouts, dropped connections and truncated
//! bodies, `Retry-After` honoured, the adaptive concurrency limit, the pace learned from rate
//! limits, and secret redaction.
//!
//! Answers come whole (JSON) or streamed (server-sent events, folded back into the whole
//! answer's shape by the wire format). Streaming is what tells a *runaway* generation (tokens
//! still arriving when the attempt's time is up, or more of them than `max_tokens` allows)
//! from a stalled connection: a runaway is never retried, since a retry would start the same
//! generation again. A whole answer cannot tell the two apart, so a call gives up after
//! [`MAX_TIMED_OUT_ATTEMPTS`] attempts that timed out.

use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::{RngExt, SeedableRng};
use serde_json::Value;

use super::limit::AdaptiveLimit;
use super::pace::{Advertised, RatePacer};
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

/// Attempts of one call that may end in a timeout before the call fails: a stall at a vendor is
/// worth one retry, but a second timeout most often means the request itself never finishes
/// (a local server generating without end), and each retry would wait the whole timeout again.
pub const MAX_TIMED_OUT_ATTEMPTS: u32 = 2;

/// Folds a streamed answer, one server-sent event at a time, into the shape of the same
/// API's whole answer, so parsing and the response cache see one format.
pub trait StreamFold: Send {
    /// Takes one event's `data` payload.
    fn push(&mut self, event: &Value) -> Result<(), String>;
    /// Events so far that carried generated text, reasoning or tool calls: about one a token.
    fn pieces(&self) -> u64;
    /// Whether the events so far end the answer (a finish reason was sent).
    fn finished(&self) -> bool;
    /// The whole answer.
    fn finish(self: Box<Self>) -> Value;
}

/// How a call's answer arrives.
pub enum Delivery<'a> {
    Whole,
    /// Streamed; `max_pieces` ends a generation the server does not stop at `max_tokens`.
    Streamed {
        fold: &'a (dyn Fn() -> Box<dyn StreamFold> + Send + Sync),
        max_pieces: Option<u64>,
    },
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
    pub pacer: Arc<RatePacer>,
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
                let len = tail
                    .find(|c: char| {
                        !(c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')
                    })
                    .unwrap_or(tail.len());
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
    if let Some(ms) = headers
        .get("retry-after-ms")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<f64>().ok())
    {
        return Some(Duration::from_secs_f64(ms.max(0.0) / 1000.0));
    }
    headers
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<f64>().ok())
        .map(|s| Duration::from_secs_f64(s.max(0.0)))
}

/// The request limit an answer advertises, in OpenAI's dialect (`x-ratelimit-limit-requests`
/// and `x-ratelimit-remaining-requests`, which other OpenAI-compatible vendors send too) or
/// Anthropic's (`anthropic-ratelimit-requests-limit` and `-remaining`). Local servers and
/// Gemini send neither.
fn advertised(headers: &reqwest::header::HeaderMap) -> Option<Advertised> {
    let number = |name: &str| {
        headers
            .get(name)?
            .to_str()
            .ok()?
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|n| n.is_finite() && *n >= 0.0)
    };
    [
        (
            "x-ratelimit-limit-requests",
            "x-ratelimit-remaining-requests",
        ),
        (
            "anthropic-ratelimit-requests-limit",
            "anthropic-ratelimit-requests-remaining",
        ),
    ]
    .into_iter()
    .find_map(|(limit, remaining)| {
        Some(Advertised {
            per_minute: number(limit).filter(|n| *n > 0.0)?,
            remaining: number(remaining)?,
        })
    })
}

/// Gemini's wait in a 429's body: `error.details[].retryDelay`, e.g. `"37s"`.
fn retry_delay(body: &str) -> Option<Duration> {
    let parsed: Value = serde_json::from_str(body).ok()?;
    parsed["error"]["details"]
        .as_array()?
        .iter()
        .find_map(|d| d["retryDelay"].as_str())
        .and_then(|d| d.trim().strip_suffix('s')?.parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map(Duration::from_secs_f64)
}

/// The provider's own error message from an error body, whatever the vendor's shape.
pub fn error_message(body: &str) -> String {
    let parsed: Option<Value> = serde_json::from_str(body).ok();
    let from_json = parsed.as_ref().and_then(|v| {
        let e = v.get("error").unwrap_or(v);
        e.get("message")
            .and_then(Value::as_str)
            .map(str::to_string)
            .or_else(|| e.as_str().map(str::to_string))
    });
    from_json.unwrap_or_else(|| {
        body.chars()
            .take(300)
            .collect::<String>()
            .trim()
            .to_string()
    })
}

enum Attempt {
    Done(Value),
    Retry {
        reason: String,
        wait: Option<Duration>,
    },
    /// A 429: retried, and the endpoint's pace slows.
    RateLimited {
        reason: String,
        wait: Option<Duration>,
    },
    /// The attempt's time ran out: retried while [`MAX_TIMED_OUT_ATTEMPTS`] allows.
    TimedOut(String),
    /// A generation that does not stop: never retried.
    Runaway(String),
    Fatal(String),
}

/// Largest streamed event or whole answer accepted, so a broken server cannot fill memory.
const MAX_ANSWER_BYTES: usize = 64 << 20;

impl Endpoint {
    fn backoff(&self, attempt: u32, rng: &mut rand::rngs::StdRng) -> Duration {
        let exp = self.policy.backoff_base.as_secs_f64() * 2f64.powi(attempt as i32);
        let capped = exp.min(self.policy.backoff_max.as_secs_f64());
        // Full jitter: spread retries of many trials so they do not arrive together.
        Duration::from_secs_f64(capped * (0.5 + 0.5 * rng.random::<f64>()))
    }

    /// POSTs JSON and returns the answer, whole or folded from its stream.
    pub async fn post(
        &self,
        url: &reqwest::Url,
        headers: &[(&str, String)],
        encoded: Vec<u8>,
        delivery: Delivery<'_>,
    ) -> Result<(Value, CallStats), ModelError> {
        let started = Instant::now();
        let mut stats = CallStats::default();
        let encoded = bytes::Bytes::from(encoded);
        // Jitter only needs to differ between concurrent calls, not to be unpredictable.
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let mut rng = rand::rngs::StdRng::seed_from_u64(
            u64::from(nanos) ^ (encoded.len() as u64).rotate_left(32),
        );
        let mut timed_out = 0;
        loop {
            stats.attempts += 1;
            let (sent, outcome) = {
                let _permit = self.limit.acquire().await;
                let sent = self.pacer.acquire().await;
                let mut limits = None;
                let outcome = match &delivery {
                    Delivery::Whole => self.attempt(url, headers, &encoded, &mut limits).await,
                    Delivery::Streamed { fold, max_pieces } => {
                        self.attempt_streamed(
                            url,
                            headers,
                            &encoded,
                            fold(),
                            *max_pieces,
                            &mut limits,
                        )
                        .await
                    }
                };
                if let Some(limits) = limits {
                    self.pacer.on_advertised(sent, limits);
                    if matches!(outcome, Attempt::Done(_)) {
                        self.limit
                            .fit_rate(limits.per_minute / 60.0, sent.at.elapsed());
                    }
                }
                (sent, outcome)
            };
            let outcome = match outcome {
                Attempt::TimedOut(reason) => {
                    timed_out += 1;
                    if timed_out >= MAX_TIMED_OUT_ATTEMPTS {
                        return Err(ModelError::Failed {
                            model: self.label.clone(),
                            message: format!(
                                "gave up after {timed_out} attempts that timed out ({reason}); an answer that never comes is often a generation that never stops: \
                                 cap it with -M max_tokens, stream it (-M stream=true) so a runaway is told from a stall, or allow more time with --attempt-timeout"
                            ),
                        });
                    }
                    Attempt::Retry { reason, wait: None }
                }
                Attempt::RateLimited { reason, wait } => {
                    // Only a limiter that says how long to wait is taken as one (see pace.rs).
                    if let Some(wait) = wait.filter(|w| !w.is_zero()) {
                        self.pacer.on_rate_limit(sent, wait);
                    }
                    Attempt::Retry { reason, wait }
                }
                other => other,
            };
            match outcome {
                Attempt::Done(value) => {
                    self.limit.on_success();
                    self.pacer.on_success();
                    return Ok((value, stats));
                }
                Attempt::Fatal(message) => {
                    return Err(ModelError::Refused {
                        model: self.label.clone(),
                        message: redact(&message, &self.secrets),
                    });
                }
                Attempt::Runaway(message) => {
                    return Err(ModelError::Failed {
                        model: self.label.clone(),
                        message: format!(
                            "{}; not retried, since a retry would start the same generation again",
                            redact(&message, &self.secrets)
                        ),
                    });
                }
                Attempt::TimedOut(_) | Attempt::RateLimited { .. } => {
                    unreachable!("timeouts and rate limits become retries above")
                }
                Attempt::Retry { reason, wait } => {
                    let reason = redact(&reason, &self.secrets);
                    stats.retry_reasons.push(reason.clone());
                    let delay = wait.unwrap_or_else(|| self.backoff(stats.attempts - 1, &mut rng));
                    let out_of_time = started.elapsed() + delay > self.policy.call_timeout;
                    if stats.attempts > self.policy.max_retries || out_of_time {
                        let why = if out_of_time {
                            "the call's time limit would be exceeded"
                        } else {
                            "no retries left"
                        };
                        return Err(ModelError::Failed {
                            model: self.label.clone(),
                            message: format!(
                                "gave up after {} attempt(s) ({why}); last error: {reason}",
                                stats.attempts
                            ),
                        });
                    }
                    tokio::time::sleep(delay).await;
                }
            }
        }
    }

    fn request(
        &self,
        url: &reqwest::Url,
        headers: &[(&str, String)],
        body: &bytes::Bytes,
    ) -> reqwest::RequestBuilder {
        // Bytes clones share the buffer: a retry re-sends without copying the body.
        let mut request = self
            .client
            .post(url.clone())
            .header("content-type", "application/json")
            .body(body.clone());
        for (k, v) in headers {
            request = request.header(*k, v);
        }
        request
    }

    /// One whole attempt; `limits` gets the request limit the answer advertised.
    async fn attempt(
        &self,
        url: &reqwest::Url,
        headers: &[(&str, String)],
        body: &bytes::Bytes,
        limits: &mut Option<Advertised>,
    ) -> Attempt {
        let request = self.request(url, headers, body);
        let sent = tokio::time::timeout(self.policy.attempt_timeout, async {
            let response = request.send().await?;
            let status = response.status();
            let headers = response.headers().clone();
            let bytes = response.bytes().await?;
            Ok::<_, reqwest::Error>((status, headers, bytes))
        })
        .await;
        let (status, headers, bytes) = match sent {
            Err(_) => {
                return Attempt::TimedOut(format!(
                    "no complete answer within {} s",
                    self.policy.attempt_timeout.as_secs_f64()
                ));
            }
            Ok(Err(e)) => {
                return Attempt::Retry {
                    reason: format!("connection failed: {}", error_chain(&e)),
                    wait: None,
                };
            }
            Ok(Ok(parts)) => parts,
        };
        *limits = advertised(&headers);
        self.whole_answer(status, &headers, &bytes)
    }

    /// Classifies a whole answer: JSON on success, else the status decides.
    fn whole_answer(
        &self,
        status: reqwest::StatusCode,
        headers: &reqwest::header::HeaderMap,
        bytes: &[u8],
    ) -> Attempt {
        let code = status.as_u16();
        if status.is_success() {
            return match serde_json::from_slice::<Value>(bytes) {
                Ok(v) => Attempt::Done(v),
                Err(e) => Attempt::Retry {
                    reason: format!("the answer is not valid JSON ({e}); it may have been cut off"),
                    wait: None,
                },
            };
        }
        let text = String::from_utf8_lossy(bytes);
        let message = format!("HTTP {code}: {}", error_message(&text));
        match code {
            300..=399 => Attempt::Fatal(format!(
                "{message}; the endpoint redirects{}: set the provider's base URL to where it points",
                headers
                    .get(reqwest::header::LOCATION)
                    .and_then(|l| l.to_str().ok())
                    .map(|l| format!(" to {l}"))
                    .unwrap_or_default()
            )),
            429 => Attempt::RateLimited {
                reason: message,
                wait: retry_after(headers).or_else(|| retry_delay(&text)),
            },
            408 | 409 | 500..=599 => Attempt::Retry {
                reason: message,
                wait: retry_after(headers),
            },
            _ => Attempt::Fatal(message),
        }
    }

    /// One streamed attempt: reads server-sent events until the answer ends, the attempt's
    /// time runs out, or the generation outgrows `max_pieces`.
    async fn attempt_streamed(
        &self,
        url: &reqwest::Url,
        headers: &[(&str, String)],
        body: &bytes::Bytes,
        mut fold: Box<dyn StreamFold>,
        max_pieces: Option<u64>,
        limits: &mut Option<Advertised>,
    ) -> Attempt {
        let limit = self.policy.attempt_timeout;
        let deadline = tokio::time::Instant::now() + limit;
        let response = match tokio::time::timeout_at(
            deadline,
            self.request(url, headers, body).send(),
        )
        .await
        {
            Err(_) => {
                return Attempt::TimedOut(format!(
                    "no answer began within {} s",
                    limit.as_secs_f64()
                ));
            }
            Ok(Err(e)) => {
                return Attempt::Retry {
                    reason: format!("connection failed: {}", error_chain(&e)),
                    wait: None,
                };
            }
            Ok(Ok(response)) => response,
        };
        let status = response.status();
        *limits = advertised(response.headers());
        let is_stream = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("text/event-stream"));
        if !status.is_success() || !is_stream {
            // An error, or a server that ignored `stream` and answered whole.
            let headers = response.headers().clone();
            return match tokio::time::timeout_at(deadline, response.bytes()).await {
                Err(_) => Attempt::TimedOut(format!(
                    "no complete answer within {} s",
                    limit.as_secs_f64()
                )),
                Ok(Err(e)) => Attempt::Retry {
                    reason: format!("connection failed: {}", error_chain(&e)),
                    wait: None,
                },
                Ok(Ok(bytes)) => self.whole_answer(status, &headers, &bytes),
            };
        }
        let mut response = response;
        let mut events = EventBuffer::default();
        let mut received = 0usize;
        loop {
            let chunk = match tokio::time::timeout_at(deadline, response.chunk()).await {
                Err(_) if fold.pieces() > 0 => {
                    return Attempt::Runaway(format!(
                        "the model was still generating when the attempt's {} s ran out ({} pieces streamed, no end in sight)",
                        limit.as_secs_f64(),
                        fold.pieces()
                    ));
                }
                Err(_) => {
                    return Attempt::TimedOut(format!(
                        "no generated text within {} s of a streamed answer",
                        limit.as_secs_f64()
                    ));
                }
                Ok(Err(e)) => {
                    return Attempt::Retry {
                        reason: format!("the stream broke off: {}", error_chain(&e)),
                        wait: None,
                    };
                }
                Ok(Ok(None)) if fold.finished() => return Attempt::Done(fold.finish()),
                Ok(Ok(None)) => {
                    return Attempt::Retry {
                        reason: "the stream ended before the answer did (no finish reason)".into(),
                        wait: None,
                    };
                }
                Ok(Ok(Some(chunk))) => chunk,
            };
            received += chunk.len();
            if received > MAX_ANSWER_BYTES {
                return Attempt::Runaway(format!(
                    "the streamed answer grew past {} MiB",
                    MAX_ANSWER_BYTES >> 20
                ));
            }
            if let Err(reason) = events.extend(&chunk) {
                return Attempt::Retry { reason, wait: None };
            }
            while let Some(data) = events.next_data() {
                if data.trim() == "[DONE]" {
                    return if fold.finished() {
                        Attempt::Done(fold.finish())
                    } else {
                        Attempt::Retry {
                            reason: "the stream ended before the answer did (no finish reason)"
                                .into(),
                            wait: None,
                        }
                    };
                }
                let event: Value = match serde_json::from_str(&data) {
                    Ok(v) => v,
                    Err(e) => {
                        return Attempt::Retry {
                            reason: format!("a streamed event is not valid JSON ({e})"),
                            wait: None,
                        };
                    }
                };
                if let Some(error) = event.get("error") {
                    let message = error
                        .get("message")
                        .and_then(Value::as_str)
                        .map_or_else(|| error.to_string(), str::to_string);
                    return Attempt::Retry {
                        reason: format!("the server broke off the stream: {message}"),
                        wait: None,
                    };
                }
                if let Err(reason) = fold.push(&event) {
                    return Attempt::Fatal(reason);
                }
                if let Some(max) = max_pieces.filter(|max| fold.pieces() > *max) {
                    return Attempt::Runaway(format!(
                        "the model streamed more than {max} pieces, beyond its max_tokens: the server does not stop the generation"
                    ));
                }
            }
        }
    }
}

/// Server-sent events, split out of a byte stream as it arrives.
#[derive(Default)]
struct EventBuffer {
    pending: Vec<u8>,
}

impl EventBuffer {
    fn extend(&mut self, chunk: &[u8]) -> Result<(), String> {
        self.pending.extend_from_slice(chunk);
        if self.pending.len() > MAX_ANSWER_BYTES {
            return Err(format!(
                "a streamed event exceeds {} MiB",
                MAX_ANSWER_BYTES >> 20
            ));
        }
        Ok(())
    }

    /// The `data` of the next complete event, if one has arrived (events without data, such as
    /// comments and pings, are skipped).
    fn next_data(&mut self) -> Option<String> {
        loop {
            let text = &self.pending;
            let end = (0..text.len()).find_map(|i| {
                if text[i..].starts_with(b"\n\n") {
                    Some((i, 2))
                } else if text[i..].starts_with(b"\r\n\r\n") {
                    Some((i, 4))
                } else {
                    None
                }
            })?;
            let (at, len) = end;
            let event: Vec<u8> = self.pending.drain(..at + len).collect();
            let event = String::from_utf8_lossy(&event[..at]);
            let data: Vec<&str> = event
                .lines()
                .filter_map(|line| line.strip_prefix("data:"))
                .map(|d| d.strip_prefix(' ').unwrap_or(d))
                .collect();
            if !data.is_empty() {
                return Some(data.join("\n"));
            }
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
mod tests;
