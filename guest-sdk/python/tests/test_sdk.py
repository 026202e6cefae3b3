"""Unit tests of hookgate_sdk in plain CPython: no componentize-py, no host.

The modules componentize-py generates from wit/plugin.wit (``componentize_py_types``,
``wit_world.imports.{types,log,config,kv}``) are replaced by the small fakes below, with
the same names and shapes, so that ``hookgate_sdk`` imports and its glue can be driven
like the host drives it. The text helpers are checked against the vectors every SDK
shares, guest-sdk/conformance/text.json.

    python3 -m unittest discover -s guest-sdk/python/tests
"""

import dataclasses
import enum
import json
import pathlib
import sys
import types
import unittest
from typing import Any, List, Optional, Tuple

HERE = pathlib.Path(__file__).resolve().parent
VECTORS = json.loads((HERE.parent.parent / "conformance" / "text.json").read_text(encoding="utf-8"))


# --- fakes of the generated bindings ---------------------------------------------------


def _module(name, **attributes):
    module = types.ModuleType(name)
    module.__dict__.update(attributes)
    sys.modules[name] = module
    return module


@dataclasses.dataclass(frozen=True)
class Err(Exception):
    value: Any


def _record(name, *fields):
    return dataclasses.make_dataclass(name, list(fields))


def _variant_case(name, payload=True):
    return dataclasses.make_dataclass(name, [("value", Any)] if payload else [])


Hook = enum.Enum("Hook", "PRE_CALL MODERATION POST_CALL_SUCCESS POST_CALL_FAILURE STREAM_CHUNK STREAM_END LOG_SUCCESS LOG_FAILURE")
LogLevel = enum.Enum("LogLevel", "TRACE DEBUG INFO WARN ERROR")
CallType = enum.Enum("CallType", "CHAT_COMPLETION TEXT_COMPLETION EMBEDDING")

wit = _module(
    "wit_world.imports.types",
    CallType=CallType,
    Hook=Hook,
    LogLevel=LogLevel,
    KeyInfo=_record("KeyInfo", ("alias", Optional[str]), ("hash", str), ("user_id", Optional[str]), ("team_id", Optional[str]), ("metadata", str)),
    CallContext=_record("CallContext", ("id", str), ("call_type", Any), ("model", str), ("key", Any)),
    Request=_record("Request", ("id", str), ("call_type", Any), ("model", str), ("body", str), ("headers", List[Tuple[str, str]]), ("key", Any)),
    Response=_record("Response", ("status", int), ("body", str), ("headers", List[Tuple[str, str]])),
    Rejection=_record("Rejection", ("status", int), ("message", str), ("code", Optional[str])),
    Failure=_record("Failure", ("status", int), ("error_type", str), ("message", str), ("code", Optional[str])),
    PluginInfo=_record("PluginInfo", ("name", str), ("version", str), ("hooks", list)),
    ResponseEdit=_record("ResponseEdit", ("body", Optional[str]), ("headers", list)),
    PreCallOutcome_Proceed=_variant_case("PreCallOutcome_Proceed", payload=False),
    PreCallOutcome_Modify=_variant_case("PreCallOutcome_Modify"),
    PreCallOutcome_Respond=_variant_case("PreCallOutcome_Respond"),
    PostCallOutcome_Proceed=_variant_case("PostCallOutcome_Proceed", payload=False),
    PostCallOutcome_Modify=_variant_case("PostCallOutcome_Modify"),
    ChunkOutcome_Proceed=_variant_case("ChunkOutcome_Proceed", payload=False),
    ChunkOutcome_Replace=_variant_case("ChunkOutcome_Replace"),
    ChunkOutcome_Drop=_variant_case("ChunkOutcome_Drop", payload=False),
)


class Host:
    """What the fake imports read and record: the config text, log lines, the kv store."""

    config = "null"
    lines = []
    store = {}
    calls = []
    kv_error = None  # a KvError_* value to fail kv calls with

    @classmethod
    def reset(cls, config="null"):
        cls.config, cls.lines, cls.store, cls.calls, cls.kv_error = config, [], {}, [], None


KvError_Unavailable = _variant_case("KvError_Unavailable")
KvError_Invalid = _variant_case("KvError_Invalid")


def _kv_call(name, result):
    def call(*args):
        Host.calls.append((name, *args))
        if Host.kv_error is not None:
            raise Err(Host.kv_error)
        return result(*args)

    return call


def _incr(key, delta, ttl_ms):
    Host.store[key] = str(int(Host.store.get(key, "0")) + delta)
    return int(Host.store[key])


_module("componentize_py_types", Err=Err, Ok=_variant_case("Ok"), Some=_variant_case("Some"))
_module("wit_world")
_module("wit_world.imports")
_module("wit_world.imports.log", log=lambda level, message: Host.lines.append((level, message)))
_module("wit_world.imports.config", get=lambda: Host.config)
_module(
    "wit_world.imports.kv",
    KvError_Unavailable=KvError_Unavailable,
    KvError_Invalid=KvError_Invalid,
    get=_kv_call("get", lambda key: Host.store.get(key)),
    set=_kv_call("set", lambda key, value, ttl_ms: Host.store.__setitem__(key, value)),
    incr=_kv_call("incr", _incr),
    delete=_kv_call("delete", lambda key: Host.store.pop(key, None) is not None),
)
for parent, child in (("wit_world", "imports"), ("wit_world.imports", "types"), ("wit_world.imports", "log"),
                      ("wit_world.imports", "config"), ("wit_world.imports", "kv")):  # fmt: skip
    setattr(sys.modules[parent], child, sys.modules[f"{parent}.{child}"])

sys.path.insert(0, str(HERE.parent))

import hookgate_sdk as sdk  # noqa: E402  (after the fakes it imports)
from hookgate_sdk import text  # noqa: E402

KEY = wit.KeyInfo(alias="team", hash="ab12", user_id=None, team_id=None, metadata="{}")


def request(body, headers=()):
    body = body if isinstance(body, str) else json.dumps(body)
    return wit.Request(id="req-1", call_type=CallType.CHAT_COMPLETION, model="m", body=body, headers=list(headers), key=KEY)


def context():
    return wit.CallContext(id="req-1", call_type=CallType.CHAT_COMPLETION, model="m", key=KEY)


def chunk_text(content=None, finish=None):
    delta = {} if content is None else {"content": content}
    return json.dumps({"id": "c", "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})


def edit_of(spec):
    """The edit a map_texts vector names."""
    if "wrap" in spec:
        before, after = spec["wrap"]
        return lambda t: before + t + after
    old, new = spec["replace"]
    return lambda t: t.replace(old, new)


# --- a plugin that does what each test tells it ------------------------------------------


class Scripted(sdk.Plugin):
    """Returns or raises what the class attribute ``script[hook]`` says."""

    name = "scripted"
    version = "1.2.3"
    script = {}
    created = 0

    def __init__(self, config):
        super().__init__(config)
        type(self).created += 1
        if isinstance(config, dict) and config.get("refuse"):
            raise ValueError("`refuse` is set")
        self.seen = []

    def _run(self, hook, *args):
        self.seen.append(hook)
        action = self.script.get(hook)
        if isinstance(action, BaseException):
            raise action
        return action(*args) if callable(action) else action

    def pre_call(self, req):
        return self._run("pre_call", req)

    def moderation(self, req):
        return self._run("moderation", req)

    def post_call_success(self, req, resp):
        return self._run("post_call_success", req, resp)

    def post_call_failure(self, req, failure):
        return self._run("post_call_failure", req, failure)

    def stream_chunk(self, ctx, chunk):
        return self._run("stream_chunk", ctx, chunk)

    def stream_end(self, ctx, text):
        return self._run("stream_end", ctx, text)


class OnlyPreCall(sdk.Plugin):
    name = "only-pre-call"

    def pre_call(self, req):
        return sdk.PreCall.respond("hi")


def world(plugin_class=Scripted, script=None, config="null"):
    Host.reset(config)
    Scripted.script = script or {}
    Scripted.created = 0
    return sdk.export(plugin_class)()


class Glue(unittest.TestCase):
    def test_describe_lists_exactly_the_overridden_hooks(self):
        info = world(OnlyPreCall).describe()
        self.assertEqual((info.name, info.version, info.hooks), ("only-pre-call", "0.1.0", [Hook.PRE_CALL]))
        info = world().describe()
        self.assertEqual(info.name, "scripted")
        self.assertEqual(info.version, "1.2.3")
        self.assertEqual(info.hooks, [Hook.PRE_CALL, Hook.MODERATION, Hook.POST_CALL_SUCCESS, Hook.POST_CALL_FAILURE,
                                      Hook.STREAM_CHUNK, Hook.STREAM_END])  # fmt: skip

    def test_pre_call_outcomes(self):
        req = request({"model": "m"})
        self.assertEqual(world(script={"pre_call": None}).pre_call(req), wit.PreCallOutcome_Proceed())
        self.assertEqual(world(script={"pre_call": sdk.PreCall.PROCEED}).pre_call(req), wit.PreCallOutcome_Proceed())
        modified = world(script={"pre_call": sdk.PreCall.modify({"model": "x"})}).pre_call(req)
        self.assertEqual(modified, wit.PreCallOutcome_Modify('{"model": "x"}'))
        self.assertEqual(sdk.PreCall.modify('{"a":1}'), wit.PreCallOutcome_Modify('{"a":1}'))
        self.assertEqual(world(script={"pre_call": sdk.PreCall.respond(42)}).pre_call(req), wit.PreCallOutcome_Respond("42"))

    def test_post_call_outcomes(self):
        req, resp = request({}), wit.Response(status=200, body="{}", headers=[])
        self.assertEqual(world().post_call_success(req, resp), wit.PostCallOutcome_Proceed())
        edit = sdk.PostCall.edit(body={"ok": True}, headers={"X-Served-By": "hookgate", "x-n": 3})
        self.assertEqual(
            world(script={"post_call_success": edit}).post_call_success(req, resp),
            wit.PostCallOutcome_Modify(wit.ResponseEdit(body='{"ok": true}', headers=[("x-served-by", "hookgate"), ("x-n", "3")])),
        )
        self.assertEqual(sdk.PostCall.edit(headers={"a": "b"}).value.body, None)

    def test_chunk_outcomes(self):
        ctx, raw = context(), chunk_text("hello")
        self.assertEqual(world().stream_chunk(ctx, raw), wit.ChunkOutcome_Proceed())
        self.assertEqual(world(script={"stream_chunk": sdk.ChunkOutcome.DROP}).stream_chunk(ctx, raw), wit.ChunkOutcome_Drop())

        def shout(ctx, chunk):
            chunk.delta_text = chunk.delta_text.upper()
            return sdk.ChunkOutcome.replace(chunk)

        replaced = world(script={"stream_chunk": shout}).stream_chunk(ctx, raw)
        self.assertIsInstance(replaced, wit.ChunkOutcome_Replace)
        self.assertEqual(json.loads(replaced.value)["choices"][0]["delta"]["content"], "HELLO")
        self.assertEqual(sdk.ChunkOutcome.replace('{"a": 1}'), wit.ChunkOutcome_Replace('{"a": 1}'))

    def test_a_rejection_is_the_error_side(self):
        rejection = sdk.Rejection.bad_request("no secrets", code="secret")
        for hook, call in (
            ("pre_call", lambda w: w.pre_call(request({}))),
            ("moderation", lambda w: w.moderation(request({}))),
            ("post_call_success", lambda w: w.post_call_success(request({}), wit.Response(200, "{}", []))),
            ("post_call_failure", lambda w: w.post_call_failure(request({}), wit.Failure(502, "api_error", "down", None))),
            ("stream_chunk", lambda w: w.stream_chunk(context(), chunk_text("x"))),
            ("stream_end", lambda w: w.stream_end(context(), "text")),
        ):
            with self.subTest(hook=hook), self.assertRaises(Err) as raised:
                call(world(script={hook: rejection}))
            self.assertEqual(raised.exception.value, wit.Rejection(status=400, message="no secrets", code="secret"))
        self.assertEqual(sdk.Rejection.forbidden("no")._to_wit(), wit.Rejection(403, "no", None))
        self.assertEqual(sdk.Rejection.too_many_requests("slow down", "rate")._to_wit(), wit.Rejection(429, "slow down", "rate"))

    def test_any_other_exception_is_a_fault(self):
        # It propagates as itself (componentize-py then traps: a fault, under on_error),
        # never as the error side the client would see.
        for error in (KeyError("messages"), ValueError("bad"), sdk.KvError("kv store unavailable: down", True)):
            with self.subTest(error=error), self.assertRaises(type(error)) as raised:
                world(script={"pre_call": error}).pre_call(request({}))
            self.assertIs(raised.exception, error)
        with self.assertRaises(ZeroDivisionError):
            world(script={"moderation": ZeroDivisionError()}).moderation(request({}))

    def test_hooks_the_plugin_does_not_override_proceed(self):
        w = world(OnlyPreCall)
        self.assertIsNone(w.moderation(request({})))
        self.assertEqual(w.stream_chunk(context(), chunk_text("x")), wit.ChunkOutcome_Proceed())

    def test_init_parses_the_config_and_reports_a_bad_one(self):
        w = world()
        self.assertIsNone(w.init('{"limit": 3}'))
        self.assertIsNone(w.init("null"))
        with self.assertRaises(Err) as raised:
            w.init('{"refuse": true}')
        self.assertEqual(raised.exception.value, "invalid config: `refuse` is set")
        with self.assertRaises(Err) as raised:
            w.init("{not json")
        self.assertTrue(raised.exception.value.startswith("invalid config: "), raised.exception.value)

    def test_the_plugin_is_created_once_per_instance_from_the_hosts_config(self):
        seen = []
        w = world(script={"pre_call": lambda req: None, "stream_end": lambda ctx, text: seen.append(text)}, config='{"a": 1}')
        w.pre_call(request({}))
        w.stream_end(context(), "done")
        self.assertEqual(Scripted.created, 1)
        self.assertEqual(seen, ["done"])
        self.assertEqual(world(config="").pre_call(request({})), wit.PreCallOutcome_Proceed())

    def test_logging_hooks_get_the_parsed_payload(self):
        payloads = []

        class Logger(sdk.Plugin):
            def log_success(self, payload):
                payloads.append(("success", payload))

            def log_failure(self, payload):
                payloads.append(("failure", payload))

        w = world(Logger)
        w.log_success('{"id": "r1"}')
        w.log_failure('{"id": "r2"}')
        self.assertEqual(payloads, [("success", {"id": "r1"}), ("failure", {"id": "r2"})])


class Helpers(unittest.TestCase):
    def test_request(self):
        req = sdk.Request(request({"model": "m", "messages": [{"role": "user", "content": "hi"}]}, [("x-team", "blue")]))
        self.assertEqual((req.id, req.model, req.key.alias), ("req-1", "m", "team"))
        self.assertEqual(req.header("X-Team"), "blue")
        self.assertIsNone(req.header("x-other"))
        self.assertIs(req.json, req.json)
        self.assertEqual(req.texts(), ["hi"])

    def test_map_texts_returns_a_new_body_and_leaves_req_json_alone(self):
        req = sdk.Request(request({"messages": [{"role": "user", "content": "a secret"}, {"role": "user", "content": "b"}]}))
        before = json.dumps(req.json)
        body = req.map_texts(lambda t: t.replace("secret", "***"))
        self.assertEqual(body, {"messages": [{"role": "user", "content": "a ***"}, {"role": "user", "content": "b"}]})
        self.assertEqual(json.dumps(req.json), before)
        self.assertIs(body["messages"][1], req.json["messages"][1], "unchanged parts are shared, not copied")
        self.assertIsNone(req.map_texts(lambda t: t))
        with self.assertRaises(TypeError):
            req.map_texts(lambda t: None)

    def test_response_and_chunk(self):
        resp = sdk.Response(wit.Response(200, '{"choices": [{"message": {"content": "x"}}]}', [("Content-Type", "j")]))
        self.assertEqual(resp.texts(), ["x"])
        self.assertEqual(resp.status, 200)
        chunk = sdk.Chunk(chunk_text("Hel"))
        self.assertEqual((chunk.delta_text, chunk.finish_reason, chunk.texts()), ("Hel", None, ["Hel"]))
        chunk.delta_text = "Bye"
        self.assertEqual(json.loads(sdk.ChunkOutcome.replace(chunk).value)["choices"][0]["delta"]["content"], "Bye")
        last = sdk.Chunk(chunk_text(None, "stop"))
        self.assertEqual((last.delta_text, last.finish_reason, last.texts()), (None, "stop", []))
        # Python's delta_text reads (and sets) the first choice; texts() covers them all.
        two = sdk.Chunk(json.dumps({"choices": [{"delta": {"content": "a"}}, {"delta": {"content": "b"}}]}))
        self.assertEqual((two.delta_text, two.texts()), ("a", ["a", "b"]))

    def test_log(self):
        Host.reset()
        sdk.log.info("hello")
        sdk.log.error(42)
        sdk.log.trace("t")
        self.assertEqual(Host.lines, [(LogLevel.INFO, "hello"), (LogLevel.ERROR, "42"), (LogLevel.TRACE, "t")])


class Kv(unittest.TestCase):
    def setUp(self):
        Host.reset()

    def test_calls_pass_through_with_ttls_in_milliseconds(self):
        sdk.kv.set("a", "1", ttl=1.5)
        self.assertEqual(sdk.kv.get("a"), "1")
        self.assertEqual(sdk.kv.incr("n", 2, ttl=0.0001), 2)
        self.assertEqual(sdk.kv.incr("n"), 3)
        self.assertTrue(sdk.kv.delete("a"))
        self.assertFalse(sdk.kv.delete("a"))
        self.assertIsNone(sdk.kv.get("a"))
        self.assertEqual(Host.calls[0], ("set", "a", "1", 1500))
        self.assertEqual(Host.calls[2], ("incr", "n", 2, 1), "a TTL is at least a millisecond")
        self.assertEqual(Host.calls[3], ("incr", "n", 1, None))

    def test_errors_become_kv_error(self):
        Host.kv_error = KvError_Unavailable("redis down")
        with self.assertRaises(sdk.KvError) as raised:
            sdk.kv.incr("n")
        self.assertTrue(raised.exception.unavailable)
        self.assertEqual(str(raised.exception), "redis down")
        Host.kv_error = KvError_Invalid("not an integer")
        with self.assertRaises(sdk.KvError) as raised:
            sdk.kv.get("n")
        self.assertFalse(raised.exception.unavailable)
        self.assertEqual(str(raised.exception), "not an integer")


class Conformance(unittest.TestCase):
    """guest-sdk/conformance/text.json: the same checks as the Rust and JS SDKs'."""

    def test_request_texts(self):
        for case in VECTORS["request"]:
            with self.subTest(case["name"]):
                self.assertEqual(sdk.Request(request(case["body"])).texts(), case["texts"])
                self.assertEqual(text.request_texts(case["body"]), case["texts"])

    def test_map_texts_visits_exactly_the_texts_in_order(self):
        for case in VECTORS["request"]:
            with self.subTest(case["name"]):
                seen = []
                self.assertIsNone(text.map_request_texts(case["body"], lambda t: seen.append(t) or t))
                self.assertEqual(seen, case["texts"])

    def test_map_texts(self):
        for case in VECTORS["map_texts"]:
            with self.subTest(case["name"]):
                result = sdk.Request(request(case["body"])).map_texts(edit_of(case["edit"]))
                # Compared as text: key order is part of the promise.
                self.assertEqual(json.dumps(result), json.dumps(case["result"]))

    def test_response_texts(self):
        for case in VECTORS["response"]:
            with self.subTest(case["name"]):
                self.assertEqual(sdk.Response(wit.Response(200, json.dumps(case["body"]), [])).texts(), case["texts"])

    def test_chunk_texts(self):
        for case in VECTORS["chunk"]:
            with self.subTest(case["name"]):
                chunk = sdk.Chunk(json.dumps(case["chunk"]))
                self.assertEqual(chunk.texts(), case["texts"])
                if len(case["chunk"]["choices"]) <= 1:  # Python's delta_text reads the first choice
                    self.assertEqual(chunk.delta_text, case["delta_text"])

    def test_normalize(self):
        for case in VECTORS["normalize"]:
            with self.subTest(case["name"]):
                self.assertEqual(sdk.normalize(case["input"]), case["output"])
                self.assertEqual(sdk.normalize(case["output"]), case["output"])

    def test_character_classes(self):
        for ch in VECTORS["white_space"]["yes"]:
            self.assertTrue(sdk.is_white_space(ch), ascii(ch))
        for ch in VECTORS["white_space"]["no"]:
            self.assertFalse(sdk.is_white_space(ch), ascii(ch))
        for ch in VECTORS["default_ignorable"]["yes"]:
            self.assertTrue(sdk.is_default_ignorable(ch), ascii(ch))
        for ch in VECTORS["default_ignorable"]["no"]:
            self.assertFalse(sdk.is_default_ignorable(ch), ascii(ch))


if __name__ == "__main__":
    unittest.main()
