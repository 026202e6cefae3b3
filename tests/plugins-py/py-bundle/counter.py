"""The bundle's first member (see app.py); a plugin of its own too."""

from hookgate_sdk import Plugin, export, kv


class Counter(Plugin):
    name = "counter"

    def pre_call(self, ctx, req):
        if any("CRASH" in text for text in req.texts()):
            raise ValueError("counter crashed on purpose")

    def post_call_success(self, ctx, req, resp):
        resp.set_header("x-counter-calls", str(kv.incr("calls")))


WitWorld = export(Counter)
