// hookgate-sdk: write hookgate plugins in JavaScript.
//
// A plugin is a class: its constructor reads the plugin's config, and it defines only the
// hooks it needs (every other hook is a no-op the host never calls), in the style of
// Pingora's ProxyHttp and the Rust SDK's `impl Plugin`:
//
//     import { Plugin, Rejection, modify } from 'hookgate-sdk';
//
//     export default class NoShouting extends Plugin {
//       static name = 'no-shouting';
//       static version = '1.0.0';
//       preCall(req) {
//         if (req.texts().some((t) => t.length > 8 && t === t.toUpperCase())) {
//           throw Rejection.badRequest('please do not shout');
//         }
//       }
//     }
//
// `node guest-sdk/js/build.mjs plugin.js -o plugin.wasm` bundles it with this module and
// turns it into a component of the `plugin` world (wit/plugin.wit).
//
// Lifetime: the host creates a fresh component instance per request, so one plugin object
// (and every module global) lives at most one request: its hooks up to the answer
// (pre-call, moderation, post-call-success, the stream hooks) share it, and the logging
// hooks run on a fresh instance. The SDK constructs the plugin, with
// the parsed config, on the request's first hook, and once in `init` at load to validate
// the config. Top-level module code runs once, at build time; its result is the starting
// state of every instance.
//
// Texts: `req.texts()` lists every text of a request the model reads (message contents,
// names, tool calls, tool definitions, schemas, prompts; see text.js), `req.mapTexts(f)`
// rewrites all of them, and `normalize(text)` is the form to match keywords in (NFKC,
// invisible characters removed, whitespace collapsed, lower-cased), the same in the Rust
// and Python SDKs.
//
// Rejections and faults: throwing a `Rejection` is the plugin's answer (the client gets
// its 4xx). Any other exception, `fail(reason)`, an uncaught `KvError`, a trap, running out
// of fuel or time is a fault: the host applies the plugin's `on_error` policy and never
// shows it to the client as the plugin's answer.

import { log as hostLog } from 'hookgate:plugin/log@0.1.0';
import { get as hostConfig } from 'hookgate:plugin/config@0.1.0';
import {
  get as hostKvGet,
  set as hostKvSet,
  incr as hostKvIncr,
  delete as hostKvDelete,
} from 'hookgate:plugin/kv@0.1.0';
import { chunkTexts, mapRequestTexts, requestTexts, responseTexts } from './text.js';

export { chunkTexts, isDefaultIgnorable, isWhiteSpace, mapRequestTexts, normalize, requestTexts, responseTexts } from './text.js';

// ---------------------------------------------------------------------------------------
// Rejections and faults
// ---------------------------------------------------------------------------------------

/**
 * A plugin's refusal: throw it from a hook and the client gets `status` (a 4xx) and
 * `message` as an OpenAI error, with `code` as `error.code` (the status when none).
 */
export class Rejection extends Error {
  constructor(status, message, code) {
    super(message === undefined ? '' : String(message));
    this.name = 'Rejection';
    this.status = status;
    this.code = code == null ? undefined : String(code);
  }

  /** A 400: the usual refusal of a request's content. */
  static badRequest(message, code) {
    return new Rejection(400, message, code);
  }

  /** A 403: the caller may not do this. */
  static forbidden(message, code) {
    return new Rejection(403, message, code);
  }

  /** A 429: for rate and budget limits. */
  static tooManyRequests(message, code) {
    return new Rejection(429, message, code);
  }

  /** Sets `error.code` and returns the rejection: `throw Rejection.badRequest(m).withCode('x')`. */
  withCode(code) {
    this.code = code == null ? undefined : String(code);
    return this;
  }
}

/** A fault the plugin chooses: see `fail`. */
export class Fault extends Error {
  constructor(reason) {
    super(String(reason));
    this.name = 'Fault';
  }
}

/**
 * Ends this hook call as a fault ("I cannot decide"): the host applies the plugin's
 * `on_error` policy (`fail-open` goes on without the plugin, `fail-closed` answers 503),
 * and `reason` is the fault's message in the host's log. Never returns.
 */
export function fail(reason) {
  throw new Fault(reason);
}

/** Why a kv call failed: `kind` is `unavailable` (retrying later may work) or `invalid`. */
export class KvError extends Error {
  constructor(kind, detail) {
    super(kind === 'unavailable' ? `kv store unavailable: ${detail}` : `invalid kv call: ${detail}`);
    this.name = 'KvError';
    this.kind = kind;
    this.detail = detail;
  }

  /** True when the store could not be reached or did not answer in time. */
  get unavailable() {
    return this.kind === 'unavailable';
  }
}

// The error side of a hook's WIT result. A `rejection` with status 0 is how a guest whose
// bindings turn every exception into the error side reports its own failure: the host
// handles it as a fault (wit/plugin.wit, `record rejection`). It must be a plain object:
// the bindings rethrow an `Error` (a trap, with its message lost) instead of sending it.
function witError(error) {
  if (error instanceof Rejection) {
    const status = Number.isInteger(error.status) && error.status >= 1 && error.status <= 65535 ? error.status : 400;
    return { status, message: error.message, code: error.code };
  }
  if (error instanceof Fault || error instanceof KvError) {
    return { status: 0, message: error.message, code: undefined };
  }
  // The host prefixes the message with "uncaught exception: ".
  return { status: 0, message: describeError(error), code: undefined };
}

function describeError(error) {
  try {
    if (error instanceof Error) {
      const frame = typeof error.stack === 'string' ? error.stack.split('\n').find((line) => line.trim()) : undefined;
      return frame ? `${String(error)} (at ${frame.trim()})` : String(error);
    }
    if (typeof error === 'object' && error !== null) return JSON.stringify(error);
    return String(error);
  } catch {
    return Object.prototype.toString.call(error);
  }
}

function messageOf(error) {
  if (error instanceof Error) return error.message;
  return typeof error === 'string' ? error : describeError(error);
}

// ---------------------------------------------------------------------------------------
// Outcomes
// ---------------------------------------------------------------------------------------

/** What a hook returned: `kind` says which hooks may return it, `wit` is the variant. */
class Outcome {
  constructor(kind, wit, label) {
    this.kind = kind;
    this.wit = wit;
    this.label = label;
  }
}

const PROCEED = new Outcome('any', { tag: 'proceed' }, 'proceed()');

/** Go on unchanged (any hook that returns an outcome). Returning nothing means the same. */
export function proceed() {
  return PROCEED;
}

/** pre-call: go on with this body instead: JSON text, or a value to serialize. */
export function modify(body) {
  return new Outcome('pre-call', { tag: 'modify', val: jsonText(body, 'modify') }, 'modify()');
}

/** pre-call: answer the client with `text` as a normal completion, without the upstream. */
export function respond(text) {
  return new Outcome('pre-call', { tag: 'respond', val: String(text) }, 'respond()');
}

/** post-call-success: add headers (`{name: value}`, a Map, or [name, value] pairs). */
export function addHeaders(headers) {
  return new Outcome('post-call', { tag: 'modify', val: { body: undefined, headers: headerPairs(headers) } }, 'addHeaders()');
}

/** post-call-success: replace the response body (JSON text or a value), optionally adding headers. */
export function replaceBody(body, headers) {
  return new Outcome(
    'post-call',
    { tag: 'modify', val: { body: jsonText(body, 'replaceBody'), headers: headerPairs(headers) } },
    'replaceBody()',
  );
}

/** stream-chunk: forward this chunk instead: a `Chunk` (its `json`), JSON text, or a value. */
export function replaceChunk(chunk) {
  const text = chunk instanceof Chunk ? JSON.stringify(chunk.json) : jsonText(chunk, 'replaceChunk');
  return new Outcome('stream-chunk', { tag: 'replace', val: text }, 'replaceChunk()');
}

const DROP = new Outcome('stream-chunk', { tag: 'drop' }, 'dropChunk()');

/** stream-chunk: do not forward this chunk. */
export function dropChunk() {
  return DROP;
}

function jsonText(value, helper) {
  if (typeof value === 'string') return value;
  if (value === undefined) throw new TypeError(`${helper}(): expected JSON text or a value to serialize, got undefined`);
  return JSON.stringify(value);
}

function headerPairs(headers) {
  if (headers == null) return [];
  const entries = Array.isArray(headers) ? headers : headers instanceof Map ? [...headers] : Object.entries(headers);
  return entries.map(([name, value]) => [String(name).toLowerCase(), String(value)]);
}

// ---------------------------------------------------------------------------------------
// What hooks read
// ---------------------------------------------------------------------------------------

function parseOrNull(text) {
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

function findHeader(headers, name) {
  const wanted = String(name).toLowerCase();
  const found = headers.find(([key]) => key === wanted);
  return found ? found[1] : undefined;
}

/** Who is calling: never the key itself. */
export class KeyInfo {
  constructor(wit) {
    /** The key's alias from the proxy config (`master` for the master key), or undefined. */
    this.alias = wit.alias;
    /** The key id: lower-case hex HMAC-SHA256 of the key under the server's secret; stable, non-secret. */
    this.hash = wit.hash;
    /** The key's configured user id, or undefined. */
    this.userId = wit.userId;
    /** The key's configured team id, or undefined. */
    this.teamId = wit.teamId;
    /** The key's configured metadata, parsed (an object; `{}` when none). */
    this.metadata = parseOrNull(wit.metadata) ?? {};
  }
}

/** What requests and responses share: a JSON body parsed on demand, and headers. */
class JsonMessage {
  constructor(body, headers) {
    /** The body as JSON text. */
    this.body = body;
    /** [name, value] pairs, lower-case names, credentials removed. */
    this.headers = headers;
    this._json = undefined;
  }

  /** The body parsed once (`null` if it is not JSON). Edit it and return it in an outcome. */
  get json() {
    if (this._json === undefined) this._json = parseOrNull(this.body);
    return this._json;
  }

  /** The value of header `name` (case-insensitive), or undefined. */
  header(name) {
    return findHeader(this.headers, name);
  }
}

/** A client request: `id`, `callType`, `model`, `body` (JSON text, with the edits of
 * earlier pre-call hooks), `headers`, `key`. */
export class Request extends JsonMessage {
  constructor(wit) {
    super(wit.body, wit.headers);
    this.id = wit.id;
    /** `chat-completion`, `text-completion` or `embedding`. */
    this.callType = wit.callType;
    this.model = wit.model;
    this.key = new KeyInfo(wit.key);
  }

  /**
   * Every text of the request the model reads, in document order: message names, contents
   * (strings and text parts), refusals and tool calls; tool and function definitions
   * (names, descriptions, parameter schemas); `response_format`'s JSON schema;
   * `prediction`; `prompt` and `suffix`; `input`. Image, audio and file parts carry none;
   * the full list is in text.js. What a guardrail checks: compare `normalize(text)` with
   * normalized keywords.
   */
  texts() {
    return requestTexts(this.json);
  }

  /**
   * The body (an object) with every text `texts()` lists replaced by `f(text)`, visited in
   * the same order; `undefined` when `f` changed none. `req.json` is not modified.
   *
   *     const body = req.mapTexts(mask);
   *     return body && modify(body);
   */
  mapTexts(f) {
    return mapRequestTexts(this.json, f);
  }
}

/** A successful non-streamed upstream response: `status`, `body` (JSON text), `headers`. */
export class Response extends JsonMessage {
  constructor(wit) {
    super(wit.body, wit.headers);
    this.status = wit.status;
  }

  /**
   * The generated texts of every choice: the message's content (string or text parts),
   * refusal and tool calls (function name, arguments), and `text` for completions.
   */
  texts() {
    return responseTexts(this.json);
  }
}

/** One streamed `chat.completion.chunk`: `raw` JSON text and `json` (parsed). */
export class Chunk {
  constructor(raw) {
    this.raw = raw;
    this._json = undefined;
  }

  /** The chunk parsed once (`null` if it is not JSON). Edit it and `return replaceChunk(chunk)`. */
  get json() {
    if (this._json === undefined) this._json = parseOrNull(this.raw);
    return this._json;
  }

  /** The text this chunk adds (its choices' delta content), or undefined when none carries any. */
  deltaText() {
    const choices = this.json?.choices;
    if (!Array.isArray(choices)) return undefined;
    const parts = choices.map((c) => c?.delta?.content).filter((c) => typeof c === 'string');
    return parts.length ? parts.join('') : undefined;
  }

  /** Every text this chunk adds, over all choices: the delta's content, refusal and tool calls (function name, argument pieces). */
  texts() {
    return chunkTexts(this.json);
  }

  /** The first choice's `finish_reason` (set on a stream's last content chunk), or undefined. */
  get finishReason() {
    return this.json?.choices?.[0]?.finish_reason ?? undefined;
  }
}

/** What stream hooks know about the request: `id`, `callType`, `model`, `key`; no body. */
export class CallContext {
  constructor(wit) {
    this.id = wit.id;
    this.callType = wit.callType;
    this.model = wit.model;
    this.key = new KeyInfo(wit.key);
  }
}

/** The error the client would get: `status`, `errorType`, `message`, `code`. */
export class Failure {
  constructor(wit) {
    this.status = wit.status;
    this.errorType = wit.errorType;
    this.message = wit.message;
    this.code = wit.code;
  }
}

// ---------------------------------------------------------------------------------------
// Host functions
// ---------------------------------------------------------------------------------------

function logLine(level, parts) {
  const text = parts
    .map((part) => {
      if (typeof part === 'string') return part;
      if (part instanceof Error) return String(part);
      try {
        const json = JSON.stringify(part, (_, v) => (typeof v === 'bigint' ? v.toString() : v));
        return json === undefined ? String(part) : json;
      } catch {
        return String(part);
      }
    })
    .join(' ');
  hostLog(level, text);
}

/**
 * The proxy's log, tagged with the plugin's name and the request id. Takes any values,
 * like console.log: strings as they are, other values as JSON, joined with spaces.
 */
export const log = {
  trace: (...parts) => logLine('trace', parts),
  debug: (...parts) => logLine('debug', parts),
  info: (...parts) => logLine('info', parts),
  warn: (...parts) => logLine('warn', parts),
  error: (...parts) => logLine('error', parts),
};

function kvCall(call) {
  try {
    return call();
  } catch (error) {
    const payload = error?.payload;
    if (payload && (payload.tag === 'unavailable' || payload.tag === 'invalid')) {
      throw new KvError(payload.tag, payload.val);
    }
    throw error;
  }
}

function kvKey(key) {
  if (typeof key !== 'string') throw new TypeError(`kv keys are strings, got ${typeof key}`);
  return key;
}

function kvTtl(ttlMs) {
  if (ttlMs == null) return undefined;
  const ms = Math.ceil(Number(ttlMs));
  if (!Number.isFinite(ms) || ms < 1) throw new RangeError(`kv TTL must be a positive number of milliseconds, got ${ttlMs}`);
  return BigInt(ms);
}

/**
 * The plugin's key-value store: namespaced per plugin, shared by all requests (and by
 * all proxy replicas when the proxy uses Redis). TTLs are in milliseconds. Every call
 * throws `KvError` on failure; left uncaught, it is a fault and `on_error` decides.
 */
export const kv = {
  /** The string stored at `key`, or undefined. */
  get(key) {
    return kvCall(() => hostKvGet(kvKey(key))) ?? undefined;
  },
  /** Stores `value` (a string; numbers are stored as their text) at `key`, expiring after `ttlMs` if given. */
  set(key, value, ttlMs) {
    if (typeof value !== 'string' && typeof value !== 'number' && typeof value !== 'bigint') {
      throw new TypeError(`kv values are strings, got ${typeof value} (JSON.stringify it)`);
    }
    kvCall(() => hostKvSet(kvKey(key), String(value), kvTtl(ttlMs)));
  },
  /** Atomically adds `delta` (an integer, default 1) to the integer at `key` and returns the new value. `ttlMs` applies when this call creates the key. */
  incr(key, delta = 1, ttlMs) {
    if (typeof delta !== 'bigint' && !Number.isSafeInteger(delta)) throw new RangeError(`kv.incr delta must be an integer, got ${delta}`);
    return Number(kvCall(() => hostKvIncr(kvKey(key), BigInt(delta), kvTtl(ttlMs))));
  },
  /** Deletes `key`; true when it existed. */
  delete(key) {
    return kvCall(() => hostKvDelete(kvKey(key)));
  },
};

/** The plugin's config, parsed: the same value the constructor got, but `null` when none was set. */
export function config() {
  return parseConfig(hostConfig());
}

function parseConfig(text) {
  if (text === undefined || text.trim() === '') return null;
  return JSON.parse(text);
}

// ---------------------------------------------------------------------------------------
// The plugin base class and the component's exports
// ---------------------------------------------------------------------------------------

/**
 * Base class of a plugin: define the hooks you need; the rest do nothing and the host
 * never calls them. `static name` and `static version` are what `describe` reports.
 * The constructor gets the parsed config (`{}` when none was set); throw in it to refuse
 * a bad config at load.
 */
export class Plugin {
  constructor(config) {
    this.config = config;
  }

  /** Before the upstream call: return nothing/`proceed()`, `modify(body)`, `respond(text)`, or throw a Rejection. */
  preCall(_req) {}

  /** Concurrently with the upstream call: throw a Rejection to cancel it. */
  moderation(_req) {}

  /** After a non-streamed success: nothing/`proceed()`, `addHeaders(..)`, `replaceBody(..)`, or throw. */
  postCallSuccess(_req, _resp) {}

  /** After any upstream or proxy error: throw a Rejection to replace the client's error. */
  postCallFailure(_req, _failure) {}

  /** Per streamed chunk: nothing/`proceed()`, `replaceChunk(..)`, `dropChunk()`, or throw to end the stream. */
  streamChunk(_ctx, _chunk) {}

  /** When a stream ends, with the assembled assistant text: throw to add an SSE error event. */
  streamEnd(_ctx, _text) {}

  /** Off the response path after a success: the logging payload (parsed) and its JSON text. */
  logSuccess(_payload, _raw) {}

  /** Off the response path after a failure: the logging payload (parsed) and its JSON text. */
  logFailure(_payload, _raw) {}
}

/** The hooks: [method, WIT hook name, kinds of outcome it accepts]. */
const HOOKS = [
  ['preCall', 'pre-call', ['pre-call']],
  ['moderation', 'moderation', null],
  ['postCallSuccess', 'post-call-success', ['post-call']],
  ['postCallFailure', 'post-call-failure', null],
  ['streamChunk', 'stream-chunk', ['stream-chunk']],
  ['streamEnd', 'stream-end', null],
  ['logSuccess', 'log-success', null],
  ['logFailure', 'log-failure', null],
];

const EXPECTED = {
  preCall: 'nothing, proceed(), modify(body) or respond(text)',
  postCallSuccess: 'nothing, proceed(), addHeaders(headers) or replaceBody(body, headers)',
  streamChunk: 'nothing, proceed(), replaceChunk(chunk) or dropChunk()',
};

const normalized = (name) => name.replace(/[-_]/g, '').toLowerCase();

// Method names along the class's prototype chain, up to (not including) Plugin / Object.
function methodNames(PluginClass) {
  const names = new Set();
  for (let proto = PluginClass.prototype; proto && proto !== Plugin.prototype && proto !== Object.prototype; proto = Object.getPrototypeOf(proto)) {
    for (const name of Object.getOwnPropertyNames(proto)) {
      if (name !== 'constructor' && typeof Object.getOwnPropertyDescriptor(proto, name).value === 'function') names.add(name);
    }
  }
  return names;
}

/** The hooks `PluginClass` defines (or its `static hooks` list), checked for misspellings. */
function definedHooks(PluginClass) {
  const className = PluginClass.name || 'the plugin class';
  const names = methodNames(PluginClass);
  for (const name of names) {
    const hook = HOOKS.find(([method]) => normalized(method) === normalized(name) && method !== name);
    if (hook) throw new TypeError(`${className}.${name}: hook methods are camelCase in JavaScript; did you mean ${hook[0]}?`);
  }
  if (PluginClass.hooks !== undefined) {
    if (!Array.isArray(PluginClass.hooks)) throw new TypeError(`${className}.hooks must be an array of hook method names`);
    for (const name of PluginClass.hooks) {
      if (!HOOKS.some(([method]) => method === name)) {
        throw new TypeError(`${className}.hooks: unknown hook ${JSON.stringify(name)} (hooks: ${HOOKS.map(([m]) => m).join(', ')})`);
      }
      if (typeof PluginClass.prototype[name] !== 'function') throw new TypeError(`${className}.hooks lists ${name}, which it does not define`);
    }
    return HOOKS.filter(([method]) => PluginClass.hooks.includes(method));
  }
  return HOOKS.filter(([method]) => typeof PluginClass.prototype[method] === 'function' && PluginClass.prototype[method] !== Plugin.prototype[method]);
}

/**
 * The ten functions of the `plugin` world, running `PluginClass`. build.mjs generates the
 * module that re-exports them; a plugin never calls this itself.
 */
export function exportPlugin(PluginClass) {
  if (typeof PluginClass !== 'function' || !PluginClass.prototype) {
    throw new TypeError('the plugin module must `export default` a class (e.g. `export default class MyPlugin extends Plugin {...}`)');
  }
  const hooks = definedHooks(PluginClass);
  const name = String(PluginClass.name || 'js-plugin');
  const version = String(PluginClass.version ?? '0.0.0');
  const implemented = new Set(hooks.map(([method]) => method));
  let instance;

  // The request's plugin object, created on its first hook. `init` accepted this config
  // at load, so a refusal now is a plugin bug: a fault saying so.
  function plugin() {
    if (instance === undefined) {
      let cfg;
      try {
        cfg = parseConfig(hostConfig()) ?? {};
        instance = new PluginClass(cfg);
      } catch (error) {
        throw new Fault(`plugin \`${name}\` refused at request time the config it accepted at load: ${messageOf(error)}`);
      }
    }
    return instance;
  }

  // Runs a hook whose WIT result has an error side, mapping what it returned or threw.
  function run(method, args, kinds) {
    try {
      if (!implemented.has(method)) return kinds ? PROCEED.wit : undefined;
      const self = plugin();
      const result = self[method](...args());
      if (result && typeof result.then === 'function') {
        throw new Fault(`${name}.${method} returned a Promise: hooks must be synchronous (no async/await)`);
      }
      if (!kinds) return undefined;
      if (result === undefined || result === null) return PROCEED.wit;
      if (result instanceof Outcome && (result.kind === 'any' || kinds.includes(result.kind))) return result.wit;
      const got = result instanceof Outcome ? result.label : describeError(result);
      throw new Fault(`${name}.${method} returned ${got}; expected ${EXPECTED[method]}`);
    } catch (error) {
      throw witError(error);
    }
  }

  // Runs a logging hook: no error side, so an exception traps (a fault). Say why first.
  function runLog(method, payload) {
    if (!implemented.has(method)) return;
    try {
      plugin()[method](parseOrNull(payload), payload);
    } catch (error) {
      const reason = error instanceof Fault || error instanceof KvError ? error.message : `uncaught exception: ${describeError(error)}`;
      hostLog('error', `${method} failed: ${reason}`);
      throw error instanceof Error ? error : new Error(describeError(error));
    }
  }

  return {
    describe() {
      return { name, version, hooks: hooks.map(([, hook]) => hook) };
    },

    init(configText) {
      let cfg;
      try {
        cfg = parseConfig(configText);
      } catch (error) {
        throw `invalid config: not JSON: ${messageOf(error)}`;
      }
      try {
        instance = new PluginClass(cfg ?? {});
      } catch (error) {
        throw messageOf(error) || 'the plugin refused its config';
      }
    },

    preCall: (req) => run('preCall', () => [new Request(req)], HOOKS[0][2]),
    moderation: (req) => run('moderation', () => [new Request(req)], null),
    postCallSuccess: (req, resp) => run('postCallSuccess', () => [new Request(req), new Response(resp)], HOOKS[2][2]),
    postCallFailure: (req, failure) => run('postCallFailure', () => [new Request(req), new Failure(failure)], null),
    streamChunk: (ctx, chunk) => run('streamChunk', () => [new CallContext(ctx), new Chunk(chunk)], HOOKS[4][2]),
    streamEnd: (ctx, text) => run('streamEnd', () => [new CallContext(ctx), text], null),
    logSuccess: (payload) => runLog('logSuccess', payload),
    logFailure: (payload) => runLog('logFailure', payload),
  };
}
