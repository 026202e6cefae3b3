"""The :class:`Plugin` base class: a constructor, a per-request context, and one method
per hook, each a no-op unless a subclass defines it."""

import types

__all__ = ["Plugin", "HOOKS"]

# The hook methods, in the contract's order, and the WIT interface each one exports.
HOOKS = {
    "pre_call": "pre-call",
    "moderation": "moderation",
    "post_call_success": "post-call-success",
    "post_call_failure": "post-call-failure",
    "stream_chunk": "stream-chunk",
    "stream_end": "stream-end",
    "log_success": "log-success",
    "log_failure": "log-failure",
}


class Plugin:
    """A hookgate plugin: subclass it, define the hooks you need, and export it with
    ``export(MyPlugin)``. The component exports exactly the hooks the class defines; the
    host calls no others.

    ``name`` and ``version`` (class attributes) are what the host reports.

    **State.** The SDK makes the plugin object once per component instance, from the
    config (``__init__(self, config)``: the parsed JSON, ``None`` when none was given;
    raise to refuse a bad config at load, the message goes to the operator). What it
    keeps on ``self`` is configuration, the same for every request. State of one request
    goes in ``ctx``: the SDK calls :meth:`new_ctx` for every request (it tells requests
    apart by their id, which the host never repeats) and passes the result to each of the
    request's hooks. That holds however the operator runs the plugin, an instance per
    request or one serving request after request (``instances: reuse``): no hook sees
    another request's context and nothing needs resetting by hand. State that must
    outlive a request (a counter, a rate window) belongs in :mod:`hookgate_sdk.kv`.

    **Answers.** Return ``None`` to go on; ``PreCall.respond(text)`` from ``pre_call``
    answers directly; ``ChunkOutcome.DROP`` from ``stream_chunk`` drops the chunk.
    ``raise Rejection(...)`` refuses (the client gets its 4xx). Any other exception is a
    failure: the host applies the plugin's ``on_error`` policy, as it does for a trap.
    """

    name = "python-plugin"
    version = "0.1.0"

    def __init__(self, config):
        self.config = config

    def new_ctx(self):
        """A fresh per-request context: by default an empty namespace (set attributes on
        it freely). Override to start each request with something else."""
        return types.SimpleNamespace()

    # The hooks. The base class's do nothing; the SDK exports only those a subclass
    # defines (build.py reads them from the class body).

    def pre_call(self, ctx, req):
        """Before the upstream call, in priority order among plugins: edit ``req`` (its
        texts, fields, body), answer with ``PreCall.respond(text)``, or raise a
        :class:`~hookgate_sdk.Rejection`."""

    def moderation(self, ctx, req):
        """Concurrently with the upstream call: raise a rejection to cancel it. ``req``
        is read-only."""

    def post_call_success(self, ctx, req, resp):
        """After a successful non-streaming upstream call: edit ``resp`` (texts, fields,
        body, headers) or raise a rejection."""

    def post_call_failure(self, ctx, req, failure):
        """After any upstream or proxy error (``failure.status``, ``.error_type``,
        ``.message``, ``.code``, ``.rejected_by``): returning keeps the client's error, the
        first rejection among plugins replaces it."""

    def stream_chunk(self, ctx, req, chunk):
        """Once per streamed chunk: edit it, return ``ChunkOutcome.DROP``, or raise a
        rejection (the stream ends with an SSE error event)."""

    def stream_end(self, ctx, req, text):
        """Once when a stream ends, with the assembled text: the content, then the
        refusal, each tool call's name and arguments, the audio transcript and the
        texts of any other field (``reasoning_content``, an annotation's title), each
        on a line of its own
        (exactly the content when there is nothing else); a rejection adds an SSE error
        event before ``[DONE]`` (the text has been sent)."""

    def log_success(self, ctx, req, resp, entry):
        """Off the response path, after a success: ``req``, ``resp`` (read-only) and the
        :class:`~hookgate_sdk.LogEntry`. An exception is logged as the plugin's fault."""

    def log_failure(self, ctx, req, entry):
        """Off the response path, after a failure (``entry.failure`` is the error the
        client got). Read-only."""


def defined_hooks(plugin_class):
    """The hook methods ``plugin_class`` defines (overrides), in the contract's order."""
    return [hook for hook in HOOKS if getattr(plugin_class, hook, None) is not getattr(Plugin, hook)]
