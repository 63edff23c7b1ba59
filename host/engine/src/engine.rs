//! The wasmtime engine and linkers, plugin compilation (with an on-disk cache of
//! precompiled components) and loading: a component is inspected, checked against the
//! interface and described before it is accepted. Instantiation per trial is in
//! [`crate::instance`], the sandbox in [`crate::sandbox`].

use std::hash::{Hash, Hasher};
use std::path::Path;

use peerpressure_types::model::Judge;
use peerpressure_types::plugin::{DETECTOR_EXPORT, INTERFACE_VERSION, PluginInfo, SCENARIO_EXPORT};
use sha2::{Digest, Sha256};
use std::sync::Arc;
use wasmtime::component::{Component, HasSelf, Linker};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

use crate::bindings::detector::{DetectorPlugin, DetectorPluginPre};
use crate::bindings::scenario::{ScenarioPlugin, ScenarioPluginPre};
use crate::error::{LoadError, PluginError};
use crate::inspect::{Inspect, inspect_component, validate_info};
use crate::instance::{DetectorInstance, Guard, ScenarioInstance};
use crate::limits::{RuntimeConfig, SandboxLimits};
use crate::plugin::{LoadedPlugin, PluginKind, PluginPre};
use crate::sandbox::{EpochTicker, PluginState};

/// Bytes of a pooled memory or table kept resident between instances (reset in place).
const KEEP_RESIDENT: usize = 4 << 20;

/// Compiles, loads and instantiates plugins; one per process.
pub struct Runtime {
    pub(crate) engine: Engine,
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
            // A slot reused for the next trial is reset by memset of only the pages the last
            // one touched (PAGEMAP_SCAN, Linux 6.7+; `Auto` falls back to madvise elsewhere),
            // not by madvise: no TLB shootdown and no page faults when the next trial touches
            // them again. Measured with `just bench` (docs/performance.md): CPU per trial
            // 2.3 -> 1.9 ms at 256 in flight, peak RSS unchanged.
            pool.pagemap_scan(wasmtime::Enabled::Auto)
                .linear_memory_keep_resident(KEEP_RESIDENT)
                .table_keep_resident(KEEP_RESIDENT);
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
        let kind = if shape.exports.iter().any(|e| e == SCENARIO_EXPORT) {
            PluginKind::Scenario
        } else if shape.exports.iter().any(|e| e == DETECTOR_EXPORT) {
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
                supported: INTERFACE_VERSION,
            });
        } else {
            return Err(LoadError::WrongWorld {
                path: path_buf,
                scenario: SCENARIO_EXPORT,
                detector: DETECTOR_EXPORT,
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
            interface_version: INTERFACE_VERSION,
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
