"""py-probe: a Python test plugin. pre-call: `REJECT` raises a 400 rejection, `LOOP`
never returns, `CRASH` raises a ValueError (a fault); anything else proceeds with " [py]"
appended to the last message, so a test sees the plugin ran."""

from hookgate_sdk import Plugin, PreCall, Rejection, export


class PyProbe(Plugin):
    name = "py-probe"

    def pre_call(self, req):
        text = " ".join(req.texts())
        if "REJECT" in text:
            raise Rejection.bad_request("py-probe rejects", code="py_probe")
        if "LOOP" in text:
            while True:
                pass
        if "CRASH" in text:
            raise ValueError("py-probe crashed on purpose")
        body = req.json
        body["messages"][-1]["content"] += " [py]"
        return PreCall.modify(body)


WitWorld = export(PyProbe)
