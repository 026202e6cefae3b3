// The bundle's first member (see plugin.js); a plugin of its own too.

import { Plugin, kv } from 'hookgate-sdk';

export default class Counter extends Plugin {
  preCall(ctx, req) {
    if (req.texts().some((part) => part.text.includes('CRASH'))) throw new Error('counter crashed on purpose');
  }

  postCallSuccess(ctx, req, resp) {
    resp.setHeader('x-counter-calls', String(kv.incr('calls')));
  }
}
