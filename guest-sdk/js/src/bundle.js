// Several plugins in one component: one JavaScript engine started per request instead of
// one per plugin.
//
// Each fresh instance of a JavaScript plugin starts StarlingMonkey from its snapshot,
// about a quarter of a millisecond of the proxy's CPU before a hook does anything
// (BENCHMARKS.md, "A fresh Python instance, taken apart", which measures JavaScript
// too). Five plugins on fresh instances pay that five times a request; a `Bundle` runs
// them in one instance:
//
//     import { Bundle } from 'hookgate-sdk';
//     import PiiRedactor from './pii-redactor.js';
//     import BannedKeywords from './banned-keywords.js';
//
//     export default class Guardrails extends Bundle {
//       static name = 'guardrails';
//       static members = [['pii-redactor', PiiRedactor], ['banned-keywords', BannedKeywords]];
//     }
//
// The rules are the Python SDK's `Bundle`'s (guest-sdk/python/hookgate_sdk/bundle.py):
// a hook runs the members that define it in `members` order; the first rejection ends
// it with that rejection, `respond()` from preCall and `drop()` from streamChunk with
// that answer. Each member gets its own config (the bundle's config is an object of
// configs by member name), its own object, its own ctx per request and its own kv keys
// (prefixed `<member>/`). To the host the bundle is one plugin: one config entry,
// priority, budget, `on_error`, guardrail name and log name; the members share one
// engine, so bundle only plugins you would trust in one process. A member that throws
// anything but a Rejection fails the bundle's hook, but only after the members after it
// have run: their rejection wins over the failure, and the failure over a later
// `respond()`, so a failing member never skips a later member's check.
// As for any plugin, the failed hook's edits are dropped (every member's), and a bundle
// the proxy finds broken is served without as a whole under `on_error: fail-open`, or
// quarantined as a whole: keep a guardrail's bundle `fail-closed`.

import { Fail, Rejection, describeThrown } from './errors.js';
import { HookFailed, LOGGING, cannotReject, checkOutcome } from './export.js';
import { withKvPrefix } from './host.js';
import { HOOKS, Plugin, definedHooks } from './plugin.js';

/** Whether a member's answer ends `method` for the members after it. */
const endsTheHook = (method, value) => value !== undefined && value !== null && (method === 'preCall' || method === 'streamChunk');

export class Bundle extends Plugin {
  /** The members: `[name, PluginClass]` pairs, run in this order. */
  static members = [];

  /** The hooks any member defines, in the contract's order (what the component exports). */
  static hooksOf() {
    return Object.keys(runnersOf(this));
  }

  constructor(config) {
    super(config);
    // Worked out (and the members checked) once per class, in the snapshot.
    this.runners = runnersOf(this.constructor);
    const { members } = this.constructor;
    const configs = config ?? {};
    if (typeof configs !== 'object' || Array.isArray(configs)) {
      throw new TypeError("a bundle's config is an object of its members' configs, by member name");
    }
    const names = members.map(([name]) => name);
    const unknown = Object.keys(configs).filter((name) => !names.includes(name));
    if (unknown.length > 0) {
      throw new TypeError(`no member named ${unknown.map((name) => JSON.stringify(name)).join(', ')}; the members are ${names.join(', ')}`);
    }
    this.plugins = members.map(([name, Member]) => {
      try {
        return [name, new Member(configs[name] ?? null)];
      } catch (error) {
        throw new TypeError(`${name}: ${error instanceof Error ? error.message : describeThrown(error)}`);
      }
    });
  }

  newCtx() {
    return this.plugins.map(([name, plugin]) =>
      withKvPrefix(`${name}/`, () => {
        try {
          return typeof plugin.newCtx === 'function' ? plugin.newCtx() : {};
        } catch (error) {
          throw new Fail(`${name}: newCtx failed: ${describeThrown(error)}`);
        }
      }),
    );
  }
}

// The bundle's hooks: each runs the members that define it.
for (const [method] of HOOKS) {
  Object.defineProperty(Bundle.prototype, method, {
    value(ctx, ...args) {
      let failure;
      let answer;
      for (const index of this.runners[method] ?? []) {
        const [name, plugin] = this.plugins[index];
        let value;
        try {
          value = withKvPrefix(`${name}/`, () => plugin[method](ctx[index], ...args));
          checkOutcome(method, value);
        } catch (error) {
          if (error instanceof Rejection && !LOGGING.has(method)) throw error;
          const message =
            error instanceof Rejection
              ? cannotReject(method, error)
              : error instanceof HookFailed
                ? error.message
                : describeThrown(error);
          failure ??= `${name}: ${message}`;
          continue;
        }
        if (endsTheHook(method, value)) {
          answer = value;
          break;
        }
      }
      if (failure !== undefined) throw new Fail(failure);
      return answer;
    },
    writable: true,
    configurable: true,
  });
}

// Each bundle class's runners, worked out once: the component's entry asks for its hooks
// at the top level, so a fresh instance finds them in the snapshot instead of walking
// every member's prototype chain on its first request.
const RUNNERS = new WeakMap();

/** For each hook any member of `BundleClass` defines, in the contract's order, the positions of those members. */
function runnersOf(BundleClass) {
  let runners = RUNNERS.get(BundleClass);
  if (runners === undefined) {
    const members = checkedMembers(BundleClass);
    const hooks = members.map(([, Member]) => definedHooks(Member));
    runners = {};
    for (const [method] of HOOKS) {
      const positions = hooks.flatMap((defined, index) => (defined.includes(method) ? [index] : []));
      if (positions.length > 0) runners[method] = positions;
    }
    RUNNERS.set(BundleClass, runners);
  }
  return runners;
}

/** `BundleClass.members`, checked: `[name, PluginClass]` pairs with distinct names. */
function checkedMembers(BundleClass) {
  const members = BundleClass.members;
  const className = BundleClass.name || 'the bundle';
  if (!Array.isArray(members)) throw new TypeError(`${className}.members must be an array of [name, PluginClass] pairs`);
  const names = new Set();
  for (const member of members) {
    const [name, Member] = Array.isArray(member) ? member : [];
    if (typeof name !== 'string' || name === '' || name.includes('/')) {
      throw new TypeError(`${className}.members: ${JSON.stringify(name)} is not a member name (a non-empty string without \`/\`)`);
    }
    if (typeof Member !== 'function' || !(Member.prototype instanceof Plugin) || Member.prototype instanceof Bundle) {
      throw new TypeError(`${className}.members: ${name} is not a Plugin subclass (nor a Bundle)`);
    }
    if (names.has(name)) throw new TypeError(`${className}.members: ${name} appears twice`);
    names.add(name);
  }
  return members;
}
