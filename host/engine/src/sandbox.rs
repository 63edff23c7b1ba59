//! The sandbox around each plugin instance, deny-by-default like `wasmtime-wasi`: no files,
//! sockets, environment or arguments; stdout and stderr captured; a wall clock frozen at the
//! trial's virtual start, a stepping monotonic clock and random numbers from the trial's
//! seed, so a trial replays exactly. Each call runs under a memory cap, a wall-clock deadline
//! (epoch interruption, with regular yields so one busy plugin cannot starve the others) and
//! optionally a fuel budget.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use peerpressure_types::model::Judge;
use peerpressure_types::trial::LogLine;
use rand::SeedableRng;
use rand::rngs::StdRng;
use wasmtime::component::ResourceTable;
use wasmtime::{Engine, Store, UpdateDeadline};
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{HostMonotonicClock, HostWallClock, WasiCtx, WasiCtxView, WasiView};

use crate::engine::Runtime;
use crate::world::World;

pub(crate) struct MemoryLimiter {
    pub(crate) max: usize,
    pub(crate) exceeded: bool,
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
    pub(crate) limiter: MemoryLimiter,
    pub(crate) deadline: Instant,
    pub(crate) timed_out: bool,
    /// The trial's world (scenarios change it; detectors get an empty one).
    pub world: World,
    pub(crate) logs: Vec<LogLine>,
    pub(crate) max_log_lines: usize,
    pub(crate) judge: Option<Arc<dyn Judge>>,
    pub(crate) stdout: MemoryOutputPipe,
    pub(crate) stderr: MemoryOutputPipe,
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

/// Increments the engine's epoch every tick so deadlines are checked; stops when dropped.
pub(crate) struct EpochTicker {
    stop: Arc<AtomicBool>,
}

const TICK: Duration = Duration::from_millis(10);
/// Ticks a plugin call runs before yielding to the executor (and checking its time limit).
/// The deadline is re-armed at the start of every call: a store that waited on a model for
/// seconds would otherwise be past its deadline and yield before doing any work.
pub(crate) const YIELD_TICKS: u64 = 2;

impl EpochTicker {
    pub(crate) fn start(engine: Engine) -> Self {
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

impl Runtime {
    /// A store for one plugin instance: the sandbox, its limits and its deadline.
    pub(crate) fn new_store(&self, seed: u64, judge: Option<Arc<dyn Judge>>) -> Store<PluginState> {
        let limits = self.limits();
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
}
