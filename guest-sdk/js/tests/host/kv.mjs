// The kv interface as componentize-js binds it: an error result is thrown as an error whose
// `payload` is the `kv-error` variant; s64 and u64 are BigInts.
import { host } from './state.mjs';

function call(name, args, run) {
  host.calls.push([name, ...args]);
  if (host.kvError) throw Object.assign(new Error('kv call failed'), { payload: host.kvError });
  return run();
}

export const get = (key) => call('get', [key], () => host.store.get(key));
export const set = (key, value, ttl) => call('set', [key, value, ttl], () => void host.store.set(key, value));
export const incr = (key, delta, ttl) =>
  call('incr', [key, delta, ttl], () => {
    const value = BigInt(host.store.get(key) ?? '0') + delta;
    host.store.set(key, String(value));
    return value;
  });
const remove = (key) => call('delete', [key], () => host.store.delete(key));
export { remove as delete };
