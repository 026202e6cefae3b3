"""Unit tests of hookgate_sdk in plain CPython: no componentize-py, no host.

The modules componentize-py generates are faked (``fake_bindings``), so that the SDK's
component glue (``hookgate_sdk._component``) is driven exactly as the host drives it: a
call-context and ``content`` resources in, an outcome or ``Err(hook-error)`` out.

    python3 -m unittest discover -s guest-sdk/python/tests
"""

import contextlib
import io
import pathlib
import sys
import types
import unittest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))

import fake_bindings as fake  # noqa: E402  (installs the fake bindings first)
from fake_bindings import Err, Host, Resource, call_context  # noqa: E402

import hookgate_sdk as sdk  # noqa: E402
from hookgate_sdk import _component, _export, _host, testing  # noqa: E402

BODY = {"model": "gpt-4o-mini", "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hi there"}]}


class Scripted(sdk.Plugin):
    """Every hook returns or raises what ``script[hook]`` holds, after noting the call."""

    name = "scripted"
    version = "1.2.3"
    script = {}
    made = []

    def __init__(self, config):
        super().__init__(config)
        Scripted.made.append(config)

    def _act(self, hook, ctx):
        ctx.__dict__.setdefault("seen", []).append(hook)
        action = self.script.get(hook)
        if isinstance(action, BaseException):
            raise action
        if callable(action):
            return action(ctx)
        return action

    def pre_call(self, ctx, req):
        return self._act("pre_call", ctx)

    def moderation(self, ctx, req):
        return self._act("moderation", ctx)

    def post_call_success(self, ctx, req, resp):
        return self._act("post_call_success", ctx)

    def post_call_failure(self, ctx, req, failure):
        return self._act("post_call_failure", ctx)

    def stream_chunk(self, ctx, req, chunk):
        return self._act("stream_chunk", ctx)

    def stream_end(self, ctx, req, text):
        return self._act("stream_end", ctx)

    def log_success(self, ctx, req, resp, entry):
        return self._act("log_success", ctx)

    def log_failure(self, ctx, req, entry):
        return self._act("log_failure", ctx)


ALL_HOOKS = list(sdk.plugin.HOOKS) if hasattr(sdk, "plugin") else None


def exported(plugin_class, config="null"):
    """A fresh component instance exporting ``plugin_class``: the classes componentize-py
    would instantiate, by name."""
    _export._exported.clear()
    _host.use(None)
    Host.reset(config)
    sdk.export(plugin_class)
    hooks = _export.registered().hooks
    classes = _component.exports(hooks)
    return {cls.__name__: cls() for cls in classes}


def pre_call(component, request_id="req-1", body=BODY, **kwargs):
    return component["PreCall"].pre_call(call_context(request_id, **kwargs), Resource.request(body))


def error_of(call):
    try:
        call()
    except Err as error:
        return error.value
    raise AssertionError("no Err raised")


class Quiet(unittest.TestCase):
    """Keeps the tracebacks failing hooks print (the host's log, in a component) apart."""

    def setUp(self):
        self.stderr = io.StringIO()
        redirect = contextlib.redirect_stderr(self.stderr)
        redirect.__enter__()
        self.addCleanup(redirect.__exit__, None, None, None)


class Exports(Quiet):
    def setUp(self):
        super().setUp()
        Scripted.script, Scripted.made = {}, []

    def test_exports_setup_and_exactly_the_defined_hooks(self):
        class OnlyTwo(sdk.Plugin):
            def pre_call(self, ctx, req):
                pass

            def log_failure(self, ctx, req, entry):
                pass

        self.assertEqual(list(exported(OnlyTwo)), ["Setup", "PreCall", "LogFailure"])
        self.assertEqual(
            list(exported(Scripted)),
            ["Setup", "PreCall", "Moderation", "PostCallSuccess", "PostCallFailure", "StreamChunk", "StreamEnd", "LogSuccess", "LogFailure"],
        )

    def test_the_build_s_hooks_must_be_the_class_s(self):
        class OnlyTwo(sdk.Plugin):
            def pre_call(self, ctx, req):
                pass

        _export._exported.clear()
        sdk.export(OnlyTwo)
        with self.assertRaisesRegex(RuntimeError, "not found by build.py: pre-call"):
            _component.exports([])
        with self.assertRaisesRegex(RuntimeError, "not hooks at run time: moderation"):
            _component.exports(["pre_call", "moderation"])

    def test_export_takes_a_plugin_class(self):
        with self.assertRaises(TypeError):
            sdk.export(object)
        _export._exported.clear()
        with self.assertRaisesRegex(RuntimeError, "never calls export"):
            _export.registered()

    def test_describe_and_init(self):
        component = exported(Scripted)
        info = component["Setup"].describe()
        self.assertEqual((info.name, info.version), ("scripted", "1.2.3"))
        component["Setup"].init('{"limit": 3}')
        component["Setup"].init("null")
        component["Setup"].init("")
        self.assertEqual(Scripted.made, [{"limit": 3}, None, None])

    def test_init_refuses_a_bad_config_with_the_reason(self):
        class Picky(sdk.Plugin):
            def __init__(self, config):
                if config is None:
                    raise ValueError("`keywords` is required")

            def pre_call(self, ctx, req):
                pass

        setup = exported(Picky)["Setup"]
        self.assertEqual(error_of(lambda: setup.init("null")), "invalid config: `keywords` is required")
        self.assertRegex(error_of(lambda: setup.init("{nope")), "^invalid config: not JSON")


class Context(Quiet):
    def setUp(self):
        super().setUp()
        Scripted.script, Scripted.made = {}, []

    def test_one_plugin_per_instance_made_from_the_hosts_config_and_a_fresh_ctx_per_request(self):
        component = exported(Scripted, config='{"a": 1}')
        contexts = []
        Scripted.script = {hook: contexts.append for hook in ("pre_call", "moderation", "stream_end")}
        pre_call(component, "req-1")
        component["Moderation"].moderation(call_context("req-1"), Resource.request(BODY))
        # `instances: reuse`: the next request on the same instance.
        pre_call(component, "req-2")
        component["StreamEnd"].stream_end(call_context("req-2"), Resource.request(BODY), "text")
        pre_call(component, "req-3")
        self.assertEqual(Scripted.made, [{"a": 1}], "one plugin object, from config.get()")
        self.assertIs(contexts[0], contexts[1])
        self.assertIs(contexts[2], contexts[3])
        self.assertEqual(len({id(c) for c in contexts}), 3)
        self.assertEqual(contexts[0].seen, ["pre_call", "moderation"])
        self.assertEqual(contexts[2].seen, ["pre_call", "stream_end"])
        self.assertEqual(contexts[4].seen, ["pre_call"])

    def test_init_s_plugin_serves_the_hooks(self):
        component = exported(Scripted, config="null")
        component["Setup"].init('{"from": "init"}')
        pre_call(component)
        self.assertEqual(Scripted.made, [{"from": "init"}])

    def test_new_ctx_shapes_the_context(self):
        class Counting(sdk.Plugin):
            def new_ctx(self):
                return types.SimpleNamespace(chunks=[])

            def stream_chunk(self, ctx, req, chunk):
                ctx.chunks.append(chunk.text())
                if len(ctx.chunks) == 2:
                    raise sdk.Rejection.bad_request(repr(ctx.chunks))

        component = exported(Counting)
        chunk = {"choices": [{"index": 0, "delta": {"content": "a"}}]}
        stream = component["StreamChunk"]
        stream.stream_chunk(call_context("r1"), Resource.request(BODY), Resource.chunk(chunk))
        stream.stream_chunk(call_context("r2"), Resource.request(BODY), Resource.chunk(chunk))
        error = error_of(lambda: stream.stream_chunk(call_context("r2"), Resource.request(BODY), Resource.chunk(chunk)))
        self.assertEqual(error.value.message, "['a', 'a']")

    def test_the_default_ctx_is_an_empty_namespace(self):
        self.assertEqual(sdk.Plugin(None).new_ctx(), types.SimpleNamespace())

    def test_a_plugin_that_refuses_its_config_at_request_time_fails_the_hook(self):
        class Moody(sdk.Plugin):
            def __init__(self, config):
                raise ValueError("not today")

            def pre_call(self, ctx, req):
                pass

        error = error_of(lambda: pre_call(exported(Moody)))
        self.assertIsInstance(error, fake.wit.HookError_Fail)
        self.assertIn("refused at request time the config it accepted at load: ValueError: not today", error.value)


class Outcomes(Quiet):
    def setUp(self):
        super().setUp()
        Scripted.script, Scripted.made = {}, []
        self.component = exported(Scripted)

    def run_hook(self, hook):
        req = Resource.request(BODY)
        ctx = call_context()
        chunk = Resource.chunk({"choices": [{"index": 0, "delta": {"content": "x"}}]})
        resp = Resource.response({"choices": [{"index": 0, "message": {"role": "assistant", "content": "y"}}]})
        failure = fake.Failure(502, "api_error", "down", None, None)
        calls = {
            "pre_call": lambda: self.component["PreCall"].pre_call(ctx, req),
            "moderation": lambda: self.component["Moderation"].moderation(ctx, req),
            "post_call_success": lambda: self.component["PostCallSuccess"].post_call_success(ctx, req, resp),
            "post_call_failure": lambda: self.component["PostCallFailure"].post_call_failure(ctx, req, failure),
            "stream_chunk": lambda: self.component["StreamChunk"].stream_chunk(ctx, req, chunk),
            "stream_end": lambda: self.component["StreamEnd"].stream_end(ctx, req, "text"),
            "log_success": lambda: self.component["LogSuccess"].log_success(ctx, req, resp, fake.log_entry()),
            "log_failure": lambda: self.component["LogFailure"].log_failure(ctx, req, fake.log_entry()),
        }
        return calls[hook]()

    def script(self, **script):
        Scripted.script = script

    def test_none_goes_on(self):
        self.assertEqual(self.run_hook("pre_call"), fake.pre_call.PreCallOutcome_Proceed())
        self.assertIs(self.run_hook("stream_chunk"), fake.stream_chunk.ChunkOutcome.PROCEED)
        for hook in ("moderation", "post_call_success", "post_call_failure", "stream_end", "log_success", "log_failure"):
            self.assertIsNone(self.run_hook(hook), hook)

    def test_respond_and_drop(self):
        self.script(pre_call=sdk.PreCall.respond("cached answer"), stream_chunk=sdk.ChunkOutcome.DROP)
        self.assertEqual(self.run_hook("pre_call"), fake.pre_call.PreCallOutcome_Respond("cached answer"))
        self.assertIs(self.run_hook("stream_chunk"), fake.stream_chunk.ChunkOutcome.DROP)
        self.script(pre_call=sdk.PreCall.PROCEED, stream_chunk=sdk.ChunkOutcome.PROCEED)
        self.assertEqual(self.run_hook("pre_call"), fake.pre_call.PreCallOutcome_Proceed())
        self.assertIs(self.run_hook("stream_chunk"), fake.stream_chunk.ChunkOutcome.PROCEED)

    def test_an_outcome_that_does_not_fit_the_hook_is_a_failure_naming_both(self):
        self.script(moderation=sdk.PreCall.respond("x"))
        error = error_of(lambda: self.run_hook("moderation"))
        self.assertIsInstance(error, fake.wit.HookError_Fail)
        self.assertEqual(
            error.value,
            "moderation returned PreCall.respond('x'), which does not fit moderation: return None to approve, or raise a Rejection",
        )
        for hook, value, shown in [
            ("pre_call", "just text", "'just text'"),
            ("pre_call", sdk.ChunkOutcome.DROP, "ChunkOutcome.DROP"),
            ("pre_call", sdk.PreCall.respond(42), "PreCall.respond(42)"),
            ("stream_chunk", sdk.PreCall.respond("x"), "PreCall.respond('x')"),
            ("post_call_success", {"body": 1}, "{'body': 1}"),
            ("stream_end", False, "False"),
        ]:
            self.script(**{hook: value})
            error = error_of(lambda: self.run_hook(hook))
            self.assertIsInstance(error, fake.wit.HookError_Fail, hook)
            self.assertIn(hook, error.value)
            self.assertIn(shown, error.value)
        self.script(log_success=sdk.PreCall.respond("x"))
        self.assertRegex(error_of(lambda: self.run_hook("log_success")), "^log_success returned PreCall.respond")

    def test_a_rejection_is_the_plugin_s_answer(self):
        self.script(pre_call=sdk.Rejection.too_many_requests("slow down", code="rate_limited"))
        error = error_of(lambda: self.run_hook("pre_call"))
        self.assertEqual(error, fake.wit.HookError_Reject(fake.wit.Rejection(429, "slow down", "rate_limited")))
        self.script(stream_end=sdk.Rejection(403, "no"), post_call_failure=sdk.Rejection("400", "odd status"))
        self.assertEqual(error_of(lambda: self.run_hook("stream_end")).value, fake.wit.Rejection(403, "no", None))
        self.assertEqual(error_of(lambda: self.run_hook("post_call_failure")).value.status, 400)

    def test_any_other_exception_fails_with_its_text(self):
        self.script(pre_call=ValueError("bad input"), moderation=sdk.Fail("the pattern list is empty"))
        self.assertEqual(error_of(lambda: self.run_hook("pre_call")), fake.wit.HookError_Fail("ValueError: bad input"))
        self.assertIn("Traceback", self.stderr.getvalue(), "the traceback goes to stderr: the host's log")
        self.assertEqual(error_of(lambda: self.run_hook("moderation")), fake.wit.HookError_Fail("the pattern list is empty"))
        self.script(stream_chunk=lambda ctx: {}["missing"])
        self.assertEqual(error_of(lambda: self.run_hook("stream_chunk")), fake.wit.HookError_Fail("KeyError: 'missing'"))

    def test_logging_hooks_fail_with_a_plain_message_and_cannot_reject(self):
        self.script(log_success=RuntimeError("exporter down"), log_failure=sdk.Rejection.bad_request("no"))
        self.assertEqual(error_of(lambda: self.run_hook("log_success")), "RuntimeError: exporter down")
        self.assertIn("the logging hooks cannot reject", error_of(lambda: self.run_hook("log_failure")))

    def test_edits_the_host_refuses(self):
        class Editor(sdk.Plugin):
            def new_ctx(self):
                return types.SimpleNamespace(caught=None)

            def pre_call(self, ctx, req):
                try:
                    req.set_text(99, "x")
                except sdk.EditError as error:
                    ctx.caught = (error.kind, error.detail, str(error))
                req.set_text(0, "Be terse.")

            def moderation(self, ctx, req):
                req.set_field("temperature", "1")

        component = exported(Editor)
        req = Resource.request(BODY)
        component["PreCall"].pre_call(call_context("r1"), req)
        self.assertEqual(_export.registered().ctx.caught, ("no_such_text", 99, "no text at position 99"))
        self.assertEqual(req.doc.texts()[0].text, "Be terse.")
        self.assertEqual(req.calls[-1], ("set_texts", [(0, "Be terse.")]))
        read_only = Resource.request(BODY, read_only=True)
        error = error_of(lambda: component["Moderation"].moderation(call_context("r1"), read_only))
        self.assertEqual(error, fake.wit.HookError_Fail("edit refused: this hook may not edit it"))

    def test_edit_errors_carry_the_host_s_case(self):
        req = sdk.Request(None, _component.HostDoc(Resource.request(BODY)))
        with self.assertRaises(sdk.EditError) as caught:
            req.set_field("temperature", "{nope")
        self.assertEqual(caught.exception.kind, "invalid")
        with self.assertRaises(sdk.EditError) as caught:
            req.set_body("[1]")
        self.assertEqual((caught.exception.kind, str(caught.exception)), ("invalid", "the body must be a JSON object"))
        with self.assertRaises(sdk.EditError) as caught:
            req.set_texts([(-1, "x")])
        self.assertEqual(caught.exception.kind, "no_such_text")
        with self.assertRaises(TypeError):
            req.set_field("temperature", 0.5)  # JSON text, not a value


class Values(Quiet):
    """What hooks receive, converted from the host's values."""

    def capture(self, hook, call):
        seen = {}

        class Capture(sdk.Plugin):
            pass

        def record(self, ctx, req, *rest):
            seen.update(req=req, rest=rest, texts=req.texts(), id=req.id, call_type=req.call_type, key=req.key)

        setattr(Capture, hook, record)
        component = exported(Capture)
        call(component)
        return seen

    def test_request_context_key_and_metadata(self):
        ctx = call_context("req-9", alias="team-blue", metadata='{"team": "blue", "tier": 2}', stream=True, user_id="u1")
        seen = self.capture("pre_call", lambda c: c["PreCall"].pre_call(ctx, Resource.request(BODY, headers=[("X-Trace", "t")])))
        req = seen["req"]
        self.assertEqual((seen["id"], seen["call_type"], req.stream, req.model), ("req-9", "chat_completion", True, "gpt-4o-mini"))
        key = seen["key"]
        self.assertEqual((key.alias, key.id, key.user_id, key.team_id), ("team-blue", "ab" * 32, "u1", None))
        self.assertEqual(key.metadata, {"team": "blue", "tier": 2})
        self.assertEqual(req.header("x-trace"), "t")
        self.assertEqual(req.header("X-TRACE"), "t")
        self.assertIsNone(req.header("x-other"))

    def test_metadata_is_a_dict_and_empty_when_none(self):
        for text in ("{}", "", "null", "[1, 2]", "not json", '"text"'):
            self.assertEqual(sdk.Key("a", "id", metadata=text).metadata, {}, text)
        self.assertEqual(sdk.Key("a", "id", metadata='{"k": [1]}').metadata, {"k": [1]})

    def test_call_types(self):
        cases = [
            (fake.wit.CallType_ChatCompletion(), "chat_completion"),
            (fake.wit.CallType_TextCompletion(), "text_completion"),
            (fake.wit.CallType_Embedding(), "embedding"),
            (fake.wit.CallType_Other("responses"), "responses"),
        ]
        for value, name in cases:
            self.assertEqual(_component.call_type(value), name)

    def test_texts_carry_where_they_are(self):
        body = {"model": "m", "messages": [{"role": "system", "content": "rules"}, {"role": "user", "name": "ann", "content": [{"type": "text", "text": "hi"}]}],
                "tools": [{"type": "function", "function": {"name": "f", "parameters": {"properties": {"q": {"type": "string"}}}}}]}  # fmt: skip
        seen = self.capture("pre_call", lambda c: c["PreCall"].pre_call(call_context(), Resource.request(body)))
        texts = seen["texts"]
        self.assertEqual(texts, ["rules", "ann", "hi", "f", "q", "string"])
        self.assertTrue(all(isinstance(text, str) and isinstance(text, sdk.Text) for text in texts))
        summary = [(t.path, t.is_key, t.item, t.role) for t in texts]
        self.assertEqual(summary, [
            ("/messages/0/content", False, 0, "system"),
            ("/messages/1/name", False, 1, "user"),
            ("/messages/1/content/0/text", False, 1, "user"),
            ("/tools/0/function/name", False, None, None),
            ("/tools/0/function/parameters/properties/q", True, None, None),
            ("/tools/0/function/parameters/properties/q/type", False, None, None),
        ])  # fmt: skip
        self.assertIs(type(texts[0].text), str)

    def test_failure_and_log_entry(self):
        failure = fake.Failure(503, "api_error", "down", "overloaded", "guard")
        seen = self.capture(
            "post_call_failure",
            lambda c: c["PostCallFailure"].post_call_failure(call_context(), Resource.request(BODY), failure),
        )
        self.assertEqual(seen["rest"][0], sdk.Failure(503, "api_error", "down", "overloaded", "guard"))
        entry = fake.log_entry(
            usage=fake.Usage(3, 5, 8), failure=failure, response_cost=0.25,
            decisions=[fake.Decision("p", "pre-call", "proceed", None, 1, 0.5, 0.25)], truncated=["request"],
        )  # fmt: skip
        seen = self.capture("log_failure", lambda c: c["LogFailure"].log_failure(call_context(), Resource.request(BODY), entry))
        got = seen["rest"][0]
        self.assertIsInstance(got, sdk.LogEntry)
        self.assertEqual(got.usage.total_tokens, 8)
        self.assertEqual(got.failure.status, 503)
        self.assertEqual(got.decisions, [sdk.Decision("p", "pre-call", "proceed", None, 1, 0.5, 0.25)])
        self.assertEqual((got.model, got.status_code, got.response_cost, got.truncated), ("m", 200, 0.25, ["request"]))

    def test_response_status_headers_and_edits(self):
        resp = Resource.response({"choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}}]}, status=201)
        seen = self.capture(
            "post_call_success",
            lambda c: c["PostCallSuccess"].post_call_success(call_context(), Resource.request(BODY), resp),
        )
        response = seen["rest"][0]
        self.assertEqual(response.status, 201)
        self.assertEqual(response.texts(), ["ok"])
        self.assertEqual(response.texts()[0].role, "assistant")


class Chunks(unittest.TestCase):
    def test_text_joins_every_choice_s_answer_and_is_none_without_any(self):
        several = testing.chunk({"choices": [{"index": 0, "delta": {"content": "a"}}, {"index": 1, "delta": {"refusal": "no"}},
                                             {"index": 2, "delta": {"content": [{"type": "text", "text": "b"}]}}]})  # fmt: skip
        self.assertEqual(several.text(), "ab")
        self.assertEqual([t.item for t in several.answer_texts()], [0, 2])
        self.assertIsNone(testing.chunk({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}).text())
        self.assertIsNone(testing.chunk({"choices": [], "usage": {"total_tokens": 3}}).text())
        self.assertIsNone(testing.chunk({"choices": [{"index": 0, "delta": {"tool_calls": [{"function": {"arguments": "{"}}]}}]}).text())
        self.assertEqual(testing.chunk({"choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]}).text(), "")
        self.assertEqual(testing.chunk({"choices": [{"index": 0, "text": "Once"}]}).text(), "Once")

    def test_finish_reason_and_set_content(self):
        chunk = testing.chunk({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}, {"index": 1, "text": "x"}]})
        self.assertEqual(chunk.finish_reason(0), "stop")
        self.assertIsNone(chunk.finish_reason(1))
        self.assertIsNone(chunk.finish_reason(7))
        chunk.set_content(0, "held")
        chunk.set_content(1, "y")
        self.assertEqual(chunk.text(), "heldy")
        with self.assertRaises(sdk.EditError):
            chunk.set_content(5, "z")

    def test_an_edit_writes_every_place_a_client_reads_and_drops_the_choice_s_logprobs(self):
        tokens = {"content": [{"token": "ann@", "logprob": -0.1}]}
        both = testing.chunk({"choices": [{"index": 0, "delta": {"content": "ann@"}, "text": "", "logprobs": tokens}]})
        both.set_content(0, "[EMAIL]")
        choice = both.json()["choices"][0]
        self.assertEqual((choice["delta"]["content"], choice["text"], choice["logprobs"]), ("[EMAIL]", "[EMAIL]", None))
        resp = testing.response({"choices": [{"index": 0, "message": {"content": "ann@x.io"}, "logprobs": tokens},
                                             {"index": 1, "message": {"content": "fine"}, "logprobs": tokens}]})
        resp.map_texts(lambda text: text.replace("ann@x.io", "[EMAIL]"))
        self.assertEqual([c["logprobs"] for c in resp.json()["choices"]], [None, tokens])


class HoldBackTests(unittest.TestCase):
    def chunk(self, content=None, finish=None, index=0):
        delta = {} if content is None else {"content": content}
        return testing.chunk({"choices": [{"index": index, "delta": delta, "finish_reason": finish}]})

    def test_the_rust_sdk_s_example(self):
        hold = sdk.HoldBack(4)
        chunk = self.chunk("the sec")
        self.assertEqual(hold.unsent(chunk), ["the sec"])
        hold.apply(chunk)
        self.assertEqual(chunk.text(), "the")
        chunk = self.chunk("ret plan")
        self.assertEqual(hold.unsent(chunk), [" secret plan"])
        hold.apply(chunk)
        self.assertEqual(chunk.text(), " secret ")
        last = self.chunk(None, "stop")
        hold.apply(last)
        self.assertEqual(last.text(), "plan")

    def test_nothing_is_lost_and_choices_are_apart(self):
        hold = sdk.HoldBack(3)
        sent = ["", ""]
        pieces = [("ab", "x"), ("cdéf", ""), ("g", "yz")]
        for first, second in pieces:
            chunk = testing.chunk({"choices": [{"index": 0, "delta": {"content": first}}, {"index": 1, "delta": {"content": second}}]})
            hold.apply(chunk)
            for text in chunk.answer_texts():
                sent[text.item] += text
        self.assertEqual(sent, ["abcd", ""])
        end = testing.chunk({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}, {"index": 1, "delta": {}, "finish_reason": "stop"}]})
        self.assertEqual(hold.unsent(end), ["éfg", "xyz"])
        hold.apply(end)
        self.assertEqual([t.text for t in end.answer_texts()], ["éfg", "xyz"])
        self.assertEqual((hold.finish(0), hold.finish(1)), ("", ""))

    def test_a_chunk_without_text_that_does_not_end_is_left_alone_and_finish_releases(self):
        hold = sdk.HoldBack(10)
        hold.apply(self.chunk("short"))
        role_only = testing.chunk({"choices": [{"index": 0, "delta": {"role": "assistant"}}]})
        hold.apply(role_only)
        self.assertNotIn("content", role_only.json()["choices"][0]["delta"])
        self.assertEqual(hold.finish(0), "short")
        self.assertEqual(hold.finish(3), "")

    def test_a_window_is_a_count_of_characters(self):
        with self.assertRaises(ValueError):
            sdk.HoldBack(-1)
        with self.assertRaises(ValueError):
            sdk.HoldBack(2.5)
        zero = sdk.HoldBack(0)
        chunk = self.chunk("all of it")
        zero.apply(chunk)
        self.assertEqual(chunk.text(), "all of it")


class Kv(Quiet):
    def setUp(self):
        super().setUp()
        _host.use(None)
        Host.reset()

    def test_calls_pass_through_with_ttls_in_milliseconds(self):
        sdk.kv.set("k", "v", ttl_ms=1500)
        sdk.kv.set("plain", "v")
        self.assertEqual(sdk.kv.get("k"), "v")
        self.assertEqual(sdk.kv.incr("n", 2, ttl_ms=60_000), 2)
        self.assertEqual(sdk.kv.incr("n"), 3)
        self.assertTrue(sdk.kv.delete("k"))
        self.assertEqual(Host.calls, [
            ("set", "k", "v", 1500), ("set", "plain", "v", None), ("get", "k"),
            ("incr", "n", 2, 60000), ("incr", "n", 1, None), ("delete", "k"),
        ])  # fmt: skip
        with self.assertRaises(ValueError):
            sdk.kv.set("k", "v", ttl_ms=-1)
        with self.assertRaises(TypeError):
            sdk.kv.set("k", 5)

    def test_errors_become_kv_error(self):
        Host.kv_error = fake.kv.KvError_Unavailable("redis down")
        with self.assertRaises(sdk.KvError) as caught:
            sdk.kv.get("k")
        self.assertTrue(caught.exception.unavailable)
        self.assertEqual(str(caught.exception), "kv store unavailable: redis down")
        Host.kv_error = fake.kv.KvError_Invalid("not an integer")
        with self.assertRaises(sdk.KvError) as caught:
            sdk.kv.incr("k")
        self.assertFalse(caught.exception.unavailable)
        self.assertEqual(caught.exception.detail, "not an integer")

    def test_an_uncaught_kv_error_fails_the_hook(self):
        class Counter(sdk.Plugin):
            def pre_call(self, ctx, req):
                sdk.kv.incr("n")

        component = exported(Counter)
        Host.kv_error = fake.kv.KvError_Unavailable("timed out")
        self.assertEqual(error_of(lambda: pre_call(component)), fake.wit.HookError_Fail("kv store unavailable: timed out"))

    def test_log_levels(self):
        for level in ("trace", "debug", "info", "warn", "error"):
            getattr(sdk.log, level)(f"{level} line")
        self.assertEqual([(lvl.name, msg) for lvl, msg in Host.lines], [
            ("TRACE", "trace line"), ("DEBUG", "debug line"), ("INFO", "info line"), ("WARN", "warn line"), ("ERROR", "error line"),
        ])  # fmt: skip


class Testing(Quiet):
    """hookgate_sdk.testing: the stand-ins plugin authors test with."""

    def test_runner_edits_read_only_and_rollback(self):
        class Editor(sdk.Plugin):
            def pre_call(self, ctx, req):
                req.set_text(1, "changed")
                if "reject" in req.texts()[0]:
                    raise sdk.Rejection.bad_request("no")

            def moderation(self, ctx, req):
                req.set_text(1, "late")

            def post_call_success(self, ctx, req, resp):
                resp.set_header("x-seen", "yes")
                resp.map_texts(str.upper)

        run = testing.Runner(Editor)
        req = testing.request(BODY)
        self.assertIsNone(run.pre_call(req))
        self.assertEqual(req.texts()[1], "changed")
        with self.assertRaises(testing.HookFailed) as failed:
            run.moderation(req)
        self.assertEqual(failed.exception.message, "edit refused: this hook may not edit it")
        resp = testing.response({"choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}}]})
        run.post_call_success(req, resp)
        self.assertEqual((resp.header("x-seen"), resp.texts()), ("yes", ["OK"]))
        rejected = testing.request({"model": "m", "messages": [{"role": "user", "content": "reject"}, {"role": "user", "content": "keep"}]})
        with self.assertRaises(sdk.Rejection):
            run.pre_call(rejected)
        self.assertEqual(rejected.texts()[1], "keep", "a rejecting hook's edits are undone")

    def test_runner_config_and_local_kv(self):
        class Limited(sdk.Plugin):
            def __init__(self, config):
                if config is not None and "limit" not in config:
                    raise ValueError("`limit` is required")
                self.limit = (config or {}).get("limit", 1)

            def pre_call(self, ctx, req):
                if sdk.kv.incr(req.key.id, 1, ttl_ms=1000) > self.limit:
                    raise sdk.Rejection.too_many_requests("slow down")

        with self.assertRaisesRegex(testing.ConfigRefused, "invalid config: `limit` is required"):
            testing.Runner(Limited, config={"other": 1})
        run = testing.Runner(Limited)
        self.assertIsNone(run.plugin.config if hasattr(run.plugin, "config") else None)
        req = testing.request(BODY)
        run.pre_call(req)
        with self.assertRaises(sdk.Rejection):
            run.pre_call(req)
        run.host.advance(1000)
        run.pre_call(req)
        self.assertEqual(run.host.kv_calls[0], ("incr", "0" * 64, 1, 1000))

    def test_stand_in_fields_and_body(self):
        req = testing.request({"model": "m", "temperature": 0.2, "messages": []}, headers=[("X-A", "1")])
        self.assertEqual(req.field("temperature"), "0.2")
        self.assertIsNone(req.field("nope"))
        req.set_field("max_tokens", "64")
        req.set_field("temperature", None)
        self.assertEqual(req.field_names(), ["model", "messages", "max_tokens"])
        self.assertEqual(req.body(), '{"model":"m","messages":[],"max_tokens":64}')
        self.assertEqual(req.json()["max_tokens"], 64)
        self.assertEqual(req.headers(), [("x-a", "1")])
        resp = testing.response({"choices": []}, headers=[("x-served-by", "mock")])
        resp.set_header("X-Served-By", "plugin")
        with self.assertRaises(sdk.EditError):
            resp.set_header("content-length", "1")
        self.assertEqual(resp.headers(), [("x-served-by", "plugin")])
        small = testing.request({"model": "m", "messages": [{"role": "user", "content": "hi"}]}, max_bytes=60)
        with self.assertRaises(sdk.EditError) as caught:
            small.set_text(0, "x" * 100)
        self.assertEqual(caught.exception.kind, "too_large")

    def test_runner_fresh_ctx_per_request_id(self):
        class Trail(sdk.Plugin):
            def pre_call(self, ctx, req):
                ctx.trail = getattr(ctx, "trail", []) + ["pre"]

            def stream_end(self, ctx, req, text):
                ctx.trail = getattr(ctx, "trail", []) + ["end"]

        run = testing.Runner(Trail)
        run.pre_call(testing.request(BODY, id="a"))
        run.stream_end(testing.request(BODY, id="a"), "t")
        self.assertEqual(run.ctx.trail, ["pre", "end"])
        run.stream_end(testing.request(BODY, id="b"), "t")
        self.assertEqual(run.ctx.trail, ["end"])


class Http(unittest.TestCase):
    def setUp(self):
        self.host = testing.LocalHost()
        _host.use(self.host)

    def tearDown(self):
        _host.use(None)

    def test_without_a_responder_every_call_is_denied_as_without_a_grant(self):
        with self.assertRaises(sdk.http.HttpError) as raised:
            sdk.http.post("https://guard.test/analyze/prompt", {"Content-Type": "application/json"}, "{}")
        self.assertEqual(raised.exception.kind, "denied")
        self.assertEqual(self.host.http_calls, [("POST", "https://guard.test/analyze/prompt", [("content-type", "application/json")], b"{}")])

    def test_a_responder_answers_and_errors_keep_their_kind(self):
        def respond(method, url, headers, body, timeout_ms):
            if url.endswith("/slow"):
                raise sdk.http.HttpError("timeout", "no complete answer in time")
            return sdk.http.HttpResponse(200, [("Content-Type", "application/json")], b'{"is_valid": true}')

        self.host.http = respond
        answer = sdk.http.get("http://127.0.0.1:8000/ok", [("x-a", "1")], timeout_ms=50)
        self.assertEqual((answer.status, answer.header("content-type"), answer.json()), (200, "application/json", {"is_valid": True}))
        with self.assertRaises(sdk.http.HttpError) as raised:
            sdk.http.get("http://127.0.0.1:8000/slow")
        self.assertEqual(raised.exception.kind, "timeout")
        self.assertEqual(sdk.http.HttpResponse(200, [], b"x").text, "x")
        with self.assertRaises(sdk.http.HttpError) as raised:
            sdk.http.HttpResponse(200, [], b"not json").json()
        self.assertEqual(raised.exception.kind, "failed")

    def test_urls_must_be_http_or_https_with_a_host(self):
        for url in ("ftp://x/", "https:///path", "nope"):
            with self.assertRaises(sdk.http.HttpError) as raised:
                sdk.http.get(url)
            self.assertEqual(raised.exception.kind, "failed", url)


class Outside(unittest.TestCase):
    def test_without_a_host_kv_says_what_to_do(self):
        saved = sys.modules.pop("wit_world.imports.kv")
        _host.use(None)
        try:
            with self.assertRaisesRegex(RuntimeError, "hookgate_sdk.testing"):
                sdk.kv.get("k")
        finally:
            sys.modules["wit_world.imports.kv"] = saved


if __name__ == "__main__":
    unittest.main()
