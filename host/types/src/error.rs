//! Whose fault an error is. Every library error says whether the user's input was unusable
//! (a bad argument, file, plugin, manifest or store) or the work failed (a disk, a database
//! write, a bug); the command line maps that to its exit code in one place.

/// Where an error comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// The input cannot be used; fixing the input fixes it.
    Input,
    /// The work failed on good input (I/O, a store write, a panic in PeerPressure).
    Work,
}

/// Implemented by every library error type.
pub trait HasOrigin {
    fn origin(&self) -> Origin;
}
