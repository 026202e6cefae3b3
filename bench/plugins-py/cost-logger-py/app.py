"""cost-logger in Python, for `make bench`: the JavaScript example plugins/cost-logger.

On log_success, one JSON line through the host log at info: event, request_id, model,
model_used, key_alias, prompt/completion/total tokens, cost_usd (the payload's
``response_cost``) and latency_ms. Config (optional): ``{"event": "cost"}``.
"""

import json

from hookgate_sdk import Plugin, export, log


def number(value):
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) else None


class CostLogger(Plugin):
    name = "cost-logger"
    version = "0.1.0"

    def __init__(self, config):
        config = {} if config is None else config
        if not isinstance(config, dict):
            raise ValueError('expected an object like {"event": "cost"}')
        unknown = set(config) - {"event"}
        if unknown:
            raise ValueError(f"unknown field `{sorted(unknown)[0]}`, expected only `event`")
        self.event = config.get("event", "cost")
        if not isinstance(self.event, str) or not self.event:
            raise ValueError("`event` must be a non-empty string")

    def log_success(self, payload):
        usage = payload.get("usage") or {}
        start, end = number(payload.get("start_time")), number(payload.get("end_time"))
        log.info(json.dumps({
            "event": self.event,
            "request_id": payload.get("id"),
            "model": payload.get("model"),
            "model_used": payload.get("model_used"),
            "key_alias": payload.get("key_alias"),
            "prompt_tokens": number(usage.get("prompt_tokens")),
            "completion_tokens": number(usage.get("completion_tokens")),
            "total_tokens": number(usage.get("total_tokens")),
            "cost_usd": number(payload.get("response_cost")),
            "latency_ms": round((end - start) * 1000, 3) if start is not None and end is not None else None,
        }, separators=(",", ":")))


WitWorld = export(CostLogger)
