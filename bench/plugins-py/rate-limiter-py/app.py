"""rate-limiter in Python, for `make bench`: the Rust example plugins/rate-limiter.

Config: ``{"requests_per_minute": 60, "per": "key"}`` or ``{"limit": 1000,
"window_seconds": 3600, "per": "user"}``. Counts in the kv store per API key (its hash)
or per user (the key's user_id, else the body's ``user``), in clock-aligned windows;
over the limit, 429 with code ``rate_limit_exceeded``; a non-streamed success gets the
``x-ratelimit-*`` headers. A kv error is left uncaught: the operator's ``on_error`` decides.
"""

import math
import time

from hookgate_sdk import Plugin, PostCall, Rejection, export, kv

MAX_USER_BYTES = 256


class RateLimiter(Plugin):
    name = "rate-limiter"
    version = "0.1.0"

    def __init__(self, config):
        if not isinstance(config, dict):
            raise ValueError("expected {\"requests_per_minute\": N} or {\"limit\": N, \"window_seconds\": S}")
        unknown = set(config) - {"requests_per_minute", "limit", "window_seconds", "per"}
        if unknown:
            raise ValueError(f"unknown field(s): {', '.join(sorted(unknown))}")
        if "requests_per_minute" in config:
            if "limit" in config or "window_seconds" in config:
                raise ValueError("give `requests_per_minute` or `limit` + `window_seconds`, not both")
            self.limit, self.window = config["requests_per_minute"], 60
        else:
            self.limit, self.window = config.get("limit"), config.get("window_seconds")
        if not isinstance(self.limit, int) or self.limit < 1 or not isinstance(self.window, int) or self.window < 1:
            raise ValueError("the limit and the window must be positive integers")
        self.per = config.get("per", "key")
        if self.per not in ("key", "user"):
            raise ValueError("`per` must be \"key\" or \"user\"")
        self.standing = None

    def subject(self, req):
        if self.per == "user":
            if req.key.user_id:
                return f"user:{req.key.user_id}"
            user = req.json.get("user")
            if isinstance(user, str) and user:
                return f"end-user:{user.encode()[:MAX_USER_BYTES].decode(errors='ignore')}"
        return f"key:{req.key.hash}"

    def pre_call(self, req):
        self.standing = None  # never an earlier request's, also on a reused instance
        now_ms = time.time_ns() // 1_000_000
        window_ms = self.window * 1000
        resets_in = (window_ms - now_ms % window_ms) / 1000
        count = kv.incr(f"{self.subject(req)}:{now_ms // window_ms}", 1, resets_in + 1)
        if count > self.limit:
            per = "per user" if self.per == "user" else "per API key"
            raise Rejection.too_many_requests(
                f"Rate limit exceeded: {self.limit} requests per {self.window} s {per}; "
                f"retry in {float(math.ceil(resets_in))} s.",
                "rate_limit_exceeded",
            )
        self.standing = (self.limit - count, resets_in)

    def post_call_success(self, req, resp):
        if self.standing is None:
            return None
        remaining, resets_in = self.standing
        return PostCall.edit(headers={
            "x-ratelimit-limit-requests": str(self.limit),
            "x-ratelimit-remaining-requests": str(remaining),
            "x-ratelimit-reset-requests": f"{math.ceil(resets_in)}s",
        })


WitWorld = export(RateLimiter)
