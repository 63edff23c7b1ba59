//! Providers against a Chat Completions server that misbehaves: transient faults, client
//! errors, retry bounds, content filters, the cache, missing keys, token caps.

use crate::mock_server::{MockServer, Reply};
use peerpressure::model::ModelError;
use serde_json::json;
use std::time::{Duration, Instant};

use crate::providers::*;

/// A chat-completions answer with plain text, for the fault tests.
pub(crate) fn text(content: &str) -> Reply {
    Reply::ok(
        json!({"choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": content}}], "usage": {"prompt_tokens": 3, "completion_tokens": 2}}),
    )
}

pub(crate) fn chat_env(url: &str) -> Vec<(String, String)> {
    vec![
        ("MOCK_BASE_URL".into(), url.to_string()),
        ("MOCK_API_KEY".into(), KEY.into()),
    ]
}

#[tokio::test]
async fn transient_failures_are_retried_until_an_answer_comes() {
    let faults = || -> Vec<Box<dyn Fn() -> Reply + Send + Sync>> {
        vec![
            Box::new(|| Reply::Json {
                status: 429,
                headers: vec![("retry-after", "1".into())],
                body: r#"{"error":{"message":"slow down"}}"#.into(),
            }),
            Box::new(|| Reply::status(500, r#"{"error":{"message":"internal"}}"#)),
            Box::new(|| Reply::status(503, "overloaded")),
            Box::new(|| Reply::Stall(Duration::from_millis(1_500))),
            Box::new(|| {
                Reply::Truncated(
                    json!({"choices": [{"message": {"role": "assistant", "content": "cut"}}]})
                        .to_string(),
                )
            }),
            Box::new(|| Reply::Drop),
        ]
    };
    let server = MockServer::start(move |_, n| match faults().get(n) {
        Some(fault) => fault(),
        None => text("finally"),
    });
    let p = providers(chat_env(&server.url), |c| c.policy.max_retries = 6);
    let started = Instant::now();
    let out = generate(&p, "openai-api/mock/m", &opening(), &[None, None])
        .await
        .unwrap();
    assert_eq!(out.message.content, "finally");
    assert_eq!(out.attempts, 7, "six faults, then the answer");
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "Retry-After: 1 was honoured"
    );
    assert_eq!(server.requests().len(), 7);
}

/// The error of one call to `server` that the provider refused (not retried, not failed).
async fn refusal(server: &MockServer) -> String {
    let p = providers(chat_env(&server.url), |_| {});
    let err = generate(&p, "openai-api/mock/m", &opening(), &[None, None])
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, ModelError::Refused { .. }), "{text}");
    text
}

#[tokio::test]
async fn client_errors_end_at_once_with_the_providers_message_and_no_key() {
    let server = MockServer::start(|r, _| {
        let key = r.header("authorization").unwrap_or_default().to_string();
        Reply::status(401, &json!({"error": {"message": format!("Incorrect API key provided: {key}"), "type": "invalid_request_error"}}).to_string())
    });
    let text = refusal(&server).await;
    assert!(
        text.contains("HTTP 401: Incorrect API key provided"),
        "{text}"
    );
    assert!(
        !text.contains(KEY) && !text.contains("abcdefghijklmnop"),
        "the key leaked: {text}"
    );
    assert_eq!(server.requests().len(), 1, "no retry of a 401");

    let server = MockServer::start(|_, _| {
        Reply::status(
            400,
            r#"{"error":{"message":"context too long","code":"context_length_exceeded"}}"#,
        )
    });
    let p = providers(chat_env(&server.url), |_| {});
    let text = generate(&p, "openai-api/mock/m", &opening(), &[None, None])
        .await
        .unwrap_err()
        .to_string();
    assert_eq!(
        text,
        "openai-api/mock/m: the provider refused the request: HTTP 400: context too long"
    );

    // A redirect (a base URL missing its `/v1`, an http URL of an https service) is named,
    // not followed: following would turn the POST into a GET elsewhere.
    let server = MockServer::start(|_, _| Reply::Json {
        status: 308,
        headers: vec![("location", "https://api.example/v1/chat/completions".into())],
        body: String::new(),
    });
    let text = refusal(&server).await;
    assert!(
        text.contains("HTTP 308")
            && text.contains("the endpoint redirects to https://api.example/v1/chat/completions: set the provider's base URL to where it points"),
        "{text}"
    );
    assert_eq!(server.requests().len(), 1, "no retry, no redirect followed");
}

#[tokio::test]
async fn retries_stop_at_their_bound() {
    let server = MockServer::start(|_, _| Reply::status(502, "bad gateway"));
    let p = providers(chat_env(&server.url), |c| c.policy.max_retries = 3);
    let text = generate(&p, "openai-api/mock/m", &opening(), &[None, None])
        .await
        .unwrap_err()
        .to_string();
    assert!(
        text.contains(
            "gave up after 4 attempt(s) (no retries left); last error: HTTP 502: bad gateway"
        ),
        "{text}"
    );
    assert_eq!(server.requests().len(), 4);
}

#[tokio::test]
async fn content_filters_are_errors_not_answers() {
    let server = MockServer::start(|_, _| {
        Reply::ok(
            json!({"choices": [{"index": 0, "finish_reason": "content_filter", "message": {"role": "assistant", "content": ""}}]}),
        )
    });
    let p = providers(chat_env(&server.url), |_| {});
    let text = generate(&p, "openai-api/mock/m", &opening(), &[None, None])
        .await
        .unwrap_err()
        .to_string();
    assert!(text.contains("content filter"), "{text}");
}

#[tokio::test]
async fn the_cache_answers_a_repeated_request_for_free() {
    let server = MockServer::start(|_, _| text("fresh"));
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().to_path_buf();
    let p = providers(chat_env(&server.url), |c| {
        c.cache = Some(cache);
        c.prices
            .load_overrides(
                "[\"openai-api/mock/m\"]\ninput = 1000000.0\noutput = 0.0\n",
                "test",
            )
            .unwrap();
    });
    let first = generate(&p, "openai-api/mock/m", &opening(), &[None, None])
        .await
        .unwrap();
    let again = generate(&p, "openai-api/mock/m", &opening(), &[None, None])
        .await
        .unwrap();
    assert_eq!((first.cached, again.cached), (false, true));
    assert_eq!(first.cost, Some(3.0), "3 input tokens at $1 each");
    assert_eq!(again.cost, Some(0.0));
    assert_eq!(again.message.content, "fresh");
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn missing_keys_and_unknown_providers_are_refused_before_any_call() {
    let p = providers(vec![], |_| {});
    let err = |m: &str| p.resolve(m).err().unwrap_or_else(|| panic!("{m} resolved"));
    assert_eq!(
        err("openai/gpt-5.2"),
        "model `openai/gpt-5.2` needs an API key: set OPENAI_API_KEY"
    );
    assert_eq!(
        err("google/gemini-3-flash"),
        "model `google/gemini-3-flash` needs an API key: set GEMINI_API_KEY or GOOGLE_API_KEY"
    );
    assert_eq!(
        err("together/moonshotai/Kimi-K2.5"),
        "model `together/moonshotai/Kimi-K2.5` needs an API key: set TOGETHER_API_KEY"
    );
    assert!(err("openai-api/lab/m").contains("needs LAB_BASE_URL"));
    assert!(err("bedrock/claude").contains("unknown provider `bedrock`"));
    // A base URL that is not one is named once, not retried as a connection failure per call.
    for (base, why) in [
        ("127.0.0.1:8000/v1", "relative URL without a base"),
        ("localhost:8000/v1", "not http or https"),
    ] {
        let p = providers(vec![("LAB_BASE_URL".into(), base.into())], |_| {});
        let bad = p
            .resolve("openai-api/lab/m")
            .err()
            .expect("a bad base URL is refused");
        assert!(
            bad.starts_with(&format!("model `openai-api/lab/m`: its endpoint `{base}/chat/completions` is not a URL ({why})")),
            "{bad}"
        );
    }
    assert!(
        p.resolve("ollama/llama3").is_ok(),
        "local servers need no key"
    );
}

#[tokio::test]
async fn each_vendor_gets_a_default_token_cap_in_its_own_field() {
    for vendor in vendors() {
        let answer = vendor.text_answer.clone();
        let server = MockServer::start(move |_, _| Reply::ok(answer.clone()));
        let p = providers((vendor.env)(&server.url), |_| {});
        generate(&p, vendor.model, &opening(), &[None, None])
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", vendor.model));
        let body = &server.requests()[0].body;
        // Where the cap also counts reasoning (OpenAI, Gemini), room is left for it.
        let (field, cap) = match vendor.model.split('/').next().unwrap() {
            "openai" => (&body["max_output_tokens"], 4096 + 16_384),
            "anthropic" => (&body["max_tokens"], 4096),
            "google" => (&body["generationConfig"]["maxOutputTokens"], 4096 + 16_384),
            _ => (&body["max_tokens"], 4096),
        };
        assert_eq!(field, &json!(cap), "{}: {body}", vendor.model);
    }
}

#[tokio::test]
async fn a_server_that_ignores_max_tokens_is_cut_off_at_the_cap_and_not_asked_again() {
    let server = MockServer::start(|_, _| Reply::StreamForever(Duration::from_millis(1)));
    let p = providers(chat_env(&server.url), |c| {
        c.policy.attempt_timeout = Duration::from_secs(60);
        c.settings.apply(&["max_tokens=10".into()]).unwrap();
    });
    let started = Instant::now();
    let err = generate(&p, "openai-api/mock/m", &opening(), &[None, None])
        .await
        .unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "took {:?}",
        started.elapsed()
    );
    assert!(matches!(err, ModelError::Failed { .. }), "{err}");
    assert!(
        err.to_string().contains("streamed more than 74 pieces")
            && err.to_string().contains("not retried"),
        "{err}"
    );
    assert_eq!(server.request_count(), 1);
}

#[tokio::test]
async fn stream_is_refused_where_the_wire_format_is_not_streamed_here() {
    for vendor in vendors()
        .into_iter()
        .filter(|v| !v.model.starts_with("openai-api/"))
    {
        let p = providers((vendor.env)("http://127.0.0.1:9"), |c| {
            c.settings.apply(&["stream=true".into()]).unwrap()
        });
        let err = p
            .resolve(vendor.model)
            .err()
            .unwrap_or_else(|| panic!("{}: stream=true accepted", vendor.model));
        assert!(
            err.contains("-M stream=true works with Chat Completions APIs only"),
            "{err}"
        );
    }
}
