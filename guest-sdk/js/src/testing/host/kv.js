// `hookgate:plugin/kv` in node tests: an in-memory store with TTLs in milliseconds, as
// componentize-js binds it (an error result is thrown with the `kv-error` variant as its
// `payload`; s64 and u64 are BigInts).
import { host, hostError } from '../state.js';

function call(name, args, run) {
  host.calls.push([name, ...args]);
  if (host.kvError) throw hostError(host.kvError);
  return run();
}

function live(key) {
  const entry = host.store.get(key);
  if (entry && entry.expires !== undefined && entry.expires <= host.now()) {
    host.store.delete(key);
    return undefined;
  }
  return entry;
}

const expiry = (ttl) => (ttl === undefined ? undefined : host.now() + Number(ttl));

export const get = (key) => call('get', [key], () => live(key)?.value);

export const set = (key, value, ttl) =>
  call('set', [key, value, ttl], () => {
    host.store.set(key, { value, expires: expiry(ttl) });
  });

export const incr = (key, delta, ttl) =>
  call('incr', [key, delta, ttl], () => {
    const entry = live(key);
    if (entry && !/^-?\d+$/.test(entry.value)) throw hostError({ tag: 'invalid', val: `the value at ${key} is not an integer` });
    const value = BigInt(entry?.value ?? '0') + delta;
    host.store.set(key, { value: String(value), expires: entry ? entry.expires : expiry(ttl) });
    return value;
  });

const remove = (key) =>
  call('delete', [key], () => {
    const existed = live(key) !== undefined;
    host.store.delete(key);
    return existed;
  });
export { remove as delete };
