// header-injector: adds configured headers to every successful response (a JavaScript
// port of plugins/header-injector, as bench/plugins-py/header-injector-py is in Python).
//
// Config:
//
//   {"headers": {"x-served-by": "hookgate", "x-policy": "v1"}}
//
// Header names must be HTTP tokens (RFC 9110 `tchar`) and are sent lower-cased; values may
// not contain control characters other than tab. `postCallSuccess` is the only hook: it
// sets each header on the response (`resp.setHeader`), in name order, so of two names
// differing only in case the later one's value is sent, as in the Rust original.
//
// Build: node guest-sdk/js/build.mjs bench/plugins-js/header-injector-js/plugin.js -o header_injector_js.wasm

import { Plugin } from 'hookgate-sdk';

const TOKEN = /^[A-Za-z0-9!#$%&'*+\-.^_`|~]+$/;
// C0 controls but tab, DEL and the C1 controls.
const CONTROL = /[\x00-\x08\x0a-\x1f\x7f-\x9f]/;

export default class HeaderInjector extends Plugin {
  static name = 'header-injector';
  static version = '0.2.0';

  // Runs at load too: a bad config refuses the plugin.
  constructor(config) {
    super(config);
    const settings = config ?? {};
    if (typeof settings !== 'object' || Array.isArray(settings)) {
      throw new Error('invalid config: expected an object with `headers`');
    }
    const unknown = Object.keys(settings).find((field) => field !== 'headers');
    if (unknown !== undefined) throw new Error(`invalid config: unknown field \`${unknown}\`, expected \`headers\``);
    if (!('headers' in settings)) throw new Error('invalid config: missing field `headers`');
    const { headers } = settings;
    if (
      headers === null ||
      typeof headers !== 'object' ||
      Array.isArray(headers) ||
      Object.values(headers).some((value) => typeof value !== 'string')
    ) {
      throw new Error('invalid config: `headers` must be an object of header names to string values');
    }
    const names = Object.keys(headers).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    if (names.length === 0) throw new Error('invalid config: `headers` must name at least one header');
    this.headers = names.map((name) => {
      if (!TOKEN.test(name)) throw new Error(`invalid config: \`headers\`: ${JSON.stringify(name)} is not a valid HTTP header name`);
      if (CONTROL.test(headers[name])) {
        throw new Error(`invalid config: \`headers\`: the value of ${JSON.stringify(name)} contains control characters`);
      }
      return [name.toLowerCase(), headers[name]];
    });
  }

  postCallSuccess(ctx, req, resp) {
    for (const [name, value] of this.headers) resp.setHeader(name, value);
  }
}
