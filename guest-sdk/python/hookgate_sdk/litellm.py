"""Runs a LiteLLM callback handler (a ``CustomLogger`` instance from a
``custom_callbacks.py``) as a hookgate plugin, with LiteLLM's semantics.

``plugin_for(handler)`` returns a :class:`~hookgate_sdk.Plugin` subclass whose hooks run
the handler's overrides::

    import custom_callbacks
    from hookgate_sdk import export
    from hookgate_sdk.litellm import plugin_for

    export(plugin_for(custom_callbacks.proxy_handler_instance, name="custom_callbacks.proxy_handler_instance"))

which is what ``build.py custom_callbacks.py --handler proxy_handler_instance`` generates.
The file imports ``litellm`` and ``fastapi``: this module needs hookgate's compatibility
layer for them (``guest-sdk/python/compat``) on the import path, as build.py puts it.

What runs where (docs/litellm-migration.md has the full table):

- ``async_pre_call_hook`` in pre-call; ``log_pre_api_call`` (or, without it,
  ``async_log_pre_api_call``) and ``async_moderation_hook`` in moderation, which starts
  with the model call; ``async_post_call_success_hook``
  then ``async_post_call_response_headers_hook`` in post-call-success;
  ``async_post_call_failure_hook`` in post-call-failure;
  ``async_post_call_streaming_iterator_hook`` then ``async_post_call_streaming_hook`` in
  stream-chunk (and stream-end, for the end of the iterator); the ``*_log_*_event``
  methods in log-success and log-failure.
- The plugin exports exactly the hooks the handler's overrides need. An override of a
  callback method hookgate does not run is an error (at build and at init), never a
  method silently not called; a method whose body does nothing (``pass``) counts as
  not overridden.
- ``async def`` methods run to completion inside the hook without an event loop: awaits
  that finish at once work (other coroutines, ``asyncio.sleep(0)``, an uncontended
  ``asyncio.Lock``); one that needs a loop (a real sleep, network I/O, tasks) fails the
  hook saying so.
- The handler is the module's instance, made once when the component was built
  (componentize-py runs the module's top level then): its attributes persist across the
  requests an instance serves (``instances: reuse``). The adapter's per-request state
  (the stream's generator, the text so far) lives in the SDK's per-request ``ctx``.
"""

import copy
import datetime
import dis
import http
import inspect
import json
import sys
import traceback
import types

from . import log
from .bundle import Bundle
from ._litellm_api import SUPPORTED, TWINS, UNSUPPORTED, plugin_hooks, unsupported_message
from .errors import EditError, Fail, Rejection
from .outcome import ChunkOutcome, PreCall
from .plugin import Plugin, defined_hooks

try:
    from litellm import _logging as _litellm_logging
    from litellm.caching.dual_cache import DualCache
    from litellm.exceptions import (
        APIConnectionError,
        APIError,
        AuthenticationError,
        BadRequestError,
        ContextWindowExceededError,
        InternalServerError,
        NotFoundError,
        PermissionDeniedError,
        RateLimitError,
        RejectedRequestError,
        ServiceUnavailableError,
        Timeout,
        UnprocessableEntityError,
    )
    from litellm.integrations.custom_guardrail import CustomGuardrail
    from litellm.integrations.custom_logger import CustomLogger
    from litellm.proxy._types import UserAPIKeyAuth
    from litellm.types.guardrails import GuardrailEventHooks
    from litellm.types.utils import EmbeddingResponse, ModelResponse, ModelResponseStream, TextCompletionResponse, to_json
    from fastapi import HTTPException
except ImportError as error:  # the real litellm, or none: say which layer is needed
    raise ImportError(
        f"hookgate_sdk.litellm needs hookgate's LiteLLM compatibility layer (guest-sdk/python/compat) "
        f"first on the import path ({error})"
    ) from None
if not hasattr(ModelResponse, "_from_json"):
    raise ImportError(
        "hookgate_sdk.litellm found another `litellm` package before hookgate's compatibility layer "
        "(guest-sdk/python/compat): put that folder first on the import path"
    )

__all__ = ["plugin_for", "bundle_for", "seal", "inspect_handler", "HandlerError", "LiteLLMPlugin"]

# hookgate's call types as LiteLLM's proxy names them to its hooks and its logging (its
# route types: the proxy's calls are the async ones).
_CALL_TYPES = {"chat_completion": "acompletion", "text_completion": "atext_completion", "embedding": "aembedding"}
_REDACTED = "redacted-by-litellm"  # what LiteLLM writes for turn_off_message_logging


_MASTER = "master"  # hookgate's alias of the master key (reserved: no virtual key has it)


def _alias(key):
    """The key's alias as LiteLLM has it: the master key has none."""
    return None if key.alias == _MASTER else key.alias


class HandlerError(TypeError):
    """The handler cannot run as a hookgate plugin (build.py and ``setup.init`` report it)."""


# -- what a handler overrides


def _quiet():
    pass


async def _quiet_async():
    pass


def _instructions(code):
    return [(i.opname, i.argval) for i in dis.get_instructions(code) if i.opname not in ("RESUME", "NOP", "CACHE")]


_DO_NOTHING = {False: _instructions(_quiet.__code__), True: _instructions(_quiet_async.__code__)}


def _does_nothing(member):
    """Whether a class member is a function whose body does nothing (``pass``, ``...``,
    a docstring, a bare ``return``): build.py reads the same from the source."""
    if isinstance(member, (staticmethod, classmethod)):
        member = member.__func__
    if not isinstance(member, types.FunctionType):
        return False
    code = member.__code__
    is_async = bool(code.co_flags & inspect.CO_COROUTINE)
    if code.co_flags & (inspect.CO_GENERATOR | inspect.CO_ASYNC_GENERATOR):
        return False
    return _instructions(code) == _DO_NOTHING[is_async]


_API = list(SUPPORTED) + list(UNSUPPORTED)
_API_NAMES = frozenset(_API)


def _overrides(cls):
    """The callback methods ``cls`` overrides with a body that does something, below
    ``CustomLogger``/``CustomGuardrail``: ``{name: member}``."""
    found = {}
    for name in _API:
        for klass in cls.__mro__:
            if name in vars(klass):
                member = vars(klass)[name]
                if klass not in (CustomLogger, CustomGuardrail, object) and not _does_nothing(member):
                    found[name] = member
                break
    return found


def _accepted(method, name, where):
    """The keyword arguments LiteLLM passes ``name`` that ``method`` takes; an error when
    it requires one LiteLLM never passes."""
    offered = SUPPORTED[name][1]
    try:
        signature = inspect.signature(method)
    except (TypeError, ValueError):
        return list(offered)  # no signature to read (a builtin): pass everything, as LiteLLM does
    parameters = signature.parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
        return list(offered)
    by_name = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    accepted = [n for n in offered if n in parameters and parameters[n].kind in by_name]
    for parameter in parameters.values():
        if parameter.kind is inspect.Parameter.VAR_POSITIONAL:
            continue
        if parameter.default is inspect.Parameter.empty and parameter.name not in accepted:
            raise HandlerError(
                f"{where}.{name}{signature} requires `{parameter.name}`, which LiteLLM does not pass: "
                f"it passes {', '.join(offered)}, by name"
            )
    return accepted


def inspect_handler(handler):
    """The supported callback methods ``handler`` overrides, each with the keyword
    arguments it takes: ``{name: [argument, ...]}``. Raises :class:`HandlerError` for
    what hookgate cannot run (a class instead of an instance, not a ``CustomLogger``, an
    override of a method hookgate does not run, a signature LiteLLM could not call)."""
    if isinstance(handler, type):
        raise HandlerError(
            f"{handler.__name__} is a class: name an instance of it, as LiteLLM's `callbacks` setting does "
            f"(`proxy_handler_instance = {handler.__name__}()`)"
        )
    if not isinstance(handler, CustomLogger):
        raise HandlerError(
            f"{handler!r} is not a CustomLogger: LiteLLM's proxy runs the hooks of CustomLogger instances "
            "(subclass litellm.integrations.custom_logger.CustomLogger)"
        )
    cls = type(handler)
    where = f"{cls.__module__}.{cls.__qualname__}"
    on_instance = sorted(name for name in getattr(handler, "__dict__", {}) if name in SUPPORTED or name in UNSUPPORTED)
    if on_instance:
        raise HandlerError(
            f"{where}: {', '.join(on_instance)} set on the instance; define callback methods in the class, "
            "where build.py can see them"
        )
    found = _overrides(cls)
    unsupported = [name for name in found if name in UNSUPPORTED]
    if unsupported:
        raise HandlerError(unsupported_message(where, unsupported))
    return {name: _accepted(getattr(handler, name), name, where) for name in found}


def _fingerprint(handler):
    """What the overrides were decided from: the callback methods each class of the
    handler's MRO defines, and the instance's attributes. Read a class at a time: asking
    each class for each of the API's names took twice as long (12 against 6 µs a handler
    in CPython), and an unsealed plugin (see :func:`seal`) takes it at every construction."""
    members = tuple(
        (name, id(attributes[name]))
        for attributes in map(vars, type(handler).__mro__)
        for name in sorted(_API_NAMES.intersection(attributes))
    )
    return members, tuple(sorted(getattr(handler, "__dict__", {})))


# -- running the handler's methods


def _needs_loop(where, what):
    return Fail(
        f"{where} {what}: hookgate runs a handler's async methods to completion without an event loop, "
        "so only awaits that finish at once work (other coroutines, asyncio.sleep(0), an uncontended lock); "
        "sleeping, network I/O and tasks do not"
    )


def _drive(awaitable, where):
    """Runs ``awaitable`` to completion without an event loop: its value."""
    steps = awaitable.__await__()
    try:
        while True:
            signal = steps.send(None)
            if signal is not None:  # a Future: it needs a loop to resolve it
                steps.close()
                raise _needs_loop(where, f"awaited {signal!r}")
    except StopIteration as stop:
        return stop.value


def _is_loop_error(error):
    return isinstance(error, RuntimeError) and "event loop" in str(error)


def _print_traceback(error):
    traceback.print_exception(type(error), error, error.__traceback__, file=sys.stderr)


def _is_http_exception(value):
    # fastapi's own class (or Starlette's) if a test put the real one in: same shape.
    return isinstance(value, HTTPException) or (
        isinstance(value, BaseException)
        and type(value).__name__ == "HTTPException"
        and hasattr(value, "status_code")
        and hasattr(value, "detail")
    )


def _compact(value):
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str)


def _detail_message(detail, status):
    if isinstance(detail, str):
        return detail
    if isinstance(detail, dict) and isinstance(detail.get("error"), str):
        return detail["error"]
    if detail is None:
        try:
            return http.HTTPStatus(status).phrase
        except (TypeError, ValueError):
            return "rejected"
    return _compact(detail)


def _status(value):
    return value if isinstance(value, int) and not isinstance(value, bool) else 400


def _rejection(error):
    """The rejection a handler's exception stands for, or ``None`` (then it is a failure):
    an ``HTTPException`` (its status and detail), or a LiteLLM error with a 4xx status
    (what the LiteLLM proxy sends the client for either)."""
    if _is_http_exception(error):
        status = getattr(error, "status_code", 400)
        return Rejection(_status(status), _detail_message(getattr(error, "detail", None), status))
    if isinstance(error, APIError) and 400 <= _status(getattr(error, "status_code", 500)) < 500:
        code = getattr(error, "code", None)
        return Rejection(error.status_code, str(error.message), None if code is None else str(code))
    return None


def _reject_or_raise(error):
    rejection = _rejection(error)
    if rejection is not None:
        raise rejection from None
    raise error


def _sse_frame(text):
    """The JSON object of an SSE ``data:`` frame (LiteLLM sends a str chunk as it is, and
    callbacks return ``data: {"error": ...}`` frames to end a stream), or ``None``."""
    stripped = text.strip()
    if not stripped.startswith("data:"):
        return None
    try:
        value = json.loads(stripped[len("data:"):].strip())
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _frame_rejection(error):
    status = 400
    if isinstance(error, dict):
        code = error.get("code")
        if isinstance(code, int) and not isinstance(code, bool) and 400 <= code < 500:
            status = code
        for key in ("message", "error"):
            if isinstance(error.get(key), str):
                return Rejection(status, error[key])
        return Rejection(status, _compact(error))
    return Rejection(status, error if isinstance(error, str) else _compact(error))


def _dumps(value, where):
    try:
        return json.dumps(to_json(value), ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as error:
        raise Fail(f"{where}: the value to send is not JSON: {error}") from None


def _messages(data):
    for field in ("messages", "prompt", "input"):
        if field in data:
            return data[field]
    return None


def _response_object(call_type, body):
    kind = {"text_completion": TextCompletionResponse, "embedding": EmbeddingResponse}.get(call_type, ModelResponse)
    return kind._from_json(body)


def _chunk_text(chunk):
    """The answer text a chunk (JSON) adds, as LiteLLM's ``get_response_string``: every
    choice's delta content (or completion ``text``); ``""`` when none."""
    text = ""
    for choice in chunk.get("choices") or []:
        if not isinstance(choice, dict):
            continue
        delta = choice.get("delta")
        if isinstance(delta, dict) and isinstance(delta.get("content"), str):
            text += delta["content"]
        elif isinstance(choice.get("text"), str):
            text += choice["text"]
    return text


def _set_text(chunk, text, where):
    """``chunk`` (JSON) with its answer text replaced by ``text``: in its first choice
    (``delta.content``, or ``text`` in a completion chunk), the other choices' emptied."""
    choices = chunk.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise Fail(f"{where} returned text for a chunk that has no choice to carry it")
    chunk = copy.deepcopy(chunk)
    for position, choice in enumerate(chunk["choices"]):
        if not isinstance(choice, dict):
            continue
        value = text if position == 0 else ""
        if isinstance(choice.get("text"), str):
            choice["text"] = value
        elif position == 0 or isinstance((choice.get("delta") or {}).get("content"), str):
            if not isinstance(choice.get("delta"), dict):
                choice["delta"] = {}
            choice["delta"]["content"] = value
    return chunk


def _merge(chunks):
    """Several chunks (JSON) a stream iterator yielded for one input, as one: the first,
    with every later chunk's delta content (or ``text``) appended per choice, tool-call
    deltas added, and the last ``finish_reason`` and ``usage``."""
    merged = copy.deepcopy(chunks[0])
    if not isinstance(merged.get("choices"), list):
        merged["choices"] = []
    for later in chunks[1:]:
        for position, choice in enumerate(later.get("choices") or []):
            if not isinstance(choice, dict):
                continue
            index = choice.get("index", position)
            target = next(
                (c for p, c in enumerate(merged["choices"]) if isinstance(c, dict) and c.get("index", p) == index), None
            )
            if target is None:
                merged["choices"].append(copy.deepcopy(choice))
                continue
            if isinstance(choice.get("text"), str):
                target["text"] = (target.get("text") or "") + choice["text"]
            delta = choice.get("delta")
            if isinstance(delta, dict):
                if not isinstance(target.get("delta"), dict):
                    target["delta"] = {}
                into = target["delta"]
                for key, value in delta.items():
                    if key == "content" and isinstance(value, str):
                        into["content"] = (into.get("content") or "") + value
                    elif key == "tool_calls" and isinstance(value, list):
                        into["tool_calls"] = list(into.get("tool_calls") or []) + copy.deepcopy(value)
                    elif value is not None and into.get(key) is None:
                        into[key] = copy.deepcopy(value)
            if choice.get("finish_reason") is not None:
                target["finish_reason"] = choice["finish_reason"]
        if later.get("usage") is not None:
            merged["usage"] = copy.deepcopy(later["usage"])
    return merged


def _time(seconds):
    # LiteLLM hands loggers naive local datetimes (datetime.now()); the component's clock is UTC.
    return datetime.datetime.fromtimestamp(seconds) if seconds is not None else None


_BY_STATUS = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    408: Timeout,
    422: UnprocessableEntityError,
    429: RateLimitError,
    500: InternalServerError,
    503: ServiceUnavailableError,
    504: Timeout,
}


def _exception_of(failure, model=None):
    """The error the client got (a hookgate ``Failure``), as the exception LiteLLM would
    hand its failure hooks: ``HTTPException`` for a plugin's rejection, else the LiteLLM
    error class of its status; each with ``status_code``, ``message``, ``code``."""
    if failure.rejected_by:
        error = HTTPException(status_code=failure.status, detail=failure.message)
    else:
        if failure.code == "context_length_exceeded":
            kind = ContextWindowExceededError
        elif failure.error_type == "client_disconnected":
            kind = APIConnectionError
        else:
            kind = _BY_STATUS.get(failure.status, APIError)
        error = kind(failure.message, llm_provider=None, model=model, status_code=failure.status, code=failure.code)
    error.status_code = failure.status
    error.message = failure.message
    error.code = failure.code
    error.type = failure.error_type
    error.rejected_by = failure.rejected_by
    return error


# -- a stream through the handler's iterator


class _Waiting:
    """What the stream's input yields to the driver when the handler asks for a chunk
    that has not arrived yet."""


_WAITING = _Waiting()


@types.coroutine
def _wait_for_input():
    yield _WAITING


class _Input:
    """The ``response`` async iterator the handler's iterator hook reads: the chunks
    hookgate hands the plugin, one per stream-chunk call, then the end of the stream."""

    def __init__(self):
        self.queue = []
        self.ended = False

    def __aiter__(self):
        return self

    async def __anext__(self):
        while not self.queue:
            if self.ended:
                raise StopAsyncIteration
            await _wait_for_input()
        return self.queue.pop(0)


class _Stream:
    """The handler's stream iterator for one request, suspended between chunks."""

    def __init__(self, iterator, where):
        self.iterator = iterator
        self.where = where
        self.input = _Input()
        self.step = None  # the handler's pending __anext__, driven with send(None)
        self.finished = False

    def feed(self, chunk):
        """Hands the iterator ``chunk`` (``None``: the stream has ended) and runs it until
        it waits for the next chunk or finishes: what it yielded meanwhile."""
        if chunk is None:
            self.input.ended = True
        else:
            self.input.queue.append(chunk)
        out = []
        while not self.finished:
            if self.step is None:
                self.step = self.iterator.__anext__().__await__()
            try:
                signal = self.step.send(None)
            except StopIteration as stop:
                self.step = None
                out.append(stop.value)
                continue
            except StopAsyncIteration:
                self.step, self.finished = None, True
                break
            except BaseException:
                self.step, self.finished = None, True
                raise
            if signal is _WAITING:
                if not self.input.queue and not self.input.ended:
                    break
            elif signal is not None:
                self.finished = True
                raise _needs_loop(self.where, f"awaited {signal!r}")
        return out


# -- the plugin


class LiteLLMPlugin(Plugin):
    """A hookgate plugin running ``handler``, a LiteLLM ``CustomLogger``. Made by
    :func:`plugin_for`, which adds the hooks the handler's overrides need."""

    handler = None
    _methods = {}  # the handler's supported overrides, each with the arguments it takes
    _decided_from = None  # _fingerprint(handler) when _methods was decided
    _sealed = False  # checked by seal() at the end of the build: instances need not check

    def __init__(self, config):
        super().__init__(config)
        if config is not None:
            raise ValueError(
                "a LiteLLM handler takes no config: it is configured in its own module, which runs when the "
                "plugin is built; remove `config` from the plugin's settings"
            )
        if not self._sealed:
            type(self)._check_handler()
        self.cache = DualCache()

    @classmethod
    def _check_handler(cls):
        """The safety net: when the handler's class changed since the plugin's hooks were
        chosen, its overrides are read again, and a handler that now needs other hooks
        than the component exports is refused."""
        handler = cls.handler
        if _fingerprint(handler) != cls._decided_from:
            methods = inspect_handler(handler)
            if plugin_hooks(methods) != defined_hooks(cls):
                raise HandlerError(
                    f"{type(handler).__qualname__} now needs the hooks {', '.join(plugin_hooks(methods)) or 'none'}, "
                    f"but the component exports {', '.join(defined_hooks(cls)) or 'none'}: rebuild it"
                )
            cls._methods = methods
            cls._decided_from = _fingerprint(handler)

    def new_ctx(self):
        return types.SimpleNamespace(key=None, stream=None, so_far="", runs={})

    # -- helpers

    def _where(self, method):
        return f"{type(self.handler).__qualname__}.{method}"

    def _has(self, method):
        return method in self._methods

    def _call(self, method, **offered):
        """Runs the handler's ``method`` with the arguments it takes; an ``async`` one to
        completion. Its value."""
        arguments = {name: offered[name] for name in self._methods[method]}
        _litellm_logging.in_hook = True
        try:
            value = getattr(self.handler, method)(**arguments)
            if inspect.isawaitable(value):
                value = _drive(value, self._where(method))
            return value
        except RuntimeError as error:
            if _is_loop_error(error):
                _print_traceback(error)
                raise _needs_loop(self._where(method), f"raised {error!r}") from None
            raise
        finally:
            _litellm_logging.in_hook = False

    def _key(self, ctx, req, data=None):
        """The request's ``UserAPIKeyAuth``, one per request as in LiteLLM."""
        if ctx.key is None:
            key = req.key
            if data is None:
                data = req.json()
            user = data.get("user") if isinstance(data, dict) else None
            ctx.key = UserAPIKeyAuth(
                api_key=key.id,
                token=key.id,
                key_alias=_alias(key),
                user_id=key.user_id,
                team_id=key.team_id,
                metadata=key.metadata,
                end_user_id=user if isinstance(user, str) else None,
                user_role="proxy_admin" if key.alias == _MASTER else None,
            )
        return ctx.key

    def _runs(self, ctx, event, data=None, req=None):
        """Whether a ``CustomGuardrail`` handler runs for ``event`` (LiteLLM asks
        ``should_run_guardrail``, once per request and event here); a plain
        ``CustomLogger`` always does. ``data``: the request, else parsed from ``req``.

        The host has already chosen this plugin for the request (its ``default_on``, the
        team's and key's lists, the request's ``guardrails``, which it takes out of the
        body) and calls only the hooks of the modes it runs in. So the handler is asked
        with the request naming it, as LiteLLM's would be when it runs: its own
        ``default_on`` (False unless its constructor said otherwise) and the names the
        host took out must not make a guardrail the host runs do nothing."""
        if not isinstance(self.handler, CustomGuardrail):
            return True
        if event not in ctx.runs:
            if data is None:
                data = req.json()
            named = dict(data, guardrails=[getattr(self.handler, "guardrail_name", None)])
            _litellm_logging.in_hook = True
            try:
                ctx.runs[event] = bool(self.handler.should_run_guardrail(data=named, event_type=GuardrailEventHooks(event)))
            finally:
                _litellm_logging.in_hook = False
        return ctx.runs[event]

    def _observe(self, method, **offered):
        """Runs an observing method whose errors LiteLLM logs and ignores."""
        try:
            self._call(method, **offered)
        except Exception as error:  # LiteLLM: "[Non-Blocking]" log line, the request goes on
            _print_traceback(error)
            log.error(f"{self._where(method)} raised {type(error).__name__}: {error} (ignored, as LiteLLM does)")

    def _call_details(self, req, data, entry=None):
        """LiteLLM's ``kwargs`` for logging callbacks (``Logging.model_call_details``),
        from what hookgate knows."""
        key = req.key
        messages = _messages(data)
        call_type = _CALL_TYPES.get(req.call_type, req.call_type)
        model = data.get("model")
        if entry is not None:
            model = entry.model_used or entry.model
        body_metadata = data.get("metadata") if isinstance(data.get("metadata"), dict) else None
        metadata = {
            "user_api_key": key.id,
            "user_api_key_hash": key.id,
            "user_api_key_alias": _alias(key),
            "user_api_key_user_id": key.user_id,
            "user_api_key_team_id": key.team_id,
            "user_api_key_metadata": key.metadata,
            "user_api_key_end_user_id": data.get("user") if isinstance(data.get("user"), str) else None,
            "requester_metadata": body_metadata,
        }
        details = {
            "model": model,
            "messages": messages,
            "input": messages,
            "optional_params": {k: v for k, v in data.items() if k not in ("model", "messages", "prompt", "input")},
            "litellm_params": {
                "metadata": metadata,
                "api_base": entry.api_base if entry is not None else None,
                "proxy_server_request": {"body": data, "headers": dict(req.headers())},
            },
            "litellm_call_id": req.id,
            "litellm_trace_id": req.id,
            "call_type": call_type,
            "stream": req.stream,
            "user": metadata["user_api_key_end_user_id"],
        }
        return details

    # -- the hooks (plugin_for attaches those the handler needs)

    def _pre_call(self, ctx, req):
        # Two parses of the body's text, not a parse and a deepcopy: json's parser is C,
        # copy.deepcopy Python, walking every value.
        text = req.body()
        data, original = json.loads(text), json.loads(text)
        key = self._key(ctx, req, data)
        if not self._runs(ctx, "pre_call", data):
            return None
        try:
            result = self._call(
                "async_pre_call_hook", user_api_key_dict=key, cache=self.cache, data=data,
                call_type=_CALL_TYPES.get(req.call_type, req.call_type),
            )  # fmt: skip
        except RejectedRequestError as rejected:
            return PreCall.respond(str(rejected.message))
        except Exception as error:
            _reject_or_raise(error)
        # LiteLLM's process_pre_call_hook_response: an exception is raised, a dict is the
        # request, anything else leaves the request as edited in place. A str is refused
        # with a 400 saying it: LiteLLM answers with it only for the call types
        # "completion" and "text_completion", which its proxy does not pass (its routes
        # are "acompletion", ...); RejectedRequestError answers.
        if isinstance(result, RejectedRequestError):
            return PreCall.respond(str(result.message))
        if isinstance(result, BaseException):
            _reject_or_raise(result)
        if isinstance(result, str):
            _reject_or_raise(HTTPException(status_code=400, detail={"error": result}))
        if isinstance(result, dict):
            data = result
        if data != original:
            req.set_body(_dumps(data, self._where("async_pre_call_hook")))
        return None

    def _moderation(self, ctx, req):
        """LiteLLM's call of the model: ``log_pre_api_call`` as it starts (after every
        pre-call hook, with the request as sent), ``async_moderation_hook`` beside it."""
        data = req.json()
        self._pre_api_call(req, data)
        if not self._has("async_moderation_hook") or not self._runs(ctx, "during_call", data):
            return None
        key = self._key(ctx, req, data)
        try:
            self._call(
                "async_moderation_hook", data=data, user_api_key_dict=key,
                call_type=_CALL_TYPES.get(req.call_type, req.call_type),
            )  # fmt: skip
        except Exception as error:
            _reject_or_raise(error)
        return None  # LiteLLM ignores what it returns

    def _post_call_success(self, ctx, req, resp):
        data = req.json()
        key = self._key(ctx, req, data)
        text = resp.body()
        response = _response_object(req.call_type, json.loads(text))  # the handler's to edit
        edited = None  # the response as the success hook left it, when it ran
        if self._has("async_post_call_success_hook") and self._runs(ctx, "post_call", data):
            try:
                result = self._call("async_post_call_success_hook", data=data, user_api_key_dict=key, response=response)
            except Exception as error:
                _reject_or_raise(error)
            if result is not None:  # LiteLLM: a non-None return replaces the response
                response = result
            where = self._where("async_post_call_success_hook")
            if not isinstance(response, dict) and not hasattr(response, "to_dict"):
                raise Fail(f"{where} returned {type(response).__name__}: return the response (edited or a new one) or None")
            edited = to_json(response)
        headers = {}
        if self._has("async_post_call_response_headers_hook"):
            method = "async_post_call_response_headers_hook"
            try:
                result = self._call(
                    method, data=data, user_api_key_dict=key, response=response, request_headers=dict(req.headers()),
                    litellm_call_info={"custom_llm_provider": None, "model_info": None, "api_base": None, "model_id": None},
                )  # fmt: skip
            except Exception as error:  # LiteLLM logs it and sends no headers from its callbacks
                _print_traceback(error)
                log.error(f"{self._where(method)} raised {type(error).__name__}: {error} (no headers added, as LiteLLM does)")
                result = None
            if result is not None and not isinstance(result, dict):
                log.error(f"{self._where(method)} returned {type(result).__name__}, not a dict of headers (ignored)")
            elif result:
                headers = result
        # Only the success hook edits the answer; the headers hook adds headers.
        if edited is not None and edited != json.loads(text):
            resp.set_body(_dumps(edited, self._where("async_post_call_success_hook")))
        for name, value in headers.items():
            try:
                resp.set_header(str(name), str(value))
            except EditError as error:
                log.error(f"{self._where('async_post_call_response_headers_hook')}: header {name!r} not set: {error}")
        return None

    def _post_call_failure(self, ctx, req, failure):
        data = req.json()
        key = self._key(ctx, req, data)
        method = "async_post_call_failure_hook"
        try:
            result = self._call(
                method, request_data=data, user_api_key_dict=key, traceback_str=None,
                original_exception=_exception_of(failure, data.get("model")),
            )  # fmt: skip
        except Exception as error:
            if _is_http_exception(error):
                raise _rejection(error) from None
            _print_traceback(error)
            log.error(f"{self._where(method)} raised {type(error).__name__}: {error} (ignored, as LiteLLM does)")
            return None
        if _is_http_exception(result):  # LiteLLM: a returned HTTPException replaces the client's error
            raise _rejection(result)
        return None

    def _start_stream(self, ctx, req):
        data = req.json()
        if not self._runs(ctx, "post_call", data):
            ctx.stream = False
            return ctx.stream
        method = "async_post_call_streaming_iterator_hook"
        stream = _Stream(None, self._where(method))
        try:
            iterator = self._call(method, user_api_key_dict=self._key(ctx, req, data), response=stream.input, request_data=data)
        except Exception as error:
            _reject_or_raise(error)
        if not hasattr(iterator, "__anext__"):
            raise Fail(
                f"{self._where(method)} returned {type(iterator).__name__}, not an async iterator: write it as an async "
                "generator (`async for chunk in response: ... yield chunk`)"
            )
        stream.iterator = iterator
        ctx.stream = stream
        return stream

    def _feed(self, stream, chunk):
        _litellm_logging.in_hook = True
        try:
            return stream.feed(chunk)
        except Exception as error:
            if _is_loop_error(error):
                _print_traceback(error)
                raise _needs_loop(stream.where, f"raised {error!r}") from None
            _reject_or_raise(error)
        finally:
            _litellm_logging.in_hook = False

    def _chunk_json(self, value, where):
        """A chunk the handler produced, as JSON; a str ``data: {"error": ...}`` frame
        ends the stream with that error."""
        if isinstance(value, str):
            frame = _sse_frame(value)
            if frame is not None and "error" in frame:
                raise _frame_rejection(frame["error"])
            if frame is not None:
                return frame
            raise Fail(f"{where} produced the str {value[:80]!r}: a chunk is a ModelResponseStream or a dict")
        if isinstance(value, dict) or hasattr(value, "to_dict"):
            return to_json(value)
        raise Fail(f"{where} produced {type(value).__name__}: a chunk is a ModelResponseStream or a dict")

    def _stream_chunk(self, ctx, req, chunk):
        text = chunk.body()
        body = json.loads(text)
        outputs = [body]
        if self._has("async_post_call_streaming_iterator_hook"):
            stream = ctx.stream if ctx.stream is not None else self._start_stream(ctx, req)
            if stream:
                yielded = self._feed(stream, ModelResponseStream._from_json(json.loads(text)))
                outputs = [self._chunk_json(item, stream.where) for item in yielded]
        if not outputs:
            return ChunkOutcome.DROP
        sent = outputs[0] if len(outputs) == 1 else _merge(outputs)
        if self._has("async_post_call_streaming_hook") and self._runs(ctx, "post_call", req=req):
            method = "async_post_call_streaming_hook"
            where = self._where(method)
            given = ctx.so_far + _chunk_text(sent)  # LiteLLM: the text so far plus this chunk's
            try:
                result = self._call(method, user_api_key_dict=self._key(ctx, req), response=given)
            except Exception as error:
                _reject_or_raise(error)
            if isinstance(result, str) and result != given:  # handing back what it got changes nothing
                frame = _sse_frame(result)
                sent = self._chunk_json(result, where) if frame is not None else _set_text(sent, result, where)
            elif result is not None and not isinstance(result, str):
                sent = self._chunk_json(result, where)
        ctx.so_far += _chunk_text(sent)
        if sent != body:
            chunk.set_body(_dumps(sent, "the stream's chunk"))
        return None

    def _stream_end(self, ctx, req, text):
        stream = ctx.stream if ctx.stream is not None else self._start_stream(ctx, req)
        if not stream:
            return None
        late = self._feed(stream, None)
        if late:
            chunks = [self._chunk_json(item, stream.where) for item in late]
            characters = sum(len(_chunk_text(c)) for c in chunks)
            raise Fail(
                f"{stream.where} yielded {len(chunks)} chunk(s) ({characters} characters of text) after the stream's "
                "last chunk: hookgate sends what the iterator yields for a chunk with that chunk, so these were not "
                "sent. Yield everything by the chunk that carries finish_reason."
            )
        return None

    def _redacted(self):
        return bool(getattr(self.handler, "turn_off_message_logging", False))

    def _log_event(self, sync_method, kwargs, response_obj, entry, both=False):
        """The async twin of ``sync_method`` if the handler has it, else the sync one; with
        ``both``, each the handler has, async first (as LiteLLM's proxy logs a request its
        pre-call hooks refused)."""
        async_method = TWINS[sync_method]
        methods = [m for m in (async_method, sync_method) if self._has(m)]
        for method in methods if both else methods[:1]:
            self._call(method, kwargs=kwargs, response_obj=response_obj, start_time=_time(entry.start_time), end_time=_time(entry.end_time))

    def _pre_api_call(self, req, data):
        """``log_pre_api_call``: LiteLLM calls it, never its async twin; hookgate runs that
        one only for a handler without the sync one."""
        for method in ("log_pre_api_call", "async_log_pre_api_call"):
            if self._has(method):
                self._observe(method, model=data.get("model"), messages=_messages(data), kwargs=self._call_details(req, data))
                return

    def _post_api_call(self, kwargs, entry):
        """``log_post_api_call``, which LiteLLM runs once the model has answered, before the
        success event, with no response object and no end time (as LiteLLM passes them)."""
        if self._has("log_post_api_call"):
            self._observe("log_post_api_call", kwargs=kwargs, response_obj=None, start_time=_time(entry.start_time), end_time=None)

    def _log_kwargs(self, req, data, entry, status, response=None, exception=None):
        details = self._call_details(req, data, entry)
        usage = entry.usage
        messages = details["messages"]
        if self._redacted():
            messages = [{"role": "user", "content": _REDACTED}]
            response = _REDACTED if response is not None else None
            details["messages"] = details["input"] = messages
        cost = entry.response_cost
        if status == "failure" and cost is None:
            cost = 0.0  # LiteLLM logs failures at cost 0
        failure = entry.failure
        standard = {
            "id": req.id,
            "trace_id": req.id,
            "call_id": req.id,
            "call_type": details["call_type"],
            "stream": req.stream,
            "status": status,
            "response_cost": cost if cost is not None else 0.0,
            "response_cost_failure_debug_info": (
                {"error_message": "the deployment has no price, or the upstream reported no usage"}
                if cost is None else None
            ),
            "custom_llm_provider": None,
            "prompt_tokens": usage.prompt_tokens if usage else 0,
            "completion_tokens": usage.completion_tokens if usage else 0,
            "total_tokens": usage.total_tokens if usage else 0,
            "startTime": entry.start_time,
            "endTime": entry.end_time,
            "completionStartTime": entry.completion_start_time if entry.completion_start_time is not None else entry.end_time,
            "response_time": entry.end_time - entry.start_time,
            "model": entry.model_used or entry.model,
            "model_id": None,
            # LiteLLM's model group is the model of the request as its pre-call hooks left it.
            "model_group": data.get("model") if isinstance(data.get("model"), str) else entry.model,
            "api_base": entry.api_base or "",
            "metadata": {
                "user_api_key_hash": req.key.id,
                "user_api_key_alias": _alias(req.key),
                "user_api_key_user_id": req.key.user_id,
                "user_api_key_team_id": req.key.team_id,
                "user_api_key_org_id": None,
                "user_api_key_team_alias": None,
                "user_api_key_end_user_id": entry.end_user,
                "spend_logs_metadata": None,
                "requester_ip_address": None,
                "requester_metadata": details["litellm_params"]["metadata"]["requester_metadata"],
            },
            "cache_hit": False,
            "cache_key": None,
            "saved_cache_cost": 0.0,
            "request_tags": [],
            "end_user": entry.end_user or "",
            "requester_ip_address": None,
            "messages": messages,
            "response": response,
            "error_str": failure.message if failure else None,
            "error_information": (
                {
                    "error_code": str(failure.status),
                    "error_class": type(exception).__name__ if exception is not None else None,
                    "llm_provider": "",
                    "traceback": "",
                    "error_message": failure.message,
                }
                if failure else None
            ),
            "model_parameters": details["optional_params"],
            "hidden_params": {
                "model_id": None,
                "cache_key": None,
                "api_base": entry.api_base,
                "response_cost": entry.response_cost,
                "additional_headers": None,
                "litellm_overhead_time_ms": None,
            },
            "guardrail_information": None,
        }
        details.update(
            start_time=_time(entry.start_time),
            end_time=_time(entry.end_time),
            completion_start_time=_time(standard["completionStartTime"]),
            response_cost=cost,
            cache_hit=False,
            standard_logging_object=standard,
        )
        if exception is not None:
            details["exception"] = exception
            details["traceback_exception"] = None
        return details

    def _log_success(self, ctx, req, resp, entry):
        if any(d.hook == "pre-call" and d.decision == "respond" for d in entry.decisions):
            return  # answered in pre-call (RejectedRequestError): LiteLLM logs no event for it
        data = req.json()
        text = resp.body()
        body = json.loads(text)
        response_obj = _response_object(req.call_type, json.loads(text))
        if self._redacted():
            for choice in response_obj.get("choices") or []:
                target = choice.get("message") or choice
                if "content" in target or "text" in target:
                    target["content" if "content" in target else "text"] = _REDACTED
        kwargs = self._log_kwargs(req, data, entry, "success", response=body)
        if req.stream:
            kwargs["complete_streaming_response"] = response_obj
            kwargs["async_complete_streaming_response"] = response_obj
        self._post_api_call(kwargs, entry)
        self._log_event("log_success_event", kwargs, response_obj, entry)

    def _log_failure(self, ctx, req, entry):
        data = req.json()
        # A request a pre-call hook refused never reached moderation, where hookgate runs
        # log_pre_api_call; LiteLLM logs such a request as a call all the same, and with
        # both failure twins (a failure after the call started: the async one only).
        refused_in_pre_call = any(d.hook == "pre-call" and d.decision == "reject" for d in entry.decisions)
        if refused_in_pre_call:
            self._pre_api_call(req, data)
        exception = _exception_of(entry.failure, data.get("model")) if entry.failure is not None else None
        kwargs = self._log_kwargs(req, data, entry, "failure", exception=exception)
        self._log_event("log_failure_event", kwargs, None, entry, both=refused_in_pre_call)


_HOOK_METHODS = {
    "pre_call": LiteLLMPlugin._pre_call,
    "moderation": LiteLLMPlugin._moderation,
    "post_call_success": LiteLLMPlugin._post_call_success,
    "post_call_failure": LiteLLMPlugin._post_call_failure,
    "stream_chunk": LiteLLMPlugin._stream_chunk,
    "stream_end": LiteLLMPlugin._stream_end,
    "log_success": LiteLLMPlugin._log_success,
    "log_failure": LiteLLMPlugin._log_failure,
}


def plugin_for(handler, name=None, version="0.0.0"):
    """A :class:`~hookgate_sdk.Plugin` subclass running ``handler`` (a LiteLLM
    ``CustomLogger`` instance), with exactly the hooks its overrides need. ``name`` is
    the plugin's name (build.py passes ``<module>.<handler>``, the name LiteLLM's
    ``callbacks`` setting gives it). Raises :class:`HandlerError` for a handler hookgate
    cannot run."""
    methods = inspect_handler(handler)
    namespace = {
        "__module__": __name__,
        "__doc__": f"hookgate plugin running the LiteLLM handler {type(handler).__qualname__}.",
        "name": name or type(handler).__name__,
        "version": version,
        "handler": handler,
        "_methods": methods,
        "_decided_from": _fingerprint(handler),
    }
    for hook in plugin_hooks(methods):
        namespace[hook] = _HOOK_METHODS[hook]
    return type(f"LiteLLM_{type(handler).__name__}", (LiteLLMPlugin,), namespace)


def seal(plugin_class):
    """Checks the handlers of ``plugin_class`` (made by :func:`plugin_for` or
    :func:`bundle_for`) as a plugin's first instance would, and spares its instances the
    check. build.py's entry module calls it once the callback module has run, while
    componentize-py pre-initializes the component: every instance starts from that
    state, with no code of the handler's run in between, so the check could only find
    what it finds here, and it cost each fresh instance a few µs a handler. Returns
    ``plugin_class``."""
    members = [member for _, member in plugin_class.members] if issubclass(plugin_class, Bundle) else [plugin_class]
    for member in members:
        member._check_handler()
        member._sealed = True
    return plugin_class


def bundle_for(handlers, name, version="0.0.0"):
    """A :class:`~hookgate_sdk.Bundle` running several LiteLLM handlers in one component:
    one interpreter a request instead of one per handler. ``handlers`` is a list of
    ``(member name, handler)`` pairs, run in that order, each wrapped as
    :func:`plugin_for` wraps it alone; ``name`` is the bundle's plugin name. build.py's
    ``--bundle`` passes ``<module>.<handler>`` member names, the names LiteLLM's
    ``callbacks`` gives the handlers, so a member's failure names the handler as the
    config would. Its ``cache`` keys are prefixed ``<member>/``: a handler moved into a
    bundle starts with an empty cache."""
    members = [(member, plugin_for(handler, name=member, version=version)) for member, handler in handlers]
    namespace = {
        "__module__": __name__,
        "__doc__": f"hookgate plugin running the LiteLLM handlers {', '.join(member for member, _ in members)}.",
        "name": name,
        "version": version,
        "members": members,
    }
    return type("LiteLLMBundle", (Bundle,), namespace)
