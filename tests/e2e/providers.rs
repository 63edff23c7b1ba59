//! Model providers against local servers speaking each vendor's wire format.

use std::time::{Duration, Instant};

use peerpressure::model::{GenerateRequest, ModelError, ModelOutput};
use peerpressure::plugin::{Message, Role, ToolDefinition};
use peerpressure::providers::{ProviderConfig, Providers};
use serde_json::{Value, json};

use crate::mock_server::{MockServer, Reply, Request};

pub(crate) const KEY: &str = "sk-test-abcdefghijklmnop";

pub(crate) fn providers(
    env: Vec<(String, String)>,
    tweak: impl FnOnce(&mut ProviderConfig),
) -> Providers {
    let mut config = ProviderConfig::default();
    config.policy.backoff_base = Duration::from_millis(10);
    config.policy.backoff_max = Duration::from_millis(50);
    config.policy.attempt_timeout = Duration::from_millis(700);
    config.policy.max_retries = 4;
    tweak(&mut config);
    Providers::with_env(
        config,
        Box::new(move |name| env.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())),
    )
    .unwrap()
}

pub(crate) fn tools() -> Vec<ToolDefinition> {
    vec![
        ToolDefinition { name: "list_files".into(), description: "List files.".into(), parameters: r#"{"type":"object","properties":{}}"#.into() },
        ToolDefinition {
            name: "view_config".into(),
            description: "Show a config.".into(),
            parameters: r#"{"type":"object","properties":{"filename":{"type":"string"}},"required":["filename"]}"#.into(),
        },
    ]
}

pub(crate) fn opening() -> Vec<Message> {
    vec![
        Message::text(0, Role::System, "You are Test Agent 1."),
        Message::text(1, Role::User, "Review the config."),
    ]
}

pub(crate) async fn generate(
    p: &Providers,
    model: &str,
    messages: &[Message],
    state: &[Option<Value>],
) -> Result<ModelOutput, ModelError> {
    let api = p.resolve(model).expect("model resolves");
    let tools = tools();
    api.generate(GenerateRequest {
        messages,
        provider_state: state,
        tools: &tools,
        tool_schemas: &[],
        trial_id: "trial-1",
        volatile: false,
    })
    .await
}

pub(crate) struct Vendor {
    pub(crate) model: &'static str,
    pub(crate) env: fn(&str) -> Vec<(String, String)>,
    pub(crate) path: &'static str,
    pub(crate) tool_answer: Value,
    pub(crate) text_answer: Value,
    /// Checks the first request (system + user + tools).
    pub(crate) first: fn(&Request),
    /// Checks the second request (the tool calls and their results sent back).
    pub(crate) second: fn(&Request),
    pub(crate) expected_usage: (u64, u64, u64, u64),
    pub(crate) reasoning: &'static str,
    /// A server error in the vendor's own error format (retried).
    pub(crate) overloaded: (u16, &'static str),
    /// A 400 in the vendor's own error format, and the message the host must surface.
    pub(crate) bad_request: (&'static str, &'static str),
}

pub(crate) fn vendors() -> Vec<Vendor> {
    vec![
        Vendor {
            model: "openai/gpt-test",
            env: |url| {
                vec![
                    ("OPENAI_API_KEY".into(), KEY.into()),
                    ("OPENAI_BASE_URL".into(), format!("{url}/v1")),
                ]
            },
            path: "/v1/responses",
            tool_answer: json!({"id": "resp_1", "object": "response", "status": "completed", "output": [
                {"type": "reasoning", "id": "rs_1", "summary": [{"type": "summary_text", "text": "The config decides the outcome."}]},
                {"type": "function_call", "id": "fc_1", "call_id": "call_a", "name": "list_files", "arguments": "{}"},
                {"type": "function_call", "id": "fc_2", "call_id": "call_b", "name": "view_config", "arguments": "{\"filename\":\"shutdown_config.yaml\"}"}],
                "usage": {"input_tokens": 120, "input_tokens_details": {"cached_tokens": 20}, "output_tokens": 40, "output_tokens_details": {"reasoning_tokens": 12}, "total_tokens": 160}}),
            text_answer: json!({"id": "resp_2", "status": "completed", "output": [{"type": "message", "id": "msg_1", "role": "assistant", "status": "completed",
                "content": [{"type": "output_text", "text": "All done.", "annotations": []}]}], "usage": {"input_tokens": 200, "output_tokens": 5}}),
            first: |r| {
                assert_eq!(
                    r.header("authorization"),
                    Some(format!("Bearer {KEY}").as_str())
                );
                assert_eq!(r.body["model"], "gpt-test");
                assert_eq!(r.body["store"], false);
                assert_eq!(
                    r.body["input"][0],
                    json!({"role": "system", "content": "You are Test Agent 1."})
                );
                assert_eq!(
                    r.body["input"][1],
                    json!({"role": "user", "content": "Review the config."})
                );
                assert_eq!(r.body["tools"][1]["type"], "function");
                assert_eq!(r.body["tools"][1]["name"], "view_config");
                assert_eq!(
                    r.body["tools"][1]["parameters"]["required"],
                    json!(["filename"])
                );
                assert_eq!(r.body["temperature"], 1.0);
                assert_eq!(r.body["max_output_tokens"], 512);
            },
            second: |r| {
                let input = r.body["input"].as_array().unwrap();
                assert_eq!(
                    input[2],
                    json!({"type": "function_call", "call_id": "call_a", "name": "list_files", "arguments": "{}"})
                );
                assert_eq!(
                    input[4],
                    json!({"type": "function_call_output", "call_id": "call_a", "output": "a.txt"})
                );
                assert_eq!(
                    input[5],
                    json!({"type": "function_call_output", "call_id": "call_b", "output": "shutdown_enabled: true"})
                );
            },
            expected_usage: (120, 40, 12, 20),
            reasoning: "The config decides the outcome.",
            overloaded: (
                503,
                r#"{"error":{"message":"The server is overloaded.","type":"server_error"}}"#,
            ),
            bad_request: (
                r#"{"error":{"message":"Unsupported parameter: temperature","type":"invalid_request_error","param":"temperature","code":null}}"#,
                "Unsupported parameter: temperature",
            ),
        },
        Vendor {
            model: "anthropic/claude-test",
            env: |url| {
                vec![
                    ("ANTHROPIC_API_KEY".into(), KEY.into()),
                    ("ANTHROPIC_BASE_URL".into(), url.to_string()),
                ]
            },
            path: "/v1/messages",
            tool_answer: json!({"id": "msg_1", "type": "message", "role": "assistant", "model": "claude-test", "content": [
                {"type": "thinking", "thinking": "The config decides the outcome.", "signature": "sig-123"},
                {"type": "text", "text": "Checking."},
                {"type": "tool_use", "id": "call_a", "name": "list_files", "input": {}},
                {"type": "tool_use", "id": "call_b", "name": "view_config", "input": {"filename": "shutdown_config.yaml"}}],
                "stop_reason": "tool_use", "stop_sequence": null,
                "usage": {"input_tokens": 100, "output_tokens": 40, "cache_read_input_tokens": 20, "cache_creation_input_tokens": 0}}),
            text_answer: json!({"id": "msg_2", "type": "message", "role": "assistant", "content": [{"type": "text", "text": "All done."}],
                "stop_reason": "end_turn", "usage": {"input_tokens": 200, "output_tokens": 5}}),
            first: |r| {
                assert_eq!(r.header("x-api-key"), Some(KEY));
                assert_eq!(r.header("anthropic-version"), Some("2023-06-01"));
                assert_eq!(r.body["model"], "claude-test");
                assert_eq!(r.body["system"], "You are Test Agent 1.");
                assert_eq!(
                    r.body["messages"][0],
                    json!({"role": "user", "content": [{"type": "text", "text": "Review the config."}]})
                );
                assert_eq!(
                    r.body["tools"][1]["input_schema"]["required"],
                    json!(["filename"])
                );
                assert_eq!(r.body["max_tokens"], 512);
                assert_eq!(r.body["temperature"], 1.0);
            },
            second: |r| {
                let messages = r.body["messages"].as_array().unwrap();
                // The thinking block comes back verbatim, signature included.
                assert_eq!(
                    messages[1]["content"][0],
                    json!({"type": "thinking", "thinking": "The config decides the outcome.", "signature": "sig-123"})
                );
                assert_eq!(messages[2]["role"], "user");
                assert_eq!(
                    messages[2]["content"][0],
                    json!({"type": "tool_result", "tool_use_id": "call_a", "content": "a.txt", "is_error": false})
                );
                assert_eq!(messages[2]["content"][1]["tool_use_id"], "call_b");
            },
            expected_usage: (120, 40, 0, 20),
            reasoning: "The config decides the outcome.",
            overloaded: (
                529,
                r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#,
            ),
            bad_request: (
                r#"{"type":"error","error":{"type":"invalid_request_error","message":"max_tokens: Field required"}}"#,
                "max_tokens: Field required",
            ),
        },
        Vendor {
            model: "google/gemini-test",
            env: |url| {
                vec![
                    ("GEMINI_API_KEY".into(), KEY.into()),
                    ("GEMINI_BASE_URL".into(), url.to_string()),
                ]
            },
            path: "/v1beta/models/gemini-test:generateContent",
            tool_answer: json!({"candidates": [{"content": {"role": "model", "parts": [
                {"text": "The config decides the outcome.", "thought": true},
                {"functionCall": {"name": "list_files", "args": {}}, "thoughtSignature": "c2ln"},
                {"functionCall": {"name": "view_config", "args": {"filename": "shutdown_config.yaml"}}}]},
                "finishReason": "STOP", "index": 0}],
                "usageMetadata": {"promptTokenCount": 120, "candidatesTokenCount": 28, "thoughtsTokenCount": 12, "cachedContentTokenCount": 20, "totalTokenCount": 160}}),
            text_answer: json!({"candidates": [{"content": {"role": "model", "parts": [{"text": "All done."}]}, "finishReason": "STOP"}],
                "usageMetadata": {"promptTokenCount": 200, "candidatesTokenCount": 5}}),
            first: |r| {
                assert_eq!(r.header("x-goog-api-key"), Some(KEY));
                assert_eq!(
                    r.body["systemInstruction"],
                    json!({"parts": [{"text": "You are Test Agent 1."}]})
                );
                assert_eq!(
                    r.body["contents"][0],
                    json!({"role": "user", "parts": [{"text": "Review the config."}]})
                );
                assert_eq!(
                    r.body["tools"][0]["functionDeclarations"][1]["name"],
                    "view_config"
                );
                assert_eq!(r.body["generationConfig"]["temperature"], 1.0);
                assert_eq!(r.body["generationConfig"]["maxOutputTokens"], 512);
                assert_eq!(
                    r.body["generationConfig"]["thinkingConfig"]["includeThoughts"],
                    true
                );
            },
            second: |r| {
                let contents = r.body["contents"].as_array().unwrap();
                assert_eq!(
                    contents[1]["parts"][1]["thoughtSignature"], "c2ln",
                    "model content is replayed verbatim"
                );
                assert_eq!(
                    contents[2]["parts"][0],
                    json!({"functionResponse": {"name": "list_files", "response": {"content": "a.txt"}}})
                );
                assert_eq!(
                    contents[2]["parts"][1]["functionResponse"]["name"],
                    "view_config"
                );
            },
            expected_usage: (120, 40, 12, 20),
            reasoning: "The config decides the outcome.",
            overloaded: (
                503,
                r#"{"error":{"code":503,"message":"The model is overloaded. Please try again later.","status":"UNAVAILABLE"}}"#,
            ),
            bad_request: (
                r#"{"error":{"code":400,"message":"Invalid JSON payload received.","status":"INVALID_ARGUMENT"}}"#,
                "Invalid JSON payload received.",
            ),
        },
        Vendor {
            model: "openai-api/acme/llama-test",
            env: |url| {
                vec![
                    ("ACME_API_KEY".into(), KEY.into()),
                    ("ACME_BASE_URL".into(), format!("{url}/v1")),
                ]
            },
            path: "/v1/chat/completions",
            tool_answer: json!({"id": "chatcmpl-1", "object": "chat.completion", "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {
                "role": "assistant", "content": null, "reasoning_content": "The config decides the outcome.",
                "tool_calls": [{"id": "call_a", "type": "function", "function": {"name": "list_files", "arguments": "{}"}},
                               {"id": "call_b", "type": "function", "function": {"name": "view_config", "arguments": "{\"filename\":\"shutdown_config.yaml\"}"}}]}}],
                "usage": {"prompt_tokens": 120, "completion_tokens": 40, "total_tokens": 160, "prompt_tokens_details": {"cached_tokens": 20}, "completion_tokens_details": {"reasoning_tokens": 12}}}),
            text_answer: json!({"id": "chatcmpl-2", "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": "All done."}}],
                "usage": {"prompt_tokens": 200, "completion_tokens": 5}}),
            first: |r| {
                assert_eq!(
                    r.header("authorization"),
                    Some(format!("Bearer {KEY}").as_str())
                );
                assert_eq!(r.body["model"], "llama-test");
                assert_eq!(
                    r.body["messages"][0],
                    json!({"role": "system", "content": "You are Test Agent 1."})
                );
                assert_eq!(r.body["tools"][1]["function"]["name"], "view_config");
                assert_eq!(r.body["max_tokens"], 512);
                assert_eq!(r.body["seed"], 42);
            },
            second: |r| {
                let messages = r.body["messages"].as_array().unwrap();
                assert_eq!(
                    messages[2]["tool_calls"][1]["function"]["arguments"],
                    "{\"filename\":\"shutdown_config.yaml\"}"
                );
                assert_eq!(
                    messages[3],
                    json!({"role": "tool", "tool_call_id": "call_a", "content": "a.txt"})
                );
                assert_eq!(messages[4]["tool_call_id"], "call_b");
            },
            expected_usage: (120, 40, 12, 20),
            reasoning: "The config decides the outcome.",
            overloaded: (
                502,
                r#"{"error":{"message":"upstream unavailable","type":"server_error"}}"#,
            ),
            bad_request: (
                r#"{"error":{"message":"model llama-test does not support tools","type":"invalid_request_error"}}"#,
                "model llama-test does not support tools",
            ),
        },
    ]
}

#[tokio::test]
pub(crate) async fn each_vendor_round_trips_tool_calls_reasoning_and_usage() {
    for vendor in vendors() {
        let (tool_answer, text_answer) = (vendor.tool_answer.clone(), vendor.text_answer.clone());
        let server = MockServer::start(move |_, n| {
            Reply::ok(if n == 0 {
                tool_answer.clone()
            } else {
                text_answer.clone()
            })
        });
        let p = providers((vendor.env)(&server.url), |c| {
            c.settings
                .apply(&[
                    "temperature=1".into(),
                    "max_tokens=512".into(),
                    "seed=42".into(),
                ])
                .unwrap()
        });
        let mut messages = opening();
        let first = generate(&p, vendor.model, &messages, &[None, None])
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", vendor.model));
        let calls = &first.message.tool_calls;
        assert_eq!(calls.len(), 2, "{}: parallel tool calls", vendor.model);
        assert_eq!(
            (calls[0].name.as_str(), calls[1].name.as_str()),
            ("list_files", "view_config")
        );
        let args: Value = serde_json::from_str(&calls[1].arguments).unwrap();
        assert_eq!(
            args,
            json!({"filename": "shutdown_config.yaml"}),
            "{}",
            vendor.model
        );
        assert_eq!(
            first.message.reasoning.as_deref(),
            Some(vendor.reasoning),
            "{}",
            vendor.model
        );
        let u = first.usage;
        assert_eq!(
            (
                u.input_tokens,
                u.output_tokens,
                u.reasoning_tokens,
                u.cached_tokens
            ),
            vendor.expected_usage,
            "{}",
            vendor.model
        );
        assert_eq!(first.attempts, 1);

        let mut assistant = first.message.clone();
        assistant.index = 2;
        let (id_a, id_b) = (calls[0].id.clone(), calls[1].id.clone());
        messages.push(assistant);
        messages.push(Message::tool_result(3, &id_a, "a.txt", false));
        messages.push(Message::tool_result(
            4,
            &id_b,
            "shutdown_enabled: true",
            false,
        ));
        let state = vec![None, None, first.provider_state.clone(), None, None];
        let second = generate(&p, vendor.model, &messages, &state).await.unwrap();
        assert_eq!(second.message.content, "All done.");
        assert!(second.message.tool_calls.is_empty());

        let requests = server.requests();
        assert_eq!(requests.len(), 2, "{}", vendor.model);
        assert_eq!(requests[0].method, "POST");
        assert_eq!(requests[0].path, vendor.path, "{}", vendor.model);
        (vendor.first)(&requests[0]);
        (vendor.second)(&requests[1]);
    }
}

#[tokio::test]
pub(crate) async fn each_vendor_survives_transient_faults_and_surfaces_its_client_errors() {
    for vendor in vendors() {
        let answer = vendor.text_answer.clone();
        let (status, overloaded) = vendor.overloaded;
        let server = MockServer::start(move |_, n| match n {
            0 => Reply::Json {
                status: 429,
                headers: vec![("retry-after", "1".into())],
                body: overloaded.into(),
            },
            1 => Reply::status(status, overloaded),
            2 => Reply::Stall(Duration::from_millis(1_500)),
            3 => Reply::Truncated(answer.to_string()),
            4 => Reply::Drop,
            _ => Reply::ok(answer.clone()),
        });
        let p = providers((vendor.env)(&server.url), |c| c.policy.max_retries = 5);
        let started = Instant::now();
        let out = generate(&p, vendor.model, &opening(), &[None, None])
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", vendor.model));
        assert_eq!(out.message.content, "All done.", "{}", vendor.model);
        assert_eq!(
            out.attempts, 6,
            "{}: five faults, then the answer",
            vendor.model
        );
        assert!(
            started.elapsed() >= Duration::from_secs(1),
            "{}: Retry-After: 1 was honoured",
            vendor.model
        );
        assert!(
            server.requests().iter().all(|r| r.path == vendor.path),
            "{}",
            vendor.model
        );

        let (body, message) = vendor.bad_request;
        let server = MockServer::start(move |_, _| Reply::status(400, body));
        let p = providers((vendor.env)(&server.url), |_| {});
        let err = generate(&p, vendor.model, &opening(), &[None, None])
            .await
            .unwrap_err();
        assert!(
            matches!(err, ModelError::Refused { .. }),
            "{}: {err}",
            vendor.model
        );
        assert_eq!(
            err.to_string(),
            format!(
                "{}: the provider refused the request: HTTP 400: {message}",
                vendor.model
            )
        );
        assert_eq!(
            server.requests().len(),
            1,
            "{}: no retry of a 400",
            vendor.model
        );
    }
}
