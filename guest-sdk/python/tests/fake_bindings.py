"""Fakes of the modules componentize-py generates from wit/plugin.wit, for plain CPython.

``componentize_py_types`` and ``wit_world.imports.{types,content,log,config,kv}`` and
``wit_world.exports.{setup,pre_call,stream_chunk}`` get the names and shapes of the real
ones (compare ``componentize-py -d wit -w plugin bindings /tmp/x``), so that
``hookgate_sdk._component`` imports and can be driven like the host drives it. The host
side (config, log lines, the kv store, the ``content`` resources) is :class:`Host` and
:class:`Resource`, recording what the SDK asked.
"""

import dataclasses
import enum
import pathlib
import sys
import types
from typing import Any, List, Optional

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))

from hookgate_sdk import testing  # noqa: E402


def _module(name, **attributes):
    module = types.ModuleType(name)
    module.__dict__.update(attributes)
    sys.modules[name] = module
    parent, _, child = name.rpartition(".")
    if parent in sys.modules:
        setattr(sys.modules[parent], child, module)
    return module


@dataclasses.dataclass(frozen=True)
class Err(Exception):
    value: Any


def _case(name, payload=True):
    return dataclasses.make_dataclass(name, [("value", Any)] if payload else [])


def _record(name, *fields):
    return dataclasses.make_dataclass(name, list(fields))


_module("componentize_py_types", Err=Err, Ok=_case("Ok"), Some=_case("Some"))
_module("wit_world")
_module("wit_world.imports")
_module("wit_world.exports")

LogLevel = enum.Enum("LogLevel", [("TRACE", 0), ("DEBUG", 1), ("INFO", 2), ("WARN", 3), ("ERROR", 4)])
KeyInfo = _record("KeyInfo", ("alias", Optional[str]), ("id", str), ("user_id", Optional[str]), ("team_id", Optional[str]), ("metadata", str))
CallContext = _record("CallContext", ("request_id", str), ("call_type", Any), ("key", Any), ("stream", bool))
Rejection = _record("Rejection", ("status", int), ("message", str), ("code", Optional[str]))
Failure = _record("Failure", ("status", int), ("error_type", str), ("message", str), ("code", Optional[str]), ("rejected_by", Optional[str]))
Usage = _record("Usage", ("prompt_tokens", int), ("completion_tokens", int), ("total_tokens", int))
Decision = _record("Decision", ("plugin", str), ("hook", str), ("decision", str), ("cause", Optional[str]), ("calls", int), ("started_ms", float), ("elapsed_ms", float))
LogEntry = _record(
    "LogEntry", ("model", str), ("model_used", Optional[str]), ("api_base", Optional[str]), ("end_user", Optional[str]),
    ("status_code", int), ("usage", Optional[Any]), ("response_cost", Optional[float]), ("start_time", float),
    ("end_time", float), ("completion_start_time", Optional[float]), ("failure", Optional[Any]),
    ("decisions", List[Any]), ("truncated", List[str]),
)  # fmt: skip

wit = _module(
    "wit_world.imports.hookgate_plugin_types",
    CallType_ChatCompletion=_case("CallType_ChatCompletion", payload=False),
    CallType_TextCompletion=_case("CallType_TextCompletion", payload=False),
    CallType_Embedding=_case("CallType_Embedding", payload=False),
    CallType_Other=_case("CallType_Other"),
    KeyInfo=KeyInfo,
    CallContext=CallContext,
    Rejection=Rejection,
    HookError_Reject=_case("HookError_Reject"),
    HookError_Fail=_case("HookError_Fail"),
    Failure=Failure,
    Usage=Usage,
    Decision=Decision,
    LogEntry=LogEntry,
    LogLevel=LogLevel,
)

TextPart = _record("TextPart", ("path", str), ("is_key", bool), ("item", Optional[int]), ("role", Optional[str]), ("text", str))
TextEdit = _record("TextEdit", ("index", int), ("text", str))
content = _module(
    "wit_world.imports.content",
    EditError_ReadOnly=_case("EditError_ReadOnly", payload=False),
    EditError_NoSuchText=_case("EditError_NoSuchText"),
    EditError_Invalid=_case("EditError_Invalid"),
    EditError_TooLarge=_case("EditError_TooLarge"),
    TextPart=TextPart,
    TextEdit=TextEdit,
)


class Host:
    """What the fake imports read and record."""

    config = "null"
    lines = []
    store = {}
    calls = []
    kv_error = None  # a KvError_* value to fail kv calls with

    @classmethod
    def reset(cls, config="null"):
        cls.config, cls.lines, cls.store, cls.calls, cls.kv_error = config, [], {}, [], None


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


_module("wit_world.imports.log", log=lambda level, message: Host.lines.append((level, message)))
_module("wit_world.imports.config", get=lambda: Host.config)
kv = _module(
    "wit_world.imports.kv",
    KvError_Unavailable=_case("KvError_Unavailable"),
    KvError_Invalid=_case("KvError_Invalid"),
    get=_kv_call("get", lambda key: Host.store.get(key)),
    set=_kv_call("set", lambda key, value, ttl_ms: Host.store.__setitem__(key, value)),
    incr=_kv_call("incr", _incr),
    delete=_kv_call("delete", lambda key: Host.store.pop(key, None) is not None),
)

# wasi:http, which hookgate_sdk.http drives inside a component (the suite's py-caller
# plugin tests it against the real host); here only importable.
for _name in ("outgoing_handler", "streams", "wasi_http_types"):
    _module(f"wit_world.imports.{_name}")

setup = _module("wit_world.exports.setup", PluginInfo=_record("PluginInfo", ("name", str), ("version", str)))
pre_call = _module(
    "wit_world.exports.pre_call",
    PreCallOutcome_Proceed=_case("PreCallOutcome_Proceed", payload=False),
    PreCallOutcome_Respond=_case("PreCallOutcome_Respond"),
)
stream_chunk = _module("wit_world.exports.stream_chunk", ChunkOutcome=enum.Enum("ChunkOutcome", [("PROCEED", 0), ("DROP", 1)]))


_EDIT_ERRORS = {
    "read_only": lambda detail: content.EditError_ReadOnly(),
    "no_such_text": content.EditError_NoSuchText,
    "invalid": content.EditError_Invalid,
    "too_large": content.EditError_TooLarge,
}


class Resource:
    """A host ``content`` resource (request, response or chunk), backed by the SDK's
    local stand-in, answering as the generated bindings do: ``TextPart`` records, and
    ``Err(EditError_*)`` for a refused edit. ``calls`` records the edits asked for."""

    def __init__(self, doc, read_only=False):
        self.doc = doc
        self.doc.read_only = read_only
        self.calls = []

    @classmethod
    def request(cls, body, read_only=False, headers=()):
        return cls(testing.request(body, headers=headers)._doc, read_only)

    @classmethod
    def response(cls, body, read_only=False, status=200):
        return cls(testing.response(body, status=status)._doc, read_only)

    @classmethod
    def chunk(cls, body, read_only=False):
        return cls(testing.chunk(body)._doc, read_only)

    def _edit(self, name, *args):
        self.calls.append((name, *args))
        try:
            return getattr(self.doc, name)(*args)
        except testing.EditError as error:
            raise Err(_EDIT_ERRORS[error.kind](error.detail)) from None

    def texts(self):
        return [TextPart(p.path, p.is_key, p.item, p.role, p.text) for p in self.doc.texts()]

    def set_texts(self, edits):
        assert all(isinstance(edit, TextEdit) for edit in edits)
        self._edit("set_texts", [(edit.index, edit.text) for edit in edits])

    def set_field(self, name, value):
        self._edit("set_field", name, value)

    def set_body(self, json_text):
        self._edit("set_body", json_text)

    def set_header(self, name, value):
        self._edit("set_header", name, value)

    def set_content(self, choice, text):
        self._edit("set_content", choice, text)

    def __getattr__(self, name):  # model, status, field, field_names, body, headers, finish_reason
        return getattr(self.doc, name)


def call_context(request_id="req-1", call_type=None, alias="team-blue", metadata="{}", stream=False, user_id=None):
    return CallContext(
        request_id,
        call_type if call_type is not None else wit.CallType_ChatCompletion(),
        KeyInfo(alias, "ab" * 32, user_id, None, metadata),
        stream,
    )


def log_entry(**fields):
    values = dict(
        model="m", model_used="m", api_base=None, end_user=None, status_code=200, usage=None, response_cost=None,
        start_time=1.0, end_time=2.0, completion_start_time=None, failure=None, decisions=[], truncated=[],
    )  # fmt: skip
    values.update(fields)
    return LogEntry(**values)
