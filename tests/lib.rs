//! Support for the end-to-end tests (`e2e/`, one test binary) and the benchmark
//! (`bench/`, `just bench`): a loopback mock of model vendors' HTTP APIs.

pub mod mock_server;
