"""py-probe: a Python test plugin. pre-call: `REJECT` raises a 400 rejection, `LOOP`
never returns, `CRASH` raises a ValueError (a fault); anything else proceeds with " [py]"
appended to the last text, so a test sees the plugin ran."""

from hookgate_sdk import Plugin, Rejection, export


class PyProbe(Plugin):
    name = "py-probe"

    def pre_call(self, ctx, req):
        texts = req.texts()
        text = " ".join(texts)
        if "REJECT" in text:
            raise Rejection.bad_request("py-probe rejects", code="py_probe")
        if "LOOP" in text:
            while True:
                pass
        if "CRASH" in text:
            raise ValueError("py-probe crashed on purpose")
        if texts:
            req.set_text(len(texts) - 1, texts[-1] + " [py]")


WitWorld = export(PyProbe)
