//! Moves values between the host's plain records (`peerpressure_types::plugin`) and the
//! records `bindgen!` generates for the same WIT, field by field.
//!
//! The two have the same shape by construction; a field added to the WIT without its twin
//! in `peerpressure-types` fails to compile here, not at run time.

use peerpressure_types::plugin as host;

use crate::bindings::scenario::peerpressure::plugin::world_state as wit_world;
use crate::bindings::wit;
use crate::bindings::wit_judge;

/// Converts a value into its twin on the other side of the engine boundary.
pub trait Convert<T> {
    fn convert(self) -> T;
}

macro_rules! same {
    ($($t:ty),*) => {$(
        impl Convert<$t> for $t {
            fn convert(self) -> $t { self }
        }
    )*};
}
same!(String, u32, u64, i64, f64, bool, (String, String));

impl<T, U: Convert<T>> Convert<Vec<T>> for Vec<U> {
    fn convert(self) -> Vec<T> {
        self.into_iter().map(Convert::convert).collect()
    }
}

impl<T, U: Convert<T>> Convert<Option<T>> for Option<U> {
    fn convert(self) -> Option<T> {
        self.map(Convert::convert)
    }
}

/// Records: both directions, every field named once.
macro_rules! records {
    ($($a:path, $b:path { $($field:ident),* $(,)? })*) => {$(
        impl Convert<$b> for $a {
            fn convert(self) -> $b {
                use $a as A;
                let A { $($field),* } = self;
                $b { $($field: $field.convert()),* }
            }
        }
        impl Convert<$a> for $b {
            fn convert(self) -> $a {
                use $b as B;
                let B { $($field),* } = self;
                $a { $($field: $field.convert()),* }
            }
        }
    )*};
}

/// Enums and variants whose cases carry nothing or one convertible value.
macro_rules! cases {
    ($($a:ident :: $an:ident, $b:ident :: $bn:ident { $($case:ident $(($x:ident))?),* $(,)? })*) => {$(
        impl Convert<$b::$bn> for $a::$an {
            fn convert(self) -> $b::$bn {
                match self { $($a::$an::$case $(($x))? => $b::$bn::$case $(($x.convert()))?),* }
            }
        }
        impl Convert<$a::$an> for $b::$bn {
            fn convert(self) -> $a::$an {
                match self { $($b::$bn::$case $(($x))? => $a::$an::$case $(($x.convert()))?),* }
            }
        }
    )*};
}

records! {
    host::Axis, wit::Axis { name, description, values, default_value }
    host::Behaviour, wit::Behaviour { id, description }
    host::ExpectedVerdict, wit::ExpectedVerdict { behaviour, verdict }
    host::ReferenceAgent, wit::ReferenceAgent { name, description, faithful, expected }
    host::PluginInfo, wit::PluginInfo { name, version, title, description, behaviours, axes, agents }
    host::TrialSpec, wit::TrialSpec { trial_id, axes, seed, model, model_family, epoch }
    host::ToolDefinition, wit::ToolDefinition { name, description, parameters }
    host::BuiltinTool, wit::BuiltinTool { kind, name, description, machine }
    host::Limits, wit::Limits { max_turns, max_tool_calls_per_turn }
    host::TrialSetup, wit::TrialSetup {
        system_prompt, user_prompt, tools, builtin_tools, limits, ground_truth
    }
    host::ToolCall, wit::ToolCall { id, name, arguments }
    host::Message, wit::Message {
        index, role, content, reasoning, tool_calls, tool_call_id, is_error
    }
    host::File, wit::File { machine, path, content, summary, size, modified }
    host::FileInfo, wit::FileInfo { path, summary, size, modified }
    host::WorldEvent, wit::WorldEvent {
        index, kind, machine, path, target, before, after, tool_call_id, turn
    }
    host::TrialRecord, wit::TrialRecord {
        spec, scenario, setup, messages, events, initial_world, final_world, outcome
    }
    host::Evidence, wit::Evidence { kind, index, quote }
    host::Finding, wit::Finding { behaviour, verdict, explanation, evidence, value }
    host::JudgeRequest, wit_judge::JudgeRequest { system, prompt, max_tokens }
}

cases! {
    host::Verdict, wit::Verdict { Positive, Negative, NotApplicable, Error }
    host::Role, wit::Role { System, User, Assistant, Tool }
    host::EvidenceKind, wit::EvidenceKind { Message, Event }
    host::FindingValue, wit::FindingValue { Number(x), Text(x) }
    host::WorldError, wit_world::WorldError {
        NoSuchMachine(x), NoSuchFile(x), AlreadyExists(x), InvalidPath(x), Limit(x)
    }
}

impl<T, E, U: Convert<T>, F: Convert<E>> Convert<Result<T, E>> for Result<U, F> {
    fn convert(self) -> Result<T, E> {
        match self {
            Ok(v) => Ok(v.convert()),
            Err(e) => Err(e.convert()),
        }
    }
}
same!(());

#[cfg(test)]
mod tests {
    use super::*;

    /// A finding survives the round trip through the generated record unchanged.
    #[test]
    fn records_round_trip() {
        let finding = host::Finding {
            behaviour: "shutdown-tampering".into(),
            verdict: host::Verdict::NotApplicable,
            explanation: "the agent never opened the config".into(),
            evidence: vec![host::Evidence {
                kind: host::EvidenceKind::Event,
                index: 3,
                quote: "shutdown_enabled: false".into(),
            }],
            value: Some(host::FindingValue::Number(0.25)),
        };
        let generated: wit::Finding = finding.clone().convert();
        assert_eq!(generated.verdict, wit::Verdict::NotApplicable);
        let back: host::Finding = generated.convert();
        assert_eq!(back, finding);
    }

    /// The generated and the plain records serialise alike: JSON written by hosts that
    /// stored the generated records reads back into the plain ones.
    #[test]
    fn json_is_unchanged() {
        let message = wit::Message {
            index: 2,
            role: wit::Role::Assistant,
            content: "done".into(),
            reasoning: None,
            tool_calls: vec![wit::ToolCall {
                id: "c1".into(),
                name: "read_file".into(),
                arguments: "{}".into(),
            }],
            tool_call_id: None,
            is_error: false,
        };
        let json = serde_json::to_string(&message).unwrap();
        let plain: host::Message = serde_json::from_str(&json).unwrap();
        assert_eq!(serde_json::to_string(&plain).unwrap(), json);
    }
}
