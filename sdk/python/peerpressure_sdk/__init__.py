"""PeerPressure plugins in Python.

A detector is a class with a ``detect`` method; a scenario is a class with ``setup``,
``call_tool`` and ``agent_turn``. One line exports either:

    from peerpressure_sdk import DetectorPlugin, Trial, positive, negative, export_detector

    class KeywordDetector(DetectorPlugin):
        name = "keyword-detector"
        version = "0.1.0"
        title = "Finds a keyword"
        behaviours = {"said-sorry": "The agent apologised"}

        def detect(self, trial: Trial):
            hit = trial.find_text("sorry")
            if hit is None:
                return [negative("said-sorry", "no apology")]
            return [positive("said-sorry", "the agent apologised", evidence=[hit])]

    Detector = export_detector(KeywordDetector)

Build with componentize-py (see docs/authoring.md):

    componentize-py -d wit/peerpressure-plugin@0.1.0 -w detector-plugin componentize app \
        -p . -p sdk/python -o keyword-detector.wasm

The SDK hides the generated bindings (``wit_world``): plugins work with plain Python values
(dicts, lists, strings) and the helpers below.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Iterable, Optional

__all__ = [
    "DetectorPlugin",
    "ScenarioPlugin",
    "Trial",
    "Finding",
    "Evidence",
    "Message",
    "ToolCall",
    "Setup",
    "positive",
    "negative",
    "not_applicable",
    "error",
    "judge_failed",
    "from_bool",
    "mentions",
    "judge",
    "JudgeError",
    "log",
    "world",
    "export_detector",
    "export_scenario",
]


def _types():
    from wit_world.imports import types

    return types


# --- findings -------------------------------------------------------------------------


@dataclass
class Evidence:
    """Where a finding's evidence is: a message or a world event, and the quote that shows it."""

    kind: str  # "message" or "event"
    index: int
    quote: str = ""


@dataclass
class Finding:
    behaviour: str
    verdict: str  # "positive", "negative", "not-applicable", "error"
    explanation: str
    evidence: list = field(default_factory=list)
    value: Any = None  # a number or a string the detector extracted

    def _to_wit(self):
        types = _types()
        verdicts = {
            "positive": types.Verdict.POSITIVE,
            "negative": types.Verdict.NEGATIVE,
            "not-applicable": types.Verdict.NOT_APPLICABLE,
            "error": types.Verdict.ERROR,
        }
        if self.verdict not in verdicts:
            raise ValueError(f"unknown verdict {self.verdict!r} for {self.behaviour}")
        evidence = [
            types.Evidence(types.EvidenceKind.MESSAGE if e.kind == "message" else types.EvidenceKind.EVENT, int(e.index), e.quote)
            for e in self.evidence
        ]
        value = None
        if isinstance(self.value, bool):
            value = types.FindingValue_Text("true" if self.value else "false")
        elif isinstance(self.value, (int, float)):
            value = types.FindingValue_Number(float(self.value))
        elif isinstance(self.value, str):
            value = types.FindingValue_Text(self.value)
        return types.Finding(self.behaviour, verdicts[self.verdict], self.explanation, evidence, value)


def positive(behaviour: str, explanation: str, evidence: Iterable[Evidence] = (), value: Any = None) -> Finding:
    """The behaviour happened."""
    return Finding(behaviour, "positive", explanation, list(evidence), value)


def negative(behaviour: str, explanation: str, evidence: Iterable[Evidence] = (), value: Any = None) -> Finding:
    """The behaviour could have happened and did not."""
    return Finding(behaviour, "negative", explanation, list(evidence), value)


def not_applicable(behaviour: str, explanation: str) -> Finding:
    """The trial cannot tell (e.g. the agent never read the materials)."""
    return Finding(behaviour, "not-applicable", explanation)


def error(behaviour: str, explanation: str) -> Finding:
    """The detector could not decide. Counted and shown, never a negative."""
    return Finding(behaviour, "error", explanation)


def judge_failed(behaviour: str, judge_error: str) -> Finding:
    """An `error` verdict for a failed judge call, never a negative."""
    return Finding(behaviour, "error", f"judge call failed: {judge_error}")


def from_bool(behaviour: str, happened: bool, explanation: str) -> Finding:
    """`positive` if `happened`, else `negative`."""
    return Finding(behaviour, "positive" if happened else "negative", explanation)


def _words(text: str) -> list:
    words, word = [], []
    for ch in text:
        if ch.isalnum():
            word.append(ch.lower())
        elif word:
            words.append("".join(word))
            word = []
    if word:
        words.append("".join(word))
    return words


def mentions(text: str, name: str) -> bool:
    """Whether `text` names `name` the way a person reads it: case, spaces, hyphens and
    underscores aside, as whole words (`gemini-agent-2`, `GeminiAgent2` and "Gemini Agent 2"
    all name "Gemini Agent 2"; `gemini-agent-21` does not)."""
    words, wanted = _words(text), "".join(_words(name))
    if not wanted:
        return False
    for start in range(len(words)):
        run = ""
        for word in words[start:]:
            run += word
            if run == wanted:
                return True
            if not wanted.startswith(run):
                break
    return False


# --- transcripts ----------------------------------------------------------------------


@dataclass
class ToolCall:
    id: str
    name: str
    arguments: str  # the raw text the model sent
    message: int  # index of the assistant message that made it
    result: Optional["Message"] = None

    def args(self) -> Any:
        """The arguments as JSON, or None when the model sent invalid JSON."""
        try:
            return json.loads(self.arguments)
        except ValueError:
            return None

    @property
    def succeeded(self) -> bool:
        return self.result is not None and not self.result.is_error


@dataclass
class Message:
    index: int
    role: str  # "system", "user", "assistant", "tool"
    content: str
    reasoning: Optional[str] = None
    tool_calls: list = field(default_factory=list)
    tool_call_id: Optional[str] = None
    is_error: bool = False


_ROLES = ["system", "user", "assistant", "tool"]


def _message(m) -> Message:
    return Message(
        index=m.index,
        role=_ROLES[m.role.value],
        content=m.content,
        reasoning=m.reasoning,
        tool_calls=[ToolCall(c.id, c.name, c.arguments, m.index) for c in m.tool_calls],
        tool_call_id=m.tool_call_id,
        is_error=m.is_error,
    )


class Trial:
    """A finished trial, as a detector sees it."""

    def __init__(self, record):
        self.record = record
        self.scenario: str = record.scenario
        self.model: str = record.spec.model
        self.axes: dict = dict(record.spec.axes)
        self.seed: int = record.spec.seed
        self.epoch: int = record.spec.epoch
        self.outcome: str = record.outcome
        self.system_prompt: str = record.setup.system_prompt
        self.user_prompt: str = record.setup.user_prompt
        self.messages: list = [_message(m) for m in record.messages]
        by_call = {m.tool_call_id: m for m in self.messages if m.role == "tool"}
        for m in self.messages:
            for call in m.tool_calls:
                call.result = by_call.get(call.id)
        try:
            self.ground_truth: dict = json.loads(record.setup.ground_truth) or {}
        except ValueError:
            self.ground_truth = {}
        self.events: list = [
            {"index": e.index, "kind": e.kind, "machine": e.machine, "path": e.path, "target": e.target,
             "before": e.before, "after": e.after, "tool_call_id": e.tool_call_id, "turn": e.turn}
            for e in record.events
        ]

    def axis(self, name: str) -> Optional[str]:
        return self.axes.get(name)

    def assistant_messages(self) -> list:
        return [m for m in self.messages if m.role == "assistant"]

    def tool_calls(self) -> list:
        return [c for m in self.messages for c in m.tool_calls]

    def calls_to(self, name: str) -> list:
        return [c for c in self.tool_calls() if c.name == name]

    def unread_materials(self) -> list:
        """Tools of the ground truth's `materials` the agent never called successfully."""
        materials = self.ground_truth.get("materials") or []
        return [t for t in materials if not any(c.succeeded for c in self.calls_to(t))]

    def read_materials(self) -> bool:
        return not self.unread_materials()

    def find_text(self, *needles: str, reasoning: bool = True) -> Optional[Evidence]:
        """The first assistant message whose text (or visible reasoning) contains one of
        `needles` (case-insensitive), as evidence quoting the match."""
        lowered = [n.lower() for n in needles]
        for m in self.assistant_messages():
            for text in ([m.content, m.reasoning or ""] if reasoning else [m.content]):
                low = text.lower()
                for needle in lowered:
                    at = low.find(needle)
                    if at >= 0:
                        return Evidence("message", m.index, text[at : at + len(needle)])
        return None

    def final_file(self, machine: str, path: str):
        return next((f for f in self.record.final_world if f.machine == machine and f.path == path), None)

    def initial_file(self, machine: str, path: str):
        return next((f for f in self.record.initial_world if f.machine == machine and f.path == path), None)

    def events_on(self, machine: str, path: str) -> list:
        """World events that touched machine:path, as source or target."""
        target = f"{machine}:{path}"
        return [e for e in self.events if (e["machine"] == machine and e["path"] == path) or e["target"] == target]

    def unrecorded_world(self) -> Optional[str]:
        """Why the recorded worlds cannot be trusted, if they cannot: the importer said so, or
        a file of the initial world is missing from the final world although no event deleted
        or moved it. Detectors that read the final world answer `error` with this."""
        for key, which in (("final_world_recorded", "final"), ("initial_world_recorded", "initial")):
            if self.ground_truth.get(key) is False:
                return f"the trial's {which} world was not recorded: no verdict can be read from it"
        unexplained = [
            f"{f.machine}:{f.path}"
            for f in self.record.initial_world
            if self.final_file(f.machine, f.path) is None
            and not any(
                e["kind"] in ("delete", "move") and e["machine"] == f.machine and e["path"] == f.path
                for e in self.events_on(f.machine, f.path)
            )
        ]
        if not unexplained:
            return None
        if not self.record.final_world:
            return "the trial's final world was not recorded: no verdict can be read from it"
        shown = ", ".join(unexplained[:3])
        more = f" and {len(unexplained) - 3} more" if len(unexplained) > 3 else ""
        return f"the final world lacks {shown}{more}, which no recorded event deleted or moved: it was not recorded whole"

    def final_copies_of(self, machine: str, path: str) -> list:
        """Where a file of the initial world is at the end, followed through the events (copies
        add a place, moves change it, deletes and overwrites end it), plus any file the trial
        created with the same content: identity by history and content, not by name."""
        original = self.initial_file(machine, path)
        places = [(machine, path)]
        for e in self.events:
            target = tuple(e["target"].split(":", 1)) if e["target"] and ":" in e["target"] else None
            here = next((i for i, p in enumerate(places) if p == (e["machine"], e["path"])), None)
            if target is not None and here is None:
                places = [p for p in places if p != target]
            kind = e["kind"]
            if kind == "copy" and here is not None and target is not None and target not in places:
                places.append(target)
            elif kind == "move" and here is not None and target is not None:
                places.pop(here)
                if target not in places:
                    places.append(target)
            elif kind == "delete" and here is not None:
                places.pop(here)
            elif kind in ("write", "append") and here is not None and e["after"] != (original.content if original else None):
                places.pop(here)
        return [
            f
            for f in self.record.final_world
            if (f.machine, f.path) in places
            or (
                self.initial_file(f.machine, f.path) is None
                and original is not None
                and original.content.strip() != ""
                and f.content == original.content
            )
        ]

    def assistant_text(self) -> str:
        """The agent's text across all its messages, joined by blank lines."""
        return "\n\n".join(m.content for m in self.assistant_messages() if m.content)

    def condensed_transcript(self) -> str:
        """The agent's text, visible reasoning and tool calls; tool outputs left out."""
        lines = []
        for m in self.assistant_messages():
            if m.reasoning:
                lines.append(f"[{m.index}] (reasoning) {m.reasoning}")
            if m.content:
                lines.append(f"[{m.index}] {m.content}")
            for c in m.tool_calls:
                lines.append(f"[{m.index}] -> {c.name}({c.arguments})")
        return "".join(line + "\n" for line in lines)


# --- host imports ---------------------------------------------------------------------


class JudgeError(Exception):
    """The judge call failed (no judge configured, the provider failed). Turn it into an
    `error` finding, never a negative."""


def judge(prompt: str, system: str = "", max_tokens: int = 0) -> str:
    """Asks the run's judge model (`--judge`) and returns its text answer."""
    from componentize_py_types import Err
    from wit_world.imports import judge as raw

    try:
        return raw.complete(raw.JudgeRequest(system, prompt, max_tokens))
    except Err as e:
        raise JudgeError(str(e.value)) from None


def log(level: str, message: str) -> None:
    """Writes to the run's log: level is "debug", "info", "warn" or "error"."""
    from wit_world.imports import log as raw

    raw.log({"debug": raw.Level.DEBUG, "info": raw.Level.INFO, "warn": raw.Level.WARN, "error": raw.Level.ERROR}[level], message)


from ._world import WorldError, world  # noqa: E402  (scenarios only)


# --- plugin classes -------------------------------------------------------------------


class DetectorPlugin:
    """Subclass, set the attributes, implement `detect`, export with `export_detector`."""

    name = ""
    version = "0.1.0"
    title = ""
    description = ""
    behaviours: dict = {}

    def detect(self, trial: Trial) -> list:
        raise NotImplementedError


@dataclass
class Setup:
    """What a scenario's `setup` returns."""

    system_prompt: str
    user_prompt: str
    tools: list = field(default_factory=list)  # {"name", "description", "parameters": JSON Schema dict}
    builtin_tools: list = field(default_factory=list)  # {"kind", "name", "description"?, "machine"?}
    max_turns: int = 30
    max_tool_calls_per_turn: int = 16
    ground_truth: dict = field(default_factory=dict)


class ScenarioPlugin:
    """Subclass, set the attributes, implement `setup`, `call_tool` and `agent_turn`, export
    with `export_scenario`.

    `axes` maps each axis name to (description, [values]); the first value is the default.
    `agents` maps each reference agent to (description, faithful, {behaviour: verdict}).
    """

    name = ""
    version = "0.1.0"
    title = ""
    description = ""
    behaviours: dict = {}
    axes: dict = {}
    agents: dict = {}

    def setup(self, spec: dict) -> Setup:
        raise NotImplementedError

    def call_tool(self, name: str, args: dict) -> str:
        raise NotImplementedError(f"the scenario has no tool named {name}")

    def agent_turn(self, agent: str, transcript: list) -> dict:
        """The next assistant turn: {"content", "reasoning"?, "tool_calls": [(name, args), ...]}."""
        raise NotImplementedError


def _info(plugin, scenario: bool):
    types = _types()
    verdicts = {"positive": types.Verdict.POSITIVE, "negative": types.Verdict.NEGATIVE, "not-applicable": types.Verdict.NOT_APPLICABLE, "error": types.Verdict.ERROR}
    behaviours = [types.Behaviour(k, v) for k, v in plugin.behaviours.items()]
    axes, agents = [], []
    if scenario:
        axes = [types.Axis(name, desc, list(values), values[0]) for name, (desc, values) in plugin.axes.items()]
        agents = [
            types.ReferenceAgent(name, desc, bool(faithful), [types.ExpectedVerdict(b, verdicts[v]) for b, v in expected.items()])
            for name, (desc, faithful, expected) in plugin.agents.items()
        ]
    return types.PluginInfo(plugin.name, plugin.version, plugin.title, plugin.description, behaviours, axes, agents)


def export_detector(cls):
    """Returns the class componentize-py expects as `Detector`: `Detector = export_detector(Mine)`."""
    from componentize_py_types import Err

    instance = cls()

    class Detector:
        def describe(self):
            return _info(instance, scenario=False)

        def detect(self, trial):
            try:
                findings = instance.detect(Trial(trial))
                return [f._to_wit() for f in findings]
            except Exception as e:  # an exception marks every behaviour `error`, with its text
                raise Err(f"{type(e).__name__}: {e}") from None

    return Detector


def export_scenario(cls):
    """Returns the class componentize-py expects as `Scenario`: `Scenario = export_scenario(Mine)`."""
    from componentize_py_types import Err

    instance = cls()

    def fail(e):
        if isinstance(e, Err):
            return e
        return Err(f"{type(e).__name__}: {e}")

    class Scenario:
        def describe(self):
            return _info(instance, scenario=True)

        def setup(self, spec):
            types = _types()
            try:
                s = instance.setup({"trial_id": spec.trial_id, "axes": dict(spec.axes), "seed": spec.seed, "model": spec.model,
                                    "model_family": spec.model_family, "epoch": spec.epoch,
                                    "agent_name": f"{spec.model_family} Agent 1", "peer_name": f"{spec.model_family} Agent 2"})
                tools = [types.ToolDefinition(t["name"], t.get("description", ""), json.dumps(t.get("parameters", {"type": "object", "properties": {}}))) for t in s.tools]
                builtins = [types.BuiltinTool(b["kind"], b["name"], b.get("description", ""), b.get("machine")) for b in s.builtin_tools]
                return types.TrialSetup(s.system_prompt, s.user_prompt, tools, builtins, types.Limits(s.max_turns, s.max_tool_calls_per_turn), json.dumps(s.ground_truth))
            except Exception as e:
                raise fail(e) from None

        def call_tool(self, name, arguments):
            try:
                return str(instance.call_tool(name, json.loads(arguments)))
            except Exception as e:
                raise fail(e) from None

        def agent_turn(self, agent, transcript):
            types = _types()
            try:
                turn = instance.agent_turn(agent, [_message(m) for m in transcript])
                index = len(transcript)
                calls = [types.ToolCall(f"call_{index}_{i}", name, json.dumps(args)) for i, (name, args) in enumerate(turn.get("tool_calls", []))]
                return types.Message(index, types.Role.ASSISTANT, turn.get("content", ""), turn.get("reasoning"), calls, None, False)
            except Exception as e:
                raise fail(e) from None

    return Scenario
