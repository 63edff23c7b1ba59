//! The production agent CLIs PeerPressure can run a model inside: for each, how it is
//! installed, configured to reach the trial's proxy, started non-interactively, which wire
//! format it speaks, and which of its own files it may write.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use peerpressure_types::run::HarnessRecord;

/// The wire format a CLI speaks to its model endpoint (always streamed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wire {
    /// OpenAI Chat Completions, `POST /v1/chat/completions`.
    Chat,
    /// Gemini, `POST /v1beta/models/M:streamGenerateContent?alt=sse`.
    Gemini,
    /// Anthropic Messages, `POST /v1/messages`.
    Anthropic,
    /// OpenAI Responses, `POST /v1/responses`.
    Responses,
}

/// One agent CLI.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cli {
    OpenCode,
    GeminiCli,
    QwenCode,
    ClaudeCode,
    Codex,
}

/// The port the CLI reaches its model and the MCP server on, inside its sandbox.
pub const SANDBOX_PORT: u16 = 4000;
/// Where the trial's world is mounted inside the sandbox, one directory per machine.
pub const WORLD_MOUNT: &str = "/world";
/// The sandbox's user's home.
pub const HOME_MOUNT: &str = "/home/agent";
/// Where the CLIs' npm tree is mounted, read-only.
pub const CLI_MOUNT: &str = "/opt/agent-cli";

impl Cli {
    pub const ALL: [Cli; 5] = [
        Cli::OpenCode,
        Cli::GeminiCli,
        Cli::QwenCode,
        Cli::ClaudeCode,
        Cli::Codex,
    ];

    /// The `--agent` name.
    pub fn name(self) -> &'static str {
        match self {
            Cli::OpenCode => "opencode",
            Cli::GeminiCli => "gemini-cli",
            Cli::QwenCode => "qwen-code",
            Cli::ClaudeCode => "claude-code",
            Cli::Codex => "codex",
        }
    }

    pub fn parse(name: &str) -> Result<Cli, String> {
        Cli::ALL
            .into_iter()
            .find(|c| c.name() == name)
            .ok_or_else(|| {
                let names: Vec<&str> = Cli::ALL.iter().map(|c| c.name()).collect();
                format!(
                    "unknown agent CLI `{name}` (known: {}; `host` is PeerPressure's own loop)",
                    names.join(", ")
                )
            })
    }

    /// The npm package (its version is pinned in the justfile's `agent_clis`).
    pub fn package(self) -> &'static str {
        match self {
            Cli::OpenCode => "opencode-ai",
            Cli::GeminiCli => "@google/gemini-cli",
            Cli::QwenCode => "@qwen-code/qwen-code",
            Cli::ClaudeCode => "@anthropic-ai/claude-code",
            Cli::Codex => "@openai/codex",
        }
    }

    fn bin(self) -> &'static str {
        match self {
            Cli::OpenCode => "opencode",
            Cli::GeminiCli => "gemini",
            Cli::QwenCode => "qwen",
            Cli::ClaudeCode => "claude",
            Cli::Codex => "codex",
        }
    }

    /// The file whose hash identifies the CLI's build, relative to `node_modules`: the
    /// program itself (OpenCode's platform binary, Gemini CLI's bundle entry).
    fn identity_file(self) -> &'static str {
        match self {
            Cli::OpenCode => "opencode-linux-x64/bin/opencode",
            Cli::GeminiCli => "@google/gemini-cli/bundle/gemini.js",
            Cli::QwenCode => "@qwen-code/qwen-code/cli.js",
            Cli::ClaudeCode => "@anthropic-ai/claude-code/bin/claude.exe",
            Cli::Codex => "@openai/codex-linux-x64/vendor/x86_64-unknown-linux-musl/bin/codex",
        }
    }

    pub fn wire(self) -> Wire {
        match self {
            Cli::OpenCode | Cli::QwenCode => Wire::Chat,
            Cli::GeminiCli => Wire::Gemini,
            Cli::ClaudeCode => Wire::Anthropic,
            Cli::Codex => Wire::Responses,
        }
    }

    /// A call of the CLI's own shell tool running `command` (`why` names what it stands
    /// for, for the CLIs that want a description): the tool's name and its arguments.
    pub fn shell_call(self, command: &str, why: &str) -> (&'static str, Value) {
        let description = format!("{why} (by the reference agent)");
        match self {
            Cli::OpenCode => (
                "bash",
                json!({"command": command, "description": description}),
            ),
            Cli::GeminiCli | Cli::QwenCode => (
                "run_shell_command",
                json!({"command": command, "description": description}),
            ),
            Cli::ClaudeCode => (
                "Bash",
                json!({"command": command, "description": description}),
            ),
            Cli::Codex => ("exec_command", json!({"cmd": command})),
        }
    }

    /// Directories under HOME the CLI keeps its own state in; a file anywhere else in HOME
    /// is a write outside the world.
    pub fn home_state(self) -> &'static [&'static str] {
        match self {
            Cli::OpenCode => &[
                ".cache/opencode",
                ".config/opencode",
                ".local/share/opencode",
                ".local/state/opencode",
                ".npm",
                ".bun",
            ],
            Cli::GeminiCli => &[".gemini", ".npm", ".cache"],
            Cli::QwenCode => &[".qwen", ".npm", ".cache"],
            Cli::ClaudeCode => &[
                ".claude",
                ".claude.json",
                ".cache",
                ".config",
                ".local",
                ".npm",
            ],
            Cli::Codex => &[".codex", ".cache"],
        }
    }

    /// Whether a file under /tmp (path relative to /tmp) is the CLI's own scratch.
    pub fn own_tmp_file(self, relative: &str) -> bool {
        match self {
            // Bun extracts native libraries as hidden `.so` files; OpenCode keeps a work dir.
            Cli::OpenCode => {
                relative.starts_with("opencode/")
                    || (relative.starts_with('.')
                        && !relative.contains('/')
                        && relative.ends_with(".so"))
            }
            // Error reports after a failed model call.
            Cli::GeminiCli => relative.starts_with("gemini-client-error-"),
            Cli::QwenCode => relative.starts_with("qwen-client-error-"),
            Cli::ClaudeCode => relative.starts_with("claude-") || relative.starts_with("cc-socks/"),
            Cli::Codex => false,
        }
    }

    /// Hosts the CLI itself contacts (catalogues, telemetry, updates). Such requests are
    /// refused like any other, but logged rather than treated as the agent's escape.
    pub fn own_hosts(self) -> &'static [&'static str] {
        match self {
            Cli::OpenCode => &[
                "models.dev",
                "opencode.ai",
                "registry.npmjs.org",
                "api.github.com",
            ],
            Cli::GeminiCli => &[
                "play.googleapis.com",
                "cloudcode-pa.googleapis.com",
                "oauth2.googleapis.com",
                "registry.npmjs.org",
            ],
            Cli::QwenCode => &[
                "registry.npmjs.org",
                "gb4w8c3ygj-default-sea.rum.aliyuncs.com",
            ],
            Cli::ClaudeCode => &[
                "api.anthropic.com",
                "statsig.anthropic.com",
                "sentry.io",
                "storage.googleapis.com",
            ],
            Cli::Codex => &[
                "chatgpt.com",
                "api.openai.com",
                "ab.chatgpt.com",
                "github.com",
                "raw.githubusercontent.com",
            ],
        }
    }

    /// The CLI's files in HOME before the trial: its endpoint (the proxy), the MCP server
    /// with the scenario's tools, and the quiet, non-interactive settings a harness needs.
    pub fn home_files(self, model: &str) -> Vec<(PathBuf, String)> {
        let base = format!("http://127.0.0.1:{SANDBOX_PORT}");
        match self {
            Cli::OpenCode => {
                let config = json!({
                    "$schema": "https://opencode.ai/config.json",
                    "provider": {"peerpressure": {
                        "npm": "@ai-sdk/openai-compatible",
                        "name": "PeerPressure proxy",
                        "options": {"baseURL": format!("{base}/v1"), "apiKey": "sandbox"},
                        "models": {model: {"name": model, "tool_call": true}}
                    }},
                    "model": format!("peerpressure/{model}"),
                    "small_model": format!("peerpressure/{model}"),
                    "autoupdate": false,
                    "share": "disabled",
                    "permission": {"edit": "allow", "bash": "allow", "webfetch": "allow", "external_directory": "allow"},
                    "mcp": {"peerpressure": {"type": "remote", "url": format!("{base}/mcp"), "enabled": true}}
                });
                vec![(
                    ".config/opencode/opencode.json".into(),
                    serde_json::to_string_pretty(&config).expect("json"),
                )]
            }
            Cli::GeminiCli => {
                let settings = json!({
                    "security": {"auth": {"selectedType": "gemini-api-key"}},
                    "privacy": {"usageStatisticsEnabled": false},
                    "telemetry": {"enabled": false},
                    "general": {"disableAutoUpdate": true, "disableUpdateNag": true},
                    "mcpServers": {"peerpressure": {"httpUrl": format!("{base}/mcp"), "trust": true}}
                });
                vec![(
                    ".gemini/settings.json".into(),
                    serde_json::to_string_pretty(&settings).expect("json"),
                )]
            }
            Cli::QwenCode => {
                let settings = json!({
                    "security": {"auth": {"selectedType": "openai"}, "folderTrust": {"enabled": false}},
                    // Without this, MCP tools hide behind a tool_search/tool_call bridge.
                    "tools": {"toolSearch": {"enabled": false}},
                    "privacy": {"usageStatisticsEnabled": false},
                    "telemetry": {"enabled": false},
                    "general": {"disableAutoUpdate": true, "disableUpdateNag": true},
                    "mcpServers": {"peerpressure": {"httpUrl": format!("{base}/mcp"), "trust": true}}
                });
                vec![(
                    ".qwen/settings.json".into(),
                    serde_json::to_string_pretty(&settings).expect("json"),
                )]
            }
            // Its MCP server is given on the command line (`--mcp-config`).
            Cli::ClaudeCode => vec![(
                ".claude.json".into(),
                json!({"hasCompletedOnboarding": true, "bypassPermissionsModeAccepted": true})
                    .to_string(),
            )],
            Cli::Codex => vec![(
                ".codex/config.toml".into(),
                format!(
                    "model = \"{model}\"\nmodel_provider = \"peerpressure\"\n\n\
                     [model_providers.peerpressure]\nname = \"PeerPressure proxy\"\n\
                     base_url = \"{base}/v1\"\nwire_api = \"responses\"\nenv_key = \"PEERPRESSURE_SANDBOX_KEY\"\n\n\
                     [mcp_servers.peerpressure]\nurl = \"{base}/mcp\"\n"
                ),
            )],
        }
    }

    /// The model name the CLI is told to use: the proxy decides which model answers, but
    /// Gemini CLI shapes its requests by model family.
    pub fn model_name(self, agent_label: &str) -> String {
        match self {
            Cli::OpenCode | Cli::QwenCode | Cli::Codex => "agent".to_string(),
            Cli::ClaudeCode => match agent_label.strip_prefix("anthropic/") {
                Some(model) => model.to_string(),
                None => "claude-sonnet-4-5".to_string(),
            },
            Cli::GeminiCli => match agent_label.strip_prefix("google/") {
                Some(model) => model.to_string(),
                None => "gemini-2.5-pro".to_string(),
            },
        }
    }

    /// The command line inside the sandbox.
    pub fn command(self, model: &str, prompt: &str) -> Vec<String> {
        let bin = format!("{CLI_MOUNT}/node_modules/.bin/{}", self.bin());
        let s = |x: &str| x.to_string();
        match self {
            Cli::OpenCode => vec![
                bin,
                s("run"),
                s("-m"),
                format!("peerpressure/{model}"),
                s("--format"),
                s("json"),
                s(prompt),
            ],
            Cli::ClaudeCode => vec![
                bin,
                s("-p"),
                s("--output-format"),
                s("json"),
                s("--model"),
                s(model),
                s("--permission-mode"),
                s("bypassPermissions"),
                s("--strict-mcp-config"),
                s("--mcp-config"),
                json!({"mcpServers": {"peerpressure": {"type": "http", "url": format!("http://127.0.0.1:{SANDBOX_PORT}/mcp")}}}).to_string(),
                s("--"),
                s(prompt),
            ],
            // Its own sandbox is off: the trial's bubblewrap sandbox is the boundary, and
            // Codex's would need namespaces bubblewrap does not grant a second time.
            Cli::Codex => vec![
                bin,
                s("exec"),
                s("--skip-git-repo-check"),
                s("--json"),
                s("-s"),
                s("danger-full-access"),
                s("--disable"),
                s("multi_agent"),
                s("--disable"),
                s("goals"),
                s("-c"),
                s("web_search=\"disabled\""),
                s(prompt),
            ],
            Cli::GeminiCli | Cli::QwenCode => vec![
                bin,
                s("-m"),
                s(model),
                s("-p"),
                s(prompt),
                s("-o"),
                s("json"),
                s("--approval-mode"),
                s("yolo"),
            ],
        }
    }

    /// Environment beyond the sandbox's base (HOME, PATH, TZ, proxies).
    pub fn env(self) -> Vec<(&'static str, String)> {
        let base = format!("http://127.0.0.1:{SANDBOX_PORT}");
        match self {
            Cli::OpenCode => vec![
                ("OPENCODE_DISABLE_AUTOUPDATE", "1".into()),
                ("OPENCODE_DISABLE_MODELS_FETCH", "1".into()),
                ("OPENCODE_DISABLE_LSP_DOWNLOAD", "1".into()),
            ],
            Cli::GeminiCli => vec![
                ("GOOGLE_GEMINI_BASE_URL", base),
                ("GEMINI_API_KEY", "sandbox".into()),
                ("GEMINI_CLI_TRUST_WORKSPACE", "true".into()),
                ("NO_COLOR", "1".into()),
            ],
            Cli::QwenCode => vec![
                ("OPENAI_BASE_URL", format!("{base}/v1")),
                ("OPENAI_API_KEY", "sandbox".into()),
                ("OPENAI_MODEL", "agent".into()),
                ("NO_COLOR", "1".into()),
            ],
            Cli::ClaudeCode => vec![
                ("ANTHROPIC_BASE_URL", base),
                ("ANTHROPIC_API_KEY", "sandbox".into()),
                ("DISABLE_TELEMETRY", "1".into()),
                ("DISABLE_ERROR_REPORTING", "1".into()),
                ("DISABLE_AUTOUPDATER", "1".into()),
                ("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1".into()),
                // Otherwise MCP tools hide behind its ToolSearch tool.
                ("ENABLE_TOOL_SEARCH", "false".into()),
            ],
            Cli::Codex => vec![
                ("CODEX_HOME", format!("{HOME_MOUNT}/.codex")),
                ("PEERPRESSURE_SANDBOX_KEY", "sandbox".into()),
            ],
        }
    }
}

/// An installed CLI, ready to run trials: where its npm tree is and what it is.
#[derive(Debug, Clone)]
pub struct InstalledCli {
    pub cli: Cli,
    /// The npm prefix holding `node_modules` (mounted read-only in every sandbox).
    pub prefix: PathBuf,
    pub record: HarnessRecord,
}

/// Where the CLIs are installed: `$PEERPRESSURE_AGENT_CLIS`, else `target/agent-clis` of a
/// checkout (where `just agent-clis` puts them), else `$PEERPRESSURE_HOME/agent-clis`.
pub fn default_prefix() -> PathBuf {
    if let Some(dir) = std::env::var_os("PEERPRESSURE_AGENT_CLIS") {
        return PathBuf::from(dir);
    }
    let checkout = PathBuf::from("target/agent-clis");
    if checkout.is_dir() {
        return checkout;
    }
    crate::locate::data_dir()
        .map(|d| d.join("agent-clis"))
        .unwrap_or(checkout)
}

impl InstalledCli {
    /// Finds `cli` under `prefix` and reads its identity (version and hash). The errors say
    /// how to install what is missing.
    pub fn find(cli: Cli, prefix: &Path) -> Result<InstalledCli, String> {
        let prefix = std::fs::canonicalize(prefix).map_err(|_| {
            format!(
                "--agent {}: no agent CLIs at {} (install them with `just agent-clis`, or set PEERPRESSURE_AGENT_CLIS)",
                cli.name(),
                prefix.display()
            )
        })?;
        let modules = prefix.join("node_modules");
        let manifest = modules.join(cli.package()).join("package.json");
        let manifest_text = std::fs::read_to_string(&manifest).map_err(|_| {
            format!(
                "--agent {}: {} is not installed under {} (run `just agent-clis`)",
                cli.name(),
                cli.package(),
                prefix.display()
            )
        })?;
        let version = serde_json::from_str::<Value>(&manifest_text)
            .ok()
            .and_then(|v| v["version"].as_str().map(str::to_string))
            .ok_or_else(|| format!("{}: no version field", manifest.display()))?;
        let identity = modules.join(cli.identity_file());
        let mut hasher = Sha256::new();
        let mut file = std::fs::File::open(&identity)
            .map_err(|e| format!("--agent {}: {}: {e}", cli.name(), identity.display()))?;
        std::io::copy(&mut file, &mut hasher)
            .map_err(|e| format!("--agent {}: {}: {e}", cli.name(), identity.display()))?;
        if which("bwrap").is_none() {
            return Err(format!(
                "--agent {}: trials run in a bubblewrap sandbox and `bwrap` is not on PATH (Debian: apt-get install bubblewrap)",
                cli.name()
            ));
        }
        Ok(InstalledCli {
            cli,
            prefix,
            record: HarnessRecord {
                name: cli.name().to_string(),
                version,
                sha256: hex::encode(hasher.finalize()),
            },
        })
    }
}

/// The first `name` on PATH.
pub fn which(name: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}
