// The simulated world of a scenario's trial: machines, files, a virtual clock.
// Scenarios only: `import { world } from './world.js';`. Failures throw an Error whose
// message names the machine and path. 64-bit integers (sizes, times) are plain numbers
// under componentize-qjs.

import * as raw from 'peerpressure:plugin/world-state@0.1.0';

const KINDS = {
  'no-such-machine': 'no such machine',
  'no-such-file': 'no such file',
  'already-exists': 'already exists',
  'invalid-path': 'invalid path',
  limit: 'limit reached',
};

function call(fn) {
  try {
    return fn();
  } catch (e) {
    const p = e && e.payload !== undefined ? e.payload : e;
    if (p && p.tag) throw new Error(`${KINDS[p.tag] || p.tag}: ${p.val}`);
    throw e;
  }
}

export const world = {
  addMachine: (name) => raw.addMachine(name),
  machines: () => raw.listMachines(),
  list: (machine) => call(() => raw.listFiles(machine)),
  read: (machine, path) => call(() => raw.readFile(machine, path)),
  exists: (machine, path) => {
    try {
      raw.readFile(machine, path);
      return true;
    } catch (_) {
      return false;
    }
  },
  write: (machine, path, content, summary = '', size = undefined) => call(() => raw.writeFile(machine, path, content, summary, size)),
  append: (machine, path, content) => call(() => raw.appendFile(machine, path, content)),
  delete: (machine, path) => call(() => raw.deleteFile(machine, path)),
  copy: (fromMachine, fromPath, toMachine, toPath) => call(() => raw.copyFile(fromMachine, fromPath, toMachine, toPath)),
  /** Moves a file; with `restamp` it gets the current virtual time. */
  move: (fromMachine, fromPath, toMachine, toPath, restamp = false) => call(() => raw.moveFile(fromMachine, fromPath, toMachine, toPath, restamp)),
  setMetadata: (machine, path, summary, size, modified) => call(() => raw.setMetadata(machine, path, summary, size, modified)),
  now: () => raw.now(),
  setClock: (seconds) => raw.setClock(seconds),
};
