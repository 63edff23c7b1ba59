"""The trial's simulated world, for scenarios: machines, files and a virtual clock.

Detectors cannot use it: their WebAssembly world has no `world-state` import, so it is
imported only when a scenario calls it.
"""

from __future__ import annotations

from typing import Optional


class _World:
    """The trial's simulated world (scenarios only): machines, files and a virtual clock."""

    @staticmethod
    def _raw():
        from wit_world.imports import world_state

        return world_state

    @staticmethod
    def _call(fn, *args):
        from componentize_py_types import Err

        try:
            return fn(*args)
        except Err as e:
            raise WorldError(_world_error_text(e.value)) from None

    def add_machine(self, name: str) -> None:
        self._raw().add_machine(name)

    def machines(self) -> list:
        return list(self._raw().list_machines())

    def exists(self, machine: str, path: str) -> bool:
        try:
            self.read(machine, path)
            return True
        except WorldError:
            return False

    def list(self, machine: str) -> list:
        return [{"path": f.path, "summary": f.summary, "size": f.size, "modified": f.modified} for f in self._call(self._raw().list_files, machine)]

    def read(self, machine: str, path: str) -> dict:
        f = self._call(self._raw().read_file, machine, path)
        return {"machine": f.machine, "path": f.path, "content": f.content, "summary": f.summary, "size": f.size, "modified": f.modified}

    def write(self, machine: str, path: str, content: str, summary: str = "", size: Optional[int] = None) -> None:
        self._call(self._raw().write_file, machine, path, content, summary, size)

    def append(self, machine: str, path: str, content: str) -> None:
        self._call(self._raw().append_file, machine, path, content)

    def delete(self, machine: str, path: str) -> None:
        self._call(self._raw().delete_file, machine, path)

    def copy(self, from_machine: str, from_path: str, to_machine: str, to_path: str) -> None:
        self._call(self._raw().copy_file, from_machine, from_path, to_machine, to_path)

    def move(self, from_machine: str, from_path: str, to_machine: str, to_path: str, restamp: bool = False) -> None:
        """Moves a file; with `restamp` it gets the current virtual time."""
        self._call(self._raw().move_file, from_machine, from_path, to_machine, to_path, restamp)

    def set_metadata(self, machine: str, path: str, summary: str, size: int, modified: int) -> None:
        self._call(self._raw().set_metadata, machine, path, summary, size, modified)

    def now(self) -> int:
        return self._raw().now()

    def set_clock(self, seconds: int) -> None:
        self._raw().set_clock(seconds)


class WorldError(Exception):
    """A world operation failed; the text names the machine and path."""


def _world_error_text(value) -> str:
    kind = type(value).__name__.split("_")[-1]
    text = {"NoSuchMachine": "no such machine", "NoSuchFile": "no such file", "AlreadyExists": "already exists", "InvalidPath": "invalid path", "Limit": "limit reached"}.get(kind, kind)
    return f"{text}: {getattr(value, 'value', value)}"


world = _World()
