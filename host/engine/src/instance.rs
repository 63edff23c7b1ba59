//! Plugin instances bound to one trial. Every call re-arms the deadline and fuel, converts
//! the host's records to the generated ones and back, and turns a trap into a
//! [`PluginError`]; after a trap the instance refuses further calls.

use std::sync::Arc;
use std::time::Instant;

use peerpressure_types::model::Judge;
use peerpressure_types::plugin::{
    Finding, Message, PluginInfo, TrialRecord, TrialSetup, TrialSpec,
};
use peerpressure_types::trial::PluginOutput;
use wasmtime::{Store, Trap};

use crate::bindings::detector::DetectorPlugin;
use crate::bindings::scenario::ScenarioPlugin;
use crate::convert::Convert;
use crate::engine::Runtime;
use crate::error::PluginError;
use crate::limits::SandboxLimits;
use crate::plugin::LoadedPlugin;
use crate::sandbox::{PluginState, YIELD_TICKS};
use crate::world::World;

/// A store plus the bookkeeping that turns traps into [`PluginError`]s.
pub(crate) struct Guard {
    pub(crate) store: Store<PluginState>,
    label: String,
    limits: SandboxLimits,
    dead: Option<PluginError>,
}

impl Guard {
    pub(crate) fn new(
        runtime: &Runtime,
        plugin: &LoadedPlugin,
        seed: u64,
        judge: Option<Arc<dyn Judge>>,
    ) -> Self {
        Guard {
            store: runtime.new_store(seed, judge),
            label: plugin.label(),
            limits: runtime.limits().clone(),
            dead: None,
        }
    }

    /// Starts the clock (and fuel) for one call.
    pub(crate) fn arm(&mut self) {
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

    pub(crate) fn finish<R>(
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
    pub(crate) guard: Guard,
    pub(crate) bindings: ScenarioPlugin,
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
        self.guard.finish("describe", r).map(Convert::convert)
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
            .call_setup(&mut self.guard.store, &spec.clone().convert())
            .await;
        self.guard.finish("setup", r).map(Convert::convert)
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
            .call_agent_turn(&mut self.guard.store, agent, &transcript.to_vec().convert())
            .await;
        self.guard.finish("agent-turn", r).map(Convert::convert)
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
    pub(crate) guard: Guard,
    pub(crate) bindings: DetectorPlugin,
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
        self.guard.finish("describe", r).map(Convert::convert)
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
            .call_detect(&mut self.guard.store, &trial.clone().convert())
            .await;
        self.guard.finish("detect", r).map(Convert::convert)
    }

    pub fn output(&self) -> PluginOutput {
        self.guard.output()
    }
}
