"""The bundle's second member (see app.py)."""

from hookgate_sdk import Plugin, Rejection, kv, normalize


class Guard(Plugin):
    name = "guard"

    def pre_call(self, ctx, req):
        if any("forbidden" in normalize(text) for text in req.texts()):
            raise Rejection.bad_request("the guard refuses", code="guarded")

    def post_call_success(self, ctx, req, resp):
        resp.set_header("x-guard-calls", str(kv.incr("calls")))
