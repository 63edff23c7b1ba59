//! End-to-end tests: the real `peerpressure` binary, real plugins built from source.
//!
//! Run with `just test`, which builds the host and the plugins first.

mod harness;
use peerpressure_tests::mock_server;

mod agents;
mod authoring;
mod cli;
mod conformance;
mod engine;
mod html_report;
mod import;
mod inspect_interop;
mod local_servers;
mod mediation;
mod paper;
mod plugins;
mod provider_faults;
mod provider_runs;
mod providers;
mod reading;
mod reliability;
mod rescore;
mod sandbox;
mod sdk_parity;
mod tampering;
mod validity;
mod viewer;
