//! What plugins may call on the host: the log, the trial's world (scenarios) and the judge
//! model (detectors). Everything else a component imports is refused at load time.

use std::time::Instant;

use peerpressure_types::trial::LogLine;

use crate::bindings::LogLevel;
use crate::bindings::scenario::peerpressure::plugin::{log, types, world_state};
use crate::bindings::wit::{File, FileInfo};
use crate::bindings::wit_judge::JudgeRequest;
use crate::convert::Convert;
use crate::sandbox::PluginState;
use world_state::WorldError;

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
        Ok(self.world.list(&machine).convert())
    }
    fn read_file(
        &mut self,
        machine: String,
        path: String,
    ) -> wasmtime::Result<Result<File, WorldError>> {
        Ok(self.world.read(&machine, &path).convert())
    }
    fn write_file(
        &mut self,
        machine: String,
        path: String,
        content: String,
        summary: String,
        size: Option<u64>,
    ) -> wasmtime::Result<Result<(), WorldError>> {
        Ok(self
            .world
            .write(&machine, &path, &content, &summary, size)
            .convert())
    }
    fn append_file(
        &mut self,
        machine: String,
        path: String,
        content: String,
    ) -> wasmtime::Result<Result<(), WorldError>> {
        Ok(self.world.append(&machine, &path, &content).convert())
    }
    fn delete_file(
        &mut self,
        machine: String,
        path: String,
    ) -> wasmtime::Result<Result<(), WorldError>> {
        Ok(self.world.delete(&machine, &path).convert())
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
            .copy(&from_machine, &from_path, &to_machine, &to_path)
            .convert())
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
            .rename(&from_machine, &from_path, &to_machine, &to_path, restamp)
            .convert())
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
            .set_metadata(&machine, &path, &summary, size, modified)
            .convert())
    }
    fn now(&mut self) -> wasmtime::Result<i64> {
        Ok(self.world.now())
    }
    fn set_clock(&mut self, seconds: i64) -> wasmtime::Result<()> {
        self.world.set_clock(seconds);
        Ok(())
    }
}

impl crate::bindings::wit_judge::Host for PluginState {
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
        let answer = judge.complete(&request.convert()).await;
        // The plugin's time limit covers its own work, not the judge's latency.
        self.deadline += started.elapsed();
        Ok(answer)
    }
}
