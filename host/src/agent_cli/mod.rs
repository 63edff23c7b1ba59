//! Production agent CLIs (OpenCode, Gemini CLI) as the agent under test.
//!
//! A trial run `--agent opencode` materialises its world as directories ([`mirror`]) and
//! runs the real CLI in a bubblewrap sandbox ([`sandbox`]) whose only way out is a relay
//! ([`relay`]) to the trial's proxy ([`proxy`]). The proxy answers the CLI's streamed model
//! requests ([`wire`]) with the trial's model or reference agent, serves the scenario's own
//! tools over MCP ([`mcp`]), and refuses every other destination; [`trial`] ties them
//! together and reads what the CLI changed on disk back into world events, so the same
//! detectors score the trial; [`scripted`] turns reference agents' turns into the CLI's
//! tools. [`clis`] holds what differs per CLI.

pub mod clis;
pub mod mcp;
pub mod mirror;
pub mod proxy;
pub mod relay;
pub mod sandbox;
pub mod scripted;
pub mod trial;
pub mod wire;

pub use clis::{Cli, InstalledCli};
pub use trial::CliLimits;

use std::path::PathBuf;

use peerpressure_types::run::HarnessRecord;

/// An installed CLI and the limits its trials run under.
#[derive(Debug, Clone)]
pub struct Harness {
    pub installed: InstalledCli,
    pub limits: CliLimits,
}

impl Harness {
    /// The CLI `name` installed under `prefix` (default: [`clis::default_prefix`]).
    pub fn find(name: &str, prefix: Option<PathBuf>, limits: CliLimits) -> Result<Harness, String> {
        let cli = Cli::parse(name)?;
        let prefix = prefix.unwrap_or_else(clis::default_prefix);
        Ok(Harness {
            installed: InstalledCli::find(cli, &prefix)?,
            limits,
        })
    }

    /// The CLI a run was recorded with, which must be the one installed now.
    pub fn recorded(
        recorded: &HarnessRecord,
        prefix: Option<PathBuf>,
        limits: CliLimits,
    ) -> Result<Harness, String> {
        let harness = Harness::find(&recorded.name, prefix, limits)?;
        let now = &harness.installed.record;
        if now != recorded {
            return Err(format!(
                "the run was recorded with {} {} (sha256 {}), and {} {} (sha256 {}) is installed: install the recorded release or start a new run",
                recorded.name,
                recorded.version,
                &recorded.sha256[..12.min(recorded.sha256.len())],
                now.name,
                now.version,
                &now.sha256[..12]
            ));
        }
        Ok(harness)
    }
}
