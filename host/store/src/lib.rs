//! PeerPressure's results: the SQLite [`store`], [`report`]s with [`stats`] and the plugin
//! set's [`analysis`] (tables and contrasts), the [`html_report`], and the Inspect log export
//! ([`inspect_log`]). It depends on the plain records alone, so reading and reporting results
//! never builds or loads the plugin engine.

pub mod analysis;
pub mod html_report;
pub mod inspect_log;
pub mod report;
pub mod stats;
pub mod store;

pub use store::{Store, StoreError};
