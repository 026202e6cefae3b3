// blocked-users: refuses requests from blocked end users, as LiteLLM's blocked-user
// check does, with the list kept where every replica reads it.
//
// The user is the key's `user_id` (from the proxy config) or, for keys without one, the
// request body's `user` field (OpenAI's end-user id). A user is blocked when the config's
// `blocked` list names them or when the kv store holds `blocked:<user>`, which the
// proxy's management routes write for this plugin (master key):
//
//   POST /user/block    {"user_ids": ["user-1", ...]}   (also /customer/block)
//   POST /user/unblock  {"user_ids": ["user-1", ...]}   (also /customer/unblock)
//
// With `redis_url` set, a block on one replica holds on all of them at once. A blocked
// user gets 400 "User blocked from making LLM API Calls. User=<id>" (code
// `user_blocked`). A kv outage is the plugin's failure: its `on_error` decides (LiteLLM
// lets the request through; set `fail-closed` to refuse instead).
//
// Config (optional): {"blocked": ["user-1"]}: users blocked whatever the kv says.
//
// Build: node guest-sdk/js/build.mjs plugins/blocked-users/plugin.js -o blocked-users.wasm

import { Plugin, Rejection, kv } from 'hookgate-sdk';

export default class BlockedUsers extends Plugin {
  static name = 'blocked-users';
  static version = '0.1.0';

  constructor(config) {
    super(config);
    const blocked = config?.blocked ?? [];
    if (!Array.isArray(blocked) || blocked.some((user) => typeof user !== 'string')) {
      throw new Error('invalid config: `blocked` is a list of user ids');
    }
    this.blocked = new Set(blocked);
  }

  preCall(ctx, req) {
    const user = req.key.userId ?? endUser(req);
    if (user === undefined || user === '') return;
    if (this.blocked.has(user) || kv.get(`blocked:${user}`) !== undefined) {
      throw Rejection.badRequest(`User blocked from making LLM API Calls. User=${user}`, 'user_blocked');
    }
  }
}

/** The body's `user` field, when it is a string. */
function endUser(req) {
  const field = req.field('user');
  if (field === undefined) return undefined;
  const user = JSON.parse(field);
  return typeof user === 'string' ? user : undefined;
}
