"""Write hookgate plugins in Python (contract ``hookgate:plugin@0.2``).

A plugin is a subclass of :class:`Plugin` that defines only the hooks it needs; the
component exports exactly those, and the host calls no others. Export it with
``WitWorld = export(MyPlugin)`` in the module you build::

    from hookgate_sdk import Plugin, Rejection, export, normalize

    class Polite(Plugin):
        name = "polite"
        version = "1.0.0"

        def pre_call(self, ctx, req):
            if any("darn" in normalize(text) for text in req.texts()):
                raise Rejection.bad_request("please be polite", code="impolite")

    WitWorld = export(Polite)

Build with ``python guest-sdk/python/build.py polite.py -o polite.wasm`` (componentize-py).

Hooks read the request through :class:`Request` (and the answer through
:class:`Response` and :class:`Chunk`): the texts a model reads with where they are,
fields, headers, and edits, all done by the host without parsing the body in the plugin.
The plugin object (``self``) is made once per instance from the config; state of one
request goes in ``ctx``, which the SDK makes fresh (``new_ctx``) for every request. State
that must outlive a request goes to :mod:`hookgate_sdk.kv`.

Return ``None`` to go on, ``PreCall.respond(text)`` to answer from ``pre_call``,
``ChunkOutcome.DROP`` to drop a chunk. Raising :class:`Rejection` is the plugin's answer
(the client gets its 4xx); any other exception is a failure (the host applies the
plugin's ``on_error`` and never shows it to the client).

A :class:`Bundle` runs several plugins in one component, so that a request starts one
interpreter instead of one per plugin (see :mod:`hookgate_sdk.bundle` for what that
changes).

In plain CPython, :mod:`hookgate_sdk.testing` makes requests, responses and chunks from
JSON bodies and runs hooks as the host would, for plugin unit tests.
"""

from . import http, kv, log
from ._export import export
from .bundle import Bundle
from .content import CallContext, Chunk, Decision, Failure, Key, LogEntry, Request, Response, Text, Usage
from .errors import EditError, Fail, KvError, Rejection
from .outcome import ChunkOutcome, PreCall
from .plugin import Plugin
from .text import HoldBack, is_default_ignorable, is_white_space, normalize

__version__ = "0.2.0"

__all__ = [
    "Plugin",
    "Bundle",
    "export",
    "Rejection",
    "Fail",
    "EditError",
    "KvError",
    "PreCall",
    "ChunkOutcome",
    "Request",
    "Response",
    "Chunk",
    "Text",
    "Key",
    "CallContext",
    "Failure",
    "Usage",
    "Decision",
    "LogEntry",
    "http",
    "kv",
    "log",
    "normalize",
    "is_white_space",
    "is_default_ignorable",
    "HoldBack",
]
