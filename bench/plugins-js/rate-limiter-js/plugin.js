// rate-limiter: limits requests per API key or per user in fixed, clock-aligned time
// windows, counted in the host's kv store (a JavaScript port of plugins/rate-limiter, as
// bench/plugins-py/rate-limiter-py is in Python).
//
// Config (one of `requests_per_minute` or `limit`):
//
//   {"requests_per_minute": 60, "per": "key"}
//   {"limit": 1000, "window_seconds": 3600, "per": "user"}
//
// - `per: "key"` (default) counts per API key (its id); `per: "user"` per the key's
//   `user_id`, else the request's `user` field, else per key.
// - Windows are [k*window, (k+1)*window) in Unix time, so replicas agree.
// - Over the limit, `preCall` rejects with 429, code `rate_limit_exceeded`.
// - A non-streamed success gets `x-ratelimit-limit-requests`,
//   `x-ratelimit-remaining-requests` and `x-ratelimit-reset-requests`.
// - A kv failure is left uncaught: the operator's `on_error` decides.
//
// The standing `preCall` found is kept in the per-request context for `postCallSuccess`.
//
// Build: node guest-sdk/js/build.mjs bench/plugins-js/rate-limiter-js/plugin.js -o rate_limiter_js.wasm

import { Plugin, Rejection, kv } from 'hookgate-sdk';

const FIELDS = ['requests_per_minute', 'limit', 'window_seconds', 'per'];
// kv keys are bounded: an end user's id is cut to this many UTF-8 bytes.
const MAX_USER_BYTES = 256;

/** A whole-number config field, or undefined when it is absent or null. */
function countField(config, field) {
  const value = config[field] ?? undefined;
  if (value !== undefined && !(Number.isInteger(value) && value >= 0)) {
    throw new Error(`invalid config: \`${field}\` must be a whole number`);
  }
  return value;
}

/** The longest start of `text` that fits in `bytes` bytes of UTF-8, whole characters only. */
function utf8Prefix(text, bytes) {
  let prefix = '';
  let used = 0;
  for (const ch of text) {
    const point = ch.codePointAt(0);
    used += point < 0x80 ? 1 : point < 0x800 ? 2 : point < 0x10000 ? 3 : 4;
    if (used > bytes) break;
    prefix += ch;
  }
  return prefix;
}

export default class RateLimiter extends Plugin {
  static name = 'rate-limiter';
  static version = '0.2.0';

  // Runs at load too: a bad config refuses the plugin.
  constructor(config) {
    super(config);
    const settings = config ?? {};
    if (typeof settings !== 'object' || Array.isArray(settings)) {
      throw new Error('invalid config: expected an object like {"requests_per_minute": 60}');
    }
    const unknown = Object.keys(settings).find((field) => !FIELDS.includes(field));
    if (unknown !== undefined) {
      throw new Error(`invalid config: unknown field \`${unknown}\`, expected one of ${FIELDS.map((f) => `\`${f}\``).join(', ')}`);
    }
    const [rpm, given, window] = FIELDS.slice(0, 3).map((field) => countField(settings, field));
    let limit = given;
    let seconds = window;
    if (rpm !== undefined && given === undefined && window === undefined) {
      [limit, seconds] = [rpm, 60];
    } else if (rpm === undefined && given !== undefined) {
      seconds = window ?? 60;
    } else if (rpm !== undefined) {
      throw new Error('invalid config: give `requests_per_minute`, or `limit` with `window_seconds`, not both');
    } else {
      throw new Error('invalid config: `requests_per_minute` (or `limit`) is required');
    }
    if (limit === 0) throw new Error('invalid config: the limit must be at least 1 request');
    if (seconds === 0) throw new Error('invalid config: `window_seconds` must be at least 1');
    const per = settings.per ?? 'key';
    if (per !== 'key' && per !== 'user') throw new Error(`invalid config: unknown variant \`${per}\`, expected \`key\` or \`user\``);
    this.limit = limit;
    this.window = seconds;
    this.per = per;
  }

  newCtx() {
    // [remaining, seconds to the window's end], once preCall has counted the request.
    return { standing: null };
  }

  subject(req) {
    if (this.per === 'user') {
      if (req.key.userId != null) return `user:${req.key.userId}`;
      // One field's JSON text, decoded (the body itself is never parsed here).
      const field = req.field('user');
      const user = field === undefined ? undefined : JSON.parse(field);
      if (typeof user === 'string' && user !== '') return `end-user:${utf8Prefix(user, MAX_USER_BYTES)}`;
    }
    return `key:${req.key.id}`;
  }

  preCall(ctx, req) {
    const nowMs = Date.now();
    const windowMs = this.window * 1000;
    const resetsInMs = windowMs - (nowMs % windowMs);
    const counter = `${this.subject(req)}:${Math.floor(nowMs / windowMs)}`;
    // The counter outlives its window by a second, for clocks a little apart.
    const count = Math.max(0, kv.incr(counter, 1, resetsInMs + 1000));
    const seconds = Math.ceil(resetsInMs / 1000);
    if (count > this.limit) {
      throw Rejection.tooManyRequests(
        `Rate limit exceeded: ${this.limit} requests per ${this.window} s per ` +
          `${this.per === 'key' ? 'API key' : 'user'}; retry in ${seconds} s.`,
        'rate_limit_exceeded',
      );
    }
    ctx.standing = [this.limit - count, seconds];
  }

  postCallSuccess(ctx, req, resp) {
    if (ctx.standing === null) return;
    const [remaining, seconds] = ctx.standing;
    resp.setHeader('x-ratelimit-limit-requests', String(this.limit));
    resp.setHeader('x-ratelimit-remaining-requests', String(remaining));
    resp.setHeader('x-ratelimit-reset-requests', `${seconds}s`);
  }
}
