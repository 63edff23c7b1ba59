//! Installed plugins: `peerpressure plugin install | info | remove`.
//!
//! A plugin is installed into the plugin directory (`$PEERPRESSURE_HOME/plugins`, default
//! `~/.local/share/peerpressure/plugins`) as `<name>@<version>.wasm`, with a
//! `<name>@<version>.json` record of what was checked: kind, interface version, hash, size,
//! language, source and time. Everything is checked before anything is written: the bytes
//! are a component of a `peerpressure:plugin` world at a version this host supports, its
//! imports are ones the sandbox provides, `describe()` runs and returns a usable
//! description, the name and version are well formed, and no different plugin holds the same
//! `name@version`. Loading also precompiles it into the component cache.

use peerpressure_types::error::{HasOrigin, Origin};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use peerpressure_engine::{LoadError, LoadedPlugin, Runtime, plugin_language};

/// Largest plugin accepted for download or install.
const MAX_PLUGIN_BYTES: usize = 256 << 20;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct InstalledPlugin {
    pub kind: String,
    pub name: String,
    pub version: String,
    pub interface_version: String,
    pub sha256: String,
    pub size: u64,
    pub language: String,
    pub title: String,
    /// Where it was installed from: a path or a URL.
    pub source: String,
    pub installed_at: String,
    /// The installed file.
    #[serde(skip)]
    pub path: PathBuf,
}

impl InstalledPlugin {
    pub fn id(&self) -> String {
        format!("{}@{}", self.name, self.version)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    #[error("no plugin directory: set PEERPRESSURE_HOME (or HOME)")]
    NoPluginDir,
    #[error("cannot read {source_name}: {reason}")]
    Fetch { source_name: String, reason: String },
    #[error("{source_name} has sha256 {found}, but --sha256 expected {expected}: not installed")]
    HashMismatch {
        source_name: String,
        expected: String,
        found: String,
    },
    #[error(transparent)]
    Load(#[from] LoadError),
    #[error(
        "{source_name}: plugin name `{name}` must be lowercase letters, digits, `-` and `_`, starting with a letter or digit"
    )]
    BadName { source_name: String, name: String },
    #[error("{source_name}: plugin version `{version}` is not a semantic version (like 1.2.0)")]
    BadVersion {
        source_name: String,
        version: String,
    },
    #[error(
        "{id} is already installed with a different hash ({existing} there, {new} here): remove it first with `peerpressure plugin remove {id}`, or give the new build a new version"
    )]
    Conflict {
        id: String,
        existing: String,
        new: String,
    },
    #[error("no installed plugin `{0}` (see `peerpressure plugin list`)")]
    NotInstalled(String),
    #[error(
        "`{name}` matches several installed versions ({versions}): name one, e.g. `{name}@{first}`"
    )]
    Ambiguous {
        name: String,
        versions: String,
        first: String,
    },
    #[error("cannot write {path}: {reason}")]
    Write { path: PathBuf, reason: String },
}

impl HasOrigin for InstallError {
    fn origin(&self) -> Origin {
        match self {
            InstallError::Write { .. } => Origin::Work,
            _ => Origin::Input,
        }
    }
}

pub fn plugins_dir() -> Result<PathBuf, InstallError> {
    crate::locate::data_dir()
        .map(|d| d.join("plugins"))
        .ok_or(InstallError::NoPluginDir)
}

/// Whether `version` is a semantic version: `MAJOR.MINOR.PATCH`, optional `-pre` / `+build`.
pub fn is_semver(version: &str) -> bool {
    let core = version.split(['-', '+']).next().unwrap_or("");
    let parts: Vec<&str> = core.split('.').collect();
    parts.len() == 3
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()))
}

/// Orders versions numerically (1.10.0 after 1.9.0); pre-releases sort by text.
pub fn version_key(version: &str) -> (Vec<u64>, String) {
    let core = version.split(['-', '+']).next().unwrap_or("");
    (
        core.split('.').map(|p| p.parse().unwrap_or(0)).collect(),
        version.to_string(),
    )
}

fn valid_name(name: &str) -> bool {
    name.chars()
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
}

/// The bytes of a plugin from a path or an http(s) URL.
pub async fn fetch(source: &str) -> Result<Vec<u8>, InstallError> {
    let fail = |reason: String| InstallError::Fetch {
        source_name: source.to_string(),
        reason,
    };
    if source.starts_with("http://") || source.starts_with("https://") {
        let client = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(300))
            .build()
            .map_err(|e| fail(e.to_string()))?;
        let response = client
            .get(source)
            .send()
            .await
            .map_err(|e| fail(e.to_string()))?;
        if !response.status().is_success() {
            return Err(fail(format!("the server answered {}", response.status())));
        }
        let bytes = response.bytes().await.map_err(|e| fail(e.to_string()))?;
        if bytes.len() > MAX_PLUGIN_BYTES {
            return Err(fail(format!(
                "{} bytes is more than the {} MiB a plugin may have",
                bytes.len(),
                MAX_PLUGIN_BYTES >> 20
            )));
        }
        return Ok(bytes.to_vec());
    }
    let path = Path::new(source);
    let size = std::fs::metadata(path)
        .map_err(|e| fail(e.to_string()))?
        .len();
    if size as usize > MAX_PLUGIN_BYTES {
        return Err(fail(format!(
            "{size} bytes is more than the {} MiB a plugin may have",
            MAX_PLUGIN_BYTES >> 20
        )));
    }
    std::fs::read(path).map_err(|e| fail(e.to_string()))
}

pub enum Installed {
    New(InstalledPlugin),
    /// The same bytes were already installed: nothing changed.
    Already(InstalledPlugin),
}

/// Checks and installs a plugin into `dir`.
pub async fn install(
    runtime: &Runtime,
    dir: &Path,
    source: &str,
    expected_sha256: Option<&str>,
) -> Result<Installed, InstallError> {
    let bytes = fetch(source).await?;
    let sha = hex::encode(Sha256::digest(&bytes));
    if let Some(expected) = expected_sha256
        && !expected.eq_ignore_ascii_case(&sha)
    {
        return Err(InstallError::HashMismatch {
            source_name: source.to_string(),
            expected: expected.to_lowercase(),
            found: sha,
        });
    }
    let plugin: LoadedPlugin = runtime.load_bytes(Path::new(source), &bytes).await?;
    let (name, version) = (plugin.info.name.clone(), plugin.info.version.clone());
    if !valid_name(&name) {
        return Err(InstallError::BadName {
            source_name: source.to_string(),
            name,
        });
    }
    if !is_semver(&version) {
        return Err(InstallError::BadVersion {
            source_name: source.to_string(),
            version,
        });
    }
    let id = plugin.id();
    if let Some(existing) = list(dir)?.into_iter().find(|p| p.id() == id) {
        if existing.sha256 == sha {
            return Ok(Installed::Already(existing));
        }
        return Err(InstallError::Conflict {
            id,
            existing: existing.sha256[..12].to_string(),
            new: sha[..12].to_string(),
        });
    }
    let record = InstalledPlugin {
        kind: plugin.kind.as_str().to_string(),
        name,
        version,
        interface_version: plugin.interface_version.to_string(),
        sha256: sha,
        size: bytes.len() as u64,
        language: plugin_language(&bytes),
        title: plugin.info.title.clone(),
        source: source.to_string(),
        installed_at: crate::store::now_rfc3339(),
        path: dir.join(format!("{id}.wasm")),
    };
    std::fs::create_dir_all(dir).map_err(|e| InstallError::Write {
        path: dir.to_path_buf(),
        reason: e.to_string(),
    })?;
    // Write both files under temporary names, then rename: a crash leaves no half plugin.
    let write = |path: &Path, data: &[u8]| -> Result<(), InstallError> {
        let partial = path.with_extension("partial");
        std::fs::write(&partial, data)
            .and_then(|_| std::fs::rename(&partial, path))
            .map_err(|e| InstallError::Write {
                path: path.to_path_buf(),
                reason: e.to_string(),
            })
    };
    let json = serde_json::to_vec_pretty(&record).map_err(|e| InstallError::Write {
        path: dir.to_path_buf(),
        reason: e.to_string(),
    })?;
    write(&dir.join(format!("{id}.json")), &json)?;
    write(&record.path, &bytes)?;
    Ok(Installed::New(record))
}

/// The installed plugins of `dir`, by name then version.
pub fn list(dir: &Path) -> Result<Vec<InstalledPlugin>, InstallError> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(Vec::new());
    };
    let mut plugins = Vec::new();
    for entry in entries.flatten() {
        let path = entry.path();
        if path.extension().is_none_or(|x| x != "json") {
            continue;
        }
        let wasm = path.with_extension("wasm");
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        // A record without its plugin (or unreadable) is not an installed plugin.
        let Ok(mut record) = serde_json::from_str::<InstalledPlugin>(&text) else {
            continue;
        };
        if wasm.is_file() {
            record.path = wasm;
            plugins.push(record);
        }
    }
    plugins.sort_by(|a, b| {
        (&a.name, version_key(&a.version)).cmp(&(&b.name, version_key(&b.version)))
    });
    Ok(plugins)
}

/// The installed plugin `name@version`, or the only installed version of `name`.
pub fn find(dir: &Path, id: &str) -> Result<InstalledPlugin, InstallError> {
    let all = list(dir)?;
    if id.contains('@') {
        return all
            .into_iter()
            .find(|p| p.id() == id)
            .ok_or_else(|| InstallError::NotInstalled(id.to_string()));
    }
    let matching: Vec<InstalledPlugin> = all.into_iter().filter(|p| p.name == id).collect();
    match matching.len() {
        0 => Err(InstallError::NotInstalled(id.to_string())),
        1 => Ok(matching.into_iter().next().expect("one")),
        _ => Err(InstallError::Ambiguous {
            name: id.to_string(),
            versions: matching
                .iter()
                .map(|p| p.version.clone())
                .collect::<Vec<_>>()
                .join(", "),
            first: matching[0].version.clone(),
        }),
    }
}

/// Removes an installed plugin; returns what was removed.
pub fn remove(dir: &Path, id: &str) -> Result<InstalledPlugin, InstallError> {
    let plugin = find(dir, id)?;
    for path in [plugin.path.clone(), plugin.path.with_extension("json")] {
        std::fs::remove_file(&path).map_err(|e| InstallError::Write {
            path: path.clone(),
            reason: e.to_string(),
        })?;
    }
    Ok(plugin)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_and_names() {
        assert!(is_semver("1.2.3") && is_semver("0.1.0-rc.1") && is_semver("10.0.0+build.5"));
        assert!(!is_semver("1.2") && !is_semver("v1.2.3") && !is_semver("1.x.0") && !is_semver(""));
        assert!(version_key("1.10.0") > version_key("1.9.3"));
        assert!(valid_name("score-detector") && valid_name("a_1"));
        assert!(
            !valid_name("Score")
                && !valid_name("-x")
                && !valid_name("a b")
                && !valid_name("a@b")
                && !valid_name("")
        );
    }
}
