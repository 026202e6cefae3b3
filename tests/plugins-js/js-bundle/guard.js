// The bundle's second member (see plugin.js).

import { Plugin, Rejection, kv, normalize } from 'hookgate-sdk';

export default class Guard extends Plugin {
  preCall(ctx, req) {
    if (req.texts().some((part) => normalize(part.text).includes('forbidden'))) {
      throw Rejection.badRequest('the guard refuses', 'guarded');
    }
  }

  postCallSuccess(ctx, req, resp) {
    resp.setHeader('x-guard-calls', String(kv.incr('calls')));
  }
}
