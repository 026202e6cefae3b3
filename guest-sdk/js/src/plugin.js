// The `Plugin` base class and the table of hooks.

/**
 * Base class of a plugin. Define the hooks you need (the methods in `HOOKS`); the
 * component exports exactly those, and the host calls no others.
 *
 *     export default class NoShouting extends Plugin {
 *       static name = 'no-shouting';   // what `describe` reports (default: the class name)
 *       static version = '1.0.0';      // default: 0.0.0
 *       constructor(config) { super(config); ... }   // config: parsed JSON, null when none
 *       newCtx() { return { seen: 0 }; }             // per-request state (default: {})
 *       preCall(ctx, req) { ... }
 *     }
 *
 * **State.** The SDK makes one plugin object per component instance, from the config
 * (also once at load, where a throw refuses the plugin): what it holds is configuration.
 * State of one request goes in `ctx`, which the SDK makes fresh with `newCtx()` for every
 * request (it tells requests apart by their id, which the host never repeats) and hands
 * to each of the request's hooks. That holds however the operator runs the plugin, an
 * instance per request or one serving request after request (`instances: reuse`): no
 * hook sees another request's ctx, and nothing needs resetting by hand. State that must
 * outlive a request belongs in `kv`.
 */
export class Plugin {
  constructor(config) {
    /** The plugin's config, parsed from JSON; `null` when none was given. */
    this.config = config;
  }

  /** A fresh per-request context: called on each request's first hook. Default: `{}`. */
  newCtx() {
    return {};
  }
}

/** The hooks: [method, contract interface, what it may return (for failure messages)]. */
export const HOOKS = [
  ['preCall', 'pre-call', 'return nothing to go on (with your edits), respond(text) to answer, or throw a Rejection'],
  ['moderation', 'moderation', 'return nothing to approve, or throw a Rejection'],
  ['postCallSuccess', 'post-call-success', 'return nothing to go on (with your edits), or throw a Rejection'],
  ['postCallFailure', 'post-call-failure', 'return nothing to keep the error, or throw a Rejection'],
  ['streamChunk', 'stream-chunk', 'return nothing to forward the chunk (with your edits), drop(), or throw a Rejection'],
  ['streamEnd', 'stream-end', 'return nothing, or throw a Rejection'],
  ['logSuccess', 'log-success', 'return nothing'],
  ['logFailure', 'log-failure', 'return nothing'],
];

const HOOK_METHODS = new Set(HOOKS.map(([method]) => method));
const squash = (name) => name.replace(/[-_]/g, '').toLowerCase();

/** Method names along the class's prototype chain, below `Plugin` (or `Object`). */
function methodNames(PluginClass) {
  const names = new Set();
  for (
    let proto = PluginClass.prototype;
    proto && proto !== Plugin.prototype && proto !== Object.prototype;
    proto = Object.getPrototypeOf(proto)
  ) {
    for (const name of Object.getOwnPropertyNames(proto)) {
      const descriptor = Object.getOwnPropertyDescriptor(proto, name);
      if (name !== 'constructor' && typeof descriptor.value === 'function') names.add(name);
    }
  }
  return names;
}

/**
 * The hook methods `PluginClass` defines (itself or a parent class below `Plugin`), in
 * the contract's order. Throws on a misspelled hook (`pre_call`, `PreCall`).
 */
export function definedHooks(PluginClass) {
  if (typeof PluginClass !== 'function' || !PluginClass.prototype) {
    throw new TypeError('the plugin module must `export default` a class (`export default class MyPlugin extends Plugin {...}`)');
  }
  // A class that knows better says which hooks it runs (a Bundle: its members').
  if (typeof PluginClass.hooksOf === 'function') return PluginClass.hooksOf();
  const className = PluginClass.name || 'the plugin class';
  const names = methodNames(PluginClass);
  for (const name of names) {
    if (HOOK_METHODS.has(name)) continue;
    const hook = HOOKS.find(([method]) => squash(method) === squash(name));
    if (hook) throw new TypeError(`${className}.${name}: hook methods are camelCase in JavaScript; did you mean ${hook[0]}?`);
  }
  return HOOKS.filter(([method]) => names.has(method)).map(([method]) => method);
}

/** The name and version `describe` reports: `static name` (default: the class name) and `static version` (default `0.0.0`). */
export function describePlugin(PluginClass) {
  return { name: String(PluginClass.name || 'js-plugin'), version: String(PluginClass.version ?? '0.0.0') };
}
