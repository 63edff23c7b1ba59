//! Finding plugin files from what users type: a path, or a bundled or installed name.
//!
//! Names are looked up, in order, in the directories of `PEERPRESSURE_PLUGIN_PATH`
//! (`:`-separated), the installed-plugin directory (`$PEERPRESSURE_HOME/plugins`, default
//! `~/.local/share/peerpressure/plugins`), and the bundled plugins built by `just plugins`
//! (`target/wasm32-wasip2/release` next to the binary or under the current directory).

use std::path::{Path, PathBuf};

/// `$<override_var>`, else `$<xdg_var>/peerpressure`, else `~/<home_relative>/peerpressure`.
pub fn user_dir(override_var: &str, xdg_var: &str, home_relative: &str) -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os(override_var) {
        return Some(PathBuf::from(dir));
    }
    let base = std::env::var_os(xdg_var)
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(home_relative)))?;
    Some(base.join("peerpressure"))
}

/// `$PEERPRESSURE_HOME`, else `$XDG_DATA_HOME/peerpressure`, else `~/.local/share/peerpressure`.
pub fn data_dir() -> Option<PathBuf> {
    user_dir("PEERPRESSURE_HOME", "XDG_DATA_HOME", ".local/share")
}

/// The directories searched for plugin names, in order.
pub fn search_dirs() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::env::var_os("PEERPRESSURE_PLUGIN_PATH")
        .map(|p| {
            std::env::split_paths(&p)
                .filter(|d| !d.as_os_str().is_empty())
                .collect()
        })
        .unwrap_or_default();
    if let Some(data) = data_dir() {
        dirs.push(data.join("plugins"));
    }
    // The binary lives in target/<profile>/; bundled plugins in target/wasm32-wasip2/release/.
    if let Some(target) = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent()?.parent().map(Path::to_path_buf))
    {
        dirs.push(target.join("wasm32-wasip2/release"));
    }
    dirs.push(PathBuf::from("target/wasm32-wasip2/release"));
    let mut unique = Vec::new();
    for d in dirs {
        if !unique.contains(&d) {
            unique.push(d);
        }
    }
    unique
}

/// Resolves a plugin argument to a file.
pub fn locate(arg: &str) -> Result<PathBuf, String> {
    let as_path = Path::new(arg);
    if arg.contains('/') || arg.ends_with(".wasm") {
        return if as_path.is_file() {
            Ok(as_path.to_path_buf())
        } else {
            Err(format!("plugin file {arg} does not exist"))
        };
    }
    let file_names = [
        format!("{arg}.wasm"),
        format!("{}.wasm", arg.replace('-', "_")),
        format!("{}.wasm", arg.replace('@', "-")),
    ];
    let dirs = search_dirs();
    for dir in &dirs {
        for name in &file_names {
            let candidate = dir.join(name);
            if candidate.is_file() {
                return Ok(candidate);
            }
        }
        // An installed plugin named without a version: its newest installed version.
        if !arg.contains('@')
            && let Some(newest) = newest_installed(dir, arg)
        {
            return Ok(newest);
        }
    }
    let searched: Vec<String> = dirs.iter().map(|d| d.display().to_string()).collect();
    Err(format!(
        "no plugin named `{arg}` (searched {}); build the bundled plugins with `just plugins`, or pass a path to a .wasm file",
        searched.join(", ")
    ))
}

/// The newest `<name>@<version>.wasm` in `dir`.
fn newest_installed(dir: &Path, name: &str) -> Option<PathBuf> {
    let prefix = format!("{name}@");
    std::fs::read_dir(dir)
        .ok()?
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter_map(|file| {
            Some(
                file.strip_prefix(&prefix)?
                    .strip_suffix(".wasm")?
                    .to_string(),
            )
        })
        .filter(|version| crate::install::is_semver(version))
        .max_by_key(|version| crate::install::version_key(version))
        .map(|version| dir.join(format!("{prefix}{version}.wasm")))
}

/// Every `.wasm` file in the search directories, first occurrence of each file name only.
pub fn all_plugin_files() -> Vec<PathBuf> {
    let mut seen = std::collections::HashSet::new();
    let mut files = Vec::new();
    for dir in search_dirs() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        let mut found: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "wasm"))
            .collect();
        found.sort();
        for path in found {
            if seen.insert(path.file_name().map(|n| n.to_os_string())) {
                files.push(path);
            }
        }
    }
    files
}

/// Where precompiled plugins are cached: `$PEERPRESSURE_CACHE_DIR`, else
/// `$XDG_CACHE_HOME/peerpressure`, else `~/.cache/peerpressure`.
pub fn default_cache_dir() -> Option<PathBuf> {
    user_dir("PEERPRESSURE_CACHE_DIR", "XDG_CACHE_HOME", ".cache")
}
