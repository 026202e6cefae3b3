// The glue between a plugin class and the component's exports.
//
// build.mjs generates the component's entry module: it calls `exportPlugin(PluginClass)`
// and exports `setup` and the interface object of each hook the class defines, under the
// contract's names (`hookgate:plugin/pre-call@0.2.0`, ...). The glue keeps the instance's
// plugin object (made by `setup.init`, or by the first hook in an instance that never
// ran `init`) and the context of the request it is serving, made afresh with `newCtx()`
// whenever a hook arrives with another request id. It runs a hook, checks that what the
// hook returned fits it, and maps the result onto the contract: a `Rejection` onto
// `reject`, anything else thrown onto `fail`. Nothing escapes as an exception (which
// componentize-js would turn into a trap).
//
// Free of the host's interfaces except through host.js, so node tests drive plugins
// through exactly this code.

import { Chunk, Request, Response, failureOf, logEntryOf } from './content.js';
import { Rejection, describeThrown } from './errors.js';
import { configText, parseConfig } from './host.js';
import { Outcome } from './outcome.js';
import { HOOKS, definedHooks, describePlugin } from './plugin.js';

const EXPECTED = Object.fromEntries(HOOKS.map(([method, , expected]) => [method, expected]));
/** The hooks that run after the answer: they cannot reject. */
export const LOGGING = new Set(['logSuccess', 'logFailure']);

/** The failure message for a logging hook `method` that threw `rejection`. */
export const cannotReject = (method, rejection) => `${method} threw ${rejection}: the logging hooks cannot reject`;

/** A hook failed: `message` is what the host logs (the `fail` reason). */
export class HookFailed extends Error {}

/** How a returned value reads in a failure message. */
function describeValue(value) {
  if (value instanceof Outcome) return value.label;
  if (value !== null && typeof value === 'object' && typeof value.then === 'function') return 'a Promise';
  if (typeof value === 'function') return `a function (${value.name || 'anonymous'})`;
  if (typeof value === 'string') return JSON.stringify(value.length > 80 ? `${value.slice(0, 80)}...` : value);
  try {
    const json = JSON.stringify(value, (_, v) => (typeof v === 'bigint' ? `${v}n` : v));
    if (json !== undefined) return json.length > 80 ? `${json.slice(0, 80)}...` : json;
  } catch {
    // fall through
  }
  return String(value);
}

/** `value`, returned by `method`, as the contract's ok value of that hook; throws HookFailed when it does not fit. */
export function checkOutcome(method, value) {
  const nothing = value === undefined || value === null;
  if (method === 'preCall') {
    if (nothing) return { tag: 'proceed' };
    if (value instanceof Outcome && value.kind === 'preCall') return value.wit;
  } else if (method === 'streamChunk') {
    if (nothing) return 'proceed';
    if (value instanceof Outcome && value.kind === 'streamChunk') return value.wit.tag;
  } else if (nothing) {
    return undefined;
  }
  let message = `${method} returned ${describeValue(value)}, which does not fit ${method}: ${EXPECTED[method]}`;
  if (value !== null && typeof value === 'object' && typeof value.then === 'function') {
    message += ' (hooks are synchronous: no async/await)';
  }
  throw new HookFailed(message);
}

/** A rejection as the contract's record. */
function rejectionOf(rejection) {
  const status = Number.isInteger(rejection.status) && rejection.status >= 0 && rejection.status <= 0xffff ? rejection.status : 400;
  return { status, message: String(rejection.message), code: rejection.code ?? undefined };
}

/**
 * What `exportPlugin(PluginClass)` keeps: the class, the hooks it defines, and the
 * instance's plugin object and current request context.
 */
export class Exported {
  constructor(PluginClass) {
    this.PluginClass = PluginClass;
    this.hooks = definedHooks(PluginClass);
    const { name, version } = describePlugin(PluginClass);
    this.name = name;
    this.version = version;
    this.plugin = undefined;
    this.requestId = undefined;
    this.ctx = undefined;
  }

  /** `setup.describe`. */
  describe() {
    return { name: this.name, version: this.version };
  }

  /** `setup.init`: makes the plugin from `text`, or says why it cannot. */
  init(text) {
    let config;
    try {
      config = parseConfig(text);
    } catch (error) {
      return { tag: 'err', val: `invalid config: not JSON: ${error?.message ?? error}` };
    }
    try {
      this.plugin = new this.PluginClass(config);
    } catch (error) {
      const message = error instanceof Error ? error.message : describeThrown(error);
      return { tag: 'err', val: message || `plugin \`${this.name}\` refused its config` };
    }
    this.requestId = undefined;
    this.ctx = undefined;
    return { tag: 'ok', val: undefined };
  }

  /** The instance's plugin object, made from the host's config on first use. */
  #instance() {
    if (this.plugin === undefined) {
      try {
        this.plugin = new this.PluginClass(parseConfig(configText()));
      } catch (error) {
        throw new HookFailed(`plugin \`${this.name}\` refused at request time the config it accepted at load: ${describeThrown(error)}`);
      }
    }
    return this.plugin;
  }

  /** The context of request `requestId`: the current one, or a fresh one for a new id. */
  #context(plugin, requestId) {
    if (this.ctx === undefined || this.requestId !== requestId) {
      try {
        this.ctx = typeof plugin.newCtx === 'function' ? plugin.newCtx() : {};
      } catch (error) {
        throw new HookFailed(`newCtx failed: ${describeThrown(error)}`);
      }
      this.requestId = requestId;
    }
    return this.ctx;
  }

  /**
   * Runs hook `method` for the request `call` (the contract's `call-context`) with the
   * arguments `args()` makes. Returns the contract's result: `{tag: 'ok', val}` or
   * `{tag: 'err', val}` (a `hook-error` for the hooks that can refuse, a string for the
   * logging hooks).
   */
  run(method, call, args) {
    const logging = LOGGING.has(method);
    const failed = (message) => ({ tag: 'err', val: logging ? message : { tag: 'fail', val: message } });
    let value;
    try {
      const plugin = this.#instance();
      const ctx = this.#context(plugin, call.requestId);
      value = plugin[method](ctx, ...args());
    } catch (error) {
      if (error instanceof HookFailed) return failed(error.message);
      if (error instanceof Rejection) {
        if (logging) return failed(cannotReject(method, error));
        return { tag: 'err', val: { tag: 'reject', val: rejectionOf(error) } };
      }
      return failed(describeThrown(error));
    }
    try {
      return { tag: 'ok', val: checkOutcome(method, value) };
    } catch (error) {
      return failed(error.message);
    }
  }
}

/**
 * The component's exports for `PluginClass`: `setup` and one object per hook the class
 * defines (`{preCall: {preCall(call, req)}, ...}`, keyed by method name), and `hooks`,
 * those method names. With `expected` (the hooks build.mjs found), checks they agree.
 */
export function exportPlugin(PluginClass, expected) {
  const exported = new Exported(PluginClass);
  if (expected !== undefined && expected.join(',') !== exported.hooks.join(',')) {
    throw new Error(`the plugin class defines hooks [${exported.hooks}] in the component but [${expected}] at build time`);
  }
  const interfaces = {
    setup: {
      describe: () => exported.describe(),
      init: (text) => exported.init(text),
    },
  };
  const glue = {
    preCall: { preCall: (call, req) => exported.run('preCall', call, () => [new Request(call, req)]) },
    moderation: { moderation: (call, req) => exported.run('moderation', call, () => [new Request(call, req)]) },
    postCallSuccess: {
      postCallSuccess: (call, req, resp) => exported.run('postCallSuccess', call, () => [new Request(call, req), new Response(resp)]),
    },
    postCallFailure: {
      postCallFailure: (call, req, failure) =>
        exported.run('postCallFailure', call, () => [new Request(call, req), failureOf(failure)]),
    },
    streamChunk: { streamChunk: (call, req, chunk) => exported.run('streamChunk', call, () => [new Request(call, req), new Chunk(chunk)]) },
    streamEnd: { streamEnd: (call, req, text) => exported.run('streamEnd', call, () => [new Request(call, req), text]) },
    logSuccess: {
      logSuccess: (call, req, resp, entry) =>
        exported.run('logSuccess', call, () => [new Request(call, req), new Response(resp), logEntryOf(entry)]),
    },
    logFailure: { logFailure: (call, req, entry) => exported.run('logFailure', call, () => [new Request(call, req), logEntryOf(entry)]) },
  };
  for (const method of exported.hooks) interfaces[method] = glue[method];
  return { exported, interfaces, hooks: exported.hooks };
}

/** The contract interface of each hook method: `preCall` → `pre-call`. */
export const INTERFACES = Object.fromEntries([['setup', 'setup'], ...HOOKS.map(([method, iface]) => [method, iface])]);

export { definedHooks };
