"""rate-limiter: limits requests per API key or per user in fixed, clock-aligned time
windows, counted in the host's kv store (a Python port of plugins/rate-limiter).

Config (one of ``requests_per_minute`` or ``limit``)::

    {"requests_per_minute": 60, "per": "key"}
    {"limit": 1000, "window_seconds": 3600, "per": "user"}

- ``per: "key"`` (default) counts per API key (its id); ``per: "user"`` per the key's
  ``user_id``, else the request's ``user`` field, else per key.
- Windows are ``[k*window, (k+1)*window)`` in Unix time, so replicas agree.
- Over the limit, ``pre_call`` rejects with 429, code ``rate_limit_exceeded``.
- A non-streamed success gets ``x-ratelimit-limit-requests``,
  ``x-ratelimit-remaining-requests`` and ``x-ratelimit-reset-requests``.
- A kv failure is left uncaught: the operator's ``on_error`` decides.

The standing pre_call found is kept in the per-request context for post_call_success.
"""

import json
import math
import time

from hookgate_sdk import Plugin, Rejection, export, kv

FIELDS = ("requests_per_minute", "limit", "window_seconds", "per")
MAX_USER_BYTES = 256  # kv keys are bounded


def count_field(config, field):
    value = config.get(field)
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
        raise ValueError(f"`{field}` must be a whole number")
    return value


class RateLimiter(Plugin):
    name = "rate-limiter"
    version = "0.2.0"

    def __init__(self, config):
        config = {} if config is None else config
        if not isinstance(config, dict):
            raise ValueError("expected an object like {\"requests_per_minute\": 60}")
        for field in config:
            if field not in FIELDS:
                raise ValueError(f"unknown field `{field}`, expected one of " + ", ".join(f"`{f}`" for f in FIELDS))
        rpm, limit, window = (count_field(config, f) for f in FIELDS[:3])
        if rpm is not None and limit is None and window is None:
            limit, window = rpm, 60
        elif rpm is None and limit is not None:
            window = 60 if window is None else window
        elif rpm is not None:
            raise ValueError("give `requests_per_minute`, or `limit` with `window_seconds`, not both")
        else:
            raise ValueError("`requests_per_minute` (or `limit`) is required")
        if limit == 0:
            raise ValueError("the limit must be at least 1 request")
        if window == 0:
            raise ValueError("`window_seconds` must be at least 1")
        per = config.get("per")
        if per is None:
            per = "key"
        if per not in ("key", "user"):
            raise ValueError(f"unknown variant `{per}`, expected `key` or `user`")
        self.limit, self.window, self.per = limit, window, per

    def subject(self, req):
        if self.per == "user":
            if req.key.user_id is not None:
                return f"user:{req.key.user_id}"
            # One field's JSON text, decoded (the body itself is never parsed here).
            field = req.field("user")
            user = json.loads(field) if field is not None else None
            if isinstance(user, str) and user:
                return "end-user:" + user.encode()[:MAX_USER_BYTES].decode(errors="ignore")
        return f"key:{req.key.id}"

    def pre_call(self, ctx, req):
        now_ms, window_ms = time.time_ns() // 1_000_000, self.window * 1000
        resets_in_ms = window_ms - now_ms % window_ms
        counter = f"{self.subject(req)}:{now_ms // window_ms}"
        # The counter outlives its window by a second, for clocks a little apart.
        count = max(0, kv.incr(counter, 1, ttl_ms=resets_in_ms + 1000))
        seconds = math.ceil(resets_in_ms / 1000)
        if count > self.limit:
            raise Rejection.too_many_requests(
                f"Rate limit exceeded: {self.limit} requests per {self.window} s per "
                f"{'API key' if self.per == 'key' else 'user'}; retry in {seconds} s.",
                code="rate_limit_exceeded",
            )
        ctx.standing = (self.limit - count, seconds)

    def post_call_success(self, ctx, req, resp):
        standing = getattr(ctx, "standing", None)
        if standing is None:
            return
        remaining, seconds = standing
        resp.set_header("x-ratelimit-limit-requests", str(self.limit))
        resp.set_header("x-ratelimit-remaining-requests", str(remaining))
        resp.set_header("x-ratelimit-reset-requests", f"{seconds}s")


WitWorld = export(RateLimiter)
