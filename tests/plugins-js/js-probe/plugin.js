// js-probe: a JavaScript test plugin (pre-call only). A request whose texts contain
// `REJECT` is rejected with a 400; `LOOP` never returns (a fault: the timeout or fuel);
// `CRASH` dereferences null (a TypeError: a failure); `LATER` queues jobs that try to
// edit the request after the hook has returned (its loan is gone by then); anything else
// proceeds with " [js]" appended to the request's last text, so a test sees the plugin
// ran. No config.
//
// Build: node guest-sdk/js/build.mjs tests/plugins-js/js-probe/plugin.js -o js_probe.wasm

import { Plugin, Rejection } from 'hookgate-sdk';

export default class JsProbe extends Plugin {
  static name = 'js-probe';
  static version = '0.2.0';

  preCall(ctx, req) {
    const texts = req.texts();
    const has = (marker) => texts.some((part) => part.text.includes(marker));
    if (has('REJECT')) throw Rejection.badRequest('js-probe rejects', 'js_probe');
    if (has('LOOP')) for (;;) {}
    if (has('CRASH')) {
      const nothing = null;
      return nothing.x;
    }
    if (has('LATER')) {
      const last = texts.length - 1;
      queueMicrotask(() => req.setText(last, 'edited by a queued job'));
      Promise.resolve().then(() => req.setText(last, 'edited by a promise job'));
    }
    if (has('TIMER')) {
      const last = texts.length - 1;
      setTimeout(() => req.setText(last, 'edited by a timer'), 0);
    }
    if (texts.length) req.setText(texts.length - 1, `${texts.at(-1).text} [js]`);
  }
}
