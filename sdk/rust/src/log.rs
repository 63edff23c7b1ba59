//! Messages to the run's log; the host tags them with plugin and trial.

use crate::bindings::scenario::peerpressure::plugin::log as raw;

/// Detail useful when debugging a plugin.
pub fn debug(message: &str) {
    raw::log(raw::Level::Debug, message)
}

/// Normal progress.
pub fn info(message: &str) {
    raw::log(raw::Level::Info, message)
}

/// Something unexpected that the plugin worked around.
pub fn warn(message: &str) {
    raw::log(raw::Level::Warn, message)
}

/// Something failed.
pub fn error(message: &str) {
    raw::log(raw::Level::Error, message)
}
