"""Plugin unit tests in plain CPython: local stand-ins for the host.

- :func:`request`, :func:`response` and :func:`chunk` make the SDK's
  :class:`~hookgate_sdk.Request`, :class:`~hookgate_sdk.Response` and
  :class:`~hookgate_sdk.Chunk` from a JSON body (a ``dict`` or JSON text). Their texts
  are found where the host finds them (a port of the host's walk, tested against
  ``guest-sdk/conformance/text.json``), with the same paths, items and roles, and edits
  change the stand-in's body as the host would change the real one.
- :class:`Runner` runs a plugin's hooks the way the host does, through the SDK's own
  glue: one plugin object made from the config, a fresh ``ctx`` per request id, the
  outcome checked against the hook, exceptions turned into a rejection (raised as
  :class:`~hookgate_sdk.Rejection`) or a failure (raised as :class:`HookFailed`), and
  the values a hook may not edit read-only (an edit raises ``EditError("read_only")``);
  a hook that rejects or fails leaves its edits undone.
- :class:`LocalHost` stands in for ``log``, ``config`` and ``kv``. Importing this module
  installs one; a :class:`Runner` installs its own (``runner.host``).

::

    from hookgate_sdk import testing
    from app import Redactor

    run = testing.Runner(Redactor, config={"mask": "[X]"})
    req = testing.request({"model": "m", "messages": [{"role": "user", "content": "ann@example.com"}]})
    assert run.pre_call(req) is None
    assert req.texts() == ["[X]"]
"""

import copy
import json
import unicodedata

from . import _host, _walk
from ._export import ConfigRefused, Exported, HookFailed
from .content import CallContext, Chunk, Decision, Failure, Key, LogEntry, Request, Response, Usage
from .errors import EditError, KvError, Rejection

__all__ = [
    "request",
    "response",
    "chunk",
    "key",
    "failure",
    "log_entry",
    "Runner",
    "LocalHost",
    "HookFailed",
    "ConfigRefused",
    "Usage",
    "Decision",
]

_MANAGED_HEADERS = ("content-length", "transfer-encoding", "connection", "content-type", "content-encoding")
_TOKEN = set("abcdefghijklmnopqrstuvwxyz0123456789!#$%&'*+-.^_`|~")


def _compact(value):
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _parse_body(body):
    if isinstance(body, (str, bytes)):
        body = json.loads(body)
    if not isinstance(body, dict):
        raise TypeError("a body is a JSON object (a dict or its JSON text)")
    return copy.deepcopy(body)


class LocalDoc:
    """A body as the host's ``content`` resource would show it: texts, fields, edits."""

    def __init__(self, kind, body, headers=(), status=200, max_bytes=None):
        self.kind = kind
        self.value = body
        self.base_headers = [(str(n).lower(), str(v)) for n, v in headers]
        self.set_headers = []
        self.status_code = status
        self.read_only = False
        self.max_bytes = max_bytes  # the plugin's max_output_bytes, if a test wants one

    # -- reading

    def texts(self):
        return _walk.texts(self.kind, self.value)

    def field_names(self):
        return list(self.value)

    def field(self, name):
        return _compact(self.value[name]) if name in self.value else None

    def body(self):
        return _compact(self.value)

    def headers(self):
        names = {n for n, _ in self.set_headers}
        return [h for h in self.base_headers if h[0] not in names] + list(self.set_headers)

    def model(self):
        model = self.value.get("model")
        return model if isinstance(model, str) else ""

    def status(self):
        return self.status_code

    def finish_reason(self, choice):
        choices = self.value.get("choices")
        if not isinstance(choices, list) or not 0 <= choice < len(choices) or not isinstance(choices[choice], dict):
            return None
        reason = choices[choice].get("finish_reason")
        return reason if isinstance(reason, str) else None

    # -- editing

    def _editable(self):
        if self.read_only:
            raise EditError("read_only")

    def _fits(self, value):
        if self.max_bytes is not None:
            size = len(_compact(value).encode())
            if size > self.max_bytes:
                raise EditError("too_large", size)

    def set_texts(self, pairs):
        self._editable()
        edited = copy.deepcopy(self.value)
        missing = _walk.set_texts(self.kind, edited, pairs)
        if missing is not None:
            raise EditError("no_such_text", missing)
        self._fits(edited)
        self.value = edited

    def set_field(self, name, json_text):
        self._editable()
        edited = dict(self.value)
        if json_text is None:
            edited.pop(name, None)
        else:
            try:
                edited[name] = json.loads(json_text)
            except ValueError as error:
                raise EditError("invalid", f"not valid JSON: {error}") from None
        self._fits(edited)
        self.value = edited

    def set_body(self, json_text):
        self._editable()
        try:
            value = json.loads(json_text)
        except ValueError as error:
            raise EditError("invalid", f"not valid JSON: {error}") from None
        if not isinstance(value, dict):
            raise EditError("invalid", "the body must be a JSON object")
        self._fits(value)
        self.value = value

    def set_header(self, name, value):
        self._editable()
        name = name.lower()
        if not name or any(c not in _TOKEN for c in name):
            raise EditError("invalid", f"header name {name!r} is not a valid HTTP header name")
        if name in _MANAGED_HEADERS:
            raise EditError("invalid", f"header {name!r} is managed by the proxy")
        if len(value.encode()) > 8192 or any(c != "\t" and unicodedata.category(c) == "Cc" for c in value):
            raise EditError("invalid", f"value of header {name!r} is not a valid HTTP header value")
        self.set_headers = [(n, v) for n, v in self.set_headers if n != name] + [(name, value)]

    def set_content(self, choice, text):
        self._editable()
        choices = self.value.get("choices")
        if not isinstance(choices, list) or not 0 <= choice < len(choices) or not isinstance(choices[choice], dict):
            raise EditError("invalid", f"the chunk has no choice {choice}")
        edited = copy.deepcopy(self.value)
        target = edited["choices"][choice]
        # As the host does: `text` for a completion, `delta.content` for chat, both when
        # an upstream wrote both; the choice's logprobs go.
        completion = isinstance(target.get("text"), str)
        if completion:
            target["text"] = text
        if not completion or isinstance(target.get("delta"), dict):
            if not isinstance(target.get("delta"), dict):
                target["delta"] = {}
            target["delta"]["content"] = text
        _walk.forget_logprobs(target)
        self._fits(edited)
        self.value = edited


def key(alias="test", id="0" * 64, user_id=None, team_id=None, metadata=None):  # noqa: A002
    """A :class:`~hookgate_sdk.Key`; ``metadata`` a dict (or its JSON text)."""
    return Key(alias, id, user_id, team_id, "{}" if metadata is None else metadata)


_test_key = key


def request(body, *, id="test-request", call_type="chat_completion", stream=None, key=None, headers=(), max_bytes=None):  # noqa: A002
    """A :class:`~hookgate_sdk.Request` of ``body``. ``stream`` defaults to the body's
    ``stream``; ``key`` to alias ``test``; ``headers`` are ``(name, value)`` pairs."""
    body = _parse_body(body)
    if stream is None:
        stream = body.get("stream") is True
    call = CallContext(id, call_type, key if key is not None else _test_key(), stream)
    return Request(call, LocalDoc(_walk.REQUEST, body, headers, max_bytes=max_bytes))


def response(body, *, status=200, headers=(), max_bytes=None):
    """A :class:`~hookgate_sdk.Response` of ``body``, with ``status`` and the headers
    the client would get so far."""
    return Response(LocalDoc(_walk.RESPONSE, _parse_body(body), headers, status, max_bytes=max_bytes))


def chunk(body, *, max_bytes=None):
    """A :class:`~hookgate_sdk.Chunk` of ``body`` (one ``chat.completion.chunk``)."""
    return Chunk(LocalDoc(_walk.CHUNK, _parse_body(body), max_bytes=max_bytes))


def failure(status=502, error_type="api_error", message="upstream error", code=None, rejected_by=None):
    """A :class:`~hookgate_sdk.Failure`, as ``post_call_failure`` gets it."""
    return Failure(status, error_type, message, code, rejected_by)


def log_entry(model="test-model", **fields):
    """A :class:`~hookgate_sdk.LogEntry`; any field by keyword."""
    return LogEntry(model=model, **fields)


class LocalHost:
    """Stands in for the host's ``log``, ``config`` and ``kv``.

    - ``lines``: what the plugin logged, as ``(level, message)``;
    - ``store``: the kv store, ``{key: value}``; ``kv_calls``: every kv call with its
      arguments (``("set", key, value, ttl_ms)``); keys expire by ``now_ms``, a clock
      that moves only with :meth:`advance`;
    - ``unavailable``: set to a message and every kv call raises an unavailable
      :class:`~hookgate_sdk.KvError`;
    - ``http``: answers the plugin's outbound calls (see :meth:`http_request`), which
      are recorded in ``http_calls``.
    """

    def __init__(self, config=None):
        self.config_text = _compact(config) if config is not None else "null"
        self.lines = []
        self.store = {}
        self.expires = {}
        self.kv_calls = []
        self.now_ms = 0
        self.unavailable = None
        self.http = None
        self.http_calls = []

    def config(self):
        return self.config_text

    def http_request(self, method, url, headers, body, timeout_ms):
        """An outbound call: recorded in ``http_calls`` as ``(method, url, headers, body)``
        and answered by ``http``, a function of the same arguments that returns an
        :class:`~hookgate_sdk.http.HttpResponse` or raises
        :class:`~hookgate_sdk.http.HttpError` (none set: every call is ``denied``, as the
        proxy does without a grant)."""
        from .http import HttpError

        self.http_calls.append((method, url, headers, body))
        if self.http is None:
            raise HttpError("denied", "no outbound grant (LocalHost.http is not set)")
        return self.http(method, url, headers, body, timeout_ms)

    def log(self, level, message):
        self.lines.append((level, message))

    def advance(self, ms):
        """Moves the kv clock ``ms`` milliseconds on."""
        self.now_ms += ms

    def _live(self, key):
        expires = self.expires.get(key)
        if expires is not None and self.now_ms >= expires:
            self.store.pop(key, None)
            self.expires.pop(key, None)
        return key in self.store

    def _enter(self, *call):
        self.kv_calls.append(call)
        if self.unavailable is not None:
            raise KvError(self.unavailable, True)

    def kv_get(self, key):
        self._enter("get", key)
        return self.store[key] if self._live(key) else None

    def kv_set(self, key, value, ttl_ms):
        self._enter("set", key, value, ttl_ms)
        self.store[key] = value
        if ttl_ms is None:
            self.expires.pop(key, None)
        else:
            self.expires[key] = self.now_ms + ttl_ms

    def kv_incr(self, key, delta, ttl_ms):
        self._enter("incr", key, delta, ttl_ms)
        existed = self._live(key)
        try:
            value = int(self.store[key]) if existed else 0
        except ValueError:
            raise KvError(f"the value at {key!r} is not an integer", False) from None
        self.store[key] = str(value + delta)
        if not existed and ttl_ms is not None:
            self.expires[key] = self.now_ms + ttl_ms
        return value + delta

    def kv_delete(self, key):
        self._enter("delete", key)
        existed = self._live(key)
        self.store.pop(key, None)
        self.expires.pop(key, None)
        return existed


class Runner:
    """Runs a plugin's hooks as the host does (see the module docs)::

        run = testing.Runner(MyPlugin, config={"limit": 3})
        run.pre_call(req)                 # None, or PreCall.respond(...)
        run.stream_chunk(req, chunk)      # ChunkOutcome.PROCEED or .DROP

    A rejection is raised as :class:`~hookgate_sdk.Rejection`, a failure as
    :class:`HookFailed` (``.message`` is what the host would log). ``config`` is the
    plugin's config value (``None``: none given); a config the plugin refuses raises
    :class:`ConfigRefused` here, as the host would refuse to load it. ``run.plugin`` is
    the plugin object, ``run.ctx`` the current request's context, ``run.host`` the
    :class:`LocalHost`.
    """

    def __init__(self, plugin_class, config=None, host=None):
        self.host = host if host is not None else LocalHost(config)
        _host.use(self.host)
        self.exported = Exported(plugin_class)
        self.exported.init(self.host.config())

    @property
    def plugin(self):
        return self.exported.plugin

    @property
    def ctx(self):
        return self.exported.ctx

    def _run(self, hook, req, args, editable=None):
        _host.use(self.host)
        docs = [value._doc for value in (req, *args) if isinstance(getattr(value, "_doc", None), LocalDoc)]
        saved = [(doc, doc.read_only, doc.value, list(doc.set_headers)) for doc in docs]
        for doc in docs:
            doc.read_only = editable is None or doc is not editable._doc
        try:
            return self.exported.dispatch(hook, req.context, req, *args)
        except (Rejection, HookFailed):
            for doc, _, value, headers in saved:
                doc.value, doc.set_headers = value, headers
            raise
        finally:
            for doc, read_only, _, _ in saved:
                doc.read_only = read_only

    def pre_call(self, req):
        return self._run("pre_call", req, (), editable=req)

    def moderation(self, req):
        return self._run("moderation", req, ())

    def post_call_success(self, req, resp):
        return self._run("post_call_success", req, (resp,), editable=resp)

    def post_call_failure(self, req, failure):  # noqa: F811 - the hook's argument
        return self._run("post_call_failure", req, (failure,))

    def stream_chunk(self, req, chunk):  # noqa: F811
        return self._run("stream_chunk", req, (chunk,), editable=chunk)

    def stream_end(self, req, text):
        return self._run("stream_end", req, (text,))

    def log_success(self, req, resp, entry):
        return self._run("log_success", req, (resp, entry))

    def log_failure(self, req, entry):
        return self._run("log_failure", req, (entry,))


_host.use(LocalHost())
