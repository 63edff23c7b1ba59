use super::*;

#[test]
fn redacts_secrets_and_key_shapes() {
    let text = "bad key sk-proj-abcdef123456 and AIzaSyAbcdefgh123 and Bearer abcdefghijk, custom s3cr3t-value";
    let out = redact(text, &["s3cr3t-value".to_string()]);
    assert_eq!(
        out,
        "bad key [redacted] and [redacted] and [redacted], custom [redacted]"
    );
    assert_eq!(redact("sk-1 is short", &[]), "sk-1 is short");
}

#[test]
fn splits_server_sent_events_across_chunks() {
    let mut events = EventBuffer::default();
    events.extend(b": ping\n\ndata: {\"a\":").unwrap();
    assert_eq!(events.next_data(), None, "half an event waits for the rest");
    events
        .extend(b"1}\r\n\r\nevent: x\ndata: one\ndata: two\n\ndata: [DONE]\n\n")
        .unwrap();
    assert_eq!(events.next_data().as_deref(), Some("{\"a\":1}"));
    assert_eq!(events.next_data().as_deref(), Some("one\ntwo"));
    assert_eq!(events.next_data().as_deref(), Some("[DONE]"));
    assert_eq!(events.next_data(), None);
}

#[test]
fn extracts_vendor_error_messages() {
    assert_eq!(
        error_message(r#"{"error":{"message":"Invalid model","type":"invalid_request_error"}}"#),
        "Invalid model"
    );
    assert_eq!(
        error_message(
            r#"{"type":"error","error":{"type":"invalid_request_error","message":"max_tokens: required"}}"#
        ),
        "max_tokens: required"
    );
    assert_eq!(
        error_message(
            r#"{"error":{"code":400,"message":"API key not valid","status":"INVALID_ARGUMENT"}}"#
        ),
        "API key not valid"
    );
    assert_eq!(error_message("upstream broke"), "upstream broke");
}

#[test]
fn reads_the_request_limit_an_answer_advertises_in_either_dialect() {
    let headers = |pairs: &[(&'static str, &str)]| {
        let mut map = reqwest::header::HeaderMap::new();
        for (k, v) in pairs {
            map.insert(*k, v.parse().unwrap());
        }
        map
    };
    let limits = |per_minute, remaining| {
        Some(Advertised {
            per_minute,
            remaining,
        })
    };
    let openai = headers(&[
        ("x-ratelimit-limit-requests", "5000"),
        ("x-ratelimit-remaining-requests", "4999"),
        ("x-ratelimit-reset-requests", "12ms"),
    ]);
    assert_eq!(advertised(&openai), limits(5000.0, 4999.0));
    let anthropic = headers(&[
        ("anthropic-ratelimit-requests-limit", "50"),
        ("anthropic-ratelimit-requests-remaining", "0"),
        ("anthropic-ratelimit-requests-reset", "2026-12-08T04:00:01Z"),
    ]);
    assert_eq!(advertised(&anthropic), limits(50.0, 0.0));
    // Half a pair, a zero limit or a value that is not a number says nothing.
    for broken in [
        headers(&[("x-ratelimit-limit-requests", "5000")]),
        headers(&[
            ("x-ratelimit-limit-requests", "0"),
            ("x-ratelimit-remaining-requests", "0"),
        ]),
        headers(&[
            ("anthropic-ratelimit-requests-limit", "lots"),
            ("anthropic-ratelimit-requests-remaining", "3"),
        ]),
        headers(&[]),
    ] {
        assert_eq!(advertised(&broken), None, "{broken:?}");
    }
}

#[test]
fn reads_the_wait_a_rate_limit_asks_for() {
    let mut headers = reqwest::header::HeaderMap::new();
    assert_eq!(retry_after(&headers), None);
    headers.insert("retry-after", "3".parse().unwrap());
    assert_eq!(retry_after(&headers), Some(Duration::from_secs(3)));
    headers.insert("retry-after-ms", "250".parse().unwrap());
    assert_eq!(retry_after(&headers), Some(Duration::from_millis(250)));
    // Gemini puts it in the body.
    let gemini = r#"{"error":{"code":429,"status":"RESOURCE_EXHAUSTED","message":"Quota exceeded","details":[{"@type":"type.googleapis.com/google.rpc.QuotaFailure"},{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"37s"}]}}"#;
    assert_eq!(retry_delay(gemini), Some(Duration::from_secs(37)));
    assert_eq!(retry_delay(r#"{"error":{"message":"slow down"}}"#), None);
    assert_eq!(retry_delay("not json"), None);
}
