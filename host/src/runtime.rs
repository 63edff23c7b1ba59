//! The one module that owns wasmtime: the engine, limits, the sandbox, compilation (with an
//! on-disk cache of precompiled components) and instantiation of plugins.
//!
//! Every plugin call runs under a wall-clock deadline (epoch interruption), a memory cap, and
//! optionally a fuel budget. A trap becomes a [`PluginError`] naming the plugin, the phase and
//! the limit; the instance is then dead and is dropped by its owner. WASI is deny-by-default:
//! no files, sockets, environment or arguments; stdout and stderr are captured; the clocks are
//! fixed and random numbers come from the trial's seed, so a trial replays exactly.

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use rand::SeedableRng;
use rand::rngs::StdRng;
use sha2::{Digest, Sha256};
use wasmtime::component::{Component, HasSelf, Linker, ResourceTable};
use wasmtime::{
    Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Store, Trap,
    UpdateDeadline,
};
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{HostMonotonicClock, HostWallClock, WasiCtx, WasiCtxView, WasiView};

use crate::bindings::detector::{DetectorPlugin, DetectorPluginPre};
use crate::bindings::scenario::{ScenarioPlugin, ScenarioPluginPre};
use crate::bindings::{
    self, Finding, JudgeRequest, LogLevel, Message, PluginInfo, TrialRecord, TrialSetup, TrialSpec,
};
use crate::model::Judge;
use crate::world::{World, WorldLimits};

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
            cache_dir: default_cache_dir(),
            max_instances: 512,
            pooling: true,
        }
    }
}

/// `$PEERPRESSURE_CACHE_DIR`, else `$XDG_CACHE_HOME/peerpressure`, else `~/.cache/peerpressure`.
pub fn default_cache_dir() -> Option<PathBuf> {
    crate::locate::user_dir("PEERPRESSURE_CACHE_DIR", "XDG_CACHE_HOME", ".cache")
}

/// A plugin failed: trapped, hit a limit, or could not be instantiated.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{plugin} {phase}: {reason}")]
pub struct PluginError {
    /// `scenario tampering@0.1.0`.
    pub plugin: String,
    /// `setup`, `call-tool`, `detect`...
    pub phase: &'static str,
    pub reason: String,
}

/// Why a plugin file cannot be used. Nothing is instantiated before these checks pass.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("cannot read plugin {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not a WebAssembly file")]
    NotWasm { path: PathBuf },
    #[error(
        "{path} is a core WebAssembly module, not a component: build it for the wasm32-wasip2 target (or wrap it with `wasm-tools component new`)"
    )]
    CoreModule { path: PathBuf },
    #[error("{path} is not a valid WebAssembly component: {reason}")]
    Invalid { path: PathBuf, reason: String },
    #[error("{path} targets {found}, but this host supports peerpressure:plugin@{supported}")]
    UnsupportedVersion {
        path: PathBuf,
        found: String,
        supported: &'static str,
    },
    #[error(
        "{path} is not a PeerPressure plugin: it exports neither {scenario} nor {detector} (its exports: {exports})"
    )]
    WrongWorld {
        path: PathBuf,
        scenario: &'static str,
        detector: &'static str,
        exports: String,
    },
    #[error("{path} needs `{import}`, which the PeerPressure sandbox does not provide")]
    UnsupportedImport { path: PathBuf, import: String },
    #[error("{path}: {source}")]
    Describe { path: PathBuf, source: PluginError },
    #[error("{path}: describe() returned an unusable description: {reason}")]
    BadDescription { path: PathBuf, reason: String },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PluginKind {
    Scenario,
    Detector,
}

impl PluginKind {
    pub fn as_str(self) -> &'static str {
        match self {
            PluginKind::Scenario => "scenario",
            PluginKind::Detector => "detector",
        }
    }
}

enum PluginPre {
    Scenario(ScenarioPluginPre<PluginState>),
    Detector(DetectorPluginPre<PluginState>),
}

/// A compiled, checked plugin, ready to instantiate once per trial.
pub struct LoadedPlugin {
    pub kind: PluginKind,
    pub info: PluginInfo,
    pub sha256: String,
    pub path: PathBuf,
    pub size: u64,
    pub interface_version: &'static str,
    pre: PluginPre,
}

impl LoadedPlugin {
    /// `scenario tampering@0.1.0`: how errors name the plugin.
    pub fn label(&self) -> String {
        format!("{} {}", self.kind.as_str(), self.id())
    }

    /// `tampering@0.1.0`.
    pub fn id(&self) -> String {
        format!("{}@{}", self.info.name, self.info.version)
    }
}

/// A captured log line from a plugin.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct LogLine {
    pub level: String,
    pub message: String,
}

/// What a plugin printed and logged during one trial.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct PluginOutput {
    pub plugin: String,
    pub stdout: String,
    pub stderr: String,
    pub logs: Vec<LogLine>,
}

struct MemoryLimiter {
    max: usize,
    exceeded: bool,
}

impl wasmtime::ResourceLimiter for MemoryLimiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.max {
            self.exceeded = true;
            return Err(wasmtime::Error::msg("memory limit reached"));
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= 1_000_000)
    }
}

/// The data of one plugin instance's store.
pub struct PluginState {
    wasi: WasiCtx,
    table: ResourceTable,
    limiter: MemoryLimiter,
    deadline: Instant,
    timed_out: bool,
    /// The trial's world (scenarios change it; detectors get an empty one).
    pub world: World,
    logs: Vec<LogLine>,
    max_log_lines: usize,
    judge: Option<Arc<dyn Judge>>,
    stdout: MemoryOutputPipe,
    stderr: MemoryOutputPipe,
}

impl WasiView for PluginState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// Wall clock frozen at the trial's virtual start, so plugins cannot observe real time.
struct FixedWallClock(Duration);

impl HostWallClock for FixedWallClock {
    fn resolution(&self) -> Duration {
        Duration::from_secs(1)
    }
    fn now(&self) -> Duration {
        self.0
    }
}

/// Monotonic clock that advances one microsecond per reading: deterministic, never stuck.
struct SteppingClock(std::sync::atomic::AtomicU64);

impl HostMonotonicClock for SteppingClock {
    fn resolution(&self) -> u64 {
        1_000
    }
    fn now(&self) -> u64 {
        self.0.fetch_add(1_000, Ordering::Relaxed)
    }
}

mod imports {
    use super::*;
    use crate::bindings::scenario::peerpressure::plugin::{log, types, world_state};
    use crate::bindings::{File, FileInfo, WorldError};

    impl types::Host for PluginState {}

    impl log::Host for PluginState {
        fn log(&mut self, level: LogLevel, message: String) -> wasmtime::Result<()> {
            if self.logs.len() < self.max_log_lines {
                let level = match level {
                    LogLevel::Debug => "debug",
                    LogLevel::Info => "info",
                    LogLevel::Warn => "warn",
                    LogLevel::Error => "error",
                };
                self.logs.push(LogLine {
                    level: level.to_string(),
                    message: message.chars().take(4_096).collect(),
                });
            }
            Ok(())
        }
    }

    impl world_state::Host for PluginState {
        fn add_machine(&mut self, name: String) -> wasmtime::Result<()> {
            // An invalid or excess machine is the plugin's bug: stop it with a clear trap.
            self.world
                .add_machine(&name)
                .map_err(|e| wasmtime::Error::msg(format!("add-machine: {}", e.message())))
        }
        fn list_machines(&mut self) -> wasmtime::Result<Vec<String>> {
            Ok(self.world.machines())
        }
        fn list_files(
            &mut self,
            machine: String,
        ) -> wasmtime::Result<Result<Vec<FileInfo>, WorldError>> {
            Ok(self.world.list(&machine))
        }
        fn read_file(
            &mut self,
            machine: String,
            path: String,
        ) -> wasmtime::Result<Result<File, WorldError>> {
            Ok(self.world.read(&machine, &path))
        }
        fn write_file(
            &mut self,
            machine: String,
            path: String,
            content: String,
            summary: String,
            size: Option<u64>,
        ) -> wasmtime::Result<Result<(), WorldError>> {
            Ok(self.world.write(&machine, &path, &content, &summary, size))
        }
        fn append_file(
            &mut self,
            machine: String,
            path: String,
            content: String,
        ) -> wasmtime::Result<Result<(), WorldError>> {
            Ok(self.world.append(&machine, &path, &content))
        }
        fn delete_file(
            &mut self,
            machine: String,
            path: String,
        ) -> wasmtime::Result<Result<(), WorldError>> {
            Ok(self.world.delete(&machine, &path))
        }
        fn copy_file(
            &mut self,
            from_machine: String,
            from_path: String,
            to_machine: String,
            to_path: String,
        ) -> wasmtime::Result<Result<(), WorldError>> {
            Ok(self
                .world
                .copy(&from_machine, &from_path, &to_machine, &to_path))
        }
        fn move_file(
            &mut self,
            from_machine: String,
            from_path: String,
            to_machine: String,
            to_path: String,
            restamp: bool,
        ) -> wasmtime::Result<Result<(), WorldError>> {
            Ok(self
                .world
                .rename(&from_machine, &from_path, &to_machine, &to_path, restamp))
        }
        fn set_metadata(
            &mut self,
            machine: String,
            path: String,
            summary: String,
            size: u64,
            modified: i64,
        ) -> wasmtime::Result<Result<(), WorldError>> {
            Ok(self
                .world
                .set_metadata(&machine, &path, &summary, size, modified))
        }
        fn now(&mut self) -> wasmtime::Result<i64> {
            Ok(self.world.now())
        }
        fn set_clock(&mut self, seconds: i64) -> wasmtime::Result<()> {
            self.world.set_clock(seconds);
            Ok(())
        }
    }

    impl crate::bindings::detector::peerpressure::plugin::judge::Host for PluginState {
        async fn complete(
            &mut self,
            request: JudgeRequest,
        ) -> wasmtime::Result<Result<String, String>> {
            let Some(judge) = self.judge.clone() else {
                return Ok(Err(
                    "no judge model is configured for this run (pass --judge provider/model)"
                        .to_string(),
                ));
            };
            let started = Instant::now();
            let answer = judge.complete(&request).await;
            // The plugin's time limit covers its own work, not the judge's latency.
            self.deadline += started.elapsed();
            Ok(answer)
        }
    }
}

/// Increments the engine's epoch every tick so deadlines are checked; stops when dropped.
struct EpochTicker {
    stop: Arc<AtomicBool>,
}

const TICK: Duration = Duration::from_millis(10);
/// Ticks a plugin call runs before yielding to the executor (and checking its time limit).
/// The deadline is re-armed at the start of every call: a store that waited on a model for
/// seconds would otherwise be past its deadline and yield before doing any work.
const YIELD_TICKS: u64 = 2;

impl EpochTicker {
    fn start(engine: Engine) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        std::thread::Builder::new()
            .name("peerpressure-epoch".into())
            .spawn(move || {
                while !flag.load(Ordering::Relaxed) {
                    std::thread::sleep(TICK);
                    engine.increment_epoch();
                }
            })
            .expect("spawning the epoch thread");
        EpochTicker { stop }
    }
}

impl Drop for EpochTicker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

pub struct Runtime {
    engine: Engine,
    scenario_linker: Linker<PluginState>,
    detector_linker: Linker<PluginState>,
    config: RuntimeConfig,
    _ticker: EpochTicker,
}

impl Runtime {
    pub fn new(config: RuntimeConfig) -> anyhow::Result<Self> {
        let mut wasm = Config::new();
        wasm.wasm_component_model(true);
        wasm.epoch_interruption(true);
        wasm.consume_fuel(config.limits.fuel.is_some());
        if config.pooling {
            let n = config.max_instances.max(8);
            let mut pool = PoolingAllocationConfig::default();
            pool.total_component_instances(n)
                .total_core_instances(n * 16)
                .total_memories(n * 4)
                .total_tables(n * 8)
                .total_stacks(n)
                .max_memories_per_component(16)
                .max_memory_size(config.limits.memory_bytes);
            wasm.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        }
        let engine = Engine::new(&wasm)
            .map_err(|e| anyhow::anyhow!("failed to create the WebAssembly engine: {e:#}"))?;

        let mut scenario_linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut scenario_linker)
            .map_err(|e| anyhow::anyhow!("{e:#}"))?;
        ScenarioPlugin::add_to_linker::<_, HasSelf<_>>(&mut scenario_linker, |s| s)
            .map_err(|e| anyhow::anyhow!("{e:#}"))?;
        let mut detector_linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut detector_linker)
            .map_err(|e| anyhow::anyhow!("{e:#}"))?;
        DetectorPlugin::add_to_linker::<_, HasSelf<_>>(&mut detector_linker, |s| s)
            .map_err(|e| anyhow::anyhow!("{e:#}"))?;

        let ticker = EpochTicker::start(engine.clone());
        Ok(Runtime {
            engine,
            scenario_linker,
            detector_linker,
            config,
            _ticker: ticker,
        })
    }

    pub fn limits(&self) -> &SandboxLimits {
        &self.config.limits
    }

    fn compatibility_key(&self) -> String {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        self.engine
            .precompile_compatibility_hash()
            .hash(&mut hasher);
        format!("{:016x}", hasher.finish())
    }

    /// Compiles a component, or loads it precompiled from the cache.
    fn compile(&self, bytes: &[u8], sha256: &str) -> wasmtime::Result<Component> {
        let Some(dir) = &self.config.cache_dir else {
            return Component::from_binary(&self.engine, bytes);
        };
        let cached = dir.join(format!("{sha256}-{}.cwasm", self.compatibility_key()));
        if cached.exists() {
            // SAFETY: files in the cache are written only by `precompile_component` below,
            // under a name that includes this engine's compatibility hash.
            if let Ok(component) = unsafe { Component::deserialize_file(&self.engine, &cached) } {
                return Ok(component);
            }
            let _ = std::fs::remove_file(&cached);
        }
        let compiled = self.engine.precompile_component(bytes)?;
        // A failed cache write only costs a recompile next time.
        if std::fs::create_dir_all(dir).is_ok() {
            let tmp = dir.join(format!(".{sha256}.{}.tmp", std::process::id()));
            if std::fs::write(&tmp, &compiled).is_ok() {
                let _ = std::fs::rename(&tmp, &cached);
            }
        }
        // SAFETY: the bytes were produced by this engine just above.
        unsafe { Component::deserialize(&self.engine, &compiled) }
    }

    /// Checks, compiles and describes a plugin file. Refuses anything that is not a component
    /// of a supported `peerpressure:plugin` world before instantiating it.
    pub async fn load(&self, path: &Path) -> Result<LoadedPlugin, LoadError> {
        let bytes = std::fs::read(path).map_err(|source| LoadError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        self.load_bytes(path, &bytes).await
    }

    pub async fn load_bytes(&self, path: &Path, bytes: &[u8]) -> Result<LoadedPlugin, LoadError> {
        let path_buf = path.to_path_buf();
        let shape = inspect_component(bytes).map_err(|e| match e {
            Inspect::NotWasm => LoadError::NotWasm {
                path: path_buf.clone(),
            },
            Inspect::CoreModule => LoadError::CoreModule {
                path: path_buf.clone(),
            },
            Inspect::Invalid(reason) => LoadError::Invalid {
                path: path_buf.clone(),
                reason,
            },
        })?;
        let kind = if shape.exports.iter().any(|e| e == bindings::SCENARIO_EXPORT) {
            PluginKind::Scenario
        } else if shape.exports.iter().any(|e| e == bindings::DETECTOR_EXPORT) {
            PluginKind::Detector
        } else if let Some(other) = shape
            .exports
            .iter()
            .find(|e| e.starts_with("peerpressure:plugin/"))
        {
            let found = other
                .split_once('@')
                .map_or("an unversioned interface", |(_, v)| v);
            return Err(LoadError::UnsupportedVersion {
                path: path_buf,
                found: format!("peerpressure:plugin@{found}"),
                supported: bindings::INTERFACE_VERSION,
            });
        } else {
            return Err(LoadError::WrongWorld {
                path: path_buf,
                scenario: bindings::SCENARIO_EXPORT,
                detector: bindings::DETECTOR_EXPORT,
                exports: if shape.exports.is_empty() {
                    "none".into()
                } else {
                    shape.exports.join(", ")
                },
            });
        };
        let allowed_import = |name: &str| {
            name.starts_with("wasi:")
                || matches!(
                    (kind, name),
                    (
                        _,
                        "peerpressure:plugin/types@0.1.0" | "peerpressure:plugin/log@0.1.0"
                    ) | (
                        PluginKind::Scenario,
                        "peerpressure:plugin/world-state@0.1.0"
                    ) | (PluginKind::Detector, "peerpressure:plugin/judge@0.1.0")
                )
        };
        if let Some(import) = shape.imports.iter().find(|i| !allowed_import(i)) {
            return Err(LoadError::UnsupportedImport {
                path: path_buf,
                import: import.clone(),
            });
        }

        let sha256 = hex::encode(Sha256::digest(bytes));
        let component = self
            .compile(bytes, &sha256)
            .map_err(|e| LoadError::Invalid {
                path: path_buf.clone(),
                reason: format!("{e:#}"),
            })?;
        let unsupported = |e: wasmtime::Error| {
            // Typically a WASI interface this wasmtime-wasi does not implement (e.g. wasi:http).
            LoadError::UnsupportedImport {
                path: path_buf.clone(),
                import: format!("{e:#}"),
            }
        };
        let pre = match kind {
            PluginKind::Scenario => PluginPre::Scenario(
                ScenarioPluginPre::new(
                    self.scenario_linker
                        .instantiate_pre(&component)
                        .map_err(unsupported)?,
                )
                .map_err(unsupported)?,
            ),
            PluginKind::Detector => PluginPre::Detector(
                DetectorPluginPre::new(
                    self.detector_linker
                        .instantiate_pre(&component)
                        .map_err(unsupported)?,
                )
                .map_err(unsupported)?,
            ),
        };
        let mut plugin = LoadedPlugin {
            kind,
            info: PluginInfo {
                name: path
                    .file_stem()
                    .map(|s| s.to_string_lossy().into_owned())
                    .unwrap_or_default(),
                version: "?".into(),
                title: String::new(),
                description: String::new(),
                behaviours: vec![],
                axes: vec![],
                agents: vec![],
            },
            sha256,
            path: path_buf.clone(),
            size: bytes.len() as u64,
            interface_version: bindings::INTERFACE_VERSION,
            pre,
        };
        let info = match kind {
            PluginKind::Scenario => {
                let mut instance =
                    self.scenario(&plugin, 0)
                        .await
                        .map_err(|source| LoadError::Describe {
                            path: path_buf.clone(),
                            source,
                        })?;
                instance.describe().await
            }
            PluginKind::Detector => {
                let mut instance = self.detector(&plugin, 0, None).await.map_err(|source| {
                    LoadError::Describe {
                        path: path_buf.clone(),
                        source,
                    }
                })?;
                instance.describe().await
            }
        }
        .map_err(|source| LoadError::Describe {
            path: path_buf.clone(),
            source,
        })?;
        validate_info(kind, &info).map_err(|reason| LoadError::BadDescription {
            path: path_buf,
            reason,
        })?;
        plugin.info = info;
        Ok(plugin)
    }

    fn new_store(&self, seed: u64, judge: Option<Arc<dyn Judge>>) -> Store<PluginState> {
        let limits = &self.config.limits;
        let stdout = MemoryOutputPipe::new(limits.output_bytes);
        let stderr = MemoryOutputPipe::new(limits.output_bytes);
        let wasi = WasiCtx::builder()
            .stdout(stdout.clone())
            .stderr(stderr.clone())
            .secure_random(StdRng::seed_from_u64(seed))
            .insecure_random(StdRng::seed_from_u64(
                seed.rotate_left(17) ^ 0x9e37_79b9_7f4a_7c15,
            ))
            .insecure_random_seed(u128::from(seed))
            .wall_clock(FixedWallClock(Duration::from_secs(1_767_225_600)))
            .monotonic_clock(SteppingClock(0.into()))
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .build();
        let state = PluginState {
            wasi,
            table: ResourceTable::new(),
            limiter: MemoryLimiter {
                max: limits.memory_bytes,
                exceeded: false,
            },
            deadline: Instant::now() + limits.call_timeout,
            timed_out: false,
            world: World::new(limits.world),
            logs: Vec::new(),
            max_log_lines: limits.max_log_lines,
            judge,
            stdout,
            stderr,
        };
        let mut store = Store::new(&self.engine, state);
        store.limiter(|s| &mut s.limiter);
        store.set_epoch_deadline(YIELD_TICKS);
        store.epoch_deadline_callback(|mut ctx| {
            let state = ctx.data_mut();
            if Instant::now() >= state.deadline {
                state.timed_out = true;
                Ok(UpdateDeadline::Interrupt)
            } else {
                // Yield regularly so one busy plugin cannot starve the other trials.
                Ok(UpdateDeadline::Yield(YIELD_TICKS))
            }
        });
        store
    }

    /// A fresh scenario instance for one trial.
    pub async fn scenario(
        &self,
        plugin: &LoadedPlugin,
        seed: u64,
    ) -> Result<ScenarioInstance, PluginError> {
        let PluginPre::Scenario(pre) = &plugin.pre else {
            unreachable!("scenario() called on a detector")
        };
        let mut guard = Guard::new(self, plugin, seed, None);
        guard.arm();
        let result = pre.instantiate_async(&mut guard.store).await;
        let bindings = guard.finish("instantiate", result)?;
        Ok(ScenarioInstance { guard, bindings })
    }

    /// A fresh detector instance for one trial.
    pub async fn detector(
        &self,
        plugin: &LoadedPlugin,
        seed: u64,
        judge: Option<Arc<dyn Judge>>,
    ) -> Result<DetectorInstance, PluginError> {
        let PluginPre::Detector(pre) = &plugin.pre else {
            unreachable!("detector() called on a scenario")
        };
        let mut guard = Guard::new(self, plugin, seed, judge);
        guard.arm();
        let result = pre.instantiate_async(&mut guard.store).await;
        let bindings = guard.finish("instantiate", result)?;
        Ok(DetectorInstance { guard, bindings })
    }
}

fn validate_info(kind: PluginKind, info: &PluginInfo) -> Result<(), String> {
    let ident = |s: &str| {
        !s.is_empty()
            && s.len() <= 64
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')
    };
    if !ident(&info.name) {
        return Err(format!(
            "name `{}` must be 1-64 characters of letters, digits, `-`, `_` or `.`",
            info.name.chars().take(80).collect::<String>()
        ));
    }
    if !ident(&info.version) {
        return Err(format!(
            "version `{}` is not a version",
            info.version.chars().take(80).collect::<String>()
        ));
    }
    if info.behaviours.is_empty() {
        return Err("it declares no behaviours".into());
    }
    for axis in &info.axes {
        if axis.values.is_empty() || !axis.values.contains(&axis.default_value) {
            return Err(format!(
                "axis `{}` has no values or a default that is not one of them",
                axis.name
            ));
        }
    }
    if kind == PluginKind::Scenario
        && !info.agents.is_empty()
        && info.agents.iter().filter(|a| a.faithful).count() != 1
    {
        return Err("exactly one reference agent must be marked faithful".into());
    }
    Ok(())
}

enum Inspect {
    NotWasm,
    CoreModule,
    Invalid(String),
}

struct ComponentShape {
    imports: Vec<String>,
    exports: Vec<String>,
}

/// Reads a component's top-level import and export names without compiling it.
/// The source language of a component, as far as its bytes tell: the componentizers of
/// interpreted languages leave their name, compiled ones a `producers` section.
pub fn plugin_language(bytes: &[u8]) -> String {
    let contains = |needle: &[u8]| bytes.windows(needle.len()).any(|w| w == needle);
    if contains(b"componentize-py") {
        return "Python".into();
    }
    if contains(b"componentize-qjs") || contains(b"componentize-js") {
        return "JavaScript".into();
    }
    let mut languages: Vec<String> = Vec::new();
    for payload in wasmparser::Parser::new(0).parse_all(bytes).flatten() {
        if let wasmparser::Payload::CustomSection(reader) = payload {
            if let wasmparser::KnownCustom::Producers(producers) = reader.as_known() {
                for field in producers
                    .into_iter()
                    .flatten()
                    .filter(|f| f.name == "language")
                {
                    languages.extend(
                        field
                            .values
                            .into_iter()
                            .flatten()
                            .map(|v| v.name.to_string()),
                    );
                }
            }
        }
    }
    // A Rust or Go module links C (its libc): name the language the author wrote.
    ["Rust", "Go", "Zig", "C++", "C11", "C99", "C"]
        .iter()
        .find(|l| languages.iter().any(|x| x == *l))
        .map(|l| {
            if l.starts_with('C') && *l != "C++" {
                "C".to_string()
            } else {
                l.to_string()
            }
        })
        .or_else(|| languages.first().cloned())
        .unwrap_or_else(|| "unknown".into())
}

fn inspect_component(bytes: &[u8]) -> Result<ComponentShape, Inspect> {
    if !bytes.starts_with(b"\0asm") {
        return Err(Inspect::NotWasm);
    }
    if wasmparser::Parser::is_core_wasm(bytes) {
        return Err(Inspect::CoreModule);
    }
    if !wasmparser::Parser::is_component(bytes) {
        return Err(Inspect::Invalid(
            "unknown WebAssembly layer or version".into(),
        ));
    }
    let mut shape = ComponentShape {
        imports: Vec::new(),
        exports: Vec::new(),
    };
    let mut depth = 0usize;
    for payload in wasmparser::Parser::new(0).parse_all(bytes) {
        let payload = payload.map_err(|e| Inspect::Invalid(e.to_string()))?;
        match payload {
            wasmparser::Payload::ModuleSection { .. }
            | wasmparser::Payload::ComponentSection { .. } => depth += 1,
            wasmparser::Payload::End(_) => depth = depth.saturating_sub(1),
            wasmparser::Payload::ComponentImportSection(reader) if depth == 0 => {
                for import in reader {
                    shape.imports.push(
                        import
                            .map_err(|e| Inspect::Invalid(e.to_string()))?
                            .name
                            .name
                            .to_string(),
                    );
                }
            }
            wasmparser::Payload::ComponentExportSection(reader) if depth == 0 => {
                for export in reader {
                    shape.exports.push(
                        export
                            .map_err(|e| Inspect::Invalid(e.to_string()))?
                            .name
                            .name
                            .to_string(),
                    );
                }
            }
            _ => {}
        }
    }
    Ok(shape)
}

/// A store plus the bookkeeping that turns traps into [`PluginError`]s.
struct Guard {
    store: Store<PluginState>,
    label: String,
    limits: SandboxLimits,
    dead: Option<PluginError>,
}

impl Guard {
    fn new(
        runtime: &Runtime,
        plugin: &LoadedPlugin,
        seed: u64,
        judge: Option<Arc<dyn Judge>>,
    ) -> Self {
        Guard {
            store: runtime.new_store(seed, judge),
            label: plugin.label(),
            limits: runtime.config.limits.clone(),
            dead: None,
        }
    }

    /// Starts the clock (and fuel) for one call.
    fn arm(&mut self) {
        self.store.data_mut().deadline = Instant::now() + self.limits.call_timeout;
        self.store.set_epoch_deadline(YIELD_TICKS);
        if let Some(fuel) = self.limits.fuel {
            let _ = self.store.set_fuel(fuel);
        }
    }

    fn check_alive(&self, phase: &'static str) -> Result<(), PluginError> {
        match &self.dead {
            Some(e) => Err(PluginError {
                plugin: self.label.clone(),
                phase,
                reason: format!("the instance failed earlier ({})", e.reason),
            }),
            None => Ok(()),
        }
    }

    fn finish<R>(
        &mut self,
        phase: &'static str,
        result: wasmtime::Result<R>,
    ) -> Result<R, PluginError> {
        result.map_err(|error| {
            let e = PluginError {
                plugin: self.label.clone(),
                phase,
                reason: self.explain(&error),
            };
            self.dead = Some(e.clone());
            e
        })
    }

    fn explain(&self, error: &wasmtime::Error) -> String {
        let state = self.store.data();
        if state.timed_out {
            return format!(
                "exceeded its time limit ({} s per call)",
                self.limits.call_timeout.as_secs_f64()
            );
        }
        if state.limiter.exceeded {
            return format!(
                "ran out of memory (limit {} MiB)",
                self.limits.memory_bytes >> 20
            );
        }
        let stderr_tail = || {
            let text = String::from_utf8_lossy(&state.stderr.contents()).into_owned();
            // Rust's hint about RUST_BACKTRACE means nothing to the plugin's user here.
            let lines: Vec<&str> = text
                .lines()
                .filter(|l| {
                    !l.trim().is_empty() && !l.starts_with("note: run with `RUST_BACKTRACE")
                })
                .collect();
            let tail = lines[lines.len().saturating_sub(3)..].join(" | ");
            if tail.is_empty() {
                String::new()
            } else {
                format!(": {}", tail.chars().take(600).collect::<String>())
            }
        };
        match error.downcast_ref::<Trap>() {
            Some(Trap::OutOfFuel) => format!(
                "ran out of fuel (limit {} units per call)",
                self.limits.fuel.unwrap_or(0)
            ),
            Some(Trap::Interrupt) => format!(
                "exceeded its time limit ({} s per call)",
                self.limits.call_timeout.as_secs_f64()
            ),
            Some(Trap::UnreachableCodeReached) => {
                format!("crashed (panic or abort){}", stderr_tail())
            }
            Some(Trap::StackOverflow) => "overflowed its stack".to_string(),
            Some(trap) => format!("trapped: {trap}{}", stderr_tail()),
            None => {
                let text = format!("{error:#}");
                format!(
                    "{}{}",
                    text.chars().take(600).collect::<String>(),
                    stderr_tail()
                )
            }
        }
    }

    fn output(&self) -> PluginOutput {
        let state = self.store.data();
        PluginOutput {
            plugin: self.label.clone(),
            stdout: String::from_utf8_lossy(&state.stdout.contents()).into_owned(),
            stderr: String::from_utf8_lossy(&state.stderr.contents()).into_owned(),
            logs: state.logs.clone(),
        }
    }
}

/// A scenario instance bound to one trial; owns the trial's world.
pub struct ScenarioInstance {
    guard: Guard,
    bindings: ScenarioPlugin,
}

impl ScenarioInstance {
    pub async fn describe(&mut self) -> Result<PluginInfo, PluginError> {
        self.guard.check_alive("describe")?;
        self.guard.arm();
        let r = self
            .bindings
            .peerpressure_plugin_scenario()
            .call_describe(&mut self.guard.store)
            .await;
        self.guard.finish("describe", r)
    }

    /// `Ok(Err(..))` is the scenario refusing the spec; `Err` is a trap or limit.
    pub async fn setup(
        &mut self,
        spec: &TrialSpec,
    ) -> Result<Result<TrialSetup, String>, PluginError> {
        self.guard.check_alive("setup")?;
        self.guard.arm();
        let r = self
            .bindings
            .peerpressure_plugin_scenario()
            .call_setup(&mut self.guard.store, spec)
            .await;
        self.guard.finish("setup", r)
    }

    pub async fn call_tool(
        &mut self,
        name: &str,
        arguments: &str,
    ) -> Result<Result<String, String>, PluginError> {
        self.guard.check_alive("call-tool")?;
        self.guard.arm();
        let r = self
            .bindings
            .peerpressure_plugin_scenario()
            .call_call_tool(&mut self.guard.store, name, arguments)
            .await;
        self.guard.finish("call-tool", r)
    }

    pub async fn agent_turn(
        &mut self,
        agent: &str,
        transcript: &[Message],
    ) -> Result<Result<Message, String>, PluginError> {
        self.guard.check_alive("agent-turn")?;
        self.guard.arm();
        let r = self
            .bindings
            .peerpressure_plugin_scenario()
            .call_agent_turn(&mut self.guard.store, agent, transcript)
            .await;
        self.guard.finish("agent-turn", r)
    }

    pub fn world(&mut self) -> &mut World {
        &mut self.guard.store.data_mut().world
    }

    pub fn output(&self) -> PluginOutput {
        self.guard.output()
    }
}

/// A detector instance for one trial.
pub struct DetectorInstance {
    guard: Guard,
    bindings: DetectorPlugin,
}

impl DetectorInstance {
    pub async fn describe(&mut self) -> Result<PluginInfo, PluginError> {
        self.guard.check_alive("describe")?;
        self.guard.arm();
        let r = self
            .bindings
            .peerpressure_plugin_detector()
            .call_describe(&mut self.guard.store)
            .await;
        self.guard.finish("describe", r)
    }

    pub async fn detect(
        &mut self,
        trial: &TrialRecord,
    ) -> Result<Result<Vec<Finding>, String>, PluginError> {
        self.guard.check_alive("detect")?;
        self.guard.arm();
        let r = self
            .bindings
            .peerpressure_plugin_detector()
            .call_detect(&mut self.guard.store, trial)
            .await;
        self.guard.finish("detect", r)
    }

    pub fn output(&self) -> PluginOutput {
        self.guard.output()
    }
}
