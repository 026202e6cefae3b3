"""parity (Python): the plugin tests/plugins-parity.md specifies, written once per SDK so
that tests/suite/parity.rs can check that the three SDKs agree (docs/sdk-parity.md).

It implements all eight hooks. Each first notes the request id in the per-request
context (if not yet) and appends its hook name to the context's trail; markers in the
request's texts (PARITY-REPORT, PARITY-KV-SET, ...) make it answer with a JSON report of
what it was given.
"""

import json
import types

from hookgate_sdk import ChunkOutcome, Fail, Plugin, PreCall, Rejection, export, kv, log


def compact(value, ascii_only=False):
    return json.dumps(value, separators=(",", ":"), ensure_ascii=ascii_only)


def has(req, marker):
    return any(marker in text for text in req.texts())


def reject(message):
    raise Rejection(400, message, code="parity")


class Parity(Plugin):
    name = "parity"
    version = "0.2.0"

    def new_ctx(self):
        return types.SimpleNamespace(trail=[], request_id=None, chunks=[])

    requests = 0  # requests this instance has served (instance state, not per request)

    def enter(self, ctx, req, hook):
        if ctx.request_id is None:
            ctx.request_id = req.id
            self.requests += 1
        ctx.trail.append(hook)

    def report(self, ctx, req, hook):
        key = req.key
        return {
            "hook": hook,
            "same_request": ctx.request_id == req.id,
            "trail": list(ctx.trail),
            "instance_requests": self.requests,
            "call_type": req.call_type,
            "stream": req.stream,
            "model": req.model,
            "key": {
                "alias": key.alias,
                "id": key.id,
                "user_id": key.user_id,
                "team_id": key.team_id,
                "metadata": key.metadata,
            },
            "texts": [
                {"text": text.text, "path": text.path, "is_key": text.is_key, "item": text.item, "role": text.role}
                for text in req.texts()
            ],
        }

    def pre_call(self, ctx, req):
        self.enter(ctx, req, "pre-call")
        if has(req, "PARITY-REPORT"):
            report = self.report(ctx, req, "pre-call")
            report["config"] = self.config
            report["fields"] = req.field_names()
            report["temperature"] = req.field("temperature")
            report["x_parity"] = req.header("x-parity")
            reject(compact(report))
        if has(req, "PARITY-KV-SET"):
            kv.set("ttl", "set", ttl_ms=100)
            kv.set("kept", "set", ttl_ms=60000)
            return None
        if has(req, "PARITY-KV-GET"):
            reject(compact({"kv": kv.get("ttl"), "kept": kv.get("kept")}))
        if has(req, "PARITY-FAIL"):
            raise Fail("parity fails on purpose")
        if has(req, "PARITY-EDIT"):
            texts = req.texts()
            req.set_text(len(texts) - 1, texts[-1] + " [edited]")
            req.set_field("temperature", "0.5")
            return None
        if has(req, "PARITY-RESPOND"):
            return PreCall.respond("parity answers")
        return None

    def moderation(self, ctx, req):
        self.enter(ctx, req, "moderation")
        if has(req, "PARITY-WRONG-OUTCOME"):
            return PreCall.respond("x")  # does not fit moderation: the SDK must fail it
        return None

    def post_call_success(self, ctx, req, resp):
        self.enter(ctx, req, "post-call-success")
        report = self.report(ctx, req, "post-call-success")
        report["status"] = resp.status
        report["response_texts"] = [text.text for text in resp.texts()]
        resp.set_header("x-parity", compact(report, ascii_only=True))

    def post_call_failure(self, ctx, req, failure):
        self.enter(ctx, req, "post-call-failure")
        if has(req, "PARITY-RECOVER"):
            report = self.report(ctx, req, "post-call-failure")
            report["failure"] = {
                "status": failure.status,
                "error_type": failure.error_type,
                "message": failure.message,
                "code": failure.code,
                "rejected_by": failure.rejected_by,
            }
            reject(compact(report))

    def stream_chunk(self, ctx, req, chunk):
        self.enter(ctx, req, "stream-chunk")
        ctx.chunks.append(chunk.text())
        return ChunkOutcome.PROCEED

    def stream_end(self, ctx, req, text):
        self.enter(ctx, req, "stream-end")
        if has(req, "PARITY-STREAM"):
            report = self.report(ctx, req, "stream-end")
            report["chunks"] = list(ctx.chunks)
            report["text"] = text
            reject(compact(report))

    def log_report(self, ctx, req, hook, entry):
        report = self.report(ctx, req, hook)
        report["status_code"] = entry.status_code
        report["entry_model"] = entry.model
        report["failure_status"] = entry.failure.status if entry.failure is not None else None
        report["usage_total"] = entry.usage.total_tokens if entry.usage is not None else None
        report["decisions"] = len(entry.decisions)
        return report

    def log_success(self, ctx, req, resp, entry):
        self.enter(ctx, req, "log-success")
        report = self.log_report(ctx, req, "log-success", entry)
        report["response_texts"] = [text.text for text in resp.texts()]
        log.info("parity-log " + compact(report))

    def log_failure(self, ctx, req, entry):
        self.enter(ctx, req, "log-failure")
        log.info("parity-log " + compact(self.log_report(ctx, req, "log-failure", entry)))


WitWorld = export(Parity)
