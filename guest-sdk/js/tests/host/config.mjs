import { host } from './state.mjs';

export function get() {
  return host.config;
}
