//! The limits every plugin instance runs under, and where compiled plugins are cached.

use std::path::PathBuf;
use std::time::Duration;

use crate::world::WorldLimits;

/// Limits applied to every plugin instance.
#[derive(Debug, Clone)]
pub struct SandboxLimits {
    /// Linear memory per instance.
    pub memory_bytes: usize,
    /// Wall-clock time for one call into a plugin (time spent in judge calls is not counted).
    pub call_timeout: Duration,
    /// Optional instruction budget per call (deterministic, unlike the timeout).
    pub fuel: Option<u64>,
    /// Bytes of stdout and of stderr kept per instance.
    pub output_bytes: usize,
    /// Log lines kept per instance.
    pub max_log_lines: usize,
    pub world: WorldLimits,
}

impl Default for SandboxLimits {
    fn default() -> Self {
        SandboxLimits {
            memory_bytes: 256 << 20,
            call_timeout: Duration::from_secs(30),
            fuel: None,
            output_bytes: 256 << 10,
            max_log_lines: 1_000,
            world: WorldLimits::default(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct RuntimeConfig {
    pub limits: SandboxLimits,
    /// Where precompiled components are kept; `None` compiles every time.
    pub cache_dir: Option<PathBuf>,
    /// Instances that may be alive at once (sizes the pooling allocator).
    pub max_instances: u32,
    pub pooling: bool,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        RuntimeConfig {
            limits: SandboxLimits::default(),
            cache_dir: None,
            max_instances: 512,
            pooling: true,
        }
    }
}
