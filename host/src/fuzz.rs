//! Property-based fuzzing of everything that parses untrusted input: provider answers, plugin
//! sets, tool arguments, model strings, axis choices, error bodies and secret redaction.
//! `just test` runs each with proptest's default 256 cases; `just fuzz` runs many more within
//! a time bound (docs/reliability.md records the runs).

use proptest::prelude::*;
use serde_json::{Value, json};

use crate::model::GenerateRequest;
use crate::plugin::{BuiltinTool, Limits, ToolCall, ToolDefinition, TrialSetup};
use crate::providers::{GenerationSettings, Wire, anthropic, google, openai};

/// Keys the vendors' answers use, so generated JSON reaches deep into the parsers.
const KEYS: &[&str] = &[
    "choices",
    "message",
    "content",
    "tool_calls",
    "function",
    "name",
    "arguments",
    "id",
    "type",
    "usage",
    "prompt_tokens",
    "completion_tokens",
    "reasoning_content",
    "finish_reason",
    "output",
    "call_id",
    "summary",
    "text",
    "status",
    "input_tokens",
    "output_tokens",
    "candidates",
    "parts",
    "functionCall",
    "args",
    "thought",
    "usageMetadata",
    "promptFeedback",
    "blockReason",
    "stop_reason",
    "input",
    "thinking",
    "error",
    "refusal",
    "incomplete_details",
    "reason",
    "finishReason",
];

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| json!(f)),
        prop_oneof![
            Just("function".to_string()),
            Just("message".to_string()),
            Just("tool_use".to_string()),
            Just("{\"a\":1}".to_string()),
            ".{0,12}"
        ]
        .prop_map(Value::String),
    ];
    leaf.prop_recursive(5, 64, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec(
                (prop::sample::select(KEYS).prop_map(str::to_string), inner),
                0..6
            )
            .prop_map(|pairs| Value::Object(pairs.into_iter().collect())),
        ]
    })
}

fn wires() -> Vec<Box<dyn Wire>> {
    vec![
        Box::new(openai::Responses {
            base_url: "http://x".into(),
            model: "m".into(),
            api_key: "k".into(),
        }),
        Box::new(openai::ChatCompletions {
            base_url: "http://x".into(),
            model: "m".into(),
            api_key: None,
            max_tokens_field: "max_tokens",
            extra_headers: vec![],
            tools_json: Default::default(),
        }),
        Box::new(anthropic::Messages {
            base_url: "http://x".into(),
            model: "m".into(),
            api_key: "k".into(),
        }),
        Box::new(google::GenerateContent {
            base_url: "http://x".into(),
            model: "m".into(),
            api_key: "k".into(),
        }),
    ]
}

fn toolbox() -> crate::tools::Toolbox {
    let setup = TrialSetup {
        system_prompt: String::new(),
        user_prompt: String::new(),
        tools: vec![ToolDefinition {
            name: "modify_var".into(),
            description: String::new(),
            parameters: r#"{"type":"object","properties":{"key":{"type":"string","minLength":1},"n":{"type":"integer","minimum":0},"tags":{"type":"array","items":{"enum":["a","b"]}}},"required":["key"],"additionalProperties":false}"#.into(),
        }],
        builtin_tools: vec![BuiltinTool { kind: "copy-file".into(), name: "copy".into(), description: String::new(), machine: None }],
        limits: Limits { max_turns: 1, max_tool_calls_per_turn: 1 },
        ground_truth: "{}".into(),
    };
    crate::tools::Toolbox::from_setup(&setup).expect("valid setup")
}

proptest! {
    #[test]
    fn fuzz_provider_answers_never_panic(answer in json_value()) {
        for wire in wires() {
            let _ = wire.parse(&answer);
        }
    }

    #[test]
    fn fuzz_provider_answers_from_raw_bytes(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        if let Ok(answer) = serde_json::from_slice::<Value>(&bytes) {
            for wire in wires() {
                let _ = wire.parse(&answer);
            }
        }
    }

    #[test]
    fn fuzz_request_bodies_are_json(content in ".{0,40}", arguments in ".{0,40}", call_id in ".{0,8}") {
        use crate::plugin::{Message, Role};
        let mut assistant = Message::text(2, Role::Assistant, content.clone());
        assistant.tool_calls.push(ToolCall { id: call_id.clone(), name: "modify_var".into(), arguments });
        let messages = vec![Message::text(0, Role::System, content.clone()), Message::text(1, Role::User, content), assistant, Message::tool_result(3, &call_id, "out", false)];
        let tools = toolbox().definitions().to_vec();
        for wire in wires() {
            let request = GenerateRequest { messages: &messages, provider_state: &[], tools: &tools, tool_schemas: &[], trial_id: "t", volatile: false };
            let body = wire.body(&request, &GenerationSettings::default());
            prop_assert!(serde_json::from_slice::<Value>(&body).is_ok());
        }
    }

    #[test]
    fn fuzz_error_bodies_and_redaction(text in ".{0,200}", secret in "[a-zA-Z0-9]{4,16}") {
        let _ = crate::providers::http::error_message(&text);
        let shown = crate::providers::http::redact(&format!("{text}{secret}{text}"), std::slice::from_ref(&secret));
        prop_assert!(!shown.contains(&secret));
    }

    #[test]
    fn fuzz_tool_arguments(arguments in prop_oneof![".{0,64}", json_value().prop_map(|v| v.to_string())], name in prop_oneof![Just("modify_var".to_string()), Just("copy".to_string()), ".{0,10}"]) {
        let toolbox = toolbox();
        let call = ToolCall { id: "c".into(), name, arguments };
        if let Ok((_, args)) = toolbox.resolve(&call) {
            prop_assert!(args.is_object());
        }
    }

    #[test]
    fn fuzz_schema_validation(schema in json_value(), value in json_value()) {
        let _ = crate::tools::schema::validate(&schema, &value);
    }

    #[test]
    fn fuzz_plugin_sets(text in prop_oneof![".{0,200}", json_value().prop_map(|v| format!("name = \"x\"\n[[scenario]]\nplugin = \"a\"\naxes = {{ k = {} }}\n", v))]) {
        let _ = crate::plugin_set::PluginSet::parse(&text, std::path::Path::new("fuzz.toml"));
    }

    #[test]
    fn fuzz_import_format(trial in json_value(), text in ".{0,120}") {
        let _ = crate::import::parse(&text, "x");
        let file = json!({"format": crate::import::FORMAT, "trials": [trial]}).to_string();
        let _ = crate::import::parse(&file, "x");
        let messages = json!({"format": crate::import::FORMAT, "trials": [{"model": "a/b", "messages": [trial]}]}).to_string();
        let _ = crate::import::parse(&messages, "x");
    }

    #[test]
    fn fuzz_model_strings_and_axis_choices(model in ".{0,40}", axes in prop::collection::vec(".{0,20}", 0..4), settings in prop::collection::vec(".{0,20}", 0..4)) {
        let _ = crate::model::parse_model(&model);
        let _ = crate::model::model_family(&model);
        let _ = crate::grid::AxisChoices::parse(&axes);
        let _ = GenerationSettings::default().apply(&settings);
        let _ = crate::scheduler::Selection::parse_shard(&model);
    }
}
