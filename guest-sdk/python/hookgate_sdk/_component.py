"""The component's exports, over componentize-py's generated bindings: not an API.

build.py generates an entry module that imports the plugin module (which calls
``export(...)``) and then takes from :func:`exports` the classes componentize-py looks
for, one per exported interface: ``Setup`` and, for each hook the plugin defines, the
interface's class (``PreCall``, ``StreamChunk``, ...). Each converts the host's values to
the SDK's (wrapping the ``content`` resources), runs the hook through
:class:`~hookgate_sdk._export.Exported`, and converts the outcome, the rejection or the
failure back.
"""

import importlib
import weakref

from componentize_py_types import Err
from wit_world.imports import config as _config  # noqa: F401 - imported while componentize-py
from wit_world.imports import content as _content
from wit_world.imports import kv as _kv  # noqa: F401 - builds, for the SDK to find at run time
from wit_world.imports import log as _log  # noqa: F401
from wit_world.imports import hookgate_plugin_types as _wit
from wit_world.imports import outgoing_handler as _outgoing_handler  # noqa: F401 - for hookgate_sdk.http
from wit_world.imports import streams as _streams  # noqa: F401
from wit_world.imports import wasi_http_types as _wasi_http_types  # noqa: F401

from ._export import ConfigRefused, HookFailed, registered
from .content import CallContext, Chunk, Decision, Failure, Key, LogEntry, Request, Response, Usage
from .errors import EditError, Rejection
from .plugin import HOOKS

_U32 = 2**32 - 1

# componentize-py wraps every resource the host lends a hook (the request, the response, a
# chunk) in a `weakref.finalize`, and the first finalize of a process imports `atexit` to
# register itself: an import through importlib's Python code that cost each fresh instance
# about 90 µs of the 500 a do-nothing Python plugin costs (BENCHMARKS.md, "A fresh Python
# instance"). One finalize made and detached here, while componentize-py pre-initializes
# the component, leaves that registration in the snapshot every instance starts from.
weakref.finalize(Err, int).detach()


def _edit_error(error):
    case = error.value
    if isinstance(case, _content.EditError_ReadOnly):
        return EditError("read_only")
    if isinstance(case, _content.EditError_NoSuchText):
        return EditError("no_such_text", case.value)
    if isinstance(case, _content.EditError_TooLarge):
        return EditError("too_large", case.value)
    return EditError("invalid", getattr(case, "value", str(case)))


def _editing(call, *args):
    try:
        return call(*args)
    except Err as error:
        raise _edit_error(error) from None


class HostDoc:
    """One of the host's ``content`` resources, as the SDK's wrappers use it: the host's
    edit errors raised as :class:`~hookgate_sdk.EditError`."""

    __slots__ = ("_resource",)

    def __init__(self, resource):
        self._resource = resource

    def texts(self):
        return self._resource.texts()

    def set_texts(self, pairs):
        for index, _ in pairs:
            if not 0 <= index <= _U32:
                raise EditError("no_such_text", index)
        edits = [_content.TextEdit(index=index, text=text) for index, text in pairs]
        _editing(self._resource.set_texts, edits)

    def field_names(self):
        return self._resource.field_names()

    def field(self, name):
        return self._resource.field(name)

    def set_field(self, name, json_text):
        _editing(self._resource.set_field, name, json_text)

    def body(self):
        return self._resource.body()

    def set_body(self, json_text):
        _editing(self._resource.set_body, json_text)

    def headers(self):
        return self._resource.headers()

    def set_header(self, name, value):
        _editing(self._resource.set_header, name, value)

    def model(self):
        return self._resource.model()

    def status(self):
        return self._resource.status()

    def finish_reason(self, choice):
        if not 0 <= choice <= _U32:
            return None
        return self._resource.finish_reason(choice)

    def set_content(self, choice, text):
        if not 0 <= choice <= _U32:
            raise EditError("invalid", f"the chunk has no choice {choice}")
        _editing(self._resource.set_content, choice, text)


def call_type(value):
    """The contract's call-type as the SDK's string."""
    if isinstance(value, _wit.CallType_ChatCompletion):
        return "chat_completion"
    if isinstance(value, _wit.CallType_TextCompletion):
        return "text_completion"
    if isinstance(value, _wit.CallType_Embedding):
        return "embedding"
    return str(value.value)


def context(call):
    """The contract's call-context as a :class:`~hookgate_sdk.CallContext`."""
    key = call.key
    return CallContext(
        call.request_id,
        call_type(call.call_type),
        Key(key.alias, key.id, key.user_id, key.team_id, key.metadata),
        call.stream,
    )


def failure(value):
    """The contract's failure record as the SDK's."""
    if value is None:
        return None
    return Failure(value.status, value.error_type, value.message, value.code, value.rejected_by)


def log_entry(entry):
    """The contract's log-entry as the SDK's."""
    usage = entry.usage
    return LogEntry(
        model=entry.model,
        model_used=entry.model_used,
        api_base=entry.api_base,
        end_user=entry.end_user,
        status_code=entry.status_code,
        usage=None if usage is None else Usage(usage.prompt_tokens, usage.completion_tokens, usage.total_tokens),
        response_cost=entry.response_cost,
        start_time=entry.start_time,
        end_time=entry.end_time,
        completion_start_time=entry.completion_start_time,
        failure=failure(entry.failure),
        decisions=[
            Decision(d.plugin, d.hook, d.decision, d.cause, d.calls, d.started_ms, d.elapsed_ms) for d in entry.decisions
        ],
        truncated=list(entry.truncated),
    )


def _rejection(rejection):
    status = rejection.status
    if isinstance(status, bool) or not isinstance(status, int) or not 0 <= status <= 0xFFFF:
        status = 400  # the host clamps anything outside 400..=499 to 400 too
    code = rejection.code
    return _wit.Rejection(status=status, message=str(rejection.message), code=None if code is None else str(code))


def _run(exported, hook, call, *args):
    """Runs a hook of ``exported`` (the component's plugin) that answers with ``hook-error``."""
    try:
        return exported.dispatch(hook, call, *args)
    except Rejection as rejection:
        raise Err(_wit.HookError_Reject(_rejection(rejection))) from None
    except HookFailed as failed:
        raise Err(_wit.HookError_Fail(failed.message)) from None


def _run_logging(exported, hook, call, *args):
    """Runs a logging hook of ``exported`` (which fails with a plain string)."""
    try:
        exported.dispatch(hook, call, *args)
    except (HookFailed, Rejection) as failed:
        raise Err(str(getattr(failed, "message", failed))) from None


def _setup(exported):
    setup = importlib.import_module("wit_world.exports.setup")

    class Setup:
        def describe(self):
            name, version = exported.describe()
            return setup.PluginInfo(name=name, version=version)

        def init(self, config):
            try:
                exported.init(config)
            except ConfigRefused as refused:
                raise Err(str(refused)) from None

    return Setup


def _pre_call(exported):
    outcomes = importlib.import_module("wit_world.exports.pre_call")

    class PreCall:
        def pre_call(self, ctx, req):
            call = context(ctx)
            outcome = _run(exported, "pre_call", call, Request(call, HostDoc(req)))
            if outcome is None:
                return outcomes.PreCallOutcome_Proceed()
            return outcomes.PreCallOutcome_Respond(outcome.text)

    return PreCall


def _moderation(exported):
    class Moderation:
        def moderation(self, ctx, req):
            call = context(ctx)
            _run(exported, "moderation", call, Request(call, HostDoc(req)))

    return Moderation


def _post_call_success(exported):
    class PostCallSuccess:
        def post_call_success(self, ctx, req, resp):
            call = context(ctx)
            _run(exported, "post_call_success", call, Request(call, HostDoc(req)), Response(HostDoc(resp)))

    return PostCallSuccess


def _post_call_failure(exported):
    class PostCallFailure:
        def post_call_failure(self, ctx, req, failure_):
            call = context(ctx)
            _run(exported, "post_call_failure", call, Request(call, HostDoc(req)), failure(failure_))

    return PostCallFailure


def _stream_chunk(exported):
    outcomes = importlib.import_module("wit_world.exports.stream_chunk")

    class StreamChunk:
        def stream_chunk(self, ctx, req, chunk):
            call = context(ctx)
            outcome = _run(exported, "stream_chunk", call, Request(call, HostDoc(req)), Chunk(HostDoc(chunk)))
            return getattr(outcomes.ChunkOutcome, outcome.name)

    return StreamChunk


def _stream_end(exported):
    class StreamEnd:
        def stream_end(self, ctx, req, text):
            call = context(ctx)
            _run(exported, "stream_end", call, Request(call, HostDoc(req)), text)

    return StreamEnd


def _log_success(exported):
    class LogSuccess:
        def log_success(self, ctx, req, resp, entry):
            call = context(ctx)
            _run_logging(exported, "log_success", call, Request(call, HostDoc(req)), Response(HostDoc(resp)), log_entry(entry))

    return LogSuccess


def _log_failure(exported):
    class LogFailure:
        def log_failure(self, ctx, req, entry):
            call = context(ctx)
            _run_logging(exported, "log_failure", call, Request(call, HostDoc(req)), log_entry(entry))

    return LogFailure


_MAKERS = {
    "pre_call": _pre_call,
    "moderation": _moderation,
    "post_call_success": _post_call_success,
    "post_call_failure": _post_call_failure,
    "stream_chunk": _stream_chunk,
    "stream_end": _stream_end,
    "log_success": _log_success,
    "log_failure": _log_failure,
}


def exports(hooks):
    """The classes componentize-py exports: ``Setup``, then one per hook in ``hooks``
    (the hooks build.py found in the plugin class's body, which the world exports).

    Checks them against the hooks the exported class defines at run time, so that a hook
    build.py could not see (set on the class some other way) fails the build instead of
    never being called."""
    exported = registered()
    if list(hooks) != exported.hooks:
        missing = [HOOKS[h] for h in exported.hooks if h not in hooks]
        extra = [HOOKS[h] for h in hooks if h not in exported.hooks]
        raise RuntimeError(
            f"{exported.plugin_class.__name__}: the hooks in its class body ({', '.join(HOOKS[h] for h in hooks) or 'none'}) "
            f"are not the hooks it has ({', '.join(HOOKS[h] for h in exported.hooks) or 'none'})"
            + (f"; not found by build.py: {', '.join(missing)}" if missing else "")
            + (f"; not hooks at run time: {', '.join(extra)}" if extra else "")
            + ". Define hook methods with `def` in the class body (or in a base class defined in the same folder)."
        )
    return [_setup(exported)] + [_MAKERS[hook](exported) for hook in hooks]
