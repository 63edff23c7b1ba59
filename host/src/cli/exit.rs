//! Exit codes, decided in one place from whose fault an error is.
//!
//! Library errors say it themselves ([`HasOrigin`]); errors the command line finds in its own
//! arguments are [`InputError`]s. The first classified error in the chain decides, so a
//! context added on the way up never changes the code.

use std::process::ExitCode;

use peerpressure::conformance::ConformanceError;
use peerpressure::import::ImportError;
use peerpressure::install::InstallError;
use peerpressure::report::ReportError;
use peerpressure::rescore::RescoreError;
use peerpressure::scaffold::ScaffoldError;
use peerpressure::scheduler::RunError;
use peerpressure::store::StoreError;
use peerpressure_engine::LoadError;
use peerpressure_types::error::{HasOrigin, Origin};

/// The command did what was asked.
pub const SUCCESS: u8 = 0;
/// The command failed while working (a store write, I/O, a bug in PeerPressure).
pub const FAILURE: u8 = 1;
/// The input was unusable (arguments, a plugin, a plugin set, a model string, a store).
pub const BAD_INPUT: u8 = 2;

/// An error in the command line's own reading of its arguments.
#[derive(Debug)]
pub struct InputError(anyhow::Error);

impl std::fmt::Display for InputError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:#}", self.0)
    }
}

impl std::error::Error for InputError {}

/// Marks an error as the user's input.
pub fn input(e: impl Into<anyhow::Error>) -> anyhow::Error {
    InputError(e.into()).into()
}

/// An input error with this message.
pub fn bad(message: impl std::fmt::Display) -> anyhow::Error {
    input(anyhow::anyhow!("{message}"))
}

/// The origin of one error in a chain, if it is one PeerPressure classifies.
fn origin_of(error: &(dyn std::error::Error + 'static)) -> Option<Origin> {
    if error.is::<InputError>() {
        return Some(Origin::Input);
    }
    macro_rules! classified {
        ($($t:ty),*) => {$(
            if let Some(e) = error.downcast_ref::<$t>() {
                return Some(e.origin());
            }
        )*};
    }
    classified!(
        StoreError,
        ReportError,
        RunError,
        LoadError,
        ImportError,
        InstallError,
        RescoreError,
        ScaffoldError,
        ConformanceError
    );
    None
}

/// The exit code for a failed command. Unclassified errors are failures at work.
pub fn code_for(error: &anyhow::Error) -> u8 {
    match error.chain().find_map(origin_of) {
        Some(Origin::Input) => BAD_INPUT,
        Some(Origin::Work) | None => FAILURE,
    }
}

/// Prints the error chain and gives the exit code.
pub fn report_failure(error: &anyhow::Error) -> ExitCode {
    eprintln!("error: {error:#}");
    ExitCode::from(code_for(error))
}

#[cfg(test)]
mod tests {
    use super::*;
    use anyhow::Context;

    #[test]
    fn the_first_classified_error_decides_and_context_does_not_change_it() {
        let planned: anyhow::Error = RunError::Plan("unknown axis value".into()).into();
        assert_eq!(code_for(&planned.context("failed to plan")), BAD_INPUT);
        let died = anyhow::Error::new(RunError::Task("panicked".into()))
            .context("the run stopped: PeerPressure itself failed");
        assert_eq!(code_for(&died), FAILURE);
        let plain: anyhow::Result<()> = Err(anyhow::anyhow!("disk full"));
        assert_eq!(
            code_for(&plain.context("failed to write").unwrap_err()),
            FAILURE
        );
        assert_eq!(code_for(&bad("no scenario given")), BAD_INPUT);
    }
}
