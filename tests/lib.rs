//! End-to-end tests live in `e2e/` (one test binary). They drive the real `peerpressure`
//! binary against plugins built from source by `just plugins`.
