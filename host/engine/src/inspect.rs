//! What a component is, read from its bytes before anything is compiled: its top-level
//! imports and exports, its source language, and whether its self-description is usable.

use peerpressure_types::plugin::PluginInfo;

use crate::plugin::PluginKind;

pub(crate) fn validate_info(kind: PluginKind, info: &PluginInfo) -> Result<(), String> {
    let ident = |s: &str| {
        !s.is_empty()
            && s.len() <= 64
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')
    };
    if !ident(&info.name) {
        return Err(format!(
            "name `{}` must be 1-64 characters of letters, digits, `-`, `_` or `.`",
            info.name.chars().take(80).collect::<String>()
        ));
    }
    if !ident(&info.version) {
        return Err(format!(
            "version `{}` is not a version",
            info.version.chars().take(80).collect::<String>()
        ));
    }
    if info.behaviours.is_empty() {
        return Err("it declares no behaviours".into());
    }
    for axis in &info.axes {
        if axis.values.is_empty() || !axis.values.contains(&axis.default_value) {
            return Err(format!(
                "axis `{}` has no values or a default that is not one of them",
                axis.name
            ));
        }
    }
    if kind == PluginKind::Scenario
        && !info.agents.is_empty()
        && info.agents.iter().filter(|a| a.faithful).count() != 1
    {
        return Err("exactly one reference agent must be marked faithful".into());
    }
    Ok(())
}

pub(crate) enum Inspect {
    NotWasm,
    CoreModule,
    Invalid(String),
}

pub(crate) struct ComponentShape {
    pub(crate) imports: Vec<String>,
    pub(crate) exports: Vec<String>,
}

/// Reads a component's top-level import and export names without compiling it.
/// The source language of a component, as far as its bytes tell: the componentizers of
/// interpreted languages leave their name, compiled ones a `producers` section.
pub fn plugin_language(bytes: &[u8]) -> String {
    let contains = |needle: &[u8]| bytes.windows(needle.len()).any(|w| w == needle);
    if contains(b"componentize-py") {
        return "Python".into();
    }
    if contains(b"componentize-qjs") || contains(b"componentize-js") {
        return "JavaScript".into();
    }
    let mut languages: Vec<String> = Vec::new();
    for payload in wasmparser::Parser::new(0).parse_all(bytes).flatten() {
        if let wasmparser::Payload::CustomSection(reader) = payload
            && let wasmparser::KnownCustom::Producers(producers) = reader.as_known()
        {
            for field in producers
                .into_iter()
                .flatten()
                .filter(|f| f.name == "language")
            {
                languages.extend(
                    field
                        .values
                        .into_iter()
                        .flatten()
                        .map(|v| v.name.to_string()),
                );
            }
        }
    }
    // A Rust or Go module links C (its libc): name the language the author wrote.
    ["Rust", "Go", "Zig", "C++", "C11", "C99", "C"]
        .iter()
        .find(|l| languages.iter().any(|x| x == *l))
        .map(|l| {
            if l.starts_with('C') && *l != "C++" {
                "C".to_string()
            } else {
                l.to_string()
            }
        })
        .or_else(|| languages.first().cloned())
        .unwrap_or_else(|| "unknown".into())
}

pub(crate) fn inspect_component(bytes: &[u8]) -> Result<ComponentShape, Inspect> {
    if !bytes.starts_with(b"\0asm") {
        return Err(Inspect::NotWasm);
    }
    if wasmparser::Parser::is_core_wasm(bytes) {
        return Err(Inspect::CoreModule);
    }
    if !wasmparser::Parser::is_component(bytes) {
        return Err(Inspect::Invalid(
            "unknown WebAssembly layer or version".into(),
        ));
    }
    let mut shape = ComponentShape {
        imports: Vec::new(),
        exports: Vec::new(),
    };
    let mut depth = 0usize;
    for payload in wasmparser::Parser::new(0).parse_all(bytes) {
        let payload = payload.map_err(|e| Inspect::Invalid(e.to_string()))?;
        match payload {
            wasmparser::Payload::ModuleSection { .. }
            | wasmparser::Payload::ComponentSection { .. } => depth += 1,
            wasmparser::Payload::End(_) => depth = depth.saturating_sub(1),
            wasmparser::Payload::ComponentImportSection(reader) if depth == 0 => {
                for import in reader {
                    shape.imports.push(
                        import
                            .map_err(|e| Inspect::Invalid(e.to_string()))?
                            .name
                            .name
                            .to_string(),
                    );
                }
            }
            wasmparser::Payload::ComponentExportSection(reader) if depth == 0 => {
                for export in reader {
                    shape.exports.push(
                        export
                            .map_err(|e| Inspect::Invalid(e.to_string()))?
                            .name
                            .name
                            .to_string(),
                    );
                }
            }
            _ => {}
        }
    }
    Ok(shape)
}
