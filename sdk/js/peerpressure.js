// PeerPressure plugins in JavaScript (QuickJS, built with componentize-qjs).
//
// A detector is a class with a `detect(trial)` method; a scenario is a class with `setup`,
// `callTool` and `agentTurn`. One line exports either:
//
//   import { DetectorPlugin, positive, negative, exportDetector } from './peerpressure.js';
//   class KeywordDetector extends DetectorPlugin { ... }
//   export const detector = exportDetector(KeywordDetector);
//
// Build (see docs/authoring.md):
//   componentize-qjs --wit wit/peerpressure-plugin@0.1.0 -n detector-plugin --js detector.js \
//       --module-root . --sync --stub-wasi -o my-detector.wasm
//
// The SDK hides the generated bindings: plugins work with plain objects, strings and arrays.

import { log as rawLog } from 'peerpressure:plugin/log@0.1.0';

// --- findings ------------------------------------------------------------------------

const VERDICTS = ['positive', 'negative', 'not-applicable', 'error'];

/** Evidence: a message or world event by index, and the quote that shows the behaviour. */
export function evidence(kind, index, quote = '') {
  return { kind, index, quote };
}

function finding(behaviour, verdict, explanation, evidenceList = [], value = undefined) {
  return { behaviour, verdict, explanation, evidence: evidenceList, value };
}

/** The behaviour happened. */
export const positive = (behaviour, explanation, evidenceList, value) => finding(behaviour, 'positive', explanation, evidenceList, value);
/** The behaviour could have happened and did not. */
export const negative = (behaviour, explanation, evidenceList, value) => finding(behaviour, 'negative', explanation, evidenceList, value);
/** The trial cannot tell (e.g. the agent never read the materials). */
export const notApplicable = (behaviour, explanation) => finding(behaviour, 'not-applicable', explanation);
/** The detector could not decide: counted and shown, never a negative. */
export const error = (behaviour, explanation) => finding(behaviour, 'error', explanation);
/** An `error` verdict for a failed judge call, never a negative. */
export const judgeFailed = (behaviour, judgeError) => finding(behaviour, 'error', `judge call failed: ${judgeError}`);
/** `positive` if `happened`, else `negative`. */
export const fromBool = (behaviour, happened, explanation) => finding(behaviour, happened ? 'positive' : 'negative', explanation);

function words(text) {
  return (text.toLowerCase().match(/[\p{L}\p{N}]+/gu) || []);
}

/**
 * Whether `text` names `name` the way a person reads it: case, spaces, hyphens and
 * underscores aside, as whole words (`gemini-agent-2`, `GeminiAgent2` and "Gemini Agent 2"
 * all name "Gemini Agent 2"; `gemini-agent-21` does not).
 */
export function mentions(text, name) {
  const have = words(text);
  const wanted = words(name).join('');
  if (!wanted) return false;
  for (let start = 0; start < have.length; start++) {
    let run = '';
    for (const word of have.slice(start)) {
      run += word;
      if (run === wanted) return true;
      if (!wanted.startsWith(run)) break;
    }
  }
  return false;
}

function toWitFinding(f) {
  if (!VERDICTS.includes(f.verdict)) throw new Error(`unknown verdict ${f.verdict} for ${f.behaviour}`);
  let value;
  if (typeof f.value === 'number') value = { tag: 'number', val: f.value };
  else if (typeof f.value === 'string') value = { tag: 'text', val: f.value };
  return {
    behaviour: f.behaviour,
    verdict: f.verdict,
    explanation: f.explanation,
    evidence: (f.evidence || []).map((e) => ({ kind: e.kind, index: e.index, quote: e.quote || '' })),
    value,
  };
}

// --- transcripts ---------------------------------------------------------------------

/** A finished trial as a detector sees it. */
export class Trial {
  constructor(record) {
    this.record = record;
    this.scenario = record.scenario;
    this.model = record.spec.model;
    this.axes = Object.fromEntries(record.spec.axes);
    this.seed = record.spec.seed;
    this.epoch = record.spec.epoch;
    this.outcome = record.outcome;
    this.messages = record.messages;
    this.events = record.events;
    try {
      this.groundTruth = JSON.parse(record.setup.groundTruth) || {};
    } catch (_) {
      this.groundTruth = {};
    }
  }

  axis(name) {
    return this.axes[name];
  }

  assistantMessages() {
    return this.messages.filter((m) => m.role === 'assistant');
  }

  /** Every tool call, with `message` (the index of the message that made it) and `result`. */
  toolCalls() {
    const results = new Map(this.messages.filter((m) => m.role === 'tool').map((m) => [m.toolCallId, m]));
    return this.assistantMessages().flatMap((m) =>
      m.toolCalls.map((c) => {
        const result = results.get(c.id);
        let args = null;
        try {
          args = JSON.parse(c.arguments);
        } catch (_) {}
        return { id: c.id, name: c.name, arguments: c.arguments, args, message: m.index, result, succeeded: !!result && !result.isError };
      }),
    );
  }

  callsTo(name) {
    return this.toolCalls().filter((c) => c.name === name);
  }

  /** Tools of the ground truth's `materials` the agent never called successfully. */
  unreadMaterials() {
    const materials = this.groundTruth.materials || [];
    return materials.filter((tool) => !this.callsTo(tool).some((c) => c.succeeded));
  }

  readMaterials() {
    return this.unreadMaterials().length === 0;
  }

  finalFile(machine, path) {
    return this.record.finalWorld.find((f) => f.machine === machine && f.path === path);
  }

  initialFile(machine, path) {
    return this.record.initialWorld.find((f) => f.machine === machine && f.path === path);
  }

  /** World events that touched machine:path, as source or target. */
  eventsOn(machine, path) {
    const target = `${machine}:${path}`;
    return this.events.filter((e) => (e.machine === machine && e.path === path) || e.target === target);
  }

  /**
   * The first assistant message whose text (or visible reasoning) contains one of `needles`
   * (case-insensitive), as evidence quoting the match; undefined when none does.
   */
  findText(needles, { reasoning = true } = {}) {
    const lowered = (Array.isArray(needles) ? needles : [needles]).map((n) => n.toLowerCase());
    for (const m of this.assistantMessages()) {
      for (const text of reasoning ? [m.content, m.reasoning || ''] : [m.content]) {
        const low = text.toLowerCase();
        for (const needle of lowered) {
          const at = low.indexOf(needle);
          if (at >= 0) return evidence('message', m.index, text.slice(at, at + needle.length));
        }
      }
    }
    return undefined;
  }

  /** The agent's text, visible reasoning and tool calls; tool outputs left out. */
  condensedTranscript() {
    const lines = [];
    for (const m of this.assistantMessages()) {
      if (m.reasoning) lines.push(`[${m.index}] (reasoning) ${m.reasoning}`);
      if (m.content) lines.push(`[${m.index}] ${m.content}`);
      for (const c of m.toolCalls) lines.push(`[${m.index}] -> ${c.name}(${c.arguments})`);
    }
    return lines.map((line) => `${line}\n`).join('');
  }

  /** The agent's text across all its messages, joined by blank lines. */
  assistantText() {
    return this.assistantMessages()
      .filter((m) => m.content)
      .map((m) => m.content)
      .join('\n\n');
  }

  /**
   * Why the recorded worlds cannot be trusted, if they cannot: the importer said so, or a
   * file of the initial world is missing from the final world although no event deleted or
   * moved it. Detectors that read the final world answer `error` with this.
   */
  unrecordedWorld() {
    for (const [key, which] of [['final_world_recorded', 'final'], ['initial_world_recorded', 'initial']]) {
      if (this.groundTruth[key] === false) return `the trial's ${which} world was not recorded: no verdict can be read from it`;
    }
    const unexplained = this.record.initialWorld
      .filter((f) => !this.finalFile(f.machine, f.path))
      .filter((f) => !this.eventsOn(f.machine, f.path).some((e) => (e.kind === 'delete' || e.kind === 'move') && e.machine === f.machine && e.path === f.path))
      .map((f) => `${f.machine}:${f.path}`);
    if (unexplained.length === 0) return undefined;
    if (this.record.finalWorld.length === 0) return "the trial's final world was not recorded: no verdict can be read from it";
    const more = unexplained.length > 3 ? ` and ${unexplained.length - 3} more` : '';
    return `the final world lacks ${unexplained.slice(0, 3).join(', ')}${more}, which no recorded event deleted or moved: it was not recorded whole`;
  }

  /**
   * Where a file of the initial world is at the end, followed through the events (copies add
   * a place, moves change it, deletes and overwrites end it), plus any file the trial created
   * with the same content: identity by history and content, not by name.
   */
  finalCopiesOf(machine, path) {
    const original = this.initialFile(machine, path);
    const same = (a, b) => a[0] === b[0] && a[1] === b[1];
    let places = [[machine, path]];
    for (const e of this.events) {
      const at = e.target ? e.target.indexOf(':') : -1;
      const target = at >= 0 ? [e.target.slice(0, at), e.target.slice(at + 1)] : undefined;
      const here = places.findIndex((p) => same(p, [e.machine, e.path]));
      if (target && here < 0) places = places.filter((p) => !same(p, target));
      const has = (t) => places.some((p) => same(p, t));
      if (e.kind === 'copy' && here >= 0 && target && !has(target)) places.push(target);
      else if (e.kind === 'move' && here >= 0 && target) {
        places.splice(here, 1);
        if (!has(target)) places.push(target);
      } else if (e.kind === 'delete' && here >= 0) places.splice(here, 1);
      else if ((e.kind === 'write' || e.kind === 'append') && here >= 0 && e.after !== (original ? original.content : undefined)) places.splice(here, 1);
    }
    return this.record.finalWorld.filter(
      (f) =>
        places.some((p) => same(p, [f.machine, f.path])) ||
        (!this.initialFile(f.machine, f.path) && original && original.content.trim() !== '' && f.content === original.content),
    );
  }
}

// --- host imports --------------------------------------------------------------------

/** Writes to the run's log: level is 'debug', 'info', 'warn' or 'error'. */
export function log(level, message) {
  rawLog(level, message);
}

// --- plugin classes ------------------------------------------------------------------

/**
 * Subclass, describe the plugin in `static plugin = { name, version, title, description,
 * behaviours: { id: description } }`, implement `detect(trial)`, export with `exportDetector`.
 */
export class DetectorPlugin {
  static plugin = { name: '', version: '0.1.0', title: '', description: '', behaviours: {} };
  detect(_trial) {
    throw new Error('detect is not implemented');
  }
}

function info(cls, scenario) {
  const p = cls.plugin || {};
  return {
    name: p.name || '',
    version: p.version || '0.1.0',
    title: p.title || '',
    description: p.description || '',
    behaviours: Object.entries(p.behaviours || {}).map(([id, description]) => ({ id, description })),
    axes: scenario ? Object.entries(p.axes || {}).map(([name, [description, values]]) => ({ name, description, values, defaultValue: values[0] })) : [],
    agents: scenario
      ? Object.entries(p.agents || {}).map(([name, [description, faithful, expected]]) => ({
          name,
          description,
          faithful,
          expected: Object.entries(expected || {}).map(([behaviour, verdict]) => ({ behaviour, verdict })),
        }))
      : [],
  };
}

/** The object to export as `detector`: `export const detector = exportDetector(Mine);` */
export function exportDetector(cls) {
  const instance = new cls();
  return {
    describe: () => info(cls, false),
    detect(record) {
      // A thrown error marks every behaviour of the detector `error`, with its text.
      return instance.detect(new Trial(record)).map(toWitFinding);
    },
  };
}

/**
 * Subclass, describe it in `static plugin = { name, version, title, description, behaviours,
 * axes, agents }`, implement `setup(spec)`, `callTool(name, args)` and
 * `agentTurn(agent, transcript)`, export with `exportScenario`.
 * `axes`: { name: [description, [values]] } (the first value is the default).
 * `agents`: { name: [description, faithful, { behaviour: verdict }] }.
 * `agentTurn` returns { content, reasoning?, toolCalls: [[name, args], ...] }.
 */
export class ScenarioPlugin {
  static plugin = { name: '', version: '0.1.0', title: '', description: '', behaviours: {}, axes: {}, agents: {} };
}

// The world of a scenario's trial is in './world.js' (detectors cannot import it: their
// WebAssembly world has no `world-state`).

/** The object to export as `scenario`: `export const scenario = exportScenario(Mine);` */
export function exportScenario(cls) {
  const instance = new cls();
  return {
    describe: () => info(cls, true),
    setup(spec) {
      const s = instance.setup({
        trialId: spec.trialId,
        axes: Object.fromEntries(spec.axes),
        seed: spec.seed,
        model: spec.model,
        modelFamily: spec.modelFamily,
        epoch: spec.epoch,
        agentName: `${spec.modelFamily} Agent 1`,
        peerName: `${spec.modelFamily} Agent 2`,
      });
      return {
        systemPrompt: s.systemPrompt,
        userPrompt: s.userPrompt,
        tools: (s.tools || []).map((t) => ({ name: t.name, description: t.description || '', parameters: JSON.stringify(t.parameters || { type: 'object', properties: {} }) })),
        builtinTools: (s.builtinTools || []).map((b) => ({ kind: b.kind, name: b.name, description: b.description || '', machine: b.machine })),
        limits: { maxTurns: s.maxTurns || 30, maxToolCallsPerTurn: s.maxToolCallsPerTurn || 16 },
        groundTruth: JSON.stringify(s.groundTruth || {}),
      };
    },
    callTool(name, args) {
      return String(instance.callTool(name, JSON.parse(args)));
    },
    agentTurn(agent, transcript) {
      const turn = instance.agentTurn(agent, transcript);
      const index = transcript.length;
      return {
        index,
        role: 'assistant',
        content: turn.content || '',
        reasoning: turn.reasoning,
        toolCalls: (turn.toolCalls || []).map(([name, args], i) => ({ id: `call_${index}_${i}`, name, arguments: JSON.stringify(args) })),
        toolCallId: undefined,
        isError: false,
      };
    },
  };
}
