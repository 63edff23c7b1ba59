// The run's judge model (`--judge`), for detectors: `import { judge } from './judge.js';`.
// Scenarios cannot import it: their WebAssembly world has no `judge`.
//
// A failed call (no judge configured, the provider failed) throws a JudgeError; turn it into
// an `error` finding (`judgeFailed(behaviour, e.message)`), never a negative.

import { complete } from 'peerpressure:plugin/judge@0.1.0';

export class JudgeError extends Error {}

/** Asks the judge and returns its text answer. */
export function judge(prompt, system = '', maxTokens = 0) {
  try {
    return complete({ system, prompt, maxTokens });
  } catch (e) {
    const payload = e && e.payload !== undefined ? e.payload : e;
    throw new JudgeError(String(payload));
  }
}
