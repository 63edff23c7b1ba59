//! Tool mediation: every tool call a model makes is resolved and checked here before it runs.
//!
//! A call naming an unknown tool, with arguments that are not a JSON object, too large, or not
//! matching the tool's schema, is answered with a tool error the model can read and correct.

pub mod builtin;
pub mod schema;

use std::sync::Arc;

use serde_json::Value;

pub use builtin::Builtin;
use peerpressure_types::memo::Memo;
use peerpressure_types::plugin::{BuiltinTool, ToolCall, ToolDefinition, TrialSetup};

/// Largest arguments text accepted from a model for one call.
pub const MAX_ARGUMENT_BYTES: usize = 64 * 1024;

#[derive(Debug, Clone)]
pub enum ToolImpl {
    /// Answered by the scenario plugin's `call-tool`.
    Scenario,
    /// Answered by the host over the world.
    Builtin(Builtin),
}

#[derive(Debug, Clone)]
pub struct Tool {
    pub definition: ToolDefinition,
    schema: Value,
    pub implementation: ToolImpl,
}

/// The tools of one trial.
#[derive(Debug, Clone, Default)]
pub struct Toolbox {
    tools: Vec<Tool>,
    /// What the model is offered: the tools' definitions and parsed schemas, in tool order.
    definitions: Vec<ToolDefinition>,
    schemas: Vec<Value>,
}

/// Toolboxes already built, by the tools a setup asked for: a run's trials of one scenario
/// ask for the same tools, and building them (schemas written and parsed) is per-trial work.
/// Distinct tool sets kept (one per scenario of a run, usually).
static BUILT: Memo<(Vec<BuiltinTool>, Vec<ToolDefinition>), Arc<Toolbox>> = Memo::new(16);

impl Toolbox {
    /// The toolbox for a setup's tools, built once per distinct set of tools in a process
    /// (a toolbox depends on nothing else, and a trial never changes it).
    pub fn for_setup(setup: &TrialSetup) -> Result<Arc<Self>, String> {
        BUILT.get_or_try_build(
            |(builtin, tools)| *builtin == setup.builtin_tools && *tools == setup.tools,
            || (setup.builtin_tools.clone(), setup.tools.clone()),
            || Self::from_setup(setup).map(Arc::new),
        )
    }

    /// Builds the toolbox a scenario's setup asks for; an error is the scenario's fault.
    pub fn from_setup(setup: &TrialSetup) -> Result<Self, String> {
        let mut tools = Vec::new();
        for b in &setup.builtin_tools {
            let (imp, definition) = Builtin::new(b)?;
            let schema =
                serde_json::from_str(&definition.parameters).expect("host-built schema is JSON");
            tools.push(Tool {
                definition,
                schema,
                implementation: ToolImpl::Builtin(imp),
            });
        }
        for t in &setup.tools {
            let schema: Value = serde_json::from_str(&t.parameters).map_err(|e| {
                format!(
                    "tool `{}` has a parameters schema that is not JSON: {e}",
                    t.name
                )
            })?;
            if !schema.is_object() {
                return Err(format!(
                    "tool `{}` has a parameters schema that is not a JSON object",
                    t.name
                ));
            }
            tools.push(Tool {
                definition: t.clone(),
                schema,
                implementation: ToolImpl::Scenario,
            });
        }
        let mut names: Vec<&str> = tools.iter().map(|t| t.definition.name.as_str()).collect();
        names.sort_unstable();
        if let Some(w) = names.windows(2).find(|w| w[0] == w[1]) {
            return Err(format!("two tools are named `{}`", w[0]));
        }
        if let Some(bad) = names.iter().find(|n| {
            n.is_empty()
                || n.len() > 64
                || !n
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        }) {
            return Err(format!(
                "tool name `{bad}` must be 1-64 characters of letters, digits, `_` or `-`"
            ));
        }
        Ok(Toolbox {
            definitions: tools.iter().map(|t| t.definition.clone()).collect(),
            schemas: tools.iter().map(|t| t.schema.clone()).collect(),
            tools,
        })
    }

    pub fn definitions(&self) -> &[ToolDefinition] {
        &self.definitions
    }

    /// The tools' parsed parameter schemas, in the order of [`Toolbox::definitions`].
    pub fn schemas(&self) -> &[Value] {
        &self.schemas
    }

    /// Finds the tool and checks the arguments; the error text goes back to the model.
    pub fn resolve(&self, call: &ToolCall) -> Result<(&Tool, Value), String> {
        let tool = self
            .tools
            .iter()
            .find(|t| t.definition.name == call.name)
            .ok_or_else(|| {
                let names: Vec<&str> = self
                    .tools
                    .iter()
                    .map(|t| t.definition.name.as_str())
                    .collect();
                format!(
                    "unknown tool `{}`; the available tools are: {}",
                    call.name.chars().take(64).collect::<String>(),
                    names.join(", ")
                )
            })?;
        if call.arguments.len() > MAX_ARGUMENT_BYTES {
            return Err(format!(
                "arguments for `{}` are {} bytes; the limit is {MAX_ARGUMENT_BYTES}",
                call.name,
                call.arguments.len()
            ));
        }
        // Several providers send an empty string for a call without arguments.
        let text = if call.arguments.trim().is_empty() {
            "{}"
        } else {
            call.arguments.as_str()
        };
        let args: Value = serde_json::from_str(text)
            .map_err(|e| format!("arguments for `{}` are not valid JSON: {e}", call.name))?;
        schema::validate(&tool.schema, &args)
            .map_err(|e| format!("invalid arguments for `{}`: {e}", call.name))?;
        Ok((tool, args))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use peerpressure_types::plugin::Limits;

    fn toolbox() -> Toolbox {
        Toolbox::from_setup(&toolbox_setup()).unwrap()
    }

    fn toolbox_setup() -> TrialSetup {
        TrialSetup {
            system_prompt: String::new(),
            user_prompt: String::new(),
            tools: vec![ToolDefinition {
                name: "modify_var".into(),
                description: String::new(),
                parameters:
                    r#"{"type":"object","properties":{"key":{"type":"string"}},"required":["key"]}"#
                        .into(),
            }],
            builtin_tools: vec![BuiltinTool {
                kind: "read-file".into(),
                name: "read_file".into(),
                description: String::new(),
                machine: Some("drive".into()),
            }],
            limits: Limits {
                max_turns: 5,
                max_tool_calls_per_turn: 4,
            },
            ground_truth: "{}".into(),
        }
    }

    fn call(name: &str, args: &str) -> ToolCall {
        ToolCall {
            id: "c".into(),
            name: name.into(),
            arguments: args.into(),
        }
    }

    /// A run's trials share one toolbox per distinct set of tools; another set gets its own.
    #[test]
    fn toolboxes_are_built_once_per_set_of_tools() {
        let mut setup = TrialSetup {
            ground_truth: "{\"other\": 1}".into(),
            ..toolbox_setup()
        };
        let first = Toolbox::for_setup(&setup).unwrap();
        setup.system_prompt = "another trial".into();
        assert!(Arc::ptr_eq(&first, &Toolbox::for_setup(&setup).unwrap()));
        setup.builtin_tools[0].machine = Some("server".into());
        let other = Toolbox::for_setup(&setup).unwrap();
        assert!(!Arc::ptr_eq(&first, &other));
        assert_eq!(other.definitions().len(), 2);
        assert_eq!(other.schemas().len(), 2);
        setup.tools[0].parameters = "[]".into();
        assert!(
            Toolbox::for_setup(&setup)
                .unwrap_err()
                .contains("not a JSON object")
        );
    }

    #[test]
    fn resolves_known_tools_with_valid_arguments() {
        let tb = toolbox();
        let (tool, args) = tb.resolve(&call("modify_var", r#"{"key":"k"}"#)).unwrap();
        assert!(matches!(tool.implementation, ToolImpl::Scenario));
        assert_eq!(args["key"], "k");
        assert!(matches!(
            tb.resolve(&call("read_file", r#"{"path":"a"}"#))
                .unwrap()
                .0
                .implementation,
            ToolImpl::Builtin(_)
        ));
    }

    #[test]
    fn refuses_unknown_tools_bad_json_schema_mismatch_and_oversize() {
        let tb = toolbox();
        let err = tb.resolve(&call("rm_rf", "{}")).unwrap_err();
        assert!(
            err.contains("unknown tool `rm_rf`") && err.contains("modify_var"),
            "{err}"
        );
        assert!(
            tb.resolve(&call("modify_var", "{key: k"))
                .unwrap_err()
                .contains("not valid JSON")
        );
        assert!(
            tb.resolve(&call("modify_var", r#"{"key": 1}"#))
                .unwrap_err()
                .contains("expected string")
        );
        assert!(
            tb.resolve(&call("read_file", r#"{"path":"a","x":1}"#))
                .unwrap_err()
                .contains("unknown property `x`")
        );
        let big = format!(r#"{{"key":"{}"}}"#, "x".repeat(MAX_ARGUMENT_BYTES));
        assert!(
            tb.resolve(&call("modify_var", &big))
                .unwrap_err()
                .contains("the limit is")
        );
    }

    #[test]
    fn refuses_bad_setups() {
        let mut setup = TrialSetup {
            system_prompt: String::new(),
            user_prompt: String::new(),
            tools: vec![],
            builtin_tools: vec![BuiltinTool {
                kind: "format-disk".into(),
                name: "x".into(),
                description: String::new(),
                machine: None,
            }],
            limits: Limits {
                max_turns: 1,
                max_tool_calls_per_turn: 1,
            },
            ground_truth: "{}".into(),
        };
        assert!(
            Toolbox::from_setup(&setup)
                .unwrap_err()
                .contains("unknown builtin tool kind")
        );
        setup.builtin_tools[0].kind = "read-file".into();
        setup.tools.push(ToolDefinition {
            name: "x".into(),
            description: String::new(),
            parameters: "{}".into(),
        });
        assert!(
            Toolbox::from_setup(&setup)
                .unwrap_err()
                .contains("two tools are named `x`")
        );
    }
}
