//! `peerpressure plugin new`: a working, buildable plugin with a test, from the templates in
//! `templates/` (embedded in the binary). Python and JavaScript plugins get a copy of their
//! SDK and of the WIT, so they build outside the repository; Rust plugins use the SDK crate
//! by path.

use peerpressure_types::error::{HasOrigin, Origin};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    Rust,
    Python,
    Js,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Detector,
    Scenario,
}

#[derive(Debug, thiserror::Error)]
pub enum ScaffoldError {
    #[error(
        "plugin name `{0}` must be lowercase letters, digits, `-` and `_`, starting with a letter"
    )]
    BadName(String),
    #[error("{0} already exists: pick another name or directory")]
    Exists(PathBuf),
    #[error(
        "the Rust SDK was not found at {0}: pass --sdk-rust PATH (the sdk/rust folder of the PeerPressure sources)"
    )]
    NoRustSdk(PathBuf),
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl HasOrigin for ScaffoldError {
    fn origin(&self) -> Origin {
        match self {
            ScaffoldError::Write { .. } => Origin::Work,
            _ => Origin::Input,
        }
    }
}

const WIT: &[(&str, &str)] = &[
    (
        "wit/types.wit",
        include_str!("../../wit/peerpressure-plugin@0.1.0/types.wit"),
    ),
    (
        "wit/host.wit",
        include_str!("../../wit/peerpressure-plugin@0.1.0/host.wit"),
    ),
    (
        "wit/plugins.wit",
        include_str!("../../wit/peerpressure-plugin@0.1.0/plugins.wit"),
    ),
];
const PY_SDK: &[(&str, &str)] = &[
    (
        "peerpressure_sdk/__init__.py",
        include_str!("../../sdk/python/peerpressure_sdk/__init__.py"),
    ),
    (
        "peerpressure_sdk/_world.py",
        include_str!("../../sdk/python/peerpressure_sdk/_world.py"),
    ),
];
const JS_SDK: &[(&str, &str)] = &[
    (
        "peerpressure.js",
        include_str!("../../sdk/js/peerpressure.js"),
    ),
    ("world.js", include_str!("../../sdk/js/world.js")),
    ("judge.js", include_str!("../../sdk/js/judge.js")),
];

macro_rules! template {
    ($dir:literal, [$($file:literal),*]) => {
        &[$(($file, include_str!(concat!("../../templates/", $dir, "/", $file)))),*]
    };
}

fn files(lang: Lang, kind: Kind) -> &'static [(&'static str, &'static str)] {
    match (lang, kind) {
        (Lang::Rust, Kind::Detector) => template!(
            "rust-detector",
            [
                "Cargo.toml",
                ".cargo/config.toml",
                "src/lib.rs",
                "build.sh",
                "test.sh",
                "README.md"
            ]
        ),
        (Lang::Rust, Kind::Scenario) => template!(
            "rust-scenario",
            [
                "Cargo.toml",
                ".cargo/config.toml",
                "src/lib.rs",
                "build.sh",
                "test.sh",
                "README.md"
            ]
        ),
        (Lang::Python, Kind::Detector) => template!(
            "python-detector",
            ["detector.py", "build.sh", "test.sh", "README.md"]
        ),
        (Lang::Python, Kind::Scenario) => template!(
            "python-scenario",
            ["scenario.py", "build.sh", "test.sh", "README.md"]
        ),
        (Lang::Js, Kind::Detector) => template!(
            "js-detector",
            ["detector.js", "build.sh", "test.sh", "README.md"]
        ),
        (Lang::Js, Kind::Scenario) => template!(
            "js-scenario",
            ["scenario.js", "build.sh", "test.sh", "README.md"]
        ),
    }
}

/// The Rust SDK of the sources this binary was built from: next to the binary
/// (`target/<profile>/peerpressure` in a checkout), else where it was compiled.
pub fn default_rust_sdk() -> PathBuf {
    let beside_binary = std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.parent()?.parent()?.join("sdk/rust")));
    match beside_binary {
        Some(path) if path.join("Cargo.toml").is_file() => path,
        _ => Path::new(env!("CARGO_MANIFEST_DIR")).join("../sdk/rust"),
    }
}

/// Writes the plugin into `dir`; returns the files written.
pub fn scaffold(
    name: &str,
    lang: Lang,
    kind: Kind,
    dir: &Path,
    sdk_rust: &Path,
) -> Result<Vec<PathBuf>, ScaffoldError> {
    let valid = name.chars().next().is_some_and(|c| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    if !valid {
        return Err(ScaffoldError::BadName(name.to_string()));
    }
    if dir.exists()
        && std::fs::read_dir(dir)
            .map(|mut d| d.next().is_some())
            .unwrap_or(true)
    {
        return Err(ScaffoldError::Exists(dir.to_path_buf()));
    }
    let sdk_rust = if lang == Lang::Rust {
        let canonical = sdk_rust
            .canonicalize()
            .map_err(|_| ScaffoldError::NoRustSdk(sdk_rust.to_path_buf()))?;
        if !canonical.join("Cargo.toml").is_file() {
            return Err(ScaffoldError::NoRustSdk(sdk_rust.to_path_buf()));
        }
        canonical.display().to_string()
    } else {
        String::new()
    };
    let (kind_name, language) = (
        match kind {
            Kind::Detector => "detector",
            Kind::Scenario => "scenario",
        },
        match lang {
            Lang::Rust => "Rust",
            Lang::Python => "Python",
            Lang::Js => "JavaScript",
        },
    );
    let fill = |text: &str| {
        text.replace("{{name}}", name)
            .replace("{{crate}}", &name.replace('-', "_"))
            .replace("{{sdk_rust}}", &sdk_rust)
            .replace("{{kind}}", kind_name)
            .replace("{{language}}", language)
    };
    let mut all: Vec<(&str, String)> = files(lang, kind)
        .iter()
        .map(|(path, text)| (*path, fill(text)))
        .collect();
    match lang {
        Lang::Rust => all.push((
            ".gitignore",
            "target/\n*.wasm\ntest.db*\ntest-findings.csv\n".into(),
        )),
        Lang::Python => {
            all.extend(WIT.iter().chain(PY_SDK).map(|(p, t)| (*p, t.to_string())));
            all.push((
                ".gitignore",
                "*.wasm\ntest.db*\ntest-findings.csv\n__pycache__/\n".into(),
            ));
        }
        Lang::Js => {
            all.extend(WIT.iter().chain(JS_SDK).map(|(p, t)| (*p, t.to_string())));
            all.push((
                ".gitignore",
                "*.wasm\ntest.db*\ntest-findings.csv\nnode_modules/\n".into(),
            ));
        }
    }
    let mut written = Vec::new();
    for (relative, text) in all {
        let path = dir.join(relative);
        let write_err = |source| ScaffoldError::Write {
            path: path.clone(),
            source,
        };
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(write_err)?;
        }
        std::fs::write(&path, text).map_err(write_err)?;
        if relative.ends_with(".sh") {
            set_executable(&path).map_err(write_err)?;
        }
        written.push(path);
    }
    Ok(written)
}

#[cfg(unix)]
fn set_executable(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))
}

#[cfg(not(unix))]
fn set_executable(_path: &Path) -> std::io::Result<()> {
    Ok(())
}
