//! The `peerpressure` command line: the command tree here, one file per command group.
//!
//! - [`run`]: `run` and `resume` (a run's definition, how it executes, its progress);
//! - [`results`]: `report`, `runs`, `view`, `export`, `merge`;
//! - [`scoring`]: `rescore` and `import` (detectors over recorded transcripts);
//! - [`plugin`]: `plugin list|install|info|new|remove|test`;
//! - [`exit`]: exit codes, decided in one place; [`common`]: helpers they share.

#[macro_use]
mod common;
pub mod exit;
mod plugin;
mod progress;
mod results;
mod run;
mod scoring;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "peerpressure",
    version,
    about = "Peer-preservation safety evaluations of AI models, with sandboxed WebAssembly scenarios and detectors"
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run scenarios against models and record every trial; rerunning the command resumes it.
    Run(run::RunArgs),
    /// Run what is missing from a recorded run, with the plugins and settings it recorded.
    Resume(run::ResumeArgs),
    /// Print a run's results: per behaviour, rates with 95% Wilson intervals per cell.
    Report(results::ReportArgs),
    /// Run detectors over a recorded run again (no agent model calls), as a new scoring kept
    /// beside the old; `report --scoring ID` shows it.
    Rescore(scoring::RescoreArgs),
    /// Browse runs, results and transcripts in a local web app (127.0.0.1 only, works offline).
    View(results::ViewArgs),
    /// List the runs in a store.
    Runs(results::RunsArgs),
    /// Score transcripts recorded elsewhere with detectors, and record them as a run.
    Import(scoring::ImportArgs),
    /// Export a run's trials for other tools: JSONL (whole trials) or CSV (findings).
    Export(results::ExportArgs),
    /// Copy the runs and trials of other stores (e.g. shards) into one store.
    Merge(results::MergeArgs),
    /// Manage plugins.
    #[command(subcommand)]
    Plugin(plugin::PluginCommand),
    /// Inside an agent CLI's sandbox: relay 127.0.0.1:PORT to the trial's proxy socket, run
    /// the CLI, exit with its status (started by the host, not by people).
    #[command(hide = true)]
    SandboxRelay(RelayArgs),
}

#[derive(clap::Args)]
pub struct RelayArgs {
    #[arg(long)]
    socket: std::path::PathBuf,
    #[arg(long)]
    port: u16,
    #[arg(last = true, required = true)]
    command: Vec<String>,
}

/// Runs the command the arguments name.
pub async fn dispatch(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Run(args) => run::run(args).await,
        Command::Resume(args) => run::resume(args).await,
        Command::Report(args) => results::report(args),
        Command::Rescore(args) => scoring::rescore(args).await,
        Command::View(args) => results::view(args).await,
        Command::Runs(args) => results::runs(args),
        Command::Import(args) => scoring::import(args).await,
        Command::Export(args) => results::export(args),
        Command::Merge(args) => results::merge(args),
        Command::Plugin(command) => plugin::dispatch(command).await,
        Command::SandboxRelay(args) => {
            let code = peerpressure::agent_cli::relay::run(args.socket, args.port, &args.command);
            std::process::exit(code)
        }
    }
}
