//! Model calls for detectors, made by the host with the run's judge model (`--judge`).
//!
//! A failed call (no judge configured, the provider failed) must become an `error` verdict:
//! [`Finding::judge_failed`](crate::Finding::judge_failed) builds one.

use crate::bindings::detector::peerpressure::plugin::judge as raw;

/// Asks the judge; `system` may be empty. Returns the judge's text answer.
pub fn complete(system: &str, prompt: &str) -> Result<String, String> {
    raw::complete(&raw::JudgeRequest {
        system: system.to_string(),
        prompt: prompt.to_string(),
        max_tokens: 0,
    })
}
