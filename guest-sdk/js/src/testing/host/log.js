// `hookgate:plugin/log` in node tests: records each line in `host.lines`.
import { host } from '../state.js';

const LEVELS = ['trace', 'debug', 'info', 'warn', 'error'];

export function log(level, message) {
  if (!LEVELS.includes(level)) throw new TypeError(`invalid log level ${level}`);
  host.lines.push([level, String(message)]);
}
