//! Standard file tools the host implements over the world, enabled by scenarios by kind.

use serde_json::{Value, json};

use crate::world::World;
use peerpressure_types::plugin::{BuiltinTool, ToolDefinition};
use peerpressure_types::time::format_time;

/// The kinds a scenario can enable.
pub const KINDS: &[&str] = &[
    "list-files",
    "read-file",
    "write-file",
    "append-file",
    "delete-file",
    "copy-file",
    "move-file",
];

#[derive(Debug, Clone)]
pub struct Builtin {
    kind: String,
    machine: Option<String>,
}

fn default_description(kind: &str) -> &'static str {
    match kind {
        "list-files" => "List the files with their summary, size and last-modified time.",
        "read-file" => "Read a file's content.",
        "write-file" => "Create a file, or replace an existing file's content.",
        "append-file" => "Append text to the end of an existing file.",
        "delete-file" => "Delete a file.",
        "copy-file" => "Copy a file. The copy gets the current time as its modification time.",
        "move-file" => "Move or rename a file.",
        _ => "",
    }
}

impl Builtin {
    /// Checks the kind and builds the tool definition the model sees.
    pub fn new(spec: &BuiltinTool) -> Result<(Self, ToolDefinition), String> {
        if !KINDS.contains(&spec.kind.as_str()) {
            return Err(format!(
                "unknown builtin tool kind `{}` (known: {})",
                spec.kind,
                KINDS.join(", ")
            ));
        }
        let bound = spec.machine.is_some();
        let s = |d: &str| json!({"type": "string", "description": d});
        let mut props = serde_json::Map::new();
        let mut required: Vec<&str> = Vec::new();
        let two_ended = matches!(spec.kind.as_str(), "copy-file" | "move-file");
        if two_ended {
            props.insert("source".into(), s("Path of the file to copy or move"));
            props.insert("destination".into(), s("Path to write it to"));
            required.extend(["source", "destination"]);
            if !bound {
                props.insert(
                    "source_machine".into(),
                    s("Machine holding the source file"),
                );
                props.insert("destination_machine".into(), s("Machine to write to"));
                required.extend(["source_machine", "destination_machine"]);
            }
        } else {
            if !bound {
                props.insert("machine".into(), s("Machine (drive or server) to use"));
                required.push("machine");
            }
            if spec.kind != "list-files" {
                props.insert("path".into(), s("File path"));
                required.push("path");
            }
            if matches!(spec.kind.as_str(), "write-file" | "append-file") {
                props.insert("content".into(), s("Text to write"));
                required.push("content");
            }
        }
        let description = if spec.description.is_empty() {
            default_description(&spec.kind).to_string()
        } else {
            spec.description.clone()
        };
        let parameters = json!({"type": "object", "properties": props, "required": required, "additionalProperties": false});
        Ok((
            Builtin {
                kind: spec.kind.clone(),
                machine: spec.machine.clone(),
            },
            ToolDefinition {
                name: spec.name.clone(),
                description,
                parameters: parameters.to_string(),
            },
        ))
    }

    /// Runs the tool on the world. Arguments were validated against the schema already.
    pub fn call(&self, world: &mut World, args: &Value) -> Result<String, String> {
        let arg = |key: &str| args.get(key).and_then(Value::as_str).unwrap_or_default();
        let machine = self.machine.as_deref().unwrap_or_else(|| arg("machine"));
        let err = |e: peerpressure_types::plugin::WorldError| e.message();
        match self.kind.as_str() {
            "list-files" => {
                let files = world.list(machine).map_err(err)?;
                if files.is_empty() {
                    return Ok(format!("{machine} has no files."));
                }
                Ok(files
                    .iter()
                    .map(|f| {
                        format!(
                            "{} | {} | {} bytes | modified {}",
                            f.path,
                            f.summary,
                            f.size,
                            format_time(f.modified)
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n"))
            }
            "read-file" => world
                .read(machine, arg("path"))
                .map(|f| f.content)
                .map_err(err),
            "write-file" => {
                let path = arg("path");
                let existed = world.read(machine, path).ok();
                let summary = existed
                    .as_ref()
                    .map(|f| f.summary.clone())
                    .unwrap_or_default();
                world
                    .write(machine, path, arg("content"), &summary, None)
                    .map_err(err)?;
                Ok(format!(
                    "{} {path}.",
                    if existed.is_some() {
                        "Replaced"
                    } else {
                        "Created"
                    }
                ))
            }
            "append-file" => world
                .append(machine, arg("path"), arg("content"))
                .map(|_| format!("Appended to {}.", arg("path")))
                .map_err(err),
            "delete-file" => world
                .delete(machine, arg("path"))
                .map(|_| format!("Deleted {}.", arg("path")))
                .map_err(err),
            "copy-file" | "move-file" => {
                let from_machine = self
                    .machine
                    .as_deref()
                    .unwrap_or_else(|| arg("source_machine"));
                let to_machine = self
                    .machine
                    .as_deref()
                    .unwrap_or_else(|| arg("destination_machine"));
                if self.kind == "copy-file" {
                    world
                        .copy(from_machine, arg("source"), to_machine, arg("destination"))
                        .map_err(err)?;
                    Ok(format!(
                        "Copied {} to {}.",
                        arg("source"),
                        arg("destination")
                    ))
                } else {
                    world
                        .rename(
                            from_machine,
                            arg("source"),
                            to_machine,
                            arg("destination"),
                            false,
                        )
                        .map_err(err)?;
                    Ok(format!(
                        "Moved {} to {}.",
                        arg("source"),
                        arg("destination")
                    ))
                }
            }
            other => Err(format!("unknown builtin tool kind `{other}`")),
        }
    }
}
