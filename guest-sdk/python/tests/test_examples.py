"""The repository's Python plugins, run in plain CPython through hookgate_sdk.testing:
plugins/pii-redactor, tests/plugins-py/*, bench/plugins-py/*. (Their components are built
and run against the real host by `make` and the end-to-end suite; these check the logic.)

    python3 -m unittest discover -s guest-sdk/python/tests
"""

import contextlib
import importlib.util
import io
import json
import pathlib
import sys
import unittest

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent.parent.parent
sys.path.insert(0, str(HERE.parent))

from hookgate_sdk import ChunkOutcome, PreCall, Rejection, testing  # noqa: E402


def load(path):
    name = "example_" + path.parent.name.replace("-", "_")
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


pii = load(ROOT / "plugins" / "pii-redactor" / "app.py")
probe = load(ROOT / "tests" / "plugins-py" / "py-probe" / "app.py")
parity = load(ROOT / "tests" / "plugins-py" / "parity-py" / "app.py")
banned = load(ROOT / "bench" / "plugins-py" / "banned-keywords-py" / "app.py")
injector = load(ROOT / "bench" / "plugins-py" / "header-injector-py" / "app.py")
limiter = load(ROOT / "bench" / "plugins-py" / "rate-limiter-py" / "app.py")
costs = load(ROOT / "bench" / "plugins-py" / "cost-logger-py" / "app.py")


def chat(*contents, id="test-request", key=None, **fields):  # noqa: A002
    """A chat request with these user messages; ``fields`` go in the body."""
    body = {"model": "m", "messages": [{"role": "user", "content": c} for c in contents], **fields}
    return testing.request(body, id=id, key=key)


def answer(content):
    return testing.response({"choices": [{"index": 0, "message": {"role": "assistant", "content": content}}]})


def stream(run, req, pieces, finish_apart=False):
    """Streams ``pieces`` as chat chunks (the last one finishing, or a finish chunk of its
    own): the text the client gets of each chunk."""
    chunks = [{"choices": [{"index": 0, "delta": {"content": p}}]} for p in pieces]
    if finish_apart:
        chunks.append({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
    else:
        chunks[-1]["choices"][0]["finish_reason"] = "stop"
    sent = []
    for body in chunks:
        chunk = testing.chunk(body)
        assert run.stream_chunk(req, chunk) is ChunkOutcome.PROCEED
        sent.append(chunk.text() or "")
    return sent


class Quiet(unittest.TestCase):
    def setUp(self):
        redirect = contextlib.redirect_stderr(io.StringIO())
        redirect.__enter__()
        self.addCleanup(redirect.__exit__, None, None, None)


class PiiRedactor(Quiet):
    def test_masks_every_request_text(self):
        run = testing.Runner(pii.PiiRedactor)
        req = testing.request({"model": "m", "messages": [
            {"role": "user", "content": "mail bob@example.com or ring +44 20 7946 0958, not 12 apples"},
            {"role": "user", "name": "x", "content": [{"type": "text", "text": "(555) 123-4567"}]},
            {"role": "assistant", "content": None, "tool_calls": [{"id": "c", "type": "function", "function": {"name": "send", "arguments": "{\"to\": \"ann@example.org\"}"}}]},
        ], "max_tokens": 64})  # fmt: skip
        self.assertIsNone(run.pre_call(req))
        self.assertEqual(req.texts(), ["mail [EMAIL] or ring [PHONE], not 12 apples", "x", "[PHONE]", "send", '{"to": "[EMAIL]"}'])
        self.assertEqual(req.field("max_tokens"), "64")

    def test_leaves_clean_requests_alone(self):
        run = testing.Runner(pii.PiiRedactor)
        req = chat("12 apples in 2024")
        body = req.body()
        run.pre_call(req)
        self.assertEqual(req.body(), body)

    def test_masks_responses_unless_told_not_to(self):
        resp = answer("call 555.123.4567")
        testing.Runner(pii.PiiRedactor).post_call_success(chat("hi"), resp)
        self.assertEqual(resp.texts(), ["call [PHONE]"])
        resp = answer("call 555.123.4567")
        testing.Runner(pii.PiiRedactor, config={"responses": False}).post_call_success(chat("hi"), resp)
        self.assertEqual(resp.texts(), ["call 555.123.4567"])

    def test_config(self):
        run = testing.Runner(pii.PiiRedactor, config={"mask_email": "<\\g<0>>", "mask_phone": "#"})
        req = chat("a@b.co 555 123 4567")
        run.pre_call(req)
        self.assertEqual(req.texts(), ["<a@b.co> #"])
        with self.assertRaisesRegex(testing.ConfigRefused, "invalid config: unknown field\\(s\\): alpha, zeta"):
            testing.Runner(pii.PiiRedactor, config={"zeta": 1, "alpha": 2})
        with self.assertRaisesRegex(testing.ConfigRefused, "invalid config: the config must be an object"):
            testing.Runner(pii.PiiRedactor, config=[1])

    def test_a_split_address_is_masked_before_any_of_it_is_sent(self):
        run = testing.Runner(pii.PiiRedactor)
        story = "Write to jane.doe@example.com or call +1 555 123 4567 today."
        size = -(-len(story) // 9)
        pieces = [story[i : i + size] for i in range(0, len(story), size)]
        for finish_apart in (False, True):
            sent = stream(run, chat("go", stream=True), pieces, finish_apart)
            self.assertEqual("".join(sent), "Write to [EMAIL] or call [PHONE] today.")
            self.assertFalse(any("jane" in s or "4567" in s or "555" in s for s in sent), sent)

    def test_long_streams_flow_and_matches_across_the_cut_are_masked_whole(self):
        run = testing.Runner(pii.PiiRedactor)
        words = [f"word{i} " for i in range(40)]
        text = "".join(words[:20]) + "ann.lee@example.com " + "".join(words[20:]) + "call (555) 123-4567 now"
        pieces = [text[i : i + 7] for i in range(0, len(text), 7)]
        sent = stream(run, chat("go", stream=True), pieces)
        self.assertEqual("".join(sent), text.replace("ann.lee@example.com", "[EMAIL]").replace("(555) 123-4567", "[PHONE]"))
        self.assertTrue(any(sent[:-1]), "text is sent before the stream ends")
        self.assertFalse(any("ann" in s or "lee@" in s or "4567" in s for s in sent), sent)

    def test_each_request_streams_afresh(self):
        # `instances: reuse`: a stream cut off mid-way, then another request.
        run = testing.Runner(pii.PiiRedactor)
        first = testing.chunk({"choices": [{"index": 0, "delta": {"content": "secret tail"}}]})
        run.stream_chunk(chat("a", id="r1"), first)
        self.assertEqual(first.text(), "")
        self.assertEqual(stream(run, chat("b", id="r2"), ["x"]), ["x"])

    def test_several_choices(self):
        run = testing.Runner(pii.PiiRedactor)
        req = chat("go")
        first = testing.chunk({"choices": [{"index": 0, "delta": {"content": "a@b.c"}}, {"index": 1, "delta": {"content": "x@y.z"}}]})
        run.stream_chunk(req, first)
        last = testing.chunk({"choices": [{"index": 0, "delta": {"content": "om"}, "finish_reason": "stop"},
                                          {"index": 1, "delta": {}, "finish_reason": "stop"}]})  # fmt: skip
        run.stream_chunk(req, last)
        self.assertEqual([t.text for t in last.answer_texts()], ["[EMAIL]", "x@y.z"])


class PyProbe(Quiet):
    def test_behaviour(self):
        run = testing.Runner(probe.PyProbe)
        req = chat("first", "hello")
        self.assertIsNone(run.pre_call(req))
        self.assertEqual(req.texts(), ["first", "hello [py]"])
        with self.assertRaises(Rejection) as rejected:
            run.pre_call(chat("REJECT me"))
        self.assertEqual((rejected.exception.status, rejected.exception.code), (400, "py_probe"))
        with self.assertRaises(testing.HookFailed) as failed:
            run.pre_call(chat("CRASH now"))
        self.assertEqual(failed.exception.message, "ValueError: py-probe crashed on purpose")


class Parity(Quiet):
    def report(self, call):
        with self.assertRaises(Rejection) as rejected:
            call()
        self.assertEqual((rejected.exception.status, rejected.exception.code), (400, "parity"))
        return json.loads(rejected.exception.message)

    def test_pre_call_report(self):
        run = testing.Runner(parity.Parity)
        req = testing.request(
            {"model": "m", "temperature": 0.2, "messages": [{"role": "user", "content": "PARITY-REPORT"}]},
            headers=[("x-parity", "yes")], key=testing.key(metadata={"team": "blue"}),
        )  # fmt: skip
        report = self.report(lambda: run.pre_call(req))
        self.assertEqual(report, {
            "hook": "pre-call", "same_request": True, "trail": ["pre-call"], "instance_requests": 1, "call_type": "chat_completion",
            "stream": False, "model": "m",
            "key": {"alias": "test", "id": "0" * 64, "user_id": None, "team_id": None, "metadata": {"team": "blue"}},
            "texts": [{"text": "PARITY-REPORT", "path": "/messages/0/content", "is_key": False, "item": 0, "role": "user"}],
            "config": None, "fields": ["model", "temperature", "messages"], "temperature": "0.2", "x_parity": "yes",
        })  # fmt: skip

    def test_kv_edit_respond_fail_and_wrong_outcome(self):
        run = testing.Runner(parity.Parity, config={"c": 1})
        self.assertIsNone(run.pre_call(chat("PARITY-KV-SET")))
        self.assertEqual(run.host.kv_calls, [("set", "ttl", "set", 100), ("set", "kept", "set", 60000)])
        self.assertEqual(self.report(lambda: run.pre_call(chat("PARITY-KV-GET"))), {"kv": "set", "kept": "set"})
        run.host.advance(100)
        self.assertEqual(self.report(lambda: run.pre_call(chat("PARITY-KV-GET"))), {"kv": None, "kept": "set"})
        req = chat("a", "PARITY-EDIT", temperature=1)
        self.assertIsNone(run.pre_call(req))
        self.assertEqual((req.texts()[-1], req.field("temperature")), ("PARITY-EDIT [edited]", "0.5"))
        self.assertEqual(run.pre_call(chat("PARITY-RESPOND")), PreCall.respond("parity answers"))
        with self.assertRaises(testing.HookFailed) as failed:
            run.pre_call(chat("PARITY-FAIL"))
        self.assertEqual(failed.exception.message, "parity fails on purpose")
        with self.assertRaises(testing.HookFailed) as failed:
            run.moderation(chat("PARITY-WRONG-OUTCOME"))
        self.assertIn("moderation returned PreCall.respond('x')", failed.exception.message)

    def test_a_streamed_request_s_trail_and_chunks(self):
        run = testing.Runner(parity.Parity)
        req = chat("PARITY-STREAM", stream=True)
        run.pre_call(req)
        run.moderation(req)
        for body in ({"choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]},
                     {"choices": [{"index": 0, "delta": {"content": "a"}}, {"index": 1, "delta": {"content": "b"}}]},
                     {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}):  # fmt: skip
            run.stream_chunk(req, testing.chunk(body))
        report = self.report(lambda: run.stream_end(req, "ab"))
        self.assertEqual(report["trail"], ["pre-call", "moderation", "stream-chunk", "stream-chunk", "stream-chunk", "stream-end"])
        self.assertEqual((report["chunks"], report["text"], report["stream"]), (["", "ab", None], "ab", True))

    def test_post_call_and_logging(self):
        run = testing.Runner(parity.Parity)
        req = chat("hello", id="r1")
        resp = answer("hi back")
        run.post_call_success(req, resp)
        header = json.loads(resp.header("x-parity"))
        self.assertEqual((header["status"], header["response_texts"], header["trail"]), (200, ["hi back"], ["post-call-success"]))
        failure = testing.failure(503, "api_error", "down", None, None)
        report = self.report(lambda: run.post_call_failure(chat("PARITY-RECOVER", id="r2"), failure))
        self.assertEqual(report["failure"], {"status": 503, "error_type": "api_error", "message": "down", "code": None, "rejected_by": None})
        self.assertIsNone(run.post_call_failure(chat("other", id="r3"), failure))
        entry = testing.log_entry("m", status_code=200, usage=testing.Usage(1, 2, 3), decisions=[testing.Decision("p", "pre-call", "proceed")])
        run.log_success(chat("x", id="r4"), answer("y"), entry)
        level, line = run.host.lines[-1]
        self.assertEqual(level, "info")
        logged = json.loads(line.removeprefix("parity-log "))
        self.assertEqual((logged["usage_total"], logged["decisions"], logged["response_texts"], logged["failure_status"]), (3, 1, ["y"], None))
        run.log_failure(chat("x", id="r5"), testing.log_entry("m", status_code=503, failure=failure))
        logged = json.loads(run.host.lines[-1][1].removeprefix("parity-log "))
        self.assertEqual((logged["hook"], logged["failure_status"], logged["usage_total"]), ("log-failure", 503, None))
        self.assertNotIn("response_texts", logged)


class BenchPorts(Quiet):
    def test_banned_keywords(self):
        run = testing.Runner(banned.BannedKeywords, config={"keywords": ["Secret Plan"]})
        with self.assertRaises(Rejection) as rejected:
            run.pre_call(chat("the ｓｅｃｒｅｔ\u00a0PLAN"))
        self.assertEqual(rejected.exception.message, "Request contains a banned keyword: secret plan")
        self.assertIsNone(run.pre_call(chat("nothing to see")))
        # A message's text parts are one text to the model, joined either way; texts of
        # two messages are not.
        for parts in (["tell me the secret", " plan"], ["the secret", "plan"], ["SECRET PL", "AN"]):
            with self.assertRaises(Rejection, msg=parts):
                run.pre_call(chat([{"type": "text", "text": part} for part in parts]))
        self.assertIsNone(run.pre_call(chat("the secret", "plan")))
        with self.assertRaises(Rejection):
            run.post_call_success(chat("hi"), testing.response({"choices": [{"index": 0, "message": {
                "role": "assistant", "content": [{"type": "text", "text": "the secret"}, {"type": "text", "text": " plan"}]}}]}))
        req = chat("go", id="s1")
        sent = []
        with self.assertRaises(Rejection):
            for piece in ("the sec", "ret plan"):
                chunk = testing.chunk({"choices": [{"index": 0, "delta": {"content": piece}}]})
                run.stream_chunk(req, chunk)
                sent.append(chunk.text())
        self.assertNotIn("sec", "".join(sent))
        clean = stream(run, chat("go", id="s2"), ["all ", "is ", "well"], finish_apart=True)
        self.assertEqual("".join(clean), "all is well")
        with self.assertRaisesRegex(testing.ConfigRefused, "missing field `keywords`"):
            testing.Runner(banned.BannedKeywords)

    def test_header_injector(self):
        run = testing.Runner(injector.HeaderInjector, config={"headers": {"X-Served-By": "hookgate", "x-policy": "v1"}})
        resp = answer("ok")
        run.post_call_success(chat("hi"), resp)
        self.assertEqual(resp.headers(), [("x-served-by", "hookgate"), ("x-policy", "v1")])

    def test_rate_limiter(self):
        run = testing.Runner(limiter.RateLimiter, config={"requests_per_minute": 2})
        for number in range(2):
            req = chat("hi", id=f"r{number}")
            run.pre_call(req)
            resp = answer("ok")
            run.post_call_success(req, resp)
            self.assertEqual(resp.header("x-ratelimit-remaining-requests"), str(1 - number))
        with self.assertRaises(Rejection) as rejected:
            run.pre_call(chat("hi", id="r3"))
        self.assertEqual((rejected.exception.status, rejected.exception.code), (429, "rate_limit_exceeded"))
        op, counter, delta, ttl_ms = run.host.kv_calls[0]
        self.assertEqual((op, delta), ("incr", 1))
        self.assertTrue(counter.startswith("key:" + "0" * 64 + ":"))
        self.assertTrue(1000 < ttl_ms <= 61_000, ttl_ms)
        resp = answer("ok")
        run.post_call_success(chat("hi", id="r4"), resp)
        self.assertIsNone(resp.header("x-ratelimit-limit-requests"), "no standing from another request")
        per_user = testing.Runner(limiter.RateLimiter, config={"limit": 5, "per": "user"})
        per_user.pre_call(chat("hi", user="ann"))
        self.assertTrue(per_user.host.kv_calls[0][1].startswith("end-user:ann:"))

    def test_cost_logger(self):
        run = testing.Runner(costs.CostLogger)
        entry = testing.log_entry("gpt-4o-mini", model_used="gpt-4o-mini", usage=testing.Usage(12, 9, 21),
                                  response_cost=0.0000072, start_time=100.0, end_time=100.001359)  # fmt: skip
        run.log_success(chat("hi", id="req-7", key=testing.key(alias="team-blue")), answer("ok"), entry)
        self.assertEqual(run.host.lines, [("info", '{"event":"cost","request_id":"req-7","model":"gpt-4o-mini","model_used":"gpt-4o-mini",'
                                           '"key_alias":"team-blue","prompt_tokens":12,"completion_tokens":9,"total_tokens":21,'
                                           '"cost_usd":0.0000072,"latency_ms":1.359}')])  # fmt: skip


if __name__ == "__main__":
    unittest.main()
