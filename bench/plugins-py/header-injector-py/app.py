"""header-injector: adds configured headers to every successful response (a Python port
of plugins/header-injector).

Config::

    {"headers": {"x-served-by": "hookgate", "x-policy": "v1"}}

Header names must be HTTP tokens (RFC 9110 ``tchar``) and are sent lower-cased; values
may not contain control characters other than tab. ``post_call_success`` is the only hook:
it sets each header on the response (``resp.set_header``), in name order, so of two names
differing only in case the later one's value is sent, as in the Rust original.
"""

import json
import string

from hookgate_sdk import Plugin, export

TCHARS = set(string.ascii_letters + string.digits + "!#$%&'*+-.^_`|~")


class HeaderInjector(Plugin):
    name = "header-injector"
    version = "0.2.0"

    def __init__(self, config):
        config = {} if config is None else config
        if not isinstance(config, dict):
            raise ValueError("expected an object with `headers`")
        for field in config:
            if field != "headers":
                raise ValueError(f"unknown field `{field}`, expected `headers`")
        headers = config.get("headers")
        if "headers" not in config:
            raise ValueError("missing field `headers`")
        if not isinstance(headers, dict) or any(not isinstance(v, str) for v in headers.values()):
            raise ValueError("`headers` must be an object of header names to string values")
        if not headers:
            raise ValueError("`headers` must name at least one header")
        self.headers = []
        for name, value in sorted(headers.items()):
            if not name or any(c not in TCHARS for c in name):
                raise ValueError(f"`headers`: {json.dumps(name)} is not a valid HTTP header name")
            if any(c != "\t" and (ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F) for c in value):
                raise ValueError(f"`headers`: the value of {json.dumps(name)} contains control characters")
            self.headers.append((name.lower(), value))

    def post_call_success(self, ctx, req, resp):
        for name, value in self.headers:
            resp.set_header(name, value)


WitWorld = export(HeaderInjector)
