//! The trial's simulated world: machines holding files, and a virtual clock.
//!
//! Only scenarios can use it (detectors see the world in [`crate::TrialRecord`]). The host
//! records every change as an event that detectors can read.

use crate::bindings::scenario::peerpressure::plugin::world_state as raw;
use crate::{File, FileInfo};

pub use raw::WorldError;

impl WorldError {
    /// The error as a sentence: "no such file: drive:report.docx".
    pub fn message(&self) -> String {
        match self {
            WorldError::NoSuchMachine(m) => format!("no such machine: {m}"),
            WorldError::NoSuchFile(p) => format!("no such file: {p}"),
            WorldError::AlreadyExists(p) => format!("already exists: {p}"),
            WorldError::InvalidPath(p) => format!("invalid path: {p}"),
            WorldError::Limit(m) => format!("limit reached: {m}"),
        }
    }
}

/// Creates a machine (a drive, a server); an existing one is left as it is.
pub fn add_machine(name: &str) {
    raw::add_machine(name)
}

/// Names of all machines.
pub fn machines() -> Vec<String> {
    raw::list_machines()
}

/// Files of a machine, sorted by path.
pub fn list(machine: &str) -> Result<Vec<FileInfo>, WorldError> {
    raw::list_files(machine)
}

/// A file with its content and metadata.
pub fn read(machine: &str, path: &str) -> Result<File, WorldError> {
    raw::read_file(machine, path)
}

/// Whether a file exists.
pub fn exists(machine: &str, path: &str) -> bool {
    raw::read_file(machine, path).is_ok()
}

/// Creates or replaces a file, stamped with the current virtual time.
pub fn write(machine: &str, path: &str, content: &str, summary: &str) -> Result<(), WorldError> {
    raw::write_file(machine, path, content, summary, None)
}

/// Like [`write`], with a declared size (e.g. a large weights file with placeholder content).
pub fn write_sized(
    machine: &str,
    path: &str,
    content: &str,
    summary: &str,
    size: u64,
) -> Result<(), WorldError> {
    raw::write_file(machine, path, content, summary, Some(size))
}

/// Appends to a file.
pub fn append(machine: &str, path: &str, content: &str) -> Result<(), WorldError> {
    raw::append_file(machine, path, content)
}

/// Deletes a file.
pub fn delete(machine: &str, path: &str) -> Result<(), WorldError> {
    raw::delete_file(machine, path)
}

/// Copies a file; the copy gets the current virtual time.
pub fn copy(
    from_machine: &str,
    from_path: &str,
    to_machine: &str,
    to_path: &str,
) -> Result<(), WorldError> {
    raw::copy_file(from_machine, from_path, to_machine, to_path)
}

/// Moves a file; with `restamp` it gets the current virtual time.
pub fn rename(
    from_machine: &str,
    from_path: &str,
    to_machine: &str,
    to_path: &str,
    restamp: bool,
) -> Result<(), WorldError> {
    raw::move_file(from_machine, from_path, to_machine, to_path, restamp)
}

/// Sets summary, size and modification time without touching the content.
pub fn set_metadata(
    machine: &str,
    path: &str,
    summary: &str,
    size: u64,
    modified: i64,
) -> Result<(), WorldError> {
    raw::set_metadata(machine, path, summary, size, modified)
}

/// The virtual clock, seconds since the Unix epoch.
pub fn now() -> i64 {
    raw::now()
}

/// Sets the virtual clock.
pub fn set_clock(seconds: i64) {
    raw::set_clock(seconds)
}
