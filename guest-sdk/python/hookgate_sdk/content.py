"""The request, the response and stream chunks, as hooks read and edit them; and the
records hooks are given (who is calling, the failure, the log entry).

In a component, :class:`Request`, :class:`Response` and :class:`Chunk` wrap the host's
``content`` resources: nothing is copied or parsed until a hook asks, and edits happen in
the host (the body never goes through a JSON parser in the plugin).
:meth:`Request.texts` lists every text the model reads with where it is;
:meth:`Request.set_texts` replaces some of them; :meth:`Request.map_texts` rewrites them
all, which is what a redactor needs. Edits stand only if the hook returns normally (a
hook that rejects or fails leaves everything as it was).

In plain CPython, :mod:`hookgate_sdk.testing` makes the same classes from a JSON body.
"""

import dataclasses
import json
from typing import List, Optional

__all__ = [
    "Text",
    "Key",
    "CallContext",
    "Request",
    "Response",
    "Chunk",
    "Failure",
    "Usage",
    "Decision",
    "LogEntry",
]


class Text(str):
    """One text of a body: the text itself (a ``str``), with where it is.

    - ``path``: a JSON pointer to it in the body, e.g. ``/messages/2/content/0/text``
      (for a property name, the pointer to that property);
    - ``is_key``: true when it is a property name of a schema rather than a string value;
    - ``item``: the index of the message (request) or choice (response, chunk) it belongs
      to, or ``None``;
    - ``role``: that message's role (``assistant`` for response and chunk texts), or
      ``None``.
    """

    def __new__(cls, text, path="", is_key=False, item=None, role=None):
        self = super().__new__(cls, text)
        self.path, self.is_key, self.item, self.role = path, is_key, item, role
        return self

    @property
    def text(self):
        """The text as a plain ``str``."""
        return str.__str__(self)

    def __repr__(self):
        return f"Text({str.__repr__(self)}, path={self.path!r})"

    def __reduce__(self):
        return (Text, (self.text, self.path, self.is_key, self.item, self.role))


def _text(part):
    return Text(part.text, part.path, part.is_key, part.item, part.role)


def _pairs(edits):
    """``[(position, text)]`` from pairs or a dict, checked."""
    if isinstance(edits, dict):
        edits = edits.items()
    out = []
    for index, text in edits:
        if isinstance(index, bool) or not isinstance(index, int):
            raise TypeError(f"set_texts: a position is an int, not {index!r}")
        if not isinstance(text, str):
            raise TypeError(f"set_texts: a text is a str, not {type(text).__name__}")
        out.append((index, str.__str__(text)))
    return out


class Key:
    """Who is calling, as the operator configured the key; never the raw key.

    ``alias`` (``master`` for the master key), ``id`` (stable, not reversible: good for
    per-key counters), ``user_id``, ``team_id``, and ``metadata``: the key's metadata from
    the config as a ``dict``, ``{}`` when none (parsed on first use).
    """

    __slots__ = ("alias", "id", "user_id", "team_id", "_metadata_text", "_metadata")

    def __init__(self, alias, id, user_id=None, team_id=None, metadata="{}"):  # noqa: A002 - the contract's name
        self.alias, self.id, self.user_id, self.team_id = alias, id, user_id, team_id
        if not isinstance(metadata, str):
            metadata = json.dumps(metadata)
        self._metadata_text = metadata
        self._metadata = None

    @property
    def metadata(self):
        """The key's metadata: a ``dict``, ``{}`` when none was set."""
        if self._metadata is None:
            try:
                value = json.loads(self._metadata_text) if self._metadata_text else {}
            except ValueError:
                value = {}
            self._metadata = value if isinstance(value, dict) else {}
        return self._metadata

    def __repr__(self):
        return f"Key(alias={self.alias!r}, id={self.id!r}, user_id={self.user_id!r}, team_id={self.team_id!r})"


class CallContext:
    """What every hook is told about its request: ``request_id``, ``call_type``
    (``"chat_completion"``, ``"text_completion"``, ``"embedding"``, or a later endpoint's
    name), ``key`` (:class:`Key`) and ``stream``."""

    __slots__ = ("request_id", "call_type", "key", "stream")

    def __init__(self, request_id, call_type, key, stream):
        self.request_id, self.call_type, self.key, self.stream = request_id, call_type, key, stream

    def __repr__(self):
        return f"CallContext({self.request_id!r}, {self.call_type!r}, stream={self.stream!r})"


class _Doc:
    """What the request, the response and a chunk share: texts and their edits, fields
    and the whole body. ``self._doc`` is the host's resource (through the SDK's adapter)
    or a local stand-in."""

    __slots__ = ("_doc",)

    def texts(self):
        """Every text, in document order, as :class:`Text` (a ``str`` with ``path``,
        ``is_key``, ``item`` and ``role``)."""
        return [_text(part) for part in self._doc.texts()]

    def set_texts(self, edits):
        """Replaces texts by their position in :meth:`texts`: ``[(i, text), ...]`` (or a
        ``{i: text}`` dict); all or nothing. Raises :class:`~hookgate_sdk.EditError`."""
        self._doc.set_texts(_pairs(edits))

    def set_text(self, index, text):
        """Replaces the text at position ``index`` of :meth:`texts`."""
        self.set_texts([(index, text)])

    def map_texts(self, f):
        """Rewrites every text with ``f`` (a ``str`` -> ``str`` function, called on each
        :class:`Text` in :meth:`texts` order); ``True`` when any changed (only those are
        sent to the host)."""
        edits = []
        for index, text in enumerate(self.texts()):
            new = f(text)
            if not isinstance(new, str):
                raise TypeError(f"map_texts: the function must return a str, not {type(new).__name__}")
            if new != text:
                edits.append((index, new))
        if edits:
            self._doc.set_texts(_pairs(edits))
        return bool(edits)

    def field(self, name):
        """A top-level field as JSON text (``temperature`` -> ``"0.2"``), or ``None``."""
        return self._doc.field(name)

    def body(self):
        """The whole body as JSON text."""
        return self._doc.body()

    def set_body(self, text):
        """Replaces the whole body with JSON text of an object."""
        if not isinstance(text, str):
            raise TypeError("set_body takes JSON text (json.dumps it)")
        self._doc.set_body(text)

    def json(self):
        """The whole body, parsed (a JSON parse in the plugin: prefer :meth:`texts` and
        :meth:`field`)."""
        return json.loads(self._doc.body())


class _Fields(_Doc):
    __slots__ = ()

    def field_names(self):
        """The names of the body's top-level fields, in order."""
        return list(self._doc.field_names())

    def set_field(self, name, json_text):
        """Sets a top-level field to JSON text (``req.set_field("temperature", "0.5")``),
        or removes it with ``None``."""
        if json_text is not None and not isinstance(json_text, str):
            raise TypeError("set_field takes JSON text (json.dumps it) or None")
        self._doc.set_field(name, json_text)

    def headers(self):
        """The headers as ``[(name, value)]``, names lower-case."""
        return [(name, value) for name, value in self._doc.headers()]

    def header(self, name):
        """The value of header ``name`` (case-insensitive), or ``None``."""
        name = name.lower()
        return next((value for key, value in self._doc.headers() if key.lower() == name), None)


class Request(_Fields):
    """The client's request, with the edits of earlier pre-call hooks (and, in
    ``pre_call``, this hook's own so far). Edits are allowed in ``pre_call`` only.

    ``id`` (unique, generated by the proxy), ``call_type``, ``stream``, ``key``
    (:class:`Key`) and ``model``; :meth:`texts` and the edits; fields, the body, headers
    (credentials removed).
    """

    __slots__ = ("_call",)

    def __init__(self, call, doc):
        self._call = call
        self._doc = doc

    @property
    def id(self):
        """The request id: unique, generated by the proxy, the same in its logs."""
        return self._call.request_id

    @property
    def call_type(self):
        """``"chat_completion"``, ``"text_completion"``, ``"embedding"``, or a later
        endpoint's name (its path without ``/v1/``, e.g. ``"responses"``)."""
        return self._call.call_type

    @property
    def stream(self):
        """Whether the client asked for a streamed answer."""
        return self._call.stream

    @property
    def key(self):
        """Who is calling (:class:`Key`)."""
        return self._call.key

    @property
    def context(self):
        """The :class:`CallContext` the host passed."""
        return self._call

    @property
    def model(self):
        """The body's ``model`` (as it stands, after earlier edits)."""
        return self._doc.model()

    def __repr__(self):
        return f"Request(id={self.id!r}, call_type={self.call_type!r})"


class Response(_Fields):
    """The answer on its way to the client: the upstream's response with earlier hooks'
    edits; or, in ``log_success`` after a stream, the completion assembled from it.
    Edits (texts, fields, body, headers) are allowed in ``post_call_success`` only."""

    __slots__ = ()

    def __init__(self, doc):
        self._doc = doc

    @property
    def status(self):
        """The upstream's HTTP status."""
        return self._doc.status()

    def set_header(self, name, value):
        """Sets a header of the client's response, replacing any of that name."""
        self._doc.set_header(str(name), str(value))

    def __repr__(self):
        return f"Response(status={self.status!r})"


def _is_answer_text(path):
    """``/choices/<i>/delta/content`` (or one of its parts) or ``/choices/<i>/text``."""
    tokens = path.split("/")[1:]
    if len(tokens) < 3 or tokens[0] != "choices":
        return False
    if tokens[2] == "text":
        return len(tokens) == 3
    return tokens[2] == "delta" and len(tokens) > 3 and tokens[3] == "content"


class Chunk(_Doc):
    """One streamed chunk. Edits are allowed in ``stream_chunk`` only."""

    __slots__ = ()

    def __init__(self, doc):
        self._doc = doc

    def text(self):
        """The answer text this chunk adds: every choice's delta content (or completion
        ``text``), joined; ``None`` when no choice carries any (role-only, finish and
        usage chunks)."""
        texts = self.answer_texts()
        return "".join(texts) if texts else None

    def answer_texts(self):
        """The texts of :meth:`texts` that are answer text (delta content or completion
        ``text``), not refusals or tool calls."""
        return [text for text in self.texts() if _is_answer_text(text.path)]

    def finish_reason(self, choice=0):
        """The ``finish_reason`` of ``choices[choice]``, when this chunk ends that
        choice; else ``None``."""
        return self._doc.finish_reason(choice)

    def set_content(self, choice, text):
        """Sets the answer text of ``choices[choice]`` (its ``delta.content``, or ``text``
        in a text completion chunk), adding it when absent."""
        if not isinstance(text, str):
            raise TypeError(f"set_content takes a str, not {type(text).__name__}")
        self._doc.set_content(choice, str.__str__(text))

    def __repr__(self):
        return f"Chunk({self.body()})"


@dataclasses.dataclass
class Failure:
    """An error on the way to the client (``post_call_failure``, ``entry.failure``)."""

    status: int
    error_type: str
    message: str
    code: Optional[str] = None
    rejected_by: Optional[str] = None


@dataclasses.dataclass
class Usage:
    """Token counts an upstream reported."""

    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


@dataclasses.dataclass
class Decision:
    """What one plugin decided at one hook of the request (``entry.decisions``)."""

    plugin: str
    hook: str
    decision: str
    cause: Optional[str] = None
    calls: int = 1
    started_ms: float = 0.0
    elapsed_ms: float = 0.0


@dataclasses.dataclass
class LogEntry:
    """What the logging hooks are told about a finished request besides its content
    (see ``docs/logging-payload.md``)."""

    model: str
    model_used: Optional[str] = None
    api_base: Optional[str] = None
    end_user: Optional[str] = None
    status_code: int = 200
    usage: Optional[Usage] = None
    response_cost: Optional[float] = None
    start_time: float = 0.0
    end_time: float = 0.0
    completion_start_time: Optional[float] = None
    failure: Optional[Failure] = None
    decisions: List[Decision] = dataclasses.field(default_factory=list)
    truncated: List[str] = dataclasses.field(default_factory=list)
