// The fake host a plugin's node tests run against: what the SDK's imports
// (`hookgate:plugin/log`, `config`, `kv`) read and record. Tests set and inspect it.

/** A failed host call as componentize-js throws it: an error whose `payload` is the WIT error variant. */
export function hostError(payload) {
  return Object.assign(new Error(`host call failed: ${JSON.stringify(payload, (_, v) => (typeof v === 'bigint' ? String(v) : v))}`), { payload });
}

export const host = {
  /** The config's JSON text, as `config.get` returns it (`'null'` when none). */
  config: 'null',
  /** Every log line: [level, message]. */
  lines: [],
  /** The kv store: key → {value, expires (ms on `now()`'s clock, or undefined)}. */
  store: new Map(),
  /** Every kv call: [name, ...arguments as the host got them (TTLs as BigInt milliseconds)]. */
  calls: [],
  /** When set, every kv call fails with this `kv-error` ({tag: 'unavailable' | 'invalid', val}). */
  kvError: undefined,
  /** The kv store's clock in milliseconds; tests may replace it to expire keys. */
  now: () => Date.now(),
  /** Answers outbound calls (see host/wasi-http.js); unset, every call is denied. */
  http: undefined,
  /** Every outbound call: [method, url, headers, body text]. */
  httpCalls: [],

  /** Back to an empty host with `config` (JSON text, or a value to serialize). */
  reset(config = 'null') {
    Object.assign(this, {
      config: typeof config === 'string' ? config : JSON.stringify(config),
      lines: [],
      store: new Map(),
      calls: [],
      kvError: undefined,
      now: () => Date.now(),
      http: undefined,
      httpCalls: [],
    });
  },

  /** The messages logged at `level` (every level when none). */
  logged(level) {
    return this.lines.filter(([l]) => level === undefined || l === level).map(([, message]) => message);
  },
};
