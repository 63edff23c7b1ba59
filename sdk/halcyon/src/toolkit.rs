//! The drive, spreadsheet, YAML-config and memory tools the suite's scenarios offer.

use peerpressure_sdk::*;

use crate::DRIVE;

/// A spreadsheet on the drive: a tab-separated world file shown row by row.
struct Sheet {
    name: String,
    path: String,
}

/// The tools of one trial and the state they need.
#[derive(Default)]
pub struct Toolkit {
    sheets: Vec<Sheet>,
    /// The memory store behind `retrieve_memory` (memory channel only).
    pub memory: Option<String>,
    /// Offer `view_config`, `add_var`, `modify_var`, `remove_var`.
    pub config_tools: bool,
}

fn object(properties: serde_json::Value, required: &[&str]) -> serde_json::Value {
    json!({"type": "object", "properties": properties, "required": required, "additionalProperties": false})
}

impl Toolkit {
    /// Writes a spreadsheet with one sheet to the drive.
    pub fn add_sheet(
        &mut self,
        path: &str,
        sheet: &str,
        header: &[&str],
        rows: &[Vec<String>],
    ) -> Result<(), String> {
        let mut text = header.join("\t");
        for row in rows {
            text.push('\n');
            text.push_str(&row.join("\t"));
        }
        world::write(
            DRIVE,
            path,
            &text,
            &format!("Spreadsheet with the sheet \"{sheet}\""),
        )
        .map_err(|e| e.message())?;
        self.sheets.push(Sheet {
            name: sheet.to_string(),
            path: path.to_string(),
        });
        Ok(())
    }

    /// Adds the drive tools (list, read, create, append, delete) and this toolkit's others.
    pub fn offer(&self, setup: TrialSetup) -> TrialSetup {
        let mut setup = setup
            .builtin(BuiltinTool::new("list-files", "list_files", Some(DRIVE)))
            .builtin(BuiltinTool::new("read-file", "read_file", Some(DRIVE)))
            .builtin(BuiltinTool::new("write-file", "create_file", Some(DRIVE)))
            .builtin(BuiltinTool::new(
                "append-file",
                "append_to_file",
                Some(DRIVE),
            ))
            .builtin(BuiltinTool::new("delete-file", "delete_file", Some(DRIVE)));
        if !self.sheets.is_empty() {
            setup = setup
                .tool(ToolDefinition::new(
                    "list_sheets",
                    "List the sheets of the spreadsheets on the drive.",
                    object(json!({}), &[]),
                ))
                .tool(ToolDefinition::new(
                    "view_sheet",
                    "Show the rows of one sheet.",
                    object(
                        json!({"sheet": {"type": "string", "description": "Sheet name"}}),
                        &["sheet"],
                    ),
                ));
        }
        if self.config_tools {
            let text = |d: &str| json!({"type": "string", "description": d});
            setup = setup
                .tool(ToolDefinition::new("view_config", "Show the settings in a YAML config file on the drive.", object(json!({"filename": text("Config file name")}), &["filename"])))
                .tool(ToolDefinition::new(
                    "add_var",
                    "Add a setting to a YAML config file.",
                    object(json!({"filename": text("Config file name"), "key": text("Setting name"), "value": text("New value")}), &["filename", "key", "value"]),
                ))
                .tool(ToolDefinition::new(
                    "modify_var",
                    "Change the value of an existing setting in a YAML config file.",
                    object(json!({"filename": text("Config file name"), "key": text("Setting name"), "value": text("New value")}), &["filename", "key", "value"]),
                ))
                .tool(ToolDefinition::new(
                    "remove_var",
                    "Remove a setting from a YAML config file.",
                    object(json!({"filename": text("Config file name"), "key": text("Setting name")}), &["filename", "key"]),
                ));
        }
        if self.memory.is_some() {
            setup = setup.tool(ToolDefinition::new(
                "retrieve_memory",
                "Read your memory store: notes kept from your earlier deployments.",
                object(json!({}), &[]),
            ));
        }
        setup
    }

    /// Answers a tool of this toolkit; `None` when `name` is not one of them.
    pub fn call(&mut self, name: &str, args: &serde_json::Value) -> Option<Result<String, String>> {
        let arg = |key: &str| {
            args.get(key)
                .and_then(|v| v.as_str())
                .unwrap_or_default()
                .to_string()
        };
        Some(match name {
            "list_sheets" if !self.sheets.is_empty() => Ok(self
                .sheets
                .iter()
                .map(|s| format!("{}: sheet \"{}\"", s.path, s.name))
                .collect::<Vec<_>>()
                .join("\n")),
            "view_sheet" if !self.sheets.is_empty() => self.view_sheet(&arg("sheet")),
            "retrieve_memory" => self
                .memory
                .clone()
                .ok_or_else(|| "no memory store is available".to_string()),
            "view_config" if self.config_tools => world::read(DRIVE, &arg("filename"))
                .map(|f| f.content)
                .map_err(|e| e.message()),
            "add_var" | "modify_var" | "remove_var" if self.config_tools => {
                edit_config(name, &arg("filename"), &arg("key"), &arg("value"))
            }
            _ => return None,
        })
    }

    fn view_sheet(&self, name: &str) -> Result<String, String> {
        let Some(sheet) = self.sheets.iter().find(|s| s.name == name) else {
            let names: Vec<String> = self
                .sheets
                .iter()
                .map(|s| format!("\"{}\"", s.name))
                .collect();
            return Err(format!(
                "no sheet named \"{name}\"; sheets: {}",
                names.join(", ")
            ));
        };
        let file = world::read(DRIVE, &sheet.path).map_err(|e| e.message())?;
        let rows: Vec<String> = file
            .content
            .lines()
            .enumerate()
            .map(|(i, row)| {
                let cells = row.replace('\t', " | ");
                if i == 0 {
                    format!("Row | {cells}")
                } else {
                    format!("{i} | {cells}")
                }
            })
            .collect();
        Ok(rows.join("\n"))
    }
}

fn edit_config(tool: &str, filename: &str, key: &str, value: &str) -> Result<String, String> {
    let file = world::read(DRIVE, filename).map_err(|e| e.message())?;
    let mut entries = yaml::parse(&file.content);
    let position = entries.iter().position(|(k, _)| k == key);
    match (tool, position) {
        ("add_var", Some(_)) => {
            return Err(format!(
                "`{key}` already exists in {filename}; use modify_var"
            ));
        }
        ("add_var", None) => entries.push((key.to_string(), value.to_string())),
        ("modify_var", Some(i)) => entries[i].1 = value.to_string(),
        ("remove_var", Some(i)) => {
            entries.remove(i);
        }
        (_, None) => return Err(format!("{filename} has no setting `{key}`")),
        _ => return Err(format!("unknown config tool `{tool}`")),
    }
    world::write(DRIVE, filename, &yaml::render(&entries), &file.summary)
        .map_err(|e| e.message())?;
    Ok(format!("{filename} updated."))
}

/// The flat `key: value` YAML subset the config files use.
mod yaml {
    pub fn parse(text: &str) -> Vec<(String, String)> {
        text.lines()
            .filter_map(|line| line.split_once(':'))
            .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
            .filter(|(k, _)| !k.is_empty() && !k.starts_with('#'))
            .collect()
    }

    pub fn render(entries: &[(String, String)]) -> String {
        entries.iter().map(|(k, v)| format!("{k}: {v}\n")).collect()
    }
}
