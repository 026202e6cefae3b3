"""py-caller: the `caller` test plugin in Python, over the Python SDK's `http` helper.

The last text of a request is a JSON script: `{"calls": [{"method", "url", "headers",
"body", "timeout_ms", "follow"}], "log": bool}`; each call is made in order (with
`follow`, a 3xx answer's `location` is called next) and pre-call answers with a JSON list
of results per call: `{"status", "headers", "body"}` or `{"error": kind, "message"}`.
With `log`, each request sent is logged. A text that is not a script passes through."""

import json

from hookgate_sdk import Plugin, PreCall, export, http, log


def outcome(call):
    try:
        response = call()
    except http.HttpError as error:
        return {"error": error.kind, "message": str(error)}, None
    result = {"status": response.status, "headers": dict(response.headers), "body": response.text}
    return result, response


def run(spec, log_requests):
    method, url = spec.get("method", "POST"), spec.get("url", "")
    headers, body = spec.get("headers") or {}, spec.get("body")
    results = []
    for _ in range(3):
        if log_requests:
            log.info(f"caller sends {method} {url} headers {headers} body {body or ''}")
        result, response = outcome(lambda: http.request(method, url, headers, body, spec.get("timeout_ms")))
        results.append(result)
        location = response.header("location") if response is not None and 300 <= response.status < 400 else None
        if not (location and spec.get("follow")):
            break
        url = location
    return results


class PyCaller(Plugin):
    name = "py-caller"

    def pre_call(self, ctx, req):
        texts = req.texts()
        try:
            script = json.loads(texts[-1]) if texts else None
        except ValueError:
            return None
        if not isinstance(script, dict) or not isinstance(script.get("calls"), list):
            return None
        results = [run(spec, script.get("log") is True) for spec in script["calls"]]
        return PreCall.respond(json.dumps(results))


WitWorld = export(PyCaller)
