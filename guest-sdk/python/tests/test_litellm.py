"""LiteLLM callback files as hookgate plugins, in plain CPython: the compatibility layer
(``compat/``: ``litellm``, ``fastapi``), the adapter (``hookgate_sdk.litellm``) hook by
hook through ``hookgate_sdk.testing``, and build.py's LiteLLM mode, checked against the
adapter on every fixture handler.

The handlers are LiteLLM's documented examples (``tests/plugins-litellm/``, written out
as the docs print them), handlers for each mapping (``plugins-litellm/handlers.py``), and
the bench's ``bench/litellm/custom_callbacks.py``, imported from where it is.

    python3 -m unittest discover -s guest-sdk/python/tests
"""

import asyncio
import contextlib
import datetime
import importlib.util
import io
import json
import pathlib
import subprocess
import sys
import tempfile
import textwrap
import unittest
import unittest.mock

HERE = pathlib.Path(__file__).resolve().parent
SDK = HERE.parent
ROOT = SDK.parent.parent
FIXTURES = HERE / "plugins-litellm"
BENCH = ROOT / "bench" / "litellm" / "custom_callbacks.py"
for path in (SDK, SDK / "compat"):  # compat first: its `litellm` and `fastapi` are the ones a build uses
    if str(path) in sys.path:
        sys.path.remove(str(path))
    sys.path.insert(0, str(path))

import fastapi  # noqa: E402
import litellm  # noqa: E402
from fastapi import HTTPException, status  # noqa: E402

from hookgate_sdk import ChunkOutcome, Decision, PreCall, Rejection, _host, testing  # noqa: E402
from hookgate_sdk import litellm as adapter  # noqa: E402
from hookgate_sdk._litellm_api import SUPPORTED, UNSUPPORTED  # noqa: E402
from hookgate_sdk.plugin import defined_hooks  # noqa: E402

_spec = importlib.util.spec_from_file_location("hookgate_build_litellm", SDK / "build.py")
build = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(build)


def load(path):
    """The callback module at ``path``, imported from where it is (never copied)."""
    spec = importlib.util.spec_from_file_location(f"litellm_fixture_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    with contextlib.redirect_stdout(io.StringIO()):
        spec.loader.exec_module(module)
    return module


bench = load(BENCH)
quickstart = load(FIXTURES / "call_hooks_quickstart.py")
reject_message = load(FIXTURES / "reject_with_message.py")
reject_http = load(FIXTURES / "reject_http_exception.py")
moderation_doc = load(FIXTURES / "moderation.py")
logging_doc = load(FIXTURES / "custom_callback_class.py")
side_by_side = load(FIXTURES / "side_by_side.py")
handlers = load(FIXTURES / "handlers.py")
unsupported = load(FIXTURES / "unsupported.py")

KEY = testing.key(alias="team-blue", id="ab" * 32, user_id="u-7", team_id="t-9", metadata={"tier": "gold"})


def runner(handler, **options):
    return testing.Runner(adapter.plugin_for(handler, name="test.handler"), **options)


def chat(*contents, id="req-1", key=KEY, call_type="chat_completion", headers=(), **fields):  # noqa: A002
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": c} for c in contents], **fields}
    return testing.request(body, id=id, key=key, call_type=call_type, headers=headers)


def answer(content, **fields):
    return testing.response({
        "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "gpt-4o-mini",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}, **fields,
    })  # fmt: skip


def chunk(content, finish=None, **fields):
    delta = {} if content is None else {"content": content}
    return testing.chunk({
        "id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o-mini",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}], **fields,
    })  # fmt: skip


def stream(run, req, pieces):
    """Streams ``pieces`` (the last one finishing) through stream-chunk, then stream-end:
    what the client gets of each chunk (``None`` for a dropped one)."""
    sent = []
    for position, piece in enumerate(pieces):
        c = chunk(piece, "stop" if position == len(pieces) - 1 else None)
        outcome = run.stream_chunk(req, c)
        sent.append(None if outcome is ChunkOutcome.DROP else c.text())
    run.stream_end(req, "".join(s or "" for s in sent))
    return sent


class Quiet(unittest.TestCase):
    def setUp(self):
        for redirect in (contextlib.redirect_stderr(io.StringIO()), contextlib.redirect_stdout(io.StringIO())):
            redirect.__enter__()
            self.addCleanup(redirect.__exit__, None, None, None)


# -- the compatibility layer


class Compat(Quiet):
    def test_what_callback_files_import_is_there(self):
        from litellm.caching import DualCache as A
        from litellm.caching.caching import DualCache as B
        from litellm.caching.dual_cache import DualCache as C
        from litellm.integrations.custom_guardrail import CustomGuardrail
        from litellm.integrations.custom_logger import CustomLogger
        from litellm.proxy._types import UserAPIKeyAuth as U1
        from litellm.proxy.proxy_server import DualCache as D
        from litellm.proxy.proxy_server import UserAPIKeyAuth as U2
        from litellm.types.utils import ModelResponse as M1
        from litellm.utils import ModelResponse as M2
        from litellm.utils import get_formatted_prompt  # noqa: F401

        self.assertTrue(A is B is C is D)
        self.assertIs(U1, U2)
        self.assertTrue(M1 is M2 is litellm.ModelResponse)
        self.assertTrue(issubclass(CustomGuardrail, CustomLogger))
        # Lists nothing reads (a fixture assigns litellm.callbacks = [customHandler], as LiteLLM's docs do).
        self.assertIsInstance(litellm.callbacks, list)
        self.assertIs(litellm.set_verbose, False)
        self.assertIs(litellm.exceptions.RejectedRequestError, litellm.RejectedRequestError)

    def test_custom_logger_has_every_callback_method_as_a_no_op(self):
        from litellm.integrations.custom_guardrail import CustomGuardrail
        from litellm.integrations.custom_logger import CustomLogger

        logger = CustomLogger(turn_off_message_logging=True, message_logging=False, extra=1)
        self.assertEqual((logger.turn_off_message_logging, logger.message_logging), (True, False))
        for name in list(SUPPORTED) + list(UNSUPPORTED):
            owner = CustomGuardrail if name == "apply_guardrail" else CustomLogger
            self.assertTrue(callable(getattr(owner, name, None)), name)
        self.assertIsNone(asyncio.run(logger.async_pre_call_hook(None, None, {}, "completion")))
        self.assertEqual(adapter.inspect_handler(CustomLogger()), {})

    def test_unknown_names_say_where_they_are_missing(self):
        with self.assertRaisesRegex(AttributeError, "hookgate's LiteLLM compatibility layer"):
            litellm.acompletion  # noqa: B018
        with self.assertRaisesRegex(ImportError, "compat"):
            from litellm import Router  # noqa: F401
        with self.assertRaisesRegex(AttributeError, "fastapi.HTTPException and fastapi.status only"):
            fastapi.Request  # noqa: B018
        self.assertIsNone(getattr(litellm, "no_such_setting", None))

    def test_http_exception_and_status(self):
        error = HTTPException(status_code=status.HTTP_429_TOO_MANY_REQUESTS, detail={"error": "slow"})
        self.assertEqual((error.status_code, error.detail, str(error)), (429, {"error": "slow"}, "429: {'error': 'slow'}"))
        self.assertEqual(HTTPException(404).detail, "Not Found")
        self.assertEqual(status.HTTP_400_BAD_REQUEST, 400)

    def test_model_response_reads_and_edits_like_litellm_s(self):
        body = {
            "id": "c1", "object": "chat.completion", "created": 1, "model": "m", "service_tier": "default",
            "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": "hi", "tool_calls": [
                {"id": "t", "type": "function", "function": {"name": "f", "arguments": "{}"}}]}}],
            "usage": {"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3, "prompt_tokens_details": {"cached_tokens": 0}},
        }  # fmt: skip
        response = litellm.ModelResponse._from_json(json.loads(json.dumps(body)))
        self.assertEqual(response.to_dict(), body)  # nothing added, order kept
        self.assertIsInstance(response.choices[0], litellm.Choices)
        self.assertIsInstance(response.choices[0].message, litellm.Message)
        self.assertEqual(response.choices[0].message.tool_calls[0].function.name, "f")
        self.assertEqual(response["choices"][0]["message"]["content"], "hi")
        self.assertEqual(response.usage.prompt_tokens_details.cached_tokens, 0)
        self.assertEqual(response.service_tier, "default")
        self.assertIsNone(response.system_fingerprint)  # LiteLLM's field, absent: None, not added
        self.assertNotIn("system_fingerprint", response.to_dict())
        with self.assertRaises(AttributeError):
            response.no_such_field  # noqa: B018
        response.choices[0].message.content = "edited"
        response["model"] = "m2"
        response.choices[0]["finish_reason"] = "length"
        self.assertEqual(response.to_dict()["choices"][0]["message"]["content"], "edited")
        self.assertEqual((response.model, response.choices[0].finish_reason), ("m2", "length"))
        self.assertEqual(response.json(), response.model_dump())  # LiteLLM's json() returns the dict
        self.assertEqual(json.loads(response.model_dump_json())["model"], "m2")
        self.assertEqual(response.get("missing", 7), 7)
        self.assertEqual(dict(response)["id"], "c1")

    def test_constructed_responses_have_litellm_s_defaults(self):
        response = litellm.ModelResponse(model="m", choices=[{"message": {"content": "x"}}])
        data = response.to_dict()
        self.assertTrue(data["id"].startswith("chatcmpl-"))
        self.assertEqual(data["object"], "chat.completion")
        self.assertEqual(data["choices"], [{"message": {"content": "x"}}])
        self.assertEqual(response.choices[0].message.role, None)  # given as a dict: as given
        self.assertEqual(litellm.ModelResponse().choices[0].message.to_dict(), {"content": None, "role": "assistant"})
        self.assertEqual(litellm.Usage(prompt_tokens=2, completion_tokens=3).total_tokens, 5)
        chunk_ = litellm.ModelResponseStream(choices=[litellm.StreamingChoices(delta=litellm.Delta(content="a"))])
        self.assertEqual(chunk_.to_dict()["choices"], [{"index": 0, "delta": {"content": "a"}}])
        self.assertEqual(chunk_.object, "chat.completion.chunk")

    def test_user_api_key_auth_is_honest_about_what_it_lacks(self):
        auth = litellm.proxy._types.UserAPIKeyAuth(api_key="id", key_alias="a", metadata={"x": 1})
        self.assertEqual((auth.token, auth.max_budget, auth.team_alias), ("id", None, None))
        self.assertEqual(getattr(auth, "spend", "absent"), "absent")
        with self.assertRaisesRegex(AttributeError, "spend is not available in a hookgate plugin"):
            auth.spend  # noqa: B018
        self.assertEqual(auth.model_dump()["metadata"], {"x": 1})

    def test_get_formatted_prompt(self):
        from litellm.utils import get_formatted_prompt

        data = {"messages": [
            {"role": "system", "content": "A"}, {"role": "user", "content": [{"type": "text", "text": "B"}, {"type": "image_url", "image_url": {}}]},
            {"role": "assistant", "content": None, "tool_calls": [{"function": {"name": "f", "arguments": "C"}}]},
        ]}  # fmt: skip
        self.assertEqual(get_formatted_prompt(data, "completion"), "ABC")
        self.assertEqual(get_formatted_prompt({"prompt": "p"}, "text_completion"), "p")
        self.assertEqual(get_formatted_prompt({"input": ["x", "y"]}, "embeddings"), "xy")

    def test_dual_cache_is_the_kv_store(self):
        from litellm.caching.dual_cache import DualCache

        host = testing.LocalHost()
        _host.use(host)
        cache = DualCache(default_in_memory_ttl=5)
        cache.set_cache("k", {"n": [1, "two"]}, ttl=1.5)
        self.assertEqual(cache.get_cache("k"), {"n": [1, "two"]})
        self.assertEqual(host.kv_calls[0], ("set", "k", '{"n":[1,"two"]}', 1500))  # seconds to milliseconds
        self.assertEqual(asyncio.run(cache.async_increment_cache("c", 2, ttl=60)), 2)
        self.assertEqual(cache.increment_cache("c", 1.0), 3)
        self.assertEqual(asyncio.run(cache.async_get_cache("c")), 3)
        self.assertEqual(cache.batch_get_cache(["c", "none"]), [3, None])
        cache.delete_cache("c")
        self.assertIsNone(cache.get_cache("c"))
        host.advance(1500)
        self.assertIsNone(cache.get_cache("k"))
        with self.assertRaisesRegex(TypeError, "integers"):
            cache.increment_cache("c", 0.5)
        with self.assertRaisesRegex(TypeError, "JSON"):
            cache.set_cache("k", object())
        with self.assertRaisesRegex(ValueError, "seconds"):
            cache.set_cache("k", 1, ttl=-1)


# -- what a handler exports


class Exports(Quiet):
    def test_the_bench_callbacks(self):
        expected = {
            "rate_limiter": ["pre_call", "post_call_success"],
            "pii_redactor": ["pre_call", "post_call_success", "stream_chunk", "stream_end"],
            "banned_keywords": ["pre_call", "post_call_success", "stream_chunk", "stream_end"],
            "header_injector": ["post_call_success"],
            "cost_logger": ["log_success"],
        }
        for name, hooks in expected.items():
            with self.subTest(name):
                plugin = adapter.plugin_for(getattr(bench, name), name=f"custom_callbacks.{name}")
                self.assertEqual(defined_hooks(plugin), hooks)
                self.assertEqual(plugin.name, f"custom_callbacks.{name}")

    def test_methods_that_only_pass_are_not_exported(self):
        # The docs' quick start overrides five hooks; four of them only pass.
        self.assertEqual(defined_hooks(adapter.plugin_for(quickstart.proxy_handler_instance)), ["pre_call"])
        # The docs' moderation example also passes in async_log_stream_event, which hookgate does not run.
        self.assertEqual(defined_hooks(adapter.plugin_for(moderation_doc.proxy_handler_instance)), ["pre_call", "moderation"])
        # An override that does nothing turns a base class's hook off, as it would in LiteLLM.
        self.assertEqual(defined_hooks(adapter.plugin_for(handlers.derived)), ["pre_call"])
        self.assertEqual(defined_hooks(adapter.plugin_for(unsupported.quiet_router)), ["pre_call"])

    def test_each_mapping(self):
        expected = {
            "key_quota": ["pre_call"],
            "moderator": ["moderation"],
            "rewriter": ["post_call_success"],
            "old_headers": ["post_call_success"],
            "failure_rewriter": ["post_call_failure"],
            "censor": ["stream_chunk"],
            "regrouper": ["stream_chunk", "stream_end"],
            "logger": ["moderation", "log_success", "log_failure"],
            "sync_logger": ["moderation", "log_success", "log_failure"],
        }
        for name, hooks in expected.items():
            with self.subTest(name):
                self.assertEqual(defined_hooks(adapter.plugin_for(getattr(handlers, name))), hooks)

    def test_what_cannot_run_is_an_error_naming_it(self):
        cases = {
            "router": r"cannot run:\n  - logging_hook: hookgate builds .*\n  - async_pre_routing_hook: hookgate's router has no plugin hook",
            "unified": r"apply_guardrail: LiteLLM's unified guardrail path",
            "needs_more": r"async_pre_call_hook\(user_api_key_dict, cache, data, call_type, region\) requires `region`",
            "not_a_logger": r"is not a CustomLogger",
            "handler_class": r"Router is a class: name an instance of it",
        }
        for name, pattern in cases.items():
            with self.subTest(name), self.assertRaisesRegex(adapter.HandlerError, pattern):
                adapter.plugin_for(getattr(unsupported, name))

    def test_a_method_set_on_the_instance_is_refused(self):
        handler = handlers.Moderator()
        handler.async_pre_call_hook = lambda **kwargs: None
        with self.assertRaisesRegex(adapter.HandlerError, "async_pre_call_hook set on the instance"):
            adapter.plugin_for(handler)

    def test_init_checks_the_class_again_and_refuses_a_config(self):
        class Later(handlers.Moderator):
            pass

        plugin = adapter.plugin_for(Later())
        testing.Runner(plugin)
        with self.assertRaisesRegex(testing.ConfigRefused, "takes no config"):
            testing.Runner(plugin, config={"a": 1})

        async def async_pre_routing_hook(self, model, request_kwargs, messages=None, input=None, specific_deployment=False):
            return model

        Later.async_pre_routing_hook = async_pre_routing_hook
        with self.assertRaisesRegex(testing.ConfigRefused, "async_pre_routing_hook"):
            testing.Runner(plugin)
        del Later.async_pre_routing_hook

        async def async_post_call_success_hook(self, data, user_api_key_dict, response):
            return response

        Later.async_post_call_success_hook = async_post_call_success_hook
        with self.assertRaisesRegex(testing.ConfigRefused, "now needs the hooks moderation, post_call_success.*rebuild"):
            testing.Runner(plugin)

    def test_seal_checks_the_handlers_once_for_every_instance(self):
        class Changed(handlers.Moderator):
            pass

        plugin = adapter.plugin_for(Changed())

        async def async_post_call_success_hook(self, data, user_api_key_dict, response):
            return response

        Changed.async_post_call_success_hook = async_post_call_success_hook
        with self.assertRaisesRegex(adapter.HandlerError, "now needs the hooks moderation, post_call_success.*rebuild"):
            adapter.seal(plugin)

        class Same(handlers.Moderator):
            pass

        checks = []
        fingerprint = adapter._fingerprint

        def counted(handler):
            checks.append(handler)
            return fingerprint(handler)

        with unittest.mock.patch.object(adapter, "_fingerprint", counted):
            plugin = adapter.plugin_for(Same())
            testing.Runner(plugin)
            self.assertEqual(len(checks), 2, "plugin_for decides from the class, an unsealed instance checks it again")
            self.assertIs(adapter.seal(plugin), plugin)
            checks.clear()
            testing.Runner(plugin)
            testing.Runner(plugin)
            self.assertEqual(checks, [], "instances of a sealed plugin do not check again")

            bundle = adapter.bundle_for([("m.a", handlers.Moderator()), ("m.b", Same())], name="b")
            adapter.seal(bundle)
            checks.clear()
            testing.Runner(bundle)
            self.assertEqual(checks, [])
            self.assertTrue(all(member._sealed for _, member in bundle.members))


# -- pre-call


class PreCallHook(Quiet):
    def test_the_docs_quick_start_routes_to_another_model(self):
        run = runner(quickstart.proxy_handler_instance)
        req = chat("good morning good sir", user="ishaan-app", temperature=0.2)
        self.assertIsNone(run.pre_call(req))
        self.assertEqual(req.model, "my-new-model")
        self.assertEqual(json.loads(req.field("temperature")), 0.2)

    def test_a_returned_string_is_a_400_saying_it(self):
        # LiteLLM's docs call it "the response"; its proxy passes call_type "acompletion",
        # for which process_pre_call_hook_response raises HTTPException(400, {"error": str}).
        run = runner(reject_message.proxy_handler_instance)
        with self.assertRaises(Rejection) as caught:
            run.pre_call(chat("Hello world"))
        self.assertEqual((caught.exception.status, caught.exception.message), (400, "This is an invalid response"))
        req = chat("Hello there")
        body = req.body()
        self.assertIsNone(run.pre_call(req))
        self.assertEqual(req.body(), body)  # `return data` unchanged: nothing written back

    def test_an_http_exception_is_a_rejection(self):
        run = runner(reject_http.proxy_handler_instance)
        with self.assertRaises(Rejection) as caught:
            run.pre_call(chat("my password is hunter2"))
        self.assertEqual((caught.exception.status, caught.exception.message), (400, "Violated content safety policy"))
        self.assertIsNone(run.pre_call(chat("hi")))

    def test_the_bench_handlers(self):
        redact = runner(bench.pii_redactor)
        req = chat("mail bob@example.com", [{"type": "text", "text": "or +44 20 7946 0958"}])
        redact.pre_call(req)
        self.assertEqual(req.texts(), ["mail [EMAIL]", "or [PHONE]"])
        with self.assertRaises(Rejection) as caught:
            runner(bench.banned_keywords).pre_call(chat("the Secret Plan"))
        self.assertEqual(caught.exception.message, "This request mentions a topic we do not serve.")

    def test_in_place_edits_the_cache_and_the_key(self):
        handler = handlers.key_quota
        handler.calls.clear()
        run = runner(handler)
        req = chat("a", user="end-user-1")
        self.assertIsNone(run.pre_call(req))  # returned None after editing data in place
        self.assertEqual(json.loads(req.field("metadata")), {"quota_used": 1})
        auth, call_type = handler.calls[0]
        self.assertEqual(call_type, "acompletion")
        self.assertEqual((auth.api_key, auth.token), (KEY.id, KEY.id))  # the key's id, never the key
        self.assertEqual((auth.key_alias, auth.user_id, auth.team_id), ("team-blue", "u-7", "t-9"))
        self.assertEqual((auth.metadata, auth.end_user_id, auth.user_role), ({"tier": "gold"}, "end-user-1", None))
        self.assertIn(("incr", f"quota:{KEY.id}", 1, 86_400_000), run.host.kv_calls)
        self.assertEqual(json.loads(run.host.store["last"]), {"model": "gpt-4o-mini", "alias": "team-blue"})
        run.pre_call(chat("b", id="req-2"))
        with self.assertRaises(Rejection) as caught:
            run.pre_call(chat("c", id="req-3"))
        self.assertEqual((caught.exception.status, caught.exception.message), (429, "quota of 2 requests used up"))
        other = testing.key(alias="master", id="cd" * 32)
        run.pre_call(testing.request({"model": "m", "prompt": "x"}, id="req-4", key=other, call_type="text_completion"))
        self.assertEqual((handler.calls[-1][0].user_role, handler.calls[-1][0].key_alias), ("proxy_admin", None))  # as LiteLLM's master key
        self.assertEqual(handler.calls[-1][1], "atext_completion")
        run.pre_call(testing.request({"model": "m", "input": "x"}, id="req-5", key=other, call_type="embedding"))
        self.assertEqual(handler.calls[-1][1], "aembedding")

    def test_what_a_pre_call_hook_may_return(self):
        run = runner(handlers.answering)
        prefix = "litellm.BadRequestError: litellm.RejectedRequestError: "  # as LiteLLM's message reads
        self.assertEqual(run.pre_call(chat("return")), PreCall.respond(prefix + "returned answer"))
        self.assertEqual(run.pre_call(chat("raise", id="r2")), PreCall.respond(prefix + "raised answer"))
        req = chat("new", id="r3")
        run.pre_call(req)
        self.assertEqual(req.json(), {"model": "other", "messages": [{"role": "user", "content": "replaced"}]})
        req = chat("bad", id="r4")  # neither dict, str nor exception: the request goes on as it is
        body = req.body()
        self.assertIsNone(run.pre_call(req))
        self.assertEqual(req.body(), body)
        with self.assertRaisesRegex(testing.HookFailed, "^ValueError: boom$"):
            run.pre_call(chat("boom", id="r5"))
        req = chat("fine", id="r6")
        body = req.body()
        self.assertIsNone(run.pre_call(req))
        self.assertEqual(req.body(), body)

    def test_async_hooks_run_without_an_event_loop(self):
        run = runner(handlers.sleeper)
        self.assertIsNone(run.pre_call(chat("awake")))  # asyncio.sleep(0) works
        with self.assertRaisesRegex(testing.HookFailed, "Sleeper.async_pre_call_hook (raised|awaited).*without an event loop"):
            run.pre_call(chat("nap", id="r2"))

    def test_a_guardrail_the_host_runs_runs_whatever_its_own_default_on(self):
        # The host chose the plugin (it takes the request's `guardrails` out of the body
        # before any hook): the handler's own `default_on=False` must not skip it.
        with self.assertRaisesRegex(Rejection, "no-go blocked it"):
            runner(handlers.guard).pre_call(chat("hi"))
        with self.assertRaisesRegex(Rejection, "always blocked it"):
            runner(handlers.always_guard).pre_call(chat("hi"))
        # Its own event hook still decides which of its hooks run, as in LiteLLM.
        self.assertIsNone(runner(handlers.post_guard).pre_call(chat("hi")))

    def test_a_base_class_hook_runs(self):
        req = chat("x")
        runner(handlers.derived).pre_call(req)
        self.assertEqual(json.loads(req.field("seen_by")), "base")

    def test_log_pre_api_call_observes_the_request_as_sent(self):
        handler = handlers.logger
        handler.calls.clear()
        run = runner(handler)
        run.moderation(chat("hi", temperature=0))
        ((what, model),) = handler.calls  # the sync twin only, as LiteLLM calls it
        self.assertEqual((what, model), ("sync pre", "gpt-4o-mini"))
        pre_only = type("AsyncPreOnly", (handlers.Recorder,), {"async_log_pre_api_call": handlers.Logger.async_log_pre_api_call})()
        runner(pre_only).moderation(chat("hi", temperature=0))
        ((what, model, messages, kwargs),) = pre_only.calls  # the async one, for a class without the sync one
        self.assertEqual((what, model, messages), ("pre", "gpt-4o-mini", [{"role": "user", "content": "hi"}]))
        self.assertEqual(kwargs["litellm_params"]["metadata"]["user_api_key_alias"], "team-blue")
        self.assertEqual((kwargs["optional_params"], kwargs["call_type"], kwargs["litellm_call_id"]), ({"temperature": 0}, "acompletion", "req-1"))
        # A logging method that raises is logged and ignored, as LiteLLM does.
        sync = runner(handlers.sync_logger)
        self.assertIsNone(sync.moderation(chat("hi")))
        self.assertIn("a broken logger never fails the request (ignored, as LiteLLM does)", sync.host.lines[-1][1])


# -- moderation


class Moderation(Quiet):
    def test_the_docs_moderation_example(self):
        run = runner(moderation_doc.proxy_handler_instance)
        with self.assertRaises(Rejection) as caught:
            run.moderation(chat("hello world"))
        self.assertEqual((caught.exception.status, caught.exception.message), (400, "Violated content safety policy"))
        self.assertIsNone(run.moderation(chat("hello there", id="r2")))

    def test_return_value_and_edits_are_ignored_a_dict_detail_is_compact_json(self):
        run = runner(handlers.moderator)
        req = chat("fine")
        body = req.body()
        self.assertIsNone(run.moderation(req))
        self.assertEqual(req.body(), body)
        with self.assertRaises(Rejection) as caught:
            run.moderation(chat("hate", id="r2"))
        self.assertEqual((caught.exception.status, caught.exception.message), (403, '{"error":{"message":"flagged"}}'))


# -- post-call success


class PostCallSuccess(Quiet):
    def test_edits_in_place_flow_back(self):
        handler = handlers.rewriter
        handler.calls.clear()
        resp = answer("quiet please")
        runner(handler).post_call_success(chat("x"), resp)
        self.assertIsInstance(handler.calls[0], litellm.ModelResponse)
        self.assertEqual(resp.texts(), ["QUIET PLEASE"])
        self.assertEqual(json.loads(resp.field("system_fingerprint")), "rewritten")
        self.assertEqual(json.loads(resp.field("usage")), {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5})

    def test_a_returned_response_replaces_it_an_http_exception_rejects(self):
        resp = answer("old")
        runner(handlers.rewriter).post_call_success(chat("x", model="replace"), resp)
        self.assertEqual(resp.json()["id"], "new")
        self.assertEqual(resp.json()["choices"], [{"message": {"content": "brand new"}}])
        with self.assertRaisesRegex(Rejection, "answer refused"):
            runner(handlers.rewriter).post_call_success(chat("x", model="refuse"), answer("old"))

    def test_the_bench_handlers(self):
        resp = answer("call 555.123.4567")
        runner(bench.pii_redactor).post_call_success(chat("x"), resp)
        self.assertEqual(resp.texts(), ["call [PHONE]"])
        resp = answer("all fine")
        body = resp.body()
        runner(bench.banned_keywords).post_call_success(chat("x"), resp)
        self.assertEqual(resp.body(), body)  # nothing changed: nothing written back
        with self.assertRaises(Rejection):
            runner(bench.banned_keywords).post_call_success(chat("x"), answer("it is forbidden"))
        resp = answer("x")
        runner(bench.header_injector).post_call_success(chat("x"), resp)
        self.assertEqual(resp.headers(), [("x-served-by", "litellm"), ("x-policy", "banned-keywords-v1")])
        resp = answer("x")
        run = runner(bench.rate_limiter)
        run.pre_call(chat("x"))
        run.post_call_success(chat("x"), resp)
        self.assertEqual(resp.header("x-ratelimit-limit-requests"), "100000000")

    def test_headers_hook_signatures(self):
        resp = answer("x")
        runner(handlers.old_headers).post_call_success(chat("x", headers=[("User-Agent", "curl/8")]), resp)
        self.assertEqual(resp.headers(), [("x-model", "gpt-4o-mini"), ("x-user-agent", "curl/8"), ("x-count", "3")])
        resp = answer("x")
        runner(handlers.old_headers).post_call_success(chat("x"), resp)
        self.assertEqual(resp.header("x-user-agent"), "-")
        resp = answer("x")
        runner(handlers.new_headers).post_call_success(chat("x"), resp)
        self.assertEqual(resp.header("x-call-info"), "api_base,custom_llm_provider,model_id,model_info")


# -- post-call failure


class PostCallFailure(Quiet):
    def test_a_returned_or_raised_http_exception_replaces_the_error(self):
        handler = handlers.failure_rewriter
        handler.calls.clear()
        run = runner(handler)
        with self.assertRaises(Rejection) as caught:
            run.post_call_failure(chat("x"), testing.failure(429, "rate_limit_error", "upstream says slow down", code="rate_limit_exceeded"))
        self.assertEqual((caught.exception.status, caught.exception.message), (429, "slow down, team-blue"))
        error = handler.calls[-1]
        self.assertIsInstance(error, litellm.RateLimitError)
        self.assertEqual((error.status_code, error.message, error.code), (429, "upstream says slow down", "rate_limit_exceeded"))
        with self.assertRaisesRegex(Rejection, "who are you"):
            run.post_call_failure(chat("x", id="r2"), testing.failure(401, "authentication_error", "bad key"))
        self.assertIsInstance(handler.calls[-1], litellm.AuthenticationError)

    def test_anything_else_is_ignored(self):
        handler = handlers.failure_rewriter
        run = runner(handler)
        self.assertIsNone(run.post_call_failure(chat("x"), testing.failure(400, "invalid_request_error", "bad")))
        self.assertIsNone(run.post_call_failure(chat("x", id="r2"), testing.failure(500, "api_error", "oops")))
        self.assertIn("a bug in the failure hook (ignored, as LiteLLM does)", run.host.lines[-1][1])
        run.post_call_failure(chat("x", id="r3"), testing.failure(400, "invalid_request_error", "no", rejected_by="guard"))
        error = handler.calls[-1]
        self.assertIsInstance(error, HTTPException)  # a plugin's rejection, as LiteLLM's hooks raise them
        self.assertEqual((error.status_code, error.detail, error.message), (400, "no", "no"))


# -- streams


class Streams(Quiet):
    def test_banned_keywords_iterator_finds_a_word_split_across_chunks(self):
        run = runner(bench.banned_keywords)
        req = chat("go", stream=True)
        first = chunk("this is forb")
        self.assertIs(run.stream_chunk(req, first), ChunkOutcome.PROCEED)
        self.assertEqual(first.text(), "this is forb")
        with self.assertRaisesRegex(Rejection, "topic we do not serve"):
            run.stream_chunk(req, chunk("idden"))
        self.assertEqual(stream(run, chat("go", id="r2", stream=True), ["all ", "fine"]), ["all ", "fine"])

    def test_pii_redactor_iterator_masks_a_split_address(self):
        run = runner(bench.pii_redactor)
        story = "Write to jane.doe@example.com or call +1 555 123 4567 today."
        pieces = [story[i : i + 7] for i in range(0, len(story), 7)]
        sent = stream(run, chat("go", stream=True), pieces)
        self.assertEqual("".join(sent), "Write to [EMAIL] or call [PHONE] today.")
        self.assertFalse(any("jane" in s or "4567" in s for s in sent), sent)

    def test_drop_replace_merge_and_too_late(self):
        run = runner(handlers.regrouper)
        req = chat("go", stream=True)
        self.assertEqual(stream(run, req, ["a", "drop", "split", "b"]), ["a", None, "split", "b"])
        req = chat("go", id="r2", stream=True)
        self.assertIs(run.stream_chunk(req, chunk("hold")), ChunkOutcome.DROP)
        merged = chunk("c", "stop")
        run.stream_chunk(req, merged)
        self.assertEqual(merged.text(), "holdc")
        self.assertEqual(merged.finish_reason(0), "stop")
        req = chat("go", id="r3", stream=True)
        run.stream_chunk(req, chunk("x"))
        self.assertIs(run.stream_chunk(req, chunk("hold", "stop")), ChunkOutcome.DROP)
        with self.assertRaisesRegex(testing.HookFailed, r"Regrouper.async_post_call_streaming_iterator_hook yielded 1 chunk\(s\) \(4 characters of text\) after the stream's last chunk"):
            run.stream_end(req, "x")

    def test_merge_appends_contents_and_keeps_the_last_finish(self):
        merged = adapter._merge([
            {"id": "a", "choices": [{"index": 0, "delta": {"role": "assistant", "content": "x"}, "finish_reason": None}]},
            {"id": "b", "choices": [{"index": 0, "delta": {"content": "y"}, "finish_reason": "stop"}, {"index": 1, "delta": {"content": "z"}}]},
            {"id": "c", "choices": [], "usage": {"total_tokens": 1}},
        ])  # fmt: skip
        self.assertEqual(merged, {
            "id": "a", "usage": {"total_tokens": 1},
            "choices": [{"index": 0, "delta": {"role": "assistant", "content": "xy"}, "finish_reason": "stop"}, {"index": 1, "delta": {"content": "z"}}],
        })  # fmt: skip

    def test_the_per_chunk_hook_gets_the_text_so_far(self):
        handler = handlers.censor
        handler.calls.clear()
        run = runner(handler)
        req = chat("go", stream=True)
        # The text so far is what was sent: after "[censored]" replaced "darn ", the hook no longer sees it.
        self.assertEqual(stream(run, req, ["one ", "two ", "darn ", "three"]), ["one ", "two ", "[censored]", "three"])
        self.assertEqual(handler.calls, ["one ", "one two ", "one two darn ", "one two [censored]three"])
        req = chat("go", id="r2", stream=True)
        shout = chunk("shout")
        run.stream_chunk(req, shout)
        self.assertEqual(shout.json(), {"choices": [{"index": 0, "delta": {"content": "SHOUT"}}]})
        with self.assertRaises(Rejection) as caught:
            run.stream_chunk(chat("go", id="r3", stream=True), chunk("please stop now"))
        self.assertEqual((caught.exception.status, caught.exception.message), (400, "stream stopped"))


# -- logging


class Logging(Quiet):
    def entry(self, **fields):
        values = dict(
            model="gpt-4o-mini", model_used="gpt-4o-mini-2024", api_base="https://api.example.com", end_user="eu-1",
            usage=testing.Usage(3, 2, 5), response_cost=0.00012, start_time=1_700_000_000.25, end_time=1_700_000_001.5,
            completion_start_time=1_700_000_000.75,
        )  # fmt: skip
        values.update(fields)
        return testing.log_entry(**values)

    def test_success_gets_litellm_s_kwargs(self):
        handler = handlers.logger
        handler.calls.clear()
        run = runner(handler)
        req = chat("hi", user="eu-1", temperature=0.5)
        run.log_success(req, answer("hello"), self.entry())
        ((what, kwargs, response_obj, start, end),) = handler.calls  # the async twin only
        self.assertEqual(what, "success")
        self.assertEqual((kwargs["model"], kwargs["messages"], kwargs["litellm_call_id"]), ("gpt-4o-mini-2024", [{"role": "user", "content": "hi"}], "req-1"))
        self.assertEqual((kwargs["response_cost"], kwargs["stream"], kwargs["call_type"], kwargs["cache_hit"]), (0.00012, False, "acompletion", False))
        metadata = kwargs["litellm_params"]["metadata"]
        self.assertEqual(
            (metadata["user_api_key_alias"], metadata["user_api_key_user_id"], metadata["user_api_key_team_id"], metadata["user_api_key_hash"]),
            ("team-blue", "u-7", "t-9", KEY.id),
        )
        self.assertEqual((start, end), (datetime.datetime.fromtimestamp(1_700_000_000.25), datetime.datetime.fromtimestamp(1_700_000_001.5)))
        self.assertEqual((end - start).total_seconds(), 1.25)
        self.assertIsInstance(response_obj, litellm.ModelResponse)
        self.assertEqual((response_obj.choices[0].message.content, response_obj.usage.total_tokens), ("hello", 5))
        slo = kwargs["standard_logging_object"]
        self.assertEqual((slo["id"], slo["status"], slo["model"], slo["model_group"], slo["api_base"]), ("req-1", "success", "gpt-4o-mini-2024", "gpt-4o-mini", "https://api.example.com"))
        self.assertEqual((slo["prompt_tokens"], slo["completion_tokens"], slo["total_tokens"], slo["response_cost"]), (3, 2, 5, 0.00012))
        self.assertEqual((slo["startTime"], slo["completionStartTime"], slo["response_time"]), (1_700_000_000.25, 1_700_000_000.75, 1.25))
        self.assertEqual((slo["end_user"], slo["metadata"]["user_api_key_alias"], slo["model_parameters"]), ("eu-1", "team-blue", {"user": "eu-1", "temperature": 0.5}))
        self.assertEqual(slo["response"]["choices"][0]["message"]["content"], "hello")
        self.assertIsNone(slo["error_str"])

    def test_failure_gets_the_exception(self):
        handler = handlers.logger
        handler.calls.clear()
        entry = self.entry(status_code=429, usage=None, response_cost=None, completion_start_time=None,
                           failure=testing.failure(429, "rate_limit_error", "slow down", code="rate_limit_exceeded"))  # fmt: skip
        runner(handler).log_failure(chat("hi"), entry)
        ((what, kwargs, response_obj, start, end),) = handler.calls  # an upstream's error: the async twin only
        self.assertEqual((what, response_obj, kwargs["response_cost"]), ("failure", None, 0.0))
        self.assertIsInstance(kwargs["exception"], litellm.RateLimitError)
        slo = kwargs["standard_logging_object"]
        self.assertEqual((slo["status"], slo["error_str"], slo["error_information"]["error_class"]), ("failure", "slow down", "RateLimitError"))
        self.assertEqual(slo["total_tokens"], 0)

    def test_the_sync_twin_runs_when_it_is_the_only_one(self):
        handler = handlers.sync_logger
        handler.calls.clear()
        runner(handler).log_success(chat("hi"), answer("hello"), self.entry())
        self.assertEqual(handler.calls, [("success", "gpt-4o-mini-2024", "hello")])

    def test_the_docs_callback_class_prints_in_litellm_s_order(self):
        run = runner(logging_doc.customHandler)
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            run.moderation(chat("hi"))
            run.log_success(chat("hi"), answer("hello"), self.entry())
            run.log_failure(chat("hi"), self.entry(failure=testing.failure(429, "rate_limit_error", "slow down")))
            # Refused in pre-call: LiteLLM logs the call it never made, and both failure twins.
            refused = [Decision("guard", "pre-call", "reject", None, 1, 0.1, 0.2)]
            run.log_failure(chat("hi"), self.entry(failure=testing.failure(400, "invalid_request_error", "no"), decisions=refused))
        self.assertEqual(out.getvalue().splitlines(), [
            "Pre-API Call", "Post-API Call", "On Async Success", "On Async Failure",
            "Pre-API Call", "On Async Failure", "On Failure",
        ])  # fmt: skip

    def test_an_answer_given_in_pre_call_is_not_logged(self):
        # LiteLLM logs no event for a request its pre-call hook answered (RejectedRequestError).
        handler = handlers.logger
        handler.calls.clear()
        answered = [Decision("custom_callbacks.answering", "pre-call", "respond", None, 1, 0.1, 0.2)]
        runner(handler).log_success(chat("hi"), answer("answered"), self.entry(decisions=answered))
        self.assertEqual(handler.calls, [])
        proceeded = [Decision("custom_callbacks.answering", "pre-call", "proceed", None, 1, 0.1, 0.2)]
        runner(handler).log_success(chat("hi"), answer("answered"), self.entry(decisions=proceeded))
        self.assertEqual([call[0] for call in handler.calls], ["success"])

    def test_turn_off_message_logging_redacts(self):
        handler = handlers.quiet
        handler.calls.clear()
        runner(handler).log_success(chat("secret"), answer("also secret"), self.entry())
        ((kwargs, response_obj),) = handler.calls
        self.assertEqual(kwargs["messages"], [{"role": "user", "content": "redacted-by-litellm"}])
        self.assertEqual(kwargs["standard_logging_object"]["response"], "redacted-by-litellm")
        self.assertEqual(response_obj.choices[0].message.content, "redacted-by-litellm")

    def test_the_bench_cost_logger(self):
        out = io.StringIO()
        handler = bench.cost_log.handlers[0]
        previous = handler.setStream(out)
        self.addCleanup(handler.setStream, previous)
        resp = answer("hi", id="chatcmpl-9", model="gpt-4o-mini-2024")
        runner(bench.cost_logger).log_success(chat("hi"), resp, self.entry())
        line = json.loads(out.getvalue())
        self.assertEqual(line, {
            "event": "cost", "request_id": "chatcmpl-9", "model": "gpt-4o-mini-2024", "model_used": "gpt-4o-mini-2024",
            "key_alias": "team-blue", "prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5,
            "cost_usd": 0.00012, "latency_ms": 1250.0,
        })  # fmt: skip


# -- build.py's LiteLLM mode


def fixture_handlers():
    """Every (path, module, handler name) of the fixtures and the bench file whose value
    is a CustomLogger instance."""
    from litellm.integrations.custom_logger import CustomLogger

    for path, module in [(BENCH, bench), *((FIXTURES / f"{m.__name__[len('litellm_fixture_'):]}.py", m) for m in
                         (quickstart, reject_message, reject_http, moderation_doc, logging_doc, side_by_side, handlers, unsupported))]:  # fmt: skip
        for name, value in vars(module).items():
            if isinstance(value, CustomLogger):
                yield path, module, name


class BuildLiteLLM(Quiet):
    def test_build_py_reads_the_hooks_the_adapter_exports(self):
        checked = 0
        for path, module, name in fixture_handlers():
            with self.subTest(f"{path.name}:{name}"):
                try:
                    expected = defined_hooks(adapter.plugin_for(getattr(module, name)))
                except adapter.HandlerError:
                    with self.assertRaises(build.BuildError):  # refused at run time: refused by build.py too
                        build.find_litellm_hooks(path, name)
                    continue
                self.assertEqual(build.find_litellm_hooks(path, name)[1], expected)
                checked += 1
        self.assertGreater(checked, 20)

    def test_it_names_what_it_refuses(self):
        cases = {
            "router": r"unsupported\.py:\d+: class Router overrides LiteLLM callback methods hookgate cannot run:\n  - async_pre_routing_hook",
            "nothing": r"no module-level `nothing = SomeHandler\(...\)`; it makes `needs_more`, `not_a_logger`, `quiet_router`, `router`, `unified`",
            "handler_class": r"`handler_class` is the class Router, not an instance of it",
            "needs_more": r"unsupported\.py:\d+: NeedsMore\.async_pre_call_hook requires `region`, which LiteLLM does not pass",
        }
        for name, pattern in cases.items():
            with self.subTest(name), self.assertRaisesRegex(build.BuildError, pattern):
                build.find_litellm_hooks(FIXTURES / "unsupported.py", name)
        self.assertEqual(
            build.find_litellm_hooks(FIXTURES / "custom_callback_class.py", "customHandler"),
            ("MyCustomHandler", ["moderation", "log_success", "log_failure"]),
        )

    def test_bases_beside_the_module_and_what_it_cannot_see(self):
        with tempfile.TemporaryDirectory() as temp:
            folder = pathlib.Path(temp)
            (folder / "shared.py").write_text(textwrap.dedent("""
                from litellm.integrations.custom_logger import CustomLogger as Root

                class Base(Root):
                    async def async_moderation_hook(self, data, user_api_key_dict, call_type):
                        raise ValueError("no")
            """))  # fmt: skip
            app = folder / "callbacks.py"
            app.write_text(textwrap.dedent("""
                import litellm
                from shared import Base
                from elsewhere import Mixin

                class H(Base):
                    async def async_log_success_event(self, kwargs, response_obj, start_time, end_time):
                        print(kwargs)

                class Other(litellm.integrations.custom_logger.CustomLogger):
                    async def async_post_call_streaming_hook(self, user_api_key_dict, response):
                        return None if response else response

                class Hidden(Mixin):
                    pass

                h = H()
                other: Other = Other()
                hidden = Hidden()
                made = make_handler()
                bare = litellm.integrations.custom_logger.CustomLogger()
            """))  # fmt: skip
            self.assertEqual(build.find_litellm_hooks(app, "h"), ("H", ["moderation", "log_success"]))
            self.assertEqual(build.find_litellm_hooks(app, "other"), ("Other", ["stream_chunk"]))
            with self.assertRaisesRegex(build.BuildError, "cannot see class `Mixin`"):
                build.find_litellm_hooks(app, "hidden")
            with self.assertRaisesRegex(build.BuildError, "cannot see class `make_handler`"):
                build.find_litellm_hooks(app, "made")
            with self.assertRaisesRegex(build.BuildError, "cannot see what this assignment makes"):
                build.find_litellm_hooks(app, "bare")

    def test_does_nothing_agrees_with_the_adapter(self):
        import ast

        sources = {
            "def f(self): pass": True,
            'def f(self):\n    """doc"""': True,
            "def f(self):\n    ...": True,
            "def f(self, a=1):\n    pass\n    return": True,
            "async def f(self):\n    return None": True,
            "async def f(self):\n    'doc'\n    pass": True,
            "def f(self): return 1": False,
            "async def f(self, data): return data": False,
            "def f(self):\n    return None\n    x = 1": True,  # unreachable: the compiler drops it
            "def f(self):\n    x = 1\n    return None": False,
            "async def f(self):\n    print('x')": False,
        }
        for source, quiet in sources.items():
            with self.subTest(source):
                namespace = {}
                exec(source, namespace)  # noqa: S102 - test snippets
                self.assertEqual(adapter._does_nothing(namespace["f"]), quiet)
                self.assertEqual(build.does_nothing(ast.parse(source).body[0]), quiet)

    def test_signatures_agree_with_the_adapter(self):
        import ast

        offered = SUPPORTED["async_pre_call_hook"][1]
        sources = {
            "def f(self, user_api_key_dict, cache, data, call_type): pass": None,
            "def f(self, data, **kwargs): pass": None,
            "def f(self, *args, **kwargs): pass": None,
            "def f(self, *args): pass": None,
            "def f(self, data, call_type, region=None): pass": None,
            "def f(self, data, extra): pass": "extra",
            "def f(self, data, *, region): pass": "region",
            "def f(self, data, /): pass": "data",
            "@staticmethod\ndef f(data, cache): pass": None,
        }
        for source, missing in sources.items():
            with self.subTest(source):
                self.assertEqual(build.signature_problem(ast.parse(source).body[0], offered), missing)
                namespace = {}
                exec(source.replace("def f", "def async_pre_call_hook"), namespace)  # noqa: S102 - test snippets
                handler = type("H", (litellm.integrations.custom_logger.CustomLogger,), {"async_pre_call_hook": namespace["async_pre_call_hook"]})()
                if missing is None:
                    adapter._accepted(handler.async_pre_call_hook, "async_pre_call_hook", "H")
                else:
                    with self.assertRaisesRegex(adapter.HandlerError, f"requires `{missing}`"):
                        adapter._accepted(handler.async_pre_call_hook, "async_pre_call_hook", "H")

    def test_outputs_and_entry(self):
        app = pathlib.Path("/x/custom_callbacks.py")
        with tempfile.TemporaryDirectory() as temp:
            folder = pathlib.Path(temp)
            self.assertEqual(build.litellm_outputs(app, ["a"], folder / "a.wasm"), {"a": folder / "a.wasm"})
            self.assertEqual(build.litellm_outputs(app, ["a"], folder), {"a": folder / "custom_callbacks.a.wasm"})
            self.assertEqual(build.litellm_outputs(app, ["a"], folder / "new"), {"a": folder / "new" / "custom_callbacks.a.wasm"})
            self.assertEqual(
                build.litellm_outputs(app, ["a", "b"], folder / "out"),
                {"a": folder / "out" / "custom_callbacks.a.wasm", "b": folder / "out" / "custom_callbacks.b.wasm"},
            )
            with self.assertRaisesRegex(build.BuildError, "named twice"):
                build.litellm_outputs(app, ["a", "a"], folder)
            (folder / "f.wasm").write_text("")
            with self.assertRaisesRegex(build.BuildError, "into a folder"):
                build.litellm_outputs(app, ["a", "b"], folder / "f.wasm")
        text = build.litellm_entry(app, ["proxy_handler_instance"], "custom_callbacks.proxy_handler_instance", ["pre_call", "stream_end"])
        self.assertIn("importlib.import_module('custom_callbacks')", text)
        self.assertIn(
            "export(seal(plugin_for(getattr(_module, 'proxy_handler_instance'), name='custom_callbacks.proxy_handler_instance')))", text
        )
        self.assertIn("Setup, PreCall, StreamEnd = exports(['pre_call', 'stream_end'])", text)
        compile(text, "entry", "exec")

    def test_a_missing_handler_fails_before_componentize_py_runs(self):
        result = subprocess.run(
            [sys.executable, str(SDK / "build.py"), str(BENCH), "--handler", "nope", "-o", "/nonexistent/x.wasm"],
            capture_output=True, text=True,
        )  # fmt: skip
        self.assertNotEqual(result.returncode, 0)
        self.assertIn("no module-level `nope = SomeHandler(...)`; it makes `banned_keywords`", result.stderr)


# -- several handlers in one component (build.py --bundle)

BENCH_FIVE = ["rate_limiter", "pii_redactor", "banned_keywords", "header_injector", "cost_logger"]


def bench_bundle(names=BENCH_FIVE):
    members = [(f"custom_callbacks.{name}", getattr(bench, name)) for name in names]
    return testing.Runner(adapter.bundle_for(members, name="bench-callbacks"))


class BundleOfHandlers(Quiet):
    def test_the_bench_five_run_in_order_in_one_plugin(self):
        run = bench_bundle()
        self.assertEqual(type(run.plugin).name, "bench-callbacks")
        self.assertEqual([name for name, _ in run.plugin.plugins], [f"custom_callbacks.{name}" for name in BENCH_FIVE])
        req = chat("mail bob@example.com")
        self.assertIsNone(run.pre_call(req))
        self.assertEqual(req.texts(), ["mail [EMAIL]"])
        with self.assertRaises(Rejection) as caught:
            run.pre_call(chat("the Secret Plan, mail bob@example.com", id="req-2"))
        self.assertEqual(caught.exception.message, "This request mentions a topic we do not serve.")
        resp = answer("call 555.123.4567")
        run.post_call_success(chat("x", id="req-3"), resp)
        self.assertEqual(resp.texts(), ["call [PHONE]"])
        # Each handler's headers, in --handler order: the rate limiter's, then the injector's.
        self.assertEqual(
            [name for name, _ in resp.headers()],
            ["x-ratelimit-limit-requests", "x-ratelimit-remaining-requests", "x-ratelimit-reset-requests",
             "x-served-by", "x-policy"],
        )  # fmt: skip
        with self.assertRaises(Rejection):
            run.post_call_success(chat("x", id="req-4"), answer("it is forbidden"))

    def test_a_stream_passes_each_member_in_turn(self):
        run = bench_bundle(["pii_redactor", "banned_keywords"])
        sent = stream(run, chat("x"), ["write to bob@exa", "mple.com now"])
        self.assertEqual("".join(piece for piece in sent if piece), "write to [EMAIL] now")
        with self.assertRaises(Rejection):
            stream(run, chat("x", id="req-2"), ["the secret ", "plan"])

    def test_a_handler_s_cache_keys_are_its_own(self):
        handlers.key_quota.calls.clear()
        members = [("handlers.key_quota", handlers.key_quota), ("custom_callbacks.banned_keywords", bench.banned_keywords)]
        run = testing.Runner(adapter.bundle_for(members, name="quota-and-words"))
        run.pre_call(chat("a"))
        self.assertIn(("incr", f"handlers.key_quota/quota:{KEY.id}", 1, 86_400_000), run.host.kv_calls)
        self.assertEqual(sorted(run.host.store), ["handlers.key_quota/last", f"handlers.key_quota/quota:{KEY.id}"])
        run.pre_call(chat("b", id="req-2"))
        with self.assertRaises(Rejection) as caught:
            run.pre_call(chat("c", id="req-3"))
        self.assertEqual((caught.exception.status, caught.exception.message), (429, "quota of 2 requests used up"))

    def test_a_handler_that_raises_never_skips_a_later_guardrail(self):
        from litellm.integrations.custom_logger import CustomLogger

        class Broken(CustomLogger):
            async def async_pre_call_hook(self, user_api_key_dict, cache, data, call_type):
                raise ValueError("a bug")

        members = [("t.broken", Broken()), ("custom_callbacks.banned_keywords", bench.banned_keywords)]
        run = testing.Runner(adapter.bundle_for(members, name="broken-then-guard"))
        with self.assertRaises(Rejection) as caught:
            run.pre_call(chat("the secret plan"))
        self.assertEqual(caught.exception.message, "This request mentions a topic we do not serve.")
        with self.assertRaises(testing.HookFailed) as failed:
            run.pre_call(chat("hello", id="req-2"))
        self.assertIn("t.broken", failed.exception.message)

    def test_build_py_exports_every_hook_a_member_needs(self):
        members = [(f"custom_callbacks.{name}", getattr(bench, name)) for name in BENCH_FIVE]
        made = defined_hooks(adapter.bundle_for(members, name="b"))
        read = build.bundle_hooks([build.find_litellm_hooks(BENCH, name)[1] for name in BENCH_FIVE])
        self.assertEqual(read, made)
        self.assertEqual(read, ["pre_call", "post_call_success", "stream_chunk", "stream_end", "log_success"])

    def test_output_and_entry(self):
        app = pathlib.Path("/x/custom_callbacks.py")
        with tempfile.TemporaryDirectory() as temp:
            folder = pathlib.Path(temp)
            self.assertEqual(build.bundle_output("cb", ["a", "b"], folder), folder / "cb.wasm")
            self.assertEqual(build.bundle_output("cb", ["a", "b"], folder / "x.wasm"), folder / "x.wasm")
            for name, handlers_, error in [
                ("cb", ["a"], "two or more --handler"),
                ("cb", ["a", "a"], "named twice"),
                ("cb", ["a", "b-c"], "not a Python name"),
                ("c/b", ["a", "b"], "not a plugin name"),
                ("", ["a", "b"], "not a plugin name"),
            ]:
                with self.assertRaisesRegex(build.BuildError, error):
                    build.bundle_output(name, handlers_, folder)
        text = build.litellm_entry(app, ["a", "b"], "cb", ["pre_call", "log_success"], bundle=True)
        self.assertIn(
            "export(seal(bundle_for([('custom_callbacks.a', getattr(_module, 'a')), ('custom_callbacks.b', getattr(_module, 'b'))], name='cb')))",
            text,
        )
        self.assertIn("Setup, PreCall, LogSuccess = exports(['pre_call', 'log_success'])", text)
        compile(text, "entry", "exec")

    def test_bundle_needs_handlers_and_names_a_missing_one_before_componentize_py_runs(self):
        def build_py(*args):
            return subprocess.run([sys.executable, str(SDK / "build.py"), str(BENCH), *args], capture_output=True, text=True)

        result = build_py("--bundle", "cb", "-o", "/nonexistent/x.wasm")
        self.assertNotEqual(result.returncode, 0)
        self.assertIn("--bundle bundles LiteLLM handlers: name them with --handler", result.stderr)
        result = build_py("--handler", "pii_redactor", "--handler", "nope", "--bundle", "cb", "-o", "/nonexistent/x.wasm")
        self.assertNotEqual(result.returncode, 0)
        self.assertIn("no module-level `nope = SomeHandler(...)`", result.stderr)


if __name__ == "__main__":
    unittest.main()
