// The host functions every plugin may call: the proxy's log, the plugin's config, and
// the kv store. The only module of the SDK that imports the host's interfaces (in a
// component componentize-js provides them; in node, src/testing/ fakes them).

import { log as hostLog } from 'hookgate:plugin/log@0.2.0';
import { get as hostConfig } from 'hookgate:plugin/config@0.2.0';
import { get as kvGet, set as kvSet, incr as kvIncr, delete as kvDelete } from 'hookgate:plugin/kv@0.2.0';

import { KvError, payloadOf } from './errors.js';

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
 * The proxy's log; the host tags each line with the plugin's name and the request id
 * and truncates long ones. Takes any values, like console.log: strings as they are,
 * other values as JSON, joined with spaces.
 */
export const log = Object.freeze({
  trace: (...parts) => logLine('trace', parts),
  debug: (...parts) => logLine('debug', parts),
  info: (...parts) => logLine('info', parts),
  warn: (...parts) => logLine('warn', parts),
  error: (...parts) => logLine('error', parts),
});

/** The config's JSON text, parsed; `null` when none was given. */
export function parseConfig(text) {
  if (text === undefined || text === null || text.trim() === '') return null;
  return JSON.parse(text);
}

/** The plugin's config, parsed: the value the constructor got (`null` when none was set). */
export function config() {
  return parseConfig(hostConfig());
}

/** The config's JSON text from the host, unparsed. */
export function configText() {
  return hostConfig();
}

function kvCall(call) {
  try {
    return call();
  } catch (error) {
    const payload = payloadOf(error);
    if (payload && (payload.tag === 'unavailable' || payload.tag === 'invalid')) throw new KvError(payload.tag, payload.val);
    throw error;
  }
}

// What every kv key is prefixed with: a `Bundle` member's name while its hook runs, so
// that members sharing the bundle's namespace do not share keys.
let kvPrefix = '';

/** Runs `run()` with every kv key prefixed by `prefix` (nested prefixes add up). */
export function withKvPrefix(prefix, run) {
  const outer = kvPrefix;
  kvPrefix = outer + prefix;
  try {
    return run();
  } finally {
    kvPrefix = outer;
  }
}

function kvKey(key) {
  if (typeof key !== 'string') throw new TypeError(`kv keys are strings, got ${typeof key}`);
  return kvPrefix + key;
}

function kvTtl(ttlMs) {
  if (ttlMs === undefined || ttlMs === null) return undefined;
  const ms = typeof ttlMs === 'bigint' ? ttlMs : Math.ceil(Number(ttlMs));
  if (typeof ms === 'bigint' ? ms < 1n : !Number.isFinite(ms) || ms < 1) {
    throw new RangeError(`kv TTL must be a positive number of milliseconds, got ${ttlMs}`);
  }
  return BigInt(ms);
}

/**
 * The plugin's key-value store, for state that outlives a request (counters, windows):
 * namespaced per plugin by the host, shared by all requests (and by all proxy replicas
 * when the proxy uses Redis). TTLs are in milliseconds, as in every SDK. Every call
 * throws `KvError` on failure; left uncaught, that fails the hook and `on_error` decides.
 */
export const kv = Object.freeze({
  /** The string stored at `key`, or `undefined`. */
  get(key) {
    return kvCall(() => kvGet(kvKey(key))) ?? undefined;
  },
  /** Stores `value` (a string; a number is stored as its text) at `key`, expiring after `ttlMs` milliseconds if given. */
  set(key, value, ttlMs) {
    if (typeof value !== 'string' && typeof value !== 'number' && typeof value !== 'bigint') {
      throw new TypeError(`kv values are strings, got ${typeof value} (JSON.stringify it)`);
    }
    kvCall(() => kvSet(kvKey(key), String(value), kvTtl(ttlMs)));
  },
  /**
   * Atomically adds `delta` (an integer, default 1) to the integer at `key` (missing
   * counts as 0) and returns the new value, a number. `ttlMs` applies when this call
   * creates the key.
   */
  incr(key, delta = 1, ttlMs = undefined) {
    if (typeof delta !== 'bigint' && !Number.isSafeInteger(delta)) throw new RangeError(`kv.incr delta must be an integer, got ${delta}`);
    return Number(kvCall(() => kvIncr(kvKey(key), BigInt(delta), kvTtl(ttlMs))));
  },
  /** Deletes `key`; true when it existed. */
  delete(key) {
    return kvCall(() => kvDelete(kvKey(key)));
  },
});
