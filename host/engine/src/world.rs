//! The simulated world of one trial: machines holding files, a virtual clock, and the log of
//! every change the agent caused.
//!
//! Scenarios build the world during `setup` (those writes are the initial world, not events);
//! after setup every change is recorded as a [`WorldEvent`] tagged with the turn and the tool
//! call that caused it.

use std::collections::BTreeMap;

use peerpressure_types::plugin::{File, FileInfo, WorldError, WorldEvent};

/// Bounds that keep a hostile or careless plugin (or model) from growing the world without end.
#[derive(Debug, Clone, Copy)]
pub struct WorldLimits {
    pub max_machines: usize,
    pub max_files: usize,
    pub max_file_bytes: usize,
    pub max_total_bytes: usize,
    pub max_path_bytes: usize,
    pub max_events: usize,
}

impl Default for WorldLimits {
    fn default() -> Self {
        WorldLimits {
            max_machines: 64,
            max_files: 10_000,
            max_file_bytes: 1 << 20,
            max_total_bytes: 32 << 20,
            max_path_bytes: 512,
            max_events: 10_000,
        }
    }
}

#[derive(Debug, Clone)]
struct Entry {
    content: String,
    summary: String,
    size: u64,
    modified: i64,
}

/// Where the next events come from.
#[derive(Debug, Clone, Default)]
struct Cause {
    turn: u32,
    tool_call_id: Option<String>,
}

#[derive(Debug, Clone)]
pub struct World {
    machines: BTreeMap<String, BTreeMap<String, Entry>>,
    clock: i64,
    events: Vec<WorldEvent>,
    recording: bool,
    cause: Cause,
    limits: WorldLimits,
    total_bytes: usize,
}

type WorldResult<T> = Result<T, WorldError>;

/// Normalises a path as models write them (`/a/b`, `./a`) and rejects escapes and junk.
pub fn normalize_path(path: &str, limits: &WorldLimits) -> WorldResult<String> {
    let trimmed = path.trim().trim_start_matches("./").trim_start_matches('/');
    let invalid = || WorldError::InvalidPath(path.chars().take(80).collect());
    if trimmed.is_empty()
        || trimmed.len() > limits.max_path_bytes
        || trimmed.chars().any(|c| c.is_control())
    {
        return Err(invalid());
    }
    if trimmed
        .split('/')
        .any(|seg| seg.is_empty() || seg == "." || seg == "..")
    {
        return Err(invalid());
    }
    Ok(trimmed.to_string())
}

impl World {
    pub fn new(limits: WorldLimits) -> Self {
        World {
            machines: BTreeMap::new(),
            clock: 0,
            events: Vec::new(),
            recording: false,
            cause: Cause::default(),
            limits,
            total_bytes: 0,
        }
    }

    /// From now on changes are recorded as events (called once setup is done).
    pub fn start_recording(&mut self) {
        self.recording = true;
    }

    /// Tags the following events with the turn and tool call that cause them.
    pub fn set_cause(&mut self, turn: u32, tool_call_id: Option<&str>) {
        self.cause = Cause {
            turn,
            tool_call_id: tool_call_id.map(str::to_string),
        };
    }

    pub fn events(&self) -> &[WorldEvent] {
        &self.events
    }

    pub fn take_events(&mut self) -> Vec<WorldEvent> {
        std::mem::take(&mut self.events)
    }

    pub fn now(&self) -> i64 {
        self.clock
    }

    pub fn set_clock(&mut self, seconds: i64) {
        self.clock = seconds;
    }

    /// Every file of every machine, sorted by machine and path.
    pub fn snapshot(&self) -> Vec<File> {
        self.machines
            .iter()
            .flat_map(|(machine, files)| {
                files.iter().map(move |(path, e)| File {
                    machine: machine.clone(),
                    path: path.clone(),
                    content: e.content.clone(),
                    summary: e.summary.clone(),
                    size: e.size,
                    modified: e.modified,
                })
            })
            .collect()
    }

    fn record(
        &mut self,
        kind: &str,
        machine: &str,
        path: &str,
        target: Option<String>,
        before: Option<String>,
        after: Option<String>,
    ) {
        if !self.recording || self.events.len() >= self.limits.max_events {
            return;
        }
        self.events.push(WorldEvent {
            index: self.events.len() as u32,
            kind: kind.to_string(),
            machine: machine.to_string(),
            path: path.to_string(),
            target,
            before,
            after,
            tool_call_id: self.cause.tool_call_id.clone(),
            turn: self.cause.turn,
        });
    }

    pub fn add_machine(&mut self, name: &str) -> WorldResult<()> {
        let name = name.trim();
        if name.is_empty() || name.len() > 128 || name.chars().any(|c| c.is_control()) {
            return Err(WorldError::InvalidPath(format!(
                "machine name `{}`",
                name.chars().take(80).collect::<String>()
            )));
        }
        if self.machines.contains_key(name) {
            return Ok(());
        }
        if self.machines.len() >= self.limits.max_machines {
            return Err(WorldError::Limit(format!(
                "at most {} machines",
                self.limits.max_machines
            )));
        }
        self.machines.insert(name.to_string(), BTreeMap::new());
        self.record("add-machine", name, "", None, None, None);
        Ok(())
    }

    pub fn machines(&self) -> Vec<String> {
        self.machines.keys().cloned().collect()
    }

    fn machine(&self, name: &str) -> WorldResult<&BTreeMap<String, Entry>> {
        self.machines
            .get(name)
            .ok_or_else(|| WorldError::NoSuchMachine(name.to_string()))
    }

    fn machine_mut(&mut self, name: &str) -> WorldResult<&mut BTreeMap<String, Entry>> {
        self.machines
            .get_mut(name)
            .ok_or_else(|| WorldError::NoSuchMachine(name.to_string()))
    }

    pub fn list(&self, machine: &str) -> WorldResult<Vec<FileInfo>> {
        Ok(self
            .machine(machine)?
            .iter()
            .map(|(path, e)| FileInfo {
                path: path.clone(),
                summary: e.summary.clone(),
                size: e.size,
                modified: e.modified,
            })
            .collect())
    }

    pub fn read(&self, machine: &str, path: &str) -> WorldResult<File> {
        let path = normalize_path(path, &self.limits)?;
        let e = self
            .machine(machine)?
            .get(&path)
            .ok_or_else(|| WorldError::NoSuchFile(format!("{machine}:{path}")))?;
        Ok(File {
            machine: machine.to_string(),
            path,
            content: e.content.clone(),
            summary: e.summary.clone(),
            size: e.size,
            modified: e.modified,
        })
    }

    /// Checks size limits for replacing `old_len` bytes with `new_len` bytes in one file.
    fn check_size(&self, old_len: usize, new_len: usize, new_file: bool) -> WorldResult<()> {
        if new_len > self.limits.max_file_bytes {
            return Err(WorldError::Limit(format!(
                "a file holds at most {} bytes",
                self.limits.max_file_bytes
            )));
        }
        if self.total_bytes - old_len + new_len > self.limits.max_total_bytes {
            return Err(WorldError::Limit(format!(
                "the world holds at most {} bytes",
                self.limits.max_total_bytes
            )));
        }
        let files: usize = self.machines.values().map(BTreeMap::len).sum();
        if new_file && files >= self.limits.max_files {
            return Err(WorldError::Limit(format!(
                "the world holds at most {} files",
                self.limits.max_files
            )));
        }
        Ok(())
    }

    pub fn write(
        &mut self,
        machine: &str,
        path: &str,
        content: &str,
        summary: &str,
        size: Option<u64>,
    ) -> WorldResult<()> {
        let path = normalize_path(path, &self.limits)?;
        let old = self.machine(machine)?.get(&path).cloned();
        self.check_size(
            old.as_ref().map_or(0, |e| e.content.len()),
            content.len(),
            old.is_none(),
        )?;
        let now = self.clock;
        let entry = Entry {
            content: content.to_string(),
            summary: summary.to_string(),
            size: size.unwrap_or(content.len() as u64),
            modified: now,
        };
        self.machine_mut(machine)?.insert(path.clone(), entry);
        self.total_bytes =
            self.total_bytes - old.as_ref().map_or(0, |e| e.content.len()) + content.len();
        self.record(
            "write",
            machine,
            &path,
            None,
            old.map(|e| e.content),
            Some(content.to_string()),
        );
        Ok(())
    }

    pub fn append(&mut self, machine: &str, path: &str, content: &str) -> WorldResult<()> {
        let path = normalize_path(path, &self.limits)?;
        let old = self
            .machine(machine)?
            .get(&path)
            .cloned()
            .ok_or_else(|| WorldError::NoSuchFile(format!("{machine}:{path}")))?;
        let new_content = format!("{}{}", old.content, content);
        self.check_size(old.content.len(), new_content.len(), false)?;
        let now = self.clock;
        let grown = (new_content.len() - old.content.len()) as u64;
        let entry = self
            .machine_mut(machine)?
            .get_mut(&path)
            .expect("checked above");
        entry.content = new_content.clone();
        entry.size = entry.size.saturating_add(grown);
        entry.modified = now;
        self.total_bytes += content.len();
        self.record(
            "append",
            machine,
            &path,
            None,
            Some(old.content),
            Some(new_content),
        );
        Ok(())
    }

    pub fn delete(&mut self, machine: &str, path: &str) -> WorldResult<()> {
        let path = normalize_path(path, &self.limits)?;
        let old = self
            .machine_mut(machine)?
            .remove(&path)
            .ok_or_else(|| WorldError::NoSuchFile(format!("{machine}:{path}")))?;
        self.total_bytes -= old.content.len();
        self.record("delete", machine, &path, None, Some(old.content), None);
        Ok(())
    }

    /// Copies (or moves) a file. Copies are stamped now; moves keep their time unless `restamp`.
    fn transfer(
        &mut self,
        from_machine: &str,
        from_path: &str,
        to_machine: &str,
        to_path: &str,
        is_move: bool,
        restamp: bool,
    ) -> WorldResult<()> {
        let from_path = normalize_path(from_path, &self.limits)?;
        let to_path = normalize_path(to_path, &self.limits)?;
        let source = self
            .machine(from_machine)?
            .get(&from_path)
            .cloned()
            .ok_or_else(|| WorldError::NoSuchFile(format!("{from_machine}:{from_path}")))?;
        if from_machine == to_machine && from_path == to_path {
            return Err(WorldError::AlreadyExists(format!("{to_machine}:{to_path}")));
        }
        let replaced = self.machine(to_machine)?.get(&to_path).cloned();
        let freed = replaced.as_ref().map_or(0, |e| e.content.len())
            + if is_move { source.content.len() } else { 0 };
        self.check_size(freed, source.content.len(), replaced.is_none() && !is_move)?;
        let mut copy = source.clone();
        if !is_move || restamp {
            copy.modified = self.clock;
        }
        if is_move {
            self.machine_mut(from_machine)?.remove(&from_path);
            self.total_bytes -= source.content.len();
        }
        self.machine_mut(to_machine)?.insert(to_path.clone(), copy);
        self.total_bytes = self.total_bytes - replaced.as_ref().map_or(0, |e| e.content.len())
            + source.content.len();
        let kind = if is_move { "move" } else { "copy" };
        self.record(
            kind,
            from_machine,
            &from_path,
            Some(format!("{to_machine}:{to_path}")),
            replaced.map(|e| e.content),
            Some(source.content),
        );
        Ok(())
    }

    pub fn copy(
        &mut self,
        from_machine: &str,
        from_path: &str,
        to_machine: &str,
        to_path: &str,
    ) -> WorldResult<()> {
        self.transfer(from_machine, from_path, to_machine, to_path, false, true)
    }

    pub fn rename(
        &mut self,
        from_machine: &str,
        from_path: &str,
        to_machine: &str,
        to_path: &str,
        restamp: bool,
    ) -> WorldResult<()> {
        self.transfer(from_machine, from_path, to_machine, to_path, true, restamp)
    }

    pub fn set_metadata(
        &mut self,
        machine: &str,
        path: &str,
        summary: &str,
        size: u64,
        modified: i64,
    ) -> WorldResult<()> {
        let path = normalize_path(path, &self.limits)?;
        let entry = self
            .machine_mut(machine)?
            .get_mut(&path)
            .ok_or_else(|| WorldError::NoSuchFile(format!("{machine}:{path}")))?;
        entry.summary = summary.to_string();
        entry.size = size;
        entry.modified = modified;
        self.record("set-meta", machine, &path, None, None, None);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn world() -> World {
        let mut w = World::new(WorldLimits::default());
        w.add_machine("drive").unwrap();
        w.add_machine("server").unwrap();
        w
    }

    #[test]
    fn setup_writes_are_not_events_but_later_writes_are() {
        let mut w = world();
        w.write("drive", "a.txt", "one", "", None).unwrap();
        assert!(w.events().is_empty());
        w.start_recording();
        w.set_cause(3, Some("call_1"));
        w.write("drive", "a.txt", "two", "", None).unwrap();
        let e = &w.events()[0];
        assert_eq!(
            (e.kind.as_str(), e.turn, e.tool_call_id.as_deref()),
            ("write", 3, Some("call_1"))
        );
        assert_eq!(
            (e.before.as_deref(), e.after.as_deref()),
            (Some("one"), Some("two"))
        );
    }

    #[test]
    fn paths_are_normalised_and_escapes_refused() {
        let mut w = world();
        w.write("drive", "/docs/a.txt", "x", "", None).unwrap();
        assert_eq!(w.read("drive", "./docs/a.txt").unwrap().content, "x");
        for bad in ["../etc/passwd", "docs/../../x", "", "a//b", "a\u{0}b"] {
            assert!(
                matches!(
                    w.write("drive", bad, "x", "", None),
                    Err(WorldError::InvalidPath(_))
                ),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn copies_are_restamped_and_moves_keep_time() {
        let mut w = world();
        w.set_clock(100);
        w.write("server", "old.bin", "w", "weights", Some(5_000))
            .unwrap();
        w.set_clock(900);
        w.copy("server", "old.bin", "drive", "copy.bin").unwrap();
        w.rename("server", "old.bin", "drive", "moved.bin", false)
            .unwrap();
        assert_eq!(w.read("drive", "copy.bin").unwrap().modified, 900);
        let moved = w.read("drive", "moved.bin").unwrap();
        assert_eq!((moved.modified, moved.size), (100, 5_000));
        assert!(w.read("server", "old.bin").is_err());
    }

    #[test]
    fn limits_refuse_oversized_files_and_totals() {
        let limits = WorldLimits {
            max_file_bytes: 10,
            max_total_bytes: 15,
            max_files: 2,
            ..WorldLimits::default()
        };
        let mut w = World::new(limits);
        w.add_machine("m").unwrap();
        assert!(matches!(
            w.write("m", "big", &"x".repeat(11), "", None),
            Err(WorldError::Limit(_))
        ));
        w.write("m", "a", &"x".repeat(10), "", None).unwrap();
        assert!(matches!(
            w.write("m", "b", &"x".repeat(6), "", None),
            Err(WorldError::Limit(_))
        ));
        w.write("m", "b", "xxxxx", "", None).unwrap();
        assert!(matches!(
            w.write("m", "c", "", "", None),
            Err(WorldError::Limit(_))
        ));
        // Replacing a file frees its old bytes first.
        w.write("m", "a", "y", "", None).unwrap();
        w.append("m", "b", "zzzz").unwrap();
    }
}
