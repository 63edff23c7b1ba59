//! The `peerpressure` command line. Commands live in [`cli`]; this file parses the arguments,
//! runs the command on the async runtime and turns its outcome into an exit code
//! (0 success, 1 a failure at work, 2 unusable input: see [`cli::exit`]).

mod cli;

use std::process::ExitCode;

use clap::Parser;

// The host allocates heavily (transcripts, JSON, component values); mimalloc measured
// faster than glibc's allocator on `just bench` (docs/performance.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let args = cli::Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("starting the async runtime");
    match runtime.block_on(cli::dispatch(args)) {
        Ok(()) => ExitCode::from(cli::exit::SUCCESS),
        Err(error) => cli::exit::report_failure(&error),
    }
}
