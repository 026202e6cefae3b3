// js-probe: a JavaScript test plugin (pre-call only). A request body containing `REJECT`
// is rejected with a 400; `LOOP` never returns (a fault: the timeout or fuel); `CRASH`
// dereferences null (a TypeError: a fault); anything else proceeds with " [js]" appended
// to the last user message, so a test sees the plugin ran. No config.
//
// Build: node guest-sdk/js/build.mjs tests/plugins-js/js-probe/plugin.js -o js_probe.wasm

import { Plugin, Rejection, modify, proceed } from 'hookgate-sdk';

export default class JsProbe extends Plugin {
  static name = 'js-probe';
  static version = '0.1.0';

  preCall(req) {
    if (req.body.includes('REJECT')) throw Rejection.badRequest('js-probe rejects', 'js_probe');
    if (req.body.includes('LOOP')) for (;;) {}
    if (req.body.includes('CRASH')) {
      const nothing = null;
      return nothing.x;
    }
    const body = req.json;
    const lastUser = (body?.messages ?? []).findLast((message) => message?.role === 'user');
    if (!lastUser || typeof lastUser.content !== 'string') return proceed();
    lastUser.content += ' [js]';
    return modify(body);
  }
}
