//! Validation of tool arguments against the JSON Schema a tool declares.
//!
//! Supports the keywords tool schemas use in practice: `type` (one or a list), `properties`,
//! `required`, `additionalProperties` (boolean or schema), `items`, `enum`, `const`,
//! `minimum`/`maximum`, `minLength`/`maxLength`, `minItems`/`maxItems`. Other keywords are
//! ignored, so a schema never rejects more than it says.
//!
//! Kept rather than a full validator crate (`jsonschema`): a model's tool call needs one
//! sentence naming the first mismatch, which it reads and corrects, and tool schemas use
//! this subset; a full validator adds regex engines, format checkers and remote-reference
//! machinery to the engine for keywords no tool here declares. The tests below follow the
//! official JSON-Schema-Test-Suite's cases for each supported keyword.

use serde_json::Value;

/// The first mismatch found, as a sentence for the model: "`/key`: expected string, got number".
pub fn validate(schema: &Value, value: &Value) -> Result<(), String> {
    check(schema, value, "")
}

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn matches_type(expected: &str, value: &Value) -> bool {
    match expected {
        "number" => value.is_number(),
        "integer" => {
            value.is_i64() || value.is_u64() || value.as_f64().is_some_and(|f| f.fract() == 0.0)
        }
        other => type_name(value) == other,
    }
}

fn at(path: &str) -> String {
    if path.is_empty() {
        "arguments".to_string()
    } else {
        format!("`{path}`")
    }
}

fn check(whole: &Value, value: &Value, path: &str) -> Result<(), String> {
    let Some(schema) = whole.as_object() else {
        return Ok(());
    };
    if let Some(t) = schema.get("type") {
        let allowed: Vec<&str> = match t {
            Value::String(s) => vec![s.as_str()],
            Value::Array(list) => list.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        };
        if !allowed.is_empty() && !allowed.iter().any(|t| matches_type(t, value)) {
            return Err(format!(
                "{}: expected {}, got {}",
                at(path),
                allowed.join(" or "),
                type_name(value)
            ));
        }
    }
    if let Some(options) = schema.get("enum").and_then(Value::as_array)
        && !options.contains(value)
    {
        let shown: Vec<String> = options.iter().map(Value::to_string).collect();
        return Err(format!("{}: must be one of {}", at(path), shown.join(", ")));
    }
    if let Some(c) = schema.get("const")
        && c != value
    {
        return Err(format!("{}: must be {c}", at(path)));
    }
    if let Some(n) = value.as_f64() {
        if let Some(min) = schema.get("minimum").and_then(Value::as_f64)
            && n < min
        {
            return Err(format!("{}: must be at least {min}", at(path)));
        }
        if let Some(max) = schema.get("maximum").and_then(Value::as_f64)
            && n > max
        {
            return Err(format!("{}: must be at most {max}", at(path)));
        }
    }
    if let Some(s) = value.as_str() {
        let len = s.chars().count() as u64;
        if schema
            .get("minLength")
            .and_then(Value::as_u64)
            .is_some_and(|min| len < min)
        {
            return Err(format!("{}: too short", at(path)));
        }
        if schema
            .get("maxLength")
            .and_then(Value::as_u64)
            .is_some_and(|max| len > max)
        {
            return Err(format!("{}: too long", at(path)));
        }
    }
    if let Some(items) = value.as_array() {
        let len = items.len() as u64;
        if schema
            .get("minItems")
            .and_then(Value::as_u64)
            .is_some_and(|min| len < min)
        {
            return Err(format!(
                "{}: needs at least {} items",
                at(path),
                schema["minItems"]
            ));
        }
        if schema
            .get("maxItems")
            .and_then(Value::as_u64)
            .is_some_and(|max| len > max)
        {
            return Err(format!(
                "{}: takes at most {} items",
                at(path),
                schema["maxItems"]
            ));
        }
        if let Some(item_schema) = schema.get("items") {
            for (i, item) in items.iter().enumerate() {
                check(item_schema, item, &format!("{path}/{i}"))?;
            }
        }
    }
    if let Some(object) = value.as_object() {
        let properties = schema.get("properties").and_then(Value::as_object);
        if let Some(required) = schema.get("required").and_then(Value::as_array) {
            for key in required.iter().filter_map(Value::as_str) {
                if !object.contains_key(key) {
                    return Err(format!("{}: missing required property `{key}`", at(path)));
                }
            }
        }
        for (key, item) in object {
            let child = format!("{path}/{key}");
            match properties.and_then(|p| p.get(key)) {
                Some(prop_schema) => check(prop_schema, item, &child)?,
                None => match schema.get("additionalProperties") {
                    Some(Value::Bool(false)) => {
                        let accepted = if path.is_empty() {
                            format!("; {}", accepted_arguments(whole))
                        } else {
                            format!("; {}", accepted_properties(whole))
                        };
                        return Err(format!("{}: unknown property `{key}`{accepted}", at(path)));
                    }
                    Some(extra @ Value::Object(_)) => check(extra, item, &child)?,
                    _ => {}
                },
            }
        }
    }
    Ok(())
}

/// What a tool's arguments may be, for a model that sent others: "it takes no arguments", or
/// "it takes: `path` (string, required), `count` (integer)".
pub fn accepted_arguments(schema: &Value) -> String {
    match schema.get("properties").and_then(Value::as_object) {
        Some(p) if !p.is_empty() => format!("it takes: {}", property_list(schema)),
        _ => "it takes no arguments: call it with {}".to_string(),
    }
}

fn accepted_properties(schema: &Value) -> String {
    match schema.get("properties").and_then(Value::as_object) {
        Some(p) if !p.is_empty() => format!("the object takes: {}", property_list(schema)),
        _ => "the object takes no properties".to_string(),
    }
}

fn property_list(schema: &Value) -> String {
    let required: Vec<&str> = schema
        .get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let properties = schema
        .get("properties")
        .and_then(Value::as_object)
        .into_iter()
        .flatten();
    let described: Vec<String> = properties
        .map(|(name, prop)| {
            let mut notes: Vec<String> = Vec::new();
            match prop.get("type") {
                Some(Value::String(t)) => notes.push(t.clone()),
                Some(Value::Array(ts)) => notes.push(
                    ts.iter()
                        .filter_map(Value::as_str)
                        .collect::<Vec<_>>()
                        .join(" or "),
                ),
                _ => {}
            }
            if let Some(options) = prop.get("enum").and_then(Value::as_array) {
                notes.push(format!(
                    "one of {}",
                    options
                        .iter()
                        .map(Value::to_string)
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
            if required.contains(&name.as_str()) {
                notes.push("required".into());
            }
            if notes.is_empty() {
                format!("`{name}`")
            } else {
                format!("`{name}` ({})", notes.join(", "))
            }
        })
        .collect();
    described.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schema() -> Value {
        json!({"type": "object", "properties": {
            "path": {"type": "string", "minLength": 1},
            "count": {"type": "integer", "minimum": 0},
            "mode": {"enum": ["a", "b"]},
            "tags": {"type": "array", "items": {"type": "string"}}
        }, "required": ["path"], "additionalProperties": false})
    }

    #[test]
    fn accepts_matching_arguments() {
        validate(
            &schema(),
            &json!({"path": "x", "count": 3, "mode": "a", "tags": ["t"]}),
        )
        .unwrap();
    }

    #[test]
    fn names_the_first_mismatch() {
        let cases = [
            (json!({}), "missing required property `path`"),
            (json!({"path": 3}), "`/path`: expected string, got integer"),
            (
                json!({"path": "x", "count": -1}),
                "`/count`: must be at least 0",
            ),
            (
                json!({"path": "x", "count": 1.5}),
                "`/count`: expected integer, got number",
            ),
            (
                json!({"path": "x", "mode": "c"}),
                "`/mode`: must be one of \"a\", \"b\"",
            ),
            (
                json!({"path": "x", "tags": [1]}),
                "`/tags/0`: expected string",
            ),
            (
                json!({"path": "x", "colour": 1}),
                "unknown property `colour`; it takes: `count` (integer), `mode` (one of \"a\", \"b\"), `path` (string, required), `tags` (array)",
            ),
            (json!([1]), "arguments: expected object, got array"),
        ];
        for (value, expected) in cases {
            let err = validate(&schema(), &value).unwrap_err();
            assert!(err.contains(expected), "{value}: {err}");
        }
    }

    #[test]
    fn an_extra_argument_to_a_tool_without_arguments_says_so() {
        // What a small local model sent: `list_files {"path": "."}`.
        let none = json!({"type": "object", "properties": {}, "additionalProperties": false});
        let err = validate(&none, &json!({"path": "."})).unwrap_err();
        assert_eq!(
            err,
            "arguments: unknown property `path`; it takes no arguments: call it with {}"
        );
        let nested = json!({"type": "object", "properties": {"filter": {"type": "object", "properties": {"glob": {"type": "string"}}, "additionalProperties": false}}});
        let err = validate(&nested, &json!({"filter": {"regex": "x"}})).unwrap_err();
        assert_eq!(
            err,
            "`/filter`: unknown property `regex`; the object takes: `glob` (string)"
        );
    }

    /// Cases in the shape of the JSON-Schema-Test-Suite (draft 2020-12) for each keyword
    /// supported here: (schema, instance, valid).
    #[test]
    fn agrees_with_the_test_suites_verdicts_on_supported_keywords() {
        let cases = [
            (json!({"type": "integer"}), json!(1.0), true),
            (json!({"type": "integer"}), json!(1.1), false),
            (json!({"type": "number"}), json!(1), true),
            (json!({"type": ["integer", "string"]}), json!("foo"), true),
            (json!({"type": ["integer", "string"]}), json!(null), false),
            (json!({"type": "null"}), json!(null), true),
            (json!({"type": "boolean"}), json!(0), false),
            (json!({"required": ["foo"]}), json!({"bar": 1}), false),
            (json!({"required": ["foo"]}), json!([]), true),
            (
                json!({"properties": {"foo": {"type": "integer"}}}),
                json!({"foo": []}),
                false,
            ),
            (
                json!({"properties": {"foo": {"type": "integer"}}}),
                json!({"bar": []}),
                true,
            ),
            (
                json!({"additionalProperties": {"type": "boolean"}}),
                json!({"foo": 1}),
                false,
            ),
            (
                json!({"additionalProperties": {"type": "boolean"}}),
                json!({"foo": true}),
                true,
            ),
            (
                json!({"items": {"type": "integer"}}),
                json!([1, "x"]),
                false,
            ),
            (
                json!({"items": {"type": "integer"}}),
                json!({"foo": "bar"}),
                true,
            ),
            (json!({"enum": [1, 2, 3]}), json!(4), false),
            (
                json!({"enum": [{"foo": false}]}),
                json!({"foo": false}),
                true,
            ),
            (json!({"const": 2}), json!(2), true),
            (json!({"const": 2}), json!(5), false),
            (json!({"minimum": 1.1}), json!(0.6), false),
            (json!({"maximum": 3.0}), json!(3.0), true),
            (json!({"minLength": 2}), json!("f"), false),
            (json!({"maxLength": 2}), json!(100), true),
            (json!({"minItems": 1}), json!([]), false),
            (json!({"maxItems": 2}), json!([1, 2, 3]), false),
        ];
        for (schema, instance, valid) in cases {
            assert_eq!(
                validate(&schema, &instance).is_ok(),
                valid,
                "{schema} on {instance}"
            );
        }
    }
}
