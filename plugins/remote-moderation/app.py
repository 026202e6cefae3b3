"""remote-moderation: checks prompts with a moderation service over HTTP, the way
LiteLLM's LLM Guard hook does, from a sandbox that holds no credentials.

Each text the model will read (messages, tool descriptions, prompts, inputs) is sent as
``POST {api_base}analyze/prompt`` with ``{"prompt": text}``, LLM Guard's API. An answer
with ``"is_valid": false`` rejects the request with 400 "Violated content safety
policy"; an answer whose ``sanitized_prompt`` differs replaces the text with it (the
service's redactions reach the model, not the original).

When the service cannot answer (unreachable, too slow, an error status, not JSON) the
plugin fails, and the operator's ``on_error`` for it decides what that means:
``fail-closed`` refuses the request (503), ``fail-open`` lets it through unchecked.

Config::

    {"api_base": "http://127.0.0.1:8000/",   # LLM Guard API, ending in /
     "mode": "pre_call",                     # or "during_call": reject only, concurrently
                                             # with the upstream call (no rewrite)
     "authorization": "Bearer ${secret:llm_guard_token}",   # optional; a secret the
                                             # operator binds, never seen by the plugin
     "timeout_ms": 2000}

and a grant in the proxy config (``plugins.outbound.remote-moderation``) allowing
``{api_base}analyze/`` with ``max_calls_per_hook`` at least the texts a request has.
"""

import json

from hookgate_sdk import Fail, Plugin, Rejection, export, http

VIOLATION = "Violated content safety policy"
MODES = ("pre_call", "during_call")


class RemoteModeration(Plugin):
    name = "remote-moderation"

    def __init__(self, config):
        config = config or {}
        unknown = set(config) - {"api_base", "mode", "authorization", "timeout_ms"}
        if unknown:
            raise ValueError(f"unknown config keys: {sorted(unknown)}")
        base = config.get("api_base")
        if not isinstance(base, str) or not base.startswith(("http://", "https://")):
            raise ValueError("`api_base` is the moderation service's URL, e.g. http://127.0.0.1:8000/")
        self.url = base.rstrip("/") + "/analyze/prompt"
        self.mode = config.get("mode", "pre_call")
        if self.mode not in MODES:
            raise ValueError(f"`mode` is one of {', '.join(MODES)}, not {self.mode!r}")
        self.headers = {"content-type": "application/json"}
        if config.get("authorization"):
            self.headers["authorization"] = str(config["authorization"])
        self.timeout_ms = int(config.get("timeout_ms", 2000))

    def verdict(self, text):
        """The service's answer for ``text``: ``(is_valid, sanitized_prompt or None)``."""
        try:
            answer = http.post(self.url, self.headers, json.dumps({"prompt": text}), timeout_ms=self.timeout_ms)
        except http.HttpError as error:
            raise Fail(f"moderation service: {error}") from None
        if answer.status != 200:
            raise Fail(f"moderation service answered {answer.status}: {answer.text[:200]}")
        try:
            body = answer.json()
            valid = body["is_valid"]
        except (http.HttpError, KeyError, TypeError):
            raise Fail(f"moderation service: no is_valid in {answer.text[:200]!r}") from None
        sanitized = body.get("sanitized_prompt")
        return valid is True, sanitized if isinstance(sanitized, str) else None

    def check(self, req, rewrite):
        edits = []
        for index, text in enumerate(req.texts()):
            if text.is_key or not text.strip():
                continue
            valid, sanitized = self.verdict(str(text))
            if not valid:
                raise Rejection.bad_request(VIOLATION, code="content_policy_violation")
            if rewrite and sanitized is not None and sanitized != text:
                edits.append((index, sanitized))
        if edits:
            req.set_texts(edits)

    def pre_call(self, ctx, req):
        if self.mode == "pre_call":
            self.check(req, rewrite=True)

    def moderation(self, ctx, req):
        if self.mode == "during_call":
            self.check(req, rewrite=False)


WitWorld = export(RemoteModeration)
