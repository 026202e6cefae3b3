"""Write hookgate plugins in Python.

A plugin is a subclass of :class:`Plugin` that overrides only the hooks it needs; every
other hook is a no-op, in the style of Pingora's ``ProxyHttp`` and the Rust SDK. Export it
with ``WitWorld = export(MyPlugin)`` in the module you build::

    from hookgate_sdk import Plugin, Rejection, export

    class Polite(Plugin):
        name = "polite"

        def pre_call(self, req):
            if any("darn" in text for text in req.texts()):
                raise Rejection.bad_request("please be polite", code="impolite")

    WitWorld = export(Polite)

Build with ``python -m hookgate_sdk.build polite.py -o polite.wasm`` (componentize-py).

One plugin object lives at most as long as one request: the host creates a fresh
component instance per request, and the SDK creates the plugin in it (``Plugin(config)``)
on the request's first hook. Attributes on ``self`` are per-request state that the
request's hooks up to its answer share (pre-call, moderation, post-call-success, the
stream hooks); the logging hooks run on a fresh instance. State that must outlive a
request goes to :mod:`hookgate_sdk.kv`.

Text helpers: ``req.texts()`` lists every text of a request the model reads (message
contents, names, tool calls, tool definitions, schemas, prompts; see
:mod:`hookgate_sdk.text`), ``req.map_texts(f)`` rewrites all of them, and
:func:`normalize` is the form to match keywords in (NFKC, invisible characters removed,
whitespace collapsed, lower-cased), the same in the Rust and JavaScript SDKs.

Raising :class:`Rejection` is the plugin's answer (the client gets its 4xx). Any other
exception is a fault: the host applies the plugin's ``on_error`` and never shows it to
the client as the plugin's answer.
"""

import json

from componentize_py_types import Err
from wit_world.imports import config as _config
from wit_world.imports import kv as _kv
from wit_world.imports import log as _log
from wit_world.imports import types as _wit

from .text import is_default_ignorable, is_white_space, normalize
from .text import chunk_texts as _chunk_texts
from .text import map_request_texts as _map_request_texts
from .text import request_texts as _request_texts
from .text import response_texts as _response_texts

__all__ = [
    "Plugin",
    "Rejection",
    "PreCall",
    "PostCall",
    "Chunk",
    "ChunkOutcome",
    "Request",
    "Response",
    "export",
    "log",
    "kv",
    "KvError",
    "normalize",
    "is_white_space",
    "is_default_ignorable",
]


class Rejection(Exception):
    """A plugin's refusal: the client gets ``status`` (a 4xx) and ``message`` as an OpenAI
    error, with ``code`` as ``error.code`` (the status when ``None``)."""

    def __init__(self, status, message, code=None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code

    @classmethod
    def bad_request(cls, message, code=None):
        """A 400: the usual refusal of a request's content."""
        return cls(400, message, code)

    @classmethod
    def forbidden(cls, message, code=None):
        """A 403: the caller may not do this."""
        return cls(403, message, code)

    @classmethod
    def too_many_requests(cls, message, code=None):
        """A 429: for rate and budget limits."""
        return cls(429, message, code)

    def _to_wit(self):
        return _wit.Rejection(status=int(self.status), message=str(self.message), code=self.code)


class PreCall:
    """What ``pre_call`` may return (``None`` means proceed)."""

    PROCEED = _wit.PreCallOutcome_Proceed()

    @staticmethod
    def modify(body):
        """Go on with this body instead: a JSON string, or a dict/list to serialize."""
        text = body if isinstance(body, str) else json.dumps(body)
        return _wit.PreCallOutcome_Modify(text)

    @staticmethod
    def respond(text):
        """Answer the client with ``text`` as a normal completion, without the upstream."""
        return _wit.PreCallOutcome_Respond(str(text))


class PostCall:
    """What ``post_call_success`` may return (``None`` means proceed)."""

    PROCEED = _wit.PostCallOutcome_Proceed()

    @staticmethod
    def edit(body=None, headers=None):
        """Replace the body (a JSON string or a dict) and/or add ``headers`` (a dict)."""
        if body is not None and not isinstance(body, str):
            body = json.dumps(body)
        pairs = [(str(name).lower(), str(value)) for name, value in (headers or {}).items()]
        return _wit.PostCallOutcome_Modify(_wit.ResponseEdit(body=body, headers=pairs))


class ChunkOutcome:
    """What ``stream_chunk`` may return (``None`` means forward the chunk unchanged)."""

    PROCEED = _wit.ChunkOutcome_Proceed()
    DROP = _wit.ChunkOutcome_Drop()

    @staticmethod
    def replace(chunk):
        """Forward this chunk instead: a JSON string, a dict, or a :class:`Chunk`."""
        if isinstance(chunk, Chunk):
            chunk = chunk.json
        text = chunk if isinstance(chunk, str) else json.dumps(chunk)
        return _wit.ChunkOutcome_Replace(text)


class _JsonMessage:
    """What requests and responses share: a JSON body parsed on demand, and headers."""

    def __init__(self, body, headers):
        self.body = body
        self.headers = headers
        self._json = None

    @property
    def json(self):
        """The body parsed (once) as JSON."""
        if self._json is None:
            self._json = json.loads(self.body)
        return self._json

    def header(self, name):
        """The value of header ``name`` (case-insensitive), or ``None``."""
        name = name.lower()
        return next((value for key, value in self.headers if key == name), None)


class Request(_JsonMessage):
    """A client request: ``id``, ``model``, ``body`` (JSON text), ``headers`` (lower-case
    names), and ``key`` (``alias``, ``hash``, ``user_id``, ``team_id``, ``metadata``;
    never the key itself)."""

    def __init__(self, wit_request):
        super().__init__(wit_request.body, wit_request.headers)
        self.id = wit_request.id
        self.model = wit_request.model
        self.key = wit_request.key

    def texts(self):
        """Every text of the request the model reads, in document order: message names,
        contents (strings and text parts), refusals and tool calls; tool and function
        definitions (names, descriptions, parameter schemas); ``response_format``'s JSON
        schema; ``prediction``; ``prompt`` and ``suffix``; ``input``. Image, audio and
        file parts carry none. The full list is in :mod:`hookgate_sdk.text`.

        What a guardrail checks: compare ``normalize(text)`` with normalized keywords.
        """
        return _request_texts(self.json)

    def map_texts(self, f):
        """The body (a dict) with every text :meth:`texts` lists replaced by ``f(text)``,
        visited in the same order; ``None`` when ``f`` changed none. ``req.json`` is not
        modified. ``return PreCall.modify(body)`` sends the edit on::

            body = req.map_texts(mask)
            return None if body is None else PreCall.modify(body)
        """
        return _map_request_texts(self.json, f)


class Response(_JsonMessage):
    """A successful upstream response: ``status``, ``body`` (JSON text), ``headers``."""

    def __init__(self, wit_response):
        super().__init__(wit_response.body, wit_response.headers)
        self.status = wit_response.status

    def texts(self):
        """The generated texts of every choice: the message's content (string or text
        parts), refusal and tool calls (function name, arguments), and ``text`` for
        completions."""
        return _response_texts(self.json)


class Chunk:
    """One streamed ``chat.completion.chunk``: ``raw`` text and ``json`` (parsed)."""

    def __init__(self, raw):
        self.raw = raw
        self.json = json.loads(raw)

    @property
    def delta_text(self):
        """The first choice's ``delta.content``, or ``None``."""
        choices = self.json.get("choices") or [{}]
        return (choices[0].get("delta") or {}).get("content")

    @delta_text.setter
    def delta_text(self, text):
        self.json["choices"][0].setdefault("delta", {})["content"] = text

    def texts(self):
        """Every text this chunk adds, over all choices: the delta's content, refusal and
        tool calls (function name, argument pieces)."""
        return _chunk_texts(self.json)

    @property
    def finish_reason(self):
        """The first choice's ``finish_reason``: set on a stream's last content chunk."""
        choices = self.json.get("choices") or [{}]
        return choices[0].get("finish_reason")


class Plugin:
    """Base class of a plugin: override the hooks you need; the rest do nothing.

    ``name`` and ``version`` (class attributes) are what ``describe`` reports. The
    constructor gets the plugin's config (parsed JSON; ``None`` when none was given);
    raise ``ValueError`` in it to refuse a bad config at load.
    """

    name = "python-plugin"
    version = "0.1.0"

    def __init__(self, config):
        self.config = config

    def pre_call(self, req):
        """Before the upstream call: return ``None`` (proceed), ``PreCall.modify(body)``
        or ``PreCall.respond(text)``, or raise :class:`Rejection`."""

    def moderation(self, req):
        """Concurrently with the upstream call: raise :class:`Rejection` to cancel it."""

    def post_call_success(self, req, resp):
        """After a non-streamed success: ``None`` or ``PostCall.edit(...)``, or raise."""

    def post_call_failure(self, req, failure):
        """After an error (``failure.status``, ``.error_type``, ``.message``): raise a
        :class:`Rejection` to replace the client's error."""

    def stream_chunk(self, ctx, chunk):
        """Per streamed :class:`Chunk`: ``None``, ``ChunkOutcome.replace(...)`` or
        ``ChunkOutcome.DROP``, or raise to end the stream with an error event."""

    def stream_end(self, ctx, text):
        """Once a stream ends, with the assembled text; raise to add an error event."""

    def log_success(self, payload):
        """Off the response path, with the logging payload (a dict)."""

    def log_failure(self, payload):
        """Off the response path, with the logging payload (a dict)."""


_HOOKS = {
    "pre_call": _wit.Hook.PRE_CALL,
    "moderation": _wit.Hook.MODERATION,
    "post_call_success": _wit.Hook.POST_CALL_SUCCESS,
    "post_call_failure": _wit.Hook.POST_CALL_FAILURE,
    "stream_chunk": _wit.Hook.STREAM_CHUNK,
    "stream_end": _wit.Hook.STREAM_END,
    "log_success": _wit.Hook.LOG_SUCCESS,
    "log_failure": _wit.Hook.LOG_FAILURE,
}


def export(plugin_class):
    """The ``WitWorld`` class componentize-py exports, running ``plugin_class``.

    The hooks ``describe`` reports are exactly the ones ``plugin_class`` overrides.
    """
    hooks = [hook for method, hook in _HOOKS.items() if getattr(plugin_class, method) is not getattr(Plugin, method)]
    state = {}

    def plugin():
        if "plugin" not in state:
            state["plugin"] = plugin_class(_parsed(_config.get()))
        return state["plugin"]

    def answer(call, default):
        try:
            outcome = call()
        except Rejection as rejection:
            raise Err(rejection._to_wit())
        return default if outcome is None else outcome

    class WitWorld:
        def describe(self):
            return _wit.PluginInfo(name=plugin_class.name, version=plugin_class.version, hooks=hooks)

        def init(self, config):
            try:
                plugin_class(_parsed(config))
            except Exception as error:  # the operator reads this: say what is wrong
                raise Err(f"invalid config: {error}")

        def pre_call(self, req):
            return answer(lambda: plugin().pre_call(Request(req)), PreCall.PROCEED)

        def moderation(self, req):
            answer(lambda: plugin().moderation(Request(req)), None)

        def post_call_success(self, req, resp):
            return answer(lambda: plugin().post_call_success(Request(req), Response(resp)), PostCall.PROCEED)

        def post_call_failure(self, req, failure):
            answer(lambda: plugin().post_call_failure(Request(req), failure), None)

        def stream_chunk(self, ctx, chunk):
            return answer(lambda: plugin().stream_chunk(ctx, Chunk(chunk)), ChunkOutcome.PROCEED)

        def stream_end(self, ctx, text):
            answer(lambda: plugin().stream_end(ctx, text), None)

        def log_success(self, payload):
            plugin().log_success(json.loads(payload))

        def log_failure(self, payload):
            plugin().log_failure(json.loads(payload))

    return WitWorld


def _parsed(config_text):
    return json.loads(config_text) if config_text else None


class _Log:
    """The host log, tagged with the plugin's name and the request id."""

    def trace(self, message):
        _log.log(_wit.LogLevel.TRACE, str(message))

    def debug(self, message):
        _log.log(_wit.LogLevel.DEBUG, str(message))

    def info(self, message):
        _log.log(_wit.LogLevel.INFO, str(message))

    def warn(self, message):
        _log.log(_wit.LogLevel.WARN, str(message))

    def error(self, message):
        _log.log(_wit.LogLevel.ERROR, str(message))


log = _Log()


class KvError(Exception):
    """A kv call failed: ``unavailable`` (the store is down; retrying later may work)
    or not (the call was wrong)."""

    def __init__(self, message, unavailable):
        super().__init__(message)
        self.unavailable = unavailable


class _Kv:
    """The plugin's kv store: namespaced per plugin, shared by requests (and replicas on
    Redis). TTLs are in seconds (floats allowed). Raises :class:`KvError`; leave it
    uncaught and the host applies the plugin's ``on_error``."""

    @staticmethod
    def _call(function, *args):
        try:
            return function(*args)
        except Err as error:
            unavailable = isinstance(error.value, _kv.KvError_Unavailable)
            raise KvError(error.value.value, unavailable) from None

    def get(self, key):
        return self._call(_kv.get, key)

    def set(self, key, value, ttl=None):
        self._call(_kv.set, key, value, _millis(ttl))

    def incr(self, key, delta=1, ttl=None):
        return self._call(_kv.incr, key, delta, _millis(ttl))

    def delete(self, key):
        return self._call(_kv.delete, key)


def _millis(ttl):
    return None if ttl is None else max(1, int(ttl * 1000))


kv = _Kv()
