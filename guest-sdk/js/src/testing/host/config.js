// `hookgate:plugin/config` in node tests: `host.config`.
import { host } from '../state.js';

export function get() {
  return host.config;
}
