"""cost-logger: one structured log line per successful request, for cost accounting
(a Python port of plugins/cost-logger).

On ``log_success`` it writes, through the proxy's log at info level, a JSON object::

    {"event":"cost","request_id":"…","model":"gpt-4o-mini","model_used":"gpt-4o-mini",
     "key_alias":"team-blue","prompt_tokens":12,"completion_tokens":9,"total_tokens":21,
     "cost_usd":0.0000072,"latency_ms":1.359}

From the request and the typed log entry: ``request_id`` is the request's id,
``key_alias`` its key's alias; ``model`` the model the client asked for, ``model_used``
the one sent upstream; ``cost_usd`` is the entry's ``response_cost`` (null when the model
has no price); token counts are null when the upstream reported no usage;
``latency_ms`` is end_time - start_time in milliseconds, rounded to 0.001. Numbers are
written as JavaScript's JSON.stringify writes them, so the line matches the JS
original's.

Config (optional): ``{"event": "cost"}``: the value of the ``event`` field.
"""

import json
import math

from hookgate_sdk import Plugin, export, log


def number(value):
    """A finite number, else None (as the JS original's `number`)."""
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    return value if ok and math.isfinite(value) else None


def js_number(value):
    """A number's JSON text as JavaScript writes it: 12, 1.359, 0.0000072, 1e-7."""
    if float(value).is_integer() and abs(value) < 1e21:
        return str(int(value))
    digits, _, exp = repr(float(value)).partition("e")
    if not exp:
        return digits
    exp, sign = int(exp), "-" if digits.startswith("-") else ""
    mantissa = digits.lstrip("-").replace(".", "").rstrip("0") or "0"
    if -7 < exp < 0:  # JS writes fixed notation down to 1e-7
        return f"{sign}0.{'0' * (-exp - 1)}{mantissa}"
    if 0 <= exp < 21:
        return sign + mantissa + "0" * (exp + 1 - len(mantissa)) if len(mantissa) <= exp + 1 else f"{sign}{mantissa[:exp + 1]}.{mantissa[exp + 1:]}"
    return f"{digits}e{'+' if exp > 0 else '-'}{abs(exp)}"


# One encoder for every string: json.dumps with an option makes a new encoder per call,
# most of this hook's time (it writes a dozen strings a request).
_STRING = json.JSONEncoder(ensure_ascii=False).encode
_LITERALS = {None: "null", True: "true", False: "false"}


def to_json(value):
    if value is None or isinstance(value, bool):
        return _LITERALS[value]
    if isinstance(value, str):
        return _STRING(value)
    if isinstance(value, (int, float)):
        return js_number(value) if math.isfinite(value) else "null"
    if isinstance(value, list):
        return "[" + ",".join(to_json(item) for item in value) + "]"
    return "{" + ",".join(f"{to_json(str(k))}:{to_json(v)}" for k, v in value.items()) + "}"


class CostLogger(Plugin):
    name = "cost-logger"
    version = "0.2.0"

    def __init__(self, config):
        config = {} if config is None else config  # the JS SDK passes {} when none was set
        if not isinstance(config, dict):
            raise ValueError('expected an object like {"event": "cost"}')
        extra = [field for field in config if field != "event"]
        if extra:
            raise ValueError(f"unknown field `{extra[0]}`, expected only `event`")
        event = config.get("event", "cost")
        if not isinstance(event, str) or event == "":
            raise ValueError("`event` must be a non-empty string")
        self.event = event

    def log_success(self, ctx, req, resp, entry):
        usage = entry.usage
        start, end = number(entry.start_time), number(entry.end_time)
        line = {
            "event": self.event,
            "request_id": req.id,
            "model": entry.model,
            "model_used": entry.model_used,
            "key_alias": req.key.alias,
            "prompt_tokens": number(usage.prompt_tokens) if usage is not None else None,
            "completion_tokens": number(usage.completion_tokens) if usage is not None else None,
            "total_tokens": number(usage.total_tokens) if usage is not None else None,
            "cost_usd": number(entry.response_cost),
            "latency_ms": math.floor((end - start) * 1e6 + 0.5) / 1000 if start is not None and end is not None else None,
        }
        log.info(to_json(line))


WitWorld = export(CostLogger)
