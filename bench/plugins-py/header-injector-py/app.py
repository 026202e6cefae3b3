"""header-injector in Python, for `make bench`: the Rust example plugins/header-injector.

Config: ``{"headers": {"x-served-by": "hookgate", "x-policy": "v1"}}``: added to every
successful non-streamed response; names must be HTTP tokens and are sent lower-cased.
"""

from hookgate_sdk import Plugin, PostCall, export

TOKEN = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$%&'*+-.^_`|~")


class HeaderInjector(Plugin):
    name = "header-injector"
    version = "0.1.0"

    def __init__(self, config):
        if not isinstance(config, dict) or set(config) != {"headers"} or not isinstance(config["headers"], dict):
            raise ValueError('expected {"headers": {"name": "value", ...}}')
        if not config["headers"]:
            raise ValueError("`headers` must name at least one header")
        self.headers = {}
        for name, value in config["headers"].items():
            if not name or not set(name) <= TOKEN:
                raise ValueError(f"`headers`: {name!r} is not a valid HTTP header name")
            if not isinstance(value, str) or any(ord(c) < 32 and c != "\t" or ord(c) == 127 for c in value):
                raise ValueError(f"`headers`: the value of {name!r} must be text without control characters")
            self.headers[name.lower()] = value

    def post_call_success(self, req, resp):
        return PostCall.edit(headers=self.headers)


WitWorld = export(HeaderInjector)
